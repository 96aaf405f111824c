"""The numpy scorers ensemble selection uses give scikit-learn's numbers, edge cases too."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autometa.contract._task_checks import scorer_for
from autometa.search._ensemble import PrecomputedClassifier, PrecomputedRegressor
from autometa.search._fast_scores import fast_score


def _sklearn(scoring: str, predictions: np.ndarray, y: np.ndarray, classes: np.ndarray | None):
    estimator = (
        PrecomputedRegressor(predictions)
        if classes is None
        else PrecomputedClassifier(predictions, classes)
    )
    rows = np.arange(len(y)).reshape(-1, 1)
    return float(scorer_for(scoring, classes)(estimator, rows, y))


def _probabilities(rng: np.random.Generator, n: int, k: int, *, ties: bool) -> np.ndarray:
    proba = rng.dirichlet(np.ones(k), size=n)
    if ties:  # a few distinct values, as trees and k-nearest neighbours give
        proba = np.round(proba * 4) / 4 + 1e-3
    return proba.astype(np.float32)  # the store keeps float32


@pytest.mark.parametrize("scoring", ["roc_auc", "neg_log_loss", "accuracy"])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_binary_scores_equal_scikit_learns(scoring: str, ties: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    classes = np.array(["no", "yes"], dtype=object)
    y = classes[rng.integers(0, 2, 200)]
    proba = _probabilities(rng, 200, 2, ties=ties)
    fast = fast_score(scoring, proba, y, classes)
    assert fast == pytest.approx(_sklearn(scoring, proba, y, classes), rel=1e-12, abs=1e-12)


@pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")
@pytest.mark.parametrize("scoring", ["neg_log_loss", "accuracy"])
@pytest.mark.parametrize("ties", [False, True])
def test_multiclass_scores_equal_scikit_learns_with_a_class_missing_from_y(
    scoring: str, ties: bool
) -> None:
    rng = np.random.default_rng(3)
    classes = np.array([2, 5, 7, 9])
    y = rng.choice(classes[:3], size=150)  # 9 never validated, as a rare class may not be
    proba = _probabilities(rng, 150, 4, ties=ties)
    proba[0, :] = 0.0  # a row of zeros: scored as a classifier answering zeros would be
    fast = fast_score(scoring, proba, y, classes)
    assert fast == pytest.approx(_sklearn(scoring, proba, y, classes), rel=1e-12, abs=1e-12)


def test_unnormalized_and_extreme_probabilities_are_clipped_as_scikit_learn_clips() -> None:
    classes = np.array([0, 1])
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.0, 2.0], [0.0, 3.0], [1.0, 1.0], [5.0, 0.0]], dtype=np.float32)
    for scoring in ("neg_log_loss", "roc_auc"):
        fast = fast_score(scoring, proba, y, classes)
        assert fast == pytest.approx(_sklearn(scoring, proba, y, classes), rel=1e-12)


@pytest.mark.parametrize(
    "scoring",
    ["r2", "neg_mean_squared_error", "neg_root_mean_squared_error", "neg_mean_absolute_error"],
)
def test_regression_scores_equal_scikit_learns(scoring: str) -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(size=120)
    predicted = (y + rng.normal(scale=0.5, size=120)).astype(np.float32)
    fast = fast_score(scoring, predicted, y, None)
    assert fast == pytest.approx(_sklearn(scoring, predicted, y, None), rel=1e-12)


def test_a_constant_target_scores_r2_as_scikit_learn_does() -> None:
    y = np.ones(5)
    assert fast_score("r2", np.ones(5), y, None) == _sklearn("r2", np.ones(5), y, None) == 1.0
    assert fast_score("r2", np.zeros(5), y, None) == _sklearn("r2", np.zeros(5), y, None) == 0.0


def test_roc_auc_with_one_class_is_nan_where_scikit_learn_refuses() -> None:
    classes = np.array([0, 1])
    proba = np.full((4, 2), 0.5)
    score = fast_score("roc_auc", proba, np.zeros(4, dtype=int), classes)
    assert score is not None
    assert math.isnan(score)


def test_other_scorers_and_unknown_labels_are_left_to_scikit_learn() -> None:
    classes = np.array([0, 1, 2])
    proba = np.full((3, 3), 1 / 3)
    assert fast_score("roc_auc_ovr", proba, np.array([0, 1, 2]), classes) is None
    assert fast_score("roc_auc", proba, np.array([0, 1, 2]), classes) is None  # not binary
    assert fast_score("f1_macro", proba, np.array([0, 1, 2]), classes) is None
    assert fast_score("neg_log_loss", proba, np.array([0, 1, 3]), classes) is None
    assert fast_score("explained_variance", np.zeros(3), np.zeros(3), None) is None
