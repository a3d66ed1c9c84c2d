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
#: Modules that call register_agent at import; extend this list when adding an agent module.
BUILTIN_AGENT_MODULES: list[str] = [
    "agents.portfolio",
    "agents.random_search",
    "agents.optuna_agents",
    "agents.sb3_ppo",
    "agents.grpoformer.agent",
]


def register_agent(name: str, factory: AgentFactory) -> None:
    """Register ``factory(arg) -> Agent`` under ``name`` (re-registering replaces it)."""
    _FACTORIES[name] = factory


def _load_builtins() -> None:
    for module in BUILTIN_AGENT_MODULES:
        importlib.import_module(module)


def agent_names() -> list[str]:
    _load_builtins()
    return sorted(_FACTORIES)


def make_agent(spec: str) -> Agent:
    """Build an agent from ``NAME`` or ``NAME:ARG``; unknown names list the valid ones."""
    _load_builtins()
    name, _, arg = spec.partition(":")
    if name not in _FACTORIES:
        raise ValueError(f"unknown agent {spec!r}; available: {sorted(_FACTORIES)} (use NAME or NAME:ARG)")
    return _FACTORIES[name](arg or None)
