"""The classic agents and the registry at their boundaries, each found unpinned by a mutation review (a change to it
passed every other test): random search's dtype and per-seed streams, GP's wide ints (whole bins, rounding), the order
of initial and enqueued configurations, scrambled QMC, and a MODULE:FACTORY agent that cannot act. Real Optuna, real
tables."""

from __future__ import annotations

import numpy as np
import pytest

from agents.random_search import RandomSearch

# -- random search --------------------------------------------------------------------------------------------------
def test_random_search_acts_in_the_box_dtype_of_a_wide_int_space():
    """on a space whose Box is float64 (an int over 1e8 values) random search must draw float64: a float32 draw
    (Box.contains accepts it, as float32 casts to float64) cannot reach most of the range's integers."""
    import gymnasium as gym

    from hpo_gym.space import Float, Int, SearchSpace

    wide = SearchSpace([Int("n", 0, 10**8), Float("x", 0.0, 1.0)])
    assert wide.action_dtype is np.float64
    agent = RandomSearch()
    agent.reset(wide, seed=0, budget=5)
    action = agent.act({})
    assert action.dtype == np.float64
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=5)  # a float32 task: draws stay float32 there
    env.reset(seed=0)
    agent.reset(env.unwrapped.space, seed=0, budget=5)
    assert agent.act({}).dtype == env.action_space.dtype


def test_random_search_seeds_give_distinct_runs():
    """every seed is its own stream (the existing test compares seeds 0 and 1 only)."""
    import gymnasium as gym

    from hpo_gym.benchmark import run_episode

    def configs(seed):
        rows, error = run_episode(RandomSearch(), gym.make("HPO-OpenML-v0", task="credit_g", budget=6), seed=seed, budget=6)
        assert error is None
        return tuple(r["config"] for r in rows)

    runs = [configs(s) for s in range(5)]
    assert len(set(runs)) == 5 and configs(3) == runs[3]


# -- optuna agents --------------------------------------------------------------------------------------------------
def test_gp_models_a_wide_int_as_a_float_over_whole_bins():
    """an int of more than GP_MAX_INT_VALUES values is a float over [low - 1/2, high + 1/2], so rounding gives
    the end values a whole bin each like every other value (over [low, high] they got half a bin)."""
    from optuna.distributions import FloatDistribution

    from agents.optuna_agents import GP_MAX_INT_VALUES, distribution_of, params_to_config
    from hpo_gym.space import Int, SearchSpace

    hp = Int("n", 0, 2 * GP_MAX_INT_VALUES)
    assert distribution_of(hp, wide_int_as_float=True) == FloatDistribution(-0.5, 2 * GP_MAX_INT_VALUES + 0.5)
    space = SearchSpace([hp])
    assert params_to_config(space, {"n": -0.5}) == {"n": 0}
    assert params_to_config(space, {"n": 2 * GP_MAX_INT_VALUES + 0.5}) == {"n": 2 * GP_MAX_INT_VALUES}


def test_initial_configs_open_the_run_before_configs_enqueued_ahead_of_it():
    """initial_configs are evaluated first in every run; what enqueue() queued before reset comes after them."""
    import json

    import gymnasium as gym

    from agents.optuna_agents import OptunaAgent
    from hpo_gym.benchmark import run_episode
    from hpo_gym.suites import load_hpobench_nn

    space = load_hpobench_nn("credit_g").space
    rng = np.random.default_rng(3)
    warm, early = space.sample(rng, 2), space.sample(rng, 1)
    agent = OptunaAgent("tpe", initial_configs=warm)
    agent.enqueue(early)  # before the run: queued for it
    rows, error = run_episode(agent, gym.make("HPO-OpenML-v0", task="credit_g", budget=4), seed=0, budget=4)
    assert error is None and [json.loads(r["config"]) for r in rows[:3]] == warm + early


def test_a_wide_int_modelled_as_a_float_rounds_to_the_nearest_whole_number():
    """GP's float over [low - 1/2, high + 1/2] maps to the nearest int (as the env's decoding rounds); truncation
    would shift every bin by half a unit and give the lowest value one and a half bins."""
    from agents.optuna_agents import GP_MAX_INT_VALUES, params_to_config
    from hpo_gym.space import Int, SearchSpace

    space = SearchSpace([Int("n", 0, 2 * GP_MAX_INT_VALUES)])
    assert params_to_config(space, {"n": 3.7}) == {"n": 4}
    assert params_to_config(space, {"n": 0.9}) == {"n": 1}
    assert params_to_config(space, {"n": 3.2}) == {"n": 3}


def test_qmc_seeds_differ_beyond_the_first_trial():
    """qmc is a *scrambled* Sobol sequence so that each seed is its own run; unscrambled, only Optuna's first
    (independent, seeded) trial differed between seeds and every later proposal repeated (the existing test compares
    whole runs, which differ in that first trial alone)."""
    import gymnasium as gym

    from agents.optuna_agents import OptunaAgent
    from hpo_gym.benchmark import run_episode

    def configs(seed):
        rows, error = run_episode(OptunaAgent("qmc"), gym.make("HPO-OpenML-v0", task="credit_g", budget=6), seed=seed,
                                  budget=6)
        assert error is None
        return [r["config"] for r in rows]

    first, second = configs(0), configs(1)
    assert first == configs(0)
    assert all(a != b for a, b in zip(first[1:], second[1:]))


# -- registry -------------------------------------------------------------------------------------------------------
def test_a_module_factory_whose_agent_cannot_act_is_refused_by_name(tmp_path, monkeypatch):
    """MODULE:FACTORY must build something with both reset and act; one without act would fail every run of the
    benchmark, each stored as a finished (failed) result, instead of being refused once up front."""
    import sys

    from agents.registry import make_agent

    (tmp_path / "killer_mod_noact.py").write_text(
        "class NoAct:\n"
        "    def reset(self, space, seed=None, budget=None):\n"
        "        pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(ValueError, match=r"killer_mod_noact:NoAct: NoAct\(\) returned a NoAct, which lacks the "
                                             r"Agent methods"):
            make_agent("killer_mod_noact:NoAct")
    finally:
        sys.modules.pop("killer_mod_noact", None)
