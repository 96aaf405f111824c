"""``hist_gradient_boosting``: scikit-learn's histogram gradient boosting.

Categorical columns use the booster's native categorical splits (ordinal codes passed
as ``categorical_features``) rather than one-hot columns: a native split groups any
subset of levels in one node, where one-hot needs a chain of one-level splits, and it
handles high-cardinality columns without hundreds of sparse features (levels beyond 255
are merged into one "infrequent" code). Missing values, numeric or categorical, are left
to the booster, which learns on which side of each split they belong; imputing them
would hide that signal.

``early_stopping`` stays at scikit-learn's ``'auto'`` (on above 10,000 rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline

from autometa.contract import Algorithm, Task

from .assembly import CLASSIFICATION, REGRESSION, build_pipeline, resolve_params
from .preprocessing import make_native_categorical_preprocessor
from .spaces import Space, log_float, log_int, uniform_float

HGB_DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.1,
    "max_iter": 100,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    # scikit-learn's default is 0.0, which a log-scaled range cannot hold; 1e-6 is the
    # range's floor and numerically the same (it is added to leaf hessian sums of
    # at least min_samples_leaf rows).
    "l2_regularization": 1e-6,
    "max_features": 1.0,
}


def hgb_space(task: Task) -> Space:
    return {
        "learning_rate": log_float(0.01, 1.0),
        "max_iter": log_int(10, 500),
        "max_leaf_nodes": log_int(4, 128),
        "min_samples_leaf": log_int(1, 200),
        "l2_regularization": log_float(1e-6, 10.0),
        "max_features": uniform_float(0.1, 1.0),  # share of features tried per split
    }


def make_hgb(params: Mapping[str, Any], task: Task) -> Pipeline:
    p = resolve_params("hist_gradient_boosting", params, HGB_DEFAULTS)
    preprocess, categorical = make_native_categorical_preprocessor(task)
    booster = (
        HistGradientBoostingClassifier
        if task.is_classification
        else (HistGradientBoostingRegressor)
    )
    model = booster(
        learning_rate=p["learning_rate"],
        max_iter=p["max_iter"],
        max_leaf_nodes=p["max_leaf_nodes"],
        min_samples_leaf=p["min_samples_leaf"],
        l2_regularization=p["l2_regularization"],
        max_features=p["max_features"],
        categorical_features=categorical or None,
        random_state=task.random_state,
    )
    return build_pipeline(preprocess, model)


HIST_GRADIENT_BOOSTING = Algorithm(
    name="hist_gradient_boosting",
    kinds=(*CLASSIFICATION, *REGRESSION),
    make_estimator=make_hgb,
    search_space=hgb_space,
    default_params=dict(HGB_DEFAULTS),
)
