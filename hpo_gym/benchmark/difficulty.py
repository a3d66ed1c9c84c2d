"""How hard a tabular task is under normalized regret, and how much of a mean regret no agent can avoid.

Normalized regret measures the distance to the single best cell of a table's *mean* scores. When that
cell stands alone (the next-best cell is far behind) every run that does not evaluate exactly that cell
keeps at least the runner-up's regret, however good its search. If, moreover, the best cell's lead over
the runner-up is within the spread of the table's own seeds, finding it is luck rather than optimization.
These functions make both facts measurable, so that a target stated in mean regret can be checked against
what the suite allows before anyone tunes an agent toward it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from hpo_gym.tabular import TabularObjective

DEFAULT_THRESHOLDS = (0.005, 0.01, 0.02)


def regret_profile(objective: TabularObjective, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict[str, float]:
    """Per-task difficulty facts from a table's scores.

    * ``cells``: configurations in the table that have a score (missing cells are not counted);
    * ``within_<t>``: cells whose normalized regret is at most ``t`` (how many "good enough" answers exist);
    * ``runner_up_regret``: normalized regret of the best cell other than the best one (0 when the best
      score is shared): what a run that misses the best cell keeps at least;
    * ``lead_z``: the best cell's lead over the runner-up divided by its standard error across the table's
      seeds (paired by seed; 0 when the two cells score the same on every seed, as car's many perfect cells do;
      NaN with fewer than 2 seeds or a constant non-zero lead). A small value means the table's own noise could
      have put the runner-up first.

    A table needs at least two scored cells (a best and a runner-up).
    """
    if objective.oracle is None:
        raise ValueError(f"task {objective.name!r} has no oracle (best/worst score); regret is undefined for it")
    mean = np.asarray(objective.mean_scores, dtype=float)
    scored = np.flatnonzero(np.isfinite(mean))
    if scored.size < 2:
        raise ValueError(f"task {objective.name!r} has {scored.size} scored cell(s); a difficulty profile compares the "
                         "best cell with a runner-up, so it needs at least 2")
    best, worst = objective.oracle.best, objective.oracle.worst
    regret = (best - mean) / max(best - worst, 1e-12)
    order = scored[np.argsort(regret[scored], kind="stable")]
    first, second = int(order[0]), int(order[1])
    out: dict[str, float] = {"cells": int(scored.size)}
    for t in thresholds:
        out[f"within_{t:g}"] = int(np.sum(regret <= t))
    out["runner_up_regret"] = float(regret[second])
    seeds = np.asarray(objective.seed_scores, dtype=float)
    diff = seeds[first] - seeds[second] if seeds.ndim == 2 else np.array([])
    diff = diff[np.isfinite(diff)]
    spread = diff.std(ddof=1) if diff.size >= 2 else 0.0
    no_spread = spread <= 1e-12 * max(1.0, float(np.abs(diff).max(initial=0.0)))  # a constant lead's std is round-off
    if diff.size and not np.abs(diff).max() > 0:  # the same score on every seed: no lead at all, not an unknown one
        out["lead_z"] = 0.0
    else:
        out["lead_z"] = float("nan") if no_spread else float(diff.mean() / (spread / np.sqrt(diff.size)))
    return out


def suite_profile(objectives: Mapping[str, TabularObjective],
                  thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """:func:`regret_profile` of every task, one row per task."""
    return pd.DataFrame({name: regret_profile(obj, thresholds) for name, obj in objectives.items()}).T


def miss_the_best_floor(profile: pd.DataFrame) -> float:
    """Lower bound on the mean (over tasks) regret of any agent that never evaluates a task's single best cell.

    Every such run keeps at least the runner-up regret of its task, so the mean over tasks is at least the
    mean of ``runner_up_regret``. Tasks whose best score is shared contribute 0.
    """
    return float(profile["runner_up_regret"].mean())


def best_cell_hits(final: pd.DataFrame, profile: pd.DataFrame) -> pd.DataFrame:
    """Share of runs per (agent, task) that found the task's best cell: regret below the runner-up's.

    ``final`` has columns agent, task, regret (e.g. :func:`hpo_gym.benchmark.metrics.regret_at`). Tasks whose
    best score is shared (runner-up regret 0) are left out: any best cell counts there, so "the" best cell
    is not defined.
    """
    alone = profile.index[profile["runner_up_regret"] > 0]
    f = final[final["task"].isin(alone)].copy()
    f["hit"] = f["regret"].to_numpy() < profile.loc[f["task"], "runner_up_regret"].to_numpy(dtype=float)
    return f.groupby(["agent", "task"])["hit"].mean().unstack("task")
