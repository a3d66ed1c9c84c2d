"""Legitimate but unusual data through the harness, the metrics and the report (from an audit): float round-off must
not decide ranks or make a flat task look hard, undefined bootstrap resamples must not count as misses, regrets a
user's oracle does not bound are flagged, and names cannot break the Markdown tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from agents.registry import make_agent
from hpo_gym.benchmark import run_benchmark, summary_table
from hpo_gym.benchmark.metrics import paired_ratio_bootstrap
from hpo_gym.benchmark.report import json_report, markdown_report
from hpo_gym.objective import Evaluation, EvaluationBatch, Oracle, as_config_list
from hpo_gym.space import Float, SearchSpace
from hpo_gym.tabular import TabularObjective
from tests.benchmark.test_metrics import paired_frame


class Fixed:
    """An agent that always proposes the same point of the unit cube."""

    def __init__(self, u: float):
        self.u = u

    def reset(self, space, seed=None, budget=None):
        pass

    def act(self, observation):
        return np.array([self.u], np.float32)


def test_cells_whose_seed_means_differ_only_in_the_last_bit_tie():
    # a=0 has seed scores (0.1, 0.2), a=1 (0.15, 0.15): both mean 0.15, as floats 0.15000000000000002 and 0.15
    table = TabularObjective.from_dataframe(pd.DataFrame({"a": [0, 0, 1, 1, 2, 2], "seed": [0, 1] * 3,
                                                          "acc": [0.1, 0.2, 0.15, 0.15, 0.0, 0.0]}),
                                            metric="acc", seed_column="seed", name="tie")
    df = run_benchmark({"random": lambda: Fixed(0.5), "first": lambda: Fixed(0.0)}, tasks=[table], budget=1, seeds=2,
                       progress=False)
    table = summary_table(df)
    assert table.loc["first", "BtR"] == 0.0  # not "beats Random" on a last-bit difference
    assert table.loc["first", "MnR"] == table.loc["random", "MnR"] == 1.5


def test_a_table_flat_up_to_round_off_has_regret_zero_everywhere():
    flat = TabularObjective.from_dataframe(pd.DataFrame({"a": [0, 0, 0, 1, 1, 1], "seed": [0, 1, 2] * 2,
                                                         "acc": [0.1, 0.2, 0.3, 0.3, 0.2, 0.1]}),
                                           metric="acc", seed_column="seed")
    assert flat.oracle.normalized_regret(flat.mean_scores).tolist() == [0.0, 0.0]  # was [0, 1]: both cells mean 0.2


def test_bootstrap_leaves_out_resamples_where_both_agents_found_every_optimum():
    # seed 0: both regret 0 (ratio 0/0 when a resample draws it twice); seed 1: 0.1 vs 0.2
    df = paired_frame({"ref": {("A", 0): 0.0, ("A", 1): 0.2}, "x": {("A", 0): 0.0, ("A", 1): 0.1}})
    ci = paired_ratio_bootstrap(df, "x", "ref", n_boot=2000, threshold=0.5)
    assert ci["low"] == ci["high"] == 0.5
    assert ci["share_at_or_below_threshold"] == 1.0  # every defined resample is exactly 0.5 (was 0.76)
    assert 300 < ci["undefined_resamples"] < 700 and "resamples left out: both agents found every optimum" in ci["note"]


class NarrowOracle:
    """A user objective whose declared oracle (-0.01, -0.05) does not bound its scores (0 to -0.49)."""

    name = "quad"
    space = SearchSpace([Float("x", 0.0, 1.0)])
    oracle = Oracle(-0.01, -0.05)
    metadata: dict = {}

    def evaluate(self, config, seed=None):
        return Evaluation(-(config["x"] - 0.3) ** 2, 0.0, {})

    def evaluate_batch(self, configs, seeds=None):
        return EvaluationBatch.from_evaluations([self.evaluate(c) for c in as_config_list(self.space, configs)])


def test_regrets_outside_zero_one_are_flagged_in_both_reports():
    df = run_benchmark(["random"], tasks=[NarrowOracle()], budget=4, seeds=3, resolve_agent=make_agent, progress=False)
    r = df["normalized_regret"]
    n_off = df.loc[(r < 0) | (r > 1), "seed"].nunique()
    assert n_off >= 1  # seed 0's first proposal scores below the declared worst
    assert f"WARNING: {n_off} run(s) on quad have a normalized regret outside [0, 1]" in markdown_report(df)
    off = json.loads(json.dumps(json_report(df)))["regret_out_of_range"]
    assert off["runs"] == n_off and off["tasks"] == ["quad"] and off["min"] == r.min() and off["max"] == r.max()


def test_suite_runs_have_no_range_warning(tmp_path):
    df = run_benchmark(["random"], tasks=["credit_g"], budget=3, seeds=1, resolve_agent=make_agent, progress=False)
    assert "outside [0, 1]" not in markdown_report(df) and "regret_out_of_range" not in json_report(df)


@pytest.mark.parametrize("name", ["tpe|v2", "two\nlines"])
def test_names_with_markdown_separators_keep_every_number_under_its_header(name):
    table = TabularObjective.from_dataframe(pd.DataFrame({"a": [0, 1, 2], "acc": [0.1, 0.5, 0.3]}), metric="acc",
                                            name=name)
    df = run_benchmark({name: lambda: Fixed(0.5), "random": lambda: Fixed(0.0)}, tasks=[table], budget=1, seeds=1,
                       progress=False)
    for block in markdown_report(df).split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        cells = [len(line.replace("\\|", "").split("|")) for line in rows]
        assert len(set(cells)) <= 1, block  # every row of a table has as many cells as its header


def test_scores_on_other_scales_keep_their_digits_in_the_summary():
    from hpo_gym.benchmark.report import format_summary

    tiny = TabularObjective.from_dataframe(pd.DataFrame({"a": [0, 1, 2], "loss": [4e-12, 5e-12, 6e-12]}),
                                           metric="loss", direction="minimize", name="tiny")
    df = run_benchmark({"random": lambda: Fixed(0.0), "mid": lambda: Fixed(0.5)}, tasks=[tiny], budget=1, seeds=1,
                       progress=False)
    shown = format_summary(summary_table(df))
    assert shown.loc["random", "MP"] == "-4e-12" and shown.loc["mid", "MP"] == "-5e-12"  # were both -0.0000
