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
    """Write ``start-i`` (holding this process's pid), sleep, write ``done-i``: which jobs started, in which process,
    and which finished."""
    import time
    from pathlib import Path

    folder, i, seconds = job
    (Path(folder) / f"start-{i}").write_text(str(os.getpid()))
    if seconds < 0:
        raise RuntimeError(f"job {i} failed")
    time.sleep(seconds)
    (Path(folder) / f"done-{i}").touch()
    return i


def _marks(folder, prefix: str) -> set[int]:
    return {int(p.name.split("-")[1]) for p in folder.glob(f"{prefix}-*")}


def _ctrl_c_once_a_job_runs(folder) -> None:
    """A terminal's Ctrl-C once the first job runs: SIGINT to this process and to every worker that has started a job
    (the whole process group would also reach the shell that runs the tests)."""
    import signal
    import time

    deadline = time.time() + 60
    while not list(folder.glob("start-*")) and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # let the second worker take its job too
    workers = {int(p.read_text() or 0) for p in folder.glob("start-*")} - {0}
    for pid in workers | {os.getpid()}:
        os.kill(pid, signal.SIGINT)


def test_ctrl_c_lets_the_jobs_in_flight_finish_and_starts_no_queued_job(tmp_path, ctrl_c_works):
    """pool.map's workers died of the terminal's SIGINT with their jobs (work lost), and the jobs already queued then
    started and were waited for."""
    import threading

    signaller = threading.Thread(target=_ctrl_c_once_a_job_runs, args=(tmp_path,), daemon=True)
    signaller.start()
    with pytest.raises(KeyboardInterrupt):
        map_jobs(mark_and_sleep, [(str(tmp_path), i, 1.5) for i in range(8)], 2, progress=False)
    signaller.join(timeout=10)
    started, done = _marks(tmp_path, "start"), _marks(tmp_path, "done")
    assert 1 <= len(started) <= 2 and started == done, (started, done)


def test_a_failing_job_ends_the_map_with_its_error_and_the_queue_does_not_run(tmp_path):
    jobs = [(str(tmp_path), 0, -1.0)] + [(str(tmp_path), i, 0.5) for i in range(1, 10)]
    with pytest.raises(RuntimeError, match="job 0 failed"):
        map_jobs(mark_and_sleep, jobs, 2, progress=False)
    started, done = _marks(tmp_path, "start"), _marks(tmp_path, "done")
    assert started - {0} == done and len(started) <= 4, (started, done)  # job 0 and the few in flight at its failure
