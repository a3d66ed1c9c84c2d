"""Stable-Baselines3 PPO: the env passes SB3's own checker; a short k-fold training run completes and evaluates."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import envs_registry  # noqa: F401

pytest.importorskip("stable_baselines3")
from stable_baselines3.common.env_checker import check_env  # noqa: E402

from agents.registry import make_agent  # noqa: E402
from agents.sb3_ppo import SB3PPOAgent  # noqa: E402
from hpo_gym.benchmark import run_benchmark, summary_table  # noqa: E402


def test_sb3_check_env_passes():
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SB3's style advice (flatten obs, [-1, 1] actions) is not a failure
        check_env(env.unwrapped)
    env_all = gym.make("HPO-OpenML-v0", budget=20, reward="improvement")  # a task drawn per reset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check_env(env_all.unwrapped)


def test_short_training_then_heldout_evaluation_through_the_harness(tmp_path):
    """Fit on two training tasks (one fold), evaluate on a held-out one; quality is printed, not asserted."""
    tasks = ["credit_g", "vehicle", "kc1", "car"]
    df = run_benchmark({"ppo": lambda: SB3PPOAgent(total_timesteps=800, budget=20), "random": lambda: make_agent("random")},
                       tasks, budget=20, seeds=2, protocol="kfold", folds=2, only_tasks=["credit_g"], out=tmp_path,
                       progress=False)
    ppo = df[df["agent"] == "ppo"]
    assert (ppo["status"] == "ok").all(), ppo["error"].iloc[0]
    assert ppo["heldout"].all() and set(ppo["task"]) == {"credit_g"} and ppo["fold"].eq(0).all()
    assert ppo.groupby("seed")["step"].max().tolist() == [20, 20]
    print(summary_table(df)[["regret@10", "regret@20", "MnR"]])


def test_untrained_ppo_fails_clearly(credit_g):
    with pytest.raises(RuntimeError, match="not trained"):
        SB3PPOAgent().reset(credit_g.space, seed=0, budget=20)
    with pytest.raises(ValueError, match="timesteps or the path"):
        make_agent("ppo:/no/such/model.zip")


def test_save_and_load_roundtrip(tmp_path, credit_g):
    from hpo_gym.suites import load_hpobench_nn

    agent = SB3PPOAgent(total_timesteps=200, budget=10, n_steps=50)
    agent.fit([load_hpobench_nn("kc1")], seed=0)
    agent.save(tmp_path / "ppo.zip")
    loaded = make_agent(f"ppo:{tmp_path / 'ppo.zip'}")
    assert loaded.budget == 10
    loaded.reset(credit_g.space, seed=0, budget=10)
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=10)
    obs, _ = env.reset(seed=0)
    assert env.action_space.contains(loaded.act(obs))
    # pickles (the benchmark caches fitted agents per fold) and acts the same after unpickling
    import pickle

    clone = pickle.loads(pickle.dumps(agent))
    actions = []
    for a in (agent, clone):
        a.reset(credit_g.space, seed=3, budget=10)  # seeds torch's global RNG, so act right after
        actions.append(a.act(obs))
    assert np.array_equal(actions[0], actions[1])
