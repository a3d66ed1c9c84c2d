"""The PPO-with-critic ablation's arithmetic (``agents/grpoformer/critic.py``), which only a small training run exercised:
six hand mutations of its advantage and loss passed every other test (found by hand mutation testing)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpo_gym.episode import space_descriptor
from hpo_gym.space import Categorical, Float, Int, SearchSpace


def _critic_and_states(n: int = 3):
    """A seeded critic and ``n`` different histories over one space, featurized as the learner does."""
    from agents.grpoformer.critic import StateValue
    from agents.grpoformer.policy import MAX_DIMS, featurize

    torch.manual_seed(0)
    space = SearchSpace([Float("lr", 1e-4, 1.0, log=True), Int("units", 1, 100), Categorical("k", ["a", "b", "c"])])
    rng = np.random.default_rng(0)
    slots, d = 6, len(space)
    x = np.zeros((n, slots, MAX_DIMS), np.float32)
    y = np.zeros((n, slots), np.float32)
    mask = np.zeros((n, slots), np.int8)
    for i in range(n):
        x[i, : i + 1, :d] = rng.random((i + 1, d))
        y[i, : i + 1] = rng.random(i + 1)
        mask[i, : i + 1] = 1
    desc = space_descriptor(space, MAX_DIMS)
    f = featurize(x, y, mask, (np.arange(1, n + 1) / slots)[:, None], *(np.repeat(desc[k][None], n, axis=0)
                                                                        for k in ("dim_kind", "dim_choices", "dim_log")))
    return StateValue().eval(), f


def test_critic_advantages_are_reward_minus_value_normalized_over_the_batch():
    """PPO's advantage: ``r - V(s)``, then centred and scaled by the batch's standard deviation. Dropping the centring
    or the scaling, or adding ``V(s)`` instead, changes which candidates the policy is pushed towards."""
    from agents.grpoformer.critic import critic_advantages

    critic, f = _critic_and_states()
    rewards = torch.tensor([[0.1, 0.5, 0.2, 0.9], [0.0, 0.3, 0.3, 0.4], [1.0, 0.2, 0.6, 0.1]])
    with torch.no_grad():
        v = critic(f)
    assert v.shape == (3,)
    a = rewards - v[:, None]
    expected = (a - a.mean()) / a.std()
    got = critic_advantages(critic, f, rewards)
    assert torch.allclose(got, expected, atol=1e-5)
    assert abs(float(got.mean())) < 1e-5 and float(got.std()) == pytest.approx(1.0, abs=1e-5)
    assert not got.requires_grad  # the baseline is a constant for the policy's loss


def test_critic_advantages_of_equal_rewards_are_zero_not_nan():
    """A batch whose every candidate got the same reward from one state (a flat table) has no spread: the ``eps`` in
    the denominator makes the advantages 0 instead of 0/0 = NaN, which would poison the policy's weights."""
    from agents.grpoformer.critic import critic_advantages

    critic, f = _critic_and_states(1)
    got = critic_advantages(critic, f, torch.full((1, 4), 0.5))
    assert torch.isfinite(got).all() and torch.equal(got, torch.zeros(1, 4))


def test_critic_loss_is_the_mean_squared_error_over_every_candidate():
    """The value loss is the *mean* squared error of ``V(s)`` against each candidate's reward: a sum would scale with
    the batch (the reported ``value_loss`` too), an absolute error would fit the median, not the expected gain."""
    from agents.grpoformer.critic import critic_loss

    critic, f = _critic_and_states()
    rewards = torch.tensor([[0.1, 0.5, 0.2, 0.9], [0.0, 0.3, 0.3, 0.4], [1.0, 0.2, 0.6, 0.1]])
    with torch.no_grad():
        v = critic(f)
        got = critic_loss(critic, f, rewards)
    assert got.shape == () and float(got) == pytest.approx(float(((v[:, None] - rewards) ** 2).mean()), rel=1e-5)
