"""GRPO's groups: per-step (default), whole trajectories, or both (``LearnerConfig.group_mode``).

Real tables (kc1, credit_g) and the real untrained policy. What must hold: the three modes cost the same evaluations
per update (so a comparison at equal updates is one at equal evaluations), ``"both"`` adds each episode's trajectory
advantage to exactly the candidates the episode continued with, and the default step path is untouched.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.grpoformer.learner import (
    LearnerConfig,
    collect,
    distinct_history_bins,
    episode_returns,
    featurize_states,
    first_new_log_prob,
    group_advantages,
    trajectory_advantages,
)
from agents.grpoformer.policy import GRPOformerPolicy, PolicyConfig
from agents.grpoformer.train import TrainConfig, recipe_tag
from hpo_gym.suites import load_hpobench_nn
from tests.grpoformer.conftest import tiny_training_run


@pytest.fixture(scope="module")
def tables():
    return [load_hpobench_nn(t) for t in ("kc1", "credit_g")]


def untrained_policy() -> GRPOformerPolicy:
    """The untrained policy :func:`_collect` rolls out (seeded: the same weights at every call)."""
    torch.manual_seed(0)
    return GRPOformerPolicy(PolicyConfig())


def _collect(tables, seed=3, **cfg):
    return collect(untrained_policy(), tables, LearnerConfig(**cfg), np.random.default_rng(seed),
                   torch.Generator().manual_seed(seed))


def test_episode_returns_and_trajectory_advantages_on_a_hand_case():
    """Two steps, four episodes on two tasks (two each): the return is the mean best-so-far of the trials the episodes
    made (the continued candidates' scores), and each episode is compared only with the other episode on its task."""
    ep = {"chosen_scores": [np.array([0.1, 0.5, 0.2, 0.3]), np.array([0.4, 0.0, 0.6, 0.3])]}
    # best-so-far curves: [0.1, 0.4], [0.5, 0.5], [0.2, 0.6], [0.3, 0.3]
    returns = episode_returns(ep)
    np.testing.assert_allclose(returns, [0.25, 0.5, 0.4, 0.3])
    torch.testing.assert_close(trajectory_advantages(returns, per_task=2), torch.tensor([-1.0, 1.0, 1.0, -1.0]))
    torch.testing.assert_close(trajectory_advantages(returns, per_task=2, std_normalize=False),
                               torch.tensor([-0.125, 0.125, 0.05, -0.05]))


def test_every_mode_costs_the_same_evaluations_per_update(tables):
    """episodes x horizon x G evaluations per update in all three modes; a trajectory rollout has one action per
    state and G episodes per task."""
    cost = {}
    for mode in ("step", "trajectory", "both"):
        both = {"trajectory_group": 2} if mode == "both" else {}
        ro = _collect(tables, episodes=4, horizon=5, group_size=4, group_mode=mode, **both)
        cost[mode] = ro.evaluations
        assert ro.actions.shape[1] == {"step": 4, "trajectory": 1, "both": 5}[mode]  # "both": + the continued one
        assert len(ro.final_regret) == (16 if mode == "trajectory" else 4)
    assert cost == {"step": 80, "trajectory": 80, "both": 80}


def test_both_credits_the_continued_candidate_in_a_column_of_its_own(tables):
    """The step columns are GRPO's per-group advantages of the same rewards, as in step mode; "both" adds one column:
    the candidate each episode continued with (one of the step candidates, the first-new rule's pick), with its
    episode's trajectory advantage (the same at every step of that episode; episodes on one task sum to zero) and
    the rule's probability as its old log-probability."""
    episodes, horizon, G = 4, 6, 8
    ro = _collect(tables, episodes=episodes, horizon=horizon, group_mode="both", trajectory_group=2)
    assert ro.first_new_group == G and ro.actions.shape[1] == G + 1
    torch.testing.assert_close(ro.advantages[:, :G], group_advantages(ro.rewards))
    picked = ro.actions[:, G]
    assert (picked[:, None, :] == ro.actions[:, :G]).all(-1).any(-1).all()  # one of the state's own candidates
    per_step = ro.advantages[:, G].numpy().reshape(horizon, episodes)
    np.testing.assert_allclose(per_step, np.broadcast_to(per_step[0], per_step.shape), atol=1e-6)
    np.testing.assert_allclose(per_step[0].reshape(-1, 2).sum(1), 0.0, atol=1e-5)
    assert np.abs(per_step[0]).max() > 0.5  # unit-scale trajectory advantages, not a no-op
    # the pick's log pi is its step column's; its old log-probability is the rule's, recomputed here from the states,
    # which equals the one-draw log pi on the empty history (p = 0) and exceeds it after
    column = (ro.actions[:, :G] == picked[:, None]).all(-1).float().argmax(1)
    single_draw = ro.old_logp[torch.arange(len(picked)), column]
    f = featurize_states(ro.states)
    hb, distinct = distinct_history_bins(ro.states, f.n_bins.numpy())
    with torch.no_grad():
        rule = first_new_log_prob(untrained_policy()(f), f, picked, torch.as_tensor(hb), torch.as_tensor(distinct), G)
    torch.testing.assert_close(ro.old_logp[:, G], rule)
    torch.testing.assert_close(rule[:episodes], single_draw[:episodes])
    assert (rule[episodes:] > single_draw[episodes:]).all()
    assert torch.isfinite(ro.old_logp).all()


def test_the_new_setting_leaves_the_shipped_recipes_key_alone():
    """Fold checkpoints are cached under the recipe's tag: the default (step groups) must keep the empty tag of the
    shipped checkpoints, and a "both" run must get its own."""
    assert LearnerConfig().group_mode == "step" and recipe_tag(TrainConfig()) == ""
    assert recipe_tag(TrainConfig(learner=LearnerConfig(group_mode="both"))) == "group_mode=both"


def test_cli_flags_reach_the_saved_config(tmp_path):
    learner = tiny_training_run(tmp_path / "both", "--group-mode", "both", "--trajectory-group", "2")[1]["train_config"]["learner"]
    assert (learner["group_mode"], learner["trajectory_group"]) == ("both", 2)
