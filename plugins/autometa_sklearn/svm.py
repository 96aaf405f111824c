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
"""libsvm iteration cap on tables of at most :data:`SVM_ITER_ROWS` rows (scikit-learn's
default is none): libsvm runs 40,000 to 65,000 iterations a second on 2,000 rows, so one
call with a bad C/gamma pair stops after 3 to 5 seconds instead of minutes (with a
ConvergenceWarning; a calibrated SVC makes six). Sensible configurations converge well
within it."""

SVM_ITER_ROWS = 2_000
"""Above this many rows the iteration cap falls as 1 / rows (:func:`svm_max_iter`)."""


def svm_max_iter(n_rows: int) -> int:
    """libsvm's iteration cap for a task of ``n_rows`` rows.

    One libsvm call is C code that a trial's time limit cannot interrupt (the limit
    lands when the call returns), so in a fit with ``n_jobs=1`` a bad C/gamma pair
    started late runs past the fit's timeout by as long as the call takes. An iteration
    costs time in proportion to the rows (one kernel column each), so the fixed cap let
    one SVR call run 11 s on 5,000 rows and 24 s on 10,000; falling as 1 / rows, the cap
    keeps it near the 4.5 s it takes on 2,000 rows (4.7 and 5.1 s;
    ``examples/benchmark_svm_call_time.py``). The task's rows, not a fold's, set it, so
    a configuration's CV folds and its refit on all rows stop at the same count. Up to
    2,000 rows (every knowledge-base cell) nothing changes.
    """
    return max(1, round(SVM_MAX_ITER * min(1.0, SVM_ITER_ROWS / max(n_rows, 1))))


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
        max_iter=svm_max_iter(task.n_rows),
        random_state=task.random_state,
    )
    return build_pipeline(
        make_preprocessor(task, scale=True), model, pca=p["pca"], seed=task.random_state
    )


def make_svm_regressor(params: Mapping[str, Any], task: Task) -> Pipeline:
    check_kind("svm", task, REGRESSION)
    p = resolve_params("svm", params, SVM_REGRESSOR_DEFAULTS)
    model = RelativeGammaSVR(
        C=p["C"],
        gamma_factor=p["gamma_factor"],
        epsilon=p["epsilon"],
        max_iter=svm_max_iter(task.n_rows),
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
