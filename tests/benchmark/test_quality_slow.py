"""Sanity of the whole harness on the embedded suite (slow: run with -m slow)."""

from __future__ import annotations

import pytest

from agents.registry import make_agent
from hpo_gym.benchmark import run_benchmark, summary_table


@pytest.mark.slow
def test_tpe_beats_random_on_the_embedded_suite():
    """TPE's mean normalized regret at 50 evaluations is below random search's (8 tasks x 5 seeds)."""
    df = run_benchmark(["random", "tpe", "cmaes"], budget=50, seeds=5, jobs=2, resolve_agent=make_agent, progress=False)
    table = summary_table(df)
    print(table)
    assert table.loc["tpe", "regret@50"] < table.loc["random", "regret@50"]
    assert table.loc["cmaes", "regret@50"] < table.loc["random", "regret@50"]
    assert table.loc["tpe", "BtR"] >= 0.5 and table.loc["random", "BtR"] == 0.0
    assert table.loc["tpe", "MnR"] < table.loc["random", "MnR"]
