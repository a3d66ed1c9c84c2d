"""Search spaces: the typed hyperparameters of an HPO task and their unit-cube encoding.

Every agent in hpo-gym sees a configuration as a point of the unit cube ``[0, 1]^d`` (one slot per
hyperparameter, in the space's fixed order). That lets any continuous-control agent act on any task,
and lets one learned policy serve search spaces of different kinds. The encoding is:

========== ================================================================================
kind       encoding of a value ``v`` to ``u`` in [0, 1]
========== ================================================================================
float      ``(v - low) / (high - low)``, or the same on ``log(v)`` when ``log=True``
int        as float; decoding rounds to the nearest integer (in the log domain when ``log``)
ordinal    ``n`` values in order: value ``i`` is the centre of bin ``i`` of ``n`` equal bins,
           ``u = (i + 0.5) / n``; decoding takes the bin that ``u`` falls in
categorical as ordinal (``n`` equal bins, one per choice); the bin order carries no meaning
========== ================================================================================

Decoding clips to [0, 1] first, so an out-of-range action still maps to a valid configuration;
NaN and infinity are rejected with a ``ValueError`` because no configuration is "nearest" to them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Kind = Literal["float", "int", "ordinal", "categorical"]
#: Integer codes of the kinds, as they appear in the environment's observation (0 = padding).
KIND_CODES: dict[str, int] = {"float": 1, "int": 2, "ordinal": 3, "categorical": 4}

Config = dict[str, Any]


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

    def __post_init__(self) -> None:
        if self.kind in ("float", "int"):
            if self.low is None or self.high is None or not self.low < self.high:
                raise ValueError(f"{self.kind} hyperparameter {self.name!r} needs low < high, got [{self.low}, {self.high}]")
            if not (math.isfinite(self.low) and math.isfinite(self.high)):
                raise ValueError(f"{self.kind} hyperparameter {self.name!r} needs finite bounds, got [{self.low}, {self.high}]: "
                                 "an unbounded range has no [0, 1] encoding; give the largest value worth trying")
            if self.log and self.low <= 0:
                raise ValueError(f"log-scale hyperparameter {self.name!r} needs low > 0, got {self.low}")
        elif self.kind in ("ordinal", "categorical"):
            if len(self.values) < 1:
                raise ValueError(f"{self.kind} hyperparameter {self.name!r} needs at least one value")
            if len(set(map(repr, self.values))) != len(self.values):
                raise ValueError(f"{self.kind} hyperparameter {self.name!r} has duplicate values: {self.values}")
            if self.kind == "ordinal" and any(isinstance(v, float) and math.isnan(v) for v in self.values):
                raise ValueError(f"ordinal hyperparameter {self.name!r} has a NaN value, which has no place in its order and "
                                 f"equals nothing: {self.values}; use Categorical with None for a setting such as 'unlimited'")
        else:
            raise ValueError(f"unknown kind {self.kind!r} for {self.name!r}; use float, int, ordinal or categorical")

    @property
    def n_choices(self) -> int:
        """Number of distinct values (0 for an unbounded-resolution float)."""
        if self.kind in ("ordinal", "categorical"):
            return len(self.values)
        if self.kind == "int":
            return int(self.high - self.low + 1)  # type: ignore[operator]
        return 0

    @property
    def is_discrete(self) -> bool:
        return self.kind in ("ordinal", "categorical")

    # -- encoding -------------------------------------------------------------------------------
    def _range(self) -> tuple[float, float]:
        if self.log:
            return math.log(self.low), math.log(self.high)  # type: ignore[arg-type]
        return float(self.low), float(self.high)  # type: ignore[arg-type]

    def index_of(self, value: Any) -> int:
        """Position of ``value`` among an ordinal's or categorical's values (floats compared with isclose)."""
        for i, v in enumerate(self.values):
            if v == value or (isinstance(v, float) and isinstance(value, (int, float)) and math.isclose(v, value, rel_tol=1e-6)):
                return i
        raise ValueError(f"{value!r} is not a value of {self.kind} hyperparameter {self.name!r}; valid: {list(self.values)}")

    def encode(self, value: Any) -> float:
        """Map a native value to [0, 1]. Out-of-range numbers are clipped."""
        if self.is_discrete:
            return (self.index_of(value) + 0.5) / len(self.values)
        x = float(value)
        if not math.isfinite(x):
            raise ValueError(f"{self.name!r} got non-finite value {value!r}")
        if self.log:
            x = math.log(max(x, self.low))  # type: ignore[type-var]
        lo, hi = self._range()
        return min(1.0, max(0.0, (x - lo) / (hi - lo)))

    def decode_array(self, u: np.ndarray) -> np.ndarray:
        """Vectorised decode of encoded values (already clipped to [0, 1]); returns native values."""
        if self.is_discrete:
            idx = np.minimum((u * len(self.values)).astype(np.int64), len(self.values) - 1)
            return np.asarray(self.values, dtype=object)[idx]
        lo, hi = self._range()
        x = lo + u * (hi - lo)
        if self.kind == "int":
            x = np.round(np.exp(x)) if self.log else np.round(x)
            return np.clip(x, self.low, self.high).astype(np.int64)
        x = np.exp(x) if self.log else x
        return np.clip(x, self.low, self.high)

    def decode(self, u: float) -> Any:
        """Map an encoded value to the native value (clip to [0, 1] first)."""
        value = self.decode_array(np.array([min(1.0, max(0.0, float(u)))]))[0]
        return value.item() if isinstance(value, np.generic) else value

    def grid_encoding(self) -> np.ndarray:
        """Encoded positions of every value of a discrete hyperparameter (bin centres)."""
        n = len(self.values)
        return (np.arange(n) + 0.5) / n


def Float(name: str, low: float, high: float, log: bool = False) -> Hyperparameter:
    """A real-valued hyperparameter in ``[low, high]``, log-scaled when ``log``."""
    return Hyperparameter(name, "float", float(low), float(high), log)


def Int(name: str, low: int, high: int, log: bool = False) -> Hyperparameter:
    """An integer hyperparameter in ``[low, high]``, log-scaled when ``log``."""
    return Hyperparameter(name, "int", int(low), int(high), log)


def Ordinal(name: str, values: Iterable[Any]) -> Hyperparameter:
    """An ordered list of values (a grid), e.g. tabular benchmarks' learning rates."""
    return Hyperparameter(name, "ordinal", values=tuple(_native(v) for v in values))


def Categorical(name: str, choices: Iterable[Any]) -> Hyperparameter:
    """Unordered choices, e.g. a kernel or an activation function."""
    return Hyperparameter(name, "categorical", values=tuple(_native(v) for v in choices))


def _native(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


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
        hps = tuple(hyperparameters)
        names = [hp.name for hp in hps]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate hyperparameter names in {names}")
        if not hps:
            raise ValueError("a search space needs at least one hyperparameter")
        object.__setattr__(self, "hyperparameters", hps)
        object.__setattr__(self, "_by_name", {hp.name: hp for hp in hps})

    def __len__(self) -> int:
        return len(self.hyperparameters)

    def __iter__(self):
        return iter(self.hyperparameters)

    def __getitem__(self, name: str) -> Hyperparameter:
        return self._by_name[name]

    @property
    def names(self) -> list[str]:
        return [hp.name for hp in self.hyperparameters]

    @property
    def is_grid(self) -> bool:
        """True when every hyperparameter is ordinal or categorical (a finite grid)."""
        return all(hp.is_discrete for hp in self.hyperparameters)

    # -- encode / decode -------------------------------------------------------------------------
    def validate(self, config: Mapping[str, Any], in_range: bool = False) -> None:
        """Raise ``ValueError`` naming the problem when ``config`` does not match the space: its keys, and with
        ``in_range`` every value too (a table snaps any number to its grid, but a live fit would train the value as
        given, outside the space the benchmark states)."""
        missing = [n for n in self.names if n not in config]
        extra = [n for n in config if n not in self._by_name]
        if missing or extra:
            raise ValueError(f"configuration keys do not match the search space: missing {missing}, unknown {extra}; expected {self.names}")
        if not in_range:
            return
        for hp in self.hyperparameters:
            value = config[hp.name]
            if hp.is_discrete:
                hp.index_of(value)  # raises with the valid values
            elif not (isinstance(value, (int, float, np.integer, np.floating)) and hp.low <= value <= hp.high):
                raise ValueError(f"{hp.name!r} = {value!r} is outside its range [{hp.low}, {hp.high}]; "
                                 "decode a point of the unit cube (SearchSpace.decode) to stay inside the space")

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        """Configuration -> float64 vector in [0, 1]^d (out-of-range numbers clipped)."""
        self.validate(config)
        return np.array([hp.encode(config[hp.name]) for hp in self.hyperparameters], dtype=np.float64)

    def encode_many(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Stack of :meth:`encode` as an ``(n, d)`` array."""
        return np.array([self.encode(c) for c in configs], dtype=np.float64).reshape(len(configs), len(self))

    def check_encoded(self, u: Any) -> np.ndarray:
        """Validate an encoded array ``(d,)`` or ``(n, d)``: finite, right width. Returns it clipped to [0, 1]."""
        arr = np.asarray(u, dtype=np.float64)
        if arr.ndim not in (1, 2) or arr.shape[-1] != len(self):
            raise ValueError(f"encoded configuration must have shape (d,) or (n, d) with d={len(self)}, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"encoded configuration contains NaN or inf: {arr}; every entry must be a finite number in [0, 1]")
        return np.clip(arr, 0.0, 1.0)

    def decode(self, u: Any) -> Config:
        """Unit-cube vector -> configuration of native Python values (clipped first)."""
        arr = self.check_encoded(u)
        if arr.ndim != 1:
            raise ValueError(f"decode takes one vector of shape ({len(self)},), got {arr.shape}; use decode_many for a batch")
        return self.decode_many(arr[None, :])[0]

    def decode_many(self, u: np.ndarray) -> list[Config]:
        """``(n, d)`` encoded array -> list of configurations."""
        arr = self.check_encoded(u)
        columns = [hp.decode_array(arr[:, j]) for j, hp in enumerate(self.hyperparameters)]
        return [{hp.name: _native(col[i]) for hp, col in zip(self.hyperparameters, columns)} for i in range(arr.shape[0])]

    def sample(self, rng: np.random.Generator, n: int | None = None) -> Config | list[Config]:
        """Uniform samples in the encoded cube (log-uniform on log parameters), decoded."""
        u = rng.random((1 if n is None else n, len(self)))
        configs = self.decode_many(u)
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
        """Export as a ``ConfigSpace.ConfigurationSpace`` (what HPOBench and SMAC use)."""
        import ConfigSpace as CS

        cs = CS.ConfigurationSpace(seed=seed)
        for hp in self.hyperparameters:
            if hp.kind == "float":
                cs.add(CS.UniformFloatHyperparameter(hp.name, hp.low, hp.high, log=hp.log))
            elif hp.kind == "int":
                cs.add(CS.UniformIntegerHyperparameter(hp.name, int(hp.low), int(hp.high), log=hp.log))
            elif hp.kind == "ordinal":
                cs.add(CS.OrdinalHyperparameter(hp.name, list(hp.values)))
            else:
                cs.add(CS.CategoricalHyperparameter(hp.name, list(hp.values)))
        return cs

    @classmethod
    def from_configspace(cls, cs: Any) -> SearchSpace:
        """Import a ``ConfigSpace.ConfigurationSpace``. Conditions and forbiddens are not supported."""
        import ConfigSpace as CS

        if list(cs.conditions) or list(cs.forbidden_clauses):
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
                hps.append(Categorical(hp.name, hp.choices))
            elif isinstance(hp, CS.Constant):
                hps.append(Categorical(hp.name, [hp.value]))
            else:
                raise ValueError(f"hyperparameter {hp.name!r} of type {type(hp).__name__} is not supported; "
                                 "use uniform float/int, ordinal, categorical or constant")
        return cls(hps)

    # -- gymnasium spaces ------------------------------------------------------------------------
    def box_space(self, dim: int | None = None):
        """``Box(0, 1, (dim,))`` action space in the unit cube (``dim`` >= d pads with ignored slots)."""
        from gymnasium import spaces

        return spaces.Box(0.0, 1.0, (dim or len(self),), dtype=np.float32)

    def dict_space(self):
        """``Dict`` action space of native values: float/int as a ``Box`` of shape (1,) in the range,
        ordinal/categorical as a ``Discrete`` index into their values."""
        from gymnasium import spaces

        entries = {}
        for hp in self.hyperparameters:
            if hp.kind == "float":
                entries[hp.name] = spaces.Box(hp.low, hp.high, (1,), dtype=np.float64)
            elif hp.kind == "int":
                entries[hp.name] = spaces.Box(int(hp.low), int(hp.high), (1,), dtype=np.int64)
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
        """Native ``Dict`` action (see :meth:`dict_space`) -> configuration."""
        self.validate(action)
        config: Config = {}
        for hp in self.hyperparameters:
            raw = np.asarray(action[hp.name]).reshape(-1)
            if raw.size != 1:
                raise ValueError(f"Dict action entry {hp.name!r} must hold one value, got shape {np.asarray(action[hp.name]).shape}")
            x = raw[0]
            if hp.is_discrete:
                i = int(x)
                if i != x or not 0 <= i < len(hp.values):
                    raise ValueError(f"Dict action entry {hp.name!r} must be an index in [0, {len(hp.values)}), got {x!r}")
                config[hp.name] = hp.values[i]
            else:
                if not np.isfinite(float(x)):
                    raise ValueError(f"Dict action entry {hp.name!r} is not finite: {x!r}")
                v = min(max(float(x), hp.low), hp.high)  # type: ignore[type-var]
                config[hp.name] = int(round(v)) if hp.kind == "int" else v
        return config

    def indices_to_config(self, indices: Sequence[int]) -> Config:
        """``MultiDiscrete`` action -> configuration."""
        return {hp.name: hp.values[int(i)] for hp, i in zip(self.hyperparameters, indices)}
