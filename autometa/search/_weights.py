"""Row weights: which rows count how much in fitting and in scoring.

A task's ``sample_weight`` goes to every estimator's ``fit`` and to every scorer;
``class_weight`` adds training weights by class (``"balanced"``: each class weighs the
same, computed on the rows a model is fitted on, as scikit-learn's
``compute_sample_weight("balanced", y)``; a dict: each class its weight, 1 when not
named), which scorers do not use: the score measures what the user asked for, the class
weights only change how models learn.

Estimators are built by plugins, usually as a Pipeline whose last step is the model,
sometimes wrapped (a ``TransformedTargetRegressor``): :func:`fit_estimator` routes the
weights to that model, and :func:`accepts_sample_weight` says whether it takes them.
Preprocessing steps before it (scalers, encoders, PCA) are fitted unweighted: they
describe the inputs, and most of scikit-learn's take no weights.
The trial code imports this module in every worker, so it stays free of Optuna and
the rest of autometa.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import has_fit_parameter

if TYPE_CHECKING:
    from autometa.contract._row_checks import ClassWeight
    from autometa.contract._task import Task
    from autometa.contract._types import Algorithm


@dataclass(frozen=True)
class RowWeights:
    """A task's weights, for any subset of its rows."""

    sample_weight: np.ndarray | None
    """One weight per row of the task, or None."""
    class_weight: ClassWeight = None
    """The task's checked ``class_weight``: None, ``"balanced"`` or a dict."""

    def for_fit(self, y: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray | None:
        """Training weights of ``rows`` (all rows when None) whose targets are ``y[rows]``."""
        picked = slice(None) if rows is None else rows
        weights = None if self.sample_weight is None else self.sample_weight[picked]
        if self.class_weight is not None:
            by_class = class_sample_weight(self.class_weight, np.asarray(y)[picked])
            weights = by_class if weights is None else weights * by_class
        return weights

    def for_score(self, rows: np.ndarray) -> np.ndarray | None:
        """Scoring weights of ``rows``: the user's own, never the class balance."""
        return None if self.sample_weight is None else self.sample_weight[rows]


def row_weights(task: Task) -> RowWeights | None:
    """The task's weights, or None when every row weighs the same everywhere."""
    if task.sample_weight is None and task.class_weight is None:
        return None
    return RowWeights(task.sample_weight, task.class_weight)


def class_sample_weight(class_weight: ClassWeight, y: np.ndarray) -> np.ndarray:
    """Each row's weight by its class, as scikit-learn's ``compute_sample_weight``.

    ``"balanced"`` (and None) is delegated to it. A dict is looked up here, by the class
    labels themselves (a class not named weighs 1): scikit-learn 1.9 looks a class up as
    ``int(label)`` (else ``str(label)``), which misreads text labels such as ``"1"``, and
    refuses a dict naming a class that ``y`` lacks while another class is not named,
    which a training fold may do (a rare class kept out of it).
    """
    if not isinstance(class_weight, Mapping):
        return np.asarray(compute_sample_weight(class_weight, y), dtype=np.float64)
    classes, codes = np.unique(y, return_inverse=True)
    per_class = np.array([class_weight.get(c, 1.0) for c in classes.tolist()], dtype=np.float64)
    return per_class[codes.reshape(-1)]


def training_weights(task: Task) -> np.ndarray | None:
    """The weights a model fitted on all the task's rows gets (a refit), or None."""
    weights = row_weights(task)
    return None if weights is None else weights.for_fit(task.y)


def fit_estimator(model: Any, X: Any, y: Any, sample_weight: np.ndarray | None) -> Any:
    """``model.fit(X, y)`` with ``sample_weight`` routed to the model that learns.

    A Pipeline passes it to its last step (``<name>__sample_weight``), a
    ``TransformedTargetRegressor`` to its regressor; other estimators get it plainly.
    Without weights this is ``model.fit(X, y)``.
    """
    if sample_weight is None:
        return model.fit(X, y)
    if isinstance(model, Pipeline):
        name = model.steps[-1][0]
        return model.fit(X, y, **{f"{name}__sample_weight": sample_weight})
    return model.fit(X, y, sample_weight=sample_weight)


def score_estimator(
    scorer: Any, model: Any, X: Any, y: Any, sample_weight: np.ndarray | None
) -> float:
    """The scorer's score of ``model`` on ``X, y``, with the rows' weights when given."""
    if sample_weight is None:
        return float(scorer(model, X, y))
    return float(scorer(model, X, y, sample_weight=sample_weight))


def accepts_sample_weight(estimator: Any) -> bool:
    """Whether :func:`fit_estimator` can hand ``estimator``'s model its weights.

    Through Pipelines (the last step) and ``TransformedTargetRegressor`` (the
    regressor); a ``fit`` that names ``sample_weight``, or takes ``**fit_params`` and
    overrides a base class's ``fit`` that names it (a subclass adjusting the fit).
    """
    if isinstance(estimator, Pipeline):
        last = estimator.steps[-1][1]
        return last not in (None, "passthrough") and accepts_sample_weight(last)
    if isinstance(estimator, TransformedTargetRegressor):
        return estimator.regressor is None or accepts_sample_weight(estimator.regressor)
    if has_fit_parameter(estimator, "sample_weight"):
        return True
    parameters = inspect.signature(estimator.fit).parameters.values()
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return False
    overridden = [vars(base)["fit"] for base in type(estimator).__mro__[1:] if "fit" in vars(base)]
    return any(
        "sample_weight" in inspect.signature(fit).parameters for fit in overridden if callable(fit)
    )


def weightable(
    algorithms: Mapping[str, Algorithm], task: Task
) -> tuple[dict[str, Algorithm], list[str]]:
    """The algorithms whose estimators take sample weights, and the names of the others.

    Judged on each algorithm's default configuration; one whose factory fails there is
    kept (its trials fail or succeed on their own).
    """
    kept: dict[str, Algorithm] = {}
    left_out: list[str] = []
    for name, algorithm in algorithms.items():
        try:
            estimator = algorithm.make_estimator(dict(algorithm.default_params), task)
        except Exception:
            kept[name] = algorithm
            continue
        if accepts_sample_weight(estimator):
            kept[name] = algorithm
        else:
            left_out.append(name)
    return kept, left_out
