"""Transfer baselines: a static greedy portfolio, and the portfolio as a warm start for TPE.

Knowledge from other tasks is worth a lot on a tabular suite: configurations that are good on most
tasks tend to be good on a new one. A learned HPO agent (GRPOformer) only shows that it *learned an
optimization strategy* if it beats these simple meta-learning baselines on held-out tasks.

Portfolio construction (:func:`build_portfolio`), from the training tasks of a fold only:

1. Normalized score of every cell on every training task: ``1 - normalized regret`` of the cell's
   noise-free score (``TabularObjective.mean_scores`` and ``oracle``), so 1 is the task's optimum
   and 0 its worst cell. One ``(n_tasks, n_cells)`` numpy array; every step below is vectorized over
   all cells (30,000 for ``hpobench-nn``).
2. Greedy: repeatedly add the cell that maximizes the mean over training tasks of the best
   normalized score so far (the portfolio's "coverage" of the training tasks). Ties go to the
   lowest cell index, so a portfolio is a deterministic function of the training tables.
3. Saturation: the greedy gain becomes zero exactly when every training task already has its
   optimum in the portfolio (8-10 greedy entries on 7 hpobench-nn tasks: early entries are
   compromises that are good everywhere, later ones fetch single tasks' optima). From there on the
   rest of the grid is appended in order of mean normalized score over the training tasks (robust
   all-rounders first). The portfolio is therefore a full ordering of every cell that any training
   task has a value for: a budget up to that many cells never repeats one, and a longer run starts over.

``portfolio`` plays the entries in order and ignores every score it sees on the test task
(zero-shot). ``portfolio+tpe`` plays the first ``k`` entries, then lets Optuna's TPE continue,
warm-started with those ``k`` trials; every warm-start trial is a real evaluation on the test task
and counts in the budget.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.registry import register_agent
from hpo_gym.episode import is_whole_number
from hpo_gym.objective import Objective
from hpo_gym.space import SearchSpace
from hpo_gym.tabular import TabularObjective, tables_only

#: Number of portfolio entries ``portfolio+tpe`` plays before TPE takes over.
DEFAULT_WARM_START = 10


@dataclass(frozen=True)
class Portfolio:
    """An ordered list of grid cells chosen on training tasks, with their unit-cube encodings.

    ``cells`` are flat cell indices (C order over the grid), ``encodings`` the matching ``(n, d)``
    encoded configurations (what an agent returns as its action), ``n_greedy`` how many leading
    entries the greedy step chose before the training tasks saturated, ``train_tasks`` the names of
    the tables it was built from.
    """

    cells: np.ndarray
    encodings: np.ndarray
    space: SearchSpace
    grid_shape: tuple[int, ...]
    n_greedy: int
    train_tasks: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.cells)

    def configs(self, objective: TabularObjective, n: int | None = None) -> list[dict[str, Any]]:
        """Native configurations of the first ``n`` entries (all when ``None``), read off ``objective``'s grid."""
        return [objective.cell_config(int(c)) for c in self.cells[:n]]


def _check_tables(objectives: Sequence[Objective]) -> list[TabularObjective]:
    """All training objectives must be tables over one grid; raise a ValueError that says how to fix it."""
    given = list(objectives)
    if not given:
        raise ValueError("a portfolio needs at least one training task; fit(train_objectives) got none")
    objs = tables_only(given, "a portfolio, built from every configuration's score,",
                       "fit it on tabular tasks (e.g. the hpobench-nn suite)")
    ref = objs[0]
    ref_grid = ref.encoded_grid()
    for o in objs[1:]:
        if o.space != ref.space or o.grid_shape != ref.grid_shape or not np.array_equal(o.encoded_grid(), ref_grid):
            raise ValueError(f"portfolio training tables must share one search space and grid, but {o.name!r} differs "
                             f"from {ref.name!r}: {grid_difference(o, ref)}; fit on tasks of one suite")
    return objs


def grid_difference(a: TabularObjective, b: TabularObjective) -> str:
    """Where two tables' spaces or grids differ, named by hyperparameter: two tables with the same names and grid shape
    but other values were described as "['C', 'depth'], grid (3, 5) differs from ['C', 'depth'], grid (3, 5)"."""
    if a.space.names != b.space.names:
        return f"hyperparameters {a.space.names} vs {b.space.names}"
    for hp_a, hp_b in zip(a.space, b.space):
        if hp_a != hp_b:
            return f"{hp_a.name} is {hp_a} vs {hp_b}"
    values_a, values_b = a.grid_values, b.grid_values
    for name in values_a:
        if len(values_a[name]) != len(values_b[name]) or not np.array_equal(values_a[name], values_b[name]):
            return f"{name}'s grid is {values_a[name].tolist()} vs {values_b[name].tolist()}"
    return f"grid {a.grid_shape} vs {b.grid_shape}"


def normalized_scores(objectives: Sequence[TabularObjective]) -> np.ndarray:
    """``(n_tasks, n_cells)`` normalized scores ``1 - normalized regret``; NaN where a table has no value."""
    return np.stack([1.0 - np.asarray(o.oracle.normalized_regret(o.mean_scores), dtype=np.float64) for o in objectives])


def greedy_order(scores: np.ndarray, tol: float = 1e-12) -> tuple[np.ndarray, int]:
    """Order the cells of a ``(n_tasks, n_cells)`` normalized-score matrix as described in the module doc.

    Returns ``(cells, n_greedy)``. Missing values (NaN) count as 0 (the task's worst) in the greedy
    step and are left out of the mean in the saturation step; cells with no value on any task are
    dropped.
    """
    present = np.isfinite(scores)
    known = present.any(axis=0)
    s = np.where(present, scores, 0.0)
    available = known.copy()
    best = np.zeros(s.shape[0])
    chosen: list[int] = []
    while available.any():
        coverage = np.maximum(s, best[:, None]).mean(axis=0)
        coverage[~available] = -np.inf
        cell = int(np.argmax(coverage))
        if coverage[cell] <= best.mean() + tol:  # saturated: no cell improves any training task
            break
        chosen.append(cell)
        available[cell] = False
        best = np.maximum(best, s[:, cell])
    n_greedy = len(chosen)
    with warnings.catch_warnings():  # 'Mean of empty slice' for cells no task has; they are dropped below
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = np.nanmean(scores, axis=0)
    rest = np.flatnonzero(available)
    rest = rest[np.argsort(-mean[rest], kind="stable")]
    return np.concatenate([np.asarray(chosen, dtype=np.int64), rest.astype(np.int64)]), n_greedy


def build_portfolio(train_objectives: Sequence[Objective]) -> Portfolio:
    """Greedy portfolio over the training tables (see the module doc); raises ValueError for non-tables."""
    objs = _check_tables(train_objectives)
    cells, n_greedy = greedy_order(normalized_scores(objs))
    ref = objs[0]
    return Portfolio(cells, ref.cell_encoding(cells), ref.space, ref.grid_shape, n_greedy, tuple(o.name for o in objs))


class PortfolioAgent:
    """``portfolio``: evaluate the greedy portfolio's entries in order; zero-shot on the test task.

    ``fit(train_objectives, seed)`` builds the portfolio from the fold's training tables (``seed`` is
    accepted for the TransferAgent protocol; construction is deterministic). ``act`` returns the
    encoded configuration of the next entry and never looks at the scores it is shown; past the last entry (a budget
    larger than the grid) it starts over from the first.
    """

    def __init__(self, portfolio: Portfolio | None = None, name: str = "portfolio"):
        self.name = name
        self.portfolio = portfolio
        self._t = 0
        self._dtype: type[np.floating] = np.float32

    @property
    def trained_on(self) -> tuple[str, ...]:
        """Names of the tables the portfolio was built from (``()`` before ``fit``); see ``GRPOformerAgent.trained_on``."""
        return self.portfolio.train_tasks if self.portfolio is not None else ()

    def fit(self, train_objectives: Sequence[Objective], seed: int = 0) -> None:
        self.portfolio = build_portfolio(train_objectives)

    def _require_fitted(self, space: SearchSpace, budget: int | None) -> Portfolio:
        if self.portfolio is None:
            raise RuntimeError(f"agent {self.name!r} is not fitted: call fit(train_objectives) on the training tasks "
                               "first (hpo-gym bench does this with --protocol kfold)")
        if space != self.portfolio.space:
            raise ValueError(f"agent {self.name!r} was fitted on search space {self.portfolio.space.names} but the task "
                             f"has {space.names}; a portfolio only transfers between tasks of one grid")
        return self.portfolio

    def reset(self, space: SearchSpace, seed: int | None = None, budget: int | None = None) -> None:
        self._require_fitted(space, budget)
        self._t = 0
        self._dtype = space.action_dtype

    def act(self, observation: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.portfolio is None:
            raise RuntimeError(f"agent {self.name!r} is not fitted; call fit() and reset() first")
        # a budget beyond the grid (a tiny space): every configuration has been tried, so start over, as the other
        # agents repeat once a grid is exhausted (this failed the run; a repeat on a table costs one evaluation)
        u = self.portfolio.encodings[self._t % len(self.portfolio)]
        self._t += 1
        return u.astype(self._dtype)  # the Box's own dtype (float64 where float32 cannot address an int's values)


class PortfolioTPEAgent:
    """``portfolio+tpe``: the portfolio's first ``k`` entries, then TPE warm-started with those ``k`` trials.

    Composes :class:`PortfolioAgent` (fitted on the fold's training tables) with the Optuna TPE
    adapter :class:`agents.optuna_agents.OptunaAgent`: at ``reset`` a fresh TPE study is seeded with the
    run's seed and the first ``k`` portfolio configurations are queued with ``enqueue`` (Optuna's
    ``enqueue_trial``), so they are the run's first ``k`` real evaluations (counted in the budget)
    and TPE then models them like its own trials. ``k = 0`` is plain TPE.
    """

    def __init__(self, k: int = DEFAULT_WARM_START, name: str | None = None):
        from agents.optuna_agents import OptunaAgent  # lazy: keeps `portfolio` free of the Optuna import

        if not is_whole_number(k) or k < 0:  # 2.5 was cut to 2 and True read as 1, where the spec string refuses them
            raise ValueError(f"portfolio+tpe needs a whole number k >= 0 of warm-start entries, got {k!r}")
        self.k = int(k)
        self.name = name or ("portfolio+tpe" if self.k == DEFAULT_WARM_START else f"portfolio+tpe:{self.k}")
        self.portfolio_agent = PortfolioAgent(name=self.name)
        self.tpe = OptunaAgent("tpe", name=self.name)

    @property
    def portfolio(self) -> Portfolio | None:
        return self.portfolio_agent.portfolio

    @property
    def trained_on(self) -> tuple[str, ...]:
        return self.portfolio_agent.trained_on

    def fit(self, train_objectives: Sequence[Objective], seed: int = 0) -> None:
        self.portfolio_agent.fit(train_objectives, seed)

    def reset(self, space: SearchSpace, seed: int | None = None, budget: int | None = None) -> None:
        portfolio = self.portfolio_agent._require_fitted(space, None)
        k = self.k if budget is None else min(self.k, budget)
        self.tpe.reset(space, seed, budget)
        if k:
            self.tpe.enqueue(space.decode_many(portfolio.encodings[:k]))

    def act(self, observation: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.tpe.act(observation)

    def observe(self, action: np.ndarray, reward: float, info: Mapping[str, Any]) -> None:
        self.tpe.observe(action, reward, info)


def _parse_k(arg: str | None) -> int:
    if arg is None:
        return DEFAULT_WARM_START
    if not arg.isdigit() or not arg.isascii():  # int() also took ' 5', '+7' and '1_0', as names of other agents
        raise ValueError(f"portfolio+tpe takes the number of portfolio entries as its argument, e.g. "
                         f"'portfolio+tpe:10' (k >= 0); got {arg!r}")
    return int(arg)


def _make_portfolio(arg: str | None) -> PortfolioAgent:
    if arg:
        raise ValueError(f"agent 'portfolio' takes no argument, got {arg!r}")
    return PortfolioAgent()


register_agent("portfolio", _make_portfolio)
register_agent("portfolio+tpe", lambda arg: PortfolioTPEAgent(_parse_k(arg)))
