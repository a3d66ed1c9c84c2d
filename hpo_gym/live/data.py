"""OpenML data for live training: download through openml-python, cache, outer split, validation split.

Everything goes through openml-python's own API and cache (``openml.tasks.get_task`` with its
dataset, features and splits), so a cache filled on a connected machine by ``hpo-gym fetch <ids>``
works unchanged on an offline one. Where that cache lives:

1. ``cache_dir=`` passed to :func:`load_task` / the live objective, else
2. the ``HPO_GYM_OPENML_CACHE`` environment variable, else
3. openml-python's own setting (``OPENML_CACHE_DIR``, ``~/.config/openml/config``, default
   ``~/.cache/openml``).

openml-python files a server's data under ``<root>/<reversed host>`` (``org/openml/www`` for
openml.org), so copy the whole root directory between machines.

The outer split is the task's own (``repeat`` 0, ``fold`` 0 by default); the validation set is
carved out of the outer TRAIN rows only (stratified, seeded), so validation scores never see the
outer test rows, which are kept for a final test score.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pickle
import socket
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from xml.parsers.expat import ExpatError

import numpy as np
import pandas as pd

from hpo_gym.objective import whole_value
from hpo_gym.fingerprint import array_fingerprint
from hpo_gym.lock import DirectoryInUse, directory_lock

ENV_CACHE = "HPO_GYM_OPENML_CACHE"


class OpenMLUnavailableError(RuntimeError):
    """An OpenML task is neither cached locally nor downloadable (offline, or the server is down).

    ``task_id``, ``server`` and ``reason`` (the network error, one line) let a caller whose advice differs say it
    with the facts: ``hpo-gym fetch`` itself must not answer "run hpo-gym fetch" (found by a new user)."""

    def __init__(self, message: str, task_id: int | None = None, server: str = "", reason: str = ""):
        super().__init__(message)
        self.task_id, self.server, self.reason = task_id, server, reason


#: openml-python's root cache folder before hpo-gym last pointed it elsewhere, and where hpo-gym pointed it.
_openml_roots: dict[str, Path] = {}


def configure_openml_cache(cache_dir: str | os.PathLike | None = None) -> Path:
    """Point openml-python at ``cache_dir`` (or ``$HPO_GYM_OPENML_CACHE``) and return the root cache dir.

    With neither given, openml-python's own setting holds: the one it had before an earlier call here chose a folder
    (the setting is process-wide, and one objective's ``openml_cache_dir`` used to send every later load there), or
    whatever the user set since.
    """
    import openml

    current = Path(openml.config._root_cache_directory).expanduser()
    chosen = cache_dir if cache_dir is not None else os.environ.get(ENV_CACHE)
    if chosen and Path(chosen).expanduser().exists() and not Path(chosen).expanduser().is_dir():
        raise ValueError(f"OpenML cache root {chosen} is a file; give a directory (--cache-dir, openml_cache_dir= or "
                         f"${ENV_CACHE})")
    if chosen:
        if _openml_roots.get("ours") != current:  # openml's own (or the user's) setting: to go back to
            _openml_roots["own"] = current
        _openml_roots["ours"] = Path(chosen).expanduser()
        openml.config.set_root_cache_directory(_openml_roots["ours"])
    elif "own" in _openml_roots and _openml_roots.get("ours") == current:
        openml.config.set_root_cache_directory(_openml_roots.pop("own"))
        del _openml_roots["ours"]
    # openml's console handler prints a warning per uncompressed answer; keep the user's output readable
    logging.getLogger("openml").setLevel(max(logging.getLogger("openml").level, logging.ERROR))
    return Path(openml.config._root_cache_directory).expanduser()


def openml_server_cache_dir() -> Path:
    """The folder openml-python uses for the current server (``<root>/<reversed host>``)."""
    import openml

    return Path(openml.config.get_cache_directory()).expanduser()


@dataclass(frozen=True)
class TaskData:
    """One OpenML classification task as numeric arrays plus its outer split.

    ``X`` is float64: numeric columns as they are, nominal columns as category codes (NaN where
    missing; ``categorical`` marks them, so the model pipelines one-hot encode them). ``y`` holds
    class indices into ``classes``.
    """

    task_id: int
    dataset_id: int
    dataset_name: str
    X: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    categorical: np.ndarray
    feature_names: tuple[str, ...]
    train_idx: np.ndarray
    test_idx: np.ndarray
    repeat: int = 0
    fold: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @functools.cached_property
    def fingerprint(self) -> str:
        """sha256 of the arrays an evaluation depends on (features, labels, outer split): part of the evaluation
        cache's key, so that data sharing a task id, dataset id and row count with other data (another server, a
        ``data=`` override) never receives its cached scores."""
        return array_fingerprint((self.X, self.y, self.categorical, self.train_idx, self.test_idx))

    def validation_split(self, val_fraction: float = 0.33, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(fit rows, validation rows), both drawn from the outer TRAIN rows only.

        Stratified by class when every class has at least two training rows and each part has a row per class
        (scikit-learn refuses a stratified part smaller than the class count: 10 classes and val_fraction 0.02 of 150
        rows failed with its own error; found in review), else a plain shuffle split. 0.33 follows HPOBench's ML
        benchmarks (``valid_size=0.33``).
        """
        from sklearn.model_selection import train_test_split

        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        y_train = self.y[self.train_idx]
        counts = np.bincount(y_train, minlength=self.n_classes)
        n_val = int(np.ceil(val_fraction * len(y_train)))  # scikit-learn's own rounding of a float test_size
        present = int((counts > 0).sum())
        stratify = (y_train if counts[counts > 0].min() >= 2 and min(n_val, len(y_train) - n_val) >= present
                    else None)
        fit, val = train_test_split(self.train_idx, test_size=val_fraction, random_state=seed, stratify=stratify)
        return np.sort(fit), np.sort(val)


def _frame_to_numeric(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """DataFrame -> (float64 array, categorical mask): nominal/string/bool columns become codes."""
    columns, categorical = [], []
    for name in X.columns:
        col = X[name]
        if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col) \
                or pd.api.types.is_bool_dtype(col):
            codes = pd.Categorical(col).codes.astype(np.float64)
            codes[codes < 0] = np.nan
            columns.append(codes)
            categorical.append(True)
        else:
            columns.append(pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
            categorical.append(False)
    return np.column_stack(columns) if columns else np.empty((len(X), 0)), np.array(categorical, dtype=bool)


def _cache_root_and_reason(error: BaseException) -> tuple[Path, str]:
    """openml-python's cache root and ``error`` as one short line, for the messages below."""
    import openml

    short = str(error).splitlines()[0][:300] if str(error) else ""
    return Path(openml.config._root_cache_directory).expanduser(), f"{type(error).__name__}: {short}"


def _unavailable(task_id: int, error: BaseException) -> OpenMLUnavailableError:
    """The error for a task neither cached nor downloadable, with the advice for an offline machine."""
    import openml

    root, reason = _cache_root_and_reason(error)
    return OpenMLUnavailableError(
        f"OpenML task {task_id} is not in the local OpenML cache and could not be downloaded from "
        f"{openml.config.server} ({reason}). Cache directory: {root} "
        f"(this server's files go to {openml_server_cache_dir()}). To use the task offline, run "
        f"`hpo-gym fetch {task_id}` on a machine with internet (choose where it writes with "
        f"{ENV_CACHE}=<dir>), copy that directory here, and set {ENV_CACHE} to it.",
        task_id=task_id, server=str(openml.config.server), reason=reason)


def _server_unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the server could not be reached (the case for the "fill the cache elsewhere" advice), as
    opposed to a failure in the local cache itself (a folder another process was filling, a permission)."""
    import requests
    from openml.exceptions import OpenMLServerError

    return isinstance(error, (requests.exceptions.RequestException, ConnectionError, TimeoutError, socket.gaierror,
                              OpenMLServerError))


def _cache_message(task_id: int, error: BaseException) -> str:
    root, reason = _cache_root_and_reason(error)
    return (f"OpenML task {task_id}: reading or writing the local OpenML cache failed ({reason}). "
            f"Cache directory: {root}. If the task's cached files are damaged, remove its folder there "
            f"(.../tasks/{task_id}) and run again; the server was not the problem")


@contextlib.contextmanager
def _one_loader_at_a_time(root: str | os.PathLike, task_id: int):
    """Hold the OpenML cache's lock while a task is read or downloaded: openml-python's cache is not safe for two
    processes (two live envs of an async vector env filling an empty cache crashed in 2 of 3 runs, each removing the
    folder the other was writing). A cache this process cannot write (a shared read-only copy) is read unlocked."""
    holder = f"hpo-gym loading OpenML task {task_id}"
    with contextlib.ExitStack() as stack:
        try:
            try:
                stack.enter_context(directory_lock(root, holder))
            except DirectoryInUse as busy:  # say who is in the way, then wait for it (a download can take minutes)
                warnings.warn(f"waiting for the OpenML cache lock: {busy}", RuntimeWarning, stacklevel=4)
                stack.enter_context(directory_lock(root, holder, wait=True))
        except OSError:
            pass
        yield


#: What reading a damaged (e.g. truncated) cached OpenML file raises; openml-python then removes the task's cache
#: folder, so one retry downloads it again (and, offline, ends in the usual "fill the cache" advice).
DAMAGED_CACHE_ERRORS = (ExpatError, pickle.UnpicklingError, EOFError)


def fetch_openml_task(task_id: int, cache_dir: str | os.PathLike | None = None):
    """``openml.tasks.get_task`` with data, features and splits, from the cache or the server.

    Raises :class:`OpenMLUnavailableError` (one message: task, cache directory, how to fill it) when
    the task is neither cached nor downloadable, and ``ValueError`` when the server says the task
    does not exist.
    """
    import openml
    from openml.exceptions import OpenMLServerException

    configure_openml_cache(cache_dir)
    try:
        try:
            task = openml.tasks.get_task(int(task_id), download_splits=True, download_data=True,
                                         download_features_meta_data=True)
        except DAMAGED_CACHE_ERRORS:  # a truncated cached file: openml-python removed the task's folder; fetch anew
            task = openml.tasks.get_task(int(task_id), download_splits=True, download_data=True,
                                         download_features_meta_data=True)
    except OpenMLServerException as e:
        if getattr(e, "code", None) in (151, 152, 111):
            raise ValueError(f"OpenML has no task {task_id} ({openml.config.server} answered: {e.message}); "
                             "check the id on https://www.openml.org/search?type=task") from None
        raise _unavailable(task_id, e) from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # noqa: BLE001  (connection refused, DNS failure, timeouts, broken cache ...)
        if _server_unreachable(e):
            raise _unavailable(task_id, e) from None
        raise RuntimeError(_cache_message(task_id, e)) from e
    return task


def _read_dataset(task: Any, task_id: int) -> tuple[Any, pd.DataFrame, pd.Series]:
    """The task's dataset, its features and its target. openml-python parses the cached ARFF here, lazily: a truncated
    file (an interrupted download, a damaged copy of a fetched cache) ended in liac-arff's bare ``BadDataFormat``,
    which neither a retry nor the cache message caught (found in review). A damaged dataset folder is removed and
    downloaded once more; if that fails too, the error names the folder to remove."""
    import shutil

    import arff
    import openml

    damaged = (arff.ArffException, *DAMAGED_CACHE_ERRORS)
    for attempt in (1, 2):
        try:
            dataset = _dataset_or_offline(task, task_id)
            # openml annotates get_data with every dataset_format's types at once; the default "dataframe" with one
            # target gives a DataFrame and a Series
            X_df, y_series, _, _ = cast("tuple[pd.DataFrame, pd.Series, list[bool], list[str]]",
                                        dataset.get_data(target=task.target_name))
            return dataset, X_df, y_series
        except damaged as e:
            folder = openml.utils._get_cache_dir_for_id("datasets", int(task.dataset_id))  # openml's own layout
            if attempt == 2:
                raise RuntimeError(f"OpenML task {task_id}: its dataset's cached files are damaged "
                                   f"({type(e).__name__}: {e}) and a fresh download did not repair them; remove "
                                   f"{folder} and run again with openml.org reachable (or copy a good cache)") from e
            shutil.rmtree(folder, ignore_errors=True)  # openml-python downloads it again on the next get_dataset
    raise AssertionError("unreachable")


def _dataset_or_offline(task: Any, task_id: int) -> Any:
    """``task.get_dataset()``, with an unreachable server named as everywhere else (the download that follows a
    damaged dataset folder's removal failed offline with a bare ``ConnectionError``; found in review)."""
    try:
        return task.get_dataset()
    except Exception as e:  # noqa: BLE001
        if _server_unreachable(e):
            raise _unavailable(task_id, e) from None
        raise


@functools.lru_cache(maxsize=16)
def _load_task_cached(task_id: int, repeat: int, fold: int, root: str, server: str) -> TaskData:
    from openml.tasks import OpenMLClassificationTask

    with _one_loader_at_a_time(root, task_id):
        task = fetch_openml_task(task_id, root)  # the root load_task configured, not $HPO_GYM_OPENML_CACHE again
        if not isinstance(task, OpenMLClassificationTask):
            raise ValueError(f"OpenML task {task_id} is a {type(task).__name__}; the live backend supports "
                             "classification tasks (OpenML task type 1) only")
        dataset, X_df, y_series = _read_dataset(task, task_id)
    X, categorical = _frame_to_numeric(X_df)
    labels = [str(c) for c in (task.class_labels or sorted(pd.unique(y_series.astype(str))))]
    y = pd.Categorical(_label_strings(y_series, labels), categories=labels).codes.astype(np.int64)
    if (y < 0).any():
        raise ValueError(f"OpenML task {task_id}: {int((y < 0).sum())} rows have a missing or unknown class label")
    n_repeats, n_folds, _ = task.get_split_dimensions()
    if not (0 <= repeat < n_repeats and 0 <= fold < n_folds):
        raise ValueError(f"OpenML task {task_id} has {n_repeats} repeat(s) x {n_folds} fold(s); "
                         f"got repeat={repeat}, fold={fold}")
    train_idx, test_idx = task.get_train_test_split_indices(fold=fold, repeat=repeat)
    return TaskData(
        task_id=int(task_id), dataset_id=int(task.dataset_id), dataset_name=str(dataset.name), X=X, y=y,
        classes=tuple(labels), categorical=categorical, feature_names=tuple(map(str, X_df.columns)),
        train_idx=np.asarray(train_idx, dtype=np.int64), test_idx=np.asarray(test_idx, dtype=np.int64),
        repeat=repeat, fold=fold,
        extra={"estimation_procedure": task.estimation_procedure.get("type"), "n_repeats": n_repeats, "n_folds": n_folds},
    )


def _label_strings(y: pd.Series, labels: list[str]) -> pd.Series:
    """The target as the strings of the task's ``class_labels``. openml-python turns an ARFF ``{false,true}`` target
    into Python booleans, whose ``str`` is ``"False"``/``"True"``: matched to the labels case-insensitively."""
    text = y.astype(str)
    if set(text.dropna()) <= set(labels):
        return text
    by_lower = {label.lower(): label for label in labels}
    return text.map(lambda v: by_lower.get(v.lower(), v) if isinstance(v, str) else v)


def non_negative_whole(value: Any, name: str, upper: int | None = None) -> int:
    """``value`` as an int, refused with a ``ValueError`` naming ``name`` unless it is a whole number >= 0 (and <=
    ``upper``): ``int()`` ran repeat 0.5 as repeat 0 and split seed 1.7 as 1, and -1 surfaced as a library's error."""
    whole = whole_value(value)
    if whole is None or whole < 0 or (upper is not None and whole > upper):
        bound = f" and <= {upper}" if upper is not None else ""
        raise ValueError(f"{name}={value!r}: give a whole number >= 0{bound}")
    return whole


def load_task(task_id: int | str, repeat: int = 0, fold: int = 0, cache_dir: str | os.PathLike | None = None) -> TaskData:
    """Load an OpenML classification task as :class:`TaskData` (memoised per process)."""
    import openml

    task_id = whole_task_id(task_id)
    repeat, fold = non_negative_whole(repeat, "repeat"), non_negative_whole(fold, "fold")
    root = configure_openml_cache(cache_dir)
    return _load_task_cached(task_id, repeat, fold, str(root), openml.config.server)


def whole_task_id(task_id: Any) -> int:
    """``task_id`` as an int when it is a whole number >= 1 (or a string of digits), else a ValueError with an
    example: ``int()`` alone truncated 990001.9 to another task and gave its own error for ``None`` or a name, and an
    id OpenML cannot have reached the "not cached, go online" advice."""
    if isinstance(task_id, str):
        whole = int(task_id) if task_id.isascii() and task_id.isdigit() else None
    else:
        whole = whole_value(task_id)
    if whole is None or whole < 1:
        raise ValueError(f"OpenML task ids are whole numbers >= 1, got {task_id!r}, e.g. 167149")
    return whole


def fetch(task_ids: Iterable[int], cache_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Download tasks into the OpenML cache (what ``hpo-gym fetch`` does); returns one summary per task."""
    rows = []
    for tid in task_ids:
        data = load_task(tid, cache_dir=cache_dir)
        rows.append({"task_id": data.task_id, "dataset": data.dataset_name, "rows": len(data.y),
                     "features": data.X.shape[1], "categorical": int(data.categorical.sum()),
                     "classes": data.n_classes})
    return rows
