"""The common scorers in plain numpy, for ensemble selection's many calls.

Greedy ensemble selection scores every candidate's averaged predictions in every round:
20 rounds over 50 kept trials is a thousand scorer calls, and a scikit-learn scorer
spends about 10 ms of each checking its inputs (``type_of_target``, ``check_array``,
label binarization) before a computation that takes a tenth of a millisecond on a few
thousand rows. That made selection alone take 5 to 15 s, a third of a 30 s budget.

:func:`fast_score` computes the default scorings of each kind (``roc_auc`` for binary,
``neg_log_loss`` for classification, ``r2`` for regression) and a few common others
directly, with scikit-learn's definitions: clipping, tie handling and degenerate cases
are the same, and ``tests/test_ensemble_selection.py`` checks the equality against
scikit-learn's scorers. Any other scorer, or rows with weights, returns None and the
caller uses the scikit-learn scorer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata

Metric = Callable[[np.ndarray, np.ndarray], float]
"""(y, predictions) -> score, greater is better; predictions as the ensemble keeps them."""


def fast_score(
    scoring: str,
    predictions: np.ndarray,
    y: np.ndarray,
    classes: np.ndarray | None,
) -> float | None:
    """``scoring`` of ``predictions`` against ``y`` computed in numpy, or None when this
    module does not know ``scoring`` for the task (the caller then asks scikit-learn).

    ``predictions`` are class probabilities (columns in ``classes``' order, rows need not
    sum to one: they are normalized as a classifier's would be) or, with ``classes``
    None, regression values. NaN when scikit-learn would raise (e.g. ROC AUC with one
    class in ``y``).
    """
    if classes is None:
        regression = _REGRESSION.get(scoring)
        if regression is None:
            return None
        return regression(np.asarray(y, dtype=float), np.asarray(predictions, dtype=float))
    classification = _CLASSIFICATION.get(scoring)
    if classification is None or (scoring == "roc_auc" and len(classes) != 2):
        return None
    positions = _positions(classes, np.asarray(y))
    if positions is None:
        return None
    return classification(positions, _normalized(predictions))


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


# -- classification: positions (row -> column of its class), normalized probabilities ----
def _neg_log_loss(positions: np.ndarray, proba: np.ndarray) -> float:
    eps = np.finfo(proba.dtype).eps
    if proba.shape[1] == 2:
        # scikit-learn's scorer takes the positive column of a binary task and rebuilds the
        # negative one as 1 - p.
        positive = proba[:, 1]
        picked = np.where(positions == 1, positive, 1.0 - positive)
    else:
        picked = proba[np.arange(len(positions)), positions]
    return -float(np.mean(-np.log(np.clip(picked, eps, 1.0 - eps))))


def _roc_auc(positions: np.ndarray, proba: np.ndarray) -> float:
    """Binary ROC AUC as the Mann-Whitney statistic with average ranks for ties, which is
    the trapezoidal area scikit-learn computes."""
    positive = positions == 1
    n_positive = int(positive.sum())
    n_negative = len(positions) - n_positive
    if n_positive == 0 or n_negative == 0:
        return float("nan")
    ranks = rankdata(proba[:, 1])
    return float(
        (ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative)
    )


def _accuracy(positions: np.ndarray, proba: np.ndarray) -> float:
    # argmax takes the first of equal columns, as the ensemble's predict does.
    return float(np.mean(np.argmax(proba, axis=1) == positions))


_CLASSIFICATION: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "neg_log_loss": _neg_log_loss,
    "roc_auc": _roc_auc,
    "accuracy": _accuracy,
}


# -- regression --------------------------------------------------------------------------
def _r2(y: np.ndarray, predicted: np.ndarray) -> float:
    residual = float(np.sum((y - predicted) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    if total == 0.0:  # scikit-learn's force_finite: a constant target
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def _neg_mse(y: np.ndarray, predicted: np.ndarray) -> float:
    return -float(np.mean((y - predicted) ** 2))


def _neg_rmse(y: np.ndarray, predicted: np.ndarray) -> float:
    return -float(np.sqrt(np.mean((y - predicted) ** 2)))


def _neg_mae(y: np.ndarray, predicted: np.ndarray) -> float:
    return -float(np.mean(np.abs(y - predicted)))


_REGRESSION: dict[str, Metric] = {
    "r2": _r2,
    "neg_mean_squared_error": _neg_mse,
    "neg_root_mean_squared_error": _neg_rmse,
    "neg_mean_absolute_error": _neg_mae,
}


__all__ = ["fast_score"]
