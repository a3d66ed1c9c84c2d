"""Agents that act in an :class:`hpo_gym.env.HPOEnv`: classic HPO baselines, transfer baselines, RL agents.

Every agent follows :class:`agents.base.Agent`; :func:`agents.registry.make_agent` builds one from a
name such as ``"random"``, ``"tpe"`` or ``"grpoformer:PATH"``.
"""

from agents.base import Agent, TransferAgent

__all__ = ["Agent", "TransferAgent"]
