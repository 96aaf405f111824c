"""autometa_sklearn: the first-party algorithm catalogue (scikit-learn + Optuna spaces).

Implements the ``autometa_algorithms(task)`` hook. Every algorithm's factory returns an
unfitted scikit-learn ``Pipeline`` (column preprocessing built from the task's schema,
then the model) that clones and pickles; classifiers always have ``predict_proba``.

Algorithms (see each module for its space): ``linear``, ``sgd``, ``svm`` (tasks of at
most 10,000 rows), ``knn``, ``random_forest``, ``extra_trees``,
``hist_gradient_boosting``, ``mlp``, ``naive_bayes`` (classification only).
"""

from __future__ import annotations

from autometa.contract import Algorithm, Task
from autometa.contract.hookspecs import hookimpl

from .catalogue import ALGORITHM_NAMES, CATALOGUE, algorithms_for

__all__ = ["ALGORITHM_NAMES", "CATALOGUE", "algorithms_for", "autometa_algorithms"]


@hookimpl
def autometa_algorithms(task: Task) -> list[Algorithm]:
    """The catalogue's algorithms that handle ``task``'s kind and size."""
    return algorithms_for(task)
