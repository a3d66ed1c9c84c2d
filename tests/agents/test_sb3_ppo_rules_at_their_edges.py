"""The ``ppo`` agent's rules at their edges: what the existing SB3 tests left unpinned (found by a mutation review of
``agents/sb3_ppo.py``). Real tables, real Stable-Baselines3; every training run is a few dozen steps."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs_registry  # noqa: F401

pytest.importorskip("stable_baselines3")
from stable_baselines3 import PPO  # noqa: E402

from agents.registry import make_agent  # noqa: E402
from agents.sb3_ppo import SB3PPOAgent, check_rollout_memory  # noqa: E402
from hpo_gym.space import Float, Int, SearchSpace  # noqa: E402
from hpo_gym.tabular import TabularObjective  # noqa: E402
from tests.tables import real_table_subset  # noqa: E402


@pytest.fixture(scope="module")
def fitted(kc1, credit_g):
    """One tiny PPO fitted on kc1 then credit_g (fold order), episodes of 4: shared by the tests that only act."""
    agent = SB3PPOAgent(total_timesteps=16, budget=4, n_steps=8)
    agent.fit([kc1, credit_g], seed=0)
    return agent


def _untrained_model(**env_kwargs) -> PPO:
    """A PPO built (not trained, seeded) on the env's own spaces for kc1, episodes of 4 unless told otherwise."""
    return PPO("MultiInputPolicy", gym.make("HPO-OpenML-v0", **{"task": "kc1", "budget": 4, **env_kwargs}), n_steps=8,
               batch_size=8, seed=0, device="cpu")


def _weights(agent: SB3PPOAgent) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in agent.model.policy.state_dict().items()}


# -- construction and the spec --------------------------------------------------------------------------------------
def test_the_default_agent_trains_20000_steps_for_episodes_of_50():
    """The README and ``_make_ppo`` promise ``ppo`` = 20,000 steps per fit on episodes of 50: a user who runs the
    agent outside the harness (no ``fit(budget=...)``) gets a policy that can play exactly 50 evaluations."""
    for agent in (SB3PPOAgent(), make_agent("ppo")):
        assert agent.total_timesteps == 20_000 and agent.budget == 50
    assert make_agent("ppo:300").budget == 50


def test_a_boolean_is_not_a_number_of_training_steps():
    """``True == 1`` to Python: ``SB3PPOAgent(total_timesteps=True)`` (a flag passed to the wrong keyword) would train
    one step and still label the policy trained on its fit tasks; it is refused by name instead."""
    with pytest.raises(ValueError, match=r"total_timesteps must be a whole number of training steps >= 1 \(got True\)"):
        SB3PPOAgent(total_timesteps=True)


def test_a_spec_that_repeats_a_setting_is_refused_with_the_forms():
    """``ppo:100:200`` or ``ppo:budget=5:budget=6`` is a typo, not a request: silently keeping the last value would train
    or size a policy the user did not ask for, so the spec is refused with the forms it may take."""
    for spec in ("ppo:100:200", "ppo:budget=5:budget=6"):
        with pytest.raises(ValueError, match=r"the forms are ppo:N, ppo:budget=B, ppo:N:budget=B"):
            make_agent(spec)


def test_a_model_whose_actions_reach_past_1_is_refused():
    """A model trained behind ``RescaleAction(0, 2)`` starts at 0 like the env's Box but proposes up to 2: clipped to
    [0, 1], half its range would collapse onto the grid's last value while every run reads "ok"."""
    env = gym.wrappers.RescaleAction(gym.make("HPO-OpenML-v0", task="kc1", budget=4), np.float32(0.0), np.float32(2.0))
    model = PPO("MultiInputPolicy", env, n_steps=8, batch_size=8, device="cpu")
    with pytest.raises(ValueError, match=r"was trained with actions Box\(0\.0, 2\.0.*not the env's default Box\(0, 1"):
        SB3PPOAgent(model=model, trained_on=["kc1"])


# -- training --------------------------------------------------------------------------------------------------------
def test_fit_without_training_tasks_says_it_needs_one():
    """``fit([])`` (a fold filter that left nothing, an empty suite) is told what is missing, not that an empty set of
    search-space sizes differs."""
    with pytest.raises(ValueError, match="SB3PPOAgent.fit needs at least one training objective"):
        SB3PPOAgent(total_timesteps=8, budget=4).fit([], seed=0)


def test_training_tasks_with_different_numbers_of_hyperparameters_are_refused_by_name(kc1):
    """One policy has one action size: a fold mixing a 5-hyperparameter table with a 3-hyperparameter one would feed
    5-wide actions to the narrow env (or train on the wrong widths). ``fit`` names the sizes before building PPO."""
    df = real_table_subset("credit_g", 12)
    narrow = TabularObjective.from_dataframe(df, metric="acc", hyperparameters=list(df.columns[:3]), name="narrow")
    assert len(narrow.space) == 3
    with pytest.raises(ValueError, match=r"one action space; the training tasks have search spaces of sizes \[3, 5\]"):
        SB3PPOAgent(total_timesteps=8, budget=4).fit([kc1, narrow], seed=0)


def test_fit_records_its_training_tasks_in_the_order_it_trained_on_them(fitted):
    """``trained_on`` is documented as the training tasks *in training order* (the DummyVecEnv's env order), which a
    saved zip carries; a sorted record would not say which env index held which task."""
    assert fitted.trained_on == ("kc1", "credit_g")


def test_the_same_fit_seed_gives_the_same_policy_and_another_seed_another(kc1):
    """The benchmark fits once per fold with ``seed=fold`` and caches the result: a refit (cache cleared, another
    machine) must give the same policy for the same seed, or stored runs could not be reproduced; a different seed
    must actually change the initialisation."""
    weights = []
    for seed in (0, 0, 1):
        agent = SB3PPOAgent(total_timesteps=8, budget=4, n_steps=8)
        torch.manual_seed(1234 + len(weights))  # whatever torch's global generator holds, the fit seed decides
        agent.fit([kc1], seed=seed)
        weights.append(_weights(agent))
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])


def test_ppo_kwargs_override_the_agents_rollout_defaults(kc1):
    """``ppo_kwargs`` is where a user tunes SB3's PPO: its ``n_steps`` and ``batch_size`` must win over the adapter's
    own choice (4 episodes, batch = rollout), or the tuning is silently ignored."""
    agent = SB3PPOAgent(total_timesteps=8, budget=4, ppo_kwargs={"n_steps": 4, "batch_size": 2, "n_epochs": 1})
    assert agent.rollout_length(1) == 8  # what the adapter would pick by itself
    agent.fit([kc1], seed=0)
    assert (agent.model.n_steps, agent.model.batch_size, agent.model.n_epochs) == (4, 2, 1)


def test_the_rollout_memory_limit_counts_every_training_env(kc1):
    """PPO's rollout buffer holds ``n_steps`` observations *per training env*: at budget 10,000 one rollout of 2,048
    steps takes about 1.4 GiB per env, so 2 tasks fit under the 4 GiB limit and 3 do not. Counting one env only let
    a fold of many tasks ask numpy for many times the limit inside PPO's constructor."""
    agent = SB3PPOAgent(budget=10_000)
    two, three = agent.make_training_env([kc1] * 2), agent.make_training_env([kc1] * 3)
    try:
        check_rollout_memory(two, 2048, 10_000)
        with pytest.raises(ValueError, match=r"PPO's rollout buffer would take 4\.\d GiB \(2048 steps x 3 envs"):
            check_rollout_memory(three, 2048, 10_000)
    finally:
        two.close()
        three.close()


# -- acting ----------------------------------------------------------------------------------------------------------
def test_acting_twice_on_one_observation_samples_two_configurations_yet_a_seed_repeats_them(fitted, credit_g):
    """The module samples actions (``deterministic=False``): a deterministic policy repeats one configuration whenever
    the history barely changes, wasting the budget on duplicates. ``reset(seed=...)`` still makes a run reproducible."""
    obs, _ = gym.make("HPO-OpenML-v0", task="credit_g", budget=4).reset(seed=0)
    runs = []
    for _ in range(2):
        fitted.reset(credit_g.space, seed=7, budget=4)
        runs.append([fitted.act(obs) for _ in range(3)])
    assert not np.array_equal(runs[0][0], runs[0][1]) and not np.array_equal(runs[0][1], runs[0][2])
    np.testing.assert_array_equal(np.array(runs[0]), np.array(runs[1]))


def test_a_model_trained_on_the_bare_unit_box_acts_with_its_own_actions():
    """A user's model trained on the env's own ``Box(0, 1)`` (the README accepts it "bare or behind RescaleAction")
    must play exactly what it predicts: mapping it as if it were a [-1, 1] model squeezes every proposal into
    [0.5, 1], half the search space, while every run reads "ok"."""
    model = _untrained_model()
    agent = SB3PPOAgent(model=model, trained_on=["kc1"])
    env = gym.make("HPO-OpenML-v0", task="kc1", budget=4)
    obs, _ = env.reset(seed=0)
    torch.manual_seed(5)
    expected = np.clip(model.predict(obs, deterministic=False)[0], 0.0, 1.0).astype(np.float32)
    assert (expected < 0.5).any()  # this seed's proposal reaches into the lower half
    agent.reset(env.unwrapped.space, seed=5, budget=4)
    np.testing.assert_array_equal(agent.act(obs), expected)


def test_actions_come_in_the_spaces_own_dtype(fitted, kc1):
    """The Agent protocol: ``act`` returns ``space.action_dtype``, float64 for an Int too fine for float32, whose
    float32 encoding decodes a few units away from the value meant (and fails the env's float64 Box check)."""
    fine = SearchSpace([Int("n", 1, 10**9), Float("a", 0.0, 1.0), Float("b", 0.0, 1.0), Float("c", 0.0, 1.0),
                        Float("d", 0.0, 1.0)])
    assert fine.action_dtype is np.float64
    obs, _ = gym.make("HPO-OpenML-v0", task="kc1", budget=4).reset(seed=0)
    fitted.reset(fine, seed=0, budget=4)
    assert fitted.act(obs).dtype == np.float64
    fitted.reset(kc1.space, seed=0, budget=4)
    assert fitted.act(obs).dtype == np.float32


def test_a_model_trained_with_fewer_max_dims_sees_the_tasks_own_columns_in_a_wider_env():
    """A model trained in envs made with ``max_dims=8`` playing a default (16-wide) env must be shown the task's
    hyperparameter columns (the first ones), so it acts exactly as in an 8-wide env; keeping the last 8 columns
    (padding) would blind it to the search space and its history while every run reads "ok"."""
    agent = SB3PPOAgent(model=_untrained_model(max_dims=8), trained_on=["kc1"])
    wide, narrow = (gym.make("HPO-OpenML-v0", task="kc1", budget=4, max_dims=d) for d in (16, 8))
    obs_wide, obs_narrow = wide.reset(seed=0)[0], narrow.reset(seed=0)[0]
    agent.reset(wide.unwrapped.space, seed=0, budget=4)
    for step in range(3):
        actions = []
        for obs in (obs_wide, obs_narrow):
            torch.manual_seed(step)
            actions.append(agent.act(obs))
        np.testing.assert_array_equal(actions[0], actions[1], err_msg=f"step {step}")
        obs_wide, obs_narrow = wide.step(actions[0])[0], narrow.step(actions[0])[0]


def test_settings_that_would_fail_inside_fit_are_refused_when_the_agent_is_built():
    """Found by the review: ``n_steps`` of 1, 0 or -3 failed at fit with SB3's "`batch_size` must be greater than 1",
    2.7 was cut to 2, ``total_timesteps=None`` gave a bare int() error, and ``ppo_kwargs`` holding ``seed`` failed with
    Python's "multiple values for keyword argument". Each is refused when built, naming the setting and the fix."""
    for bad in (1, 0, -3, 2.7, True):
        with pytest.raises(ValueError, match=rf"n_steps must be a whole number of steps per env per rollout >= 2 "
                                             rf"\(got {bad!r}\)"):
            SB3PPOAgent(n_steps=bad)
    with pytest.raises(ValueError, match=r"total_timesteps must be a whole number of training steps >= 1 \(got None\)"):
        SB3PPOAgent(total_timesteps=None)
    with pytest.raises(ValueError, match=r"ppo_kwargs must not set \['env', 'seed'\]: the seed is fit\(\.\.\., seed=\)"):
        SB3PPOAgent(ppo_kwargs={"seed": 3, "env": None, "learning_rate": 1e-4})
    assert SB3PPOAgent(n_steps=np.int64(8)).rollout_length(1) == 8


def test_one_training_task_given_as_a_string_is_that_task_not_its_letters(kc1):
    """Found by the review: ``trained_on="kc1"`` became ``('k', 'c', '1')``, so a kc1 model's runs on kc1 were stored
    as held-out, with no warning. A string is one task name."""
    from hpo_gym.benchmark import run_benchmark

    agent = SB3PPOAgent(model=_untrained_model(), trained_on="kc1")
    assert agent.trained_on == ("kc1",)
    with pytest.warns(UserWarning, match="in-sample results: ppo-kc1 on kc1"):
        df = run_benchmark({"ppo-kc1": lambda: SB3PPOAgent(model=_untrained_model(), trained_on="kc1")}, ["kc1"],
                           budget=4, seeds=1, progress=False)
    assert df["in_sample"].all() and (df["status"] == "ok").all()


def test_training_steps_round_up_to_whole_rollouts_as_the_readme_says(kc1, credit_g):
    """Found by the review: the README said ``ppo:N`` trains N steps; SB3 trains whole rollouts, so 50 steps at budget
    5 on 2 tasks (rollouts of 4 episodes = 20 steps per env, 40 per round) train 80. The README now gives that example;
    this pins it."""
    from tests.readme_examples import README

    assert "50 steps at budget 5 on 2 tasks train 80" in " ".join(README.read_text().split())
    agent = SB3PPOAgent(total_timesteps=50, budget=5)
    agent.fit([kc1, credit_g], seed=0)
    assert agent.model.num_timesteps == 80
