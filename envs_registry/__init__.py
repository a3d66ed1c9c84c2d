"""Gymnasium ids of hpo-gym. Importing this module registers them (idempotently).

``gym.make("envs_registry:HPO-OpenML-v0")`` imports it for you. The ids:

* ``HPO-OpenML-v0``: the general environment (defaults: embedded ``hpobench-nn`` suite, a task drawn
  per reset, budget 50); every :class:`hpo_gym.env.HPOEnv` kwarg can be passed to ``gym.make``.
* ``HPO-OpenML-<task>-v0``: one id per embedded task, e.g. ``HPO-OpenML-credit_g-v0``.

Entry points are strings, so importing this module does not import numpy-heavy code until ``make``.
"""

from __future__ import annotations

import gymnasium as gym

ENV_ID = "HPO-OpenML-v0"
ENTRY_POINT = "hpo_gym.env:HPOEnv"
VECTOR_ENTRY_POINT = "hpo_gym.vector:HPOVectorEnv"
#: The embedded suite's tasks (kept here so registration needs no data loading).
EMBEDDED_TASKS = ("credit_g", "vehicle", "kc1", "phoneme", "blood_transfusion", "australian", "car", "segment")


def task_env_id(task: str) -> str:
    """The per-task id, e.g. ``HPO-OpenML-credit_g-v0``."""
    return f"HPO-OpenML-{task}-v0"


def register_envs() -> list[str]:
    """Register every id that is not registered yet; returns all hpo-gym ids."""
    ids: dict[str, dict[str, str]] = {ENV_ID: {}} | {task_env_id(t): {"task": t} for t in EMBEDDED_TASKS}
    for env_id, kwargs in ids.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT,
                         kwargs=kwargs, disable_env_checker=False)
    return list(ids)


ENV_IDS = register_envs()
