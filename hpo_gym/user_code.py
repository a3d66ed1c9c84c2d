"""Which code is the user's: their agent modules and scripts, as opposed to Python's, the installed libraries' and
hpo-gym's own.

Why: a failed run's traceback printed on the terminal ran through hpo-gym's harness, Gymnasium's wrappers and
checkers, and the env, 20 lines of which none was the user's, below the one-line error that the summary had already
given (found by a new user). The terminal shows the user's frames; a stored run keeps the whole traceback (its
``error`` column, :func:`hpo_gym.benchmark.report.load_results`). The agent registry asks the same question of a
module: is ``ppo.py`` the user's, shadowed by the built-in agent ``ppo``? And a result directory records a hash of the
user's agent code (:func:`users_code_fingerprint`), so that edited code is not handed the old code's runs.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import sysconfig
from functools import cache
from pathlib import Path
from typing import Any

from hpo_gym.fingerprint import named_bytes_fingerprint

#: hpo-gym's own top-level packages: their files are not the user's, and a user's module of one of these names is
#: never the one imported (the agent registry says so).
OWN_PACKAGES = ("agents", "hpo_gym", "envs_registry")
#: The first line of a frame in a formatted traceback: ``  File "PATH", line N, in NAME``.
_FRAME = re.compile(r'^  File "(?P<path>[^"]+)", line \d+')


@cache
def library_roots() -> tuple[Path, ...]:
    """Folders whose files are not the user's: the standard library, the installed packages, hpo-gym's packages."""
    paths = sysconfig.get_paths()
    roots = {Path(paths[k]).resolve() for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    packages = [importlib.import_module(name) for name in OWN_PACKAGES]
    roots |= {Path(package.__file__).resolve().parent for package in packages if package.__file__ is not None}
    return tuple(sorted(roots))


def is_users_file(path: str | Path) -> bool:
    """Whether ``path`` lies outside :func:`library_roots` (a file of the user's, or ``<string>``-like code)."""
    resolved = Path(path).resolve()
    return not any(root == resolved or root in resolved.parents for root in library_roots())


def users_code_fingerprint(*objects: Any) -> str:
    """A short hash of the source of the user's own code among ``objects`` (agent classes, factory functions, or a
    ``MODULE:FACTORY`` spec string, whose factory is looked up in the imported module); ``""`` when none of it is the
    user's.

    Why: a result directory records what each label names, and an agent that plays from no file of its own was
    recorded by its class name only, so after an edit of the agent a rerun returned the old code's runs and fits as the
    new code's, averaged together under one label (found by a new user). What counts is the agent's class with every
    class of the user's it inherits from, and a named factory function: a new agent added to the same module is no edit
    of the others (a whole-module hash refused their stored runs, found by a second user), nor is a script's own
    settings, such as ``seeds``. A module-level helper or constant the class reads is not part of it: give an agent
    whose behaviour such a change alters another label. A lambda counts not at all (it is written inline, in the
    call that also holds the run's settings), nor does library code (this package's agents, Optuna's) or code without
    a source file (builtins, a class made by ``exec``). The source is read from the file, as ``inspect`` reads it: in a
    session that imported the module before an edit (a notebook without a restart) it is the edited file's, not the
    running code's; restart, or ``importlib.reload`` the module, before benchmarking an edited agent there."""
    pieces: dict[str, bytes] = {}
    for obj in objects:
        if isinstance(obj, str):
            module, _, attribute = obj.partition(":")
            obj = getattr(sys.modules.get(module), attribute, None) if attribute.isidentifier() else None
        for part in inspect.getmro(obj) if inspect.isclass(obj) else (obj,):
            if part is None or getattr(part, "__name__", None) == "<lambda>":
                continue
            try:
                path = inspect.getsourcefile(part)
                source = inspect.getsource(part) if path is not None and is_users_file(path) else None
            except (TypeError, OSError):  # a builtin, or no source to read (an interactive session)
                continue
            if source is not None:
                pieces[f"{part.__module__}.{part.__qualname__}"] = source.encode()
    return named_bytes_fingerprint(pieces) if pieces else ""


def users_traceback(text: str) -> str:
    """A formatted traceback (``traceback.format_exc()``) with the frames in library files left out, and a line saying
    how many were; the exception lines, chained exceptions' headers and the user's frames are kept as they are.
    Text that is no traceback (a one-line error) is returned unchanged."""
    kept: list[str] = []
    dropped = 0
    in_library_frame = False
    for line in text.splitlines():
        frame = _FRAME.match(line)
        if frame:
            in_library_frame = not is_users_file(frame["path"])
            dropped += in_library_frame
        elif not line.startswith("    "):  # a frame's source line and its ^^^ markers are indented by four
            in_library_frame = False
        if not in_library_frame:
            kept.append(line)
    if dropped:
        kept.append(f"({dropped} frame{'s' * (dropped != 1)} of hpo-gym, Gymnasium or other libraries left out here)")
    return "\n".join(kept)
