"""The README's offline Python examples run as written and do what the text around them says."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tests.readme_examples import README, readme_example, run_example


def test_random_agent_in_ten_lines_plays_one_full_run():
    ns, printed = run_example(readme_example("action = env.action_space.sample()"))
    info = ns["info"]
    assert ns["terminated"] and info["step"] == 50
    assert 0.0 <= info["normalized_regret"] <= 1.0
    assert set(info["config"]) == {"alpha", "batch_size", "depth", "learning_rate_init", "width"}
    assert printed.split()[0] == str(info["best_score"])


def test_benchmark_with_your_own_table(tmp_path):
    """The example builds its own table (so it pastes and runs as written) and benchmarks it next to two suite tasks."""
    ns, printed = run_example(readme_example("TabularObjective.from_dataframe(df", {'"runs/my_tables"': repr(str(tmp_path))}))
    runs, summary = ns["runs"], ns["summary_table"](ns["runs"])
    assert ns["mine"].n_configs == 40 and len(ns["mine"].space) == 2
    assert set(runs["task"]) == {"credit_g", "car", "mine"} and set(runs["seed"]) == {0, 1, 2}
    assert list(summary.index) == ["random", "tpe"] and (summary["runs"] == 9).all() and (summary["failed"] == 0).all()
    assert "tpe" in printed and "random" in printed and "regret@20" in printed  # no column is cut from the print
    assert (tmp_path / "benchmark.json").exists()


def test_your_own_function_runs_through_hpobenchs_api_without_hpobench():
    """The duck-typed HPOBench class plays a full run; the score is the negated loss, and the best is the best seen."""
    ns, printed = run_example(readme_example("class Quadratic"))
    info = ns["info"]
    assert ns["terminated"] and info["step"] == 20 and set(info["config"]) == {"x", "n"}
    config = info["config"]
    assert info["score"] == pytest.approx(-((config["x"] - 1.0) ** 2 + 0.1 * config["n"]), rel=1e-6)
    assert float(printed) == info["best_score"] >= info["score"] and info["best_score"] <= -0.1


def test_the_smallest_own_agent_is_benchmarked_as_my_agents_colon_my_agent(tmp_path, monkeypatch):
    """The README's ``my_agents.py``, saved as that file, runs under ``hpo-gym bench --agents mine=my_agents:MyAgent``,
    its rows headed ``mine``."""
    from hpo_gym.benchmark import ResultStore
    from hpo_gym.cli import main

    (tmp_path / "my_agents.py").write_text(readme_example("class MyAgent:"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "random,tpe,mine=my_agents:MyAgent " in README.read_text()
    assert main(["bench", "--agents", "random,mine=my_agents:MyAgent", "--tasks", "car", "--budget", "5", "--seeds", "2",
                 "--out", str(tmp_path / "out"), "--no-report"]) == 0  # tests/conftest.py forgets other tests' my_agents
    runs = ResultStore(tmp_path / "out").load()
    assert set(runs["agent"]) == {"random", "mine"}
    mine = runs[runs["agent"] == "mine"]
    assert (mine["status"] == "ok").all() and mine.groupby("seed")["step"].max().tolist() == [5, 5]


def test_transfer_baseline_fits_on_seven_tasks_and_plays_the_eighth():
    """The README's fit on seven tables: the agent records exactly them, and its first 10 proposals on credit_g are the
    portfolio built from them (a fit on one table passed this test when it only checked the actions' validity)."""
    ns, _ = run_example(readme_example('make_agent("portfolio+tpe:10")'))
    agent = ns["agent"]
    seven = {"vehicle", "kc1", "phoneme", "blood_transfusion", "australian", "car", "segment"}
    assert set(agent.trained_on) == seven
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=12)
    obs, _ = env.reset(seed=0)
    agent.reset(env.unwrapped.space, seed=0, budget=12)
    proposed = []
    for _ in range(12):
        action = agent.act(obs)
        assert env.action_space.contains(action)
        obs, reward, terminated, _, info = env.step(action)
        agent.observe(action, reward, info)
        proposed.append(info["config"])
    assert terminated and np.isfinite(info["best_score"])
    credit_g = env.unwrapped.objective
    assert proposed[:10] == agent.portfolio.configs(credit_g, 10)


def test_grpoformer_agent_loads_the_shipped_fold_checkpoint_and_acts(tmp_path, monkeypatch):
    from agents.grpoformer.agent import CHECKPOINT_DIR

    monkeypatch.setenv("HPO_GYM_CACHE", str(tmp_path))  # were no shipped checkpoint to match, fit would train into $HOME
    ns, _ = run_example(readme_example("GRPOformerAgent()"))
    agent, env = ns["agent"], ns["env"]
    assert agent.checkpoint.parent == CHECKPOINT_DIR / "folds"  # the shipped fold 0 checkpoint: nothing was trained
    assert "credit_g" not in agent.trained_on and env.action_space.contains(ns["action"])


def test_the_sb3_example_trains_behind_rescale_action_and_vecnormalize_takes_the_named_keys():
    """The README's SB3 example trains PPO on [-1, 1] actions (on the bare [0, 1] Box half its coordinates clip to 0),
    and the keys it names for ``VecNormalize`` are the Box ones, which SB3's default (every key) refuses."""
    from stable_baselines3.common.vec_env import VecNormalize

    ns, _ = run_example(readme_example("wrapper_class=gym.wrappers.RescaleAction", {
        "n_envs=8": "n_envs=2", '{"budget": 50}': '{"budget": 5}', "learn(2_000)": "learn(200)"}))
    envs, model = ns["envs"], ns["model"]
    assert model.num_timesteps >= 200 and envs.num_envs == 2
    assert float(envs.action_space.low.min()) == -1.0 and float(envs.action_space.high.max()) == 1.0
    with pytest.raises(ValueError, match="norm_obs_keys"):
        VecNormalize(envs)
    normalized = VecNormalize(envs, norm_obs_keys=["x", "y", "step_fraction", "dim_choices"])
    assert set(normalized.reset()) == set(envs.observation_space.spaces)


@pytest.mark.parametrize("mode", [None, "sync"])
def test_vector_envs_reset_on_the_next_step_with_reward_0_as_the_readme_says(mode):
    """The README's autoreset paragraph: after a terminal step, the row's next step ignores its action, returns reward
    0 and the new episode's first observation (an empty history)."""
    kwargs = {} if mode is None else {"vectorization_mode": mode}
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=2, budget=2, **kwargs)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    vec.reset(seed=0)
    for _ in range(2):
        _, _, terminated, _, _ = vec.step(np.full((2, 5), 0.5))
    assert terminated.all()
    obs, reward, terminated, _, _ = vec.step(np.full((2, 5), 0.9))
    assert reward.tolist() == [0.0, 0.0] and not terminated.any() and obs["mask"].sum() == 0
    vec.close()
    same_step = gym.make_vec("HPO-OpenML-v0", num_envs=2, budget=2, vectorization_mode="sync",
                             vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    same_step.reset(seed=0)
    same_step.step(np.full((2, 5), 0.5))
    _, _, terminated, _, info = same_step.step(np.full((2, 5), 0.5))
    assert terminated.all() and "final_obs" in info and info["final_obs"][0]["mask"].sum() == 2
    same_step.close()


def test_the_readme_sampler_settings_example_runs_under_its_label_next_to_tpe(tmp_path, monkeypatch):
    """The README's ``my_samplers.py`` (TPE with 5 random start-up trials, multivariate), saved as that file, runs
    under ``--agents tpe,tpe5=my_samplers:tpe5``: its first 5 proposals are TPE's start-up ones (the same seed draws the
    same random trials), and later ones differ, as 10 start-up trials would not."""
    from hpo_gym.benchmark import ResultStore
    from hpo_gym.cli import main

    code = readme_example("def tpe5():")
    assert code.startswith("# my_samplers.py: hpo-gym bench --agents tpe,tpe5=my_samplers:tpe5 ")
    (tmp_path / "my_samplers.py").write_text(code)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["bench", "--agents", "tpe,tpe5=my_samplers:tpe5", "--tasks", "kc1", "--budget", "12", "--seeds", "1",
                 "--out", str(tmp_path / "out"), "--no-report"]) == 0
    runs = ResultStore(tmp_path / "out").load()
    configs = {agent: rows.sort_values("step")["config"].tolist() for agent, rows in runs.groupby("agent")}
    assert set(configs) == {"tpe", "tpe5"}
    assert configs["tpe5"][:5] == configs["tpe"][:5] and configs["tpe5"][5:10] != configs["tpe"][5:10]


def test_space_encode_and_decode_carry_a_native_configuration_to_the_action_and_back(kc1):
    """The README's sentence for methods that work on native values: ``space.encode(config)`` is the Box action whose
    evaluation is that configuration, and ``space.decode(action)`` gives it back."""
    assert "with `space.encode(config)` and an action back with `space.decode(action)`" in README.read_text()
    env = gym.make("HPO-OpenML-v0", task="kc1", budget=2)
    env.reset(seed=0)
    space = env.unwrapped.space
    config = kc1.cell_config(123)
    action = space.encode(config)
    assert space.decode(action) == config
    _, _, _, _, info = env.step(action.astype(space.action_dtype))
    assert info["config"] == config
