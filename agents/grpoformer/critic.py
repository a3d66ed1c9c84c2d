"""A learned state-value baseline for the "PPO with a critic" ablation (no group-relative advantages).

GRPO's point is that the group of ``G`` candidates sampled from one state *is* the baseline: advantage =
(reward - group mean) / group std, no value network. The ablation replaces that with what PPO does: a
critic ``V(s)`` trained by regression on the rewards seen from ``s`` (here the per-step gain of each
candidate, so ``V(s)`` estimates the expected gain of a proposal from that history), advantage =
``r - V(s)`` normalized by its batch standard deviation, and the same clipped surrogate. The critic has
the policy's trunk architecture (its own :class:`HistoryEncoder`, no shared weights, so the ablation
changes only the baseline) and reads the budget token's contextual embedding.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.grpoformer.policy import Features, HistoryEncoder, PolicyConfig


class StateValue(nn.Module):
    """``V(s)``: expected reward of a proposal from state ``s`` (one scalar per state)."""

    def __init__(self, config: PolicyConfig | None = None):
        super().__init__()
        self.trunk = HistoryEncoder(config)
        d = self.trunk.config.d_model
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))

    def forward(self, f: Features) -> torch.Tensor:
        return self.head(self.trunk.state_embedding(f)).squeeze(-1)


def critic_advantages(critic: StateValue, f: Features, rewards: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(r - V(s)) / std`` over the whole batch (PPO's advantage normalization), rewards ``(N, G)``."""
    with torch.no_grad():
        a = rewards - critic(f)[:, None]
    return (a - a.mean()) / (a.std() + eps)


def critic_loss(critic: StateValue, f: Features, rewards: torch.Tensor) -> torch.Tensor:
    """Mean squared error of ``V(s)`` against every candidate's reward from ``s``."""
    return ((critic(f)[:, None] - rewards) ** 2).mean()
