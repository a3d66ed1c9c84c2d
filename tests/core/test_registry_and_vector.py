"""Registration (idempotent, module:id form) and vectorisation (native, sync, async) over mixed tasks."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest

import envs_registry
from hpo_gym.vector import HPOVectorEnv


def test_registration_is_idempotent_and_covers_every_task():
    before = dict(gym.registry)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # registering an id again is only a Gymnasium warning, and replaces its spec
        importlib.reload(envs_registry)
        assert envs_registry.register_envs() == envs_registry.ENV_IDS
        import hpo_gym  # noqa: F401  importing the library registers too

    assert dict(gym.registry).keys() == before.keys()
    assert all(gym.registry[env_id] is before[env_id] for env_id in envs_registry.ENV_IDS)  # not registered again
    for task in envs_registry.EMBEDDED_TASKS:
        spec = gym.spec(f"HPO-OpenML-{task}-v0")
        assert spec.kwargs == {} and spec.entry_point == f"envs_registry:_make_{task}_env"
        assert gym.make(spec, budget=2).reset(seed=0)[1]["task"] == task


@pytest.mark.parametrize("mode", ["vector_entry_point", "sync"])
def test_a_per_task_id_keeps_its_task_and_refuses_another(mode):
    """Gymnasium merges make()'s kwargs over the id's: task= used to swap a per-task id's task without a word."""
    assert gym.make("HPO-OpenML-kc1-v0", task="kc1", budget=2).reset(seed=0)[1]["task"] == "kc1"
    assert list(gym.make_vec("HPO-OpenML-kc1-v0", num_envs=2, vectorization_mode=mode).reset(seed=0)[1]["task"]) == [
        "kc1", "kc1"]
    with pytest.raises(ValueError, match=r"HPO-OpenML-kc1-v0 is pinned to task 'kc1', but task='car' was given; "
                                         r"use gym.make\('HPO-OpenML-v0', task='car'\) or 'HPO-OpenML-car-v0'"):
        gym.make("HPO-OpenML-kc1-v0", task="car")
    with pytest.raises(ValueError, match=r"but task=31 was given; use gym.make\('HPO-OpenML-v0', task=31\) or "
                                         r"'HPO-OpenML-credit_g-v0'$"):  # 31 is credit_g's OpenML id
        gym.make_vec("HPO-OpenML-kc1-v0", num_envs=2, vectorization_mode=mode, task=31)
    with pytest.raises(ValueError, match=r"but task='nope' was given; use gym.make\('HPO-OpenML-v0', task='nope'\)$"):
        gym.make("HPO-OpenML-kc1-v0", task="nope")
    # its own task by OpenML id (3917 is kc1), as a string, or None (no choice made) is the id's task
    for same in (3917, "3917", None):
        assert list(gym.make_vec("HPO-OpenML-kc1-v0", num_envs=2, vectorization_mode=mode, task=same).reset(seed=0)[1][
            "task"]) == ["kc1", "kc1"]
    # objective= would replace the pinned task: refused with the id that takes it (it used to blame a task= never given)
    from hpo_gym.suites import load_hpobench_nn

    with pytest.raises(ValueError, match=r"HPO-OpenML-kc1-v0 is pinned to task 'kc1', so objective= cannot replace it; "
                                         r"use gym.make\('HPO-OpenML-v0', objective=...\)$"):
        gym.make_vec("HPO-OpenML-kc1-v0", num_envs=2, vectorization_mode=mode, objective=load_hpobench_nn("car"))
    # the task is not a kwarg of the id any more, so no kwarg can swap it
    with pytest.raises(TypeError, match=r"HPO-OpenML-kc1-v0 takes no pinned_task="):
        gym.make_vec("HPO-OpenML-kc1-v0", num_envs=2, vectorization_mode=mode, pinned_task="car")


def test_a_per_task_id_survives_json_and_pickle():
    """Bound entry points are strings naming module attributes: the spec serializes and the env pickles (SubprocVecEnv)."""
    import pickle

    env = gym.make("HPO-OpenML-vehicle-v0", budget=3)
    again = gym.make(gym.envs.registration.EnvSpec.from_json(env.spec.to_json()))
    assert again.reset(seed=0)[1]["task"] == "vehicle"
    clone = pickle.loads(pickle.dumps(env))
    assert clone.reset(seed=1)[1]["task"] == "vehicle"


def test_module_prefixed_id_works_without_a_prior_import():
    code = ("import gymnasium as gym; env = gym.make('envs_registry:HPO-OpenML-v0'); "
            "obs, info = env.reset(seed=0); print(info['task'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in envs_registry.EMBEDDED_TASKS


@pytest.mark.parametrize("noise", [False, True])
def test_native_vector_env_matches_single_envs_on_mixed_tasks(noise):
    n, budget = 6, 4
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=n, budget=budget, noise=noise, reward="regret")
    assert isinstance(vec, HPOVectorEnv)
    obs, info = vec.reset(seed=3)
    tasks = list(info["task"])
    assert len(set(tasks)) > 1, "seed 3 should draw several different tasks"
    singles = [gym.make("HPO-OpenML-v0", task=t, budget=budget, reward="regret") for t in tasks]
    for i, env in enumerate(singles):
        single_info = env.reset(seed=0)[1]
        assert set(info) == set(single_info) | {f"_{key}" for key in single_info}  # the keys of a sync vector env
        assert all(info[key][i] == single_info[key] for key in single_info)
    actions = np.random.default_rng(0).random((budget, n, 5))
    prev_best = np.full(n, -np.inf)
    off_mean = []
    for t in range(budget):
        obs, rewards, terminated, truncated, info = vec.step(actions[t])
        for i, env in enumerate(singles):
            s_obs, s_reward, s_term, _, s_info = env.step(actions[t, i])
            assert terminated[i] == s_term and vec.cell_config(info["cell"][i]) == s_info["config"]
            np.testing.assert_allclose(obs["x"][i], s_obs["x"])
            if noise:  # other draws than the noise-free single env, but the regret is of the incumbent's mean score
                seed_scores = env.unwrapped.objective.seed_scores[info["cell"][i]]
                assert info["score"][i] in seed_scores  # one seed's draw, not the mean
                off_mean.append(info["score"][i] != env.unwrapped.objective.mean_scores[info["cell"][i]])
                assert info["normalized_regret"][i] >= 0.0 and rewards[i] == pytest.approx(-info["normalized_regret"][i])
                if info["score"][i] > prev_best[i]:  # this trial became the incumbent
                    objective = env.unwrapped.objective
                    mean = objective.mean_scores[info["cell"][i]]
                    assert info["normalized_regret"][i] == pytest.approx(objective.oracle.normalized_regret(mean))
                continue
            assert rewards[i] == pytest.approx(s_reward)
            assert info["best_score"][i] == pytest.approx(s_info["best_score"])
            assert info["normalized_regret"][i] == pytest.approx(s_info["normalized_regret"])
        prev_best = info["best_score"]
    assert vec.observation_space.contains(obs)
    assert not noise or any(off_mean)
    # next step autoresets every finished env: reward 0, fresh history, and the new episodes' reset info masked in (it
    # used to be masked out, so mask-honouring code such as DictInfoToList lost each row's new task)
    obs, rewards, terminated, _, info = vec.step(actions[0])
    assert (rewards == 0).all() and (obs["mask"].sum(axis=1) == 0).all() and not terminated.any()
    assert info["_task"].all() and not info["_score"].any() and list(info["budget"]) == [budget] * n
    assert all(names == list(singles[0].unwrapped.space.names) for names in info["hyperparameters"])


def test_native_vector_env_rejects_bad_actions_and_settings():
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=2, budget=3)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        vec.step(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="NaN or inf"):
        vec.step(np.full((2, 5), np.nan))
    assert set(vec.reset(seed=0, options={"task": 31})[1]["task"]) == {"credit_g"}
    with pytest.raises(ValueError, match="valid names"):
        vec.reset(options={"task": "mnist"})
    with pytest.raises(ValueError, match="vectorization_mode='sync'"):
        gym.make_vec("HPO-OpenML-v0", num_envs=2, action_type="dict")
    with pytest.raises(ValueError, match=r"not numeric.*vectorization_mode='sync', action_type='dict'"):
        vec.step({"a": 0.5})  # a dict: the hint names the mode that takes it (the native env refuses action_type='dict')
    with pytest.raises(ValueError, match="5 hyperparameters but max_dims=2; raise max_dims"):
        gym.make_vec("HPO-OpenML-v0", num_envs=2, max_dims=2)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_gymnasium_vectorization_modes(mode):
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=3, budget=3, vectorization_mode=mode)
    try:
        obs, info = vec.reset(seed=1)
        for _ in range(3):
            obs, rewards, terminated, truncated, info = vec.step(vec.action_space.sample())
        assert terminated.all() and obs["x"].shape == (3, 3, 16)
        assert (info["score"] > 0).all()
    finally:
        vec.close()


@pytest.mark.parametrize("reward", ["score", "improvement"])
def test_native_vector_env_rewards_match_single_envs(reward):
    n, budget = 6, 4
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=n, budget=budget, reward=reward)
    _, info = vec.reset(seed=3)
    tasks = list(info["task"])
    assert len(set(tasks)) > 2, "seed 3 should draw several different tasks (their worst scores differ)"
    singles = [gym.make("HPO-OpenML-v0", task=t, budget=budget, reward=reward) for t in tasks]
    for env in singles:
        env.reset(seed=0)
    actions = np.random.default_rng(1).random((budget, n, 5))
    for t in range(budget):
        obs, rewards, terminated, _, info = vec.step(actions[t])
        expected = [env.step(actions[t, i]) for i, env in enumerate(singles)]
        np.testing.assert_allclose(rewards, [r for _, r, *_ in expected], rtol=1e-12, atol=0)
        np.testing.assert_allclose(info["score"], [s["score"] for *_, s in expected], rtol=1e-12, atol=0)
        if reward == "improvement" and t == 0:  # the first trial gains over its own task's worst score
            worst = [env.unwrapped.objective.oracle.worst for env in singles]
            np.testing.assert_allclose(rewards, info["score"] - np.array(worst), rtol=1e-12)
        if reward == "score":
            np.testing.assert_allclose(rewards, info["score"])
    assert terminated.all()


def _vector_run(seed, *, episodes=2, budget=3, n=5, noise=True):
    """Tasks, rewards and observations of ``episodes`` episodes (with autoresets) from ``reset(seed=seed)``."""
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=n, budget=budget, noise=noise)
    obs, info = vec.reset(seed=seed)
    out = {"tasks": [tuple(info["task"])], "rewards": [], "obs": [obs]}
    actions = np.random.default_rng(0).random((episodes * (budget + 1), n, 5))
    for a in actions[:episodes * (budget + 1) - 1]:
        obs, rewards, terminated, _, info = vec.step(a)
        out["tasks"].append(tuple(info["task"]))
        out["rewards"].append(rewards)
        out["obs"].append(obs)
    return out


def test_native_vector_env_seeded_runs_repeat_and_seeds_differ():
    a, b, c = _vector_run(3), _vector_run(3), _vector_run(4)
    assert a["tasks"] == b["tasks"]
    np.testing.assert_array_equal(np.array(a["rewards"]), np.array(b["rewards"]))
    for oa, ob in zip(a["obs"], b["obs"]):
        for key in oa:
            np.testing.assert_array_equal(oa[key], ob[key])
    # the autoreset drew new tasks from the same seeded stream
    assert a["tasks"][0] != a["tasks"][-1]
    assert a["tasks"][0] != c["tasks"][0] and a["tasks"][-1] != c["tasks"][-1]


def test_native_vector_env_autoreset_step_masks_its_info():
    n, budget = 3, 2
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=n, budget=budget)
    vec.reset(seed=0)
    keys = ["score", "best_score", "cost", "normalized_regret", "task", "openml_task_id", "step", "action_clipped", "cell"]
    for t in range(budget):  # every env steps: every mask is True
        *_, terminated, _, info = vec.step(np.full((n, 5), 0.5))
        for k in keys:
            assert info[f"_{k}"].dtype == bool and info[f"_{k}"].all(), k
    assert terminated.all()
    # the next step only restarts the finished envs: nothing was evaluated, every step entry is masked out; the new
    # episodes' reset info (task, openml_task_id, hyperparameters, budget) is masked in, as a sync vector env does
    ignored = np.full((n, 5), 1.5)
    ignored[0] = np.nan  # the row's action is ignored, as a sync vector env ignores it: NaN is no error there either
    obs, rewards, terminated, _, info = vec.step(ignored)
    for k in keys:
        assert info[f"_{k}"].all() if k in ("task", "openml_task_id") else not info[f"_{k}"].any(), k
    assert info["_hyperparameters"].all() and info["_budget"].all()
    assert (info["cell"] == -1).all() and (info["score"] == 0).all() and not info["action_clipped"].any()
    assert (rewards == 0).all() and not terminated.any() and (info["step"] == 0).all()
    assert (info["best_score"] == 0).all() and (info["normalized_regret"] == 0).all()  # masked: 0, not -inf / inf
    # and the step after evaluates again
    *_, info = vec.step(np.full((n, 5), 0.5))
    assert all(info[f"_{k}"].all() for k in keys) and (info["step"] == 1).all() and (info["score"] > 0).all()


def test_native_vector_env_partial_reset_matches_a_sync_vector_env():
    """Gymnasium's ``reset(options={"reset_mask": mask})`` restarts only the masked rows, in both vector envs: same
    observations, rewards and masked reset info, step for step (one task, no noise, so no draw separates them)."""
    n, budget = 3, 3
    native = gym.make_vec("HPO-OpenML-v0", num_envs=n, budget=budget)
    sync = gym.make_vec("HPO-OpenML-v0", num_envs=n, budget=budget, vectorization_mode="sync")
    actions = np.random.default_rng(5).random((6, n, 5))
    mask = np.array([True, False, True])
    results = []
    for vec in (native, sync):
        vec.reset(seed=0, options={"task": "kc1"})
        steps = [vec.step(actions[0])[:3]]
        obs, info = vec.reset(options={"reset_mask": mask, "task": "kc1"})
        assert list(info["_task"]) == list(mask) and list(info["budget"]) == [budget, 0, budget]
        steps.append((obs,))
        steps += [vec.step(a)[:3] for a in actions[1:budget]]  # row 1 ends its episode a step before the others
        results.append(steps)
    for native_step, sync_step in zip(*results):
        for a, b in zip(native_step, sync_step):
            if isinstance(a, dict):
                for key in a:
                    np.testing.assert_array_equal(a[key], b[key], err_msg=key)
            else:
                np.testing.assert_array_equal(a, b)
    assert list(results[0][-1][2]) == [False, True, False]
    with pytest.raises(ValueError, match=r"reset_mask'\] has no True entry"):
        native.reset(options={"reset_mask": np.zeros(n, dtype=bool)})
    with pytest.raises(TypeError, match=r"numpy bool array of shape \(3,\), got list"):  # SyncVectorEnv's error types
        native.reset(options={"reset_mask": [True, False, True]})
    with pytest.raises(ValueError, match=r"numpy bool array of shape \(3,\), got shape \(2,\)"):
        native.reset(options={"reset_mask": np.array([True, False])})
    with pytest.raises(RuntimeError, match=r"call reset\(\) without it first"):
        gym.make_vec("HPO-OpenML-v0", num_envs=n).reset(options={"reset_mask": mask})
    with pytest.raises(ValueError, match="seed must be an int or None, got float 2.0"):
        native.reset(seed=2.0)
    # a partial reset without a task leaves the other rows on theirs: they autoreset to kc1, not to drawn tasks
    one_step = gym.make_vec("HPO-OpenML-v0", num_envs=n, budget=1)
    one_step.reset(seed=0, options={"task": "kc1"})
    one_step.reset(options={"reset_mask": mask})
    kept = [tuple(one_step.step(np.full((n, 5), 0.5))[4]["task"][1:2]) for _ in range(6)]
    assert set(kept) == {("kc1",)}


def test_native_vector_env_flags_exactly_the_clipped_rows():
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=5, budget=3)
    _, info = vec.reset(seed=0)
    actions = np.full((5, 5), 0.5)
    actions[0, 4] = 1.5    # one entry above 1
    actions[2, 0] = -0.1   # one entry below 0
    actions[3] = [0.0, 1.0, 0.0, 1.0, 0.0]  # on the bounds: not clipped
    actions[4, :] = 7.0    # every entry out of range
    *_, info = vec.step(actions)
    assert info["action_clipped"].tolist() == [True, False, True, False, True]
    # a clipped action evaluates the clipped configuration, as the single env does
    for i, task in enumerate(info["task"]):
        env = gym.make("HPO-OpenML-v0", task=task, budget=3)
        env.reset(seed=0)
        *_, s_info = env.step(actions[i])
        assert s_info["action_clipped"] == info["action_clipped"][i]
        assert vec.cell_config(info["cell"][i]) == s_info["config"]
    *_, info = vec.step(np.full((5, 5), 0.25))
    assert not info["action_clipped"].any()


def test_native_vector_env_refuses_tasks_that_do_not_share_one_grid(monkeypatch):
    import pandas as pd

    from hpo_gym import suites
    from hpo_gym.tabular import TabularObjective

    def table(name, values):
        df = pd.DataFrame({"a": values, "acc": [0.1, 0.7, 0.4]})
        return TabularObjective.from_dataframe(df, metric="acc", name=name)

    # same number of cells (a stack of the tables would succeed) but different values: not one grid
    differ = {"small": table("small", [1, 2, 3]), "large": table("large", [10, 20, 30])}
    shared = {"one": table("one", [1, 2, 3]), "two": table("two", [1, 2, 3])}
    for name, objs, space in [("test-different-grids", differ, None), ("test-one-grid", shared, shared["one"].space),
                              ("test-one-grid-undeclared", shared, None)]:
        monkeypatch.setitem(suites._SUITES, name, suites.Suite(name, {t: None for t in objs}, objs.__getitem__,
                                                                 shared_space=space))
    # one grid, but the suite does not declare it: HPOEnv acts in a Box padded to max_dims for such a suite, and the
    # native env acted in Box(1), so a policy of one mode could not act in the other; refused, naming the fix
    assert gym.make("HPO-OpenML-v0", suite="test-one-grid-undeclared", budget=2).action_space.shape == (16,)
    with pytest.raises(ValueError, match=r"Suite\(\.\.\., shared_space=SPACE\)"):
        gym.make_vec("HPO-OpenML-v0", num_envs=2, suite="test-one-grid-undeclared", budget=2)
    with pytest.raises(ValueError, match=r"declare none .*shared_space=SPACE.*action_type='box'"):
        gym.make("HPO-OpenML-v0", suite="test-one-grid-undeclared", budget=2, action_type="multidiscrete")
    assert gym.make("HPO-OpenML-v0", suite="test-one-grid", budget=2).action_space.shape == (1,)
    with pytest.raises(ValueError, match="share one grid"):
        gym.make_vec("HPO-OpenML-v0", num_envs=2, suite="test-different-grids", budget=2)
    # the same tasks through Gymnasium's sync vectorization work (the error's advice)
    sync = gym.make_vec("HPO-OpenML-v0", num_envs=2, suite="test-different-grids", budget=2, vectorization_mode="sync")
    sync.reset(seed=0)
    sync.close()
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=2, suite="test-one-grid", budget=2)
    vec.reset(seed=0)
    *_, info = vec.step(np.array([[0.0], [1.0]]))
    assert info["score"].tolist() == pytest.approx([0.1, 0.4])


def test_sync_vector_info_keeps_float_hyperparameters_float():
    """HPOBench's alpha and learning_rate_init grids end in the int 1; when env 0 drew that value, Gymnasium's batched
    info array took int as its dtype and showed every other env's float (1e-08) as 0."""
    vec = gym.make_vec("HPO-OpenML-credit_g-v0", num_envs=2, vectorization_mode="sync", budget=2)
    vec.reset(seed=0)
    info = vec.step(np.array([[0.99, 0.5, 0.5, 0.99, 0.5], [0.01, 0.5, 0.5, 0.01, 0.5]], dtype=np.float32))[4]
    assert list(info["config"]["alpha"]) == [1.0, 1e-08] and list(info["config"]["learning_rate_init"]) == [1.0, 1e-05]
    assert info["config"]["alpha"].dtype == np.float64 and info["config"]["depth"].dtype.kind == "i"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_info_keeps_every_envs_value_of_a_categorical_that_mixes_kinds(mode):
    """max_depth [3, None, 'auto'] (a DataFrame's int column with a missing entry is such a categorical): env 0's int
    made Gymnasium batch the key as an int array, which refused env 1's None (TypeError, a crash); a categorical
    [1, 0.5] showed 0.5 as 0. Their ints and floats reach info as int/float subclasses, batched as objects."""
    import json

    from hpo_gym.space import Categorical, InfoInt, SearchSpace
    from hpo_gym.tabular import TabularObjective

    space = SearchSpace([Categorical("max_depth", [3, None, "auto"]), Categorical("max_features", [1, 0.5]),
                         Categorical("early_stopping", [True, "auto", False])])
    obj = TabularObjective("mixed", space, np.arange(18, dtype=float))
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=3, vectorization_mode=mode, objective=obj, budget=2)
    try:
        vec.reset(seed=0)
        info = vec.step(np.array([[0.1, 0.2, 0.1], [0.5, 0.9, 0.5], [0.9, 0.9, 0.9]], dtype=np.float32))[4]
    finally:
        vec.close()
    assert list(info["config"]["max_depth"]) == [3, None, "auto"] and list(info["config"]["max_features"]) == [1, 0.5, 0.5]
    assert list(info["config"]["early_stopping"]) == [True, "auto", False]  # 'auto' was batched as True
    single = gym.make("HPO-OpenML-v0", objective=obj, budget=2)
    single.reset(seed=0)
    config = single.step(np.array([0.1, 0.2, 0.1], dtype=np.float32))[4]["config"]
    assert config == {"max_depth": 3, "max_features": 1, "early_stopping": True} and isinstance(config["max_depth"], InfoInt)
    assert json.dumps({k: getattr(v, "item", lambda v=v: v)() for k, v in config.items()}) == \
        '{"max_depth": 3, "max_features": 1, "early_stopping": true}'


def test_history_batch_observation_is_each_episodes_observation_stacked():
    """The batched descriptor arrays hold one row per episode: episodes on different spaces keep their own rows, and
    the batch is a copy (an agent that edits it changes no later observation)."""
    from hpo_gym.episode import History
    from hpo_gym.space import Categorical, Float, Int, SearchSpace

    spaces = [SearchSpace([Float("lr", 1e-4, 1.0, log=True), Categorical("kernel", ["rbf", "linear"])]),
              SearchSpace([Int("depth", 1, 8), Float("alpha", 0.0, 1.0), Float("beta", 1e-3, 1.0, log=True)])]
    hist = History(3, 4, 6)
    hist.reset(0, spaces[0])
    hist.reset(np.array([1, 2]), spaces[1])
    hist.record(2, np.array([0.5, 0.25, 0.75], np.float32), 1.0)
    batch = hist.observations()
    for i in range(3):
        single = hist.observation(i)
        for key, value in single.items():
            assert np.array_equal(batch[key][i], value) and batch[key][i].dtype == value.dtype, (i, key)
    assert batch["dim_kind"][0, :2].tolist() != batch["dim_kind"][1, :2].tolist() and batch["dim_kind"][0, 2] == 0
    assert batch["dim_kind"][1, :3].all() and batch["dim_log"][1, :3].tolist() == [0, 0, 1]
    batch["dim_kind"][:] = 9
    assert hist.observations()["dim_kind"].max() < 9 and hist.observation(0)["dim_kind"].max() < 9


def test_specs_and_histories_saved_by_the_previous_version_still_load():
    """Before the task was bound into the entry point, a per-task spec named envs_registry:make_task_env with the task
    as a keyword; before descriptors were arrays, a History pickled them as a list of per-episode dicts."""
    import pickle

    from gymnasium.envs.registration import EnvSpec

    from hpo_gym.episode import History, space_descriptor
    from hpo_gym.suites import get_suite

    old = EnvSpec("HPO-OpenML-kc1-v0", entry_point="envs_registry:make_task_env", kwargs={"pinned_task": "kc1"})
    assert gym.make(old, budget=2).reset(seed=0)[1]["task"] == "kc1"
    with pytest.raises(ValueError, match="pinned to task 'kc1', but task='car' was given"):
        gym.make(old, task="car")
    space = get_suite("hpobench-nn").shared_space
    hist = History(2, 3, 8)
    hist.reset(np.array([0, 1]), space)
    state = dict(hist.__dict__)
    state["descriptor"] = [space_descriptor(space, 8), space_descriptor(space, 8)]  # the old layout
    restored = History.__new__(History)
    restored.__setstate__(state)
    assert all(np.array_equal(restored.descriptor[k], hist.descriptor[k]) for k in hist.descriptor)
    assert pickle.loads(pickle.dumps(restored)).observations()["dim_kind"].shape == (2, 8)


def test_native_vector_env_gives_minus_one_for_a_task_whose_openml_id_is_none(monkeypatch):
    """A table whose metadata holds ``openml_task_id=None`` (a suite copying its ``{name: None}`` id map) made the
    array an object array holding None, against the docstring's numeric array with -1."""
    from hpo_gym import suites
    from hpo_gym.space import Ordinal, SearchSpace
    from hpo_gym.tabular import TabularObjective

    space = SearchSpace([Ordinal("x", [1, 2, 3])])
    ids = {"without": None, "with": 42}
    objs = {name: TabularObjective(name, space, np.arange(3.0), metadata={"openml_task_id": i}) for name, i in ids.items()}
    monkeypatch.setitem(suites._SUITES, "test-none-id", suites.Suite("test-none-id", ids, objs.__getitem__,
                                                                     shared_space=space))
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=8, suite="test-none-id", budget=2)
    _, reset_info = vec.reset(seed=0)
    *_, info = vec.step(vec.action_space.sample())
    for got in (reset_info, info):
        assert got["openml_task_id"].dtype == np.int64
        assert got["openml_task_id"].tolist() == [42 if task == "with" else -1 for task in got["task"]]
    assert {"with", "without"} <= set(info["task"])  # both kinds of task were drawn: the check above saw a None id
    vec.close()


@pytest.mark.parametrize("seed", [0, 1])
def test_a_sync_vector_env_batches_a_none_openml_id_and_int_scores_without_error_or_truncation(monkeypatch, seed):
    """Gymnasium types a batched info key by its first env's value: an int id there and None in another env raised a
    TypeError (with seed 1 here), and an int score or cost there cut the others' 0.3 to 0 and 2.7 to 2, silently."""
    from hpo_gym import suites
    from hpo_gym.objective import Evaluation, EvaluationBatch, as_config_list
    from hpo_gym.space import Ordinal, SearchSpace
    from hpo_gym.tabular import TabularObjective

    space = SearchSpace([Ordinal("x", [1, 2, 3])])
    ids = {"without": None, "with": 42}
    objs = {name: TabularObjective(name, space, np.arange(3.0), metadata={"openml_task_id": i}) for name, i in ids.items()}
    monkeypatch.setitem(suites._SUITES, "test-none-id-sync", suites.Suite("test-none-id-sync", ids, objs.__getitem__,
                                                                          shared_space=space))
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=6, suite="test-none-id-sync", budget=2, vectorization_mode="sync")
    _, reset_info = vec.reset(seed=seed)
    *_, info = vec.step(vec.action_space.sample())
    for got in (reset_info, info):
        assert got["openml_task_id"].tolist() == [42 if task == "with" else -1 for task in got["task"]]
    vec.close()

    class IntOrFloat:
        """Scores and costs as a user's objective may return them: ints in one env, floats in the other."""

        name, space, oracle, metadata = "int-or-float", SearchSpace([Ordinal("x", [1, 2])]), None, {}

        def __init__(self, whole: bool):
            self.whole = whole

        def evaluate(self, config, seed=None):
            return Evaluation(1, 2, {}) if self.whole else Evaluation(0.3, 2.7, {})

        def evaluate_batch(self, configs, seeds=None):
            return EvaluationBatch.from_evaluations([self.evaluate(c) for c in as_config_list(self.space, configs)])

    vec = gym.vector.SyncVectorEnv([lambda w=w: gym.make("HPO-OpenML-v0", objective=IntOrFloat(w), budget=2)
                                    for w in (True, False)])
    vec.reset(seed=seed)
    *_, info = vec.step(vec.action_space.sample())
    assert info["score"].tolist() == [1.0, 0.3] and info["cost"].tolist() == [2.0, 2.7]
    vec.close()


def test_native_vector_env_refuses_tables_with_other_seed_counts_and_the_sync_env_runs_them(monkeypatch):
    """Two complete tables on one grid, with 2 and 3 seeds: the native env failed in np.stack with numpy's bare 'all
    input arrays must have the same shape' (found in review), while HPOEnv and the sync vector env run them."""
    from hpo_gym import suites
    from hpo_gym.space import Ordinal, SearchSpace
    from hpo_gym.tabular import TabularObjective

    space = SearchSpace([Ordinal("a", [1, 2, 3])])
    tables = {"t2": TabularObjective("t2", space, np.random.default_rng(0).random((3, 2))),
              "t3": TabularObjective("t3", space, np.random.default_rng(1).random((3, 3)))}
    monkeypatch.setitem(suites._SUITES, "test-seed-counts",
                        suites.Suite("test-seed-counts", {t: None for t in tables}, tables.__getitem__, shared_space=space))
    with pytest.raises(ValueError, match=r"one number of seeds, and task 't3' has 3 where 't2' has 2; use "
                                         r"vectorization_mode='sync'"):
        gym.make_vec("HPO-OpenML-v0", num_envs=2, suite="test-seed-counts", budget=2)
    sync = gym.make_vec("HPO-OpenML-v0", num_envs=2, suite="test-seed-counts", budget=2, vectorization_mode="sync",
                        noise=True)
    sync.reset(seed=0)
    assert np.isfinite(sync.step(np.array([[0.0], [1.0]]))[1]).all()
    sync.close()


def test_max_dims_is_bounded_with_the_budget_so_one_observation_stays_small():
    """max_dims had no bound: 10^6 copied 200 MB per step and 10^9 failed inside gym.make as a 46.6 GiB MemoryError."""
    from hpo_gym.episode import MAX_OBSERVATION_VALUES

    for make in (lambda **kw: gym.make("HPO-OpenML-v0", task="kc1", **kw),
                 lambda **kw: gym.make_vec("HPO-OpenML-v0", num_envs=2, task="kc1", **kw)):
        with pytest.raises(ValueError, match=r"budget x max_dims = 50 x 1,000,000,000 values in every observation; at "
                                             r"most 1,600,000 .*use a smaller max_dims"):
            make(budget=50, max_dims=10**9)
        env = make(budget=50, max_dims=MAX_OBSERVATION_VALUES // 50)  # the limit itself is allowed
        assert env.observation_space["x"].shape[-1] == MAX_OBSERVATION_VALUES // 50
        env.close()


def test_a_tied_noisy_score_keeps_the_incumbents_noise_free_score_in_the_vector_history_as_in_the_single_one():
    """Under noise the incumbent is the first trial with the best observed score; regret is measured on its noise-free
    score. The batched record replaced it on a tie, so the vector env measured the newer trial (single env: the first)."""
    from hpo_gym.episode import History

    batched, single = History(1, 3, 2), History(1, 3, 2)
    for observed, true in ((0.8, 0.7), (0.8, 0.5)):
        batched.record_batch(np.array([0]), np.zeros((1, 1)), np.array([observed]), np.array([true]))
        single.record(0, np.zeros(1), observed, true)
    assert batched.best_true[0] == single.best_true[0] == 0.7
