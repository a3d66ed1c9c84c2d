"""A class with a single outer-train row: real fits on real wine data, the row on either side of the validation split.

Before: the fit rows without that class made XGBoost refuse the labels, and with it on the fit side only, every
probability scorer (neg_log_loss, roc_auc_ovo, top_k_accuracy) failed every fit because the scored rows held fewer
classes than ``predict_proba`` has columns, so the whole HPO run saw nothing but the worst score."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from live_fixtures import DEFAULTS, SMALL, WINE

from hpo_gym.live import LiveObjective
from hpo_gym.live.data import TaskData, load_task
from hpo_gym.live.models import PresentClassesClassifier, get_model

RARE = 2  # wine's third class


def one_rare_row(data: TaskData) -> TaskData:
    """wine with all but one of the rare class's outer-train rows moved out (the data and labels stay real)."""
    train = data.train_idx[data.y[data.train_idx] != RARE]
    keep = data.train_idx[data.y[data.train_idx] == RARE][:1]
    return dataclasses.replace(data, train_idx=np.sort(np.concatenate([train, keep])))


def rare_data_and_seed(side: str) -> tuple[TaskData, int]:
    """The rare-class data and a split_seed that puts its one row on ``side`` ("fit" or "validation")."""
    data = one_rare_row(load_task(WINE))
    for seed in range(50):
        fit, val = data.validation_split(0.33, seed)
        if RARE in data.y[fit if side == "fit" else val] and RARE not in data.y[val if side == "fit" else fit]:
            return data, seed
    raise AssertionError(f"no split seed puts the rare row on the {side} side")


@pytest.mark.parametrize("side", ["fit", "validation"])
@pytest.mark.parametrize("model,metric", [("xgb", "accuracy"), ("xgb", "neg_log_loss"), ("rf", "neg_log_loss"),
                                          ("histgb", "roc_auc_ovo"), ("lr", "top_k_accuracy"),
                                          ("mlp", "roc_auc_ovr_weighted"), ("svm", "balanced_accuracy")])
def test_a_class_with_one_training_row_scores_on_either_side(openml_session, side, model, metric):
    data, seed = rare_data_and_seed(side)
    obj = LiveObjective(WINE, model, metric, data=data, split_seed=seed, fidelity=SMALL[model], executor="inline",
                        cache=False)
    ev = obj.evaluate(DEFAULTS[model])
    assert not ev.failed, ev.info.get("error")
    assert np.isfinite(ev.score) and ev.score > obj.worst_score
    # the outer test rows hold the rare class too: the final report scores as well
    assert not obj.test_score(DEFAULTS[model]).failed


def test_macro_roc_auc_without_the_class_among_validation_rows_is_refused_up_front(openml_session):
    data, seed = rare_data_and_seed("fit")
    with pytest.raises(ValueError, match=r"'roc_auc_ovr' is undefined on OpenML task \d+'s validation rows: they hold no "
                                         r"row of class '.+'.*use roc_auc_ovr_weighted or roc_auc_ovo"):
        LiveObjective(WINE, "rf", "roc_auc_ovr", data=data, split_seed=seed, cache=False)
    # with the row on the validation side every class is there to average over
    data, seed = rare_data_and_seed("validation")
    obj = LiveObjective(WINE, "rf", "roc_auc_ovr", data=data, split_seed=seed, fidelity=SMALL["rf"], executor="inline",
                        cache=False)
    assert not obj.evaluate(DEFAULTS["rf"]).failed


def test_svm_top_k_without_a_class_in_the_fit_rows_and_roc_auc_without_one_in_the_test_rows_are_refused(openml_session):
    """Found in review: svm ranks classes by decision values, and a class absent from the fit rows has none, so every
    fit of top_k_accuracy failed ("This 'SVC' has no attribute 'predict_proba'"); a macro ROC AUC on outer-test rows
    without a class scored NaN, recorded as a failed fit with the worst score."""
    data, seed = rare_data_and_seed("validation")
    with pytest.raises(ValueError, match=r"'top_k_accuracy' ranks classes by 'svm''s decision values.*hold no row of "
                                         r"class '.+', which then has none; use accuracy"):
        LiveObjective(WINE, "svm", "top_k_accuracy", data=data, split_seed=seed, cache=False)
    data, seed = rare_data_and_seed("fit")
    assert not LiveObjective(WINE, "svm", "top_k_accuracy", data=data, split_seed=seed, executor="inline",
                             cache=False).evaluate(DEFAULTS["svm"]).failed  # with the class in the fit rows: scored
    data, seed = rare_data_and_seed("validation")
    no_test_row = dataclasses.replace(data, test_idx=data.test_idx[data.y[data.test_idx] != RARE])
    obj = LiveObjective(WINE, "rf", "roc_auc_ovr", data=no_test_row, split_seed=seed, fidelity=SMALL["rf"],
                        executor="inline", cache=False)
    assert not obj.evaluate(DEFAULTS["rf"]).failed  # the search itself is fine
    with pytest.raises(ValueError, match=r"'roc_auc_ovr' is undefined on OpenML task \d+'s outer-test rows: they hold "
                                         r"no row of class '.+'; report the test score with another objective made "
                                         r"with metric=roc_auc_ovr_weighted"):
        obj.test_score(DEFAULTS["rf"])


def test_present_classes_classifier_maps_labels_and_probability_columns(openml_session):
    data = load_task(WINE)
    rows = data.y != 1  # the classes present are 0 and 2: XGBoost alone would refuse labels {0, 2}
    pipeline = get_model("xgb").pipeline(DEFAULTS["xgb"], {"n_estimators": 20}, data.categorical, 3, 0,
                                         fit_classes=data.y[rows])
    model = pipeline.fit(data.X[rows], data.y[rows]).named_steps["model"]
    assert isinstance(model, PresentClassesClassifier) and model.classes_.tolist() == [0, 1, 2]
    proba = pipeline.predict_proba(data.X)
    assert proba.shape == (len(data.y), 3) and np.all(proba[:, 1] == 0) and np.allclose(proba.sum(axis=1), 1)
    assert set(pipeline.predict(data.X).tolist()) <= {0, 2}
    assert (pipeline.predict(data.X[rows]) == data.y[rows]).mean() > 0.9
    # with every class present nothing is wrapped: the scores of ordinary tasks are the ones they always were
    full = get_model("xgb").pipeline(DEFAULTS["xgb"], {"n_estimators": 20}, data.categorical, 3, 0, fit_classes=data.y)
    assert not isinstance(full.named_steps["model"], PresentClassesClassifier)


def test_two_class_roc_auc_without_both_classes_among_validation_rows_names_a_scorer_that_works(openml_session):
    from live_fixtures import BREAST_CANCER

    data = load_task(BREAST_CANCER)
    train = data.train_idx[data.y[data.train_idx] == 0]
    rare = dataclasses.replace(data, train_idx=np.sort(np.concatenate([train, data.train_idx[data.y[data.train_idx] == 1][:1]])))
    seed = next(s for s in range(50) if 1 not in rare.y[rare.validation_split(0.33, s)[1]])
    with pytest.raises(ValueError, match=r"'roc_auc' is undefined .* use accuracy or balanced_accuracy"):
        LiveObjective(BREAST_CANCER, "rf", "roc_auc", data=rare, split_seed=seed, cache=False)
