"""Mutation-review killer tests: behaviours of HPOEnv, the native vector env, the task kwargs and the HPOBench adapter
that a changed line could break while every other test still passed (real embedded tables, real Gymnasium envs)."""

from __future__ import annotations

import ConfigSpace as CS
import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import envs_registry  # noqa: F401  (registers the env ids)
from hpo_gym import suites
from hpo_gym.env import HPOEnv
from hpo_gym.suites import load_hpobench_nn
from hpo_gym.tabular import TabularObjective


class _NoOracle(TabularObjective):
    """A table that, like a live task, does not know its best and worst score."""

    @property
    def oracle(self):
        return None


class _TinyBenchmark:
    """The smallest object of HPOBench's API: one float hyperparameter, a fixed function value and reported cost."""

    def __init__(self, function_value: float = 0.25, cost: float = 0.0):
        self.function_value, self.cost = function_value, cost

    @staticmethod
    def get_configuration_space(seed=None):
        cs = CS.ConfigurationSpace(seed=seed)
        cs.add([CS.UniformFloatHyperparameter("x", 0.0, 1.0)])
        return cs

    def objective_function(self, configuration, fidelity=None, rng=None, **kwargs):
        return {"function_value": self.function_value, "cost": self.cost, "info": {}}


def test_a_suite_task_without_an_oracle_refuses_the_regret_reward_at_reset(monkeypatch):
    """A suite task (not objective=) is checked against reward='regret' when reset draws it, before the episode starts:
    without that check reset succeeded and the first step failed deep in the reward, after recording the trial."""
    base = TabularObjective.from_dataframe(pd.DataFrame({"a": [1, 2, 3], "acc": [0.1, 0.5, 0.2]}), metric="acc")
    table = _NoOracle("no-oracle", base.space, base._seed_scores, "acc")
    monkeypatch.setitem(suites._SUITES, "no-oracle-suite",
                        suites.Suite("no-oracle-suite", {"no-oracle": None}, {"no-oracle": table}.__getitem__, "", base.space))
    env = HPOEnv(suite="no-oracle-suite", reward="regret", budget=2)  # the suite's task is not loaded yet: no check
    with pytest.raises(ValueError, match="reward='regret' needs an oracle, but task 'no-oracle' has none"):
        env.reset(seed=0)
    with pytest.raises(RuntimeError, match="call reset"):  # the refused reset started no episode
        env.step(np.array([0.5]))


def test_render_after_a_new_reset_shows_no_trial_of_the_previous_episode():
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=2, render_mode="ansi")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    assert "last: score" in env.render()
    env.reset(seed=1)
    assert env.render() == "task credit_g  trial 0/2  (no trials yet)"


def test_a_partial_reset_leaves_the_other_rows_pending_autoreset_as_a_sync_vector_env_does():
    """Row 1 ended its episode; a partial reset of row 0 must not cancel row 1's autoreset (Gymnasium's
    SyncVectorEnv clears the autoreset flag of the masked rows only), else row 1 steps a finished episode."""
    actions = np.array([[0.1, 0.2, 0.3, 0.4, 0.5], [0.9, 0.8, 0.7, 0.6, 0.5]], dtype=np.float32)
    results = {}
    for mode in ("vector_entry_point", "sync"):
        vec = gym.make_vec("HPO-OpenML-v0", num_envs=2, task="credit_g", budget=1, vectorization_mode=mode)
        vec.reset(seed=0)
        _, _, terminated, _, _ = vec.step(actions)
        assert terminated.all()
        vec.reset(options={"reset_mask": np.array([True, False])})
        obs, _, terminated, truncated, info = vec.step(actions)
        results[mode] = (obs["mask"].sum(axis=1).tolist(), terminated.tolist(), truncated.tolist(), info["_score"].tolist())
        vec.close()
    # row 0 plays its one trial and ends; row 1 autoresets: no trial, not terminated, no step info
    assert results["vector_entry_point"] == results["sync"] == ([1, 0], [True, False], [False, False], [True, False])


def test_the_native_vector_envs_step_info_is_not_changed_by_later_steps():
    """A stored info (a logger's, a replay buffer's) must keep its values: info['step'] was the history's own array."""
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=2, task="credit_g", budget=3)
    vec.reset(seed=0)
    actions = np.full((2, 5), 0.5, dtype=np.float32)
    *_, first = vec.step(actions)
    *_, second = vec.step(actions)
    assert first["step"].tolist() == [1, 1] and second["step"].tolist() == [2, 2]
    vec.reset(seed=0)
    assert first["step"].tolist() == [1, 1]
    vec.close()


def test_metric_with_objective_is_refused_not_ignored():
    """objective= is the whole task: a metric given with it would be silently ignored (the table keeps its own)."""
    with pytest.raises(ValueError, match="metric has no effect with objective="):
        gym.make("HPO-OpenML-v0", objective=load_hpobench_nn("credit_g"), metric="val_f1")


def test_an_hpobench_benchmark_that_reports_zero_cost_keeps_it():
    """A cost of 0.0 is a valid report (a tabular or surrogate benchmark): it is the step's cost, not the wall time."""
    env = gym.make("HPO-OpenML-v0", objective=_TinyBenchmark(0.25, cost=0.0), budget=2)
    env.reset(seed=0)
    *_, info = env.step(np.array([0.5]))
    assert info["score"] == pytest.approx(-0.25)
    assert info["cost"] == 0.0 and "reported_cost" not in info.get("evaluation", {})


def test_an_hpobench_benchmark_returning_nan_is_a_failed_call_with_the_worst_score():
    """A NaN function_value is a failed call of the adapter (its worst_score, -1.0 by default), so an episode on a
    benchmark without an oracle goes on instead of stopping with the env's non-finite-score ValueError."""
    env = gym.make("HPO-OpenML-v0", objective=_TinyBenchmark(float("nan")), budget=2)
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step(np.array([0.5]))
    assert reward == -1.0 and info["score"] == -1.0 and "non-finite function_value" in info["error"]
    assert env.observation_space.contains(obs) and not terminated


@pytest.mark.parametrize("vector", [False, True])
def test_a_new_episode_starts_from_an_all_zero_history(vector):
    """The observation's history is zero padded: a new episode (reset, or a native vector env's autoreset) must not
    carry the previous episode's configurations or scores in its padding, which a policy reading x or y without the
    mask would see (and a seeded episode would then depend on what ran before it)."""
    if vector:
        env = gym.make_vec("HPO-OpenML-v0", num_envs=2, task="credit_g", budget=2)
        act = np.full((2, 5), 0.7, dtype=np.float32)
    else:
        env = gym.make("HPO-OpenML-v0", task="credit_g", budget=2)
        act = np.full(5, 0.7, dtype=np.float32)
    env.reset(seed=0)
    for _ in range(2):
        obs, *_ = env.step(act)
    assert obs["x"].any() and obs["y"].any()
    if vector:
        obs, *_ = env.step(act)  # every row autoresets here
        assert not obs["x"].any() and not obs["y"].any() and not obs["mask"].any()
    obs, _ = env.reset(seed=0)
    assert not obs["x"].any() and not obs["y"].any() and not obs["mask"].any()
    env.close()


def test_ppo_trains_on_the_improvement_reward_behind_rescale_action():
    """The module's design: PPO's training envs give the improvement reward (whose episode sum is the final best minus
    the task's worst, what HPO is judged on) and take [-1, 1] actions."""
    pytest.importorskip("stable_baselines3")
    from agents.sb3_ppo import SB3PPOAgent

    table = load_hpobench_nn("credit_g")
    vec = SB3PPOAgent(total_timesteps=10, budget=3).make_training_env([table])
    try:
        env = vec.envs[0]
        assert env.unwrapped.reward_mode == "improvement"
        assert float(env.action_space.low[0]) == -1.0 and float(env.action_space.high[0]) == 1.0
        vec.seed(0)
        vec.reset()
        _, rewards, _, infos = vec.step(np.zeros((1, 5), dtype=np.float32))
        assert rewards[0] == pytest.approx(infos[0]["best_score"] - table.oracle.worst)
    finally:
        vec.close()


def test_ppo_rollouts_cover_the_timesteps_in_one_round_when_they_fit():
    """SB3 collects whole rollouts of n_steps x n_envs: the default rollout length rounds total_timesteps / n_envs
    up, so 100 steps over 3 envs is one rollout of 34 steps (102 steps), not two of 33 (198, twice the request)."""
    pytest.importorskip("stable_baselines3")
    from agents.sb3_ppo import SB3PPOAgent

    agent = SB3PPOAgent(total_timesteps=100, budget=50)
    assert agent.rollout_length(3) == 34 and agent.rollout_length(4) == 25 and agent.rollout_length(1) == 100
    assert SB3PPOAgent(total_timesteps=10_000, budget=50).rollout_length(2) == 200  # 4 episodes of the budget
    assert SB3PPOAgent(total_timesteps=3, budget=50).rollout_length(8) == 2  # at least 2


def test_a_ppo_model_refuses_a_task_with_another_number_of_hyperparameters():
    """A model trained for 5 hyperparameters playing a 3-hyperparameter task would cut its action to 3 entries and run
    without a word; reset refuses it by name."""
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    from agents.sb3_ppo import SB3PPOAgent
    from hpo_gym.space import Float, SearchSpace

    model = PPO("MultiInputPolicy", gym.make("HPO-OpenML-v0", task="credit_g", budget=3), n_steps=2, batch_size=2,
                device="cpu", verbose=0)
    agent = SB3PPOAgent(model=model, trained_on=["credit_g"])
    agent.reset(load_hpobench_nn("kc1").space, seed=0)  # the same 5 hyperparameters: fine
    with pytest.raises(ValueError, match="PPO was trained with 5 hyperparameters, the task has 3"):
        agent.reset(SearchSpace([Float("a", 0.0, 1.0), Float("b", 0.0, 1.0), Float("c", 0.0, 1.0)]), seed=0)


def test_the_native_vector_envs_noise_draws_the_tables_seeds():
    """noise=True: every row's evaluation is one of the cell's seed scores, drawn per step (not always the first seed,
    which made a noisy native vector env as noise-free as noise=False, only shifted)."""
    table = load_hpobench_nn("credit_g")
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=4, task="credit_g", budget=10, noise=True)
    vec.reset(seed=0)
    action = np.full((4, 5), 0.5, dtype=np.float32)
    scores = []
    for _ in range(10):
        *_, info = vec.step(action)
        scores.extend(info["score"].tolist())
    cell = int(info["cell"][0])
    seed_scores = table._seed_scores[cell]
    assert len(set(seed_scores.tolist())) > 1  # the cell's seeds differ, so the draws must too
    assert set(scores) <= set(seed_scores.tolist()) and len(set(scores)) > 1
    vec.close()


def test_the_native_vector_env_refuses_a_reset_mask_that_is_not_bool_as_a_sync_vector_env_does():
    """An int mask is refused, not read as a bool one, with the sync vector env's error type."""
    for mode in ("vector_entry_point", "sync"):
        vec = gym.make_vec("HPO-OpenML-v0", num_envs=2, task="credit_g", budget=2, vectorization_mode=mode)
        vec.reset(seed=0)
        with pytest.raises(TypeError, match="reset_mask"):
            vec.reset(options={"reset_mask": np.array([1, 0])})
        vec.close()
