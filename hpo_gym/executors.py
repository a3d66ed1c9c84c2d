"""Executors: run a batch of independent jobs (model fits) serially, on local processes, or on Ray.

All executors share one contract, :meth:`Executor.run`::

    outcomes = executor.run(fn, jobs, shared=(key, obj), time_limit=60, on_outcome=None)

``fn(obj, job)`` is a picklable module-level function; ``obj`` is data shared by the whole batch
(the training arrays), shipped once per worker (``key`` names it so workers keep it between
batches) or once per batch to Ray's object store. Each job gets an :class:`Outcome`: its value, or
the error (an exception's text, ``"timeout ..."``, or a worker crash). A job never raises here, so
one bad fit cannot end an HPO run. ``on_outcome(i, outcome)`` is called as each job finishes, so a caller can
keep finished work (cache it) even when the batch is interrupted (Ctrl-C) before it returns. An interrupted
``run`` kills the workers whose jobs were still running before it re-raises: a later batch never reads an
abandoned job's reply as its own. ``Outcome.transient`` tells the job's own exception (the same job
fails again: a result worth caching) from a failure of the machinery around it (a timeout, a worker
that died, a lost Ray task, a transport error), which a rerun may not repeat.

* ``"inline"``: in this process. Simplest, but a time limit cannot stop a running fit.
* ``"serial"`` (default for live training): one job at a time in a worker process, so a fit that
  exceeds the time limit is killed and the worker replaced.
* ``"process"``: ``n_workers`` worker processes (default: the number of cores).
* ``"ray"``: Ray tasks. ``ray.init(address=...)`` joins an existing cluster (``address="auto"`` or
  ``"ray://host:10001"``); without an address a local Ray instance is started. At most as many jobs
  as the cluster has CPUs run at once (each submitted only when a CPU is free), so a job's time limit counts from
  its submission, which includes starting a Ray worker.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing as mp
import multiprocessing.forkserver
import numbers
import os
import re
import signal
import sys
import threading
import time
import traceback
import types
import warnings
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_connections
from typing import Any

from hpo_gym.episode import is_whole_number

EXECUTORS = ("inline", "serial", "process", "ray")
#: Modules the forkserver imports once, so a fresh worker (e.g. after a timeout) does not spend its
#: time limit importing scikit-learn. Missing optional ones (xgboost) are skipped by multiprocessing.
PRELOAD = ("hpo_gym.live.objective", "sklearn.ensemble", "sklearn.svm", "sklearn.linear_model", "sklearn.neural_network",
           "sklearn.compose", "sklearn.pipeline", "sklearn.preprocessing", "sklearn.impute", "sklearn.metrics",
           "sklearn.model_selection", "threadpoolctl", "xgboost")
#: Exceptions of a job that come from the machine rather than the job (so its outcome is ``transient``).
ENVIRONMENT_ERRORS = (ImportError, MemoryError, OSError)
#: Workers keep this many shared objects (datasets) between batches.
SHARED_SLOTS = 4


#: ``on_outcome(job_index, outcome)``: told of each job as it finishes (see the module doc).
OutcomeCallback = Callable[[int, "Outcome"], None]


@dataclass(frozen=True)
class Outcome:
    """Result of one job: ``value`` when it succeeded, else ``error``; ``seconds`` of wall time.

    ``transient`` is true when the error is not the job's own exception but the executor's (timeout, dead
    worker, lost task, transport): callers must not cache such an outcome as the job's result.
    """

    value: Any = None
    error: str | None = None
    seconds: float = 0.0
    transient: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _call(fn: Callable, shared: Any, job: Any) -> Outcome:
    start = time.perf_counter()
    try:
        value = fn(shared, job)
    except Exception as e:  # noqa: BLE001  (every failure becomes an Outcome)
        # a missing module, memory or a disk error says something about this machine now, not about the job
        return Outcome(error=f"{type(e).__name__}: {e}", seconds=time.perf_counter() - start,
                       transient=isinstance(e, ENVIRONMENT_ERRORS))
    return Outcome(value=value, seconds=time.perf_counter() - start)


def checked_time_limit(time_limit: Any) -> float | None:
    """``time_limit`` as seconds (``None``: no limit), refused by name when it is not a finite number > 0: a NaN limit
    made the process executor spin at full CPU with no limit, and a negative one timed every job out at once (found in
    review). One rule for the executors and for ``LiveObjective``, which checks it when it is made."""
    if time_limit is not None and not (isinstance(time_limit, numbers.Real) and not isinstance(time_limit, bool)
                                       and 0 < float(time_limit) < float("inf")):
        raise ValueError(f"time_limit={time_limit!r}: give the seconds a job may run, a number > 0, or None for no limit")
    return None if time_limit is None else float(time_limit)


def check_run_arguments(shared: Any, time_limit: Any) -> None:
    """``Executor.run``'s refusals, named: the time limit's (:func:`checked_time_limit`), and a shared object keyed
    ``None``, which reached the process executor's jobs as ``None`` (found in review)."""
    checked_time_limit(time_limit)
    if shared is not None and (not isinstance(shared, tuple) or len(shared) != 2 or shared[0] is None):
        raise ValueError(f"shared must be a (key, object) pair whose key names the object (hashable, not None), got "
                         f"{type(shared).__name__}{'' if not isinstance(shared, tuple) else f' with key {shared[0]!r}'}")


class Executor:
    """Base class: ``run`` a batch, ``close`` to free workers (also done at interpreter exit)."""

    name = "executor"
    n_workers = 1

    def run(self, fn: Callable[[Any, Any], Any], jobs: Sequence[Any], shared: tuple[Hashable, Any] | None = None,
            time_limit: float | None = None, on_outcome: OutcomeCallback | None = None) -> list[Outcome]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __deepcopy__(self, memo: dict) -> Executor:
        """The executor itself: it is a handle on workers (processes, a Ray cluster) that copies of what uses it, such
        as an env's deep copy, share, rather than a value to duplicate; a copy would start a second pool of workers
        that lives until the interpreter exits."""
        return self

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_workers={self.n_workers})"


class InlineExecutor(Executor):
    """Runs jobs in the calling process, one after the other; ``time_limit`` is not enforced."""

    name = "inline"

    def run(self, fn, jobs, shared=None, time_limit=None, on_outcome=None):
        check_run_arguments(shared, time_limit)
        obj = shared[1] if shared is not None else None
        outcomes = []
        for i, job in enumerate(jobs):
            outcomes.append(_call(fn, obj, job))
            if on_outcome is not None:
                on_outcome(i, outcomes[-1])
        return outcomes


# -- local worker processes -----------------------------------------------------------------------
#: Seconds between a worker's checks that the process which started it is still alive.
ORPHAN_CHECK_SECONDS = 1.0


def _exit_with(owner_pid: int) -> None:
    """End this worker when process ``owner_pid`` is gone. The parent enforces time limits and reads the results, and
    a SIGKILLed or SIGTERMed parent runs no ``atexit``: its workers (children of the forkserver, not of the parent)
    kept fitting, unlimited, for as long as a 5,000-tree forest takes. A daemon thread notices within a second, also
    while the fit holds the main thread."""
    import threading

    def watch() -> None:
        while True:
            time.sleep(ORPHAN_CHECK_SECONDS)
            try:
                os.kill(owner_pid, 0)
            except (ProcessLookupError, PermissionError):  # gone (PermissionError: the pid is another user's now)
                os._exit(1)
            if _is_zombie(owner_pid):  # dead, not yet reaped by its own parent: kill(pid, 0) still succeeds
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="hpo-gym-orphan-check").start()


def _is_zombie(pid: int) -> bool:
    """Whether ``pid`` has exited but not been reaped (Linux ``/proc``; False where there is none)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] == b"Z"  # the state field follows "(comm)"
    except (OSError, IndexError):
        return False


def _forget_the_parents_forkserver() -> None:
    """After a fork: drop the parent's forkserver from this child's copy of multiprocessing's state, so the child's
    first forkserver worker starts a forkserver of its own. Why: the inherited record points at the parent's server,
    and checking on it (``os.waitpid``, not this process's child) raised ``ChildProcessError``; every live fit of a
    forked benchmark worker (``run_benchmark(jobs=2)`` after any live fit in the calling process) failed. Uses
    CPython's ``multiprocessing.forkserver`` internals, and does nothing where they differ."""
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    if server is None or not all(hasattr(server, a) for a in ("_forkserver_pid", "_forkserver_address",
                                                              "_forkserver_alive_fd")):
        return
    if server._forkserver_alive_fd is not None:
        with contextlib.suppress(OSError):
            os.close(server._forkserver_alive_fd)  # this child's copy; the parent's stays open
    server._forkserver_pid = server._forkserver_address = server._forkserver_alive_fd = None


os.register_at_fork(after_in_child=_forget_the_parents_forkserver)

#: Set in a process forked while Ray was running in its parent: that Ray connection is the parent's, and a call on it
#: from the child blocked forever (``ray.cluster_resources()``: an async vector env of live envs after a Ray fit).
_RAY_OF_THE_PARENT = False


def _note_the_parents_ray() -> None:
    global _RAY_OF_THE_PARENT
    ray = sys.modules.get("ray")
    _RAY_OF_THE_PARENT = bool(ray is not None and getattr(ray, "is_initialized", lambda: False)())


os.register_at_fork(after_in_child=_note_the_parents_ray)


def _worker_main(conn, owner_pid: int | None = None) -> None:
    """Loop of a worker process: keep shared objects by key, run jobs, send one Outcome per message.

    Ctrl-C is ignored here: it reaches the terminal's whole process group, and a fit interrupted by it was sent back
    as a failure with the worst score, which the benchmark stored as part of the run it finishes. The owner stops
    its workers itself (it replaces those in flight on an interrupt, and closes them all at exit)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if owner_pid is not None:
        _exit_with(owner_pid)
    store: OrderedDict = OrderedDict()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        except Exception as e:  # noqa: BLE001  (e.g. a job function defined in __main__ cannot be unpickled)
            conn.send(Outcome(error=f"the worker could not unpickle the job ({type(e).__name__}: {e}); job functions "
                                    "must live in an importable module, not in __main__", transient=True))
            continue
        if msg is None:
            return
        _, fn, key, has_shared, shared, job = msg
        if has_shared:
            store[key] = shared
            while len(store) > SHARED_SLOTS:
                store.popitem(last=False)
        if key in store:
            store.move_to_end(key)  # same LRU order as the parent's record of this worker (_Worker.keys)
        elif key is not None:  # its delivery could not be unpickled: fn(None, job) failed, and was cached as the job's own
            conn.send(Outcome(error=MISSING_SHARED, transient=True))
            continue
        try:
            outcome = _call(fn, store.get(key) if key is not None else None, job)
        except BaseException:  # noqa: BLE001
            outcome = Outcome(error=traceback.format_exc(limit=2), transient=True)  # e.g. SystemExit, KeyboardInterrupt
        try:
            conn.send(outcome)
        except Exception as e:  # noqa: BLE001  (unpicklable result)
            conn.send(Outcome(error=f"result could not be sent back: {type(e).__name__}: {e}", transient=True))


@contextlib.contextmanager
def _without_main_module():
    """Hide ``__main__`` while a worker starts, so spawn/forkserver does not re-run the user's script.

    Without this, a script that makes a live env at top level (no ``if __name__ == "__main__":``
    guard) would be re-executed by every worker. Job functions must therefore live in an importable
    module (like :func:`hpo_gym.live.objective.fit_and_score`), not in ``__main__``.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


#: A worker's reply when it holds no copy of a job's shared data (the message that carried it failed to unpickle):
#: the parent then ships the data again with the same job.
MISSING_SHARED = "the worker holds no copy of the job's shared data"


class _Worker:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, os.getpid()), daemon=True, name="hpo-gym-worker")
        with _without_main_module():
            self.process.start()
        child.close()
        self.keys: OrderedDict = OrderedDict()  # the shared objects this worker holds, in its LRU order

    def note_shared(self, key: Hashable, shipped: bool) -> None:
        self.keys[key] = True
        self.keys.move_to_end(key)
        while shipped and len(self.keys) > SHARED_SLOTS:
            self.keys.popitem(last=False)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


#: The process executors to close at interpreter exit, held weakly: ``atexit.register(self.close)`` held every one,
#: so each pickled copy (one per pickle round trip of a live objective given an executor) kept its workers running
#: until exit; a collected executor's workers see their pipe close and exit on their own.
_OPEN_PROCESS_EXECUTORS: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_open_process_executors() -> None:
    for executor in list(_OPEN_PROCESS_EXECUTORS):
        executor.close()


class ProcessExecutor(Executor):
    """``n_workers`` persistent worker processes; jobs over the time limit are killed.

    Workers start on first use from a ``forkserver`` that has imported scikit-learn once, so a
    replacement worker (after a timeout) starts in milliseconds, and no threads of this process are
    inherited by a ``fork``.
    """

    name = "process"

    def __init__(self, n_workers: int | None = None, start_method: str = "forkserver",
                 preload: Sequence[str] = PRELOAD):
        self.n_workers = max(1, int(n_workers or os.cpu_count() or 1))
        if start_method not in mp.get_all_start_methods():
            start_method = "spawn"
        self._ctx = mp.get_context(start_method)
        if start_method == "forkserver":
            self._ctx.set_forkserver_preload(list(preload))
        self._workers: list[_Worker] = []
        self._pid = os.getpid()
        # one batch at a time: the live objectives of a process share one executor (live.objective.shared_executor),
        # and two threads' jobs on one worker's pipe read each other's replies (and cached them as their scores)
        self._lock = threading.Lock()
        _OPEN_PROCESS_EXECUTORS.add(self)

    def __getstate__(self) -> dict[str, Any]:
        """A pickled copy (another process's, e.g. an async vector env worker's) starts without workers, which start on
        its first run: a worker's pipe and process cannot travel, and a half-copied pipe closes the original's when it
        is collected. (``copy.deepcopy`` shares the executor instead: :meth:`Executor.__deepcopy__`.)"""
        state = {**self.__dict__, "_workers": []}  # __setstate__ sets _pid to the process that unpickles it
        del state["_lock"]  # a lock cannot travel; the copy gets its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()
        self._lock = threading.Lock()
        _OPEN_PROCESS_EXECUTORS.add(self)

    def _ensure_workers(self) -> None:
        if os.getpid() != self._pid:  # we were forked: the workers belong to the parent
            self._workers, self._pid = [], os.getpid()
        self._workers = [w for w in self._workers if w.process.is_alive()]
        while len(self._workers) < self.n_workers:
            self._workers.append(_Worker(self._ctx))

    def run(self, fn, jobs, shared=None, time_limit=None, on_outcome=None):
        check_run_arguments(shared, time_limit)
        jobs = list(jobs)
        if not jobs:
            return []
        with self._lock:
            self._ensure_workers()
            running: dict[_Worker, tuple[int, float]] = {}
            try:
                return self._run_batch(fn, jobs, shared, time_limit, on_outcome, running)
            except BaseException:  # Ctrl-C (or a callback's error): their replies would be read as the next batch's
                for worker in list(running):
                    self._replace(worker)
                raise

    def _run_batch(self, fn, jobs, shared, time_limit, on_outcome, running: dict[_Worker, tuple[int, float]]):
        outcomes: list[Outcome | None] = [None] * len(jobs)

        def finish(i: int, outcome: Outcome) -> None:
            outcomes[i] = outcome
            if on_outcome is not None:
                on_outcome(i, outcome)

        key = shared[0] if shared is not None else None
        pending = deque(range(len(jobs)))
        idle = list(self._workers)
        while pending or running:
            while pending and idle:
                worker, i = idle.pop(), pending.popleft()
                ship = shared is not None and key not in worker.keys  # data goes to a worker once
                running[worker] = (i, time.perf_counter())  # before sending: an interrupt mid-send must replace it
                try:
                    worker.conn.send(("run", fn, key, ship, shared[1] if ship else None, jobs[i]))
                except (OSError, EOFError) as e:
                    del running[worker]
                    finish(i, Outcome(error=f"worker process unavailable: {type(e).__name__}: {e}", transient=True))
                    idle.append(self._replace(worker))
                    continue
                except Exception as e:  # noqa: BLE001  (pickling fails before anything is written)
                    del running[worker]
                    finish(i, Outcome(error=f"the job could not be sent to a worker: {type(e).__name__}: {e}",
                                      transient=True))
                    idle.append(worker)
                    continue
                if shared is not None:
                    worker.note_shared(key, ship)
            if not running:
                continue
            timeout = None
            if time_limit is not None:
                now = time.perf_counter()
                timeout = max(0.0, min(start + time_limit - now for _, start in running.values()))
            ready = wait_connections([w.conn for w in running], timeout=timeout)
            by_conn = {w.conn: w for w in running}
            for conn in ready:
                worker = by_conn[conn]
                i, start = running[worker]  # popped only once its reply is read (see run's interrupt handling)
                try:
                    outcome = worker.conn.recv()  # = conn.recv(); wait() types conn as a Connection, socket or fd
                    del running[worker]
                    idle.append(worker)
                except (EOFError, OSError):
                    del running[worker]
                    worker.process.join(timeout=2)  # reap it, so the exit code is known
                    code = worker.process.exitcode
                    outcome = Outcome(error=f"worker process died (exit code {code}; out of memory or a crash "
                                            "in native code)", seconds=time.perf_counter() - start, transient=True)
                    idle.append(self._replace(worker))
                if outcome.transient and outcome.error == MISSING_SHARED and key in worker.keys:
                    del worker.keys[key]  # ship it again: a second failure to unpickle it is that job's own reply
                    pending.appendleft(i)
                    continue
                finish(i, outcome)
            if time_limit is not None:
                now = time.perf_counter()
                for worker, (i, start) in list(running.items()):
                    if now - start >= time_limit:
                        running.pop(worker)
                        idle.append(self._replace(worker))
                        finish(i, Outcome(error=f"timeout: still running after the time limit of {time_limit:g} s",
                                          seconds=now - start, transient=True))
        return outcomes  # type: ignore[return-value]

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        fresh = _Worker(self._ctx)
        self._workers = [fresh if w is worker else w for w in self._workers]
        return fresh

    def close(self) -> None:
        if os.getpid() != self._pid:
            self._workers = []
            return
        for w in self._workers:
            try:
                w.conn.send(None)
            except (OSError, EOFError, BrokenPipeError):
                pass
        for w in self._workers:
            w.process.join(timeout=2)
            w.kill()
        self._workers = []


class SerialExecutor(ProcessExecutor):
    """One job at a time in one worker process (so a time limit can stop a fit)."""

    name = "serial"

    def __init__(self, **kwargs: Any):
        kwargs.pop("n_workers", None)
        super().__init__(n_workers=1, **kwargs)


# -- Ray ----------------------------------------------------------------------------------------------
def _ray_job(fn, shared, job) -> Outcome:
    import warnings

    warnings.filterwarnings("ignore")
    return _call(fn, shared, job)


def _ray_error_text(error: BaseException, limit: int = 2000) -> str:
    """A Ray task's error as readable text: its first line alone was ``ray::_ray_job() (pid=...)``, which hid the
    cause (``No module named ...`` on the cluster's workers), and Ray colours its messages for a terminal."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    cause = next((line.strip() for line in reversed(lines) if re.match(r"^\w*(Error|Exception)\b", line.strip())), None)
    head = lines[0].strip() if lines else type(error).__name__
    return (f"{head}: {cause}" if cause and cause != head else head)[:limit]


class RayExecutor(Executor):
    """Jobs as Ray tasks, on a local Ray instance or an existing cluster (``address``).

    Args:
        address: ``None`` starts a local instance (``num_cpus`` CPUs); ``"auto"`` or
            ``"ray://host:10001"`` joins a running cluster. If Ray is already initialised it is reused.
        num_cpus: CPUs of the local instance (ignored when joining a cluster).
        init_kwargs: extra arguments for ``ray.init``.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, **init_kwargs: Any):
        try:
            import ray
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ImportError("executor='ray' needs Ray: pip install 'hpo-gym[ray]'") from e
        self._ray = ray
        self._owns = False
        if _RAY_OF_THE_PARENT:  # refused: waiting on the parent's connection hung with no time limit acting
            raise RuntimeError("executor='ray' in a process forked after Ray started in its parent (an async vector env "
                               "or run_benchmark(jobs > 1) after a Ray fit): the inherited Ray connection is the "
                               "parent's and hangs here; use vectorization_mode='sync' or jobs=1 (Ray already runs "
                               "the fits in parallel), or start Ray only inside the workers")
        self._settings = (address, num_cpus, dict(init_kwargs))
        self._closed = False
        self._start()

    def _start(self) -> None:
        """Join or start Ray as the constructor's arguments say (again after :meth:`close`: a closed shared executor
        is handed out again, and Ray then auto-started with its defaults, 2 CPUs where 1 was asked, found in review)."""
        ray = self._ray
        address, num_cpus, init_kwargs = self._settings
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            kwargs.update(init_kwargs)
            joins_cluster = address is not None or bool(os.environ.get("RAY_ADDRESS"))  # `ray job submit` sets it
            if not joins_cluster:
                kwargs["num_cpus"] = num_cpus or os.cpu_count()
            elif num_cpus is not None:  # Ray refuses num_cpus when joining a cluster, whose CPUs are its own
                warnings.warn(f"num_cpus={num_cpus} is ignored: Ray joins the cluster at "
                              f"{address or os.environ.get('RAY_ADDRESS')}, which has its own CPUs", RuntimeWarning,
                              stacklevel=3)
            ray.init(address=address, **kwargs)
            self._owns = True
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_ray_job)
        self.n_workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._shared_refs: OrderedDict = OrderedDict()

    def run(self, fn, jobs, shared=None, time_limit=None, on_outcome=None):
        check_run_arguments(shared, time_limit)
        ray = self._ray
        if self._closed:
            self._start()
            self._closed = False
        jobs = list(jobs)
        outcomes: list[Outcome | None] = [None] * len(jobs)
        ref = None
        if shared is not None:
            if shared[0] not in self._shared_refs:
                self._shared_refs[shared[0]] = ray.put(shared[1])
                while len(self._shared_refs) > SHARED_SLOTS:
                    self._shared_refs.popitem(last=False)
            ref = self._shared_refs[shared[0]]
        pending = deque(range(len(jobs)))
        running: dict[Any, tuple[int, float]] = {}
        try:
            self._run_all(fn, jobs, ref, pending, running, outcomes, time_limit, on_outcome)
        except BaseException:  # Ctrl-C: the fits in flight would go on unlimited, holding CPUs from the next batch
            for r in running:
                ray.cancel(r, force=True)
            raise
        return outcomes  # type: ignore[return-value]

    def _run_all(self, fn, jobs, ref, pending, running, outcomes, time_limit, on_outcome) -> None:
        """The scheduling loop of :meth:`run`: at most one task per CPU, each timed from its submission."""
        ray = self._ray
        while pending or running:
            while pending and len(running) < self.n_workers:
                i = pending.popleft()
                running[self._remote.remote(fn, ref, jobs[i])] = (i, time.perf_counter())
            timeout = None
            if time_limit is not None:
                timeout = max(0.0, min(s + time_limit for _, s in running.values()) - time.perf_counter())
            done, _ = ray.wait(list(running), num_returns=1, timeout=timeout)
            for r in done:
                i, start = running.pop(r)
                try:
                    outcomes[i] = ray.get(r)
                except Exception as e:  # noqa: BLE001  (worker crash, cancelled task)
                    outcomes[i] = Outcome(error=f"ray task failed: {type(e).__name__}: {_ray_error_text(e)}",
                                          seconds=time.perf_counter() - start, transient=True)
                if on_outcome is not None:
                    on_outcome(i, outcomes[i])
            if time_limit is not None:
                now = time.perf_counter()
                for r, (i, start) in list(running.items()):
                    if now - start >= time_limit:
                        running.pop(r)
                        ray.cancel(r, force=True)
                        outcomes[i] = Outcome(error=f"timeout: still running after the time limit of {time_limit:g} s",
                                              seconds=now - start, transient=True)
                        if on_outcome is not None:
                            on_outcome(i, outcomes[i])

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its settings, rebuilt by joining or starting Ray where it is unpickled: the Ray module it holds
        cannot be pickled, so an objective given a RayExecutor instance failed to copy with "cannot pickle 'module'
        object" (one given ``executor="ray"`` by name copied fine)."""
        return _rebuilt_ray_executor, (self._settings,)

    def close(self) -> None:
        self._shared_refs.clear()
        self._closed = True
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
            self._owns = False


def _rebuilt_ray_executor(settings: tuple[str | None, int | None, dict[str, Any]]) -> RayExecutor:
    address, num_cpus, init_kwargs = settings
    return RayExecutor(address, num_cpus, **init_kwargs)


def get_executor(spec: str | Executor | None = "serial", **options: Any) -> Executor:
    """An executor from its name (``inline``, ``serial``, ``process``, ``ray``) or pass one through.

    ``options``: ``n_workers`` for ``process``; ``address``, ``num_cpus`` (and other ``ray.init``
    arguments) for ``ray``.
    """
    if isinstance(spec, Executor):
        return spec
    name = spec or "serial"
    _check_options(name, options)
    if name in ("serial", "process") and mp.current_process().daemon:
        # e.g. inside gymnasium's AsyncVectorEnv workers, which may not start processes of their own
        warnings.warn(f"executor {name!r} cannot start worker processes inside a daemonic process; fits run in this "
                      "process and their time limit is not enforced", RuntimeWarning, stacklevel=2)
        return InlineExecutor()
    if name == "inline":
        return InlineExecutor()
    if name == "serial":
        return SerialExecutor()
    if name == "process":
        return ProcessExecutor(n_workers=options.get("n_workers"))
    if name == "ray":
        return RayExecutor(**options)
    raise ValueError(f"unknown executor {spec!r}; use one of {EXECUTORS} or an hpo_gym.executors.Executor")


def _check_options(name: str, options: dict[str, Any]) -> None:
    """Refuse options an executor would ignore (``n_wokers``, or ``n_workers`` for ``serial``) and worker counts that
    are no positive whole number (0 meant "all cores", -3 one worker, 2.7 two), rather than run otherwise than asked."""
    allowed = {"inline": set(), "serial": set(), "process": {"n_workers"}}.get(name)
    if allowed is not None:
        unknown = sorted(set(options) - allowed)
        if unknown:
            takes = f"takes only {sorted(allowed)}" if allowed else "takes no options"
            raise ValueError(f"executor {name!r} {takes}, got {unknown}; n_workers is for 'process', "
                             "address / num_cpus for 'ray'")
    if name == "ray" and "n_workers" in options:  # the rest of Ray's options go to ray.init, which names no fix
        raise ValueError("executor 'ray' takes num_cpus (the CPUs of a local Ray instance), not n_workers, which is "
                         "for 'process'")
    for key in ("n_workers", "num_cpus"):
        value = options.get(key)
        if value is not None and (not is_whole_number(value) or value < 1):
            raise ValueError(f"executor option {key} must be a whole number >= 1 (or left out), got {value!r}")
