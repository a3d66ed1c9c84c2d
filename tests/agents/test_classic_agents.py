"""Random search and the Optuna ask/tell adapters, on the real embedded tables and a mixed search space."""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

import envs_registry  # noqa: F401
from agents.base import Agent, ObservingAgent
from agents.optuna_agents import OptunaAgent, config_to_params, distributions_of, params_to_config
from agents.random_search import RandomSearch
from agents.registry import agent_names, make_agent
from hpo_gym.benchmark import run_episode
from hpo_gym.objective import Evaluation, EvaluationBatch, Oracle, as_config_list
from hpo_gym.space import Categorical, Float, Int, Ordinal, SearchSpace

MIXED = SearchSpace([Float("lr", 1e-4, 1.0, log=True), Int("layers", 1, 8), Int("units", 16, 1024, log=True),
                     Ordinal("batch", [16, 32, 64, 128]), Categorical("act", ["relu", "tanh", "gelu"])])


class Quadratic:
    """A real objective over a mixed space: a smooth bowl in the encoded cube with a categorical bonus."""

    name = "quadratic"
    space = MIXED
    target = np.array([0.3, 0.6, 0.4, 0.7, 0.5])

    def evaluate(self, config, seed=None):
        u = self.space.encode(config)
        score = 1.0 - float(((u[:4] - self.target[:4]) ** 2).sum()) - (0.0 if config["act"] == "tanh" else 0.2)
        return Evaluation(score, 0.0, {"config": dict(config)})

    def evaluate_batch(self, configs, seeds=None):
        return EvaluationBatch.from_evaluations([self.evaluate(c) for c in as_config_list(self.space, configs)])

    @property
    def oracle(self):
        return Oracle(1.0, 1.0 - 4.0 - 0.2)

    @property
    def metadata(self):
        return {"task": self.name}


def test_registered_names_and_protocols():
    assert {"random", "tpe", "gp", "cmaes", "qmc"} <= set(agent_names())
    assert isinstance(make_agent("random"), Agent)
    for name in ["tpe", "gp", "cmaes", "qmc"]:
        agent = make_agent(name)
        assert isinstance(agent, ObservingAgent) and agent.name == name
    with pytest.raises(ValueError, match="takes no argument"):
        make_agent("tpe:3")


def test_each_builtin_name_is_registered_by_its_module_and_classic_agents_do_not_load_torch():
    """make_agent imports only the asked agent's module: the map must match what the modules register, and a
    benchmark of classic agents must not pay for torch in every worker (checked in a fresh interpreter)."""
    import importlib
    import subprocess
    import sys

    from agents.registry import _FACTORIES, BUILTIN_AGENTS

    for name, module in BUILTIN_AGENTS.items():
        importlib.import_module(module)
        assert name in _FACTORIES, f"{module} does not register {name!r}"
    for name, module in BUILTIN_AGENTS.items():  # registered by another module than the map names would pass above
        assert _FACTORIES[name].__module__ == module, f"{name!r} is registered by {_FACTORIES[name].__module__}, not {module}"
    code = ("import sys; from agents.registry import make_agent; [make_agent(a) for a in ('random', 'tpe', 'cmaes')]; "
            "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_distributions_follow_the_space():
    d = distributions_of(MIXED)
    assert d["lr"] == FloatDistribution(1e-4, 1.0, log=True)
    assert d["layers"] == IntDistribution(1, 8) and d["units"] == IntDistribution(16, 1024, log=True)
    assert d["batch"] == IntDistribution(0, 3)  # ordinal: ordered index
    assert d["act"] == CategoricalDistribution([0, 1, 2])
    config = {"lr": 0.01, "layers": 3, "units": 64, "batch": 128, "act": "gelu"}
    params = config_to_params(MIXED, config)
    assert params == {"lr": 0.01, "layers": 3, "units": 64, "batch": 3, "act": 2}
    assert params_to_config(MIXED, params) == config
    with pytest.raises(ValueError, match="not a value"):
        config_to_params(MIXED, {**config, "batch": 100})


@pytest.mark.filterwarnings("ignore:.*sampler does not model categorical")  # tested on its own
@pytest.mark.parametrize("name", ["tpe", "cmaes", "qmc", "gp"])
def test_sampler_on_mixed_space_tells_the_env_scores(name):
    env = gym.make("HPO-OpenML-v0", objective=Quadratic(), budget=14)
    agent = make_agent(name)
    rows, error = run_episode(agent, env, seed=1, budget=14)
    assert error is None and len(rows) == 14
    trials = agent.study.trials
    assert len(trials) == 14 and all(t.state.name == "COMPLETE" for t in trials)
    assert [t.value for t in trials] == pytest.approx([r["score"] for r in rows])
    for t in trials:  # discrete parameters were evaluated exactly as proposed
        evaluated = t.user_attrs["evaluated_config"]
        proposed = params_to_config(MIXED, t.params)
        assert evaluated["batch"] == proposed["batch"] and evaluated["act"] == proposed["act"]
        assert math.isclose(evaluated["lr"], proposed["lr"], rel_tol=1e-5)


def test_wide_int_ranges_are_evaluated_exactly_as_optuna_proposed():
    """A float32 action moved an int in a 1e8-wide range by a few units (9 of 10 trials): Optuna was told the score of a
    value it never proposed. Such a space's Box is float64, and the agents act in the Box's dtype."""
    wide = SearchSpace([Int("n", 0, 10**8), Int("m", 1, 10**9, log=True), Float("x", 0.0, 1e6)])
    assert wide.action_dtype is np.float64 and wide.box_space().dtype == np.float64
    assert MIXED.action_dtype is np.float32 and SearchSpace([Int("n", 0, 2**21), Int("m", 1, 10**5, log=True)]).action_dtype is np.float32

    class Wide(Quadratic):
        space = wide

        def evaluate(self, config, seed=None):
            return Evaluation(-abs(config["n"] - 4e7) - abs(math.log(config["m"]) - 10) - config["x"] * 1e-6, 0.0,
                              {"config": dict(config)})

        @property
        def oracle(self):
            return None

    env = gym.make("HPO-OpenML-v0", objective=Wide(), budget=10)
    agent = make_agent("tpe")
    rows, error = run_episode(agent, env, seed=0, budget=10)
    assert error is None and len(rows) == 10
    env.reset(seed=0)
    agent.reset(wide, seed=0, budget=10)
    random = make_agent("random")
    random.reset(wide, seed=0, budget=10)
    assert env.action_space.contains(agent.act(env.reset(seed=0)[0])) and env.action_space.contains(random.act({}))
    rows, error = run_episode(agent, env, seed=0, budget=10)
    for t in agent.study.trials:
        assert t.user_attrs["evaluated_config"]["n"] == t.params["n"] and t.user_attrs["evaluated_config"]["m"] == t.params["m"]
        assert math.isclose(t.user_attrs["evaluated_config"]["x"], t.params["x"], rel_tol=1e-12)


@pytest.mark.parametrize("name", ["random", "tpe", "cmaes", "qmc"])
def test_seeded_runs_repeat_and_seeds_differ(name):
    def configs(seed):
        env = gym.make("HPO-OpenML-v0", task="credit_g", budget=15)
        rows, error = run_episode(make_agent(name), env, seed=seed, budget=15)
        assert error is None
        return [r["config"] for r in rows]

    assert configs(0) == configs(0)
    assert configs(0) != configs(1)


def test_warm_start_configs_are_evaluated_first_and_count_in_the_budget(credit_g):
    rng = np.random.default_rng(0)
    warm = credit_g.space.sample(rng, 3)
    extra = credit_g.space.sample(rng, 1)
    agent = OptunaAgent("tpe", initial_configs=warm)
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=10)
    obs, _ = env.reset(seed=0)
    agent.reset(env.unwrapped.space, seed=0, budget=10)
    agent.enqueue(extra)
    evaluated = []
    for _ in range(10):
        action = agent.act(obs)
        obs, reward, terminated, _, info = env.step(action)
        agent.observe(action, reward, info)
        evaluated.append(info["config"])
    assert terminated
    assert evaluated[:4] == warm + extra
    assert len(agent.study.trials) == 10
    # the warm start persists for the next run; enqueue() was for that run only
    agent.reset(env.unwrapped.space, seed=1, budget=10)
    waiting = agent.study.get_trials()
    assert len(waiting) == len(warm) and all(t.state.name == "WAITING" for t in waiting)
    obs, _ = env.reset(seed=1)
    action = agent.act(obs)
    assert credit_g.space.decode(action) == warm[0]


def play(agent: OptunaAgent, space, n: int) -> list[dict]:
    """``n`` ask/tell steps of the current run, each told the score 0.5; the configurations it proposed."""
    proposed = []
    for _ in range(n):
        action = agent.act({})
        proposed.append(space.decode(action))
        agent.observe(action, 0.5, {"score": 0.5})
    return proposed


def test_enqueue_after_a_run_spent_its_budget_opens_the_next_run(credit_g):
    """Between runs there is no current run: a warm start queued then is the next run's first trial, not a trial
    added to the finished study (where the next reset dropped it)."""
    config = credit_g.space.sample(np.random.default_rng(7))
    agent = OptunaAgent("tpe")
    agent.reset(credit_g.space, seed=0, budget=2)
    play(agent, credit_g.space, 2)
    agent.enqueue([config])
    agent.reset(credit_g.space, seed=1, budget=2)
    assert credit_g.space.decode(agent.act({})) == config


def test_an_enqueue_larger_than_the_room_left_fills_the_run_and_opens_the_next(credit_g):
    """Budget 3, two configurations queued, then two more: one fits, the other used to be queued in the full run too and
    dropped at the next reset."""
    configs = credit_g.space.sample(np.random.default_rng(3), 4)
    agent = OptunaAgent("tpe")
    agent.reset(credit_g.space, seed=0, budget=3)
    agent.enqueue(configs[:2])
    agent.enqueue(configs[2:])
    assert play(agent, credit_g.space, 3) == configs[:3]
    agent.reset(credit_g.space, seed=1, budget=3)
    assert credit_g.space.decode(agent.act({})) == configs[3]


def test_an_enqueue_while_the_runs_last_trial_is_in_flight_opens_the_next_run(credit_g):
    """Between the last act and its observe the run has no room left: the configuration used to be queued in it and
    dropped at the next reset."""
    config = credit_g.space.sample(np.random.default_rng(11))
    agent = OptunaAgent("tpe")
    agent.reset(credit_g.space, seed=0, budget=2)
    agent.observe(agent.act({}), 0.5, {"score": 0.5})
    action = agent.act({})
    agent.enqueue([config])
    agent.observe(action, 0.5, {"score": 0.5})
    agent.reset(credit_g.space, seed=1, budget=2)
    assert credit_g.space.decode(agent.act({})) == config


def test_a_warm_start_queued_between_runs_is_checked_against_the_next_runs_space():
    """The next run may be on another task: a configuration of its space must not be refused by the last run's."""
    from hpo_gym.space import Float, SearchSpace

    small, large = SearchSpace([Float("lr", 1e-4, 0.1, log=True)]), SearchSpace([Float("lr", 1e-4, 1.0, log=True)])
    agent = OptunaAgent("tpe")
    agent.reset(small, seed=0, budget=1)
    agent.observe(agent.act({}), 0.5, {"score": 0.5})
    agent.enqueue([{"lr": 0.5}])  # outside the finished run's space, inside the next one's
    agent.reset(large, seed=1, budget=1)
    assert large.decode(agent.act({}))["lr"] == pytest.approx(0.5)


def test_a_warm_start_outside_the_space_is_named():
    """It used to be clipped silently (lr=100 -> 0.1), and NaN reached Optuna, which failed at act()."""
    from hpo_gym.space import Float, Int, SearchSpace

    space = SearchSpace([Float("lr", 1e-4, 0.1, log=True), Int("units", 1, 8)])
    with pytest.raises(ValueError, match="'lr' = 100.0 is outside its range"):
        OptunaAgent("tpe", initial_configs=[{"lr": 100.0, "units": 2}]).reset(space, seed=0)
    with pytest.raises(ValueError, match="'lr' = nan is outside its range"):
        OptunaAgent("tpe", initial_configs=[{"lr": float("nan"), "units": 2}]).reset(space, seed=0)
    with pytest.raises(ValueError, match="'units' = 2.7 is not a whole number, but 'units' is an int hyperparameter"):
        space.validate({"lr": 0.01, "units": 2.7}, in_range=True)  # a live fit would train 2.7 (or fail on it)
    space.validate({"lr": 0.01, "units": 2.0}, in_range=True)  # a whole float is an integer


def test_initial_configs_beyond_the_budget_are_not_carried_into_later_runs(credit_g):
    """Found in review: five initial configurations with budget 3 deferred the last two on every reset, behind the next
    run's own initial configurations again: a queue that grew by two per run, replayed once a run had room."""
    configs = credit_g.space.sample(np.random.default_rng(4), 5)
    agent = OptunaAgent("tpe", initial_configs=configs)
    for seed in range(3):
        agent.reset(credit_g.space, seed=seed, budget=3)
        assert play(agent, credit_g.space, 3) == configs[:3]
    agent.reset(credit_g.space, seed=9, budget=8)  # room for all five, and nothing queued behind them
    played = play(agent, credit_g.space, 8)
    assert played[:5] == configs and not any(config in played[5:] for config in configs[3:])


def test_a_refused_enqueue_queues_nothing(credit_g):
    """Found in review: the configurations before the refused one stayed queued, so a corrected retry evaluated them twice."""
    from optuna.trial import TrialState

    good = credit_g.space.sample(np.random.default_rng(6), 2)
    agent = OptunaAgent("tpe")
    agent.reset(credit_g.space, seed=0, budget=10)
    with pytest.raises(ValueError, match=r"7 \(int\) is not a value of ordinal hyperparameter 'depth'"):
        agent.enqueue([*good, {**good[0], "depth": 7}])
    assert agent.study.get_trials(states=(TrialState.WAITING,)) == []
    agent.enqueue(good)
    assert [credit_g.space.decode(agent.act({}))] == good[:1]


def test_enqueue_before_reset_applies_to_the_next_run(credit_g):
    config = credit_g.space.sample(np.random.default_rng(5))
    agent = OptunaAgent("tpe")
    agent.enqueue([config])
    agent.reset(credit_g.space, seed=0)
    assert credit_g.space.decode(agent.act({})) == config


def test_protocol_errors_are_clear(credit_g):
    agent = OptunaAgent("tpe")
    with pytest.raises(RuntimeError, match="before reset"):
        agent.act({})
    agent.reset(credit_g.space, seed=0)
    agent.act({})
    with pytest.raises(RuntimeError, match="without observe"):
        agent.act({})
    with pytest.raises(ValueError, match="unknown Optuna sampler"):
        OptunaAgent("nope")


def test_agent_specs_name_their_own_mistake(tmp_path, monkeypatch):
    """Found in review: ':tpe' failed as "importing '' failed", and a user module ``nopkg_agents`` missing its
    dependency ``nopkg`` was reported as an unknown agent (the dependency's name prefixes the module's)."""
    from agents.registry import make_agent

    with pytest.raises(ValueError, match="agent spec ':tpe' has no NAME before ':'"):
        make_agent(":tpe")
    (tmp_path / "nopkg_agents.py").write_text("import nopkg  # noqa: F401\nclass MyAgent: ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=r"importing 'nopkg_agents' failed \(ModuleNotFoundError: No module named 'nopkg'\)"):
        make_agent("nopkg_agents:MyAgent")
    with pytest.raises(ValueError, match="unknown agent 'nosuch_agents:MyAgent'"):  # no such module: a typo, most likely
        make_agent("nosuch_agents:MyAgent")


def test_module_colon_factory_mistakes_are_named_with_the_fix(tmp_path, monkeypatch):
    """Found in review: arguments after the factory, a dot for the colon and a user module named like a built-in agent
    all got the generic "unknown agent"; a reset without ``budget`` failed every run instead of once up front."""
    from agents.registry import make_agent

    agent_code = ("import numpy as np\n"
                  "class MyAgent:\n"
                  "    def reset(self, space, seed=None, budget=None): self.d = len(space)\n"
                  "    def act(self, observation): return np.full(self.d, 0.5)\n"
                  "class OldAgent(MyAgent):\n"
                  "    def reset(self, space, seed=None): self.d = len(space)\n")
    (tmp_path / "spec_agents.py").write_text(agent_code)
    (tmp_path / "ppo.py").write_text(agent_code)
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec in ("spec_agents:MyAgent:x=1", "spec_agents:MyAgent(3)"):
        with pytest.raises(ValueError, match=r"MODULE:FACTORY takes the plain name of a class or function in "
                                             r"'spec_agents', called with no arguments .*def make\(\): return"):
            make_agent(spec)
    with pytest.raises(ValueError, match=r"write MODULE:FACTORY with a colon: 'spec_agents:MyAgent'"):
        make_agent("spec_agents.MyAgent")
    # the file's name for the module's (found by a new user), with the folder it is in when one is given
    with pytest.raises(ValueError, match=r"MODULE is the module's name, not its file: write 'spec_agents:MyAgent'$"):
        make_agent("spec_agents.py:MyAgent")
    with pytest.raises(ValueError, match=r"write 'spec_agents:MyAgent', and run from lab/hpo/ \(or put lab/hpo on "):
        make_agent("lab/hpo/spec_agents.py:MyAgent")
    # ./ and ../ paths were imported as relative module names, which failed with a TypeError about packages
    with pytest.raises(ValueError, match=r"MODULE is the module's name, not its file: write 'spec_agents:MyAgent'$"):
        make_agent("./spec_agents.py:MyAgent")
    with pytest.raises(ValueError, match=r"write 'spec_agents:MyAgent', and run from \.\./lab/ "):
        make_agent("../lab/spec_agents.py:MyAgent")
    with pytest.raises(ValueError, match=r"its reset\(space, seed=None\) cannot be called as reset\(space, seed=\.\.\., "
                                         r"budget=\.\.\.\), as the harness calls it"):
        make_agent("spec_agents:OldAgent")
    with pytest.raises(ValueError, match=r"a module 'ppo' of yours is importable here, but the built-in agent 'ppo' takes "
                                         r"precedence over MODULE:FACTORY: rename the module"):
        make_agent("ppo:MyAgent")
    # run from the wrong directory: say that the module is not there; a folder of that name (an earlier --out) is
    # imported as a namespace package: say it is a folder
    with pytest.raises(ValueError, match=r"unknown agent 'elsewhere_agents:MyAgent'.*no module 'elsewhere_agents' is "
                                         r"importable here: elsewhere_agents.py must be in the working directory"):
        make_agent("elsewhere_agents:MyAgent")
    (tmp_path / "old_out").mkdir()
    with pytest.raises(ValueError, match=r"'old_out' has no class or function 'MyAgent' \('old_out' is a folder found on "
                                         r"the import path, .*not a module old_out.py"):
        make_agent("old_out:MyAgent")
    (tmp_path / "grpoformer.py").write_text(agent_code)  # the built-in reads MyAgent as a checkpoint, which is missing
    with pytest.raises(FileNotFoundError, match=r"checkpoint MyAgent not found.*\(a module 'grpoformer' of yours is "
                                                r"importable here, but the built-in agent 'grpoformer' takes precedence"):
        make_agent("grpoformer:MyAgent")
    with pytest.raises(ValueError, match=r"agent 'random' takes no argument, got 'Foo'$"):  # the standard library's
        make_agent("random:Foo")
    with pytest.raises(ValueError, match=r"agent 'cmaes' takes no argument, got 'x'$"):  # an installed library's
        make_agent("cmaes:x")
    assert type(make_agent("spec_agents:MyAgent")).__name__ == "MyAgent"


def test_random_search_is_uniform_over_the_grid(credit_g):
    agent = RandomSearch()
    agent.reset(credit_g.space, seed=0)
    actions = np.array([agent.act({}) for _ in range(4000)])
    assert actions.shape == (4000, 5) and actions.dtype == np.float32
    idx = np.minimum((actions[:, 0] * 10).astype(int), 9)  # 10 values of the first hyperparameter
    counts = np.bincount(idx, minlength=10)
    assert counts.min() > 300 and counts.max() < 500


def test_a_non_finite_score_is_told_as_a_failed_trial(credit_g):
    """The study must not learn from NaN: the trial is FAIL (told so by the agent, not left for Optuna to warn about),
    finite scores are told as the env's ``info["score"]`` (not the reward), and the run goes on."""
    import warnings

    from optuna.trial import TrialState

    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=4, reward="improvement")
    obs, _ = env.reset(seed=0)
    agent = OptunaAgent("tpe")
    agent.reset(env.unwrapped.space, seed=0, budget=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(4):
            action = agent.act(obs)
            obs, reward, _, _, info = env.step(action)
            if step in (1, 3):
                info = {**info, "score": float("nan") if step == 1 else float("inf")}
            agent.observe(action, reward, info)
            trial = agent.study.trials[-1]
            if step in (1, 3):
                assert trial.state == TrialState.FAIL and trial.value is None
            else:
                assert trial.state == TrialState.COMPLETE and trial.value == info["score"]
                if step == 2:
                    assert reward != info["score"]  # the improvement reward is not what the study is told
    assert not [w for w in caught if "not acceptable" in str(w.message)], [str(w.message) for w in caught]
    assert [t.state for t in agent.study.trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE,
                                                     TrialState.FAIL]
    assert agent.study.best_value == max(t.value for t in agent.study.trials if t.value is not None)


@pytest.mark.parametrize("name", ["alpha", "depth", "width"])
def test_an_evaluated_config_that_differs_on_a_discrete_dimension_is_out_of_step(credit_g, name):
    space = credit_g.space
    agent = OptunaAgent("tpe")
    agent.reset(space, seed=0)
    proposed = space.decode(agent.act({}))
    hp = space[name]
    other = hp.values[(hp.index_of(proposed[name]) + 1) % len(hp.values)]
    with pytest.raises(RuntimeError, match=rf"evaluated {name}=.*out of step"):
        agent.observe(None, 0.5, {"score": 0.5, "config": {**proposed, name: other}})
    assert not [t for t in agent.study.trials if t.state.is_finished()]  # nothing was told
    # the same config as proposed is accepted and stored as the evaluated one
    agent2 = OptunaAgent("tpe")
    agent2.reset(space, seed=0)
    proposed2 = space.decode(agent2.act({}))
    agent2.observe(None, 0.5, {"score": 0.5, "config": proposed2})
    assert agent2.study.trials[-1].user_attrs["evaluated_config"] == proposed2


def test_a_continuous_dimension_may_be_snapped_by_the_env():
    """Only discrete dimensions must match: the env may snap a float/int to its table's grid."""
    agent = OptunaAgent("tpe")
    agent.reset(MIXED, seed=0)
    action = agent.act({})
    proposed = MIXED.decode(action)
    snapped = {**proposed, "lr": proposed["lr"] * 1.5, "layers": 1 if proposed["layers"] != 1 else 2}
    agent.observe(action, 0.3, {"score": 0.3, "config": snapped})
    trial = agent.study.trials[-1]
    assert trial.state.name == "COMPLETE" and trial.value == 0.3
    assert trial.user_attrs["evaluated_config"]["lr"] == pytest.approx(snapped["lr"])


@pytest.mark.parametrize("sampler", ["tpe", "cmaes"])
def test_a_partial_table_answering_with_its_nearest_present_configuration_is_not_out_of_step(sampler):
    """A user's table from a DataFrame lacks most grid cells; the env then evaluates the nearest present one and says
    so (``config_substituted``). The objective of the asked point is that score: the run goes on, every trial told."""
    from hpo_gym.tabular import TabularObjective
    from tests.tables import real_table_subset

    table = TabularObjective.from_dataframe(real_table_subset("credit_g", 200), metric="acc", seed_column="seed")
    env = gym.make("HPO-OpenML-v0", objective=table, budget=30)
    rows, error = run_episode(OptunaAgent(sampler), env, seed=0, budget=30)
    assert error is None and len(rows) == 30
    agent = OptunaAgent(sampler)
    obs, _ = env.reset(seed=1)
    agent.reset(table.space, seed=1, budget=30)
    substituted = 0
    for _ in range(30):
        action = agent.act(obs)
        obs, reward, _, _, info = env.step(action)
        agent.observe(action, reward, info)
        substituted += info["config_substituted"]
        assert agent.study.trials[-1].value == info["score"]
        assert agent.study.trials[-1].user_attrs["evaluated_config"] == info["config"]
    assert substituted > 0


def test_samplers_that_draw_categoricals_at_random_say_so_once():
    """Optuna's CMA-ES and QMC hand categoricals to a random sampler; the per-trial warning was switched off, so a
    user never learned that cmaes had not optimized 'act' at all."""
    import warnings

    space = SearchSpace([Float("x", 0.0, 1.0), Categorical("act", ["relu", "tanh"])])
    for name in ("cmaes", "qmc"):
        with pytest.warns(UserWarning, match=rf"agent '{name}': .* draws \['act'\] at random in every trial"):
            OptunaAgent(name).reset(space, seed=0, budget=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        OptunaAgent("tpe").reset(space, seed=0, budget=5)  # TPE and GP model categoricals: nothing to say
        OptunaAgent("cmaes").reset(SearchSpace([Float("x", 0.0, 1.0), Ordinal("b", [1, 2, 4])]), seed=0, budget=5)


def test_gp_proposes_what_optunas_gp_sampler_proposes_on_one_torch_thread(credit_g, monkeypatch):
    """The GP agent runs Optuna's GPSampler with its torch work on one thread (a 4-6x slower run on busy cores
    otherwise, see hpo_gym.threads): the same proposals as the plain sampler on the same seed, and the caller's torch
    thread count is back after every suggestion."""
    import optuna
    import torch

    threads_seen: list[int] = []
    sample_relative = optuna.samplers.GPSampler.sample_relative

    def spy(self, *args, **kwargs):  # the real GP step, noting the torch threads it ran with
        threads_seen.append(torch.get_num_threads())
        return sample_relative(self, *args, **kwargs)

    monkeypatch.setattr(optuna.samplers.GPSampler, "sample_relative", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    plain = OptunaAgent(lambda seed: optuna.samplers.GPSampler(seed=seed), name="plain-gp")
    runs = {}
    try:
        for agent in (plain, make_agent("gp")):
            trace, error = run_episode(agent, gym.make("HPO-OpenML-v0", task="credit_g", budget=14), seed=3, budget=14)
            assert error is None and torch.get_num_threads() == 2
            runs[agent.name] = [row["config"] for row in trace]
    finally:
        torch.set_num_threads(before)
    assert runs["gp"] == runs["plain-gp"] and len(runs["gp"]) == 14
    # the plain sampler's steps, then the agent's: its 10 random startup trials leave torch alone, its GP steps use one
    assert threads_seen == [2] * 14 + [2] * 10 + [1] * 4


def test_torch_threads_restores_the_count_also_after_an_error():
    import torch

    from hpo_gym.threads import torch_threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(KeyError), torch_threads(1):
            raise KeyError("x")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_tpe_is_multivariate_whatever_optuna_defaults_to(credit_g):
    """Optuna 5 defaults to multivariate TPE for one objective, 3.6-4.x (which pyproject allows) to univariate: the
    agent sets it, so `tpe` is one algorithm, the one the README's numbers come from."""
    agent = OptunaAgent("tpe")
    agent.reset(credit_g.space, seed=0, budget=5)
    assert agent.study.sampler._multivariate is True


def test_reset_imports_what_a_sampler_needs_at_its_first_model_step_so_act_times_proposals_only():
    """cmaes imported scipy (about 1.2 s) and gp torch (about 3 s) inside the first timed act of a process, so the
    first run's s/suggestion carried it (cmaes read 2.8x too high over 10 runs). reset, which is not timed, imports
    them now, and a GP run that never leaves its 10 random startup trials still imports no torch. A fresh interpreter,
    since this one has imported them already."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from agents.registry import make_agent\n"
        "from hpo_gym.suites import load_hpobench_nn\n"
        "space = load_hpobench_nn('credit_g').space\n"
        "make_agent('gp').reset(space, seed=0, budget=10)\n"
        "short = 'torch' in sys.modules\n"
        "make_agent('gp').reset(space, seed=0, budget=11)\n"
        "make_agent('cmaes').reset(space, seed=0, budget=2)\n"
        "print(short, 'torch' in sys.modules, 'cmaes' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=str(Path(__file__).resolve().parents[2]))
    assert out.stdout.split() == ["False", "True", "True"], out.stderr[-2000:]


def test_gp_models_a_very_wide_int_as_a_float_and_plays_whole_numbers_in_range():
    """Optuna's GP lists every value of an IntDistribution at each model step: Int(0, 2**40) failed its first model
    step with an 8 TiB allocation. Above GP_MAX_INT_VALUES it now models the int as a float over the same bins; the
    env evaluates the integers it proposes, and a narrow int stays an IntDistribution."""
    from optuna.distributions import FloatDistribution, IntDistribution

    from agents.optuna_agents import GP_MAX_INT_VALUES, distributions_of
    from hpo_gym.objective import Evaluation, EvaluationBatch, as_config_list
    from hpo_gym.space import Float, Int, SearchSpace

    space = SearchSpace([Int("n", 0, 2**40), Int("k", 1, 10**9, log=True), Int("small", 1, GP_MAX_INT_VALUES),
                         Float("x", 0.0, 1.0)])
    kinds = {name: type(d) for name, d in distributions_of(space, wide_ints_as_floats=True).items()}
    assert kinds == {"n": FloatDistribution, "k": FloatDistribution, "small": IntDistribution, "x": FloatDistribution}
    assert all(type(d) is IntDistribution for n, d in distributions_of(space).items() if n != "x")  # other samplers

    class Wide:
        name, oracle, metadata = "wide", None, {}

        def __init__(self):
            self.space = space

        def evaluate(self, config, seed=None):
            return Evaluation(-abs(config["n"] / 2**40 - 0.3) - abs(config["x"] - 0.6), 0.0, {})

        def evaluate_batch(self, configs, seeds=None):
            return EvaluationBatch.from_evaluations([self.evaluate(c) for c in as_config_list(space, configs)])

    env = gym.make("HPO-OpenML-v0", objective=Wide(), budget=14)
    agent = make_agent("gp")
    obs, _ = env.reset(seed=0)
    agent.reset(env.unwrapped.space, seed=0, budget=14)
    for _ in range(14):  # 4 model steps after the 10 random ones
        action = agent.act(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        agent.observe(action, reward, info)
        assert all(type(info["config"][n]) is int and space[n].low <= info["config"][n] <= space[n].high
                   for n in ("n", "k", "small"))
    assert terminated
