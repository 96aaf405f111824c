"""Shared steps of every factory: check the parameters, assemble the pipeline.

A catalogue pipeline is ``preprocess -> [pca] -> model``, where ``model`` may be a
regressor whose target is standardised (:func:`scaled_target`).
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from autometa.contract import Task, TaskKind
from autometa.contract import resolve_params as resolve_params  # re-exported for the catalogue

CLASSIFICATION: tuple[TaskKind, ...] = ("binary", "multiclass")
REGRESSION: tuple[TaskKind, ...] = ("regression",)

PCA_VARIANCE = 0.95
"""With ``pca=True`` the pipeline keeps the components explaining this share of variance."""


def check_kind(algorithm: str, task: Task, kinds: tuple[TaskKind, ...]) -> None:
    """Fail clearly when a factory for one kind of task is asked for another."""
    if task.kind not in kinds:
        raise ValueError(
            f"This {algorithm!r} factory handles {kinds} tasks, not {task.kind!r}; "
            "take the algorithm from autometa_algorithms(task) for this task."
        )


def build_pipeline(
    preprocess: ColumnTransformer, model: BaseEstimator, *, pca: bool = False, seed: Any = None
) -> Pipeline:
    """``preprocess -> [PCA(0.95)] -> model`` as an unfitted Pipeline."""
    steps: list[tuple[str, Any]] = [("preprocess", preprocess)]
    if pca:
        steps.append(("pca", PCA(n_components=PCA_VARIANCE, svd_solver="full", random_state=seed)))
    steps.append(("model", model))
    return Pipeline(steps)


def scaled_target(regressor: BaseEstimator) -> TransformedTargetRegressor:
    """Fit ``regressor`` on the standardised target and predict in the original units.

    For models whose hyperparameters are in target units (SVR's epsilon) or whose
    optimisation depends on the target's scale (SGD, MLP), so that one search space
    fits targets of any scale.
    """
    return TransformedTargetRegressor(regressor=regressor, transformer=StandardScaler())
