"""GRPOformer on a CUDA device: the same policy, sampling stream, training loop and checkpoints as on CPU.

Skipped where torch sees no GPU (CI has none); run on a GPU machine with
``pytest tests/grpoformer/test_cuda.py``. CPU-only behaviour is covered by the other GRPOformer tests.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

import envs_registry  # noqa: F401  (registers the env ids)
from agents.grpoformer.agent import GRPOformerAgent
from agents.grpoformer.policy import GRPOformerPolicy, PolicyConfig, load_policy, save_policy
from tests.grpoformer.conftest import MIXED, history_features, played_actions

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")



@pytest.mark.parametrize("autoregressive", [False, True], ids=["factorized", "autoregressive"])
def test_cuda_policy_matches_cpu_and_draws_from_the_cpu_generator(autoregressive):
    """Same weights on both devices: the same log-probabilities, and one seeded CPU generator draws the same
    bins for either (the training loop and the agent seed a CPU generator whatever the policy's device)."""
    torch.manual_seed(0)
    cpu = GRPOformerPolicy(PolicyConfig(autoregressive=autoregressive)).eval()
    gpu = GRPOformerPolicy(PolicyConfig(autoregressive=autoregressive)).eval()
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    f = history_features(MIXED, 6, seed=1)
    with torch.no_grad():
        bins_c, lp_c = cpu.sample(f, 64, torch.Generator().manual_seed(7))
        bins_g, lp_g = gpu.sample(f.to("cuda"), 64, torch.Generator().manual_seed(7))
    assert bins_g.device.type == "cuda" and lp_g.device.type == "cuda"
    assert torch.allclose(lp_c, lp_g.cpu(), atol=1e-4)
    # a draw differs only where float rounding moves a bin edge past the uniform number: a handful at most
    assert (bins_c == bins_g.cpu()).float().mean() > 0.98


@pytest.mark.parametrize("head", ["factorized", "autoregressive"])
def test_train_cli_on_cuda_resumes_and_its_checkpoint_loads_on_cpu(tmp_path, head):
    """``train-grpoformer --device cuda``: logs, resumes after a kill (generator state back on CPU), and writes a
    checkpoint that loads and acts on a CPU-only machine."""
    from hpo_gym.cli import main

    out = tmp_path / "run"
    args = ["train-grpoformer", "--holdout", "credit_g", "--out", str(out), "--device", "cuda", "--head", head,
            "--eval-every", "2", "--budget", "5"]
    assert main(args + ["--updates", "2"]) == 0
    assert main(args + ["--updates", "3", "--resume"]) == 0
    log = pd.read_csv(out / "log.csv")
    assert list(log["update"]) == [1, 2, 3]
    assert np.isfinite(log["heldout_regret"].iloc[-1])
    # churn is measured on the probe states an update did not anchor with PCR: a 40-state buffer may leave none (NaN)
    assert (np.isfinite(log["churn"]) == (log["churn_states"] > 0)).all() and log["churn_states"].iloc[0] > 0
    policy, extra = load_policy(out / "policy.pt", "cpu")
    assert all(p.device.type == "cpu" for p in policy.parameters())
    assert extra["train_config"]["device"] == "cuda" and extra["updates"] == 3
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=4)
    agent = GRPOformerAgent(checkpoint=out / "policy.pt")
    obs, _ = env.reset(seed=0)
    agent.reset(env.unwrapped.space, seed=0, budget=4)
    for _ in range(4):
        a = agent.act(obs)
        assert env.action_space.contains(a)
        obs, *_ = env.step(a)


def test_cuda_training_state_resumes_on_cpu(tmp_path):
    """A run started on a GPU machine continues on a CPU-only one from its state.pt."""
    from hpo_gym.cli import main

    out = tmp_path / "run"
    args = ["train-grpoformer", "--holdout", "kc1", "--out", str(out), "--budget", "5", "--eval-every", "5"]
    assert main(args + ["--updates", "2", "--device", "cuda"]) == 0
    assert main(args + ["--updates", "3", "--resume", "--device", "cpu"]) == 0
    assert list(pd.read_csv(out / "log.csv")["update"]) == [1, 2, 3]


@pytest.mark.parametrize("checkpoint", ["untrained", "shipped"])
def test_agent_torch_path_on_cuda_matches_cpu(tmp_path, checkpoint):
    """``GRPOformerAgent(device="cuda", fast=False)`` proposes what the CPU agent proposes for the same seed, past
    ``select_after`` too, where the default density-ratio rule chooses among the candidates drawn on the device."""
    torch.manual_seed(0)
    path = None
    if checkpoint == "untrained":
        path = tmp_path / "p.pt"
        save_policy(GRPOformerPolicy().eval(), path, {"train_tasks": []})
    budget = 16
    env = gym.make("HPO-OpenML-v0", task="kc1", budget=budget)
    runs = {}
    for device in ("cpu", "cuda"):
        agent = GRPOformerAgent(checkpoint=path, device=device, fast=False)
        assert next(agent.policy.parameters()).device.type == device
        assert agent.select == "density-ratio" and agent.select_after < budget
        runs[device] = played_actions(agent, env, seed=2, budget=budget)
    assert np.allclose(runs["cpu"], runs["cuda"], atol=1e-6)


def test_online_paper_mode_on_cuda():
    """``--online`` learns on the target task with the policy on the GPU, every evaluation counted."""
    from agents.grpoformer.synthetic import random_objective
    from agents.grpoformer.train import train_online

    obj = random_objective(np.random.default_rng(3), "tiny", min_dims=2, max_dims=2, max_cells=400)
    curve, scores = train_online(obj, budget=24, group_size=8, seed=0, progress=False, device="cuda")
    assert len(curve) == len(scores) == 24
    assert np.all(np.diff(curve) >= 0) and curve[-1] == scores.max()


@pytest.mark.parametrize("mode", ["trajectory", "both"])
def test_trajectory_and_both_groups_collect_and_update_on_cuda(mode):
    """The first-new rule's log-probabilities are taken on the policy's device and the update runs there (a "both"
    rollout joins them to the step candidates' log-probabilities, so they must share a device)."""
    from agents.grpoformer.learner import LearnerConfig, StateBuffer, collect, update
    from hpo_gym.suites import load_hpobench_nn

    torch.manual_seed(0)
    policy = GRPOformerPolicy(PolicyConfig()).to("cuda")
    cfg = LearnerConfig(group_mode=mode, episodes=4, horizon=5, **({"trajectory_group": 2} if mode == "both" else {}))
    ro = collect(policy, [load_hpobench_nn("kc1")], cfg, np.random.default_rng(0), torch.Generator().manual_seed(0),
                 device="cuda")
    assert ro.first_new_group == cfg.group_size and torch.isfinite(ro.old_logp).all()
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    stats = update(policy, opt, ro, StateBuffer(cfg.buffer_states), cfg, np.random.default_rng(0), device="cuda")
    assert np.isfinite(stats["policy_loss"])
