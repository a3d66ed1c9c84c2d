"""Search spaces: the typed hyperparameters of an HPO task and their unit-cube encoding.

Every agent in hpo-gym sees a configuration as a point of the unit cube ``[0, 1]^d`` (one slot per
hyperparameter, in the space's fixed order). That lets any continuous-control agent act on any task,
and lets one learned policy serve search spaces of different kinds. The encoding is:

========== ================================================================================
kind       encoding of a value ``v`` to ``u`` in [0, 1]
========== ================================================================================
float      ``(v - low) / (high - low)``, or the same on ``log(v)`` when ``log=True``
int        as float on ``[low - 1/2, high + 1/2]`` (log: on the logs of those); decoding rounds to the nearest
           integer, so each integer ``k`` owns ``[k - 1/2, k + 1/2]`` (a value exactly halfway goes to the even
           neighbour, as ``round`` and ``np.round`` do, in Box and Dict actions alike): bins of equal width on a linear scale, of log
           width ``log((k + 1/2) / (k - 1/2))`` on a log scale, as in Optuna (ConfigSpace agrees on a linear scale;
           its log ints weigh the values otherwise, e.g. 0.40/0.26/0.19/0.15 against 0.50/0.23/0.15/0.11 on [1, 4])
ordinal    ``n`` values in order: value ``i`` is the centre of bin ``i`` of ``n`` equal bins,
           ``u = (i + 0.5) / n``; decoding takes the bin that ``u`` falls in
categorical as ordinal (``n`` equal bins, one per choice); the bin order carries no meaning
========== ================================================================================

Decoding clips to [0, 1] first, so an out-of-range action still maps to a valid configuration;
NaN and infinity are rejected with a ``ValueError`` because no configuration is "nearest" to them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np

Kind = Literal["float", "int", "ordinal", "categorical"]
#: Integer codes of the kinds, as they appear in the environment's observation (0 = padding).
KIND_CODES: dict[str, int] = {"float": 1, "int": 2, "ordinal": 3, "categorical": 4}

Config = dict[str, Any]

#: Relative tolerance within which :meth:`Hyperparameter.index_of` matches a number to a float value.
VALUE_REL_TOL = 1e-6
#: Key of the ``meta`` dict in which :meth:`SearchSpace.to_configspace` records each hyperparameter's position.
_POSITION_KEY = "hpo_gym_position"
_EXAMPLE = "e.g. SearchSpace([Float('lr', 1e-4, 1.0, log=True), Categorical('act', ['relu', 'tanh'])])"


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter. Build it with :func:`Float`, :func:`Int`, :func:`Ordinal` or :func:`Categorical`.

    ``values`` holds the ordered values of an ordinal or the choices of a categorical; ``low``,
    ``high`` and ``log`` describe a float or int range.
    """

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    log: bool = False
    values: tuple[Any, ...] = ()

    _array: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)  # values, for decoding
    #: Whether the values are of several of Gymnasium's info-batching kinds (see :meth:`SearchSpace.info_config`).
    _mixed_kinds: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Validates and normalises every field here, once, so that encode/decode need no checks of their own.
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a hyperparameter's name must be a non-empty string, got {self.name!r}; e.g. Float('lr', 1e-4, 1.0)")
        if self.kind in ("float", "int"):
            if self.values:
                raise ValueError(f"{self.kind} hyperparameter {self.name!r} takes low and high, not values; "
                                 f"use Ordinal or Categorical for a list of values")
            low, high = _bound(self.name, self.kind, "low", self.low), _bound(self.name, self.kind, "high", self.high)
            log = _log_flag(self.name, self.kind, self.log)
            if not low < high:
                raise ValueError(f"{self.kind} hyperparameter {self.name!r} needs low < high, got [{low}, {high}]; a fixed "
                                 f"setting is a one-value Ordinal, e.g. Ordinal({self.name!r}, [{low}])")
            if log and low <= 0:
                raise ValueError(f"log-scale hyperparameter {self.name!r} needs low > 0, got {low}")
            if not math.isfinite(float(high) - float(low)):  # the encoding divides by it: decoding gave 1e308 or NaN
                raise ValueError(f"{self.kind} hyperparameter {self.name!r} spans [{low}, {high}], whose width overflows a "
                                 "float; rescale it (e.g. log=True on a positive range, or narrower bounds)")
            limit, limit_text = (MAX_EXACT_LOG_INT, "1e13") if log else (MAX_EXACT_INT, "2**49")
            if self.kind == "int" and max(abs(low), abs(high)) > limit:
                raise ValueError(f"int hyperparameter {self.name!r} has a bound beyond {limit_text}, past which its float "
                                 f"encoding{' (in log space)' if log else ''} no longer decodes every integer exactly: got "
                                 f"[{low}, {high}]; use smaller bounds, or a Float if the exact integer does not matter")
            object.__setattr__(self, "low", low)
            object.__setattr__(self, "high", high)
            object.__setattr__(self, "log", log)
        elif self.kind in ("ordinal", "categorical"):
            if self.low is not None or self.high is not None or _log_flag(self.name, self.kind, self.log):
                raise ValueError(f"{self.kind} hyperparameter {self.name!r} takes values, not low/high/log; "
                                 "use Float or Int for a range")
            values = _value_tuple(self.name, self.kind, self.values)
            if len(values) < 1:
                raise ValueError(f"{self.kind} hyperparameter {self.name!r} needs at least one value")
            if any(isinstance(v, float) and math.isnan(v) or type(v).__name__ in ("NAType", "NaTType") for v in values):
                if self.kind == "ordinal":
                    raise ValueError(f"ordinal hyperparameter {self.name!r} has a missing value (NaN, NA), which has no place in its order and "
                                     f"equals nothing: {values}; use Categorical with None for a setting such as 'unlimited'")
                raise ValueError(f"categorical hyperparameter {self.name!r} has a missing value (NaN, NA), which equals nothing, so it could never "
                                 f"be encoded: {values}; use None for a missing or 'unlimited' setting")
            _check_distinct(self.name, self.kind, values)
            if self.kind == "ordinal":  # a categorical's 1 and 0.5 may mean different things (sklearn's max_features)
                values = _floats_if_mixed(values)
            array = np.empty(len(values), dtype=object)
            for i, v in enumerate(values):  # one by one: tuple or list values stay single objects
                array[i] = v
            object.__setattr__(self, "values", values)
            object.__setattr__(self, "_array", array)
            object.__setattr__(self, "_mixed_kinds", len({_batch_kind(v) for v in values}) > 1)
        else:
            raise ValueError(f"unknown kind {self.kind!r} for {self.name!r}; use float, int, ordinal or categorical")

    @property
    def n_choices(self) -> int:
        """Number of distinct values (0 for an unbounded-resolution float)."""
        if self.kind in ("ordinal", "categorical"):
            return len(self.values)
        if self.kind == "int":
            low, high = self.bounds()
            return int(high - low + 1)
        return 0

    @property
    def is_discrete(self) -> bool:
        return self.kind in ("ordinal", "categorical")

    # -- encoding -------------------------------------------------------------------------------
    def bounds(self) -> tuple[float, float]:
        """``(low, high)`` of a float or int hyperparameter (``__post_init__`` has checked and set both)."""
        if self.low is None or self.high is None:
            raise ValueError(f"{self.kind} hyperparameter {self.name!r} has values, not a range; read .values instead")
        return self.low, self.high

    def _range(self) -> tuple[float, float]:
        """The encoded interval's ends in native (or log) units. An int's ends lie half a unit past its bounds, so that
        every integer ``k``, the end ones included, owns ``[k - 1/2, k + 1/2]`` (equal widths on a linear scale) and a
        uniform draw in [0, 1] picks each with the probability Optuna gives it (and ConfigSpace, on a linear scale); with
        the bounds as the ends,
        rounding gave each end value half a bin (depth in {1, 2, 3} was drawn 25/50/25 %)."""
        low, high = self.bounds()
        if self.kind == "int":
            low, high = low - 0.5, high + 0.5
        if self.log:
            return math.log(low), math.log(high)
        return float(low), float(high)

    def index_of(self, value: Any) -> int:
        """Position of ``value`` among an ordinal's or categorical's values (floats compared with isclose)."""
        value = _native(value)  # np.int64(128) is 128: numpy scalars compare element-wise with tuple values
        for i, v in enumerate(self.values):
            try:
                if v == value or (isinstance(v, float) and isinstance(value, (int, float)) and not isinstance(value, bool)
                                  and math.isclose(v, value, rel_tol=VALUE_REL_TOL)):
                    return i
            except (TypeError, ValueError):  # e.g. an array or pd.NA, whose == is no single truth value: not this one
                continue
        raise ValueError(f"{value!r} ({type(value).__name__}) is not a value of {self.kind} hyperparameter {self.name!r}; "
                         f"give one of {list(self.values)}")

    def encode(self, value: Any) -> float:
        """Map a native value to [0, 1]. Out-of-range numbers are clipped; a bool or a string is refused, as
        :meth:`SearchSpace.validate` refuses it (``True`` is no learning rate, ``"0.5"`` a value of the wrong type)."""
        if self.is_discrete:
            return (self.index_of(value) + 0.5) / len(self.values)
        try:
            if isinstance(value, (bool, np.bool_, str, bytes)):  # float() took them: True read as 1.0, "0.5" as 0.5
                raise TypeError
            x = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.kind} hyperparameter {self.name!r} needs {'an integer' if self.kind == 'int' else 'a number'} "
                             f"in [{self.low}, {self.high}], got {value!r} ({type(value).__name__})") from None
        if not math.isfinite(x):
            raise ValueError(f"{self.name!r} got non-finite value {value!r}")
        if self.log:
            x = math.log(max(x, self.bounds()[0]))
        lo, hi = self._range()
        return min(1.0, max(0.0, (x - lo) / (hi - lo)))

    def decode_array(self, u: np.ndarray) -> np.ndarray:
        """Vectorised decode of encoded values (already clipped to [0, 1]); returns native values."""
        if self.is_discrete:
            idx = np.minimum((u * len(self.values)).astype(np.int64), len(self.values) - 1)
            return self._array[idx]  # type: ignore[index]
        lo, hi = self._range()
        x: np.ndarray = lo + u * (hi - lo)
        if self.kind == "int":
            x = np.round(np.exp(x)) if self.log else np.round(x)
            return np.clip(x, self.low, self.high).astype(np.int64)
        x = np.exp(x) if self.log else x
        low, high = self.bounds()  # the cube's ends are the bounds exactly (exp(log(1e-4)) is 1.0000000000000009e-4)
        return np.where(u <= 0.0, low, np.where(u >= 1.0, high, np.clip(x, low, high)))

    def decode(self, u: float) -> Any:
        """Map an encoded value to the native value (clip to [0, 1] first)."""
        try:
            x = float(u)
        except (TypeError, ValueError):
            raise ValueError(f"decoding {self.name!r} needs a number in [0, 1], got {u!r}") from None
        if not math.isfinite(x):
            raise ValueError(f"decoding {self.name!r} needs a finite number in [0, 1], got {u!r}")
        value = self.decode_array(np.array([min(1.0, max(0.0, x))]))[0]
        return value.item() if isinstance(value, np.generic) else value

    def grid_encoding(self) -> np.ndarray:
        """Encoded positions of every value of a discrete hyperparameter (bin centres)."""
        n = len(self.values)
        return (np.arange(n) + 0.5) / n


def Float(name: str, low: float, high: float, log: bool = False) -> Hyperparameter:
    """A real-valued hyperparameter in ``[low, high]``, log-scaled when ``log``."""
    return Hyperparameter(name, "float", low, high, log)


def Int(name: str, low: int, high: int, log: bool = False) -> Hyperparameter:
    """An integer hyperparameter in ``[low, high]`` (whole-number bounds), log-scaled when ``log``."""
    return Hyperparameter(name, "int", low, high, log)


def Ordinal(name: str, values: Iterable[Any]) -> Hyperparameter:
    """An ordered list of values (a grid), e.g. tabular benchmarks' learning rates."""
    return Hyperparameter(name, "ordinal", values=values)  # type: ignore[arg-type]  # made a tuple on construction


def Categorical(name: str, choices: Iterable[Any]) -> Hyperparameter:
    """Unordered choices, e.g. a kernel or an activation function."""
    return Hyperparameter(name, "categorical", values=choices)  # type: ignore[arg-type]  # made a tuple on construction


def _native(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


#: The largest bound of an Int whose encoding round-trips every integer: the encoding ``(v - low + 1/2) / width``
#: and its decoding cost a few float64 roundings, each up to 1.1e-16 of the magnitude, and must stay under half a
#: unit. Measured: linear ints failed at 2**53 and held at 1e15; log ints (the error is relative) held to 1e14.
MAX_EXACT_INT = 2**49
#: The same for a log-scaled Int, whose encoding goes through ``log`` and ``exp``.
MAX_EXACT_LOG_INT = 10**13
#: Bins per unit that a float32 Box action still addresses exactly: float32 steps are at most 2**-24 in [0, 1], so a
#: bin of 2**-22 spans four of them and its centre survives the cast.
FLOAT32_SAFE_BINS = 2**22
#: Decimals ConfigSpace keeps of a float bound (its ``ROUND_PLACES``); :meth:`SearchSpace.to_configspace` refuses more.
CONFIGSPACE_DECIMALS = 13
#: The most that ConfigSpace's outward rounding may widen a float range, as a share of the range on its own scale
#: (``1e12`` kept as ``1e12 + 1e-4`` widens it by 1e-16; a log bound ``1.4e-13`` kept as ``1e-13`` by 1 %).
CONFIGSPACE_MAX_WIDENING = 1e-9


def _bound(name: str, kind: str, which: str, value: Any) -> float | int:
    """``low`` or ``high`` of a float/int hyperparameter as a float or an int, or a ``ValueError`` naming the problem."""
    example = f"Int({name!r}, 1, 10)" if kind == "int" else f"Float({name!r}, 1e-4, 1.0)"
    if value is None or isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{kind} hyperparameter {name!r} needs a number as its {which} bound, got {value!r} "
                         f"({type(value).__name__}); e.g. {example}")
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x):
        raise ValueError(f"{kind} hyperparameter {name!r} needs finite bounds, got {which}={value!r}: an unbounded range "
                         "has no [0, 1] encoding; give the largest value worth trying")
    if kind == "float":
        return x
    if isinstance(value, numbers.Integral):
        return int(value)
    if not x.is_integer():
        raise ValueError(f"int hyperparameter {name!r} needs whole-number bounds, got {which}={value!r}; it would be truncated "
                         f"to {int(x)}: give the integer you mean, e.g. {example}, or use Float for a real-valued range")
    return int(x)


def _log_flag(name: str, kind: str, log: Any) -> bool:
    if isinstance(log, (bool, np.bool_)):
        return bool(log)
    raise ValueError(f"{kind} hyperparameter {name!r} needs log=True or log=False, got log={log!r} ({type(log).__name__}); "
                     f"e.g. Float({name!r}, 1e-4, 1.0, log=True)")


def _value_tuple(name: str, kind: str, values: Any) -> tuple[Any, ...]:
    """The values of an ordinal/categorical as a tuple of plain Python values, refusing what is not a list of values."""
    example = f"{'Ordinal' if kind == 'ordinal' else 'Categorical'}({name!r}, {[16, 32, 64] if kind == 'ordinal' else ['relu', 'tanh']})"
    if isinstance(values, (str, bytes, bytearray)):
        raise ValueError(f"{kind} hyperparameter {name!r} got the single {type(values).__name__} {values!r} as its values, which "
                         f"would make each character a value; give a list of values, e.g. {example}")
    if isinstance(values, (set, frozenset)):
        raise ValueError(f"{kind} hyperparameter {name!r} got a set of values, whose order (and so the encoding) can change "
                         f"from run to run; give a list of values, e.g. {example} or sorted(...)")
    if isinstance(values, Mapping):
        raise ValueError(f"{kind} hyperparameter {name!r} got a mapping as its values; give a list of values, e.g. {example} "
                         "(list(d) for its keys, list(d.values()) for its values)")
    try:
        iterator = iter(values)
    except TypeError:
        raise ValueError(f"{kind} hyperparameter {name!r} needs a list of values, got {values!r} ({type(values).__name__}); "
                         f"e.g. {example}") from None
    return tuple(_native(v) for v in iterator)


class InfoInt(int):
    """An int value of a hyperparameter whose values mix kinds (``[None, 3, 5]``), as ``info["config"]`` reports it:
    it is the int it holds (equal, hashable alike, printed and JSON-encoded the same), but not of the exact type
    ``int``, so Gymnasium's sync and async vector envs batch that key as an object array. With a plain int from the
    first env they made an int array, which refused the next env's ``None`` (a crash) or cut its 0.5 to 0."""

    __slots__ = ()

    def __repr__(self) -> str:
        return int.__repr__(self)


class InfoFloat(float):
    """The float counterpart of :class:`InfoInt`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return float.__repr__(self)


def _batch_kind(value: Any) -> str:
    """The array type Gymnasium's vector info batching gives a value (``VectorEnv._add_info``): its exact Python type
    for int, float and bool, an object array for everything else."""
    return type(value).__name__ if type(value) in (int, float, bool) else "object"


def _floats_if_mixed(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """An ordinal's numbers of which some are floats, all as floats. A float grid with one whole number (HPOBench's
    alpha ends in the int 1) would hand out an int for that value, and batched info arrays (a vector env's
    ``info["config"]``) take the first env's type: the other envs' floats showed as 0. An ordinal is a numeric scale;
    a categorical keeps its values exactly, since there ``1`` and ``0.5`` may be different kinds of setting (sklearn's
    ``max_features``: one feature vs half of them)."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return tuple(float(v) for v in values) if numbers and any(isinstance(v, float) for v in values) else values


def _check_distinct(name: str, kind: str, values: tuple[Any, ...]) -> None:
    """Refuse values that :meth:`Hyperparameter.index_of` cannot tell apart: equal ones (``1 == 1.0 == True`` in Python)
    and floats within its relative tolerance. Such values would share one encoding, so one of them could never be chosen."""
    def refuse(a: Any, b: Any, why: str, fix: str | None = None) -> None:
        raise ValueError(f"{kind} hyperparameter {name!r} has duplicate values {a!r} and {b!r} ({why}), so they would share one "
                         f"encoding and one of them could never be chosen: {values}; "
                         f"{fix or f'give values that differ, e.g. the strings [{str(a)!r}, {str(b)!r}]'}")

    first: dict[Any, int] = {}
    unhashable: list[Any] = []
    for i, v in enumerate(values):
        try:
            j = first.setdefault(v, i)
        except TypeError:  # a list, a dict, ...: compared pairwise below (rare and short)
            unhashable.append(v)
            continue
        if j != i:
            if repr(values[j]) == repr(v):
                refuse(values[j], v, "the same value twice", "list each value once")
            refuse(values[j], v, "equal in Python, like 1 == 1.0 == True")
    for k, v in enumerate(unhashable):
        for w in unhashable[:k]:
            try:
                same = bool(w == v)
            except (TypeError, ValueError):  # e.g. arrays of different shapes
                raise ValueError(f"{kind} hyperparameter {name!r} has values that cannot be compared with ==: {w!r} and {v!r}; "
                                 "give plain values such as strings or numbers") from None
            if same:
                refuse(w, v, "equal in Python")
    numbers_ = sorted((v for v in values if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v))))
    for a, b in zip(numbers_, numbers_[1:]):
        if (isinstance(a, float) or isinstance(b, float)) and math.isclose(a, b, rel_tol=VALUE_REL_TOL):
            refuse(a, b, f"equal within the relative tolerance {VALUE_REL_TOL:g} used to match numbers to values",
                   "give values that differ by more than that, or keep one of them")


@dataclass(frozen=True)
class SearchSpace:
    """An ordered tuple of hyperparameters with encode/decode to the unit cube.

    >>> space = SearchSpace([Float("lr", 1e-4, 1e-1, log=True), Categorical("act", ["relu", "tanh"])])
    >>> config = space.decode(space.encode({"lr": 0.01, "act": "tanh"}))
    >>> round(config["lr"], 10), config["act"]
    (0.01, 'tanh')
    """

    hyperparameters: tuple[Hyperparameter, ...]
    _by_name: dict[str, Hyperparameter] = field(init=False, repr=False, compare=False)

    def __init__(self, hyperparameters: Iterable[Hyperparameter]):
        if isinstance(hyperparameters, Hyperparameter):
            raise ValueError(f"SearchSpace takes a list of hyperparameters, got the single hyperparameter {hyperparameters.name!r}; "
                             f"wrap it in a list: {_EXAMPLE}")
        if isinstance(hyperparameters, (str, bytes, Mapping)) or not isinstance(hyperparameters, Iterable):
            raise ValueError(f"SearchSpace takes a list of hyperparameters, got {type(hyperparameters).__name__} "
                             f"{hyperparameters!r}; {_EXAMPLE}")
        hps = tuple(hyperparameters)
        for i, hp in enumerate(hps):
            if not isinstance(hp, Hyperparameter):
                raise ValueError(f"SearchSpace entry {i} is {hp!r} ({type(hp).__name__}), not a hyperparameter; build each entry "
                                 f"with Float, Int, Ordinal or Categorical, {_EXAMPLE}")
        names = [hp.name for hp in hps]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate hyperparameter names in {names}")
        if not hps:
            raise ValueError("a search space needs at least one hyperparameter")
        object.__setattr__(self, "hyperparameters", hps)
        object.__setattr__(self, "_by_name", {hp.name: hp for hp in hps})

    def __len__(self) -> int:
        return len(self.hyperparameters)

    def __iter__(self) -> Iterator[Hyperparameter]:
        return iter(self.hyperparameters)

    def __getitem__(self, name: str) -> Hyperparameter:
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            raise KeyError(f"{name!r} is not a hyperparameter of this search space; its names are {self.names}") from None

    @property
    def names(self) -> list[str]:
        return [hp.name for hp in self.hyperparameters]

    @property
    def is_grid(self) -> bool:
        """True when every hyperparameter is ordinal or categorical (a finite grid)."""
        return all(hp.is_discrete for hp in self.hyperparameters)

    # -- encode / decode -------------------------------------------------------------------------
    def _key_mismatch(self, mapping: Any) -> tuple[list[str], list[str]]:
        """The hyperparameter names ``mapping`` lacks and the keys it has that name none (``TypeError`` when it is no
        container of hashable keys)."""
        return [n for n in self.names if n not in mapping], [n for n in mapping if n not in self._by_name]

    def validate(self, config: Mapping[str, Any], in_range: bool = False) -> None:
        """Raise ``ValueError`` naming the problem when ``config`` does not match the space: its keys, and with
        ``in_range`` every value too (a table snaps any number to its grid, but a live fit would train the value as
        given, outside the space the benchmark states)."""
        missing: list[str] | None
        extra: list[str] | None
        try:
            missing, extra = self._key_mismatch(config)
        except TypeError:  # not a container, or unhashable keys
            missing = extra = None
        if missing or extra or missing is None:
            if not isinstance(config, Mapping):
                raise ValueError(f"a configuration is a dict of hyperparameter name -> value, got {type(config).__name__}; "
                                 f"expected the keys {self.names}" + ("; decode an encoded vector with SearchSpace.decode"
                                                                      if isinstance(config, (np.ndarray, list, tuple)) else ""))
            raise ValueError(f"configuration keys do not match the search space: missing {missing}, unknown {extra}; expected {self.names}")
        if not in_range:
            return
        for hp in self.hyperparameters:
            value = config[hp.name]
            if hp.is_discrete:
                hp.index_of(value)  # raises with the valid values
                continue
            low, high = hp.bounds()
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"{hp.name!r} = {value!r} ({type(value).__name__}) is not a number; {hp.kind} "
                                 f"hyperparameter {hp.name!r} takes a number in [{hp.low}, {hp.high}]")
            if not low <= value <= high:
                raise ValueError(f"{hp.name!r} = {value!r} is outside its range [{hp.low}, {hp.high}]; "
                                 "decode a point of the unit cube (SearchSpace.decode) to stay inside the space")
            if hp.kind == "int" and not float(value).is_integer():  # a live fit would train 2.7, or fail on it
                raise ValueError(f"{hp.name!r} = {value!r} is not a whole number, but {hp.name!r} is an int "
                                 "hyperparameter; give an integer (SearchSpace.decode gives one)")

    def canonical(self, config: Mapping[str, Any]) -> Config:
        """``config`` checked in range (:meth:`validate`) and with each value as the space holds it: an ordinal's or
        categorical's own value (``np.float32(0.1)`` -> ``0.1``, ``True`` -> the choice ``1`` it matched), an int as an
        ``int`` (``3.0`` -> ``3``), a float as a ``float``. Why: validation compares leniently, and a strict consumer
        (ConfigSpace, a benchmark's own type checks) given the caller's raw value refuses it or sees another type."""
        self.validate(config, in_range=True)
        out: Config = {}
        for hp in self.hyperparameters:
            value = config[hp.name]
            if hp.is_discrete:
                out[hp.name] = hp.values[hp.index_of(value)]
            else:
                out[hp.name] = int(value) if hp.kind == "int" else float(value)
        return out

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        """Configuration -> float64 vector in [0, 1]^d (out-of-range numbers clipped)."""
        self.validate(config)
        return np.array([hp.encode(config[hp.name]) for hp in self.hyperparameters], dtype=np.float64)

    def encode_many(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Stack of :meth:`encode` as an ``(n, d)`` array."""
        return np.array([self.encode(c) for c in configs], dtype=np.float64).reshape(len(configs), len(self))

    def check_encoded(self, u: Any) -> np.ndarray:
        """Validate an encoded array ``(d,)`` or ``(n, d)``: finite, right width. Returns it clipped to [0, 1]."""
        return self._checked(u, None)

    def check_encoded_batch(self, u: Any, caller: str = "decode_many") -> np.ndarray:
        """:meth:`check_encoded` for an ``(n, d)`` batch only: a single ``(d,)`` vector is refused with a message that
        names ``caller`` and the fix (``u[None, :]``), since read as a batch its entries would count as configurations."""
        return self._checked(u, 2, caller)

    def _checked(self, u: Any, ndim: int | None, caller: str = "decode_many") -> np.ndarray:
        """:meth:`check_encoded`, requiring ``ndim`` dimensions (1: decode, 2: ``caller``, a batch) when given."""
        try:
            arr = np.asarray(u, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"an encoded configuration is an array of numbers in [0, 1] of shape (d,) or (n, d) with d={len(self)}, "
                             f"got {u!r}; to encode a configuration dict use SearchSpace.encode") from None
        if arr.ndim not in (1, 2) or arr.shape[-1] != len(self) or (ndim is not None and arr.ndim != ndim):
            d = len(self)
            if ndim == 1:
                raise ValueError(f"decode takes one vector of shape ({d},), got {arr.shape}; use decode_many for an (n, {d}) batch")
            if ndim == 2:
                single = f"use decode for one vector of shape ({d},), or" if caller == "decode_many" else "give"
                raise ValueError(f"{caller} takes an array of shape (n, d) with d={d}, got {arr.shape}; "
                                 f"{single} u[None, :] for a batch of one")
            raise ValueError(f"encoded configuration must have shape (d,) or (n, d) with d={d}, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"encoded configuration contains NaN or inf: {arr}; every entry must be a finite number in [0, 1]")
        return np.clip(arr, 0.0, 1.0)

    def decode(self, u: Any) -> Config:
        """Unit-cube vector -> configuration of native Python values (clipped first)."""
        return self._decode_rows(self._checked(u, 1)[None, :])[0]

    def decode_many(self, u: np.ndarray) -> list[Config]:
        """``(n, d)`` encoded array -> list of configurations."""
        return self._decode_rows(self.check_encoded_batch(u))

    def _decode_rows(self, arr: np.ndarray) -> list[Config]:
        """Checked ``(n, d)`` array (see :meth:`check_encoded`) -> list of configurations."""
        columns = [hp.decode_array(arr[:, j]) for j, hp in enumerate(self.hyperparameters)]
        return [{hp.name: _native(col[i]) for hp, col in zip(self.hyperparameters, columns)} for i in range(arr.shape[0])]

    @overload
    def sample(self, rng: np.random.Generator, n: None = None) -> Config: ...
    @overload
    def sample(self, rng: np.random.Generator, n: int) -> list[Config]: ...

    def sample(self, rng: np.random.Generator, n: int | None = None) -> Config | list[Config]:
        """Uniform samples in the encoded cube (log-uniform on log parameters), decoded."""
        u = rng.random((1 if n is None else n, len(self)))
        configs = self._decode_rows(u)
        return configs[0] if n is None else configs

    # -- descriptors --------------------------------------------------------------------------
    def kind_codes(self) -> np.ndarray:
        return np.array([KIND_CODES[hp.kind] for hp in self.hyperparameters], dtype=np.int64)

    def n_choices(self) -> np.ndarray:
        return np.array([hp.n_choices for hp in self.hyperparameters], dtype=np.int64)

    def log_flags(self) -> np.ndarray:
        return np.array([hp.log for hp in self.hyperparameters], dtype=np.int8)

    # -- ConfigSpace interop --------------------------------------------------------------------
    def to_configspace(self, seed: int | None = None):
        """Export as a ``ConfigSpace.ConfigurationSpace`` (what HPOBench and SMAC use).

        ConfigSpace keeps hyperparameters sorted by name, so each one's position in this space is recorded in its
        ``meta`` (``{"hpo_gym_position": i}``, kept by ConfigSpace's JSON/YAML files too); :meth:`from_configspace`
        restores that order, so the round trip gives back this space and the same encoded vectors (up to the outward
        rounding below, by which a bound such as ``1e12`` comes back as ``1e12 + 1e-4``; a rounding that widens a
        range by more than :data:`CONFIGSPACE_MAX_WIDENING` of it is refused). ConfigSpace keeps
        float bounds to 13 decimals: a bound it would round inward (``1/3``, ``0.1 + 0.2``, a log bound below ~5e-14) is
        refused here with the fix, since ConfigSpace would then refuse this space's own end values (``decode(1.0)``);
        one it rounds outward (``1e12`` as an upper bound) is kept, its ends inside ConfigSpace's range."""
        import ConfigSpace as CS

        cs = CS.ConfigurationSpace(seed=seed)
        for i, hp in enumerate(self.hyperparameters):
            meta: dict[Hashable, int] = {_POSITION_KEY: i}
            if hp.kind == "float":
                low, high = hp.bounds()
                with np.errstate(over="ignore"):  # an overflow is refused below, with the fix
                    kept_low, kept_high = (float(np.round(b, CONFIGSPACE_DECIMALS)) for b in (low, high))
                inward = kept_low > low or kept_high < high or (hp.log and kept_low <= 0)  # the ends are refused
                if not (math.isfinite(kept_low) and math.isfinite(kept_high)):  # np.round overflows past ~1.8e295
                    raise ValueError(f"float hyperparameter {hp.name!r} has the range [{low!r}, {high!r}], too wide "
                                     f"for ConfigSpace (its rounding to {CONFIGSPACE_DECIMALS} decimals overflows); "
                                     "give bounds within +-1e295")
                if inward:
                    fix = (f"a log-scale lower bound must be at least 1e-{CONFIGSPACE_DECIMALS}" if hp.log and kept_low <= 0
                           else "give bounds that ConfigSpace keeps as they are (np.round(bound, 13) == bound)")
                    raise ValueError(f"float hyperparameter {hp.name!r} has the range [{low!r}, {high!r}], which "
                                     f"ConfigSpace stores as [{kept_low!r}, {kept_high!r}] (it rounds bounds to "
                                     f"{CONFIGSPACE_DECIMALS} decimals) and then refuses this space's own end values; {fix}")
                scale = math.log if hp.log else float
                widening = ((scale(low) - scale(kept_low)) + (scale(kept_high) - scale(high))) / (scale(high) - scale(low))
                if widening > CONFIGSPACE_MAX_WIDENING:  # e.g. a log bound 1.4e-13 kept as 1e-13: 1 % wider in logs
                    raise ValueError(f"float hyperparameter {hp.name!r} has the range [{low!r}, {high!r}], which "
                                     f"ConfigSpace stores as [{kept_low!r}, {kept_high!r}] (it rounds bounds to "
                                     f"{CONFIGSPACE_DECIMALS} decimals), {widening:.2g} of the range wider on its "
                                     f"{'log ' if hp.log else ''}scale, so it would sample values this space never "
                                     "has; give bounds with at most 13 decimals")
                cs.add(CS.UniformFloatHyperparameter(hp.name, *hp.bounds(), log=hp.log, meta=meta))
            elif hp.kind == "int":
                low, high = hp.bounds()
                cs.add(CS.UniformIntegerHyperparameter(hp.name, int(low), int(high), log=hp.log, meta=meta))
            elif hp.kind == "ordinal":
                cs.add(CS.OrdinalHyperparameter(hp.name, list(hp.values), meta=meta))
            else:
                cs.add(CS.CategoricalHyperparameter(hp.name, list(hp.values), meta=meta))
        return cs

    @classmethod
    def from_configspace(cls, cs: Any) -> SearchSpace:
        """Import a ``ConfigSpace.ConfigurationSpace``. Conditions and forbiddens are not supported.

        The order is the one :meth:`to_configspace` recorded in the hyperparameters' ``meta`` where present (any
        hyperparameter without it follows, in ConfigSpace's order); a space built elsewhere keeps ConfigSpace's order.
        Default values and other ``meta`` are not kept: a SearchSpace has no default configuration (each agent chooses
        its own first trials), and a prior (weights, normal or beta ranges) is refused rather than dropped."""
        import ConfigSpace as CS

        if not isinstance(cs, CS.ConfigurationSpace):
            raise ValueError(f"from_configspace takes a ConfigSpace.ConfigurationSpace, got {type(cs).__name__}; "
                             "build a SearchSpace directly with SearchSpace([...]) otherwise")
        if [*cs.conditions, *cs.forbidden_clauses]:
            raise ValueError("ConfigurationSpace with conditions or forbidden clauses is not supported; flatten it first")
        hps: list[Hyperparameter] = []
        for hp in cs.values():
            if isinstance(hp, CS.UniformFloatHyperparameter):
                hps.append(Float(hp.name, hp.lower, hp.upper, log=hp.log))
            elif isinstance(hp, CS.UniformIntegerHyperparameter):
                hps.append(Int(hp.name, hp.lower, hp.upper, log=hp.log))
            elif isinstance(hp, CS.OrdinalHyperparameter):
                hps.append(Ordinal(hp.name, hp.sequence))
            elif isinstance(hp, CS.CategoricalHyperparameter):
                weights = getattr(hp, "weights", None)
                if weights is not None and len(set(weights)) > 1:  # a prior over choices, as Normal/Beta are for ranges
                    raise ValueError(f"categorical {hp.name!r} has weights {tuple(weights)} (a prior over its choices), "
                                     "which a SearchSpace has no place for: dropping them silently would change how "
                                     "the space is sampled; remove the weights first")
                hps.append(Categorical(hp.name, hp.choices))
            elif isinstance(hp, CS.Constant):
                hps.append(Categorical(hp.name, [hp.value]))
            else:
                raise ValueError(f"hyperparameter {hp.name!r} of type {type(hp).__name__} is not supported; "
                                 "use uniform float/int, ordinal, categorical or constant")
        return cls(_recorded_order(hps, [getattr(hp, "meta", None) for hp in cs.values()]))

    # -- gymnasium spaces ------------------------------------------------------------------------
    @property
    def action_dtype(self) -> type[np.floating]:
        """The Box action's dtype: float32, Gymnasium's and Stable-Baselines3's usual one, unless an Int's narrowest
        bin is finer than :data:`FLOAT32_SAFE_BINS` allows; then float64, because a float32 encoding of an int in a
        1e8-wide range decodes a few units away from the value an agent meant."""
        for hp in self.hyperparameters:
            if hp.kind == "int":
                low, high = hp.bounds()
                lo, hi = hp._range()
                narrowest = (math.log((high + 0.5) / (high - 0.5)) if hp.log else 1.0) / (hi - lo)
                if narrowest < 1.0 / FLOAT32_SAFE_BINS:
                    return np.float64
        return np.float32

    def box_space(self, dim: int | None = None):
        """``Box(0, 1, (dim,))`` action space in the unit cube (``dim`` >= d pads with ignored slots), of
        :attr:`action_dtype`."""
        from gymnasium import spaces

        width = len(self) if dim is None else int(dim)
        if width < len(self):
            raise ValueError(f"box_space({dim}) is narrower than the space's {len(self)} hyperparameters; give dim >= "
                             f"{len(self)} (the slots past them are ignored) or leave it out")
        return spaces.Box(0.0, 1.0, (width,), dtype=self.action_dtype)

    def info_config(self, config: Mapping[str, Any]) -> Config:
        """``config`` as an env's ``info["config"]``: the same values, except that ints and floats of a discrete
        hyperparameter whose values mix kinds become :class:`InfoInt` / :class:`InfoFloat`, and its bools numpy's
        ``np.bool_`` (Python has no bool subclass; ``json.dumps`` needs ``.item()`` for it), so that a vector env's
        batched info keeps every env's value ('auto' beside True was batched as True)."""
        out = dict(config)
        for hp in self.hyperparameters:
            if hp._mixed_kinds and hp.name in out:
                v = out[hp.name]
                out[hp.name] = (InfoInt(v) if type(v) is int else InfoFloat(v) if type(v) is float
                                else np.bool_(v) if type(v) is bool else v)
        return out

    def dict_space(self):
        """``Dict`` action space of native values: float/int as a ``Box`` of shape (1,) in the range,
        ordinal/categorical as a ``Discrete`` index into their values. A ``Box`` knows no log scale: its ``sample()`` is
        uniform in value on a log-scale hyperparameter too (:meth:`sample` draws log-uniformly)."""
        from gymnasium import spaces

        entries: dict[str, spaces.Space[Any]] = {}
        for hp in self.hyperparameters:
            if hp.kind == "float":
                entries[hp.name] = spaces.Box(*hp.bounds(), (1,), dtype=np.float64)
            elif hp.kind == "int":
                low, high = hp.bounds()
                entries[hp.name] = spaces.Box(int(low), int(high), (1,), dtype=np.int64)
            else:
                entries[hp.name] = spaces.Discrete(len(hp.values))
        return spaces.Dict(entries)

    def multidiscrete_space(self):
        """``MultiDiscrete`` action space of value indices; only for grids (ordinal/categorical)."""
        from gymnasium import spaces

        if not self.is_grid:
            cont = [hp.name for hp in self.hyperparameters if not hp.is_discrete]
            raise ValueError(f"action_type='multidiscrete' needs a grid search space, but {cont} are continuous; use 'box' or 'dict'")
        return spaces.MultiDiscrete([len(hp.values) for hp in self.hyperparameters])

    def dict_action_to_config(self, action: Mapping[str, Any]) -> Config:
        """Native ``Dict`` action (see :meth:`dict_space`) -> configuration; numbers outside their range are clipped."""
        return self.dict_action_with_clipping(action)[0]

    def dict_action_with_clipping(self, action: Mapping[str, Any]) -> tuple[Config, bool]:
        """:meth:`dict_action_to_config` and whether a number was outside its range (the env's
        ``info["action_clipped"]``, as for Box actions; rounding an int is not clipping)."""
        if not isinstance(action, Mapping):
            raise ValueError(f"a Dict action is a dict of hyperparameter name -> value, got {type(action).__name__}")
        missing, extra = self._key_mismatch(action)
        if missing or extra:  # validate's message speaks of a configuration of native values, not of this action
            raise ValueError(f"Dict action keys do not match the action space: missing {missing}, unknown {extra}; "
                             f"expected one entry per hyperparameter {self.names} (sample one with action_space.sample())")
        config: Config = {}
        clipped = False
        for hp in self.hyperparameters:
            raw = np.asarray(action[hp.name]).reshape(-1)
            if raw.size != 1:
                raise ValueError(f"Dict action entry {hp.name!r} must hold one value, got shape {np.asarray(action[hp.name]).shape}")
            x = raw[0]
            if hp.is_discrete:
                i = _whole_index(x)
                if i is None or not 0 <= i < len(hp.values):
                    raise ValueError(f"Dict action entry {hp.name!r} must be an index in [0, {len(hp.values)}), got {x!r}")
                config[hp.name] = hp.values[i]
            else:
                if not _is_finite_number(x):
                    raise ValueError(f"Dict action entry {hp.name!r} must be a finite number, got {x!r}")
                low, high = hp.bounds()
                v = min(max(float(x), low), high)
                clipped = clipped or v != float(x)
                config[hp.name] = int(round(v)) if hp.kind == "int" else v
        return config, clipped

    def indices_to_config(self, indices: Sequence[int] | np.ndarray) -> Config:
        """``MultiDiscrete`` action -> configuration (one index per hyperparameter, each within its values)."""
        nvec = [len(hp.values) if hp.is_discrete else 0 for hp in self.hyperparameters]
        index_list = list(np.asarray(indices).ravel().tolist()) if not isinstance(indices, Sequence) else list(indices)
        valid = len(index_list) == len(self) and all(
            _whole_index(i) is not None and 0 <= int(i) < n for i, n in zip(index_list, nvec))
        if not valid:
            raise ValueError(f"indices {list(index_list)!r} are not a point of MultiDiscrete({nvec}): give one whole index per "
                             f"hyperparameter {self.names}, each in [0, n) (ranges have no index: use the Box encoding)")
        return {hp.name: hp.values[int(i)] for hp, i in zip(self.hyperparameters, index_list)}


def _recorded_order(hps: list[Hyperparameter], metas: list[Any]) -> list[Hyperparameter]:
    """``hps`` in the positions :meth:`SearchSpace.to_configspace` recorded in ``metas``; those without one follow in
    their given order. Positions that are missing everywhere or clash (e.g. two exported spaces merged) are ignored."""
    positions = [m.get(_POSITION_KEY) if isinstance(m, Mapping) else None for m in metas]
    positions = [p if isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_)) else None for p in positions]
    recorded = [p for p in positions if p is not None]
    if not recorded or len(set(recorded)) != len(recorded):
        return hps
    order = sorted(range(len(hps)), key=lambda i: (0, positions[i], i) if positions[i] is not None else (1, 0, i))
    return [hps[i] for i in order]


def _whole_index(x: Any) -> int | None:
    """``x`` as an int when it is a whole number (NaN, inf, None or a string are not: ``int()`` would raise its
    own unnamed error or, for 2.7, truncate)."""
    if isinstance(x, (bool, np.bool_)) or not _is_finite_number(x) or float(x) != int(x):
        return None
    return int(x)


def _is_finite_number(x: Any) -> bool:
    """A real, finite number (a string, None or a complex is not)."""
    return isinstance(x, (int, float, np.integer, np.floating)) and math.isfinite(x)
