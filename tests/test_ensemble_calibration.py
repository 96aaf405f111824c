"""Platt calibration of a binary ensemble whose scoring only ranks (issue 16)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

import autometa
from autometa.contract import Strategy
from autometa.search._calibration import calibrate, fit_platt, positive_logit, ranks_only
from autometa.search._ensemble_model import WeightedEnsemble

CHEAP = ["linear", "naive_bayes", "knn", "sgd"]
RANDOM = Strategy(None, 0, "random", "cv", 3)


def _overconfident(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Two-column probabilities that rank well but are far too sure, and their labels."""
    rng = np.random.default_rng(seed)
    positive = rng.random(n) < 0.4
    logit = 6.0 * (positive - 0.5) + 4.0 * rng.normal(size=n)
    p = 1 / (1 + np.exp(-logit))
    return np.column_stack([1 - p, p]), positive


@pytest.fixture(scope="module")
def cancer_model() -> Any:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return autometa.fit(
        X.iloc[:300], y.iloc[:300], n_trials=6, random_state=0, strategy=RANDOM, algorithms=CHEAP
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibration_keeps_roc_auc_and_does_not_raise_log_loss(seed: int) -> None:
    proba, positive = _overconfident(seed)
    fit = fit_platt(proba, positive)
    assert fit.parameters is not None
    slope, intercept = fit.parameters
    assert slope > 0
    calibrated = calibrate(proba, slope, intercept)
    assert roc_auc_score(positive, calibrated[:, 1]) == pytest.approx(
        roc_auc_score(positive, proba[:, 1]), abs=1e-12
    )
    assert log_loss(positive, calibrated) <= log_loss(positive, proba)
    assert fit.log_loss_after < fit.log_loss_before
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_a_fit_that_would_reverse_the_order_keeps_the_raw_probabilities() -> None:
    # Anti-correlated scores: the best sigmoid has a negative slope, which would turn the ranking.
    proba, positive = _overconfident(0)
    fit = fit_platt(proba, ~positive)
    assert fit.parameters is None
    assert fit.reason is not None
    assert "not positive" in fit.reason
    assert fit.log_loss_after == fit.log_loss_before


def test_one_class_and_extreme_probabilities() -> None:
    proba, positive = _overconfident(3)
    assert fit_platt(proba, np.ones_like(positive)).parameters is None
    # Exact zeros and ones (a member that only predicts labels) keep their order.
    extreme = np.vstack([proba, [[1.0, 0.0], [0.0, 1.0]]])
    logit = positive_logit(extreme)
    assert np.isfinite(logit).all()
    assert logit[-2] < logit.min(initial=np.inf, where=np.arange(len(logit)) < len(proba))
    assert ranks_only("roc_auc", np.array([0, 1]))
    assert ranks_only("average_precision", np.array(["a", "b"]))
    assert not ranks_only("roc_auc", np.array([0, 1, 2]))
    assert not ranks_only("neg_log_loss", np.array([0, 1]))
    assert not ranks_only("accuracy", np.array([0, 1]))


def test_a_binary_auc_fit_is_calibrated_and_explained(cancer_model: Any) -> None:
    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    model = cancer_model
    summary = model.ensemble_
    assert summary is not None
    assert summary.members
    assert isinstance(model.model_, WeightedEnsemble)
    assert summary.calibration is not None
    assert summary.calibration == model.model_.calibration
    assert summary.calibration[0] > 0
    before, after = summary.calibration_log_loss
    assert after < before
    assert all(isinstance(v, float) for v in summary.calibration)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # The calibrated argmax: the threshold 0.5 on the calibrated positive probability.
    np.testing.assert_array_equal(model.predict(X), model.classes_[(proba[:, 1] > 0.5).astype(int)])
    # The test rows rank as the raw ensemble ranks them.
    raw = WeightedEnsemble(model.model_.members, model.model_.weights, model.model_.classes)
    raw_proba = raw.predict_proba(model.schema_.transform(X))
    assert not np.allclose(raw_proba, proba)
    y = load_breast_cancer().target == model.classes_[1]
    assert roc_auc_score(y, proba[:, 1]) == pytest.approx(
        roc_auc_score(y, raw_proba[:, 1]), abs=1e-12
    )
    assert "calibrated: p' = sigmoid(" in model.explain()


def test_round_trips_predict_identically(cancer_model: Any, tmp_path: Path) -> None:
    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    model = cancer_model
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    pytest.importorskip("skops")
    from autometa.persistence import load_model, save_model

    # A k-NN member's k-d tree is on autometa's list of safe types; the calibration adds
    # no type, so the file loads without trusted=.
    loaded = load_model(save_model(model, tmp_path / "model.skops"))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.ensemble_ == model.ensemble_


def test_an_ensemble_pickled_before_calibration_existed_still_predicts() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    member = LogisticRegression(max_iter=5000).fit(X, y)
    ensemble = WeightedEnsemble([member], [1.0], np.array([0, 1]), (2.0, 0.5))
    del ensemble.__dict__["calibration"]  # as unpickled from before the attribute existed
    np.testing.assert_array_equal(ensemble.predict_proba(X), member.predict_proba(X))
    np.testing.assert_array_equal(ensemble.predict(X), member.predict(X))


def test_multiclass_and_regression_fits_are_not_calibrated() -> None:
    X, y = load_wine(return_X_y=True, as_frame=True)
    wine = autometa.fit(X, y, n_trials=5, random_state=0, strategy=RANDOM, algorithms=CHEAP)
    assert wine.ensemble_ is not None
    assert wine.ensemble_.calibration is None
    assert wine.ensemble_.calibration_log_loss is None
    assert "calibrated" not in wine.explain()
    if isinstance(wine.model_, WeightedEnsemble):
        assert wine.model_.calibration is None
        average = wine.model_._average(wine.schema_.transform(X))
        np.testing.assert_array_equal(wine.predict_proba(X), average)
    Xr, yr = load_diabetes(return_X_y=True, as_frame=True)
    reg = autometa.fit(Xr, yr, n_trials=4, random_state=0, strategy=RANDOM, algorithms=["linear"])
    assert reg.ensemble_ is not None
    assert reg.ensemble_.calibration is None


def test_a_log_loss_fit_on_a_binary_task_is_not_calibrated() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = autometa.fit(
        X.iloc[:200],
        y.iloc[:200],
        scoring="neg_log_loss",
        n_trials=4,
        random_state=0,
        strategy=RANDOM,
        algorithms=CHEAP,
    )
    assert model.ensemble_ is not None
    assert model.ensemble_.calibration is None
