"""The ``lightgbm`` algorithm: LightGBM's scikit-learn estimators with native categories.

The space follows the catalogue's style and what FLAML and the LightGBM documentation
tune first: the number of trees, the learning rate and leaves on log scales, the
smallest leaf, row and column subsampling, and L2 regularisation. The default is
LightGBM's own (100 trees, learning rate 0.1, 31 leaves, 20 rows per leaf).

Categorical columns reach LightGBM as pandas categories (native splits that group
levels), and missing values are left to it. Each model runs on one thread
(``n_jobs=1``): autometa runs trials in parallel with joblib, one per core, so threads
inside a trial would oversubscribe the cores the fit's ``n_jobs`` gave it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightgbm import LGBMClassifier, LGBMRegressor
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from sklearn.pipeline import Pipeline

from autometa.contract import (
    TASK_KINDS,
    Algorithm,
    Task,
    categorical_frame_preprocessor,
    resolve_params,
)

LIGHTGBM_DEFAULTS: dict[str, Any] = {
    "n_estimators": 100,
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_child_samples": 20,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    # LightGBM's default is 0.0, which a log range cannot hold; 1e-6 is its floor and
    # the same model in practice (it is added to sums of at least 20 hessians).
    "reg_lambda": 1e-6,
}


def lightgbm_space(task: Task) -> dict[str, BaseDistribution]:
    return {
        "n_estimators": IntDistribution(16, 1024, log=True),
        "learning_rate": FloatDistribution(0.01, 1.0, log=True),
        "num_leaves": IntDistribution(4, 256, log=True),
        "min_child_samples": IntDistribution(2, 128, log=True),
        "subsample": FloatDistribution(0.5, 1.0),  # share of rows each tree sees
        "colsample_bytree": FloatDistribution(0.3, 1.0),  # share of columns each tree sees
        "reg_lambda": FloatDistribution(1e-6, 10.0, log=True),
    }


def make_lightgbm(params: Mapping[str, Any], task: Task) -> Pipeline:
    p = resolve_params("lightgbm", params, LIGHTGBM_DEFAULTS)
    booster = LGBMClassifier if task.is_classification else LGBMRegressor
    model = booster(
        **p,
        # Row subsampling only acts with a bagging frequency; every tree when it is on.
        subsample_freq=1 if p["subsample"] < 1.0 else 0,
        n_jobs=1,
        random_state=task.random_state,
        verbose=-1,
    )
    return Pipeline([("preprocess", categorical_frame_preprocessor(task)), ("model", model)])


LIGHTGBM = Algorithm(
    name="lightgbm",
    kinds=TASK_KINDS,
    make_estimator=make_lightgbm,
    search_space=lightgbm_space,
    default_params=dict(LIGHTGBM_DEFAULTS),
)
