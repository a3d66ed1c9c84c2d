"""GRPOformer training speed per torch device, each as a ratio to the CPU run in the same process.

    python benchmarks/grpoformer_train_devices.py [--devices cpu,cuda] [--updates 20] [--fold 0] [--threads 1]

Trains the shipped recipe (``TrainConfig`` defaults) on one k-fold split's training tasks from scratch,
``--updates`` updates per device, same seed, and prints seconds per update (the first update, which
includes CUDA's start-up, is reported apart) and the ratio to CPU. The training tables are the same
on every device; rollouts (table lookups, the no-repeat rule) run in NumPy on the CPU either way, so
this measures what a GPU buys for the whole loop, not for the network alone. Also prints the mean
training regret of the last updates, so a device that trains faster but learns differently shows.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from agents.grpoformer.train import TrainConfig, check_device, train
from hpo_gym.benchmark import kfold_splits
from hpo_gym.cli import file_path, name_list, positive_int, run_script
from hpo_gym.suites import HPOBENCH_NN_TASKS, load_hpobench_nn


def time_training(device: str, updates: int, fold: int, threads: int) -> dict:
    """Train ``updates`` updates of fold ``fold`` on ``device``; per-update wall times from the run's log."""
    tasks = list(HPOBENCH_NN_TASKS)
    held = kfold_splits(tasks, 4)[fold]
    cfg = TrainConfig(seed=fold, threads=threads, device=device, updates=updates)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        train([load_hpobench_nn(t) for t in tasks if t not in held], out, cfg, progress=False)
        total = time.perf_counter() - start
        log = pd.read_csv(Path(out) / "log.csv")
    wall = np.diff(np.r_[0.0, log["wall_s"].to_numpy()])
    tail = max(1, updates // 4)
    return {"device": device, "updates": updates, "total_s": round(total, 1), "first_update_s": round(float(wall[0]), 2),
            "s_per_update": round(float(np.mean(wall[1:])) if updates > 1 else float(wall[0]), 3),
            "train_regret_last": round(float(log["train_regret"].tail(tail).mean()), 4),
            "evaluations": int(log["evaluations"].iloc[-1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=name_list, default=["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"],
                        help="comma-separated torch devices; cpu is always run first, as the peer")
    parser.add_argument("--updates", type=positive_int, default=20)
    parser.add_argument("--fold", type=int, default=0, choices=range(4))
    parser.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads (the CLI's default is 1)")
    parser.add_argument("--json", type=file_path, default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    devices = ["cpu"] + [d for d in args.devices if d != "cpu"]
    for device in devices:  # before any timing: a device this torch cannot use would fail after the CPU pass
        try:
            check_device(device, "--devices")
        except ValueError as e:
            parser.error(str(e))
    if args.json is not None and not args.json.resolve().parent.is_dir():  # it failed with a traceback after all the timing
        parser.error(f"--json {args.json}: its folder does not exist; create it or give another path")
    if args.json is not None and args.json.is_dir():  # likewise, after all the timing (found in review)
        parser.error(f"--json {args.json} is a directory; give a file path, e.g. {args.json / 'devices.json'}")
    rows = []
    for device in devices:
        rows.append(time_training(device, args.updates, args.fold, args.threads))
        print(json.dumps(rows[-1]), flush=True)
    cpu = rows[0]["s_per_update"]
    for r in rows:
        r["speed_vs_cpu"] = round(cpu / r["s_per_update"], 2)
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    print(f"\nGRPOformer training, fold {args.fold}, {args.updates} updates, torch {torch.__version__}, {name}")
    print(pd.DataFrame(rows).set_index("device").to_markdown())
    for r in rows[1:]:
        print(f"{r['device']}: {r['speed_vs_cpu']}x the CPU's updates per second "
              f"(150-update fold: {150 * r['s_per_update'] / 60:.1f} min vs {150 * cpu / 60:.1f} min on CPU)")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the command: it measures from scratch"))
