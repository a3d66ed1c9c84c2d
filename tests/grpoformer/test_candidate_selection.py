"""The density-ratio choice among the policy's candidates (``GRPOformerAgent(select="density-ratio")``, the default).

Checked: the ratio against its formula and on hand cases (a candidate among the good trials outranks one among the bad; categories compare by
equality, not by their codes' order); the good/bad split's size; the choice keeps to new candidates and falls back to
the first one when none is new; the agent plays the first-new rule until ``select_after`` trials are in and a
different, never repeated configuration after; the fast path and the torch path propose the same; bad settings are
refused with the fix.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs_registry  # noqa: F401  (registers the env ids)
from agents.grpoformer.agent import SHIPPED_CHECKPOINT, GRPOformerAgent
from agents.grpoformer.candidate_selection import choose_candidate, density_ratio, split_size
from agents.registry import make_agent

needs_ckpt = pytest.mark.skipif(not SHIPPED_CHECKPOINT.exists(), reason="shipped checkpoint not built yet")
NUMERIC = np.zeros(2, dtype=bool)


def test_split_size_follows_gamma_and_keeps_both_groups():
    assert [split_size(n, 0.1) for n in (2, 10, 11, 50)] == [1, 1, 2, 5]
    assert split_size(4, 0.9) == 3  # at least one bad trial


def test_the_ratio_is_that_of_mean_gaussian_kernels_over_good_and_bad_trials():
    x = np.array([[0.2, 0.3], [0.6, 0.9], [0.1, 0.5], [0.7, 0.2]])
    y = np.array([0.5, 0.9, 0.1, 0.3])  # gamma 0.5 of 4: the good trials are rows 1 and 0
    point, bw = np.array([[0.25, 0.35]]), 0.1

    def mean_kernel(rows):
        return np.mean([np.exp(-np.sum((point[0] - x[r]) ** 2) / (2 * bw * bw)) for r in rows])

    expected = np.log(mean_kernel([1, 0])) - np.log(mean_kernel([2, 3]))
    assert density_ratio(point, x, y, NUMERIC, gamma=0.5, bandwidth=bw)[0] == pytest.approx(expected, rel=1e-9)


def test_a_candidate_among_the_good_trials_outranks_one_among_the_bad():
    rng = np.random.default_rng(0)
    good = 0.2 + 0.02 * rng.standard_normal((3, 2))
    bad = 0.8 + 0.02 * rng.standard_normal((27, 2))
    x = np.concatenate([bad, good])
    y = np.concatenate([np.zeros(27), np.ones(3)])  # the good ones last: the split goes by score, not by order
    scores = density_ratio(np.array([[0.8, 0.8], [0.2, 0.2]]), x, y, NUMERIC, gamma=0.1, bandwidth=0.05)
    assert scores[1] > scores[0]
    assert choose_candidate(np.array([True, True]), np.array([[0.8, 0.8], [0.2, 0.2]]), x, y, NUMERIC, 0.1, 0.05) == 1


def test_categories_compare_by_equality_not_by_code():
    """Category 2 is the best trial's; candidate codes 1 and 3 are equally far from it, 2 is nearest."""
    categorical = np.array([True])
    x = np.array([[2.0], [1.0], [3.0], [0.0]])
    y = np.array([1.0, 0.0, 0.0, 0.0])
    s = density_ratio(np.array([[1.0], [2.0], [3.0]]), x, y, categorical, gamma=0.25, bandwidth=0.1)
    assert s[1] > s[0] and s[0] == pytest.approx(s[2])


def test_only_new_candidates_are_chosen():
    x, y = np.array([[0.2, 0.2], [0.8, 0.8], [0.5, 0.5]]), np.array([1.0, 0.0, 0.0])
    cands = np.array([[0.2, 0.2], [0.8, 0.8], [0.7, 0.7]])
    assert choose_candidate(np.array([False, True, True]), cands, x, y, NUMERIC, 0.3, 0.1) == 2  # best new one
    assert choose_candidate(np.array([False, False, True]), cands, x, y, NUMERIC, 0.3, 0.1) == 2
    assert choose_candidate(np.zeros(3, dtype=bool), cands, x, y, NUMERIC, 0.3, 0.1) == 0
    with pytest.raises(ValueError, match="at least 2 past trials"):
        density_ratio(cands, x[:1], y[:1], NUMERIC, 0.1, 0.1)


def _run(agent: GRPOformerAgent, budget: int, seed: int = 2, task: str = "kc1") -> list[int]:
    env = gym.make("HPO-OpenML-v0", task=task, budget=budget)
    obs, _ = env.reset(seed=seed)
    agent.reset(env.unwrapped.space, seed=seed, budget=budget)
    cells = []
    for _ in range(budget):
        action = agent.act(obs)
        cells.append(env.unwrapped.objective.cell_of_vector(action))
        obs, *_ = env.step(action)
    return cells


@needs_ckpt
def test_the_agent_plays_first_new_until_select_after_then_the_ratio():
    budget, after = 30, 10
    ratio = _run(GRPOformerAgent(select_after=after), budget)
    first = _run(GRPOformerAgent(select="first-new", group_size=32), budget)  # the same 32 draws per step
    assert ratio[:after] == first[:after]
    assert ratio[after:] != first[after:]
    assert len(set(ratio)) == budget  # no evaluation wasted on a repeat
    assert _run(GRPOformerAgent(select_after=budget + 1), budget) == first  # never used: the first-new rule's


@needs_ckpt
def test_fast_and_torch_paths_choose_the_same():
    assert _run(GRPOformerAgent(), 25, seed=4) == _run(GRPOformerAgent(fast=False), 25, seed=4)


@needs_ckpt
def test_the_policy_alone_is_registered_and_fingerprinted_apart():
    default, alone = make_agent("grpoformer"), make_agent("grpoformer-policy")
    assert (default.select, default.group_size) == ("density-ratio", 32)
    assert (alone.select, alone.group_size) == ("first-new", 8)
    assert default.fingerprint != alone.fingerprint and default.fingerprint.startswith(alone.fingerprint)


@pytest.mark.parametrize("kwargs, message", [({"select": "best"}, "select must be one of"),
                                             ({"select_gamma": 1.0}, "select_gamma must lie in"),
                                             ({"select_bandwidth": 0.0}, "select_bandwidth must be"),
                                             ({"select_after": 1}, "select_after must be an integer >= 2")])
def test_bad_selection_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GRPOformerAgent(**kwargs)
