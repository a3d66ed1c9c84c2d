"""Helpers of the transfer tests: run one episode through the real env, make a changed copy of a table."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.base import observe_if_supported
from hpo_gym.env import HPOEnv
from hpo_gym.tabular import TabularObjective


def run_episode(agent: Any, objective: TabularObjective, budget: int, seed: int = 0) -> list[dict]:
    """One HPO run of ``agent`` on ``objective`` through the real environment; the infos of every step.

    The env terminates after exactly ``budget`` evaluations and refuses a further step, so
    ``len(result) == budget`` is the number of evaluations the run made.
    """
    env = HPOEnv(objective=objective, budget=budget)
    obs, _ = env.reset(seed=seed)
    agent.reset(env.space, seed=seed, budget=budget)
    infos, terminated = [], False
    while not terminated:
        action = agent.act(obs)
        obs, reward, terminated, _, info = env.step(action)
        observe_if_supported(agent, action, reward, info)
        infos.append(info)
    return infos


def reversed_copy(obj: TabularObjective) -> TabularObjective:
    """A copy of a real table whose ranking is turned upside down (its best cell becomes its worst)."""
    return TabularObjective(obj.name, obj.space, 1.0 - np.asarray(obj.mean_scores), obj.metric, obj.direction,
                            metadata=obj.metadata)
