"""The six model families of the live backend: search spaces, fidelities, scikit-learn pipelines.

Spaces and full-fidelity settings follow HPOBench's ML benchmarks (automl/HPOBench,
``hpobench/benchmarks/ml/{lr,svm,rf,xgboost,histgb,nn}_benchmark.py``, ``get_configuration_space``,
``_get_fidelity_choices`` and ``init_model``), which the GRPOformer paper also uses:

======== ====================== ===========================================================================
name     estimator              hyperparameters (log = log scale)
======== ====================== ===========================================================================
lr       SGDClassifier(log_loss) alpha [1e-5, 1] log, eta0 [1e-5, 1] log
svm      SVC (RBF)              C [2^-10, 2^10] log, gamma [2^-10, 2^10] log
rf       RandomForestClassifier max_depth int [1, 50] log, min_samples_split int [2, 128] log,
                                max_features [0, 1] (-> round(n_features ** v), one-hot width), min_samples_leaf int [1, 20]
xgb      XGBClassifier          eta [2^-10, 1] log, max_depth int [1, 50] log, colsample_bytree [0.1, 1],
                                reg_lambda [2^-10, 2^10] log
histgb   HistGradientBoosting   max_depth int [6, 30] log, max_leaf_nodes int [2, 64] log,
                                learning_rate [2^-10, 1] log, l2_regularization [2^-10, 2^10] log
mlp      MLPClassifier (adam)   depth int [1, 3], width int [16, 1024] log, batch_size int [4, 256] log,
                                alpha [1e-8, 1] log, learning_rate_init [1e-5, 1] log
======== ====================== ===========================================================================

Fidelities: every family accepts ``subsample`` (fraction of the fit rows, (0, 1], default 1); the
iterative ones also take their natural budget, defaulting to HPOBench's full fidelity:
rf ``n_estimators`` 512, xgb ``n_estimators`` 2000, histgb ``n_estimators`` (its ``max_iter``) 1000,
lr ``iter`` 1000, mlp ``iter`` 243.

Each model is a ``Pipeline``: numeric columns are median-imputed (and standardised for lr, svm, mlp),
nominal columns (given as category codes) are mode-imputed and one-hot encoded. Every estimator
uses one thread (``n_jobs=1``): parallelism comes from the executors, one fit per core.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from hpo_gym.space import Float, Int, SearchSpace

HPOBENCH_SOURCE = "automl/HPOBench hpobench/benchmarks/ml/{}_benchmark.py"


@functools.cache
def module_version(name: str) -> str:
    """``name.__version__`` (the module is imported once; "missing" when it is not installed: its fits fail anyway)."""
    try:
        return str(getattr(importlib.import_module(name), "__version__", "unknown"))
    except ImportError:
        return "missing"


def fidelity_dict(fidelity: Any) -> dict[str, Any]:
    """``fidelity`` (None or a mapping of fidelity names to values) as a dict; anything else is a ``ValueError`` that
    names the form (``dict()`` of a float was a bare TypeError)."""
    if fidelity is not None and not isinstance(fidelity, Mapping):
        raise ValueError(f"fidelity must be a dict of fidelity names and values, e.g. {{'subsample': 0.5}}; got {fidelity!r}")
    return dict(fidelity or {})


@dataclass(frozen=True)
class ModelFamily:
    """A model family: its search space, its fidelities and how to build the estimator."""

    name: str
    title: str
    space: SearchSpace
    make_estimator: Callable[[dict[str, Any], dict[str, Any], int, int, int], Any]
    scale: bool
    fidelities: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    #: Whether the estimator has ``predict_proba`` (scorers such as ``neg_log_loss`` need it; HPOBench's SVC has not).
    probabilities: bool = True
    #: Modules whose code computes a score (the pipeline's scikit-learn and NumPy, and the estimator's own library):
    #: their versions are part of the evaluation cache's key (:meth:`library_versions`).
    libraries: tuple[str, ...] = ("sklearn", "numpy", "scipy")

    def library_versions(self) -> dict[str, str]:
        """``{module: version}`` of :attr:`libraries`. Why: a cached score is the score of the code that computed it;
        after an upgrade of scikit-learn (or XGBoost) the same configuration can score differently, and answering it
        from the cache would mix two libraries' numbers in one run. The versions are this process's: fits sent to a
        Ray cluster (``executor="ray"``) are filed under them, so its workers must run the same versions, as Ray
        expects of a cluster's environment anyway."""
        return {name: module_version(name) for name in self.libraries}

    def fidelity(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Full fidelity (HPOBench's defaults) updated with ``overrides``; rejects unknown names."""
        full = {"subsample": 1.0, **self.fidelities}
        for key, value in dict(overrides or {}).items():
            if key not in full:
                raise ValueError(f"model {self.name!r} has no fidelity {key!r}; valid: {sorted(full)}")
            full[key] = value
        sub = full["subsample"]
        if isinstance(sub, bool) or not isinstance(sub, (int, np.integer, float, np.floating)) or not 0.0 < sub <= 1.0:
            # True and the string "0.5" used to pass through float(), unlike the trees' and iterations' checks below
            raise ValueError(f"fidelity subsample must be a number in (0, 1], got {sub!r}")
        full["subsample"] = float(sub)
        for key in self.fidelities:  # iterations / trees: every fit would fail, so say it once, here
            value = full[key]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, np.floating)) \
                    or not float(value).is_integer() or value < 1:
                raise ValueError(f"fidelity {key} of model {self.name!r} must be a positive integer, got {value!r}")
            full[key] = int(value)
        return full

    def pipeline(self, config: Mapping[str, Any], fidelity: Mapping[str, Any], categorical: np.ndarray,
                 n_classes: int, seed: int, n_features: int | None = None, fit_classes: np.ndarray | None = None):
        """The scikit-learn Pipeline (preprocessing + estimator) for one configuration.

        ``n_features``: the width the estimator sees after one-hot encoding (:func:`encoded_width` of the training
        rows), which HPOBench's ``max_features`` mapping is defined on; default one column per feature.
        ``fit_classes``: the class indices the fit rows hold; when some of the task's ``n_classes`` are missing (a
        rare class), the estimator is built for the classes present and wrapped in :class:`PresentClassesClassifier`."""
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline, make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        cat_idx = np.flatnonzero(categorical)
        num_idx = np.flatnonzero(~np.asarray(categorical, dtype=bool))
        numeric = [SimpleImputer(strategy="median", keep_empty_features=True)]
        if self.scale:
            numeric.append(StandardScaler())
        parts = []
        if len(num_idx):
            parts.append(("num", make_pipeline(*numeric), num_idx))
        if len(cat_idx):
            # keep_empty_features: a categorical column with no value in the fit rows (a subsample can draw one) was
            # dropped, and with no other categorical column the encoder got 0 columns: every fit failed (review)
            parts.append(("cat", make_pipeline(SimpleImputer(strategy="most_frequent", keep_empty_features=True),
                                               OneHotEncoder(handle_unknown="ignore", sparse_output=False)), cat_idx))
        n_features = len(categorical) if n_features is None else int(n_features)
        present = np.arange(n_classes) if fit_classes is None else np.unique(np.asarray(fit_classes, dtype=np.int64))
        estimator = self.make_estimator(dict(config), dict(fidelity), n_features, len(present), seed)
        if len(present) < n_classes:
            estimator = PresentClassesClassifier(estimator, n_classes)
        return Pipeline([("preprocess", ColumnTransformer(parts)), ("model", estimator)])


class PresentClassesClassifier(ClassifierMixin, BaseEstimator):
    """Fits ``estimator`` on the classes its rows hold and answers for all ``n_classes`` classes of the task.

    Why: a rare class (one outer-train row, which the validation split may put on either side) can be absent from the
    fit rows. XGBoost then refuses the labels (it wants 0..k-1), and every estimator's ``predict_proba`` loses that
    class's column, so probability scorers such as ``neg_log_loss`` failed every fit of the task. Here the inner
    estimator sees its classes renumbered 0..k-1; predictions are mapped back, and absent classes get probability 0.
    It has no ``decision_function`` (no decision value exists for an absent class), so scorers use ``predict_proba``.
    """

    def __init__(self, estimator: Any, n_classes: int):
        self.estimator = estimator
        self.n_classes = n_classes

    def fit(self, X: Any, y: np.ndarray, **fit_params: Any) -> PresentClassesClassifier:
        y = np.asarray(y, dtype=np.int64)
        self.present_ = np.unique(y)
        self.classes_ = np.arange(self.n_classes)
        self.estimator_ = clone(self.estimator).fit(X, np.searchsorted(self.present_, y), **fit_params)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.present_[np.asarray(self.estimator_.predict(X), dtype=np.int64)]

    def predict_proba(self, X: Any) -> np.ndarray:
        inner = np.asarray(self.estimator_.predict_proba(X))
        proba = np.zeros((inner.shape[0], self.n_classes), dtype=inner.dtype)
        proba[:, self.present_] = inner
        return proba


def encoded_width(X: np.ndarray, categorical: np.ndarray) -> int:
    """Columns after the pipelines' preprocessing: one per numeric feature, one per category seen in ``X`` (missing
    values are imputed with the most frequent category, so they add none). HPOBench sizes the random forest's
    ``max_features`` on this width (``n_features = self.train_X.shape[1]`` after its one-hot encoding)."""
    categorical = np.asarray(categorical, dtype=bool)
    per_category = [max(1, len(np.unique(col[~np.isnan(col)]))) for col in np.asarray(X, dtype=np.float64)[:, categorical].T]
    return int((~categorical).sum() + sum(per_category))


def _lr(config, fidelity, n_features, n_classes, seed):
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(loss="log_loss", alpha=config["alpha"], eta0=config["eta0"], max_iter=int(fidelity["iter"]),
                         learning_rate="adaptive", tol=None, random_state=seed)


def _svm(config, fidelity, n_features, n_classes, seed):
    from sklearn.svm import SVC

    return SVC(C=config["C"], gamma=config["gamma"], random_state=seed, cache_size=200)


def _rf(config, fidelity, n_features, n_classes, seed):
    from sklearn.ensemble import RandomForestClassifier

    max_features = max(1, int(np.rint(np.power(n_features, config["max_features"]))))  # HPOBench's mapping
    return RandomForestClassifier(max_depth=int(config["max_depth"]), min_samples_split=int(config["min_samples_split"]),
                                  max_features=max_features, min_samples_leaf=int(config["min_samples_leaf"]),
                                  n_estimators=int(fidelity["n_estimators"]), bootstrap=True, n_jobs=1, random_state=seed)


def _xgb(config, fidelity, n_features, n_classes, seed):
    try:
        import xgboost as xgb
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("model 'xgb' needs the xgboost package: pip install 'hpo-gym[xgboost]' (xgboost-cpu)") from e
    objective = "binary:logistic" if n_classes <= 2 else "multi:softprob"
    return xgb.XGBClassifier(learning_rate=config["eta"], max_depth=int(config["max_depth"]),
                             colsample_bytree=config["colsample_bytree"], reg_lambda=config["reg_lambda"],
                             n_estimators=int(fidelity["n_estimators"]), booster="gbtree", objective=objective,
                             subsample=1.0, tree_method="hist", n_jobs=1, random_state=seed, verbosity=0)


def _histgb(config, fidelity, n_features, n_classes, seed):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_depth=int(config["max_depth"]), max_leaf_nodes=int(config["max_leaf_nodes"]),
                                          learning_rate=config["learning_rate"], l2_regularization=config["l2_regularization"],
                                          max_iter=int(fidelity["n_estimators"]), early_stopping=False, random_state=seed)


def _mlp(config, fidelity, n_features, n_classes, seed):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=[int(config["width"])] * int(config["depth"]), activation="relu", solver="adam",
                         batch_size=int(config["batch_size"]), alpha=config["alpha"],
                         learning_rate_init=config["learning_rate_init"], max_iter=int(fidelity["iter"]), random_state=seed)


MODELS: dict[str, ModelFamily] = {m.name: m for m in [
    ModelFamily("lr", "logistic regression (SGD)", SearchSpace([
        Float("alpha", 1e-5, 1.0, log=True), Float("eta0", 1e-5, 1.0, log=True)]),
        _lr, scale=True, fidelities={"iter": 1000}, source=HPOBENCH_SOURCE.format("lr")),
    ModelFamily("svm", "support vector machine (RBF)", SearchSpace([
        Float("C", 2**-10, 2**10, log=True), Float("gamma", 2**-10, 2**10, log=True)]),
        _svm, scale=True, source=HPOBENCH_SOURCE.format("svm"), probabilities=False),
    ModelFamily("rf", "random forest", SearchSpace([
        Int("max_depth", 1, 50, log=True), Int("min_samples_split", 2, 128, log=True),
        Float("max_features", 0.0, 1.0), Int("min_samples_leaf", 1, 20)]),
        _rf, scale=False, fidelities={"n_estimators": 512}, source=HPOBENCH_SOURCE.format("rf")),
    ModelFamily("xgb", "XGBoost", SearchSpace([
        Float("eta", 2**-10, 1.0, log=True), Int("max_depth", 1, 50, log=True),
        Float("colsample_bytree", 0.1, 1.0), Float("reg_lambda", 2**-10, 2**10, log=True)]),
        _xgb, scale=False, fidelities={"n_estimators": 2000}, source=HPOBENCH_SOURCE.format("xgboost"),
        libraries=("sklearn", "numpy", "scipy", "xgboost")),
    ModelFamily("histgb", "histogram gradient boosting", SearchSpace([
        Int("max_depth", 6, 30, log=True), Int("max_leaf_nodes", 2, 64, log=True),
        Float("learning_rate", 2**-10, 1.0, log=True), Float("l2_regularization", 2**-10, 2**10, log=True)]),
        _histgb, scale=False, fidelities={"n_estimators": 1000}, source=HPOBENCH_SOURCE.format("histgb")),
    ModelFamily("mlp", "multi-layer perceptron (adam)", SearchSpace([
        Int("depth", 1, 3), Int("width", 16, 1024, log=True), Int("batch_size", 4, 256, log=True),
        Float("alpha", 1e-8, 1.0, log=True), Float("learning_rate_init", 1e-5, 1.0, log=True)]),
        _mlp, scale=True, fidelities={"iter": 243}, source=HPOBENCH_SOURCE.format("nn")),
]}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)
#: Other spellings users type, mapped to our names.
ALIASES = {"logreg": "lr", "logistic": "lr", "random_forest": "rf", "xgboost": "xgb", "hgb": "histgb",
           "histgradientboosting": "histgb", "nn": "mlp"}


def get_model(name: str) -> ModelFamily:
    """The model family called ``name`` (or a common alias), with an error listing the valid names."""
    key = ALIASES.get(str(name).lower(), str(name).lower())
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; the live backend has {list(MODEL_NAMES)} "
                         f"({', '.join(f'{m.name}: {m.title}' for m in MODELS.values())})")
    return MODELS[key]
