"""The first-new rule's exact probability (``learner.first_new_log_prob``), which trajectory groups use as the ratio's
log-probability: the agent draws G candidates and plays the first that repeats no past trial, so the configurations
an episode tried come from that rule, not from one draw of the policy.

Checked against the definition (enumeration, hand values of a repeat and of a new configuration, and a Monte-Carlo
run of :func:`first_new` itself), at the edges (empty history, duplicated past trials), on real rollouts of kc1 and
credit_g, and in the update's loss calls.
"""

from __future__ import annotations

import copy
import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from agents.grpoformer.learner import (
    LearnerConfig,
    collect,
    distinct_history_bins,
    featurize_states,
    first_new,
    first_new_log_prob,
    update,
    StateBuffer,
)
from agents.grpoformer.policy import GRPOformerPolicy, PolicyConfig, log_prob
from agents.grpoformer.train import TrainConfig
from hpo_gym.suites import load_hpobench_nn

# one state, 2 dimensions of 3 bins (a third, padded dimension), and a hand distribution over the bins
PROBS = torch.tensor([[[0.5, 0.3, 0.2], [0.6, 0.1, 0.3], [1.0, 0.0, 0.0]]])
LOGP = PROBS.log()
F = SimpleNamespace(dim_mask=torch.tensor([[True, True, False]]))
CONFIGS = torch.tensor([[a, b, 0] for a, b in itertools.product(range(3), range(3))])
HISTORY = torch.tensor([[[0, 0, 0], [1, 2, 0], [0, 0, 0], [2, 2, 0]]])  # the first trial repeated once
VALID = torch.tensor([[True, True, True, False]])  # the last slot is padding


def _rule_probabilities(group_size: int, history: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    distinct = torch.as_tensor(distinct_history_bins({"x": ((history.numpy() + 0.5) / 3).astype(np.float32),
                                                      "mask": valid.numpy()}, np.array([[3, 3, 1]]))[1])
    lp = torch.stack([first_new_log_prob(LOGP, F, c[None], history, distinct, group_size)[0] for c in CONFIGS])
    return lp.exp()


def test_distinct_history_bins_counts_a_repeated_trial_once_and_ignores_padding():
    hb, distinct = distinct_history_bins({"x": ((HISTORY.numpy() + 0.5) / 3).astype(np.float32), "mask": VALID.numpy()},
                                         np.array([[3, 3, 1]]))
    np.testing.assert_array_equal(hb, HISTORY.numpy())
    np.testing.assert_array_equal(distinct, [[True, True, False, False]])


@pytest.mark.parametrize("group_size", [1, 3, 8])
def test_the_rule_probabilities_sum_to_one_and_match_the_rule_itself(group_size):
    """Enumerated over the 9 configurations the probabilities sum to 1; and 200,000 runs of :func:`first_new` on G
    draws from the same distribution land on each configuration that often (within 4 standard errors)."""
    exact = _rule_probabilities(group_size, HISTORY, VALID)
    assert float(exact.sum()) == pytest.approx(1.0, abs=1e-6)
    rng = np.random.default_rng(0)
    n = 200_000
    draws = np.stack([rng.choice(3, size=(n, group_size), p=PROBS[0, j].numpy()) for j in range(2)], -1)
    hist = HISTORY[0, VALID[0], :2].numpy()
    picks = np.array([draws[i, first_new(draws[i], hist)] for i in range(n)])
    freq = np.array([np.mean((picks == c[:2].numpy()).all(1)) for c in CONFIGS])
    se = np.sqrt(exact.numpy() * (1 - exact.numpy()) / n)
    assert (np.abs(freq - exact.numpy()) <= 4 * se + 1e-4).all(), (freq, exact)
    if group_size > 1:  # the rule moves mass from past trials to new configurations
        pi = PROBS[0, 0][CONFIGS[:, 0]] * PROBS[0, 1][CONFIGS[:, 1]]
        past = torch.tensor([c.tolist() in ([0, 0, 0], [1, 2, 0]) for c in CONFIGS])
        assert (exact[past] < pi[past]).all() and (exact[~past] > pi[~past]).all()


@pytest.mark.parametrize("group_size", [2, 5])
def test_hand_values_of_a_repeat_and_of_a_new_configuration(group_size):
    """The past configurations (0, 0) and (1, 2) carry p = 0.3 + 0.09 = 0.39 of the policy's mass (the repeated
    trial counted once): the repeat (0, 0) is proposed only when all G draws repeat and the first is (0, 0), with
    probability 0.3 p^(G-1); the new (2, 2) with 0.06 (1 + p + ... + p^(G-1))."""
    probs = _rule_probabilities(group_size, HISTORY, VALID)
    p = 0.39
    assert float(probs[0]) == pytest.approx(0.3 * p ** (group_size - 1), rel=1e-5)  # CONFIGS[0] = (0, 0)
    assert float(probs[8]) == pytest.approx(0.06 * sum(p ** k for k in range(group_size)), rel=1e-5)  # (2, 2)


def test_an_empty_history_is_one_draw_and_its_gradient_is_finite():
    logits = PROBS.log().clone().requires_grad_(True)
    logp = torch.log_softmax(logits, -1)
    empty = torch.zeros(1, 4, 3, dtype=torch.long)
    lp = first_new_log_prob(logp, F, CONFIGS[5][None], empty, torch.zeros(1, 4, dtype=torch.bool), 8)
    torch.testing.assert_close(lp, log_prob(logp, CONFIGS[5][None], F))
    lp.sum().backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


@pytest.fixture(scope="module")
def trajectory_rollout():
    torch.manual_seed(0)
    policy = GRPOformerPolicy(PolicyConfig())
    tables = [load_hpobench_nn(t) for t in ("kc1", "credit_g")]
    cfg = LearnerConfig(group_mode="trajectory", episodes=2, horizon=6)
    ro = collect(policy, tables, cfg, np.random.default_rng(1), torch.Generator().manual_seed(1))
    return policy, cfg, ro


def test_trajectory_episodes_play_the_agents_rule_and_record_its_probability(trajectory_rollout):
    """Every continued configuration is new to its history (a new one is always among the 8 draws here), and the
    rollout's old log-probability (taken at each step, from that step's batch) is the rule's, recomputed here from the
    whole rollout's states: equal up to float32 rounding, so the first epoch's ratio is 1."""
    policy, cfg, ro = trajectory_rollout
    assert ro.first_new_group == cfg.group_size and ro.actions.shape[1] == 1
    f = featurize_states(ro.states)
    hb, distinct = distinct_history_bins(ro.states, f.n_bins.numpy())
    picked = ro.actions[:, 0]
    assert not ((picked[:, None, :] == torch.as_tensor(hb)).all(-1) & torch.as_tensor(distinct)).any()
    with torch.no_grad():
        again = first_new_log_prob(policy(f), f, picked, torch.as_tensor(hb), torch.as_tensor(distinct), cfg.group_size)
        single = log_prob(policy(f), picked, f)
    torch.testing.assert_close(ro.old_logp[:, 0], again)
    has_history = torch.as_tensor(distinct.any(1))
    assert (again[has_history] > single[has_history]).all()  # log(1 + p + ...) > 0 once there is a past trial


def test_the_update_credits_the_rule_column_through_the_rules_probability(trajectory_rollout, monkeypatch):
    """Every loss call of a trajectory update gets the minibatch's past trials, and its first call (the behaviour
    policy, before any step) recomputes exactly the old log-probabilities the rollout recorded: ratio 1."""
    import agents.grpoformer.learner as learner

    _, cfg, ro = trajectory_rollout
    torch.manual_seed(0)
    policy = GRPOformerPolicy(PolicyConfig())  # the rollout's policy (the fixture's weights, before its update)
    calls = []
    original = learner.grpo_pcr_loss

    def recording(policy_, f, actions, old_logp, adv, cfg_, *rest):
        first_new_arg = rest[-1]
        if not calls:
            hist, distinct, g = first_new_arg
            with torch.no_grad():
                again = first_new_log_prob(policy_(f), f, actions[:, -1], hist, distinct, g)
            torch.testing.assert_close(again, old_logp[:, -1])
        calls.append(first_new_arg)
        return original(policy_, f, actions, old_logp, adv, cfg_, *rest)

    monkeypatch.setattr(learner, "grpo_pcr_loss", recording)
    fresh = collect(policy, [load_hpobench_nn("kc1")], cfg, np.random.default_rng(2), torch.Generator().manual_seed(2))
    update(policy, torch.optim.Adam(policy.parameters(), lr=cfg.lr), fresh, StateBuffer(cfg.buffer_states), cfg,
           np.random.default_rng(0))
    assert len(calls) >= cfg.epochs and all(c is not None and c[2] == cfg.group_size for c in calls)
    assert all(c[1].any() for c in calls)  # minibatches hold states with past trials


def test_a_trajectory_update_trains_and_the_autoregressive_head_is_refused(trajectory_rollout):
    policy, cfg, ro = trajectory_rollout
    policy = copy.deepcopy(policy)  # the fixture's policy played the rollout; other tests recompute with it
    before = [p.detach().clone() for p in policy.parameters()]
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    stats = update(policy, opt, ro, StateBuffer(cfg.buffer_states), cfg, np.random.default_rng(0))
    assert np.isfinite(stats["policy_loss"]) and any((a != b).any() for a, b in zip(before, policy.parameters()))
    ar = GRPOformerPolicy(PolicyConfig(autoregressive=True))
    with pytest.raises(ValueError, match="factorized head"):
        collect(ar, [load_hpobench_nn("kc1")], cfg, np.random.default_rng(0), torch.Generator())
    with pytest.raises(ValueError, match="factorized head"):
        TrainConfig(learner=LearnerConfig(group_mode="both"), policy=PolicyConfig(autoregressive=True)).validate()
