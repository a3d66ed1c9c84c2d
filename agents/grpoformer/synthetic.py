"""Synthetic training objectives: random smooth functions over random search spaces, as tables.

They let one GRPOformer checkpoint generalize beyond the embedded suite's single search space: the
spaces have 1-8 hyperparameters of every kind (float/int, log or linear, ordinal, categorical), and the
scores are random smooth functions of the encoded configuration (a sum of random Gaussian bumps plus
per-choice offsets for categoricals). They are built as :class:`hpo_gym.tabular.TabularObjective`, so
training uses the same snapping and batched lookup as the real tables.

:func:`mixed_tables` makes new tasks from the training tables themselves (task interpolation, after
mixup / MLTI for meta-learning): the seed-wise scores of two training tables on the same grid, each
normalized to [0, 1] by its own best and worst, mixed with a random weight. With only 6-7 training tasks
the policy could memorize where *their* optima lie; interpolated tasks keep the real tables' structure
(which hyperparameters matter, how they interact) while moving the optimum, so the policy has to find it
from the history.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hpo_gym.space import Categorical, Float, Hyperparameter, Int, Ordinal, SearchSpace
from hpo_gym.tabular import TabularObjective


def _random_hyperparameter(rng: np.random.Generator, j: int, max_levels: int) -> tuple[Hyperparameter, np.ndarray | None]:
    kind = rng.choice(["float", "int", "ordinal", "categorical"], p=[0.3, 0.15, 0.35, 0.2])
    name = f"h{j}"
    if kind == "float":
        log = bool(rng.random() < 0.5)
        low, high = (1e-4, 1.0) if log else (0.0, 1.0)
        hp = Float(name, low, high, log=log)
        n = int(rng.integers(5, max(6, max_levels) + 1))
        grid = np.exp(np.linspace(np.log(low), np.log(high), n)) if log else np.linspace(low, high, n)
        return hp, grid
    if kind == "int":
        n = int(rng.integers(4, max(5, max_levels) + 1))
        hp = Int(name, 1, 1 + 4 * (n - 1))
        return hp, np.arange(1, 1 + 4 * (n - 1) + 1, 4, dtype=float)
    if kind == "ordinal":
        n = int(rng.integers(2, max(3, max_levels) + 1))
        return Ordinal(name, [float(v) for v in range(n)]), None
    n = int(rng.integers(2, 6))
    return Categorical(name, [f"c{i}" for i in range(n)]), None


def random_objective(rng: np.random.Generator, name: str = "synthetic", min_dims: int = 1, max_dims: int = 8,
                     max_cells: int = 40_000) -> TabularObjective:
    """A random smooth objective over a random search space. ``max_cells`` sets the levels per dimension
    (``max_cells ** (1 / d)``, at least 2), not a hard cap: floats keep at least 5 levels, ints 4 and categoricals 2-5,
    so a high-dimensional draw can exceed it (the default training bank's largest table has 92,160 cells)."""
    d = int(rng.integers(min_dims, max_dims + 1))
    max_levels = max(2, int(max_cells ** (1.0 / d)))
    hps, grids = [], {}
    for j in range(d):
        hp, grid = _random_hyperparameter(rng, j, min(max_levels, 20))
        hps.append(hp)
        if grid is not None:
            grids[hp.name] = grid
    space = SearchSpace(hps)
    shape = [len(hp.values) if hp.is_discrete else len(grids[hp.name]) for hp in space]
    n_cells = int(np.prod(shape))
    probe = TabularObjective(name, space, np.zeros(n_cells), grid_values=grids)
    u = probe.encoded_grid()  # (n_cells, d)
    f = np.zeros(n_cells)
    for _ in range(int(rng.integers(1, 5))):  # random bumps (multi-modal)
        c = rng.random(d)
        width = rng.uniform(0.15, 0.6, d)
        f += rng.uniform(0.3, 1.0) * np.exp(-0.5 * (((u - c) / width) ** 2).sum(1))
    for j, hp in enumerate(space):  # categorical choices shift the score, sometimes strongly
        if hp.kind == "categorical":
            idx = np.minimum((u[:, j] * len(hp.values)).astype(int), len(hp.values) - 1)
            f += rng.normal(0, 0.3, len(hp.values))[idx]
    f += rng.normal(0, 0.01, n_cells)  # a little roughness, like real tables
    low, high = rng.uniform(0.3, 0.7), rng.uniform(0.8, 1.0)
    score = low + (high - low) * (f - f.min()) / max(np.ptp(f), 1e-12)
    return TabularObjective(name, space, score, metric="synthetic_score", grid_values=grids,
                            metadata={"synthetic": True})


def hpobench_like_objective(rng: np.random.Generator, space: SearchSpace, name: str = "synthetic-nn") -> TabularObjective:
    """A random smooth objective over a given grid space (e.g. the embedded NN space)."""
    n_cells = int(np.prod([len(hp.values) for hp in space]))
    probe = TabularObjective(name, space, np.zeros(n_cells))
    u = probe.encoded_grid()
    f = np.zeros(n_cells)
    for _ in range(int(rng.integers(1, 4))):
        c = rng.random(len(space))
        width = rng.uniform(0.15, 0.6, len(space))
        f += rng.uniform(0.3, 1.0) * np.exp(-0.5 * (((u - c) / width) ** 2).sum(1))
    f += rng.normal(0, 0.01, n_cells)
    score = 0.5 + 0.5 * (f - f.min()) / max(np.ptp(f), 1e-12)
    return TabularObjective(name, space, score, metric="synthetic_score", metadata={"synthetic": True})


def grid_synthetic_bank(tables: list[TabularObjective], n: int, seed: int = 0) -> list[TabularObjective]:
    """``n`` random smooth objectives (:func:`hpobench_like_objective`) on the grids of ``tables``.

    Unlike the random-space bank, these share the real tables' search space, so the policy sees the suite's
    own hyperparameters with optima anywhere on the grid, not only where the 6-7 training tasks peak (on
    credit_g the other tasks' optima mislead: the zero-shot portfolio built from them does worse than TPE there).
    """
    if n and not tables:
        raise ValueError("grid-synthetic objectives need at least one training table to take the grid from")
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        t = tables[int(rng.integers(len(tables)))]
        out.append(hpobench_like_objective(rng, t.space, name=f"grid-synthetic-{seed}-{i}"))
    return out


def seed_tables(tables: list[TabularObjective]) -> list[TabularObjective]:
    """Every training table split into one table per recorded seed (a real, noisy realization of the task).

    The mean-score tables are what the benchmark scores on, but their single best cells are partly seed luck
    (``hpo-gym tasks --difficulty``: on blood_transfusion and kc1 the best cell leads the runner-up by less
    than one standard error of the seeds). Training on the per-seed tables too shows the policy the same
    task with its optimum moved by that noise, so it cannot just memorize the mean table's best cells.
    """
    out = []
    for t in tables:
        scores = np.asarray(t.seed_scores, dtype=float)
        for s in range(scores.shape[1]):
            out.append(TabularObjective(f"{t.name}@seed{s}", t.space, scores[:, s:s + 1], metric=t.metric,
                                        grid_values=t.grid_values, metadata={"synthetic": True, "seed_of": t.name}))
    return out


def mixed_table(a: TabularObjective, b: TabularObjective, weight: float, name: str) -> TabularObjective:
    """``weight * a + (1 - weight) * b`` of the two tables' per-seed scores, each min-max normalized by its oracle."""
    if a.grid_shape != b.grid_shape or [hp.name for hp in a.space] != [hp.name for hp in b.space]:
        raise ValueError(f"tables {a.name!r} and {b.name!r} have different grids; only tables on one grid can be mixed")

    def unit(t: TabularObjective) -> np.ndarray:
        return (np.asarray(t.seed_scores) - t.oracle.worst) / max(t.oracle.best - t.oracle.worst, 1e-12)

    score = weight * unit(a) + (1.0 - weight) * unit(b)
    return TabularObjective(name, a.space, score, metric="mixed_score", grid_values=a.grid_values,
                            metadata={"synthetic": True, "mixed_from": [a.name, b.name], "weight": weight})


def interpolation_groups(tables: Sequence[TabularObjective]) -> list[list[TabularObjective]]:
    """The groups of ``tables`` that share one grid (two or more each), which :func:`mixed_tables` draws its pairs
    from; ``ValueError`` when there are none. Cheap, so training checks it before any banner or work."""
    by_grid: dict[tuple, list[TabularObjective]] = {}
    for t in tables:
        by_grid.setdefault((t.grid_shape, tuple(hp.name for hp in t.space)), []).append(t)
    groups = [g for g in by_grid.values() if len(g) >= 2]
    if not groups:
        raise ValueError("task interpolation (--mixed) needs at least two training tables on the same grid")
    return groups


def mixed_tables(tables: list[TabularObjective], n: int, seed: int = 0) -> list[TabularObjective]:
    """``n`` interpolated tasks from random pairs of ``tables`` on a shared grid, weights uniform in [0.25, 0.75]."""
    rng = np.random.default_rng(seed)
    groups = interpolation_groups(tables) if n else []
    out = []
    for i in range(n):
        group = groups[int(rng.integers(len(groups)))]
        ia, ib = rng.choice(len(group), size=2, replace=False)
        w = float(rng.uniform(0.25, 0.75))
        out.append(mixed_table(group[ia], group[ib], w, f"mixed-{seed}-{i}:{group[ia].name}+{group[ib].name}"))
    return out


def synthetic_bank(n: int, seed: int = 0, max_cells: int = 40_000) -> list[TabularObjective]:
    """``n`` seeded random objectives (different spaces), for training."""
    rng = np.random.default_rng(seed)
    return [random_objective(rng, f"synthetic-{seed}-{i}", max_cells=max_cells) for i in range(n)]
