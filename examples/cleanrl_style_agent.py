"""Your own RL agent in hpo-gym, CleanRL-style: a plain torch policy and a training loop, no RL library.

Everything a learned HPO agent needs from the harness, in one file (run it from this folder, or with it on PYTHONPATH)::

    hpo-gym bench --agents random,tpe,mine=cleanrl_style_agent:ReinforceAgent --protocol kfold \
        --budget 20 --seeds 3 --jobs 2 --out runs/mine
    hpo-gym report runs/mine --compare mine:random

What it shows:

* ``fit(train_objectives, seed, budget=None)``: the harness calls it once per fold with only that fold's training
  tasks, ``seed`` = the fold's index and ``budget`` = the runs' episode length (the observation has one row per
  evaluation, so the policy is trained at the budget it will play).
* Training on the native vector env over exactly those tasks (``task=[...]``), with the ``improvement`` reward.
* Masking the step after a terminal one: vector envs reset an ended row on the *next* step (Gymnasium's
  ``AutoresetMode.NEXT_STEP``), whose reward is 0 and whose action is ignored.
* ``trained_on``: the tasks the policy learned from, ``()`` while unfitted, so that a run on one of them is labelled
  in-sample and the harness refuses to play it unfitted.
* ``reset``/``act``: one run at a time, seeded, actions in the env's Box dtype.

The policy is REINFORCE with a batch-mean baseline on a Gaussian over the unit cube, fed the incumbent configuration,
the mean of the configurations tried, and the share of the budget spent. It is a template to replace with your own
method, not a tuned optimizer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import gymnasium as gym
import numpy as np
import torch

import envs_registry  # noqa: F401  (registers HPO-OpenML-v0)


def features(obs: Mapping[str, np.ndarray], dims: int) -> np.ndarray:
    """What the policy sees, for one observation or a batch (leading axis): the incumbent's configuration, the mean
    of the configurations tried so far, and the share of the budget spent. The same size for every budget."""
    x, y, mask = obs["x"][..., :dims], obs["y"], obs["mask"].astype(bool)
    tried = np.maximum(mask.sum(-1, keepdims=True), 1)
    best = np.where(mask, y, -np.inf).argmax(-1)
    incumbent = np.take_along_axis(x, best[..., None, None], axis=-2)[..., 0, :] * mask.any(-1, keepdims=True)
    mean = (x * mask[..., None]).sum(-2) / tried
    return np.concatenate([incumbent, mean, obs["step_fraction"]], axis=-1).astype(np.float32)


class Policy(torch.nn.Module):
    """A Gaussian over the unit cube: mean from an MLP, one learned log-std per dimension."""

    def __init__(self, dims: int, hidden: int = 64):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(2 * dims + 1, hidden), torch.nn.Tanh(),
                                       torch.nn.Linear(hidden, dims), torch.nn.Sigmoid())
        self.log_std = torch.nn.Parameter(torch.full((dims,), -1.5))

    def distribution(self, feats: torch.Tensor) -> torch.distributions.Normal:
        return torch.distributions.Normal(self.net(feats), self.log_std.exp())


class ReinforceAgent:
    """REINFORCE on the HPO env, fitted per fold by the harness (``--protocol kfold``)."""

    name = "reinforce"

    def __init__(self, iterations: int = 30, num_envs: int = 8, lr: float = 3e-3):
        self.iterations, self.num_envs, self.lr = iterations, num_envs, lr
        self.policy: Policy | None = None
        self.trained_on: tuple[str, ...] = ()  # () while unfitted: the harness then refuses to play it unfitted

    def fit(self, train_objectives: Sequence, seed: int = 0, budget: int | None = None) -> None:
        budget = budget or 50
        tasks = [objective.name for objective in train_objectives]
        dims = {len(objective.space) for objective in train_objectives}
        if len(dims) != 1:
            raise ValueError(f"this example trains one policy for one search-space size; got sizes {sorted(dims)}")
        dims_n = dims.pop()
        torch.manual_seed(seed)
        self.policy = Policy(dims_n)
        optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.lr)
        envs = gym.make_vec("HPO-OpenML-v0", num_envs=self.num_envs, task=tasks, budget=budget, reward="improvement")
        obs, _ = envs.reset(seed=seed)
        for _ in range(self.iterations):  # one iteration: every env plays one whole episode
            log_probs, rewards, live = [], [], []
            ended = np.zeros(self.num_envs, dtype=bool)  # the row's episode ended last step: this step resets it
            for _ in range(budget + 1):
                dist = self.policy.distribution(torch.from_numpy(features(obs, dims_n)))
                action = dist.sample()
                obs, reward, terminated, truncated, _ = envs.step(action.clamp(0, 1).numpy())
                log_probs.append(dist.log_prob(action).sum(-1))
                rewards.append(torch.as_tensor(reward, dtype=torch.float32))
                live.append(torch.as_tensor(~ended))  # NEXT_STEP autoreset: this row's reward is 0, its action unused
                ended = terminated | truncated
            mask = torch.stack(live).float()
            returns = torch.stack(rewards).mul(mask).flip(0).cumsum(0).flip(0)  # reward-to-go
            baseline = (returns * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp(min=1)  # per step
            advantage = (returns - baseline) * mask
            loss = -(torch.stack(log_probs) * advantage).sum() / mask.sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        envs.close()
        self.dims, self.trained_on = dims_n, tuple(tasks)

    def reset(self, space, seed: int | None = None, budget: int | None = None) -> None:
        if self.policy is None:
            raise RuntimeError("ReinforceAgent is not fitted: run it with --protocol kfold, which fits it per fold")
        if len(space) != self.dims:
            raise ValueError(f"the policy was trained for {self.dims} hyperparameters; this task has {len(space)}")
        self.generator = torch.Generator().manual_seed(0 if seed is None else seed)
        self.dtype = space.action_dtype

    def act(self, observation: Mapping[str, np.ndarray]) -> np.ndarray:
        assert self.policy is not None
        with torch.no_grad():
            dist = self.policy.distribution(torch.from_numpy(features(observation, self.dims)))
            action = dist.mean + dist.stddev * torch.randn(dist.mean.shape, generator=self.generator)
        return action.clamp(0, 1).numpy().astype(self.dtype)
