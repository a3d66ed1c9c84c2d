"""Training with an initial design (``LearnerConfig.warm_start``): every episode opens with k portfolio trials.

Real tables (kc1, credit_g, vehicle), the real portfolio and the real untrained policy. The design must be built
without the episode's own table (leave one out), be counted as evaluations, and never become a policy step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from agents.grpoformer.learner import LearnerConfig, collect, run_episodes
from agents.grpoformer.policy import GRPOformerPolicy, PolicyConfig
from agents.grpoformer.synthetic import synthetic_bank
from agents.grpoformer.train import TrainConfig, initial_designs, recipe_tag
from agents.portfolio import build_portfolio
from hpo_gym.suites import load_hpobench_nn
from tests.grpoformer.conftest import tiny_training_run


@pytest.fixture(scope="module")
def tables():
    return [load_hpobench_nn(t) for t in ("kc1", "credit_g", "vehicle")]


def _policy() -> GRPOformerPolicy:
    torch.manual_seed(0)
    return GRPOformerPolicy(PolicyConfig())


def test_each_table_gets_the_portfolio_of_the_others_and_other_spaces_a_random_design(tables):
    design = initial_designs(tables, 4)
    rng = np.random.default_rng(0)
    for t in tables:
        others = build_portfolio([o for o in tables if o is not t])
        np.testing.assert_array_equal(design(t, rng), others.encodings[:4])
    assert not np.array_equal(design(tables[0], rng), build_portfolio(tables).encodings[:4])  # its own table left out
    synthetic = synthetic_bank(1, seed=0)[0]
    random_design = design(synthetic, rng)
    assert random_design.shape == (4, len(synthetic.space)) and ((0 <= random_design) & (random_design < 1)).all()
    with pytest.raises(ValueError, match="at least 2 training tables"):
        initial_designs(tables[:1], 4)


def test_episodes_open_with_the_design_counted_but_not_as_policy_steps(tables):
    """The first k trials of each history are the design's cells with their table scores; the rollout's states and
    candidates are the policy's steps only, and every evaluation (design included) is counted."""
    k, horizon, G = 3, 6, 4
    designs = [build_portfolio([o for o in tables if o is not t]).encodings[:k] for t in tables]
    ep = run_episodes(_policy(), tables, horizon, G, np.random.default_rng(0), torch.Generator().manual_seed(0),
                      designs=designs)
    assert len(ep["states"]) == horizon - k
    assert ep["evaluations"] == len(tables) * (k + (horizon - k) * G)
    first = ep["states"][0]  # the state of the first policy step: the design is its whole history
    for i, (obj, design) in enumerate(zip(tables, designs)):
        cells = obj.cells_of(design)
        assert first["mask"][i].sum() == k
        np.testing.assert_allclose(first["x"][i, :k, :len(obj.space)], obj.cell_encoding(cells))
        np.testing.assert_allclose(first["y"][i, :k], obj.lookup(cells)[0], rtol=1e-6)
    np.testing.assert_allclose(ep["prev_best"][0], [obj.lookup(obj.cells_of(d))[0].max() for obj, d in zip(tables, designs)])


def test_collect_with_warm_start_trains_on_the_policy_steps_only(tables):
    cfg = LearnerConfig(episodes=2, horizon=6, group_size=4, warm_start=2)
    ro = collect(_policy(), tables, cfg, np.random.default_rng(1), torch.Generator().manual_seed(1),
                 initial_design=initial_designs(tables, 2))
    assert len(ro.states["y"]) == ro.actions.shape[0] == ro.advantages.shape[0] == 2 * (6 - 2)
    assert (ro.states["mask"].sum(1) >= 2).all()  # every state already holds the design
    assert ro.evaluations == 2 * (2 + 4 * 4)
    with pytest.raises(ValueError, match="needs an initial_design"):
        collect(_policy(), tables, cfg, np.random.default_rng(1), torch.Generator().manual_seed(1))


def test_cli_flag_trains_with_the_design_and_names_the_recipe(tmp_path):
    out = tmp_path / "ws"
    meta = tiny_training_run(out, "--warm-start", "2", budget=6, eval_every=1)[1]
    assert meta["train_config"]["learner"]["warm_start"] == 2
    assert meta["evaluations"] == 8 * (2 + 4 * 8)  # 8 episodes: the design's 2 trials + 4 policy steps of G = 8
    heldout = [float(r) for r in pd.read_csv(out / "log.csv")["heldout_regret"]]
    assert len(heldout) == 1 and 0 <= heldout[0] < 1  # monitored with the training tables' portfolio as the design
    assert recipe_tag(TrainConfig(learner=LearnerConfig(warm_start=5))) == "warm_start=5"
