"""scikit-learn's own estimator checks (``sklearn.utils.estimator_checks``), run on both
estimators, and what they do not hold for an AutoML search (:data:`EXPECTED_FAILURES`).

The checks fit dozens of times, so each estimator searches the smallest space that is
still a real search: one trial of one cheap algorithm, a cold start with a fixed
strategy (no strategy learning), two folds, no ensemble. Input validation, the fitted
attributes, pickling, cloning and prediction go through the same code as any fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.model_selection import KFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from autometa import AutoMetaClassifier, AutoMetaRegressor, Strategy

TINY: dict[str, Any] = {
    "n_trials": 1,
    "warm_start": 0,
    "ensemble": False,
    "cv": 2,
    "random_state": 0,
    "verbose": 0,
    "strategy": Strategy(meta_learner=None, n_warm_starts=0, sampler="random"),
}

EXPECTED_FAILURES: dict[str, str] = {
    "check_sample_weight_equivalence_on_dense_data": (
        "weights are not repeated rows: preprocessing (imputation, scaling, encoding) "
        "learns from the rows unweighted, and the search validates on the rows it is given, "
        "so a row of weight 3 and three copies of it give close but not equal models"
    ),
}
"""Checks autometa fails on purpose, for both estimators, with the reason."""


def expected_failures(estimator: Any) -> dict[str, str]:
    """What :func:`parametrize_with_checks` should expect to fail for ``estimator``: the
    same for both."""
    return dict(EXPECTED_FAILURES)


@parametrize_with_checks(
    [
        AutoMetaClassifier(algorithms=["naive_bayes"], **TINY),
        AutoMetaRegressor(algorithms=["linear"], **TINY),
    ],
    expected_failed_checks=expected_failures,
    xfail_strict=True,  # a check that starts passing must leave the list above
)
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


def test_a_classifier_takes_integer_labels_as_classes() -> None:
    # Four integer values, one of them on a single row: autometa.fit would take them for
    # counts (a regression); a classifier was asked for classes.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = np.array([0, 1, 2] * 9 + [0, 1, 3])
    with pytest.warns(UserWarning, match=r"Classes \[3\] have a single row"):
        model = AutoMetaClassifier(algorithms=["naive_bayes"], **TINY).fit(X, y)
    assert list(model.classes_) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        AutoMetaClassifier(**TINY).fit(X, y + 0.5)


def test_cv_may_be_a_list_of_splits() -> None:
    # As scikit-learn's cv: (train, test) row indices. One split is a holdout, which no
    # number of folds gives.
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = X[:, 0] + X[:, 1]
    for splits in ([(np.arange(30), np.arange(30, 40))], list(KFold(4).split(X))):
        model = AutoMetaRegressor(algorithms=["linear"], **{**TINY, "cv": splits}).fit(X, y)
        assert len(model.study_.trials[0].user_attrs["fold_scores"]) == len(splits)
    with pytest.raises(ValueError, match="outside X's 40 rows"):
        AutoMetaRegressor(**{**TINY, "cv": [(np.arange(30), np.arange(30, 41))]}).fit(X, y)
