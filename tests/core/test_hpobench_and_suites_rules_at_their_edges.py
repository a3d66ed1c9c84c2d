"""The HPOBench adapter and the suite registry at the edges of their rules, on the real embedded HPOBench tables.

The adapter is driven by a benchmark of HPOBench's API whose scores are the real kc1 table's (``function_value`` =
1 - validation accuracy of the call's seed, ``cost`` its train time); the suites are the embedded ``hpobench-nn`` and
user suites of real table subsets (:func:`tests.tables.real_table_subset`), each registered for one test only.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hpo_gym import suites
from hpo_gym.hpobench import HPOBenchObjective
from hpo_gym.suites import as_task_id, get_suite, names_with_task_id, register_suite
from hpo_gym.tabular import TabularObjective
from tests.tables import real_table_subset


class KC1AsHPOBench:
    """HPOBench's API over the real kc1 table: ``function_value`` is ``1 - val_acc`` of the seed HPOBench's ``rng``
    names, ``cost`` the table's train time. ``result`` entries replace (or, given as ``None``, remove) the result's."""

    def __init__(self, table: TabularObjective, **result):
        self.table = table
        self.result = result
        self.calls: list[dict] = []

    def get_configuration_space(self, seed=None):
        return self.table.space.to_configspace(seed)

    def objective_function(self, configuration, fidelity=None, rng=None, **kwargs):
        self.calls.append({"fidelity": fidelity, "rng": rng})
        evaluation = self.table.evaluate(dict(configuration), seed=rng)
        out = {"function_value": 1.0 - evaluation.score, "cost": evaluation.cost, "info": {"val_acc": evaluation.score}}
        out.update(self.result)
        return {k: v for k, v in out.items() if v is not None}


def _cell_config(table: TabularObjective, which: str) -> dict:
    """The configuration of the table's best or worst cell for seed 0 (what the adapter's default seed reads)."""
    seed0 = table.seed_scores[:, 0]
    cell = int(np.nanargmax(seed0) if which == "best" else np.nanargmin(seed0))
    return table.cell_config(cell)


def test_an_oracle_whose_best_equals_its_worst_is_refused(kc1):
    """The adapter's oracle must have best > worst: a (-0.5, -0.5) typo would make every normalized regret 0 (a flat
    task), so every agent would look optimal on the benchmark without a word."""
    with pytest.raises(ValueError, match=r"oracle=\(-0\.5, -0\.5\): give \(best_score, worst_score\).*best > worst"):
        HPOBenchObjective(KC1AsHPOBench(kc1), oracle=(-0.5, -0.5))


def test_objective_kwargs_holding_configuration_is_refused_at_construction(kc1):
    """``configuration`` is passed by the adapter itself: in ``objective_kwargs`` it made every call fail with Python's
    "got multiple values" TypeError, scored as the worst score, so a whole run would silently be failures."""
    with pytest.raises(ValueError, match=r"objective_kwargs must not hold \['configuration'\]: HPOBenchObjective "
                                         r"passes them itself"):
        HPOBenchObjective(KC1AsHPOBench(kc1), objective_kwargs={"configuration": _cell_config(kc1, "best")})


def test_a_benchmark_that_reports_no_cost_is_charged_its_wall_time_without_a_reported_cost_note(kc1):
    """``cost`` is optional for a benchmark: without one the call's wall time is the cost, and ``info`` carries no
    ``reported_cost`` (that note is for a cost the adapter had to replace, and a user reading it would think the
    benchmark reported something unusable)."""
    evaluation = HPOBenchObjective(KC1AsHPOBench(kc1, cost=None)).evaluate(_cell_config(kc1, "best"))
    assert not evaluation.failed and 0 <= evaluation.cost < 5
    assert "reported_cost" not in evaluation.info


def test_a_zero_cost_is_kept_as_reported(kc1):
    """A surrogate or tabular benchmark answers in no time and may report ``cost = 0.0``: that is a valid duration,
    kept as is, not replaced by the wall time and flagged as ``reported_cost``."""
    evaluation = HPOBenchObjective(KC1AsHPOBench(kc1, cost=0.0)).evaluate(_cell_config(kc1, "best"))
    assert evaluation.cost == 0.0 and "reported_cost" not in evaluation.info


def test_a_nan_function_value_is_a_failed_call_with_the_worst_score(kc1):
    """A diverged benchmark returning ``function_value = nan`` is a failure scored ``worst_score``: a NaN score would
    poison the run's best-so-far and regret curves instead of counting as one bad configuration."""
    evaluation = HPOBenchObjective(KC1AsHPOBench(kc1, function_value=float("nan")), worst_score=-1.0).evaluate(
        _cell_config(kc1, "best"))
    assert evaluation.failed and evaluation.score == -1.0
    assert evaluation.info["error"] == "non-finite function_value nan"


def test_the_below_worst_score_warning_is_given_once_per_objective(kc1):
    """A ``worst_score`` above real scores is warned about once, at the first call below it: repeating the same
    warning at every step of a 1000-step run would bury every other message."""
    objective = HPOBenchObjective(KC1AsHPOBench(kc1), worst_score=-0.01)  # kc1's accuracies are below 0.99
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = [objective.evaluate(_cell_config(kc1, which)).score for which in ("worst", "best", "worst")]
    assert all(score < -0.01 for score in scores)
    below = [w for w in caught if "below worst_score=-0.01" in str(w.message)]
    assert len(below) == 1 and below[0].category is RuntimeWarning


def test_a_call_scoring_exactly_the_worst_score_does_not_warn(kc1):
    """``worst_score`` set to the table's own worst score is the right setting: the worst cell then ties a failure
    but does not rank below it, so it must not draw the "pass worst_score= at most the lowest possible score"
    warning."""
    worst = _cell_config(kc1, "worst")
    worst_score = -(1.0 - kc1.evaluate(worst, seed=0).score)
    objective = HPOBenchObjective(KC1AsHPOBench(kc1), worst_score=worst_score)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert objective.evaluate(worst).score == worst_score


def test_editing_the_callers_fidelity_dict_after_construction_changes_nothing(kc1):
    """A benchmark need not have ``get_fidelity_space``: the fidelity given then is still the adapter's own copy, so a
    caller reusing (and editing) its dict for the next benchmark does not change this one's later evaluations."""
    fidelity = {"iter": 243, "subsample": 1.0}
    objective = HPOBenchObjective(KC1AsHPOBench(kc1), fidelity=fidelity)
    fidelity["iter"] = 3
    objective.evaluate(_cell_config(kc1, "best"))
    assert objective.benchmark.calls[-1]["fidelity"] == {"iter": 243, "subsample": 1.0}
    assert objective.metadata["fidelity"] == {"iter": 243, "subsample": 1.0}


# -- the suite registry --------------------------------------------------------------------------------
def test_a_task_id_is_a_positive_integer_so_zero_is_none():
    """OpenML task ids start at 1: ``as_task_id`` (used by the env, the runner's ``trained_on`` and the PPO agent)
    answers None for 0, as for -5 and True, so 0 never stands for a task."""
    assert as_task_id(0) is None and as_task_id(np.int64(0)) is None and as_task_id(-5) is None
    assert as_task_id(1) == 1 and as_task_id(np.int64(31)) == 31


def test_an_unknown_name_is_refused_in_a_suite_whose_tasks_have_no_openml_id(monkeypatch):
    """A user suite's tasks need no OpenML id (None): a misspelt task name must be refused naming the valid ones, not
    resolved to the one task without an id, which would silently run the wrong task."""
    table = TabularObjective.from_dataframe(real_table_subset("kc1", 40), metric="acc", seed_column="seed",
                                            name="kc1-sample")
    monkeypatch.setitem(suites._SUITES, "test-no-ids", suites.Suite("test-no-ids", {"kc1-sample": None},
                                                                    {"kc1-sample": table}.__getitem__))
    suite = get_suite("test-no-ids")
    assert suite.task_name("kc1-sample") == "kc1-sample"
    with pytest.raises(ValueError, match=r"unknown task 'kc1-smaple' in suite 'test-no-ids'; valid names \(OpenML "
                                         r"task id\): kc1-sample \(None\)"):
        suite.task_name("kc1-smaple")


def test_a_suite_loaded_by_openml_id_hands_its_loader_the_task_name(monkeypatch):
    """``Suite.load(3917)`` resolves the id first: a user's loader (here a dict's ``__getitem__``) knows its tasks by
    name only, and got the bare id (a KeyError) when loaded the way ``gym.make(task=3917)`` allows."""
    table = TabularObjective.from_dataframe(real_table_subset("kc1", 40), metric="acc", seed_column="seed",
                                            name="kc1-sample")
    monkeypatch.setitem(suites._SUITES, "test-by-id", suites.Suite("test-by-id", {"kc1-sample": 3917},
                                                                   {"kc1-sample": table}.__getitem__))
    suite = get_suite("test-by-id")
    assert suite.load(3917) is table and suite.load("3917") is table


def test_registering_a_suite_name_again_replaces_the_earlier_suite(monkeypatch):
    """A notebook user who fixes a suite's loader and registers it again must get the new suite, not the first one
    kept: ``register_suite`` is idempotent for the same suite and the latest registration wins for a name."""
    small, larger = (TabularObjective.from_dataframe(real_table_subset("credit_g", n), metric="acc",
                                                     seed_column="seed", name="credit_g-sample") for n in (20, 60))
    first = suites.Suite("test-reregistered", {"credit_g-sample": 31}, {"credit_g-sample": small}.__getitem__)
    monkeypatch.setitem(suites._SUITES, "test-reregistered", first)  # removed again after the test
    second = suites.Suite("test-reregistered", {"credit_g-sample": 31}, {"credit_g-sample": larger}.__getitem__)
    register_suite(second)
    register_suite(second)
    assert get_suite("test-reregistered") is second
    assert get_suite("test-reregistered").load("credit_g-sample").n_configs == 60


def test_names_for_an_openml_id_stay_inside_the_suite_asked_about(monkeypatch):
    """The runner marks in-sample runs by ``names_with_task_id(id, suite)``: an agent trained on OpenML task 31 in
    ``hpobench-nn`` is in-sample on credit_g there, and a user suite that also holds task 31 must not add its own task
    names to that suite's answer (they are no runs of it). Without a suite, every suite's names count."""
    table = TabularObjective.from_dataframe(real_table_subset("credit_g", 40), metric="acc", seed_column="seed",
                                            name="credit_g-sample")
    monkeypatch.setitem(suites._SUITES, "test-also-31", suites.Suite("test-also-31", {"credit_g-sample": 31},
                                                                     {"credit_g-sample": table}.__getitem__))
    assert names_with_task_id(31, "hpobench-nn") == {"credit_g"}
    assert names_with_task_id(31, "test-also-31") == {"credit_g-sample"}
    assert {"credit_g", "credit_g-sample"} <= names_with_task_id(31)


def test_an_unknown_suite_is_refused_naming_the_suites_there_are():
    """A misspelt suite (``hpobench_nn`` for ``hpobench-nn``) must be refused with the names to choose from, the
    lazily registered live suite included, so the user can fix the call without reading the source."""
    with pytest.raises(ValueError, match=r"unknown suite 'hpobench_nn'; available: \[.*'grpoformer-paper', "
                                         r"'hpobench-nn'.*\]"):
        get_suite("hpobench_nn")


def test_an_embedded_table_names_its_suite_and_openml_task_in_its_metadata(kc1):
    """A loaded table says where it came from: ``metadata`` carries the suite and the OpenML task id, so objectives
    from several suites in one benchmark (their fingerprints include the metadata) can be told apart."""
    assert kc1.metadata["suite"] == "hpobench-nn" and kc1.metadata["openml_task_id"] == 3917
    assert kc1.metadata["metric"] == "val_acc" and kc1.metadata["direction"] == "maximize"


def test_malformed_oracle_and_worst_score_are_refused_naming_the_parameter(kc1):
    """Found by the review: ``oracle=-0.05`` gave "'float' object is not subscriptable", ``(-0.05,)`` an IndexError and
    ``worst_score="low"`` "could not convert string to float", none naming the parameter or its form."""
    for oracle in (-0.05, (-0.05,), "ab", (-0.05, -1.0, 0.0)):
        with pytest.raises(ValueError, match=r"oracle=.* must be a pair \(best_score, worst_score\)"):
            HPOBenchObjective(KC1AsHPOBench(kc1), oracle=oracle)
    with pytest.raises(ValueError, match=r"oracle's best_score=None must be a number"):
        HPOBenchObjective(KC1AsHPOBench(kc1), oracle=(None, -1.0))
    for worst in ("low", True):
        with pytest.raises(ValueError, match=rf"worst_score={worst!r} must be a number"):
            HPOBenchObjective(KC1AsHPOBench(kc1), worst_score=worst)
    oracle = HPOBenchObjective(KC1AsHPOBench(kc1), oracle=[np.float32(-0.05), -1]).oracle
    assert (oracle.best, oracle.worst) == (pytest.approx(-0.05), -1.0)
    # what was taken before these checks still is (found in review): a NumPy pair, a Decimal
    from decimal import Decimal

    assert HPOBenchObjective(KC1AsHPOBench(kc1), oracle=np.array([-0.05, -1.0])).oracle.worst == -1.0
    assert HPOBenchObjective(KC1AsHPOBench(kc1), worst_score=Decimal("-2")).worst_score == -2.0


def test_a_bool_cost_is_no_duration(kc1):
    """A cost of ``True`` was charged as one second; like a string cost it is replaced by the wall time and kept in
    ``info["reported_cost"]``."""
    evaluation = HPOBenchObjective(KC1AsHPOBench(kc1, cost=True)).evaluate(_cell_config(kc1, "best"))
    assert evaluation.info["reported_cost"] is True and 0 <= evaluation.cost < 5 and evaluation.cost != 1.0


def test_string_and_zero_task_ids_and_the_raw_table_readers_name_the_fix():
    """Found by the review: ``as_task_id("0")`` was id 0 although ``as_task_id(0)`` is None; ``only_task_of_id`` of no
    name raised a bare IndexError; ``read_hpobench_nn_table(3917)`` a FileNotFoundError naming no task."""
    from hpo_gym.suites import only_task_of_id, read_hpobench_nn_table

    assert as_task_id("0") is None and as_task_id(0) is None and as_task_id(" 31 ") == 31
    with pytest.raises(ValueError, match=r"no task of suite 'x' has OpenML task id 31"):
        only_task_of_id(31, [], "suite 'x'")
    for task in (3917, "mnist"):
        with pytest.raises(ValueError, match=rf"no hpobench-nn table {task!r}; its tables are named credit_g \(31\), "
                                             r".*load_hpobench_nn also takes the OpenML task id"):
            read_hpobench_nn_table(task)
    assert len(read_hpobench_nn_table("kc1")) == 30_000
