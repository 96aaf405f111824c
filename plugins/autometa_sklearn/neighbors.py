"""``knn``: k-nearest neighbours on standardised features.

The upper bound of ``n_neighbors`` follows the task's training-fold size, and the
estimator clamps ``k`` to the rows it is actually fitted on, so no configuration fails on
a small fold (or on a small task it was recommended for by a larger one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.pipeline import Pipeline

from autometa.contract import Algorithm, Task

from .adaptive import ClampedKNeighborsClassifier, ClampedKNeighborsRegressor
from .assembly import CLASSIFICATION, REGRESSION, build_pipeline, resolve_params
from .preprocessing import make_preprocessor
from .spaces import Space, choice, log_int, pca_flag

MAX_NEIGHBORS = 100
KNN_DEFAULTS: dict[str, Any] = {"n_neighbors": 5, "weights": "uniform", "p": 2, "pca": False}


def knn_space(task: Task) -> Space:
    # At most fold size - 1, but never below the default, which must stay in the space
    # on tiny tasks too (where the estimator clamps it at fit time).
    upper = max(KNN_DEFAULTS["n_neighbors"], min(MAX_NEIGHBORS, task.fold_train_size() - 1))
    return {
        "n_neighbors": log_int(1, upper),
        "weights": choice("uniform", "distance"),
        "p": choice(1, 2),  # Manhattan or Euclidean distance
        "pca": pca_flag(),
    }


def make_knn(params: Mapping[str, Any], task: Task) -> Pipeline:
    # No target scaling for regression: a mean of neighbours' targets is scale-free.
    p = resolve_params("knn", params, KNN_DEFAULTS)
    knn_params = {"n_neighbors": p["n_neighbors"], "weights": p["weights"], "p": p["p"]}
    model: ClampedKNeighborsClassifier | ClampedKNeighborsRegressor
    if task.is_classification:
        model = ClampedKNeighborsClassifier(**knn_params, n_jobs=1)
    else:
        model = ClampedKNeighborsRegressor(**knn_params, n_jobs=1)
    return build_pipeline(
        make_preprocessor(task, scale=True), model, pca=p["pca"], seed=task.random_state
    )


KNN = Algorithm(
    name="knn",
    kinds=(*CLASSIFICATION, *REGRESSION),
    make_estimator=make_knn,
    search_space=knn_space,
    default_params=dict(KNN_DEFAULTS),
)
