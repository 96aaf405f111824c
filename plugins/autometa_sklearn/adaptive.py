"""Estimators that adapt a hyperparameter to the data they are fitted on.

A search evaluates configurations on cross-validation folds it does not show to the
algorithm's factory, and a meta-learner may recommend a configuration that worked on a
larger task. These wrappers make such configurations run instead of fail:

- :class:`ClampedKNeighborsClassifier` / :class:`ClampedKNeighborsRegressor`: ``k`` never
  exceeds the number of training rows;
- :class:`CalibratedSVC`: an RBF SVC with Platt-scaled probabilities whose internal
  cross-validation shrinks to the smallest class (scikit-learn 1.9 deprecates
  ``SVC(probability=True)`` in favour of ``CalibratedClassifierCV(SVC(), ensemble=False)``,
  which fails outright when a class has fewer rows than folds);
- :class:`RelativeGammaSVR`: the SVR counterpart of the relative ``gamma_factor``;
- :class:`HoldoutSafeMLPClassifier` / :class:`HoldoutSafeMLPRegressor`: early stopping
  is skipped when the rows cannot spare a (stratified) validation split.

All follow scikit-learn's conventions: hyperparameters are stored untouched in
``__init__``, what was actually used is a fitted ``attr_``; they clone and pickle.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.svm import SVC, SVR
from sklearn.utils.validation import check_is_fitted


def _n_rows(X: Any) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


# -- k-nearest neighbours ------------------------------------------------------------------
class _ClampedKNeighbors(BaseEstimator):
    """Shared fit/predict of the clamped k-NN estimators."""

    def __init__(
        self, n_neighbors: int = 5, weights: str = "uniform", p: int = 2, n_jobs: int | None = 1
    ) -> None:
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.p = p
        self.n_jobs = n_jobs

    def _new_estimator(self, n_neighbors: int) -> KNeighborsClassifier | KNeighborsRegressor:
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> Any:
        self.n_neighbors_ = max(1, min(int(self.n_neighbors), _n_rows(X)))
        self.estimator_ = self._new_estimator(self.n_neighbors_).fit(X, y)
        self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return np.asarray(self.estimator_.predict(X))


class ClampedKNeighborsClassifier(ClassifierMixin, _ClampedKNeighbors):
    """``KNeighborsClassifier`` using ``min(n_neighbors, training rows)`` neighbours."""

    def _new_estimator(self, n_neighbors: int) -> KNeighborsClassifier:
        return KNeighborsClassifier(
            n_neighbors=n_neighbors, weights=self.weights, p=self.p, n_jobs=self.n_jobs
        )

    def fit(self, X: Any, y: Any) -> ClampedKNeighborsClassifier:
        super().fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return np.asarray(self.estimator_.predict_proba(X))


class ClampedKNeighborsRegressor(RegressorMixin, _ClampedKNeighbors):
    """``KNeighborsRegressor`` using ``min(n_neighbors, training rows)`` neighbours."""

    def _new_estimator(self, n_neighbors: int) -> KNeighborsRegressor:
        return KNeighborsRegressor(
            n_neighbors=n_neighbors, weights=self.weights, p=self.p, n_jobs=self.n_jobs
        )


# -- support vector machines ---------------------------------------------------------------
def relative_gamma(X: np.ndarray, gamma_factor: float) -> float:
    """``gamma_factor`` times scikit-learn's ``gamma='scale'``: 1 / (n_features * X.var())."""
    variance = float(X.var())
    scale = 1.0 / (X.shape[1] * variance) if variance != 0 else 1.0
    return float(gamma_factor) * scale


class _InSampleSplit:
    """One "split" that trains and calibrates on every row (in-sample Platt scaling).

    Used only when a class has a single row, where no cross-validation can hold it out.
    """

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rows = np.arange(_n_rows(X))
        yield rows, rows

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return 1


class CalibratedSVC(ClassifierMixin, BaseEstimator):
    """RBF support vector classifier with sigmoid-calibrated ``predict_proba``.

    Equivalent to the deprecated ``SVC(probability=True)``: the SVC's decision values
    from an internal stratified ``cv``-fold cross-validation fit a Platt sigmoid, then
    the SVC is refitted on all rows (``CalibratedClassifierCV(ensemble=False)``). The
    folds shrink to the smallest class; a class with a single row falls back to
    in-sample calibration.

    ``gamma = gamma_factor / (n_features * X.var())``: ``gamma_factor=1`` is
    scikit-learn's ``gamma='scale'``, and the factor means the same on every task.
    """

    def __init__(
        self,
        C: float = 1.0,
        gamma_factor: float = 1.0,
        max_iter: int = -1,
        cv: int = 5,
        random_state: int | None = None,
    ) -> None:
        self.C = C
        self.gamma_factor = gamma_factor
        self.max_iter = max_iter
        self.cv = cv
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> CalibratedSVC:
        values = np.asarray(X, dtype=np.float64)
        self.gamma_ = relative_gamma(values, self.gamma_factor)
        svc = SVC(
            C=self.C,
            kernel="rbf",
            gamma=self.gamma_,
            max_iter=self.max_iter,
            random_state=self.random_state,
        )
        smallest = int(np.unique(np.asarray(y), return_counts=True)[1].min())
        folds = min(int(self.cv), smallest)
        splitter: StratifiedKFold | _InSampleSplit
        if folds >= 2:
            splitter = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        else:
            splitter = _InSampleSplit()
        self.estimator_ = CalibratedClassifierCV(
            svc, method="sigmoid", cv=splitter, ensemble=False
        ).fit(values, y, sample_weight=sample_weight)
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = values.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return np.asarray(self.estimator_.predict(np.asarray(X, dtype=np.float64)))

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return np.asarray(self.estimator_.predict_proba(np.asarray(X, dtype=np.float64)))


class RelativeGammaSVR(RegressorMixin, BaseEstimator):
    """RBF ``SVR`` with ``gamma = gamma_factor / (n_features * X.var())`` (see CalibratedSVC)."""

    def __init__(
        self, C: float = 1.0, gamma_factor: float = 1.0, epsilon: float = 0.1, max_iter: int = -1
    ) -> None:
        self.C = C
        self.gamma_factor = gamma_factor
        self.epsilon = epsilon
        self.max_iter = max_iter

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> RelativeGammaSVR:
        values = np.asarray(X, dtype=np.float64)
        self.gamma_ = relative_gamma(values, self.gamma_factor)
        self.estimator_ = SVR(
            kernel="rbf",
            C=self.C,
            gamma=self.gamma_,
            epsilon=self.epsilon,
            max_iter=self.max_iter,
        ).fit(values, y, sample_weight=sample_weight)
        self.n_features_in_ = values.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return np.asarray(self.estimator_.predict(np.asarray(X, dtype=np.float64)))


# -- multi-layer perceptrons ---------------------------------------------------------------
def holdout_possible(y: Any, fraction: float, *, stratified: bool) -> bool:
    """Whether ``train_test_split(test_size=fraction, stratify=...)`` can split ``y``.

    Stratification needs two rows per class and room for every class on both sides;
    a regression validation score needs at least two validation rows.
    """
    labels = np.asarray(y)
    n = len(labels)
    n_val = math.ceil(fraction * n)
    n_train = n - n_val
    if not stratified:
        return n_val >= 2 and n_train >= 1
    _, counts = np.unique(labels, return_counts=True)
    return bool(counts.min() >= 2 and n_val >= len(counts) and n_train >= len(counts))


@contextmanager
def _early_stopping_set_to(model: MLPClassifier | MLPRegressor, enabled: bool) -> Iterator[None]:
    """Run a fit with ``early_stopping=enabled``, then restore the parameter as given."""
    wanted = model.get_params(deep=False)["early_stopping"]
    model.set_params(early_stopping=enabled)
    try:
        yield
    finally:
        model.set_params(early_stopping=wanted)


class HoldoutSafeMLPClassifier(MLPClassifier):
    """``MLPClassifier`` whose early stopping is skipped when a stratified holdout is impossible.

    ``early_stopping_used_`` records what the fit did.
    """

    def fit(self, X: Any, y: Any, **fit_params: Any) -> HoldoutSafeMLPClassifier:
        wanted = bool(self.get_params(deep=False)["early_stopping"])
        used = wanted and holdout_possible(y, self.validation_fraction, stratified=True)
        with _early_stopping_set_to(self, used):
            super().fit(X, y, **fit_params)
        self.early_stopping_used_ = used
        return self


class HoldoutSafeMLPRegressor(MLPRegressor):
    """``MLPRegressor`` whose early stopping is skipped when too few rows remain to validate.

    ``early_stopping_used_`` records what the fit did.
    """

    def fit(self, X: Any, y: Any, **fit_params: Any) -> HoldoutSafeMLPRegressor:
        wanted = bool(self.get_params(deep=False)["early_stopping"])
        used = wanted and holdout_possible(y, self.validation_fraction, stratified=False)
        with _early_stopping_set_to(self, used):
            super().fit(X, y, **fit_params)
        self.early_stopping_used_ = used
        return self
