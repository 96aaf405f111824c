"""check_algorithm: an algorithm's space, default and estimator behave as a fit needs."""

from __future__ import annotations

import math
import pickle
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
)
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from autometa.contract._task import Task
from autometa.contract._task_checks import scorer_for
from autometa.contract._types import (
    Algorithm,
    Config,
)
from autometa.testing._common import _SEED, PROBABILITY_TOLERANCE, SUPPORTED_DISTRIBUTIONS, _fail
from autometa.testing._data import _sampled_params, small_tasks


def check_algorithm(
    algorithm: Algorithm,
    task: Task | None = None,
    *,
    n_configs: int = 3,
    random_state: int = _SEED,
) -> None:
    """Run ``algorithm`` the way a search does, on ``task`` or a small task of each kind.

    For each task: ``search_space`` returns distributions the search can suggest
    (Optuna Float/Int/Categorical, JSON-safe choices); ``default_params`` names exactly
    the space's parameters with values inside it (otherwise the default, and every
    recommendation of it, is dropped as out of space); and the default plus
    ``n_configs`` configurations drawn by a seeded Optuna RandomSampler each build an
    estimator that survives :func:`sklearn.base.clone` and pickling (the search clones
    per fold and ships estimators to joblib worker processes; saved models are pickles),
    fits and predicts on a training fold, scores finitely with the task's scorer, and
    gives the same predictions after a pickle round trip and when a clone is fitted on
    the same rows (seeded fits must be reproducible). Classifiers must have
    ``predict_proba`` with one column per class, rows summing to 1.

    :param task: check only this task (its kind must be one of ``algorithm.kinds``).
    """
    if not isinstance(algorithm, Algorithm):
        _fail(f"check_algorithm expects an autometa.contract.Algorithm, got {algorithm!r}.")
    if task is None:
        tasks = [t for kind, t in small_tasks().items() if kind in algorithm.kinds]
    elif task.kind not in algorithm.kinds:
        _fail(
            f"Algorithm {algorithm.name!r} handles {algorithm.kinds}, not the given "
            f"{task.kind} task."
        )
    else:
        tasks = [task]
    for one in tasks:
        where = f"Algorithm {algorithm.name!r} on a {one.kind} task ({one.name})"
        space = _checked_space(algorithm, one, where)
        _check_default(algorithm, space, where)
        candidates = [dict(algorithm.default_params)]
        candidates += _sampled_params(space, n_configs, random_state)
        for config in dict.fromkeys(Config(algorithm.name, p) for p in candidates):
            _check_estimator(algorithm, config, one, where)


def _checked_space(algorithm: Algorithm, task: Task, where: str) -> dict[str, BaseDistribution]:
    try:
        space = algorithm.search_space(task)
    except Exception as exc:
        _fail(f"{where}: search_space raised {type(exc).__name__}: {exc}")
    if not isinstance(space, Mapping):
        _fail(f"{where}: search_space returned {type(space).__name__}, expected a dict.")
    for param, distribution in space.items():
        if not isinstance(param, str) or not param:
            _fail(f"{where}: search space parameter names must be strings, got {param!r}.")
        if not isinstance(distribution, SUPPORTED_DISTRIBUTIONS):
            _fail(
                f"{where}: parameter {param!r} has {type(distribution).__name__}; the "
                "search suggests optuna.distributions.FloatDistribution, IntDistribution "
                "and CategoricalDistribution only."
            )
        if isinstance(distribution, CategoricalDistribution):
            for choice in distribution.choices:
                if not (choice is None or isinstance(choice, (str, int, float, bool))):
                    _fail(
                        f"{where}: parameter {param!r} offers {choice!r}; categorical choices "
                        "must be str, int, float, bool or None (configurations are stored "
                        "as JSON)."
                    )
    return dict(space)


def _check_default(algorithm: Algorithm, space: Mapping[str, BaseDistribution], where: str) -> None:
    defaults = dict(algorithm.default_params)
    missing, extra = sorted(set(space) - set(defaults)), sorted(set(defaults) - set(space))
    if missing or extra:
        _fail(
            f"{where}: default_params must name exactly the search space's parameters; "
            f"missing {missing}, not in the space {extra}."
        )
    for param, value in defaults.items():
        distribution = space[param]
        try:
            inside = distribution._contains(distribution.to_internal_repr(value))
        except (ValueError, TypeError):
            inside = False
        if not inside:
            _fail(
                f"{where}: default {param}={value!r} lies outside the search space "
                f"{distribution!r}; the default would never be searched or recommended."
            )
    try:
        Config(algorithm.name, defaults)
    except TypeError as exc:
        _fail(f"{where}: default_params are not JSON-safe: {exc}")


def _check_estimator(algorithm: Algorithm, config: Config, task: Task, where: str) -> None:
    where = f"{where}, params {dict(config.params)}"
    try:
        estimator = algorithm.make_estimator(config.params, task)
    except Exception as exc:
        _fail(f"{where}: make_estimator raised {type(exc).__name__}: {exc}")
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
        _fail(f"{where}: make_estimator returned {estimator!r}, not a scikit-learn estimator.")
    try:
        twin = clone(estimator)
    except Exception as exc:
        _fail(
            f"{where}: the estimator does not survive sklearn.base.clone ({type(exc).__name__}: "
            f"{exc}); keep every __init__ argument as an attribute of the same name, unchanged."
        )
    try:
        pickle.loads(pickle.dumps(estimator))
    except Exception as exc:
        _fail(
            f"{where}: the estimator cannot be pickled ({type(exc).__name__}: {exc}); joblib "
            "workers and saved models need it (no lambdas or local classes inside)."
        )
    train, test = next(iter(task.cv.split(task.X, task.y)))
    X_train, y_train, X_test = task.X.iloc[train], task.y[train], task.X.iloc[test]
    # One thread, as in the search's worker processes; warnings are the search's business.
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        try:
            estimator.fit(X_train, y_train)
            twin.fit(X_train, y_train)
            predictions = np.asarray(estimator.predict(X_test))
        except Exception as exc:
            _fail(f"{where}: fit/predict raised {type(exc).__name__}: {exc}")
        if predictions.shape[:1] != (len(test),):
            _fail(f"{where}: predict returned shape {predictions.shape} for {len(test)} rows.")
        outputs = _outputs(estimator, X_test, task, where)
        try:
            score = float(scorer_for(task.scoring, task.classes)(estimator, X_test, task.y[test]))
        except Exception as exc:
            _fail(f"{where}: scoring with {task.scoring!r} raised {type(exc).__name__}: {exc}")
        if not math.isfinite(score):
            _fail(f"{where}: {task.scoring} score is {score} on a validation fold.")
        try:
            restored = pickle.loads(pickle.dumps(estimator))
        except Exception as exc:
            _fail(f"{where}: the fitted estimator cannot be pickled ({type(exc).__name__}: {exc}).")
        if not _same(_outputs(restored, X_test, task, where), outputs):
            _fail(f"{where}: the fitted estimator predicts differently after a pickle round trip.")
        if not _same(_outputs(twin, X_test, task, where), outputs):
            _fail(
                f"{where}: a clone fitted on the same rows predicts differently; seed every "
                "random step from task.random_state (and keep parameters in __init__)."
            )


def _outputs(model: Any, X: pd.DataFrame, task: Task, where: str) -> np.ndarray:
    """Probabilities of a classifier (checked), predictions of a regressor (checked)."""
    if not task.is_classification:
        predictions = np.asarray(model.predict(X), dtype=float)
        if not np.isfinite(predictions).all():
            _fail(f"{where}: predict returned non-finite values.")
        return predictions
    labels = set(np.asarray(model.predict(X)).tolist())
    unknown = labels - set(np.asarray(task.classes).tolist())
    if unknown:
        _fail(f"{where}: predict returned labels {sorted(map(str, unknown))} not in y.")
    if not hasattr(model, "predict_proba"):
        _fail(
            f"{where}: classifiers must have predict_proba (log loss and ROC AUC need it, "
            "and so does the model autometa returns)."
        )
    proba = np.asarray(model.predict_proba(X), dtype=float)
    n_classes = len(np.asarray(model.classes_))
    if proba.shape != (len(X), n_classes):
        _fail(f"{where}: predict_proba has shape {proba.shape}, expected {(len(X), n_classes)}.")
    if not np.isfinite(proba).all() or (proba < -PROBABILITY_TOLERANCE).any():
        _fail(f"{where}: predict_proba returned negative or non-finite values.")
    worst = float(np.abs(proba.sum(axis=1) - 1.0).max())
    if worst > PROBABILITY_TOLERANCE:
        _fail(f"{where}: predict_proba rows must sum to 1; one is off by {worst:.3g}.")
    return proba


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-7, atol=1e-10, equal_nan=True))
