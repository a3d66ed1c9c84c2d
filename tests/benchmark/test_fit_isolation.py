"""An RL agent's own environments inside ``fit`` never reach the fold's held-out tasks (found in review).

Why: the harness gives ``fit`` the training objectives only, but a CleanRL- or SB3-style agent builds its envs itself
(``gym.make_vec("HPO-OpenML-v0", num_envs=8)``), which drew every task of the suite: it trained on the held-out tasks
and was still reported held-out, because ``trained_on`` is the agent's own word. While the harness fits an agent, envs
leave the fold's held-out tasks out. Real tables, real vector env.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from agents.random_search import RandomSearch
from hpo_gym.benchmark import kfold_splits, run_benchmark
from hpo_gym.suites import HPOBENCH_NN_TASKS
from hpo_gym.tasks import held_out_while_fitting


class TrainsOnItsOwnEnvs(RandomSearch):
    """A transfer agent whose fit draws episodes from a vector env of the whole suite, as an RL loop would."""

    drawn: dict[int, set[str]] = {}

    def fit(self, train_objectives, seed=0):
        envs = gym.make_vec("HPO-OpenML-v0", num_envs=8, budget=2)
        tasks = set()
        for s in range(6):
            _, info = envs.reset(seed=100 * seed + s)
            tasks |= set(info["task"])
        TrainsOnItsOwnEnvs.drawn[seed] = tasks
        self.trained_on = [o.name for o in train_objectives]


class AsksForAHeldOutTask(RandomSearch):
    def fit(self, train_objectives, seed=0):
        gym.make("HPO-OpenML-v0", task="credit_g", budget=2)  # fold 0 holds credit_g out
        self.trained_on = [o.name for o in train_objectives]


def test_envs_built_inside_fit_draw_only_the_folds_training_tasks(tmp_path):
    TrainsOnItsOwnEnvs.drawn.clear()
    df = run_benchmark({"rl": TrainsOnItsOwnEnvs}, None, budget=2, seeds=1, protocol="kfold", folds=4, progress=False)
    assert (df["status"] == "ok").all() and df["heldout"].all()
    for k, held in enumerate(kfold_splits(list(HPOBENCH_NN_TASKS), 4)):
        assert TrainsOnItsOwnEnvs.drawn[k], "fit drew no task"
        assert not TrainsOnItsOwnEnvs.drawn[k] & set(held), (k, held)
    # outside fit every task is drawn again
    _, info = gym.make_vec("HPO-OpenML-v0", num_envs=64, budget=2).reset(seed=0)
    assert set(info["task"]) == set(HPOBENCH_NN_TASKS)


def test_a_held_out_task_asked_for_inside_fit_fails_the_fold_with_the_fix(tmp_path):
    df = run_benchmark({"asks": AsksForAHeldOutTask}, ["credit_g", "vehicle", "kc1", "car"], budget=2, seeds=1,
                       protocol="kfold", folds=2, out=tmp_path, progress=False)
    fold0 = df[df["fold"] == 0]
    assert set(fold0["task"]) == {"credit_g", "vehicle"} and (fold0["status"] == "failed").all()
    assert "task 'credit_g' is held out in this k-fold fold" in fold0["error"].iloc[0]
    assert "task=[o.name for o in train_objectives]" in fold0["error"].iloc[0]
    assert (df[df["fold"] == 1]["status"] == "ok").all()  # fold 1 trains on credit_g: asking for it is allowed


def test_a_task_list_is_the_pool_an_env_draws_from():
    """``task=[...]`` (names or OpenML ids) is what a fit passes for its training tasks, single env and vector env."""
    env = gym.make("HPO-OpenML-v0", task=["kc1", "car"], budget=2)
    assert {env.reset(seed=s)[1]["task"] for s in range(12)} == {"kc1", "car"}
    _, info = gym.make_vec("HPO-OpenML-v0", num_envs=32, task=["kc1", 31], budget=2).reset(seed=0)
    assert set(info["task"]) == {"kc1", "credit_g"}
    for bad in ([], ["kc1", "kc1"]):
        with pytest.raises(ValueError, match="a list of tasks must name at least one task, each once"):
            gym.make("HPO-OpenML-v0", task=bad)
    with held_out_while_fitting(["kc1"]):
        assert gym.make("HPO-OpenML-v0", task=["kc1", "car"], budget=2).reset(seed=0)[1]["task"] == "car"
    np.testing.assert_array_equal(sorted(gym.make("HPO-OpenML-v0", task=["car", "kc1"]).unwrapped.pool.names),
                                  ["car", "kc1"])  # the guard is gone after the block


class DeclaresAHeldOutTask(RandomSearch):
    """An honest agent whose fit learned from a held-out task by other means (a table read from disk) and says so."""

    def fit(self, train_objectives, seed=0):
        self.trained_on = [o.name for o in train_objectives] + ["credit_g"]


def test_a_kfold_agent_that_declares_a_held_out_task_is_reported_in_sample_with_the_k_fold_fix(tmp_path):
    """Found in review: summary_table (the README's Python report) said heldout=True for those runs, and the warning
    and report told the user to "use --protocol kfold", which was already the protocol."""
    from hpo_gym.benchmark import summary_table
    from hpo_gym.benchmark.report import markdown_report

    with pytest.warns(UserWarning, match=r"in-sample results: declares on credit_g.*under k-fold this means fit .* "
                                         r"trained on a held-out task: train only on the objectives fit\(\) is given"):
        df = run_benchmark({"declares": DeclaresAHeldOutTask}, ["credit_g", "vehicle", "kc1", "car"], budget=2,
                           seeds=1, protocol="kfold", folds=2, progress=False)
    assert not summary_table(df).loc["declares", "heldout"]
    report = markdown_report(df)
    assert "no (in-sample on 1 of 4 tasks)" in report and "under k-fold this means fit" in report
    assert "--protocol kfold gives held-out ones" not in report


def test_the_guard_leaves_out_held_out_datasets_by_openml_id_adds_up_when_nested_and_reaches_spawned_processes():
    """Found in review of the guard: a live pool names its tasks '31-xgb', so names alone missed credit_g's dataset;
    a nested guard replaced the outer one; a spawned worker (SB3's SubprocVecEnv) did not see module state."""
    import subprocess
    import sys

    from hpo_gym.tasks import TaskPool, _without_held_out

    live_like = TaskPool(["31-xgb", "3917-xgb"], str, None, {"31-xgb": 31, "3917-xgb": 3917})
    with held_out_while_fitting(["credit_g"], [31]):
        assert _without_held_out(live_like, None).names == ["3917-xgb"]
        with held_out_while_fitting(["kc1"], [3917]):
            with pytest.raises(ValueError, match=r"the task\(s\) \['31-xgb', '3917-xgb'\] is held out"):
                _without_held_out(live_like, None)
        assert _without_held_out(live_like, None).names == ["3917-xgb"]  # the inner block's tasks are back
        child = subprocess.run([sys.executable, "-c", "import gymnasium as gym, hpo_gym; gym.make('HPO-OpenML-v0', "
                                "task='credit_g')"], capture_output=True, text=True, timeout=120)
        assert child.returncode != 0 and "task 'credit_g' is held out in this k-fold fold" in child.stderr
    assert _without_held_out(live_like, None).names == ["31-xgb", "3917-xgb"]


def test_stored_runs_of_other_folds_are_refused(tmp_path):
    """A directory whose k-fold runs were made with other folds (before the tasks of one OpenML task were kept in one
    fold) must not be resumed into this benchmark's folds."""
    import pandas as pd

    from hpo_gym.benchmark import ResultStore

    kwargs = dict(budget=2, seeds=1, protocol="kfold", folds=2, out=tmp_path, progress=False)
    tasks = ["credit_g", "vehicle", "kc1", "car"]
    run_benchmark({"random": RandomSearch}, tasks, **kwargs)
    shard = next(p for p in ResultStore(tmp_path).shard_paths() if "credit_g" in p.name)
    pd.read_parquet(shard).assign(fold=1).to_parquet(shard, index=False)  # as an older grouping stored it
    with pytest.raises(ValueError, match=r"holds k-fold runs made with other folds for \['credit_g'\]"):
        run_benchmark({"random": RandomSearch}, tasks, **kwargs)


def test_a_directory_the_cli_wrote_resumes_from_python_with_the_same_agent(tmp_path):
    """Found in review: '--agents random' recorded the spec, {'random': RandomSearch} the class, so the same agent was
    refused as another one. Both record the class and name of the agent they build."""
    import warnings

    from agents.registry import make_agent

    kwargs = dict(budget=2, seeds=1, out=tmp_path, progress=False)
    first = run_benchmark(["random"], ["car"], resolve_agent=make_agent, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_benchmark({"random": RandomSearch}, ["car"], **kwargs).equals(first)
