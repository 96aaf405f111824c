"""The common scorers in plain numpy, for ensemble selection's many calls.

Greedy ensemble selection scores every candidate's averaged predictions in every round:
20 rounds over 50 kept trials is a thousand scorer calls, and a scikit-learn scorer
spends about 10 ms of each checking its inputs (``type_of_target``, ``check_array``,
label binarization) before a computation that takes a tenth of a millisecond on a few
thousand rows. That made selection alone take 5 to 15 s, a third of a 30 s budget.

:func:`fast_score` computes the default scorings of each kind (``roc_auc`` for binary,
``neg_log_loss`` for classification, ``r2`` for regression) and a few common others
directly, with scikit-learn's definitions: clipping, tie handling and degenerate cases
are the same, and ``tests/test_fast_scores.py`` checks the equality against
scikit-learn's scorers. Rows with weights (a fit with ``sample_weight`` or
``class_weight`` scores its validation rows so) are scored with the definitions
scikit-learn uses when the scorer is given ``sample_weight``, so a weighted fit's
selection is as fast. Any other scorer, or weights scikit-learn would refuse or that
are negative, returns None and the caller uses the scikit-learn scorer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata

Metric = Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]
"""(y or class positions, predictions, row weights or None) -> score, greater is better;
predictions as the ensemble keeps them."""


def fast_score(
    scoring: str,
    predictions: np.ndarray,
    y: np.ndarray,
    classes: np.ndarray | None,
    sample_weight: np.ndarray | None = None,
) -> float | None:
    """``scoring`` of ``predictions`` against ``y`` computed in numpy, or None when this
    module does not know ``scoring`` for the task (the caller then asks scikit-learn).

    ``predictions`` are class probabilities (columns in ``classes``' order, rows need not
    sum to one: they are normalized as a classifier's would be) or, with ``classes``
    None, regression values. NaN where scikit-learn gives NaN or would raise (e.g. ROC
    AUC with one class in ``y``, or with a class whose rows all weigh zero).

    ``sample_weight`` weighs the rows as scikit-learn's scorer called with
    ``sample_weight=`` does, for every scoring known here (each matches it, none is
    left to scikit-learn for being weighted). None for weights that are
    not one finite value per row, that are all zero (scikit-learn raises: the caller's
    scorer then raises the same error) or that include a negative one (scikit-learn
    accepts them, but its ROC curve is then not monotonic; no caller passes them, the
    fit's weights are checked non-negative).
    """
    weights = None if sample_weight is None else _checked_weights(sample_weight, len(y))
    if sample_weight is not None and weights is None:
        return None
    if classes is None:
        regression = _REGRESSION.get(scoring)
        if regression is None:
            return None
        y_float = np.asarray(y, dtype=float)
        return regression(y_float, np.asarray(predictions, dtype=float), weights)
    classification = _CLASSIFICATION.get(scoring)
    if classification is None or (scoring == "roc_auc" and len(classes) != 2):
        return None
    positions = _positions(classes, np.asarray(y))
    if positions is None:
        return None
    return classification(positions, _normalized(predictions), weights)


def _checked_weights(sample_weight: np.ndarray, n_rows: int) -> np.ndarray | None:
    """``sample_weight`` as float64, or None when scikit-learn would refuse it or a weight
    is negative (see :func:`fast_score`)."""
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if weights.shape != (n_rows,) or not np.all(np.isfinite(weights)):
        return None
    if np.any(weights < 0) or not np.any(weights):
        return None
    return weights


def _positions(classes: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Each row's class as a column number; None when a label is not among ``classes``."""
    try:
        if np.all(classes[:-1] < classes[1:]):  # sorted, as a fitted classifier's are
            positions = np.minimum(np.searchsorted(classes, y), len(classes) - 1)
            return positions if np.array_equal(classes[positions], y) else None
    except TypeError:  # labels of mixed types do not order
        pass
    index = {label: i for i, label in enumerate(classes.tolist())}
    try:
        return np.array([index[label] for label in np.asarray(y).tolist()], dtype=np.intp)
    except KeyError:
        return None


def _normalized(probabilities: np.ndarray) -> np.ndarray:
    proba = np.asarray(probabilities, dtype=float)
    sums = proba.sum(axis=1, keepdims=True)
    return np.divide(proba, sums, out=np.zeros_like(proba), where=sums > 0)


def _mean(values: np.ndarray, weights: np.ndarray | None) -> float:
    """The mean, or the weighted one as scikit-learn takes it (``np.average``)."""
    return float(np.mean(values) if weights is None else np.average(values, weights=weights))


# -- classification: positions (row -> column of its class), normalized probabilities ----
def _neg_log_loss(positions: np.ndarray, proba: np.ndarray, weights: np.ndarray | None) -> float:
    eps = np.finfo(proba.dtype).eps
    if proba.shape[1] == 2:
        # scikit-learn's scorer takes the positive column of a binary task and rebuilds the
        # negative one as 1 - p.
        positive = proba[:, 1]
        picked = np.where(positions == 1, positive, 1.0 - positive)
    else:
        picked = proba[np.arange(len(positions)), positions]
    return -_mean(-np.log(np.clip(picked, eps, 1.0 - eps)), weights)


def _roc_auc(positions: np.ndarray, proba: np.ndarray, weights: np.ndarray | None) -> float:
    """Binary ROC AUC as the Mann-Whitney statistic with average ranks for ties, which is
    the trapezoidal area scikit-learn computes; with weights, its weighted curve's."""
    if weights is not None:
        return _weighted_roc_auc(positions == 1, proba[:, 1], weights)
    positive = positions == 1
    n_positive = int(positive.sum())
    n_negative = len(positions) - n_positive
    if n_positive == 0 or n_negative == 0:
        return float("nan")
    ranks = rankdata(proba[:, 1])
    return float(
        (ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative)
    )


def _weighted_roc_auc(positive: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> float:
    """scikit-learn's weighted ROC AUC: the trapezoids under the curve of cumulative
    weighted false and true positives, one point per distinct score (tied rows move
    together, a diagonal step). Summed from the lowest score up, each group of tied rows
    adds its positives' weight times the negatives' weight below it plus half the
    negatives' weight tied with it. NaN when a class weighs nothing, as scikit-learn's."""
    _, group = np.unique(scores, return_inverse=True)
    positive_weight = np.bincount(group, weights=np.where(positive, weights, 0.0))
    negative_weight = np.bincount(group, weights=np.where(positive, 0.0, weights))
    total_positive = float(positive_weight.sum())
    total_negative = float(negative_weight.sum())
    if total_positive == 0.0 or total_negative == 0.0:
        return float("nan")
    below = np.cumsum(negative_weight) - negative_weight
    area = float(np.dot(positive_weight, below + negative_weight / 2))
    return area / (total_positive * total_negative)


def _accuracy(positions: np.ndarray, proba: np.ndarray, weights: np.ndarray | None) -> float:
    # argmax takes the first of equal columns, as the ensemble's predict does.
    return _mean(np.argmax(proba, axis=1) == positions, weights)


_CLASSIFICATION: dict[str, Metric] = {
    "neg_log_loss": _neg_log_loss,
    "roc_auc": _roc_auc,
    "accuracy": _accuracy,
}


# -- regression --------------------------------------------------------------------------
def _r2(y: np.ndarray, predicted: np.ndarray, weights: np.ndarray | None) -> float:
    if weights is not None:
        return _weighted_r2(y, predicted, weights)
    residual = float(np.sum((y - predicted) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    if total == 0.0:  # scikit-learn's force_finite: a constant target
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def _weighted_r2(y: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> float:
    """scikit-learn's weighted r2: weighted residual sum of squares over the weighted total
    sum around the weighted mean; NaN under two rows, its force_finite rule otherwise
    (1 for a zero residual, 0 for a zero total)."""
    if len(y) < 2:
        return float("nan")
    residual = float(np.sum(weights * (y - predicted) ** 2))
    total = float(np.sum(weights * (y - np.average(y, weights=weights)) ** 2))
    if residual == 0.0:
        return 1.0
    return 0.0 if total == 0.0 else 1.0 - residual / total


def _neg_mse(y: np.ndarray, predicted: np.ndarray, weights: np.ndarray | None) -> float:
    return -_mean((y - predicted) ** 2, weights)


def _neg_rmse(y: np.ndarray, predicted: np.ndarray, weights: np.ndarray | None) -> float:
    # scikit-learn's root_mean_squared_error: the root of the (weighted) mean squared error.
    return -float(np.sqrt(_mean((y - predicted) ** 2, weights)))


def _neg_mae(y: np.ndarray, predicted: np.ndarray, weights: np.ndarray | None) -> float:
    return -_mean(np.abs(y - predicted), weights)


_REGRESSION: dict[str, Metric] = {
    "r2": _r2,
    "neg_mean_squared_error": _neg_mse,
    "neg_root_mean_squared_error": _neg_rmse,
    "neg_mean_absolute_error": _neg_mae,
}


__all__ = ["fast_score"]
