"""Search spaces: encoding round trips, clipping, sampling, ConfigSpace interop, gym spaces."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gymnasium import spaces

from hpo_gym.space import Categorical, Float, Int, Ordinal, SearchSpace
from hpo_gym.suites import hpobench_nn_space


@pytest.fixture
def mixed_space() -> SearchSpace:
    return SearchSpace([
        Float("lr", 1e-5, 1.0, log=True),
        Float("momentum", 0.0, 0.99),
        Int("layers", 1, 8),
        Int("width", 16, 1024, log=True),
        Ordinal("batch", [16, 32, 64, 128]),
        Categorical("act", ["relu", "tanh", "gelu"]),
    ])


def test_round_trip_on_every_config_of_the_hpobench_grid(credit_g):
    space = credit_g.space
    configs = [credit_g.cell_config(c) for c in range(credit_g.n_configs)]
    assert len(configs) == 30_000
    decoded = space.decode_many(space.encode_many(configs))
    assert decoded == configs


def test_round_trip_of_every_int_and_discrete_value(mixed_space):
    rng = np.random.default_rng(0)
    for layers in range(1, 9):
        for batch in [16, 32, 64, 128]:
            for act in ["relu", "tanh", "gelu"]:
                c = {"lr": 1e-3, "momentum": 0.5, "layers": layers, "width": int(rng.integers(16, 1025)), "batch": batch, "act": act}
                back = mixed_space.decode(mixed_space.encode(c))
                assert back["layers"] == layers and back["batch"] == batch and back["act"] == act
                assert back["width"] == c["width"]
                assert math.isclose(back["lr"], 1e-3, rel_tol=1e-9) and math.isclose(back["momentum"], 0.5)


def test_continuous_encoding_is_monotone_and_log_scaled(mixed_space):
    lr = mixed_space["lr"]
    values = np.logspace(-5, 0, 50)
    codes = [lr.encode(v) for v in values]
    assert np.all(np.diff(codes) > 0)
    assert lr.encode(10 ** -2.5) == pytest.approx(0.5)  # geometric midpoint of [1e-5, 1]
    assert mixed_space["momentum"].encode(0.495) == pytest.approx(0.5)


def test_categorical_uses_equal_bins(mixed_space):
    act = mixed_space["act"]
    assert [act.encode(c) for c in ["relu", "tanh", "gelu"]] == pytest.approx([1 / 6, 3 / 6, 5 / 6])
    assert [act.decode(u) for u in [0.0, 0.33, 0.34, 0.66, 0.67, 1.0]] == ["relu", "relu", "tanh", "tanh", "gelu", "gelu"]


def test_out_of_range_values_are_clipped_and_non_finite_rejected(mixed_space):
    assert mixed_space["lr"].encode(100.0) == 1.0
    assert mixed_space["momentum"].encode(-3) == 0.0
    c = mixed_space.decode(np.array([-1.0, 2.0, 0.5, 0.5, 0.5, 0.5]))
    assert c["lr"] == pytest.approx(1e-5) and c["momentum"] == pytest.approx(0.99)
    with pytest.raises(ValueError, match="NaN or inf"):
        mixed_space.decode(np.array([np.nan, 0, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="non-finite"):
        mixed_space["lr"].encode(float("inf"))
    with pytest.raises(ValueError, match="shape"):
        mixed_space.decode(np.zeros(3))


def test_bad_definitions_and_configs_name_the_problem(mixed_space):
    with pytest.raises(ValueError, match="low < high"):
        Float("x", 1.0, 0.0)
    with pytest.raises(ValueError, match="low > 0"):
        Float("x", 0.0, 1.0, log=True)
    with pytest.raises(ValueError, match="duplicate"):
        Categorical("c", ["a", "a"])
    with pytest.raises(ValueError, match="finite bounds"):
        Float("x", 0.0, math.inf)
    with pytest.raises(ValueError, match="use Categorical with None"):
        Ordinal("depth", [math.nan, 3, 5])
    with pytest.raises(ValueError, match="missing .*'lr'"):
        mixed_space.encode({"momentum": 0.1})
    with pytest.raises(ValueError, match="not a value"):
        mixed_space["batch"].encode(48)


def test_sampling_is_seeded_and_covers_the_space(mixed_space):
    a = mixed_space.sample(np.random.default_rng(3), 200)
    b = mixed_space.sample(np.random.default_rng(3), 200)
    assert a == b
    assert {c["act"] for c in a} == {"relu", "tanh", "gelu"}
    assert all(1e-5 <= c["lr"] <= 1.0 and isinstance(c["layers"], int) for c in a)
    # log-uniform: about half of the samples below the geometric midpoint
    assert 0.35 < np.mean([c["lr"] < 10 ** -2.5 for c in a]) < 0.65
    assert isinstance(mixed_space.sample(np.random.default_rng(0)), dict)


def test_configspace_round_trip(mixed_space):
    cs = mixed_space.to_configspace(seed=0)
    back = SearchSpace.from_configspace(cs)
    assert {hp.name: hp for hp in back} == {hp.name: hp for hp in mixed_space}
    sample = dict(cs.sample_configuration())
    assert back.decode(back.encode(sample))["act"] == sample["act"]
    grid = hpobench_nn_space()
    assert {hp.name: hp for hp in SearchSpace.from_configspace(grid.to_configspace())} == {hp.name: hp for hp in grid}


def test_gymnasium_spaces_for_each_action_encoding(mixed_space):
    box = mixed_space.box_space()
    assert isinstance(box, spaces.Box) and box.shape == (6,) and box.low.min() == 0 and box.high.max() == 1
    d = mixed_space.dict_space()
    assert isinstance(d["act"], spaces.Discrete) and d["act"].n == 3
    assert isinstance(d["lr"], spaces.Box) and d["lr"].low[0] == pytest.approx(1e-5)
    config = mixed_space.dict_action_to_config(d.sample())
    mixed_space.validate(config)
    with pytest.raises(ValueError, match="continuous"):
        mixed_space.multidiscrete_space()
    md = hpobench_nn_space().multidiscrete_space()
    assert list(md.nvec) == [10, 10, 3, 10, 10]
