"""Adapter: any object with HPOBench's benchmark API becomes an :class:`~hpo_gym.objective.Objective`.

HPOBench (automl/HPOBench) benchmarks expose ``get_configuration_space()``, ``get_fidelity_space()``
and ``objective_function(configuration, fidelity=None, rng=None, **kwargs)`` returning
``{"function_value": float, "cost": float, "info": dict}``, where ``function_value`` is minimised
(for its ML benchmarks it is ``1 - validation accuracy``). hpo-gym maximises, so
``score = -function_value``; the raw value is kept in ``info["function_value"]`` and the
benchmark's own info in ``info["hpobench_info"]``. ``hpobench`` itself is not needed to import
this module: pass any object with that API::

    env = gym.make("HPO-OpenML-v0", objective=XGBoostBenchmark(task_id=167149), budget=50)
    # or, to pass options: backend_options={"fidelity": {"n_estimators": 100}, "worst_score": -1.0}
"""

from __future__ import annotations

import math
import re
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from hpo_gym.objective import Evaluation, EvaluationBatch, Oracle, as_config_list, failure, per_config_seeds
from hpo_gym.space import SearchSpace


class HPOBenchObjective:
    """Wrap an HPOBench-style benchmark object.

    Args:
        benchmark: the object (``get_configuration_space``, ``objective_function``; optionally
            ``get_fidelity_space``).
        fidelity: fidelity passed to every ``objective_function`` call (default: the benchmark's
            default, i.e. ``fidelity=None``, which HPOBench treats as full fidelity).
        name: task name (default: the class name, plus ``task_id`` when the benchmark has one).
        worst_score: the score of a failed call (an exception or a non-finite ``function_value``).
            Default: the oracle's worst score when ``oracle`` is given, else -1.0, the worst of HPOBench's ML
            benchmarks, whose ``function_value`` is ``1 - accuracy``; pass your benchmark's own bound otherwise
            (e.g. -100 for an error in percent). A call that scores below it gets a warning: a failure would then
            rank above a real configuration.
        oracle: optional ``(best_score, worst_score)`` when known, enabling regret rewards. Scores are
            ``-function_value`` (higher is better), so best > worst, e.g. ``(-0.05, -1.0)``.
        objective_kwargs: extra keyword arguments for every ``objective_function`` call (not ``configuration`` or
            ``fidelity``, which this class passes; ``rng`` is the seed, see ``default_seed``).
        default_seed: HPOBench's ``rng`` for calls without a seed (the env's ``noise=False``). A benchmark
            called with ``rng=None`` draws from its own advancing random state, so the same configuration
            would score differently from run to run and seeded episodes would not repeat.
    """

    def __init__(self, benchmark: Any, fidelity: Mapping[str, Any] | None = None, name: str | None = None,
                 worst_score: float | None = None, oracle: tuple[float, float] | None = None,
                 objective_kwargs: Mapping[str, Any] | None = None, default_seed: int = 0) -> None:
        if not callable(getattr(benchmark, "objective_function", None)) or \
                not callable(getattr(benchmark, "get_configuration_space", None)):
            raise ValueError(f"{type(benchmark).__name__} lacks HPOBench's API: it needs get_configuration_space() "
                             "and objective_function(configuration, fidelity=None, rng=None)")
        _check_call_signature(benchmark.objective_function)
        objectives = benchmark.get_objective_names() if callable(getattr(benchmark, "get_objective_names", None)) else []
        if len(objectives) > 1:  # its function_value is a dict: every call failed, and the run looked like any other
            raise ValueError(f"{type(benchmark).__name__} is a multi-objective benchmark ({list(objectives)}); an "
                             "hpo-gym episode optimizes one score: wrap it so that objective_function returns one of "
                             "them as function_value (lower is better)")
        self.benchmark = benchmark
        self._configspace = benchmark.get_configuration_space()
        self.space: SearchSpace = SearchSpace.from_configspace(self._configspace)
        self.fidelity = dict(fidelity) if fidelity else None
        if self.fidelity and callable(getattr(benchmark, "get_fidelity_space", None)):
            self.fidelity = _check_fidelity(benchmark.get_fidelity_space(), self.fidelity)
        task_id = getattr(benchmark, "task_id", None)
        self.name = name or (f"{type(benchmark).__name__}-{task_id}" if task_id is not None else type(benchmark).__name__)
        oracle = _score_pair(oracle)
        if oracle is not None and not oracle[0] > oracle[1]:
            raise ValueError(f"oracle={tuple(oracle)}: give (best_score, worst_score) in score units, -function_value, "
                             "so that best > worst, e.g. (-0.05, -1.0) for function values between 0.05 and 1")
        self._oracle = Oracle(*map(float, oracle)) if oracle is not None else None
        default = self._oracle.worst if self._oracle is not None else -1.0
        self.worst_score = default if worst_score is None else _number(worst_score, "worst_score")
        if not math.isfinite(self.worst_score):
            raise ValueError(f"worst_score={worst_score!r} must be a finite score (-function_value of the worst outcome)")
        if self._oracle is not None and self.worst_score > self._oracle.worst:
            raise ValueError(f"worst_score={self.worst_score} is above the oracle's worst score {self._oracle.worst}: a "
                             "failed call would count as better than a real configuration; leave worst_score out (it "
                             "then is the oracle's worst) or give one at most that")
        self._warned_below_worst = False
        self.default_seed = int(default_seed)
        self._kwargs = dict(objective_kwargs or {})
        clash = sorted({"configuration", "fidelity", "rng"} & set(self._kwargs))
        if clash:
            raise ValueError(f"objective_kwargs must not hold {clash}: HPOBenchObjective passes them itself (give the "
                             "fidelity as fidelity=..., the seed as default_seed=... or the env's seed)")
        self._task_id = task_id

    @property
    def oracle(self) -> Oracle | None:
        return self._oracle

    @property
    def metadata(self) -> dict[str, Any]:
        return {"task": self.name, "backend": "hpobench", "benchmark": type(self.benchmark).__name__,
                "openml_task_id": self._task_id, "metric": "-function_value", "direction": "maximize",
                "fidelity": self._fidelity_copy(), "worst_score": self.worst_score}

    def _fidelity_copy(self) -> dict[str, Any] | None:
        """The fidelity as a new dict for each reader (info, metadata, the benchmark): one that edits its copy must not
        change the fidelity of every later evaluation."""
        return None if self.fidelity is None else dict(self.fidelity)

    def _configuration(self, config: Mapping[str, Any]) -> Any:  # a ConfigSpace Configuration
        import ConfigSpace as CS

        return CS.Configuration(self._configspace, values=dict(config))

    def evaluate(self, config: Mapping[str, Any], seed: int | None = None) -> Evaluation:
        """``-function_value`` of ``config``; ``seed`` (else ``default_seed``) is passed as HPOBench's ``rng``."""
        # the space's own values (3.0 -> 3, np.float32(0.1) -> 0.1), and built before the call: ConfigSpace refused the
        # raw ones, and that refusal was scored as a failed fit with the worst score, the benchmark never called
        configuration = self._configuration(self.space.canonical(config))
        start = time.perf_counter()
        info: dict[str, Any] = {"task": self.name, "seed": seed, "fidelity": self._fidelity_copy()}
        try:
            # the seed decides; HPOBench seeds a numpy RandomState, which takes seeds below 2**32 only
            kwargs = {**self._kwargs, "rng": (self.default_seed if seed is None else int(seed)) % 2**32}
            result = self.benchmark.objective_function(configuration, fidelity=self._fidelity_copy(), **kwargs)
            value = float(result["function_value"])
            cost = _reported_cost(result.get("cost"), time.perf_counter() - start, info)
        except Exception as e:  # noqa: BLE001  (a failed evaluation must not end the run)
            return failure(f"{type(e).__name__}: {e}", self.worst_score, time.perf_counter() - start, **info)
        info.update({"function_value": value, "hpobench_info": _without_test_results(result.get("info", {}))})
        if not math.isfinite(value):
            return failure(f"non-finite function_value {value}", self.worst_score, cost, **info)
        if -value < self.worst_score and not self._warned_below_worst:
            self._warned_below_worst = True
            warnings.warn(f"{self.name}: a call scored {-value:g} (function_value {value:g}), below worst_score="
                          f"{self.worst_score:g}, the score of a failed call, which would therefore rank above this real "
                          "configuration; pass worst_score= at most the lowest possible score (backend_options={"
                          "'worst_score': ...} for an env)", RuntimeWarning, stacklevel=2)
        return Evaluation(-value, cost, info)

    def evaluate_batch(self, configs: Sequence[Mapping[str, Any]] | np.ndarray,
                       seeds: Sequence[int | None] | None = None) -> EvaluationBatch:
        """One call per configuration, in order (benchmark objects are often not picklable)."""
        configs = as_config_list(self.space, configs)
        seeds = per_config_seeds(seeds, len(configs))
        return EvaluationBatch.from_evaluations([self.evaluate(c, s) for c, s in zip(configs, seeds)])

    def __repr__(self) -> str:
        return f"HPOBenchObjective({self.name!r})"


def _reported_cost(cost: Any, wall_seconds: float, info: dict[str, Any]) -> float:
    """The benchmark's ``cost`` when it is a finite number >= 0, else the call's wall time, the reported value kept in
    ``info["reported_cost"]``: a NaN, infinite or negative cost reached the run's costs, and a string one made the
    whole evaluation a failure although its function value was fine. A bool is no number of seconds."""
    if cost is None:
        return wall_seconds
    try:  # a bool is no duration (True was charged 1 s)
        number = math.nan if isinstance(cost, (bool, np.bool_)) else float(cost)
    except (TypeError, ValueError):
        number = math.nan
    if math.isfinite(number) and number >= 0:
        return number
    info["reported_cost"] = cost
    return wall_seconds


def _without_test_results(info: Any) -> Any:
    """HPOBench's ``info`` without its test-set entries (``test_loss``, ``test_scores``, ``testLoss``, also inside
    nested dicts such as ``{"scores": {"test": ...}}``): the step's info reaches the agent, and a number measured on the
    test split must not steer the search. A key is a test entry when ``test`` is one of its words (``_``, punctuation
    or a camelCase capital separate words), so ``latest_epoch`` stays."""
    if not isinstance(info, Mapping):
        return info
    return {k: _without_test_results(v) for k, v in info.items() if not _names_the_test_split(str(k))}


def _names_the_test_split(key: str) -> bool:
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower()
    return re.search(r"(^|[_\W])test($|[_\W])", words) is not None


def _number(value: Any, what: str) -> float:
    """``value`` as a float (a NumPy number or a ``Decimal`` too), or a ``ValueError`` naming the parameter
    (``float("low")`` named none; a bool or a string is no score, even one that reads as a number)."""
    try:
        if isinstance(value, (bool, np.bool_, str, bytes)):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}={value!r} must be a number (a score: -function_value)") from None


def _score_pair(oracle: Any) -> tuple[float, float] | None:
    """``oracle`` as ``(best_score, worst_score)`` floats, or a ``ValueError`` naming the form (``oracle=-0.05`` gave
    "'float' object is not subscriptable", ``(-0.05,)`` an IndexError)."""
    if oracle is None:
        return None
    if isinstance(oracle, np.ndarray):  # np.array([-0.05, -1.0]) was taken before these checks
        oracle = oracle.tolist() if oracle.ndim == 1 else oracle
    if isinstance(oracle, (str, bytes)) or not isinstance(oracle, Sequence) or len(oracle) != 2:
        raise ValueError(f"oracle={oracle!r} must be a pair (best_score, worst_score) in score units, -function_value, "
                         "e.g. (-0.05, -1.0)")
    return _number(oracle[0], "oracle's best_score"), _number(oracle[1], "oracle's worst_score")


def _check_call_signature(objective_function: Callable[..., Any]) -> None:
    """``ValueError`` when ``objective_function`` cannot take the ``fidelity=`` and ``rng=`` every call passes: such an
    object was accepted, and then every step failed with a TypeError, scored as the worst score (found in review)."""
    import inspect

    from hpo_gym.tasks import keywords_not_taken

    missing, _ = keywords_not_taken(objective_function, ("fidelity", "rng"))
    if missing:
        raise ValueError(f"objective_function{inspect.signature(objective_function)} takes no {' or '.join(missing)}; "
                         "HPOBench's API calls objective_function(configuration, fidelity=None, rng=None): add the "
                         f"parameter{'s' if len(missing) > 1 else ''} (they may be ignored)")


def _check_fidelity(fidelity_space: Any, fidelity: Mapping[str, Any]) -> dict[str, Any]:
    """Names *and* values of ``fidelity`` against the benchmark's fidelity space, at construction: a value the space
    does not allow (e.g. a fixed-fidelity benchmark's n_estimators) would otherwise fail every evaluation. Returns the
    fidelity in the space's own types: ConfigSpace accepts 32.0 for an integer fidelity, and the benchmark then got
    32.0 (scikit-learn: "must be an int", every evaluation a failure), as configurations are converted already."""
    import ConfigSpace as CS

    valid = list(fidelity_space)
    unknown = sorted(set(fidelity) - set(valid))
    if unknown:
        raise ValueError(f"fidelity {unknown} not in the benchmark's fidelity space {sorted(valid)}")
    for name, value in fidelity.items():  # before ConfigSpace, whose own refusal of a bool named numpy's ufuncs
        if isinstance(value, (bool, np.bool_)):  # True passed ConfigSpace as 1 and reached the benchmark as iter=True
            raise ValueError(f"fidelity {name}={value!r}: give a number, not a bool")
    try:
        CS.Configuration(fidelity_space, values={**dict(fidelity_space.get_default_configuration()), **dict(fidelity)})
    except Exception as e:  # ConfigSpace raises its own error types (IllegalValueError, ...)
        raise ValueError(f"fidelity {dict(fidelity)} is not allowed by the benchmark's fidelity space "
                         f"({type(e).__name__}: {e}); give values inside it, or leave fidelity out for the default") from None
    typed = {}
    for name, value in fidelity.items():
        default = getattr(fidelity_space[name], "default_value", None)
        whole = isinstance(value, (float, np.floating)) and float(value).is_integer()
        integer = isinstance(default, (int, np.integer)) and not isinstance(default, (bool, np.bool_))
        typed[name] = int(value) if whole and integer else value
    return typed
