"""``HPOVectorEnv``: a native batched vector env for tabular suites (one numpy lookup per step).

Registered as the ``vector_entry_point`` of the hpo-gym ids, like Gymnasium's CartPole, so
``gym.make_vec("HPO-OpenML-v0", num_envs=64)`` steps 64 HPO runs, each on its own task of the
suite, with one array lookup. It needs tabular tasks that share one grid (true for ``hpobench-nn``);
for anything else use ``vectorization_mode="sync"`` or ``"async"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from hpo_gym.episode import (
    DEFAULT_MAX_DIMS,
    History,
    check_common_kwargs,
    check_max_dims,
    check_reset_options,
    is_whole_number,
    numeric_action,
    observation_space,
    openml_task_id,
    positive_count,
    reward_of,
)
from hpo_gym.objective import normalized_regret
from hpo_gym.tabular import TabularObjective
from hpo_gym.tasks import resolve_task_pool


def _same_grid_values(a: TabularObjective, b: TabularObjective) -> bool:
    """Whether two tables snap continuous hyperparameters to the same values (discrete ones are the space's own)."""
    va, vb = a.grid_values, b.grid_values
    return va.keys() == vb.keys() and all(np.array_equal(va[k], vb[k]) for k in va)


class HPOVectorEnv(VectorEnv):
    """``num_envs`` parallel :class:`~hpo_gym.env.HPOEnv` episodes over one table grid (Box actions).

    Same arguments, observations and rewards as ``HPOEnv``, step for step (with ``noise=True`` the rows draw their
    table seeds from this env's one generator, so noisy scores match a sync vector env's in distribution, not draw for
    draw). ``reset``'s ``info`` has ``HPOEnv``'s keys
    as arrays with ``_key`` masks, as a sync vector env of ``HPOEnv`` gives. ``step``'s ``info`` holds arrays with Gymnasium's
    ``_key`` masks (a row that autoresets this step has its step entries masked out and its new episode's reset info
    masked in, as in a sync vector env): ``score``,
    ``best_score``, ``cost``, ``normalized_regret``, ``task``, ``openml_task_id`` (-1 for a task without one, where
    ``HPOEnv`` gives None: the array is numeric), ``step``, ``action_clipped`` and
    ``cell`` instead of ``config`` (configurations are not built per step, for speed: :meth:`cell_config`).
    Episodes autoreset on the next step (``AutoresetMode.NEXT_STEP``). ``reset(options={"task": ...})`` keeps
    that task for the autoreset episodes of the rows it resets, until their next ``reset``; ``HPOEnv`` in a sync vector
    env takes it for the first episode only. Gymnasium's partial reset, ``reset(options={"reset_mask": mask})``, starts new
    episodes in the masked rows only. Per-env seeds (a list), ``wrappers=`` and ``max_episode_steps`` need
    ``vectorization_mode="sync"``.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, budget: int = 50, reward: str = "score", noise: bool = False,
                 max_dims: int = DEFAULT_MAX_DIMS, render_mode: str | None = None, **task_kwargs: Any):
        """``task_kwargs``: ``task``, ``suite``, ``metric`` as for ``HPOEnv`` (``backend`` must be tabular,
        ``action_type`` box); any other ``HPOEnv`` setting needs ``vectorization_mode='sync'``."""
        if render_mode is not None:
            raise TypeError(f"render_mode={render_mode!r}: the native vector env does not render; use "
                            "gym.make_vec(..., vectorization_mode='sync', render_mode='ansi') for text, or leave it out")
        self.budget, self.noise = check_common_kwargs(budget, reward, noise)
        self.render_mode = None
        if task_kwargs.pop("backend", "tabular") != "tabular" or task_kwargs.pop("action_type", "box") != "box":
            raise ValueError("the native vector env supports backend='tabular' with action_type='box'; "
                             "use gym.make_vec(..., vectorization_mode='sync') for other settings")
        unsupported = sorted(set(task_kwargs) - {"task", "suite", "metric"})
        if unsupported:
            raise ValueError(f"the native vector env does not take {unsupported}; use vectorization_mode='sync'")
        self.pool = pool = resolve_task_pool(**task_kwargs)
        self.objectives: list[TabularObjective] = [pool.get(n) for n in pool.names]  # type: ignore[misc]
        first = self.objectives[0]
        for obj in self.objectives:  # every row is snapped with the first task's grid and present cells
            if not isinstance(obj, TabularObjective) or obj.space != first.space or obj.grid_shape != first.grid_shape:
                raise ValueError("the native vector env needs tabular tasks that share one grid; use vectorization_mode='sync'")
            if obj.n_seeds != first.n_seeds:  # one seed draw per row over every task's seeds (np.stack below)
                raise ValueError(f"the native vector env needs tables with one number of seeds, and task {obj.name!r} "
                                 f"has {obj.n_seeds} where {first.name!r} has {first.n_seeds}; use "
                                 "vectorization_mode='sync'")
            if not obj.complete or not _same_grid_values(obj, first):
                raise ValueError(f"the native vector env needs complete tables on one grid of values, and task "
                                 f"{obj.name!r} {'lacks cells' if not obj.complete else 'has other grid values'} (its "
                                 "rows would be scored at another task's cells); use vectorization_mode='sync'")
        if pool.space() is None:  # HPOEnv would act in a padded Box(max_dims): refused, so both modes act alike
            raise ValueError("the native vector env needs the tasks' one search space declared before they load, as "
                             "HPOEnv and the sync vector env use it (without it they act in a Box padded to max_dims); "
                             "register the suite with Suite(..., shared_space=SPACE), pin one task, or use "
                             "vectorization_mode='sync'")
        self.task_names = list(pool.names)
        self.num_envs = positive_count(num_envs, "num_envs")
        max_dims = check_max_dims(max_dims, self.budget)
        self.reward_mode = reward
        self.space = first.space
        if len(self.space) > max_dims:
            raise ValueError(f"search space has {len(self.space)} hyperparameters but max_dims={max_dims}; raise max_dims")
        self._grid = first
        self._d = len(self.space)
        # Stacked tables of every task: (n_tasks, n_cells[, n_seeds]).
        self._mean = np.stack([o._mean_scores for o in self.objectives])
        self._mean_cost = np.stack([o._mean_costs for o in self.objectives])
        self._seed_scores = np.stack([o._seed_scores for o in self.objectives])
        self._seed_costs = np.stack([o._seed_costs for o in self.objectives])
        self._oracle_best = np.array([o.oracle.best for o in self.objectives])
        self._oracle_worst = np.array([o.oracle.worst for o in self.objectives])
        # -1 for a task without an id, whether its metadata lacks the key or holds None (a suite's {name: None} map)
        self._openml_ids = np.array([openml_task_id(o.metadata) for o in self.objectives], dtype=np.int64)
        self.single_action_space = self.space.box_space()
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.single_observation_space = observation_space(self.budget, max_dims)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._history = History(self.num_envs, self.budget, max_dims)
        self._task = np.zeros(self.num_envs, dtype=np.int64)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._fixed_task = np.full(self.num_envs, -1, dtype=np.int64)  # per row: the task its episodes play (-1 draws)
        self._np_random, self._np_random_seed = seeding.np_random(None)
        self._started = False  # step() before the first reset() would play task 0 with an all-padding descriptor

    def _start(self, rows: np.ndarray) -> None:
        fixed = self._fixed_task[rows]
        drawn = fixed < 0
        self._task[rows] = fixed
        self._task[rows[drawn]] = self.np_random.integers(len(self.objectives), size=int(drawn.sum()))
        self._history.reset(rows, self.space)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start new episodes in every row, or, with Gymnasium's ``options={"reset_mask": mask}``, only in the rows
        where ``mask`` is True (the others keep their episodes; ``info`` is masked to the rows reset). ``seed`` reseeds
        the one generator every row draws from; ``options={"task": ...}`` plays that task in the rows reset and in their
        autoreset episodes after them, until their next ``reset`` (a partial reset leaves the other rows' task as it was)."""
        if seed is not None and not is_whole_number(seed):
            if isinstance(seed, (list, tuple, np.ndarray)):
                raise ValueError(f"seed={seed!r}: this native vector env draws every row from one generator, so it takes "
                                 "one int (the rows still differ); for a seed per env use gym.make_vec(..., "
                                 "vectorization_mode='sync')")
            raise ValueError(f"seed must be an int or None, got {type(seed).__name__} {seed!r}")
        options = dict(options) if isinstance(options, Mapping) else options
        rows = self._reset_rows(options.pop("reset_mask", None) if isinstance(options, dict) else None)
        options = check_reset_options(options)  # checked before anything changes: a refused reset leaves all as it was
        fixed = None if options.get("task") is None else self.task_names.index(self.pool.resolve(options["task"]))
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(int(seed))
        self._fixed_task[rows] = -1 if fixed is None else fixed  # None draws, as task=None does; other rows keep theirs
        self._start(rows)
        self._autoreset[rows] = False
        self._started = True
        return self._history.observations(), self._reset_info(rows)

    def _reset_rows(self, mask: Any) -> np.ndarray:
        """The rows a ``reset`` starts: all without a mask, else the True rows of a Gymnasium ``reset_mask`` (checked
        as ``SyncVectorEnv`` checks it)."""
        if mask is None:
            return np.arange(self.num_envs)
        # the error types are SyncVectorEnv's: TypeError for what is not a bool array, ValueError for a wrong shape
        wanted = f"options['reset_mask'] must be a numpy bool array of shape ({self.num_envs},), got "
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            raise TypeError(f"{wanted}{type(mask).__name__} {getattr(mask, 'dtype', '')}".rstrip())
        if mask.shape != (self.num_envs,):
            raise ValueError(f"{wanted}shape {mask.shape}")
        if not mask.any():
            raise ValueError("options['reset_mask'] has no True entry: it names no env to reset")
        if not self._started:
            raise RuntimeError("a partial reset (reset_mask) needs running episodes: call reset() without it first")
        return np.flatnonzero(mask)

    def _reset_info(self, rows: np.ndarray) -> dict[str, Any]:
        """``HPOEnv.reset``'s info for the episodes that start in ``rows`` (masked True there, empty elsewhere), as a
        sync vector env of ``HPOEnv`` gives at ``reset`` and, for the rows it autoresets, at the next ``step``."""
        n = self.num_envs
        started = np.zeros(n, dtype=bool)
        started[rows] = True
        hyperparameters = np.full(n, None, dtype=object)
        for i in rows:
            hyperparameters[i] = list(self.space.names)  # one list per env
        tasks = np.full(n, None, dtype=object)
        tasks[rows] = np.array(self.task_names, dtype=object)[self._task[rows]]
        info = {"task": tasks,
                "openml_task_id": np.where(started, self._openml_ids[self._task], 0),
                "hyperparameters": hyperparameters, "budget": np.where(started, self.budget, 0)}
        info.update({f"_{k}": started.copy() for k in list(info)})
        return info

    def step(self, actions: Any):
        if not self._started:
            raise RuntimeError("call reset() before step()")
        a = numeric_action(actions, str(self.action_space), "for dict actions use gym.make_vec(..., "
                           "vectorization_mode='sync', action_type='dict'); the native vector env takes arrays")
        if a.shape != (self.num_envs, self._d):
            raise ValueError(f"actions have shape {a.shape}; expected ({self.num_envs}, {self._d}) for {self.action_space}")
        rows = np.flatnonzero(~self._autoreset)  # an autoresetting row's action is ignored, as in a sync vector env
        if not np.isfinite(a[rows]).all():
            raise ValueError(f"actions contain NaN or inf; expected finite values in {self.action_space}")
        restart = np.flatnonzero(self._autoreset)
        if len(restart):
            self._start(restart)
        u = np.clip(a[rows], 0.0, 1.0)
        clipped = np.zeros(self.num_envs, dtype=bool)
        clipped[rows] = (u != a[rows]).any(axis=1)
        cells = self._grid.cells_of(u)
        tasks = self._task[rows]
        if self.noise:
            seeds = self.np_random.integers(self._seed_scores.shape[2], size=len(rows))
            scores, costs = self._seed_scores[tasks, cells, seeds], self._seed_costs[tasks, cells, seeds]
            missing = ~np.isfinite(scores)
            scores[missing], costs[missing] = self._mean[tasks[missing], cells[missing]], self._mean_cost[tasks[missing], cells[missing]]
        else:
            scores, costs = self._mean[tasks, cells], self._mean_cost[tasks, cells]
        true_scores = self._mean[tasks, cells] if self.noise else scores  # without noise the draw is the mean
        prev, best = self._history.record_batch(rows, self._grid.cell_encoding(cells), scores, true_scores)
        rewards = np.zeros(self.num_envs)
        rewards[rows] = reward_of(self.reward_mode, scores, prev, best, self._oracle_best[tasks], self._oracle_worst[tasks],
                                  best_true=self._history.best_true[rows])
        terminated = np.zeros(self.num_envs, dtype=bool)
        terminated[rows] = self._history.step[rows] >= self.budget
        self._autoreset = terminated.copy()
        stepped = np.zeros(self.num_envs, dtype=bool)
        stepped[rows] = True
        info = self._info(rows, stepped, scores, costs, cells, clipped)
        if len(restart):  # a restarted row's info is its new episode's reset info, as in a sync vector env
            new_episodes = self._reset_info(restart)
            for key in ("task", "openml_task_id"):  # already the new task's values in every row
                info[f"_{key}"] |= new_episodes[f"_{key}"]
            info.update({k: v for k, v in new_episodes.items() if k.lstrip("_") in ("hyperparameters", "budget")})
        return self._history.observations(), rewards, terminated, np.zeros(self.num_envs, dtype=bool), info

    def _info(self, rows, stepped, scores, costs, cells, clipped) -> dict[str, Any]:
        """Per-env info as arrays with ``_key`` masks (rows that autoreset this step carry no values)."""
        n = self.num_envs
        score, cost = np.zeros(n), np.zeros(n)
        score[rows], cost[rows] = scores, costs
        tasks = self._task
        with np.errstate(invalid="ignore"):  # a restarted row's best is -inf (no trial yet); it is masked below
            regret = normalized_regret(self._history.best_true, self._oracle_best[tasks], self._oracle_worst[tasks])
        cell = np.full(n, -1)
        cell[rows] = cells
        best = np.where(stepped, self._history.best, 0.0)  # a restarted row has no trial yet: -inf, and regret inf
        regret = np.where(stepped, regret, 0.0)
        info = {"score": score, "best_score": best, "cost": cost, "normalized_regret": regret,
                "task": np.array(self.task_names, dtype=object)[tasks], "openml_task_id": self._openml_ids[tasks],
                "step": self._history.step.copy(), "action_clipped": clipped, "cell": cell}
        info.update({f"_{k}": stepped.copy() for k in list(info)})
        return info

    def cell_config(self, cell: int) -> dict[str, Any]:
        """Configuration of an ``info["cell"]`` entry (configs are not built per step, for speed)."""
        return self._grid.cell_config(cell)
