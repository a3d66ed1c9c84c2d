"""Serial vs local process pool vs Ray for one batch of live random-forest fits.

    python benchmarks/live_parallel.py                 # digits (1,797 x 64, 10 classes) from the test server
    python benchmarks/live_parallel.py --task 167149   # a real OpenML task (needs openml.org or a filled cache)

A batch of 8 random-forest configurations (drawn from HPOBench's RF space with a fixed seed) is
trained by ``LiveObjective.evaluate_batch`` with each executor. Workers / Ray are started and warmed
up before timing (their one-time start-up is printed separately; the data is loaded before any of them, and serial,
always first, also starts the forkserver that later worker processes are forked from), then timed in turns (best of
``--repeats``); the evaluation cache is off, so every run really trains. Scores must agree across executors. Prints seconds and speed-up vs serial
(the peer, always run), and the machine's ceiling (plain busy loops), timed in the same turns so that it is read under
the same load as the executors it bounds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hpo_gym.cli import name_list, positive_int, run_script
from hpo_gym.executors import get_executor
from hpo_gym.live import LiveObjective


def _spin(n: int = 20_000_000) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def machine_ceiling(workers: int) -> float:
    """Speed-up of ``workers`` plain forked busy loops over one: what the machine offers right now.

    On an idle machine this is about ``workers``; when other jobs keep the cores busy it drops
    towards 1, and no executor can beat it. Printed so the executor numbers can be read correctly.
    """
    import multiprocessing as mp

    start = time.perf_counter()
    _spin()
    one = time.perf_counter() - start
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_spin) for _ in range(workers)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return workers * one / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", type=int, default=None, help="OpenML task id (default: digits from the test server)")
    parser.add_argument("--n-configs", type=positive_int, default=8)
    parser.add_argument("--n-estimators", type=positive_int, default=256)
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 2)
    parser.add_argument("--executors", type=name_list, default=["serial", "process", "ray"], help="serial, the peer, is always run first")
    parser.add_argument("--repeats", type=positive_int, default=1,
                        help="time each executor this many times (in turns), keep the best")
    args = parser.parse_args(argv)
    executors = ["serial"] + [e for e in args.executors if e != "serial"]

    server = None
    task = args.task
    if task is None:  # serve sklearn's digits through the loopback OpenML server (real openml-python path)
        import openml

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "live"))
        from openml_server import OpenMLTestServer

        server = OpenMLTestServer().start()
        openml.config.server = server.api_url
        openml.config.set_root_cache_directory(tempfile.mkdtemp(prefix="hpo-gym-bench-openml-"))
        task = 990004
    load_before = os.getloadavg()[0]  # parallel speed-up needs idle cores: report how busy the machine was
    try:
        from hpo_gym.live.data import load_task

        load_task(task)  # the data, downloaded and parsed once here: it used to count as the first executor's start-up
        setups = {}
        for name in executors:  # start and warm every executor first ...
            start = time.perf_counter()
            options = {"n_workers": args.workers} if name == "process" else {"num_cpus": args.workers} if name == "ray" else {}
            executor = get_executor(name, **options)
            obj = LiveObjective(task, "rf", fidelity={"n_estimators": args.n_estimators}, executor=executor, cache=False,
                                time_limit=None)
            configs = obj.space.sample(np.random.default_rng(0), args.n_configs)
            warm = {**configs[0], "max_depth": 1}  # a tiny fit per worker: start processes, ship the data
            obj.evaluate_batch([warm] * executor.n_workers, fidelity={"n_estimators": 2})
            setups[name] = (executor, obj, configs, time.perf_counter() - start)
        results = {name: [float("inf"), None, startup, ex.n_workers] for name, (ex, _, _, startup) in setups.items()}
        ceiling = 0.0
        for _ in range(args.repeats):  # ... then time them in turns, best of N: fairer when other jobs come and go
            ceiling = max(ceiling, machine_ceiling(args.workers))
            for name, (executor, obj, configs, _) in setups.items():
                start = time.perf_counter()
                batch = obj.evaluate_batch(configs)
                seconds = time.perf_counter() - start
                errors = [e.info["error"] for e in batch if e.failed]
                if errors:
                    raise RuntimeError(f"{name}: {errors}")
                results[name][0] = min(results[name][0], seconds)
                results[name][1] = batch.scores
        for executor, *_ in setups.values():
            executor.close()
        meta = obj.metadata
        print(f"task {task} ({meta['dataset']}, {meta['n_fit']} fit rows x {meta['n_features']} features, "
              f"{meta['n_classes']} classes), {args.n_configs} random-forest configs x {args.n_estimators} trees, "
              f"{os.cpu_count()} cores, load average before/after {load_before:.1f}/{os.getloadavg()[0]:.1f}")
        base = results["serial"][0]
        print(f"{'executor':<10}{'workers':>8}{'batch s':>10}{'speed-up':>10}{'start-up s':>12}")
        for name, (seconds, scores, startup, n) in results.items():
            print(f"{name:<10}{n:>8}{seconds:>10.2f}{base / seconds:>9.2f}x{startup:>12.2f}")
        ref = next(iter(results.values()))[1]
        agree = all(np.array_equal(ref, r[1]) for r in results.values())
        print(f"validation accuracies identical across executors: {agree}; best {ref.max():.4f}, mean {ref.mean():.4f}")
        print(f"ceiling: {args.workers} plain forked busy loops ran up to {ceiling:.2f}x faster than one in the same turns "
              "(idle machine: ~workers; busy machine: towards 1)")
        return 0 if agree else 1
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command (a timing: it starts over, with the evaluation cache off)"))
