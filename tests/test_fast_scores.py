"""The numpy scorers ensemble selection uses give scikit-learn's numbers, edge cases too."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import get_scorer

from autometa.contract._task_checks import scorer_for
from autometa.search._ensemble import (
    PrecomputedClassifier,
    PrecomputedRegressor,
    score_predictions,
)
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


# -- rows with weights ---------------------------------------------------------------------
REGRESSION_SCORINGS = [
    "r2",
    "neg_mean_squared_error",
    "neg_root_mean_squared_error",
    "neg_mean_absolute_error",
]


def _sklearn_weighted(
    scoring: str,
    predictions: np.ndarray,
    y: np.ndarray,
    classes: np.ndarray | None,
    weights: np.ndarray,
) -> float:
    """scikit-learn's own scorer for ``scoring``, given the rows' weights."""
    estimator = (
        PrecomputedRegressor(predictions)
        if classes is None
        else PrecomputedClassifier(predictions, classes)
    )
    rows = np.arange(len(y)).reshape(-1, 1)
    return float(get_scorer(scoring)(estimator, rows, y, sample_weight=weights))


def _weights(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    if kind == "positive":
        return rng.uniform(0.05, 5.0, n)
    if kind == "integer":  # 0 to 3: a zero drops the row, 3 counts it thrice
        return rng.integers(0, 4, n).astype(float)
    weights = rng.uniform(0.05, 5.0, n)  # "some zero"
    weights[rng.random(n) < 0.3] = 0.0
    return weights


def _labels(rng: np.random.Generator, classes: np.ndarray, n: int) -> np.ndarray:
    """``n`` labels drawn from ``classes``, every class present (scikit-learn's own
    log loss scorer infers the classes from ``y``)."""
    y = classes[rng.integers(0, len(classes), n)]
    y[: len(classes)] = classes
    return y


WEIGHT_KINDS = ["positive", "integer", "some zero"]


@pytest.mark.parametrize("scoring", ["roc_auc", "neg_log_loss", "accuracy"])
@pytest.mark.parametrize("kind", WEIGHT_KINDS)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_binary_scores_equal_scikit_learns(
    scoring: str, kind: str, ties: bool, seed: int
) -> None:
    classes = np.array(["no", "yes"], dtype=object)
    _check_weighted(scoring, classes, 200, kind, ties, np.random.default_rng(10 + seed))


@pytest.mark.parametrize("scoring", ["neg_log_loss", "accuracy"])
@pytest.mark.parametrize("kind", WEIGHT_KINDS)
@pytest.mark.parametrize("ties", [False, True])
def test_weighted_multiclass_scores_equal_scikit_learns(
    scoring: str, kind: str, ties: bool
) -> None:
    classes = np.array([2, 5, 7, 9])
    _check_weighted(scoring, classes, 150, kind, ties, np.random.default_rng(20))


def _check_weighted(
    scoring: str, classes: np.ndarray, n: int, kind: str, ties: bool, rng: np.random.Generator
) -> None:
    """fast_score of random weighted probabilities equals scikit-learn's weighted scorer."""
    y = _labels(rng, classes, n)
    proba = _probabilities(rng, n, len(classes), ties=ties)
    weights = _weights(rng, n, kind)
    fast = fast_score(scoring, proba, y, classes, weights)
    expected = _sklearn_weighted(scoring, proba, y, classes, weights)
    assert fast == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")
@pytest.mark.parametrize("scoring", ["neg_log_loss", "accuracy"])
def test_weighted_multiclass_scores_with_a_class_missing_from_y(scoring: str) -> None:
    rng = np.random.default_rng(21)
    classes = np.array([2, 5, 7, 9])
    y = rng.choice(classes[:3], size=150)  # 9 never validated: log loss is told every class
    proba = _probabilities(rng, 150, 4, ties=True)
    proba[0, :] = 0.0
    weights = _weights(rng, 150, "some zero")
    estimator = PrecomputedClassifier(proba, classes)
    rows = np.arange(150).reshape(-1, 1)
    expected = float(scorer_for(scoring, classes)(estimator, rows, y, sample_weight=weights))
    fast = fast_score(scoring, proba, y, classes, weights)
    assert fast == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("scoring", REGRESSION_SCORINGS)
@pytest.mark.parametrize("kind", WEIGHT_KINDS)
@pytest.mark.parametrize("scale", [1.0, 1e5])
def test_weighted_regression_scores_equal_scikit_learns(
    scoring: str, kind: str, scale: float
) -> None:
    rng = np.random.default_rng(30)
    y = scale * rng.normal(size=120)
    predicted = (y + scale * rng.normal(scale=0.5, size=120)).astype(np.float32)
    predicted[:10] = np.round(predicted[:10])  # some exact values, ties among them
    weights = _weights(rng, 120, kind)
    fast = fast_score(scoring, predicted, y, None, weights)
    expected = _sklearn_weighted(scoring, predicted, y, None, weights)
    assert fast == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    ("scoring", "k"),
    [("roc_auc", 2), ("neg_log_loss", 2), ("accuracy", 2), ("neg_log_loss", 3), ("accuracy", 3)]
    + [(scoring, 0) for scoring in REGRESSION_SCORINGS],
)
def test_integer_weights_score_as_repeated_rows(scoring: str, k: int) -> None:
    rng = np.random.default_rng(40 + k)
    n = 90
    counts = rng.integers(0, 4, n)
    if k:
        classes: np.ndarray | None = np.arange(k)
        y = _labels(rng, np.arange(k), n)
        counts[:k] = np.maximum(counts[:k], 1)  # every class kept
        predictions = _probabilities(rng, n, k, ties=True)
    else:
        classes = None
        y = rng.normal(size=n)
        predictions = (y + rng.normal(size=n)).astype(np.float32)
    weighted = fast_score(scoring, predictions, y, classes, counts.astype(float))
    repeated_predictions = np.repeat(predictions, counts, axis=0)
    repeated_y = np.repeat(y, counts)
    repeated = fast_score(scoring, repeated_predictions, repeated_y, classes)
    assert weighted is not None
    assert weighted == pytest.approx(repeated, rel=1e-12, abs=1e-12)
    # scikit-learn agrees on both, the weighted rows and the repeated ones.
    assert weighted == pytest.approx(
        _sklearn_weighted(scoring, predictions, y, classes, counts), rel=1e-12, abs=1e-12
    )
    assert repeated == pytest.approx(
        _sklearn(scoring, repeated_predictions, repeated_y, classes), rel=1e-12, abs=1e-12
    )


def test_weighted_roc_auc_ties_are_one_point_of_the_curve() -> None:
    # Scores 0.2 < 0.5 (a positive and a negative tied) < 0.8. Negatives weigh 1 (at 0.2)
    # and 3 (at 0.5); positives 2 (at 0.5) and 1 (at 0.8). Pairs ranked right: the
    # positive at 0.8 over both negatives (1 * 4), the positive at 0.5 over the one at
    # 0.2 (2 * 1); tied pairs count half (2 * 3 / 2). Area (4 + 2 + 3) / (3 * 4) = 0.75.
    classes = np.array([0, 1])
    y = np.array([0, 0, 1, 1])
    scores = np.array([0.2, 0.5, 0.5, 0.8])
    proba = np.column_stack([1.0 - scores, scores])
    weights = np.array([1.0, 3.0, 2.0, 1.0])
    fast = fast_score("roc_auc", proba, y, classes, weights)
    assert fast == pytest.approx(0.75, rel=1e-12)
    assert fast == pytest.approx(
        _sklearn_weighted("roc_auc", proba, y, classes, weights), rel=1e-12
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_weighted_roc_auc_is_nan_when_a_class_weighs_nothing_as_scikit_learns() -> None:
    classes = np.array([0, 1])
    y = np.array([0, 1, 0, 1, 1])
    proba = _probabilities(np.random.default_rng(50), 5, 2, ties=False)
    for weights in (np.array([1.0, 0.0, 2.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0, 2.0, 1.0])):
        score = fast_score("roc_auc", proba, y, classes, weights)
        assert score is not None
        assert math.isnan(score)
        assert math.isnan(_sklearn_weighted("roc_auc", proba, y, classes, weights))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_weighted_r2_of_a_constant_target_or_one_row_is_scikit_learns() -> None:
    y = np.full(6, 0.1)  # the weighted mean of 0.1s is not always exactly 0.1
    weights = np.array([0.3, 1.7, 0.0, 2.9, 0.1, 1.3])
    for predicted, expected in ((y.copy(), 1.0), (y + 1.0, 0.0)):
        assert fast_score("r2", predicted, y, None, weights) == expected
        assert _sklearn_weighted("r2", predicted, y, None, weights) == expected
    one = fast_score("r2", np.array([2.0]), np.array([1.0]), None, np.array([2.0]))
    assert one is not None
    assert math.isnan(one)
    assert math.isnan(_sklearn_weighted("r2", np.array([2.0]), np.array([1.0]), None, np.ones(1)))


def test_weights_of_one_score_as_no_weights() -> None:
    rng = np.random.default_rng(60)
    classes = np.array([0, 1])
    y = _labels(rng, classes, 100)
    proba = _probabilities(rng, 100, 2, ties=True)
    for scoring in ("roc_auc", "neg_log_loss", "accuracy"):
        weighted = fast_score(scoring, proba, y, classes, np.ones(100))
        assert weighted == pytest.approx(fast_score(scoring, proba, y, classes), rel=1e-12)


def test_weights_scikit_learn_refuses_or_negative_ones_are_left_to_it() -> None:
    classes = np.array([0, 1])
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    for weights in (np.zeros(4), np.array([1.0, -1.0, 2.0, 1.0]), np.ones(3)):
        assert fast_score("neg_log_loss", proba, y, classes, weights) is None
    # The caller then gets scikit-learn's answer: its error for weights all zero...
    with pytest.raises(ValueError, match="at least one non-zero"):
        score_predictions("neg_log_loss", proba, y, classes, np.zeros(4))
    # ...and its number for a negative weight.
    negative = np.array([1.0, -0.5, 2.0, 1.0])
    assert score_predictions("neg_log_loss", proba, y, classes, negative) == pytest.approx(
        _sklearn_weighted("neg_log_loss", proba, y, classes, negative), rel=1e-12
    )
    assert fast_score("f1_macro", proba, y, classes, np.ones(4)) is None
    assert fast_score("explained_variance", np.zeros(3), np.zeros(3), None, np.ones(3)) is None


@pytest.mark.parametrize(
    ("scoring", "k"),
    [("roc_auc", 2), ("neg_log_loss", 2), ("neg_log_loss", 3), ("accuracy", 3)]
    + [(scoring, 0) for scoring in REGRESSION_SCORINGS],
)
def test_score_predictions_with_weights_is_scikit_learns_number(scoring: str, k: int) -> None:
    rng = np.random.default_rng(70 + k)
    n = 2000
    weights = _weights(rng, n, "some zero")
    if k:
        classes: np.ndarray | None = np.arange(k)
        y = _labels(rng, np.arange(k), n)
        predictions = _probabilities(rng, n, k, ties=True)
    else:
        classes = None
        y = rng.normal(size=n)
        predictions = (y + rng.normal(size=n)).astype(np.float32)
    score = score_predictions(scoring, predictions, y, classes, weights)
    # The numpy path answered (the same number, not the scorer's fallback)...
    assert score == fast_score(scoring, predictions, y, classes, weights)
    # ...and it is scikit-learn's.
    expected = _sklearn_weighted(scoring, predictions, y, classes, weights)
    assert score == pytest.approx(expected, rel=1e-12, abs=1e-12)
