"""The lookahead reward: a candidate is credited with the best-so-far it leads to within N more policy steps.

Real tables (kc1, credit_g), the real untrained policy; the one-step default must stay exactly as it was.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.grpoformer import learner
from agents.grpoformer.learner import LearnerConfig, collect, run_episodes
from agents.grpoformer.policy import MAX_DIMS, GRPOformerPolicy, PolicyConfig
from agents.grpoformer.train import TrainConfig, recipe_tag
from hpo_gym.cli import main
from hpo_gym.episode import History
from hpo_gym.suites import load_hpobench_nn
from tests.grpoformer.conftest import tiny_training_run


@pytest.fixture(scope="module")
def tables():
    return [load_hpobench_nn(t) for t in ("kc1", "credit_g")]


def _policy() -> GRPOformerPolicy:
    torch.manual_seed(0)
    return GRPOformerPolicy(PolicyConfig())


def test_repeated_history_copies_each_episode_in_a_row_and_leaves_the_original_alone(tables):
    hist = History(2, 5, MAX_DIMS)
    for i, obj in enumerate(tables):
        hist.reset(i, obj.space)
        hist.record(i, np.full(len(obj.space), 0.25 * (i + 1), np.float32), 0.5 + i)
    branch = hist.repeated(3)
    assert branch.x.shape == (6, 5, MAX_DIMS) and list(branch.step) == [1] * 6
    assert list(branch.best) == [0.5, 0.5, 0.5, 1.5, 1.5, 1.5]
    for key, rows in hist.descriptor.items():  # episode i's search space in rows i*3 .. i*3+2
        assert np.array_equal(branch.descriptor[key], np.repeat(rows, 3, axis=0)) and branch.descriptor[key] is not rows
    branch.record(4, np.ones(len(tables[1].space), np.float32), 9.0)
    assert hist.step[1] == 1 and hist.best[1] == 1.5 and branch.best[3] == 1.5  # copies, not views


def test_lookahead_credits_what_a_candidate_leads_to_and_counts_every_evaluation(tables):
    T, G, h = 10, 4, 3
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    ep = run_episodes(_policy(), tables, T, G, rng, gen, lookahead=h)
    for t in range(T):
        best, own, prev = ep["lookahead_best"][t], ep["scores"][t], ep["prev_best"][t]
        assert best.shape == own.shape == (2, G)
        assert (best >= own).all() and (best >= prev[:, None]).all()
    # the continuations find more than the candidates alone somewhere (an untrained policy on real tables)
    assert any((ep["lookahead_best"][t] > np.maximum(ep["scores"][t], ep["prev_best"][t][:, None])).any() for t in range(T))
    continuation = sum(2 * G * min(h, T - t - 1) for t in range(T))  # one evaluation per branch and step, cut at the budget
    assert ep["evaluations"] == T * 2 * G + continuation


def test_lookahead_zero_is_the_one_step_gain(tables, monkeypatch):
    episodes = []

    def recording_run_episodes(*args, **kwargs):
        ep = run_episodes(*args, **kwargs)
        episodes.append(ep)
        return ep

    monkeypatch.setattr(learner, "run_episodes", recording_run_episodes)
    cfg = LearnerConfig(horizon=8, episodes=2, group_size=4)
    ro = collect(_policy(), tables, cfg, np.random.default_rng(1), torch.Generator().manual_seed(1))
    assert ro.evaluations == 8 * 2 * 4
    (ep,) = episodes
    assert "lookahead_best" not in ep
    # the episode record is consistent: each step's previous best is the best of the trials recorded before it
    best = np.full(2, -np.inf)
    for t in range(8):
        np.testing.assert_array_equal(ep["prev_best"][t], best)
        best = np.maximum(best, ep["scores"][t][np.arange(2), ep["chosen"][t]])
    # the reward of each candidate is its one-step gain over the best-so-far, max(s - prev_best, 0);
    # before any trial (prev_best = -inf) the candidate's score
    expected = []
    for scores, prev in zip(ep["scores"], ep["prev_best"]):
        gain = np.maximum(scores - prev[:, None], 0.0)
        expected.append(np.where(np.isfinite(prev)[:, None], gain, scores))
    expected = np.concatenate(expected)  # step-major, like the rollout's states
    assert ro.rewards.shape == expected.shape == (8 * 2, 4)
    np.testing.assert_allclose(ro.rewards, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ro.rewards[:2], np.concatenate(ep["scores"][:1]))  # the first step: the scores
    assert (ro.rewards[2:] == 0).any() and (ro.rewards[2:] > 0).any()  # later: gains, not raw scores
    assert not np.allclose(ro.rewards, np.concatenate(ep["scores"]))
    monkeypatch.undo()
    ro3 = collect(_policy(), tables, LearnerConfig(horizon=8, episodes=2, group_size=4, lookahead=3),
                  np.random.default_rng(1), torch.Generator().manual_seed(1))
    assert ro3.evaluations > ro.evaluations and ro3.rewards.shape == ro.rewards.shape
    assert (ro3.rewards >= 0).all() and (ro3.rewards > 0).mean() >= (ro.rewards > 0).mean()


def test_cli_lookahead_reaches_the_saved_config_and_its_recipe_tag(tmp_path, capsys):
    extra = tiny_training_run(tmp_path / "la", "--lookahead", "2")[1]
    assert extra["train_config"]["learner"]["lookahead"] == 2
    assert recipe_tag(TrainConfig(learner=LearnerConfig(lookahead=2))) == "lookahead=2"
    assert main(["train-grpoformer", "--holdout", "credit_g", "--out", str(tmp_path / "bad"), "--lookahead", "2",
                 "--reward", "score"]) == 2
    assert "--lookahead 2: needs a whole number >= 0" in capsys.readouterr().err
