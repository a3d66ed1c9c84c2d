"""``portfolio+tpe``: the portfolio's first k entries warm-start a real Optuna TPE run, inside the budget."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from agents.portfolio import DEFAULT_WARM_START, PortfolioTPEAgent
from agents.registry import make_agent
from hpo_gym.suites import HPOBENCH_NN_TASKS
from tests.transfer.helpers import reversed_copy, run_episode

HELD_OUT = list(HPOBENCH_NN_TASKS)[0]  # the task conftest's train_tables leave out


@pytest.mark.parametrize("spec,k,budget", [("portfolio+tpe", DEFAULT_WARM_START, 25), ("portfolio+tpe:4", 4, 12),
                                           ("portfolio+tpe:8", 8, 5)])
def test_warm_start_trials_count_in_the_budget(tables, train_tables, spec, k, budget):
    agent = make_agent(spec)
    assert agent.k == k
    agent.fit(train_tables, seed=0)
    held_out = tables[HELD_OUT]
    infos = run_episode(agent, held_out, budget=budget, seed=3)
    assert len(infos) == budget  # exactly B evaluations on the test task, warm start included
    n_warm = min(k, budget)
    assert [i["config"] for i in infos[:n_warm]] == agent.portfolio.configs(held_out, n_warm)
    trials = agent.tpe.study.trials
    assert len(trials) == budget
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    # the warm-start trials are in TPE's study with the scores the env reported
    np.testing.assert_allclose([t.value for t in trials], [i["score"] for i in infos])
    assert [t.user_attrs["evaluated_config"] for t in trials[:n_warm]] == [i["config"] for i in infos[:n_warm]]


def test_tpe_takes_over_after_the_warm_start(tables, train_tables):
    agent = make_agent("portfolio+tpe:5")
    agent.fit(train_tables)
    budget = 20
    runs = [run_episode(agent, tables[HELD_OUT], budget=budget, seed=s) for s in (0, 0, 1)]
    configs = [[i["config"] for i in run] for run in runs]
    assert configs[0] == configs[1]  # seeded: the same run twice
    assert configs[0][:5] == configs[2][:5]  # the portfolio part does not depend on the seed
    assert configs[0][5:] != configs[2][5:]  # TPE's part does
    # TPE proposes beyond the portfolio's next entries (it is not replaying the portfolio)
    assert configs[0][5:] != agent.portfolio.configs(tables[HELD_OUT], budget)[5:]


def test_warm_start_is_built_only_from_training_tables(tables, train_tables):
    agent = make_agent("portfolio+tpe")
    agent.fit(train_tables)
    real = run_episode(agent, tables[HELD_OUT], budget=DEFAULT_WARM_START)
    flipped = run_episode(agent, reversed_copy(tables[HELD_OUT]), budget=DEFAULT_WARM_START)
    assert [i["config"] for i in real] == [i["config"] for i in flipped]
    agent.fit([reversed_copy(train_tables[0]), *train_tables[1:]])
    changed = run_episode(agent, tables[HELD_OUT], budget=DEFAULT_WARM_START)
    assert [i["config"] for i in changed] != [i["config"] for i in real]


def test_k_zero_is_plain_tpe_and_bad_k_is_refused(tables, train_tables):
    tpe = run_episode(make_agent("tpe"), tables[HELD_OUT], budget=8, seed=2)
    agent = PortfolioTPEAgent(k=0)
    agent.fit(train_tables)
    assert [i["config"] for i in run_episode(agent, tables[HELD_OUT], budget=8, seed=2)] == [i["config"] for i in tpe]
    with pytest.raises(ValueError, match="portfolio\\+tpe:10"):
        make_agent("portfolio+tpe:ten")
    for bad in ("-1", " 5", "+7", "1_0", "5.0"):  # int() took ' 5', '+7' and '1_0'
        with pytest.raises(ValueError, match=r"'portfolio\+tpe:10' \(k >= 0\); got"):
            make_agent(f"portfolio+tpe:{bad}")
    for bad_k in (2.5, True, "3", -1):  # from Python: 2.5 was cut to 2 and True read as 1 (found in review)
        with pytest.raises(ValueError, match=r"needs a whole number k >= 0 of warm-start entries, got"):
            PortfolioTPEAgent(bad_k)
    for spec in ("tpe:", "portfolio+tpe:"):  # read as having no argument
        with pytest.raises(ValueError, match="ends in ':' with no argument"):
            make_agent(spec)
    with pytest.raises(RuntimeError, match="not fitted"):
        make_agent("portfolio+tpe").reset(tables[HELD_OUT].space, 0, 10)
