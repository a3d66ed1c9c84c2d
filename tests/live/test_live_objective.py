"""LiveObjective and the live env: real fits of every model family on real (small) OpenML data."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from live_fixtures import BREAST_CANCER, DEFAULTS, IRIS, SMALL, WINE

import envs_registry  # noqa: F401
from hpo_gym.live import GRPOFORMER_PAPER, MODEL_NAMES, LiveObjective, live_task_pool
from hpo_gym.objective import Objective


class CountingExecutor:
    """Wraps a real executor and counts the fits it is given (a cache hit must give it none)."""

    def __init__(self, inner):
        self.inner, self.jobs = inner, 0

    def run(self, fn, jobs, **kwargs):
        jobs = list(jobs)
        self.jobs += len(jobs)
        return self.inner.run(fn, jobs, **kwargs)


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_every_model_family_trains_on_two_real_datasets(openml_session, eval_cache, model):
    for task, chance in [(IRIS, 1 / 3), (BREAST_CANCER, 212 / 569)]:
        obj = LiveObjective(task, model, fidelity=SMALL[model], executor="serial", time_limit=30, cache_dir=eval_cache)
        assert isinstance(obj, Objective)
        ev = obj.evaluate(DEFAULTS[model])
        assert "error" not in ev.info, ev.info
        assert chance + 0.25 < ev.score <= 1.0, (model, task, ev.score)
        assert ev.cost > 0 and ev.info["split"] == "validation" and ev.info["raw_score"] == ev.score
        assert ev.info["fidelity"]["subsample"] == 1.0


def test_gym_make_live_env_steps_and_test_score_is_separate(openml_session, eval_cache):
    env = gym.make("HPO-OpenML-v0", backend="live", task=WINE, model="rf", budget=3,
                   backend_options={"fidelity": SMALL["rf"], "cache_dir": eval_cache, "time_limit": 30})
    obs, info = env.reset(seed=0)
    env.action_space.seed(0)  # the configurations, hence the rewards checked below, are fixed
    assert info["task"] == f"{WINE}-rf" and info["openml_task_id"] == WINE
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert "error" not in info and 0.3 < reward <= 1.0 and reward == info["score"]
        assert info["evaluation"]["split"] == "validation" and info["evaluation"]["fit_seconds"] > 0  # the fit's own
    assert terminated
    first_info = info
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(3):  # the same configurations again, answered from the cache: the same info
        info = env.step(env.action_space.sample())[4]
    assert info["evaluation"] == first_info["evaluation"] and "cached" not in info["evaluation"]
    objective = env.unwrapped.objective
    test = objective.test_score(info["config"])
    assert test.info["split"] == "test" and 0.3 < test.score <= 1.0
    meta = objective.metadata
    assert meta["n_fit"] + meta["n_validation"] + meta["n_test"] == meta["n_rows"] == 178
    env.close()


def test_live_env_passes_check_env(openml_session, eval_cache):
    from gymnasium.utils.env_checker import check_env

    env = gym.make("HPO-OpenML-v0", backend="live", task=IRIS, model="svm", budget=4,
                   backend_options={"cache_dir": eval_cache, "executor": "inline"})
    check_env(env.unwrapped)


def test_cache_skips_retraining(openml_session, eval_cache):
    configs = [DEFAULTS["rf"], {**DEFAULTS["rf"], "max_depth": 2}]
    first = LiveObjective(BREAST_CANCER, "rf", fidelity=SMALL["rf"], executor="inline", cache_dir=eval_cache)
    a = first.evaluate_batch(configs)
    assert [e.info["cached"] for e in a] == [False, False]
    second = LiveObjective(BREAST_CANCER, "rf", fidelity=SMALL["rf"], executor="inline", cache_dir=eval_cache)
    second.executor = fits = CountingExecutor(second.executor)
    b = second.evaluate_batch(configs)
    assert fits.jobs == 0  # nothing was trained: both came from the cache
    assert [e.info["cached"] for e in b] == [True, True]
    assert second.evaluate({**configs[1], "max_depth": 2.0}).info["cached"]  # a whole float is the int: no refit
    assert second.evaluate(configs[0], seed=0).info["cached"]  # seed 0 is the fit seed=None gets: one entry
    assert fits.jobs == 0
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.costs, b.costs)
    # another seed, fidelity or split is another key: each is trained once
    assert not second.evaluate(configs[0], seed=1).info["cached"]
    assert not second.evaluate(configs[0], fidelity={"subsample": 0.5}).info["cached"]
    assert not second.test_score(configs[0]).info["cached"]
    assert fits.jobs == 3 and len(second.cache) == 5
    # a whole number for a float hyperparameter is that float: max_features=1 was a cache entry (and a fit) of its own
    assert not second.evaluate({**configs[0], "max_features": 1.0}).info["cached"]
    assert second.evaluate({**configs[0], "max_features": 1}).info["cached"] and fits.jobs == 4
    # a batch that repeats a configuration and seed trained each copy (found in review): one fit answers them all
    thrice = second.evaluate_batch([{**configs[1], "max_depth": 3}] * 3, seeds=[5, 5, 5])
    assert fits.jobs == 5 and [e.info["cached"] for e in thrice] == [False, True, True] and len(set(thrice.scores)) == 1


def test_seed_and_subsample_fidelity_change_the_fit(openml_session, eval_cache):
    obj = LiveObjective(BREAST_CANCER, "mlp", fidelity={"iter": 30}, executor="inline", cache=False)
    config = {**DEFAULTS["mlp"], "width": 16}
    runs = {obj.evaluate(config, seed=s).score for s in range(4)}
    assert len(runs) > 1  # the seed is the model's random state
    sub = obj.evaluate(config, fidelity={"subsample": 0.2})
    assert "error" not in sub.info and sub.info["fidelity"]["subsample"] == 0.2
    assert obj.evaluate(config, seed=2.0).score == obj.evaluate(config, seed=2).score  # a whole float is that seed
    for bad in (-1, 2**40):  # failed inside the fit (and cached so)
        with pytest.raises(ValueError, match=r"a fit's seed is a whole number in \[0, 2\*\*32 - 1\]"):
            obj.evaluate(config, seed=bad)
    for bad in (2.5, True, np.True_, "3"):  # ran under another seed: refused for every objective, a table's too
        with pytest.raises(ValueError, match=rf"seed {bad!r} \({type(bad).__name__}\) is not an integer"):
            obj.evaluate(config, seed=bad)


def test_timeout_is_a_failure_and_the_episode_goes_on(openml_session, eval_cache):
    env = gym.make("HPO-OpenML-v0", backend="live", task=BREAST_CANCER, model="rf", budget=2, action_type="dict",
                   backend_options={"fidelity": {"n_estimators": 200_000}, "time_limit": 1.0, "cache_dir": eval_cache})
    env.reset(seed=0)
    space = env.unwrapped.space
    action = {hp.name: np.array([DEFAULTS["rf"][hp.name]]) for hp in space}
    _, reward, terminated, _, info = env.step(action)
    assert info["error"].startswith("timeout") and reward == 0.0 == info["score"] and not terminated
    assert len(env.unwrapped.objective.cache) == 0  # a timeout says nothing lasting about the configuration
    # the next fit (within its limit) works on the replacement worker
    env.unwrapped.objective.fidelity_overrides = {"n_estimators": 8}
    _, reward, terminated, _, info = env.step(action)
    assert "error" not in info and reward > 0.8 and terminated


def test_a_failed_fit_in_a_benchmark_is_stored_with_its_reason_and_reported(openml_session, eval_cache):
    """The run is ``ok`` (the agent did nothing wrong) and the step scores the worst, as the env reports it; the reason
    used to reach only the env's info, so a stored benchmark of timed-out fits read like one of bad configurations."""
    from agents.registry import make_agent
    from hpo_gym.benchmark import run_benchmark
    from hpo_gym.benchmark.report import markdown_report

    slow = LiveObjective(BREAST_CANCER, "rf", fidelity={"n_estimators": 200_000}, time_limit=0.5, cache_dir=eval_cache)
    df = run_benchmark(["random"], tasks=[slow], budget=2, seeds=1, resolve_agent=make_agent, progress=False)
    assert (df["status"] == "ok").all() and (df["score"] == 0.0).all()
    assert df["eval_error"].str.startswith("timeout").all()
    assert "failed evaluations: steps whose evaluation failed and scored the metric's worst (random: 2 of 2)" in (
        markdown_report(df))


def test_a_result_directory_refuses_a_live_objective_on_another_validation_split(openml_session, eval_cache, tmp_path):
    """Its recorded fingerprint left out split_seed, so seeds scored on other validation rows were averaged together."""
    from agents.registry import make_agent
    from hpo_gym.benchmark import run_benchmark

    kwargs = dict(budget=1, resolve_agent=make_agent, progress=False, out=tmp_path)
    first = LiveObjective(IRIS, "lr", cache_dir=eval_cache)
    run_benchmark(["random"], tasks=[first], seeds=[0], **kwargs)
    other_split = LiveObjective(IRIS, "lr", split_seed=3, cache_dir=eval_cache)
    assert other_split.metadata["split_seed"] == 3 and first.metadata["data_fingerprint"] == other_split.data.fingerprint
    with pytest.raises(ValueError, match=r"other settings \(objectives: stored"):
        run_benchmark(["random"], tasks=[other_split], seeds=[0, 1], **kwargs)
    assert len(run_benchmark(["random"], tasks=[LiveObjective(IRIS, "lr", cache_dir=eval_cache)], seeds=[0, 1],
                             **kwargs)) == 2  # the same split resumes


@pytest.mark.parametrize("model, metric, worst_score, expected", [
    ("svm", "accuracy", None, 0.0), ("svm", "matthews_corrcoef", None, -1.0),
    ("lr", "d2_log_loss_score", -7.5, -7.5)])  # a scorer without a known worst: the user's (lr has probabilities)
def test_fit_error_gets_worst_score_and_reason(openml_session, eval_cache, model, metric, worst_score, expected):
    """A dataset with an infinite cell: scikit-learn refuses it in every fit; the fit scores the metric's worst value
    (its own, or the user's worst_score=; found in review: only accuracy's 0.0 was checked, so a constant 0.0 passed,
    which would rank a failed fit above real ones under matthews_corrcoef) and info says why."""
    import dataclasses

    from hpo_gym.live.data import load_task

    iris = load_task(IRIS)
    X = iris.X.copy()
    X[0, 0] = np.inf
    obj = LiveObjective(IRIS, model, data=dataclasses.replace(iris, X=X), executor="inline", cache_dir=eval_cache,
                        metric=metric, worst_score=worst_score)
    ev = obj.evaluate(DEFAULTS[model])
    assert ev.failed and ev.score == expected == obj.worst_score
    assert "ValueError" in ev.info["error"] and "infinity" in ev.info["error"]
    if metric != "accuracy":
        return  # the rest is about caching, the same for every metric
    # the fit's own exception repeats on a rerun, so it is cached like a score
    again = obj.evaluate(DEFAULTS["svm"])
    assert again.info["cached"] and again.info["error"] == ev.info["error"] and len(obj.cache) == 1
    good = LiveObjective(IRIS, "svm", metric="balanced_accuracy", executor="inline", cache_dir=eval_cache)
    assert good.evaluate(DEFAULTS["svm"]).score > 0.8


def test_warnings_are_counted_not_printed(openml_session, eval_cache, capfd):
    obj = LiveObjective(IRIS, "mlp", fidelity={"iter": 2}, executor="inline", cache=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev = obj.evaluate(DEFAULTS["mlp"])
    assert ev.info["n_warnings"] >= 1 and "ConvergenceWarning" in ev.info["warning"]
    assert not caught and "ConvergenceWarning" not in capfd.readouterr().err


def test_a_metric_that_cannot_work_is_refused_when_the_live_env_is_made_not_at_its_first_reset(openml_session):
    """The env builds its LiveObjective lazily, at reset: a misspelled, regression or multilabel metric passed
    gym.make and failed at the first reset of a pool's draw (found in review)."""
    import gymnasium as gym

    for metric, message in (("acuracy", "unknown metric 'acuracy'; did you mean 'accuracy'"),
                            ("r2", "metric 'r2' is a regression or clustering scorer"),
                            ("f1_samples", "metric 'f1_samples' averages over the labels of each row"),
                            ("d2_log_loss_score", "metric 'd2_log_loss_score' has no known worst score")):
        with pytest.raises(ValueError, match=message):
            gym.make("HPO-OpenML-v0", backend="live", task=IRIS, model="rf", metric=metric)
    env = gym.make("HPO-OpenML-v0", backend="live", task=IRIS, model="rf", metric="d2_log_loss_score",
                   backend_options={"worst_score": -100.0})  # with its worst score given, it is made
    env.close()


def test_bad_arguments_are_clear_errors(openml_session):
    with pytest.raises(ValueError, match="OpenML task ids are whole numbers >= 1, got -5"):
        LiveObjective(-5, "rf")  # used to get the "not in the cache, fetch it online" advice
    with pytest.raises(ValueError, match="unknown model 'knn'"):
        LiveObjective(IRIS, "knn")
    with pytest.raises(ValueError, match="unknown metric 'acc'"):
        LiveObjective(IRIS, "rf", metric="acc")
    with pytest.raises(ValueError, match=r"unknown metric 'roc_auc_ovr_weigted'; did you mean 'roc_auc_ovr_weighted'"):
        LiveObjective(IRIS, "rf", metric="roc_auc_ovr_weigted")  # the list it printed was cut before every roc_auc
    with pytest.raises(ValueError, match=r"'top_k_accuracy' scores every configuration 1.0 on OpenML task \d+ .*2 classes"):
        LiveObjective(BREAST_CANCER, "svm", metric="top_k_accuracy")  # k=2 of 2 classes: sklearn's warning only
    with pytest.raises(ValueError, match="no known worst score"):
        LiveObjective(IRIS, "rf", metric="d2_log_loss_score")
    for regression in ("neg_mean_squared_error", "r2", "adjusted_rand_score"):  # scored class indices without an error
        with pytest.raises(ValueError, match=f"metric '{regression}' is a regression or clustering scorer"):
            LiveObjective(IRIS, "rf", metric=regression, worst_score=-1e9)
    for multilabel in ("f1_samples", "jaccard_samples"):  # accepted, then every fit failed (found in review)
        with pytest.raises(ValueError, match=f"metric '{multilabel}' averages over the labels of each row.*use "
                                             f"{multilabel.split('_')[0]}_macro"):
            LiveObjective(IRIS, "rf", metric=multilabel, worst_score=0.0)
    for not_an_id in (IRIS + 0.9, None, "iris", True, np.True_, 0):  # 990001.9 used to train on task 990001
        with pytest.raises(ValueError, match="OpenML task ids are whole numbers >= 1"):
            LiveObjective(not_an_id, "rf")
    for worst in (float("-inf"), float("nan")):  # the first failed fit then failed the env's finiteness check
        with pytest.raises(ValueError, match="worst_score=.*: the score a failed fit gets must be a finite number"):
            LiveObjective(IRIS, "rf", worst_score=worst)
    with pytest.raises(ValueError, match="metric 'neg_log_loss' needs predicted probabilities, which model 'svm'"):
        LiveObjective(IRIS, "svm", metric="neg_log_loss")  # HPOBench's SVC has no predict_proba: every fit would fail
    with pytest.raises(ValueError, match=r"metric 'roc_auc' is scored on two-class tasks only here.*OpenML task \d+ \(.*\) has 3; use 'roc_auc_ovr'"):
        LiveObjective(IRIS, "rf", metric="roc_auc")  # else every fit would fail with sklearn's multiclass error
    assert LiveObjective(BREAST_CANCER, "rf", metric="roc_auc", executor="inline").metric == "roc_auc"
    for two_class_only in ("positive_likelihood_ratio", "neg_negative_likelihood_ratio"):  # every fit failed on iris
        with pytest.raises(ValueError, match=f"metric '{two_class_only}' is scored on two-class tasks only.*use "
                                             "'balanced_accuracy'"):
            LiveObjective(IRIS, "rf", metric=two_class_only, worst_score=-1e9)
    for d2 in ("d2_log_loss_score", "d2_brier_score"):  # svm has no predict_proba: every fit failed (found in review)
        with pytest.raises(ValueError, match=f"metric '{d2}' needs predicted probabilities, which model 'svm'"):
            LiveObjective(IRIS, "svm", metric=d2, worst_score=-100.0)
    from sklearn.metrics import f1_score, make_scorer

    for not_a_name in (make_scorer(f1_score, average="macro"), 5):  # an AttributeError ('endswith') / TypeError before
        with pytest.raises(ValueError, match=r"metric=.*: give a scikit-learn scorer \*name\* \(a str\)"):
            LiveObjective(IRIS, "rf", metric=not_a_name)
    with pytest.raises(ValueError, match="has no fidelity 'iter'"):
        LiveObjective(IRIS, "rf", fidelity={"iter": 3})
    with pytest.raises(ValueError, match="n_estimators of model 'rf' must be a positive integer, got 0"):
        LiveObjective(IRIS, "rf", fidelity={"n_estimators": 0})
    with pytest.raises(ValueError, match="must be a positive integer, got 2.5"):
        LiveObjective(IRIS, "rf", fidelity={"n_estimators": 2.5})
    assert LiveObjective(IRIS, "rf", fidelity={"n_estimators": 16.0}, cache=False).default_fidelity["n_estimators"] == 16
    with pytest.raises(ValueError, match=r"fidelity must be a dict of fidelity names and values.*got 0.5"):
        LiveObjective(IRIS, "rf", fidelity=0.5)  # a bare TypeError ('float' object is not iterable) before
    # int() ran repeat 0.5 as repeat 0 and split seed 1.7 as 1; -1 surfaced as scikit-learn's random_state error
    for name, bad in (("repeat", 0.5), ("fold", -1), ("split_seed", 1.7), ("split_seed", -1), ("split_seed", 2**32)):
        with pytest.raises(ValueError, match=rf"{name}={bad!r}: give a whole number >= 0"):
            LiveObjective(IRIS, "rf", cache=False, **{name: bad})
    assert LiveObjective(IRIS, "rf", cache=False, split_seed=3.0, executor="inline").split_seed == 3
    obj = LiveObjective(IRIS, "rf", fidelity=SMALL["rf"], executor="inline", cache=False)
    with pytest.raises(ValueError, match=r"'max_depth' = 5000 is outside its range \[1, 50\]"):
        obj.evaluate({**DEFAULTS["rf"], "max_depth": 5000})  # a table snaps it; a live fit would train it as given


def test_task_pool_rules():
    pool = live_task_pool(task=167149, model="rf")
    assert pool.names == ["167149-rf"] and pool.shared_space is not None
    assert live_task_pool(task=31).names == [f"31-{m}" for m in MODEL_NAMES]
    assert live_task_pool(task="167149-xgb").names == ["167149-xgb"]
    paper = live_task_pool(suite=GRPOFORMER_PAPER)
    assert len(paper.names) == 36 and "167069-histgb" in paper.names
    assert live_task_pool(suite=GRPOFORMER_PAPER, model="svm").names == [f"{t}-svm" for t in
                                                                          (167149, 167097, 167155, 167168, 167079, 167069)]
    assert len(live_task_pool(model="rf").names) == 8  # default suite hpobench-nn: its 8 OpenML tasks
    assert live_task_pool(task="credit_g", model="lr").names == ["31-lr"]
    # a fidelity some families of the pool lack used to pass make() and fail at the resets that drew those families
    with pytest.raises(ValueError, match=r"fidelity \{'n_estimators': 8\} is refused by \['lr', 'mlp', 'svm'\] .*pass "
                                         r"model= one of \['rf', 'xgb', 'histgb'\], or give only fidelities every model"):
        live_task_pool(task=31, fidelity={"n_estimators": 8})
    assert live_task_pool(task=31, model="rf", fidelity={"n_estimators": 8}).names == ["31-rf"]
    assert len(live_task_pool(task=31, fidelity={"subsample": 0.5}).names) == len(MODEL_NAMES)
    with pytest.raises(ValueError, match="fidelity must be a dict"):
        live_task_pool(task=31, fidelity=8)
    from hpo_gym.suites import get_suite

    assert len(get_suite(GRPOFORMER_PAPER).tasks) == 36


def test_grpoformer_paper_offline_without_cache_is_one_clear_error(openml_session):
    import openml

    from hpo_gym.live.data import OpenMLUnavailableError

    saved = openml.config.server
    openml.config.server = "http://127.0.0.1:9/api/v1/xml"  # nothing listens on the discard port
    try:
        env = gym.make("HPO-OpenML-v0", backend="live", suite=GRPOFORMER_PAPER, model="rf", budget=2)
        with pytest.raises(OpenMLUnavailableError, match=r"OpenML task (\d+) is not in the local OpenML cache.*hpo-gym fetch \1"):
            env.reset(seed=0)
    finally:
        openml.config.server = saved


def test_live_envs_in_an_async_vector_env(openml_session, eval_cache):
    """AsyncVectorEnv workers are daemonic and cannot start fit workers: fits then run in-process."""
    envs = gym.make_vec("HPO-OpenML-v0", num_envs=2, vectorization_mode="async", backend="live", task=IRIS, model="rf",
                        budget=2, backend_options={"fidelity": SMALL["rf"], "cache_dir": eval_cache})
    try:
        envs.reset(seed=0)
        envs.action_space.seed(0)
        _, rewards, _, _, info = envs.step(envs.action_space.sample())
        assert rewards.shape == (2,) and np.all((rewards > 0.2) & (rewards <= 1.0)) and "error" not in info
    finally:
        envs.close()


@pytest.mark.parametrize("model", ["lr", "svm", "xgb", "rf"])
def test_a_tiny_subsample_still_holds_every_class(openml_session, eval_cache, model):
    """2% of iris's fit rows is 2 rows: a random pick can hold one class, on which lr, svm and xgb fail to fit while
    rf scores, so the low fidelity would compare nothing. Every class keeps at least one row."""
    from hpo_gym.live.objective import _subsample

    obj = LiveObjective(IRIS, model, fidelity={"subsample": 0.02, **SMALL[model]}, executor="inline", cache=False)
    y_fit = obj.data.y[obj.fit_idx]
    for seed in range(5):
        assert set(y_fit[_subsample(y_fit, 0.02, seed)]) == {0, 1, 2}
        ev = obj.evaluate(DEFAULTS[model], seed=seed)
        assert not ev.failed, ev.info.get("error")


@pytest.mark.parametrize("executor", ["serial", "given-process"])
def test_a_live_env_copies_mid_episode_and_both_copies_go_on(openml_session, eval_cache, executor):
    """An RL library deep-copies or pickles envs (evaluation envs, checkpoints). A stepped live env holds worker pipes
    and an SQLite connection: copying them failed, and the half-copied pipe closed the original's when collected.
    A deep copy shares the executor (no second pool of workers); a pickled copy starts its own workers when it fits."""
    import copy
    import gc
    import pickle

    from hpo_gym.executors import ProcessExecutor

    chosen = ProcessExecutor(n_workers=1) if executor == "given-process" else executor
    env = gym.make("HPO-OpenML-v0", backend="live", task=WINE, model="rf", budget=4,
                   backend_options={"fidelity": SMALL["rf"], "cache_dir": eval_cache, "time_limit": 30,
                                    "executor": chosen})
    env.reset(seed=0)
    first = env.step(np.full(4, 0.5, np.float32))[1]
    deep, pickled = copy.deepcopy(env), pickle.loads(pickle.dumps(env))
    gc.collect()
    original = env.unwrapped.objective.executor
    assert deep.unwrapped.objective.executor is original
    assert (pickled.unwrapped.objective.executor is original) == (executor == "serial")  # the named one is shared
    for i, c in enumerate([env, deep, pickled]):  # a configuration of its own each: a real fit, not a cache hit
        obs, reward, terminated, _, info = c.step(np.full(4, 0.2 + 0.2 * i, np.float32))
        assert "error" not in info and 0.3 < reward <= 1.0 and info["step"] == 2 and not terminated
        assert c.unwrapped.objective.cache is not None  # the copy reopened the cache (this test's fresh one)
    if executor == "given-process":
        assert len(pickled.unwrapped.objective.executor._workers) == 1  # the pickled copy's own worker ran its fit
        pickled.unwrapped.objective.executor.close()
    # the first step's configuration again, from the cache shared by all three: the same score
    assert {c.step(np.full(4, 0.5, np.float32))[1] for c in [env, deep, pickled]} == {first}
    for c in [env, deep, pickled]:
        c.close()


def test_a_failed_fit_under_brier_scores_the_worst_a_binary_prediction_can_score():
    """It scored -2, twice the worst of a two-class task (the only kind the metric is allowed on)."""
    from sklearn.metrics import brier_score_loss

    from hpo_gym.live.objective import BINARY_ONLY_METRICS, WORST_SCORES

    assert "neg_brier_score" in BINARY_ONLY_METRICS
    assert WORST_SCORES["neg_brier_score"] == -brier_score_loss([0, 1, 1], [1.0, 0.0, 0.0])


def test_the_test_score_refits_on_all_outer_train_rows_whatever_subsample_the_search_used(openml_session, eval_cache):
    """Found in review: an objective searched with subsample=0.1 reported the test score of a model fitted on 10 % of
    the outer-train rows (0.87 against 0.98 on digits), where its docstring and the README say all of them."""
    obj = LiveObjective(BREAST_CANCER, "rf", fidelity={**SMALL["rf"], "subsample": 0.5}, executor="inline",
                        cache_dir=eval_cache)
    full = obj.test_score(DEFAULTS["rf"])
    assert full.info["fidelity"]["subsample"] == 1.0
    assert full.info["fidelity"]["n_estimators"] == SMALL["rf"]["n_estimators"]  # the other fidelities apply
    assert obj.test_score(DEFAULTS["rf"], fidelity={"subsample": 1.0}).info["cached"]  # the same fit
    half = obj.test_score(DEFAULTS["rf"], fidelity={"subsample": 0.5})  # asked for explicitly: honoured
    assert not half.info["cached"] and half.info["fidelity"]["subsample"] == 0.5
    assert obj.evaluate(DEFAULTS["rf"]).info["fidelity"]["subsample"] == 0.5  # validation keeps the search's rows


def test_the_test_score_is_one_fit_whatever_validation_split_the_search_used(openml_session, eval_cache):
    """The test fit uses all outer-train rows, so the validation split (val_fraction, split_seed) cannot change it; its
    cache key held them, and each split refitted the same model (found in review)."""
    kwargs = dict(fidelity=SMALL["rf"], executor="inline", cache_dir=eval_cache)
    first = LiveObjective(BREAST_CANCER, "rf", **kwargs).test_score(DEFAULTS["rf"])
    other = LiveObjective(BREAST_CANCER, "rf", val_fraction=0.25, split_seed=3, **kwargs)
    again = other.test_score(DEFAULTS["rf"])
    assert again.info["cached"] and again.score == first.score
    LiveObjective(BREAST_CANCER, "rf", **kwargs).evaluate(DEFAULTS["rf"])
    assert not other.evaluate(DEFAULTS["rf"]).info["cached"]  # a validation fit depends on the split: its own key


def test_the_scorer_tables_agree_with_what_scikit_learn_says_of_each_classification_scorer():
    """The tables refuse, up front, a metric that would fail every fit (probabilities from a model without them, a
    two-class scorer on more classes) and pass the task's classes to scorers that line probability columns up with
    them; hand-kept, they missed d2_log_loss_score, d2_brier_score and the likelihood ratios (found in review). Checked
    against scikit-learn itself, so a scorer a later release adds is caught here."""
    import inspect

    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import get_scorer, get_scorer_names

    from hpo_gym.live.objective import (BINARY_ONLY_METRICS, LABELED_METRICS, PROBABILITY_METRICS,
                                        is_classification_scorer, score_fitted)

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(90, 3)), np.repeat([0, 1, 2], 30)
    X[:, 0] += y  # a learnable three-class problem
    fitted = LogisticRegression().fit(X, y)
    checked = 0
    for name in get_scorer_names():
        if not is_classification_scorer(name) or name.endswith("_samples"):
            continue
        scorer = get_scorer(name)
        reads_probabilities = getattr(scorer, "_response_method", None) == "predict_proba"
        assert (name in PROBABILITY_METRICS) == reads_probabilities, name
        if reads_probabilities and name not in BINARY_ONLY_METRICS:
            assert "labels" in inspect.signature(scorer._score_func).parameters and name in LABELED_METRICS, name
        if name not in BINARY_ONLY_METRICS:  # every other scorer must score a three-class task
            assert np.isfinite(score_fitted(name, fitted, X, y, n_classes=3)), name
        checked += 1
    assert checked >= 25
