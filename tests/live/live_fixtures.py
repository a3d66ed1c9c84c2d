"""Constants and helpers shared by the live-backend tests (task ids served by the test server, small fidelities, a
private openml-python configuration)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openml
from openml_server import OpenMLTestServer

from hpo_gym.live.data import ENV_CACHE, _load_task_cached

#: OpenML task ids of the test server (see data/make_data.py).
IRIS, WINE, BREAST_CANCER, DIGITS = 990001, 990002, 990003, 990004
#: breast_cancer with its classes named false/true (an ARFF boolean target, as kc1's)
BREAST_CANCER_FALSE_TRUE = 990005

#: Low fidelities that keep every model family's fit well under a second on the small datasets.
SMALL = {"rf": {"n_estimators": 16}, "xgb": {"n_estimators": 20}, "histgb": {"n_estimators": 20},
         "lr": {"iter": 50}, "mlp": {"iter": 50}, "svm": {}}
#: HPOBench's default configuration of each family (its ConfigSpace default_value's).
DEFAULTS = {
    "lr": {"alpha": 1e-3, "eta0": 1e-2},
    "svm": {"C": 1.0, "gamma": 0.1},
    "rf": {"max_depth": 10, "min_samples_split": 32, "max_features": 0.5, "min_samples_leaf": 1},
    "xgb": {"eta": 0.3, "max_depth": 10, "colsample_bytree": 1.0, "reg_lambda": 1.0},
    "histgb": {"max_depth": 6, "max_leaf_nodes": 32, "learning_rate": 0.1, "l2_regularization": 0.1},
    "mlp": {"depth": 3, "width": 64, "batch_size": 32, "alpha": 1e-3, "learning_rate_init": 1e-3},
}


@contextmanager
def openml_on(server: OpenMLTestServer, cache_root: Path | None = None) -> Iterator[None]:
    """openml-python pointed at ``server`` (no API key, one retry: fail fast; its cache at ``cache_root`` when given),
    with hpo-gym's cache variable unset and its task memo cleared; openml's global configuration (read from
    ``~/.config/openml/config`` at import), the variable and the memo restored afterwards, so that other tests see
    neither this server nor its cache. The session's ``openml_session`` fixture and single tests use it alike."""
    cfg = openml.config
    saved = (cfg.server, cfg.apikey, cfg._root_cache_directory, cfg.retry_policy, cfg.connection_n_retries)
    saved_env = os.environ.pop(ENV_CACHE, None)
    cfg.server, cfg.apikey = server.api_url, ""
    if cache_root is not None:
        cfg.set_root_cache_directory(cache_root)
    cfg.set_retry_policy("robot", n_retries=1)
    _load_task_cached.cache_clear()
    try:
        yield
    finally:
        if saved_env is not None:
            os.environ[ENV_CACHE] = saved_env
        cfg.server, cfg.apikey = saved[0], saved[1]
        cfg.set_root_cache_directory(saved[2])
        cfg.set_retry_policy(saved[3], n_retries=saved[4])
        _load_task_cached.cache_clear()
