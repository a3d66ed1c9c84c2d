"""Run agents x tasks x seeds through the environment, in parallel processes, into a result store.

One run = one episode of ``HPO-OpenML-v0`` on one fixed task with one seed: the env is made with
``gym.make("HPO-OpenML-v0", task=..., budget=...)`` (or ``objective=`` for a user's own
objective), reset with the seed, and the agent is reset with ``env.unwrapped.space``, the seed and
the budget. The env enforces the budget, so no agent can evaluate more than ``budget``
configurations. An agent that raises (in ``reset``, ``act``, ``observe``, or by sending an invalid
action) ends its run as ``failed`` with the traceback stored; the benchmark goes on.

Protocols:

* ``"all"``: every agent runs on every task, nothing is fitted.
* ``"kfold"``: the task list is split into ``folds`` contiguous groups (:func:`kfold_splits`).
  A transfer agent (one with ``fit(train_objectives, seed)``, see :class:`agents.base.TransferAgent`)
  is built fresh once per fold, fitted *once* on the other folds' objectives (with ``seed=fold``),
  then run on the fold's held-out tasks for every seed; its rows have ``heldout=True``. Agents
  without ``fit`` run on every task as usual, with the same seeds, so the numbers sit side by side.

In-sample rows: an agent that learned from tasks (a shipped or loaded checkpoint, or a k-fold ``fit``)
declares them in its attribute ``trained_on`` (:data:`TRAINED_ON_ATTR`: an iterable of task names or OpenML task ids,
read by duck typing after the agent is built and, for k-fold, fitted). A run on one of those tasks is
scored on the agent's own training data, so its rows get ``in_sample=True``, the report labels them
``no (in-sample)`` instead of a plain ``no``, and :func:`run_benchmark` warns once. A run of such an agent (one
without ``fit`` under k-fold, or any under ``"all"``) on a task outside its ``trained_on`` gets ``heldout=True``,
reported ``yes (not in trained_on)``. An agent without the attribute is taken to have trained on no task of the suite.

Layering: this module never imports :mod:`agents`. Agents are given as factories
(``Callable[[], Agent]``) or as spec strings that ``resolve_agent`` turns into agents (the CLI passes
:func:`agents.registry.make_agent`).
"""

from __future__ import annotations

import copy
import inspect
import itertools
import json
import math
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
import multiprocessing as mp
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard, Union, cast

import gymnasium as gym
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hpo_gym.episode import check_budget, is_whole_number, positive_count, repeated
from hpo_gym.lock import directory_lock
from hpo_gym.objective import Objective
from hpo_gym.parallel import stop_pool
from hpo_gym.signals import end_by_default, handling
from hpo_gym.benchmark.provenance import record_command
from hpo_gym.benchmark.terminal import prints_above_the_bar
from hpo_gym.benchmark.store import IDENTITY_PREFIX, STEP_COLUMNS, ResultStore, RunKey
from hpo_gym.suites import HPOBENCH_NN, as_task_id, get_suite, names_with_task_id
from hpo_gym.tasks import held_out_while_fitting, resolve_task_pool
from hpo_gym.user_code import users_code_fingerprint

if TYPE_CHECKING:
    from hpo_gym.env import HPOEnv

ENV_ID = "HPO-OpenML-v0"
#: The largest run seed: NumPy's and Optuna's samplers take seeds below 2**32.
MAX_SEED = 2**32 - 1
PROTOCOLS = ("all", "kfold")
#: Attribute an agent sets to the names of the tasks it was trained on (see the module doc).
TRAINED_ON_ATTR = "trained_on"

#: An agent is given as a spec string (resolved by ``resolve_agent``) or a zero-argument factory.
AgentSpec = Union[str, Callable[[], Any]]
TaskSpec = Union[str, int, Objective]
#: ``gym.make`` keywords that :func:`run_benchmark` sets for every run -> its argument that sets them.
RUNNER_ENV_KWARGS = {"budget": "budget", "task": "tasks", "suite": "suite", "objective": "tasks"}


def kfold_splits(tasks: Sequence[str], folds: int, groups: Mapping[str, Any] | None = None) -> list[list[str]]:
    """Split ``tasks`` (in order) into ``folds`` contiguous groups of near-equal size.

    Deterministic, so every agent and every rerun sees the same folds: 8 tasks and 4 folds give
    ``[[t0, t1], [t2, t3], [t4, t5], [t6, t7]]``. With ``groups`` (task -> key, e.g. its OpenML task id), tasks that
    share a key stay in one fold and the split is over the keys, in order of first appearance (a task without a key is
    a group of its own): the ``grpoformer-paper`` suite has six model-family tasks per dataset, and a fold boundary
    through a dataset would score a transfer agent on a dataset whose other tables it was fitted on.
    """
    tasks = list(tasks)
    keys = {t: (groups or {}).get(t, ("task", t)) for t in tasks}
    units = list(dict.fromkeys(keys[t] for t in tasks))
    if not is_whole_number(folds) or not 2 <= folds <= len(units):  # 2.5 would pass the range check and split oddly
        what = f"number of tasks ({len(tasks)})" if len(units) == len(tasks) else \
            f"number of task groups ({len(units)}: tasks that share an OpenML task id stay in one fold)"
        raise ValueError(f"k-fold needs an integer 2 <= folds <= {what}, got folds={folds!r}")
    fold_of = {unit: k for k, part in enumerate(np.array_split(np.arange(len(units)), folds)) for unit in
               (units[i] for i in part)}
    return [[str(t) for t in tasks if fold_of[keys[t]] == k] for k in range(folds)]


def _task_ids(suite: str, objectives: Mapping[str, Objective]) -> dict[str, int]:
    """OpenML task ids of the suite's tasks and of the user objectives that record one: the k-fold groups."""
    ids = suite_task_ids(suite)
    for name, objective in objectives.items():
        tid = as_task_id(objective.metadata.get("openml_task_id"))
        ids.pop(name, None)
        if tid is not None:
            ids[name] = tid
    return ids


def _check_stored_folds(store: ResultStore, splits: Sequence[Sequence[str]]) -> None:
    """``ValueError`` when stored k-fold runs were made with other folds than ``splits`` give their tasks: folds made
    before tasks that share an OpenML task id were kept in one fold (grpoformer-paper's model families) would mix
    into this benchmark's numbers, their transfer agents fitted on a held-out dataset's other tables."""
    if not store.shard_paths():
        return
    done = store.load()[["task", "fold"]].drop_duplicates()
    fold_now = {t: k for k, part in enumerate(splits) for t in part}
    moved = sorted({str(t) for t, f in zip(done["task"], done["fold"]) if t in fold_now and int(f) != fold_now[t]})
    if moved:
        raise ValueError(f"{store.root} holds k-fold runs made with other folds for {moved} (before the tasks that share "
                         "an OpenML task id were kept in one fold, their runs may be scored on a dataset whose other "
                         "tables a transfer agent was fitted on); use another --out directory")


def suite_task_ids(suite: str) -> dict[str, int]:
    """``{task name: OpenML task id}`` of ``suite``'s tasks that have one: :func:`kfold_splits`' groups."""
    return {name: tid for name, tid in get_suite(suite).tasks.items() if tid is not None}


def is_transfer_agent(agent: Any) -> bool:
    """True for agents with a callable ``fit`` (the :class:`agents.base.TransferAgent` protocol)."""
    return callable(getattr(agent, "fit", None))


def declares_itself_unfitted(agent: Any, suite: str | None = None) -> bool:
    """A transfer agent that records no training tasks (a portfolio, PPO before ``fit``): outside the k-fold
    protocol, which fits it per fold, every run it played would fail."""
    return is_transfer_agent(agent) and hasattr(agent, TRAINED_ON_ATTR) and not trained_on(agent, suite)


def trained_on(agent: Any, suite: str | None = None) -> frozenset[str]:
    """The task names ``agent`` declares it was trained on (its :data:`TRAINED_ON_ATTR`), else none.

    Duck typed so this package needs no agent class; a single name or an unusable value counts as
    that name or as nothing rather than failing a run over bookkeeping. With ``suite``, an entry that is an OpenML
    task id (``31`` or ``"31"``) also counts as every task of that suite with this id: runs are named by the suite's
    task names, so an agent that recorded ids had its in-sample runs reported as held-out.
    """
    value = getattr(agent, TRAINED_ON_ATTR, None)
    if value is None or (isinstance(value, (str, bytes)) and not value):  # `not value` raised on a NumPy array
        return frozenset()
    if isinstance(value, (str, int, np.integer)):
        value = [value]
    try:
        entries = list(value)
    except TypeError:
        return frozenset()
    names = {str(t) for t in entries}
    if suite is not None:
        for task_id in {as_task_id(t) for t in entries}:
            names |= names_with_task_id(task_id, suite) if task_id is not None else set()
    return frozenset(names)


# -- one run -------------------------------------------------------------------------------------------
@dataclass
class _Context:
    """Everything a worker needs; handed to worker processes once at start (inherited under fork)."""

    agents: dict[str, AgentSpec]
    objectives: dict[str, Objective]  # user objectives by name; suite tasks are loaded by name
    suite: str
    budget: int
    out: str | None
    resolve_agent: Callable[[str], Any] | None
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    agent_files: dict[str, str] = field(default_factory=dict)  # agent -> fingerprint of its files at the start

    def build_agent(self, name: str) -> Any:
        spec = self.agents[name]
        if isinstance(spec, str):
            if self.resolve_agent is None:
                raise ValueError(f"agent {name!r} is given as the spec {spec!r}, but no resolve_agent was passed; "
                                 "pass resolve_agent=agents.registry.make_agent or a factory instead of a string")
            return self.resolve_agent(spec)
        return spec()

    def objective(self, task: str) -> Objective:
        """The objective a transfer agent is fitted on. On tables, the task as the runs' envs score it (``env_kwargs``'
        metric and backend options: the suite's default metric used to be loaded whatever the runs scored). With the
        live backend, the suite's own tables: transfer agents learn from tables, and a live task is a (task, model)
        pair whose name the agents' per-fold checkpoints do not know."""
        if task in self.objectives:
            return self.objectives[task]
        if self.env_kwargs.get("backend", "tabular") != "tabular":
            return get_suite(self.suite).load(task)
        keys = ("metric", "backend_options")
        pool = resolve_task_pool(task=task, suite=self.suite, **{k: self.env_kwargs[k] for k in keys if k in self.env_kwargs})
        return pool.get(pool.names[0])

    def make_env(self, task: str) -> gym.Env:
        if task in self.objectives:
            return gym.make(ENV_ID, objective=self.objectives[task], budget=self.budget, **self.env_kwargs)
        return gym.make(ENV_ID, task=task, suite=self.suite, budget=self.budget, **self.env_kwargs)


_CTX: _Context | None = None
_PARENT_PID: int | None = None  # set in worker processes: the benchmark process that started them
#: Units a pool holds per worker at a time (enough to keep the workers busy; more only makes each wait() longer).
IN_FLIGHT_PER_JOB = 4
_TICK: Callable[[], None] | None = None  # called after every run (feeds the progress bar)
_STOP: Any = None  # set in worker processes: an event the benchmark process sets when it is interrupted
_ABORT: Any = None  # set in worker processes: an event set on a second interruption (end the run in flight too)


def _exit_if_orphaned() -> None:
    """A worker whose parent was killed starts no new run (the finished ones are already stored)."""
    if _PARENT_PID is not None and os.getppid() != _PARENT_PID:
        os._exit(1)


def _stopping() -> bool:
    """True once the benchmark was interrupted (Ctrl-C): no new run starts (in a worker, or in this process when
    the runs are serial)."""
    return _STOP is not None and _STOP.is_set()


@dataclass(frozen=True)
class _Unit:
    """A piece of work: one run, or (transfer agents) the pending runs of one fold after one fit."""

    agent: str
    runs: tuple[tuple[str, int], ...]  # (task, seed)
    fold: int = -1
    heldout: bool = False  # a k-fold transfer agent's fold: fitted on train_tasks, then scored on held_out
    train_tasks: tuple[str, ...] = ()
    held_out: tuple[str, ...] = ()  # the fold's held-out tasks: envs built inside fit leave them out
    # an agent that arrived trained (its trained_on names its tasks), run on a task not among them: stored held-out
    unseen: bool = False


def _jsonable(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _padded(action: Any, space: gym.Space, task_dims: int) -> Any:
    """An agent's ``(task_dims,)`` action widened with ignored zeros to the env's Box: a pool of tasks with different
    search spaces (the live backend without ``model=``, a user suite) has a ``max_dims``-wide Box, and agents act in
    their task's own ``task_dims`` dimensions, so every run of every agent failed on the shape. An action of any other
    length is passed on as it is, for the env to refuse: padding a too-short one would set the missing hyperparameters
    to their lowest value and store a wrong score as a finished run."""
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1 and np.ndim(action) == 1 \
            and len(action) == task_dims < space.shape[0]:
        a = np.asarray(action)
        return np.concatenate([a, np.zeros(space.shape[0] - len(a), dtype=a.dtype)])
    return action


#: ``info`` keys derived from a task's known best and worst score: stored in the runs, never shown to an agent's
#: ``observe`` (from two steps' normalized regrets an agent could solve for the held-out task's best and worst).
ORACLE_INFO = frozenset({"normalized_regret"})


class TaskNotLoaded(RuntimeError):
    """The env could not start a run: its task failed to load or set up (OpenML unreachable and the task not cached,
    a broken user objective). Not the agent's failure: stored as one, a rerun skipped it once the task loaded again
    (unless ``--retry-failed``). Raised instead, so the benchmark stops with the runs so far stored and a rerun of the
    same command plays the rest."""


def _could_not_start(task: str, reason: str) -> str:
    """The message of a task that could not start a run, with what the benchmark keeps and how to go on."""
    return (f"task {task!r} could not start a run ({reason}); the runs finished so far are stored: rerun the same command "
            "once the task loads (or leave it out) to play the rest")


def run_episode(agent: Any, env: gym.Env, seed: int, budget: int) -> tuple[list[dict[str, Any]], str | None]:
    """Play one HPO run; returns the per-step rows and the traceback if the agent failed (else None). An env that
    cannot start the run raises :class:`TaskNotLoaded`."""
    rows: list[dict[str, Any]] = []
    try:
        obs, _ = env.reset(seed=seed)
    except Exception as e:
        raise TaskNotLoaded(f"{type(e).__name__}: {e}") from e
    try:
        space = cast("HPOEnv", env.unwrapped).space  # an HPO-OpenML-v0 env
        agent.reset(space, seed=seed, budget=budget)
        observe = getattr(agent, "observe", None)
        for _ in range(budget):
            t0 = time.perf_counter()
            action = agent.act(obs)
            choose = time.perf_counter() - t0
            obs, reward, terminated, truncated, info = env.step(_padded(action, env.action_space, len(space)))
            rows.append({  # before observe: an agent failing there must not hide the evaluation just made
                "step": int(info["step"]),
                "config": json.dumps({k: _jsonable(v) for k, v in info["config"].items()}),
                "score": float(info["score"]), "best_score": float(info["best_score"]),
                "normalized_regret": float(info.get("normalized_regret", math.nan)),
                "choose_seconds": choose, "eval_cost": float(info.get("cost", math.nan)),
                "eval_error": str(info.get("error", "")),  # a failed fit: worst score, and why
            })
            if observe is not None:
                t0 = time.perf_counter()
                observe(action, reward, {k: v for k, v in info.items() if k not in ORACLE_INFO})
                rows[-1]["choose_seconds"] += time.perf_counter() - t0
            if terminated or truncated:
                break
    # any agent error is a failed run, recorded, never fatal; a sys.exit() inside an agent (or a library it calls)
    # too: it ended the benchmark with its exit status and no word of which agent or run (found in review)
    except (Exception, SystemExit):  # noqa: BLE001
        return rows, traceback.format_exc()
    if len(rows) < budget:  # a wrapper's time limit: stored as ok, every metric at the budget left it out unsaid
        return rows, (f"the env ended the episode after {len(rows)} of {budget} evaluations (terminated={terminated}, "
                      f"truncated={truncated}): a wrapper cut it short; the harness sets the episode length by budget")
    return rows, None


def _run_frame(ctx: _Context, unit: _Unit, task: str, seed: int, rows: list[dict[str, Any]], error: str | None,
               in_sample: bool = False) -> pd.DataFrame:
    if not rows:  # failed before the first step: one marker row so the failure is stored
        rows = [{"step": 0, "config": "{}", "score": math.nan, "best_score": math.nan, "normalized_regret": math.nan,
                 "choose_seconds": math.nan, "eval_cost": math.nan, "eval_error": ""}]
    df = pd.DataFrame(rows)
    df.insert(0, "agent", unit.agent)
    df.insert(1, "task", task)
    df.insert(2, "seed", int(seed))
    df.insert(3, "fold", int(unit.fold))
    df.insert(4, "heldout", bool(unit.heldout or unit.unseen))
    df.insert(5, "in_sample", bool(in_sample))
    df["status"] = "failed" if error else "ok"
    df["error"] = error or ""
    df["budget"] = ctx.budget
    return df[STEP_COLUMNS]


def _execute(unit: _Unit) -> list[pd.DataFrame]:
    """Run a unit in this process: build (and fit) the agent, play its runs, store each run as it finishes."""
    ctx = _CTX
    assert ctx is not None, "worker context not initialised"
    store = ResultStore(ctx.out) if ctx.out else None
    frames: list[pd.DataFrame] = []
    agent, setup_error = None, None
    try:
        if unit.heldout:
            agent = _fitted_agent(ctx, unit, store)
        else:
            agent = ctx.build_agent(unit.agent)
    except Exception:  # noqa: BLE001
        setup_error = traceback.format_exc()
    if agent is not None:
        _check_files_unchanged(ctx, unit.agent, agent)
    fresh_copy = None
    if unit.heldout and agent is not None:
        fresh_copy = _fresh_copies(agent, refit=lambda: _fitted_agent(ctx, unit, store))
    for task, seed in unit.runs:
        _exit_if_orphaned()
        if _stopping():  # interrupted: the runs finished so far are stored; the rest wait for the rerun
            break
        key: RunKey = (unit.agent, task, int(seed))
        if store is not None and store.has(key):
            frames.append(store.load([key]))
            if _TICK is not None:
                _TICK()
            continue
        rows: list[dict[str, Any]]
        error: str | None
        if setup_error is not None:
            rows, error = [], setup_error
        else:
            try:  # a suite task loads here (an OpenML task not cached offline): not the agent's failure, as below
                env = ctx.make_env(task)
            except Exception as e:  # noqa: BLE001
                raise TaskNotLoaded(_could_not_start(task, f"{type(e).__name__}: {e}")) from e
            try:
                run_agent = agent if fresh_copy is None else fresh_copy()
                rows, error = run_episode(run_agent, env, int(seed), ctx.budget)
            except TaskNotLoaded as e:
                raise TaskNotLoaded(_could_not_start(task, str(e))) from e.__cause__
            except Exception:  # noqa: BLE001  the copy failed: a stored failure, as a failed fit is
                rows, error = [], traceback.format_exc()
            finally:
                env.close()
        df = _run_frame(ctx, unit, task, seed, rows, error, in_sample=task in trained_on(agent, ctx.suite))
        if store is not None:
            store.write_run(key, df)
        frames.append(df)
        if _TICK is not None:
            _TICK()
    return frames


def _fresh_copies(agent: Any, refit: Callable[[], Any]) -> Callable[[], Any]:
    """A maker of copies of a fold's fitted agent, one per run. The fold's runs share one fit, but an agent that kept
    anything across ``reset`` (a memory of the best configuration per task) would carry evaluations of earlier
    held-out runs into later ones, uncounted, and its results would depend on where an interrupted benchmark
    resumed (a resume starts from the stored fit). Pickled once and unpickled per run; deep copies where it cannot
    be pickled; ``refit`` (the same seeded fit again) where it cannot be copied either."""
    try:
        blob = pickle.dumps(agent)
        return lambda: pickle.loads(blob)
    except Exception:  # noqa: BLE001  e.g. a lock or a lambda inside a user's agent
        pass
    try:
        copy.deepcopy(agent)
        return lambda: copy.deepcopy(agent)
    except Exception:  # noqa: BLE001
        pristine = [agent]  # the fold's own fit plays the first run, a refit each later one
        return lambda: pristine.pop() if pristine else refit()


class AgentFilesChanged(RuntimeError):
    """The files an agent plays from changed while the benchmark ran."""


def _check_files_unchanged(ctx: _Context, name: str, agent: Any) -> None:
    """Raise :class:`AgentFilesChanged` when the files agent ``name`` plays from (its ``fingerprint``) differ from those
    at the start: a checkpoint retrained into the same path meanwhile would put two models' runs under one label.
    Raised, not stored as a failed run (a finished result that a resume skips), so the benchmark stops with the
    runs so far, which are the first files', stored."""
    expected = ctx.agent_files.get(name)
    now = getattr(agent, "fingerprint", None)
    if expected is not None and now != expected:
        raise AgentFilesChanged(f"the files of agent {name!r} changed while this benchmark ran (fingerprint {expected} "
                                f"at the start, {now} now), so its runs would mix two models; the runs stored so far "
                                "are of the first. Rerun into another --out directory once the files are final")


def _fitted_agent(ctx: _Context, unit: _Unit, store: ResultStore | None) -> Any:
    """Build and fit a transfer agent for a fold, once; with a store the fitted agent is cached (pickle).

    A benchmark killed in the middle of a fold then resumes the fold without refitting. Caching is
    best effort: an agent that cannot be pickled is simply refitted next time.
    """
    fit_seed = max(unit.fold, 0)
    spec = ctx.agents[unit.agent]
    cache = None
    if store is not None and isinstance(spec, str):  # factories have no stable identity to key a cache on
        cache = store.fitted_path(unit.agent, spec, unit.fold, unit.train_tasks, fit_seed, ctx.agent_files.get(unit.agent))
        agent = store.read_fitted(cache)
        if agent is not None:
            return agent
    agent = ctx.build_agent(unit.agent)
    ids = _task_ids(ctx.suite, ctx.objectives)  # the k-fold groups' ids: a held-out dataset under any task name
    held_ids = [ids[t] for t in unit.held_out if t in ids]
    with held_out_while_fitting(unit.held_out, held_ids):  # an RL agent's own gym.make(...) in fit: training tasks only
        agent.fit([ctx.objective(t) for t in unit.train_tasks], seed=fit_seed, **_budget_if_taken(agent.fit, ctx.budget))
    if store is not None and cache is not None:  # a cache path comes with a store
        store.write_fitted(cache, agent)
    return agent


def _init_worker(ctx: _Context, parent_pid: int, ticks: Any = None, stop: Any = None, abort: Any = None,
                 sigterm_relayed: Any = None) -> None:
    """Worker start: install the context, one BLAS/torch thread per process, and die with the parent.

    Ctrl-C reaches the whole process group; a worker ignores it and finishes (and stores) its run in flight,
    while the benchmark process sets ``stop`` so that no worker starts another run, and ``abort`` on a second
    Ctrl-C, which ends the worker at once (see :func:`_dispatch`). SIGTERM to the whole group (``timeout``,
    ``scancel``) does the same when the benchmark process takes it as Ctrl-C (:func:`_relay_sigterm` sets
    ``sigterm_relayed``); any other SIGTERM ends the worker, as the pool's own ``terminate`` needs.
    """
    global _CTX, _PARENT_PID, _TICK, _STOP, _ABORT
    _CTX, _PARENT_PID, _STOP, _ABORT = ctx, parent_pid, stop, abort
    _TICK = None if ticks is None else (lambda: ticks.put(1))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sigterm_relayed is not None and signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        pass  # the caller ignores SIGTERM (inherited through fork): so does the worker, as before the relay existed
    elif sigterm_relayed is not None:
        def on_sigterm(signum: int, frame: Any) -> None:
            # the group's SIGTERM reaches the parent at the same moment; a terminate() of the pool's (a broken pool)
            # is never relayed, and the worker must then end, or the pool's join would wait on it
            if not sigterm_relayed.wait(SIGTERM_RELAY_SECONDS):
                end_by_default(signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)

    def watchdog() -> None:  # a SIGKILLed parent cannot stop its workers; they notice and exit
        while True:
            _exit_if_orphaned()
            if _ABORT is not None and _ABORT.is_set():  # the user does not want to wait for the run in flight
                os._exit(1)
            time.sleep(0.2)

    threading.Thread(target=watchdog, daemon=True).start()


# -- the benchmark -------------------------------------------------------------------------------------
def run_benchmark(
    agents: Mapping[str, AgentSpec] | Sequence[str],
    tasks: Sequence[TaskSpec] | None = None,
    *,
    suite: str = HPOBENCH_NN,
    budget: int = 50,
    seeds: int | Sequence[int] = 10,
    out: str | os.PathLike | None = None,
    jobs: int = 1,
    protocol: str = "all",
    folds: int = 4,
    only_tasks: Sequence[str | int] | None = None,
    resolve_agent: Callable[[str], Any] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    progress: bool = True,
    retry_failed: bool = False,
) -> pd.DataFrame:
    """Run every agent on every task with every seed; return one row per step (see :mod:`.store`).

    Args:
        agents: ``{name: spec}`` where spec is a zero-argument factory returning an
            :class:`agents.base.Agent` or a spec string for ``resolve_agent``; a plain list of spec
            strings names each agent by its spec (``["random", "tpe"]``). Each spec string is resolved once
            here, so one the registry refuses raises before anything runs (not as failed runs).
        tasks: task names (or OpenML task ids) of ``suite`` and/or :class:`~hpo_gym.objective.Objective`
            instances (e.g. a user's own ``TabularObjective``); default every task of ``suite``. Under
            ``kfold`` this list defines the folds and the training tasks.
        budget: evaluations per run (the env enforces it).
        seeds: a number ``n`` (seeds ``0..n-1``) or explicit distinct non-negative seeds. A repeated seed is
            refused rather than dropped: a seed names one run (one stored shard per agent, task and
            seed), so a repeat cannot add a run, and silently running fewer runs than the list's
            length would misstate the seed count behind every mean.
        out: result directory; finished runs found there are skipped (resume), new runs are
            stored as they finish. ``None`` keeps everything in memory.
        jobs: worker processes (1 = run in this process).
        protocol: ``"all"`` or ``"kfold"`` (see the module doc).
        folds: number of folds for ``kfold``.
        only_tasks: run only these tasks, by name or OpenML task id (an id selects every task with it; folds and
            training sets still use all ``tasks``); an empty list is refused, as it would run nothing.
        resolve_agent: turns a spec string into an agent, e.g. ``agents.registry.make_agent``.
        env_kwargs: extra ``gym.make`` keyword arguments (e.g. ``noise=True``); recorded in ``out``'s
            manifest, so a directory is never resumed with other ones. Checked by making one env first; the
            keys of :data:`RUNNER_ENV_KWARGS` are refused (this function sets them).
        progress: show a tqdm bar over runs.
        retry_failed: run again the stored runs of this call's agents x tasks x seeds in which the
            agent raised (by default a failed run is a finished result, like any other, and is skipped
            on resume); failed runs outside this call stay stored.

    All settings are checked before ``out`` is touched, so a refused call leaves no manifest behind; bad input
    raises ``ValueError`` naming the argument and the fix, rather than running wrongly or failing every run.
    Rows of runs on a task the agent was trained on get ``in_sample=True`` (see the module doc), with
    one warning per call.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")
    budget = check_budget(budget)
    jobs = positive_count(jobs, "jobs")  # 0 or -1 would silently run serially, as if that were asked for
    agent_specs = _agent_specs(agents)
    seed_list = _seed_list(seeds)
    task_names, objectives = _resolve_tasks(tasks, suite)
    run_tasks = _select_tasks(only_tasks, task_names, suite)
    # validates folds; the tasks of one OpenML task stay in one fold
    try:
        splits = kfold_splits(task_names, folds, _task_ids(suite, objectives)) if protocol == "kfold" else [task_names]
    except ValueError as e:  # a new user's tasks=["kc1", "car"], meant as the CLI's --tasks, made the folds of 2 tasks
        if tasks is None or not (is_whole_number(folds) and folds >= 2):  # folds itself is wrong: no other tasks help
            raise
        raise ValueError(f"{e}; tasks= lists the tasks the folds are made over (each trains on the others): to run "
                         "only some tasks with the folds made over the whole suite, pass only_tasks=[...] instead (the "
                         "command line's --tasks)") from None
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"out must be a directory; {out} is a file: pass a directory path (a new one is created)")

    ctx = _Context(agent_specs, objectives, suite, budget, None if out is None else str(out), resolve_agent,
                   _env_kwargs(env_kwargs))
    _check_env(ctx, run_tasks)
    held_out_by_fold = {k: list(part) for k, part in enumerate(splits) if any(t in run_tasks for t in part)}
    transfer_agents, agent_files, identities, earlier, declared = _check_agents(
        ctx, protocol, held_out_by_fold if protocol == "kfold" else {}, task_names)
    ctx.agent_files = agent_files
    # one writer per directory: a second process with the same out stops here, naming the first (hpo_gym.lock)
    with directory_lock(out, "a benchmark") if out is not None else nullcontext(False) as locked:
        store = None
        if out is not None:
            store = ResultStore(out)
            store.check_manifest({"budget": budget, "protocol": protocol,
                                  "folds": folds if protocol == "kfold" else None,
                                  "suite": suite if any(t not in objectives for t in task_names) else None,
                                  "tasks": task_names if protocol == "kfold" else None, "env_kwargs": ctx.env_kwargs,
                                  "objectives": _objective_fingerprints(objectives)})
            store.check_agent_files({**identities, **agent_files}, run_tasks, seed_list, earlier)
            if protocol == "kfold":
                _check_stored_folds(store, splits)
            store.clean_temporaries(holding_lock=locked)  # inside the directory lock, before any writer of this run
            if retry_failed:
                store.remove_failed([(a, t, s) for a in agent_specs for t in run_tasks for s in seed_list])

        fold_of = {t: (k if protocol == "kfold" else -1) for k, part in enumerate(splits) for t in part}
        units: list[_Unit] = []
        n_done = 0
        for name in agent_specs:
            if name in transfer_agents:
                for k, part in enumerate(splits):
                    runs = [(t, s) for t in part if t in run_tasks for s in seed_list]
                    pending = tuple(r for r in runs if store is None or not store.has((name, r[0], r[1])))
                    n_done += len(runs) - len(pending)
                    if pending:
                        train = tuple(t for t in task_names if t not in part)
                        units.append(_Unit(name, pending, k, True, train, tuple(part)))
            else:
                for t in run_tasks:
                    for s in seed_list:
                        if store is not None and store.has((name, t, s)):
                            n_done += 1
                        else:
                            unseen = bool(declared.get(name)) and t not in declared[name]
                            units.append(_Unit(name, ((t, s),), fold_of[t], False, unseen=unseen))
        total = len(agent_specs) * len(run_tasks) * len(seed_list)
        if store is not None and units:  # the versions and seeds behind the runs; a rerun that runs nothing made none
            record_command(store.root, agent_specs, run_tasks, seed_list, runs_stored_before=len(store.shard_paths()))
        frames = _dispatch(units, ctx, jobs, total, n_done, progress)
        if store is not None:
            keys = [(a, t, s) for a in agent_specs for t in run_tasks for s in seed_list]
            df = store.load(keys)
        elif not frames:
            df = pd.DataFrame(columns=STEP_COLUMNS)
        else:
            df = pd.concat(frames, ignore_index=True).sort_values(["agent", "task", "seed", "step"], kind="stable")
            df = df.reset_index(drop=True)
    df = _mark_declared_in_sample(df, declared)
    _warn_in_sample(df)
    return df


def _warn_in_sample(df: pd.DataFrame) -> None:
    """One warning per benchmark naming the agents scored on their own training tasks: their numbers are
    no evidence of how they do on a new task, and a plain "held-out: no" row would hide that."""
    rows = df[df["in_sample"].astype(bool)] if "in_sample" in df and len(df) else df.iloc[:0]
    if rows.empty:
        return
    pairs = rows.drop_duplicates(["agent", "task"]).groupby("agent")["task"].apply(sorted).to_dict()
    detail = "; ".join(f"{a} on {', '.join(t)}" for a, t in pairs.items())
    fix = in_sample_fix(bool(rows["heldout"].astype(bool).any()), bool((df["fold"] >= 0).any()))
    warnings.warn(f"in-sample results: {detail}: these agents were trained on these tasks ({TRAINED_ON_ATTR}), so "
                  f"their rows are marked in_sample and the agents reported as 'no (in-sample...)'; {fix}", UserWarning, stacklevel=3)


def in_sample_fix(fitted_per_fold: bool, kfold: bool) -> str:
    """What to do about in-sample runs: under k-fold, an agent fitted per fold saw a held-out task in ``fit`` (or the
    checkpoint it loaded), and an agent without ``fit`` arrived trained on the tasks; outside k-fold, use k-fold."""
    if fitted_per_fold:
        return ("under k-fold this means fit (or the checkpoint it loaded) trained on a held-out task: train only on "
                "the objectives fit() is given")
    if kfold:
        return ("the agent has no fit and arrived trained on these tasks: give it a checkpoint or model trained without "
                "them, or fit() so that k-fold fits it per fold")
    return "use --protocol kfold for held-out numbers"


def _objective_fingerprints(objectives: Mapping[str, Objective]) -> dict[str, str] | None:
    """What identifies each user objective's scores, for the manifest: runs are stored by task *name*, so without
    it a table edited under the same name (a fixed direction, new rows) would be resumed onto the old one's runs.
    A table's :attr:`~hpo_gym.tabular.TabularObjective.fingerprint` hashes its scores; other objectives are
    identified by their repr and metadata."""
    if not objectives:
        return None
    prints = {}
    for name, obj in objectives.items():
        fingerprint = getattr(obj, "fingerprint", None)
        if not isinstance(fingerprint, str):
            shown = repr(obj)
            shown = "" if " at 0x" in shown else shown  # a default repr changes with every process
            fingerprint = repr((type(obj).__name__, shown, sorted(obj.metadata.items(), key=str)))
        prints[name] = fingerprint
    return prints


def _is_list(value: Any) -> TypeGuard[Iterable[Any]]:
    """An iterable other than a string: a string is iterable too, but ``list("random")`` is six agents 'r', 'a', ..."""
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes))


def _agent_specs(agents: Mapping[str, AgentSpec] | Sequence[str]) -> dict[str, AgentSpec]:
    """``agents`` as ``{name: spec}``; ``ValueError`` with the fix for input that would run wrongly rather than fail.

    A bare string would be read letter by letter, and an agent instance (not a factory) fails every run with
    "object is not callable" after the failures are stored as finished results.
    """
    if isinstance(agents, Mapping):
        specs = dict(agents)
    else:
        names = list(agents) if _is_list(agents) else None
        if names is None or not all(isinstance(a, str) for a in names):
            raise ValueError(f"agents must be a list of agent specs, e.g. ['random'], or a dict of zero-argument "
                             f"factories, e.g. {{'random': RandomSearch}}; got {agents!r}")
        twice = repeated(names)
        if twice:  # dropped to one without a word before (demo; bench's CLI refused it on its own)
            raise ValueError(f"agent(s) {twice} given more than once; list each once (a repeat would be the same runs)")
        specs = dict(zip(names, names))
    if not specs:
        raise ValueError("no agents given; e.g. agents=['random', 'tpe'] with resolve_agent=agents.registry.make_agent")
    for name, spec in specs.items():
        if not isinstance(spec, str) and not callable(spec):
            raise ValueError(f"agent {name!r} is a {type(spec).__name__} object, which cannot build a fresh agent per "
                             f"run: give a zero-argument factory that builds a new one on each call, e.g. "
                             f"{type(spec).__name__} (the class) or lambda: {type(spec).__name__}(...)")
    return specs


def _budget_if_taken(method: Callable[..., Any], budget: int) -> dict[str, int]:
    """``{"budget": budget}`` when ``method`` takes a ``budget`` keyword (optional in the protocol, see
    :class:`agents.base.TransferAgent`: ``fit`` and ``check_plan`` may take one), else nothing."""
    return {"budget": budget} if "budget" in inspect.signature(method).parameters else {}


def _check_agents(ctx: _Context, protocol: str, held_out_by_fold: Mapping[int, Sequence[str]],
                  task_names: Sequence[str]
                  ) -> tuple[set[str], dict[str, str], dict[str, str], dict[str, tuple[str, ...]],
                             dict[str, frozenset[str]]]:
    """Build each spec-string agent once; return the names of the transfer agents (those with ``fit``), the
    ``fingerprint`` of each built agent that has one (the content of the files it plays from, see
    :mod:`hpo_gym.fingerprint`), the :func:`agent_identity` of every other built agent and the forms earlier versions
    recorded it in (the same agent: :meth:`ResultStore.check_agent_files` upgrades them), and the tasks each agent that
    plays unfitted declares it was trained on
    (:func:`trained_on`; k-fold transfer agents are fitted per fold, on training tasks only). An agent with a
    ``check_plan(protocol, held_out_by_fold, task_names[, budget])`` method (see
    :class:`agents.base.TransferAgent`) checks there that it can play the folds this benchmark needs (k-fold: fold
    index -> its held-out tasks; empty otherwise): a checkpoint file missing for one fold used to fail that fold's
    runs one by one, and the stored failures then locked the directory.

    A spec the registry refuses ('tpee') or a string without ``resolve_agent`` raises here, with the registry's
    own message, before anything runs: inside the runs it would be stored as failed runs, finished results
    that a corrected rerun skips. Factories are built too, under either protocol (k-fold needs to know whether an
    agent has ``fit``, and a pre-trained model a factory returns is checked as a name's is); a factory that fails to
    build is left to its runs to record.
    """
    transfer: set[str] = set()
    fingerprints: dict[str, str] = {}
    identities: dict[str, str] = {}
    earlier: dict[str, tuple[str, ...]] = {}
    declared: dict[str, frozenset[str]] = {}
    for name, spec in ctx.agents.items():
        try:  # a factory too, under either protocol: a pre-trained model it returns is checked as a name's is
            agent = ctx.build_agent(name)
        except Exception:  # noqa: BLE001
            if isinstance(spec, str):  # the registry's own message, before anything runs
                raise
            continue  # a factory that fails to build: its runs record it
        check_plan = getattr(agent, "check_plan", None)
        if callable(check_plan):
            check_plan(protocol, held_out_by_fold, list(task_names), **_budget_if_taken(check_plan, ctx.budget))
        if protocol == "kfold" and is_transfer_agent(agent):
            transfer.add(name)
        else:
            declared[name] = trained_on(agent, ctx.suite)
        if name not in transfer and is_transfer_agent(agent) and not hasattr(agent, TRAINED_ON_ATTR):
            raise ValueError(f"agent {name!r} has fit() but no {TRAINED_ON_ATTR}: outside --protocol kfold nothing calls "
                             "fit, so it would play unfitted, and nothing would tell its held-out runs from in-sample "
                             "ones; run it with --protocol kfold (protocol='kfold' in Python), which fits it per fold, "
                             f"or give it {TRAINED_ON_ATTR} = the task names it was trained on (() while unfitted)")
        if name not in transfer and declares_itself_unfitted(agent, ctx.suite):  # its runs would be stored as failed
            raise ValueError(f"agent {name!r} records no training tasks (its trained_on is empty), so it cannot play "
                             "before it is fitted: run it with --protocol kfold (protocol='kfold' in Python), which "
                             "fits it per fold and scores it on held-out tasks; an agent loaded from a file must record "
                             "the tasks it was trained on")
        fingerprint = getattr(agent, "fingerprint", None)
        if isinstance(fingerprint, str):
            fingerprints[name] = fingerprint
        else:
            identities[name] = agent_identity(agent, spec)
            # a spec string's record before identities named the class (directories of 2026-11-27, 11:00-12:00), and
            # every record before they held the user's code
            earlier[name] = ((f"{IDENTITY_PREFIX}spec {spec}",) if isinstance(spec, str) else ()) + (
                identity_without_code(agent),)
    return transfer, fingerprints, identities, earlier, declared


def agent_identity(agent: Any, spec: AgentSpec | None = None) -> str:
    """What a label names, for an agent that plays from no file: the class and ``name`` of the agent its spec or
    factory builds (one identity for ``--agents random`` and ``{"random": RandomSearch}``, so a directory the CLI wrote
    resumes from Python), and a hash of the user's own code behind the agent and its ``spec``
    (:func:`hpo_gym.user_code.users_code_fingerprint`: an edited ``my_agents.py`` is another agent). Recorded with the
    file fingerprints (:meth:`ResultStore.check_agent_files`), so a label reused for another agent (``{"mine":
    "random"}``, then ``{"mine": "tpe"}``) or for edited code is refused instead of handed the earlier agent's stored
    runs. Other settings (a factory's arguments beyond the agent's ``name``) are not compared (they need not print the
    same way twice): give an agent with other settings another label."""
    code = users_code_fingerprint(type(agent), spec)
    return identity_without_code(agent) + (f" code {code}" if code else "")


def identity_without_code(agent: Any) -> str:
    """:func:`agent_identity` as recorded before it held the user's code (directories of 2026-11-28 and before)."""
    kind = type(agent)
    own_name = getattr(agent, "name", None)
    name = f" {own_name}" if isinstance(own_name, str) else ""
    return f"{IDENTITY_PREFIX}{kind.__module__}.{kind.__qualname__}{name}"


def _mark_declared_in_sample(df: pd.DataFrame, declared: Mapping[str, frozenset[str]]) -> pd.DataFrame:
    """``df`` with the rows of every agent's declared training tasks marked ``in_sample``, stored runs included.

    Why: a stored run keeps the flag of the code that ran it, and that code may have missed a declaration (OpenML task
    ids in ``trained_on`` matched no task name before 2026-11-27), so a rerun into the same directory would report
    those in-sample runs as held-out. Flags are only added here, never removed."""
    marks = [(df["agent"] == name) & df["task"].isin(tasks) for name, tasks in declared.items() if tasks]
    if not marks or df.empty:
        return df
    df["in_sample"] = df["in_sample"].astype(bool) | np.logical_or.reduce(marks)
    return df


def _env_kwargs(env_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """``env_kwargs`` as a dict; ``ValueError`` for a non-mapping or for a key that run_benchmark sets itself
    (``gym.make`` would get it twice), naming the run_benchmark argument to use instead."""
    if env_kwargs is None:
        return {}
    if not isinstance(env_kwargs, Mapping):
        raise ValueError(f"env_kwargs must be a dict of gym.make keyword arguments, e.g. {{'noise': True}}; "
                         f"got {env_kwargs!r}")
    if "max_episode_steps" in env_kwargs:  # gym.make's TimeLimit: runs shorter than the budget, stored as finished
        raise ValueError("env_kwargs must not set 'max_episode_steps': an episode is budget evaluations long (use "
                         "run_benchmark's budget= argument)")
    clash = [k for k in RUNNER_ENV_KWARGS if k in env_kwargs]
    if clash:
        fixes = ", ".join(f"{k!r} (use run_benchmark's {RUNNER_ENV_KWARGS[k]}= argument)" for k in clash)
        raise ValueError(f"env_kwargs must not set {fixes}: run_benchmark sets these for every run")
    if env_kwargs.get("reward", "score") in ("regret", "improvement"):  # rewards computed from the task's oracle
        raise ValueError(f"env_kwargs reward={env_kwargs['reward']!r} hands the agent the task's oracle, which no HPO "
                         "method knows ('regret': its normalized regret, two steps give the best and worst score; "
                         "'improvement': the first step's gain over the worst score); benchmarks reward the score "
                         "(the default): leave reward out. The stored runs record the regret either way")
    if env_kwargs.get("action_type", "box") != "box":  # every run would fail at its first step, stored as failed
        raise ValueError(f"env_kwargs action_type={env_kwargs['action_type']!r}: agents propose a Box action (a point of "
                         "the unit cube, agents.base.Agent), so benchmarks run action_type='box'; leave it out")
    return dict(env_kwargs)


def _check_env(ctx: _Context, tasks: Sequence[str]) -> None:
    """Make (and close) an env with ``ctx.env_kwargs`` for the first suite task and for every user objective, so the
    env's own check of them ({'reward': 'regrett'}; a ``metric`` that ``objective=`` refuses) raises before the
    manifest records them: a recorded typo would refuse the corrected rerun as other settings, and a check that
    fails only on a later task would leave the earlier tasks' runs stored under settings nobody meant."""
    if not ctx.env_kwargs:
        return
    suite_tasks = [t for t in tasks if t not in ctx.objectives]
    for task in suite_tasks[:1] + [t for t in tasks if t in ctx.objectives]:
        try:
            ctx.make_env(task).close()
        except (TypeError, ValueError) as e:
            raise ValueError(f"env_kwargs={ctx.env_kwargs!r} refused by {ENV_ID} on task {task!r}: {e}") from e


#: The largest seed count a benchmark takes: each seed is one run per agent and task, and a million is already days.
MAX_SEED_COUNT = 1_000_000


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    """``seeds`` as a list of distinct ints; ``ValueError`` with the fix for none, a bad one or a repeat (see run_benchmark).

    Refused rather than converted: ``"10"`` would be the seeds 1 and 0, ``1.5`` and ``True`` seed 1, and a
    negative seed fails every run in ``env.reset``; above :data:`MAX_SEED` Optuna's samplers fail every run and from
    2**63 the stored seed column turns to floats that merge neighbouring seeds.
    """
    if is_whole_number(seeds):
        if seeds > MAX_SEED_COUNT:  # the list itself would take gigabytes before any run (found in review)
            raise ValueError(f"seeds={seeds}: at most {MAX_SEED_COUNT:,} seeds per agent and task (each is one run of "
                             "the whole budget); pass a smaller count, or a list of the seeds to run")
        seed_list = list(range(seeds))
    else:
        seed_list = list(seeds) if _is_list(seeds) else []
    if not seed_list or not all(is_whole_number(s) and 0 <= s <= MAX_SEED for s in seed_list):
        raise ValueError(f"seeds must be a count >= 1 or a list of integer seeds in [0, 2**32 - 1], e.g. seeds=10 or "
                         f"seeds=[0, 1, 2]; got {seeds!r}")
    seed_list = [int(s) for s in seed_list]
    twice = repeated(seed_list)
    if twice:
        raise ValueError(f"seed(s) {twice} given more than once in {seed_list}; a seed names one run, so a repeat "
                         f"would be counted twice: pass distinct seeds, e.g. {sorted(set(seed_list))}")
    return seed_list


def _select_tasks(only_tasks: Sequence[str | int] | None, task_names: list[str], suite: str) -> list[str]:
    """The tasks to run: ``task_names`` filtered by ``only_tasks`` (names or OpenML task ids of ``suite``).

    An empty filter is refused: it would run nothing and print an empty report as if that were a result.
    """
    if only_tasks is None:
        return list(task_names)
    if not _is_list(only_tasks):
        raise ValueError(f"only_tasks must be a list of task names or OpenML task ids, e.g. ['credit_g']; got {only_tasks!r}")
    entries = list(only_tasks)
    if not entries:
        raise ValueError("no tasks to run: the task list (--tasks) is empty; name tasks, e.g. --tasks credit_g,car "
                         "(or OpenML task ids), or leave --tasks out to run every task")
    wanted = {entry: _matching_tasks(entry, task_names, suite) for entry in entries}
    unknown = sorted(str(e) for e, names in wanted.items() if not names)
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; valid: {task_names} (or their OpenML task ids)")
    by_task: dict[str, list[str]] = {}
    for entry, names in wanted.items():
        for name in names:
            by_task.setdefault(name, []).append(str(entry))
    twice = {name: given for name, given in by_task.items() if len(given) > 1}
    if twice:  # `--tasks kc1,3917` (3917 is kc1's OpenML id) ran kc1 once without a word
        named = "; ".join(f"{name} by {' and '.join(given)}" for name, given in twice.items())
        raise ValueError(f"task(s) selected more than once ({named}); list each task once")
    return [t for t in task_names if t in by_task]


def _matching_tasks(entry: str | int, task_names: list[str], suite: str) -> list[str]:
    """The ``task_names`` that ``entry`` selects: itself, or every task of the suite with that OpenML task id (in the
    ``grpoformer-paper`` suite one id is six tasks, one per model family, so a filter by id keeps all six)."""
    if entry in task_names:
        return [str(entry)]
    key = as_task_id(entry)
    tasks = get_suite(suite).tasks
    return [name for name in task_names if key is not None and tasks.get(name) == key]


def _resolve_tasks(tasks: Sequence[TaskSpec] | None, suite: str) -> tuple[list[str], dict[str, Objective]]:
    """Task names (in order) and the user objectives among them; ``ValueError`` for none, a repeat or a bad entry."""
    if tasks is None:
        return list(get_suite(suite).tasks), {}
    if not _is_list(tasks):  # a bare "credit_g" would be the tasks 'c', 'r', ...
        raise ValueError(f"tasks must be a list of task names, OpenML task ids or Objectives, e.g. ['credit_g']; "
                         f"got {tasks!r}")
    tasks = list(tasks)
    if not tasks:
        raise ValueError(f"no tasks given; pass task names of suite {suite!r}, Objectives, or tasks=None for every task")
    names: list[str] = []
    objectives: dict[str, Objective] = {}
    for t in tasks:
        if isinstance(t, (str, int, np.integer)) and not isinstance(t, bool):  # a name or an OpenML task id
            name = get_suite(suite).task_name(t)
        elif isinstance(t, Objective):
            name = t.name
            objectives[name] = t
        else:
            raise ValueError(f"a task must be a task name or OpenML task id of suite {suite!r}, or an hpo_gym Objective; "
                             f"got {type(t).__name__}")
        if name in names:
            raise ValueError(f"task {name!r} appears twice; give each objective a distinct name")
        names.append(name)
    return names, objectives


def _in_flight_note(stored: bool, one: bool, fits: bool = False) -> str:
    """What the first Ctrl-C says of the run(s) in flight: stored with an ``out`` directory, else only reported. With
    ``fits`` (k-fold transfer agents among the work) it also says what happens to a fold's fit in flight: it finishes
    and is cached, and the fold's runs wait for the rerun (the note promised runs, and "0 runs stored" followed)."""
    run, it = ("run", "it") if one else ("runs", "them")
    fate = "which " + ("is" if one else "are") + " stored" if stored else "then stop (without --out nothing is kept)"
    fit = ("; a fold's fit in flight finishes and is cached in DIR/fitted, and its runs wait for the rerun" if fits and
           stored else "")
    return f"interrupted: finishing the {run} in flight, {fate}{fit} (Ctrl-C again to abandon {it})"


@contextmanager
def _finish_run_on_interrupt(bar: Any, stored: bool = True, fits: bool = False) -> Iterator[threading.Event]:
    """Serial runs: the first Ctrl-C lets the run in flight finish and be stored, then no new run starts (the event,
    which :func:`_execute` reads as ``_STOP``, is set); a second Ctrl-C abandons it. As a pool does for its workers.
    Outside the main thread, where no signal handler can be installed, Ctrl-C interrupts at once."""
    global _STOP
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def first_interrupt(signum: int, frame: Any) -> None:
        stop.set()
        bar.write(_in_flight_note(stored, one=True, fits=fits), file=sys.stderr)
        signal.signal(signal.SIGINT, previous)  # the second Ctrl-C raises KeyboardInterrupt as usual

    previous = signal.signal(signal.SIGINT, first_interrupt) or signal.default_int_handler  # None: not set from Python
    _STOP = stop
    try:
        yield stop
    finally:
        _STOP = None
        signal.signal(signal.SIGINT, previous)


#: How long a pool worker that got SIGTERM waits to learn that the benchmark process took it as Ctrl-C.
SIGTERM_RELAY_SECONDS = 1.0


@contextmanager
def _relay_sigterm(relayed: Any) -> Iterator[None]:
    """While a pool runs: when this process handles SIGTERM itself (``hpo-gym`` takes it as Ctrl-C, see
    :func:`hpo_gym.cli.sigterm_as_ctrl_c`), set ``relayed`` first, so that the workers, which got the same signal from
    ``timeout`` or ``scancel`` (they signal the whole group), finish and store their runs in flight instead of dying
    with them (found in review: under ``--jobs 2`` the group's SIGTERM lost every run in flight). Where SIGTERM ends
    this process (its default) nothing is relayed, and the workers end too."""
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        yield
        return

    def relay(signum: int, frame: Any) -> None:
        relayed.set()
        previous(signum, frame)

    with handling(signal.SIGTERM, relay):
        yield


def _count_ticks(ticks: Any, bar: Any, pool_done: threading.Event) -> threading.Thread:
    """Advance ``bar`` once per tick (a finished run) that a worker puts on ``ticks``, in a thread of its own, until
    ``pool_done`` is set and the queue is empty.

    Why a thread: Ctrl-C raises ``KeyboardInterrupt`` in the main thread at whatever bytecode it is running, and one that
    lands inside a queue read (after the message's length is read, before its body) leaves the pipe mid-message, so
    the next read fails (``EOFError: Ran out of input``, seen in CI) or blocks. Signals never raise in other threads.
    """
    def count() -> None:
        while True:
            try:
                ticks.get(timeout=0.05)
            except queue.Empty:
                if pool_done.is_set():  # the workers have exited: their ticks are all in the pipe, and read
                    return
                continue
            except (OSError, ValueError, EOFError):  # the queue was closed under it (its join timed out): stop quietly
                return
            bar.update(1)

    thread = threading.Thread(target=count, name="hpo-gym-bench-ticks", daemon=True)
    thread.start()
    return thread


def _abandon_runs(pool: ProcessPoolExecutor, abort: Any) -> None:
    """The second Ctrl-C: the workers' watchdogs see ``abort`` and exit without storing their runs in flight."""
    abort.set()
    pool.shutdown(wait=True)


def _dispatch(units: list[_Unit], ctx: _Context, jobs: int, total: int, n_done: int, progress: bool) -> list[pd.DataFrame]:
    """Run the units serially or on a process pool; the bar advances once per finished run.

    On an exception in this process (Ctrl-C's ``KeyboardInterrupt``, a worker that died:
    ``BrokenProcessPool``) the pool is shut down once, with its queued runs cancelled and the workers told to
    start no new run, after the runs in flight have finished and been stored; then the exception propagates, and
    rerunning the same benchmark resumes from the stored runs.
    """
    global _CTX, _TICK
    frames: list[pd.DataFrame] = []
    desc = f"bench (resumed: {n_done} stored before)" if n_done else "bench"  # else a rerun's full bar looks run
    bar = tqdm(total=total, initial=n_done, desc=desc, unit="run", disable=not progress, dynamic_ncols=True)
    try:
        if jobs <= 1 or len(units) <= 1:
            _CTX, _TICK = ctx, (lambda: bar.update(1))
            try:
                fits = any(unit.heldout for unit in units)
                with _finish_run_on_interrupt(bar, stored=ctx.out is not None, fits=fits) as interrupted, \
                        prints_above_the_bar(progress):
                    for unit in units:
                        frames.extend(_execute(unit))
                        if interrupted.is_set():
                            break
                if interrupted.is_set():
                    raise KeyboardInterrupt
            finally:
                _TICK = None
            return frames
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        mp_ctx = mp.get_context(method)
        ticks = mp_ctx.Queue()
        pool_done = threading.Event()
        counter = _count_ticks(ticks, bar, pool_done)
        stop, abort, sigterm_relayed = mp_ctx.Event(), mp_ctx.Event(), mp_ctx.Event()
        # no `with`: see hpo_gym.parallel.stop_pool, which shuts it down on an exception
        jobs = min(jobs, len(units))  # a fork-started pool starts every worker at once: --jobs 1000 forked 1000
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp_ctx, initializer=_init_worker,
                                   initargs=(ctx, os.getpid(), ticks, stop, abort, sigterm_relayed))
        pending: dict[Any, _Unit] = {}
        with _relay_sigterm(sigterm_relayed):  # the group's SIGTERM: the workers finish their runs, as for Ctrl-C
            try:
                # a window of units in flight, refilled as they finish: wait() walks every pending future, so submitting
                # all units at once cost O(units^2) in this process (67 s of 97 for 8,000 runs with 2 jobs)
                queued = iter(units)
                window = IN_FLIGHT_PER_JOB * jobs
                for unit in itertools.islice(queued, window):
                    pending[pool.submit(_execute, unit)] = unit
                while pending:
                    done, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                    for fut in done:
                        del pending[fut]
                        frames.extend(fut.result())
                    for unit in itertools.islice(queued, window - len(pending)):
                        pending[pool.submit(_execute, unit)] = unit
            except BaseException as e:
                # the runs in flight finish and are stored; a second Ctrl-C sets `abort`, which ends them (lost, not stored)
                stop_pool(pool, pending, stop, partial(bar.write, file=sys.stderr),
                          _in_flight_note(ctx.out is not None, one=False, fits=any(u.heldout for u in pending.values())),
                          partial(_abandon_runs, pool, abort), e)
                raise
            finally:
                pool.shutdown(wait=True)  # a no-op after the shutdowns above; the workers have exited and sent every tick
                pool_done.set()
                counter.join(timeout=10.0)  # every tick is counted: the bar agrees with the count of stored runs printed next
                ticks.close()
        return frames
    finally:
        bar.close()
