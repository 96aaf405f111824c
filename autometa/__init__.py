"""autometa: meta-learning AutoML.

Learns from earlier tasks which algorithms and hyperparameters work, recommends them for
a new dataset, and warm-starts an Optuna search from them::

    model = autometa.fit(X, y, timeout=60)       # tuned scikit-learn-style estimator
    recs = autometa.recommend(X, y, k=10)        # what to try, with the evidence
    autometa.warm_start(study, X, y, n=10)       # seed your own Optuna study
    space = autometa.SearchSpace(X, y)           # ... and sample autometa's space in it

Public names are imported on first use, so ``import autometa`` (and the command line)
stays fast and a plugin importing ``autometa.hookspecs`` pulls in nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AllTrialsFailedError": "autometa.api",
    "AutoMetaClassifier": "autometa.api",
    "AutoMetaRegressor": "autometa.api",
    "BudgetTooSmallError": "autometa.api",
    "SearchSpace": "autometa.api",
    "fit": "autometa.api",
    "recommend": "autometa.api",
    "warm_start": "autometa.api",
    "hookimpl": "autometa.hookspecs",
    "KnowledgeBase": "autometa.knowledge",
    "MetaLearner": "autometa.metalearner",
    "PluginError": "autometa.plugins",
    "Task": "autometa.task",
    "Algorithm": "autometa.types",
    "Config": "autometa.types",
    "Evaluation": "autometa.types",
    "Evidence": "autometa.types",
    "Recommendation": "autometa.types",
    "Strategy": "autometa.types",
    "TransferWarning": "autometa.study_transfer",
    "TransferredTrial": "autometa.study_transfer",
    "cma_source_trials": "autometa.study_transfer",
    "describe_study": "autometa.study_transfer",
    "rank_studies": "autometa.study_transfer",
    "transfer": "autometa.study_transfer",
}

__all__ = [
    "Algorithm",
    "AllTrialsFailedError",
    "AutoMetaClassifier",
    "AutoMetaRegressor",
    "BudgetTooSmallError",
    "Config",
    "Evaluation",
    "Evidence",
    "KnowledgeBase",
    "MetaLearner",
    "PluginError",
    "Recommendation",
    "SearchSpace",
    "Strategy",
    "Task",
    "TransferWarning",
    "TransferredTrial",
    "cma_source_trials",
    "describe_study",
    "fit",
    "hookimpl",
    "rank_studies",
    "recommend",
    "transfer",
    "warm_start",
]

if TYPE_CHECKING:
    from autometa.api import (
        AllTrialsFailedError,
        AutoMetaClassifier,
        AutoMetaRegressor,
        BudgetTooSmallError,
        SearchSpace,
        fit,
        recommend,
        warm_start,
    )
    from autometa.hookspecs import hookimpl
    from autometa.knowledge import KnowledgeBase
    from autometa.metalearner import MetaLearner
    from autometa.plugins import PluginError
    from autometa.study_transfer import (
        TransferredTrial,
        TransferWarning,
        cma_source_trials,
        describe_study,
        rank_studies,
        transfer,
    )
    from autometa.task import Task
    from autometa.types import Algorithm, Config, Evaluation, Evidence, Recommendation, Strategy


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'autometa' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
