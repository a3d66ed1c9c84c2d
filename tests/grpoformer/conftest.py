"""Shared GRPOformer test helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.grpoformer.policy import MAX_DIMS, Features, GRPOformerPolicy, PolicyConfig, featurize, load_policy
from hpo_gym.cli import main
from hpo_gym.episode import space_descriptor
from hpo_gym.space import Categorical, Float, Int, Ordinal, SearchSpace


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every GRPOformer test runs torch on one thread (the CLI's default ``--threads 1``), restored afterwards: set at
    import, as it was, it changed the thread count of every later test of the session."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# A space with every kind: float (32 bins, continuous), int, ordinal, categorical.
MIXED = SearchSpace([Float("lr", 1e-4, 1.0, log=True), Int("units", 1, 100), Ordinal("depth", [1, 2, 3]),
                     Categorical("act", ["relu", "tanh", "gelu", "elu"])])


def seeded_policy(seed: int = 0) -> GRPOformerPolicy:
    """An untrained policy of the default configuration, its weights drawn with ``torch.manual_seed(seed)``, in eval
    mode: the learner tests compute by hand what it should give."""
    import torch

    torch.manual_seed(seed)
    return GRPOformerPolicy(PolicyConfig()).eval()


def history_features(space: SearchSpace, n_trials: int, seed: int = 0, slots: int = 10) -> Features:
    """Policy input for one state: ``n_trials`` random trials (configurations and scores) over ``space``."""
    rng = np.random.default_rng(seed)
    d = len(space)
    x = np.zeros((1, slots, MAX_DIMS), np.float32)
    y = np.zeros((1, slots), np.float32)
    mask = np.zeros((1, slots), np.int8)
    x[0, :n_trials, :d] = rng.random((n_trials, d))
    y[0, :n_trials] = rng.random(n_trials)
    mask[0, :n_trials] = 1
    desc = space_descriptor(space, MAX_DIMS)
    return featurize(x, y, mask, np.array([[n_trials / slots]]), desc["dim_kind"][None], desc["dim_choices"][None],
                     desc["dim_log"][None])



def played_actions(agent: Any, env: Any, seed: int, budget: int) -> np.ndarray:
    """The actions ``agent`` plays in one seeded run of ``budget`` steps on ``env`` (reset with ``seed``), stacked:
    the tests that compare two runs (two devices, two paths, two inference settings, a repeat) compare these."""
    obs, _ = env.reset(seed=seed)
    agent.reset(env.unwrapped.space, seed=seed, budget=budget)
    actions = []
    for _ in range(budget):
        actions.append(agent.act(obs))
        obs, *_ = env.step(actions[-1])
    return np.stack(actions)


def tiny_training_run(out: Path, *flags: str, budget: int = 4, eval_every: int = 5) -> tuple[GRPOformerPolicy, dict[str, Any]]:
    """One GRPO update through the CLI (`hpo-gym train-grpoformer --holdout credit_g`, no synthetic tasks,
    ``budget``-step episodes) with the extra ``flags``; returns the saved checkpoint ``(policy, metadata)``.

    Why: a CLI flag test must show that the flag reaches what the run trained with, and only the checkpoint says that.
    """
    assert main(["train-grpoformer", "--holdout", "credit_g", "--out", str(out), "--synthetic", "0", "--updates", "1",
                 "--eval-every", str(eval_every), "--budget", str(budget), *flags]) == 0
    return load_policy(out / "policy.pt")


def assert_resume_is_exact(tables: list, cfg: Any, tmp_path: Path) -> None:
    """Training ``cfg.updates`` straight and training half of them, then ``--resume`` to the end, give the same weights
    and the same log (wall times aside): everything a run depends on is in its saved state."""
    import dataclasses

    import pandas as pd
    import torch

    from agents.grpoformer.train import train

    straight = train(tables, tmp_path / "straight", cfg, progress=False)
    train(tables, tmp_path / "resumed", dataclasses.replace(cfg, updates=cfg.updates // 2), progress=False)
    import agents.grpoformer.train as training

    real_update, calls = training.update, []
    training.update = lambda *a, **k: calls.append(1) or real_update(*a, **k)
    try:
        resumed = train(tables, tmp_path / "resumed", cfg, resume=True, progress=False)
    finally:
        training.update = real_update
    assert len(calls) == cfg.updates - cfg.updates // 2, f"the resume ran {len(calls)} updates"
    for name, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    logs = [pd.read_csv(tmp_path / run / "log.csv").drop(columns=["wall_s"]) for run in ("straight", "resumed")]
    pd.testing.assert_frame_equal(*logs)
