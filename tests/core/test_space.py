"""Search spaces: encoding round trips, clipping, sampling, ConfigSpace interop, gym spaces."""

from __future__ import annotations

import math
from collections import Counter

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
    assert back == mixed_space
    sample = dict(cs.sample_configuration())
    assert back.decode(back.encode(sample))["act"] == sample["act"]
    grid = hpobench_nn_space()
    assert SearchSpace.from_configspace(grid.to_configspace()) == grid


def test_to_configspace_refuses_a_float_bound_configspace_would_round():
    """ConfigSpace keeps 13 decimals of a float bound: 1/3 came back as another space whose upper end refused this
    space's own decode(1.0), and a log bound of 1e-15 failed with ConfigSpace's "illegal settings"."""
    from hpo_gym.space import Float

    with pytest.raises(ValueError, match=r"'x' has the range \[0.0, 0.3333333333333333\], which ConfigSpace stores as "
                                         r"\[0.0, 0.3333333333333\] .*np.round\(bound, 13\) == bound"):
        SearchSpace([Float("x", 0.0, 1 / 3)]).to_configspace()
    with pytest.raises(ValueError, match=r"'tol' has the range \[1e-15, .*a log-scale lower bound must be at least 1e-13"):
        SearchSpace([Float("tol", 1e-15, 1e-3, log=True)]).to_configspace()
    fine = SearchSpace([Float("x", 0.0, 0.3333333333333), Float("tol", 1e-13, 1e-3, log=True)])
    assert SearchSpace.from_configspace(fine.to_configspace()) == fine
    import ConfigSpace as CS

    with pytest.raises(ValueError, match=r"too wide for ConfigSpace .* give bounds within \+-1e295"):
        SearchSpace([Float("x", 0.0, 1e300)]).to_configspace()  # np.round overflowed to inf and passed as "outward"
    wide = SearchSpace([Float("c", 1.0, 1e12)])  # ConfigSpace rounds 1e12 up (outward): its end stays inside, kept
    CS.Configuration(wide.to_configspace(), values={"c": wide.decode(np.array([1.0]))["c"]})
    # an outward rounding that moves a log bound by 1 % of the range was kept, and the exported space sampled below it
    with pytest.raises(ValueError, match=r"'tol' .* stores as \[1e-13, 1.0\] .*0.011 of the range wider on its log "
                                         r"scale.*at most 13 decimals"):
        SearchSpace([Float("tol", 1.4e-13, 1.0, log=True)]).to_configspace()


def test_configspace_round_trip_keeps_the_order_and_the_encoding(mixed_space, tmp_path):
    import ConfigSpace as CS

    cs = mixed_space.to_configspace()
    assert list(cs) != mixed_space.names  # ConfigSpace sorts by name; the order travels in each hyperparameter's meta
    back = SearchSpace.from_configspace(cs)
    assert back.names == mixed_space.names == ["lr", "momentum", "layers", "width", "batch", "act"]
    config = {"lr": 1e-3, "momentum": 0.5, "layers": 3, "width": 100, "batch": 64, "act": "gelu"}
    np.testing.assert_array_equal(back.encode(config), mixed_space.encode(config))
    cs.to_json(tmp_path / "space.json")  # ConfigSpace's files keep the meta, so the order survives them too
    assert SearchSpace.from_configspace(CS.ConfigurationSpace.from_json(tmp_path / "space.json")) == mixed_space
    cs.add(CS.UniformFloatHyperparameter("added", 0.0, 1.0))  # no recorded position: follows the recorded ones
    assert SearchSpace.from_configspace(cs).names == mixed_space.names + ["added"]
    elsewhere = CS.ConfigurationSpace(space={"zeta": (0.0, 1.0), "alpha": (1, 5)})  # built elsewhere: ConfigSpace's order
    assert SearchSpace.from_configspace(elsewhere).names == list(elsewhere) == ["alpha", "zeta"]
    with pytest.raises(ValueError, match="ConfigurationSpace"):
        SearchSpace.from_configspace({"lr": (0.0, 1.0)})


def test_configspace_priors_are_refused_not_dropped():
    """Categorical weights were dropped without a word (Normal and Beta ranges were already refused)."""
    import ConfigSpace as CS

    weighted = CS.ConfigurationSpace({"c": CS.Categorical("c", ["a", "b"], weights=[0.99, 0.01])})
    with pytest.raises(ValueError, match=r"categorical 'c' has weights \(0.99, 0.01\) \(a prior over its choices\)"):
        SearchSpace.from_configspace(weighted)
    with pytest.raises(ValueError, match="NormalFloatHyperparameter is not supported"):
        SearchSpace.from_configspace(CS.ConfigurationSpace({"x": CS.Float("x", (0.0, 1.0), distribution=CS.Normal(0.5, 0.1))}))
    even = CS.ConfigurationSpace({"c": CS.Categorical("c", ["a", "b"], weights=[1, 1])})  # no prior: kept
    assert SearchSpace.from_configspace(even) == SearchSpace([Categorical("c", ["a", "b"])])


def test_a_bare_string_or_an_unordered_set_is_refused_as_values():
    with pytest.raises(ValueError, match=r"'act'.*single str 'relu'.*list of values, e\.g\. Categorical\('act', \['relu', 'tanh'\]\)"):
        Categorical("act", "relu")
    with pytest.raises(ValueError, match=r"'o'.*single str 'abc'.*list of values"):
        Ordinal("o", "abc")
    with pytest.raises(ValueError, match=r"'c'.*single bytes.*list of values"):
        Categorical("c", b"ab")
    with pytest.raises(ValueError, match=r"'c' needs a list of values, got 5"):
        Categorical("c", 5)
    with pytest.raises(ValueError, match=r"'c' got a set.*order"):
        Categorical("c", {"relu", "tanh"})
    assert Categorical("act", ("relu",)).values == ("relu",)
    assert Ordinal("o", np.array([1, 2, 4])).values == (1, 2, 4) and type(Ordinal("o", np.array([1, 2])).values[0]) is int
    assert Categorical("c", (v for v in ["a", "b"])).values == ("a", "b")


def test_int_bounds_must_be_whole_numbers():
    with pytest.raises(ValueError, match=r"int hyperparameter 'n' needs whole-number bounds, got low=0\.5.*Int\('n', 1, 10\)"):
        Int("n", 0.5, 10)
    with pytest.raises(ValueError, match=r"'n' needs whole-number bounds, got high=10\.7"):
        Int("n", 0, 10.7)
    with pytest.raises(ValueError, match=r"'n' needs finite bounds, got high=inf"):
        Int("n", 0, math.inf)
    with pytest.raises(ValueError, match=r"'n' needs a number as its low bound, got True"):
        Int("n", True, 10)
    with pytest.raises(ValueError, match=r"float hyperparameter 'x' needs a number as its high bound, got '1'"):
        Float("x", 0.0, "1")
    n = Int("n", 1.0, np.int64(10))
    assert (n.low, n.high) == (1, 10) and type(n.low) is int and type(n.high) is int and n.n_choices == 10
    assert Int("n", np.float64(2.0), 8, log=True) == Int("n", 2, 8, log=True)
    x = Float("x", np.float32(0.5), 2)
    assert type(x.low) is float and type(x.high) is float


def test_bounds_of_a_range_and_a_clear_error_for_values():
    assert Int("n", 1.0, 10).bounds() == (1, 10) and Float("x", 0.5, 2).bounds() == (0.5, 2.0)
    for hp in (Ordinal("batch", [16, 32]), Categorical("act", ["relu", "tanh"])):
        with pytest.raises(ValueError, match=rf"{hp.kind} hyperparameter '{hp.name}' has values, not a range; read \.values"):
            hp.bounds()


def test_log_must_be_a_bool():
    for bad in ["no", 1, None]:
        with pytest.raises(ValueError, match=rf"float hyperparameter 'lr' needs log=True or log=False, got log={bad!r}"):
            Float("lr", 1e-4, 1.0, log=bad)
    with pytest.raises(ValueError, match=r"int hyperparameter 'n' needs log=True or log=False"):
        Int("n", 1, 10, log="yes")
    assert Float("lr", 1e-4, 1.0, log=np.True_).log is True
    assert Float("lr", 1e-4, 1.0, log=np.bool_(False)).log is False
    # ranges the encoding cannot carry: decode(0.5) gave 1e308 and decode(0) NaN; 2**63 - 1 came back negative
    with pytest.raises(ValueError, match=r"spans \[-1e\+308, 1e\+308\], whose width overflows a float"):
        Float("x", -1e308, 1e308)
    with pytest.raises(ValueError, match=r"'s' has a bound beyond 2\*\*49, past which its float encoding"):
        Int("s", 0, 2**63 - 1)
    assert Int("n", 0, 2**31 - 1).decode(1.0) == 2**31 - 1 and Float("y", -1e300, 1e300).decode(0.5) == 0.0


def test_values_that_compare_equal_are_refused_as_duplicates():
    with pytest.raises(ValueError, match=r"'c' has duplicate values 1 and True \(equal in Python.*share one encoding"):
        Categorical("c", [1, True])
    with pytest.raises(ValueError, match=r"'o' has duplicate values 1 and 1\.0 \(equal in Python"):
        Ordinal("o", [1, 1.0])
    with pytest.raises(ValueError, match=r"duplicate values False and 0 \(equal in Python"):
        Categorical("c", [False, "x", 0])
    with pytest.raises(ValueError, match=r"duplicate values 0\.1 and 0\.10000001 \(equal within the relative tolerance"):
        Ordinal("lr", [0.01, 0.10000001, 0.1])
    with pytest.raises(ValueError, match=r"duplicate values \[1\] and \[1\]"):
        Categorical("c", [[1], [2], [1]])
    with pytest.raises(ValueError, match=r"'c' has a missing value \(NaN, NA\).*use None"):
        Categorical("c", ["a", math.nan])
    # distinct values stay distinct, including ones that only look alike, and each decodes to itself
    for hp in [Categorical("c", [1, "1", None, 2.5, False]), Ordinal("o", [1e-4, 1.0001e-4, 1]), Categorical("t", [(1, 2), (3, 4)])]:
        assert [hp.decode(hp.encode(v)) for v in hp.values] == list(hp.values)
        assert [type(hp.decode(hp.encode(v))) for v in hp.values] == [type(v) for v in hp.values]


def test_a_bad_value_to_encode_names_its_hyperparameter(mixed_space):
    config = {"lr": 1e-3, "momentum": 0.5, "layers": 3, "width": 100, "batch": 64, "act": "gelu"}
    with pytest.raises(ValueError, match=r"float hyperparameter 'lr' needs a number in \[1e-05, 1\.0\], got 'abc'"):
        mixed_space.encode({**config, "lr": "abc"})
    with pytest.raises(ValueError, match=r"int hyperparameter 'layers' needs an integer in \[1, 8\], got None"):
        mixed_space.encode({**config, "layers": None})
    with pytest.raises(ValueError, match=r"not a value of ordinal hyperparameter 'batch'.*\[16, 32, 64, 128\]"):
        mixed_space.encode({**config, "batch": np.array([16, 32])})
    with pytest.raises(ValueError, match=r"a configuration is a dict .* got list"):
        mixed_space.encode([0.5] * 6)
    with pytest.raises(KeyError, match=r"'depth' is not a hyperparameter of this search space"):
        mixed_space["depth"]


def test_decode_many_needs_an_n_by_d_array(mixed_space):
    with pytest.raises(ValueError, match=r"decode_many takes an array of shape \(n, d\) with d=6, got \(6,\).*u\[None, :\]"):
        mixed_space.decode_many(np.zeros(6))
    with pytest.raises(ValueError, match=r"decode_many takes an array of shape \(n, d\) with d=6, got \(4,\)"):
        mixed_space.decode_many(np.zeros(4))
    with pytest.raises(ValueError, match=r"decode takes one vector of shape \(6,\), got \(2, 6\)"):
        mixed_space.decode(np.zeros((2, 6)))
    with pytest.raises(ValueError, match=r"array of numbers in \[0, 1\]"):
        mixed_space.decode_many([["a"] * 6])
    with pytest.raises(ValueError, match=r"decoding 'lr' needs a finite number"):
        mixed_space["lr"].decode(math.nan)
    assert len(mixed_space.decode_many(np.zeros((3, 6)))) == 3


def test_search_space_entries_must_be_hyperparameters():
    with pytest.raises(ValueError, match=r"single hyperparameter 'lr'; wrap it in a list: e\.g\. SearchSpace\(\[Float\('lr'"):
        SearchSpace(Float("lr", 1e-4, 1.0, log=True))
    with pytest.raises(ValueError, match=r"entry 0 is 'a' \(str\), not a hyperparameter.*Float, Int, Ordinal or Categorical"):
        SearchSpace(["a"])
    with pytest.raises(ValueError, match=r"entry 1 is \('x', 0, 1\)"):
        SearchSpace([Float("lr", 1e-4, 1.0), ("x", 0, 1)])
    with pytest.raises(ValueError, match=r"takes a list of hyperparameters, got int 5"):
        SearchSpace(5)
    with pytest.raises(ValueError, match=r"takes a list of hyperparameters, got dict"):
        SearchSpace({"lr": Float("lr", 1e-4, 1.0)})
    with pytest.raises(ValueError, match=r"name must be a non-empty string, got 5"):
        Float(5, 0.0, 1.0)
    assert SearchSpace(hp for hp in [Float("lr", 1e-4, 1.0)]).names == ["lr"]


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


def test_a_number_grid_with_some_floats_holds_floats_only():
    """HPOBench's alpha grid ends in the int 1: a configuration with it carried an int where every other was a float."""
    alpha = Ordinal("alpha", [1e-08, 0.129, 1])
    assert alpha.values == (1e-08, 0.129, 1.0) and all(type(v) is float for v in alpha.values)
    assert type(alpha.decode(alpha.encode(1))) is float  # the int still finds its value
    assert Ordinal("width", [16, 32]).values == (16, 32) and type(Ordinal("width", [16, 32]).values[0]) is int
    assert Categorical("c", [1, "1", 2.5]).values == (1, "1", 2.5)  # not all numbers: left as given
    assert Categorical("b", [True, 0.5]).values == (True, 0.5)  # a bool is a setting, not a number


def test_a_categorical_keeps_its_numbers_exactly():
    """sklearn's max_features=1 is one feature, 1.0 all of them: a categorical [1, 0.5] used to hand out 1.0."""
    max_features = Categorical("max_features", [1, 0.5, "sqrt"])
    assert max_features.values == (1, 0.5, "sqrt") and type(max_features.decode(max_features.encode(1))) is int
    split = SearchSpace([Categorical("min_samples_split", [2, 0.25])])
    assert [type(c["min_samples_split"]) for c in (split.decode(np.array([0.1])), split.decode(np.array([0.9])))] == [
        int, float]


def test_every_integer_round_trips_up_to_the_bound_limits():
    """Ints near 2**53 (linear) or 1e15 (log) decoded to a neighbour: the limits are where every integer still holds."""
    from hpo_gym.space import MAX_EXACT_INT, MAX_EXACT_LOG_INT

    rng = np.random.default_rng(0)
    for hp in (Int("n", 0, MAX_EXACT_INT), Int("m", -MAX_EXACT_INT, MAX_EXACT_INT), Int("l", 1, MAX_EXACT_LOG_INT, log=True)):
        low, high = hp.bounds()
        values = [low, low + 1, high - 1, high]
        values += [int(v) for v in rng.integers(low, high, size=3000, endpoint=True)]
        if hp.log:  # log-uniform draws as well, so that the small integers are tried too
            values += [int(round(math.exp(v))) for v in rng.uniform(0, math.log(high), size=3000)]
        wrong = [v for v in values if hp.decode(hp.encode(v)) != v]
        assert not wrong, (hp.name, wrong[:5])
    with pytest.raises(ValueError, match=r"'big' has a bound beyond 1e13, past which its float encoding \(in log space\)"):
        Int("big", 1, 10**15, log=True)


def test_the_cube_ends_decode_to_the_bounds_exactly():
    for hp in (Float("lr", 1e-4, 0.1, log=True), Float("x", -3.3, 7.1), Float("y", 1e-300, 1e300, log=True)):
        assert hp.decode(0.0) == hp.low and hp.decode(1.0) == hp.high
        assert hp.decode(-0.5) == hp.low and hp.decode(1.5) == hp.high


def test_index_of_takes_numpy_scalars_beside_tuple_values():
    """(64,) == np.int64(128) compares element-wise; its error used to end the search with 'not a value'."""
    layers = Categorical("layers", [(64,), (64, 64), 128])
    assert layers.index_of(np.int64(128)) == 2 and layers.index_of((64, 64)) == 1
    assert Ordinal("width", [16, 32, 64]).index_of(np.float32(32.0)) == 1
    with pytest.raises(ValueError, match=r"array\(\[1, 2\]\) \(ndarray\) is not a value of categorical hyperparameter 'layers'"):
        layers.index_of(np.array([1, 2]))


def test_every_integer_of_an_int_is_drawn_as_often_as_optuna_and_configspace_draw_it():
    """Rounding onto [low, high] gave each end value half a bin: depth in {1, 2, 3} was drawn 25/50/25 %."""
    n = 30_000
    depth = SearchSpace([Int("depth", 1, 3)])
    counts = Counter(c["depth"] for c in depth.sample(np.random.default_rng(0), n))
    assert all(abs(counts[k] / n - 1 / 3) < 0.015 for k in (1, 2, 3)), counts
    layers = SearchSpace([Int("layers", 1, 8, log=True)])  # log-uniform: integer k owns [log(k - 1/2), log(k + 1/2)]
    counts = Counter(c["layers"] for c in layers.sample(np.random.default_rng(0), n))
    expected = {k: math.log((k + 0.5) / (k - 0.5)) / math.log(8.5 / 0.5) for k in range(1, 9)}
    assert all(abs(counts[k] / n - p) < 0.015 for k, p in expected.items()), counts
    for hp in (Int("k", 0, 3), Int("l", 1, 8, log=True), Int("big", -5, 10**6)):
        assert hp.decode(0.0) == hp.low and hp.decode(1.0) == hp.high
        assert all(hp.decode(hp.encode(v)) == v for v in [hp.low, hp.low + 1, hp.high - 1, hp.high])


def test_a_task_id_string_is_ascii_digits_only():
    """'²'.isdigit() is True, and int('²') then failed with Python's own 'invalid literal' instead of 'unknown task'."""
    from hpo_gym.suites import as_task_id, get_suite

    assert as_task_id("31") == 31 and as_task_id(" 31 ") == 31 and as_task_id("²") is None and as_task_id("٣١") is None
    with pytest.raises(ValueError, match=r"unknown task '²' in suite 'hpobench-nn'"):
        get_suite("hpobench-nn").task_name("²")


def test_public_conversions_name_bad_input():
    """From the space audit: pandas' NA crashed with pandas' own TypeError, a string got 'outside its range', a short or
    out-of-range index list gave a partial configuration or an IndexError, and box_space(1) was narrower than the space."""
    import pandas as pd

    with pytest.raises(ValueError, match=r"'c' has a missing value \(NaN, NA\).*use None"):
        Categorical("c", [pd.NA, 1])
    space = SearchSpace([Float("x", 0.0, 1.0), Ordinal("a", [1, 2]), Categorical("b", ["p", "q", "r"])])
    with pytest.raises(ValueError, match=r"'x' = '0.5' \(str\) is not a number; float hyperparameter 'x' takes a number"):
        space.validate({"x": "0.5", "a": 1, "b": "p"}, in_range=True)
    grid = SearchSpace([Ordinal("a", [1, 2]), Categorical("b", ["p", "q", "r"])])
    assert grid.indices_to_config(np.array([1, 2])) == {"a": 2, "b": "r"} == grid.indices_to_config([1, 2])
    for bad in ([1], [-1, 2], [0, 3], [0.5, 1], [0, 1, 2]):
        with pytest.raises(ValueError, match=r"are not a point of MultiDiscrete\(\[2, 3\]\)"):
            grid.indices_to_config(bad)
    with pytest.raises(ValueError, match=r"box_space\(1\) is narrower than the space's 3 hyperparameters"):
        space.box_space(1)
    assert space.box_space().shape == (3,) and space.box_space(8).shape == (8,)


def test_an_int_value_exactly_halfway_goes_to_the_even_neighbour_in_box_and_dict_actions():
    """The docstring's tie rule: a halfway value rounds to the even integer, the same way through the encoding (Box
    actions) and through a native Dict action, so the two action forms agree on every value."""
    space = SearchSpace([Int("n", 0, 9)])
    for halfway, even in ((2.5, 2), (3.5, 4), (0.5, 0), (8.5, 8)):
        u = (halfway + 0.5) / 10  # the encoded position of the native value `halfway` on [-0.5, 9.5]
        assert space.decode(np.array([u]))["n"] == even
        assert space.dict_action_to_config({"n": halfway})["n"] == even


# Found by mutation testing: rules the tests above did not pin (a change to each passed every test).

def test_each_kind_has_its_own_code_and_choice_count_in_the_observation():
    """A learned agent reads dim_kind to tell ordered choices (ordinal 3) from unordered ones (categorical 4), and
    dim_choices for how many values a dimension has: 0 for a float (unbounded resolution, as env.py's observation
    table says), high - low + 1 for an int, the values of an ordinal or categorical. A float counted 1 read as a
    dimension with a single setting."""
    import gymnasium as gym
    import pandas as pd

    import envs_registry  # noqa: F401
    from hpo_gym.tabular import TabularObjective

    space = SearchSpace([Float("f", 0, 1), Int("i", 1, 3), Ordinal("o", [1, 2]), Categorical("c", ["a", "b"])])
    assert space.kind_codes().tolist() == [1, 2, 3, 4]
    assert space.n_choices().tolist() == [0, 3, 2, 2] and Float("f", 0, 1).n_choices == 0
    rows = [{"f": f, "i": i, "o": o, "c": c, "acc": 0.1 * k}
            for k, (f, i, o, c) in enumerate([(f, i, o, c) for f in (0, 1) for i in (1, 3) for o in (1, 2) for c in "ab"])]
    table = TabularObjective.from_dataframe(pd.DataFrame(rows), metric="acc", space=space)
    obs, _ = gym.make("HPO-OpenML-v0", objective=table, budget=2).reset(seed=0)
    assert obs["dim_kind"][:4].tolist() == [1, 2, 3, 4] and not obs["dim_kind"][4:].any()
    assert obs["dim_choices"][:4].tolist() == [0, 3, 2, 2] and not obs["dim_choices"][4:].any()


def test_a_log_scale_encodes_zero_or_a_negative_number_as_its_lower_bound():
    """Out-of-range numbers are clipped; on a log scale a non-positive one raised 'math domain error'."""
    lr = Float("lr", 1e-4, 1.0, log=True)
    assert lr.encode(0.0) == 0.0 and lr.encode(-1.0) == 0.0 and lr.encode(10.0) == 1.0


def test_box_actions_turn_float64_exactly_where_float32_stops_telling_an_ints_values_apart():
    """A linear Int wider than 2^22 values gets float64 actions (float32 decoded a few units off); one just inside
    keeps Gymnasium's usual float32."""
    assert SearchSpace([Int("n", 0, 2**22 + 1)]).action_dtype is np.float64
    assert SearchSpace([Int("n", 0, 2**22 - 2)]).action_dtype is np.float32
