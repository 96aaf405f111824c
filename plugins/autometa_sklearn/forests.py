"""Randomised tree ensembles: ``random_forest`` and ``extra_trees``.

Trees need no scaling: numeric columns are median-imputed, categorical ones one-hot
(few levels) or ordinal (many levels) encoded. ``n_estimators`` is fixed at
scikit-learn's 100: more trees almost never hurt, so searching it mostly searches
cost; the space holds what changes the model (feature subsampling, leaf size,
bootstrap, split criterion).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import Pipeline

from autometa.contract import Algorithm, Task

from .assembly import CLASSIFICATION, REGRESSION, build_pipeline, check_kind, resolve_params
from .preprocessing import make_preprocessor
from .spaces import Space, choice, log_int

N_ESTIMATORS = 100

MAX_FEATURES_CHOICES = ("sqrt", "log2", 0.25, 0.5, 0.75, 1.0)
"""Features tried per split: a rule of scikit-learn's or a fraction of all features."""

# scikit-learn's own defaults, which differ between classification and regression
# (max_features) and between the two ensembles (bootstrap).
RANDOM_FOREST_CLASSIFIER_DEFAULTS: dict[str, Any] = {
    "max_features": "sqrt",
    "min_samples_leaf": 1,
    "bootstrap": True,
    "criterion": "gini",
}
RANDOM_FOREST_REGRESSOR_DEFAULTS: dict[str, Any] = {
    "max_features": 1.0,
    "min_samples_leaf": 1,
    "bootstrap": True,
}
EXTRA_TREES_CLASSIFIER_DEFAULTS: dict[str, Any] = {
    **RANDOM_FOREST_CLASSIFIER_DEFAULTS,
    "bootstrap": False,
}
EXTRA_TREES_REGRESSOR_DEFAULTS: dict[str, Any] = {
    **RANDOM_FOREST_REGRESSOR_DEFAULTS,
    "bootstrap": False,
}


def forest_classifier_space(task: Task) -> Space:
    return {**forest_regressor_space(task), "criterion": choice("gini", "entropy")}


def forest_regressor_space(task: Task) -> Space:
    return {
        "max_features": choice(*MAX_FEATURES_CHOICES),
        "min_samples_leaf": log_int(1, 32),
        "bootstrap": choice(True, False),
    }


def _forest_pipeline(model: BaseEstimator, task: Task) -> Pipeline:
    return build_pipeline(make_preprocessor(task, scale=False), model)


def _common(p: Mapping[str, Any], task: Task) -> dict[str, Any]:
    return {
        "n_estimators": N_ESTIMATORS,
        "max_features": p["max_features"],
        "min_samples_leaf": p["min_samples_leaf"],
        "bootstrap": p["bootstrap"],
        "random_state": task.random_state,
        "n_jobs": 1,
    }


def make_random_forest_classifier(params: Mapping[str, Any], task: Task) -> Pipeline:
    check_kind("random_forest", task, CLASSIFICATION)
    p = resolve_params("random_forest", params, RANDOM_FOREST_CLASSIFIER_DEFAULTS)
    model = RandomForestClassifier(criterion=p["criterion"], **_common(p, task))
    return _forest_pipeline(model, task)


def make_random_forest_regressor(params: Mapping[str, Any], task: Task) -> Pipeline:
    check_kind("random_forest", task, REGRESSION)
    p = resolve_params("random_forest", params, RANDOM_FOREST_REGRESSOR_DEFAULTS)
    return _forest_pipeline(RandomForestRegressor(**_common(p, task)), task)


def make_extra_trees_classifier(params: Mapping[str, Any], task: Task) -> Pipeline:
    check_kind("extra_trees", task, CLASSIFICATION)
    p = resolve_params("extra_trees", params, EXTRA_TREES_CLASSIFIER_DEFAULTS)
    model = ExtraTreesClassifier(criterion=p["criterion"], **_common(p, task))
    return _forest_pipeline(model, task)


def make_extra_trees_regressor(params: Mapping[str, Any], task: Task) -> Pipeline:
    check_kind("extra_trees", task, REGRESSION)
    p = resolve_params("extra_trees", params, EXTRA_TREES_REGRESSOR_DEFAULTS)
    return _forest_pipeline(ExtraTreesRegressor(**_common(p, task)), task)


RANDOM_FOREST_CLASSIFIER = Algorithm(
    name="random_forest",
    kinds=CLASSIFICATION,
    make_estimator=make_random_forest_classifier,
    search_space=forest_classifier_space,
    default_params=dict(RANDOM_FOREST_CLASSIFIER_DEFAULTS),
)
RANDOM_FOREST_REGRESSOR = Algorithm(
    name="random_forest",
    kinds=REGRESSION,
    make_estimator=make_random_forest_regressor,
    search_space=forest_regressor_space,
    default_params=dict(RANDOM_FOREST_REGRESSOR_DEFAULTS),
)
EXTRA_TREES_CLASSIFIER = Algorithm(
    name="extra_trees",
    kinds=CLASSIFICATION,
    make_estimator=make_extra_trees_classifier,
    search_space=forest_classifier_space,
    default_params=dict(EXTRA_TREES_CLASSIFIER_DEFAULTS),
)
EXTRA_TREES_REGRESSOR = Algorithm(
    name="extra_trees",
    kinds=REGRESSION,
    make_estimator=make_extra_trees_regressor,
    search_space=forest_regressor_space,
    default_params=dict(EXTRA_TREES_REGRESSOR_DEFAULTS),
)
