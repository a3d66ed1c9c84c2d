"""Map a function over independent jobs: in this process for one job at a time, else on a process pool.

Why not always a pool: a pool of one worker is a fork for nothing, and a fork can break the work itself. A
process that has run a CUDA backward pass holds autograd's device threads, and a forked child that then trains
(calls ``backward``) stops with "Unable to handle autograd's threading in combination with fork-based
multiprocessing" (seen on a GPU machine when a test process had trained on CUDA before the inner-selection script
ran). With ``jobs=1`` nothing is forked, so that path works wherever the caller's process has been.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm import tqdm

Job = TypeVar("Job")
Result = TypeVar("Result")


def map_jobs(fn: Callable[[Job], Result], jobs: Iterable[Job], workers: int, desc: str = "jobs",
             progress: bool = True) -> list[Result]:
    """``[fn(job) for job in jobs]`` in order, on ``workers`` processes (in this process when ``workers`` is 1),
    with a progress bar named ``desc``. ``fn`` must be picklable (a module-level function) when ``workers`` > 1."""
    if workers < 1:
        raise ValueError(f"workers={workers}: give a whole number >= 1 (1 runs the jobs in this process)")
    jobs = list(jobs)
    bar = dict(total=len(jobs), desc=desc, unit="job", disable=not progress, dynamic_ncols=True)
    if workers == 1 or len(jobs) <= 1:
        return [fn(job) for job in tqdm(jobs, **bar)]
    with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
        return list(tqdm(pool.map(fn, jobs), **bar))
