"""Agent names for the CLI and the harness: ``make_agent("tpe")``, ``make_agent("grpoformer:PATH")``.

A spec is ``NAME`` or ``NAME:ARG`` (``ARG`` is handed to the factory, e.g. a checkpoint path).
Modules that define agents register a factory with :func:`register_agent`; the built-in modules are
imported lazily on first use, so ``import agents.registry`` stays cheap and torch is only imported
when a torch agent is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from agents.base import Agent

AgentFactory = Callable[[str | None], Agent]

_FACTORIES: dict[str, AgentFactory] = {}
#: Built-in agent name -> the module that registers it at import; extend this when adding an agent module.
#: ``make_agent`` imports only the module of the name asked for, so ``random`` or ``tpe`` never load torch.
BUILTIN_AGENTS: dict[str, str] = {
    "random": "agents.random_search",
    **{name: "agents.optuna_agents" for name in ("tpe", "gp", "cmaes", "qmc")},
    "portfolio": "agents.portfolio",
    "portfolio+tpe": "agents.portfolio",
    "ppo": "agents.sb3_ppo",
    "grpoformer": "agents.grpoformer.agent",
}


def register_agent(name: str, factory: AgentFactory) -> None:
    """Register ``factory(arg) -> Agent`` under ``name`` (re-registering replaces it)."""
    _FACTORIES[name] = factory


def agent_names() -> list[str]:
    """Every registered name: the built-in ones (without importing their modules) and any registered since."""
    return sorted(set(_FACTORIES) | set(BUILTIN_AGENTS))


def make_agent(spec: str) -> Agent:
    """Build an agent from ``NAME`` or ``NAME:ARG``; unknown names list the valid ones."""
    name, _, arg = spec.partition(":")
    if name not in _FACTORIES and name in BUILTIN_AGENTS:
        importlib.import_module(BUILTIN_AGENTS[name])
    if name not in _FACTORIES:
        raise ValueError(f"unknown agent {spec!r}; available: {agent_names()} (use NAME or NAME:ARG)")
    return _FACTORIES[name](arg or None)
