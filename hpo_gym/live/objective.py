"""``LiveObjective``: an OpenML task + a model family, really trained for every configuration.

The validation score of a configuration is the metric (accuracy by default, any scikit-learn scorer
name) of the model fitted on the outer-train rows minus a validation part, measured on that
validation part (see :mod:`hpo_gym.live.data`). :meth:`LiveObjective.test_score` refits on all
outer-train rows and scores the outer-test rows, for final reporting only; it is never a reward.

A fit that raises, exceeds ``time_limit`` or kills its worker becomes
:func:`hpo_gym.objective.failure`: the metric's worst score, the reason in ``info["error"]``.
Warnings raised during fitting are counted (``info["n_warnings"]``, first one in
``info["warning"]``) instead of printed, so a ConvergenceWarning per step does not flood a run.
"""

from __future__ import annotations

import difflib
import math
import os
import sqlite3
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hpo_gym.objective import whole_value
from hpo_gym.executors import Executor, Outcome, checked_time_limit, get_executor
from hpo_gym.live.cache import DamagedRecord, EvaluationCache, canonical, evaluation_key
from hpo_gym.live.data import TaskData, load_task, non_negative_whole
from hpo_gym.live.models import ModelFamily, encoded_width, fidelity_dict, get_model
from hpo_gym.objective import Evaluation, EvaluationBatch, Oracle, as_config_list, failure, per_config_seeds
from hpo_gym.space import Config, SearchSpace

#: Worst value of common scikit-learn scorers (what a failed fit scores). Others need ``worst_score=``.
WORST_SCORES: dict[str, float] = {
    "accuracy": 0.0, "balanced_accuracy": 0.0, "top_k_accuracy": 0.0, "average_precision": 0.0,
    "f1": 0.0, "f1_micro": 0.0, "f1_macro": 0.0, "f1_weighted": 0.0,
    "precision": 0.0, "precision_micro": 0.0, "precision_macro": 0.0, "precision_weighted": 0.0,
    "recall": 0.0, "recall_micro": 0.0, "recall_macro": 0.0, "recall_weighted": 0.0,
    "jaccard": 0.0, "jaccard_micro": 0.0, "jaccard_macro": 0.0, "jaccard_weighted": 0.0,
    "roc_auc": 0.0, "roc_auc_ovr": 0.0, "roc_auc_ovo": 0.0, "roc_auc_ovr_weighted": 0.0, "roc_auc_ovo_weighted": 0.0,
    "matthews_corrcoef": -1.0,
    "neg_log_loss": -float(-np.log(np.finfo(np.float64).eps)),  # log loss of probability eps on the true class
    "neg_brier_score": -1.0,  # binary only (BINARY_ONLY_METRICS): a probability of 0 on the true class scores -1
}
#: Scorers defined for two classes only, and what to use on a multiclass task instead. Caught when the task is
#: loaded: otherwise every fit of a multiclass task would score the worst value with sklearn's error in ``info``.
BINARY_ONLY_METRICS: dict[str, str] = {
    "roc_auc": "roc_auc_ovr", "average_precision": "balanced_accuracy", "f1": "f1_macro",
    "precision": "precision_macro", "recall": "recall_macro", "jaccard": "jaccard_macro", "neg_brier_score": "neg_log_loss",
    "positive_likelihood_ratio": "balanced_accuracy", "neg_negative_likelihood_ratio": "balanced_accuracy",
}
#: Scorers that read ``predict_proba``: a family without it (``svm``) would fail every fit with them.
PROBABILITY_METRICS = ("neg_log_loss", "neg_brier_score", "roc_auc_ovr", "roc_auc_ovo", "roc_auc_ovr_weighted",
                       "roc_auc_ovo_weighted", "d2_log_loss_score", "d2_brier_score")
#: Scorers that need the task's class list: without it they fail when the scored rows lack a (rare) class, since
#: they line ``predict_proba``'s columns up with the classes found in ``y_true``. Their functions take ``labels=``.
LABELED_METRICS = ("neg_log_loss", "roc_auc_ovr", "roc_auc_ovo", "roc_auc_ovr_weighted", "roc_auc_ovo_weighted",
                   "top_k_accuracy", "d2_log_loss_score", "d2_brier_score")
#: Scorers that average a per-class value over every class, undefined (NaN) for a class the validation rows lack.
EVERY_CLASS_METRICS = {"roc_auc": "accuracy or balanced_accuracy", "roc_auc_ovr": "roc_auc_ovr_weighted or roc_auc_ovo"}
DEFAULT_TIME_LIMIT = 300.0
#: Scorer names an unknown-metric message offers (sklearn's full list is mostly regression and clustering scorers).
CLASSIFICATION_EXAMPLES = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "roc_auc_ovr", "neg_log_loss",
                           "matthews_corrcoef")

_SHARED_EXECUTORS: dict[tuple, Executor] = {}


def shared_executor(spec: str | Executor | None, options: Mapping[str, Any] | None = None) -> Executor:
    """One executor per (name, options) for the whole process, so 36 live tasks share 2 workers."""
    if isinstance(spec, Executor):
        return spec
    key = (os.getpid(), spec or "serial", repr(sorted((options or {}).items())))  # a forked child gets its own
    if key not in _SHARED_EXECUTORS:
        _SHARED_EXECUTORS[key] = get_executor(spec, **dict(options or {}))
    return _SHARED_EXECUTORS[key]


def _subsample(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Row indices of a stratified ``fraction`` of ``y`` (plain random when a class is too small), holding at least
    one row of every class: a tiny fraction must stay the task's classification problem, or some families fail
    to fit ("one class") while others score, and the low fidelity compares nothing."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    n = max(2, int(round(fraction * len(y))))
    if n >= len(y):
        return idx
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 and n >= len(counts[counts > 0]) else None
    try:
        chosen, _ = train_test_split(idx, train_size=n, random_state=seed, stratify=stratify)
    except ValueError:
        chosen, _ = train_test_split(idx, train_size=n, random_state=seed)
    missing = np.setdiff1d(np.flatnonzero(counts), y[chosen])
    if len(missing):
        rng = np.random.default_rng(seed)
        chosen = np.concatenate([chosen, [rng.choice(np.flatnonzero(y == c)) for c in missing]])
    return np.sort(chosen)


#: The largest seed of a fit: scikit-learn's ``random_state`` takes a 32-bit unsigned integer.
MAX_SEED = 2**32 - 1


def fit_seed(seed: Any) -> int:
    """``seed`` as the int a fit gets, refused unless it is a whole number in [0, 2**32 - 1]: scikit-learn refused -1
    or 2**40 inside the fit (a failed result, cached as the configuration's own), and 2.5 ran as seed 2 but was
    cached under 2.5."""
    whole = whole_value(seed)
    if whole is None or not 0 <= whole <= MAX_SEED:
        raise ValueError(f"seed {seed!r}: a fit's seed is a whole number in [0, 2**32 - 1] (or None for the default 0)")
    return whole


def is_classification_scorer(metric: str) -> bool:
    """False for scikit-learn's regression and clustering scorers (``r2``, ``neg_mean_squared_error``,
    ``adjusted_rand_score``, ...), told by the module of the scorer's function: they run on class labels without an
    error, so a typo'd or copied metric name gave scores that mean nothing."""
    from sklearn.metrics import get_scorer

    module = getattr(getattr(get_scorer(metric), "_score_func", None), "__module__", "") or ""
    return not module.startswith(("sklearn.metrics._regression", "sklearn.metrics.cluster"))


def score_fitted(metric: str, fitted: Any, X: np.ndarray, y: np.ndarray, n_classes: int) -> float:
    """``metric``'s scikit-learn scorer on (X, y), told the task's classes where it needs them (:data:`LABELED_METRICS`,
    through sklearn's metadata routing, its public way to pass ``labels=`` to a scorer)."""
    from sklearn import config_context
    from sklearn.metrics import get_scorer

    scorer = get_scorer(metric)
    if metric not in LABELED_METRICS:
        return float(scorer(fitted, X, y))
    with config_context(enable_metadata_routing=True):
        return float(scorer.set_score_request(labels=True)(fitted, X, y, labels=np.arange(n_classes)))


def fit_and_score(shared: Mapping[str, Any], job: Mapping[str, Any]) -> dict[str, Any]:
    """Train one configuration and score it; runs in an executor's worker (module-level: picklable)."""
    from threadpoolctl import threadpool_limits

    family = get_model(job["model"])
    X, y = shared["X_fit"], shared["y_fit"]
    seed = int(job["seed"])
    fidelity = job["fidelity"]
    if fidelity["subsample"] < 1.0:
        rows = _subsample(y, fidelity["subsample"], seed)
        X, y = X[rows], y[rows]
    pipeline = family.pipeline(job["config"], fidelity, shared["categorical"], shared["n_classes"], seed,
                               shared["n_features"], fit_classes=y)
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(limits=job.get("threads", 1)):
        warnings.simplefilter("always")
        start = time.perf_counter()
        pipeline.fit(X, y)
        fit_seconds = time.perf_counter() - start
        value = score_fitted(job["metric"], pipeline, shared["X_eval"], shared["y_eval"], shared["n_classes"])
    if not math.isfinite(value):
        raise ValueError(f"the {job['metric']} score is {value}")
    result: dict[str, Any] = {"score": value, "fit_seconds": fit_seconds, "n_warnings": len(caught)}
    if caught:
        first = caught[0]
        result["warning"] = f"{first.category.__name__}: {str(first.message)[:200]}"
    return result


def check_metric(metric: Any, worst_score: float | None = None) -> tuple[str, float]:
    """The scorer name (``"accuracy"`` for None) and the score a failed fit gets, or a ``ValueError`` naming the fix:
    what can be checked without the task's data, so ``gym.make(backend="live")`` refuses a misspelled, regression or
    ``_samples`` metric at make, not at the first reset (found in review)."""
    from sklearn.metrics import get_scorer, get_scorer_names

    if metric is not None and not isinstance(metric, str):  # a make_scorer(...) object failed at .endswith
        raise ValueError(f"metric={metric!r}: give a scikit-learn scorer *name* (a str), e.g. "
                         f"{', '.join(CLASSIFICATION_EXAMPLES)}; scorer objects are not supported, since the "
                         "evaluation cache and the failed-fit score are keyed by the name")
    name = metric or "accuracy"
    try:
        get_scorer(name)
    except ValueError:
        close = difflib.get_close_matches(name, get_scorer_names(), n=3)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        raise ValueError(f"unknown metric {name!r}; {hint}use a scikit-learn scorer name for classification, "
                         f"e.g. {', '.join(CLASSIFICATION_EXAMPLES)} (sklearn.metrics.get_scorer_names() lists all)"
                         ) from None
    if not is_classification_scorer(name):
        raise ValueError(f"metric {name!r} is a regression or clustering scorer, and the live backend trains "
                         f"classifiers (its score of class labels would mean nothing); use a classification scorer, "
                         f"e.g. {', '.join(CLASSIFICATION_EXAMPLES)}")
    if name.endswith("_samples"):  # average="samples" needs multilabel targets: every fit failed
        raise ValueError(f"metric {name!r} averages over the labels of each row, which needs multilabel "
                         "targets, and OpenML classification tasks have one label per row; use "
                         f"{name.removesuffix('_samples')}_macro or _weighted, or accuracy")
    if worst_score is None:
        if name not in WORST_SCORES:
            raise ValueError(f"metric {name!r} has no known worst score; pass worst_score=<float> "
                             "(the score a failed fit gets) in backend_options (hpo-gym live: --worst-score)")
        worst_score = WORST_SCORES[name]
    if not np.isfinite(float(worst_score)):  # a failed fit's score would then fail the env's finiteness check
        raise ValueError(f"worst_score={worst_score}: the score a failed fit gets must be a finite number (e.g. 0.0 "
                         "for accuracy, or a large negative error for a minimized metric)")
    return name, float(worst_score)


class LiveObjective:
    """An :class:`~hpo_gym.objective.Objective` that trains ``model`` on OpenML task ``task_id``.

    Args:
        task_id: OpenML task id (a supervised classification task).
        model: model family: ``lr``, ``svm``, ``rf``, ``xgb``, ``histgb`` or ``mlp``
            (see :mod:`hpo_gym.live.models` for spaces and fidelities).
        metric: scikit-learn scorer name (``accuracy`` default; ``balanced_accuracy``, ``f1_macro``,
            ``roc_auc``, ``neg_log_loss``, ...). Scores are higher-is-better, as sklearn's scorers are.
        fidelity: overrides of the model's full fidelity, e.g. ``{"subsample": 0.25, "n_estimators": 64}``.
        repeat, fold: which of the task's outer splits to use (default 0, 0).
        val_fraction, split_seed: size and seed of the stratified validation split (default 0.33, 0).
        time_limit: seconds per fit before it is killed and scored as a failure (default 300;
            not enforceable with ``executor="inline"``).
        executor: ``"serial"`` (default), ``"process"``, ``"ray"``, ``"inline"`` or an
            :class:`~hpo_gym.executors.Executor`; ``executor_options`` go to it (``n_workers``,
            ``address``, ``num_cpus``). Named executors are shared by all live objectives of a process.
        cache: keep evaluations in the on-disk cache (default True); ``cache_dir`` picks its folder.
        openml_cache_dir: where openml-python caches downloads (else ``$HPO_GYM_OPENML_CACHE``,
            else openml's own setting).
        worst_score: score of a failed fit; needed only for scorers not in :data:`WORST_SCORES`.
        data: a ready :class:`~hpo_gym.live.data.TaskData` instead of downloading ``task_id``.
    """

    def __init__(
        self,
        task_id: int,
        model: str = "rf",
        metric: str = "accuracy",
        *,
        fidelity: Mapping[str, Any] | None = None,
        repeat: int = 0,
        fold: int = 0,
        val_fraction: float = 0.33,
        split_seed: int = 0,
        time_limit: float | None = DEFAULT_TIME_LIMIT,
        executor: str | Executor | None = "serial",
        executor_options: Mapping[str, Any] | None = None,
        cache: bool = True,
        cache_dir: str | os.PathLike | None = None,
        openml_cache_dir: str | os.PathLike | None = None,
        worst_score: float | None = None,
        data: TaskData | None = None,
    ):
        self.family: ModelFamily = get_model(model)
        self.metric, worst_score = check_metric(metric, worst_score)
        self.worst_score = float(worst_score)
        self.fidelity_overrides = fidelity_dict(fidelity)
        self.default_fidelity = self.family.fidelity(self.fidelity_overrides)  # validates the overrides
        if self.metric in PROBABILITY_METRICS and not self.family.probabilities:
            raise ValueError(f"metric {self.metric!r} needs predicted probabilities, which model {self.family.name!r} "
                             f"({self.family.title}) does not give; use a scorer on its decisions (accuracy, "
                             "balanced_accuracy, f1_macro, or roc_auc on a two-class task) or another model")
        self.data = data if data is not None else load_task(task_id, repeat, fold, openml_cache_dir)
        self.task_id = int(self.data.task_id)
        if self.metric.startswith("top_k_accuracy") and self.data.n_classes <= 2:  # sklearn's k=2 scores 1.0 always
            raise ValueError(f"metric {self.metric!r} scores every configuration 1.0 on OpenML task {self.task_id} "
                             f"({self.data.n_classes} classes: k=2 covers them all); use 'accuracy' or 'roc_auc'")
        if self.metric in BINARY_ONLY_METRICS and self.data.n_classes > 2:
            raise ValueError(f"metric {self.metric!r} is scored on two-class tasks only here (its failed-fit score, its "
                             f"class handling, or scikit-learn itself assume two classes), and OpenML task {self.task_id} "
                             f"({self.data.dataset_name}) has {self.data.n_classes}; use "
                             f"{BINARY_ONLY_METRICS[self.metric]!r} (or another multiclass scorer)")
        self.val_fraction, self.split_seed = float(val_fraction), non_negative_whole(split_seed, "split_seed", MAX_SEED)
        self.fit_idx, self.val_idx = self.data.validation_split(self.val_fraction, self.split_seed)
        self._check_metric_defined_on_validation_rows()
        self.time_limit = checked_time_limit(time_limit)
        self.executor = shared_executor(executor, executor_options)
        # how to reopen both in a copy (__setstate__): a named executor is the process's shared one; a given one is
        # shared by a deep copy (Executor.__deepcopy__) and pickled without its workers (a RayExecutor as its settings,
        # rejoining Ray where it is unpickled)
        self._executor_spec = None if isinstance(executor, Executor) else (executor, dict(executor_options or {}))
        self.cache = EvaluationCache(cache_dir) if cache else None
        self.name = f"{self.task_id}-{self.family.name}"
        self.space: SearchSpace = self.family.space
        self._shared: dict[str, dict[str, Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        """A copy (``pickle``, ``copy.deepcopy``: an RL library's evaluation env, a checkpointed env) leaves out the
        worker processes of a named executor and the cache's SQLite connection, which cannot travel; copying them
        failed, and the half-copied worker pipe closed the original env's pipe when it was collected.
        :meth:`__setstate__` reopens both from their settings."""
        state = self.__dict__.copy()
        if self._executor_spec is not None:
            state["executor"] = None
        state["cache"] = None
        state["_cache_directory"] = self.cache.directory if self.cache is not None else None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        directory = state.pop("_cache_directory", None)
        state.setdefault("_executor_spec", None)  # pickled by an older hpo-gym: the executor travelled in the state
        self.__dict__.update(state)
        if self._executor_spec is not None:
            self.executor = shared_executor(*self._executor_spec)
        self.cache = EvaluationCache(directory) if directory is not None else None

    def _classes_absent_from(self, rows: np.ndarray) -> str | None:
        """The task's classes with no row among ``rows``, named for a message; None when every class has one."""
        missing = sorted(set(range(self.data.n_classes)) - set(self.data.y[rows].tolist()))
        return ", ".join(repr(self.data.classes[c]) for c in missing) or None

    def _check_metric_defined_on_validation_rows(self) -> None:
        """A macro ROC AUC needs every class among the validation rows; otherwise each fit would score NaN, a failure."""
        names = self._classes_absent_from(self.val_idx) if self.metric in EVERY_CLASS_METRICS else None
        if names:
            raise ValueError(f"metric {self.metric!r} is undefined on OpenML task {self.task_id}'s validation rows: they "
                             f"hold no row of class {names} (too rare in the outer-train rows); use "
                             f"{EVERY_CLASS_METRICS[self.metric]}, or another val_fraction or split_seed")
        ranked_by_decisions = self.metric.startswith("top_k_accuracy") and not self.family.probabilities
        names = self._classes_absent_from(self.fit_idx) if ranked_by_decisions else None
        if names:
            # a model without probabilities is ranked by decision values, and a class absent from the fit rows has none:
            # every fit failed ("This 'SVC' has no attribute 'predict_proba'")
            raise ValueError(f"metric {self.metric!r} ranks classes by {self.family.name!r}'s decision values, and OpenML "
                             f"task {self.task_id}'s fit rows hold no row of class {names}, which then has none; use "
                             "accuracy or balanced_accuracy, a model with probabilities, or another val_fraction or "
                             "split_seed")

    # -- Objective protocol ---------------------------------------------------------------------
    @property
    def oracle(self) -> Oracle | None:
        """Unknown for live training (None): regret needs the best score, which only a table knows."""
        return None

    @property
    def metadata(self) -> dict[str, Any]:
        d = self.data
        return {
            "task": self.name, "backend": "live", "openml_task_id": self.task_id, "dataset_id": d.dataset_id,
            "dataset": d.dataset_name, "model": self.family.name, "metric": self.metric, "direction": "maximize",
            "n_rows": int(len(d.y)), "n_features": int(d.X.shape[1]), "n_categorical": int(d.categorical.sum()),
            "n_classes": d.n_classes, "repeat": d.repeat, "fold": d.fold, "n_fit": int(len(self.fit_idx)),
            "n_validation": int(len(self.val_idx)), "n_test": int(len(d.test_idx)), "val_fraction": self.val_fraction,
            # which rows validate, and the data itself: a benchmark directory records the metadata of a user's
            # objective, and a rerun with another split must not be resumed onto runs scored on other rows
            "split_seed": self.split_seed, "data_fingerprint": d.fingerprint, "fidelity": dict(self.default_fidelity),
            "time_limit": self.time_limit, "worst_score": self.worst_score, "source": self.family.source,
        }

    def evaluate(self, config: Mapping[str, Any], seed: int | None = None,
                 fidelity: Mapping[str, Any] | None = None) -> Evaluation:
        """Validation score of one configuration (``seed=None``: the model's random state 0)."""
        return self.evaluate_batch([config], [seed], fidelity)[0]

    def evaluate_batch(self, configs: Sequence[Mapping[str, Any]] | np.ndarray, seeds: Sequence[int | None] | None = None,
                       fidelity: Mapping[str, Any] | None = None) -> EvaluationBatch:
        """Validation scores of a batch, trained in parallel by the executor (cached ones are not retrained)."""
        return self._run(configs, seeds, fidelity, split="validation")

    def test_score(self, config: Mapping[str, Any], seed: int | None = None,
                   fidelity: Mapping[str, Any] | None = None) -> Evaluation:
        """Outer-test score of ``config`` refitted on all outer-train rows: for final reporting, never a reward.

        The objective's other fidelities (trees, iterations) apply as set; its ``subsample`` does not, unless
        ``fidelity`` names one: a run searched on 10 % of the rows reported a test score of a model fitted on 10 % of
        them (0.87 against 0.98 on digits), where the final model is the one refitted on all of them."""
        names = self._classes_absent_from(self.data.test_idx) if self.metric in EVERY_CLASS_METRICS else None
        if names:  # the score would be NaN, recorded as a failed fit
            raise ValueError(f"metric {self.metric!r} is undefined on OpenML task {self.task_id}'s outer-test rows: they "
                             f"hold no row of class {names}; report the test score with another objective made with "
                             f"metric={EVERY_CLASS_METRICS[self.metric].split(' ')[0]}, or use another fold")
        rows = {"subsample": 1.0, **fidelity_dict(fidelity)}
        return self._run([config], [seed], rows, split="test")[0]

    # -- internals ------------------------------------------------------------------------------
    def _shared_arrays(self, split: str) -> tuple[str, dict[str, Any]]:
        d = self.data
        # the data's content, not id(d): a collected TaskData's id is reused by the next one, and workers that already
        # held the old arrays under that key scored the new data's configurations on them, without an error
        key = f"{self.task_id}:{d.repeat}:{d.fold}:{self.val_fraction}:{self.split_seed}:{split}:{d.fingerprint}"
        if split not in self._shared:
            fit, ev = (self.fit_idx, self.val_idx) if split == "validation" else (d.train_idx, d.test_idx)
            self._shared[split] = {"X_fit": d.X[fit], "y_fit": d.y[fit], "X_eval": d.X[ev], "y_eval": d.y[ev],
                                   "categorical": d.categorical, "n_classes": d.n_classes,
                                   # the full fit rows' width, also under a subsample fidelity, as HPOBench encodes first
                                   "n_features": encoded_width(d.X[fit], d.categorical)}
        return key, self._shared[split]

    def _run(self, configs, seeds, fidelity, split: str) -> EvaluationBatch:
        # checked in range, each value as the space holds it (max_depth=10.0 is 10, C=1 is 1.0): one cache entry, one fit
        configs = [self.space.canonical(c) for c in as_config_list(self.space, configs)]
        seeds = [None if s is None else fit_seed(s) for s in per_config_seeds(seeds, len(configs))]
        fid = self.family.fidelity({**self.fidelity_overrides, **fidelity_dict(fidelity)})
        d = self.data
        evaluations: list[Evaluation | None] = [None] * len(configs)
        keys, todo = [], []
        libraries = self.family.library_versions()  # one lookup per batch, not per configuration
        for i, (config, seed) in enumerate(zip(configs, seeds)):
            # seed 0 is the fit seed=None gets: one cache entry for both (hpo-gym live's default --seed 0 reuses the
            # env's noise-free fits)
            key = evaluation_key(task=self.task_id, model=self.family.name, config=config, seed=seed or None,
                                 fidelity=fid, metric=self.metric, repeat=d.repeat, fold=d.fold,
                                 # the test fit uses all outer-train rows: the validation split does not change it
                                 val_fraction=self.val_fraction if split == "validation" else None,
                                 split_seed=self.split_seed if split == "validation" else None, split=split,
                                 dataset=d.dataset_id, n_rows=len(d.y),
                                 data=d.fingerprint, libraries=libraries)
            keys.append(key)
            record = self._cache_get(key)
            if record is not None and self.time_limit is not None and float(record.get("cost", 0.0)) > self.time_limit:
                record = None  # that fit ran past this run's limit: fitting again under it decides, as without the cache
            if record is not None:
                evaluations[i] = self._to_evaluation(record, config, seed, fid, split, cached=True)
            else:
                todo.append(i)
        twins: dict[int, list[int]] = {}  # one fit per key: a batch that repeats a configuration and seed trained each
        first_of: dict[str, int] = {}
        for i in todo:
            if keys[i] in first_of:
                twins[first_of[keys[i]]].append(i)
            else:
                first_of[keys[i]], twins[i] = i, []
        todo = list(first_of.values())
        if todo:
            jobs = [{"model": self.family.name, "config": configs[i], "fidelity": fid, "metric": self.metric,
                     "seed": 0 if seeds[i] is None else int(seeds[i])} for i in todo]

            def finished(j: int, outcome: Outcome) -> None:  # cached as it arrives: a Ctrl-C keeps the finished fits
                i = todo[j]
                record = canonical(self._record(outcome))  # same rounding as a cache hit: repeat runs match exactly
                if not outcome.transient:  # a timeout or a dead worker says nothing lasting about the configuration
                    self._cache_put(keys[i], record)
                evaluations[i] = self._to_evaluation(record, configs[i], seeds[i], fid, split, cached=False)
                for t in twins[i]:  # answered by this fit, as the cache would answer them
                    evaluations[t] = self._to_evaluation(record, configs[t], seeds[t], fid, split,
                                                         cached=not outcome.transient)

            outcomes = self.executor.run(fit_and_score, jobs, shared=self._shared_arrays(split),
                                         time_limit=self.time_limit, on_outcome=finished)
            for j, outcome in enumerate(outcomes):  # an executor of your own may return them without the callback
                if evaluations[todo[j]] is None:
                    finished(j, outcome)
        return EvaluationBatch.from_evaluations(evaluations)  # type: ignore[arg-type]

    def _cache_get(self, key: str) -> dict[str, Any] | None:
        if self.cache is None:
            return None
        try:
            return self.cache.get(key)
        except sqlite3.Error as e:  # a cache problem must not end an HPO run: retrain instead
            warnings.warn(f"evaluation cache {self.cache.path} unreadable ({e}); training instead", RuntimeWarning, stacklevel=3)
            return None
        except DamagedRecord as e:  # the new fit's record replaces it (INSERT OR REPLACE)
            warnings.warn(f"{e}; training instead, and the new result replaces it (delete the file, or pass "
                          "cache=False, if many are)", RuntimeWarning, stacklevel=3)
            return None

    def _cache_put(self, key: str, record: Mapping[str, Any]) -> None:
        if self.cache is None:
            return
        try:
            self.cache.put(key, record)
        except sqlite3.Error as e:
            warnings.warn(f"evaluation cache {self.cache.path} not updated ({e})", RuntimeWarning, stacklevel=3)

    @staticmethod
    def _record(outcome: Outcome) -> dict[str, Any]:
        if outcome.ok:
            return {**outcome.value, "cost": outcome.seconds}
        return {"error": outcome.error, "cost": outcome.seconds}

    def _to_evaluation(self, record: Mapping[str, Any], config: Config, seed: int | None, fid: Mapping[str, Any],
                       split: str, cached: bool) -> Evaluation:
        info = {"task": self.name, "openml_task_id": self.task_id, "model": self.family.name, "metric": self.metric,
                "split": split, "seed": seed, "fidelity": dict(fid), "cached": cached}
        if "error" in record:
            return failure(str(record["error"]), self.worst_score, float(record.get("cost", 0.0)), **info)
        info.update({k: record[k] for k in ("fit_seconds", "n_warnings", "warning") if k in record})
        info["raw_score"] = float(record["score"])
        return Evaluation(float(record["score"]), float(record.get("cost", 0.0)), info)

    def __repr__(self) -> str:
        return f"LiveObjective(task={self.task_id}, model={self.family.name!r}, metric={self.metric!r})"
