"""Tabular objectives: HPO over a precomputed table of (configuration -> metric per seed).

A table turns an HPO run into array lookups, so thousands of runs cost seconds. Continuous actions
are snapped, per dimension, to the nearest grid value *in encoded space* (for ordinal and
categorical hyperparameters that is the equal-width bin the action falls in). Everything is
vectorised numpy: a batch of configurations is one ``take`` on a flat array, with no Python loop
per configuration.
"""

from __future__ import annotations

import bisect
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from hpo_gym.fingerprint import array_fingerprint
from hpo_gym.objective import Evaluation, EvaluationBatch, Oracle, as_config_list, per_config_seeds
from hpo_gym.space import VALUE_REL_TOL, Categorical, Config, Hyperparameter, Ordinal, SearchSpace


#: Grids up to this many cells keep a precomputed (n_cells, d) table of encoded positions (~1 MB for HPOBench).
_CELL_CODE_TABLE_LIMIT = 2_000_000


#: Floats of one chunk of point-to-cell distances in a partial table's nearest-cell search (about 64 MB).
NEAREST_CHUNK_FLOATS = 8_000_000


def _cell_edges(hp: Any, codes: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Where a dimension's cells meet in the unit cube: midway between neighbouring grid positions, so each point
    snaps to the grid value nearest in the encoded space. An int dimension compares the integer ``SearchSpace.decode``
    names: with ``m`` the midpoint of two grid values in the dimension's scale (their geometric mean on a log scale),
    the edge is decode's own, ``k + 1/2``, after ``k = floor(m)``, so every integer goes to its encoded-nearest grid
    value; an integer ``m`` is equidistant from both, and its band is split at ``m`` (on a linear scale that is the
    midpoint in value, as before). The midpoint of the encodings alone let the table and decode name different values
    in a band (u = 0.55 on [1, 3]); the midpoint in value alone snapped a log int by linear distance (400 to 100 on
    [1, 10, 100, 1000], whose top value then held 8 % of the cube instead of 17 %)."""
    middle = _int_grid_middles(hp, grid)
    if middle is not None:
        edges = np.where(middle == np.floor(middle), middle, np.floor(middle) + 0.5)
        return np.array([hp.encode(v) for v in edges])
    return (codes[1:] + codes[:-1]) / 2


def _int_grid_middles(hp: Any, grid: np.ndarray) -> np.ndarray | None:
    """An int dimension's midpoints between neighbouring grid values in its own scale (geometric on a log scale);
    None for any other dimension or a one-value grid."""
    if hp.kind != "int" or hp.is_discrete or len(grid) < 2:
        return None
    values = np.asarray(grid, dtype=np.float64)
    return np.sqrt(values[1:] * values[:-1]) if hp.log else (values[1:] + values[:-1]) / 2


class TabularObjective:
    """An :class:`~hpo_gym.objective.Objective` backed by a full or partial grid table.

    Args:
        name: task name, used in ``info`` and results.
        space: the search space; each hyperparameter's grid is its ``values`` (ordinal/categorical)
            or, for float/int hyperparameters, the ``grid_values`` given for it.
        metric_values: array of shape ``(n_cells, n_seeds)`` of the *raw* metric, cells in C order
            over the per-dimension grids; NaN marks a missing seed or a missing cell.
        metric: name of the metric (kept in ``info``).
        direction: ``"maximize"`` or ``"minimize"``; scores are negated for ``"minimize"`` so that
            higher is always better at the Objective interface.
        costs: optional array like ``metric_values`` of training seconds (the evaluation's cost).
        grid_values: per-dimension grids for float/int hyperparameters (by name).
        metadata: free-form facts about the task (e.g. ``openml_task_id``); shown in ``info``.
    """

    def __init__(
        self,
        name: str,
        space: SearchSpace,
        metric_values: np.ndarray,
        metric: str = "score",
        direction: str = "maximize",
        costs: np.ndarray | None = None,
        grid_values: Mapping[str, ArrayLike] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ):
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
        self.name = name
        self.space = space
        self.metric = metric
        self.direction = direction
        self._metadata = {"task": name, "metric": metric, "direction": direction, **(metadata or {})}
        grids = dict(grid_values or {})
        # a grid for a name the space lacks (a typo) or for an ordinal/categorical, whose grid is its own values in
        # their order, was ignored without a word: the rows then followed another order than the one given
        stray = [n for n in grids if n not in space.names or space[n].is_discrete]
        if stray:
            raise ValueError(f"grid_values names {stray}, which {'is' if len(stray) == 1 else 'are'} not float or int "
                             f"hyperparameters of the space ({space.names}); an ordinal's or categorical's cells follow "
                             "its values in the order the space gives them, so give no grid for it (reorder its "
                             "values in the space instead)")
        self._grids: list[np.ndarray] = []
        for hp in space:
            if hp.is_discrete:
                self._grids.append(np.asarray(hp.values, dtype=object))
            elif hp.name in grids:
                self._grids.append(_sorted_grid(hp, grids[hp.name]))
            else:
                raise ValueError(f"tabular objective needs grid_values for continuous hyperparameter {hp.name!r}")
        self.grid_shape = tuple(len(g) for g in self._grids)
        n_cells = int(np.prod(self.grid_shape))
        raw = np.asarray(metric_values, dtype=np.float64)
        if raw.ndim not in (1, 2):  # a 3-D array passed here and failed at evaluate, a scalar with an IndexError
            raise ValueError(f"metric_values of {name!r} has shape {raw.shape}: give (n_cells,) or (n_cells, n_seeds) "
                             "raw metric values, cells in C order over the grids")
        if raw.ndim == 1:
            raw = raw[:, None]
        if raw.shape[0] != n_cells:
            raise ValueError(f"metric_values has {raw.shape[0]} rows but the grid {self.grid_shape} has {n_cells} cells")
        if np.isinf(raw).any():
            raise ValueError(f"metric_values of {name!r} hold {int(np.isinf(raw).sum())} infinite values (e.g. a diverged loss): "
                             "replace them with NaN to mark those runs missing, or with the worst finite value to score "
                             "them as failures")
        sign = 1.0 if direction == "maximize" else -1.0
        self._seed_scores = sign * raw  # (n_cells, n_seeds), higher is better
        with np.errstate(invalid="ignore"), _quiet_nan_warnings():
            self._mean_scores = np.nanmean(self._seed_scores, axis=1)
        self._seed_costs = np.zeros_like(raw) if costs is None else _checked_costs(name, costs, raw.shape)
        with _quiet_nan_warnings():
            self._mean_costs = np.nan_to_num(np.nanmean(self._seed_costs, axis=1))
        self._given_costs = self._seed_costs  # what the fingerprint hashes: unchanged by the fill below
        # a seed whose score is there but whose cost is not costs the cell's mean (info["cost"] showed NaN)
        missing = np.isnan(self._seed_costs)
        if missing.any():  # else one array serves both (a copy was 1.2 MB per embedded task)
            self._seed_costs = np.where(missing, self._mean_costs[:, None], self._seed_costs)
        self.n_seeds = raw.shape[1]
        self._py_strides = [int(np.prod(self.grid_shape[j + 1:])) for j in range(len(self.grid_shape))]
        self._strides = np.array(self._py_strides, dtype=np.int64)
        self._config_cache: dict[int, Config] = {}
        self._cell_codes: np.ndarray | None = None  # (n_cells, d) encoded positions, built on first use
        # Encoded grid positions and the midpoints between them, for nearest-value snapping.
        codes = [hp.grid_encoding() if hp.is_discrete else np.array([hp.encode(v) for v in g]) for hp, g in zip(space, self._grids)]
        self._codes = codes
        self._midpoints = [_cell_edges(hp, c, g) for hp, c, g in zip(space, codes, self._grids)]
        self._int_middles = [_int_grid_middles(hp, g) for hp, g in zip(space, self._grids)]
        self._scalar_edges: tuple[list, list] | None = None  # their lists for the one-vector path, built on first use
        self._uniform_bins = all(hp.is_discrete for hp in space)
        self._levels = np.array(self.grid_shape, dtype=np.int64)
        present = np.isfinite(self._mean_scores)
        if not present.any():
            raise ValueError(f"table {name!r} has no finite metric values")
        self._complete = bool(present.all())
        if not self._complete:
            self._present_cells = np.flatnonzero(present)
            self._present_codes = np.stack(
                [c[i] for c, i in zip(codes, np.unravel_index(self._present_cells, self.grid_shape))], axis=1
            )
        self._oracle = Oracle(float(np.nanmax(self._mean_scores)), float(np.nanmin(self._mean_scores)))

    # -- Objective protocol ----------------------------------------------------------------------
    @property
    def oracle(self) -> Oracle:
        """Best and worst mean-over-seeds score in the table."""
        return self._oracle

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self._metadata)

    @property
    def n_configs(self) -> int:
        """Number of configurations with a value in the table."""
        return len(self._present_cells) if not self._complete else int(np.prod(self.grid_shape))

    @property
    def seed_scores(self) -> np.ndarray:
        """Score of every grid cell for every seed ``(n_cells, n_seeds)``, C order, higher is better; NaN where
        missing. Read-only view (e.g. to derive new tables from this one)."""
        view = self._seed_scores.view()
        view.flags.writeable = False
        return view

    @property
    def grid_values(self) -> dict[str, np.ndarray]:
        """The grids of the float/int hyperparameters, by name (what the constructor's ``grid_values`` took)."""
        return {hp.name: g.copy() for hp, g in zip(self.space, self._grids) if not hp.is_discrete}

    @property
    def mean_scores(self) -> np.ndarray:
        """Noise-free score (mean over seeds) of every grid cell, C order; NaN where missing. Read-only view."""
        view = self._mean_scores.view()
        view.flags.writeable = False
        return view

    def evaluate(self, config: Mapping[str, Any], seed: int | None = None) -> Evaluation:
        return self.evaluate_batch(self.space.encode(config)[None, :], None if seed is None else [seed])[0]

    def evaluate_batch(
        self, configs: Sequence[Mapping[str, Any]] | np.ndarray, seeds: Sequence[int | None] | None = None
    ) -> EvaluationBatch:
        """Score many configurations at once. ``configs`` may be dicts or an ``(n, d)`` encoded array."""
        u = configs if isinstance(configs, np.ndarray) else self.space.encode_many(as_config_list(self.space, configs))
        u = self.space.check_encoded_batch(u, "evaluate_batch")
        if seeds is not None:
            seeds = per_config_seeds(seeds, len(u))
        seed_idx = None if seeds is None else np.array([-1 if s is None else int(s) % self.n_seeds for s in seeds])
        cells = self.cells_of(u)
        scores, costs = self.lookup(cells, seed_idx)
        return EvaluationBatch(scores, costs, lambda i: self.cell_info(int(cells[i]), float(scores[i])))

    # -- fast paths used by the environments -----------------------------------------------------
    def cells_of(self, u: np.ndarray) -> np.ndarray:
        """Flat cell of each row of an encoded ``(n, d)`` array (already clipped to [0, 1]) that has a score."""
        cells = self._grid_cells_of(u)
        if not self._complete:
            cells = self._nearest_present(cells, u)
        return cells

    def _grid_cells_of(self, u: np.ndarray) -> np.ndarray:
        """The grid cell each row snaps to, whether or not the table has a score there."""
        if self._uniform_bins:
            idx = np.clip((u * self._levels).astype(np.int64), 0, self._levels - 1)  # u < -1/n gave a negative cell
        else:  # discrete dimensions by SearchSpace.decode's own rule (the midpoints of their bin centres round
            # differently on a bin edge: u = 2/3 of 3 values was value 1 here and value 2 in decode); float grids
            # snap to the nearest grid value, an edge going up, and int grids the integer decode names
            idx = np.stack([np.clip((u[:, j] * n).astype(np.int64), 0, n - 1) if hp.is_discrete
                            else self._int_grid_index(j, u[:, j]) if self._int_middles[j] is not None
                            else np.searchsorted(m, u[:, j], side="right")
                            for j, (hp, m, n) in enumerate(zip(self.space, self._midpoints, self.grid_shape))], axis=1)
        return idx @ self._strides

    def _grid_cell_of_one(self, u: list[float]) -> int:
        """:meth:`_grid_cells_of` for ONE vector in plain Python (the single-env step's path): by the same rules, at a
        fraction of the cost of numpy calls on one-element arrays (the int-grid rule took a user table's step from
        71 to 130 us that way)."""
        if self._scalar_edges is None:
            self._scalar_edges = [(None if e is None else e.tolist()) for e in self._midpoints], \
                                 [(None if m is None else m.tolist()) for m in self._int_middles]
        edges, middles = self._scalar_edges
        cell = 0
        for j, (hp, x, n, stride) in enumerate(zip(self.space, u, self.grid_shape, self._py_strides)):
            x = min(1.0, max(0.0, float(x)))
            if hp.is_discrete:
                level = min(int(x * n), n - 1)
            elif middles[j] is not None:
                k = hp.decode(x)  # the integer the env's decoding names
                level = bisect.bisect_left(middles[j], k)
                if level < len(middles[j]) and middles[j][level] == k and x >= edges[j][level]:
                    level += 1  # an integer exactly midway: split by x at its encoding, as the batched rule
            else:
                level = bisect.bisect_right(edges[j], x)
            cell += level * stride
        return cell

    def _int_grid_index(self, j: int, u: np.ndarray) -> np.ndarray:
        """Grid index of an int dimension's encoded values, by the integer ``SearchSpace.decode`` names: snapping ``u``
        against the edges' encodings sent a point on an edge up while decode rounds half to even, so the cube's
        centre on ``Int(1, 4)`` with grid [1, 4] decoded to 2 and was evaluated as 4 (found in review). An integer
        exactly midway between two grid values is split by ``u`` at its encoding, as before."""
        hp, middle, edges = self.space.hyperparameters[j], self._int_middles[j], self._midpoints[j]
        assert middle is not None
        k = hp.decode_array(np.clip(u, 0.0, 1.0)).astype(np.float64)
        idx = np.searchsorted(middle, k, side="left")  # the grid values whose midpoint lies below k
        at = np.minimum(idx, len(middle) - 1)
        return idx + ((idx < len(middle)) & (middle[at] == k) & (u >= edges[at]))

    def lookup(self, cells: np.ndarray, seed_idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores and costs of flat cells; ``seed_idx`` (``-1`` = mean) picks one table seed per row."""
        if seed_idx is None:
            return self._mean_scores[cells], self._mean_costs[cells]
        noisy = seed_idx >= 0
        scores = self._mean_scores[cells].copy()
        costs = self._mean_costs[cells].copy()
        s = self._seed_scores[cells[noisy], seed_idx[noisy]]
        ok = np.isfinite(s)  # a missing seed falls back to the mean
        rows = np.flatnonzero(noisy)[ok]
        scores[rows] = s[ok]
        costs[rows] = self._seed_costs[cells[rows], seed_idx[noisy][ok]]
        return scores, costs

    def lookup_one(self, cell: int, seed: int | None = None) -> tuple[float, float]:
        """Score and cost of ONE cell: the noise-free mean, or table seed ``seed % n_seeds`` (single-env fast path)."""
        if seed is None:
            return float(self._mean_scores[cell]), float(self._mean_costs[cell])
        scores, costs = self.lookup(np.array([cell]), np.array([seed % self.n_seeds]))
        return float(scores[0]), float(costs[0])

    @property
    def fingerprint(self) -> str:
        """sha256 of what a run's scores depend on (space, metric, direction, every seed's scores and costs): a result
        directory records it, so a changed table is never resumed onto runs of the old one."""
        return array_fingerprint((self._seed_scores, self._given_costs, *self._number_grids()),
                                 prefix=repr((self.name, self.space, self.metric, self.direction)).encode())

    @property
    def data_fingerprint(self) -> str:
        """sha256 of every seed's scores and costs alone, without the name: one table under two names has one data
        fingerprint (a training run refuses a held-out task whose table it trains on under another name)."""
        return array_fingerprint((self._seed_scores, self._given_costs, *self._number_grids()))

    def _number_grids(self) -> list[np.ndarray]:
        """The grids of float and int hyperparameters, which the space's repr does not hold: they place the cells in
        the cube, so two tables of equal scores on other grids answer an action differently and had one fingerprint
        (found in review). None on an all-discrete table (every embedded one), whose fingerprints stay as they were."""
        return [np.asarray(g, dtype=np.float64) for hp, g in zip(self.space, self._grids) if not hp.is_discrete]

    @property
    def complete(self) -> bool:
        """Whether every grid cell has a score; a partial table answers a missing cell with its nearest present one."""
        return self._complete

    def cell_of_vector(self, u: Sequence[float] | np.ndarray) -> int:
        """Flat cell of ONE encoded vector in [0, 1]^d (a value outside counts as the nearest end): a scalar fast path
        for single-env steps."""
        cell = self.grid_cell_of_vector(u)
        if not self._complete and not np.isfinite(self._mean_scores[cell]):
            # from the clipped vector, as the cell: a far-out entry weighed its dimension quadratically (review)
            clipped = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)[None, :]
            return int(self._nearest_present(np.array([cell]), clipped)[0])
        return cell

    def grid_cell_of_vector(self, u: Sequence[float] | np.ndarray) -> int:
        """The grid cell ONE encoded vector snaps to, whether or not the table has a score there.

        For a partial table it differs from :meth:`cell_of_vector` exactly when the table lacks the
        configuration and answers with its nearest present one (the env's ``info["config_substituted"]``).
        """
        if len(u) != len(self.grid_shape):  # zip cut a longer or shorter vector to the table's width, silently
            raise ValueError(f"an encoded vector of {self.name!r} has {len(self.grid_shape)} entries, one per "
                             f"hyperparameter {self.space.names}; got {len(u)}")
        if not self._uniform_bins:
            return self._grid_cell_of_one(u.tolist() if isinstance(u, np.ndarray) else list(u))
        cell = 0
        for x, n, stride in zip(u.tolist() if isinstance(u, np.ndarray) else u, self.grid_shape, self._py_strides):
            level = int(x * n)  # an entry below -1/n read another cell's score: kept in [0, n - 1]
            cell += (0 if level < 0 else n - 1 if level >= n else level) * stride
        return cell

    def cell_config(self, cell: int) -> Config:
        """Configuration (native values) of a flat grid cell."""
        cell = int(cell)
        config = self._config_cache.get(cell)
        if config is None:
            idx = np.unravel_index(cell, self.grid_shape)
            config = self._config_cache[cell] = {hp.name: _py(g[i]) for hp, g, i in zip(self.space, self._grids, idx)}
        return dict(config)

    def cell_encoding(self, cells: int | np.ndarray) -> np.ndarray:
        """Encoded ``(n, d)`` grid positions of flat cells: what was really evaluated after snapping."""
        cells = np.asarray(cells, dtype=np.int64)
        if self._cell_codes is None and int(np.prod(self.grid_shape)) <= _CELL_CODE_TABLE_LIMIT:
            all_cells = np.unravel_index(np.arange(int(np.prod(self.grid_shape))), self.grid_shape)
            self._cell_codes = np.stack([c[i] for c, i in zip(self._codes, all_cells)], axis=-1)
        if self._cell_codes is not None:
            return self._cell_codes[cells]
        idx = np.unravel_index(cells, self.grid_shape)
        return np.stack([c[i] for c, i in zip(self._codes, idx)], axis=-1)

    def cell_info(self, cell: int, score: float) -> dict[str, Any]:
        sign = 1.0 if self.direction == "maximize" else -1.0
        return {"config": self.cell_config(cell), "cell": cell, "metric": self.metric,
                "raw_metric": sign * score, "direction": self.direction, "task": self.name}

    def encoded_grid(self) -> np.ndarray:
        """Encoded ``(n_cells, d)`` coordinates of every cell (C order), e.g. for exhaustive agents."""
        return self.cell_encoding(np.arange(int(np.prod(self.grid_shape))))

    def _nearest_present(self, cells: np.ndarray, u: np.ndarray) -> np.ndarray:
        """``cells`` with each missing one replaced by the present cell nearest to its encoded point in ``u``.

        Distances are computed a chunk of points at a time, about :data:`NEAREST_CHUNK_FLOATS` floats each: all at
        once they take (missing points x present cells x dims) floats, gigabytes for a batch on a large partial
        table."""
        missing = np.flatnonzero(~np.isfinite(self._mean_scores[cells]))
        if not len(missing):
            return cells
        cells = cells.copy()
        present = self._present_codes
        step = max(1, NEAREST_CHUNK_FLOATS // (len(present) * present.shape[1]))
        for start in range(0, len(missing), step):
            rows = missing[start:start + step]
            d2 = ((u[rows, None, :] - present[None, :, :]) ** 2).sum(-1)
            cells[rows] = self._present_cells[np.argmin(d2, axis=1)]
        return cells

    # -- construction from a user's DataFrame ----------------------------------------------------
    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        metric: str,
        direction: str = "maximize",
        hyperparameters: Sequence[str] | None = None,
        seed_column: str | None = None,
        cost_column: str | None = None,
        space: SearchSpace | None = None,
        name: str = "custom",
        metadata: Mapping[str, Any] | None = None,
    ) -> TabularObjective:
        """Build a table from a DataFrame with one row per (configuration, seed).

        Columns: the hyperparameters (default: every column that is not the metric, seed or cost),
        an optional seed column, the metric, an optional cost column. Without ``space``, numeric
        columns become ordinal grids of their sorted unique values and other columns categoricals;
        with it, a float/int hyperparameter's grid is its column's unique values, which must lie in
        its ``[low, high]``. Configurations missing from the table are answered by the nearest present one.

        Seeds: with ``seed_column`` the table's seed axis is indexed by the seed *label* (column ``j``
        holds the ``j``-th smallest label for every configuration, and ``evaluate(config, seed=k)`` reads
        column ``k % n_seeds``), so each (configuration, seed) pair must appear once; a configuration
        lacking a seed is answered with its mean over the seeds it has. Without it, a configuration's
        repeated rows are its seeds, in row order.

        The hyperparameter values must form a (possibly partial) grid: see :func:`_check_is_grid` for
        the size rule that refuses, e.g., a log of randomly sampled float configurations.
        """
        hp_cols = _hyperparameter_columns(df, hyperparameters, metric, seed_column, cost_column)
        if hyperparameters is None:
            _warn_of_inferred_columns(df, hp_cols)
        metric_values = _numeric_column(df, metric, "metric")
        if np.isnan(metric_values).all():
            raise ValueError(f"metric column {metric!r} has no values")
        if space is None:
            space = SearchSpace([_infer_hyperparameter(c, df[c]) for c in hp_cols])
        elif sorted(space.names) != sorted(hp_cols):
            raise ValueError(f"space names {space.names} do not match the hyperparameter columns {hp_cols}")
        grid_values: dict[str, np.ndarray] = {}
        indices = []
        for hp in space:
            col = df[hp.name]
            if hp.is_discrete:
                indices.append(_value_indices(hp, col))
            else:
                x = _numeric_column(df, hp.name, f"{hp.kind} hyperparameter")
                _check_in_range(hp, x)
                # one grid value per number, up to float noise (0.1 * 3 next to 0.3), as without space= (each kept
                # value is the smallest of its spellings, so a row's value is the last kept one at or below it); an
                # int's values are exact: 1,000,000 and 1,000,001 are two configurations, not one spelled twice
                unique = np.unique(x)
                grid_values[hp.name] = unique if hp.kind == "int" else np.asarray(_merge_float_noise(unique.tolist()),
                                                                                  dtype=np.float64)
                indices.append(np.searchsorted(grid_values[hp.name], x, side="right") - 1)
        shape = tuple(len(hp.values) if hp.is_discrete else len(grid_values[hp.name]) for hp in space)
        _check_is_grid(space, shape, indices)
        cells = np.ravel_multi_index(indices, shape)
        _warn_of_a_log(name, df, space, cells, shape)
        seed_idx, n_seeds = _seed_indices(df, seed_column, cells, hp_cols)
        values = np.full((math.prod(shape), n_seeds), np.nan)
        values[cells, seed_idx] = metric_values
        costs = None
        if cost_column is not None:
            costs = np.full_like(values, np.nan)
            costs[cells, seed_idx] = _numeric_column(df, cost_column, "cost")
        return cls(name, space, values, metric, direction, costs, grid_values, metadata)


#: ``from_dataframe`` builds any grid up to this many cells: each table array is then at most 8 MB per seed.
_SMALL_GRID_CELLS = 1_000_000
#: A larger grid may hold at most this many cells per distinct configuration (be at least 0.1% filled) ...
_MAX_CELLS_PER_CONFIG = 1_000
#: ... and never more than this many cells (each float64 table array is then 400 MB per seed).
_MAX_GRID_CELLS = 50_000_000


def tables_only(objectives: Sequence[Any], purpose: str, fix: str) -> list[TabularObjective]:
    """The objectives as tables, or a ``ValueError`` naming those that are not: code built on whole-table reads
    (batched lookups, every configuration's score) checks up front instead of failing at its first read, which for
    a training run can be hours in."""
    not_tables = [getattr(o, "name", repr(o)) for o in objectives if not isinstance(o, TabularObjective)]
    if not_tables:
        raise ValueError(f"{purpose} needs tabular tasks (TabularObjective), but these are not tables: {not_tables}; {fix}")
    return [o for o in objectives if isinstance(o, TabularObjective)]  # all of them


def _hyperparameter_columns(
    df: pd.DataFrame,
    hyperparameters: Sequence[str] | None,
    metric: str,
    seed_column: str | None,
    cost_column: str | None,
) -> list[str]:
    """The hyperparameter columns, every named column checked to exist: a missing one would otherwise surface as a
    bare ``KeyError``, and a bare string as ``KeyError: 'l'`` (its letters taken for column names)."""
    if isinstance(hyperparameters, str):
        raise TypeError(f"hyperparameters must be a list of column names, e.g. [{hyperparameters!r}], "
                        f"not the string {hyperparameters!r}")
    for col in [metric, seed_column, cost_column]:
        if col is not None and col not in df.columns:
            raise ValueError(f"column {col!r} not in the DataFrame; columns are {list(df.columns)}")
    roles = {"metric": metric, "seed_column": seed_column, "cost_column": cost_column}
    roles.update({f"hyperparameters[{i}]": c for i, c in enumerate(hyperparameters or [])})
    named: dict[Any, list[str]] = {}
    for role, col in roles.items():
        if col is not None:
            named.setdefault(col, []).append(role)
    twice = {col: r for col, r in named.items() if len(r) > 1}  # the metric as a dimension, or as the seed labels
    if twice:
        col, r = next(iter(twice.items()))
        raise ValueError(f"column {col!r} is given two roles ({' and '.join(r)}); each column is one of metric, seed, "
                         "cost or a hyperparameter (list each hyperparameter once)")
    used = {str(c) for c in (df.columns if hyperparameters is None else named)}
    duplicated = sorted({str(c) for c in df.columns[df.columns.duplicated()]} & used)
    if duplicated:
        raise ValueError(f"the DataFrame has more than one column named {duplicated}; rename or drop the copies "
                         "(df.loc[:, ~df.columns.duplicated()])")
    if hyperparameters is None:
        return [c for c in df.columns if c not in {metric, seed_column, cost_column}]
    missing = [c for c in hyperparameters if c not in df.columns]
    if missing:
        raise ValueError(f"hyperparameter columns {missing} not in the DataFrame; columns are {list(df.columns)}")
    return list(hyperparameters)


def _numeric_column(df: pd.DataFrame, column: str, role: str) -> np.ndarray:
    """A column as float64 (missing entries NaN); a non-number is refused naming the column and the value, where
    numpy would only say ``could not convert string to float: 'x'``."""
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna() & df[column].notna()
    if bad.any():
        raise ValueError(f"{role} column {column!r} must hold numbers, but {int(bad.sum())} of {len(bad)} rows do "
                         f"not, e.g. {df[column][bad].iloc[0]!r}: fix those rows, or mark them missing with "
                         f"df[{column!r}] = pd.to_numeric(df[{column!r}], errors='coerce')")
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _check_in_range(hp: Hyperparameter, x: np.ndarray) -> None:
    """Refuse values of a float/int column outside (or missing from) its hyperparameter's ``[low, high]``: the grid is
    built from the data, so such a value would silently become a grid point the space says cannot exist."""
    bad = _outside_range(hp, x)
    if bad.any():
        raise ValueError(f"column {hp.name!r} holds {float(x[bad][0])!r} ({int(bad.sum())} of {len(x)} rows), "
                         f"outside the range [{hp.low}, {hp.high}] of the space's {hp.kind} hyperparameter "
                         f"{hp.name!r}: widen that range in space=, or drop those rows")


def _outside_range(hp: Hyperparameter, x: np.ndarray) -> np.ndarray:
    """Mask of values outside a float/int hyperparameter's ``[low, high]`` beyond float rounding (np.geomspace's last
    value of 1e-4 .. 0.1 is 0.10000000000000002); NaN is outside. The slack is relative to each bound on a log scale
    (the width of 1e-8 .. 1e8 would let 1e-9 in) and to the width on a linear one."""
    low, high = hp.bounds()
    slack_low, slack_high = (1e-9 * abs(low), 1e-9 * abs(high)) if hp.log else (1e-9 * (high - low),) * 2
    return ~((x >= low - slack_low) & (x <= high + slack_high))


def _check_is_grid(space: SearchSpace, shape: tuple[int, ...], indices: list[np.ndarray]) -> None:
    """Refuse, before allocating it, a grid far larger than the data (e.g. an Optuna study's random floats, whose
    n trials over d columns span n**d cells: 300 x 4 would need 60 GiB).

    The rule: any grid up to ``_SMALL_GRID_CELLS`` cells is built (cheap whatever its fill); a larger one must have
    at most ``_MAX_CELLS_PER_CONFIG`` cells per distinct configuration and at most ``_MAX_GRID_CELLS`` cells. A table
    cut from a benchmark grid passes (300 configurations of HPOBench's 30,000 cells is 100 per configuration; even 50
    passes, as the grid is small); a trial log fails at once (100 trials x 4 columns: 10**8 cells, 10**6 per
    configuration), and below 0.1% fill the nearest-present answer to an unseen configuration means little anyway.
    """
    n_cells = math.prod(shape)
    if n_cells <= _SMALL_GRID_CELLS:
        return
    n_configs = len(np.unique(np.stack(indices, axis=1), axis=0))
    if n_cells <= min(_MAX_GRID_CELLS, _MAX_CELLS_PER_CONFIG * n_configs):
        return
    widest = sorted(zip(shape, space.names), key=lambda sn: -sn[0])[:3]
    example = widest[0][1]
    raise ValueError(
        f"the hyperparameter columns are not a grid small enough to tabulate: their distinct values span "
        f"{n_cells:,} cells ({' x '.join(map(str, shape))}) for {n_configs:,} distinct configurations (a table is "
        f"built for up to {_SMALL_GRID_CELLS:,} cells, or up to {_MAX_CELLS_PER_CONFIG:,} per configuration and at "
        f"most {_MAX_GRID_CELLS:,}). Most distinct values: {', '.join(f'{n!r} ({k})' for k, n in widest)}. If this "
        "is a log of sampled configurations rather than a grid, round or bin those columns to a few values each "
        f"(e.g. df[{example!r}] = df[{example!r}].round(2)), or snap them to grids of your choice and pass space= "
        "with those Ordinal grids")


#: Words of a column name that say it holds a seed rather than a hyperparameter.
_SEED_NAME = re.compile(r"(^|[_\W])(seeds?|rng|random_state|folds?|repeats?)($|[_\W])", re.IGNORECASE)
#: Words of a column name that say it holds a result of the run (a second metric) rather than a hyperparameter.
_RESULT_NAME = re.compile(r"(^|[_\W])(scores?|loss|losses)($|[_\W])", re.IGNORECASE)
#: Words of a column name that say it holds a measurement: taken for one when its values are nearly all distinct (a
#: ``max_time`` or LIBSVM's ``cost`` hyperparameter repeats a few values over a grid; a fit time differs in every row).
_MEASUREMENT_NAME = re.compile(r"(^|[_\W])(time|times|seconds|secs|duration|runtime|elapsed|cost|costs)($|[_\W])",
                               re.IGNORECASE)


#: A table that fills at least this share of its grid is a grid, whatever its columns' values (:func:`_warn_of_a_log`).
SPARSE_GRID_FILL = 0.5


def _unique_per_row(df: pd.DataFrame, column: Any) -> bool:
    """Whether ``column`` has a distinct value in every row of a table of more than a few rows: a measurement (a fit
    time, a score) or a sampled value, whose grid makes each row a configuration of its own."""
    return len(df) > 10 and bool(df[column].nunique(dropna=False) == len(df))


def _warn_of_inferred_columns(df: pd.DataFrame, hp_cols: list[str]) -> None:
    """A ``UserWarning`` naming the numeric columns taken as hyperparameters (every column but the metric, seed and
    cost ones) whose names say seed, score or loss, or say time or cost while their values are nearly all distinct. Why: ``from_dataframe(df, metric="acc")`` on a sweep with ``seed``
    and ``fit_time`` columns made both hyperparameters, a grid 0.4 % filled, and a report that looked plausible and was
    wrong (TPE behind random search; found by a user)."""
    def words(column: Any) -> str:  # fitTime reads as fit_Time
        return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(column))

    suspects = [c for c in hp_cols if pd.api.types.is_numeric_dtype(df[c]) and (  # sklearn's loss is a string
        _SEED_NAME.search(words(c)) or _RESULT_NAME.search(words(c))
        or (_MEASUREMENT_NAME.search(words(c)) and df[c].nunique() > len(df) / 2))]
    if suspects:
        warnings.warn(f"columns {suspects} are taken as hyperparameters (every column but the metric, seed_column and "
                      "cost_column is one), but their names say seed, time, cost, score or loss: pass seed_column=... "
                      "or cost_column=... for them, or hyperparameters=[...] to list the hyperparameters (which also "
                      "silences this)", UserWarning, stacklevel=3)


def _warn_of_a_log(name: str, df: pd.DataFrame, space: SearchSpace, cells: np.ndarray, shape: tuple[int, ...]) -> None:
    """A ``UserWarning`` when a numeric hyperparameter column holds a distinct value in every distinct configuration:
    the rows are then a log of sampled configurations (or that column a measurement), not a grid, and nearly every
    configuration an agent proposes would be answered by the nearest present one (``info["config_substituted"]``).
    A user's 60-point random-search log was accepted as a 1.7 %-filled grid without a word; a table cut from a
    benchmark grid, whose columns repeat a few values, is not warned of."""
    n_configs = len(np.unique(cells))
    if n_configs >= SPARSE_GRID_FILL * math.prod(shape):
        return  # most cells filled: a full 1-D grid of k = 1..30 is a grid, whatever its values
    logged = [hp.name for hp in space if hp.kind != "categorical" and pd.api.types.is_numeric_dtype(df[hp.name])
              and df[hp.name].nunique() >= n_configs > 10]
    if logged:
        warnings.warn(f"table {name!r}: columns {logged} hold a distinct value in each of its {n_configs} "
                      "configurations, so they are no grid: nearly every configuration an agent proposes would be "
                      "answered by the nearest present one (info['config_substituted']). If a column is a cost, a "
                      "seed or a result, name its role (cost_column=, seed_column=, or hyperparameters=[...]); if the "
                      "rows are a log of sampled configurations, round or bin those columns to a few values each",
                      UserWarning, stacklevel=3)


#: A seed column may name at most this many times as many seeds as the most rows any configuration has.
SEED_LABELS_PER_ROW = 2


def _seed_indices(
    df: pd.DataFrame, seed_column: str | None, cells: np.ndarray, hp_cols: list[str]
) -> tuple[np.ndarray, int]:
    """Each row's position on the table's seed axis, and the axis length.

    With a seed column the position is the seed *label*'s rank among all labels, so seed 3 means the same column
    for every configuration (ranking within each configuration would line seeds {1, 2} of one up with {0, 1} of
    another); a missing pair stays NaN. A repeated (configuration, seed) pair is refused: it would silently
    become an extra seed, or overwrite the other row. Without a seed column, repeated rows are the seeds.
    """
    if seed_column is None:
        rank = pd.Series(cells).groupby(cells).cumcount().to_numpy()
        return rank, int(rank.max()) + 1
    seeds = df[seed_column]
    if seeds.isna().any():
        raise ValueError(f"seed column {seed_column!r} has {int(seeds.isna().sum())} missing values: give every row "
                         "a seed label, or leave seed_column out to number each configuration's rows in order")
    seed_idx, labels = pd.factorize(seeds, sort=True)
    most = int(pd.Series(cells).value_counts().max())
    if len(labels) > SEED_LABELS_PER_ROW * most:  # per-run random seeds: a mostly empty seed axis (review)
        raise ValueError(f"seed column {seed_column!r} holds {len(labels):,} distinct labels, but no configuration has "
                         f"more than {most} rows: a label names one table seed shared by every configuration (seed 3 "
                         "is the same column for all), so per-run random seeds make a table that is mostly empty, "
                         "where seeded lookups and noise=True fall back to the mean. Number each configuration's rows "
                         f"instead (df[{seed_column!r}] = df.groupby(hyperparameter_columns).cumcount()), or leave "
                         "seed_column out, which does that" + _row_unique_hint(df, hp_cols))
    repeated = pd.DataFrame({"cell": cells, "seed": seed_idx}).duplicated().to_numpy()
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        config = {c: _py(df[c].iloc[row]) for c in hp_cols}
        raise ValueError(f"{int(repeated.sum())} row(s) repeat a (configuration, {seed_column}) pair, e.g. {config} "
                         f"with {seed_column}={_py(seeds.iloc[row])!r}: each pair must appear once. Drop or average "
                         f"the repeats (df.groupby([...hyperparameters, {seed_column!r}]).mean()), or give distinct "
                         "runs distinct seed labels")
    return seed_idx, len(labels)


def _row_unique_hint(df: pd.DataFrame, hp_cols: list[str]) -> str:
    """Why no configuration has more than one row, when a hyperparameter column is to blame: one with a distinct value
    in every row (a forgotten ``cost_column``) makes each row its own configuration, and the seed error's own fix
    would hide that (found by a user)."""
    unique = [c for c in hp_cols if _unique_per_row(df, c)]
    if not unique:
        return ""
    return (f". But first: hyperparameter column(s) {unique} hold a distinct value in every row, which makes each row "
            f"a configuration of its own; if {unique[0]!r} is a cost or a result, pass cost_column={unique[0]!r} or "
            "hyperparameters=[...]")


def _value_indices(hp: Hyperparameter, column: pd.Series) -> np.ndarray:
    """Index of each cell of ``column`` among ``hp``'s values: by ``repr`` first (fast, and exact for strings and
    None), then by the hyperparameter's own matching, under which a DataFrame's float ``1.0`` is the space's int
    ``1`` (pandas stores an integer column with a missing entry, or one read from CSV, as floats)."""
    lut = {repr(_py(v)): i for i, v in enumerate(hp.values)}
    found: dict[str, int] = {}
    out = np.empty(len(column), dtype=np.int64)
    for row, v in enumerate(column):
        key = repr(_py(v))
        if key not in lut and key not in found:
            try:
                found[key] = hp.index_of(_py(v))
            except ValueError:
                raise ValueError(f"column {hp.name!r} holds {key} which is not a value of the space "
                                 f"(values: {list(hp.values)})") from None
        out[row] = lut[key] if key in lut else found[key]
    return out


def _infer_hyperparameter(name: str, column: pd.Series) -> Hyperparameter:
    """A numeric column becomes an ordinal; one with missing entries (e.g. ``max_depth=None``, "unlimited") becomes a
    categorical whose values include ``None``, because that setting has no place in the numbers' order."""
    values = {_py(v) for v in column.unique()}
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        numbers = _merge_float_noise(sorted(values - {None}))
        if None in values and numbers and all(isinstance(x, float) and x.is_integer() for x in numbers):
            warnings.warn(f"column {name!r} holds whole numbers and missing entries, which pandas stores as floats, so "
                          f"its values stay floats ({numbers[:3]}...); if they are ints (max_depth 3, 5, None), give the "
                          f"column as pandas' nullable Int64: df[{name!r}] = df[{name!r}].astype('Int64')", UserWarning,
                          stacklevel=4)
        return Ordinal(name, numbers) if None not in values else Categorical(name, numbers + [None])
    return Categorical(name, sorted(values, key=repr))


def _merge_float_noise(numbers: list[Any]) -> list[Any]:
    """Sorted numbers with those within float noise of the previous kept one dropped (0.1 * 3 next to 0.3): a grid
    value written two ways is one grid value, and :meth:`Hyperparameter.index_of` maps both spellings to it (the
    space refuses such near-equal values as separate ones, since one of them could never be chosen)."""
    kept: list[Any] = []
    for x in numbers:
        if not (kept and isinstance(x, float) and math.isclose(x, kept[-1], rel_tol=VALUE_REL_TOL)):
            kept.append(x)
    return kept


def _sorted_grid(hp: Hyperparameter, values: ArrayLike) -> np.ndarray:
    """A float or int hyperparameter's grid values, checked ascending; an int's as int64, so that a configuration
    reports ``n=8`` as the space's ``decode`` does, not ``8.0``. An unsorted grid is refused rather than sorted: the
    rows of ``metric_values`` follow the grid as given, so sorting it alone would give every score to another value
    (a descending grid of learning rates answered lr=0.1 with lr=0.001's score)."""
    grid = np.asarray(values, dtype=np.float64).ravel()
    descending = np.flatnonzero(grid[1:] < grid[:-1])
    if len(descending):
        i = int(descending[0])
        raise ValueError(f"grid_values[{hp.name!r}] is not ascending ({float(grid[i])!r} before {float(grid[i + 1])!r}): the rows of "
                         "metric_values and costs follow the grids' order, so sorting the grid alone would pair scores "
                         "with the wrong values; sort the grid and reorder the table's rows (cells in C order) with it")
    outside = grid[_outside_range(hp, grid)]
    if len(outside):
        raise ValueError(f"{hp.kind} hyperparameter {hp.name!r} has grid values outside its range [{hp.low}, {hp.high}]: "
                         f"{outside[:5].tolist()}; widen the range or drop those values")
    if len(np.unique(grid)) < len(grid):
        raise ValueError(f"{hp.kind} hyperparameter {hp.name!r} has repeated grid values "
                         f"{np.unique(grid[1:][grid[1:] == grid[:-1]])[:5].tolist()}, which would make two cells of one "
                         "configuration; give each value once")
    if hp.kind != "int":
        return grid
    whole = np.isfinite(grid) & (grid == np.round(grid))
    if not whole.all():
        raise ValueError(f"int hyperparameter {hp.name!r} has grid values that are not whole numbers "
                         f"({grid[~whole][:5].tolist()}); declare it Float, or round the values")
    return grid.astype(np.int64)


def _checked_costs(name: str, costs: ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    """Training seconds shaped like the metric values; infinite ones refused (a mean cost of 1.8e308 said nothing)."""
    array = np.array(costs, dtype=np.float64)  # a copy: the caller's array changed later changed seeded costs
    if array.ndim == 1 and shape[1] == 1:  # one seed: a flat array of costs, as metric_values may be
        array = array[:, None]
    if array.shape != shape:  # same size but transposed (seeds x cells) would scramble the costs silently
        raise ValueError(f"costs of {name!r} have shape {np.shape(costs)}, but the metric values have {shape} (cells x seeds); "
                         "give one cost per metric value, NaN where unknown")
    if np.isinf(array).any():
        raise ValueError(f"costs of {name!r} hold {int(np.isinf(array).sum())} infinite values; use NaN for an unknown cost")
    return array


def _py(v: Any) -> Any:
    """A table cell as a plain Python value; every kind of missing (NaN, None, pandas' NA/NaT) as ``None``."""
    v = v.item() if isinstance(v, np.generic) else v
    return None if v is None or (not isinstance(v, (list, tuple, dict)) and pd.isna(v)) else v


class _quiet_nan_warnings:
    """Silence numpy's 'Mean of empty slice' for all-NaN cells, which are expected in partial tables."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", category=RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
