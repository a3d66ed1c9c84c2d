"""The Objective protocol: what an HPO task looks like to the environment and to agents.

An objective owns a :class:`~hpo_gym.space.SearchSpace` and scores configurations. Scores are
always *higher is better* at this interface (a minimised raw metric is negated); the raw metric,
its name and its direction travel in ``info`` so that nothing is lost. Failed evaluations are
not exceptions: :func:`failure` gives them the worst score the objective knows (``oracle.worst``,
or the metric's floor such as 0 accuracy) and the reason in ``info["error"]``, so an HPO run never
crashes on one bad fit.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from hpo_gym.space import Config, SearchSpace


#: A task's score span at or below this fraction of its largest score magnitude is float round-off: the task is flat.
FLAT_SPAN = 1e-12


@dataclass(frozen=True)
class Oracle:
    """Best and worst achievable score of a task (known for tables, unknown for live training)."""

    best: float
    worst: float

    def __post_init__(self) -> None:
        if not self.best >= self.worst:  # also NaN bounds: every regret would silently be 0
            raise ValueError(f"Oracle(best={self.best}, worst={self.worst}): needs best >= worst in score units "
                             "(higher is better)")
        if not (np.isfinite(self.best) and np.isfinite(self.worst)):  # regret 0 for every score, improvement inf
            raise ValueError(f"Oracle(best={self.best}, worst={self.worst}): both bounds must be finite; when the worst "
                             "(or best) score is not known, give no oracle (oracle=None)")

    def normalized_regret(self, score: float | np.ndarray) -> float | np.ndarray:
        """``(best - score) / (best - worst)``: 0 at the optimum, 1 at the worst configuration; not clipped, so a score
        outside [worst, best] gives a value outside [0, 1]. A flat task has regret 0; NaN stays NaN. Flat means a span
        within float round-off of the scores (:data:`FLAT_SPAN`): a table whose cells have the same seed scores in
        another order has means that differ in the last bit, and dividing by that would give them regrets 0 and 1."""
        if not isinstance(score, float) and np.ndim(score):  # a float (np.float64 too) is one score: no np.ndim call
            return normalized_regret(score, self.best, self.worst)
        # one score per env step: plain floats (the array path halved HPOEnv.step's speed)
        span = self.best - self.worst
        if span > FLAT_SPAN * max(abs(self.best), abs(self.worst)):
            return (self.best - score) / span
        return float("nan") if np.isnan(score) else 0.0


def normalized_regret(score, best, worst):
    """:meth:`Oracle.normalized_regret` with the bounds as arrays too (one task per element: the native vector env,
    the env's ``regret`` reward), so every regret in the package applies the same flat-task rule."""
    best, worst = np.asarray(best, dtype=np.float64), np.asarray(worst, dtype=np.float64)
    span = best - worst
    flat = ~(span > FLAT_SPAN * np.maximum(np.abs(best), np.abs(worst)))
    regret = (best - score) / np.where(flat, 1.0, span)
    return np.where(flat, np.where(np.isnan(score), np.nan, 0.0), regret)


@dataclass(frozen=True)
class Evaluation:
    """Result of scoring one configuration: ``score`` (higher is better), ``cost`` in seconds, ``info``."""

    score: float
    cost: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return "error" in self.info


class EvaluationBatch(Sequence[Evaluation]):
    """Results of a batch as arrays (``scores``, ``costs``), with per-item ``info`` built on demand.

    Tables answer a million lookups at once; building a million dicts for that would dominate the
    time, so ``info`` is produced lazily by ``info_fn(i)``.
    """

    def __init__(self, scores: np.ndarray, costs: np.ndarray, info_fn: Callable[[int], dict[str, Any]]):
        self.scores = np.asarray(scores, dtype=np.float64)
        self.costs = np.asarray(costs, dtype=np.float64)
        self._info_fn = info_fn

    @classmethod
    def from_evaluations(cls, evaluations: Sequence[Evaluation]) -> EvaluationBatch:
        evals = list(evaluations)
        return cls(np.array([e.score for e in evals]), np.array([e.cost for e in evals]), lambda i: evals[i].info)

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return Evaluation(float(self.scores[i]), float(self.costs[i]), self._info_fn(i))

    def __iter__(self) -> Iterator[Evaluation]:
        return (self[i] for i in range(len(self)))


@runtime_checkable
class Objective(Protocol):
    """What the environment needs from an HPO task.

    Implementations: :class:`hpo_gym.tabular.TabularObjective` (lookup tables, incl. the embedded
    suite), the live OpenML objective, and the HPOBench adapter. ``seed=None`` asks for the
    noise-free score where the objective has one (mean over a table's seeds); an integer picks one
    noisy replicate (a table seed, or the model's random state).
    """

    name: str
    space: SearchSpace

    def evaluate(self, config: Mapping[str, Any], seed: int | None = None) -> Evaluation: ...

    def evaluate_batch(self, configs: Sequence[Mapping[str, Any]] | np.ndarray, seeds: Sequence[int | None] | None = None) -> EvaluationBatch: ...

    @property
    def oracle(self) -> Oracle | None: ...

    @property
    def metadata(self) -> dict[str, Any]: ...


def as_config_list(space: SearchSpace, configs: Sequence[Mapping[str, Any]] | np.ndarray) -> list[Config]:
    """Accept configurations as a sequence of dicts or as an ``(n, d)`` encoded array; return dicts. One dict, or a list
    of encoded vectors, is refused by name: ``dict()`` of either fails with a message about update sequences."""
    if isinstance(configs, np.ndarray):
        return space.decode_many(space.check_encoded_batch(configs, "evaluate_batch"))
    if isinstance(configs, Mapping):
        raise ValueError("evaluate_batch takes a list of configuration dicts or an (n, d) encoded array, got one dict; "
                         "use evaluate(config) for one configuration, or evaluate_batch([config])")
    configs = list(configs)
    wrong = next((c for c in configs if not isinstance(c, Mapping)), None)
    if wrong is not None:
        raise ValueError(f"evaluate_batch takes a list of configuration dicts or an (n, d) encoded array, got a list "
                         f"holding {wrong!r}; for encoded vectors pass np.asarray(list_of_vectors)")
    return [dict(c) for c in configs]


def whole_value(value: Any) -> int | None:
    """``value`` as an int when it is a number with a whole value (an int, NumPy's too, or a float such as ``31.0``),
    else None: bools and strings are no numbers here, and ``2.5``, NaN or infinity would be cut or fail later. For ids
    and seeds that a float may carry; counts take only ints (:func:`hpo_gym.episode.is_whole_number`)."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        return None
    try:
        whole = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return whole if whole == value else None


def per_config_seeds(seeds: Sequence[int | None] | None, n: int) -> list[int | None]:
    """One seed per configuration of a batch (``None`` = the objective's noise-free or default evaluation); a length
    mismatch is refused rather than zipped away, which would silently evaluate fewer configurations."""
    if seeds is not None and (isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable)):
        raise ValueError(f"seeds={seeds!r}: give one seed per configuration (e.g. [{seeds!r}] * {n} for the same seed "
                         "throughout), or None")
    seeds = [None] * n if seeds is None else list(seeds)
    if len(seeds) != n:
        raise ValueError(f"got {n} configurations but {len(seeds)} seeds; give one seed per configuration (or None)")
    odd = [s for s in seeds if s is not None and whole_value(s) is None]
    if odd:  # a table read int(1.7) = seed 1 (and True, "1" too) without a word; NaN failed with Python's bare error
        raise ValueError(f"seed {odd[0]!r} ({type(odd[0]).__name__}) is not an integer; give whole-number seeds (or None "
                         "for the noise-free evaluation)")
    return seeds


def failure(reason: str, worst: float, cost: float = 0.0, **info: Any) -> Evaluation:
    """An evaluation that failed: the worst score, the reason in ``info['error']`` (an ``error=`` among ``info`` is
    refused: it replaced the reason without a word)."""
    if "error" in info:
        raise TypeError("failure() takes the reason as its first argument; drop error=... (it would replace the reason "
                        f"{reason!r})")
    return Evaluation(float(worst), float(cost), {"error": reason, **info})


def finite_evaluation(objective: Objective, config: Mapping[str, Any], evaluation: Evaluation) -> Evaluation:
    """``evaluation`` when its score is finite. A NaN or infinite score (your own objective's "failed" marker, say)
    would reach the reward and the observation as NaN; with a known worst score (``oracle.worst``) it becomes a
    failure with that score, the original score and reason in ``info["error"]``, otherwise a ``ValueError`` names the
    fix. Anything but an :class:`Evaluation` with a real-number score and cost and a dict info (a bare float, a
    ``(score, cost)`` tuple, a ``None`` or string score or cost) is refused by name here, not by Python's own error
    deep inside the step (or, for a cost, inside every benchmark run's record of it)."""
    def real(x: Any) -> bool:
        return isinstance(x, numbers.Real) and not isinstance(x, bool)

    if not (isinstance(evaluation, Evaluation) and real(evaluation.score) and real(evaluation.cost)
            and isinstance(evaluation.info, Mapping)):  # a None cost failed every benchmark run at its first step
        raise TypeError(f"objective {objective.name!r}.evaluate returned {evaluation!r} for {dict(config)}; return "
                        "hpo_gym.Evaluation(score, cost, info) with a real-number score (higher is better), a cost in "
                        "seconds (0.0, or float('nan') when unknown) and a dict info, or "
                        "hpo_gym.objective.failure(reason, worst) for a failed evaluation")
    score_value = evaluation.score
    score = float(score_value)
    if np.isfinite(score):
        return evaluation
    if objective.oracle is not None:
        worst = objective.oracle.worst
        reason = f"{evaluation.info.get('error', 'failed')} (the objective returned {score!r}; the worst score {worst} stands in)"
        return failure(reason, worst, evaluation.cost, **{k: v for k, v in evaluation.info.items() if k != "error"})
    raise ValueError(f"objective {objective.name!r} returned the score {score!r} for {dict(config)}; scores must be finite: "
                     "return hpo_gym.objective.failure(reason, worst) with your metric's worst score for a failed "
                     "evaluation, or give the objective an oracle so its worst score stands in")
