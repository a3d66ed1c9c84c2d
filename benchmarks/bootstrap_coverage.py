"""How often does the report's "95 % interval" of a regret ratio hold the true ratio? A check of
``hpo-gym report --compare`` (:func:`hpo_gym.benchmark.metrics.paired_ratio_bootstrap`) on a benchmark's own runs.

A percentile bootstrap over a few seeds per task is known to be too narrow: it resamples the seeds it has as if they
were all there are. This script measures by how much, for the shape of a real benchmark, without assuming a noise
model: each task's finished runs of the two agents (paired by seed) stand in for the population, whose ratio of mean
regrets is then known exactly; simulated benchmarks draw ``n`` seeds per task from them with replacement, and each gets
the report's interval. The share of intervals that hold the population's ratio is the coverage (the nominal level
is 95 %). Run it on the GRPOformer protocol's runs (``python benchmarks/grpoformer_vs_tpe.py`` writes them)::

    python benchmarks/bootstrap_coverage.py --bench runs/grpoformer_vs_tpe/bench --agent grpoformer --reference tpe

The population is the observed runs, so the coverage it reports is itself an estimate (a double bootstrap), good to a
few points; it says how far to trust the interval, not a new interval.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpo_gym.benchmark import ResultStore  # noqa: E402
from hpo_gym.benchmark.metrics import paired_ratio_bootstrap, regret_by_run, run_budget  # noqa: E402
from hpo_gym.cli import directory, positive_int, run_script  # noqa: E402
from hpo_gym.episode import repeated  # noqa: E402


def simulated_benchmark(runs: pd.DataFrame, n_seeds: int, rng: np.random.Generator) -> pd.DataFrame:
    """A step table of two agents whose runs (one row per run at the budget: ``agent``, ``task``, ``seed``,
    ``normalized_regret``) are ``n_seeds`` seeds drawn with replacement, paired, renumbered 0..n-1: one draw for
    every task when the tasks share one seed set (a seed is one random stream on all tasks, and a simulated
    benchmark keeps that), else a draw per task."""
    seed_sets = {task: sorted(group["seed"].unique()) for task, group in runs.groupby("task")}
    shared = len({tuple(v) for v in seed_sets.values()}) == 1
    common = rng.choice(next(iter(seed_sets.values())), size=n_seeds, replace=True) if shared else None
    parts = []
    for task, group in runs.groupby("task"):
        drawn = common if common is not None else rng.choice(seed_sets[task], size=n_seeds, replace=True)
        for new_seed, seed in enumerate(drawn):
            parts.append(group[group["seed"] == seed].assign(seed=new_seed))
    return pd.concat(parts, ignore_index=True)


def coverage(df: pd.DataFrame, agent: str, reference: str, seed_counts: list[int], n_sim: int,
             n_boot: int) -> pd.DataFrame:
    """Coverage of the report's interval for ``seed_counts`` seeds per task, ``n_sim`` simulated benchmarks each."""
    present = sorted(df["agent"].unique())
    missing = [name for name in (agent, reference) if name not in present]
    if missing:  # a KeyError traceback before (found in review)
        raise ValueError(f"--agent/--reference {', '.join(missing)}: not in this benchmark; its agents are {present}")
    b = run_budget(df)
    regret = regret_by_run(df, b).unstack("agent")[[agent, reference]].dropna()
    if regret.empty:  # pandas' 'No objects to concatenate' before
        raise ValueError(f"{agent} and {reference} share no run with a normalized regret at budget {b} (the same task "
                         "and seed, on a task with a known best): compare agents of one benchmark run on tabular tasks")
    reference_mean = regret[reference].groupby("task").mean().mean()
    if reference_mean <= 0:
        raise ValueError(f"{reference}'s mean regret@{b} is 0: the ratio {agent} / {reference} is undefined; choose "
                         "another --reference")
    truth = regret[agent].groupby("task").mean().mean() / reference_mean
    runs = regret.stack().rename("normalized_regret").reset_index()
    runs = runs.assign(step=b, budget=b, status="ok", best_score=np.nan, heldout=False, in_sample=False)
    rng = np.random.default_rng(0)
    rows = []
    for n in seed_counts:
        held, widths = 0, []
        for _ in tqdm(range(n_sim), desc=f"{n} seeds", leave=False, file=sys.stderr):
            ci = paired_ratio_bootstrap(simulated_benchmark(runs, n, rng), agent, reference, b, n_boot=n_boot,
                                        seed=int(rng.integers(2**31)))
            held += int(ci["low"] <= truth <= ci["high"])
            widths.append(ci["high"] - ci["low"])
        rows.append({"seeds per task": n, "coverage of the 95 % interval": held / n_sim,
                     "median width": float(np.median(widths))})
    print(f"{agent} / {reference} mean regret@{b} over the observed runs (the population): {truth:.3f}; "
          f"{regret.index.get_level_values('task').nunique()} tasks, {len(regret)} paired runs")
    return pd.DataFrame(rows).set_index("seeds per task")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", type=directory, default=ROOT / "runs" / "grpoformer_vs_tpe" / "bench",
                    help="a benchmark directory (default: the GRPOformer protocol's, runs/grpoformer_vs_tpe/bench)")
    ap.add_argument("--agent", default="grpoformer")
    ap.add_argument("--reference", default="tpe")
    ap.add_argument("--seeds", default="2,3,5,10", help="seeds per task of the simulated benchmarks (default 2,3,5,10)")
    ap.add_argument("--sims", type=positive_int, default=1000, help="simulated benchmarks per seed count (default 1000)")
    ap.add_argument("--boot", type=positive_int, default=2000, help="bootstrap resamples per interval (default 2000)")
    args = ap.parse_args(argv)
    if not (args.bench / "benchmark.json").exists():
        ap.error(f"--bench {args.bench} holds no benchmark; run python benchmarks/grpoformer_vs_tpe.py first, or give "
                 "another directory")
    try:
        seed_counts = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        ap.error(f"--seeds {args.seeds!r}: give whole numbers >= 2, comma-separated")
    if min(seed_counts) < 2:
        ap.error("--seeds: each count must be >= 2 (one seed per task has nothing to resample)")
    if twice := repeated(seed_counts):  # simulated again, a second row of the table
        ap.error(f"--seeds names {', '.join(map(str, twice))} more than once; give each count once")
    if args.agent == args.reference:  # a pandas "truth value of a Series is ambiguous" error otherwise
        ap.error(f"--agent and --reference are both {args.agent!r}: a ratio of an agent to itself is 1 by definition; "
                 "give two agents of the benchmark")
    df = ResultStore(args.bench).load()
    table = coverage(df, args.agent, args.reference, seed_counts, args.sims, args.boot)
    print(table.to_markdown(floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command: it measures from scratch"))
