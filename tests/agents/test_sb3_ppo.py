"""Stable-Baselines3 PPO: the env passes SB3's own checker; a short k-fold training run completes and evaluates."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs_registry  # noqa: F401

pytest.importorskip("stable_baselines3")
from stable_baselines3.common.env_checker import check_env  # noqa: E402

from agents.registry import make_agent  # noqa: E402
from agents.sb3_ppo import SB3PPOAgent  # noqa: E402
from hpo_gym.fingerprint import files_fingerprint  # noqa: E402
from hpo_gym.benchmark import run_benchmark, summary_table  # noqa: E402


@pytest.fixture(autouse=True)
def sb3_log_folder(tmp_path, monkeypatch):
    """Where SB3's default logger makes its (empty) folder: the tests' own PPO models went to /tmp/SB3-<time>."""
    folder = tmp_path / "sb3_logs"
    monkeypatch.setenv("SB3_LOGDIR", str(folder))
    return folder


def test_the_agents_training_leaves_no_log_folder(sb3_log_folder):
    """Found in review: every fit made an empty /tmp/SB3-<time> folder (949 of them on this machine)."""
    from hpo_gym.suites import load_hpobench_nn

    agent = SB3PPOAgent(total_timesteps=40, budget=10)
    agent.fit([load_hpobench_nn("kc1")], seed=0)
    assert agent.model is not None and not sb3_log_folder.exists()


def test_sb3_check_env_passes():
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SB3's style advice (flatten obs, [-1, 1] actions) is not a failure
        check_env(env.unwrapped)
    env_all = gym.make("HPO-OpenML-v0", budget=20, reward="improvement")  # a task drawn per reset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check_env(env_all.unwrapped)


def test_sb3_make_vec_env_builds_the_env_by_id_and_ppo_trains_on_it():
    """SB3's most common entry point: make_vec_env(id) asks for render_mode="rgb_array", which the env draws (it used
    to refuse it, and Gymnasium's warning about that became an error under -W error)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vec = make_vec_env("HPO-OpenML-v0", n_envs=2, seed=0, env_kwargs={"budget": 5})
    assert vec.num_envs == 2 and vec.render_mode == "rgb_array"
    model = PPO("MultiInputPolicy", vec, n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu").learn(32)
    assert model.num_timesteps >= 32 and vec.action_space.contains(model.predict(vec.reset(), deterministic=True)[0][0])


def test_short_training_then_heldout_evaluation_through_the_harness(tmp_path):
    """Fit on two training tasks (one fold), evaluate on a held-out one; quality is printed, not asserted."""
    tasks = ["credit_g", "vehicle", "kc1", "car"]
    df = run_benchmark({"ppo": lambda: SB3PPOAgent(total_timesteps=800, budget=20), "random": lambda: make_agent("random")},
                       tasks, budget=20, seeds=2, protocol="kfold", folds=2, only_tasks=["credit_g"], out=tmp_path,
                       progress=False)
    ppo = df[df["agent"] == "ppo"]
    assert (ppo["status"] == "ok").all(), ppo["error"].iloc[0]
    assert ppo["heldout"].all() and set(ppo["task"]) == {"credit_g"} and ppo["fold"].eq(0).all()
    assert ppo.groupby("seed")["step"].max().tolist() == [20, 20]
    print(summary_table(df)[["regret@10", "regret@20", "MnR"]])


def test_untrained_ppo_fails_clearly(credit_g):
    with pytest.raises(RuntimeError, match="not trained"):
        SB3PPOAgent().reset(credit_g.space, seed=0, budget=20)
    with pytest.raises(ValueError, match="timesteps or the path"):
        make_agent("ppo:/no/such/model.zip")
    with pytest.raises(ValueError, match=r"total_timesteps must be a whole number of training steps >= 1 \(got 0\)"):
        make_agent("ppo:0")  # used to train nothing yet report trained_on = the fit tasks (runs labelled in-sample)
    with pytest.raises(ValueError, match=r"got '²' \(no such file\); the forms are ppo:N"):
        make_agent("ppo:²")  # a digit to str.isdigit, not to int(): its bare int() error named no form (review)
    with pytest.raises(ValueError, match=r"ppo:budget=0: the budget B in ppo:budget=B must be a whole number >= 1"):
        make_agent("ppo:budget=0")


def test_save_and_load_roundtrip(tmp_path, credit_g):
    from hpo_gym.suites import load_hpobench_nn

    agent = SB3PPOAgent(total_timesteps=200, budget=10, n_steps=50)
    agent.fit([load_hpobench_nn("kc1")], seed=0)
    agent.save(tmp_path / "ppo.zip")
    # found in review: save tagged the caller's model, so a later plain model.save recorded training tasks too
    assert not hasattr(agent.model, "hpo_gym_trained_on")
    loaded = make_agent(f"ppo:{tmp_path / 'ppo.zip'}")
    assert loaded.budget == 10 and loaded.trained_on == ("kc1",)
    # the harness records the zip's content (a replaced file must not inherit the old one's stored runs)
    assert loaded.fingerprint == files_fingerprint([tmp_path / "ppo.zip"]) and agent.fingerprint is None
    # ppo:PATH without .zip (SB3 adds it): the file SB3 read is hashed, not a missing one (one constant for every model)
    assert make_agent(f"ppo:{tmp_path / 'ppo'}").fingerprint == loaded.fingerprint
    with pytest.raises(RuntimeError, match=r"agent 'ppo': act called before reset\(space, seed\)"):
        loaded.act({})  # an AttributeError (_dtype) before
    loaded.reset(credit_g.space, seed=0, budget=10)
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=10)
    obs, _ = env.reset(seed=0)
    assert env.action_space.contains(loaded.act(obs))
    # the zip holds the trained weights (found in review: nothing compared the loaded model with the saved one)
    saved = agent.model.policy.state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in loaded.model.policy.state_dict().items())
    acts = []
    for one in (agent, loaded):  # reset seeds torch's global generator: one agent at a time
        one.reset(credit_g.space, seed=3, budget=10)
        acts.append(one.act(obs))
    np.testing.assert_array_equal(*acts)
    # pickles (the benchmark caches fitted agents per fold) and acts the same after unpickling
    import pickle

    clone = pickle.loads(pickle.dumps(agent))
    actions = []
    for a in (agent, clone):
        a.reset(credit_g.space, seed=3, budget=10)  # seeds torch's global RNG, so act right after
        actions.append(a.act(obs))
    assert np.array_equal(actions[0], actions[1])


# -- a given model (ppo:PATH.zip) under k-fold -------------------------------------------------------------
def _saved_kc1_model(path) -> str:
    """A tiny PPO trained on kc1 alone (one update), saved as ppo:PATH.zip would load it."""
    from hpo_gym.suites import load_hpobench_nn

    agent = SB3PPOAgent(total_timesteps=40, budget=10)
    agent.fit([load_hpobench_nn("kc1")], seed=0)
    agent.save(path)
    return str(path)


def _weights(agent: SB3PPOAgent) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in agent.model.policy.parameters()]


def test_given_model_records_its_tasks_and_fit_keeps_it(tmp_path, credit_g):
    """fit must not retrain a given model: its scores would belong to a policy nobody asked for."""
    from hpo_gym.suites import load_hpobench_nn

    loaded = make_agent(f"ppo:{_saved_kc1_model(tmp_path / 'kc1.zip')}")
    assert loaded.trained_on == ("kc1",) and loaded.budget == 10
    before = _weights(loaded)
    loaded.fit([load_hpobench_nn("kc1"), credit_g], seed=1)  # a fold that trains on kc1: the model is held-out here
    assert loaded.trained_on == ("kc1",)
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(loaded)))
    import pickle

    assert pickle.loads(pickle.dumps(loaded)).trained_on == ("kc1",)  # the benchmark's fitted-agent cache keeps it


def test_given_model_is_refused_for_a_fold_that_holds_out_its_task(tmp_path, credit_g):
    from hpo_gym.suites import get_suite, load_hpobench_nn

    loaded = make_agent(f"ppo:{_saved_kc1_model(tmp_path / 'kc1.zip')}")
    # called directly, fit's seed is no fold: the refusal says "this fit" (it said "fold 42" for seed=42)
    with pytest.raises(ValueError, match=r"trained on \['kc1'\], which this fit holds out.*--protocol all"):
        loaded.fit([credit_g, load_hpobench_nn("vehicle")], seed=42)
    # a model that records its training task by OpenML id (which the harness accepts) is that task: it was refused
    # for every fold, in a message listing the id's own task among the fold's training tasks (found in review)
    from stable_baselines3 import PPO

    kc1_id = get_suite("hpobench-nn").tasks["kc1"]
    by_id = SB3PPOAgent(model=PPO.load(tmp_path / "kc1.zip", device="cpu"), trained_on=[str(kc1_id)], budget=10)
    by_id.fit([load_hpobench_nn("kc1"), credit_g], seed=1)  # held-out on credit_g: kept
    with pytest.raises(ValueError, match=rf"trained on \['{kc1_id}'\], which this fit holds out"):
        by_id.fit([credit_g, load_hpobench_nn("vehicle")], seed=1)
    # a zip without SB3's data entry tripped an AssertionError inside SB3, a traceback (found in review)
    import zipfile

    with zipfile.ZipFile(tmp_path / "junk.zip", "w") as junk:
        junk.writestr("notes.txt", "not a model")
    with pytest.raises(ValueError, match=r"junk.zip is not a PPO model saved by Stable-Baselines3"):
        make_agent(f"ppo:{tmp_path / 'junk.zip'}")
    # a zip saved by plain SB3 says nothing about its training tasks: it cannot be shown to be held-out

    PPO("MultiInputPolicy", gym.make("HPO-OpenML-v0", task="kc1", budget=10), device="cpu").save(tmp_path / "plain.zip")
    plain = make_agent(f"ppo:{tmp_path / 'plain.zip'}")
    assert plain.trained_on == ()
    with pytest.raises(ValueError, match="records no training tasks"):
        plain.fit([credit_g], seed=0)


def test_given_model_through_kfold_runs_only_where_held_out(tmp_path):
    """Fold 0 (credit_g, vehicle) trains on kc1 and car: the kc1 model is held-out there and plays; fold 1 holds kc1
    out, so a benchmark that needs fold 1 is refused before anything runs (its runs used to fail one by one inside
    fit, and the stored failures locked the directory); likewise a budget longer than the model's episodes, and a
    plain SB3 zip, which records no tasks."""
    model = _saved_kc1_model(tmp_path / "kc1.zip")
    tasks, kwargs = ["credit_g", "vehicle", "kc1", "car"], dict(budget=10, seeds=1, protocol="kfold", folds=2,
                                                                  resolve_agent=make_agent, progress=False)
    df = run_benchmark([f"ppo:{model}"], tasks, only_tasks=["credit_g"], out=tmp_path / "fold0", **kwargs)
    assert (df["status"] == "ok").all() and set(df["task"]) == {"credit_g"}
    with pytest.raises(ValueError, match=r"trained on \['kc1'\], which fold 1 holds out"):
        run_benchmark([f"ppo:{model}"], tasks, only_tasks=["credit_g", "car"], out=tmp_path / "both", **kwargs)
    assert not (tmp_path / "both" / "runs").exists() or not any((tmp_path / "both" / "runs").iterdir())
    for protocol in ("kfold", "all"):  # trained on episodes of 10: a longer budget is refused before any run
        out = tmp_path / f"long-{protocol}"
        with pytest.raises(ValueError, match=r"trained on episodes of 10 evaluations and cannot run 20.*--budget 10"):
            run_benchmark([f"ppo:{model}"], tasks, only_tasks=["credit_g"], out=out, **{**kwargs, "budget": 20,
                                                                                         "protocol": protocol})
        assert not (out / "runs").exists() or not any((out / "runs").iterdir())
    from stable_baselines3 import PPO

    PPO("MultiInputPolicy", gym.make("HPO-OpenML-v0", task="kc1", budget=10), device="cpu").save(tmp_path / "plain.zip")
    for protocol in ("kfold", "all"):
        with pytest.raises(ValueError, match=r"plain.zip records no training tasks .* save it with the tasks"):
            run_benchmark([f"ppo:{tmp_path / 'plain.zip'}"], tasks, only_tasks=["credit_g"],
                          **{**kwargs, "protocol": protocol})


# -- the budget it is run with -------------------------------------------------------------------------------
def test_spec_budget_lets_kfold_run_above_50(tmp_path, capsys):
    """The reviewer's CLI repro with the budget in the spec: ppo:N:budget=B trains on episodes of B, so every run
    at --budget B is ok (ppo:N trained on 50 and failed every run after training)."""
    from hpo_gym.cli import main

    assert make_agent("ppo:budget=60").budget == 60
    rc = main(["bench", "--agents", "ppo:40:budget=12", "--protocol", "kfold", "--folds", "2", "--budget", "12",
               "--seeds", "1", "--tasks", "credit_g", "--out", str(tmp_path / "bench"), "--no-report"])
    assert rc == 0 and "failed" not in capsys.readouterr().err
    with pytest.raises(ValueError, match="ppo:N, ppo:budget=B"):
        make_agent("ppo:budget=twelve")
    # without a budget in the spec the harness gives fit the run's budget, so a budget above 50 runs too
    rc = main(["bench", "--agents", "ppo:40", "--protocol", "kfold", "--folds", "2", "--budget", "60",
               "--seeds", "1", "--tasks", "credit_g", "--out", str(tmp_path / "bench60"), "--no-report"])
    assert rc == 0 and "failed" not in capsys.readouterr().err


def test_fit_told_the_run_budget_trains_for_it_or_refuses_before_any_run(tmp_path, credit_g):
    from hpo_gym.suites import load_hpobench_nn

    kc1 = load_hpobench_nn("kc1")
    agent = SB3PPOAgent(total_timesteps=40, budget=10)
    agent.fit([kc1], seed=0, budget=12)
    assert agent.budget == 12 and agent.model.observation_space["mask"].n == 12
    agent.reset(credit_g.space, seed=0, budget=12)
    with pytest.raises(ValueError, match="cannot run 13.*ppo:budget=13"):
        agent.reset(credit_g.space, seed=0, budget=13)
    given = make_agent(f"ppo:{_saved_kc1_model(tmp_path / 'kc1.zip')}")
    with pytest.raises(ValueError, match="cannot run 12.*--budget 10 or less"):
        given.fit([kc1], seed=0, budget=12)


def test_shorter_run_acts_as_on_the_trained_budget_episode(credit_g):
    """At a shorter budget the policy must see what training showed it after as many trials: the same history
    padded, and step_fraction = trials / trained budget, so it acts exactly as in a trained-length episode."""
    import torch
    from hpo_gym.suites import load_hpobench_nn

    agent = SB3PPOAgent(total_timesteps=80, budget=20)
    agent.fit([load_hpobench_nn("kc1")], seed=0)
    short = gym.make("HPO-OpenML-v0", task="credit_g", budget=8)
    long = gym.make("HPO-OpenML-v0", task="credit_g", budget=20)
    obs_short, _ = short.reset(seed=0)
    obs_long, _ = long.reset(seed=0)
    agent.reset(credit_g.space, seed=0, budget=8)
    for step in range(8):
        actions = []
        for obs in (obs_short, obs_long):
            torch.manual_seed(step)
            actions.append(agent.act(obs))
        assert np.array_equal(actions[0], actions[1]), f"step {step}: the short episode's observation differs"
        obs_short = short.step(actions[0])[0]
        obs_long = long.step(actions[0])[0]


def test_a_saved_model_that_did_not_see_the_envs_own_spaces_is_refused(tmp_path):
    """ppo:PATH.zip feeds the env's Dict observation and clips actions to [0, 1]: a multidiscrete-action model used to
    play only grid corners with every run stored "ok"; a flattened-observation or SAC zip failed with a TypeError."""
    from gymnasium.wrappers import FilterObservation, FlattenObservation
    from stable_baselines3 import A2C, PPO, SAC

    multidiscrete = gym.make("HPO-OpenML-v0", task="credit_g", budget=10, action_type="multidiscrete")
    PPO("MultiInputPolicy", multidiscrete, n_steps=16, batch_size=16).save(tmp_path / "md.zip")
    box = gym.make("HPO-OpenML-v0", task="credit_g", budget=10)
    PPO("MlpPolicy", FlattenObservation(box), n_steps=16, batch_size=16).save(tmp_path / "flat.zip")
    SAC("MultiInputPolicy", box).save(tmp_path / "sac.zip")
    PPO("MultiInputPolicy", box, n_steps=16, batch_size=16).save(tmp_path / "plain.zip")
    # found in review: a filtered Dict observation passed the check (it has `mask`) and failed every run with a bare
    # KeyError; an A2C zip loaded (PPO.load fills PPO's settings from defaults) and played labelled ppo
    PPO("MultiInputPolicy", FilterObservation(box, ["x", "y", "mask"]), n_steps=16, batch_size=16).save(tmp_path / "f.zip")
    A2C("MultiInputPolicy", box, n_steps=16).save(tmp_path / "a2c.zip")
    for name, message in [("md.zip", r"trained with actions MultiDiscrete.*not the env's default Box\(0, 1"),
                          ("flat.zip", "trained on Box observations of shape .*not the env's Dict observation"),
                          ("f.zip", r"Dict observations with the keys \['mask', 'x', 'y'\], not the env's \['dim_choices'"),
                          ("a2c.zip", "saved by another Stable-Baselines3 algorithm"),
                          ("sac.zip", "is not a PPO model saved by Stable-Baselines3")]:
        with pytest.raises(ValueError, match=message) as caught:
            make_agent(f"ppo:{tmp_path / name}")
        assert "write a small Agent" in str(caught.value)
    assert make_agent(f"ppo:{tmp_path / 'plain'}").budget == 10  # SB3 adds a missing .zip itself; so does the spec


def test_a_model_plays_an_env_of_another_max_dims_and_refuses_a_longer_episode(tmp_path, credit_g):
    """The training envs use max_dims 16; an env made with max_dims 8 failed every run in SB3's shape check, and an
    episode longer than the trained one failed with numpy's 'negative pad'."""
    from hpo_gym.suites import load_hpobench_nn

    agent = SB3PPOAgent(total_timesteps=100, budget=6, n_steps=50)
    agent.fit([load_hpobench_nn("kc1")], seed=0)
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=6, max_dims=8)
    obs, _ = env.reset(seed=0)
    agent.reset(credit_g.space, seed=0)
    for _ in range(6):
        obs, _, terminated, _, _ = env.step(agent.act(obs))
    assert terminated
    longer = gym.make("HPO-OpenML-v0", task="credit_g", budget=9)
    agent.reset(credit_g.space, seed=0)  # no budget given, so reset cannot refuse it
    with pytest.raises(ValueError, match=r"PPO was trained on episodes of 6 evaluations and cannot run 9"):
        agent.act(longer.reset(seed=0)[0])


def test_ppo_trains_behind_rescale_action_and_proposes_inside_the_range():
    """PPO's Gaussian starts centred on 0 with unit spread: on the env's own Box(0, 1) half of every sampled
    coordinate was clipped to 0 (two thirds on 0 or 1 after training). It trains on [-1, 1] and acts in [0, 1]."""
    from hpo_gym.suites import load_hpobench_nn

    agent = SB3PPOAgent(total_timesteps=64, budget=8, n_steps=16)
    agent.fit([load_hpobench_nn("kc1")], seed=0)
    assert agent.model.action_space.low.min() == -1.0 and agent.model.action_space.high.max() == 1.0
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=8)
    obs, _ = env.reset(seed=0)
    agent.reset(env.unwrapped.space, seed=0, budget=8)
    actions = np.array([agent.act(obs) for _ in range(200)])
    assert env.action_space.contains(actions[0]) and ((actions >= 0) & (actions <= 1)).all()
    on_edges = float(np.mean((actions == 0.0) | (actions == 1.0)))
    assert on_edges < 0.45, on_edges  # about 0.32 for a unit Gaussian on [-1, 1]; 0.66 on [0, 1]


def test_a_factory_returning_a_model_without_its_training_tasks_is_refused_under_either_protocol(tmp_path):
    """The up-front checks built only name strings under --protocol all: a plain SB3 zip trained on kc1, passed as a
    factory, played kc1 as an ordinary (not in-sample) result."""
    from stable_baselines3 import PPO

    PPO("MultiInputPolicy", gym.make("HPO-OpenML-v0", task="kc1", budget=10), n_steps=20, batch_size=20,
        device="cpu").learn(20).save(tmp_path / "plain.zip")
    for protocol in ("all", "kfold"):
        with pytest.raises(ValueError, match="records no training tasks"):
            run_benchmark({"mine": lambda: SB3PPOAgent.load(tmp_path / "plain.zip")}, ["credit_g", "kc1", "car", "vehicle"],
                          budget=10, seeds=1, protocol=protocol, folds=2, progress=False)


def test_a_model_given_in_python_brings_its_budget_and_has_its_spaces_checked():
    """SB3PPOAgent(model=...) kept the default budget of 50 (a model trained for 20 failed every run, even at 20)
    and skipped the space check that ppo:PATH.zip makes (a MultiDiscrete model played grid corners, 'ok')."""
    from stable_baselines3 import PPO

    model = PPO("MultiInputPolicy", gym.make("HPO-OpenML-v0", task="kc1", budget=20), n_steps=20, batch_size=20,
                device="cpu")
    assert SB3PPOAgent(model=model, trained_on=["kc1"]).budget == 20
    with pytest.raises(ValueError, match="budget=30, but the given PPO model was trained on episodes of 20"):
        SB3PPOAgent(model=model, budget=30)
    grid = PPO("MultiInputPolicy", gym.make("HPO-OpenML-v0", task="kc1", budget=20, action_type="multidiscrete"),
               n_steps=20, batch_size=20, device="cpu")
    with pytest.raises(ValueError, match="was trained with actions MultiDiscrete"):
        SB3PPOAgent(model=grid)


def test_training_stops_at_the_steps_asked_for_and_a_rollout_buffer_too_large_is_refused_by_name():
    """SB3 trains whole rollouts, and the default rollout was 4 episodes: ``total_timesteps=100`` at budget 200 on 2
    tasks trained 1,600 steps, and a budget as large as a table asked numpy for 215 GiB (found in review)."""
    import pandas as pd

    from hpo_gym.suites import load_hpobench_nn
    from hpo_gym.tabular import TabularObjective

    rows = [{"C": C, "act": a, "acc": 0.5 + 0.1 * i + 0.01 * j}
            for i, C in enumerate([0.1, 1.0]) for j, a in enumerate(["relu", "tanh", "x"])]
    tiny = TabularObjective.from_dataframe(pd.DataFrame(rows), metric="acc", name="tiny")
    agent = SB3PPOAgent(total_timesteps=100, budget=200)
    assert agent.rollout_length(2) == 50 and agent.rollout_length(1) == 100 and agent.rollout_length(80) == 2
    agent.fit([tiny, tiny], seed=0)
    assert agent.model.num_timesteps == 100 and agent.model.n_steps == 50
    assert SB3PPOAgent(budget=50).rollout_length(6) == 200  # the default's rollout: 4 episodes, as before
    with pytest.raises(ValueError, match=r"PPO's rollout buffer would take \d+\.\d GiB \(2048 steps x 1 envs x "
                                         r"[\d,]+ floats per observation at budget 30000\); the most is 4 GiB: give a "
                                         r"smaller budget"):
        SB3PPOAgent(budget=30_000).fit([load_hpobench_nn("kc1")], seed=0)
