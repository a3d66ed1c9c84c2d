"""Checks of the benchmark harness found in review: settings checked before the result directory is touched,
the manifest covering env_kwargs and the k-fold task order, reports of failed-only benchmarks, --retry-failed
scoped to the command, input checks, and in-sample rows labelled as such. Real tables and agents, tiny budgets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from agents.random_search import RandomSearch
from agents.registry import make_agent
from hpo_gym.benchmark import ResultStore, run_benchmark, runner
from hpo_gym.benchmark.report import format_summary, json_report, markdown_report
from hpo_gym.benchmark.metrics import summary_table
from hpo_gym.cli import main

FOUR_TASKS = ["credit_g", "car", "kc1", "phoneme"]


#: An agent given as MODULE:FACTORY that raises at its third step: its runs are stored as failed.
FAILING = "tests.benchmark.test_runner:FailingAgent"


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


def test_an_action_type_agents_cannot_play_is_refused_before_any_run(tmp_path):
    """env_kwargs={'action_type': 'dict'} made every run fail at its first step, stored as finished failed runs."""
    with pytest.raises(ValueError, match="env_kwargs action_type='dict': agents propose a Box action"):
        run_benchmark(["random"], ["kc1"], budget=3, seeds=1, out=tmp_path, resolve_agent=make_agent,
                      env_kwargs={"action_type": "dict"}, progress=False)
    assert not (tmp_path / "benchmark.json").exists()


def test_a_directory_without_a_finished_run_takes_new_settings(tmp_path):
    """A command interrupted before its first run (or a typo such as --budget 500) wrote the manifest, and every
    corrected command was then refused as 'other settings' although nothing was stored."""
    store = ResultStore(tmp_path)
    store.check_manifest({"budget": 500, "protocol": "all", "suite": "hpobench-nn", "env_kwargs": {}})
    (tmp_path / "agents.json").write_text('{"random": "stale"}')
    (tmp_path / "fitted").mkdir()
    (tmp_path / "fitted" / "portfolio__fold0__abc.pkl").write_bytes(b"fitted under the old settings")
    kwargs = dict(seeds=1, out=tmp_path, resolve_agent=make_agent, progress=False)
    with pytest.warns(RuntimeWarning, match=r"held no finished run of its settings \(budget: stored 500, asked 5\)"):
        assert len(run_benchmark(["random"], ["kc1"], budget=5, **kwargs)) == 5
    assert store.manifest()["budget"] == 5 and not list((tmp_path / "fitted").glob("*.pkl"))
    with pytest.raises(ValueError, match=r"other settings \(budget: stored 5, asked 6\)"):  # now it holds a run
        run_benchmark(["random"], ["kc1"], budget=6, **kwargs)


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
    assert main(bench(out, "--agents", FAILING, "--tasks", "credit_g")) == 1  # it raises at its third step
    assert "1 run(s) failed (stored; rerun them with --retry-failed" in capsys.readouterr().err
    assert main(["report", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"| {FAILING}" in captured.out
    assert "plots skipped: nothing to plot: none of the 1 stored run(s) finished ok" in captured.err
    assert "--retry-failed" in captured.err and not (out / "plots").exists()


# -- 4. --retry-failed touches only this command's runs ---------------------------------------------------
def test_retry_failed_keeps_failures_outside_the_command(tmp_path):
    kwargs = dict(budget=5, out=tmp_path, resolve_agent=make_agent, progress=False)
    run_benchmark([FAILING], ["credit_g", "car"], seeds=2, **kwargs)  # 4 failed runs
    store = ResultStore(tmp_path)
    mtimes = {p.name: p.stat().st_mtime_ns for p in store.shard_paths()}
    assert len(mtimes) == 4
    df = run_benchmark([FAILING], ["credit_g"], seeds=[0], retry_failed=True, **kwargs)
    assert (df["status"] == "failed").all() and df.groupby(["agent", "task", "seed"]).ngroups == 1
    after = {p.name: p.stat().st_mtime_ns for p in store.shard_paths()}
    assert set(after) == set(mtimes)  # nothing outside the command was deleted
    rerun = store.path_of((FAILING, "credit_g", 0)).name
    assert after[rerun] != mtimes[rerun]
    assert all(after[k] == v for k, v in mtimes.items() if k != rerun)


# -- 5. input checks ----------------------------------------------------------------------------------------
def test_an_agent_that_must_be_fitted_is_refused_outside_kfold_before_anything_runs(tmp_path, capsys):
    """An unfitted portfolio or PPO under the default protocol failed every run, and those stored failures then
    locked the directory against the k-fold rerun; --folds without k-fold was silently ignored."""
    for agent in ("portfolio", "random,portfolio+tpe:0", "ppo"):
        assert main(bench(tmp_path / "x", "--agents", agent, "--tasks", "car")) == 2
        assert "records no training tasks (its trained_on is empty), so it cannot play before it is fitted: run it " \
               "with --protocol kfold" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(bench(tmp_path / "x", "--agents", "random", "--tasks", "car", "--folds", "4")) == 2
    assert "--folds 4 applies to --protocol kfold only; add --protocol kfold, or drop --folds" in capsys.readouterr().err


class FitWithoutTrainedOn(RandomSearch):
    """A user's transfer agent as the README first described it: ``fit`` and no ``trained_on``."""

    def fit(self, train_objectives, seed=None):
        self.fitted_on = [o.name for o in train_objectives]


class FitWithTrainedOn(FitWithoutTrainedOn):
    trained_on = ("kc1",)  # arrives trained: plays under protocol "all", its kc1 runs marked in-sample


def test_a_users_agent_with_fit_but_no_trained_on_is_refused_outside_kfold(tmp_path):
    """Under protocol 'all' nothing calls fit: such an agent played unfitted and its runs were stored as 'ok'."""
    with pytest.raises(ValueError, match=r"agent 'mine' has fit\(\) but no trained_on: outside --protocol kfold nothing "
                                         r"calls fit, so it would play unfitted.*trained_on = the task names it was "
                                         r"trained on \(\(\) while unfitted\)"):
        run_benchmark({"mine": FitWithoutTrainedOn}, ["car"], budget=3, seeds=1, out=tmp_path / "a", progress=False)
    assert not (tmp_path / "a").exists()
    with pytest.warns(UserWarning, match="in-sample results: mine on kc1"):
        df = run_benchmark({"mine": FitWithTrainedOn}, ["car", "kc1"], budget=3, seeds=1, out=tmp_path / "b",
                           progress=False)
    assert (df["status"] == "ok").all()
    assert df.groupby("task")["in_sample"].all().to_dict() == {"car": False, "kc1": True}
    folds = run_benchmark({"mine": FitWithoutTrainedOn}, ["car", "kc1"], budget=3, seeds=1, out=tmp_path / "c",
                          protocol="kfold", folds=2, progress=False)
    assert (folds["status"] == "ok").all() and folds["heldout"].all()


def test_empty_task_list_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:  # refused when the command line is read
        main(bench(tmp_path / "e", "--agents", "random", "--tasks", ","))
    assert exit_info.value.code == 2 and "argument --tasks: ',' names nothing" in capsys.readouterr().err
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
    # a huge count built its list of seeds (gigabytes) before any check: a MemoryError traceback (found in review)
    with pytest.raises(ValueError, match=r"seeds=10000000000: at most 1,000,000 seeds"):
        run_benchmark(["random"], ["kc1"], budget=3, seeds=10**10, resolve_agent=make_agent, progress=False,
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


class TrainedOnOpenMLTask31(RandomSearch):
    """Declares its training task by OpenML task id, as an agent fitted on ``openml.tasks.get_task(31)`` might."""

    trained_on = (31,)


@pytest.mark.parametrize("ids", [(31,), ("31",), 31])
def test_training_tasks_given_as_openml_ids_mark_their_tasks_in_sample(tmp_path, ids):
    """Runs are named by task name; an agent recording OpenML task 31 (credit_g) was reported held-out there."""
    agent = type("ByIds", (RandomSearch,), {"trained_on": ids})
    with pytest.warns(UserWarning, match="in-sample results: trained on credit_g"):
        df = run_benchmark({"trained": agent}, ["credit_g", "car"], budget=3, seeds=1, out=tmp_path, progress=False)
    assert df[df["in_sample"]]["task"].unique().tolist() == ["credit_g"]
    assert runner.trained_on(TrainedOnOpenMLTask31()) == frozenset({"31"})  # without a suite: the entries as given


def test_stored_runs_are_marked_in_sample_by_the_agents_declaration_on_a_rerun(tmp_path):
    """A run stored by code that missed the declaration (ids matched no name before) is marked when read back."""
    from hpo_gym.benchmark import ResultStore

    with pytest.warns(UserWarning, match="in-sample"):
        run_benchmark({"trained": TrainedOnOpenMLTask31}, ["credit_g", "car"], budget=3, seeds=1, out=tmp_path,
                      progress=False)
    for shard in ResultStore(tmp_path).shard_paths():  # as the earlier code stored them: no run in-sample
        pd.read_parquet(shard).assign(in_sample=False).to_parquet(shard)
    assert not ResultStore(tmp_path).load()["in_sample"].any()
    with pytest.warns(UserWarning, match="in-sample results: trained on credit_g"):
        again = run_benchmark({"trained": TrainedOnOpenMLTask31}, ["credit_g", "car"], budget=3, seeds=1, out=tmp_path,
                              progress=False)
    assert again[again["in_sample"]]["task"].unique().tolist() == ["credit_g"]


def test_kfold_fitted_agent_is_not_in_sample_and_nothing_warns(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        df = run_benchmark({"fold": FoldTrained}, FOUR_TASKS, budget=3, seeds=1, protocol="kfold", folds=2,
                           progress=False)
    assert df["heldout"].all() and not df["in_sample"].any()
    assert "yes (k-fold)" in markdown_report(df)


@pytest.mark.parametrize("n_old", [1, 2])  # every shard old (one scan), or old beside new (shard by shard)
def test_shards_from_before_in_sample_and_eval_error_load_with_their_defaults(tmp_path, n_old):
    run_benchmark({"random": RandomSearch}, ["kc1", "car"], budget=3, seeds=1, out=tmp_path, progress=False)
    store = ResultStore(tmp_path)
    for path in store.shard_paths()[:n_old]:
        pd.read_parquet(path).drop(columns=["in_sample", "eval_error"]).to_parquet(path, index=False)
    df = store.load()
    assert len(df) == 6 and df["in_sample"].dtype == bool and not df["in_sample"].any()
    assert (df["eval_error"] == "").all()


# -- 7. store housekeeping, fitted-agent cache, trained_on, refusals ---------------------------------------------
def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_clean_temporaries_removes_only_dead_writers_files(tmp_path):
    run_benchmark({"random": RandomSearch}, ["kc1"], budget=3, seeds=1, out=tmp_path, progress=False)
    store = ResultStore(tmp_path)
    (shard,) = store.shard_paths()
    dead = store.runs_dir / f".{shard.name}.tmp-{_dead_pid()}"
    nameless = store.runs_dir / f".{shard.name}.tmp-x"  # no pid in the name: no writer can own it
    alive = store.runs_dir / f".{shard.name}.tmp-{os.getpid()}"  # a live writer's file is left alone
    for p in (dead, nameless, alive):
        p.write_bytes(b"half a shard")
    assert store.clean_temporaries() == 2
    assert not dead.exists() and not nameless.exists() and alive.exists() and shard.exists()
    assert store.clean_temporaries() == 0
    # a benchmark cleans up at start, and the half-written file never counts as a run; it holds the directory's lock,
    # so a file named by a live pid is stale too (pids are reused: a container's rerun often gets the killed run's)
    dead.write_bytes(b"half a shard")
    df = run_benchmark({"random": RandomSearch}, ["kc1"], budget=3, seeds=1, out=tmp_path, progress=False)
    assert not dead.exists() and not alive.exists() and len(df) == 3 and store.shard_paths() == [shard]


class CountingTransfer(RandomSearch):
    """A transfer agent (spec string, so its fit is cached) that counts its fits."""

    fits: list[int] = []

    def fit(self, train_objectives, seed=0):
        CountingTransfer.fits.append(seed)
        self.train = tuple(o.name for o in train_objectives)


class UnpicklableTransfer(CountingTransfer):
    """Holds a lock after fitting, so the fitted agent cannot be pickled."""

    def fit(self, train_objectives, seed=0):
        super().fit(train_objectives, seed)
        self.lock = threading.Lock()


def _kfold_kwargs(out, factory):
    return dict(budget=3, seeds=1, out=out, protocol="kfold", folds=2, progress=False,
                resolve_agent=lambda spec: factory())


def test_corrupt_fitted_cache_is_refitted_with_a_warning(tmp_path):
    CountingTransfer.fits.clear()
    kwargs = _kfold_kwargs(tmp_path, CountingTransfer)
    run_benchmark(["transfer"], FOUR_TASKS, **kwargs)
    assert CountingTransfer.fits == [0, 1]
    caches = sorted((tmp_path / "fitted").glob("*.pkl"))
    assert len(caches) == 2
    for cache in caches:
        cache.write_bytes(b"not a pickle")
    store = ResultStore(tmp_path)
    store.path_of(("transfer", "credit_g", 0)).unlink()  # fold 0 has a run left to do
    with pytest.warns(RuntimeWarning, match="ignoring unreadable fitted-agent cache"):
        df = run_benchmark(["transfer"], FOUR_TASKS, **kwargs)
    assert CountingTransfer.fits == [0, 1, 0]  # fold 0 refitted, fold 1 (all runs stored) untouched
    assert (df["status"] == "ok").all() and df.groupby("task").ngroups == 4
    refitted = store.read_fitted(store.fitted_path("transfer", "transfer", 0, ["kc1", "phoneme"], 0))
    assert isinstance(refitted, CountingTransfer) and refitted.train == ("kc1", "phoneme")  # the cache is good again


def test_unpicklable_fitted_agent_is_refitted_next_time(tmp_path):
    UnpicklableTransfer.fits.clear()
    kwargs = _kfold_kwargs(tmp_path, UnpicklableTransfer)
    with pytest.warns(RuntimeWarning, match="cannot be pickled"):
        df = run_benchmark(["transfer"], FOUR_TASKS, **kwargs)
    assert (df["status"] == "ok").all() and len(df) == 4 * 3 and df["heldout"].all()
    # it cannot be copied either, so each later run gets its own fit (the fold's seeded fit again), not the last run's
    assert UnpicklableTransfer.fits == [0, 0, 1, 1] and not list((tmp_path / "fitted").glob("*"))
    ResultStore(tmp_path).path_of(("transfer", "car", 0)).unlink()
    with pytest.warns(RuntimeWarning, match="cannot be pickled"):
        df = run_benchmark(["transfer"], FOUR_TASKS, **kwargs)
    assert UnpicklableTransfer.fits == [0, 0, 1, 1, 0] and (df["status"] == "ok").all()


def test_trained_on_a_single_name_is_that_name_not_its_letters(tmp_path):
    assert runner.trained_on(SimpleNamespace(trained_on="credit_g")) == {"credit_g"}
    assert runner.trained_on(SimpleNamespace(trained_on=["credit_g", "car"])) == {"credit_g", "car"}
    assert runner.trained_on(SimpleNamespace(trained_on=7.5)) == frozenset()  # unusable: nothing, not a failed run
    assert runner.trained_on(SimpleNamespace(trained_on=object())) == frozenset()
    assert runner.trained_on(SimpleNamespace(trained_on=7)) == {"7"}  # an OpenML task id (see the test above)
    assert runner.trained_on(SimpleNamespace()) == frozenset()

    class TrainedOnOne(RandomSearch):
        trained_on = "credit_g"

    with pytest.warns(UserWarning, match="in-sample results: one on credit_g"):
        df = run_benchmark({"one": TrainedOnOne}, ["credit_g", "car"], budget=3, seeds=1, progress=False)
    assert df.groupby("task")["in_sample"].all().to_dict() == {"car": False, "credit_g": True}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"protocol": "loo"}, r"unknown protocol 'loo'; use one of \('all', 'kfold'\)"),
    ({"budget": 0}, "budget must be a positive integer, got 0"),
    ({"budget": 2.5}, "budget must be a positive integer, got 2.5"),
    ({"agents": {}}, "no agents given"),
    ({"agents": []}, "no agents given"),
    ({"tasks": ["credit_g", "car", "credit_g"]}, "task 'credit_g' appears twice"),
    ({"tasks": ["credit_g", "31"]}, "task 'credit_g' appears twice"),  # 31 is credit_g's OpenML task id
    ({"tasks": [2.5]}, "a task must be a task name or OpenML task id of suite 'hpobench-nn', or an hpo_gym Objective; got float"),
    ({"tasks": [{"name": "credit_g"}]}, "a task must be .* got dict"),
    ({"tasks": ["no_such_task"]}, "unknown task 'no_such_task'"),
    ({"seeds": []}, r"seeds must be a count >= 1 or a list of integer seeds in \[0, 2\*\*32 - 1\]"),
    # audit: input that used to run wrongly, fail every run, or raise a raw TypeError
    ({"agents": "random"}, r"agents must be a list of agent specs, e\.g\. \['random'\].*got 'random'"),
    ({"agents": [RandomSearch]}, "agents must be a list of agent specs.*or a dict of zero-argument factories"),
    ({"agents": {"r": RandomSearch()}}, r"agent 'r' is a RandomSearch object.*builds a new one on each call, e.g. RandomSearch \(the class\) or "
                                          r"lambda: RandomSearch\(...\)"),  # 'lambda: agent' shared the object
    ({"seeds": "10"}, r"seeds must be a count >= 1 or a list of integer seeds.*got '10'"),
    ({"seeds": [1.5]}, r"seeds must be a count >= 1 .*got \[1\.5\]"),
    ({"seeds": [True]}, r"seeds must be a count >= 1 .*got \[True\]"),
    ({"seeds": [-1]}, r"integer seeds in.*got \[-1\]"),
    # audit: Optuna's samplers failed every run from 2**32, and from 2**63 the stored seeds became floats that merged
    ({"seeds": [0, 2**32]}, r"integer seeds in \[0, 2\*\*32 - 1\].*got \[0, 4294967296\]"),
    ({"seeds": [2**63, 2**63 + 1]}, r"integer seeds in \[0, 2\*\*32 - 1\]"),
    ({"seeds": 2.5}, "seeds must be a count >= 1 .*got 2.5"),
    ({"seeds": None}, "seeds must be a count >= 1 .*got None"),
    ({"seeds": -1}, "seeds must be a count >= 1 .*got -1"),
    ({"protocol": "kfold", "tasks": FOUR_TASKS, "folds": 2.5}, r"k-fold needs an integer 2 <= folds .*got folds=2\.5"),
    ({"protocol": "kfold", "tasks": FOUR_TASKS, "folds": "2"}, "k-fold needs an integer 2 <= folds .*got folds='2'"),
    ({"jobs": 0}, "jobs must be a positive integer, got 0"),
    ({"jobs": -1}, "jobs must be a positive integer, got -1"),
    ({"jobs": "2"}, "jobs must be a positive integer, got '2'"),
    ({"budget": True}, "budget must be a positive integer, got True"),
    ({"tasks": "credit_g"}, r"tasks must be a list of task names.*e\.g\. \['credit_g'\]; got 'credit_g'"),
    ({"tasks": 31}, "tasks must be a list of task names.*got 31"),
    ({"only_tasks": "credit_g"}, r"only_tasks must be a list .*got 'credit_g'"),
    ({"env_kwargs": {"reward": "regrett"}}, "env_kwargs=.*'reward': 'regrett'.* refused by HPO-OpenML-v0 on task .*: unknown reward 'regrett'"),
    ({"env_kwargs": {"reward": "regret"}}, "env_kwargs reward='regret' hands the agent the task's oracle"),
    ({"env_kwargs": {"reward": "improvement"}}, "reward='improvement' hands the agent the task's oracle.*gain over the worst"),
    ({"env_kwargs": {"nosie": True}}, "env_kwargs=.*refused by HPO-OpenML-v0 on task .*unexpected keyword argument 'nosie'"),
    ({"env_kwargs": {"budget": 3}}, r"env_kwargs must not set 'budget' \(use run_benchmark's budget= argument\)"),
    ({"env_kwargs": {"task": "car", "suite": "x"}}, r"must not set 'task' \(use run_benchmark's tasks= .*'suite' \(use"),
    ({"env_kwargs": ["noise"]}, "env_kwargs must be a dict of gym.make keyword arguments"),
])
def test_bad_settings_are_refused_before_the_directory_is_touched(tmp_path, kwargs, message):
    call = dict(agents={"random": RandomSearch}, tasks=["credit_g"], budget=3, seeds=1, out=tmp_path / "o",
                progress=False)
    with pytest.raises(ValueError, match=message):
        run_benchmark(**{**call, **kwargs})
    assert not (tmp_path / "o").exists()


def test_unknown_agent_spec_is_refused_with_the_registrys_message_before_anything_runs(tmp_path):
    """'tpee' used to fail every run and store the failures as finished results, which a corrected rerun skips."""
    out = tmp_path / "o"
    with pytest.raises(ValueError, match=r"unknown agent 'tpee'; available: \[.*'tpe'.*\] \(use NAME or NAME:ARG\)"):
        run_benchmark(["random", "tpee"], ["credit_g"], budget=3, seeds=1, resolve_agent=make_agent, out=out,
                      progress=False)
    assert not out.exists()
    with pytest.raises(ValueError, match="no resolve_agent was passed; pass resolve_agent=agents.registry.make_agent"):
        run_benchmark(["random"], ["credit_g"], budget=3, seeds=1, out=out, progress=False)
    assert not out.exists()


def test_each_spec_and_each_factory_is_built_once_up_front(tmp_path):
    """The up-front check costs one build per spec string (cheap even for GRPOformer once torch is imported) and one
    per factory (a class is one): a pre-trained model a factory returns is checked like a name's, under either
    protocol (a plain SB3 zip from a factory used to play its own training tasks as ordinary results)."""
    resolved, built = [], []

    def resolve(spec):
        resolved.append(spec)
        return make_agent(spec)

    class Counted(RandomSearch):
        def __init__(self):
            built.append(1)
            super().__init__()

    df = run_benchmark({"random": "random", "counted": Counted}, ["credit_g"], budget=3, seeds=2,
                       resolve_agent=resolve, progress=False)
    assert (df["status"] == "ok").all()
    assert resolved == ["random"] * 3 and len(built) == 3  # 1 check + 2 runs each


def test_a_refused_env_kwargs_typo_leaves_the_directory_free_for_the_corrected_rerun(tmp_path):
    kwargs = dict(budget=3, seeds=1, out=tmp_path / "o", resolve_agent=make_agent, progress=False)
    with pytest.raises(ValueError, match="unknown reward 'regrett'"):
        run_benchmark(["random"], ["credit_g"], env_kwargs={"reward": "regrett"}, **kwargs)
    assert not (tmp_path / "o" / "benchmark.json").exists()
    df = run_benchmark(["random"], ["credit_g"], env_kwargs={"reward": "score"}, **kwargs)
    assert (df["status"] == "ok").all()
    assert ResultStore(tmp_path / "o").manifest()["env_kwargs"] == {"reward": "score"}


class InfoRecorder:
    """Random proposals; records what ``observe`` is shown."""

    seen: list[set] = []

    def reset(self, space, seed=None, budget=None):
        self.rng = np.random.default_rng(seed)
        self.d = len(space)

    def act(self, observation):
        return self.rng.random(self.d).astype(np.float32)

    def observe(self, action, reward, info):
        InfoRecorder.seen.append(set(info))


def test_an_agent_is_never_shown_the_tasks_oracle():
    """From two steps' normalized regrets an agent can solve for a held-out task's best and worst score: observe()
    was given the env's info with normalized_regret in it. The stored runs keep the regret; agents do not see it."""
    InfoRecorder.seen.clear()
    df = run_benchmark({"recorder": InfoRecorder}, ["credit_g"], budget=3, seeds=1, progress=False)
    assert len(InfoRecorder.seen) == 3 and all("score" in keys and "normalized_regret" not in keys
                                               for keys in InfoRecorder.seen)
    assert df["normalized_regret"].notna().all()


def test_out_that_is_a_file_is_named(tmp_path):
    out = tmp_path / "results.txt"
    out.write_text("not a directory")
    with pytest.raises(ValueError, match=f"out must be a directory; {out} is a file"):
        run_benchmark({"random": RandomSearch}, ["credit_g"], budget=3, seeds=1, out=out, progress=False)
    assert out.read_text() == "not a directory"


def test_two_objectives_with_one_name_are_refused(tmp_path):
    from hpo_gym.suites import load_hpobench_nn

    with pytest.raises(ValueError, match="task 'credit_g' appears twice"):
        run_benchmark({"random": RandomSearch}, [load_hpobench_nn("credit_g"), "credit_g"], budget=3, seeds=1,
                      progress=False)


def test_per_task_regret_std_is_over_seeds_on_a_real_run():
    df = run_benchmark({"random": RandomSearch}, ["credit_g", "car"], budget=4, seeds=3, progress=False)
    tasks = json_report(df)["tasks"]["random"]
    for task in ("credit_g", "car"):
        final = [df[(df["task"] == task) & (df["seed"] == s) & (df["step"] == 4)]["normalized_regret"].item()
                 for s in range(3)]
        assert len(set(final)) > 1  # the seeds differ, so a std over anything else would show
        assert tasks[task]["regret_std"] == pytest.approx(float(pd.Series(final).std()))
        assert tasks[task]["regret_mean"] == pytest.approx(sum(final) / 3) and tasks[task]["seeds"] == 3


def test_an_int_openml_task_id_names_its_task():
    """run_benchmark's docstring accepts OpenML task ids in tasks; an int id used to be refused there."""
    df = run_benchmark({"random": RandomSearch}, [31], budget=3, seeds=1, progress=False)
    assert set(df["task"]) == {"credit_g"}


def test_a_user_table_changed_under_the_same_name_is_not_resumed_onto_the_old_runs(tmp_path):
    """Runs are stored by task name: fixing a table's direction (or its rows) and rerunning into the same directory
    used to return the old table's rows, regret and all."""
    from hpo_gym.tabular import TabularObjective
    from tests.tables import real_table_subset

    df = real_table_subset("credit_g", 40).assign(loss=lambda d: 1 - d["acc"]).drop(columns="acc")
    kwargs = dict(budget=4, seeds=1, out=tmp_path, resolve_agent=make_agent, progress=False)
    wrong = TabularObjective.from_dataframe(df, "loss", direction="maximize", seed_column="seed", name="mytask")
    run_benchmark(["random"], [wrong], **kwargs)
    assert ResultStore(tmp_path).manifest()["objectives"] == {"mytask": wrong.fingerprint}
    fixed = TabularObjective.from_dataframe(df, "loss", direction="minimize", seed_column="seed", name="mytask")
    with pytest.raises(ValueError, match="other settings \\(objectives: stored"):
        run_benchmark(["random"], [fixed], **kwargs)
    same = TabularObjective.from_dataframe(df, "loss", direction="maximize", seed_column="seed", name="mytask")
    assert len(run_benchmark(["random"], [same], **kwargs)) == 4  # the same table resumes
    # another objective (and a suite task) added to the command is a resume, as a suite task alone was; it used to
    # be refused as "other settings" because the objectives were compared as one dict
    other = TabularObjective.from_dataframe(real_table_subset("car", 40), "acc", seed_column="seed", name="other")
    both = run_benchmark(["random"], [same, other, "kc1"], **kwargs)
    assert set(both["task"]) == {"mytask", "other", "kc1"} and len(both) == 12
    assert ResultStore(tmp_path).manifest()["objectives"] == {"mytask": wrong.fingerprint, "other": other.fingerprint}
    assert len(run_benchmark(["random"], [other], **kwargs)) == 4  # left out again: still a resume
    with pytest.raises(ValueError, match="other settings \\(objectives: stored"):  # a changed one is still refused
        run_benchmark(["random"], [fixed, other], **kwargs)


def test_a_directory_started_afresh_records_only_the_asked_objectives(tmp_path):
    """A directory with no finished run takes a command of other settings; it kept the earlier command's objective
    fingerprints, so a later command reusing one of those names with another table was refused."""
    from hpo_gym.tabular import TabularObjective
    from tests.tables import real_table_subset

    table = real_table_subset("credit_g", 40)
    first = TabularObjective.from_dataframe(table, "acc", seed_column="seed", name="mine")
    store = ResultStore(tmp_path)
    store.check_manifest({"budget": 4, "protocol": "all", "objectives": {"mine": first.fingerprint}})
    asked = {"budget": 5, "protocol": "all", "objectives": {"other": "f2"}}
    with pytest.warns(RuntimeWarning, match="starting it afresh with the new ones"):
        store.check_manifest(asked)
    assert store.manifest()["objectives"] == {"other": "f2"} and store.manifest()["budget"] == 5


def test_a_suite_only_directory_from_before_the_objectives_record_resumes_without_a_warning(tmp_path):
    kwargs = dict(budget=3, seeds=1, out=tmp_path, resolve_agent=make_agent, progress=False)
    run_benchmark(["random"], ["kc1"], **kwargs)
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "objectives"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_benchmark(["random"], ["kc1"], **kwargs)


def test_env_kwargs_a_user_objective_refuses_are_caught_before_any_run_is_stored(tmp_path):
    """metric= suits a suite task but not objective=: the first task alone was checked, so credit_g's runs were
    stored before the user table refused it, and the corrected rerun was refused as other settings."""
    from hpo_gym.tabular import TabularObjective
    from tests.tables import real_table_subset

    mine = TabularObjective.from_dataframe(real_table_subset("credit_g", 30), "acc", seed_column="seed", name="mine")
    kwargs = dict(budget=3, seeds=1, out=tmp_path, resolve_agent=make_agent, progress=False)
    with pytest.raises(ValueError, match="refused by HPO-OpenML-v0 on task 'mine': metric has no effect .*; leave it out"):
        run_benchmark(["random"], ["credit_g", mine], env_kwargs={"metric": "val_acc"}, **kwargs)
    assert not (tmp_path / "benchmark.json").exists()
    assert len(run_benchmark(["random"], ["credit_g", mine], **kwargs)) == 6


def test_an_episode_cut_short_by_a_time_limit_is_refused_or_stored_as_failed(tmp_path):
    """Found in review: env_kwargs={'max_episode_steps': 4} with budget 10 stored 4-step runs as finished, and every
    metric at the budget came out NaN without a word. It is refused up front; an episode that another wrapper ends
    early is a failed run that says why."""
    import gymnasium as gym

    from hpo_gym.benchmark.runner import run_episode

    with pytest.raises(ValueError, match="must not set 'max_episode_steps': an episode is budget evaluations long"):
        run_benchmark(["random"], ["credit_g"], budget=10, seeds=1, out=tmp_path, resolve_agent=make_agent,
                      env_kwargs={"max_episode_steps": 4}, progress=False)
    assert not (tmp_path / "benchmark.json").exists()
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=10, max_episode_steps=4)
    rows, error = run_episode(RandomSearch(), env, seed=0, budget=10)
    assert len(rows) == 4
    assert "the env ended the episode after 4 of 10 evaluations (terminated=False, truncated=True)" in error
    full, none = run_episode(RandomSearch(), gym.make("HPO-OpenML-v0", task="credit_g", budget=10), seed=0, budget=10)
    assert len(full) == 10 and none is None


class FailsInObserve(RandomSearch):
    """Random search whose observe raises after the third evaluation."""

    def observe(self, action, reward, info):
        if info["step"] == 3:
            raise RuntimeError("observe failed after evaluation 3")


def test_a_run_failing_in_observe_keeps_the_evaluation_it_had_made(tmp_path):
    """Found in review: the row was appended after observe, so a failure there dropped evaluation 3 (made, and for a
    live fit paid for) from the stored failed run."""
    df = run_benchmark({"observe-fails": FailsInObserve}, ["credit_g"], budget=5, seeds=1, out=tmp_path, progress=False)
    assert df["step"].tolist() == [1, 2, 3] and (df["status"] == "failed").all()
    assert "observe failed after evaluation 3" in df["error"].iloc[0]
    assert df["eval_cost"].notna().all()


def test_a_label_reused_for_another_agent_is_refused_not_handed_the_old_runs(tmp_path):
    """Found in review: {'mine': 'random'} then {'mine': 'tpe'} into one directory returned random search's runs as
    'mine'. What a label names (a spec, or the class and name a factory builds) is recorded with the file fingerprints;
    the same agent resumes, another is refused, and a directory from before the record resumes and records it."""
    from agents.optuna_agents import OptunaAgent

    kwargs = dict(budget=3, seeds=1, resolve_agent=make_agent, progress=False)
    first = run_benchmark({"mine": "random"}, ["credit_g"], out=tmp_path / "spec", **kwargs)
    assert run_benchmark({"mine": "random"}, ["credit_g"], out=tmp_path / "spec", **kwargs).equals(first)
    with pytest.raises(ValueError,
                       match=r"'mine' \(stored agent: agents.random_search.RandomSearch random, now agent: "
                             r"agents.optuna_agents.OptunaAgent tpe\).*names another agent"):
        run_benchmark({"mine": "tpe"}, ["credit_g"], out=tmp_path / "spec", **kwargs)
    run_benchmark({"mine": lambda: OptunaAgent("tpe")}, ["credit_g"], out=tmp_path / "factory", **kwargs)
    again = run_benchmark({"mine": lambda: OptunaAgent("tpe")}, ["credit_g"], out=tmp_path / "factory", **kwargs)
    assert len(again) == 3
    with pytest.raises(ValueError, match=r"stored agent: agents.optuna_agents.OptunaAgent tpe, now agent: "
                                         r"agents.optuna_agents.OptunaAgent gp"):
        run_benchmark({"mine": lambda: OptunaAgent("gp")}, ["credit_g"], out=tmp_path / "factory", **kwargs)
    (tmp_path / "spec" / "agents.json").unlink()  # a directory from before identities were recorded
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_benchmark({"mine": "random"}, ["credit_g"], out=tmp_path / "spec", **kwargs).equals(first)
    assert json.loads((tmp_path / "spec" / "agents.json").read_text()) == {"mine": "agent: agents.random_search.RandomSearch random"}
    # the record's earlier format for a spec string (directories written for an hour on 2026-11-27): the same spec
    # resumes and the record is rewritten; another spec under the label is still refused
    (tmp_path / "spec" / "agents.json").write_text(json.dumps({"mine": "agent: spec random"}))
    with pytest.raises(ValueError, match=r"'mine' \(stored agent: spec random, now agent: agents.optuna_agents"):
        run_benchmark({"mine": "tpe"}, ["credit_g"], out=tmp_path / "spec", **kwargs)
    assert run_benchmark({"mine": "random"}, ["credit_g"], out=tmp_path / "spec", **kwargs).equals(first)
    assert json.loads((tmp_path / "spec" / "agents.json").read_text()) == {"mine": "agent: agents.random_search.RandomSearch random"}


def test_objectives_added_to_or_left_out_of_a_benchmark_with_suite_tasks_resume(tmp_path):
    """Found in review: the manifest recorded suite 'custom' whenever a user objective was in the command, so
    [mine, credit_g] followed by [credit_g] was refused as other settings (suite), although the store's own contract
    says adding or leaving out an objective is a resume. The suite is recorded when the command has suite tasks, and a
    command of objectives only (or an older 'custom' manifest) agrees with any."""
    from hpo_gym.tabular import TabularObjective
    from tests.tables import real_table_subset

    mine = TabularObjective.from_dataframe(real_table_subset("car", 40), "acc", seed_column="seed", name="mine")
    kwargs = dict(budget=3, seeds=1, out=tmp_path, resolve_agent=make_agent, progress=False)
    for tasks in ([mine], [mine, "credit_g"], ["credit_g"], ["credit_g", mine], [mine]):
        names = {t if isinstance(t, str) else t.name for t in tasks}
        assert set(run_benchmark(["random"], tasks, **kwargs)["task"]) == names
    assert ResultStore(tmp_path).manifest()["suite"] == "hpobench-nn"
    store = ResultStore(tmp_path)
    with pytest.raises(ValueError, match=r"other settings \(suite: stored 'hpobench-nn', asked 'another-suite'\)"):
        store.check_manifest({**store.manifest(), "suite": "another-suite"})
    legacy = tmp_path / "benchmark.json"
    legacy.write_text(json.dumps({**json.loads(legacy.read_text()), "suite": "custom"}))
    assert len(run_benchmark(["random"], ["credit_g", mine], **kwargs)) == 6
    assert ResultStore(tmp_path).manifest()["suite"] == "hpobench-nn"  # the legacy value, now known


def test_kfold_keeps_the_tasks_of_one_openml_task_in_one_fold():
    """Found in review: grpoformer-paper lists six model-family tasks per OpenML task, and 4 contiguous folds cut
    through two datasets, so a transfer agent was scored on a dataset whose other tables it was fitted on."""
    from hpo_gym.benchmark.runner import kfold_splits, suite_task_ids
    from hpo_gym.suites import HPOBENCH_NN_TASKS, get_suite

    paper = list(get_suite("grpoformer-paper").tasks)
    folds = kfold_splits(paper, 4, suite_task_ids("grpoformer-paper"))
    assert sorted(t for f in folds for t in f) == sorted(paper)
    fold_of_dataset = {}
    for k, fold in enumerate(folds):
        for task in fold:
            assert fold_of_dataset.setdefault(task.split("-")[0], k) == k, task
    assert len(fold_of_dataset) == 6 and [len(f) for f in folds] == [12, 12, 6, 6]
    nn = list(HPOBENCH_NN_TASKS)  # one task per id: the folds (and the shipped fold checkpoints' keys) are unchanged
    assert kfold_splits(nn, 4, suite_task_ids("hpobench-nn")) == kfold_splits(nn, 4)
    with pytest.raises(ValueError, match=r"folds <= number of task groups \(6: tasks that share an OpenML task id"):
        kfold_splits(paper, 7, suite_task_ids("grpoformer-paper"))


def test_a_task_filter_by_an_openml_id_of_several_tasks_selects_them_all():
    """Found in review: --tasks 167149 on grpoformer-paper said 'unknown task' (the id is six tasks, one per model
    family); a filter by id now keeps every task with it."""
    paper = list(runner.get_suite("grpoformer-paper").tasks)
    assert runner._select_tasks([167149], paper, "grpoformer-paper") == [t for t in paper if t.startswith("167149-")]
    assert runner._select_tasks(["167097-rf", "167149"], paper, "grpoformer-paper") == \
        [t for t in paper if t.startswith("167149-")] + ["167097-rf"]
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['31'\]"):
        runner._select_tasks([31], paper, "grpoformer-paper")
