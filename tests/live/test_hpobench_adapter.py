"""The HPOBench adapter with a small benchmark of HPOBench's API that trains a real scikit-learn model."""

from __future__ import annotations

import warnings

import ConfigSpace as CS
import gymnasium as gym
import numpy as np
import pytest

import envs_registry  # noqa: F401
from hpo_gym.hpobench import HPOBenchObjective
from hpo_gym.objective import Objective


class WineSVMBenchmark:
    """HPOBench-style benchmark (``function_value`` = 1 - validation accuracy, minimised) on sklearn's wine data."""

    task_id = 187

    def __init__(self):
        from sklearn.datasets import load_wine
        from sklearn.model_selection import train_test_split

        X, y = load_wine(return_X_y=True)
        self.X_train, self.X_val, self.y_train, self.y_val = train_test_split(X, y, test_size=0.33, random_state=0, stratify=y)
        self.calls: list[dict] = []

    @staticmethod
    def get_configuration_space(seed=None):
        cs = CS.ConfigurationSpace(seed=seed)
        cs.add([CS.UniformFloatHyperparameter("C", 2**-10, 2**10, log=True, default_value=1.0),
                CS.UniformFloatHyperparameter("gamma", 2**-10, 2**10, log=True, default_value=0.1),
                CS.CategoricalHyperparameter("scale", [True, False])])
        return cs

    @staticmethod
    def get_fidelity_space(seed=None):
        cs = CS.ConfigurationSpace(seed=seed)
        cs.add([CS.UniformFloatHyperparameter("subsample", 0.1, 1.0, default_value=1.0)])
        return cs

    def objective_function(self, configuration, fidelity=None, rng=None, **kwargs):
        import time

        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        config = dict(configuration)
        if config["C"] > 500:
            raise RuntimeError("C too large for this benchmark")
        self.calls.append({"config": config, "fidelity": fidelity, "rng": rng})
        n = int(len(self.y_train) * (fidelity or {}).get("subsample", 1.0))
        start = time.perf_counter()
        steps = ([StandardScaler()] if config["scale"] else []) + [SVC(C=config["C"], gamma=config["gamma"], random_state=rng)]
        model = make_pipeline(*steps).fit(self.X_train[:n], self.y_train[:n])
        accuracy = model.score(self.X_val, self.y_val)
        return {"function_value": 1.0 - accuracy, "cost": time.perf_counter() - start, "info": {"val_accuracy": accuracy}}


def test_adapter_is_an_objective_and_negates_function_value():
    bench = WineSVMBenchmark()
    obj = HPOBenchObjective(bench, fidelity={"subsample": 0.5})
    assert isinstance(obj, Objective) and obj.name == "WineSVMBenchmark-187"
    assert obj.space.names == ["C", "gamma", "scale"] and obj.space["C"].log
    ev = obj.evaluate({"C": 1.0, "gamma": 0.1, "scale": True}, seed=3)
    assert ev.score == pytest.approx(-ev.info["function_value"]) and ev.info["hpobench_info"]["val_accuracy"] > 0.8
    assert bench.calls[-1]["fidelity"] == {"subsample": 0.5} and bench.calls[-1]["rng"] == 3
    failed = obj.evaluate({"C": 900.0, "gamma": 0.1, "scale": True})
    assert failed.failed and failed.score == -1.0 and "C too large" in failed.info["error"]
    batch = obj.evaluate_batch(np.array([[0.5, 0.5, 0.25], [0.2, 0.9, 0.75]]))
    assert len(batch) == 2 and np.all(batch.scores <= 0)
    with pytest.raises(ValueError, match=r"fidelity \['n_estimators'\] not in the benchmark's fidelity space \['subsample'\]"):
        HPOBenchObjective(bench, fidelity={"n_estimators": 3})


def test_gym_make_with_an_hpobench_benchmark_object():
    env = gym.make("HPO-OpenML-v0", objective=WineSVMBenchmark(), budget=4, backend_options={"worst_score": -1.0})
    obs, info = env.reset(seed=0)
    assert info["task"] == "WineSVMBenchmark-187" and info["openml_task_id"] == 187
    rewards = []
    for _ in range(4):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        rewards.append(reward)
        assert -1.0 <= reward <= 0.0 and (("error" in info) == (info["config"]["C"] > 500))
    assert terminated and obs["mask"].sum() == 4


def test_an_objective_function_without_fidelity_or_rng_is_refused_at_construction():
    """Found in review: it was accepted, and every step then failed with a TypeError scored as the worst score."""

    class NoRng(WineSVMBenchmark):
        def objective_function(self, configuration, fidelity=None):
            return super().objective_function(configuration, fidelity=fidelity)

    class Flexible(WineSVMBenchmark):  # **kwargs takes both
        def objective_function(self, configuration, **kwargs):
            return super().objective_function(configuration, **kwargs)

    with pytest.raises(ValueError, match=r"objective_function\(configuration, fidelity=None\) takes no rng; HPOBench's "
                                         r"API calls objective_function\(configuration, fidelity=None, rng=None\)"):
        HPOBenchObjective(NoRng())
    assert not HPOBenchObjective(Flexible()).evaluate({"C": 1.0, "gamma": 0.1, "scale": True}).failed


def test_backend_options_an_hpobench_object_does_not_take_are_named():
    """Found in review: time_limit or executor (the live backend's options) ended in a bare TypeError."""
    with pytest.raises(ValueError, match=r"backend_options \['executor', 'time_limit'\] are not options of an HPOBench "
                                         r"benchmark object, which runs in this process; it takes \['default_seed', "
                                         r"'fidelity', 'name', 'objective_kwargs', 'oracle', 'worst_score'\]"):
        gym.make("HPO-OpenML-v0", objective=WineSVMBenchmark(), budget=2,
                 backend_options={"time_limit": 3, "executor": "process"})


def test_bad_settings_are_refused_at_construction_and_unseeded_calls_repeat():
    """What review found: a fidelity value outside the space failed every call, an oracle given in function_value units
    zeroed every regret, and calls without a seed drew from the benchmark's own advancing random state."""
    bench = WineSVMBenchmark()
    with pytest.raises(ValueError, match="not allowed by the benchmark's fidelity space"):
        HPOBenchObjective(bench, fidelity={"subsample": 5.0})
    with pytest.raises(ValueError, match="best > worst"):
        HPOBenchObjective(bench, oracle=(0.05, 1.0))  # function_value units, not scores
    obj = HPOBenchObjective(bench)
    config = {"C": 1.0, "gamma": 0.1, "scale": True}
    first, again = obj.evaluate(config), obj.evaluate(config)
    assert bench.calls[-1]["rng"] == bench.calls[-2]["rng"] == 0 and first.score == again.score
    with pytest.raises(ValueError, match="outside its range"):
        obj.evaluate({**config, "C": 5000.0})
    with pytest.raises(ValueError, match="2 configurations but 1 seeds"):
        obj.evaluate_batch([config, config], seeds=[1])
    # the call's seed is HPOBench's rng: an rng in objective_kwargs, which it overrode without a word, is refused
    with pytest.raises(ValueError, match=r"objective_kwargs must not hold \['rng'\].*the seed as default_seed="):
        HPOBenchObjective(bench, objective_kwargs={"rng": 7})
    HPOBenchObjective(bench).evaluate(config, seed=3)
    assert bench.calls[-1]["rng"] == 3


def test_a_benchmark_on_a_task_without_an_oracle_reports_and_plots(tmp_path):
    """Without a known best score there is no regret: the report used to crash drawing an all-NaN curve on a log axis."""
    from agents.registry import make_agent
    from hpo_gym.benchmark import run_benchmark
    from hpo_gym.benchmark.report import markdown_report, write_plots

    df = run_benchmark(["random"], tasks=[HPOBenchObjective(WineSVMBenchmark())], budget=3, seeds=1,
                       resolve_agent=make_agent, progress=False)
    assert (df["status"] == "ok").all() and df["normalized_regret"].isna().all()
    assert "random" in markdown_report(df)
    paths = write_plots(df, tmp_path / "plots")
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths)


def test_ansi_render_names_a_failed_fit_and_its_reason():
    env = gym.make("HPO-OpenML-v0", objective=WineSVMBenchmark(), budget=2, action_type="dict", render_mode="ansi",
                   backend_options={"worst_score": -1.0})
    env.reset(seed=0)
    *_, info = env.step({"C": np.array([900.0]), "gamma": np.array([0.1]), "scale": 1})
    head, last = env.render().split("\n")
    assert head == "task WineSVMBenchmark-187  trial 1/2  best -1.0000"  # no oracle: no regret shown
    assert last == (f"last: score -1.0000  C=900, gamma=0.1, scale={info['config']['scale']}  "
                    "(failed: RuntimeError: C too large for this benchmark)")


def test_editing_an_evaluations_fidelity_does_not_change_the_next_evaluation():
    """info['evaluation']['fidelity'] was the objective's own dict: editing it changed every later evaluation, and
    Gymnasium's passive checker warned that two steps' infos share an object."""
    bench = WineSVMBenchmark()
    env = gym.make("HPO-OpenML-v0", objective=bench, budget=3, backend_options={"fidelity": {"subsample": 0.5}})
    env.reset(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the passive checker's "share an object" warning
        info = env.step(env.action_space.sample())[4]
        info["evaluation"]["fidelity"]["subsample"] = 0.1
        env.step(env.action_space.sample())
    assert bench.calls[-1]["fidelity"] == {"subsample": 0.5} and env.unwrapped.objective.metadata["fidelity"] == {
        "subsample": 0.5}


class PercentErrorBenchmark(WineSVMBenchmark):
    """The same real SVM fits, reported as HPOBench's NAS-Bench-201 does: function_value = 100 - accuracy in percent,
    with the test accuracy in its info."""

    def objective_function(self, configuration, fidelity=None, rng=None, **kwargs):
        result = super().objective_function(configuration, fidelity, rng, **kwargs)
        accuracy = result["info"]["val_accuracy"]
        return {**result, "function_value": 100.0 * (1.0 - accuracy),
                "info": {"val_accuracy": accuracy, "test_accuracy": accuracy, "test_loss": 1.0 - accuracy,
                         "latest_epoch": 3, "testLoss": 1.0 - accuracy,  # camelCase and nested: found in review
                         "scores": {"val": accuracy, "test": accuracy, "contest": 1}}}


def test_a_failed_call_never_outranks_a_real_configuration():
    """With the default worst_score of -1.0 a crash on a percent-scale benchmark scored -1, above every real -25: the
    crashed configuration became the run's best, and with an oracle its regret went negative."""
    ok, crash = {"C": 1.0, "gamma": 0.1, "scale": True}, {"C": 900.0, "gamma": 0.1, "scale": True}
    with_oracle = HPOBenchObjective(PercentErrorBenchmark(), oracle=(0.0, -100.0))
    assert with_oracle.worst_score == -100.0 and with_oracle.evaluate(crash).score == -100.0
    with pytest.raises(ValueError, match=r"worst_score=-1.0 is above the oracle's worst score -100.0"):
        HPOBenchObjective(PercentErrorBenchmark(), oracle=(0.0, -100.0), worst_score=-1.0)
    with pytest.raises(ValueError, match=r"worst_score=nan must be a finite score"):
        HPOBenchObjective(PercentErrorBenchmark(), worst_score=float("nan"))
    without = HPOBenchObjective(PercentErrorBenchmark())
    with pytest.warns(RuntimeWarning, match=r"scored -\d.*below worst_score=-1, the score of a failed call"):
        assert without.evaluate({"C": 0.01, "gamma": 10.0, "scale": False}).score < -1  # a few % error is below -1
    ev = HPOBenchObjective(PercentErrorBenchmark(), worst_score=-100.0).evaluate(ok)
    assert sorted(ev.info["hpobench_info"]) == ["latest_epoch", "scores", "val_accuracy"]  # 'latest' is no test entry
    assert ev.info["hpobench_info"]["scores"] == {"val": ev.info["hpobench_info"]["val_accuracy"], "contest": 1}
    with pytest.raises(ValueError, match=r"objective_kwargs must not hold \['fidelity'\].*fidelity=\.\.\."):
        HPOBenchObjective(PercentErrorBenchmark(), objective_kwargs={"fidelity": {"subsample": 0.5}})


class TypedBenchmark:
    """HPOBench's API with a ConfigSpace space of every kind and a benchmark that checks the types it is given."""

    def get_configuration_space(self):
        cs = CS.ConfigurationSpace({"x": (-5.0, 5.0), "n": (1, 10)})
        cs.add(CS.OrdinalHyperparameter("alpha", [1e-4, 0.1, 1.0]))
        cs.add(CS.CategoricalHyperparameter("c", [1, 2]))
        return cs

    def objective_function(self, configuration, fidelity=None, rng=None):
        if not isinstance(configuration["n"], int) or isinstance(configuration["c"], bool):
            raise TypeError(f"n must be an int and c a choice, got {configuration['n']!r}, {configuration['c']!r}")
        return {"function_value": configuration["x"] ** 2 + configuration["alpha"], "cost": 0.0}


def test_values_the_space_accepts_reach_the_benchmark_as_the_space_holds_them():
    """validate() matches np.float32(0.1) to 0.1, 3.0 to the int 3 and True to the choice 1, but the raw values went to
    ConfigSpace, which refused them (scored as a failed fit, the benchmark never called), or to the benchmark, typed
    as given."""
    objective = HPOBenchObjective(TypedBenchmark())
    for config in ({"x": np.float64(0.5), "n": np.int64(3), "alpha": np.float32(0.1), "c": np.int64(2)},
                   {"x": 0.5, "n": 3.0, "alpha": 0.1, "c": True}):
        evaluation = objective.evaluate(config)
        assert not evaluation.failed and evaluation.score == pytest.approx(-(0.25 + 0.1))
    assert objective.space.canonical({"x": 1, "n": 3.0, "alpha": np.float32(0.1), "c": True}) == \
        {"x": 1.0, "n": 3, "alpha": 0.1, "c": 1}
    with pytest.raises(ValueError, match="'n' = 3.5 is not a whole number"):
        objective.evaluate({"x": 0.5, "n": 3.5, "alpha": 0.1, "c": 2})


class CostBenchmark(TypedBenchmark):
    """Reports the cost it is given, and fails on a seed HPOBench's RandomState would refuse."""

    def __init__(self, cost):
        self.cost = cost

    def objective_function(self, configuration, fidelity=None, rng=None):
        np.random.RandomState(rng)  # what HPOBench's get_rng does: seeds of 2**32 and more raise
        return {"function_value": 0.5, "cost": self.cost}


@pytest.mark.parametrize("cost", [float("nan"), float("inf"), -5.0, "fast"])
def test_a_cost_that_is_no_duration_is_replaced_by_the_wall_time(cost):
    """A NaN, infinite or negative cost reached the run's costs; a string one failed an evaluation whose value was fine."""
    objective = HPOBenchObjective(CostBenchmark(cost))
    evaluation = objective.evaluate({"x": 0.5, "n": 3, "alpha": 0.1, "c": 2}, seed=2**40)  # a seed RandomState refuses
    assert not evaluation.failed and evaluation.score == -0.5
    assert 0 <= evaluation.cost < 5 and repr(evaluation.info["reported_cost"]) == repr(cost)
    honest = HPOBenchObjective(CostBenchmark(2.5)).evaluate({"x": 0.5, "n": 3, "alpha": 0.1, "c": 2})
    assert honest.cost == 2.5 and "reported_cost" not in honest.info


def test_an_integer_fidelity_given_as_a_whole_float_reaches_the_benchmark_as_an_int():
    """Found in review: ConfigSpace accepts 32.0 for an integer fidelity and the adapter passed it on, so a benchmark
    handing it to scikit-learn ("must be an int ... Got 32.0") failed every evaluation, with the worst score."""

    class WineSVMIterations(WineSVMBenchmark):
        @staticmethod
        def get_fidelity_space(seed=None):
            cs = CS.ConfigurationSpace(seed=seed)
            cs.add([CS.UniformIntegerHyperparameter("max_iter", 1, 1000, default_value=1000),
                    CS.UniformFloatHyperparameter("subsample", 0.1, 1.0, default_value=1.0)])
            return cs

        def objective_function(self, configuration, fidelity=None, rng=None, **kwargs):
            from sklearn.svm import SVC

            SVC(max_iter=fidelity["max_iter"])._validate_params()  # scikit-learn's own check of the value's type
            return super().objective_function(configuration, fidelity={"subsample": fidelity["subsample"]}, rng=rng)

    bench = WineSVMIterations()
    obj = HPOBenchObjective(bench, fidelity={"max_iter": 32.0, "subsample": 1.0})
    assert obj.fidelity == {"max_iter": 32, "subsample": 1.0} and type(obj.fidelity["max_iter"]) is int
    ev = obj.evaluate({"C": 1.0, "gamma": 0.1, "scale": True}, seed=0)
    assert not ev.failed, ev.info.get("error")
    assert type(obj.fidelity["subsample"]) is float  # a float fidelity stays a float, whole or not
    with pytest.raises(ValueError, match=r"fidelity max_iter=True: give a number, not a bool"):
        HPOBenchObjective(bench, fidelity={"max_iter": True})  # reached the benchmark as max_iter=True (found in review)
    # a float fidelity's bool, and NumPy's, got ConfigSpace's or NumPy's words (a ufunc cast) instead (found in review)
    for fidelity in ({"subsample": True}, {"max_iter": np.True_}):
        with pytest.raises(ValueError, match=r"give a number, not a bool"):
            HPOBenchObjective(bench, fidelity=fidelity)


def test_a_multi_objective_benchmark_is_refused_at_construction():
    """HPOBench's multi-objective benchmarks return function_value as a dict: every call failed with a TypeError in
    info, scored the worst, and the run looked like any other (found in review)."""

    class TwoObjectives(WineSVMBenchmark):
        @staticmethod
        def get_objective_names():
            return ["misclassification_rate", "DSP"]

    with pytest.raises(ValueError, match=r"TwoObjectives is a multi-objective benchmark \(\['misclassification_rate', "
                                         r"'DSP'\]\); an hpo-gym episode optimizes one score"):
        HPOBenchObjective(TwoObjectives())

    class OneObjective(WineSVMBenchmark):
        @staticmethod
        def get_objective_names():
            return ["misclassification_rate"]

    assert not HPOBenchObjective(OneObjective()).evaluate({"C": 1.0, "gamma": 0.1, "scale": True}, seed=0).failed
