"""Training episodes that continue as the default agent does: from SELECT_AFTER trials on, the step group's new
candidate of highest density ratio, not the first new one.

Real tables (kc1, credit_g), the real untrained policy, the agent's own ``choose_candidate``; the default rule must
stay the first-new one, exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.grpoformer.candidate_selection import SELECT_AFTER, SELECT_BANDWIDTH, SELECT_GAMMA, choose_candidate
from agents.grpoformer.learner import LearnerConfig, _advance, collect, first_new, run_episodes
from agents.grpoformer.policy import MAX_DIMS, GRPOformerPolicy, PolicyConfig
from agents.grpoformer.train import TrainConfig, recipe_tag
from hpo_gym.episode import History
from hpo_gym.suites import load_hpobench_nn
from tests.grpoformer.conftest import tiny_training_run

HORIZON, G = 20, 8


@pytest.fixture(scope="module")
def tables():
    return [load_hpobench_nn(t) for t in ("kc1", "credit_g")]


def _episodes(tables, rule: str) -> dict:
    torch.manual_seed(0)
    policy = GRPOformerPolicy(PolicyConfig())
    return run_episodes(policy, tables, HORIZON, G, np.random.default_rng(0), torch.Generator().manual_seed(0),
                        continue_rule=rule)


def test_ratio_continuation_picks_the_agents_choice_among_the_scored_group(tables):
    """Step by step through the learner's own ``_advance``: before SELECT_AFTER trials the continued candidate is the
    first new one; from there on it is exactly the one ``choose_candidate`` (the agent's rule and settings) ranks
    highest among the group's evaluated cells, given the history as it stood before the step."""
    torch.manual_seed(0)
    policy, rng, gen = GRPOformerPolicy(PolicyConfig()), np.random.default_rng(0), torch.Generator().manual_seed(0)
    hist = History(len(tables), HORIZON, MAX_DIMS)
    for i, obj in enumerate(tables):
        hist.reset(i, obj.space)
    differs, steps_so_far = 0, [[] for _ in tables]
    for t in range(HORIZON):
        x_before, y_before = hist.x.copy(), hist.y.copy()
        step = _advance(policy, hist, tables, G, rng, gen, "cpu", encodings=True, continue_rule="density-ratio")
        for i, obj in enumerate(tables):
            d = len(obj.space)
            cand = step["actions"][i, :, :d].numpy()
            past_bins = np.array([s["actions"][i, s["chosen"][i], :d].numpy() for s in steps_so_far[i]]).reshape(t, d) \
                if t else np.zeros((0, d), dtype=cand.dtype)
            picked, rule_first = int(step["chosen"][i]), first_new(cand, past_bins)
            if t < SELECT_AFTER:
                assert picked == rule_first
            else:
                new = ~(cand[:, None, :] == past_bins[None, :, :]).all(-1).any(-1)
                expect = choose_candidate(new, step["encodings"][i, :, :d].astype(np.float64),
                                          x_before[i, :t, :d].astype(np.float64), y_before[i, :t].astype(np.float64),
                                          np.zeros(d, bool), SELECT_GAMMA, SELECT_BANDWIDTH)
                assert picked == expect, (obj.name, t)
                differs += picked != rule_first
            steps_so_far[i].append(step)
            assert hist.y[i, t] == np.float32(step["scores"][i, picked])  # the recorded trial is the picked one
    assert differs > 0  # the ratio continued with another candidate than the first new one at least once


def test_first_new_stays_the_default_and_the_recipe_tag_names_the_rule(tables, tmp_path):
    assert LearnerConfig().continue_rule == "first-new"
    ep = _episodes(tables, "first-new")
    for i, obj in enumerate(tables):
        d = len(obj.space)
        continued = [ep["actions"][t][i, int(ep["chosen"][t][i]), :d].numpy() for t in range(HORIZON)]
        for t in range(HORIZON):
            past = np.array(continued[:t]).reshape(t, d)
            assert int(ep["chosen"][t][i]) == first_new(ep["actions"][t][i, :, :d].numpy(), past), (obj.name, t)
    assert recipe_tag(TrainConfig(learner=LearnerConfig(continue_rule="density-ratio"))) == "continue_rule=density-ratio"
    extra = tiny_training_run(tmp_path / "cr", "--continue-rule", "density-ratio", budget=SELECT_AFTER + 3)[1]
    assert extra["train_config"]["learner"]["continue_rule"] == "density-ratio"


def test_collect_with_ratio_continuation_scores_every_candidate(tables):
    cfg = LearnerConfig(horizon=SELECT_AFTER + 4, episodes=2, group_size=4, continue_rule="density-ratio")
    torch.manual_seed(0)
    ro = collect(GRPOformerPolicy(PolicyConfig()), tables, cfg, np.random.default_rng(1), torch.Generator().manual_seed(1))
    assert ro.evaluations == cfg.episodes * cfg.horizon * cfg.group_size
    assert ro.actions.shape[:2] == (cfg.episodes * cfg.horizon, cfg.group_size)
