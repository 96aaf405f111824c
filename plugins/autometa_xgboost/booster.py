"""The ``xgboost`` algorithm: XGBoost's scikit-learn estimators with native categories.

The space follows the catalogue's style and what FLAML and the XGBoost documentation
tune first: the number of trees and the learning rate on log scales, tree depth, the
smallest child weight, row and column subsampling, and L2 regularisation. The default is
XGBoost's own (100 trees, learning rate 0.3, depth 6), grown with the histogram method.

Categorical columns reach XGBoost as pandas categories (``enable_categorical``), and
missing values are left to it. XGBoost's classifier wants labels 0..k-1, so it is wrapped
in :class:`EncodedLabelsClassifier`. Each model runs on one thread (``n_jobs=1``):
autometa runs trials in parallel with joblib, one per core, so threads inside a trial
would oversubscribe the cores the fit's ``n_jobs`` gave it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted
from xgboost import XGBClassifier, XGBRegressor

from autometa.contract import (
    TASK_KINDS,
    Algorithm,
    Task,
    categorical_frame_preprocessor,
    resolve_params,
)

XGBOOST_DEFAULTS: dict[str, Any] = {
    "n_estimators": 100,
    "learning_rate": 0.3,
    "max_depth": 6,
    "min_child_weight": 1.0,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "reg_lambda": 1.0,
}


def xgboost_space(task: Task) -> dict[str, BaseDistribution]:
    return {
        "n_estimators": IntDistribution(16, 1024, log=True),
        "learning_rate": FloatDistribution(0.01, 1.0, log=True),
        "max_depth": IntDistribution(2, 12),
        "min_child_weight": FloatDistribution(0.01, 100.0, log=True),
        "subsample": FloatDistribution(0.5, 1.0),  # share of rows each tree sees
        "colsample_bytree": FloatDistribution(0.3, 1.0),  # share of columns each tree sees
        "reg_lambda": FloatDistribution(1e-3, 100.0, log=True),
    }


class EncodedLabelsClassifier(ClassifierMixin, BaseEstimator):
    """Fit ``estimator`` on labels encoded as 0..k-1 and answer in the original labels."""

    def __init__(self, estimator: BaseEstimator) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> EncodedLabelsClassifier:
        self.label_encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.label_encoder_.classes_
        encoded = self.label_encoder_.transform(y)
        self.estimator_ = clone(self.estimator).fit(X, encoded, sample_weight=sample_weight)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return np.asarray(self.classes_[np.asarray(self.estimator_.predict(X), dtype=int)])

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return np.asarray(self.estimator_.predict_proba(X))


def make_xgboost(params: Mapping[str, Any], task: Task) -> Pipeline:
    p = resolve_params("xgboost", params, XGBOOST_DEFAULTS)
    shared = {
        "tree_method": "hist",
        "enable_categorical": True,
        "n_jobs": 1,
        "random_state": task.random_state,
        "verbosity": 0,
    }
    model: BaseEstimator
    if task.is_classification:
        model = EncodedLabelsClassifier(XGBClassifier(**p, **shared))
    else:
        model = XGBRegressor(**p, **shared)
    return Pipeline([("preprocess", categorical_frame_preprocessor(task)), ("model", model)])


XGBOOST = Algorithm(
    name="xgboost",
    kinds=TASK_KINDS,
    make_estimator=make_xgboost,
    search_space=xgboost_space,
    default_params=dict(XGBOOST_DEFAULTS),
)
