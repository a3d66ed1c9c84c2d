"""Constants shared by the live-backend tests (task ids served by the test server, small fidelities)."""

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
