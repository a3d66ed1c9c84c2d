"""``benchmarks/grpoformer_train_devices.py`` runs and reports what it says (CPU only here; timings not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_train_devices_benchmark_reports_the_cpu_peer(tmp_path):
    out = tmp_path / "rows.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "grpoformer_train_devices.py"), "--devices", "cpu",
                          "--updates", "2", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert [r["device"] for r in rows] == ["cpu"]
    (row,) = rows
    assert row["updates"] == 2 and row["evaluations"] == 2 * 8 * 50 * 8  # updates x episodes x steps x group
    assert row["s_per_update"] > 0 and row["speed_vs_cpu"] == 1.0
    assert "GRPOformer training, fold 0, 2 updates" in run.stdout


def test_a_json_path_that_is_a_directory_is_refused_before_any_timing(tmp_path):
    """Found in review: an existing directory passed the up-front check and failed with a traceback after the timing."""
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "grpoformer_train_devices.py"), "--devices", "cpu",
                          "--updates", "2", "--json", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and f"--json {tmp_path} is a directory; give a file path" in run.stderr
    assert run.stdout == ""  # nothing was timed


def test_a_device_named_twice_is_refused_before_any_timing(capsys):
    """``--devices cpu,cpu`` timed the CPU twice and printed a row for each."""
    from tests.benchmark_scripts import load_script

    with pytest.raises(SystemExit) as exited:
        load_script("grpoformer_train_devices").main(["--devices", "cpu,cpu", "--updates", "2"])
    assert exited.value.code == 2 and "argument --devices: 'cpu,cpu' names cpu more than once; list each once" in capsys.readouterr().err
