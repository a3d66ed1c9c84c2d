"""GRPOformer's policy and training loop at their edges, each found unpinned by a mutation review of ``policy.py`` and
``train.py`` (a change to the rule passed every other test): the autoregressive head's "incumbent's bin" flag on an
empty history and with the incumbent at the top of its range (the agent's torch and NumPy paths must agree there);
the training state's wall clock, evaluation counts and held-out monitoring carried through ``--resume`` and into
``policy.pt``.

Real components: the embedded kc1 / credit_g / vehicle tables, real tiny training runs, real torch policies, the
agent's own NumPy inference path as the second implementation.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from agents.grpoformer.fast_inference import FastPolicy
from agents.grpoformer.learner import LearnerConfig
from agents.grpoformer.policy import MAX_DIMS, GRPOformerPolicy, PolicyConfig, featurize_observations, load_policy
from agents.grpoformer.train import TrainConfig, train
from hpo_gym.episode import space_descriptor
from hpo_gym.space import Categorical, Float, Ordinal, SearchSpace
from hpo_gym.suites import load_hpobench_nn

# a float first (32 continuous bins, encoded 1.0 at its upper bound), then grids the prefix conditions
EDGE_SPACE = SearchSpace([Float("lr", 1e-4, 1e-1, log=True), Ordinal("depth", [1, 2, 3, 4]),
                          Categorical("act", ["relu", "tanh", "gelu"])])


def _sharp_autoregressive_policy() -> GRPOformerPolicy:
    """An untrained autoregressive policy whose prefix path is active (its ``ar_ctx`` starts at zero, which would hide
    every value feature), reads the "incumbent's bin" flag strongly (the last of the value features) and has a
    sharpened head, so that a wrong flag changes the later dimensions' draws (random-init weights read it too weakly)."""
    torch.manual_seed(5)
    policy = GRPOformerPolicy(PolicyConfig(autoregressive=True)).eval()
    with torch.no_grad():
        policy.ar_ctx.weight.normal_(0.0, 3.0)
        policy.ar_value[0].weight[:, -1].normal_(0.0, 10.0)
        policy.head_out[-1].weight.mul_(50.0)
    return policy


def _observation(space: SearchSpace, x: np.ndarray, y: np.ndarray, slots: int = 20) -> dict:
    """An env-style observation holding the trials ``x`` (encoded, ``(n, d)``) with scores ``y`` first."""
    n = len(y)
    obs_x = np.zeros((slots, MAX_DIMS), np.float32)
    obs_y = np.zeros(slots, np.float32)
    mask = np.zeros(slots, np.int8)
    obs_x[:n, :len(space)], obs_y[:n], mask[:n] = x, y, 1
    return {"x": obs_x, "y": obs_y, "mask": mask, "step_fraction": np.array([n / slots], np.float32),
            **space_descriptor(space, MAX_DIMS)}


def _torch_draws(policy: GRPOformerPolicy, obs: dict, n: int, seed: int) -> np.ndarray:
    """The agent's torch path: featurize the filled slots (at least one) and sample ``n`` configurations."""
    filled = max(int(obs["mask"].sum()), 1)
    obs = {**obs, "x": obs["x"][:filled], "y": obs["y"][:filled], "mask": obs["mask"][:filled]}
    with torch.inference_mode():
        bins, _ = policy.sample(featurize_observations(obs), n, torch.Generator().manual_seed(seed))
    return bins[0].numpy()


@pytest.mark.parametrize("history", ["empty", "incumbent at the upper bound"])
def test_the_autoregressive_incumbent_flag_agrees_on_both_inference_paths_at_its_edges(history):
    """The autoregressive head conditions each dimension on the earlier chosen values, among them "this is the
    incumbent's bin". Two edges of that flag: an empty history has no incumbent (no bin is flagged), and an incumbent
    at its dimension's upper bound (encoded 1.0, e.g. the largest learning rate) sits in the *top* bin, not one past it.
    The agent's torch path (``fast=False``, training's rollouts) and its NumPy path (``fast=True``, the default) must
    draw the same configurations from one seed there: otherwise a seeded run changes with an inference switch and the
    policy plays at suggestion time another distribution than the one it was trained as."""
    policy = _sharp_autoregressive_policy()
    if history == "empty":
        obs = _observation(EDGE_SPACE, np.zeros((0, 3)), np.zeros(0))
    else:
        rng = np.random.default_rng(0)
        x = rng.random((8, 3))
        x[:, 0] = np.minimum(x[:, 0], 0.9)
        x[3, 0] = 1.0  # the best trial sits at lr's upper bound: its encoding is exactly 1.0
        y = rng.random(8) * 0.5
        y[3] = 0.9
        obs = _observation(EDGE_SPACE, x, y)
    ours = FastPolicy(policy).sample(obs, 1024, torch.Generator().manual_seed(11))[0]
    ref = _torch_draws(policy, obs, 1024, seed=11)
    assert np.array_equal(ours, ref)


TINY = dict(synthetic=0, eval_every=1, eval_seeds=1, ckpt_every=1, learner=LearnerConfig(episodes=2, horizon=3))


def test_a_resumed_run_carries_its_clock_and_its_counts_into_the_log_and_policy_pt(kc1, tmp_path):
    """``--resume`` continues a run's bookkeeping where its state left it: the wall clock (``wall_s``, the cost a
    benchmark reports for training), the training lookups (``evaluations``) and the held-out monitoring's lookups
    (``heldout_evaluations``), in the log rows after the resume and in the finished ``policy.pt``'s metadata. A resume
    that restarted any of them from zero would report a run stopped after 1000 s of training as a few seconds long, or
    its data use as that of the last leg only. (The state's clock is set to 1000 s by hand: a real one of a tiny run is
    too short to tell a restarted clock from a continued one.)"""
    credit_g = load_hpobench_nn("credit_g")
    cfg = TrainConfig(updates=1, **TINY)
    train([kc1], tmp_path, cfg, holdout=[credit_g], progress=False)
    state = torch.load(tmp_path / "state.pt", weights_only=False)
    state["wall_s"] = 1000.0  # the run had trained for 1000 s when it was stopped
    torch.save(state, tmp_path / "state.pt")
    train([kc1], tmp_path, dataclasses.replace(cfg, updates=2), holdout=[credit_g], resume=True, progress=False)
    log = pd.read_csv(tmp_path / "log.csv")
    _, meta = load_policy(tmp_path / "policy.pt")
    assert log["wall_s"].iloc[1] >= 1000.0 and meta["wall_s"] >= 1000.0
    per_update = cfg.learner.episodes * cfg.learner.horizon * cfg.learner.group_size  # every candidate looked up
    per_eval = cfg.eval_seeds * cfg.learner.horizon  # one held-out task, one lookup per trial
    assert list(log["evaluations"]) == [per_update, 2 * per_update] and meta["evaluations"] == 2 * per_update
    assert list(log["heldout_evaluations"]) == [per_eval, 2 * per_eval] and meta["heldout_evaluations"] == 2 * per_eval


def test_a_resume_on_another_device_than_the_state_was_trained_on_says_it_is_not_bit_for_bit(kc1, tmp_path):
    """A state trained on a GPU and resumed on the CPU continues close to, not exactly as, the uninterrupted run
    (torch sums in another order there): the resume says so, as it does for another thread count, so a user comparing
    the two runs knows why their weights differ. (The state is marked as trained on ``cuda`` by hand, so the test needs
    no GPU.)"""
    cfg = TrainConfig(updates=1, **TINY)
    train([kc1], tmp_path, cfg, progress=False)
    state = torch.load(tmp_path / "state.pt", weights_only=False)
    state["policy"]["extra"]["train_config"]["device"] = "cuda"
    torch.save(state, tmp_path / "state.pt")
    with pytest.warns(RuntimeWarning, match=r"device='cuda'; this resume uses threads=1, device='cpu'"):
        train([kc1], tmp_path, dataclasses.replace(cfg, updates=2), resume=True, progress=False)


def test_each_training_seed_draws_its_own_synthetic_tasks(kc1, tmp_path, monkeypatch):
    """``--seed`` seeds everything random in a run, the synthetic training objectives included: the benchmarks train
    several seeds to measure how much the result depends on the run's randomness, and seeds sharing one synthetic bank
    would understate it. The real bank is built (the spy only records the objectives each run trains on)."""
    import agents.grpoformer.train as training

    banks: list[list] = []
    real = training.synthetic_bank
    monkeypatch.setattr(training, "synthetic_bank", lambda *a, **k: banks.append(real(*a, **k)) or banks[-1])
    for seed in (0, 1):
        cfg = TrainConfig(updates=1, seed=seed, **{**TINY, "synthetic": 2})
        train([kc1], tmp_path / f"seed{seed}", cfg, progress=False)
    (a, b) = banks
    assert [o.data_fingerprint for o in a] != [o.data_fingerprint for o in b]
