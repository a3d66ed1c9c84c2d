"""Append-only result store of a benchmark: one Parquet shard per finished (agent, task, seed) run.

Why shards: a run's shard is written to a temporary file and moved into place with ``os.replace``,
which is atomic on POSIX. A shard therefore either exists complete or not at all, so ``kill -9`` in
the middle of a benchmark loses at most the runs in flight and never leaves a half-written or
duplicated run; the next invocation skips every run whose shard exists. The shard name is a pure
function of the run key, so even two processes finishing the same run produce one file.

Layout of ``DIR``::

    DIR/benchmark.json            settings the shards were produced with (budget, protocol, ...; :data:`MANIFEST_KEYS`)
    DIR/runs/<agent>__<task>__s<seed>__<hash>.parquet   one per run, one row per step
    DIR/fitted/<agent>__fold<k>__<hash>.pkl               k-fold: a transfer agent fitted on fold k (cache)

Columns of a shard (:data:`STEP_COLUMNS`): agent, task, seed, fold (-1 outside k-fold), heldout,
in_sample (the agent names the run's task among those it was trained on, so the row is no held-out
number; shards written before this column existed read as False), step (1-based), config (JSON),
score, best_score, normalized_regret (of the best so far; NaN without an oracle), choose_seconds
(agent time for the step: ``act`` + ``observe``), eval_cost (the evaluation's cost in seconds as the
objective reports it), eval_error (why the step's evaluation failed, e.g. a model fit that raised or ran past its
time limit, which scored the metric's worst: the env's ``info["error"]``, else empty; such a run is still ``ok``,
shards written before this column existed read as empty), status (``ok`` / ``failed``), error (traceback of a failed
run, else empty), budget. A failed run keeps the steps it completed; a run
that failed before its first step has one row with step 0.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpo_gym.atomic import TEMPORARY_SUFFIX, atomic_path, atomic_write_bytes, writer_pid

STEP_COLUMNS = ["agent", "task", "seed", "fold", "heldout", "in_sample", "step", "config", "score", "best_score",
                "normalized_regret", "choose_seconds", "eval_cost", "eval_error", "status", "error", "budget"]
#: Columns added after the first result directories were written, and what an older shard reads as.
LATER_COLUMNS: dict[str, Any] = {"in_sample": False, "eval_error": ""}
RunKey = tuple[str, str, int]
MANIFEST = "benchmark.json"
#: Content fingerprints of the files each agent plays from (its ``fingerprint``: a checkpoint, a saved model), by
#: agent label: a rerun whose files changed is refused (see :meth:`ResultStore.check_agent_files`).
AGENT_FILES = "agents.json"
#: The start of a recorded entry that is no file fingerprint but what the label names (an agent that plays from no file:
#: :func:`hpo_gym.benchmark.runner.agent_identity`).
IDENTITY_PREFIX = "agent: "
#: Settings that must agree between the runs of one store (mixing them would make numbers meaningless):
#: ``env_kwargs`` change what a run measures (e.g. ``noise=True``); ``tasks`` is the ordered task list
#: under k-fold, which defines the folds (``None`` under ``"all"``, where adding tasks is a resume); ``objectives`` are
#: the user objectives' fingerprints by name (adding or leaving one out is a resume, a changed fingerprint is refused);
#: ``suite`` names the suite tasks' tables (None for user objectives only, which agrees with any suite: see
#: :data:`MERGED_KEYS`).
MANIFEST_KEYS = ("budget", "protocol", "folds", "suite", "tasks", "env_kwargs", "objectives")
#: Keys that manifests written by older versions lack; such a manifest is accepted unchecked on them.
LATER_KEYS = ("tasks", "env_kwargs", "objectives")
#: Later keys whose empty value (None) needs no check when an older manifest lacks them: a benchmark of suite tasks
#: only has no user objectives to fingerprint, so there is nothing unknown to warn about.
NOTHING_TO_CHECK_WHEN_EMPTY = ("objectives",)
#: Temporary files of the store's atomic writes outside ``runs/`` (``.<final name>.tmp-<writer's pid>-<its thread>``, see
#: :func:`hpo_gym.atomic.atomic_path`), by directory relative to the root: the manifest and the fitted-agent cache. Only
#: these names are ever removed there; the root may hold the user's own files (plots/, notes).
OTHER_TEMPORARIES = {".": re.compile(r"\.(benchmark|agents)\.json" + TEMPORARY_SUFFIX),
                     "fitted": re.compile(r"\..+\.pkl" + TEMPORARY_SUFFIX)}


def _merged_objectives(stored: Any, asked: Any) -> tuple[Any, bool]:
    """The objectives to record for a command, as ``{name: fingerprint}`` (None: no objective of the user's), and
    whether they conflict with the stored ones. An objective added to, or left out of, a command is a resume, as a
    suite task is: the record becomes both sets. A fingerprint that changed under one name conflicts."""
    if not all(v is None or isinstance(v, dict) for v in (stored, asked)):
        return asked, stored != asked
    stored, asked_objectives = stored or {}, asked or {}
    if any(stored[n] != asked_objectives[n] for n in stored.keys() & asked_objectives.keys()):
        return asked, True
    return {**stored, **asked_objectives} or None, False


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", text)[:limit] or "x"


def shard_name(key: RunKey) -> str:
    """File name of a run's shard: readable slug plus a hash of the exact key (agent specs may hold paths)."""
    agent, task, seed = key
    digest = hashlib.sha1(json.dumps([agent, task, int(seed)]).encode()).hexdigest()[:10]
    return f"{_slug(agent)}__{_slug(task)}__s{int(seed)}__{digest}.parquet"


def _merged_suite(stored: Any, asked: Any) -> tuple[Any, bool]:
    """The suite to record, and whether it conflicts with the stored one. The suite names the tables of the suite tasks,
    so it is recorded only when a command has any (None: user objectives only); a command without them, or a directory
    whose manifest says ``"custom"`` (written before 2026-11-27 for any benchmark with a user objective, its suite then
    unrecorded), agrees with any suite, so adding or leaving out objectives is a resume, as :func:`_merged_objectives`
    says."""
    unknown = (None, "custom")
    if stored in unknown or asked in unknown:
        return (stored if asked in unknown else asked), False
    return asked, stored != asked


#: Manifest keys whose stored and asked values merge instead of having to be equal: ``{key: merge(stored, asked) ->
#: (value to record, conflict)}``.
MERGED_KEYS = {"objectives": _merged_objectives, "suite": _merged_suite}


class ResultStore:
    """The shards of one benchmark directory. Safe to read while a benchmark writes to it."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.runs_dir = self.root / "runs"

    # -- settings -------------------------------------------------------------------------------
    def check_manifest(self, settings: Mapping[str, Any]) -> None:
        """Create ``benchmark.json`` or check that ``settings`` match it; raises ``ValueError`` with the fix.

        Values are compared as JSON holds them (tuples as lists; a value JSON cannot hold by its ``repr``).
        A manifest written before a key of :data:`LATER_KEYS` existed is still accepted, so older result
        directories stay usable: the missing key is unknown, not different. It is not checked (a
        ``RuntimeWarning`` says so) and the manifest is not rewritten, because the stored runs' real
        value is unknown and recording this command's value would claim what nobody checked. A directory without
        a finished run takes the new settings (with a ``RuntimeWarning``): a command interrupted before its first
        run, or a typo, must not lock it.
        """
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        path = self.root / MANIFEST
        wanted = {k: _as_json(settings.get(k)) for k in MANIFEST_KEYS}
        n_runs = len(self.shard_paths())  # one listing of runs/ (thousands of files in a large benchmark)
        if not path.exists() and n_runs:  # its runs' settings are unknown: taking ours would mix them
            raise ValueError(f"{self.root} holds {n_runs} runs but no {MANIFEST}, so the settings they "
                             f"were made with are unknown: restore {path}, or use another --out directory")
        if path.exists():
            have = read_json_dict(path)
            unknown = [k for k in LATER_KEYS if k not in have
                       and not (k in NOTHING_TO_CHECK_WHEN_EMPTY and wanted[k] is None)]
            if unknown:
                warnings.warn(f"{path} predates recording {unknown}; they are not checked, so resume it only with the "
                              "settings its runs were made with", RuntimeWarning, stacklevel=2)
            checked = [k for k in MANIFEST_KEYS if k not in unknown]
            diff = {k: (have.get(k), wanted[k]) for k in checked if k not in MERGED_KEYS and have.get(k) != wanted[k]}
            merged = {}
            for k in MERGED_KEYS.keys() & set(checked):
                merged[k], conflict = MERGED_KEYS[k](have.get(k), wanted[k])
                if conflict:
                    diff[k] = (have.get(k), wanted[k])
            if not diff:
                added = {k: v for k, v in merged.items() if v != have.get(k)}  # an objective or the suite's tasks added
                if added:
                    atomic_write_bytes(path, json.dumps({**have, **added}, indent=2).encode())
                return
            detail = ", ".join(f"{k}: stored {a!r}, asked {b!r}" for k, (a, b) in diff.items())
            if n_runs:
                raise ValueError(f"{self.root} holds a benchmark with other settings ({detail}); "
                                 "use another --out directory or the same settings (an objective's fingerprint also "
                                 "changes when an hpo-gym upgrade reads its table differently)")
            # interrupted or failed before its first run: nothing to protect, so a corrected command is not locked out
            warnings.warn(f"{self.root} held no finished run of its settings ({detail}); starting it afresh with the "
                          "new ones", RuntimeWarning, stacklevel=2)
            self._forget_settings()
        atomic_write_bytes(path, json.dumps(wanted, indent=2).encode())

    def _forget_settings(self) -> None:
        """Remove what an earlier command with other settings left besides runs: its agent file fingerprints and its
        fitted agents (a fit can depend on the budget or the env's settings, so it must not be reused)."""
        (self.root / AGENT_FILES).unlink(missing_ok=True)
        for fitted in (self.root / "fitted").glob("*.pkl"):
            fitted.unlink()

    def check_agent_files(self, fingerprints: Mapping[str, str], tasks: Iterable[str], seeds: Iterable[int],
                          earlier: Mapping[str, Sequence[str]] | None = None) -> None:
        """Record each agent's file fingerprint (or, for an agent that plays from no file, what its label names:
        :data:`IDENTITY_PREFIX`), or raise ``ValueError`` when an agent's stored runs were made from other files or by
        another agent: the label (e.g. ``grpoformer:runs/mine/policy.pt``) stays the same when the file is retrained in
        place, and a Python label (``{"mine": "random"}``, then ``{"mine": "tpe"}``) can be reused, so its stored runs
        would otherwise be returned as the new agent's.

        An agent with runs here on ``tasks`` x ``seeds`` but no recorded file fingerprint (a directory from before this
        check) is not checked and not recorded, with a ``RuntimeWarning``: which files its runs came from is unknown.
        ``earlier`` holds what an agent's identity was recorded as in earlier formats (``agent: spec random``, written
        for a spec string before identities named the class; the class without the user's code, before it was held):
        such a record is the same agent, as far as it can tell, and is rewritten.
        """
        path = self.root / AGENT_FILES
        stored: dict[str, str] = read_json_dict(path) if path.exists() else {}
        earlier = earlier or {}
        upgraded = {name: fp for name, fp in fingerprints.items()
                    if name in stored and stored[name] != fp and stored[name] in earlier.get(name, ())}
        stored.update(upgraded)
        changed = {name: (stored[name], fp) for name, fp in fingerprints.items() if name in stored and stored[name] != fp}
        for name in [n for n in changed if not self._may_have_runs(n)]:  # killed before its first run: nothing to protect
            del stored[name], changed[name]  # recorded anew below, with this command's files
            for fitted in (self.root / "fitted").glob(f"{_slug(name)}__fold*.pkl"):  # fits of the old files
                fitted.unlink()
        if changed:
            detail = "; ".join(f"{name!r} (stored {a}, now {b})" for name, (a, b) in changed.items())
            raise ValueError(f"{self.root} holds runs of agents whose files or settings have changed since: {detail}; "
                             "their checkpoint or model was replaced, their code was edited (\"code\" is a hash of "
                             "your agent's class and factory), the agent now plays by other settings (e.g. grpoformer's "
                             "density-ratio choice, the default since 2026-11-27), or the label now names another "
                             "agent, so the stored runs are not theirs. Use another --out directory or label "
                             "(or remove this one to start over)")
        new = {name: fp for name, fp in fingerprints.items() if name not in stored}
        runs = [(t, s) for t in tasks for s in seeds]
        # an identity is recorded for runs from before identities were: nothing was checked then either, so this
        # claims no more than before (a file fingerprint would claim files nobody checked: left unrecorded, warned)
        unchecked = sorted(name for name in new if not new[name].startswith(IDENTITY_PREFIX)
                           and any(self.has((name, t, s)) for t, s in runs))
        if unchecked:
            warnings.warn(f"{self.root} has runs of {unchecked} from before agent files were recorded; that they match "
                          "the files now is not checked", RuntimeWarning, stacklevel=3)
        record = {name: fp for name, fp in new.items() if name not in unchecked}
        if record or upgraded:
            atomic_write_bytes(path, json.dumps({**stored, **record}, indent=2, sort_keys=True).encode())

    def _may_have_runs(self, agent: str) -> bool:
        """Whether a shard here could be ``agent``'s (its name starts with the agent's slug; a shard name hashes the
        whole key, so an agent sharing the slug makes this True too, which only keeps a check in place)."""
        return any(True for _ in self.runs_dir.glob(f"{_slug(agent)}__*.parquet")) if self.runs_dir.exists() else False

    def manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        return read_json_dict(path) if path.exists() else {}

    # -- runs -----------------------------------------------------------------------------------
    def path_of(self, key: RunKey) -> Path:
        return self.runs_dir / shard_name(key)

    def has(self, key: RunKey) -> bool:
        return self.path_of(key).exists()

    def write_run(self, key: RunKey, steps: pd.DataFrame) -> Path:
        """Write one finished run atomically (temp file in the same directory + ``os.replace``)."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        path = self.path_of(key)
        with atomic_path(path) as tmp:  # page checksums: a flipped bit is an error on reading, not a changed number
            steps.to_parquet(tmp, index=False, write_page_checksum=True)
        return path

    def shard_paths(self) -> list[Path]:
        if not self.runs_dir.exists():
            return []
        return sorted(p for p in self.runs_dir.glob("*.parquet") if not p.name.startswith("."))

    def clean_temporaries(self, holding_lock: bool = False) -> int:
        """Remove temp files left by killed writers; returns how many.

        Scans ``runs/`` (shards) and, for the names of :data:`OTHER_TEMPORARIES` only, the root (the manifest) and
        ``fitted/`` (the fitted-agent cache). A caller ``holding_lock`` (the directory's :func:`hpo_gym.lock.directory_lock`,
        before its own writers start) removes every one: no other process can be mid-write. Without the lock a temp
        file whose pid is alive is left alone, as it may be mid-write; but pids are reused (a container's benchmark gets
        the same small pid on each run), so under the lock the pid is not trusted: a killed run's full-size shard
        temporaries stayed forever (found in review).
        """
        candidates = list(self.runs_dir.glob(".*.tmp-*")) if self.runs_dir.exists() else []
        for sub, pattern in OTHER_TEMPORARIES.items():
            folder = self.root / sub
            if folder.is_dir():
                candidates += [p for p in folder.glob(".*.tmp-*") if pattern.fullmatch(p.name) and p.is_file()]
        removed = 0
        for p in candidates:
            pid = writer_pid(p)
            if holding_lock or pid <= 0 or not _pid_alive(pid):
                p.unlink(missing_ok=True)
                removed += 1
        return removed

    # -- fitted transfer agents (cache per fold) ------------------------------------------------------
    def fitted_path(self, name: str, spec: str, fold: int, train_tasks: Iterable[str], seed: int,
                    files: str | None = None) -> Path:
        """Cache file of agent ``name`` fitted on a fold: named by the agent (as :meth:`check_agent_files` removes the
        fits of changed files) and keyed by its spec, fold, training tasks, fit seed and the fingerprint of the files
        it plays from (``files``), so a fit of a model file replaced since is never read back as the new file's."""
        key = [spec, int(fold), sorted(train_tasks), int(seed), files]
        digest = hashlib.sha1(json.dumps(key).encode()).hexdigest()[:10]
        return self.root / "fitted" / f"{_slug(name)}__fold{int(fold)}__{digest}.pkl"

    def read_fitted(self, path: Path) -> Any | None:
        """The cached fitted agent, or None when absent or unreadable (then it is fitted again)."""
        if not path.exists():
            return None
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        except Exception as e:  # noqa: BLE001 - a stale or broken cache only costs a refit
            warnings.warn(f"ignoring unreadable fitted-agent cache {path}: {e!r}", RuntimeWarning, stacklevel=2)
            return None

    def write_fitted(self, path: Path, agent: Any) -> bool:
        """Pickle a fitted agent atomically; returns False (with a warning) when it cannot be pickled."""
        try:
            data = pickle.dumps(agent)
        except Exception as e:  # noqa: BLE001
            warnings.warn(f"fitted agent {type(agent).__name__} cannot be pickled ({e!r}); it will be refitted on resume",
                          RuntimeWarning, stacklevel=2)
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
        return True

    def remove_failed(self, keys: Iterable[RunKey] | None = None) -> int:
        """Delete the shards of failed runs so that the next benchmark runs them again; returns how many.

        With ``keys``, only those runs' shards are considered: a benchmark retries the failures it is
        about to rerun, and leaves the failures of agents, tasks or seeds outside its command stored
        (deleting them would lose results that nothing runs again).
        """
        paths = self.shard_paths() if keys is None else [p for p in map(self.path_of, keys) if p.exists()]
        removed = 0
        for path in paths:
            status = read_shard(path)["status"]
            if (status != "ok").any():
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def load(self, keys: Iterable[RunKey] | None = None) -> pd.DataFrame:
        """All steps of all stored runs (or of ``keys`` only), sorted by agent, task, seed, step."""
        if keys is None:
            paths = self.shard_paths()
        else:
            paths = [p for p in (self.path_of(k) for k in keys) if p.exists()]
        if not paths:
            return pd.DataFrame(columns=STEP_COLUMNS)
        budget = self.manifest().get("budget")
        df = _read_shards_at_once(paths, budget)
        if df is None:  # a shard failed a check: read them one by one, so that the error names the file and the fix
            df = pd.concat([read_shard(p, budget) for p in paths], ignore_index=True)
        return df.sort_values(["agent", "task", "seed", "step"], kind="stable").reset_index(drop=True)


class DamagedShard(ValueError):
    """A stored run that cannot be trusted: unreadable, incomplete, or not the run its file name says."""


def read_shard(path: Path, budget: int | None = None) -> pd.DataFrame:
    """One run's steps in :data:`STEP_COLUMNS` order, checked: readable (page checksums where written), complete, the
    run its file name names (a renamed or copied-in shard would be counted as another run, or twice), and, given the
    directory's ``budget``, made at that budget (another benchmark's shard would switch the whole report to its own).
    A shard written before a column of :data:`LATER_COLUMNS` existed reads as its default (``in_sample=False``: no
    agent then declared its training tasks; ``eval_error`` empty), so older result directories still load."""
    fix = "move it out of runs/ and rerun the same `hpo-gym bench` to recompute that run"
    try:
        df = pd.read_parquet(path, page_checksum_verification=True)
    except Exception as e:  # noqa: BLE001  (pyarrow raises OSError, ArrowInvalid, KeyError, TypeError for a bad file)
        raise DamagedShard(f"{path} is damaged ({type(e).__name__}: {e}); {fix}") from None
    for column, default in LATER_COLUMNS.items():
        if column not in df:
            df[column] = default
    missing = [c for c in STEP_COLUMNS if c not in df]
    if missing or df.empty:
        raise DamagedShard(f"{path} is not a complete run (missing columns {missing} or no rows); {fix}")
    keys = df[["agent", "task", "seed"]].drop_duplicates()
    agent, task, seed = keys.iloc[0].tolist()
    named = len(keys) == 1 and shard_name((str(agent), str(task), int(seed))) == path.name
    if not named:
        runs = [tuple(k) for k in keys.itertuples(index=False)]
        raise DamagedShard(f"{path} holds the run(s) {runs}, not the one its file name names (renamed or copied in?); "
                           f"{fix}")
    if budget is not None and (df["budget"] != budget).any():
        raise DamagedShard(f"{path} was made at budget {sorted(set(df['budget'].tolist()))}, but this directory's "
                           f"benchmark has budget {budget} (copied in from another?); {fix}")
    return df[STEP_COLUMNS]


def _read_shards_at_once(paths: list[Path], budget: int | None) -> pd.DataFrame | None:
    """Every shard in one pyarrow scan, with :func:`read_shard`'s checks made on the whole frame at once; None when any
    shard fails one (the caller then reads shard by shard to name it). One file at a time cost ~5 ms a shard: 34 s to
    load 8,000 runs, against ~3 s this way."""
    import pyarrow.dataset as ds

    try:
        fmt = ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(
            page_checksum_verification=True))
        dataset = ds.dataset([str(p) for p in paths], format=fmt)
        fragments = list(dataset.get_fragments())
        rows = [fragment.count_rows() for fragment in fragments]  # footers only
        if len({tuple(fragment.physical_schema.names) for fragment in fragments}) > 1:
            return None  # shards of several versions (e.g. some without in_sample): the scan takes the first's columns
        df = dataset.to_table(columns=[c for c in dataset.schema.names if c in STEP_COLUMNS]).to_pandas()
    except Exception:  # noqa: BLE001  (an unreadable or foreign shard: read_shard names it)
        return None
    if len(rows) != len(paths) or sum(rows) != len(df):
        return None
    df["__file"] = np.repeat([p.name for p in paths], rows)  # rows come in file order; the name check below confirms it
    for column, default in LATER_COLUMNS.items():  # shards from before a column read as its default
        df[column] = df[column].fillna(default) if column in df else default
    df["in_sample"] = df["in_sample"].astype(bool)
    required = ["agent", "task", "seed", "step", "status", "budget"]
    if any(c not in df for c in STEP_COLUMNS) or df[required].isna().any().any():
        return None
    per_file = df.groupby("__file", sort=False)
    if per_file.ngroups != len(paths) or (per_file[["agent", "task", "seed"]].nunique() != 1).any().any():
        return None  # an empty shard, or one holding several runs
    firsts = per_file[["agent", "task", "seed"]].first()
    names = [shard_name((str(a), str(t), int(s))) for a, t, s in firsts.itertuples(index=False)]
    if names != list(firsts.index):
        return None  # a renamed or copied-in shard
    if budget is not None and (df["budget"] != budget).any():
        return None
    return df[STEP_COLUMNS]


def read_json_dict(path: Path) -> dict[str, Any]:
    """A JSON object file of the store (the manifest, the agent fingerprints), or a ``ValueError`` naming the file and
    the fix: a torn or edited file used to surface as json's bare message or a traceback."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} cannot be read ({type(e).__name__}: {e}); restore it, or use another --out "
                         "directory") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} holds a {type(value).__name__}, not the JSON object hpo-gym writes there; restore it, "
                         "or use another --out directory")
    return value


def _as_json(value: Any) -> Any:
    """``value`` as it reads back from the manifest, so a stored and an asked setting compare equal."""
    return json.loads(json.dumps(value, sort_keys=True, default=repr))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

