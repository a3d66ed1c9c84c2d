"""The benchmark runner on the real embedded tables and real Optuna agents (small budgets)."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from agents.optuna_agents import OptunaAgent
from agents.random_search import RandomSearch
from agents.registry import make_agent
from hpo_gym.benchmark import ResultStore, kfold_splits, run_benchmark, summary_table
from hpo_gym.benchmark import runner
from hpo_gym.env import HPOEnv
from hpo_gym.suites import load_hpobench_nn
from hpo_gym.tabular import TabularObjective

TWO_TASKS = ["credit_g", "car"]


class FailingAgent:
    """Raises on its third proposal: the run must be stored as failed with the traceback."""

    name = "failing"

    def reset(self, space, seed=None, budget=None):
        self.d, self.t = len(space), 0

    def act(self, observation):
        self.t += 1
        if self.t == 3:
            raise ZeroDivisionError("boom at step 3")
        return np.full(self.d, 0.5, dtype=np.float32)


class NaNAgent(FailingAgent):
    name = "nan"

    def act(self, observation):
        return np.full(self.d, np.nan, dtype=np.float32)


class RecordingTransfer(RandomSearch):
    """A transfer agent that records every fit (class-level, runs in this process with jobs=1)."""

    fits: list[tuple[str, ...]] = []
    fit_seeds: list[int] = []

    def fit(self, train_objectives, seed=0):
        RecordingTransfer.fits.append(tuple(o.name for o in train_objectives))
        RecordingTransfer.fit_seeds.append(seed)
        self.trained_on = {o.name for o in train_objectives}

    def reset(self, space, seed=None, budget=None):
        assert hasattr(self, "trained_on"), "reset before fit"
        super().reset(space, seed, budget)


def test_every_step_is_stored_with_all_columns(tmp_path):
    df = run_benchmark({"random": RandomSearch, "tpe": lambda: OptunaAgent("tpe")}, TWO_TASKS, budget=12, seeds=2,
                       out=tmp_path, progress=False)
    assert len(df) == 2 * 2 * 2 * 12
    runs = df.groupby(["agent", "task", "seed"])
    assert (runs["step"].apply(list).map(lambda s: s == list(range(1, 13)))).all()  # exactly the budget, in order
    assert (df["status"] == "ok").all() and (df["budget"] == 12).all()
    # best so far is monotone and the regret is the table's normalized regret of it
    assert (runs["best_score"].diff().fillna(0) >= 0).all()
    assert df["normalized_regret"].between(0, 1).all()
    config = json.loads(df["config"].iloc[0])
    assert sorted(config) == ["alpha", "batch_size", "depth", "learning_rate_init", "width"]
    assert np.isfinite(df["choose_seconds"]).all() and (df["eval_cost"] > 0).all()
    assert len(ResultStore(tmp_path).shard_paths()) == 8
    # every stored score is the table's score of the stored configuration, best_score is the running max of the
    # scores, and the regret is the table's normalized regret of that best score
    for (_, task, _), run in runs:
        table = load_hpobench_nn(task)
        assert run["score"].tolist() == [table.evaluate(json.loads(c)).score for c in run["config"]]
        np.testing.assert_array_equal(run["best_score"], np.maximum.accumulate(run["score"].to_numpy()))
        np.testing.assert_allclose(run["normalized_regret"], table.oracle.normalized_regret(run["best_score"].to_numpy()))
        assert run["eval_cost"].tolist() == [table.evaluate(json.loads(c)).cost for c in run["config"]]


class FakeClock:
    """A deterministic ``perf_counter``: it only moves when a test moves it."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


class ClockedRandom(RandomSearch):
    """Random search whose ``act`` takes 0.25 and whose ``observe`` takes 0.5 fake seconds."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def act(self, observation):
        self.clock.now += 0.25
        return super().act(observation)

    def observe(self, action, reward, info):
        self.clock.now += 0.5


def test_choose_seconds_is_act_plus_observe_and_excludes_the_evaluation(monkeypatch):
    """With a controlled clock: each step's choose_seconds is the agent's act + observe time, not the env's."""
    clock = FakeClock()
    monkeypatch.setattr(runner, "time", SimpleNamespace(perf_counter=clock.perf_counter))
    real_step = HPOEnv.step

    def slow_step(self, action):  # the evaluation takes 100 fake seconds: it must not count as the agent's time
        clock.now += 100.0
        return real_step(self, action)

    monkeypatch.setattr(HPOEnv, "step", slow_step)
    df = run_benchmark({"clocked": lambda: ClockedRandom(clock)}, ["credit_g"], budget=4, seeds=[0, 1], progress=False)
    assert (df["status"] == "ok").all() and len(df) == 8
    assert df["choose_seconds"].tolist() == [0.75] * 8
    assert summary_table(df).loc["clocked", "sec/suggestion"] == 0.75


def test_seeded_runs_repeat():
    a = run_benchmark({"tpe": lambda: OptunaAgent("tpe")}, ["credit_g"], budget=15, seeds=[3], progress=False)
    b = run_benchmark({"tpe": lambda: OptunaAgent("tpe")}, ["credit_g"], budget=15, seeds=[3], progress=False)
    assert a["config"].tolist() == b["config"].tolist()


def test_failing_agent_is_recorded_and_benchmark_goes_on(tmp_path):
    df = run_benchmark({"failing": FailingAgent, "nan": NaNAgent, "random": RandomSearch}, ["credit_g"], budget=5,
                       seeds=1, out=tmp_path, progress=False)
    failing = df[df["agent"] == "failing"]
    assert (failing["status"] == "failed").all() and failing["step"].tolist() == [1, 2]
    assert "ZeroDivisionError: boom at step 3" in failing["error"].iloc[0]
    nan = df[df["agent"] == "nan"]
    assert nan["step"].tolist() == [0] and "NaN" in nan["error"].iloc[0]
    assert (df[df["agent"] == "random"]["status"] == "ok").all()
    table = summary_table(df)
    assert table.loc["failing", "failed"] == 1 and table.loc["random", "runs"] == 1
    # resuming keeps the failure (a result); retry_failed runs it again
    store = ResultStore(tmp_path)
    path = store.path_of(("failing", "credit_g", 0))
    mtime = path.stat().st_mtime_ns
    run_benchmark({"failing": FailingAgent}, ["credit_g"], budget=5, seeds=1, out=tmp_path, progress=False)
    assert path.stat().st_mtime_ns == mtime
    ok_path = store.path_of(("random", "credit_g", 0))
    ok_mtime = ok_path.stat().st_mtime_ns
    again = run_benchmark({"failing": FailingAgent, "random": RandomSearch}, ["credit_g"], budget=5, seeds=1,
                          out=tmp_path, progress=False, retry_failed=True)
    assert path.stat().st_mtime_ns != mtime and ok_path.stat().st_mtime_ns == ok_mtime
    assert (again[again["agent"] == "failing"]["status"] == "failed").all()


def test_resume_skips_finished_runs_and_adds_new_ones(tmp_path):
    agents = {"random": RandomSearch}
    run_benchmark(agents, TWO_TASKS, budget=5, seeds=2, out=tmp_path, progress=False)
    store = ResultStore(tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in store.shard_paths()}
    df = run_benchmark(agents, TWO_TASKS, budget=5, seeds=3, out=tmp_path, progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in store.shard_paths()}
    assert len(after) == 6 and all(after[k] == v for k, v in before.items())
    assert df.groupby(["agent", "task", "seed"]).ngroups == 6
    with pytest.raises(ValueError, match="budget: stored 5, asked 7"):
        run_benchmark(agents, TWO_TASKS, budget=7, seeds=2, out=tmp_path, progress=False)


def test_parallel_jobs_match_serial():
    agents = {"random": RandomSearch, "tpe": lambda: OptunaAgent("tpe")}
    serial = run_benchmark(agents, TWO_TASKS, budget=8, seeds=2, jobs=1, progress=False)
    parallel = run_benchmark(agents, TWO_TASKS, budget=8, seeds=2, jobs=2, progress=False)
    cols = ["agent", "task", "seed", "step", "config", "score", "normalized_regret"]
    pd.testing.assert_frame_equal(serial[cols], parallel[cols])


def test_user_tabular_objective():
    rng = np.random.default_rng(0)
    grid = pd.DataFrame([(lr, act) for lr in [1e-3, 1e-2, 1e-1, 1.0] for act in ["relu", "tanh", "sigmoid"]],
                        columns=["lr", "act"])
    grid["acc"] = rng.random(len(grid))
    objective = TabularObjective.from_dataframe(grid, metric="acc", name="mine")
    df = run_benchmark({"random": RandomSearch, "tpe": lambda: OptunaAgent("tpe")}, [objective], budget=6, seeds=2,
                       progress=False)
    assert set(df["task"]) == {"mine"} and (df["status"] == "ok").all()
    acc = {(lr, act): a for lr, act, a in grid.itertuples(index=False)}
    for _, run in df.groupby(["agent", "seed"]):
        configs = [json.loads(c) for c in run["config"]]
        assert run["score"].tolist() == [acc[(c["lr"], c["act"])] for c in configs]  # the grid's value of the config
        np.testing.assert_array_equal(run["best_score"], np.maximum.accumulate(run["score"].to_numpy()))
        # regret against the grid's own best and worst
        span = grid["acc"].max() - grid["acc"].min()
        np.testing.assert_allclose(run["normalized_regret"], (grid["acc"].max() - run["best_score"]) / span)


def test_string_specs_need_a_resolver():
    with pytest.raises(ValueError, match="no resolve_agent was passed"):  # refused up front, not stored as failed runs
        run_benchmark(["random"], ["credit_g"], budget=2, seeds=1, progress=False)
    df = run_benchmark(["random", "qmc"], ["credit_g"], budget=3, seeds=1, resolve_agent=make_agent, progress=False)
    assert (df["status"] == "ok").all() and set(df["agent"]) == {"random", "qmc"}


def test_kfold_splits_contiguous():
    assert kfold_splits(list("abcdefgh"), 4) == [["a", "b"], ["c", "d"], ["e", "f"], ["g", "h"]]
    assert kfold_splits(list("abcde"), 2) == [["a", "b", "c"], ["d", "e"]]
    with pytest.raises(ValueError, match=r"k-fold needs an integer 2 <= folds <= number of tasks \(2\), got folds=3"):
        kfold_splits(["a", "b"], 3)


def test_too_few_tasks_for_the_folds_points_to_only_tasks():
    """Found by a new user: ``tasks=["kc1", "car"]`` under k-fold, meant as the CLI's ``--tasks`` (run these), made the
    folds over those two tasks and failed with the folds' range only; the error now names ``only_tasks=``, which runs
    a subset with the folds made over the whole suite."""
    with pytest.raises(ValueError, match=r"folds <= number of tasks \(2\), got folds=4; tasks= lists the tasks the "
                                         r"folds are made over.*pass only_tasks=\[\.\.\.\] instead"):
        run_benchmark(["random"], ["kc1", "car"], budget=3, seeds=1, protocol="kfold", progress=False)
    assert set(run_benchmark(["random"], only_tasks=["kc1", "car"], budget=3, seeds=1, protocol="kfold", progress=False,
                             resolve_agent=make_agent)["task"]) == {"kc1", "car"}
    with pytest.raises(ValueError, match=r"got folds=1$"):  # folds itself is wrong: only_tasks would not help
        run_benchmark(["random"], ["kc1", "car", "vehicle"], folds=1, budget=3, seeds=1, protocol="kfold")


def test_kfold_fits_once_per_fold_on_training_tasks_only(tmp_path):
    RecordingTransfer.fits.clear()
    RecordingTransfer.fit_seeds.clear()
    df = run_benchmark({"transfer": RecordingTransfer, "random": RandomSearch}, None, budget=3, seeds=2, out=tmp_path,
                       protocol="kfold", folds=4, progress=False)
    assert len(RecordingTransfer.fits) == 4  # once per fold, not per seed or task
    assert RecordingTransfer.fit_seeds == [0, 1, 2, 3]  # fitted with seed=fold
    from hpo_gym.suites import HPOBENCH_NN_TASKS

    folds = kfold_splits(list(HPOBENCH_NN_TASKS), 4)
    transfer = df[df["agent"] == "transfer"]
    assert transfer["heldout"].all() and not df[df["agent"] == "random"]["heldout"].any()
    for k, held in enumerate(folds):
        assert set(RecordingTransfer.fits[k]) == set(HPOBENCH_NN_TASKS) - set(held)  # never sees its test tasks
        assert set(transfer[transfer["fold"] == k]["task"]) == set(held)
    assert df.groupby("agent")["task"].nunique().tolist() == [8, 8]  # side by side on every task
    table = summary_table(df)
    assert table.loc["transfer", "heldout"] and not table.loc["random", "heldout"]
    # a rerun finds every fold done and fits nothing
    run_benchmark({"transfer": RecordingTransfer, "random": RandomSearch}, None, budget=3, seeds=2, out=tmp_path,
                  protocol="kfold", folds=4, progress=False)
    assert len(RecordingTransfer.fits) == 4


def test_benchmark_package_does_not_import_agents():
    code = ("import sys, hpo_gym.benchmark, hpo_gym.benchmark.report; "
            "bad = [m for m in sys.modules if m == 'agents' or m.startswith('agents.') or m == 'torch']; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fitted_transfer_agents_are_cached_per_fold(tmp_path):
    """A resumed fold reuses the pickled fitted agent instead of fitting again."""
    RecordingTransfer.fits.clear()
    resolve = {"transfer": RecordingTransfer, "random": RandomSearch}
    kwargs = dict(budget=3, seeds=1, out=tmp_path, protocol="kfold", folds=4, progress=False,
                  resolve_agent=lambda spec: resolve[spec]())
    run_benchmark(["transfer", "random"], None, **kwargs)
    assert len(RecordingTransfer.fits) == 4 and len(list((tmp_path / "fitted").glob("*.pkl"))) == 4
    store = ResultStore(tmp_path)
    store.path_of(("transfer", "credit_g", 0)).unlink()  # as if killed before this run was stored
    df = run_benchmark(["transfer", "random"], None, **kwargs)
    assert len(RecordingTransfer.fits) == 4  # no refit
    assert df.groupby(["agent", "task", "seed"]).ngroups == 16


class RememberingTransfer(RandomSearch):
    """A transfer agent that remembers the best action of each run and replays it first in the next one: the memory an
    honest protocol must not carry from one held-out run to the next (it would be uncounted test-task evaluations)."""

    def fit(self, train_objectives, seed=0):
        self.trained_on = {o.name for o in train_objectives}
        self.memory: list[np.ndarray] = []

    def reset(self, space, seed=None, budget=None):
        super().reset(space, seed, budget)
        self._best, self._first = (None, -np.inf), True

    def act(self, observation):
        if self._first and self.memory:
            self._first = False
            return self.memory[-1]
        self._first = False
        return super().act(observation)

    def observe(self, action, reward, info):
        if info["score"] > self._best[1]:
            self._best = (np.array(action), info["score"])
            self.memory.append(self._best[0])


def test_each_held_out_run_starts_from_the_fold_fit_not_from_the_runs_before_it(tmp_path):
    """One fit per fold, but every run plays a fresh copy of it: an uninterrupted benchmark and one resumed in the
    middle of a fold (which starts from the stored fit) give the same runs, and no run replays an earlier one's best."""
    kwargs = dict(budget=4, seeds=3, protocol="kfold", folds=2, progress=False, tasks=["credit_g", "car"])
    whole = run_benchmark({"mem": RememberingTransfer}, out=tmp_path / "whole", **kwargs)
    resumed_dir = tmp_path / "resumed"
    run_benchmark({"mem": RememberingTransfer}, out=resumed_dir, **kwargs)
    store = ResultStore(resumed_dir)
    store.path_of(("mem", "credit_g", 1)).unlink()  # killed before these two runs were stored
    store.path_of(("mem", "credit_g", 2)).unlink()
    resumed = run_benchmark({"mem": RememberingTransfer}, out=resumed_dir, **kwargs)
    key = ["agent", "task", "seed", "step"]
    a, b = whole.sort_values(key).reset_index(drop=True), resumed.sort_values(key).reset_index(drop=True)
    assert a["config"].tolist() == b["config"].tolist() and np.allclose(a["score"], b["score"])
    first = a[a["step"] == 1].set_index(["task", "seed"])["config"]
    plain = run_benchmark({"random": RandomSearch}, budget=4, seeds=3, progress=False, tasks=["credit_g", "car"])
    assert first.tolist() == plain[plain["step"] == 1].set_index(["task", "seed"])["config"].tolist()


class MetricRecordingTransfer(RandomSearch):
    """Records the metric of every objective it is fitted on (class-level; runs in this process with jobs=1)."""

    metrics: list[str] = []

    def fit(self, train_objectives, seed=0):
        MetricRecordingTransfer.metrics += [o.metadata.get("metric") for o in train_objectives]
        self.trained_on = {o.name for o in train_objectives}


def test_a_transfer_agent_is_fitted_on_the_tasks_as_the_runs_score_them():
    """env_kwargs={'metric': 'val_f1'} scored the runs by F1 while fit saw the suite's default (accuracy) tables."""
    MetricRecordingTransfer.metrics.clear()
    run_benchmark({"t": MetricRecordingTransfer}, ["credit_g", "vehicle"], budget=2, seeds=1, protocol="kfold", folds=2,
                  progress=False, env_kwargs={"metric": "val_f1"})
    assert MetricRecordingTransfer.metrics == ["val_f1", "val_f1"]


def test_with_the_live_backend_transfer_agents_are_fitted_on_the_suites_tables():
    """The live runs' tasks are (OpenML task, model) pairs such as '31-rf'; fitting transfer agents on those broke the
    per-fold checkpoints' task names and the table-only agents. They learn from the suite's tables, as before."""
    ctx = runner._Context(agents={}, objectives={}, suite="hpobench-nn", budget=2, out=None, resolve_agent=None,
                          env_kwargs={"backend": "live", "model": "rf"})
    obj = ctx.objective("credit_g")
    assert isinstance(obj, TabularObjective) and obj.name == "credit_g"
    tabular = runner._Context(agents={}, objectives={}, suite="hpobench-nn", budget=2, out=None, resolve_agent=None,
                              env_kwargs={"metric": "val_f1"})
    assert tabular.objective("credit_g").metadata["metric"] == "val_f1"


def test_an_action_of_the_tasks_width_is_padded_to_a_wider_box():
    from gymnasium.spaces import Box

    wide = Box(0.0, 1.0, (6,), dtype=np.float32)
    padded = runner._padded(np.array([0.2, 0.4], np.float32), wide, task_dims=2)
    assert padded.tolist() == pytest.approx([0.2, 0.4, 0, 0, 0, 0]) and wide.contains(padded)
    same = np.array([0.1] * 6, np.float32)
    assert runner._padded(same, wide, 2) is same and runner._padded({"a": 1}, wide, 2) == {"a": 1}
    short = np.array([0.2], np.float32)  # shorter than the task: not padded, the env refuses it
    assert runner._padded(short, wide, task_dims=2) is short


class _TooShortActions:
    """An agent whose actions miss the task's last hyperparameter."""

    name = "too-short"

    def reset(self, space, seed=None, budget=None):
        self.d = len(space)

    def act(self, observation):
        return np.full(self.d - 1, 0.5, dtype=np.float32)


class ExitingAgent(FailingAgent):
    """Calls sys.exit on its third proposal, as a library inside an agent might."""

    def act(self, observation):
        if self.t == 2:
            raise SystemExit(3)
        return super().act(observation)


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_agent_that_calls_sys_exit_is_a_failed_run_not_the_end_of_the_benchmark(jobs):
    """It ended `hpo-gym bench` with exit status 3 and no word of which agent or run, storing nothing."""
    df = run_benchmark({"exits": ExitingAgent, "random": RandomSearch}, ["credit_g"], budget=4, seeds=2, jobs=jobs,
                       progress=False)
    exits = df[df["agent"] == "exits"]
    assert (exits["status"] == "failed").all() and exits.groupby("seed")["step"].max().tolist() == [2, 2]
    assert "SystemExit: 3" in exits["error"].iloc[0]
    assert (df[df["agent"] == "random"]["status"] == "ok").all()


def test_a_too_short_action_is_a_failed_run_not_a_padded_score():
    """The missing hyperparameter used to be padded with 0 (its lowest value) and the run stored as ``ok``."""
    df = run_benchmark({"too-short": _TooShortActions}, tasks=["credit_g"], budget=3, seeds=1)
    assert (df["status"] == "failed").all()
    assert "shape" in df["error"].iloc[0]
