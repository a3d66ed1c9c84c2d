"""Small user tables cut from the real embedded HPOBench tables (tests use real scores, not made-up ones)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hpo_gym.suites import load_hpobench_nn


def real_table_subset(task: str, n_configs: int, seed: int = 0) -> pd.DataFrame:
    """One row per (configuration, seed) for ``n_configs`` random configurations of an embedded table.

    Built with ``TabularObjective.from_dataframe`` it is a *partial* table: most grid cells are missing.
    """
    table = load_hpobench_nn(task)
    present = np.flatnonzero(np.isfinite(table.mean_scores))
    cells = np.random.default_rng(seed).choice(present, n_configs, replace=False)
    scores = table.seed_scores[cells]
    return pd.DataFrame([{**table.cell_config(c), "seed": s, "acc": scores[i, s]}
                         for i, c in enumerate(cells) for s in range(scores.shape[1])])
