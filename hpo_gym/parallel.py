"""Map a function over independent jobs: in this process for one job at a time, else on a process pool.

Why not always a pool: a pool of one worker is a fork for nothing, and a fork can break the work itself. A
process that has run a CUDA backward pass holds autograd's device threads, and a forked child that then trains
(calls ``backward``) stops with "Unable to handle autograd's threading in combination with fork-based
multiprocessing" (seen on a GPU machine when a test process had trained on CUDA before the inner-selection script
ran). With ``jobs=1`` nothing is forked, so that path works wherever the caller's process has been.

Ctrl-C follows the benchmark runner's rule: the jobs in flight finish (the scripts that use this cache each job's
result, so finished work is kept), no queued job starts, and a second Ctrl-C ends the jobs in flight as well.
``ProcessPoolExecutor.map`` did the opposite: the terminal's SIGINT killed the running jobs, and the jobs already
handed to the pool's call queue then started and were waited for (found in review).
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from functools import partial
from typing import Any, TypeVar

from tqdm import tqdm

Job = TypeVar("Job")
Result = TypeVar("Result")

_STOP: Any = None  # a worker's multiprocessing Event: set on Ctrl-C, so that a queued job does not start


def _init_worker(stop: Any) -> None:
    """A worker ignores the terminal's Ctrl-C (its parent decides) and starts no job once ``stop`` is set."""
    global _STOP
    _STOP = stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_unless_stopped(fn: Callable[[Job], Result], job: Job) -> Result | None:
    return None if _STOP is not None and _STOP.is_set() else fn(job)


def stop_pool(pool: ProcessPoolExecutor, submitted: Iterable[Future], stop: Any, write: Callable[[str], Any],
              interrupted_note: str, abandon: Callable[[], None], error: BaseException) -> None:
    """Shut ``pool`` down after ``error`` raised in this process, the rule of the benchmark runner and :func:`map_jobs`:
    ``stop`` (an Event the workers read before each job) is set so that the jobs already in the pool's call queue do
    not start, queued futures are cancelled, and the jobs in flight finish (their work is kept). On Ctrl-C with jobs
    in flight, ``interrupted_note`` is written first; a second Ctrl-C while waiting calls ``abandon`` (which ends the
    jobs in flight) and propagates. The caller re-raises ``error`` afterwards.

    Why ``cancel_futures`` here and no ``with pool``: the context manager's exit calls ``shutdown(wait=True)``, which
    resets the cancellation before the pool's manager thread acts on it, so every queued job would still run."""
    stop.set()
    if isinstance(error, KeyboardInterrupt) and any(f.running() for f in submitted):
        write(interrupted_note)
    try:
        pool.shutdown(wait=True, cancel_futures=True)
    except KeyboardInterrupt:  # Ctrl-C again while waiting: end the jobs in flight as well (lost)
        abandon()
        raise


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    for process in list((pool._processes or {}).values()):  # no public terminate before Python 3.14
        process.terminate()


def map_jobs(fn: Callable[[Job], Result], jobs: Iterable[Job], workers: int, desc: str = "jobs",
             progress: bool = True) -> list[Result]:
    """``[fn(job) for job in jobs]`` in order, on ``workers`` processes (in this process when ``workers`` is 1),
    with a progress bar named ``desc``. ``fn`` must be picklable (a module-level function) when ``workers`` > 1.

    The first job that raises ends the map with its exception, after the jobs in flight have finished; so does a
    Ctrl-C (a second one ends them too)."""
    if workers < 1:
        raise ValueError(f"workers={workers}: give a whole number >= 1 (1 runs the jobs in this process)")
    jobs = list(jobs)
    bar = tqdm(total=len(jobs), desc=desc, unit="job", disable=not progress, dynamic_ncols=True)
    if workers == 1 or len(jobs) <= 1:
        with bar:
            results = []
            for job in jobs:
                results.append(fn(job))
                bar.update(1)
            return results
    context = mp.get_context()
    stop = context.Event()
    pool = ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context, initializer=_init_worker,
                               initargs=(stop,))
    futures: list[Future] = []
    try:  # the submissions too: a Ctrl-C among them must stop the pool as one among the jobs does
        futures += [pool.submit(_run_unless_stopped, fn, job) for job in jobs]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                fut.result()  # the first failure ends the map now, not after every other job has run
            bar.update(len(done))
        return [fut.result() for fut in futures]
    except BaseException as e:
        stop_pool(pool, futures, stop, partial(bar.write, file=sys.stderr),
                  f"{desc}: interrupted; waiting for the jobs in flight to finish (Ctrl-C again to end them)",
                  partial(_terminate_workers, pool), e)
        raise
    finally:
        pool.shutdown(wait=True)
        bar.close()

