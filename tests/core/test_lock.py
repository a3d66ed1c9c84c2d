"""One writer per directory (hpo_gym.lock): a second benchmark or training run given a directory that another
process is writing stops before touching it and names the holder, instead of mixing results into it (an audit ran
two benches with different budgets into one directory: both exited 0 with the runs mixed)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from agents.registry import make_agent
from hpo_gym.benchmark import run_benchmark
from hpo_gym.lock import DirectoryInUse, directory_lock
from hpo_gym.suites import load_hpobench_nn


def test_a_benchmark_into_a_directory_being_written_stops_and_names_the_writer(tmp_path):
    out = tmp_path / "bench"
    with directory_lock(out, "the first benchmark"):
        with pytest.raises(DirectoryInUse, match=rf"{out} is being written by the first benchmark \(pid {os.getpid()} "
                                                 r"on .*\); wait for it to finish, or use another directory"):
            run_benchmark(["random"], tasks=["credit_g"], budget=2, seeds=1, out=out, resolve_agent=make_agent,
                          progress=False)
        assert not (out / "benchmark.json").exists()  # refused before the settings check wrote anything
    df = run_benchmark(["random"], tasks=["credit_g"], budget=2, seeds=1, out=out, resolve_agent=make_agent,
                       progress=False)  # released: the same call runs
    assert len(df) == 2


def test_a_training_run_into_a_directory_being_written_stops_before_touching_its_files(tmp_path):
    from agents.grpoformer.train import TrainConfig, train

    out = tmp_path / "run"
    with directory_lock(out, "another train-grpoformer run"):
        (out / "log.csv").write_text("update\n1\n")  # the other run's log
        with pytest.raises(DirectoryInUse, match="is being written by another train-grpoformer run"):
            train([load_hpobench_nn("vehicle")], out, TrainConfig(updates=1), progress=False)
        assert (out / "log.csv").read_text() == "update\n1\n"


def test_the_cli_reports_a_busy_directory_in_one_line(tmp_path):
    out = tmp_path / "bench"
    with directory_lock(out, "the first benchmark"):
        run = subprocess.run([sys.executable, "-m", "hpo_gym", "bench", "--agents", "random", "--tasks", "credit_g",
                              "--budget", "2", "--seeds", "1", "--out", str(out)],
                             capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "is being written by the first benchmark" in run.stderr
    assert "Traceback" not in run.stderr


def test_wait_takes_the_lock_once_the_holder_is_done(tmp_path, monkeypatch):
    """The fold-checkpoint cache waits (two agents may fit the same fold at once): the second then finds the first's
    result instead of failing its runs. The holder lets go only once the waiting attempt is blocked in ``flock`` (a
    spy on the real call), so a ``wait=True`` that did not wait cannot pass on a slow machine."""
    import fcntl
    import threading
    from types import SimpleNamespace

    import hpo_gym.lock

    held, let_go, blocked, order = threading.Event(), threading.Event(), threading.Event(), []

    def flock(fd, flags):
        if flags == fcntl.LOCK_EX:  # a blocking attempt: the waiter is in
            blocked.set()
        return fcntl.flock(fd, flags)

    monkeypatch.setattr(hpo_gym.lock, "fcntl", SimpleNamespace(flock=flock, LOCK_EX=fcntl.LOCK_EX, LOCK_NB=fcntl.LOCK_NB))

    def holder():
        with directory_lock(tmp_path, "the first fit"):
            held.set()
            let_go.wait(30)  # held until the refused attempt below has been made, however slow the machine
            order.append("released")

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(30)
    with pytest.raises(DirectoryInUse):
        with directory_lock(tmp_path, "the second fit"):
            pass
    threading.Thread(target=lambda: blocked.wait(30) and let_go.set()).start()
    with directory_lock(tmp_path, "the second fit", wait=True):
        order.append("acquired")
    thread.join()
    assert blocked.is_set() and order == ["released", "acquired"]  # it waited, and got the lock after the holder let go


def test_a_file_system_that_cannot_lock_warns_and_the_run_goes_on(tmp_path, monkeypatch):
    """Some NFS/FUSE/SMB mounts answer flock with ENOLCK: every bench and training run stopped on that bare errno.
    The mount is simulated (none here); the benchmark that runs is real."""
    import errno

    import hpo_gym.lock as lock

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(lock.fcntl, "flock", no_locks)
    out = tmp_path / "bench"
    (out / "runs").mkdir(parents=True)
    other_writer = out / "runs" / f".random__kc1__s0__0123456789.parquet.tmp-{os.getpid()}"  # a live pid's write
    other_writer.write_text("under way")
    with pytest.warns(RuntimeWarning, match=rf"cannot lock {out} on this file system \(No locks available\); going "
                                            "on without the lock: make sure no other process writes it"):
        df = run_benchmark(["random"], tasks=["credit_g"], budget=2, seeds=1, out=out, resolve_agent=make_agent,
                           progress=False)
    assert len(df) == 2 and set(df["status"]) == {"ok"}
    assert other_writer.exists()  # unlocked, another writer may be mid-write: only a dead pid's temporary goes
