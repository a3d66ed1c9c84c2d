"""map_jobs: in this process for one worker (no fork, so a parent that trained on CUDA can still train), on a
process pool otherwise, results in the jobs' order either way."""

from __future__ import annotations

import os

import pytest

from hpo_gym.parallel import map_jobs


def square_with_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def test_one_worker_runs_every_job_in_this_process():
    out = map_jobs(square_with_pid, range(5), 1, progress=False)
    assert [v for v, _ in out] == [0, 1, 4, 9, 16]
    assert {pid for _, pid in out} == {os.getpid()}


def test_several_workers_run_in_child_processes_and_keep_the_order():
    out = map_jobs(square_with_pid, range(6), 2, progress=False)
    assert [v for v, _ in out] == [0, 1, 4, 9, 16, 25]
    assert os.getpid() not in {pid for _, pid in out}


def test_zero_workers_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="workers=0: give a whole number >= 1"):
        map_jobs(square_with_pid, [1], 0)


def mark_and_sleep(job: tuple[str, int, float]) -> int:
    """Write ``start-i``, sleep, write ``done-i``: the files tell which jobs started and which finished."""
    import time
    from pathlib import Path

    folder, i, seconds = job
    (Path(folder) / f"start-{i}").touch()
    if seconds < 0:
        raise RuntimeError(f"job {i} failed")
    time.sleep(seconds)
    (Path(folder) / f"done-{i}").touch()
    return i


def _marks(folder, prefix: str) -> set[int]:
    return {int(p.name.split("-")[1]) for p in folder.glob(f"{prefix}-*")}


def test_ctrl_c_lets_the_jobs_in_flight_finish_and_starts_no_queued_job(tmp_path):
    """pool.map killed the running jobs on Ctrl-C (their work lost) and then ran the ones already queued."""
    import signal
    import threading

    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            map_jobs(mark_and_sleep, [(str(tmp_path), i, 1.5) for i in range(8)], 2, progress=False)
    finally:
        timer.cancel()
    started, done = _marks(tmp_path, "start"), _marks(tmp_path, "done")
    assert started == done and len(started) <= 2, (started, done)


def test_a_failing_job_ends_the_map_with_its_error_and_the_queue_does_not_run(tmp_path):
    jobs = [(str(tmp_path), 0, -1.0)] + [(str(tmp_path), i, 0.5) for i in range(1, 10)]
    with pytest.raises(RuntimeError, match="job 0 failed"):
        map_jobs(mark_and_sleep, jobs, 2, progress=False)
    started, done = _marks(tmp_path, "start"), _marks(tmp_path, "done")
    assert started - {0} == done and len(started) <= 4, (started, done)  # job 0 and the few in flight at its failure
