"""``mlp``: multi-layer perceptron (Adam) on standardised features.

``hidden_layer_sizes`` is a tuple, which a JSON-safe space cannot hold: it is searched
as ``width`` (units per layer) and ``depth`` (number of layers), i.e.
``(width,) * depth``. Training is bounded by ``max_iter`` epochs (scikit-learn's 200,
fixed) and by Adam's own stop when the loss stalls for 10 epochs; ``early_stopping``
(stop on a 10% validation split instead) is a hyperparameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from autometa.contract import Algorithm, Task

from .adaptive import HoldoutSafeMLPClassifier, HoldoutSafeMLPRegressor
from .assembly import CLASSIFICATION, REGRESSION, build_pipeline, resolve_params, scaled_target
from .preprocessing import make_preprocessor
from .spaces import Space, choice, log_float, log_int, pca_flag, uniform_int

MLP_MAX_ITER = 200

MLP_DEFAULTS: dict[str, Any] = {
    "width": 100,
    "depth": 1,
    "activation": "relu",
    "alpha": 1e-4,
    "learning_rate_init": 1e-3,
    "early_stopping": False,
    "pca": False,
}


def mlp_space(task: Task) -> Space:
    return {
        "width": log_int(16, 256),
        "depth": uniform_int(1, 3),
        "activation": choice("relu", "tanh"),
        "alpha": log_float(1e-7, 1e-1),
        "learning_rate_init": log_float(1e-4, 1e-1),
        "early_stopping": choice(False, True),
        "pca": pca_flag(),
    }


def make_mlp(params: Mapping[str, Any], task: Task) -> Pipeline:
    p = resolve_params("mlp", params, MLP_DEFAULTS)
    mlp_params = {
        "hidden_layer_sizes": (int(p["width"]),) * int(p["depth"]),
        "activation": p["activation"],
        "alpha": p["alpha"],
        "learning_rate_init": p["learning_rate_init"],
        "early_stopping": p["early_stopping"],
        "max_iter": MLP_MAX_ITER,
        "random_state": task.random_state,
    }
    model: BaseEstimator
    if task.is_classification:
        model = HoldoutSafeMLPClassifier(**mlp_params)
    else:
        model = scaled_target(HoldoutSafeMLPRegressor(**mlp_params))
    return build_pipeline(
        make_preprocessor(task, scale=True), model, pca=p["pca"], seed=task.random_state
    )


MLP = Algorithm(
    name="mlp",
    kinds=(*CLASSIFICATION, *REGRESSION),
    make_estimator=make_mlp,
    search_space=mlp_space,
    default_params=dict(MLP_DEFAULTS),
)
