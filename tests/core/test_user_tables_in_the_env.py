"""User tables the embedded suite never exercises: a flat task, a huge finite loss, and suites the native vector env
cannot snap with one task's grid (real envs, real TabularObjectives)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs_registry  # noqa: F401  (registers the env ids)
from hpo_gym import suites
from hpo_gym.space import Float, Ordinal, SearchSpace
from hpo_gym.tabular import TabularObjective


def _suite(monkeypatch, name: str, objectives: dict[str, TabularObjective], shared_space: bool = True) -> None:
    """Register a suite for one test only (``shared_space=False``: tasks of several spaces, actions max_dims wide)."""
    space = next(iter(objectives.values())).space if shared_space else None
    monkeypatch.setitem(suites._SUITES, name, suites.Suite(name, dict.fromkeys(objectives), objectives.__getitem__, "",
                                                           space))


def test_the_regret_reward_follows_the_flat_task_rule_of_the_regret_in_info(monkeypatch):
    """Three cells with the same seed scores in other orders: means that differ in the last bit, a flat task. Its
    normalized regret in info was 0 while the regret reward said -1 (and the native vector env said 1 in both)."""
    seeds = np.array([[0.607, 0.729, 0.544], [0.729, 0.544, 0.607], [0.607, 0.544, 0.729]])
    flat = TabularObjective("flat", SearchSpace([Ordinal("a", [0, 1, 2])]), seeds)
    assert flat.oracle.best != flat.oracle.worst  # only round-off apart
    env = gym.make("HPO-OpenML-v0", objective=flat, reward="regret", budget=3)
    env.reset(seed=0)
    for u in (0.0, 0.5, 0.99):
        _, reward, *_, info = env.step(np.array([u], dtype=np.float32))
        assert reward == 0.0 and info["normalized_regret"] == 0.0 and not np.signbit(reward)
    _suite(monkeypatch, "flat-suite", {"flat": flat})
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=3, suite="flat-suite", reward="regret", budget=3)
    vec.reset(seed=0)
    with np.errstate(all="raise"):  # it also warned 'invalid value encountered in divide' every step
        _, rewards, *_, info = vec.step(np.array([[0.0], [0.5], [0.99]]))
    assert (rewards == 0.0).all() and (info["normalized_regret"] == 0.0).all()


def test_a_huge_finite_loss_stays_inside_the_observation_space():
    """A diverged fit's loss of 1e39 is finite in float64 but overflows float32: obs['y'] held -inf, outside the
    observation space. It is clipped to the float32 bound there; the reward and info keep the exact score."""
    space = SearchSpace([Ordinal("lr", [0.001, 0.01, 0.1, 1.0])])
    table = TabularObjective("reg", space, np.array([0.5, 0.3, 2.0, 1e39]), metric="mse", direction="minimize")
    env = gym.make("HPO-OpenML-v0", objective=table, budget=4)
    env.reset(seed=0)
    obs, reward, *_, info = env.step(np.array([0.99], dtype=np.float32))
    assert info["score"] == -1e39 and reward == -1e39
    assert obs["y"][0] == -np.finfo(np.float32).max and env.observation_space.contains(obs)


def test_a_huge_finite_loss_stays_inside_the_native_vector_envs_observation_space(monkeypatch):
    """The vector env records through History.record_batch, which no test reached with a huge loss (a mutation that
    dropped its clipping passed every test)."""
    space = SearchSpace([Ordinal("lr", [0.001, 0.01, 0.1, 1.0])])
    _suite(monkeypatch, "huge", {"reg": TabularObjective("reg", space, np.array([0.5, 0.3, 2.0, 1e39]), metric="mse",
                                                         direction="minimize")})
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=2, suite="huge", budget=4)
    vec.reset(seed=0)
    obs, reward, *_ = vec.step(np.full((2, 1), 0.99, dtype=np.float32))
    assert (obs["y"][:, 0] == -np.finfo(np.float32).max).all() and (reward == -1e39).all()
    assert vec.single_observation_space["y"].contains(obs["y"][0])
    vec.close()


def test_the_native_vector_env_refuses_tables_it_would_score_at_another_tasks_cells(monkeypatch):
    """Every row is snapped with the first task's grid and present cells: a partial table got NaN rewards (the sync
    env substitutes the nearest present cell), and a table with other float grid values was scored at the first
    table's value. Both are refused now, naming the sync mode."""
    grid = SearchSpace([Ordinal("a", [1, 2, 3, 4]), Ordinal("b", [10, 20])])
    scores = np.linspace(0.1, 0.8, 8)[:, None].repeat(2, 1)
    partial = scores.copy()
    partial[7] = np.nan
    _suite(monkeypatch, "partial", {"t1": TabularObjective("t1", grid, scores),
                                    "t2": TabularObjective("t2", grid, partial)})
    with pytest.raises(ValueError, match="task 't2' lacks cells .* use vectorization_mode='sync'"):
        gym.make_vec("HPO-OpenML-v0", num_envs=2, suite="partial", budget=3)
    sync = gym.make_vec("HPO-OpenML-v0", num_envs=2, suite="partial", budget=3, vectorization_mode="sync")
    sync.reset(seed=0, options={"task": "t2"})
    _, rewards, *_ = sync.step(np.full((2, 2), 0.99, dtype=np.float32))
    assert np.isfinite(rewards).all()  # the sync env answers with the nearest present cell

    lr = SearchSpace([Float("lr", 0.0, 1.0)])
    vals = np.array([0.1, 0.5, 0.9])
    _suite(monkeypatch, "grids", {"g1": TabularObjective("g1", lr, vals, grid_values={"lr": [0.0, 0.1, 0.2]}),
                                  "g2": TabularObjective("g2", lr, vals, grid_values={"lr": [0.8, 0.9, 1.0]})})
    with pytest.raises(ValueError, match="task 'g2' has other grid values .* use vectorization_mode='sync'"):
        gym.make_vec("HPO-OpenML-v0", num_envs=1, suite="grids", budget=2)


def test_a_refused_reset_leaves_the_episode_in_play(monkeypatch):
    """reset() installed the new task before checking that it fits the action space: after the refusal, step() mixed
    the new task with the old history and failed with numpy's broadcast error. The episode in play goes on."""
    narrow = SearchSpace([Ordinal("a", [0, 1]), Ordinal("b", [0, 1])])
    wide = SearchSpace([Ordinal(name, [0, 1]) for name in "abcd"])
    _suite(monkeypatch, "mixed-widths", {"narrow": TabularObjective("narrow", narrow, np.arange(4) / 10),
                                         "wide": TabularObjective("wide", wide, np.arange(16) / 100)},
           shared_space=False)
    env = gym.make("HPO-OpenML-v0", suite="mixed-widths", max_dims=3, budget=5)
    env.reset(seed=0, options={"task": "narrow"})
    env.step(np.array([0.9, 0.9, 0.0], dtype=np.float32))
    with pytest.raises(ValueError, match="task 'wide' has 4 hyperparameters but the action space has 3"):
        env.reset(options={"task": "wide"})
    obs, _, _, _, info = env.step(np.array([0.1, 0.9, 0.0], dtype=np.float32))
    assert info["task"] == "narrow" and info["step"] == 2 and env.observation_space.contains(obs)


def test_a_pool_whose_task_needs_float64_actions_warns_once_and_the_task_alone_gets_them(monkeypatch):
    """Tasks of different spaces share a float32 Box; an int of 10**8 values needs float64, and float32 actions landed
    on neighbouring values (17 of 20 aimed values missed) without a word."""
    import pandas as pd

    from hpo_gym.space import Int

    fine_space = SearchSpace([Int("n", 0, 10**8)])
    wanted = [0, 87_654_321, 10**8]
    fine = TabularObjective.from_dataframe(pd.DataFrame({"n": wanted, "acc": [0.1, 0.5, 0.9]}), "acc",
                                           space=fine_space, name="fine")
    other = TabularObjective.from_dataframe(pd.DataFrame({"x": [0.1, 0.8], "y": [0.2, 0.9], "acc": [0.2, 0.4]}), "acc",
                                            space=SearchSpace([Float("x", 0, 1), Float("y", 0, 1)]), name="other")
    _suite(monkeypatch, "mixed-precision", {"fine": fine, "other": other}, shared_space=False)
    env = gym.make("HPO-OpenML-v0", suite="mixed-precision", budget=3, max_dims=2)
    assert env.action_space.dtype == np.float32
    with pytest.warns(UserWarning, match=r"task 'fine' has an int hyperparameter finer than this env's float32 Box"):
        env.reset(seed=0, options={"task": "fine"})
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per task
        env.reset(seed=1, options={"task": "fine"})
        env.reset(seed=2, options={"task": "other"})
    alone = gym.make("HPO-OpenML-v0", suite="mixed-precision", task="fine", budget=3)
    assert alone.action_space.dtype == np.float64
    alone.reset(seed=0)
    action = np.array([fine_space.encode({"n": 87_654_321})[0]], dtype=np.float64)
    assert alone.step(action)[4]["config"]["n"] == 87_654_321


def test_a_refused_reset_that_drew_an_unplayable_task_leaves_the_episode_and_its_random_stream(monkeypatch):
    """A drawn task wider than the action space is refused after the draw: the seed had been applied and the draw taken,
    so the episode in play went on with another random stream (its noise draws changed)."""
    import copy

    from gymnasium.utils import seeding

    rng = np.random.default_rng(0)
    one = TabularObjective("one", SearchSpace([Ordinal("a", [0, 1, 2, 3])]), rng.random((4, 5)))
    three = TabularObjective("three", SearchSpace([Ordinal(n, [0, 1]) for n in "abc"]), rng.random((8, 5)))
    _suite(monkeypatch, "one-and-three", {"one": one, "three": three}, shared_space=False)
    draws_three = next(s for s in range(100) if seeding.np_random(s)[0].integers(2) == 1)
    action = np.array([0.6, 0.0], np.float32)

    def scores(refuse_with_seed: bool, refuse_without_seed: bool) -> list[float]:
        env = gym.make("HPO-OpenML-v0", suite="one-and-three", budget=8, noise=True, max_dims=2)
        env.reset(seed=7, options={"task": "one"})
        out = [env.step(action)[4]["score"]]
        if refuse_with_seed:
            with pytest.raises(ValueError, match="task 'three' has 3 hyperparameters but the action space has 2"):
                env.reset(seed=draws_three)
        if refuse_without_seed:
            while copy.deepcopy(env.unwrapped.np_random).integers(2) != 1:  # step until the next draw is 'three'
                out.append(env.step(action)[4]["score"])
            with pytest.raises(ValueError, match="task 'three'"):
                env.reset()
        while len(out) < 8:
            out.append(env.step(action)[4]["score"])
        return out

    assert scores(True, False) == scores(False, False)
    plain = scores(False, False)
    assert scores(False, True) == plain and scores(True, True) == plain


def test_an_openml_id_that_several_tasks_share_is_refused_at_reset_as_at_make(monkeypatch):
    """One OpenML task under two model families: ``gym.make(task=31)`` refused the id, naming both, but
    ``reset(options={"task": 31})`` (and the native vector env's) quietly took the first (found in review)."""
    space = SearchSpace([Ordinal("a", [0, 1, 2])])
    objectives = {name: TabularObjective(name, space, np.arange(3.0), metadata={"openml_task_id": 31})
                  for name in ("31-lr", "31-rf")}
    monkeypatch.setitem(suites._SUITES, "one-id-two-models",
                        suites.Suite("one-id-two-models", {"31-lr": 31, "31-rf": 31}, objectives.__getitem__, "", space))
    with pytest.raises(ValueError, match=r"OpenML task 31 is 2 tasks of suite 'one-id-two-models'"):
        gym.make("HPO-OpenML-v0", suite="one-id-two-models", task=31)
    env = gym.make("HPO-OpenML-v0", suite="one-id-two-models", budget=2)
    with pytest.raises(ValueError, match=r"OpenML task 31 is 2 tasks of this env: \['31-lr', '31-rf'\]; name one"):
        env.reset(seed=0, options={"task": 31})
    assert env.reset(seed=0, options={"task": "31-rf"})[1]["task"] == "31-rf"
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=2, suite="one-id-two-models", budget=2)
    with pytest.raises(ValueError, match=r"OpenML task 31 is 2 tasks of this env"):
        vec.reset(seed=0, options={"task": 31})
