"""Task-difficulty facts (hpo_gym.benchmark.difficulty) on a hand-made table and on a real embedded table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hpo_gym.benchmark.difficulty import best_cell_hits, miss_the_best_floor, regret_profile, suite_profile
from hpo_gym.suites import load_hpobench_nn
from hpo_gym.tabular import TabularObjective


def three_cell_table(scores: dict[int, list[float]]) -> TabularObjective:
    rows = [{"x": x, "seed": s, "acc": v} for x, vals in scores.items() for s, v in enumerate(vals)]
    return TabularObjective.from_dataframe(pd.DataFrame(rows), metric="acc", seed_column="seed", name="hand")


def test_profile_hand_computed():
    # means 0.9, 0.7, 0.1 -> oracle best 0.9, worst 0.1; the runner-up's regret is 0.2 / 0.8 = 0.25.
    # Per-seed leads of the best over the runner-up: 0.3, 0.1, 0.2 -> mean 0.2, sd 0.1, z = 0.2 / (0.1 / sqrt 3).
    table = three_cell_table({0: [1.0, 0.9, 0.8], 1: [0.7, 0.8, 0.6], 2: [0.0, 0.1, 0.2]})
    p = regret_profile(table, thresholds=(0.005, 0.3, 1.0))
    assert p["cells"] == 3
    assert (p["within_0.005"], p["within_0.3"], p["within_1"]) == (1, 2, 3)
    assert p["runner_up_regret"] == pytest.approx(0.25)
    assert p["lead_z"] == pytest.approx(0.2 / (0.1 / np.sqrt(3)))


def test_a_constant_lead_has_no_z_and_missing_cells_are_not_counted():
    """A lead identical in every seed has a std of float round-off (~1e-17), which made lead_z about 1e15; it is NaN
    as documented. A missing cell is neither counted nor taken as the runner-up; one scored cell is refused."""
    constant = three_cell_table({0: [0.9, 0.8, 0.7], 1: [0.8, 0.7, 0.6], 2: [0.1, 0.1, 0.1]})
    assert np.isnan(regret_profile(constant)["lead_z"])
    tied = three_cell_table({0: [0.9, 0.8, 0.7], 1: [0.9, 0.8, 0.7], 2: [0.1, 0.1, 0.1]})  # car: a shared best score
    assert regret_profile(tied)["lead_z"] == 0.0 and regret_profile(tied)["runner_up_regret"] == 0.0
    rows = [{"x": x, "y": y, "acc": v} for x, y, v in [(0, 0, 0.9), (0, 1, 0.5), (1, 0, 0.2)]]  # cell (1, 1) missing
    holes = TabularObjective.from_dataframe(pd.DataFrame(rows), metric="acc", name="holes")
    profile = regret_profile(holes)
    assert profile["cells"] == 3 and profile["runner_up_regret"] == pytest.approx(0.4 / 0.7)
    one = TabularObjective.from_dataframe(pd.DataFrame([{"x": 0, "acc": 0.9}, {"x": 1, "acc": np.nan}]), metric="acc")
    with pytest.raises(ValueError, match="1 scored cell"):
        regret_profile(one)


def test_shared_best_has_no_runner_up_gap_and_no_hits_column():
    table = three_cell_table({0: [0.9, 0.8], 1: [0.8, 0.9], 2: [0.1, 0.2]})  # cells 0 and 1 tie at mean 0.85
    profile = suite_profile({"tied": table, "hand": three_cell_table({0: [1.0, 0.9], 1: [0.5, 0.6], 2: [0.0, 0.1]})})
    assert profile.loc["tied", "runner_up_regret"] == 0.0
    assert miss_the_best_floor(profile) == pytest.approx(profile.loc["hand", "runner_up_regret"] / 2)
    final = pd.DataFrame({"agent": ["a", "a", "a", "b"], "task": ["hand", "hand", "tied", "hand"],
                          "regret": [0.0, 0.5, 0.0, 0.45]})  # runner-up regret 0.4 / 0.9
    hits = best_cell_hits(final, profile)
    assert list(hits.columns) == ["hand"]  # the tied task has no single best cell to find
    assert hits.loc["a", "hand"] == 0.5 and hits.loc["b", "hand"] == 0.0


def test_real_table_profile_matches_a_direct_count():
    table = load_hpobench_nn("blood_transfusion")
    p = regret_profile(table)
    regret = (table.oracle.best - table.mean_scores) / (table.oracle.best - table.oracle.worst)
    assert p["cells"] == regret.size == 30_000
    assert p["within_0.01"] == int(np.sum(regret <= 0.01))
    assert p["runner_up_regret"] == pytest.approx(np.sort(regret)[1])
    assert p["runner_up_regret"] > 0.03  # this table's best cell stands alone (see the README, "Reading the 0.52x")
    assert 0 < p["lead_z"] < 2  # ... by a lead within two standard errors of its own seeds


def test_profile_needs_an_oracle():
    class NoOracle:
        name, oracle = "live", None

    with pytest.raises(ValueError, match="no oracle"):
        regret_profile(NoOracle())  # type: ignore[arg-type]


def test_tasks_cli_prints_difficulty_columns(capsys):
    from hpo_gym.cli import main

    assert main(["tasks", "--difficulty"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[-3:] == ["within_0.01", "runner_up_regret", "lead_z"]
    blood = next(line for line in lines if line.startswith("| blood_transfusion"))
    cells = [c.strip() for c in blood.strip("|").split("|")]
    assert cells[-3:-1] == ["1", "0.0339"]


def test_regret_vs_floor_plot_is_a_png(tmp_path):
    from hpo_gym.benchmark.plots import plot_regret_vs_floor

    profile = suite_profile({"hand": three_cell_table({0: [1.0, 0.9], 1: [0.5, 0.6], 2: [0.0, 0.1]}),
                             "tied": three_cell_table({0: [0.9, 0.8], 1: [0.8, 0.9], 2: [0.1, 0.2]})})
    per_task = pd.DataFrame({"a": [0.5, 0.0], "b": [0.45, 0.01]}, index=["hand", "tied"])  # regret 0 is drawn at the axis floor
    png = plot_regret_vs_floor(per_task, profile["runner_up_regret"], tmp_path / "floor.png", budget=2).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
