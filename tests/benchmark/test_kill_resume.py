"""Reliability: SIGKILL a running ``hpo-gym bench`` and resume it; every run must be stored exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hpo_gym.benchmark import ResultStore

AGENTS, SEEDS, BUDGET, JOBS = "random,tpe", 5, 50, 2
TOTAL = 2 * 8 * SEEDS  # agents x tasks x seeds
KILL_AFTER = 10  # stored runs

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes in /proc")


def bench_command(out) -> list[str]:
    return [sys.executable, "-m", "hpo_gym", "bench", "--agents", AGENTS, "--budget", str(BUDGET), "--seeds", str(SEEDS),
            "--jobs", str(JOBS), "--out", str(out), "--no-report"]


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state, ppid, ...); None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """True while ``pid`` executes (an exited child awaiting its reaper, a zombie, has stopped running)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def wait_for(condition: Callable[[], bool], what: str, timeout: float) -> None:
    """Poll ``condition``; the timeout is only a safety net that fails the test naming what never happened."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def test_sigkill_mid_benchmark_then_resume_stores_every_run_once(tmp_path):
    out = tmp_path / "bench"
    store = ResultStore(out)
    proc = subprocess.Popen(bench_command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(store.shard_paths()) >= KILL_AFTER or proc.poll() is not None,
                 f"{KILL_AFTER} stored runs", timeout=600)
        assert proc.poll() is None, f"the benchmark exited (code {proc.returncode}) before {KILL_AFTER} runs were stored"
        workers = children_of(proc.pid)
        assert len(workers) >= JOBS, f"expected the {JOBS} worker processes of --jobs {JOBS}, found {workers}"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    at_kill = len(store.shard_paths())
    assert KILL_AFTER <= at_kill < TOTAL, f"the kill should land mid-benchmark, found {at_kill}/{TOTAL} runs"
    # orphaned workers notice the dead parent and exit; at most their in-flight runs land
    try:
        wait_for(lambda: not any(map(running, workers)), "the workers to exit after their parent was killed", timeout=120)
    finally:  # never leave a stray worker behind, even when the test fails
        for pid in filter(running, workers):
            os.kill(pid, signal.SIGKILL)
    settled = {p.name: p.stat().st_mtime_ns for p in store.shard_paths()}
    assert len(settled) <= at_kill + JOBS, f"{len(settled) - at_kill} runs landed after the kill, more than were in flight"

    done = subprocess.run(bench_command(out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    df = store.load()
    runs = df.groupby(["agent", "task", "seed"])
    assert runs.ngroups == TOTAL
    assert (runs.size() == BUDGET).all()  # no duplicated steps, no missing steps
    assert not df.duplicated(["agent", "task", "seed", "step"]).any()
    assert (df["status"] == "ok").all()
    assert len(store.shard_paths()) == TOTAL
    assert not list(store.runs_dir.glob(".*.tmp-*")), "temporary files were left behind"
    # the resume ran only the missing runs: every shard stored before it is untouched
    after = {p.name: p.stat().st_mtime_ns for p in store.shard_paths()}
    assert {name: after[name] for name in settled} == settled
