"""Agent names for the CLI and the harness: ``make_agent("tpe")``, ``make_agent("grpoformer:PATH")``.

A spec is ``NAME`` or ``NAME:ARG`` (``ARG`` is handed to the factory, e.g. a checkpoint path).
Modules that define agents register a factory with :func:`register_agent`; the built-in modules are
imported lazily on first use, so ``import agents.registry`` stays cheap and torch is only imported
when a torch agent is asked for.

Your own agent needs no registration: ``MODULE:FACTORY`` (e.g. ``my_agents:MyAgent``, or
``lab.hpo.agents:make_mine``) imports ``MODULE`` (from the working directory or the installed packages) and
calls ``FACTORY()`` (a class or a zero-argument function) for every run, so ``hpo-gym bench --agents
random,tpe,my_agents:MyAgent`` compares it on the same protocol, in worker processes too.
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
    "grpoformer-policy": "agents.grpoformer.agent",
}


def register_agent(name: str, factory: AgentFactory) -> None:
    """Register ``factory(arg) -> Agent`` under ``name`` (re-registering replaces it)."""
    _FACTORIES[name] = factory


def agent_names() -> list[str]:
    """Every registered name: the built-in ones (without importing their modules) and any registered since."""
    return sorted(set(_FACTORIES) | set(BUILTIN_AGENTS))


def make_agent(spec: str) -> Agent:
    """Build an agent from ``NAME`` or ``NAME:ARG``; unknown names list the valid ones."""
    name, colon, arg = spec.partition(":")
    if not name.strip():
        raise ValueError(f"agent spec {spec!r} has no NAME before ':'; write NAME or NAME:ARG, e.g. 'tpe'")
    if colon and not arg.strip():  # 'tpe:' read as 'tpe' hid a missing argument
        raise ValueError(f"agent spec {spec!r} ends in ':' with no argument; write {name!r}, or NAME:ARG")
    if name not in _FACTORIES and name in BUILTIN_AGENTS:
        importlib.import_module(BUILTIN_AGENTS[name])
    if name not in _FACTORIES:
        own = _agent_from_module(name, arg) if arg.isidentifier() else None
        if own is None:
            raise ValueError(f"unknown agent {spec!r}; available: {agent_names()} (use NAME or NAME:ARG), or "
                             "MODULE:FACTORY for your own (an importable module and a class or zero-argument function)")
        return own
    return _FACTORIES[name](arg or None)


def _agent_from_module(module: str, attribute: str) -> Agent | None:
    """``module.attribute()`` when ``module`` can be imported (None when no such module exists); an error inside the
    user's module, a missing attribute or something that is no Agent is a ``ValueError`` naming it."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is not None and (module == e.name or module.startswith(e.name + ".")):
            return None  # no such module (or package above it): the spec was a typo of a registered name, most likely
        raise ValueError(f"agent {module}:{attribute}: importing {module!r} failed ({type(e).__name__}: {e})") from e
    except Exception as e:  # noqa: BLE001  (the user's module raised while importing)
        raise ValueError(f"agent {module}:{attribute}: importing {module!r} failed ({type(e).__name__}: {e})") from e
    factory = getattr(mod, attribute, None)
    if not callable(factory):
        raise ValueError(f"agent {module}:{attribute}: {module!r} has no class or function {attribute!r}")
    try:
        agent = factory()
    except Exception as e:  # noqa: BLE001  (the user's class or function raised: name it, not a traceback into us)
        raise ValueError(f"agent {module}:{attribute}: calling {attribute}() failed ({type(e).__name__}: {e}); it must "
                         "build the agent with no arguments") from e
    if not all(callable(getattr(agent, method, None)) for method in ("reset", "act")):  # the harness names it by spec
        raise ValueError(f"agent {module}:{attribute}: {attribute}() returned a {type(agent).__name__}, which lacks the "
                         "Agent methods reset(space, seed, budget) and act(observation) (see agents/base.py)")
    return agent
