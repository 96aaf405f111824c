"""Linear models: ``linear`` (LogisticRegression / Ridge), ``sgd`` (SGDClassifier / SGDRegressor).

Both see standardised features (optionally PCA-reduced): regularisation strengths and
SGD step sizes only mean the same thing across tasks on a common feature scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier, SGDRegressor
from sklearn.pipeline import Pipeline

from autometa.contract import Algorithm, Task

from .assembly import (
    CLASSIFICATION,
    REGRESSION,
    build_pipeline,
    check_kind,
    resolve_params,
    scaled_target,
)
from .preprocessing import make_preprocessor
from .spaces import Space, choice, log_float, pca_flag, uniform_float

LOGISTIC_MAX_ITER = 1000
"""lbfgs iterations for LogisticRegression (scikit-learn's 100 often stops short at large C)."""

# -- linear -------------------------------------------------------------------------------
LINEAR_CLASSIFIER_DEFAULTS: dict[str, Any] = {"C": 1.0, "pca": False}
LINEAR_REGRESSOR_DEFAULTS: dict[str, Any] = {"alpha": 1.0, "pca": False}


def linear_classifier_space(task: Task) -> Space:
    return {"C": log_float(1e-4, 1e4), "pca": pca_flag()}


def linear_regressor_space(task: Task) -> Space:
    return {"alpha": log_float(1e-4, 1e4), "pca": pca_flag()}


def make_linear_classifier(params: Mapping[str, Any], task: Task) -> Pipeline:
    check_kind("linear", task, CLASSIFICATION)
    p = resolve_params("linear", params, LINEAR_CLASSIFIER_DEFAULTS)
    model = LogisticRegression(C=p["C"], max_iter=LOGISTIC_MAX_ITER, random_state=task.random_state)
    return build_pipeline(
        make_preprocessor(task, scale=True), model, pca=p["pca"], seed=task.random_state
    )


def make_linear_regressor(params: Mapping[str, Any], task: Task) -> Pipeline:
    check_kind("linear", task, REGRESSION)
    p = resolve_params("linear", params, LINEAR_REGRESSOR_DEFAULTS)
    # No target scaling: the ridge solution scales with y, and the best alpha does not.
    model = Ridge(alpha=p["alpha"], random_state=task.random_state)
    return build_pipeline(
        make_preprocessor(task, scale=True), model, pca=p["pca"], seed=task.random_state
    )


LINEAR_CLASSIFIER = Algorithm(
    name="linear",
    kinds=CLASSIFICATION,
    make_estimator=make_linear_classifier,
    search_space=linear_classifier_space,
    default_params=dict(LINEAR_CLASSIFIER_DEFAULTS),
)
LINEAR_REGRESSOR = Algorithm(
    name="linear",
    kinds=REGRESSION,
    make_estimator=make_linear_regressor,
    search_space=linear_regressor_space,
    default_params=dict(LINEAR_REGRESSOR_DEFAULTS),
)

# -- sgd ----------------------------------------------------------------------------------
SGD_CLASSIFIER_DEFAULTS: dict[str, Any] = {
    # Not scikit-learn's 'hinge': every classifier here must have predict_proba, and only
    # 'log_loss' and 'modified_huber' give it. The default is therefore logistic
    # regression trained by SGD.
    "loss": "log_loss",
    "penalty": "l2",
    "alpha": 1e-4,
    "l1_ratio": 0.15,
    "pca": False,
}
SGD_REGRESSOR_DEFAULTS: dict[str, Any] = {
    "loss": "squared_error",
    "penalty": "l2",
    "alpha": 1e-4,
    "l1_ratio": 0.15,
    "eta0": 0.01,
    "pca": False,
}


def sgd_classifier_space(task: Task) -> Space:
    return {
        "loss": choice("log_loss", "modified_huber"),
        "penalty": choice("l2", "l1", "elasticnet"),
        "alpha": log_float(1e-7, 1e-1),
        "l1_ratio": uniform_float(0.0, 1.0),  # used by penalty='elasticnet' only
        "pca": pca_flag(),
    }


def sgd_regressor_space(task: Task) -> Space:
    return {
        "loss": choice("squared_error", "huber"),
        "penalty": choice("l2", "l1", "elasticnet"),
        "alpha": log_float(1e-7, 1e-1),
        "l1_ratio": uniform_float(0.0, 1.0),  # used by penalty='elasticnet' only
        "eta0": log_float(1e-4, 1e-1),  # initial step of the 'invscaling' schedule
        "pca": pca_flag(),
    }


def make_sgd_classifier(params: Mapping[str, Any], task: Task) -> Pipeline:
    check_kind("sgd", task, CLASSIFICATION)
    p = resolve_params("sgd", params, SGD_CLASSIFIER_DEFAULTS)
    # Multiclass uses SGDClassifier's own one-vs-rest, not OneVsRestClassifier: the
    # latter leaves rows of zero probability when every 'modified_huber' binary model
    # says "not mine", while SGDClassifier makes those rows uniform.
    model = SGDClassifier(
        loss=p["loss"],
        penalty=p["penalty"],
        alpha=p["alpha"],
        l1_ratio=p["l1_ratio"],
        random_state=task.random_state,
        n_jobs=1,
    )
    return build_pipeline(
        make_preprocessor(task, scale=True), model, pca=p["pca"], seed=task.random_state
    )


def make_sgd_regressor(params: Mapping[str, Any], task: Task) -> Pipeline:
    check_kind("sgd", task, REGRESSION)
    p = resolve_params("sgd", params, SGD_REGRESSOR_DEFAULTS)
    model = SGDRegressor(
        loss=p["loss"],
        penalty=p["penalty"],
        alpha=p["alpha"],
        l1_ratio=p["l1_ratio"],
        eta0=p["eta0"],
        random_state=task.random_state,
    )
    return build_pipeline(
        make_preprocessor(task, scale=True),
        scaled_target(model),
        pca=p["pca"],
        seed=task.random_state,
    )


SGD_CLASSIFIER = Algorithm(
    name="sgd",
    kinds=CLASSIFICATION,
    make_estimator=make_sgd_classifier,
    search_space=sgd_classifier_space,
    default_params=dict(SGD_CLASSIFIER_DEFAULTS),
)
SGD_REGRESSOR = Algorithm(
    name="sgd",
    kinds=REGRESSION,
    make_estimator=make_sgd_regressor,
    search_space=sgd_regressor_space,
    default_params=dict(SGD_REGRESSOR_DEFAULTS),
)
