"""The catalogue: every algorithm this plugin ships, and which of them a task is offered.

An algorithm name may appear twice, once for classification and once for regression,
because scikit-learn's defaults (and so ``default_params``) differ between the two;
a task is offered at most one of each name.
"""

from __future__ import annotations

from collections.abc import Callable

from autometa.contract import Algorithm, Task

from . import svm
from .bayes import NAIVE_BAYES
from .boosting import HIST_GRADIENT_BOOSTING
from .forests import (
    EXTRA_TREES_CLASSIFIER,
    EXTRA_TREES_REGRESSOR,
    RANDOM_FOREST_CLASSIFIER,
    RANDOM_FOREST_REGRESSOR,
)
from .linear import LINEAR_CLASSIFIER, LINEAR_REGRESSOR, SGD_CLASSIFIER, SGD_REGRESSOR
from .neighbors import KNN
from .neural import MLP


def _always(task: Task) -> bool:
    return True


CATALOGUE: tuple[tuple[Algorithm, Callable[[Task], bool]], ...] = (
    (LINEAR_CLASSIFIER, _always),
    (LINEAR_REGRESSOR, _always),
    (SGD_CLASSIFIER, _always),
    (SGD_REGRESSOR, _always),
    (svm.SVM_CLASSIFIER, svm.offered),
    (svm.SVM_REGRESSOR, svm.offered),
    (KNN, _always),
    (RANDOM_FOREST_CLASSIFIER, _always),
    (RANDOM_FOREST_REGRESSOR, _always),
    (EXTRA_TREES_CLASSIFIER, _always),
    (EXTRA_TREES_REGRESSOR, _always),
    (HIST_GRADIENT_BOOSTING, _always),
    (MLP, _always),
    (NAIVE_BAYES, _always),
)
"""Each algorithm with the condition (beyond its ``kinds``) under which it is offered."""

ALGORITHM_NAMES: tuple[str, ...] = tuple(dict.fromkeys(a.name for a, _ in CATALOGUE))


def algorithms_for(task: Task) -> list[Algorithm]:
    """The algorithms offered for ``task``: right kind, and able to handle its size."""
    return [a for a, offered in CATALOGUE if task.kind in a.kinds and offered(task)]
