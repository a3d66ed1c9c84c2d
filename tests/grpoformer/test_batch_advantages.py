"""Batch-normalized advantages (``advantage_norm="batch"``): group-centred gains in normalized-regret units over one
std of the whole rollout, instead of GRPO's per-group std.

Real tables (kc1, credit_g) and the real untrained policy; the default must stay GRPO's per-group std.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.grpoformer.learner import LearnerConfig, batch_advantages, collect, group_advantages, score_span
from agents.grpoformer.policy import GRPOformerPolicy, PolicyConfig
from agents.grpoformer.train import TrainConfig, recipe_tag
from hpo_gym.suites import load_hpobench_nn
from tests.grpoformer.conftest import tiny_training_run


@pytest.fixture(scope="module")
def tables():
    return [load_hpobench_nn(t) for t in ("kc1", "credit_g")]


def test_hand_case_keeps_the_size_of_each_groups_stake():
    """A group that differs by 1e-3 and one that differs by 0.5 get the same unit advantages under the group std,
    but under the batch std the small group's advantages stay 500 times smaller, and a flat group stays zero."""
    rewards = np.array([[0.0, 1e-3], [0.0, 0.5], [0.2, 0.2]])
    per_group = group_advantages(rewards)
    torch.testing.assert_close(per_group[0], per_group[1], rtol=1e-4, atol=1e-4)
    a = batch_advantages(rewards, np.ones(3))
    assert torch.allclose(a.sum(1), torch.zeros(3), atol=1e-6)  # centred within each group
    assert a[2].abs().max() == 0
    assert a[1, 1] / a[0, 1] == pytest.approx(500, rel=1e-4)
    assert float(a.std(unbiased=False)) == pytest.approx(1.0, rel=1e-4)  # unit spread over the batch


def test_a_batch_of_flat_groups_teaches_nothing_even_at_scores_float32_cannot_hold():
    """In float32 the mean of eight 0.97s is off by an ulp; with every group flat the batch std of those ulps was 0,
    and every action got the same advantage of +-3 to +-12 (found in review). Centred in float64, flat is zero."""
    for value in (0.97, 0.8123, 0.3):
        assert batch_advantages(np.full((4, 8), value), np.ones(4)).abs().max() == 0
    rewards = np.array([[0.81, 0.81 + 1e-4, 0.83], [0.5, 0.5, 0.5]])
    a = batch_advantages(rewards, np.full(2, 0.05))
    r = rewards / 0.05
    expected = (r - r.mean(1, keepdims=True)) / (r - r.mean(1, keepdims=True)).std()
    np.testing.assert_allclose(a.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_span_puts_tasks_in_the_metrics_units(tables):
    """The same raw gain on a task with twice the score span is half the normalized-regret gain."""
    a = batch_advantages(np.array([[0.0, 0.1], [0.0, 0.1]]), np.array([1.0, 2.0]))
    assert float(a[0, 1] / a[1, 1]) == pytest.approx(2.0)
    for obj in tables:
        span = score_span(obj)
        assert span == pytest.approx(obj.oracle.best - obj.oracle.worst) and span > 0
        assert obj.oracle.normalized_regret(obj.oracle.best - span) == pytest.approx(1.0)


def test_collect_uses_each_episodes_own_span(tables):
    """On real rollouts the batch advantages equal ``batch_advantages`` of the rewards with each state's task span,
    and differ from GRPO's per-group ones on the same seeded rollout."""
    cfg = LearnerConfig(episodes=2, horizon=5, advantage_norm="batch")
    runs = {}
    for norm in ("group", "batch"):
        torch.manual_seed(0)
        policy = GRPOformerPolicy(PolicyConfig())
        runs[norm] = collect(policy, tables, LearnerConfig(episodes=2, horizon=5, advantage_norm=norm),
                             np.random.default_rng(3), torch.Generator().manual_seed(3))
    ro = runs["batch"]
    np.testing.assert_array_equal(ro.rewards, runs["group"].rewards)  # same rollout, only the advantages differ
    rng = np.random.default_rng(3)
    objs = [tables[i] for i in rng.choice(len(tables), size=cfg.episodes)]  # collect's own task draw
    span = np.tile([score_span(o) for o in objs], cfg.horizon)
    torch.testing.assert_close(ro.advantages, batch_advantages(ro.rewards, span))
    assert not torch.allclose(ro.advantages, runs["group"].advantages)


def test_cli_flag_reaches_the_saved_config_and_the_recipe_tag(tmp_path):
    meta = tiny_training_run(tmp_path / "batch", "--advantage-norm", "batch")[1]
    assert meta["train_config"]["learner"]["advantage_norm"] == "batch"
    assert recipe_tag(TrainConfig(learner=LearnerConfig(advantage_norm="batch"))) == "advantage_norm=batch"
    assert recipe_tag(TrainConfig()) == ""
