"""The live search spaces are HPOBench's (automl/HPOBench hpobench/benchmarks/ml/*_benchmark.py)."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_gym.live.models import MODELS, get_model
from hpo_gym.space import SearchSpace

# (kind, low, high, log) transcribed from HPOBench's get_configuration_space() of each benchmark
HPOBENCH = {
    "lr": {"alpha": ("float", 1e-5, 1, True), "eta0": ("float", 1e-5, 1, True)},
    "svm": {"C": ("float", 2**-10, 2**10, True), "gamma": ("float", 2**-10, 2**10, True)},
    "rf": {"max_depth": ("int", 1, 50, True), "min_samples_split": ("int", 2, 128, True),
           "max_features": ("float", 0, 1, False), "min_samples_leaf": ("int", 1, 20, False)},
    "xgb": {"eta": ("float", 2**-10, 1, True), "max_depth": ("int", 1, 50, True),
            "colsample_bytree": ("float", 0.1, 1, False), "reg_lambda": ("float", 2**-10, 2**10, True)},
    "histgb": {"max_depth": ("int", 6, 30, True), "max_leaf_nodes": ("int", 2, 64, True),
               "learning_rate": ("float", 2**-10, 1, True), "l2_regularization": ("float", 2**-10, 2**10, True)},
    "mlp": {"depth": ("int", 1, 3, False), "width": ("int", 16, 1024, True), "batch_size": ("int", 4, 256, True),
            "alpha": ("float", 1e-8, 1, True), "learning_rate_init": ("float", 1e-5, 1, True)},
}
FULL_FIDELITY = {"lr": {"iter": 1000}, "svm": {}, "rf": {"n_estimators": 512}, "xgb": {"n_estimators": 2000},
                 "histgb": {"n_estimators": 1000}, "mlp": {"iter": 243}}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_space_and_full_fidelity_match_hpobench(model):
    family = get_model(model)
    got = {hp.name: (hp.kind, hp.low, hp.high, hp.log) for hp in family.space}
    assert got == HPOBENCH[model]
    assert family.fidelity() == {"subsample": 1.0, **FULL_FIDELITY[model]}
    assert "HPOBench" in family.source
    assert SearchSpace.from_configspace(family.space.to_configspace()) == family.space  # order kept too


def test_aliases_and_fidelity_validation():
    assert get_model("XGBoost").name == "xgb" and get_model("nn").name == "mlp"
    for bad in (0, 1.5, True, "0.5", None):  # True and "0.5" passed float() before
        with pytest.raises(ValueError, match=r"subsample must be a number in \(0, 1\], got"):
            get_model("rf").fidelity({"subsample": bad})
    assert get_model("rf").fidelity({"subsample": np.float32(0.5)})["subsample"] == 0.5
