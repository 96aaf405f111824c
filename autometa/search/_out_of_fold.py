"""Out-of-fold predictions: what each trial's fold models predict for ensemble selection.

Runs inside the workers with :mod:`autometa.search._evaluation`, so it stays free of
Optuna and of the rest of autometa.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

Splits = Sequence[tuple[np.ndarray, np.ndarray]]


def validation_rows(splits: Splits) -> np.ndarray:
    """The rows some split validates on, sorted: the rows out-of-fold predictions cover.

    All rows for k-fold; the held-out part for a holdout split.
    """
    return np.unique(np.concatenate([np.asarray(valid) for _, valid in splits]))


def predict_for_ensemble(model: Any, X: pd.DataFrame, classes: np.ndarray | None) -> np.ndarray:
    """What an ensemble averages: probabilities per class, or predicted values.

    For a classifier (``classes`` given) the columns follow ``classes``: a model that
    saw fewer classes gets zero columns for the others, and one without
    ``predict_proba`` contributes its predicted labels as one-hot rows. A regressor's
    predictions come back as a float vector.
    """
    if classes is None:
        return np.asarray(model.predict(X), dtype=float).reshape(-1)
    index = {_plain(c): i for i, c in enumerate(classes)}
    own = getattr(model, "classes_", None)
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X), dtype=float)
        if own is None or (len(own) == len(classes) and np.array_equal(own, classes)):
            if proba.shape[1] != len(classes):
                raise ValueError(
                    f"predict_proba gave {proba.shape[1]} columns for {len(classes)} classes"
                )
            return proba
        out = np.zeros((proba.shape[0], len(classes)))
        for column, label in enumerate(own):
            out[:, index[_plain(label)]] = proba[:, column]
        return out
    labels = np.asarray(model.predict(X))
    out = np.zeros((len(labels), len(classes)))
    out[np.arange(len(labels)), [index[_plain(label)] for label in labels]] = 1.0
    return out


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


class OutOfFold:
    """Collects each fold's predictions of its validation rows (a mean where folds overlap).

    A failing prediction is not the trial's failure: the outcome then has no predictions.
    """

    def __init__(self, splits: Splits, classes: np.ndarray | None) -> None:
        self.rows = validation_rows(splits)
        self.classes = classes
        self.sums: np.ndarray | None = None
        self.counts = np.zeros(len(self.rows))
        self.broken = False

    def add(self, model: Any, X_valid: pd.DataFrame, valid: np.ndarray) -> None:
        if self.broken:
            return
        try:
            predicted = predict_for_ensemble(model, X_valid, self.classes)
        except Exception:  # e.g. a predict_proba that raises: no predictions, same score
            self.broken = True
            return
        if self.sums is None:
            self.sums = np.zeros((len(self.rows), *predicted.shape[1:]))
        positions = np.searchsorted(self.rows, valid)
        self.sums[positions] += predicted
        self.counts[positions] += 1

    def result(self) -> np.ndarray | None:
        if self.broken or self.sums is None or not self.counts.all():
            return None
        shape = (-1,) + (1,) * (self.sums.ndim - 1)
        mean = self.sums / self.counts.reshape(shape)
        if not np.isfinite(mean).all():
            return None
        return mean.astype(np.float32)
