"""The live backend: real scikit-learn training on OpenML tasks (``backend="live"``).

``gym.make("HPO-OpenML-v0", backend="live", task=31, model="rf")`` trains a random forest on OpenML
task 31 for every action and returns its validation accuracy. Task names of the live backend are
``"<OpenML task id>-<model>"`` (e.g. ``"167149-rf"``). How ``task`` / ``model`` / ``suite`` pick the
pool (:func:`live_task_pool`):

* ``task`` given: that OpenML task id (or ``"<id>-<model>"``, or a task name of ``suite``), with
  ``model`` if given, else each of the six model families (six tasks, one per reset).
* ``task=None``: every OpenML task of ``suite`` x (``model`` or all six families). With the default
  suite that is ``hpobench-nn``'s 8 OpenML tasks; ``suite="grpoformer-paper"`` gives the paper's
  6 tasks x 6 models = 36 tasks.

Importing this package registers the ``grpoformer-paper`` suite (see :data:`GRPOFORMER_PAPER_TASKS`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import Any

from hpo_gym.live.data import ENV_CACHE, OpenMLUnavailableError, TaskData, fetch, load_task
from hpo_gym.live.models import MODEL_NAMES, MODELS, ModelFamily, fidelity_dict, get_model
from hpo_gym.live.objective import PROBABILITY_METRICS, WORST_SCORES, LiveObjective, check_metric
from hpo_gym.suites import HPOBENCH_NN, Suite, as_task_id, get_suite, register_suite

GRPOFORMER_PAPER = "grpoformer-paper"
#: The OpenML tasks of the GRPOformer paper (arXiv 2509.17105), each with all six model families.
GRPOFORMER_PAPER_TASKS: tuple[int, ...] = (167149, 167097, 167155, 167168, 167079, 167069)
_NAME = re.compile(r"^(\d+)-([A-Za-z_]+)$")


def parse_live_name(name: str) -> tuple[int, str]:
    """``"167149-rf"`` -> ``(167149, "rf")``."""
    m = _NAME.match(str(name))
    if not m:
        raise ValueError(f"live task names look like '<OpenML task id>-<model>', e.g. '167149-rf'; got {name!r}")
    return int(m.group(1)), get_model(m.group(2)).name


def load_live(name: str, metric: str | None = None, **options: Any) -> LiveObjective:
    """The :class:`LiveObjective` for a live task name such as ``"167149-rf"``."""
    task_id, model = parse_live_name(name)
    return LiveObjective(task_id, model, metric or "accuracy", **options)


def _task_ids(task: Any, suite: str) -> tuple[list[int], str | None]:
    """OpenML task ids (and a model, when the name carries one) for ``task`` within ``suite``."""
    if task is None:
        if suite == GRPOFORMER_PAPER:
            return list(GRPOFORMER_PAPER_TASKS), None
        ids = [t for t in get_suite(suite).tasks.values() if t is not None]
        if not ids:
            raise ValueError(f"suite {suite!r} lists no OpenML task ids; pass task=<OpenML task id>")
        return list(dict.fromkeys(ids)), None
    if isinstance(task, str) and _NAME.match(task):
        task_id, model = parse_live_name(task)
        return [task_id], model
    tid = as_task_id(task)
    if tid is not None:
        return [tid], None
    if not isinstance(task, str):  # 31.7, True, -5: int() would quietly make them tasks 31, 1, -5
        raise ValueError(f"task={task!r}: give an OpenML task id (a positive whole number) or a task name")
    s = get_suite(suite)
    tid = s.tasks.get(s.task_name(task))
    if tid is None:
        raise ValueError(f"task {task!r} of suite {suite!r} has no OpenML task id; pass task=<OpenML task id>")
    return [int(tid)], None


def live_task_pool(task: Any = None, model: str | None = None, suite: str = HPOBENCH_NN, metric: str | None = None,
                   **options: Any):
    """The :class:`~hpo_gym.tasks.TaskPool` of ``backend="live"`` (see the module docstring for the rules).

    ``options`` are :class:`LiveObjective` keyword arguments (``fidelity``, ``time_limit``,
    ``executor``, ``cache_dir``, ...), given as the env's ``backend_options``.
    """
    from hpo_gym.tasks import TaskPool

    check_backend_options(options)
    check_metric(metric, options.get("worst_score"))  # at make: a misspelled metric failed at the first reset
    task_ids, named_model = _task_ids(task, suite)
    if named_model and model and get_model(model).name != named_model:
        raise ValueError(f"task {task!r} names model {named_model!r} but model={model!r} was passed")
    models = [named_model] if named_model else ([get_model(model).name] if model else list(MODEL_NAMES))
    without = [m for m in models if not MODELS[m].probabilities]
    if metric in PROBABILITY_METRICS and without:  # else the pool's draws of these models fail at reset
        able = [m for m in MODEL_NAMES if MODELS[m].probabilities]
        raise ValueError(f"metric {metric!r} needs predicted probabilities, which {without} do(es) not give; pass "
                         f"model= one of {able}, or use a scorer on decisions (accuracy, balanced_accuracy, f1_macro)")
    fidelity = fidelity_dict(options.get("fidelity"))
    refused = {}
    for m in models:  # else the pool's draws of a family without one of these fidelities fail at reset
        try:
            MODELS[m].fidelity(fidelity)
        except ValueError as e:
            refused[m] = str(e)
    if refused:
        hint = (f"pass model= one of {[m for m in models if m not in refused]}, or " if len(refused) < len(models)
                else "")
        raise ValueError(f"fidelity {fidelity} is refused by {sorted(refused)} "
                         f"({next(iter(refused.values()))}); {hint}give only fidelities every model of the pool has "
                         "(subsample)")
    names = [f"{tid}-{m}" for tid in task_ids for m in models]
    shared_space = MODELS[models[0]].space if len(models) == 1 else None
    ids = {f"{tid}-{m}": tid for tid in task_ids for m in models}
    return TaskPool(names, partial(load_live, metric=metric, **options), shared_space, ids)  # a partial pickles


#: ``LiveObjective`` arguments the env sets itself from its own kwargs (task=, model=, metric=).
_SET_BY_THE_ENV = {"task_id": "task", "model": "model", "metric": "metric"}


def check_backend_options(options: Mapping[str, Any]) -> None:
    """Refuse unknown ``backend_options`` keys at ``gym.make``, listing the valid ones: a typo (``time_limt``) would
    otherwise surface only at ``reset`` as a bare "unexpected keyword argument"."""
    import difflib
    import inspect

    valid = [p for p in inspect.signature(LiveObjective).parameters if p not in _SET_BY_THE_ENV]
    for key in options:
        if key in _SET_BY_THE_ENV:
            raise ValueError(f"backend_options[{key!r}]: pass {_SET_BY_THE_ENV[key]}= to gym.make itself")
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"unknown backend_options key {key!r} for backend='live'; {hint}valid keys: {valid}")


register_suite(Suite(
    GRPOFORMER_PAPER,
    {f"{tid}-{m}": tid for tid in GRPOFORMER_PAPER_TASKS for m in MODEL_NAMES},
    load_live,
    "GRPOformer paper: OpenML tasks 167149, 167097, 167155, 167168, 167079, 167069 x lr, svm, rf, xgb, histgb, mlp; "
    "trained live (needs openml.org or a filled cache: hpo-gym fetch)",
))

__all__ = [
    "ENV_CACHE", "GRPOFORMER_PAPER", "GRPOFORMER_PAPER_TASKS", "MODELS", "MODEL_NAMES", "LiveObjective", "ModelFamily",
    "OpenMLUnavailableError", "TaskData", "WORST_SCORES", "check_backend_options", "check_metric", "fetch", "get_model",
    "live_task_pool", "load_live", "load_task", "parse_live_name",
]
