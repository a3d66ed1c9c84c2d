"""Turn the environment's ``task`` / ``suite`` / ``backend`` / ``objective`` kwargs into objectives.

One place decides where a task comes from, so ``HPOEnv`` and the vector env agree:

* ``objective=<obj>``: a user's own :class:`~hpo_gym.objective.Objective`, or any object with
  HPOBench's API (``get_configuration_space`` + ``objective_function``), wrapped by the adapter.
* ``backend="tabular"`` (default): ``task`` is a name or OpenML task id in ``suite``
  (default ``hpobench-nn``), or a list of them (one drawn per reset); ``task=None`` means every task of the suite.
* ``backend="live"``: ``task`` is an OpenML task id trained live with ``model`` (see ``hpo_gym.live``).
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from hpo_gym.objective import Objective
from hpo_gym.space import SearchSpace
from hpo_gym.suites import HPOBENCH_NN, as_task_id, get_suite, only_task_of_id

BACKENDS = ("tabular", "live")
#: Environment variable that carries the held-out tasks while the harness fits an agent (JSON: ``{"names": [...],
#: "ids": [...]}``): an environment variable, so that vector-env workers started inside ``fit``, forked or spawned,
#: see it too (a forkserver started before ``fit`` does not).
ENV_HELD_OUT = "HPO_GYM_HELD_OUT_WHILE_FITTING"


@contextmanager
def held_out_while_fitting(names: Iterable[str], openml_ids: Iterable[int] = ()) -> Iterator[None]:
    """While the harness runs a transfer agent's ``fit`` for a k-fold fold, environments leave the fold's held-out
    tasks out (by name, and by OpenML task id, so a live pool's ``31-xgb`` is left out with the table ``credit_g``):
    ``task=None`` (or a list) draws only the others, and a held-out ``task=`` or ``objective=`` is refused. Why:
    ``fit`` is given the training objectives only, but an RL agent that builds its own envs the usual way
    (``gym.make_vec("HPO-OpenML-v0", num_envs=8)``) drew every task of the suite, trained on the held-out ones, and
    was still reported held-out (found in review). Nested uses add up."""
    before = os.environ.get(ENV_HELD_OUT)
    outer_names, outer_ids = _held_out()
    os.environ[ENV_HELD_OUT] = json.dumps({"names": sorted(outer_names | {str(n) for n in names}),
                                           "ids": sorted(outer_ids | {int(i) for i in openml_ids})})
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV_HELD_OUT, None)
        else:
            os.environ[ENV_HELD_OUT] = before


def _held_out() -> tuple[set[str], set[int]]:
    """The task names and OpenML ids held out while fitting (both empty outside the harness's ``fit``)."""
    text = os.environ.get(ENV_HELD_OUT)
    if not text:
        return set(), set()
    held = json.loads(text)
    return set(held["names"]), set(held["ids"])


def _without_held_out(pool: TaskPool, asked: Any) -> TaskPool:
    """``pool`` less the tasks held out while fitting (:func:`held_out_while_fitting`); ``ValueError`` when that leaves
    nothing, naming the held-out tasks and the fix."""
    names, ids = _held_out()
    if not names and not ids:
        return pool
    kept = [n for n in pool.names if n not in names and as_task_id(pool.openml_ids.get(n)) not in ids]
    if len(kept) == len(pool.names):
        return pool
    if not kept:
        what = f"task {asked!r}" if asked is not None else f"the task(s) {pool.names}"
        raise ValueError(f"{what} is held out in this k-fold fold ({sorted(names)}): an agent's fit may train only on "
                         "the fold's training tasks, the objectives fit() is given (build envs with objective=o for "
                         "each of them, or task=[o.name for o in train_objectives] when they are suite tasks)")
    return TaskPool(kept, pool.loader, pool.shared_space, pool.openml_ids)


@dataclass
class TaskPool:
    """The tasks an environment may draw from, loaded lazily and cached."""

    names: list[str]
    loader: Callable[[str], Objective]
    shared_space: SearchSpace | None = None
    #: Task name -> OpenML task id, where known without loading the task.
    openml_ids: Mapping[str, int | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._cache: dict[str, Objective] = {}

    def resolve(self, task: Any) -> str:
        """A task name of the pool from a name or an OpenML task id; an id that several tasks share (one OpenML task
        under several model families) is refused, naming them, as :meth:`Suite.task_name` does for ``gym.make``: it
        picked the first one without a word (``reset(options={"task": 167149})`` always trained ``167149-lr``).

        Ids come from ``openml_ids``; only tasks missing there are loaded to read their metadata.
        """
        valid = ", ".join(f"{name} ({self.openml_ids.get(name)})" for name in self.names)
        if not isinstance(task, (str, int, np.integer)) or isinstance(task, bool):  # an array would fail in 'in' below
            raise ValueError(f"task must be a task name (str) or an OpenML task id (int), got {type(task).__name__} "
                             f"{task!r}; valid names (OpenML task id): {valid}")
        if task in self.names:
            return str(task)
        key = as_task_id(task)
        matches = [name for name in (self.names if key is not None else [])
                   if as_task_id(self.openml_ids[name] if name in self.openml_ids
                                 else self.get(name).metadata.get("openml_task_id")) == key]
        if matches:
            return only_task_of_id(key, matches, "this env")
        raise ValueError(f"unknown task {task!r} for this env; valid names (OpenML task id): {valid}")

    def get(self, name: str) -> Objective:
        if name not in self._cache:
            self._cache[name] = self.loader(name)
        return self._cache[name]

    def space(self) -> SearchSpace | None:
        """The search space every task shares, if that is known without loading all tasks."""
        if self.shared_space is not None:
            return self.shared_space
        if len(self.names) == 1:
            return self.get(self.names[0]).space
        return None


def is_hpobench_api(obj: Any) -> bool:
    return callable(getattr(obj, "objective_function", None)) and callable(getattr(obj, "get_configuration_space", None))


def _check_nothing_besides_objective(objective: Any, task: Any, suite: str, backend: str, model: Any, metric: Any,
                                     options: Mapping[str, Any]) -> None:
    """``objective=`` is the whole task: a task, suite, backend, model or metric given with it would be ignored, and
    a user who passed them believes they were used. (HPOBench API objects take their adapter's options.)"""
    given = {"task": task is not None, "suite": suite != HPOBENCH_NN, "backend": backend != "tabular",
             "model": model is not None, "metric": metric is not None,
             "backend_options": bool(options) and not is_hpobench_api(objective)}
    ignored = [name for name, was_given in given.items() if was_given]
    if ignored:
        verb = "has" if len(ignored) == 1 else "have"
        raise ValueError(f"{', '.join(ignored)} {verb} no effect with objective= (the objective is the whole task); "
                         f"leave {'it' if len(ignored) == 1 else 'them'} out, or drop objective= to pick a suite task")


def keywords_not_taken(fn: Callable[..., Any], names: Iterable[str], skip: int = 0) -> tuple[list[str], list[str]]:
    """``(the names fn cannot take as keywords, sorted; the keywords it takes)``, its first ``skip`` parameters left
    out (a loader's task, an adapter's benchmark). ``([], [])`` when ``fn`` takes ``**kwargs`` or shows no signature (a
    builtin, say): its own call will tell."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):
        return [], []
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return [], []
    takes = [p.name for p in parameters if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    return sorted(set(names) - set(takes)), takes


def _check_loader_options(loader: Callable[..., Objective], options: Mapping[str, Any], suite: str) -> None:
    """Refuse ``backend_options`` the suite's loader does not take, at construction: they used to pass ``make`` and
    fail at the first ``reset`` (in an async vector env, inside a worker) with the loader's own TypeError."""
    unknown, takes = keywords_not_taken(loader, options, skip=1)  # the first parameter is the task
    if unknown:
        raise ValueError(f"backend_options {unknown} are not options of suite {suite!r}'s tables, which take {takes}; "
                         "options such as 'executor' or 'fidelity' belong to backend='live' or to objective=")


def _the_objective(objective: Objective, _name: str) -> Objective:
    """The loader of a pool of one given objective. Loaders are module-level functions or partials of them, never
    lambdas, so that an env pickles (``AsyncVectorEnv.get_attr``, multiprocessing)."""
    return objective


def _suite_task_names(suite: Any, task: Any) -> list[str]:
    """The suite's task names that ``task`` asks for: all (None), one (a name or OpenML task id), or a list of them
    (a training set: a k-fold agent's ``fit`` gives ``[o.name for o in train_objectives]``)."""
    if task is None:
        return list(suite.tasks)
    if isinstance(task, (list, tuple)):
        names = [suite.task_name(t) for t in task]
        if not names or len(set(names)) < len(names):
            raise ValueError(f"task={task!r}: a list of tasks must name at least one task, each once")
        return names
    return [suite.task_name(task)]


def resolve_task_pool(
    task: str | int | list[str | int] | None = None,
    suite: str = HPOBENCH_NN,
    backend: str = "tabular",
    model: str | None = None,
    objective: Any = None,
    metric: str | None = None,
    backend_options: Mapping[str, Any] | None = None,
) -> TaskPool:
    """Resolve the environment's kwargs to a :class:`TaskPool` (raises ``ValueError`` with the fix), less any task
    held out while the harness fits an agent (:func:`held_out_while_fitting`)."""
    return _without_held_out(_task_pool(task, suite, backend, model, objective, metric, backend_options), task)


def _task_pool(task: Any, suite: str, backend: str, model: str | None, objective: Any, metric: str | None,
               backend_options: Mapping[str, Any] | None) -> TaskPool:
    if backend_options is not None and not isinstance(backend_options, Mapping):
        raise ValueError(f"backend_options must be a dict of keyword arguments for the backend's objective, e.g. "
                         f"{{'executor': 'process'}}; got {type(backend_options).__name__} {backend_options!r}")
    options = dict(backend_options or {})
    if objective is not None:
        _check_nothing_besides_objective(objective, task, suite, backend, model, metric, options)
        if isinstance(objective, type):  # its unbound methods pass is_hpobench_api, then fail on a missing 'self'
            raise ValueError(f"objective= takes an instance, got the class {objective.__name__}; pass "
                             f"{objective.__name__}(...)")
        if is_hpobench_api(objective):
            from hpo_gym.hpobench import HPOBenchObjective

            unknown, takes = keywords_not_taken(HPOBenchObjective, options, skip=1)  # the first is the benchmark
            if unknown:  # a bare TypeError from the constructor before (executor, time_limit: the live backend's)
                raise ValueError(f"backend_options {unknown} are not options of an HPOBench benchmark object, which "
                                 f"runs in this process; it takes {sorted(takes)}")
            objective = HPOBenchObjective(objective, **options)
        if not isinstance(objective, Objective):
            raise ValueError("objective= must implement hpo_gym.Objective (name, space, evaluate, evaluate_batch, "
                             "oracle, metadata) or HPOBench's API (get_configuration_space, objective_function); "
                             f"got {type(objective).__name__}")
        obj = objective
        return TaskPool([obj.name], partial(_the_objective, obj), obj.space, {obj.name: obj.metadata.get("openml_task_id")})
    if backend == "tabular":
        if model is not None:  # a table's model is fixed by its rows; silently scoring the MLP table for model="rf" would mislead
            raise ValueError(f"model={model!r} needs backend='live' (trains that model family on the OpenML task); "
                             f"backend='tabular' takes suite {suite!r}'s tasks as they are: leave model out or pass "
                             "backend='live'")
        s = get_suite(suite)
        if metric is not None:
            if options.get("metric", metric) != metric:  # setdefault let the backend_options one win without a word
                raise ValueError(f"metric={metric!r} and backend_options={{'metric': {options['metric']!r}}} disagree; "
                                 "give the metric once, as metric=")
            options["metric"] = metric
        if s.metrics is not None and "metric" in options and options["metric"] not in s.metrics:
            raise ValueError(f"unknown metric {options['metric']!r} for suite {suite!r}; choose one of {s.metrics}")
        _check_loader_options(s.loader, options, suite)
        load = partial(s.loader, **options) if options else s.loader
        return TaskPool(_suite_task_names(s, task), load, s.shared_space, s.tasks)
    if backend == "live":
        from hpo_gym.live import check_backend_options, live_task_pool

        check_backend_options(options)  # before the call, where a 'metric' key would clash with metric=
        return live_task_pool(task=task, model=model, suite=suite, metric=metric, **options)
    raise ValueError(f"unknown backend {backend!r}; use one of {BACKENDS}")
