"""``hpo-gym tasks``: list a suite's tasks with their OpenML ids, sizes and score ranges."""

from __future__ import annotations

import argparse
import time

import pandas as pd
from tqdm.auto import tqdm

from hpo_gym.benchmark.difficulty import regret_profile
from hpo_gym.suites import HPOBENCH_NN, get_suite, suite_names
from hpo_gym.tabular import TabularObjective


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("tasks", help="list the tasks of a suite (OpenML id, #configs, best/worst score)",
                              description="List a suite's tasks: OpenML task id, configurations, best and worst "
                                          "score of the table; --difficulty adds how hard normalized regret makes each.",
                              epilog="examples:\n  hpo-gym tasks\n  hpo-gym tasks --difficulty\n"
                                     "  hpo-gym tasks --suite grpoformer-paper",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default=HPOBENCH_NN, help=f"suite name (default {HPOBENCH_NN}); known: {', '.join(suite_names())}")
    p.add_argument("--difficulty", action="store_true",
                   help="add how hard each table is under normalized regret: cells within 0.01 of the best, the "
                        "runner-up cell's regret, and the best cell's lead over it in standard errors of the table's seeds")
    p.set_defaults(func=run)


def tasks_table(suite_name: str = HPOBENCH_NN, difficulty: bool = False) -> pd.DataFrame:
    """One row per task: name, OpenML task id, #configs, best and worst noise-free score, load seconds; with
    ``difficulty``, the :func:`hpo_gym.benchmark.difficulty.regret_profile` facts of tabular tasks too."""
    suite = get_suite(suite_name)
    rows = []
    for name in tqdm(list(suite.tasks), desc=f"loading {suite_name}", unit="task", leave=False):
        start = time.perf_counter()
        objective = suite.load(name)
        seconds = time.perf_counter() - start
        oracle = objective.oracle
        rows.append({"task": name, "openml_task_id": suite.tasks[name], "n_configs": getattr(objective, "n_configs", None),
                     "n_hyperparameters": len(objective.space), "best": oracle.best if oracle else None,
                     "worst": oracle.worst if oracle else None, "load_s": round(seconds, 2)})
        if difficulty and isinstance(objective, TabularObjective) and oracle is not None:
            profile = regret_profile(objective, thresholds=(0.01,))
            rows[-1].update({"within_0.01": profile["within_0.01"], "runner_up_regret": profile["runner_up_regret"],
                             "lead_z": profile["lead_z"]})
    return pd.DataFrame(rows)


def run(args: argparse.Namespace) -> int:
    print(tasks_table(args.suite, difficulty=args.difficulty).to_markdown(index=False, floatfmt=".4f"))
    return 0
