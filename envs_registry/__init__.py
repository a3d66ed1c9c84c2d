"""Gymnasium ids of hpo-gym. Importing this module registers them (idempotently).

``gym.make("envs_registry:HPO-OpenML-v0")`` imports it for you. The ids:

* ``HPO-OpenML-v0``: the general environment (defaults: embedded ``hpobench-nn`` suite, a task drawn
  per reset, budget 50); every :class:`hpo_gym.env.HPOEnv` kwarg can be passed to ``gym.make``.
* ``HPO-OpenML-<task>-v0``: one id per embedded task, e.g. ``HPO-OpenML-credit_g-v0``. Gymnasium merges ``make``'s
  kwargs over an id's own, so a task kept in the id's kwargs could be swapped silently by ``task=`` (or by the kwarg
  that held it). The task is therefore bound into each id's entry point (``envs_registry:_make_<task>_env``, a
  :func:`functools.partial` of :func:`make_task_env` / :func:`make_task_vector_env`), which refuse a different
  task; the same task by OpenML id, or ``task=None``, is the id's task.

Entry points are strings, so importing this module does not import numpy-heavy code until ``make``.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym

ENV_ID = "HPO-OpenML-v0"
ENTRY_POINT = "hpo_gym.env:HPOEnv"
VECTOR_ENTRY_POINT = "hpo_gym.vector:HPOVectorEnv"
#: The embedded suite's tasks (kept here so registration needs no data loading).
EMBEDDED_TASKS = ("credit_g", "vehicle", "kc1", "phoneme", "blood_transfusion", "australian", "car", "segment")


def task_env_id(task: str) -> str:
    """The per-task id, e.g. ``HPO-OpenML-credit_g-v0``."""
    return f"HPO-OpenML-{task}-v0"


def _entry_point(task: str, vector: bool = False) -> str:
    """The string entry point of a per-task id (strings keep ``env.spec`` JSON-serializable and picklable)."""
    return f"envs_registry:_make_{task}_{'vector_' if vector else ''}env"


def _pinned(pinned_task: str | None, kwargs: dict[str, Any]) -> str:
    """The per-task id's task; a different ``task=`` is refused, naming the id that takes it. ``pinned_task`` None: an
    env spec saved by hpo-gym before the task was bound into the entry point, which passed it as a keyword."""
    if pinned_task is None:
        if not isinstance(kwargs.get("pinned_task"), str):
            raise TypeError("make_task_env needs the task it is pinned to; use an id such as 'HPO-OpenML-kc1-v0'")
        pinned_task = kwargs.pop("pinned_task")
    if "pinned_task" in kwargs:
        raise TypeError(f"{task_env_id(pinned_task)} takes no pinned_task= (its task is part of the id); use "
                        f"gym.make({ENV_ID!r}, task=...) to choose a task")
    if kwargs.get("objective") is not None:
        raise ValueError(f"{task_env_id(pinned_task)} is pinned to task {pinned_task!r}, so objective= cannot replace "
                         f"it; use gym.make({ENV_ID!r}, objective=...)")
    task = kwargs.pop("task", None)
    if task is None:
        return pinned_task
    from hpo_gym.suites import get_suite

    try:
        name: str | None = get_suite("hpobench-nn").task_name(task)  # a name or its OpenML id
    except ValueError:
        name = None
    if name != pinned_task:
        its_own_id = f" or {task_env_id(name)!r}" if name in EMBEDDED_TASKS else ""
        raise ValueError(f"{task_env_id(pinned_task)} is pinned to task {pinned_task!r}, but task={task!r} was given; "
                         f"use gym.make({ENV_ID!r}, task={task!r}){its_own_id}")
    return pinned_task


def make_task_env(pinned_task: str | None = None, /, **kwargs: Any) -> gym.Env:
    """Entry point of ``HPO-OpenML-<task>-v0``: ``HPOEnv`` on its task (``kwargs`` as for ``HPOEnv``)."""
    from hpo_gym.env import HPOEnv

    return HPOEnv(task=_pinned(pinned_task, kwargs), **kwargs)


def make_task_vector_env(pinned_task: str | None = None, /, **kwargs: Any) -> gym.vector.VectorEnv:
    """Vector entry point of ``HPO-OpenML-<task>-v0``: the native ``HPOVectorEnv`` on its task."""
    from hpo_gym.vector import HPOVectorEnv

    return HPOVectorEnv(task=_pinned(pinned_task, kwargs), **kwargs)


for _task in EMBEDDED_TASKS:  # the attributes the per-task entry point strings name
    globals()[_entry_point(_task).split(":")[1]] = functools.partial(make_task_env, _task)
    globals()[_entry_point(_task, vector=True).split(":")[1]] = functools.partial(make_task_vector_env, _task)


def register_envs() -> list[str]:
    """Register every id that is not registered yet; returns all hpo-gym ids."""
    ids = [ENV_ID] + [task_env_id(t) for t in EMBEDDED_TASKS]
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT, disable_env_checker=False)
    for task in EMBEDDED_TASKS:
        if task_env_id(task) not in gym.registry:
            gym.register(task_env_id(task), entry_point=_entry_point(task),
                         vector_entry_point=_entry_point(task, vector=True), disable_env_checker=False)
    return ids


ENV_IDS = register_envs()
