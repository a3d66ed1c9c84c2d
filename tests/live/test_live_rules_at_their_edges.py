"""Killer tests from a mutation review of the live backend (objective, models, data, cache, executors).

Each test pins a behaviour that a hand mutation of the code changed without any other test noticing: real fits of
scikit-learn on the small real data the test server ships, no mocks."""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np
import pytest
from live_fixtures import BREAST_CANCER, DEFAULTS, IRIS, SMALL, WINE, openml_on

from hpo_gym.executors import ProcessExecutor, SerialExecutor, get_executor
from hpo_gym.live import LiveObjective
from hpo_gym.live.data import load_task


def sleep_then_answer(shared, job):  # module level: a worker process imports it
    time.sleep(job)
    return job


def pid_of_the_worker(shared, job):
    return os.getpid()


def exit_the_worker_politely(shared, job):  # a library that calls sys.exit() inside a fit
    raise SystemExit(job)


def test_the_largest_seed_the_docs_allow_is_a_seed_a_fit_runs_under(openml_session):
    """fit_seed accepts [0, 2**32 - 1], the range scikit-learn's random_state takes; the top end is a valid seed."""
    from hpo_gym.live.objective import MAX_SEED, fit_seed

    assert fit_seed(MAX_SEED) == 2**32 - 1 and fit_seed(0) == 0
    obj = LiveObjective(IRIS, "lr", fidelity=SMALL["lr"], executor="inline", cache=False)
    ev = obj.evaluate(DEFAULTS["lr"], seed=2**32 - 1)
    assert not ev.failed and ev.info["seed"] == 2**32 - 1


def test_a_score_that_is_not_a_number_is_a_failed_fit_with_the_reason(openml_session):
    """A scorer undefined on the scored rows (D^2 of the log loss on a single row is NaN in scikit-learn) must score
    the worst value with the reason in info, never reach the caller (or the env's reward) as NaN."""
    iris = load_task(IRIS)
    one_test_row = dataclasses.replace(iris, test_idx=iris.test_idx[:1])
    obj = LiveObjective(IRIS, "lr", "d2_log_loss_score", worst_score=-10.0, data=one_test_row,
                        fidelity=SMALL["lr"], executor="inline", cache=False)
    ev = obj.test_score(DEFAULTS["lr"])  # scikit-learn's warning is counted in the worker, not raised
    assert ev.failed and ev.score == -10.0
    assert "d2_log_loss_score score is nan" in ev.info["error"]


@pytest.mark.parametrize("split", [{"split_seed": 1}, {"val_fraction": 0.5}])
def test_another_validation_split_is_trained_not_answered_from_the_cache(openml_session, tmp_path, split):
    """split_seed and val_fraction pick the validation rows: a score of other rows must not come back from the cache."""
    config = DEFAULTS["lr"]
    first = LiveObjective(BREAST_CANCER, "lr", fidelity=SMALL["lr"], cache_dir=tmp_path, executor="inline")
    assert not first.evaluate(config).info["cached"] and first.evaluate(config).info["cached"]
    other = LiveObjective(BREAST_CANCER, "lr", fidelity=SMALL["lr"], cache_dir=tmp_path, executor="inline", **split)
    assert not other.evaluate(config).info["cached"]
    assert other.evaluate(config).info["cached"] and len(other.cache) == 2


def test_another_metric_is_scored_not_answered_with_the_first_metrics_cached_score(openml_session, tmp_path):
    """The metric is part of the key: accuracy's cached score is not neg_log_loss's."""
    config = DEFAULTS["lr"]
    acc = LiveObjective(BREAST_CANCER, "lr", fidelity=SMALL["lr"], cache_dir=tmp_path, executor="inline")
    first = acc.evaluate(config)
    nll = LiveObjective(BREAST_CANCER, "lr", "neg_log_loss", fidelity=SMALL["lr"], cache_dir=tmp_path,
                        executor="inline")
    other = nll.evaluate(config)
    assert not other.info["cached"] and other.score < 0.0 < first.score


@pytest.mark.parametrize("model, fidelity, param", [
    ("lr", {"iter": 7}, "max_iter"), ("rf", {"n_estimators": 7}, "n_estimators"),
    ("xgb", {"n_estimators": 7}, "n_estimators"), ("histgb", {"n_estimators": 7}, "max_iter"),
    ("mlp", {"iter": 7}, "max_iter")])
def test_each_iterative_fidelity_reaches_the_fitted_estimator(model, fidelity, param):
    """A budget fidelity is the estimator's number of trees / iterations (HPOBench's init_model): an estimator that
    ignored it would train at one fixed budget while the agent pays for (and the cache files) another."""
    from hpo_gym.live.models import get_model

    family = get_model(model)
    pipe = family.pipeline(DEFAULTS[model], family.fidelity(fidelity), np.zeros(4, dtype=bool), 3, 0)
    assert pipe.named_steps["model"].get_params()[param] == 7


def test_rf_max_features_rounds_to_the_nearest_column_count_as_hpobench_does():
    """HPOBench maps max_features v to int(np.rint(n_features ** v)): with 8 columns, v = 0.5 is 3 (2.83), not 2."""
    from hpo_gym.live.models import get_model

    config = {**DEFAULTS["rf"], "max_features": 0.5}
    pipe = get_model("rf").pipeline(config, get_model("rf").fidelity(), np.zeros(8, dtype=bool), 2, 0, n_features=8)
    assert pipe.named_steps["model"].max_features == 3


def test_rf_max_features_is_mapped_on_the_one_hot_width_inside_the_objective(openml_session):
    """HPOBench sizes max_features on the encoded width (one column per category): the objective's fit must use the
    width its pipeline really sees, as a pipeline built by hand with encoded_width does (same rows, same score)."""
    from hpo_gym.live.models import encoded_width, get_model

    wine = load_task(WINE)
    nominal = np.digitize(wine.X[:, 0], np.quantile(wine.X[:, 0], np.linspace(0.1, 0.9, 9))).astype(np.float64)
    data = dataclasses.replace(wine, X=np.column_stack([wine.X, nominal]),
                               categorical=np.append(wine.categorical, True))
    obj = LiveObjective(WINE, "rf", data=data, fidelity={"n_estimators": 16}, executor="inline", cache=False)
    config = {**DEFAULTS["rf"], "max_features": 0.5, "max_depth": 2, "min_samples_split": 2}
    width = encoded_width(data.X[obj.fit_idx], data.categorical)
    assert width == 13 + 10
    for seed in range(4):  # stumps-like trees on real wine: the column count per split shows in the scores
        pipe = get_model("rf").pipeline(config, obj.default_fidelity, data.categorical, data.n_classes, seed, width)
        assert pipe.named_steps["model"].max_features == 5  # rint(23 ** 0.5); the 14 raw columns would give 4
        pipe.fit(data.X[obj.fit_idx], data.y[obj.fit_idx])
        expected = pipe.score(data.X[obj.val_idx], data.y[obj.val_idx])
        assert obj.evaluate(config, seed=seed).score == pytest.approx(expected, abs=1e-9), seed


def test_a_job_past_its_time_limit_is_stopped_at_the_limit_not_later():
    """A fit is killed once it has run time_limit seconds (a failure, transient), not allowed some multiple of it: a
    job that would end by itself at 1.6x the limit is stopped (under a 2x allowance it finished and counted as a fit).
    No upper bound on the time taken: on a loaded machine the kill itself can lag."""
    with ProcessExecutor(n_workers=1) as ex:
        assert ex.run(sleep_then_answer, [0.0])[0].value == 0.0  # the worker is up before the timed job starts
        out = ex.run(sleep_then_answer, [1.6], time_limit=1.0)[0]
        assert out.error is not None and out.error.startswith("timeout") and out.transient, out
        assert out.seconds >= 1.0 and out.value is None


def test_bumping_the_cache_version_retires_every_older_entry(monkeypatch):
    """CACHE_VERSION is bumped when training changes meaning (cache.py's history): it must be part of every key, or
    results of the old training code come back after the bump."""
    from hpo_gym.live import cache

    parts = {"task": 1, "model": "rf", "config": {"x": 0.5}, "seed": None}
    before = cache.evaluation_key(**parts)
    monkeypatch.setattr(cache, "CACHE_VERSION", cache.CACHE_VERSION + 1)
    assert cache.evaluation_key(**parts) != before


def test_a_validation_fraction_of_one_is_refused_by_name(openml_session):
    """val_fraction=1.0 leaves no fit rows: refused with hpo-gym's message (the range), not scikit-learn's."""
    for bad in (1.0, 0.0, 1.5):
        with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\), got"):
            LiveObjective(IRIS, "lr", val_fraction=bad, cache=False)


def test_a_repeat_or_fold_one_past_the_last_is_refused_with_the_tasks_split_dimensions(openml_session):
    """repeat/fold index the task's own splits: one past the last is hpo-gym's ValueError naming the dimensions."""
    data = load_task(IRIS)
    n_repeats, n_folds = data.extra["n_repeats"], data.extra["n_folds"]
    for repeat, fold in ((n_repeats, 0), (0, n_folds)):
        with pytest.raises(ValueError, match=rf"has {n_repeats} repeat\(s\) x {n_folds} fold\(s\); "
                                             rf"got repeat={repeat}, fold={fold}"):
            load_task(IRIS, repeat=repeat, fold=fold)


def test_data_with_another_outer_split_is_trained_not_answered_from_the_cache(openml_session, tmp_path):
    """The fingerprint covers the outer split: the same arrays with other train/test rows (a data= override, another
    server's split) score other rows, and must not receive the first split's cached scores."""
    data = load_task(BREAST_CANCER)
    rows = np.sort(np.concatenate([data.train_idx, data.test_idx]))
    rng = np.random.default_rng(0)
    test = np.sort(rng.choice(rows, size=len(data.test_idx), replace=False))
    other = dataclasses.replace(data, train_idx=np.setdiff1d(rows, test), test_idx=test)
    assert other.fingerprint != data.fingerprint
    config = DEFAULTS["lr"]
    first = LiveObjective(BREAST_CANCER, "lr", fidelity=SMALL["lr"], data=data, cache_dir=tmp_path, executor="inline")
    first.evaluate(config), first.test_score(config)
    second = LiveObjective(BREAST_CANCER, "lr", fidelity=SMALL["lr"], data=other, cache_dir=tmp_path,
                           executor="inline")
    assert not second.evaluate(config).info["cached"] and not second.test_score(config).info["cached"]


def test_a_job_that_raises_system_exit_in_a_worker_is_a_transient_failure_and_the_pool_goes_on():
    """SystemExit / KeyboardInterrupt inside a fit say nothing lasting about the configuration: the outcome is a
    transient failure (not cached as the configuration's result), and the worker answers the next job."""
    with ProcessExecutor(n_workers=1) as ex:
        out = ex.run(exit_the_worker_politely, [3])[0]
        assert not out.ok and out.transient and "SystemExit" in out.error, out
        assert ex.run(sleep_then_answer, [0.0])[0].value == 0.0


def test_a_test_score_after_validation_fits_on_the_same_worker_scores_the_outer_test_rows(openml_session):
    """Workers keep the shared arrays by key: the validation and test arrays need keys of their own, or the worker that
    just ran validation fits scores the "test" fit on the validation rows (same score, wrong rows)."""
    config = DEFAULTS["lr"]
    reference = LiveObjective(BREAST_CANCER, "lr", fidelity=SMALL["lr"], executor="inline", cache=False)
    expected_val, expected_test = reference.evaluate(config).score, reference.test_score(config).score
    assert expected_val != expected_test
    with ProcessExecutor(n_workers=1) as ex:
        obj = LiveObjective(BREAST_CANCER, "lr", fidelity=SMALL["lr"], executor=ex, cache=False)
        assert obj.evaluate(config).score == expected_val
        assert obj.test_score(config).score == expected_test
        assert obj.evaluate(config).score == expected_val


def test_a_row_without_a_class_label_is_refused_when_the_task_loads(tmp_path):
    """A dataset row whose target is missing ('?' in the ARFF) has no class index: it must be refused by name when the
    task loads, not become class -1 (which np.bincount and every stratified split then fail on, far from the cause)."""
    import hashlib
    import re
    import shutil
    from pathlib import Path

    from openml_server import OpenMLTestServer

    data_dir = tmp_path / "data"
    shutil.copytree(Path(__file__).parent / "data", data_dir)
    arff = data_dir / "datasets" / "990101" / "dataset.arff"
    text = arff.read_text(encoding="utf-8").replace("5.1,3.5,1.4,0.2,setosa\n", "5.1,3.5,1.4,0.2,?\n", 1)
    arff.write_text(text, encoding="utf-8")
    description = data_dir / "datasets" / "990101" / "description.xml"
    description.write_text(re.sub(r"<oml:md5_checksum>\w+</oml:md5_checksum>",
                                  f"<oml:md5_checksum>{hashlib.md5(text.encode()).hexdigest()}</oml:md5_checksum>",
                                  description.read_text(encoding="utf-8")), encoding="utf-8")
    with OpenMLTestServer(data_dir=data_dir) as server, openml_on(server):
        with pytest.raises(ValueError, match=r"OpenML task 990001: 1 rows have a missing or unknown class label"):
            load_task(IRIS, cache_dir=tmp_path / "openml")


def test_the_serial_executor_runs_one_job_at_a_time_in_one_worker_whatever_it_is_given():
    """'serial' is one worker process (the live default: a fit may use the machine alone); n_workers cannot widen it."""
    with SerialExecutor(n_workers=4) as ex:
        assert ex.n_workers == 1
        assert len({o.value for o in ex.run(pid_of_the_worker, [0, 1, 2])}) == 1
    with get_executor("serial") as ex:
        assert ex.n_workers == 1


def test_live_objectives_asking_for_other_pool_sizes_get_pools_of_those_sizes(openml_session):
    """Named executors are shared per (name, options): an objective asking for 3 workers must not be handed the pool of
    another that asked for 2 (nor the reverse); equal options share one pool."""
    two = LiveObjective(IRIS, "lr", executor="process", executor_options={"n_workers": 2}, cache=False)
    three = LiveObjective(IRIS, "lr", executor="process", executor_options={"n_workers": 3}, cache=False)
    again = LiveObjective(IRIS, "lr", executor="process", executor_options={"n_workers": 2}, cache=False)
    assert (two.executor.n_workers, three.executor.n_workers) == (2, 3)
    assert again.executor is two.executor and three.executor is not two.executor


#: A configuration per family whose values all differ from each other and from the defaults, and the estimator
#: parameter each hyperparameter must arrive at (HPOBench's init_model).
REACHES = {
    "lr": ({"alpha": 0.02, "eta0": 0.3}, {"alpha": 0.02, "eta0": 0.3}),
    "svm": ({"C": 4.0, "gamma": 0.25}, {"C": 4.0, "gamma": 0.25}),
    "rf": ({"max_depth": 7, "min_samples_split": 5, "max_features": 1.0, "min_samples_leaf": 3},
           {"max_depth": 7, "min_samples_split": 5, "max_features": 4, "min_samples_leaf": 3}),
    "xgb": ({"eta": 0.2, "max_depth": 4, "colsample_bytree": 0.7, "reg_lambda": 2.5},
            {"learning_rate": 0.2, "max_depth": 4, "colsample_bytree": 0.7, "reg_lambda": 2.5}),
    "histgb": ({"max_depth": 9, "max_leaf_nodes": 12, "learning_rate": 0.05, "l2_regularization": 3.0},
               {"max_depth": 9, "max_leaf_nodes": 12, "learning_rate": 0.05, "l2_regularization": 3.0}),
    "mlp": ({"depth": 2, "width": 24, "batch_size": 16, "alpha": 0.003, "learning_rate_init": 0.01},
            {"hidden_layer_sizes": [24, 24], "batch_size": 16, "alpha": 0.003, "learning_rate_init": 0.01}),
}


@pytest.mark.parametrize("model", sorted(REACHES))
def test_each_hyperparameter_reaches_its_own_estimator_parameter(model):
    """No two hyperparameters swapped or dropped on the way to the estimator (a swap of C and gamma, or of the
    learning rate and the L2 penalty, still trains and scores, so the end-to-end tests cannot see it)."""
    from hpo_gym.live.models import get_model

    family = get_model(model)
    config, expected = REACHES[model]
    assert set(config) == set(family.space.names)
    pipe = family.pipeline(config, family.fidelity(SMALL[model]), np.zeros(4, dtype=bool), 3, 0)
    params = pipe.named_steps["model"].get_params()
    assert {k: params[k] for k in expected} == expected


@pytest.mark.parametrize("call", ["evaluate", "test_score"])
def test_a_per_call_fidelity_that_is_not_a_mapping_is_refused_by_name(openml_session, call):
    """The constructor named the form (``fidelity must be a dict ...``) while ``evaluate``/``test_score`` raised a bare
    ``TypeError`` for ``fidelity=0.5`` and took a list of pairs (found in review)."""
    obj = LiveObjective(IRIS, "lr", fidelity=SMALL["lr"], executor="inline", cache=False)
    for fidelity in (0.5, [("subsample", 0.5)]):
        with pytest.raises(ValueError, match=r"fidelity must be a dict of fidelity names and values, e.g. "):
            getattr(obj, call)(DEFAULTS["lr"], fidelity=fidelity)
