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
from tests.grpoformer.conftest import played_actions

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
    """Category 2 is the best trial's. As numbers, code 1 sits next to it and code 8 next to the bad trial 9; as
    categories, neither 1 nor 8 is any past trial's, so both score the same, below 2."""
    categorical = np.array([True])
    x = np.array([[2.0], [0.0], [9.0], [5.0]])
    y = np.array([1.0, 0.0, 0.0, 0.0])
    candidates = np.array([[1.0], [2.0], [8.0]])
    s = density_ratio(candidates, x, y, categorical, gamma=0.25, bandwidth=0.1)
    assert s[1] > s[0] and s[0] == pytest.approx(s[2])
    as_numbers = density_ratio(candidates, x, y, np.array([False]), gamma=0.25, bandwidth=0.1)
    assert as_numbers[0] > as_numbers[2] + 100  # what the categorical rule must not do


def test_only_new_candidates_are_chosen():
    x, y = np.array([[0.2, 0.2], [0.8, 0.8], [0.5, 0.5]]), np.array([1.0, 0.0, 0.0])
    cands = np.array([[0.2, 0.2], [0.8, 0.8], [0.7, 0.7]])
    assert choose_candidate(np.array([False, True, True]), cands, x, y, NUMERIC, 0.3, 0.1) == 2  # best new one
    assert choose_candidate(np.array([False, False, True]), cands, x, y, NUMERIC, 0.3, 0.1) == 2
    assert choose_candidate(np.zeros(3, dtype=bool), cands, x, y, NUMERIC, 0.3, 0.1) == 0
    with pytest.raises(ValueError, match="at least 2 past trials"):
        density_ratio(cands, x[:1], y[:1], NUMERIC, 0.1, 0.1)


@pytest.mark.parametrize("flat", [0.3, -np.inf, np.nan])
def test_a_history_whose_scores_are_all_equal_gets_the_first_new_candidate(flat):
    """Every fit failed (recorded at the worst score) or a flat objective: no order to split by, so no ratio. One
    different score is enough for the ratio to act again."""
    x = np.array([[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]])
    cands = np.array([[0.9, 0.9], [0.5, 0.5], [0.1, 0.1]])
    y = np.full(3, flat)
    # a split by trial order would call trial 0 (at 0.1) good and pick candidate 2, which sits on it
    assert choose_candidate(np.array([False, True, True]), cands, x, y, NUMERIC, 0.3, 0.1) == 1
    y[2] = 1.0  # the trial at 0.9 is best now: the ratio picks the candidate there
    assert choose_candidate(np.ones(3, dtype=bool), cands, x, y, NUMERIC, 0.3, 0.1) == 0


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
                                             ({"select_bandwidth": 1e-170}, "kernels underflow"),
                                             ({"select_after": 1}, "select_after must be an integer >= 2")])
def test_bad_selection_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GRPOformerAgent(**kwargs)


def test_a_choice_without_past_trials_is_named():
    """A direct call with an empty history raised a bare IndexError (the agent calls it only from select_after >= 2)."""
    with pytest.raises(ValueError, match="choose_candidate needs at least one past trial"):
        choose_candidate(np.array([True, True]), np.zeros((2, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(3, bool),
                         0.1, 0.05)


def _recording(monkeypatch) -> list[dict]:
    """Record every call of the agent's ``choose_candidate`` (its arguments and its answer)."""
    import agents.grpoformer.agent as agent_module

    calls: list[dict] = []
    real = agent_module.choose_candidate

    def record(new, candidates, past, y, categorical, gamma, bandwidth):
        index = real(new, candidates, past, y, categorical, gamma, bandwidth)
        calls.append({"new": new.copy(), "candidates": candidates.copy(), "past": past.copy(), "y": y.copy(),
                      "categorical": categorical.copy(), "gamma": gamma, "bandwidth": bandwidth, "index": index})
        return index

    monkeypatch.setattr(agent_module, "choose_candidate", record)
    return calls


@needs_ckpt
def test_the_agent_proposes_the_new_candidate_of_highest_ratio_from_its_own_history(monkeypatch):
    """What the agent hands to the choice is the run's history as the env stored it (configurations and scores), the
    candidates at their bins' centres, and it proposes exactly the chosen candidate (kc1: every dimension a grid)."""
    calls = _recording(monkeypatch)
    budget = 20
    env = gym.make("HPO-OpenML-v0", task="kc1", budget=budget)
    obs, _ = env.reset(seed=5)
    agent = GRPOformerAgent()
    agent.reset(env.unwrapped.space, seed=5, budget=budget)
    d = len(env.unwrapped.space)
    for step in range(budget):
        before = len(calls)
        action = agent.act(obs)
        if step < agent.select_after:
            assert len(calls) == before  # the first-new rule until select_after trials are in
        else:
            call = calls[-1]
            filled = obs["mask"].astype(bool)
            np.testing.assert_array_equal(call["past"], obs["x"][filled, :d].astype(np.float64))
            np.testing.assert_array_equal(call["y"], obs["y"][filled].astype(np.float64))
            assert not call["categorical"].any() and (call["gamma"], call["bandwidth"]) == (0.1, 0.05)
            scores = density_ratio(call["candidates"], call["past"], call["y"], call["categorical"], 0.1, 0.05)
            new = np.flatnonzero(call["new"])
            assert call["index"] == new[np.argmax(scores[new])]
            np.testing.assert_array_equal(action, call["candidates"][call["index"]].astype(np.float32))
        obs, *_ = env.step(action)
    assert len(calls) == budget - agent.select_after


@needs_ckpt
def test_categories_reach_the_choice_as_bins_and_both_paths_agree(monkeypatch):
    """On a user table with a categorical dimension the choice compares category bins (integers), not codes; the fast
    and the torch path propose the same configurations under the ratio."""
    import pandas as pd

    from hpo_gym.space import Categorical, Float, SearchSpace
    from hpo_gym.tabular import TabularObjective

    space = SearchSpace([Float("lr", 1e-4, 1e-1, log=True), Categorical("kernel", ["linear", "rbf", "poly"])])
    rng = np.random.default_rng(0)
    df = pd.DataFrame([{"lr": lr, "kernel": k, "acc": 0.5 + 0.3 * np.exp(-np.log10(lr / 1e-2) ** 2)
                        + 0.05 * (k == "rbf") + 0.01 * rng.random()} for lr in np.geomspace(1e-4, 1e-1, 12)
                       for k in ["linear", "rbf", "poly"]])
    table = TabularObjective.from_dataframe(df, "acc", space=space, name="user-svm")
    calls = _recording(monkeypatch)
    runs = []
    for fast in (True, False):
        env = gym.make("HPO-OpenML-v0", objective=table, budget=25)
        runs.append(played_actions(GRPOformerAgent(fast=fast), env, seed=2, budget=25))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert calls and all(c["categorical"].tolist() == [False, True] for c in calls)
    for c in calls:  # the categorical column holds bin indices 0..2, the float column unit-cube codes
        assert set(np.unique(c["past"][:, 1])) <= {0.0, 1.0, 2.0} and set(np.unique(c["candidates"][:, 1])) <= {0, 1, 2}
        assert ((c["past"][:, 0] >= 0) & (c["past"][:, 0] <= 1)).all()  # the grid's ends encode to 0 and 1
        scores = density_ratio(c["candidates"], c["past"], c["y"], c["categorical"], c["gamma"], c["bandwidth"])
        new = np.flatnonzero(c["new"])
        assert c["index"] == new[np.argmax(scores[new])]


@needs_ckpt
def test_on_int_dimensions_no_candidate_that_decodes_to_a_past_trial_reaches_the_choice(monkeypatch):
    """An Int dimension gets 32 continuous bins, so a candidate whose bins are new can still round to a tried value:
    the agent drops those before the ratio ranks (else the ratio's favourite is a repeat that later repairs replace
    with another configuration than the one it ranked)."""
    import pandas as pd

    from hpo_gym.space import Int, SearchSpace
    from hpo_gym.tabular import TabularObjective

    space = SearchSpace([Int("a", 1, 5), Int("b", 0, 3)])
    df = pd.DataFrame([{"a": a, "b": b, "acc": 1.0 - abs(a - 4) / 4 - abs(b - 1) / 8} for a in range(1, 6)
                       for b in range(4)])
    table = TabularObjective.from_dataframe(df, "acc", space=space, name="user-int-grid")
    calls = _recording(monkeypatch)
    dropped = 0
    for seed in range(3):
        env = gym.make("HPO-OpenML-v0", objective=table, budget=18)
        obs, _ = env.reset(seed=seed)
        agent = GRPOformerAgent()
        agent.reset(env.unwrapped.space, seed=seed, budget=18)
        for _ in range(18):
            before = len(calls)
            action = agent.act(obs)
            if len(calls) > before:
                call = calls[-1]
                past = {row.astype(np.float32).tobytes() for row in call["past"]}
                repeats = np.array([agent._exact_code(c).tobytes() in past for c in call["candidates"]])
                assert not (call["new"] & repeats).any()
                dropped += int(repeats.sum())
            obs, *_ = env.step(action)
    assert calls and dropped > 0  # the case arose: candidates that round to a past trial were there to drop


def test_deterministic_mode_keeps_eight_candidates_and_no_ratio_tag():
    """The mode is played in deterministic mode, so the ratio never acts: no 32 draws, nothing in the fingerprint."""
    agent = GRPOformerAgent(deterministic=True)
    assert agent.group_size == 8 and agent.selection_tag == ""
    assert GRPOformerAgent().selection_tag.startswith("+density-ratio(G=32,")


def test_settings_that_differ_beyond_six_digits_do_not_share_a_fingerprint_tag():
    """Stored runs of one setting must not be handed out as another's; the default keeps its short tag."""
    default = GRPOformerAgent().selection_tag
    assert default == "+density-ratio(G=32,gamma=0.1,bandwidth=0.05,after=10)"
    assert GRPOformerAgent(select_bandwidth=0.0500000001).selection_tag != default
    assert GRPOformerAgent(select_gamma=0.1000000001).selection_tag != default


def test_an_agent_pickled_before_the_selection_rule_plays_the_first_new_rule():
    import pickle

    agent = GRPOformerAgent(select="first-new")
    state = agent.__dict__.copy()
    for name in ("select", "select_gamma", "select_bandwidth", "select_after"):
        del state[name]
    old = GRPOformerAgent.__new__(GRPOformerAgent)
    old.__setstate__(state)
    again = pickle.loads(pickle.dumps(old))
    assert (again.select, again.group_size, again.selection_tag) == ("first-new", 8, "")


def test_play_settings_that_differ_from_the_defaults_are_in_the_fingerprint():
    """Found in review: temperature, mode_first, warm_start, deterministic mode and the number of candidates were not
    in the fingerprint, so a label reused with another temperature kept the first one's stored runs. Each non-default
    one is named; the default agents keep the fingerprint their result directories recorded."""
    files = GRPOformerAgent()._files_fingerprint()
    assert GRPOformerAgent().fingerprint == files + GRPOformerAgent().selection_tag
    assert GRPOformerAgent(select="first-new").fingerprint == files
    tags = {kwargs: GRPOformerAgent(**dict(kwargs)).play_tag for kwargs in (
        (("temperature", 0.7),), (("mode_first", 2),), (("warm_start", 5),), (("deterministic", True),),
        (("select", "first-new"), ("group_size", 16)), (("temperature", 0.7), ("mode_first", 2)))}
    assert list(tags.values()) == ["+play(T=0.7)", "+play(mode_first=2)", "+play(warm_start=5)",
                                   "+play(deterministic)", "+play(G=16)", "+play(T=0.7,mode_first=2)"]
    assert GRPOformerAgent(group_size=16).play_tag == ""  # the ratio's own tag names G already
    assert GRPOformerAgent(group_size=16).fingerprint != GRPOformerAgent().fingerprint
