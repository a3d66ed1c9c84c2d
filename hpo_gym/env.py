"""``HPOEnv``: one hyperparameter-optimization run as a Gymnasium episode."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np

from hpo_gym.episode import (
    DEFAULT_MAX_DIMS,
    History,
    action_space,
    box_action_to_unit,
    check_common_kwargs,
    check_max_dims,
    check_reset_options,
    multidiscrete_action_to_config,
    observation_space,
    openml_task_id,
    reward_of,
)
from hpo_gym.objective import Objective, finite_evaluation
from hpo_gym.render import render_episode, render_episode_frame
from hpo_gym.space import SearchSpace
from hpo_gym.suites import HPOBENCH_NN
from hpo_gym.tabular import TabularObjective
from hpo_gym.tasks import resolve_task_pool


class HPOEnv(gym.Env):
    """Hyperparameter optimization of one task as an episode of ``budget`` evaluations.

    ## Description
    Each step the agent proposes a configuration of the task's search space (the action); the
    environment evaluates it (a table lookup for the embedded HPOBench suite, a real scikit-learn
    fit for ``backend="live"``) and returns its validation score (the reward, by default). The
    episode is one HPO run and ends when the evaluation budget is spent. With ``task=None`` a task
    is drawn from the suite at every reset, so one policy learns across tasks.

    ## Action Space
    ``action_type="box"`` (default): ``Box(0, 1, (d,), float32)``, the configuration in the unit cube
    (see :mod:`hpo_gym.space` for the encoding; float64 for a space with an int too fine for float32,
    :attr:`~hpo_gym.space.SearchSpace.action_dtype`). Values outside [0, 1] are clipped and
    ``info["action_clipped"]`` is True; NaN/inf or a wrong shape raise ``ValueError``. When the tasks
    of the pool have different search spaces, ``d = max_dims`` and the trailing entries are ignored.
    ``"dict"``: a ``Dict`` of native values (float/int as ``Box((1,))``, ordinal/categorical as a
    ``Discrete`` index); a number outside its range is clipped with ``info["action_clipped"]`` True, an
    index outside its values raises ``ValueError``; its ``action_space.sample()`` is uniform on each number's own range,
    not log-uniform on a log-scale one (a learning rate in [1e-4, 1] falls below 0.01 in 1 % of draws, against 50 % from
    the Box action), so random search samples the Box action, the unit cube. ``"multidiscrete"``: one value
    index per hyperparameter (grids only).
    A partial table (e.g. one built from a DataFrame that lacks some grid cells) answers a configuration
    it lacks with its nearest present one: ``info["config"]`` is the configuration evaluated and
    ``info["config_substituted"]`` is True (False on every other step and backend). An objective that reports more
    about an evaluation (the live backend: ``fit_seconds``, ``n_warnings``, ``warning``, ``split``, ``fidelity``) has
    it in ``info["evaluation"]`` (all but ``cached``, so that a repeated episode gives the same info).

    ## Observation Space
    A ``Dict`` of fixed shape for every task of a suite (``H = budget``, ``D = max_dims``):

    ============== ===================== =========================================================
    key            space                 meaning
    ============== ===================== =========================================================
    x              Box(0, 1, (H, D))     encoded configurations evaluated so far (zero padded; float32 for
                                         every task: an int finer than float32 is exact in info["config"])
    y              Box(-F, F, (H,))      their scores (higher is better); F = float32 max
    mask           MultiBinary(H)        1 where a trial exists
    step_fraction  Box(0, 1, (1,))       evaluations used / budget
    dim_kind       MultiDiscrete(5 x D)  0 padding, 1 float, 2 int, 3 ordinal, 4 categorical
    dim_choices    Box(0, F, (D,))       number of values (0 for a float)
    dim_log        MultiBinary(D)        1 for a log-scaled float/int
    ============== ===================== =========================================================

    ## Rewards
    ``reward="score"`` (default): the validation score of this step's configuration.
    ``"improvement"``: best-so-far minus the previous best-so-far (the first step gains over the
    task's worst score when it is known, else 0). ``"regret"``: minus the normalized regret of the
    best-so-far, ``-(best - best_so_far) / (best - worst)`` (needs an oracle).

    ## Starting State
    An empty history; the task is ``reset(options={"task": ...})`` (a name or OpenML task id; ``None`` draws),
    ``task``, or drawn uniformly from the suite with the env's seeded RNG. ``reset``'s ``info``: ``task``,
    ``openml_task_id``, ``hyperparameters`` (the search space's names, in action order) and ``budget``.

    ## Episode End
    Terminated after ``budget`` evaluations (never truncated). Stepping a finished episode raises
    ``RuntimeError``; call ``reset()``.

    ## Rendering
    ``render_mode="ansi"``: ``render()`` returns text: the task, trials used, the incumbent (with its
    normalized regret when the task has an oracle), then, once a trial exists, a second line with the last trial's
    score and configuration.
    ``"human"``: the same text is printed after every reset and step. ``"rgb_array"``: ``render()`` returns the
    run's trace as an image (each trial's score and the best so far; what video recorders and SB3's
    ``make_vec_env`` ask for). Other modes raise ``TypeError``.

    ## Arguments
    * ``task``: task name or OpenML task id, or a list of them (tabular suites; one drawn per reset, e.g. a k-fold
      agent's ``[o.name for o in train_objectives]``); ``None`` draws one per reset from ``suite``. While the benchmark
      harness fits an agent, the fold's held-out tasks are left out (:func:`hpo_gym.tasks.held_out_while_fitting`).
    * ``suite``: the named suite (default ``"hpobench-nn"``).
    * ``budget``: evaluations per episode (default 50).
    * ``action_type``: ``"box"``, ``"dict"`` or ``"multidiscrete"``.
    * ``reward``: ``"score"``, ``"improvement"`` or ``"regret"``.
    * ``noise``: ``False`` scores the noise-free mean over a table's seeds; ``True`` draws one seed
      (or, live, a training seed) per evaluation from the env's RNG.
    * ``backend``: ``"tabular"`` or ``"live"`` (real training on OpenML, see ``hpo_gym.live``).
    * ``model``: model family for the live backend (e.g. ``"rf"``).
    * ``objective``: your own Objective or HPOBench-API benchmark object instead of a suite task.
    * ``metric``: the table's metric (``val_acc`` default) or a scikit-learn scorer name (live).
    * ``max_dims``: padding of the observation's per-dimension arrays (default 16).
    * ``backend_options``: extra keyword arguments for the backend's objective constructor.
    * ``render_mode``: ``None`` (default), ``"ansi"``, ``"human"`` or ``"rgb_array"`` (see Rendering).

    ## Example
    >>> import gymnasium as gym, envs_registry
    >>> env = gym.make("HPO-OpenML-v0", task="credit_g", budget=3)
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    >>> sorted(info["config"])
    ['alpha', 'batch_size', 'depth', 'learning_rate_init', 'width']
    """

    # render_fps is declared because Gymnasium's checker asks for it; text rendering never waits on it (as Toy Text)
    metadata = {"render_modes": ["ansi", "human", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        task: str | int | None = None,
        suite: str = HPOBENCH_NN,
        budget: int = 50,
        action_type: str = "box",
        reward: str = "score",
        noise: bool = False,
        backend: str = "tabular",
        model: str | None = None,
        objective: Any = None,
        metric: str | None = None,
        max_dims: int = DEFAULT_MAX_DIMS,
        backend_options: dict[str, Any] | None = None,
        render_mode: str | None = None,
    ):
        self.budget, self.noise = check_common_kwargs(budget, reward, noise, render_mode, self.metadata["render_modes"])
        self.max_dims = check_max_dims(max_dims, self.budget)
        self.render_mode = render_mode
        self.pool = resolve_task_pool(task, suite, backend, model, objective, metric, backend_options)
        self.action_type = action_type
        self.reward_mode = reward
        if objective is not None:  # a pool of one objective already in hand: a reward it cannot give fails here, not at reset
            self._check_reward_fits(self.pool.get(self.pool.names[0]))
        shared = self.pool.space()
        self.action_space = action_space(action_type, shared, self.max_dims)
        self.observation_space = observation_space(self.budget, self.max_dims)
        self._action_width = self.action_space.shape[0] if isinstance(self.action_space, gym.spaces.Box) else 0
        self._warned_coarse_actions: set[str] = set()
        self._history = History(1, self.budget, self.max_dims)
        self.objective: Objective | None = None
        self._openml_id = -1  # the current task's OpenML id (info's openml_task_id), set by reset
        self._needs_reset = True
        self._last_step: dict[str, Any] | None = None

    # -- properties used by agents and the benchmark harness -------------------------------------
    @property
    def space(self) -> SearchSpace:
        """Search space of the current task (set by ``reset``); before the first reset, the space every task of the
        env shares (one task, or a suite such as hpobench-nn), as the action space is known at ``make``: an agent can be
        set up before the episode starts (found by a new user). Tasks of different spaces need a reset to pick one."""
        if self.objective is not None:
            return self.objective.space
        shared = self.pool.space()
        if shared is None:
            raise RuntimeError(f"this env's tasks ({', '.join(self.pool.names)}) have different search spaces: call "
                               "reset() first, and read the space of the task it draws (or pin one with "
                               "reset(options={'task': NAME}))")
        return shared

    @property
    def task_names(self) -> list[str]:
        return list(self.pool.names)

    def _check_reward_fits(self, objective: Objective) -> None:
        if self.reward_mode == "regret" and objective.oracle is None:
            raise ValueError(f"reward='regret' needs an oracle, but task {objective.name!r} has none; use 'score' or "
                             "'improvement'")

    def _require_objective(self) -> Objective:
        if self.objective is None:
            raise RuntimeError("call reset() before stepping")
        return self.objective

    # -- gymnasium API ---------------------------------------------------------------------------
    def _playable(self, name: str) -> Objective:
        """Task ``name``'s objective, checked against the action width and the reward before it replaces the episode in
        play: a refused reset leaves that episode as it was."""
        objective = self.pool.get(name)
        if self._action_width and len(objective.space) > self._action_width:
            raise ValueError(f"task {name!r} has {len(objective.space)} hyperparameters but the action space has "
                             f"{self._action_width}")
        self._check_reward_fits(objective)
        self._warn_if_actions_too_coarse(name, objective)
        return objective

    def _warn_if_actions_too_coarse(self, name: str, objective: Objective) -> None:
        """Once per task: tasks of different search spaces share a float32 Box (the spaces are known only as the tasks
        load), and an int hyperparameter finer than float32 can address then rounds to a neighbouring value."""
        if (self._action_width and name not in self._warned_coarse_actions
                and np.dtype(objective.space.action_dtype).itemsize > np.dtype(self.action_space.dtype).itemsize):
            self._warned_coarse_actions.add(name)
            warnings.warn(f"task {name!r} has an int hyperparameter finer than this env's {self.action_space.dtype} Box "
                          "can address (the tasks' search spaces differ, so they share one), and a float32 action rounds "
                          f"to a neighbouring value; make an env of this task alone (task={name!r}), whose Box is "
                          "float64, or give float64 actions", UserWarning, stacklevel=3)

    def _seed_and_draw_task(self, seed: int | None) -> tuple[str, Objective]:
        """Apply ``seed`` and draw the episode's task from the generator; a drawn task that cannot be played
        (:meth:`_playable` refuses it) puts the generator back as it was, so the refused reset changes nothing."""
        rng, rng_seed = self._np_random, self._np_random_seed
        rng_state = None if rng is None else rng.bit_generator.state  # the draw advances it in place
        super().reset(seed=seed)
        name = self.pool.names[int(self.np_random.integers(len(self.pool.names)))]
        try:
            return name, self._playable(name)
        except Exception:
            self._np_random, self._np_random_seed = rng, rng_seed
            if rng is not None and rng_state is not None:
                rng.bit_generator.state = rng_state
            raise

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        # a refused reset leaves the episode in play as it was, its random stream included (it used to be reseeded,
        # changing the episode's noise draws): options and a given task are checked before the seed is applied
        options = check_reset_options(options)
        given = options.get("task")  # None draws, as task=None does
        if given is None:
            name, objective = self._seed_and_draw_task(seed)
        else:
            name = self.pool.resolve(given)
            objective = self._playable(name)
            super().reset(seed=seed)
        space = objective.space
        self.objective = objective
        self._history.reset(0, space)
        self._needs_reset = False
        # -1 without a whole id (episode.openml_task_id, as the native vector env), once per episode, not per step: a
        # None among ints made a sync or async vector env's batched info fail with a TypeError (found in review)
        self._openml_id = openml_task_id(objective.metadata)
        self._last_step = None
        self._render_if_human()
        return self._history.observation(0), {"task": name, "openml_task_id": self._openml_id,
                                              "hyperparameters": space.names, "budget": self.budget}

    def step(self, action: Any):
        if self.objective is None:
            raise RuntimeError("call reset() before step()")
        if self._needs_reset:
            raise RuntimeError(f"the episode is finished: the budget of {self.budget} evaluations is spent; call reset()")
        objective, space, hist = self.objective, self.objective.space, self._history
        clipped = False
        if self.action_type == "box":
            u, clipped = box_action_to_unit(action, space, self._action_width)
            config = None
        elif self.action_type == "dict":
            if not isinstance(action, dict):
                raise ValueError(f"action {action!r} must be a dict matching {self.action_space}")
            config, clipped = space.dict_action_with_clipping(action)
        else:
            config = multidiscrete_action_to_config(action, space)
        seed = int(self.np_random.integers(2**31 - 1)) if self.noise else None
        if isinstance(objective, TabularObjective):
            code = space.encode(config) if config is not None else u
            cell = objective.cell_of_vector(code)
            substituted = not objective.complete and cell != objective.grid_cell_of_vector(code)
            score, cost = objective.lookup_one(cell, seed)
            true_score = objective.lookup_one(cell, None)[0] if seed is not None else score
            config = objective.cell_config(cell)
            encoded = objective.cell_encoding(cell)
            error, details = None, {}
        else:
            config = space.decode(u) if config is None else config
            evaluation = finite_evaluation(objective, config, objective.evaluate(config, seed))
            score, cost, error = evaluation.score, evaluation.cost, evaluation.info.get("error")
            # not 'cached': a repeat of the same seed and actions must give the same info (Gymnasium's determinism
            # check), and a repeat is answered from the cache
            details = {k: v for k, v in evaluation.info.items() if k not in ("error", "cached")}
            encoded = space.encode(config)
            true_score = score  # a model fit has no noise-free score to compare with
            substituted = False
        prev_best, best = hist.record(0, encoded, score, true_score)
        oracle = objective.oracle
        bounds: tuple[float | None, float | None] = (oracle.best, oracle.worst) if oracle is not None else (None, None)
        reward = float(reward_of(self.reward_mode, score, prev_best, best, *bounds, best_true=hist.best_true[0]))
        terminated = bool(hist.step[0] >= self.budget)
        self._needs_reset = terminated
        info = {
            # floats: an int score or cost of env 0 typed a vector env's batched info int64, cutting 0.3 to 0
            "config": space.info_config(config), "score": float(score), "best_score": float(best), "cost": float(cost),
            "task": objective.name, "openml_task_id": self._openml_id,
            "step": int(hist.step[0]), "action_clipped": clipped, "config_substituted": substituted,
        }
        if oracle is not None:
            info["normalized_regret"] = float(oracle.normalized_regret(hist.best_true[0]))  # noise-free incumbent
        if error is not None:
            info["error"] = error
        if details:
            info["evaluation"] = details
        self._last_step = info
        self._render_if_human()
        return hist.observation(0), reward, terminated, False, info

    def render(self) -> str | np.ndarray | None:
        """The episode as text (``render_mode="ansi"``) or as an image (``"rgb_array"``), see Rendering; None
        otherwise, as Gymnasium specifies (``"human"`` prints during ``reset`` and ``step``)."""
        if self.render_mode == "ansi":
            return self._render_text()
        if self.render_mode == "rgb_array":
            scores = self._history.y[0, : self._history.step[0]].astype(float)  # the trials so far (none before reset)
            return render_episode_frame(self._task_name, self.budget, scores, self._last_step)
        return None

    @property
    def _task_name(self) -> str | None:
        return self.objective.name if self.objective is not None else None

    def _render_text(self) -> str:
        return render_episode(self._task_name, self.budget, self._last_step)

    def _render_if_human(self) -> None:
        if self.render_mode == "human":
            print(self._render_text(), flush=True)
