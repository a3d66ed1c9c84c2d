"""Agent names for the CLI and the harness: ``make_agent("tpe")``, ``make_agent("grpoformer:PATH")``.

A spec is ``NAME`` or ``NAME:ARG`` (``ARG`` is handed to the factory, e.g. a checkpoint path).
Modules that define agents register a factory with :func:`register_agent`; the built-in modules are
imported lazily on first use, so ``import agents.registry`` stays cheap and torch is only imported
when a torch agent is asked for.

Your own agent needs no registration: ``MODULE:FACTORY`` (e.g. ``my_agents:MyAgent``, or
``lab.hpo.agents:make_mine``) imports ``MODULE`` (from the working directory or the installed packages) and
calls ``FACTORY()`` (a class or a zero-argument function) for every run, so ``hpo-gym bench --agents
random,tpe,my_agents:MyAgent`` compares it on the same protocol, in worker processes too. ``LABEL=SPEC``
(``mine=my_agents:MyAgent``) names it ``mine`` in the results, tables, plots and ``--compare`` (:func:`labelled_specs`).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path

from agents.base import Agent
from hpo_gym.user_code import OWN_PACKAGES, is_users_file

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
        # a file name (./mine.py) is no module name: importing it failed with a relative-import TypeError
        own = _agent_from_module(name, arg) if arg.isidentifier() and not name.endswith(".py") else None
        if own is None:
            missing = (f"; no module {name!r} is importable here: {name}.py must be in the working directory "
                       f"({Path.cwd()}) or on PYTHONPATH" if colon and arg.isidentifier() and name.isidentifier() else "")
            raise ValueError(f"unknown agent {spec!r}; available: {agent_names()} (use NAME or NAME:ARG), or "
                             "MODULE:FACTORY for your own (an importable module and a class or zero-argument function)"
                             + (_own_package_hint(name) or missing or _module_spec_hint(name, colon, arg)))
        return own
    try:
        return _FACTORIES[name](arg or None)
    except (ValueError, FileNotFoundError) as e:  # grpoformer:MyAgent reads MyAgent as a checkpoint that is missing
        if arg.isidentifier() and _users_module(name):  # my ppo.py's MyAgent went to the built-in ppo without a word
            raise type(e)(f"{e} (a module {name!r} of yours is importable here, but the built-in agent {name!r} takes "
                          f"precedence over MODULE:FACTORY: rename the module)") from e
        raise


def labelled_specs(items: list[str]) -> dict[str, str]:
    """The CLI's ``--agents`` items as ``{label: spec}``: ``LABEL=SPEC`` names the agent ``LABEL`` in the results
    (``mine=my_agents:MyAgent``), a plain spec names it by itself. Why: the spec was the only label the command line
    could give, so ``my_agents:MyAgent`` headed every table, plot legend and ``--compare`` (found by a new user).

    An ``=`` counts only before the first ``:`` (a checkpoint path ``grpoformer:runs/a=b.pt`` stays a spec). A
    ``ValueError`` names an empty label or spec, a label given twice, and a label that is another built-in agent's
    name (``tpe=random`` would head random search's rows ``tpe``)."""
    out: dict[str, str] = {}
    for item in items:
        label, equals, spec = item.partition("=")
        if not equals or ":" in label:
            label, spec = item, item
        label, spec = label.strip(), spec.strip()
        if not label or not spec:
            raise ValueError(f"agent {item!r}: write LABEL=SPEC with both parts, e.g. mine=my_agents:MyAgent")
        if label in out:
            raise ValueError(f"agent label {label!r} is given twice ({out[label]!r} and {spec!r}); give each agent its "
                             "own label")
        if label != spec and label in agent_names():
            raise ValueError(f"agent label {label!r} in {item!r} is the name of a built-in agent, so the results would "
                             f"read as that agent's; pick another label, e.g. my_{label}={spec}")
        out[label] = spec
    return out


def _own_package_hint(module: str) -> str:
    """Why a user's ``agents.py`` (or ``agents/`` folder) is not found: hpo-gym's own package of that name is imported
    instead (found by a new user, whose ``agents:MyAgent`` was looked up in hpo-gym's package). Empty for other names."""
    top = module.partition(".")[0]
    if top not in OWN_PACKAGES:
        return ""
    return (f"; {top!r} is hpo-gym's own package, so a module or folder of yours named {top!r} is not the one imported: "
            f"rename it (e.g. my_{top}.py, then my_{top}:MyAgent)")


def _module_spec_hint(name: str, colon: str, arg: str) -> str:
    """Why a spec that looks like ``MODULE:FACTORY`` is not one: a dot instead of the colon, or an argument after the
    factory's name (the factory is called with none), or a file name (``my_agents.py:MyAgent``) for the module's name.
    Empty when ``name`` names no importable module."""
    if name.endswith(".py"):  # found by a new user: the generic "unknown agent" gave no hint
        folder, _, file_name = name[:-3].replace("\\", "/").rpartition("/")
        where = f", and run from {folder}/ (or put {folder} on PYTHONPATH)" if folder not in ("", ".") else ""
        return f"; MODULE is the module's name, not its file: write '{file_name}:{arg or 'FACTORY'}'{where}"
    if not colon and "." in name:
        module, _, attribute = name.rpartition(".")
        if _importable(module):
            return f"; for your own agent write MODULE:FACTORY with a colon: '{module}:{attribute}'"
        return ""
    if colon and _importable(name):
        return (f"; MODULE:FACTORY takes the plain name of a class or function in {name!r}, called with no arguments "
                f"(got {arg!r}): for arguments write a zero-argument function in the module, e.g. "
                "def make(): return MyAgent(x=1), and name it")
    return ""


def _module_spec(module: str) -> importlib.machinery.ModuleSpec | None:
    """Where ``module`` would be imported from, found without importing it (a package above it is imported by the
    lookup); None when it cannot be found."""
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None


def _importable(module: str) -> bool:
    return _module_spec(module) is not None


def _users_module(name: str) -> bool:
    """Whether ``name`` is an importable top-level module of the user's: outside the standard library, the installed
    packages and this package (``random`` is the standard library's, ``cmaes`` an installed library's)."""
    found = _module_spec(name) if name.isidentifier() else None
    return found is not None and found.origin is not None and is_users_file(found.origin)


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
        folders = list(dict.fromkeys(getattr(mod, "__path__", [])))
        folder = getattr(mod, "__file__", None) is None  # a folder without __init__.py (an earlier --out, say)
        raise ValueError(f"agent {module}:{attribute}: {module!r} has no class or function {attribute!r}"
                         + (f" ({module!r} is a folder found on the import path, {folders}, not a module {module}.py: "
                            f"run from the directory that holds {module}.py, or rename the folder)" if folder else "")
                         + _own_package_hint(module))
    try:
        agent = factory()
    except Exception as e:  # noqa: BLE001  (the user's class or function raised: name it, not a traceback into us)
        raise ValueError(f"agent {module}:{attribute}: calling {attribute}() failed ({type(e).__name__}: {e}); it must "
                         "build the agent with no arguments") from e
    if not all(callable(getattr(agent, method, None)) for method in ("reset", "act")):  # the harness names it by spec
        raise ValueError(f"agent {module}:{attribute}: {attribute}() returned a {type(agent).__name__}, which lacks the "
                         "Agent methods reset(space, seed, budget) and act(observation) (see agents/base.py)")
    _check_reset_signature(agent, f"{module}:{attribute}")
    return agent


def _check_reset_signature(agent: Agent, spec: str) -> None:
    """The harness calls ``reset(space, seed=..., budget=...)``: a ``reset(self, space, seed=None)`` failed every run,
    each stored as failed, instead of once before the benchmark."""
    try:
        signature = inspect.signature(agent.reset)
    except (TypeError, ValueError):  # no signature to read (a builtin): its runs will tell
        return
    try:
        signature.bind(None, seed=0, budget=1)
    except TypeError as e:
        raise ValueError(f"agent {spec}: its reset{signature} cannot be called as reset(space, seed=..., budget=...), "
                         f"as the harness calls it ({e}); give it the signature reset(self, space, seed=None, "
                         "budget=None)") from None
