"""The benchmark: agents x tasks x seeds through the environment, a resumable store, metrics, report, plots.

>>> from agents.registry import make_agent                        # doctest: +SKIP
>>> df = run_benchmark(["random", "tpe"], budget=50, seeds=3, resolve_agent=make_agent)  # doctest: +SKIP
>>> summary_table(df)                                              # doctest: +SKIP

This package never imports :mod:`agents` (layering); agents come in as factories or resolved specs.
"""

from hpo_gym.benchmark.metrics import (
    beats_random_ratio,
    best_score_at,
    mean_rank,
    per_task_table,
    rank_curve,
    regret_at,
    summary_table,
)
from hpo_gym.benchmark.runner import PROTOCOLS, is_transfer_agent, kfold_splits, run_benchmark, run_episode
from hpo_gym.benchmark.store import STEP_COLUMNS, ResultStore

__all__ = [
    "PROTOCOLS", "STEP_COLUMNS", "ResultStore", "beats_random_ratio", "best_score_at", "is_transfer_agent",
    "kfold_splits", "mean_rank", "per_task_table", "rank_curve", "regret_at", "run_benchmark", "run_episode",
    "summary_table",
]
