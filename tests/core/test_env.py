"""HPOEnv: the Gymnasium contract, action rules, rewards, info, seeding."""

from __future__ import annotations

import math
import re

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

import envs_registry  # noqa: F401
from hpo_gym.env import HPOEnv
from hpo_gym.objective import Evaluation
from hpo_gym.space import Float, Int, SearchSpace
from hpo_gym.tabular import TabularObjective

INFO_KEYS = {"config", "score", "best_score", "cost", "task", "openml_task_id", "step", "action_clipped", "normalized_regret"}


@pytest.mark.parametrize("action_type", ["box", "dict", "multidiscrete"])
def test_check_env_passes_for_every_action_type(action_type):
    env = gym.make("HPO-OpenML-v0", action_type=action_type, budget=5)
    check_env(env.unwrapped)  # render check included: it makes the env in each declared render mode
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        assert INFO_KEYS <= set(info) and not truncated
    assert terminated


def test_observation_layout_and_history(credit_g):
    env = gym.make("HPO-OpenML-credit_g-v0", budget=4)
    obs, info = env.reset(seed=0)
    assert info["task"] == "credit_g" and info["openml_task_id"] == 31
    assert obs["x"].shape == (4, 16) and obs["mask"].sum() == 0
    assert obs["dim_kind"][:6].tolist() == [3, 3, 3, 3, 3, 0]  # five ordinals, then padding
    assert obs["dim_choices"][:5].tolist() == [10, 10, 3, 10, 10]
    action = np.array([0.99, 0.0, 0.5, 0.3, 0.75], dtype=np.float32)
    obs, reward, *_, info = env.step(action)
    expected = credit_g.evaluate(info["config"])
    assert reward == info["score"] == pytest.approx(expected.score)
    assert obs["y"][0] == pytest.approx(reward, rel=1e-6)
    assert info["config"] == {"alpha": 1.0, "batch_size": 4, "depth": 2, "learning_rate_init": 4.641589e-4, "width": 406}
    assert obs["x"][0, :5] == pytest.approx(credit_g.space.encode(info["config"]))  # what was evaluated, snapped
    assert obs["mask"].tolist() == [1, 0, 0, 0] and obs["step_fraction"][0] == pytest.approx(0.25)
    assert info["normalized_regret"] == pytest.approx(credit_g.oracle.normalized_regret(info["score"]))


def test_seeded_runs_repeat_task_draws_noise_and_trajectory():
    def run(seed):
        env = gym.make("HPO-OpenML-v0", budget=10, noise=True)
        env.action_space.seed(seed)
        out = []
        for episode in range(3):
            _, info = env.reset(seed=seed if episode == 0 else None)
            out.append(info["task"])
            for _ in range(10):
                _, r, *_ = env.step(env.action_space.sample())
                out.append(r)
        return out

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_noise_draws_table_seeds_and_noise_free_is_the_mean(credit_g):
    action = np.full(5, 0.5, dtype=np.float32)
    quiet = gym.make("HPO-OpenML-credit_g-v0", budget=20)
    quiet.reset(seed=0)
    noisy = gym.make("HPO-OpenML-credit_g-v0", budget=20, noise=True)
    noisy.reset(seed=0)
    clean = {quiet.step(action)[1] for _ in range(20)}
    draws = {noisy.step(action)[1] for _ in range(20)}
    assert len(clean) == 1 and 2 <= len(draws) <= 5
    assert np.mean(list(clean)) == pytest.approx(credit_g.evaluate(credit_g.space.decode(action)).score)


def test_noisy_regret_is_measured_on_the_incumbents_noise_free_score(credit_g):
    """The agent sees one seed's draw, but the benchmark scores the incumbent (best observed trial) by its mean over
    seeds: repeating the best cell must never give a negative regret, however lucky a draw."""
    best_cell = int(np.nanargmax(credit_g.mean_scores))
    action = credit_g.cell_encoding(best_cell).astype(np.float32)
    env = gym.make("HPO-OpenML-credit_g-v0", budget=20, noise=True, reward="regret")
    env.reset(seed=0)
    steps = [env.step(action) for _ in range(20)]
    assert len({info["score"] for *_, info in steps}) >= 2  # the draws differ ...
    assert max(info["best_score"] for *_, info in steps) > credit_g.oracle.best  # ... and a lucky one beats the mean
    assert all(info["normalized_regret"] == 0.0 and reward == 0.0 for _, reward, *_, info in steps)
    # the incumbent is the best *observed* trial: a worse cell with a lucky draw keeps its own (positive) regret
    env.reset(seed=1)
    *_, info = env.step(np.zeros(5, dtype=np.float32))
    cell = credit_g.cell_of_vector(np.zeros(5))
    assert info["normalized_regret"] == pytest.approx(credit_g.oracle.normalized_regret(credit_g.mean_scores[cell]))


def test_bad_actions_raise_clear_errors_and_out_of_range_is_clipped_and_flagged():
    env = gym.make("HPO-OpenML-credit_g-v0", budget=5)
    env.reset(seed=0)
    for bad in [np.array([np.nan, 0, 0, 0, 0]), np.array([np.inf, 0, 0, 0, 0])]:
        with pytest.raises(ValueError, match="NaN or inf"):
            env.step(bad)
    with pytest.raises(ValueError, match=r"shape \(3,\).*Box\(0, 1, \(5,\)\)"):
        env.step(np.zeros(3))
    *_, info = env.step(np.array([1.7, -0.2, 0.5, 0.5, 0.5]))
    assert info["action_clipped"] and info["config"]["alpha"] == 1.0 and info["config"]["batch_size"] == 4
    *_, info = env.step(np.full(5, 0.5))
    assert not info["action_clipped"]
    d = gym.make("HPO-OpenML-credit_g-v0", action_type="dict")
    d.reset(seed=0)
    with pytest.raises(ValueError, match="index in \\[0, 3\\)"):
        d.step({"alpha": 0, "batch_size": 0, "depth": 7, "learning_rate_init": 0, "width": 0})
    with pytest.raises(ValueError, match=r"Dict action keys do not match the action space: missing \['batch_size', "):
        d.step({"alpha": 0})
    md = gym.make("HPO-OpenML-credit_g-v0", action_type="multidiscrete")
    md.reset(seed=0)
    with pytest.raises(ValueError, match="MultiDiscrete"):
        md.step(np.array([0, 0, 3, 0, 0]))


def test_episode_end_and_stepping_a_finished_episode():
    env = HPOEnv(task="kc1", budget=2)
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        env.step(np.zeros(5))
    env.reset(seed=0)
    assert env.step(np.zeros(5))[2] is False
    assert env.step(np.zeros(5))[2] is True
    with pytest.raises(RuntimeError, match="budget of 2 evaluations is spent; call reset"):
        env.step(np.zeros(5))
    env.reset()
    env.step(np.zeros(5))


def test_unknown_task_and_bad_kwargs_list_the_fix():
    with pytest.raises(ValueError, match="valid names.*credit_g"):
        gym.make("HPO-OpenML-v0", task="mnist")
    with pytest.raises(ValueError, match="unknown reward"):
        gym.make("HPO-OpenML-v0", reward="accuracy")
    with pytest.raises(ValueError, match="unknown action_type"):
        gym.make("HPO-OpenML-v0", action_type="discrete")
    with pytest.raises(ValueError, match="budget must be a positive integer, got 0"):
        gym.make("HPO-OpenML-v0", budget=0)
    with pytest.raises(ValueError, match="model='rf' needs backend='live'"):
        gym.make("HPO-OpenML-v0", task=31, model="rf")  # the tabular suite is the MLP's table
    with pytest.raises(ValueError, match="noise must be True or False"):
        gym.make("HPO-OpenML-v0", noise="False")
    for bad in (2.5, 7.9, "16", None, 0):  # int() truncated 7.9 to a 7-wide observation and misreported 2.5
        with pytest.raises(ValueError, match=f"max_dims must be a positive integer, got {re.escape(repr(bad))}"):
            gym.make("HPO-OpenML-v0", max_dims=bad)
        with pytest.raises(ValueError, match="max_dims must be a positive integer"):
            gym.make_vec("HPO-OpenML-v0", num_envs=2, max_dims=bad)
    for not_an_id in (31.7, True, -5):  # int() would have made them tasks 31, 1 and -5
        with pytest.raises(ValueError, match="unknown task"):
            gym.make("HPO-OpenML-v0", task=not_an_id)


def test_an_openml_id_shared_by_several_tasks_of_a_suite_is_refused_and_live_ids_are_whole_numbers():
    """grpoformer-paper lists each OpenML task under six model families: the id alone used to pick the last one."""
    import hpo_gym.live
    from hpo_gym.suites import get_suite

    with pytest.raises(ValueError, match="OpenML task 167149 is 6 tasks of suite 'grpoformer-paper'"):
        get_suite("grpoformer-paper").task_name(167149)
    assert get_suite("grpoformer-paper").task_name("167149-rf") == "167149-rf"
    for not_an_id in (31.7, True, -5):
        with pytest.raises(ValueError, match="give an OpenML task id"):
            hpo_gym.live.live_task_pool(task=not_an_id)
    env = gym.make("HPO-OpenML-v0")
    with pytest.raises(ValueError, match=r"unknown task 'mnist' for this env; valid names \(OpenML task id\): credit_g \(31\)"):
        env.reset(options={"task": "mnist"})


def test_reset_task_option_refuses_what_is_not_a_name_or_id_and_none_draws():
    """An array used to fail inside 'in' with numpy's own errors (unhashable / truth value ambiguous)."""
    env = gym.make("HPO-OpenML-v0", budget=2)
    for bad in (np.array(["kc1"]), np.array(["kc1", "car"]), True, 3.0, ["kc1"]):
        with pytest.raises(ValueError, match=r"task must be a task name \(str\) or an OpenML task id \(int\), got "
                                             r".*; valid names \(OpenML task id\): credit_g \(31\)"):
            env.reset(options={"task": bad})
    assert env.reset(options={"task": np.int64(3917)})[1]["task"] == "kc1"
    drawn = {env.reset(seed=seed, options={"task": None})[1]["task"] for seed in range(12)}
    assert drawn == {env.reset(seed=seed)[1]["task"] for seed in range(12)} and len(drawn) > 1  # None draws as no option
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=4, budget=2)
    assert len(set(vec.reset(seed=0, options={"task": None})[1]["task"])) > 1
    with pytest.raises(ValueError, match="task must be a task name"):
        vec.reset(options={"task": np.array(["kc1"])})


def test_a_refused_reset_leaves_the_episode_in_play_and_its_random_stream_as_they_were():
    """The seed was applied before the task option was checked: a refused reset(seed=..., options=bad) reseeded the
    episode in play (its noise draws changed); the native vector env dropped its pinned task."""
    def noisy_scores(refuse: bool) -> list[float]:
        env = gym.make("HPO-OpenML-v0", task="kc1", budget=4, noise=True)
        env.reset(seed=0)
        scores = [env.step(np.full(5, 0.5))[4]["score"]]
        if refuse:
            with pytest.raises(ValueError, match="kc_1"):
                env.reset(seed=123, options={"task": "kc_1"})
        return scores + [env.step(np.full(5, v))[4]["score"] for v in (0.3, 0.7, 0.9)]

    assert noisy_scores(refuse=True) == noisy_scores(refuse=False)
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=4, budget=2)
    vec.reset(seed=0, options={"task": "kc1"})
    with pytest.raises(ValueError, match="kc_1"):
        vec.reset(seed=5, options={"task": "kc_1"})
    for _ in range(3):  # through an autoreset: the new episodes are on the pinned task still
        info = vec.step(np.full((4, 5), 0.5))[4]
    assert list(info["task"]) == ["kc1"] * 4


def test_backend_options_a_table_does_not_take_are_refused_at_construction():
    """They used to pass make() and fail at the first reset with the loader's own TypeError (in a worker, when async)."""
    with pytest.raises(ValueError, match=r"backend_options \['fidelty'\] are not options of suite 'hpobench-nn''s tables, "
                                         r"which take \['metric'\]; options such as 'executor'"):
        gym.make("HPO-OpenML-v0", backend_options={"fidelty": 1})
    assert gym.make("HPO-OpenML-v0", task="kc1", backend_options={"metric": "val_acc"}).reset(seed=0)[1]["task"] == "kc1"


def test_the_metric_is_checked_at_construction_and_given_once():
    """An unknown metric passed make() and failed at the first reset; metric= lost to backend_options' metric without a
    word; an HPOBench benchmark class (not an instance) failed on a missing ``self``."""
    for kwargs in ({"metric": "f1"}, {"backend_options": {"metric": "f1"}}):
        with pytest.raises(ValueError, match=r"unknown metric 'f1' for suite 'hpobench-nn'; choose one of \('val_acc'"):
            gym.make("HPO-OpenML-v0", task="kc1", **kwargs)
    with pytest.raises(ValueError, match=r"metric='val_f1' and backend_options=\{'metric': 'val_acc'\} disagree; give "
                                         r"the metric once, as metric="):
        gym.make("HPO-OpenML-v0", task="kc1", metric="val_f1", backend_options={"metric": "val_acc"})
    env = gym.make("HPO-OpenML-v0", task="kc1", metric="val_f1", backend_options={"metric": "val_f1"})
    env.reset(seed=0)
    assert env.unwrapped.objective.metric == "val_f1"

    class Benchmark:  # HPOBench's API, given as the class
        def get_configuration_space(self):
            raise AssertionError("never called on the class")

        def objective_function(self, configuration):
            raise AssertionError("never called on the class")

    with pytest.raises(ValueError, match=r"objective= takes an instance, got the class Benchmark; pass Benchmark\(\.\.\.\)"):
        gym.make("HPO-OpenML-v0", objective=Benchmark)


def test_task_by_openml_id_and_reset_option():
    env = gym.make("HPO-OpenML-v0", task=9952)
    assert env.reset(seed=0)[1]["task"] == "phoneme"
    env = gym.make("HPO-OpenML-v0")
    assert env.reset(seed=0, options={"task": 146822})[1]["task"] == "segment"
    assert set(env.unwrapped.pool._cache) == {"segment"}, "resolving an OpenML id must not load the other tasks"
    assert env.reset(seed=0, options={"task": "segment"})[1]["task"] == "segment"
    assert env.reset(options={"task": 146821})[1]["task"] == "car"
    drawn = {env.reset()[1]["task"] for _ in range(60)}
    assert len(drawn) == 8


def test_reward_modes(credit_g):
    actions = [np.full(5, v) for v in (0.1, 0.9, 0.5, 0.3)]
    results = {}
    for mode in ["score", "improvement", "regret"]:
        env = gym.make("HPO-OpenML-credit_g-v0", budget=4, reward=mode)
        env.reset(seed=0)
        results[mode] = [(env.step(a)[1], env.unwrapped._history.best[0]) for a in actions]
    scores = [r for r, _ in results["score"]]
    bests = np.maximum.accumulate(scores)
    improvement = [r for r, _ in results["improvement"]]
    assert improvement[0] == pytest.approx(bests[0] - credit_g.oracle.worst)
    assert improvement[1:] == pytest.approx(np.diff(bests).tolist())
    assert [r for r, _ in results["regret"]] == pytest.approx([-credit_g.oracle.normalized_regret(b) for b in bests])


class NoOracle(TabularObjective):
    """A table that, like a live task, does not know its best and worst score."""

    @property
    def oracle(self):
        return None


def no_oracle_table() -> NoOracle:
    """Three configurations of one hyperparameter, scores 0.1, 0.5, 0.2, without an oracle."""
    base = TabularObjective.from_dataframe(pd.DataFrame({"a": [1, 2, 3], "acc": [0.1, 0.5, 0.2]}), metric="acc")
    return NoOracle("no-oracle", base.space, base._seed_scores, "acc")


def test_user_objective_without_oracle_rejects_regret_reward():
    obj = no_oracle_table()
    with pytest.raises(ValueError, match="reward='regret' needs an oracle, but task 'no-oracle' has none"):
        gym.make("HPO-OpenML-v0", objective=obj, reward="regret")  # at construction: the pool's one task is known
    env = gym.make("HPO-OpenML-v0", objective=obj, budget=2)
    env.reset(seed=0)
    *_, info = env.step(np.array([0.5]))
    assert info["score"] == pytest.approx(0.5) and "normalized_regret" not in info


# -- Dict and MultiDiscrete actions name the configuration that is evaluated ------------------------------------
# Value indices per hyperparameter (alpha, batch_size, depth, learning_rate_init, width: 10, 10, 3, 10, 10 values).
NAMED_ACTIONS = [(0, 9, 2, 4, 7), (9, 0, 1, 5, 3), (3, 3, 0, 9, 0)]


def _config_of_indices(space, indices):
    """The configuration an index action names, built from the space's value lists (not by the env's code)."""
    return {hp.name: hp.values[i] for hp, i in zip(space, indices)}


def test_dict_actions_evaluate_the_configuration_they_name(credit_g):
    env = gym.make("HPO-OpenML-credit_g-v0", action_type="dict", budget=len(NAMED_ACTIONS))
    env.reset(seed=0)
    space = credit_g.space
    configs = []
    for step, indices in enumerate(NAMED_ACTIONS):
        # native ints for one action, numpy ints (what Dict.sample gives) for the others
        action = {hp.name: (i if step == 0 else np.int64(i)) for hp, i in zip(space, indices)}
        obs, reward, terminated, _, info = env.step(action)
        expected = _config_of_indices(space, indices)
        assert info["config"] == expected
        assert info["score"] == pytest.approx(credit_g.evaluate(expected).score) and reward == info["score"]
        assert obs["x"][step, :5] == pytest.approx(space.encode(expected))
        configs.append(info["config"])
    assert len({tuple(c.values()) for c in configs}) == len(NAMED_ACTIONS)  # different actions, different configs
    assert terminated


def test_a_dict_action_with_wrong_keys_is_named_as_an_action(credit_g):
    env = gym.make("HPO-OpenML-credit_g-v0", action_type="dict", budget=2)
    env.reset(seed=0)
    action = env.action_space.sample()
    del action["depth"]
    action["dpeth"] = 1
    with pytest.raises(ValueError, match=r"Dict action keys do not match the action space: missing \['depth'\], unknown "
                                         r"\['dpeth'\]; expected one entry per hyperparameter"):
        env.step(action)


def test_multidiscrete_actions_evaluate_the_configuration_they_name(credit_g):
    env = gym.make("HPO-OpenML-credit_g-v0", action_type="multidiscrete", budget=len(NAMED_ACTIONS))
    env.reset(seed=0)
    space = credit_g.space
    for step, indices in enumerate(NAMED_ACTIONS):
        obs, reward, _, _, info = env.step(np.array(indices, dtype=np.int64))
        expected = _config_of_indices(space, indices)
        assert info["config"] == expected
        assert info["score"] == pytest.approx(credit_g.evaluate(expected).score) and reward == info["score"]
        assert obs["x"][step, :5] == pytest.approx(space.encode(expected))
    # the same configuration through the Box action gives the same evaluation
    box = gym.make("HPO-OpenML-credit_g-v0", budget=1)
    box.reset(seed=0)
    *_, box_info = box.step(space.encode(expected).astype(np.float32))
    assert box_info["config"] == info["config"] and box_info["score"] == info["score"]


def test_the_space_the_tasks_share_is_known_before_reset_as_the_action_space_is():
    """An agent is set up from ``env.unwrapped.space`` before the episode starts; it raised before reset even for an env
    of one task (found by a new user). The suite's tasks share one space, so it is the same before and after."""
    env = gym.make("HPO-OpenML-v0", budget=2)
    before = env.unwrapped.space
    env.reset(seed=0, options={"task": "kc1"})
    assert before == env.unwrapped.space and before.names == ["alpha", "batch_size", "depth", "learning_rate_init", "width"]
    assert gym.make("HPO-OpenML-v0", task="credit_g", budget=2).unwrapped.space == before


@pytest.mark.parametrize("task", ["credit_g", "vehicle", "segment"])
def test_first_improvement_reward_is_the_gain_over_the_tasks_worst_score(task):
    """reward_of: before any trial the previous best is -inf, so the first step gains over the oracle's worst."""
    env = gym.make("HPO-OpenML-v0", task=task, budget=3, reward="improvement")
    env.reset(seed=0)
    worst = env.unwrapped.objective.oracle.worst
    assert worst > 0.05  # a baseline of 0 would give a different reward
    _, reward, *_, info = env.step(np.full(5, 0.2, dtype=np.float32))
    assert reward == pytest.approx(info["score"] - worst) and reward != pytest.approx(info["score"])
    # later steps: the gain of the best-so-far, never negative
    _, r2, *_, info2 = env.step(np.full(5, 0.8, dtype=np.float32))
    assert r2 == pytest.approx(max(info2["score"] - info["score"], 0.0))


def test_first_improvement_reward_without_an_oracle_is_zero():
    env = gym.make("HPO-OpenML-v0", objective=no_oracle_table(), budget=3, reward="improvement")
    env.reset(seed=0)
    assert env.step(np.array([0.0]))[1] == 0.0  # score 0.1, nothing to gain over
    assert env.step(np.array([0.5]))[1] == pytest.approx(0.4)
    assert env.step(np.array([1.0]))[1] == 0.0


def test_input_a_user_gets_wrong_is_named_not_ignored_or_a_numpy_traceback(credit_g):
    """Found in review: each of these was a raw numpy/Python error or was silently ignored."""
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=5)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="is not numeric; expected Box.*action_type='dict'"):
        env.step({"alpha": 1e-4})
    with pytest.raises(ValueError, match="is not numeric; expected Box"):
        env.step(["a"] * 5)
    with pytest.raises(ValueError, match="is not numeric; expected Box"):  # the cast dropped the imaginary part
        env.step(np.full(5, 0.5 + 0.2j))
    for cast_silently in (["0.5"] * 5, np.array(["1e-3"] * 5), np.ones(5, dtype=bool), [True, 0.5, 0.5, 0.5, 0.5],
                          np.array(["0.5"] * 5, dtype=object), np.array([True] * 5, dtype=object),  # "0.5" -> 0.5, True -> 1
                          [0.5, 0.5, 0.5, 0.5, None]):  # None -> NaN, which was reported as "contains NaN or inf"
        with pytest.raises(ValueError, match="is not numeric; expected Box"):
            env.step(cast_silently)
    assert env.step(np.full(5, 0.5))[4]["step"] == 1  # the refused actions used none of the budget
    md_env = gym.make("HPO-OpenML-v0", task="credit_g", budget=5, action_type="multidiscrete")
    md_env.reset(seed=0)
    with pytest.raises(ValueError, match=r"is not in MultiDiscrete\(\[10, 10, 3, 10, 10\]\)"):
        md_env.step([True, 0, 0, 0, 0])  # numpy made it the index array [1, 0, 0, 0, 0]
    assert md_env.step([1, 0, 0, 0, 0])[4]["step"] == 1
    dict_env = gym.make("HPO-OpenML-v0", task="credit_g", budget=5, action_type="dict")
    dict_env.reset(seed=0)
    for bad in [np.nan, np.inf, None, "x", 2.7]:  # int(nan) / int(None) used to raise their own unnamed errors
        with pytest.raises(ValueError, match=r"Dict action entry 'depth' must be an index in \[0, 3\)"):
            dict_env.step({**dict_env.action_space.sample(), "depth": bad})
    with pytest.raises(ValueError, match=r"unknown reset option\(s\) \['taks'\]; the options are \['task'\]"):
        env.reset(options={"taks": "kc1"})  # used to draw a random task
    with pytest.raises(ValueError, match="reset options must be a dict"):
        env.reset(options="kc1")
    with pytest.raises(ValueError, match="task, model have no effect with objective="):
        gym.make("HPO-OpenML-v0", objective=credit_g, task="kc1", model="rf")
    with pytest.raises(ValueError, match="backend_options must be a dict"):
        gym.make("HPO-OpenML-v0", backend_options="x")
    # Gymnasium warns first, then the env refuses with a TypeError, as an env without the argument would: what code
    # probing for a render mode (SB3's make_vec_env) catches
    with pytest.warns(UserWarning, match="render_modes"), pytest.raises(TypeError, match=(
            r"render_mode='depth_array' is not supported by this env: use one of \['ansi', 'human', 'rgb_array'\]")):
        gym.make("HPO-OpenML-v0", render_mode="depth_array")
    assert gym.make("HPO-OpenML-v0", render_mode=None).unwrapped.render_mode is None
    assert gym.make_vec("HPO-OpenML-v0", num_envs=2, render_mode=None).render_mode is None
    with pytest.raises(TypeError, match="the native vector env does not render; use .*vectorization_mode='sync'"):
        gym.make_vec("HPO-OpenML-v0", num_envs=2, render_mode="ansi")


def test_the_native_vector_env_checks_its_input_like_the_single_env():
    with pytest.raises(ValueError, match="num_envs must be a positive integer, got 0"):
        gym.make_vec("HPO-OpenML-v0", num_envs=0)
    with pytest.raises(ValueError, match="num_envs must be a positive integer, got 2.5"):
        gym.make_vec("HPO-OpenML-v0", num_envs=2.5)
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=2, budget=5, max_dims=16)
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        vec.step(np.full((2, 5), 0.5))
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="is not numeric"):
        vec.step([["a"] * 5] * 2)
    with pytest.raises(ValueError, match="is not numeric"):
        vec.step(np.ones((2, 5), dtype=bool))
    with pytest.raises(ValueError, match="unknown reset option"):
        vec.reset(options={"taks": "kc1"})


def test_envs_pickle_with_every_kind_of_task_pool(credit_g):
    """AsyncVectorEnv.get_attr and multiprocessing pickle the env: a pool's loader must not be a lambda."""
    import pickle

    for kwargs in ({}, {"metric": "val_f1"}, {"objective": credit_g}, {"task": "kc1"}):
        env = gym.make("HPO-OpenML-v0", budget=3, **kwargs)
        obs, _ = env.reset(seed=0)
        clone = pickle.loads(pickle.dumps(env))
        a = env.action_space.sample()
        assert clone.step(a)[1] == env.step(a)[1], kwargs


def test_dict_actions_flag_a_clipped_number_but_not_a_rounded_int():
    table = TabularObjective.from_dataframe(
        pd.DataFrame({"lr": [1e-4, 1e-2, 1.0] * 2, "n": [1] * 3 + [64] * 3, "acc": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}),
        metric="acc", space=SearchSpace([Float("lr", 1e-4, 1.0, log=True), Int("n", 1, 64)]))
    env = gym.make("HPO-OpenML-v0", objective=table, action_type="dict", budget=3)
    env.reset(seed=0)
    *_, info = env.step({"lr": np.array([50.0]), "n": np.array([1000])})
    assert info["action_clipped"] and info["config"] == {"lr": 1.0, "n": 64} and type(info["config"]["n"]) is int
    *_, info = env.step({"lr": np.array([1e-2]), "n": np.array([2.4])})
    assert not info["action_clipped"] and info["config"] == {"lr": 1e-2, "n": 1}
    *_, info = env.step({"lr": np.array([50.0]), "n": np.array([3])})  # only the first entry out of range
    assert info["action_clipped"] and info["config"]["lr"] == 1.0  # (n snaps to the table's 1)


def test_the_native_vector_env_names_the_fix_for_a_seed_per_env():
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=2)
    with pytest.raises(ValueError, match=r"seed=\[1, 2\]: this native vector env draws every row from one generator.*"
                                         r"vectorization_mode='sync'"):
        vec.reset(seed=[1, 2])
    assert np.array_equal(vec.reset(seed=np.int64(3))[0]["x"], vec.reset(seed=3)[0]["x"])


def test_ansi_render_shows_the_task_the_incumbent_and_the_last_trial():
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=3, render_mode="ansi")
    assert env.unwrapped.render() == "no task yet: call reset()"
    env.reset(seed=0)
    assert env.render() == "task credit_g  trial 0/3  (no trials yet)"
    scores = []
    for _ in range(2):
        _, _, _, _, info = env.step(env.action_space.sample())
        scores.append(info["score"])
    head, last = env.render().split("\n")
    assert head == (f"task credit_g  trial 2/3  best {max(scores):.4f}  "
                    f"normalized regret {info['normalized_regret']:.4f}")
    assert last.startswith(f"last: score {scores[-1]:.4f}  alpha=")
    assert f"depth={info['config']['depth']}" in last and "width=" in last
    check_env(env.unwrapped)  # with the render check: Gymnasium's checker makes the env in each declared mode


def test_human_render_prints_after_reset_and_every_step(capsys):
    env = gym.make("HPO-OpenML-v0", task="vehicle", budget=2, render_mode="human")
    env.reset(seed=1)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert env.render() is None  # Gymnasium: human mode renders during step, render() returns None
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "task vehicle  trial 0/2  (no trials yet)"
    assert printed[1].startswith(f"task vehicle  trial 1/2  best {info['best_score']:.4f}")
    assert printed[2].startswith(f"last: score {info['score']:.4f}")


def test_rgb_array_render_draws_the_runs_trace_and_video_recorders_take_it(tmp_path):
    env = gym.make("HPO-OpenML-v0", task="kc1", budget=4, render_mode="rgb_array")
    env.reset(seed=0)
    empty = env.render()
    assert empty.shape == (320, 480, 3) and empty.dtype == np.uint8
    for _ in range(3):
        env.step(env.action_space.sample())
    frame = env.render()
    assert frame.shape == empty.shape and (frame != empty).any()  # the trials are drawn
    # the orange best-so-far line is there: pixels close to matplotlib's tab:orange (255, 127, 14)
    assert (np.abs(frame.astype(int) - [255, 127, 14]).sum(axis=2) < 40).sum() > 50
    assert not (np.abs(empty.astype(int) - [255, 127, 14]).sum(axis=2) < 40).any()
    collected = gym.make("HPO-OpenML-v0", task="kc1", budget=2, render_mode="rgb_array_list")  # Gymnasium's collector
    collected.reset(seed=0)
    collected.step(collected.action_space.sample())
    assert [f.shape for f in collected.render()] == [(320, 480, 3)] * 2


def test_sync_vector_env_renders_each_env_as_text():
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=2, vectorization_mode="sync", render_mode="ansi", budget=3)
    vec.reset(seed=0, options={"task": "kc1"})
    vec.step(vec.action_space.sample())
    texts = vec.render()
    assert len(texts) == 2 and all(text.startswith("task kc1  trial 1/3  best ") for text in texts)


@pytest.mark.parametrize("bad", [math.nan, -math.inf, math.inf])
def test_a_non_finite_score_is_a_failure_with_an_oracle_and_a_clear_error_without(bad):
    """A NaN or -inf from your own objective (a common 'failed' marker) used to reach the reward and the observation."""
    from tests.agents.test_classic_agents import Quadratic

    class Fails(Quadratic):
        def evaluate(self, config, seed=None):
            good = super().evaluate(config, seed)
            return Evaluation(bad, 0.5, {"error": "diverged"}) if config["act"] == "relu" else good

    env = gym.make("HPO-OpenML-v0", objective=Fails(), action_type="dict", budget=2, reward="improvement")
    env.reset(seed=0)
    action = {**env.action_space.sample(), "act": Fails.space["act"].values.index("relu")}
    obs, reward, _, _, info = env.step(action)
    worst = Fails().oracle.worst
    assert info["score"] == worst and reward == 0.0  # the first reward gains over the worst score: nothing
    assert info["error"] == f"diverged (the objective returned {bad!r}; the worst score {worst} stands in)"
    assert env.observation_space.contains(obs) and obs["y"][0] == pytest.approx(worst)

    class FailsWithoutOracle(Fails):
        oracle = None

    env = gym.make("HPO-OpenML-v0", objective=FailsWithoutOracle(), action_type="dict", budget=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"objective 'quadratic' returned the score .* for \{.*'act': 'relu'.*\}; scores must "
                                         r"be finite: return hpo_gym.objective.failure\(reason, worst\)"):
        env.step(action)


@pytest.mark.parametrize("returned", [lambda good: good.score, lambda good: (good.score, good.cost),
                                      lambda good: Evaluation(None, 0.0), lambda good: Evaluation("0.5", 0.0),
                                      lambda good: Evaluation(True, 0.0),
                                      # a cost of None passed the env, then failed every benchmark run at its first step
                                      lambda good: Evaluation(good.score, None, {}),
                                      lambda good: Evaluation(good.score, "1.2s", {}),
                                      lambda good: Evaluation(good.score, 0.0, None)])
def test_an_objective_that_returns_no_evaluation_is_named_with_the_fix(returned):
    """A bare float, a (score, cost) tuple or a non-numeric score used to fail with Python's own AttributeError or
    TypeError from inside the step, naming neither the objective nor what to return."""
    from tests.agents.test_classic_agents import Quadratic

    class ReturnsTheWrongThing(Quadratic):
        def evaluate(self, config, seed=None):
            return returned(super().evaluate(config, seed))

    env = gym.make("HPO-OpenML-v0", objective=ReturnsTheWrongThing(), budget=2)
    env.reset(seed=0)
    with pytest.raises(TypeError, match=r"objective 'quadratic'.evaluate returned .* for \{.*\}; return "
                                        r"hpo_gym.Evaluation\(score, cost, info\) with a real-number score \(higher "
                                        r"is better\), a cost in seconds \(0.0, or float\('nan'\) when unknown\)"):
        env.step(env.action_space.sample())


@pytest.mark.parametrize("given, shown", [(31, 31), (31.0, 31), ("31", -1), (31.7, -1), (None, -1), ("abc", -1)])
def test_info_holds_a_whole_openml_id_or_minus_one_whatever_the_metadata_holds(given, shown):
    """The metadata is free-form: a string id failed every reset once the id became an int, and 31.7 read as 31."""
    from tests.agents.test_classic_agents import Quadratic

    class WithId(Quadratic):
        @property
        def metadata(self):
            return {"task": self.name, "openml_task_id": given}

    env = gym.make("HPO-OpenML-v0", objective=WithId(), budget=2)
    _, info = env.reset(seed=0)
    assert info["openml_task_id"] == shown and type(info["openml_task_id"]) is int
    assert env.step(env.action_space.sample())[-1]["openml_task_id"] == shown


def test_a_non_finite_score_made_a_failure_keeps_the_evaluations_other_info():
    """finite_evaluation turns NaN into the worst score with the reason; what else the objective reported (a raw
    metric, its own error text) stays in info."""
    from hpo_gym.objective import Oracle, finite_evaluation

    class Diverged:
        name = "diverged"
        oracle = Oracle(1.0, 0.0)

    evaluation = finite_evaluation(Diverged(), {"a": 1}, Evaluation(float("nan"), 2.0, {"raw_metric": 7,
                                                                                        "error": "diverged"}))
    assert evaluation.score == 0.0 and evaluation.cost == 2.0
    assert evaluation.info["raw_metric"] == 7 and "diverged" in evaluation.info["error"]


def test_a_task_whose_every_score_is_exactly_zero_has_regret_zero_not_a_division_by_zero():
    from hpo_gym.objective import Oracle

    assert Oracle(0.0, 0.0).normalized_regret(0.0) == 0.0
    table = TabularObjective("zeros", SearchSpace([Float("x", 0.0, 1.0)]), np.zeros(3), grid_values={"x": [0, 0.5, 1]})
    env = gym.make("HPO-OpenML-v0", objective=table, budget=2, reward="regret")
    env.reset(seed=0)
    _, reward, *_, info = env.step(np.array([0.5], dtype=np.float32))
    assert reward == 0.0 and info["normalized_regret"] == 0.0


def test_the_largest_budget_is_allowed_and_one_more_is_refused():
    from hpo_gym.episode import MAX_BUDGET, check_budget

    assert check_budget(MAX_BUDGET) == MAX_BUDGET
    with pytest.raises(ValueError, match="at most 100,000 evaluations"):
        check_budget(MAX_BUDGET + 1)


def test_a_non_finite_entry_in_the_padding_of_a_wide_box_action_is_refused(monkeypatch):
    """A suite of tasks with several spaces acts in a Box max_dims wide; NaN in a slot past the task's dimensions is as
    malformed as in one of them. Its search space is known only once a reset has drawn the task."""
    from hpo_gym import suites

    small = TabularObjective("small", SearchSpace([Float("x", 0.0, 1.0)]), np.arange(3.0), grid_values={"x": [0, .5, 1]})
    wide = TabularObjective("wide", SearchSpace([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)]), np.arange(4.0),
                            grid_values={"x": [0, 1], "y": [0, 1]})
    tables = {"small": small, "wide": wide}
    monkeypatch.setitem(suites._SUITES, "mixed-widths", suites.Suite("mixed-widths", dict.fromkeys(tables),
                                                                     tables.__getitem__, ""))
    env = gym.make("HPO-OpenML-v0", suite="mixed-widths", budget=2)  # no task pinned: a Box max_dims wide
    with pytest.raises(RuntimeError, match=r"tasks \(small, wide\) have different search spaces: call reset\(\)"):
        env.unwrapped.space  # no one space before a reset draws the task
    env.reset(seed=0, options={"task": "small"})
    assert env.unwrapped.space == small.space
    action = np.full(env.action_space.shape, 0.5, dtype=np.float32)
    action[1] = np.nan
    with pytest.raises(ValueError, match="(?i)nan|finite"):
        env.step(action)
