"""On-disk cache of live evaluations, so re-running a benchmark does not retrain.

One SQLite file (``<dir>/evaluations.sqlite``; ``dir`` is ``cache_dir=``, else ``$HPO_GYM_CACHE``,
else ``~/.cache/hpo-gym``). The key is a SHA-256 of everything that determines a result: task,
model, configuration, seed, fidelity, metric, the outer split (repeat, fold), the validation split
(fraction, seed), whether it is the validation or the test score, the versions of the libraries that compute the score
(scikit-learn, NumPy, SciPy, XGBoost for ``xgb``: ``ModelFamily.library_versions``, read in the main process), and :data:`CACHE_VERSION`
(bumped when the training code changes meaning). Only the main process reads and writes it;
workers just train. Timeouts are not cached (a longer limit may succeed), a cached fit that took longer than the current limit is fitted
again (without the cache it would time out); errors raised by a fit are cached.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpo_gym.paths import ENV_CACHE_DIR, default_cache_dir

ENV_EVAL_CACHE = ENV_CACHE_DIR
CACHE_VERSION = 4  # 2: keys include the data's fingerprint (TaskData.fingerprint); 3: a subsample keeps every class;
# 4: an empty categorical column is kept (its fits failed, and the failures were cached as the configurations' own)
# (library versions joined the key as a part of its own, so they need no bump: every older key differs already)


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


class DamagedRecord(ValueError):
    """A cached record that does not read back as an evaluation (not JSON, or no usable score, error or cost): the
    objective fits the configuration again and its result replaces the record."""


def _finite_number(value: Any) -> bool:
    """Whether ``value`` reads as a finite float (:func:`canonical` stores inf and NaN as text, which a fit never
    stores: ``fit_and_score`` raises on a non-finite score, and a cost is seconds)."""
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int past float's range (10**400)
        return False


def usable_record(record: Any) -> bool:
    """Whether ``record`` is what :class:`hpo_gym.live.LiveObjective` stores: a dict with a text ``error`` or a finite
    ``score``, and a finite, non-negative ``cost`` if any. A score of NaN or infinity (a record edited by hand or
    written by another tool) reached ``env.step`` and ended the run there; such a record is damaged and fitted again."""
    if not isinstance(record, dict):
        return False
    outcome = isinstance(record["error"], str) if "error" in record else _finite_number(record.get("score"))
    cost = record.get("cost", 0.0)
    return outcome and _finite_number(cost) and float(cost) >= 0.0


def evaluation_key(**parts: Any) -> str:
    """Stable hash of the parts of an evaluation (floats rounded to 12 significant digits)."""
    payload = json.dumps(canonical({**parts, "cache_version": CACHE_VERSION}), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class EvaluationCache:
    """``get(key) -> dict | None`` and ``put(key, record)`` over a SQLite file (thread-safe)."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()
        self.path = self.directory / "evaluations.sqlite"
        self._lock = threading.Lock()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self._retry(self._setup)
        except (OSError, sqlite3.Error) as e:  # a file in the way, a read-only disk, a file that is no database
            raise ValueError(f"the evaluation cache {self.path} cannot be used ({type(e).__name__}: {e}); pass a "
                             f"writable cache_dir (or set ${ENV_EVAL_CACHE}), delete the file if it is damaged, or turn "
                             "the cache off with cache=False") from None

    def _setup(self) -> None:
        # several processes (vector env workers, parallel benchmark runs) may open the file at once;
        # switching to WAL needs an exclusive lock that SQLite's busy timeout does not wait for
        if self._conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            self._conn.execute("PRAGMA journal_mode=WAL")
        with self._conn:
            self._conn.execute("CREATE TABLE IF NOT EXISTS evaluations (key TEXT PRIMARY KEY, record TEXT NOT NULL)")


    def _retry(self, action, attempts: int = 50):
        """Run ``action`` under the lock, retrying while another process holds the database."""
        for attempt in range(attempts):
            try:
                with self._lock:
                    return action()
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e) or attempt == attempts - 1:
                    raise
                time.sleep(0.05 + 0.05 * random.random() * (attempt + 1))

    def get(self, key: str) -> dict[str, Any] | None:
        """The record stored under ``key``, or None; :class:`DamagedRecord` when it does not read back as one (a row
        edited by hand or by another tool: the file itself opened as a database)."""
        row = self._retry(lambda: self._conn.execute("SELECT record FROM evaluations WHERE key = ?", (key,)).fetchone())
        if row is None:
            return None
        try:
            record = json.loads(row[0])
        except (TypeError, ValueError):
            record = None
        if not usable_record(record):
            raise DamagedRecord(f"a record in {self.path} is damaged ({str(row[0])[:60]!r})")
        return record

    def put(self, key: str, record: Mapping[str, Any]) -> None:
        text = json.dumps(canonical(dict(record)))

        def write() -> None:
            with self._conn:
                self._conn.execute("INSERT OR REPLACE INTO evaluations (key, record) VALUES (?, ?)", (key, text))

        self._retry(write)

    def __len__(self) -> int:
        return int(self._retry(lambda: self._conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]))

    def clear(self) -> None:
        def delete() -> None:
            with self._conn:
                self._conn.execute("DELETE FROM evaluations")

        self._retry(delete)

    def close(self) -> None:
        self._conn.close()
