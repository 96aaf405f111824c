"""``svm``: RBF support vector machines (classification with calibrated probabilities, SVR).

Kernel SVMs cost between O(n^2) and O(n^3) in the number of rows, so the algorithm is
offered only for tasks of at most :data:`SVM_MAX_ROWS` rows.

``gamma_factor`` multiplies scikit-learn's ``gamma='scale'`` (1 / (n_features * X.var()))
instead of giving gamma in absolute units: the default 1.0 *is* scikit-learn's default,
and a factor learned on one task means the same on a task with other feature counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.pipeline import Pipeline

from autometa.contract import Algorithm, Task

from .adaptive import CalibratedSVC, RelativeGammaSVR
from .assembly import (
    CLASSIFICATION,
    REGRESSION,
    build_pipeline,
    check_kind,
    resolve_params,
    scaled_target,
)
from .preprocessing import make_preprocessor
from .spaces import Space, log_float, pca_flag

SVM_MAX_ROWS = 10_000
"""Tasks with more rows are not offered ``svm``."""

SVM_MAX_ITER = 200_000
"""libsvm iteration cap (scikit-learn's default is none). libsvm runs about 200,000
iterations a second on 2,000 rows, and a calibrated SVC fits six times, so a bad C/gamma
pair stops after seconds instead of minutes (with a ConvergenceWarning). Sensible
configurations on a few thousand rows converge well within it."""

SVM_CLASSIFIER_DEFAULTS: dict[str, Any] = {"C": 1.0, "gamma_factor": 1.0, "pca": False}
SVM_REGRESSOR_DEFAULTS: dict[str, Any] = {
    "C": 1.0,
    "gamma_factor": 1.0,
    "epsilon": 0.1,
    "pca": False,
}


def offered(task: Task) -> bool:
    return task.n_rows <= SVM_MAX_ROWS


def svm_classifier_space(task: Task) -> Space:
    return {
        "C": log_float(1e-2, 1e3),
        "gamma_factor": log_float(1e-3, 1e2),
        "pca": pca_flag(),
    }


def svm_regressor_space(task: Task) -> Space:
    return {
        "C": log_float(1e-2, 1e3),
        "gamma_factor": log_float(1e-3, 1e2),
        # In units of the target's standard deviation (the target is standardised).
        "epsilon": log_float(1e-3, 1.0),
        "pca": pca_flag(),
    }


def make_svm_classifier(params: Mapping[str, Any], task: Task) -> Pipeline:
    check_kind("svm", task, CLASSIFICATION)
    p = resolve_params("svm", params, SVM_CLASSIFIER_DEFAULTS)
    model = CalibratedSVC(
        C=p["C"],
        gamma_factor=p["gamma_factor"],
        max_iter=SVM_MAX_ITER,
        random_state=task.random_state,
    )
    return build_pipeline(
        make_preprocessor(task, scale=True), model, pca=p["pca"], seed=task.random_state
    )


def make_svm_regressor(params: Mapping[str, Any], task: Task) -> Pipeline:
    check_kind("svm", task, REGRESSION)
    p = resolve_params("svm", params, SVM_REGRESSOR_DEFAULTS)
    model = RelativeGammaSVR(
        C=p["C"], gamma_factor=p["gamma_factor"], epsilon=p["epsilon"], max_iter=SVM_MAX_ITER
    )
    return build_pipeline(
        make_preprocessor(task, scale=True),
        scaled_target(model),
        pca=p["pca"],
        seed=task.random_state,
    )


SVM_CLASSIFIER = Algorithm(
    name="svm",
    kinds=CLASSIFICATION,
    make_estimator=make_svm_classifier,
    search_space=svm_classifier_space,
    default_params=dict(SVM_CLASSIFIER_DEFAULTS),
)
SVM_REGRESSOR = Algorithm(
    name="svm",
    kinds=REGRESSION,
    make_estimator=make_svm_regressor,
    search_space=svm_regressor_space,
    default_params=dict(SVM_REGRESSOR_DEFAULTS),
)
