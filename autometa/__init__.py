"""autometa: meta-learning AutoML.

Learns from earlier tasks which algorithms and hyperparameters work, recommends them for
a new dataset, and warm-starts an Optuna search from them::

    model = autometa.fit(X, y, timeout=60)       # tuned scikit-learn-style estimator
    recs = autometa.recommend(X, y, k=10)        # what to try, with the evidence
    autometa.warm_start(study, X, y, n=10)       # seed your own Optuna study
    space = autometa.SearchSpace(X, y)           # ... and sample autometa's space in it

Public names are imported on first use, so ``import autometa`` (and the command line)
stays fast and a plugin importing ``autometa.contract`` pulls in only the contract.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from autometa._version import __version__

_EXPORTS = {
    "AllTrialsFailedError": "autometa.search._errors",
    "AutoMetaClassifier": "autometa._api",
    "AutoMetaRegressor": "autometa._api",
    "BudgetTooSmallError": "autometa.search._errors",
    "SearchSpace": "autometa._search_space",
    "fit": "autometa._api",
    "recommend": "autometa._recommend",
    "warm_start": "autometa._recommend",
    "hookimpl": "autometa.contract",
    "KnowledgeBase": "autometa.knowledge",
    "MetaLearner": "autometa.contract",
    "PluginError": "autometa._plugins",
    "Task": "autometa.contract",
    "Algorithm": "autometa.contract",
    "Config": "autometa.contract",
    "Evaluation": "autometa.contract",
    "Evidence": "autometa.contract",
    "Recommendation": "autometa.contract",
    "Strategy": "autometa.contract",
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
    "__version__",
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
    from autometa._api import AutoMetaClassifier, AutoMetaRegressor, fit
    from autometa._plugins import PluginError
    from autometa._recommend import recommend, warm_start
    from autometa._search_space import SearchSpace
    from autometa.contract import (
        Algorithm,
        Config,
        Evaluation,
        Evidence,
        MetaLearner,
        Recommendation,
        Strategy,
        Task,
        hookimpl,
    )
    from autometa.knowledge import KnowledgeBase
    from autometa.search._errors import AllTrialsFailedError, BudgetTooSmallError
    from autometa.study_transfer import (
        TransferredTrial,
        TransferWarning,
        cma_source_trials,
        describe_study,
        rank_studies,
        transfer,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'autometa' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
