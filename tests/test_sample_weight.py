"""sample_weight, groups and class_weight, from the estimators' fit to every split and score."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GroupKFold, KFold, LeaveOneGroupOut
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import autometa
from autometa._cli import main
from autometa.contract import Task
from autometa.knowledge._base import KnowledgeBase
from autometa.search._ensemble import score_predictions
from autometa.search._evaluation import cross_validate_config
from autometa.search._weights import RowWeights, accepts_sample_weight, fit_estimator

QUICK = {"n_trials": 2, "random_state": 0, "warm_start": 0, "ensemble": False}


def _flipped_copy(n_clean: int = 150, n_noise: int = 60) -> tuple[Any, ...]:
    """A clean table, and the same table with ``n_noise`` extra rows of flipped labels."""
    X, y = make_classification(
        n_samples=n_clean + n_noise, n_features=5, n_informative=2, n_redundant=0,
        n_clusters_per_class=1, class_sep=2.0, random_state=0,
    )  # fmt: skip
    X_clean, y_clean = X[:n_clean], y[:n_clean]
    noisy_y = y.copy()
    noisy_y[n_clean:] = 1 - noisy_y[n_clean:]
    weights = np.r_[np.ones(n_clean), np.zeros(n_noise)]
    return X_clean, y_clean, X, noisy_y, weights


# -- the rows' weights in each fold ---------------------------------------------------------
def test_zero_weighted_rows_change_neither_the_fits_nor_the_scores() -> None:
    X_clean, y_clean, X, noisy_y, weights = _flipped_copy()
    frame, clean = pd.DataFrame(X), pd.DataFrame(X_clean)
    clean_splits = list(KFold(3, shuffle=True, random_state=0).split(X_clean))
    noise = np.arange(len(X_clean), len(X))
    # The noisy rows sit in every training and every validation part, weighing nothing.
    splits = [(np.r_[train, noise], np.r_[valid, noise]) for train, valid in clean_splits]
    model = LogisticRegression(max_iter=1000)
    without = cross_validate_config(model, clean, y_clean, clean_splits, "accuracy")
    weighted = cross_validate_config(
        model, frame, noisy_y, splits, "accuracy", weights=RowWeights(weights)
    )
    unweighted = cross_validate_config(model, frame, noisy_y, splits, "accuracy")
    assert weighted.fold_scores == pytest.approx(without.fold_scores, abs=1e-9)
    assert unweighted.score < without.score - 0.1


def test_a_weighted_search_scores_as_one_without_the_zero_weighted_rows() -> None:
    # So many flipped rows that a model fitted on them unweighted gets the clean ones wrong.
    X_clean, y_clean, X, noisy_y, weights = _flipped_copy(n_noise=130)
    options = {**QUICK, "algorithms": ["linear"], "scoring": "accuracy"}
    clean = autometa.fit(X_clean, y_clean, **options)
    weighted = autometa.fit(X, noisy_y, sample_weight=weights, **options)
    unweighted = autometa.fit(X, noisy_y, **options)
    assert weighted.best_score_ == pytest.approx(clean.best_score_, abs=0.05)
    assert unweighted.best_score_ < clean.best_score_ - 0.1
    # The refitted model learned from the weighted rows only: the flipped ones are wrong.
    assert weighted.score(X_clean, y_clean) > 0.95


def test_weights_reach_the_model_through_pipelines_and_target_transformers() -> None:
    X, y = make_regression(n_samples=80, n_features=3, noise=1.0, random_state=0)
    y[:20] += 500.0  # rows a zero weight must make irrelevant
    weights = np.r_[np.zeros(20), np.ones(60)]
    expected = LinearRegression().fit(X[20:], y[20:]).predict(X)
    wrapped = Pipeline(
        [("scale", StandardScaler()), ("model", TransformedTargetRegressor(LinearRegression()))]
    )
    assert accepts_sample_weight(wrapped)
    np.testing.assert_allclose(fit_estimator(wrapped, X, y, weights).predict(X), expected)
    assert not accepts_sample_weight(Pipeline([("model", KNeighborsClassifier())]))


def test_ensemble_selection_scores_with_the_weights() -> None:
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.9, 0.1]])  # last row wrong
    classes = np.array([0, 1])
    assert score_predictions("accuracy", proba, y, classes) == pytest.approx(0.75)
    weights = np.array([1.0, 1.0, 1.0, 0.0])
    assert score_predictions("accuracy", proba, y, classes, weights) == pytest.approx(1.0)


def test_an_ensemble_fit_with_weights_works_end_to_end() -> None:
    X, y = make_classification(n_samples=120, n_features=5, random_state=1)
    weights = np.linspace(0.5, 2.0, len(y))
    model = autometa.fit(
        X, y, n_trials=3, random_state=0, warm_start=0, sample_weight=weights,
        algorithms=["linear", "naive_bayes"],
    )  # fmt: skip
    assert model.ensemble_ is not None
    assert model.ensemble_.members
    assert model.score(X, y) > 0.8


def test_algorithms_that_take_no_weights_are_left_out_and_said_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    X, y = make_classification(n_samples=80, n_features=4, random_state=0)
    weights = np.ones(len(y))
    with caplog.at_level(logging.WARNING, logger="autometa"):
        model = autometa.fit(X, y, sample_weight=weights, algorithms=["knn", "linear"], **QUICK)
    assert {e.config.algorithm for e in model.evaluations_} == {"linear"}
    assert "knn" in caplog.text
    assert "sample_weight" in caplog.text
    with pytest.raises(ValueError, match="takes sample weights"):
        autometa.fit(X, y, sample_weight=weights, algorithms=["knn"], **QUICK)
    # Without weights nothing is left out.
    plain = autometa.fit(X, y, algorithms=["knn"], **QUICK)
    assert {e.config.algorithm for e in plain.evaluations_} == {"knn"}


@pytest.mark.parametrize(
    ("algorithm", "make"),
    [("svm", make_classification), ("svm", make_regression), ("xgboost", make_classification)],
)
def test_wrapped_estimators_pass_the_weights_on(algorithm: str, make: Any) -> None:
    """The SVM wrappers (calibrated SVC, relative-gamma SVR) and XGBoost's label-encoding
    classifier hand the weights to the model inside, so a weighted fit keeps them."""
    if algorithm == "xgboost":
        pytest.importorskip("xgboost")
    X, y = make(n_samples=80, n_features=4, random_state=0)
    weights = np.linspace(0.5, 2.0, len(y))
    model = autometa.fit(X, y, sample_weight=weights, algorithms=[algorithm], **QUICK)
    assert {e.config.algorithm for e in model.evaluations_} == {algorithm}
    assert any(e.ok for e in model.evaluations_)


# -- groups ------------------------------------------------------------------------------------
def _assert_groups_whole(task: Task, groups: np.ndarray) -> None:
    splits = list(task.cv.split(task.X, task.y, task.groups))
    assert splits
    for train, valid in splits:
        assert not set(groups[train]) & set(groups[valid])


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_default_validation_by_groups_keeps_every_group_on_one_side(kind: str) -> None:
    maker = make_classification if kind == "binary" else make_regression
    X, y = maker(n_samples=90, n_features=4, random_state=0)
    groups = np.repeat([f"g{i}" for i in range(15)], 6)
    task = Task.from_data(X, y, kind=kind, groups=groups, random_state=0)  # type: ignore[arg-type]
    assert task.n_splits == 5
    _assert_groups_whole(task, groups)
    _assert_groups_whole(task.with_validation("holdout"), groups)
    assert task.with_validation("holdout").n_splits == 1


def test_a_class_seen_once_keeps_its_whole_group_in_training() -> None:
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    y = y.astype(object)
    y[7] = "rare"
    groups = np.arange(60) // 4  # row 7 shares group 1 with rows 4, 5, 6
    with pytest.warns(UserWarning, match="single row"):
        task = Task.from_data(X, y, groups=groups, random_state=0)
    _assert_groups_whole(task, groups)
    for train, _ in task.cv.split(task.X, task.y, task.groups):
        assert {4, 5, 6, 7} <= set(train)


def test_groups_reach_the_search_and_stop_a_leak() -> None:
    # Each group is four copies of one row with a random label: memorised within a group,
    # unpredictable across groups.
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(40, 4)), 4, axis=0)
    y = np.repeat(rng.integers(0, 2, size=40), 4)
    groups = np.repeat(np.arange(40), 4)
    options = {**QUICK, "algorithms": ["random_forest"], "scoring": "accuracy", "cv": 4}
    leaky = autometa.fit(X, y, **options)
    grouped = autometa.fit(X, y, groups=groups, **options)
    assert leaky.best_score_ > 0.9
    assert grouped.best_score_ < 0.75


def test_a_group_splitter_as_cv_uses_the_groups() -> None:
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    groups = np.arange(60) % 3
    model = autometa.fit(X, y, cv=LeaveOneGroupOut(), groups=groups, algorithms=["linear"], **QUICK)
    assert all(e.ok for e in model.evaluations_)


@pytest.mark.parametrize("cv", [GroupKFold(3), LeaveOneGroupOut()])
def test_a_group_splitter_without_groups_is_a_clear_error(cv: Any) -> None:
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    with pytest.raises(ValueError, match=r"splits by groups.*Pass groups="):
        autometa.fit(X, y, cv=cv, **QUICK)


# -- bad input -----------------------------------------------------------------------------------
N = 40


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"sample_weight": np.ones(N - 1)}, ValueError, "one weight per row"),
        ({"sample_weight": np.ones((N, 2))}, ValueError, "one weight per row"),
        ({"sample_weight": np.r_[np.nan, np.ones(N - 1)]}, ValueError, "missing or infinite"),
        ({"sample_weight": np.r_[-1.0, np.ones(N - 1)]}, ValueError, "negative"),
        ({"sample_weight": np.zeros(N)}, ValueError, "zero everywhere"),
        ({"sample_weight": np.array(["a"] * N)}, TypeError, "numbers"),
        ({"groups": np.arange(N - 1)}, ValueError, "one group label per row"),
        ({"groups": np.r_[None, np.arange(N - 1)]}, ValueError, "missing values"),
        ({"groups": np.zeros(N)}, ValueError, "single group"),
    ],
)
def test_bad_weights_and_groups_fail_before_any_work(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    X, y = make_classification(n_samples=N, n_features=4, random_state=0)
    with pytest.raises(error, match=message):
        autometa.AutoMetaClassifier(n_trials=1).fit(X, y, **arguments)


def test_bad_class_weight_is_a_clear_error() -> None:
    X, y = make_classification(n_samples=N, n_features=4, random_state=0)
    with pytest.raises(ValueError, match="class_weight must be None or 'balanced'"):
        autometa.fit(X, y, class_weight="auto", n_trials=1)
    Xr, yr = make_regression(n_samples=N, n_features=4, random_state=0)
    with pytest.raises(ValueError, match="regression task"):
        autometa.fit(Xr, yr, class_weight="balanced", n_trials=1)


# -- class imbalance -------------------------------------------------------------------------------
def test_balanced_class_weight_raises_balanced_accuracy_on_imbalanced_data() -> None:
    X, y = make_classification(
        n_samples=300, n_features=6, n_informative=3, weights=[0.93], flip_y=0.02,
        class_sep=0.6, random_state=3,
    )  # fmt: skip
    options = {**QUICK, "algorithms": ["linear"], "scoring": "balanced_accuracy"}
    plain = autometa.fit(X, y, **options)
    balanced = autometa.fit(X, y, class_weight="balanced", **options)
    assert balanced.get_params()["class_weight"] == "balanced"
    assert balanced.best_score_ > plain.best_score_ + 0.05


def test_weighted_fits_do_not_teach_a_writable_knowledge_base(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    path = tmp_path / "kb.db"
    options = {**QUICK, "algorithms": ["linear"], "knowledge": str(path)}
    with caplog.at_level(logging.WARNING, logger="autometa"):
        autometa.fit(X, y, class_weight="balanced", **options)
    assert "not added to the knowledge base" in caplog.text
    assert KnowledgeBase.open(path).counts()["evaluations"] == 0
    autometa.fit(X, y, groups=np.arange(60) % 5, **options)  # groups alone do teach
    assert KnowledgeBase.open(path).counts()["evaluations"] == 2


# -- the command line ------------------------------------------------------------------------------
def test_the_command_line_takes_weight_and_group_columns(tmp_path: Path) -> None:
    X, y = make_classification(n_samples=80, n_features=4, weights=[0.8], random_state=0)
    table = pd.DataFrame(X, columns=[f"x{i}" for i in range(4)])
    table["weight"] = np.linspace(0.5, 1.5, 80)
    table["site"] = [f"s{i % 8}" for i in range(80)]
    table["label"] = y
    data = tmp_path / "table.csv"
    table.to_csv(data, index=False)
    out = tmp_path / "model.joblib"
    args = ["fit", str(data), "--target", "label", "--n-trials", "2", "--no-warm-start"]
    args += ["--algorithms", "linear", "--no-ensemble", "--scoring", "balanced_accuracy"]
    args += ["--sample-weight", "weight", "--groups", "site", "--class-weight", "balanced"]
    result = CliRunner().invoke(main, [*args, "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.split("\nModel saved")[0])
    assert report["scoring"] == "balanced_accuracy"
    from autometa.persistence import load_model

    assert list(load_model(out).feature_names_in_) == ["x0", "x1", "x2", "x3"]
    missing = CliRunner().invoke(main, [*args[:-4], "--groups", "nowhere"])
    assert missing.exit_code == 2
    assert "--groups 'nowhere': no such column" in missing.output


def test_weights_and_groups_give_the_task_its_own_id() -> None:
    X, y = make_classification(n_samples=N, n_features=4, random_state=0)
    plain = Task.from_data(X, y)
    weighted = Task.from_data(X, y, sample_weight=np.linspace(1, 2, N))
    assert weighted.task_id.startswith(plain.task_id + "-r")
    # The fit's path (rows joined after planning) names it the same way.
    assert plain.with_rows(np.linspace(1, 2, N)).task_id == weighted.task_id
    assert Task.from_data(X, y, groups=np.arange(N) % 4).task_id != weighted.task_id
