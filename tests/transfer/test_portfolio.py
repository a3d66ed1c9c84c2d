"""The ``portfolio`` transfer baseline: greedy construction, no duplicates, built only from training tasks."""

from __future__ import annotations

import numpy as np
import pytest

from agents.base import TransferAgent
from agents.portfolio import PortfolioAgent, build_portfolio, greedy_order, normalized_scores
from agents.registry import agent_names, make_agent
from hpo_gym.space import Float, Ordinal, SearchSpace
from hpo_gym.suites import HPOBENCH_NN_TASKS
from hpo_gym.tabular import TabularObjective
from tests.transfer.helpers import reversed_copy, run_episode

HELD_OUT = list(HPOBENCH_NN_TASKS)[0]  # the task conftest's train_tables leave out


def test_greedy_order_on_a_hand_checked_matrix():
    # 3 tasks x 6 cells. Greedy: cell 2 (mean 0.9) first; then cells 0, 1, 3 each lift one task to 1
    # (ties -> lowest index); then every task is at its optimum (saturated) and the rest follow by
    # mean score: cell 5 (0.47) before cell 4 (0.2). A pure mean ordering would start 2, 3, 5, ...
    s = np.array([[1.0, 0.0, 0.9, 0.5, 0.2, 0.5],
                  [0.0, 1.0, 0.9, 0.5, 0.2, 0.5],
                  [0.0, 0.0, 0.9, 1.0, 0.2, 0.4]])
    cells, n_greedy = greedy_order(s)
    assert cells.tolist() == [2, 0, 1, 3, 5, 4]
    assert n_greedy == 4


def test_greedy_order_drops_cells_missing_everywhere_and_treats_missing_as_worst():
    s = np.array([[1.0, np.nan, 0.8, np.nan],
                  [0.0, np.nan, 0.8, 1.0]])
    cells, n_greedy = greedy_order(s)
    assert 1 not in cells.tolist()
    assert cells.tolist() == [2, 0, 3] and n_greedy == 3


def test_portfolio_has_no_duplicates_and_covers_the_grid(train_tables):
    p = build_portfolio(train_tables)
    ref = train_tables[0]
    assert len(np.unique(p.cells)) == len(p.cells) == ref.n_configs
    # the encodings are the cells' grid positions: the table snaps them back to the same cells
    assert np.array_equal(ref.cells_of(p.encodings), p.cells)
    assert len({tuple(sorted(c.items())) for c in p.configs(ref, 200)}) == 200
    assert p.train_tasks == tuple(t.name for t in train_tables)


def test_greedy_prefix_reaches_every_training_optimum(train_tables):
    p = build_portfolio(train_tables)
    s = normalized_scores(train_tables)
    assert len(train_tables) // 2 <= p.n_greedy <= 3 * len(train_tables)
    prefix_best = s[:, p.cells[: p.n_greedy]].max(axis=1)
    np.testing.assert_allclose(prefix_best, 1.0)
    # each greedy entry strictly raised the mean coverage of the training tasks
    coverage = np.maximum.accumulate(s[:, p.cells[: p.n_greedy]], axis=1).mean(axis=0)
    assert (np.diff(coverage) > 0).all()
    # after saturation the entries come by mean normalized score over the training tasks
    tail_mean = s[:, p.cells[p.n_greedy: p.n_greedy + 500]].mean(axis=0)
    assert (np.diff(tail_mean) <= 1e-12).all()


def test_portfolio_ignores_the_held_out_table(tables, train_tables):
    """Changing the held-out table (its ranking reversed) changes nothing the portfolio plays."""
    agent = make_agent("portfolio")
    assert agent.trained_on == ()
    agent.fit(train_tables, seed=0)
    assert agent.trained_on == tuple(t.name for t in train_tables) and HELD_OUT not in agent.trained_on
    before = agent.portfolio.cells.copy()
    real = run_episode(agent, tables[HELD_OUT], budget=20)
    flipped = run_episode(agent, reversed_copy(tables[HELD_OUT]), budget=20)
    assert [i["config"] for i in real] == [i["config"] for i in flipped]
    assert [i["score"] for i in real] != [i["score"] for i in flipped]  # the test task did change
    agent.fit(train_tables, seed=1)
    assert np.array_equal(agent.portfolio.cells, before)


def test_portfolio_changes_when_a_training_table_changes(train_tables):
    base = build_portfolio(train_tables)
    changed = build_portfolio([reversed_copy(train_tables[0]), *train_tables[1:]])
    assert not np.array_equal(base.cells[:10], changed.cells[:10])


def test_episode_plays_the_portfolio_in_order(tables, train_tables):
    agent = make_agent("portfolio")
    assert isinstance(agent, TransferAgent)
    agent.fit(train_tables)
    budget = 30
    infos = run_episode(agent, tables[HELD_OUT], budget=budget)
    assert len(infos) == budget
    held_out = tables[HELD_OUT]
    assert [i["config"] for i in infos] == agent.portfolio.configs(held_out, budget)
    # zero-shot regret on the held-out task equals the portfolio's best normalized score so far
    s = 1.0 - held_out.oracle.normalized_regret(held_out.mean_scores)
    expected = 1.0 - np.maximum.accumulate(s[agent.portfolio.cells[:budget]])
    np.testing.assert_allclose([i["normalized_regret"] for i in infos], expected, atol=1e-12)


def test_registry_knows_the_transfer_agents():
    assert {"portfolio"} <= set(agent_names())
    with pytest.raises(ValueError, match="takes no argument"):
        make_agent("portfolio:3")


def test_clear_errors(tables, train_tables):
    agent = PortfolioAgent()
    with pytest.raises(RuntimeError, match="not fitted"):
        agent.reset(train_tables[0].space, 0, 10)
    with pytest.raises(ValueError, match="at least one training task"):
        agent.fit([])
    other_space = SearchSpace([Ordinal("a", [1, 2, 3]), Ordinal("b", [1, 2])])
    small = TabularObjective("small", other_space, np.arange(6.0))
    with pytest.raises(ValueError, match="share one search space"):
        agent.fit([train_tables[0], small])
    # same names and grid shape, other values: the message named the same space twice (found in review)
    shifted = TabularObjective("shifted", SearchSpace([Ordinal("a", [1, 2, 4]), Ordinal("b", [1, 2])]), np.arange(6.0))
    with pytest.raises(ValueError, match=r"'shifted' differs from 'small': a is .*values=\(1, 2, 4\)\) vs .*values=\(1, 2, 3\)"):
        agent.fit([small, shifted])
    floats = [TabularObjective(n, SearchSpace([Float("x", 0.0, 1.0)]), np.array([0.1, 0.5]), grid_values={"x": g})
              for n, g in (("f1", [0.2, 0.8]), ("f2", [0.2, 0.9]))]
    with pytest.raises(ValueError, match=r"'f1' differs from 'f2': x's grid is \[0.2, 0.8\] vs \[0.2, 0.9\]"):
        agent.fit([floats[1], floats[0]])
    continuous = TabularObjective("cont", SearchSpace([Float("x", 0.0, 1.0)]), np.array([0.1, 0.5]),
                                  grid_values={"x": [0.2, 0.8]})
    agent.fit([small])
    with pytest.raises(ValueError, match="fitted on search space"):
        agent.reset(continuous.space, 0, 2)
    agent.reset(small.space, 0, 7)  # a budget beyond the 6 configurations used to fail the run: it starts over
    proposals = [agent.act({}).tobytes() for _ in range(7)]
    assert len(set(proposals[:6])) == 6 and proposals[6] == proposals[0]

    class NotATable:
        name = "live"
        space = small.space

    with pytest.raises(ValueError, match=r"a portfolio, built from every configuration's score, needs tabular tasks \(TabularObjective\), but these are not tables"):
        agent.fit([small, NotATable()])


def test_kfold_harness_fits_on_training_folds_only(tables):
    """Through the real k-fold harness: reversing credit_g's table leaves what the portfolio plays on
    credit_g's own fold (where it is held out) unchanged, and changes the other folds (where it trains)."""
    from hpo_gym.benchmark import kfold_splits, run_benchmark

    names = list(HPOBENCH_NN_TASKS)
    changed = [reversed_copy(tables[HELD_OUT]) if n == HELD_OUT else tables[n] for n in names]

    def played(task_objectives) -> dict[str, list[str]]:
        df = run_benchmark(["portfolio"], tasks=task_objectives, budget=10, seeds=1, protocol="kfold", folds=4,
                           resolve_agent=make_agent, progress=False)
        assert (df["status"] == "ok").all() and df["heldout"].all()
        return {task: list(g.sort_values("step")["config"]) for task, g in df.groupby("task")}

    before, after = played([tables[n] for n in names]), played(changed)
    own_fold = next(f for f in kfold_splits(names, 4) if HELD_OUT in f)
    for task in names:
        if task in own_fold:
            assert before[task] == after[task], task
    assert any(before[t] != after[t] for t in names if t not in own_fold)


def test_the_saturation_step_leaves_missing_cells_out_of_the_mean_instead_of_scoring_them_zero():
    """After the greedy step (cell 0 is best on both tasks), the rest is ordered by its mean over the tasks where it has
    a value: cell 3 (0.55 on the one task that has it) before cell 2 (mean 0.5); counted as 0 it fell to 0.275."""
    scores = np.array([[1.0, 0.0, 0.6, np.nan], [1.0, 0.0, 0.4, 0.55]])
    cells, n_greedy = greedy_order(scores)
    assert n_greedy == 1 and cells.tolist() == [0, 3, 2, 1]


def test_the_portfolio_acts_in_the_box_dtype_of_a_space_float32_cannot_address():
    """An Int over 10^8 values gets float64 Box actions (float32 decodes it a few units off); the portfolio proposed in
    float32 whatever the space (a mutation that dropped its dtype passed every test)."""
    from hpo_gym.space import Int

    space = SearchSpace([Int("n", 0, 10**8)])
    assert space.action_dtype is np.float64
    grid = {"n": [0, 12_345_677, 99_999_999]}
    tables = [TabularObjective(f"t{k}", space, np.roll([0.1, 0.9, 0.5], k), grid_values=grid) for k in range(2)]
    agent = PortfolioAgent()
    agent.fit(tables)
    infos = run_episode(agent, tables[0], budget=3)
    assert [info["config"]["n"] for info in infos] == [99_999_999, 12_345_677, 0]  # best mean first, then coverage
    agent.reset(space, seed=0, budget=3)
    assert agent.act({}).dtype == np.float64
