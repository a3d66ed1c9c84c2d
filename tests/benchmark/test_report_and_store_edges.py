"""Second mutation review of the benchmark's metrics, report and store: each test kills a change that passed every other
test (wins_over with a reference missing a task, held-out over mixed runs, regret at a budget no run reached, the
summary's number formats, the empty per-task regret table, the comparison line's share and dash, the JSON budget, the
on-disk shard names, load order, a shard without rows, and old runs' unchecked agent files on a resume that adds
tasks). Real tables (credit_g, car), real run_benchmark on budgets 2-3 and 1-2 seeds, real result directories."""

from __future__ import annotations

import numpy as np
import pytest

from agents.random_search import RandomSearch
from hpo_gym.benchmark import ResultStore, run_benchmark
from hpo_gym.benchmark.metrics import paired_ratio_bootstrap, per_task_table, summary_table, wins_over
from tests.benchmark.test_harness_boundaries import FailsAtStep2  # raises on its second proposal


class Twin(RandomSearch):
    """Random search under another label: the same seed plays the same configurations, so its regrets equal random's."""


class CheatingTransfer(RandomSearch):
    """A k-fold transfer agent that says it trained on a held-out task (credit_g) besides its training tasks."""

    def fit(self, train_objectives, seed=0):
        self.trained_on = [o.name for o in train_objectives] + ["credit_g"]


@pytest.fixture(scope="module")
def twins():
    """random and an identical twin on credit_g and car, budget 3, 2 seeds (a step table)."""
    return run_benchmark({"random": RandomSearch, "twin": Twin}, ["credit_g", "car"], budget=3, seeds=2, progress=False)


def test_a_reference_without_a_run_on_a_task_makes_that_task_no_win_and_no_loss(tmp_path):
    """wins_over: NaN where the reference has no value (a partly finished directory: random never ran car). Counted as
    a loss (0.0), a script's "beats random on k of n tasks" would count car among the n."""
    out = tmp_path / "b"
    run_benchmark({"random": RandomSearch}, ["credit_g"], budget=2, seeds=1, out=out, progress=False)
    run_benchmark({"twin": Twin}, ["credit_g", "car"], budget=2, seeds=1, out=out, progress=False)
    per_task = per_task_table(ResultStore(out).load()).T  # agent x task; random's car is NaN
    assert np.isnan(per_task.loc["random", "car"])
    wins = wins_over(per_task, "random")
    assert np.isnan(wins.loc["twin", "car"]) and wins.loc["twin", "credit_g"] == 0.0  # a tie is no win
    assert wins.loc["twin"].count() == 1


def test_an_agent_in_sample_on_one_of_its_tasks_is_not_held_out(tmp_path):
    """held_out_by_agent: held out only when *every* run is (all, not any); a k-fold agent that declared it trained on
    credit_g is in-sample there, so its row, the JSON's heldout and the report's held-out footnote must not say yes."""
    with pytest.warns(UserWarning, match="in-sample results"):
        df = run_benchmark({"cheat": CheatingTransfer}, ["credit_g", "car"], budget=2, seeds=1, protocol="kfold",
                           folds=2, progress=False)
    assert df.groupby("task")["heldout"].all().to_dict() == {"car": True, "credit_g": True}
    assert not summary_table(df).loc["cheat", "heldout"]


class ArrivedTrained(RandomSearch):
    """An agent that arrived trained on kc1 and car (a saved policy, say): it declares them, and has no fit."""

    trained_on = ("kc1", "car")


def test_an_agent_that_arrived_trained_is_held_out_on_the_tasks_outside_its_trained_on(tmp_path):
    """Found by a new user: a pre-trained agent scored on tasks it never saw was reported ``no``, like a baseline, and
    one scored on a mix averaged its in-sample runs with held-out ones under ``no (in-sample on 1 of 3 tasks)``. Its
    runs outside ``trained_on`` are now held-out, stored so, and the report says why; a mix is still not held-out."""
    from hpo_gym.benchmark.report import load_results, markdown_report

    out = tmp_path / "unseen"
    df = run_benchmark({"mine": ArrivedTrained, "random": RandomSearch}, ["credit_g", "vehicle"], budget=2, seeds=1,
                       out=out, progress=False)
    assert df.groupby("agent")["heldout"].all().to_dict() == {"mine": True, "random": False}
    text = markdown_report(load_results(out))
    assert summary_rows(text)["mine"]["held-out"] == "yes (not in trained_on)"
    assert summary_rows(text)["random"]["held-out"] == "no"
    assert "held-out = yes (not in trained_on): an agent that arrived trained" in text and "(k-fold)" not in text
    with pytest.warns(UserWarning, match="in-sample results: mine on kc1"):
        mixed = run_benchmark({"mine": ArrivedTrained}, ["credit_g", "kc1"], budget=2, seeds=1, progress=False)
    assert mixed.groupby("task")["heldout"].all().to_dict() == {"credit_g": True, "kc1": False}
    assert mixed.groupby("task")["in_sample"].all().to_dict() == {"credit_g": False, "kc1": True}
    assert summary_rows(markdown_report(mixed))["mine"]["held-out"] == "no (in-sample on 1 of 2 tasks)"
    # under k-fold such an agent (no fit) plays every fold as it is: the runs do not say how they are held-out, so the
    # k-fold legend names both ways (found in review: it spoke of fitting only)
    kfold = run_benchmark({"mine": ArrivedTrained}, ["credit_g", "vehicle"], budget=2, seeds=1, protocol="kfold",
                          folds=2, progress=False)
    text = markdown_report(kfold)
    assert summary_rows(text)["mine"]["held-out"] == "yes (k-fold)"
    assert "one that arrived trained declares tasks (its trained_on) none of which it was scored on" in text


def test_a_budget_no_run_reached_has_no_regret_and_no_comparison(twins):
    """at_budget keeps only the runs that reached b evaluations: runs of budget 3 have no regret at 10 (the last step's
    regret must not stand in for it, which would report a budget nobody ran), and a comparison there is refused."""
    table = summary_table(twins, budgets=[2, 10])
    assert table["regret@2"].notna().all() and table["regret@10"].isna().all()
    with pytest.raises(ValueError, match=r"no finished runs at budget 10"):
        paired_ratio_bootstrap(twins, "twin", "random", b=10, n_boot=100)
    assert paired_ratio_bootstrap(twins, "twin", "random", b=3, n_boot=100)["ratio"] == 1.0


def summary_rows(text: str) -> dict[str, dict[str, str]]:
    """The Markdown summary table of a report as {agent: {column: cell}}."""
    lines = [line for line in text.split("\n\n")[1].splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return {cells[0]: dict(zip(header, cells)) for cells in
            ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])}


def test_the_summary_cells_carry_the_std_two_decimal_ranks_and_two_digit_seconds():
    """format_summary: no 'failed' column without a failed run; regret@b reads mean ± *std* (not the mean twice), MnR
    two decimals (1.50, not 1.5: tied twins), and s/suggestion two significant digits (a random step takes
    microseconds: '.2f' printed 0.00 for every agent)."""
    from hpo_gym.benchmark.report import markdown_report, regret_text

    df = run_benchmark({"random": RandomSearch, "twin": Twin}, ["credit_g", "car"], budget=3, seeds=2, progress=False)
    table = summary_table(df)
    rows = summary_rows(markdown_report(df, per_task=False))
    assert set(rows) == {"random", "twin"} and "failed" not in rows["random"]  # the column only when a run failed
    for agent, row in rows.items():
        final = df[(df["agent"] == agent) & (df["step"] == 3)]["normalized_regret"]
        assert final.mean() != pytest.approx(final.std(ddof=1))
        assert row["regret@3"] == f"{regret_text(final.mean())} ± {regret_text(final.std(ddof=1))}"
        assert row["MnR"] == "1.50" and row["BtR"] in ("0.00", "-")
        seconds = table.loc[agent, "sec/suggestion"]
        assert 0 < seconds < 0.005 and row["s/suggestion"] == format(seconds, ".2g") != "0.00"


def test_a_report_of_live_tasks_only_prints_no_empty_regret_table():
    """markdown_report: the per-task regret table is printed only when some task has a regret; on live tasks only the
    best-score table is (it printed a heading over an empty table before it)."""
    from hpo_gym.benchmark.report import markdown_report
    from hpo_gym.objective import Evaluation, EvaluationBatch, as_config_list
    from hpo_gym.space import Float, SearchSpace

    class Bowl:
        name = "bowl"
        space = SearchSpace([Float("x", 0.0, 1.0)])
        oracle = None
        metadata = {"task": "bowl"}

        def evaluate(self, config, seed=None):
            return Evaluation(1.0 - (config["x"] - 0.3) ** 2, 0.0, {})

        def evaluate_batch(self, configs, seeds=None):
            return EvaluationBatch.from_evaluations([self.evaluate(c) for c in as_config_list(self.space, configs)])

    df = run_benchmark({"random": RandomSearch, "twin": Twin}, [Bowl()], budget=2, seeds=1, progress=False)
    text = markdown_report(df)
    assert "Mean normalized regret per task" not in text
    assert "Mean best score per task at budget 2" in text and "| bowl " in text


# -- store ------------------------------------------------------------------------------------------------------------
def test_shard_names_stay_those_earlier_versions_wrote(tmp_path):
    """shard_name is the on-disk format: read_shard checks a shard's name against it, and resume skips a run whose
    shard exists under it, so a changed slug or hash length would call every stored run damaged (or rerun them all)."""
    from hpo_gym.benchmark.store import shard_name

    assert shard_name(("random", "credit_g", 0)) == "random__credit_g__s0__f66a8410de.parquet"
    assert (shard_name(("grpoformer:runs/my model/policy.pt", "car", 12))
            == "grpoformer-runs-my-model-policy.pt__car__s12__90895e2d4e.parquet")
    run_benchmark({"random": RandomSearch}, ["credit_g"], budget=2, seeds=1, out=tmp_path, progress=False)
    assert [p.name for p in ResultStore(tmp_path).shard_paths()] == ["random__credit_g__s0__f66a8410de.parquet"]


def test_loaded_steps_are_in_seed_order_not_file_name_order(tmp_path):
    """ResultStore.load sorts by agent, task, seed, step: shard files list s10 before s2, the steps must not."""
    run_benchmark({"random": RandomSearch}, ["car"], budget=2, seeds=[2, 10], out=tmp_path, progress=False)
    df = ResultStore(tmp_path).load()
    assert df[["seed", "step"]].values.tolist() == [[2, 1], [2, 2], [10, 1], [10, 2]]


def test_a_shard_with_the_columns_but_no_rows_is_damaged_not_an_absent_run(tmp_path):
    """The one-scan read must step aside for a shard without rows (read_shard then names it): read as nothing, the run
    would be missing from every metric while resume, which sees its file, never plays it again."""
    from hpo_gym.benchmark.store import DamagedShard

    run_benchmark({"random": RandomSearch}, ["car"], budget=2, seeds=2, out=tmp_path, progress=False)
    store = ResultStore(tmp_path)
    key = ("random", "car", 1)
    store.write_run(key, store.load([key]).iloc[:0])
    with pytest.raises(DamagedShard, match=r"random__car__s1__.*is not a complete run \(missing columns \[\] or no "
                                           r"rows\)"):
        store.load()


def test_the_comparison_line_gives_the_share_at_or_below_the_threshold_in_percent_with_two_decimals(twins):
    """ratio_comparison: twin / random is exactly 1 in every resample, so the share at or below 1 is 100.00 % (at, not
    only below), printed with two decimals as the README shows it."""
    from hpo_gym.benchmark.report import ratio_comparison

    line, facts = ratio_comparison(twins, "twin", "random", threshold=1.0)
    assert facts["ratio"] == facts["low"] == facts["high"] == 1.0 and facts["share_at_or_below_threshold"] == 1.0
    assert line.startswith("twin / random mean regret@3: 1.00, 95% interval 1.00-1.00 (paired bootstrap over seeds, "
                           "drawn once for all tasks, 10000 resamples, 4 runs on 2 tasks)")
    assert "; share of resamples at or below 1: 100.00%; only 2 seeds on some task" in line


def test_an_interval_from_zero_reads_as_a_range_with_a_dash(twins):
    """ratio_comparison writes 'low-high' for a low of 0 (only a negative low needs ' to '): here twin found every
    optimum on seed 0 (its regrets there set to 0), so a resample drawing seed 0 twice has the ratio 0."""
    from hpo_gym.benchmark.report import ratio_comparison

    df = twins.copy()
    df.loc[(df["agent"] == "twin") & (df["seed"] == 0), "normalized_regret"] = 0.0
    line, facts = ratio_comparison(df, "twin", "random")
    assert facts["low"] == 0.0 and facts["high"] == 1.0
    assert ", 95% interval 0.00-1.00 (paired bootstrap" in line


def test_the_json_report_gives_the_benchmarks_budget_even_when_no_run_reached_it():
    """json_report's budget is the benchmark's (the budget column), not the longest run: with every run failed after one
    step it is still 3, as the Markdown report's header says."""
    from hpo_gym.benchmark.report import json_report, markdown_report

    df = run_benchmark({"flaky": FailsAtStep2}, ["car"], budget=3, seeds=1, progress=False)
    assert (df["status"] == "failed").all() and df["step"].max() == 1
    report = json_report(df)
    assert report["budget"] == 3 and "regret@3" in report["definitions"]
    assert "BtR, MP, MnP, MnR at budget 3." in markdown_report(df)



class PlaysFromAFile(RandomSearch):
    """Random search that reports a file fingerprint, as a checkpoint agent does."""

    fingerprint = "files:0123456789abcdef"


def test_old_runs_of_an_agent_are_left_unchecked_when_a_resume_adds_tasks(tmp_path):
    """check_agent_files leaves an agent's fingerprint unrecorded (and warns) when it has *any* run here from before
    fingerprints were recorded: a resume that adds car to credit_g's old runs must not record this command's files as
    those old runs' files (`all` pairs having runs would have recorded it, unwarned)."""
    import json

    kwargs = dict(budget=2, seeds=1, out=tmp_path, progress=False)
    run_benchmark({"filed": PlaysFromAFile}, ["credit_g"], **kwargs)
    assert json.loads((tmp_path / "agents.json").read_text()) == {"filed": "files:0123456789abcdef"}
    (tmp_path / "agents.json").unlink()  # a directory from before agent files were recorded
    with pytest.warns(RuntimeWarning, match=r"has runs of \['filed'\] from before agent files were recorded"):
        run_benchmark({"filed": PlaysFromAFile}, ["credit_g", "car"], **kwargs)
    assert not (tmp_path / "agents.json").exists()


def test_an_agent_whose_every_run_failed_does_not_empty_the_shared_pairs():
    """shared_runs counts the agents with a finished run: one whose every run failed has no numbers to rank and must not
    shrink the others' (task, seed) pairs to none (BtR and MnR were then undefined for everyone, the rank curve empty)."""
    from hpo_gym.benchmark.metrics import rank_curve, shared_runs

    df = run_benchmark({"random": RandomSearch, "twin": Twin, "flaky": FailsAtStep2}, ["credit_g", "car"], budget=3,
                       seeds=1, progress=False)
    assert set(df[df["status"] != "ok"]["agent"]) == {"flaky"} and (df[df["agent"] == "flaky"]["status"] != "ok").all()
    assert len(shared_runs(df)) == len(df)
    table = summary_table(df)
    assert table.loc[["random", "twin"], "MnR"].tolist() == [1.5, 1.5] and table.loc["twin", "BtR"] == 0.0
    assert table.loc["flaky", "failed"] == 2 and np.isnan(table.loc["flaky", "MnR"])
    assert list(rank_curve(df).columns) == ["random", "twin"]
