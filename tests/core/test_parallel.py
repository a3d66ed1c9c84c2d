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
