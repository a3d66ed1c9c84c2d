"""``ppo``: Stable-Baselines3 PPO trained on ``HPO-OpenML-v0``, an example of plugging in an external RL agent.

Nothing here is HPO-specific: PPO sees the environment like any other Gymnasium env. ``fit`` builds
one ``HPO-OpenML-v0`` env per training objective (``gym.make(..., objective=obj)``), stacks them in a
``DummyVecEnv`` so every rollout covers every training task, and trains ``MultiInputPolicy`` (the
observation is a ``Dict``) with the ``improvement`` reward (gain of the best-so-far score, whose
episode sum is the final best score minus the task's worst: exactly what HPO is judged on). After
training it is an ordinary :class:`agents.base.TransferAgent`: ``act`` is ``model.predict(obs)``.
Through the benchmark's k-fold protocol it is fitted once per fold and scored on held-out tasks.

Defaults are SB3's PPO defaults except ``n_steps`` (a multiple of the episode length) and the
number of timesteps; this is a demonstration that the plumbing works, not a tuned HPO method.

Actions are sampled (``deterministic=False``) from the policy, seeded per run with
``torch.manual_seed(seed)``; a deterministic policy would repeat one configuration whenever the
history barely changes the output.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import envs_registry
from agents.registry import register_agent
from hpo_gym.objective import Objective
from hpo_gym.space import SearchSpace

DEFAULT_TIMESTEPS = 20_000


class SB3PPOAgent:
    """PPO (``MultiInputPolicy``) trained across tasks, evaluated as an agent.

    Args:
        total_timesteps: environment steps of training per ``fit`` (all training tasks together).
        budget: episode length used in training; the agent can run episodes up to this budget
            (shorter ones get their observation padded to the trained shape).
        n_steps: rollout length per env between PPO updates.
        model: an already trained ``stable_baselines3.PPO`` (skips ``fit``).
    """

    def __init__(self, total_timesteps: int = DEFAULT_TIMESTEPS, budget: int = 50, n_steps: int | None = None,
                 model: Any = None, name: str = "ppo", ppo_kwargs: Mapping[str, Any] | None = None):
        self.name = name
        self.total_timesteps = int(total_timesteps)
        self.budget = int(budget)
        self.n_steps = int(n_steps) if n_steps is not None else 4 * self.budget
        self.ppo_kwargs = dict(ppo_kwargs or {})
        self.model = model
        self.trained_on: tuple[str, ...] = ()
        self._dims = 0

    # -- training ---------------------------------------------------------------------------------
    def make_training_env(self, train_objectives: Sequence[Objective]):
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
            return lambda: Monitor(gym.make(envs_registry.ENV_ID, objective=obj, budget=self.budget, reward="improvement"))

        return DummyVecEnv([factory(o) for o in train_objectives])

    def fit(self, train_objectives: Sequence[Objective], seed: int = 0) -> None:
        """Train PPO from scratch on the training objectives (never on a held-out task)."""
        import torch
        from stable_baselines3 import PPO

        vec_env = self.make_training_env(train_objectives)
        # minibatches of one env's rollout: divides the buffer (n_steps * n_envs) exactly
        kwargs = {"n_steps": self.n_steps, "batch_size": self.n_steps, "verbose": 0, "device": "cpu", **self.ppo_kwargs}
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a small MLP gains nothing from threads; on a busy machine they cost 20x
        try:
            self.model = PPO("MultiInputPolicy", vec_env, seed=seed, **kwargs)
            self.model.learn(total_timesteps=self.total_timesteps, progress_bar=False)
        finally:
            torch.set_num_threads(threads)
            vec_env.close()
        self.trained_on = tuple(o.name for o in train_objectives)

    def save(self, path: str | Path) -> None:
        if self.model is None:
            raise RuntimeError("nothing to save: fit() the agent first")
        self.model.save(str(path))

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> SB3PPOAgent:
        """Load a model saved with :meth:`save` (``ppo:PATH.zip`` in the registry)."""
        from stable_baselines3 import PPO

        model = PPO.load(str(path), device="cpu")
        budget = int(model.observation_space["mask"].n)
        return cls(model=model, budget=budget, **kwargs)

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
            raise ValueError(f"PPO was trained on episodes of {self.budget} evaluations and cannot run {budget}; "
                             f"build it with budget>={budget}")
        n_actions = self.model.action_space.shape[0]
        if len(space) != n_actions:
            raise ValueError(f"PPO was trained with {n_actions} hyperparameters, the task has {len(space)}")
        self._dims = len(space)
        if seed is not None:
            import torch

            torch.manual_seed(seed)

    def act(self, observation: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("the PPO agent is not trained; call fit() and reset() first")
        action, _ = self.model.predict(self._pad(observation), deterministic=False)
        return np.clip(np.asarray(action, dtype=np.float32)[: self._dims], 0.0, 1.0)

    def _pad(self, observation: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Pad a shorter episode's history to the trained budget (mask 0 marks the padding)."""
        obs = {k: np.asarray(v) for k, v in observation.items()}
        h = obs["mask"].shape[0]
        if h == self.budget:
            return obs
        for key in ("x", "y", "mask"):
            pad = [(0, self.budget - h)] + [(0, 0)] * (obs[key].ndim - 1)
            obs[key] = np.pad(obs[key], pad)
        return obs


def _make_ppo(arg: str | None) -> SB3PPOAgent:
    """``ppo`` (20,000 training steps per fit), ``ppo:N`` (N steps), or ``ppo:PATH.zip`` (a saved model)."""
    if arg is None:
        return SB3PPOAgent()
    if arg.isdigit():
        return SB3PPOAgent(total_timesteps=int(arg))
    if not Path(arg).exists():
        raise ValueError(f"ppo takes a number of training timesteps or the path of a saved model, got {arg!r} "
                         "(no such file)")
    return SB3PPOAgent.load(arg)


register_agent("ppo", _make_ppo)
