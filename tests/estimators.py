"""Small real estimators that misbehave on purpose, for fault-handling tests."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class SleepyClassifier(ClassifierMixin, BaseEstimator):
    """Predicts the majority class after sleeping ``seconds`` in fit (in short naps)."""

    def __init__(self, seconds: float = 1.0) -> None:
        self.seconds = seconds

    def fit(self, X: Any, y: Any) -> SleepyClassifier:
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            time.sleep(0.01)
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[np.argmax(counts)]
        self.prior_ = counts / counts.sum()
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.majority_)

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.tile(self.prior_, (len(X), 1))


class FailingClassifier(ClassifierMixin, BaseEstimator):
    """Raises in fit when ``fail`` is true, else behaves like a majority classifier."""

    def __init__(self, fail: bool = True) -> None:
        self.fail = fail

    def fit(self, X: Any, y: Any) -> FailingClassifier:
        if self.fail:
            raise ArithmeticError("this configuration always fails")
        self.classes_, counts = np.unique(y, return_counts=True)
        self.prior_ = counts / counts.sum()
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.classes_[np.argmax(self.prior_)])

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.tile(self.prior_, (len(X), 1))


class FailsOnManyRows(ClassifierMixin, BaseEstimator):
    """A good logistic model that refuses to fit on more than ``max_rows`` rows.

    Cross-validation (on folds) succeeds and scores well; the refit on all rows fails,
    which is what the refit fallback has to survive.
    """

    def __init__(self, max_rows: int = 200) -> None:
        self.max_rows = max_rows

    def fit(self, X: Any, y: Any) -> FailsOnManyRows:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if len(X) > self.max_rows:
            raise MemoryError(f"refusing {len(X)} rows")
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.model_.predict(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.model_.predict_proba(X))
