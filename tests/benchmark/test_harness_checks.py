"""Checks of the benchmark harness found in review: settings checked before the result directory is touched,
the manifest covering env_kwargs and the k-fold task order, reports of failed-only benchmarks, --retry-failed
scoped to the command, input checks, and in-sample rows labelled as such. Real tables and agents, tiny budgets."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from agents.random_search import RandomSearch
from agents.registry import make_agent
from hpo_gym.benchmark import ResultStore, run_benchmark
from hpo_gym.benchmark.report import format_summary, json_report, markdown_report
from hpo_gym.benchmark.metrics import summary_table
from hpo_gym.cli import main

FOUR_TASKS = ["credit_g", "car", "kc1", "phoneme"]


def bench(out, *extra: str) -> list[str]:
    """An ``hpo-gym bench`` command line with tiny settings (budget 5, one seed, no report)."""
    return ["bench", "--budget", "5", "--seeds", "1", "--out", str(out), "--no-report", *extra]


class TrainedOnCreditG(RandomSearch):
    """Random search that declares, like a checkpointed learned agent, that it was trained on credit_g."""

    trained_on = ("credit_g",)


class FoldTrained(RandomSearch):
    """A transfer agent that, like SB3 PPO, sets ``trained_on`` to its fold's training tasks in ``fit``."""

    def fit(self, train_objectives, seed=0):
        self.trained_on = tuple(o.name for o in train_objectives)


# -- 1. a refused --folds leaves the directory usable ---------------------------------------------------
def test_rejected_folds_writes_no_manifest(tmp_path, capsys):
    out = tmp_path / "kf"
    assert main(bench(out, "--agents", "random", "--protocol", "kfold", "--folds", "1", "--tasks", "credit_g")) == 2
    assert "folds" in capsys.readouterr().err
    assert not (out / "benchmark.json").exists()
    assert main(bench(out, "--agents", "random", "--protocol", "kfold", "--folds", "4", "--tasks", "credit_g")) == 0
    assert ResultStore(out).manifest()["folds"] == 4


# -- 2. the manifest covers env_kwargs and the k-fold task order ------------------------------------------
def test_resume_refuses_other_env_kwargs(tmp_path):
    kwargs = dict(budget=5, seeds=1, out=tmp_path, resolve_agent=make_agent, progress=False)
    clean = run_benchmark(["random"], ["kc1"], **kwargs)
    with pytest.raises(ValueError, match=r"other settings \(env_kwargs: stored \{\}, asked \{'noise': True\}\)"):
        run_benchmark(["random"], ["kc1"], env_kwargs={"noise": True}, **kwargs)
    pd.testing.assert_frame_equal(run_benchmark(["random"], ["kc1"], **kwargs), clean)  # same settings: resumes


def test_kfold_resume_refuses_another_task_order(tmp_path):
    kwargs = dict(budget=5, seeds=1, out=tmp_path, resolve_agent=make_agent, progress=False, protocol="kfold",
                  folds=2, only_tasks=["credit_g"])
    run_benchmark(["random"], FOUR_TASKS, **kwargs)
    with pytest.raises(ValueError, match="other settings \\(tasks: stored"):
        run_benchmark(["random"], FOUR_TASKS[::-1], **kwargs)  # other folds
    run_benchmark(["random"], FOUR_TASKS, **kwargs)


def test_all_protocol_still_resumes_onto_more_tasks(tmp_path):
    kwargs = dict(budget=5, seeds=1, out=tmp_path, resolve_agent=make_agent, progress=False)
    run_benchmark(["random"], ["credit_g"], **kwargs)
    df = run_benchmark(["random"], ["credit_g", "car"], **kwargs)  # tasks are independent runs under "all"
    assert set(df["task"]) == {"credit_g", "car"}


def test_manifest_from_before_the_new_keys_is_accepted_with_a_warning(tmp_path):
    kwargs = dict(budget=5, seeds=1, out=tmp_path, resolve_agent=make_agent, progress=False)
    run_benchmark(["random"], ["kc1"], **kwargs)
    path = tmp_path / "benchmark.json"
    old = {k: v for k, v in json.loads(path.read_text()).items() if k not in ("tasks", "env_kwargs")}
    path.write_text(json.dumps(old))
    with pytest.warns(RuntimeWarning, match=r"predates recording \['tasks', 'env_kwargs'\]"):
        df = run_benchmark(["random"], ["kc1"], env_kwargs={"noise": True}, **kwargs)
    assert len(df) == 5 and json.loads(path.read_text()) == old  # not rewritten: the stored runs' value is unknown
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="budget: stored 5, asked 6"):  # still checked
        run_benchmark(["random"], ["kc1"], **{**kwargs, "budget": 6})


# -- 3. report of a benchmark whose every run failed ------------------------------------------------------
def test_report_of_only_failed_runs_skips_plots_with_a_message(tmp_path, capsys):
    out = tmp_path / "p"
    assert main(bench(out, "--agents", "portfolio", "--tasks", "credit_g")) == 0  # unfitted portfolio fails
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    captured = capsys.readouterr()
    assert "| portfolio" in captured.out
    assert "plots skipped: nothing to plot: none of the 1 stored run(s) finished ok" in captured.err
    assert "--retry-failed" in captured.err and not (out / "plots").exists()


# -- 4. --retry-failed touches only this command's runs ---------------------------------------------------
def test_retry_failed_keeps_failures_outside_the_command(tmp_path):
    kwargs = dict(budget=5, out=tmp_path, resolve_agent=make_agent, progress=False)
    run_benchmark(["portfolio"], ["credit_g", "car"], seeds=2, **kwargs)  # 4 failed runs
    store = ResultStore(tmp_path)
    mtimes = {p.name: p.stat().st_mtime_ns for p in store.shard_paths()}
    assert len(mtimes) == 4
    df = run_benchmark(["portfolio"], ["credit_g"], seeds=[0], retry_failed=True, **kwargs)
    assert (df["status"] == "failed").all() and df.groupby(["agent", "task", "seed"]).ngroups == 1
    after = {p.name: p.stat().st_mtime_ns for p in store.shard_paths()}
    assert set(after) == set(mtimes)  # nothing outside the command was deleted
    rerun = store.path_of(("portfolio", "credit_g", 0)).name
    assert after[rerun] != mtimes[rerun]
    assert all(after[k] == v for k, v in mtimes.items() if k != rerun)


# -- 5. input checks ----------------------------------------------------------------------------------------
def test_empty_task_list_is_refused(tmp_path, capsys):
    assert main(bench(tmp_path / "e", "--agents", "random", "--tasks", ",")) == 2
    assert "no tasks to run" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no tasks given"):
        run_benchmark(["random"], [], budget=5, seeds=1, resolve_agent=make_agent, progress=False)


def test_openml_task_id_selects_its_task(tmp_path, capsys):
    out = tmp_path / "id"
    assert main(bench(out, "--agents", "random", "--tasks", "31")) == 0
    assert set(ResultStore(out).load()["task"]) == {"credit_g"}
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['99999'\]"):
        run_benchmark(["random"], None, only_tasks=["99999"], budget=5, seeds=1, resolve_agent=make_agent,
                      progress=False)


def test_repeated_seeds_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"seed\(s\) \[0\] given more than once.*e\.g\. \[0, 1\]"):
        run_benchmark(["random"], ["kc1"], budget=3, seeds=[0, 0, 1], resolve_agent=make_agent, progress=False,
                      out=tmp_path)
    assert not (tmp_path / "benchmark.json").exists()


# -- 6. in-sample rows ------------------------------------------------------------------------------------------
def test_rows_on_an_agents_training_tasks_are_marked_in_sample(tmp_path):
    with pytest.warns(UserWarning, match="in-sample results: trained on credit_g"):
        df = run_benchmark({"trained": TrainedOnCreditG, "random": RandomSearch}, ["credit_g", "car"], budget=5,
                           seeds=1, out=tmp_path, progress=False)
    marked = df[df["in_sample"]].drop_duplicates(["agent", "task"])
    assert marked[["agent", "task"]].values.tolist() == [["trained", "credit_g"]]
    table = format_summary(summary_table(df), {"trained": (["credit_g"], 2)})
    assert table.loc["trained", "held-out"] == "no (in-sample on 1 of 2 tasks)"
    assert table.loc["random", "held-out"] == "no"
    text = markdown_report(df[df["task"] == "credit_g"])
    assert "| no (in-sample) " in text and "trained: credit_g" in text
    assert json_report(df)["agents"]["trained"]["in_sample_tasks"] == ["credit_g"]
    assert json_report(df)["agents"]["random"]["in_sample_tasks"] == []


def test_kfold_fitted_agent_is_not_in_sample_and_nothing_warns(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        df = run_benchmark({"fold": FoldTrained}, FOUR_TASKS, budget=3, seeds=1, protocol="kfold", folds=2,
                           progress=False)
    assert df["heldout"].all() and not df["in_sample"].any()
    assert "yes (k-fold)" in markdown_report(df)


def test_shards_from_before_in_sample_load_as_not_in_sample(tmp_path):
    run_benchmark({"random": RandomSearch}, ["kc1"], budget=3, seeds=1, out=tmp_path, progress=False)
    store = ResultStore(tmp_path)
    (path,) = store.shard_paths()
    pd.read_parquet(path).drop(columns="in_sample").to_parquet(path, index=False)
    df = store.load()
    assert len(df) == 3 and df["in_sample"].dtype == bool and not df["in_sample"].any()
