"""State shared by the single and the vector environment: observation layout, action parsing, history.

Kept apart from ``env.py`` so that :class:`~hpo_gym.env.HPOEnv` and
:class:`~hpo_gym.vector.HPOVectorEnv` build identical observations and apply identical action rules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard, TypeVar

import numpy as np
from gymnasium import spaces

from hpo_gym.objective import normalized_regret, whole_value
from hpo_gym.space import SearchSpace

ACTION_TYPES = ("box", "dict", "multidiscrete")
REWARD_MODES = ("score", "improvement", "regret")
DEFAULT_MAX_DIMS = 16


#: Finite bounds for scores and choice counts (infinite bounds make some RL libraries and checkers complain).
SCORE_BOUND = float(np.finfo(np.float32).max)


#: The largest evaluation budget: every observation holds the whole history, ``(budget, max_dims)`` float32 values
#: (6.4 MB at 100,000 with 16 dims, copied at each step); a budget of 10^11 failed deep inside as a 1.5 TiB
#: MemoryError that the harness reported as the task failing to load (found in review).
MAX_BUDGET = 100_000
#: The most values one observation's history may hold, ``budget x max_dims``: the largest budget at the default 16
#: dims. ``max_dims`` had no bound, and 10^6 copied 200 MB at every step while 10^9 failed inside ``gym.make`` as a
#: 46.6 GiB MemoryError (found in review).
MAX_OBSERVATION_VALUES = MAX_BUDGET * DEFAULT_MAX_DIMS


def check_budget(budget: Any) -> int:
    """An evaluation budget (an episode's length) as an int; ``ValueError`` unless it is a whole number in
    [1, :data:`MAX_BUDGET`]."""
    budget = positive_count(budget, "budget")
    if budget > MAX_BUDGET:
        raise ValueError(f"budget={budget:,}: at most {MAX_BUDGET:,} evaluations per episode (each observation holds "
                         "the whole history, budget x max_dims values, copied at every step); use a smaller budget")
    return budget


def check_max_dims(max_dims: Any, budget: int) -> int:
    """``max_dims`` (the observation's padding of per-dimension arrays) as an int; ``ValueError`` unless it is a whole
    number >= 1 whose history, ``budget x max_dims`` values, stays within :data:`MAX_OBSERVATION_VALUES`."""
    max_dims = positive_count(max_dims, "max_dims")
    if budget * max_dims > MAX_OBSERVATION_VALUES:
        raise ValueError(f"budget x max_dims = {budget:,} x {max_dims:,} values in every observation; at most "
                         f"{MAX_OBSERVATION_VALUES:,} (the observation holds the whole history, copied at every step): "
                         f"use a smaller max_dims (it needs only the largest search space's number of hyperparameters; "
                         f"default {DEFAULT_MAX_DIMS}) or a smaller budget")
    return max_dims


def is_whole_number(value: Any) -> TypeGuard[int | np.integer]:
    """An int (NumPy's too) that is no bool: ``True`` would pass as 1, and ``2.5`` or ``"2"`` would be cut or fail
    later, so counts, seeds and fold numbers are checked with this before they are used."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def openml_task_id(metadata: Any) -> int:
    """A task's ``metadata["openml_task_id"]`` as the int an env's info holds: -1 when there is none or it is no whole
    number (the metadata is free-form: a string id failed every reset, and 31.7 read as task 31). One int for every
    task, so that a vector env's batched info, typed by its first env, holds every env's value."""
    whole = whole_value(metadata.get("openml_task_id")) if isinstance(metadata, Mapping) else None
    return -1 if whole is None else whole


_Item = TypeVar("_Item", str, int)  # names and seeds


def repeated(items: Sequence[_Item]) -> list[_Item]:
    """The items given more than once in ``items``, sorted: a task, agent, seed or recipe listed twice would be run or
    counted twice, so the harness, the commands and the scripts refuse it naming these."""
    return sorted(item for item, n in Counter(items).items() if n > 1)


def positive_count(value: Any, name: str) -> int:
    """``value`` as an int; ``ValueError`` naming ``name`` unless it is a whole number >= 1 (a bool, float or string
    is refused, not truncated: ``2.5`` envs or ``True`` evaluations are mistakes, not requests)."""
    if not is_whole_number(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


#: What ``reset(options=...)`` understands, in every hpo-gym env.
RESET_OPTIONS = ("task",)


def check_reset_options(options: Any) -> dict[str, Any]:
    """``reset``'s options as a dict; an unknown key (``{"taks": "kc1"}``) would silently draw a random task."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError(f"reset options must be a dict such as {{'task': 'kc1'}}, got {options!r}")
    unknown = sorted(set(options) - set(RESET_OPTIONS))
    if unknown:
        raise ValueError(f"unknown reset option(s) {unknown}; the options are {list(RESET_OPTIONS)}")
    return dict(options)


def _holds_a_non_number(action: Any, given: np.ndarray) -> bool:
    """Whether a list or object array holds a string, a bool or ``None``: numpy would cast ``[True, 0.5]`` to
    ``[1.0, 0.5]``, ``[True, 0]`` to an index array and ``[None, 0.5]`` to a NaN, each without a word."""
    if isinstance(action, np.ndarray) and given.dtype.kind in "iuf":
        return False
    elements = given if given.dtype == object else np.asarray(action, dtype=object)  # a list's own items
    return any(v is None or isinstance(v, (str, bytes, bool, np.bool_)) for v in elements.ravel())


def numeric_action(action: Any, expected: str,
                   dict_hint: str = "for a dict of native values make the env with action_type='dict'") -> np.ndarray:
    """The action as a float64 array, or a ``ValueError`` naming the expected space (a dict or strings given to a
    Box env used to surface as numpy's own "float() argument must be ..." error); ``dict_hint`` is the fix added when
    the action is a dict (the native vector env has no dict actions, so it names the sync vector env instead)."""
    if type(action) is np.ndarray and action.dtype.kind == "f":  # what agents send, and what every check below passes:
        return np.asarray(action, dtype=np.float64)  # skipped on this hot path of every env step
    try:
        if np.iscomplexobj(action):  # the cast would drop the imaginary part with only a warning
            raise TypeError("complex")
        given = np.asarray(action)
        if given.dtype.kind in "bUSMm":  # "0.5" or True would be cast to a number without a word
            raise TypeError("not a number")
        if _holds_a_non_number(action, given):
            raise TypeError("not a number")
        return np.asarray(given, dtype=np.float64)
    except (TypeError, ValueError):
        hint = f"; {dict_hint}" if isinstance(action, Mapping) else ""
        raise ValueError(f"action {action!r} is not numeric; expected {expected}{hint}") from None


def check_common_kwargs(budget: Any, reward: str, noise: Any, render_mode: str | None = None,
                        render_modes: Sequence[str] = ()) -> tuple[int, bool]:
    """Validate the kwargs every hpo-gym env takes; return the budget as an int and noise as a bool.

    A ``render_mode`` other than None and not in the env's ``render_modes`` raises ``TypeError``, as for an env
    without the argument: that is what code probing for a render mode catches (Stable-Baselines3's ``make_vec_env``
    tries ``render_mode="rgb_array"`` and falls back on it)."""
    if render_mode is not None and render_mode not in render_modes:
        supported = f"use one of {list(render_modes)} or leave it out" if render_modes else "leave render_mode out"
        raise TypeError(f"render_mode={render_mode!r} is not supported by this env: {supported}")
    budget = check_budget(budget)
    if reward not in REWARD_MODES:
        raise ValueError(f"unknown reward {reward!r}; use one of {REWARD_MODES}")
    if not isinstance(noise, (bool, np.bool_)):  # bool("False") is True: a string would silently turn noise on
        raise ValueError(f"noise must be True or False, got {noise!r}")
    return budget, bool(noise)


def observation_space(budget: int, max_dims: int) -> spaces.Dict:
    """The fixed-shape observation shared by every task of a suite (see HPOEnv's docstring)."""
    return spaces.Dict({
        "x": spaces.Box(0.0, 1.0, (budget, max_dims), dtype=np.float32),
        "y": spaces.Box(-SCORE_BOUND, SCORE_BOUND, (budget,), dtype=np.float32),
        "mask": spaces.MultiBinary(budget),
        "step_fraction": spaces.Box(0.0, 1.0, (1,), dtype=np.float32),
        "dim_kind": spaces.MultiDiscrete(np.full(max_dims, 5)),
        "dim_choices": spaces.Box(0.0, SCORE_BOUND, (max_dims,), dtype=np.float32),
        "dim_log": spaces.MultiBinary(max_dims),
    })


def action_space(action_type: str, space: SearchSpace | None, max_dims: int) -> spaces.Space:
    """The action space for an action encoding; ``space=None`` means tasks of different spaces."""
    if action_type not in ACTION_TYPES:
        raise ValueError(f"unknown action_type {action_type!r}; use one of {ACTION_TYPES}")
    if space is None:
        if action_type != "box":
            raise ValueError(f"action_type={action_type!r} needs one search space known before any task loads, and "
                             "this env's tasks declare none (their spaces differ, or their suite was registered without "
                             "Suite(..., shared_space=SPACE)); declare the shared space, pin one task (task=NAME), or "
                             "use action_type='box' (padded to max_dims)")
        return spaces.Box(0.0, 1.0, (max_dims,), dtype=np.float32)
    if len(space) > max_dims:
        raise ValueError(f"search space has {len(space)} hyperparameters but max_dims={max_dims}; raise max_dims")
    if action_type == "box":
        return space.box_space()
    if action_type == "dict":
        return space.dict_space()
    return space.multidiscrete_space()


def box_action_to_unit(action: Any, space: SearchSpace, width: int) -> tuple[np.ndarray, bool]:
    """Validate a Box action; return the first ``d`` entries clipped to [0, 1] and whether clipping happened."""
    a = numeric_action(action, f"Box(0, 1, ({width},))")
    if a.shape != (width,):
        raise ValueError(f"action {action!r} has shape {a.shape}; expected Box(0, 1, ({width},))")
    u = a[: len(space)]
    values = a.tolist()
    if all(0.0 <= x <= 1.0 for x in values):  # fast path; NaN fails every comparison
        return u, False
    if not np.isfinite(a).all():
        raise ValueError(f"action {action!r} contains NaN or inf; expected finite values in Box(0, 1, ({width},))")
    clipped = np.clip(u, 0.0, 1.0)
    return clipped, bool((clipped != u).any())


def multidiscrete_action_to_config(action: Any, space: SearchSpace) -> dict[str, Any]:
    a = np.asarray(action)
    nvec = [len(hp.values) for hp in space]
    if (a.shape != (len(space),) or not np.issubdtype(a.dtype, np.integer) or _holds_a_non_number(action, a)
            or (a < 0).any() or (a >= nvec).any()):
        raise ValueError(f"action {action!r} is not in MultiDiscrete({nvec}); expected one integer index per hyperparameter")
    return space.indices_to_config(a)


def space_descriptor(space: SearchSpace, max_dims: int) -> dict[str, np.ndarray]:
    """Per-dimension kind code (0 = padding), number of choices and log flag, padded to ``max_dims``."""
    d = len(space)
    kind = np.zeros(max_dims, dtype=np.int64)
    choices = np.zeros(max_dims, dtype=np.float32)
    log = np.zeros(max_dims, dtype=np.int8)
    kind[:d], choices[:d], log[:d] = space.kind_codes(), space.n_choices(), space.log_flags()
    return {"dim_kind": kind, "dim_choices": choices, "dim_log": log}


def empty_descriptors(n: int, max_dims: int) -> dict[str, np.ndarray]:
    """Descriptors of ``n`` episodes before their first reset: all padding, one row per episode."""
    return {"dim_kind": np.zeros((n, max_dims), dtype=np.int64), "dim_choices": np.zeros((n, max_dims), dtype=np.float32),
            "dim_log": np.zeros((n, max_dims), dtype=np.int8)}


class History:
    """Trial histories of ``n`` parallel episodes, stored as the observation's arrays.

    ``best`` is the best *observed* score, what an agent sees; ``best_true`` is the noise-free score of the trial
    that holds it (the incumbent). They differ only with noisy evaluations, where regret must be measured on
    ``best_true``: the best of several noisy draws overstates the incumbent, down to a negative regret.
    ``descriptor`` holds each search-space array with one row per episode, so a batch observation is a copy, not a
    stack of ``n`` small arrays (which was 70 % of a step of the native vector env at 8,192 envs).
    """

    def __init__(self, n: int, budget: int, max_dims: int):
        self.budget = budget
        self.x = np.zeros((n, budget, max_dims), dtype=np.float32)
        self.y = np.zeros((n, budget), dtype=np.float32)
        self.mask = np.zeros((n, budget), dtype=np.int8)
        self.step = np.zeros(n, dtype=np.int64)
        self.best = np.full(n, -np.inf)
        self.best_true = np.full(n, -np.inf)
        self.descriptor = empty_descriptors(n, max_dims)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle, also a History pickled by hpo-gym before ``descriptor`` became arrays (a list of per-episode
        dicts), e.g. inside a pickled env."""
        if isinstance(state.get("descriptor"), list):
            rows = state["descriptor"]
            state = {**state, "descriptor": {k: np.stack([d[k] for d in rows]) for k in rows[0]}}
        self.__dict__.update(state)

    def reset(self, rows: int | np.ndarray, space: SearchSpace) -> None:
        """Start new episodes on ``space`` in ``rows`` (one index or an array of them)."""
        self.x[rows] = 0.0
        self.y[rows] = 0.0
        self.mask[rows] = 0
        self.step[rows] = 0
        self.best[rows] = -np.inf
        self.best_true[rows] = -np.inf
        for key, row in space_descriptor(space, self.x.shape[2]).items():
            self.descriptor[key][rows] = row

    def repeated(self, k: int) -> "History":
        """A copy with every episode repeated ``k`` times in a row (episode ``i`` -> rows ``i*k .. i*k+k-1``).

        Why: branching one history prefix into ``k`` continuations (a learner scoring ``k`` candidates by
        what follows them) without touching the original.
        """
        out = History.__new__(History)
        out.budget = self.budget
        for name in ("x", "y", "mask", "step", "best", "best_true"):
            setattr(out, name, np.repeat(getattr(self, name), k, axis=0))
        out.descriptor = {key: np.repeat(rows, k, axis=0) for key, rows in self.descriptor.items()}
        return out

    def record(self, i: int, encoded: np.ndarray, score: float, true_score: float | None = None) -> tuple[float, float]:
        """Append one trial to episode ``i`` (``true_score``: its noise-free score, when ``score`` is a noisy draw);
        return (previous best, new best)."""
        t = self.step[i]
        self.x[i, t, : encoded.shape[0]] = encoded
        self.y[i, t] = min(max(score, -SCORE_BOUND), SCORE_BOUND)  # a finite 1e39 would be inf in float32 (NaN stays)
        self.mask[i, t] = 1
        self.step[i] = t + 1
        prev = self.best[i]
        if score > prev:
            self.best[i] = score
            self.best_true[i] = score if true_score is None else true_score
        return prev, self.best[i]

    def record_batch(self, rows: np.ndarray, encoded: np.ndarray, scores: np.ndarray,
                     true_scores: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Append one trial to each episode in ``rows`` (vector env; ``true_scores`` as in :meth:`record`); return
        (previous bests, new bests)."""
        t = self.step[rows]
        self.x[rows, t, : encoded.shape[1]] = encoded
        self.y[rows, t] = np.clip(scores, -SCORE_BOUND, SCORE_BOUND)
        self.mask[rows, t] = 1
        self.step[rows] = t + 1
        prev = self.best[rows].copy()
        self.best[rows] = np.maximum(prev, scores)
        improved = scores > prev
        self.best_true[rows[improved]] = (scores if true_scores is None else true_scores)[improved]
        return prev, self.best[rows]

    def observations(self) -> dict[str, np.ndarray]:
        """All episodes' observations, batched along the first axis (vector env)."""
        return {
            "x": self.x.copy(),
            "y": self.y.copy(),
            "mask": self.mask.copy(),
            "step_fraction": (self.step / self.budget).astype(np.float32)[:, None],
            **{k: rows.copy() for k, rows in self.descriptor.items()},
        }

    def observation(self, i: int) -> dict[str, np.ndarray]:
        return {
            "x": self.x[i].copy(),
            "y": self.y[i].copy(),
            "mask": self.mask[i].copy(),
            "step_fraction": np.array([self.step[i] / self.budget], dtype=np.float32),
            **{k: rows[i].copy() for k, rows in self.descriptor.items()},  # fresh arrays each call, as Gymnasium asks
        }


def reward_of(mode: str, score, prev_best, best, oracle_best=None, oracle_worst=None, best_true=None):
    """Reward for one step (scalars or arrays): the score, the gain of the best-so-far, or minus the
    normalized regret of the best-so-far, measured on its noise-free score ``best_true`` when given
    (see :class:`History`). ``oracle_*`` are None when the task has no oracle."""
    if mode == "score":
        return score
    if mode == "improvement":
        # The first trial (prev_best = -inf) gains over the worst score when it is known, else 0.
        baseline = np.where(np.isfinite(prev_best), prev_best, best if oracle_worst is None else oracle_worst)
        return best - baseline
    if oracle_best is None:
        raise ValueError("reward='regret' needs an objective with a known oracle (best/worst score)")
    return 0.0 - normalized_regret(best if best_true is None else best_true, oracle_best, oracle_worst)  # 0, not -0
