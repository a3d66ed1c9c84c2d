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
from agents.grpoformer.learner import LearnerConfig, _advance, collect, continue_by_ratio, first_new, run_episodes
from agents.grpoformer.policy import MAX_DIMS, GRPOformerPolicy, PolicyConfig
from agents.grpoformer.train import TrainConfig, recipe_tag
from hpo_gym.episode import History
from hpo_gym.space import Categorical, Ordinal, SearchSpace
from hpo_gym.suites import load_hpobench_nn
from hpo_gym.tabular import TabularObjective
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


def _three_by_five() -> TabularObjective:
    """15 cells: a categorical dimension of 3 (codes 1/6, 1/2, 5/6, none exact in float32) x an ordinal of 5."""
    space = SearchSpace([Categorical("c", ["a", "b", "c"]), Ordinal("k", [0, 1, 2, 3, 4])])
    return TabularObjective("three-by-five", space, np.linspace(0.0, 1.0, 15))


def test_ratio_continuation_matches_its_own_category_and_never_replays_an_evaluated_cell():
    """On a categorical dimension a candidate of the best trial's category matches it (float64 codes against the
    history's float32 ones mismatched every category, so the ratio preferred another); a candidate whose cell was
    already evaluated is never continued with, however high the ratio ranks it (new bins can land on a past cell)."""
    obj = _three_by_five()
    cell = {(c, k): i for i, (c, k) in enumerate((c, k) for c in "abc" for k in range(5))}
    assert [tuple(obj.space.decode(obj.cell_encoding(i)).values()) for i in (cell["a", 0], cell["c", 4])] == \
        [("a", 0), ("c", 4)]
    hist = History(1, 20, MAX_DIMS)
    hist.reset(0, obj.space)
    trials = [("a", 0, 1.0)] + [(c, k, 0.1 * j) for j, (c, k) in enumerate(
        [("b", 2), ("c", 2), ("b", 3), ("c", 3), ("b", 1), ("c", 1), ("a", 4), ("b", 4), ("c", 4)])]
    for c, k, score in trials:
        hist.record(0, obj.cell_encoding(cell[c, k]), score)
    assert hist.step[0] == SELECT_AFTER
    # other_category is of category c (code 5/6, inexact like a's 1/6, so a float32/float64 mix mismatches both); replay
    # is the best trial's own cell
    near_best, other_category, replay = cell["a", 1], cell["c", 0], cell["a", 0]
    assert continue_by_ratio(hist, 0, obj, np.array([other_category, near_best]), first_new_pick=0) == 1
    assert continue_by_ratio(hist, 0, obj, np.array([replay, other_category]), first_new_pick=0) == 1
    assert continue_by_ratio(hist, 0, obj, np.array([replay, replay]), first_new_pick=1) == 1  # none new: the rule's pick


def test_collect_continues_by_the_rule_it_is_configured_with(tables):
    """The option must reach the rollouts: the same seeds give the same first SELECT_AFTER steps under both rules and
    other histories after them."""
    rollouts = {}
    for rule in ("first-new", "density-ratio"):
        cfg = LearnerConfig(horizon=SELECT_AFTER + 6, episodes=2, group_size=4, continue_rule=rule)
        torch.manual_seed(0)
        rollouts[rule] = collect(GRPOformerPolicy(PolicyConfig()), tables, cfg, np.random.default_rng(1),
                                 torch.Generator().manual_seed(1))
    x = {rule: ro.states["x"].reshape(SELECT_AFTER + 6, 2, *ro.states["x"].shape[1:]) for rule, ro in rollouts.items()}
    assert np.array_equal(x["first-new"][:SELECT_AFTER + 1], x["density-ratio"][:SELECT_AFTER + 1])
    assert not np.array_equal(x["first-new"], x["density-ratio"])


def test_a_state_saved_before_the_option_existed_resumes_only_under_the_rule_it_was_trained_with(tmp_path):
    """A setting the saved state lacks counts as its default: the first-new rule that such a run was trained with.
    Before, a run saved without ``continue_rule`` resumed under the density-ratio rule and then claimed that recipe."""
    import dataclasses

    import torch as th

    from agents.grpoformer.train import train

    cfg = TrainConfig(updates=1, synthetic=0, eval_every=10**6, ckpt_every=1)
    cfg = dataclasses.replace(cfg, learner=dataclasses.replace(cfg.learner, episodes=2, horizon=5))
    tables = [load_hpobench_nn("kc1")]
    train(tables, tmp_path, cfg, progress=False)
    state = th.load(tmp_path / "state.pt", weights_only=False)
    del state["policy"]["extra"]["train_config"]["learner"]["continue_rule"]  # as the code before the option saved it
    th.save(state, tmp_path / "state.pt")
    later = dataclasses.replace(cfg, updates=2, learner=dataclasses.replace(cfg.learner, continue_rule="density-ratio"))
    with pytest.raises(ValueError, match=r"other settings \(learner.continue_rule: 'first-new' -> 'density-ratio'\)"):
        train(tables, tmp_path, later, resume=True, progress=False)
    train(tables, tmp_path, dataclasses.replace(cfg, updates=2), resume=True, progress=False)  # the same rule: resumes
