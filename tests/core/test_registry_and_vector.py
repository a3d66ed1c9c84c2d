"""Registration (idempotent, module:id form) and vectorisation (native, sync, async) over mixed tasks."""

from __future__ import annotations

import importlib
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import envs_registry
from hpo_gym.vector import HPOVectorEnv


def test_registration_is_idempotent_and_covers_every_task():
    before = dict(gym.registry)
    importlib.reload(envs_registry)
    assert envs_registry.register_envs() == envs_registry.ENV_IDS
    import hpo_gym  # noqa: F401  importing the library registers too

    assert dict(gym.registry).keys() == before.keys()
    for task in envs_registry.EMBEDDED_TASKS:
        assert gym.spec(f"HPO-OpenML-{task}-v0").kwargs == {"task": task}


def test_module_prefixed_id_works_without_a_prior_import():
    code = ("import gymnasium as gym; env = gym.make('envs_registry:HPO-OpenML-v0'); "
            "obs, info = env.reset(seed=0); print(info['task'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in envs_registry.EMBEDDED_TASKS


@pytest.mark.parametrize("noise", [False, True])
def test_native_vector_env_matches_single_envs_on_mixed_tasks(noise):
    n, budget = 6, 4
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=n, budget=budget, noise=noise, reward="regret")
    assert isinstance(vec, HPOVectorEnv)
    obs, info = vec.reset(seed=3)
    tasks = list(info["task"])
    assert len(set(tasks)) > 1, "seed 3 should draw several different tasks"
    singles = [gym.make("HPO-OpenML-v0", task=t, budget=budget, reward="regret") for t in tasks]
    for env in singles:
        env.reset(seed=0)
    actions = np.random.default_rng(0).random((budget, n, 5))
    prev_best = np.full(n, -np.inf)
    for t in range(budget):
        obs, rewards, terminated, truncated, info = vec.step(actions[t])
        for i, env in enumerate(singles):
            s_obs, s_reward, s_term, _, s_info = env.step(actions[t, i])
            assert terminated[i] == s_term and vec.cell_config(info["cell"][i]) == s_info["config"]
            np.testing.assert_allclose(obs["x"][i], s_obs["x"])
            if noise:  # other draws than the noise-free single env, but the regret is of the incumbent's mean score
                assert info["normalized_regret"][i] >= 0.0 and rewards[i] == pytest.approx(-info["normalized_regret"][i])
                if info["score"][i] > prev_best[i]:  # this trial became the incumbent
                    objective = env.unwrapped.objective
                    mean = objective.mean_scores[info["cell"][i]]
                    assert info["normalized_regret"][i] == pytest.approx(objective.oracle.normalized_regret(mean))
                continue
            assert rewards[i] == pytest.approx(s_reward)
            assert info["best_score"][i] == pytest.approx(s_info["best_score"])
            assert info["normalized_regret"][i] == pytest.approx(s_info["normalized_regret"])
        prev_best = info["best_score"]
    assert vec.observation_space.contains(obs)
    # next step autoresets every finished env: reward 0, fresh history
    obs, rewards, terminated, *_ = vec.step(actions[0])
    assert (rewards == 0).all() and (obs["mask"].sum(axis=1) == 0).all() and not terminated.any()


def test_native_vector_env_rejects_bad_actions_and_settings():
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=2, budget=3)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        vec.step(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="NaN or inf"):
        vec.step(np.full((2, 5), np.nan))
    assert set(vec.reset(seed=0, options={"task": 31})[1]["task"]) == {"credit_g"}
    with pytest.raises(ValueError, match="valid names"):
        vec.reset(options={"task": "mnist"})
    with pytest.raises(ValueError, match="vectorization_mode='sync'"):
        gym.make_vec("HPO-OpenML-v0", num_envs=2, action_type="dict")
    with pytest.raises(ValueError, match="5 hyperparameters but max_dims=2; raise max_dims"):
        gym.make_vec("HPO-OpenML-v0", num_envs=2, max_dims=2)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_gymnasium_vectorization_modes(mode):
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=3, budget=3, vectorization_mode=mode)
    try:
        obs, info = vec.reset(seed=1)
        for _ in range(3):
            obs, rewards, terminated, truncated, info = vec.step(vec.action_space.sample())
        assert terminated.all() and obs["x"].shape == (3, 3, 16)
        assert (info["score"] > 0).all()
    finally:
        vec.close()
