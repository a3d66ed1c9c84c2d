"""Environment speed on the embedded suite, each figure as a ratio to a bare dict lookup in the same run.

    python benchmarks/env_speed.py [--steps 100000] [--batch 1000000] [--num-envs 256]

Prints:
* single ``gym.make("HPO-OpenML-credit_g-v0")`` env steps/s with random actions (drawn up front with
  numpy, so the figure is the env's own cost, wrappers included; episodes of budget 50 with resets);
* ``TabularObjective.evaluate_batch`` evaluations/s on an ``(n, d)`` encoded array;
* native vector env (``gym.make_vec("HPO-OpenML-v0")``) steps/s counted as envs x steps, its rows playing the
  suite's 8 tasks (drawn per episode; every table has the same 30,000 cells as the peer's credit_g);
* each against a bare Python dict lookup of the same table (config key -> score), timed in this process in turns
  with that measurement (peer, subject, peer, subject, ...), so that both see the same load on a shared machine.
Targets on a 2-core machine: >= 50,000 env steps/s, >= 1,000,000 batched evaluations/s.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import gymnasium as gym
import numpy as np

import envs_registry  # noqa: F401
from hpo_gym.cli import positive_int, run_script
from hpo_gym.suites import load_hpobench_nn


def paired_rates(fn, n_items: int, peer, n_peer: int, repeats: int = 3) -> tuple[float, float]:
    """Items per second of ``fn`` and of ``peer``, each the fastest of ``repeats`` runs (the least disturbed by other
    processes), timed in turns: the peer's rate moves with the machine's load, so it is measured next to each
    subject rather than once at the start, and the ratio compares the two under the same load."""
    best, best_peer = float("inf"), float("inf")
    for _ in range(repeats):
        for f, which in ((peer, "peer"), (fn, "subject")):
            start = time.perf_counter()
            f()
            elapsed = time.perf_counter() - start
            if which == "peer":
                best_peer = min(best_peer, elapsed)
            else:
                best = min(best, elapsed)
    return n_items / best, n_peer / best_peer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=positive_int, default=100_000, help="env steps timed per single-env measurement (default 100,000; the vector env's measurements take a few times more)")
    parser.add_argument("--batch", type=positive_int, default=1_000_000, help="configurations per evaluate_batch call (default 1,000,000)")
    parser.add_argument("--num-envs", type=positive_int, default=256, help="envs of the native vector env (default 256)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    objective = load_hpobench_nn("credit_g")

    # Peer: a bare dict lookup of a configuration key, the floor of any Python-level HPO step.
    table = {objective.cell_config(c).__repr__(): float(s) for c, s in enumerate(objective.mean_scores)}
    keys = [repr(objective.cell_config(int(c))) for c in rng.integers(len(table), size=args.steps)]

    def peer():
        return [table[k] for k in keys]

    env = gym.make("HPO-OpenML-credit_g-v0", budget=50)
    env.reset(seed=0)
    actions = rng.random((args.steps, 5)).astype(np.float32)

    def run_env():
        for a in actions:
            if env.step(a)[2]:
                env.reset()

    env_rate = paired_rates(run_env, args.steps, peer, args.steps)
    batch = rng.random((args.batch, 5))
    batch_rate = paired_rates(lambda: objective.evaluate_batch(batch), args.batch, peer, args.steps)

    vec = gym.make_vec("HPO-OpenML-v0", num_envs=args.num_envs, budget=50)
    vec.reset(seed=0)
    vec_steps = math.ceil(4 * args.steps / args.num_envs)  # envs x steps ~ 4 x --steps, and never a single step
    vec_actions = rng.random((vec_steps, args.num_envs, 5))
    vec_rate = paired_rates(lambda: [vec.step(a) for a in vec_actions], vec_steps * args.num_envs, peer, args.steps)

    rows = [
        ("HPOEnv.step, gym.make, random actions", env_rate, 50_000),
        ("TabularObjective.evaluate_batch", batch_rate, 1_000_000),
        (f"native vector env, {args.num_envs} envs (env-steps)", vec_rate, None),
    ]
    print("| measurement | per second | peer: dict lookups per second, same turns | ratio to the peer | target |\n"
          "|---|---:|---:|---:|---:|")
    for name, (rate, peer_rate), target in rows:
        verdict = "" if target is None else (f">= {target:,} {'met' if rate >= target else 'MISSED'}")
        print(f"| {name} | {rate:,.0f} | {peer_rate:,.0f} | {rate / peer_rate:.3f} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the command: it measures from scratch"))
