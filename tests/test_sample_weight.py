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
from sklearn.model_selection import GroupKFold, KFold, LeaveOneGroupOut, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

import autometa
from autometa._cli import main
from autometa._cli_fit import class_weight_option
from autometa.contract import Task
from autometa.contract._splitters import RepeatedSplits
from autometa.knowledge._base import KnowledgeBase
from autometa.search._ensemble import score_predictions
from autometa.search._evaluation import cross_validate_config
from autometa.search._weights import (
    RowWeights,
    accepts_sample_weight,
    class_sample_weight,
    fit_estimator,
)

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


def test_groups_given_after_planning_keep_the_strategys_repeated_folds() -> None:
    X, y = make_classification(n_samples=90, n_features=4, random_state=0)
    groups = np.repeat(np.arange(15), 6)
    planned = Task.from_data(X, y, random_state=0).with_validation("cv", 5, n_repeats=2)
    task = planned.with_rows(groups=groups)
    assert isinstance(task.cv, RepeatedSplits)
    assert task.n_splits == 10
    _assert_groups_whole(task, groups)


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
    for wrong in ("auto", [1.0, 2.0]):
        with pytest.raises(ValueError, match=r"class_weight must be None, 'balanced' or a dict"):
            autometa.fit(X, y, class_weight=wrong, n_trials=1)
    Xr, yr = make_regression(n_samples=N, n_features=4, random_state=0)
    for weighing in ("balanced", {0: 2.0}):
        with pytest.raises(ValueError, match="regression task"):
            autometa.fit(Xr, yr, class_weight=weighing, n_trials=1)


@pytest.mark.parametrize(
    ("class_weight", "error", "message"),
    [
        (
            {5: 2.0},
            ValueError,
            r"names \[5\], which is not a class of y; the classes are \[0, 1, 2\]",
        ),
        ({"1": 2.0}, ValueError, r"names \['1'\], which is not a class.*1 and '1' differ"),
        ({0: -1.0}, ValueError, "class 0 the weight -1.0; a class weight must be a finite number"),
        ({1: np.inf}, ValueError, "class 1 the weight inf"),
        ({1: float("nan")}, ValueError, "class 1 the weight nan"),
        ({0: "heavy"}, TypeError, "weights must be numbers; class 0 has 'heavy'"),
        ({0: True}, TypeError, "weights must be numbers"),
        ({0: 0, 1: 0, 2: 0}, ValueError, "every class the weight 0.*no row"),
        ({0: 0, 1: 0}, ValueError, r"leaves a single class with a positive weight \(2\)"),
    ],
)
def test_bad_class_weight_dicts_fail_before_any_work(
    class_weight: dict[Any, Any],
    error: type[Exception],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, y = make_classification(
        n_samples=60, n_features=4, n_informative=3, n_redundant=0, n_classes=3, random_state=0
    )
    # The classes are checked as the task is built, before the meta-features are computed.
    from autometa.search import _planning

    def no_work(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("planning went past the task's checks")

    monkeypatch.setattr(_planning, "compute_meta_features", no_work)
    with pytest.raises(error, match=message):
        autometa.AutoMetaClassifier(class_weight=class_weight, n_trials=1).fit(X, y)


def test_class_weight_and_sample_weight_together_must_leave_two_classes() -> None:
    X, y = make_classification(
        n_samples=60, n_features=4, n_informative=3, n_redundant=0, n_classes=3, random_state=0
    )
    weights = (y != 2).astype(float)  # class 2 out by its rows, class 0 by its weight
    with pytest.raises(ValueError, match=r"sample_weight with class_weight leaves a single class"):
        autometa.fit(X, y, sample_weight=weights, class_weight={0: 0.0}, **QUICK)
    with pytest.raises(ValueError, match="leaves no row"):
        Task.from_data(X, y, sample_weight=(y == 0).astype(float), class_weight={0: 0.0})


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


# -- per-class weights --------------------------------------------------------------------------
def _imbalanced(n_major: int = 180, n_minor: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Two classes whose counts divide by 5: stratified 5-fold training parts keep the
    exact class ratio, so per-fold balanced weights equal the whole table's."""
    X, y = make_classification(
        n_samples=3 * n_major, n_features=5, n_informative=3, class_sep=0.7, random_state=2
    )
    rows = np.r_[np.flatnonzero(y == 0)[:n_major], np.flatnonzero(y == 1)[:n_minor]]
    return X[rows], y[rows]


def _balanced_dict(y: np.ndarray) -> dict[int, float]:
    classes, counts = np.unique(y, return_counts=True)
    return {int(c): len(y) / (len(classes) * n) for c, n in zip(classes, counts, strict=True)}


def test_a_dict_of_the_balanced_weights_fits_as_balanced() -> None:
    X, y = _imbalanced()
    as_dict = _balanced_dict(y)
    assert as_dict == {0: pytest.approx(200 / 360), 1: 5.0}
    splits = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    model, frame = LogisticRegression(max_iter=1000), pd.DataFrame(X)
    scores = {
        str(weighing): cross_validate_config(
            model, frame, y, splits, "balanced_accuracy", weights=RowWeights(None, weighing)
        ).fold_scores
        for weighing in ("balanced", as_dict, None)
    }
    assert scores[str(as_dict)] == pytest.approx(scores["balanced"], abs=1e-9)
    assert np.mean(scores["balanced"]) > np.mean(scores["None"]) + 0.05
    # And through a whole search: the same trials, the same scores.
    options = {**QUICK, "algorithms": ["linear"], "scoring": "balanced_accuracy", "cv": 5}
    balanced = autometa.fit(X, y, class_weight="balanced", **options)
    weighted = autometa.fit(X, y, class_weight=as_dict, **options)
    assert weighted.get_params()["class_weight"] is as_dict
    assert [e.config for e in weighted.evaluations_] == [e.config for e in balanced.evaluations_]
    assert [e.score for e in weighted.evaluations_] == pytest.approx(
        [e.score for e in balanced.evaluations_], abs=1e-9
    )


def test_a_class_weighed_zero_is_left_out_of_training() -> None:
    X, y = make_classification(
        n_samples=150, n_features=5, n_informative=3, n_redundant=0, n_classes=3, random_state=0
    )
    options = {**QUICK, "algorithms": ["linear"], "scoring": "accuracy"}
    plain = autometa.fit(X, y, **options)
    without_0 = autometa.fit(X, y, class_weight={0: 0.0}, **options)
    heavy_0 = autometa.fit(X, y, class_weight={0: 20.0}, **options)
    assert list(without_0.classes_) == [0, 1, 2]  # still a class, never learned
    share_of_0 = {
        name: np.mean(model.predict(X) == 0)
        for name, model in (("plain", plain), ("without", without_0), ("heavy", heavy_0))
    }
    assert share_of_0["without"] < 0.05 < 0.25 < share_of_0["plain"] < share_of_0["heavy"]


def test_class_sample_weight_looks_dicts_up_by_label() -> None:
    y = np.array([0, 1, 1, 2, 2, 2])
    expected = compute_sample_weight({0: 3.0, 2: 0.5}, y)
    np.testing.assert_array_equal(class_sample_weight({0: 3.0, 2: 0.5}, y), expected)
    np.testing.assert_array_equal(
        class_sample_weight("balanced", y), compute_sample_weight("balanced", y)
    )
    # Labels that read as numbers stay labels (scikit-learn 1.9 looks "1" up as 1).
    text = np.array(["1", "2", "2"], dtype=object)
    np.testing.assert_array_equal(class_sample_weight({"1": 5.0}, text), [5.0, 1.0, 1.0])
    # A training fold may lack a class the dict names (one kept out of it).
    np.testing.assert_array_equal(class_sample_weight({2: 4.0, 0: 3.0}, y[:3]), [3.0, 1.0, 1.0])
    weights = RowWeights(np.array([1.0, 2.0, 1.0, 1.0, 0.0, 1.0]), {1: 0.5})
    np.testing.assert_array_equal(weights.for_fit(y, np.array([1, 4, 5])), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(weights.for_score(np.array([1, 4])), [2.0, 0.0])


def test_a_class_weight_dict_gives_the_task_an_id_of_its_own() -> None:
    X, y = make_classification(n_samples=N, n_features=4, random_state=0)
    plain = Task.from_data(X, y)
    weighted = Task.from_data(X, y, class_weight={0: 1.0, 1: 2.5})
    assert weighted.task_id.startswith(plain.task_id + "-r")
    assert weighted.class_weight == {0: 1.0, 1: 2.5}
    # The same weights in another order, with other number types: the same task.
    for same in ({1: 2.5, 0: 1}, {np.int64(1): np.float32(2.5), np.int64(0): 1.0}):
        assert Task.from_data(X, y, class_weight=same).task_id == weighted.task_id
        assert plain.with_rows(class_weight=same).task_id == weighted.task_id
    others = [{0: 1.0, 1: 3.0}, {0: 2.5, 1: 1.0}, "balanced"]
    ids = {Task.from_data(X, y, class_weight=other).task_id for other in others}
    assert weighted.task_id not in ids
    assert len(ids) == len(others)
    assert Task.from_data(X, y, class_weight={}).task_id == plain.task_id  # names no class


@pytest.mark.parametrize("class_weight", ["balanced", {0: 1.0, 1: 3.0}])
def test_weighted_fits_do_not_teach_a_writable_knowledge_base(
    class_weight: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    path = tmp_path / "kb.db"
    options = {**QUICK, "algorithms": ["linear"], "knowledge": str(path)}
    with caplog.at_level(logging.WARNING, logger="autometa"):
        autometa.fit(X, y, class_weight=class_weight, **options)
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


@pytest.mark.parametrize(
    ("target", "text", "expected"),
    [
        (pd.Series([0, 1, 1]), "0=1,1=4.5", {0: 1.0, 1: 4.5}),
        (pd.Series([0, 1, 1]), " 1 = 2 , 0=0.5", {1: 2.0, 0: 0.5}),
        (pd.Series([0.0, 1.0, 1.0]), "1=3", {1.0: 3.0}),
        (pd.Series(["no", "yes", "yes"]), "yes=3,no=1", {"yes": 3.0, "no": 1.0}),
        (pd.Series(["1", "2", "2"], dtype=object), "1=3", {"1": 3.0}),
        (pd.Series([True, False, False]), "True=2", {True: 2.0}),
        (pd.Series(["a=b", "c", "c"]), "a=b=2", {"a=b": 2.0}),
        (pd.Series([0, 1, 1]), "balanced", "balanced"),
        (pd.Series([0, 1, 1]), None, None),
    ],
)
def test_the_class_weight_option_reads_labels_as_the_target_holds_them(
    target: pd.Series, text: str | None, expected: Any
) -> None:
    weights = class_weight_option(text, target)
    assert weights == expected
    if isinstance(expected, dict):
        assert [type(label) for label in weights] == [type(label) for label in expected]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("heavy", "expected 'balanced' or LABEL=WEIGHT"),
        ("0=1,", "expected 'balanced' or LABEL=WEIGHT"),
        ("=2", "expected 'balanced' or LABEL=WEIGHT"),
        ("0=1,1=x", "the weight of class 1, 'x', is not a number"),
        ("1=2,1=3", "class 1 is given twice"),
    ],
)
def test_a_malformed_class_weight_option_says_its_format(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        class_weight_option(text, pd.Series([0, 1, 1]))


def test_the_command_line_takes_class_weights_per_label(tmp_path: Path) -> None:
    X, y = make_classification(n_samples=80, n_features=4, weights=[0.8], random_state=0)
    table = pd.DataFrame(X, columns=[f"x{i}" for i in range(4)])
    table["label"] = y
    data = tmp_path / "table.csv"
    table.to_csv(data, index=False)
    args = ["fit", str(data), "--target", "label", "--n-trials", "2", "--no-warm-start"]
    args += ["--algorithms", "linear", "--no-ensemble", "--json"]
    result = CliRunner().invoke(main, [*args, "--class-weight", "0=1,1=4"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scoring"] == "roc_auc"
    unknown = CliRunner().invoke(main, [*args, "--class-weight", "0=1,2=4"])
    assert unknown.exit_code == 2
    assert "names [2], which is not a class of y; the classes are [0, 1]" in unknown.output
    malformed = CliRunner().invoke(main, [*args, "--class-weight", "0:4"])
    assert malformed.exit_code == 2
    assert "expected 'balanced' or LABEL=WEIGHT" in malformed.output
    shown = " ".join(CliRunner().invoke(main, ["fit", "--help"]).output.split())
    assert "LABEL=WEIGHT[,LABEL=WEIGHT...]" in shown
    assert "Default: none, every class weighs 1" in shown


def test_weights_and_groups_give_the_task_its_own_id() -> None:
    X, y = make_classification(n_samples=N, n_features=4, random_state=0)
    plain = Task.from_data(X, y)
    weighted = Task.from_data(X, y, sample_weight=np.linspace(1, 2, N))
    assert weighted.task_id.startswith(plain.task_id + "-r")
    # The fit's path (rows joined after planning) names it the same way.
    assert plain.with_rows(np.linspace(1, 2, N)).task_id == weighted.task_id
    assert Task.from_data(X, y, groups=np.arange(N) % 4).task_id != weighted.task_id
