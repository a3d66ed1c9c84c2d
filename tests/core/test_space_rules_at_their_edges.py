"""Found by mutation testing of space.py, tabular.py and objective.py: rules that a small change to the code broke
without any other test failing. Real components only: the real embedded table, real ConfigSpace and Gymnasium."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hpo_gym.objective import Oracle, normalized_regret
from hpo_gym.space import Categorical, Float, Int, Ordinal, SearchSpace
from hpo_gym.tabular import TabularObjective


def test_a_range_whose_bounds_are_equal_is_refused_by_name():
    """Float('x', 1, 1) has no width to encode over: accepted, its first encode divided by zero. A user who means a
    fixed setting is told so at construction, not by a ZeroDivisionError mid-run."""
    with pytest.raises(ValueError, match=r"'x' needs low < high, got \[1.0, 1.0\]"):
        Float("x", 1.0, 1.0)
    with pytest.raises(ValueError, match=r"'n' needs low < high, got \[3, 3\]"):
        Int("n", 3, 3)


def test_one_hyperparameters_decode_clips_a_point_below_the_cube_to_its_first_value():
    """Hyperparameter.decode clips to [0, 1] first, as its docstring says: without it u = -0.5 on three choices became
    index -1 and named the LAST value, the far end from where the agent pointed."""
    act = Categorical("act", ["relu", "tanh", "gelu"])
    assert act.decode(-0.5) == "relu" and act.decode(-1e-9) == "relu" and act.decode(1.5) == "gelu"
    assert Ordinal("batch", [16, 32, 64]).decode(-2.0) == 16


def test_a_search_spaces_decode_clips_an_out_of_range_vector_before_decoding():
    """An agent's action outside [0, 1] counts as the nearest end of every dimension, in decode, decode_many and
    check_encoded alike: unclipped, -0.5 on a categorical wrapped round to its last choice."""
    space = SearchSpace([Categorical("act", ["relu", "tanh", "gelu"]), Ordinal("batch", [16, 32, 64]), Int("n", 1, 3)])
    low_end = {"act": "relu", "batch": 16, "n": 1}
    assert space.decode(np.array([-0.5, -0.4, -3.0])) == low_end
    assert space.decode_many(np.array([[-0.5, -0.4, -3.0], [1.5, 7.0, 2.0]])) == [low_end, {"act": "gelu", "batch": 64, "n": 3}]
    np.testing.assert_array_equal(space.check_encoded([1.5, -0.2, 0.5]), [1.0, 0.0, 0.5])


def test_clashing_recorded_positions_leave_configspaces_own_order():
    """Two exported spaces merged into one ConfigurationSpace carry positions 0, 1 twice; from_configspace ignores such
    clashing positions (its docstring) and keeps ConfigSpace's order, rather than interleaving the two spaces."""
    import ConfigSpace as CS

    cs = CS.ConfigurationSpace()
    for name, position in [("a", 0), ("b", 1), ("c", 0), ("d", 1)]:  # a, b from one export; c, d from another
        cs.add(CS.UniformFloatHyperparameter(name, 0.0, 1.0, meta={"hpo_gym_position": position}))
    assert SearchSpace.from_configspace(cs).names == list(cs) == ["a", "b", "c", "d"]


def test_a_log_bound_that_configspace_would_widen_slightly_is_still_refused():
    """The widening limit is 1e-9 of the range: a log bound 1.01e-13 kept as 1e-13 widens the range by 0.033 % on its
    log scale, so the exported space would sample values this space never has. The other test's 1.4e-13 (1.1 %) did
    not tell that limit from a hundred-times-looser one."""
    with pytest.raises(ValueError, match=r"'tol' .* stores as \[1e-13, 1.0\] .*0.00033 of the range wider on its log scale"):
        SearchSpace([Float("tol", 1.01e-13, 1.0, log=True)]).to_configspace()


def test_a_dict_action_index_one_past_the_last_value_is_refused_by_name():
    """Index n of an n-value hyperparameter is outside Discrete(n): it is refused with the entry's name and the valid
    range, not an IndexError from inside the values tuple."""
    space = SearchSpace([Ordinal("batch", [16, 32, 64]), Float("lr", 0.0, 1.0)])
    assert space.dict_action_to_config({"batch": 2, "lr": 0.5}) == {"batch": 64, "lr": 0.5}
    with pytest.raises(ValueError, match=r"Dict action entry 'batch' must be an index in \[0, 3\), got .*3"):
        space.dict_action_to_config({"batch": 3, "lr": 0.5})


def test_a_mostly_empty_grid_just_past_the_small_grid_size_is_refused():
    """Past 1,000,000 cells a grid needs one configuration per 1,000 cells: 107 random trials over 3 float columns span
    107**3 = 1,225,043 cells (0.009 % filled), and must be refused with the rounding fix, not built. The trial-log test
    above only reached the hard cap of 50,000,000 cells, so the per-configuration rule went untested."""
    rng = np.random.default_rng(0)
    log = pd.DataFrame(rng.random((107, 3)), columns=["lr", "momentum", "dropout"]).assign(acc=rng.random(107))
    with pytest.raises(ValueError, match=r"not a grid small enough to tabulate: .*1,225,043 cells .* 107 distinct "
                                         r"configurations .*round or bin those columns"):
        TabularObjective.from_dataframe(log, metric="acc")


def test_a_tables_grid_values_are_copies_a_caller_cannot_change_the_table_through():
    """grid_values hands out copies: writing into the returned array moved the table's own grid, so later lookups
    reported (and snapped to) values the table was never built on."""
    space = SearchSpace([Float("x", 0.0, 1.0)])
    table = TabularObjective("t", space, [0.1, 0.5, 0.9], grid_values={"x": [0.0, 0.5, 1.0]})
    table.grid_values["x"][:] = 0.25
    assert table.grid_values["x"].tolist() == [0.0, 0.5, 1.0]
    assert table.cell_config(1) == {"x": 0.5} and table.evaluate({"x": 0.5}).info["config"] == {"x": 0.5}


def test_the_scalar_regret_uses_the_same_relative_flat_rule_as_the_array_regret():
    """A task is flat when its span is within 1e-12 of its largest score magnitude, in Oracle.normalized_regret as in
    the array normalized_regret (the env's reward and the benchmark's metrics): an absolute 1e-12 called a span of 1e-7
    on scores near 1e6 (the last-bit noise of reordered seed means) a real one, with regrets 0 and 1."""
    noisy = Oracle(1e6, 1e6 - 1e-7)  # a span of 1e-7 at 1e6: round-off, flat
    assert noisy.normalized_regret(1e6 - 1e-7) == 0.0 == float(normalized_regret(1e6 - 1e-7, 1e6, 1e6 - 1e-7))
    small = Oracle(1e-3, 1e-3 - 1e-14)  # a span of 1e-14 at 1e-3: 1e-11 of the scores, a real (tiny) task
    assert small.normalized_regret(1e-3 - 1e-14) == pytest.approx(1.0)
    assert float(normalized_regret(1e-3 - 1e-14, 1e-3, 1e-3 - 1e-14)) == pytest.approx(1.0)


def test_a_slice_of_an_evaluation_batch_holds_those_evaluations_only(credit_g):
    """EvaluationBatch is a Sequence: batch[1:] is the evaluations after the first, as for a list, not all of them."""
    configs = [credit_g.cell_config(c) for c in (0, 1234, 29_999)]
    batch = credit_g.evaluate_batch(configs)
    tail = batch[1:]
    assert len(tail) == 2 and [e.score for e in tail] == batch.scores[1:].tolist()
    assert [e.info["config"] for e in tail] == configs[1:]
    assert [e.score for e in batch[::-1]] == batch.scores[::-1].tolist() and batch[5:] == []


def test_validate_in_range_takes_the_bounds_themselves_but_not_a_bool_as_a_number():
    """What a live fit trains must be a number in [low, high]: the bounds are inside (decode(0) and decode(1) give
    them), but True is no number of a float range even though True == 1 lies in [0, 1]; accepted, it reached the fit
    as 1.0 through canonical."""
    space = SearchSpace([Float("x", 0.0, 1.0), Int("n", 2, 8)])
    for config in ({"x": 0.0, "n": 2}, {"x": 1.0, "n": 8}):
        space.validate(config, in_range=True)
        assert space.canonical(config) == config
    with pytest.raises(ValueError, match=r"'x' = True \(bool\) is not a number; float hyperparameter 'x' takes a number"):
        space.validate({"x": True, "n": 2}, in_range=True)
    with pytest.raises(ValueError, match=r"'n' = False \(bool\) is not a number"):
        space.canonical({"x": 0.5, "n": False})


def test_a_configspace_constant_comes_back_as_a_one_choice_categorical():
    """A ConfigSpace Constant (a fixed setting such as a kernel name) is a categorical of one choice: its kind code is
    what a learned agent reads in dim_kind (4, unordered), and the round trip gives back the space's own Categorical."""
    import ConfigSpace as CS

    cs = CS.ConfigurationSpace()
    cs.add(CS.Constant("kernel", "rbf"))
    cs.add(CS.UniformFloatHyperparameter("C", 0.1, 10.0, log=True))
    back = SearchSpace.from_configspace(cs)
    assert back["kernel"] == Categorical("kernel", ["rbf"]) and back["kernel"].kind == "categorical"
    assert back.kind_codes().tolist() == [1, 4]  # C (float), kernel (categorical), ConfigSpace's name order


def test_a_dict_action_space_holds_an_int_as_an_int64_box_in_its_range():
    """dict_space gives an Int a Box of int64 in [low, high], so action_space.sample() hands an agent whole numbers as
    native Dict actions: a float Box sampled 3.7, which the env then rounded, unlike the value the agent sent."""
    space = SearchSpace([Int("layers", 1, 8), Float("lr", 1e-4, 1.0, log=True), Categorical("act", ["relu", "tanh"])])
    dict_space = space.dict_space()
    layers = dict_space["layers"]
    assert layers.dtype == np.int64 and layers.shape == (1,) and layers.low.tolist() == [1] and layers.high.tolist() == [8]
    assert dict_space["lr"].dtype == np.float64
    dict_space.seed(0)
    draws = [dict_space.sample()["layers"][0] for _ in range(50)]
    assert all(isinstance(x, np.integer) and 1 <= x <= 8 for x in draws)


def test_no_seeds_means_the_default_evaluation_for_every_configuration():
    """seeds=None asks each configuration's noise-free (table mean) or default evaluation: one None per configuration,
    not seed 0, which on HPOBench or a live fit is a particular noisy replicate."""
    from hpo_gym.objective import per_config_seeds

    assert per_config_seeds(None, 3) == [None, None, None] and per_config_seeds(None, 0) == []
    assert per_config_seeds([4, None], 2) == [4, None]


def test_a_table_refuses_a_seed_that_is_not_a_whole_number_naming_it(credit_g):
    """``int(s) % n_seeds`` read seeds 1.7, True and "1" all as table seed 1 without a word, and NaN failed with Python's
    bare "cannot convert float NaN to integer"; integer seeds of any integer type, a float holding one (a pandas row's
    1.0), and None are evaluations."""
    config = credit_g.cell_config(0)
    one = credit_g.evaluate(config, seed=1).score
    assert credit_g.evaluate(config, seed=np.int64(1)).score == credit_g.evaluate(config, seed=1.0).score == one
    for seed in (1.7, True, "1", float("nan")):
        with pytest.raises(ValueError, match=rf"seed {seed!r} \({type(seed).__name__}\) is not an integer; give whole-number"):
            credit_g.evaluate(config, seed=seed)


def test_failure_refuses_an_error_keyword_that_would_replace_its_reason():
    """``failure(reason, worst, error=...)`` kept the keyword and lost the reason the caller meant to record."""
    from hpo_gym.objective import failure

    assert failure("timeout after 60 s", 0.0, elapsed=61.0).info == {"error": "timeout after 60 s", "elapsed": 61.0}
    with pytest.raises(TypeError, match=r"failure\(\) takes the reason as its first argument; drop error="):
        failure("timeout after 60 s", 0.0, error="x")


def test_encoding_a_number_range_refuses_a_bool_or_a_string_as_validate_does():
    """``Float.encode(True)`` gave 1.0 and ``encode("0.5")`` 0.5, while ``validate(in_range=True)`` and Dict actions
    refuse both: a table evaluated ``{"x": True}`` as x = 1."""
    space = SearchSpace([Float("x", 0.0, 1.0), Int("n", 1, 8)])
    assert space.encode({"x": np.float32(0.5), "n": np.int64(8)}).tolist() == [0.5, (8 - 0.5) / 8]
    for name, value in (("x", True), ("x", "0.5"), ("n", np.bool_(False)), ("n", b"3")):
        with pytest.raises(ValueError, match=rf"hyperparameter '{name}' needs (a number|an integer) in "):
            space.encode({"x": 0.5, "n": 2, name: value})


def test_a_range_of_equal_bounds_is_told_to_be_a_one_value_ordinal():
    """The fix for a fixed setting, in the refusal itself: a one-value Ordinal (or Categorical) holds it."""
    with pytest.raises(ValueError, match=r"a fixed setting is a one-value Ordinal, e.g. Ordinal\('n', \[3\]\)"):
        Int("n", 3, 3)
    assert SearchSpace([Ordinal("n", [3]), Float("x", 0.0, 1.0)]).decode(np.array([0.7, 0.5])) == {"n": 3, "x": 0.5}
