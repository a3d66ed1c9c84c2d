"""Training tasks beyond the suite's tables: random synthetic objectives (own spaces or the tables' grid) and interpolated tables."""

from __future__ import annotations

import numpy as np
import pytest

from agents.grpoformer.synthetic import grid_synthetic_bank, mixed_table, mixed_tables, random_objective, seed_tables
from agents.grpoformer.train import TrainConfig, recipe_tag, training_pool
from hpo_gym.suites import HPOBENCH_NN_TASKS, load_hpobench_nn


def test_mixed_table_interpolates_the_normalized_seed_scores():
    a, b = load_hpobench_nn("credit_g"), load_hpobench_nn("kc1")
    m = mixed_table(a, b, 0.3, "mix")
    unit_a = (a.seed_scores - a.oracle.worst) / (a.oracle.best - a.oracle.worst)
    unit_b = (b.seed_scores - b.oracle.worst) / (b.oracle.best - b.oracle.worst)
    np.testing.assert_allclose(m.seed_scores, 0.3 * unit_a + 0.7 * unit_b)
    assert m.space is a.space and m.grid_shape == a.grid_shape
    assert 0.0 <= m.oracle.worst < m.oracle.best <= 1.0


def test_mixed_tables_pairs_tables_on_one_grid_and_rejects_others():
    tables = [load_hpobench_nn(t) for t in ("credit_g", "kc1", "car")]
    mixed = mixed_tables(tables, 5, seed=1)
    assert len(mixed) == 5
    for m in mixed:
        a, b = m.metadata["mixed_from"]
        assert a != b and {a, b} <= {"credit_g", "kc1", "car"} and 0.25 <= m.metadata["weight"] <= 0.75
    assert [m.name for m in mixed] == [m.name for m in mixed_tables(tables, 5, seed=1)]  # seeded
    other = random_objective(np.random.default_rng(0), "other", min_dims=2, max_dims=2, max_cells=100)
    with pytest.raises(ValueError, match="different grids"):
        mixed_table(tables[0], other, 0.5, "bad")
    with pytest.raises(ValueError, match="same grid"):
        mixed_tables([tables[0], other], 2)


def test_grid_synthetic_objectives_share_the_table_grid_and_move_the_optimum():
    table = load_hpobench_nn("credit_g")
    bank = grid_synthetic_bank([table], 4, seed=3)
    assert [o.name for o in bank] == [o.name for o in grid_synthetic_bank([table], 4, seed=3)]  # seeded
    best_cells = set()
    for obj in bank:
        assert obj.space is table.space and obj.grid_shape == table.grid_shape
        assert obj.oracle.best == pytest.approx(1.0) and obj.oracle.worst == pytest.approx(0.5)
        best_cells.add(int(np.argmax(obj.mean_scores)))
    assert len(best_cells) == 4  # each one peaks somewhere else
    with pytest.raises(ValueError, match="at least one training table"):
        grid_synthetic_bank([], 2)


def test_training_pool_gives_each_extra_group_its_share():
    tables = [load_hpobench_nn(t) for t in ("credit_g", "kc1")]
    grid = grid_synthetic_bank(tables, 3, seed=0)
    pool, weights = training_pool(tables, [([], 0.15), (grid, 0.3)])
    assert pool == tables + grid
    np.testing.assert_allclose(weights, [0.35, 0.35, 0.1, 0.1, 0.1])
    assert training_pool(tables, [([], 0.15)]) == (tables, None)
    with pytest.raises(ValueError, match="leaving none for the real tables"):
        training_pool(tables, [(grid, 1.0)])
    with pytest.raises(ValueError, match="no training tables"):
        training_pool([], [(grid, 0.3)])
    assert recipe_tag(TrainConfig(grid_synthetic=24)) == "grid_synthetic=24@0.3"


def test_seed_tables_are_the_recorded_seeds_of_each_table():
    table = load_hpobench_nn("blood_transfusion")
    per_seed = seed_tables([table])
    assert [t.name for t in per_seed] == [f"blood_transfusion@seed{s}" for s in range(5)]
    for s, t in enumerate(per_seed):
        assert t.space is table.space and t.grid_shape == table.grid_shape
        np.testing.assert_array_equal(t.mean_scores, np.asarray(table.seed_scores)[:, s])
    # the mean table's single best cell is not every seed's best: the noise moves the optimum
    best = int(np.argmax(table.mean_scores))
    assert any(int(np.argmax(t.mean_scores)) != best for t in per_seed)
    assert recipe_tag(TrainConfig(seed_tables=True)) == "seed_tables@0.5"


def test_train_cli_refuses_extra_tasks_that_leave_no_room_for_the_real_tables(tmp_path, capsys):
    from hpo_gym.cli import main

    args = ["train-grpoformer", "--holdout", "credit_g", "--out", str(tmp_path / "run"), "--updates", "1",
            "--mixed", "2", "--grid-synthetic", "2", "--seed-tables"]  # 15 + 30 + 30 + 50 % of the episodes
    assert main(args) == 2
    out, err = capsys.readouterr()
    # refused before the banner and before any table is built or file written (it came after both: found in review)
    assert "take 125% of the episodes" in err and out == "" and not (tmp_path / "run").exists()
    for extra, message in ((["--warm-start", "2", "--holdout", ",".join(list(HPOBENCH_NN_TASKS)[1:])],
                            "--warm-start (warm_start) needs at least 2 training tables"),
                           (["--mixed", "2", "--holdout", ",".join(list(HPOBENCH_NN_TASKS)[1:])],
                            "task interpolation (--mixed) needs at least two training tables on the same grid")):
        args = ["train-grpoformer", "--out", str(tmp_path / "one"), "--updates", "1", *extra]
        assert main(args) == 2
        out, err = capsys.readouterr()
        assert message in err and out == "" and not (tmp_path / "one").exists()


def test_task_priority_draws_the_hardest_tables_more_and_leaves_extra_shares_alone():
    """Rank prioritization: harmonic weights by difficulty over the real tables, mixed with uniform; unseen first."""
    from agents.grpoformer.train import task_priority_weights

    base = np.array([0.35, 0.35, 0.1, 0.1, 0.1])  # 2 real tables, 3 extra tasks (training_pool's layout)
    w = task_priority_weights(base, 5, np.array([0.01, 0.04]), share=0.5)
    # real share 0.7: uniform half 0.175 each, prioritized half 0.35 * (1/2, 1) / 1.5 -> hardest (index 1) 2/3
    np.testing.assert_allclose(w, [0.175 + 0.35 / 3, 0.175 + 0.35 * 2 / 3, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(task_priority_weights(base, 5, np.array([0.01, 0.04]), share=0.0), base)
    unseen_first = task_priority_weights(None, 3, np.array([0.05, np.nan, 0.01]), share=1.0)
    np.testing.assert_allclose(unseen_first, np.array([1 / 2, 1, 1 / 3]) / (11 / 6))
    assert recipe_tag(TrainConfig(task_priority=0.5)) == "task_priority=0.5"
    with pytest.raises(ValueError, match=r"task_priority=1.5: .* in \[0, 1\]"):
        TrainConfig(task_priority=1.5).validate()


def test_difficulty_is_a_running_mean_of_each_tables_final_regret():
    from agents.grpoformer.train import update_difficulty

    names = ["kc1", "car", "credit_g"]
    first = update_difficulty(np.full(3, np.nan), names, ["kc1", "car", "kc1", "synthetic-3"],
                              np.array([0.02, 0.0, 0.04, 0.5]))
    np.testing.assert_allclose(first, [0.03, 0.0, np.nan])  # credit_g drew no episode: still unseen
    second = update_difficulty(first, names, ["kc1", "credit_g"], np.array([0.01, 0.02]), decay=0.8)
    np.testing.assert_allclose(second, [0.8 * 0.03 + 0.2 * 0.01, 0.0, 0.02])


def test_task_priority_training_resumes_exactly(tmp_path):
    """The per-table difficulty is part of the training state: a resumed run draws the tasks the straight run drew."""
    import dataclasses

    import torch

    from tests.grpoformer.conftest import assert_resume_is_exact

    cfg = TrainConfig(updates=4, synthetic=2, task_priority=1.0, eval_every=10**6, ckpt_every=1)
    cfg = dataclasses.replace(cfg, learner=dataclasses.replace(cfg.learner, episodes=4, horizon=5))
    assert_resume_is_exact([load_hpobench_nn(t) for t in ("kc1", "car", "credit_g")], cfg, tmp_path)
    state = torch.load(tmp_path / "straight" / "state.pt", weights_only=False)
    assert np.isfinite(state["difficulty"]).sum() >= 1 and state["difficulty"].shape == (3,)
