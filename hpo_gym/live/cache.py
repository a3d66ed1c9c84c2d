"""On-disk cache of live evaluations, so re-running a benchmark does not retrain.

One SQLite file (``<dir>/evaluations.sqlite``; ``dir`` is ``cache_dir=``, else ``$HPO_GYM_CACHE``,
else ``~/.cache/hpo-gym``). The key is a SHA-256 of everything that determines a result: task,
model, configuration, seed, fidelity, metric, the outer split (repeat, fold), the validation split
(fraction, seed), whether it is the validation or the test score, and :data:`CACHE_VERSION`
(bumped when the training code changes meaning). Only the main process reads and writes it;
workers just train. Timeouts are not cached (a longer limit may succeed); errors raised by a fit are.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_EVAL_CACHE = "HPO_GYM_CACHE"
CACHE_VERSION = 1


def default_cache_dir() -> Path:
    return Path(os.environ.get(ENV_EVAL_CACHE) or Path.home() / ".cache" / "hpo-gym").expanduser()


def canonical(value: Any) -> Any:
    """JSON-ready copy of ``value`` with floats rounded to 12 significant digits (stable cache keys)."""
    if isinstance(value, float):
        return float(f"{value:.12g}") if math.isfinite(value) else repr(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return canonical(value.item())
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def evaluation_key(**parts: Any) -> str:
    """Stable hash of the parts of an evaluation (floats rounded to 12 significant digits)."""
    payload = json.dumps(canonical({**parts, "cache_version": CACHE_VERSION}), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class EvaluationCache:
    """``get(key) -> dict | None`` and ``put(key, record)`` over a SQLite file (thread-safe)."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "evaluations.sqlite"
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        with self._lock, self._conn:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("CREATE TABLE IF NOT EXISTS evaluations (key TEXT PRIMARY KEY, record TEXT NOT NULL)")

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT record FROM evaluations WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, record: Mapping[str, Any]) -> None:
        with self._lock, self._conn:
            self._conn.execute("INSERT OR REPLACE INTO evaluations (key, record) VALUES (?, ?)",
                               (key, json.dumps(canonical(dict(record)))))

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0])

    def clear(self) -> None:
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM evaluations")

    def close(self) -> None:
        self._conn.close()
