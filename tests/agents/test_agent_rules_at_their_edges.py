"""Behaviours of the classic and transfer agents and of the benchmark runner that a hand mutation review found unpinned.

Each test names the behaviour it pins; all of them run the real code on the real embedded HPOBench tables (or small
hand-made score matrices for the portfolio's greedy step), with real Optuna.
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from optuna.trial import TrialState

import agents
import envs_registry  # noqa: F401
from agents.optuna_agents import OptunaAgent
from agents.portfolio import DEFAULT_WARM_START, PortfolioTPEAgent, build_portfolio, greedy_order
from agents.random_search import RandomSearch
from agents.registry import make_agent
from hpo_gym.benchmark import kfold_splits, run_benchmark
from hpo_gym.benchmark import run_episode as harness_episode
from hpo_gym.benchmark.runner import agent_identity
from hpo_gym.space import Ordinal, SearchSpace
from hpo_gym.suites import HPOBENCH_NN_TASKS, load_hpobench_nn
from tests.transfer.helpers import run_episode

TASKS = list(HPOBENCH_NN_TASKS)
HELD_OUT = TASKS[0]


@pytest.fixture(scope="module")
def tables():
    return {name: load_hpobench_nn(name) for name in TASKS}


# -- the portfolio's greedy step ------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [4, 14, 21])
def test_greedy_steps_stop_at_saturation_despite_rounding_and_the_rest_follows_the_mean(seed):
    """The greedy step stops when no cell raises any training task's best (the gain is *zero*), and the rest of the
    grid follows in order of mean score. With a dozen or more tasks, the two means the step compares are summed in
    different orders, so a saturated portfolio shows "gains" of 1e-17; without the tolerance the greedy step went on
    through the whole grid in cell-index order, so a user's portfolio from many training tasks played poor cells early.
    """
    rng = np.random.default_rng(seed)
    n_tasks, n_cells = int(rng.integers(12, 32)), int(rng.integers(15, 30))
    scores = rng.choice(np.round(rng.random(6), 2), size=(n_tasks, n_cells))  # normalized scores on a 0.01 grid
    cells, n_greedy = greedy_order(scores)
    best = np.zeros(n_tasks)
    for cell in cells[:n_greedy]:  # every greedy entry raises some task's best by a real amount
        assert (scores[:, cell] > best + 1e-9).any(), (cell, n_greedy)
        best = np.maximum(best, scores[:, cell])
    assert np.array_equal(best, scores.max(axis=1))  # ... until every task has its optimum
    rest_means = scores[:, cells[n_greedy:]].mean(axis=0)
    assert np.all(np.diff(rest_means) <= 0), "after saturation the cells follow their mean score"
    assert sorted(cells.tolist()) == list(range(n_cells))


# -- portfolio+tpe ---------------------------------------------------------------------------------------------------
def test_portfolio_tpe_reused_for_runs_shorter_than_k_opens_every_run_with_the_portfolio_head(tables):
    """A budget below k plays the portfolio's first ``budget`` entries, in every run of the same agent. The agent
    queued all k entries whatever the budget, and those past the budget were carried into the next run ahead of its
    own warm start, so a user's second run (budget 3, k 8) opened with entries 4-6 of the portfolio instead of 1-3."""
    agent = make_agent("portfolio+tpe:8")
    agent.fit([tables[n] for n in TASKS if n != HELD_OUT])
    held_out = tables[HELD_OUT]
    head = agent.portfolio.configs(held_out, 3)
    for seed in (0, 1, 2):
        infos = run_episode(agent, held_out, budget=3, seed=seed)
        assert [i["config"] for i in infos] == head, seed


def test_a_portfolio_refuses_a_task_whose_grid_differs_under_the_same_names(tables):
    """A portfolio is a list of cells of its training grid, played as their unit-cube encodings: on a task whose
    hyperparameters have the same names but other values (a 4-layer ``depth`` grid, another version of a suite) those
    encodings are other configurations than the ones the portfolio chose. Both portfolio agents must refuse such a task
    at ``reset`` rather than play configurations nobody selected as if they were the transferred ones."""
    train = [tables[n] for n in TASKS if n != HELD_OUT]
    space = tables[HELD_OUT].space
    other = SearchSpace([Ordinal("depth", [1, 2, 3, 4]) if hp.name == "depth" else hp for hp in space])
    assert other.names == space.names and other != space
    for agent in (make_agent("portfolio"), make_agent("portfolio+tpe:3")):
        agent.fit(train)
        agent.reset(space, seed=0, budget=3)  # the grid it was fitted on
        with pytest.raises(ValueError, match="fitted on search space"):
            agent.reset(other, seed=0, budget=3)


# -- the benchmark runner ------------------------------------------------------------------------------------------
def test_kfold_with_only_tasks_fits_on_every_other_folds_task_not_only_the_selected_ones(tables):
    """``only_tasks`` chooses which runs to play; the folds and the training sets still use all ``tasks``. Fitting on
    the selected tasks outside the fold trained the portfolio on nothing (a single selected task), so every run of a
    ``--tasks credit_g --protocol kfold`` benchmark failed, and with more tasks selected a transfer agent was scored
    after fitting on fewer tasks than the benchmark's folds say."""
    objectives = [tables[n] for n in TASKS]
    df = run_benchmark(["portfolio"], tasks=objectives, budget=4, seeds=1, protocol="kfold", folds=2,
                       only_tasks=[HELD_OUT], resolve_agent=make_agent, progress=False)
    assert (df["status"] == "ok").all(), df["error"].iloc[0][-300:]
    assert set(df["task"]) == {HELD_OUT} and df["heldout"].all()
    own_fold = next(f for f in kfold_splits(TASKS, 2) if HELD_OUT in f)
    expected = build_portfolio([tables[n] for n in TASKS if n not in own_fold]).configs(tables[HELD_OUT], 4)
    assert [json.loads(c) for c in df.sort_values("step")["config"]] == expected


def test_the_harness_tells_the_agent_the_runs_budget_at_reset(credit_g):
    """``run_episode`` resets the agent with the run's budget (the Agent protocol's ``reset(space, seed, budget)``):
    agents plan with it (portfolio+tpe cuts its warm start, Optuna queues no more than fits, PPO sets its horizon).
    Handed ``None``, an Optuna agent with more warm-start configurations than the budget left the rest queued as
    WAITING trials in the study of a finished run, and a budget-aware user agent planned for a run of unknown length."""
    class Recorder(RandomSearch):
        given: tuple | None = None

        def reset(self, space, seed=None, budget=None):
            self.given = (seed, budget)
            super().reset(space, seed, budget)

    recorder = Recorder()
    rows, error = harness_episode(recorder, gym.make("HPO-OpenML-v0", task="credit_g", budget=7), seed=5, budget=7)
    assert error is None and len(rows) == 7
    assert recorder.given == (5, 7)

    warm = credit_g.space.sample(np.random.default_rng(0), 6)
    agent = OptunaAgent("tpe", initial_configs=warm)
    rows, error = harness_episode(agent, gym.make("HPO-OpenML-v0", task="credit_g", budget=3), seed=0, budget=3)
    assert error is None and len(rows) == 3
    assert [t.state for t in agent.study.trials] == [TrialState.COMPLETE] * 3  # nothing left queued past the budget


def test_reset_starts_a_fresh_run_after_a_run_left_with_a_proposal_unobserved(credit_g):
    """``reset`` starts a new run whatever state the last one ended in. A run can end between ``act`` and ``observe``
    (the env raised on the step, a user's loop broke out, Ctrl-C in a notebook); the pending trial of the old study
    must not survive the reset, or every later ``act`` of the reused agent raises "act called twice"."""
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=3)
    agent = OptunaAgent("tpe")
    obs, _ = env.reset(seed=0)
    agent.reset(env.unwrapped.space, seed=0, budget=3)
    agent.act(obs)  # the run ends here, its proposal never evaluated
    obs, _ = env.reset(seed=1)
    agent.reset(env.unwrapped.space, seed=1, budget=3)
    for _ in range(3):
        action = agent.act(obs)
        obs, reward, _, _, info = env.step(action)
        agent.observe(action, reward, info)
    assert len(agent.study.trials) == 3 and all(t.state.name == "COMPLETE" for t in agent.study.trials)


def test_portfolio_tpe_is_named_by_the_spec_that_builds_it():
    """An agent's ``name`` is the spec that rebuilds it: ``portfolio+tpe`` (the default k) and ``portfolio+tpe:K``.
    The name is part of the agent's identity recorded in a result directory (``runner.agent_identity``), so a default
    agent renamed ``portfolio+tpe:10`` would make every directory written before refuse to resume as another agent,
    and two names for one agent would split its rows in a user's own tables."""
    assert make_agent("portfolio+tpe").name == "portfolio+tpe" == PortfolioTPEAgent().name
    assert make_agent(f"portfolio+tpe:{DEFAULT_WARM_START}").name == "portfolio+tpe"
    assert make_agent("portfolio+tpe:4").name == "portfolio+tpe:4" == PortfolioTPEAgent(4).name
    assert agent_identity(make_agent("portfolio+tpe")).endswith("PortfolioTPEAgent portfolio+tpe")


def test_the_packages_own_agent_modules_are_not_taken_for_a_users_module(monkeypatch):
    """``NAME:FACTORY`` whose NAME is also a built-in agent goes to the built-in, and the error says so only when a
    module of the *user's* is importable under that name. With the package's own ``agents/`` folder on the import path
    (running from inside it), ``portfolio`` resolves to ``agents/portfolio.py``, which is ours: telling the user that
    "a module 'portfolio' of yours" is shadowed sends them to rename a file they never wrote."""
    monkeypatch.syspath_prepend(str(Path(agents.__file__).resolve().parent))
    with pytest.raises(ValueError, match="takes no argument") as refused:
        make_agent("portfolio:MyAgent")
    assert "of yours" not in str(refused.value)


def test_training_tasks_recorded_as_an_array_or_an_index_are_read_as_names():
    """``trained_on`` set to ``np.unique(names)`` or a pandas Index: ``if not value`` raised NumPy's "truth value of an
    array is ambiguous" after the fold's fit, stopping a k-fold benchmark with a traceback that named no agent."""
    import pandas as pd

    from hpo_gym.benchmark.runner import trained_on

    class ArrayTrained(RandomSearch):
        def __init__(self):
            super().__init__("array-trained")
            self.trained_on = np.array([], dtype=str)

        def fit(self, train_objectives, seed=0):
            self.trained_on = np.unique([o.name for o in train_objectives])

    for value, names in ((np.array(["kc1", "car"]), {"kc1", "car"}), (pd.Index(["kc1"]), {"kc1"}),
                         (np.array([], dtype=str), set()), ("", set()), ("kc1", {"kc1"})):
        agent = RandomSearch()
        agent.trained_on = value
        assert trained_on(agent) == frozenset(names), value
    df = run_benchmark({"a": ArrayTrained}, tasks=["credit_g", "car", "kc1", "vehicle"], budget=2, seeds=1,
                       protocol="kfold", folds=2, progress=False)
    assert (df["status"] == "ok").all() and df["heldout"].all()


@pytest.mark.parametrize("spec", ["agents:MyAgent", "agents.mine:MyAgent"])
def test_a_users_module_named_agents_is_told_that_hpo_gyms_own_package_shadows_it(spec, tmp_path, monkeypatch):
    """A user's agents.py (or agents/ folder) is never imported: hpo-gym's own ``agents`` package is. The errors said
    only that 'agents' has no MyAgent, or that the agent is unknown (found by a new user); they now name the clash."""
    (tmp_path / "agents.py").write_text("class MyAgent:\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="'agents' is hpo-gym's own package.*rename it \\(e.g. my_agents.py"):
        make_agent(spec)
