"""Gymnasium ids of hpo-gym. Importing this module registers them (idempotently).

``gym.make("envs_registry:HPO-OpenML-v0")`` imports it for you. The ids:

* ``HPO-OpenML-v0``: the general environment (defaults: embedded ``hpobench-nn`` suite, a task drawn
  per reset, budget 50); every :class:`hpo_gym.env.HPOEnv` kwarg can be passed to ``gym.make``.
* ``HPO-OpenML-<task>-v0``: one id per embedded task, e.g. ``HPO-OpenML-credit_g-v0``. Gymnasium merges ``make``'s
  kwargs over an id's own, so ``task=`` given to a per-task id would silently swap its task: these ids go through
  :func:`make_task_env` / :func:`make_task_vector_env`, which refuse a different task.

Entry points are strings, so importing this module does not import numpy-heavy code until ``make``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

ENV_ID = "HPO-OpenML-v0"
ENTRY_POINT = "hpo_gym.env:HPOEnv"
VECTOR_ENTRY_POINT = "hpo_gym.vector:HPOVectorEnv"
TASK_ENTRY_POINT = "envs_registry:make_task_env"
TASK_VECTOR_ENTRY_POINT = "envs_registry:make_task_vector_env"
#: The embedded suite's tasks (kept here so registration needs no data loading).
EMBEDDED_TASKS = ("credit_g", "vehicle", "kc1", "phoneme", "blood_transfusion", "australian", "car", "segment")


def task_env_id(task: str) -> str:
    """The per-task id, e.g. ``HPO-OpenML-credit_g-v0``."""
    return f"HPO-OpenML-{task}-v0"


def _pinned(pinned_task: str, kwargs: dict[str, Any]) -> str:
    """The per-task id's task; a different ``task=`` is refused, naming the id that takes it."""
    task = kwargs.pop("task", pinned_task)
    if task != pinned_task:
        its_own_id = f" or {task_env_id(task)!r}" if task in EMBEDDED_TASKS else ""
        raise ValueError(f"{task_env_id(pinned_task)} is pinned to task {pinned_task!r}, but task={task!r} was given; "
                         f"use gym.make({ENV_ID!r}, task={task!r}){its_own_id}")
    return pinned_task


def make_task_env(pinned_task: str, **kwargs: Any) -> gym.Env:
    """Entry point of ``HPO-OpenML-<task>-v0``: ``HPOEnv`` on its task (``kwargs`` as for ``HPOEnv``)."""
    from hpo_gym.env import HPOEnv

    return HPOEnv(task=_pinned(pinned_task, kwargs), **kwargs)


def make_task_vector_env(pinned_task: str, **kwargs: Any) -> gym.vector.VectorEnv:
    """Vector entry point of ``HPO-OpenML-<task>-v0``: the native ``HPOVectorEnv`` on its task."""
    from hpo_gym.vector import HPOVectorEnv

    return HPOVectorEnv(task=_pinned(pinned_task, kwargs), **kwargs)


def register_envs() -> list[str]:
    """Register every id that is not registered yet; returns all hpo-gym ids."""
    ids = [ENV_ID] + [task_env_id(t) for t in EMBEDDED_TASKS]
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT, disable_env_checker=False)
    for task in EMBEDDED_TASKS:
        if task_env_id(task) not in gym.registry:
            gym.register(task_env_id(task), entry_point=TASK_ENTRY_POINT, vector_entry_point=TASK_VECTOR_ENTRY_POINT,
                         kwargs={"pinned_task": task}, disable_env_checker=False)
    return ids


ENV_IDS = register_envs()
