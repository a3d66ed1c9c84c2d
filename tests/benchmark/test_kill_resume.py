"""Reliability: SIGKILL a running ``hpo-gym bench`` and resume it; every run must be stored exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd

from hpo_gym.benchmark import ResultStore

AGENTS, SEEDS, BUDGET = "random,tpe", 5, 50
TOTAL = 2 * 8 * SEEDS  # agents x tasks x seeds


def bench_command(out) -> list[str]:
    return [sys.executable, "-m", "hpo_gym", "bench", "--agents", AGENTS, "--budget", str(BUDGET), "--seeds", str(SEEDS),
            "--jobs", "2", "--out", str(out), "--no-report"]


def test_sigkill_mid_benchmark_then_resume_stores_every_run_once(tmp_path):
    out = tmp_path / "bench"
    store = ResultStore(out)
    proc = subprocess.Popen(bench_command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(store.shard_paths()) < 10 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    at_kill = len(store.shard_paths())
    assert 0 < at_kill < TOTAL, f"the kill should land mid-benchmark, found {at_kill}/{TOTAL} runs"
    time.sleep(2.0)  # orphaned workers notice the dead parent and exit; at most their in-flight runs land
    settled = len(store.shard_paths())
    time.sleep(1.5)
    assert len(store.shard_paths()) == settled, "workers kept running after their parent was killed"
    assert settled <= at_kill + 2  # at most the runs that were in flight (2 workers)

    done = subprocess.run(bench_command(out), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    df = store.load()
    runs = df.groupby(["agent", "task", "seed"])
    assert runs.ngroups == TOTAL
    assert (runs.size() == BUDGET).all()  # no duplicated steps, no missing steps
    assert not df.duplicated(["agent", "task", "seed", "step"]).any()
    assert (df["status"] == "ok").all()
    assert len(store.shard_paths()) == TOTAL
    assert not list(store.runs_dir.glob(".*.tmp-*")), "temporary files were left behind"
    assert isinstance(df, pd.DataFrame)
