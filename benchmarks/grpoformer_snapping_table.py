"""GRPOformer on a user table that snaps proposals to its own grid: how many distinct cells a run evaluates.

A table built with ``TabularObjective.from_dataframe(df, metric, space=space)`` on a space wider than its grid (a log-int
of 7 values and a log-float of 5 in continuous ranges) answers each proposal with its nearest cell, and the history
records that cell, not the proposal. An agent that judges a candidate new by its own bins wastes evaluations on cells
it has already seen. Prints, for 50-step runs on a 315-cell table (4 seeds), the distinct cells evaluated and the final
regret of GRPOformer (the default agent and deterministic mode, shipped checkpoint) next to random search and TPE run in
the same process on the same seeds, and each agent's distinct cells as a ratio to random search's; ``--table 35`` runs
a 35-cell table for 35 steps instead::

    nice -n 10 python benchmarks/grpoformer_snapping_table.py [--table 35]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.base import observe_if_supported  # noqa: E402
from agents.grpoformer.agent import GRPOformerAgent  # noqa: E402
from agents.registry import make_agent  # noqa: E402
from hpo_gym.cli import episode_budget, positive_int, run_script  # noqa: E402
from hpo_gym.env import HPOEnv  # noqa: E402
from hpo_gym.space import Categorical, Float, Int, Ordinal, SearchSpace  # noqa: E402
from hpo_gym.tabular import TabularObjective  # noqa: E402


def snapping_table() -> TabularObjective:
    """315 cells (3 optimizers x 7 widths x 5 learning rates x 3 depths) on a space whose int and float ranges are
    continuous: every proposal is answered by its nearest cell."""
    rng = np.random.default_rng(0)
    rows = [{"opt": o, "units": u, "lr": lr, "depth": d,
             "acc": 0.8 - 0.02 * abs(np.log10(lr) + 3) - 0.01 * abs(np.log2(u) - 6) + 0.03 * (o == "adam") + 0.01 * d
             + 0.001 * rng.random()}
            for o in ["adam", "sgd", "rmsprop"] for u in [8, 16, 32, 64, 128, 256, 512]
            for lr in [1e-5, 1e-4, 1e-3, 1e-2, 1e-1] for d in [1, 2, 3]]
    space = SearchSpace([Categorical("opt", ["adam", "sgd", "rmsprop"]), Int("units", 8, 512, log=True),
                         Float("lr", 1e-5, 1e-1, log=True), Ordinal("depth", [1, 2, 3])])
    return TabularObjective.from_dataframe(pd.DataFrame(rows), metric="acc", space=space, name="snapping-table")


def small_snapping_table() -> TabularObjective:
    """35 cells (7 widths x 5 learning rates, random scores) on a space of a log Int and a log Float: small enough that
    all G candidates often land on evaluated cells, where the agent must move off the cells it knows are evaluated."""
    rng = np.random.default_rng(0)
    rows = [{"units": u, "lr": lr, "acc": rng.random()} for u in [8, 16, 32, 64, 128, 256, 512]
            for lr in [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]]
    space = SearchSpace([Int("units", 8, 512, log=True), Float("lr", 1e-5, 1e-1, log=True)])
    return TabularObjective.from_dataframe(pd.DataFrame(rows), metric="acc", space=space, name="small-snapping-table")


TABLES = {"315": snapping_table, "35": small_snapping_table}


def run(make, table: TabularObjective, budget: int, seed: int) -> tuple[int, float]:
    """Distinct cells evaluated in one run, and its final normalized regret."""
    env = HPOEnv(objective=table, budget=budget)
    obs, _ = env.reset(seed=seed)
    agent = make()
    agent.reset(env.space, seed=seed, budget=budget)
    cells = set()
    for _ in range(budget):
        action = agent.act(obs)
        obs, reward, _, _, info = env.step(action)
        observe_if_supported(agent, action, reward, info)
        cells.add(tuple(info["config"].values()))
    return len(cells), float(info["normalized_regret"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", choices=sorted(TABLES), default="315",
                    help="the 315-cell table (default) or the 35-cell one, where candidates often all land on tried cells")
    ap.add_argument("--budget", type=episode_budget, default=None, help="evaluations per run (default 50; 35 on --table 35)")
    ap.add_argument("--seeds", type=positive_int, default=4, help="runs per agent, seeds 0..n-1 (default 4)")
    args = ap.parse_args(argv)
    table = TABLES[args.table]()
    if args.budget is None:
        args.budget = 35 if args.table == "35" else 50
    agents = {"grpoformer": GRPOformerAgent, "grpoformer (deterministic)": lambda: GRPOformerAgent(deterministic=True),
              "random": lambda: make_agent("random"), "tpe": lambda: make_agent("tpe")}
    rows = []
    for name, make in agents.items():
        results = [run(make, table, args.budget, seed) for seed in range(args.seeds)]
        rows.append({"agent": name, "distinct cells per run": " ".join(str(n) for n, _ in results),
                     "mean distinct": np.mean([n for n, _ in results]),
                     f"mean regret@{args.budget}": np.mean([r for _, r in results])})
    out = pd.DataFrame(rows).set_index("agent")
    out["distinct x random"] = out["mean distinct"] / out.loc["random", "mean distinct"]
    print(f"{len(table.seed_scores)}-cell table, budget {args.budget}, seeds 0..{args.seeds - 1}:\n")
    print(out.to_markdown(floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command (seconds)"))
