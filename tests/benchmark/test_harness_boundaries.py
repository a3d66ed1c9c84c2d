"""The harness's rules at their boundaries, each found unpinned by a mutation review (a change to it passed every
other test): in-sample flags by OpenML id and from several agents, the largest seed, an episode one evaluation short,
check_plan's folds, the fold column, shards that hold two runs or share a slug, and the report's failed-run, first-error,
failed-evaluation, regret-range and in-sample lines. Real tables, real run_benchmark on tiny budgets."""

from __future__ import annotations

import pandas as pd
import pytest

from agents.random_search import RandomSearch
from hpo_gym.benchmark import ResultStore, run_benchmark

# -- runner: in-sample flags ----------------------------------------------------------------------------------------
class FitsAndDeclaresCreditGById(RandomSearch):
    """A k-fold transfer agent whose fit learned from credit_g by other means and records it by OpenML task id (31)."""

    def fit(self, train_objectives, seed=0):
        self.trained_on = [o.name for o in train_objectives] + [31]


def test_kfold_transfer_agent_declaring_a_held_out_task_by_openml_id_is_marked_in_sample():
    """_execute must match trained_on entries that are OpenML task ids against the suite (trained_on(agent, suite));
    k-fold transfer agents get their in-sample flag only there (they are not in run_benchmark's `declared`)."""
    with pytest.warns(UserWarning, match="in-sample results: byid on credit_g"):
        df = run_benchmark({"byid": FitsAndDeclaresCreditGById}, ["credit_g", "car"], budget=2, seeds=1,
                           protocol="kfold", folds=2, progress=False)
    assert df.groupby("task")["in_sample"].all().to_dict() == {"car": False, "credit_g": True}


class HonestTransfer(RandomSearch):
    """A k-fold transfer agent trained on exactly the objectives fit is given."""

    def fit(self, train_objectives, seed=0):
        self.trained_on = [o.name for o in train_objectives]


class CheatingTransfer(RandomSearch):
    """A k-fold transfer agent that says it trained on a held-out task (credit_g) besides its training tasks."""

    def fit(self, train_objectives, seed=0):
        self.trained_on = [o.name for o in train_objectives] + ["credit_g"]


class PretrainedOnCar(RandomSearch):
    """No fit: arrives trained on car (a checkpoint agent, say)."""

    trained_on = ("car",)


def test_declared_marks_add_to_the_run_flags_of_other_agents_never_replace_them():
    """_mark_declared_in_sample only adds flags: the k-fold transfer agent's own in-sample flag (set per run) must
    survive the marking of another agent's declared tasks."""
    with pytest.warns(UserWarning, match="in-sample results"):
        df = run_benchmark({"cheat": CheatingTransfer, "pre": PretrainedOnCar}, ["credit_g", "car"], budget=2, seeds=1,
                           protocol="kfold", folds=2, progress=False)
    flags = df.groupby(["agent", "task"])["in_sample"].all().to_dict()
    assert flags == {("cheat", "car"): False, ("cheat", "credit_g"): True,
                     ("pre", "car"): True, ("pre", "credit_g"): False}


# -- runner: seeds --------------------------------------------------------------------------------------------------
def test_the_largest_seed_optuna_and_numpy_take_is_accepted_and_stored_exactly():
    """seeds up to 2**32 - 1 (MAX_SEED) are valid; the bound is inclusive."""
    from agents.optuna_agents import OptunaAgent

    top = 2**32 - 1
    df = run_benchmark({"random": RandomSearch, "tpe": lambda: OptunaAgent("tpe")}, ["credit_g"], budget=2,
                       seeds=[0, top], progress=False)
    assert (df["status"] == "ok").all()
    assert sorted(df["seed"].unique().tolist()) == [0, top]
    with pytest.raises(ValueError, match="seeds must be"):
        run_benchmark({"random": RandomSearch}, ["credit_g"], budget=2, seeds=[top + 1], progress=False)


# -- runner: budget accounting --------------------------------------------------------------------------------------
def test_an_episode_one_evaluation_short_is_a_failed_run():
    """every one of the budget's evaluations must be played; a wrapper that ends the episode one step early is a
    failed run, not a finished one (the existing test cuts 4 of 10, far from the boundary)."""
    import gymnasium as gym

    from hpo_gym.benchmark.runner import run_episode

    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=5, max_episode_steps=4)
    rows, error = run_episode(RandomSearch(), env, seed=0, budget=5)
    assert len(rows) == 4
    assert error is not None and "the env ended the episode after 4 of 5 evaluations" in error


# -- runner: check_plan sees only the folds this call plays ---------------------------------------------------------
class PlansFolds(RandomSearch):
    """A transfer agent that can only play fold 1 (its fold-0 checkpoint is missing, say) and says so in check_plan."""

    plans: list = []

    def fit(self, train_objectives, seed=0):
        self.trained_on = [o.name for o in train_objectives]

    def check_plan(self, protocol, held_out_by_fold, task_names):
        PlansFolds.plans.append(dict(held_out_by_fold))
        if 0 in held_out_by_fold:
            raise ValueError("no checkpoint for fold 0")


def test_check_plan_gets_only_the_folds_with_a_selected_task():
    """with only_tasks, check_plan is given the folds whose held-out tasks this call runs, not every fold: an agent
    missing a checkpoint for a fold nobody asked for must still run."""
    PlansFolds.plans.clear()
    df = run_benchmark({"plans": PlansFolds}, ["credit_g", "car"], only_tasks=["car"], budget=2, seeds=1,
                       protocol="kfold", folds=2, progress=False)
    assert PlansFolds.plans == [{1: ["car"]}]
    assert (df["status"] == "ok").all() and df["task"].unique().tolist() == ["car"] and df["heldout"].all()


# -- runner: fold column --------------------------------------------------------------------------------------------
def test_fold_is_minus_one_outside_kfold_and_the_task_fold_under_kfold_for_every_agent():
    """the store documents fold = -1 outside k-fold; under k-fold an agent without fit carries its task's fold too."""
    df = run_benchmark({"random": RandomSearch}, ["credit_g", "car"], budget=2, seeds=1, progress=False)
    assert (df["fold"] == -1).all()
    df = run_benchmark({"random": RandomSearch, "t": HonestTransfer}, ["credit_g", "car"], budget=2, seeds=1,
                       protocol="kfold", folds=2, progress=False)
    assert df.groupby(["agent", "task"])["fold"].unique().map(list).to_dict() == {
        ("random", "car"): [1], ("random", "credit_g"): [0], ("t", "car"): [1], ("t", "credit_g"): [0]}


# -- store: shards --------------------------------------------------------------------------------------------------
def test_a_shard_holding_its_own_run_plus_another_is_damaged_not_loaded(tmp_path):
    """read_shard must refuse a shard with several runs even when its first run matches the file name (e.g. two
    shards concatenated by a repair script); load() falls back to read_shard when the one-scan read steps aside."""
    from hpo_gym.benchmark.store import DamagedShard, read_shard

    run_benchmark({"random": RandomSearch}, ["credit_g"], budget=2, seeds=2, out=tmp_path, progress=False)
    store = ResultStore(tmp_path)
    first, second = store.path_of(("random", "credit_g", 0)), store.path_of(("random", "credit_g", 1))
    both = pd.concat([pd.read_parquet(first), pd.read_parquet(second)], ignore_index=True)
    both.to_parquet(first, index=False)
    with pytest.raises(DamagedShard, match=r"holds the run\(s\)"):
        read_shard(first)
    with pytest.raises(DamagedShard, match=r"holds the run\(s\)"):
        store.load()


def test_agents_whose_labels_share_a_slug_get_a_shard_each(tmp_path):
    """a shard's name hashes the whole key, agent included: two labels whose readable slugs agree (the first 40
    characters of two checkpoint paths, or 'a b' and 'a/b') must not share one shard, or the second agent's runs are
    skipped as done and reported as the first's."""
    from agents.optuna_agents import OptunaAgent

    long = "my-checkpoints/2026-12-01/a-rather-long-experiment-name/"
    agents = {long + "v1": RandomSearch, long + "v2": lambda: OptunaAgent("tpe")}
    df = run_benchmark(agents, ["credit_g"], budget=3, seeds=1, out=tmp_path, progress=False)
    assert len(ResultStore(tmp_path).shard_paths()) == 2
    assert df.groupby("agent").size().to_dict() == {long + "v1": 3, long + "v2": 3}
    again = ResultStore(tmp_path).load()
    assert set(again["agent"]) == set(agents)


# -- report ---------------------------------------------------------------------------------------------------------
class FailsAtStep2(RandomSearch):
    """Raises on its second proposal."""

    name = "fails"

    def reset(self, space, seed=None, budget=None):
        super().reset(space, seed, budget)
        self.t = 0

    def act(self, observation):
        self.t += 1
        if self.t == 2:
            raise ZeroDivisionError(f"boom at step 2, seed stream {self._rng.integers(1000)}")
        return super().act(observation)


@pytest.fixture(scope="module")
def failing_df():
    return run_benchmark({"fails": FailsAtStep2, "random": RandomSearch}, ["credit_g", "car"], budget=3, seeds=2,
                         progress=False)


def test_the_summary_shows_a_failed_column_with_each_agents_failed_runs(failing_df):
    """format_summary must keep the failed-run count when any run failed (the Markdown table a user reads)."""
    from hpo_gym.benchmark import summary_table
    from hpo_gym.benchmark.report import format_summary, markdown_report

    shown = format_summary(summary_table(failing_df))
    assert shown["failed"].to_dict() == {"fails": 4, "random": 0}
    header = next(line for line in markdown_report(failing_df).splitlines() if line.startswith("|") and "BtR" in line)
    assert "failed" in header


def test_the_first_error_named_is_the_first_failed_run_in_agent_task_seed_order(failing_df):
    """the report names the first failed run (agent, task, seed order: car before credit_g, seed 0 first)."""
    from hpo_gym.benchmark.report import markdown_report

    report = markdown_report(failing_df)
    assert "First error (fails on car seed 0): ZeroDivisionError: boom at step 2" in report


def test_failed_evaluations_are_counted_over_the_steps_of_finished_runs_only(failing_df):
    """the failed-evaluations line counts steps of ok runs only (a failed run is already left out of every metric
    and reported on its own); a step of a failed run must neither add an agent nor change the totals."""
    from hpo_gym.benchmark.report import failed_evaluations_note

    df = failing_df.copy()
    ok_step = df.index[(df["agent"] == "random") & (df["task"] == "car") & (df["seed"] == 0) & (df["step"] == 2)][0]
    failed_step = df.index[(df["agent"] == "fails") & (df["status"] == "failed")][0]
    df.loc[[ok_step, failed_step], "eval_error"] = "fit ran past its time limit"
    note = failed_evaluations_note(df)
    assert "(random: 1 of 12)" in note and "fails:" not in note
    assert "First (random on car seed 0 step 2)" in note


def test_a_regret_of_exactly_one_is_in_range():
    """a run whose best is the task's worst score has regret 1.0, inside [0, 1]: no out-of-range warning."""
    from hpo_gym.benchmark.report import json_report, regret_out_of_range

    df = run_benchmark({"random": RandomSearch}, ["credit_g"], budget=2, seeds=1, progress=False)
    df.loc[df["step"] == 1, "normalized_regret"] = 1.0  # the first evaluation hit the worst configuration
    assert regret_out_of_range(df) is None and "regret_out_of_range" not in json_report(df)
    df.loc[df["step"] == 1, "normalized_regret"] = 1.001
    assert regret_out_of_range(df)["runs"] == 1


class TrainedOnCreditG(RandomSearch):
    trained_on = ("credit_g",)


def test_an_agent_in_sample_on_every_task_it_ran_reads_plain_in_sample():
    """'no (in-sample)' vs 'in-sample on k of n tasks' counts the tasks *this agent* was scored on, not every
    task in the table (agents may cover different tasks, e.g. a directory resumed with fewer tasks for one agent)."""
    from hpo_gym.benchmark.report import in_sample_tasks, markdown_report

    with pytest.warns(UserWarning, match="in-sample results"):
        df = run_benchmark({"pre": TrainedOnCreditG, "random": RandomSearch}, ["credit_g", "car"], budget=2, seeds=1,
                           progress=False)
    df = df[~((df["agent"] == "pre") & (df["task"] == "car"))].reset_index(drop=True)
    assert in_sample_tasks(df) == {"pre": (["credit_g"], 1)}
    row = next(line for line in markdown_report(df).splitlines() if line.startswith("| pre"))
    assert "no (in-sample)" in row and "of 2 tasks" not in row


def test_the_in_sample_fix_is_about_the_in_sample_agent_not_about_any_held_out_agent():
    """under k-fold, a pre-trained agent without fit scored on its training task gets the 'has no fit' fix even
    when another (honest) agent's rows are held out; the 'fit trained on a held-out task' fix would blame fit."""
    from hpo_gym.benchmark.report import markdown_report

    with pytest.warns(UserWarning, match="in-sample results: pre on car"):
        df = run_benchmark({"t": HonestTransfer, "pre": PretrainedOnCar}, ["credit_g", "car"], budget=2, seeds=1,
                           protocol="kfold", folds=2, progress=False)
    report = markdown_report(df)
    assert "the agent has no fit and arrived trained on these tasks" in report
    assert "under k-fold this means fit" not in report


def test_failed_runs_are_not_counted_as_out_of_range_regrets(failing_df):
    """regret_out_of_range looks at ok runs only, as every metric does; a failed run's steps are left out."""
    from hpo_gym.benchmark.report import regret_out_of_range

    df = failing_df.copy()
    df.loc[(df["status"] == "failed") & (df["step"] == 1), "normalized_regret"] = 1.5
    assert regret_out_of_range(df) is None
