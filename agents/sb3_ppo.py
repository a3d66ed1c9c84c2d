"""``ppo``: Stable-Baselines3 PPO trained on ``HPO-OpenML-v0``, an example of plugging in an external RL agent.

Nothing here is HPO-specific: PPO sees the environment like any other Gymnasium env. ``fit`` builds
one ``HPO-OpenML-v0`` env per training objective (``gym.make(..., objective=obj)``), stacks them in a
``DummyVecEnv`` so every rollout covers every training task, and trains ``MultiInputPolicy`` (the
observation is a ``Dict``) with the ``improvement`` reward (gain of the best-so-far score, whose
episode sum is the final best score minus the task's worst: exactly what HPO is judged on). After
training it is an ordinary :class:`agents.base.TransferAgent`: ``act`` is ``model.predict(obs)``.
Through the benchmark's k-fold protocol it is fitted once per fold and scored on held-out tasks.

Defaults are SB3's PPO defaults except ``n_steps`` (4 episodes per training env), ``batch_size`` (= ``n_steps``),
the number of timesteps, ``device="cpu"`` (a small MLP gains nothing from a GPU) and a logger with no outputs (SB3's
makes an empty folder per ``learn``); this is a demonstration that the plumbing works, not a tuned HPO method.

PPO trains behind ``RescaleAction(-1, 1)``, as SB3 advises for continuous actions: its Gaussian policy starts
centred on 0 with unit spread, so on the env's own ``Box(0, 1)`` half of every sampled coordinate was clipped to
0 (the lowest grid value) and two thirds sat on 0 or 1 after training. ``act`` maps the action back to [0, 1].

Actions are sampled (``deterministic=False``) from the policy, seeded per run with
``torch.manual_seed(seed)``; a deterministic policy would repeat one configuration whenever the
history barely changes the output.

The observation has one row per evaluation of the budget, so a policy runs episodes up to the budget it
was trained for: give it in the spec (``ppo:budget=B``, ``ppo:N:budget=B``) or to ``fit(..., budget=B)``.
A saved model (``ppo:PATH.zip``) records the tasks it was trained on (:attr:`SB3PPOAgent.trained_on`);
under k-fold ``fit`` keeps it and refuses it for a fold that holds out one of those tasks.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import gymnasium as gym
import numpy as np

import envs_registry
from agents.registry import register_agent
from hpo_gym.episode import check_budget, observation_space
from hpo_gym.fingerprint import files_fingerprint
from hpo_gym.objective import Objective
from hpo_gym.space import SearchSpace
from hpo_gym.suites import as_task_id, names_with_task_id
from hpo_gym.threads import torch_threads

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import DummyVecEnv

DEFAULT_TIMESTEPS = 20_000
#: The longest default rollout per env (SB3's own default ``n_steps``); see :meth:`SB3PPOAgent.rollout_length`.
MAX_DEFAULT_ROLLOUT = 2048
#: The most memory PPO's rollout buffer may take before training is refused (its observations hold the whole history).
MAX_ROLLOUT_BUFFER_BYTES = 4 * 2**30
#: The model attribute that carries the training task names inside SB3's own zip (its ``data`` JSON):
#: SB3 saves a model's plain attributes and ``PPO.load`` restores them, so the record cannot be separated
#: from the weights, as a sidecar file could be when a zip is copied or renamed.
TRAINED_ON_ATTR = "hpo_gym_trained_on"


class SB3PPOAgent:
    """PPO (``MultiInputPolicy``) trained across tasks, evaluated as an agent.

    Args:
        total_timesteps: environment steps of training per ``fit`` (all training tasks together).
        budget: episode length used in training (default 50; a given ``model``'s own); the agent can run episodes up
            to this budget (shorter ones get their observation padded to the trained shape).
        n_steps: rollout length per env between PPO updates (default 4 episodes of the trained budget, at most
            ``total_timesteps`` over the training envs and 2048: see :meth:`rollout_length`). SB3 trains whole
            rollouts, so training rounds ``total_timesteps`` up to a multiple of ``n_steps x n_envs`` (50 steps at
            budget 5 on 2 tasks train 80; ``model.num_timesteps`` says how many were trained).
        model: an already trained ``stable_baselines3.PPO``: ``fit`` keeps it (no training) after checking
            that it was not trained on a task the fold holds out.
        name: the agent's ``name`` (part of what a result directory records for it).
        ppo_kwargs: more ``stable_baselines3.PPO`` keyword arguments (e.g. ``{"learning_rate": 1e-4}``); they override
            the adapter's own ``n_steps``, ``batch_size``, ``verbose`` and ``device``. ``seed`` is ``fit``'s, and the
            policy and env are the adapter's: those are refused here.
        trained_on: the task names ``model`` was trained on (``load`` reads them from the zip); one name may be given
            as a string.
        source: where ``model`` came from, for error messages (``load`` gives the zip's path).

    Attributes:
        trained_on: names of the tasks the policy was trained on, in training order; ``()`` when untrained
            or unknown (a zip saved without the record). The benchmark labels a run on one of them in-sample.
    """

    def __init__(self, total_timesteps: int = DEFAULT_TIMESTEPS, budget: int | None = None, n_steps: int | None = None,
                 model: Any = None, name: str = "ppo", ppo_kwargs: Mapping[str, Any] | None = None,
                 trained_on: Sequence[str] | str = (), source: str | None = None):
        self.name = name
        if (isinstance(total_timesteps, bool) or not isinstance(total_timesteps, (int, float, np.number))
                or int(total_timesteps) != total_timesteps or total_timesteps < 1):
            raise ValueError(f"total_timesteps must be a whole number of training steps >= 1 (got {total_timesteps!r}); "
                             "an untrained policy would still be labelled trained on its fit tasks")
        self.total_timesteps = int(total_timesteps)
        if model is not None:  # a given model was trained for one budget and one pair of spaces: read and check them
            _check_env_spaces(model, source or "the given PPO model")
            trained = int(model.observation_space["mask"].n)
            if budget is not None and budget != trained:
                raise ValueError(f"budget={budget}, but the given PPO model was trained on episodes of {trained} "
                                 f"evaluations (its observation holds {trained} trials): leave budget out")
            budget = trained
        self.budget = check_budget(50 if budget is None else budget)
        if n_steps is not None and (isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer))
                                    or n_steps < 2):  # SB3 failed at fit, naming batch_size; 2.7 was cut to 2
            raise ValueError(f"n_steps must be a whole number of steps per env per rollout >= 2 (got {n_steps!r}): PPO "
                             "normalizes advantages within a minibatch; leave it out for 4 episodes of the budget")
        self._n_steps = int(n_steps) if n_steps is not None else None
        self.ppo_kwargs = dict(ppo_kwargs or {})
        taken = sorted(k for k in self.ppo_kwargs if k in ("seed", "policy", "env"))
        if taken:  # Python's "got multiple values for keyword argument" at fit named no fix
            raise ValueError(f"ppo_kwargs must not set {taken}: the seed is fit(..., seed=), and the policy "
                             "(MultiInputPolicy) and the training envs are the adapter's")
        self.model = model
        self.given_model = model is not None
        self.source = source or ("the given PPO model" if self.given_model else None)
        # one name given as a string is one task (a tuple of its letters labelled its runs held-out)
        self.trained_on: tuple[str, ...] = (trained_on,) if isinstance(trained_on, str) else tuple(trained_on)
        self._dims = 0  # set by reset(); 0 until then
        self._dtype: Any = np.float32
        self._loaded_from: Path | None = None  # set by load()

    @property
    def fingerprint(self) -> str | None:
        """Content hash of the zip this agent was loaded from (``ppo:PATH.zip``), recorded by the benchmark harness so
        that runs stored for a model are not reused after the file is replaced; None for a model trained by ``fit``."""
        return None if self._loaded_from is None else files_fingerprint([self._loaded_from])

    def rollout_length(self, n_envs: int) -> int:
        """Rollout length per env between PPO updates: the one given, else 4 episodes of the (possibly re-set) trained
        budget, cut to what ``total_timesteps`` spreads over ``n_envs`` envs and to :data:`MAX_DEFAULT_ROLLOUT`.

        Why cut: SB3 collects whole rollouts, so ``ppo:100`` at budget 200 on 2 tasks trained 1,600 steps (found in
        review), and a rollout buffer of 4 episodes grows with the square of the budget (each observation holds the
        whole history). PPO bootstraps across rollout ends, so a rollout shorter than an episode is sound. At least 2:
        PPO normalizes advantages within a minibatch."""
        if self._n_steps is not None:
            return self._n_steps
        return max(2, min(4 * self.budget, MAX_DEFAULT_ROLLOUT, -(-self.total_timesteps // n_envs)))

    # -- training ---------------------------------------------------------------------------------
    def make_training_env(self, train_objectives: Sequence[Objective]) -> DummyVecEnv:
        """A ``DummyVecEnv`` of one monitored ``HPO-OpenML-v0`` per training objective."""
        from stable_baselines3.common.monitor import Monitor
        from stable_baselines3.common.vec_env import DummyVecEnv

        if not train_objectives:
            raise ValueError("SB3PPOAgent.fit needs at least one training objective")
        spaces = {len(o.space) for o in train_objectives}
        if len(spaces) != 1:
            raise ValueError(f"PPO trains one policy with one action space; the training tasks have search spaces of "
                             f"sizes {sorted(spaces)}")

        def factory(obj: Objective):
            return lambda: Monitor(gym.wrappers.RescaleAction(  # [-1, 1] actions: see the module docstring
                gym.make(envs_registry.ENV_ID, objective=obj, budget=self.budget, reward="improvement"),
                np.float32(-1.0), np.float32(1.0)))

        return DummyVecEnv([factory(o) for o in train_objectives])

    def fit(self, train_objectives: Sequence[Objective], seed: int = 0, budget: int | None = None) -> None:
        """Train PPO from scratch on the training objectives (never on a held-out task), or keep a given model.

        ``budget``: the episode length the agent will be run with, when the caller knows it. Training then uses
        exactly that horizon (a policy is best at the horizon it learned), and a given model too short for it is
        refused here, before any run, instead of failing every run afterwards.
        """
        if self.given_model:
            # "this fit": called directly, its seed need not be a fold (the harness's folds are checked in check_plan)
            self._check_given_model([o.name for o in train_objectives], "this fit", budget)
            return
        if budget is not None:
            self.budget = check_budget(budget)
        self._train(train_objectives, seed)
        self.trained_on = tuple(o.name for o in train_objectives)

    def _train(self, train_objectives: Sequence[Objective], seed: int) -> None:
        from stable_baselines3 import PPO

        vec_env = self.make_training_env(train_objectives)
        # minibatches of one env's rollout: divides the buffer (n_steps * n_envs) exactly
        n_steps = self.rollout_length(vec_env.num_envs)
        kwargs = {"n_steps": n_steps, "batch_size": n_steps, "verbose": 0, "device": "cpu", **self.ppo_kwargs}
        try:
            check_rollout_memory(vec_env, kwargs["n_steps"], self.budget)
            with torch_threads(1):  # a small MLP gains nothing from threads; on a busy machine they cost 20x
                self.model = PPO("MultiInputPolicy", vec_env, seed=seed, **kwargs)
                if not kwargs.get("verbose") and not kwargs.get("tensorboard_log"):
                    # SB3's default logger makes an empty /tmp/SB3-<time> folder per learn() (one per fold), even
                    # when it writes nothing; a logger with no outputs makes none
                    from stable_baselines3.common.logger import Logger

                    self.model.set_logger(Logger(folder=None, output_formats=[]))
                self.model.learn(total_timesteps=self.total_timesteps, progress_bar=False)
        finally:
            vec_env.close()

    def check_plan(self, protocol: str, held_out_by_fold: Mapping[int, Sequence[str]], task_names: Sequence[str],
                   budget: int | None = None) -> None:
        """Before a benchmark runs (see :class:`agents.base.TransferAgent`): a given model that records no training
        tasks, was trained on a task a fold holds out, or was trained on shorter episodes than ``budget``, is refused
        once, here, instead of failing every run inside ``fit`` or ``reset`` (and locking the result directory with
        those stored failures), under either protocol."""
        if not self.given_model:
            return
        if budget is not None and budget > self.budget:
            raise ValueError(_budget_error(self, budget))
        if not self.trained_on:
            raise ValueError(self._no_training_tasks())
        for k, held in held_out_by_fold.items():
            self._check_given_model([t for t in task_names if t not in held], f"fold {k}", None)

    def _no_training_tasks(self) -> str:
        return (f"{self.source} records no training tasks (saved by plain SB3 or by an older hpo-gym), so no run of "
                "it can be labelled held-out or in-sample: save it with the tasks it was trained on, "
                "SB3PPOAgent(model=PPO.load(path), trained_on=[...]).save(path), or use ppo or ppo:N to train one "
                "per fold with --protocol kfold")

    def _check_given_model(self, train_names: Sequence[str], where: str, budget: int | None) -> None:
        """A given model is kept for the fold only if its scores there are held-out: every task it was trained on
        must be one the fold trains on (the harness passes only those; any other task may be a held-out one)."""
        train = sorted(train_names)
        if not self.trained_on:
            raise ValueError(self._no_training_tasks())
        unseen = sorted(str(t) for t in self.trained_on if not _task_names(t) & set(train))
        if unseen:
            raise ValueError(f"{self.source} was trained on {unseen}, which {where} holds out (it trains on "
                             f"{train}): its scores there would not be held-out. Give a model trained only on this "
                             "fold's training tasks, use ppo or ppo:N to train one per fold, or run it with "
                             "--protocol all")
        if budget is not None and budget > self.budget:
            raise ValueError(_budget_error(self, budget))

    def save(self, path: str | Path) -> None:
        """Save SB3's zip with the training task names inside it (see :data:`TRAINED_ON_ATTR`). The model object
        keeps none of it afterwards: a later plain ``model.save`` of the caller's must record no training tasks."""
        if self.model is None:
            raise RuntimeError("nothing to save: fit() the agent first")
        missing = object()
        before = getattr(self.model, TRAINED_ON_ATTR, missing)
        setattr(self.model, TRAINED_ON_ATTR, list(self.trained_on))
        try:
            self.model.save(str(path))
        finally:
            if before is missing:
                delattr(self.model, TRAINED_ON_ATTR)
            else:
                setattr(self.model, TRAINED_ON_ATTR, before)

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> SB3PPOAgent:
        """Load a model saved with :meth:`save` (``ppo:PATH.zip`` in the registry), with its training tasks."""
        from stable_baselines3 import PPO

        try:
            model = PPO.load(str(path), device="cpu")
        except (TypeError, KeyError, ValueError, OSError, AssertionError) as e:  # another SB3 algorithm's zip, not a
            # zip at all, or a zip without SB3's data entry (SB3 asserts on that one)
            raise ValueError(f"{path} is not a PPO model saved by Stable-Baselines3 ({type(e).__name__}: {str(e)[:200]}); "
                             f"ppo:PATH.zip loads PPO zips only: {_OWN_AGENT_HINT}") from None
        opened = Path(path)
        if not opened.exists() and Path(f"{path}.zip").exists():  # SB3 adds a missing .zip: hash the file it read
            opened = Path(f"{path}.zip")
        if not _saved_by_ppo(opened):  # PPO.load takes an A2C zip (their data overlap) and plays it labelled ppo
            raise ValueError(f"{path} was saved by another Stable-Baselines3 algorithm (its data has no PPO clip_range); "
                             f"ppo:PATH.zip loads PPO zips only: {_OWN_AGENT_HINT}")
        trained_on = tuple(str(t) for t in (getattr(model, TRAINED_ON_ATTR, None) or ()))
        agent = cls(model=model, trained_on=trained_on, source=str(path), **kwargs)  # checks its spaces, reads its budget
        agent._loaded_from = opened
        return agent

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the model as SB3's own zip (without the training envs), so a fitted agent can be cached."""
        state = self.__dict__.copy()
        if self.model is not None:
            buffer = io.BytesIO()
            self.model.save(buffer)
            state["model"], state["_model_zip"] = None, buffer.getvalue()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        blob = state.pop("_model_zip", None)
        # agents cached (pickled) by an older hpo-gym: n_steps was a plain attribute, no model could be given
        state.setdefault("_n_steps", state.pop("n_steps", None))
        state.setdefault("_loaded_from", None)
        state.setdefault("given_model", False)
        state.setdefault("source", None)
        self.__dict__.update(state)
        if blob is not None:
            from stable_baselines3 import PPO

            self.model = PPO.load(io.BytesIO(blob), device="cpu")

    # -- Agent protocol ---------------------------------------------------------------------------------
    def reset(self, space: SearchSpace, seed: int | None = None, budget: int | None = None) -> None:
        if self.model is None:
            raise RuntimeError("the PPO agent is not trained: call fit(train_objectives) first "
                               "(hpo-gym bench does this with --protocol kfold) or load a saved model")
        if budget is not None and budget > self.budget:
            raise ValueError(_budget_error(self, budget))
        n_actions = self.model.action_space.shape[0]
        if len(space) != n_actions:
            raise ValueError(f"PPO was trained with {n_actions} hyperparameters, the task has {len(space)}")
        self._dims = len(space)
        self._dtype = space.action_dtype
        if seed is not None:
            import torch

            torch.manual_seed(seed)

    def act(self, observation: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("the PPO agent is not trained; call fit() and reset() first")
        if not self._dims:
            raise RuntimeError("agent 'ppo': act called before reset(space, seed)")
        action, _ = self.model.predict(self._pad(observation), deterministic=False)
        a = np.asarray(action, dtype=np.float64)[: self._dims]
        if self.model.action_space.low[0] < 0:  # trained behind RescaleAction(-1, 1): back to the env's [0, 1]
            a = (a + 1.0) / 2.0
        return np.clip(a, 0.0, 1.0).astype(self._dtype)

    def _pad(self, observation: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Show a shorter episode's observation as a trained-budget episode at the same step looked in training.

        The history is padded to the trained budget (mask 0 marks the padding) and ``step_fraction`` becomes
        trials / trained budget: the env's trials / run budget would tell the policy it is further into the
        episode than any training episode with that many trials ever was.
        """
        obs = {k: np.asarray(v) for k, v in observation.items()}
        obs = self._fit_width(obs)
        h = obs["mask"].shape[0]
        if h > self.budget:  # reset(budget=None) could not refuse it; numpy's "negative pad" said nothing
            raise ValueError(_budget_error(self, h))
        if h == self.budget:
            return obs
        for key in ("x", "y", "mask"):
            pad = [(0, self.budget - h)] + [(0, 0)] * (obs[key].ndim - 1)
            obs[key] = np.pad(obs[key], pad)
        trials = np.count_nonzero(obs["mask"])
        obs["step_fraction"] = np.full(obs["step_fraction"].shape, trials / self.budget, dtype=np.float32)
        return obs

    def _fit_width(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The env's per-dimension arrays cut or zero-padded to the model's width (its training envs' ``max_dims``): a
        model trained with max_dims 16 plays an env made with 8, and the other way round; the slots past the task's
        hyperparameters are padding either way (``reset`` checked that the model has the task's action size)."""
        assert self.model is not None  # act() checked
        width = int(self.model.observation_space["x"].shape[-1])  # type: ignore[index]
        have = obs["x"].shape[-1]
        if have == width:
            return obs
        for key in ("x", "dim_kind", "dim_choices", "dim_log"):
            value = obs[key]
            obs[key] = value[..., :width] if have > width else np.pad(value, [(0, 0)] * (value.ndim - 1) + [(0, width - have)])
        return obs


#: The keys of the env's Dict observation (``hpo_gym.episode.observation_space``), the same for every budget and width.
ENV_OBSERVATION_KEYS = tuple(observation_space(1, 1).spaces)


def _saved_by_ppo(path: Path) -> bool:
    """Whether the SB3 zip at ``path`` holds PPO's own settings: ``PPO.load`` fills what a zip lacks from PPO's
    defaults, so an A2C zip (the same policy classes, a subset of the data) loads without an error."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        saved = json.loads(archive.read("data"))
    return "clip_range" in saved and "n_epochs" in saved


_OWN_AGENT_HINT = ("for another algorithm or wrapped spaces, write a small Agent with reset/act/observe around your model "
                   "and pass it to run_benchmark (README, 'Benchmark: any agent, one protocol')")


def _check_env_spaces(model: Any, path: str | Path) -> None:
    """A saved model plays through this adapter only if it saw the env's own spaces: the Dict observation and the
    default ``Box(0, 1, (d,))`` action. A model trained on ``action_type="multidiscrete"`` or behind
    ``RescaleAction`` / ``FlattenObservation`` would otherwise be fed or clipped into nonsense while its runs
    finish "ok"."""
    obs, act = model.observation_space, model.action_space
    if not isinstance(obs, gym.spaces.Dict):
        raise ValueError(f"{path} was trained on {type(obs).__name__} observations of shape {obs.shape}, not the env's "
                         "Dict observation (e.g. behind FlattenObservation); ppo:PATH.zip feeds the env's own "
                         f"observations: {_OWN_AGENT_HINT}")
    if set(obs.spaces) != set(ENV_OBSERVATION_KEYS):  # e.g. FilterObservation
        raise ValueError(f"{path} was trained on Dict observations with the keys {sorted(obs.spaces)}, not the env's "
                         f"{sorted(ENV_OBSERVATION_KEYS)} (e.g. behind FilterObservation); ppo:PATH.zip feeds the env's "
                         f"own observations: {_OWN_AGENT_HINT}")
    box = isinstance(act, gym.spaces.Box) and len(act.shape) == 1
    if not (box and np.all(act.high == 1) and (np.all(act.low == 0) or np.all(act.low == -1))):
        raise ValueError(f"{path} was trained with actions {act}, not the env's default Box(0, 1, (d,)) "
                         f"(action_type='box'), bare or behind RescaleAction(-1, 1); its actions would be clipped into "
                         f"other configurations: {_OWN_AGENT_HINT}")


def _task_names(task: Any) -> set[str]:
    """A recorded training task as the suite task names it may stand for: itself, and for an OpenML task id (``31`` or
    ``"31"``, which the harness accepts in ``trained_on``) every registered suite's tasks with that id. Compared as
    given, a model trained on ids was refused for every k-fold fold, in a message that listed the id's own task among
    the fold's training tasks (found in review)."""
    task_id = as_task_id(task)
    return {str(task)} | (names_with_task_id(task_id) if task_id is not None else set())


def check_rollout_memory(vec_env: Any, n_steps: int, budget: int) -> None:
    """Refuse, by name, a rollout buffer larger than :data:`MAX_ROLLOUT_BUFFER_BYTES`: SB3 stores every observation of
    a rollout as float32, and this env's observation holds ``budget x max_dims`` floats, so a budget as large as a
    table (30,000) asked numpy for 215 GiB inside PPO's constructor (found in review)."""
    floats = sum(int(np.prod(space.shape)) for space in vec_env.observation_space.spaces.values())
    need = 4 * floats * n_steps * vec_env.num_envs
    if need > MAX_ROLLOUT_BUFFER_BYTES:
        raise ValueError(f"PPO's rollout buffer would take {need / 2**30:.1f} GiB ({n_steps} steps x {vec_env.num_envs} "
                         f"envs x {floats:,} floats per observation at budget {budget}); the most is "
                         f"{MAX_ROLLOUT_BUFFER_BYTES / 2**30:.0f} GiB: give a smaller budget, or a smaller n_steps "
                         "(SB3PPOAgent(n_steps=...)), or fewer training tasks")


def _budget_error(agent: SB3PPOAgent, budget: int) -> str:
    """Why a policy cannot run ``budget`` evaluations, and how to get one that can."""
    problem = (f"PPO was trained on episodes of {agent.budget} evaluations and cannot run {budget}: its observation "
               f"holds {agent.budget} trials")
    if agent.given_model:
        return (f"{problem} ({agent.source}). Save a model trained with SB3PPOAgent(budget={budget}), or run with "
                f"--budget {agent.budget} or less")
    return (f"{problem}. Build it for this budget: ppo:budget={budget} (or ppo:N:budget={budget}; "
            f"SB3PPOAgent(budget={budget}))")


class _Spec(TypedDict, total=False):
    total_timesteps: int
    budget: int


def _parse_spec(arg: str) -> _Spec:
    """``N``, ``budget=B`` or ``N:budget=B`` as SB3PPOAgent keyword arguments (colons, not commas: the CLI's
    ``--agents`` splits its list at commas)."""
    kwargs: _Spec = {}
    for item in arg.split(":"):
        key, eq, value = item.strip().rpartition("=")
        key = key.strip() if eq else "total_timesteps"
        digits = value.strip().isdigit() and value.isascii()  # int('²') fails with its own message, not the forms
        if key not in ("total_timesteps", "budget") or key in kwargs or not digits:
            raise ValueError(f"ppo takes a number of training timesteps or the path of a saved model, got {arg!r} (no "
                             "such file); the forms are ppo:N, ppo:budget=B, ppo:N:budget=B (B = the episode length "
                             "it trains for and can run, default 50) and ppo:PATH.zip")
        if key == "budget" and int(value) < 1:  # check_budget's own message named neither the spec nor its forms
            raise ValueError(f"ppo:{arg}: the budget B in ppo:budget=B must be a whole number >= 1 (the episode length "
                             "it trains for and can run, default 50)")
        kwargs["budget" if key == "budget" else "total_timesteps"] = int(value)
    return kwargs


def _make_ppo(arg: str | None) -> SB3PPOAgent:
    """``ppo`` (20,000 training steps per fit, episodes of 50), ``ppo:N`` (N steps), ``ppo:budget=B`` and
    ``ppo:N:budget=B`` (trained for, and able to run, episodes of B evaluations), or ``ppo:PATH.zip`` (a saved
    model, with its own budget and training tasks)."""
    if arg is None:
        return SB3PPOAgent()
    try:
        return SB3PPOAgent(**_parse_spec(arg))
    except ValueError:
        if not Path(arg).exists() and not Path(arg + ".zip").exists():  # SB3 itself adds a missing .zip
            raise
    return SB3PPOAgent.load(arg)


register_agent("ppo", _make_ppo)
