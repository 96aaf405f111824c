"""Task.from_data: inference of kind, scoring and CV, and every bad input named clearly."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.model_selection import KFold, StratifiedKFold, StratifiedShuffleSplit

from autometa.contract._splitters import RepeatedSplits
from autometa.contract._task import Task
from autometa.contract._task_checks import infer_kind


def mixed_frame(n: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "cat": rng.choice(["a", "b", "c"], size=n).astype(object),
            "category": pd.Categorical(rng.choice(["x", "y"], size=n)),
            "flag": rng.random(n) > 0.5,
        }
    )
    X.loc[::7, "num"] = np.nan
    X.loc[::5, "cat"] = None
    y = np.where(rng.random(n) > 0.5, "yes", "no")
    return X, y


def test_mixed_dataframe_is_normalised_and_binary() -> None:
    X, y = mixed_frame()
    task = Task.from_data(X, y, random_state=0)
    assert task.kind == "binary"
    assert task.scoring == "roc_auc"
    assert set(task.schema.categorical) == {"cat", "category", "flag"}
    assert task.schema.numeric == ("num",)
    assert task.X["num"].dtype == float
    assert task.X["cat"].isna().sum() == 12
    assert {v for v in task.X["flag"].dropna()} == {"True", "False"}
    assert isinstance(task.cv, StratifiedKFold)
    assert list(task.classes) == ["no", "yes"]  # type: ignore[arg-type]


def test_kinds_and_default_scorings() -> None:
    X, y = load_iris(return_X_y=True)
    iris = Task.from_data(X, y)
    assert (iris.kind, iris.scoring) == ("multiclass", "neg_log_loss")
    Xd, yd = load_diabetes(return_X_y=True)
    diabetes = Task.from_data(Xd, yd)
    assert (diabetes.kind, diabetes.scoring) == ("regression", "r2")
    assert isinstance(diabetes.cv, KFold)


def test_infer_kind_rules() -> None:
    assert infer_kind(np.array([0, 1, 1, 0])) == "binary"
    assert infer_kind(np.array(["a", "b", "c"])) == "multiclass"
    assert infer_kind(np.arange(12) % 4) == "multiclass"
    assert infer_kind(np.arange(100)) == "regression"  # many integer values: a count
    assert infer_kind(np.linspace(0, 1, 30)) == "regression"


def test_a_column_without_values_is_numeric_not_categorical() -> None:
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": np.array([None] * 4, dtype=object)})
    task = Task.from_data(X, np.array([0, 1, 0, 1]), cv=2)
    assert task.schema.categorical == ()
    assert task.schema.empty == ("b",)
    assert task.X["b"].dtype == np.float64
    assert task.X["b"].isna().all()
    # values seen only later (a split without them at fit time) are not read
    later = task.schema.transform(pd.DataFrame({"a": [1.0], "b": ["yes"]}))
    assert later["b"].dtype == np.float64
    assert later["b"].isna().all()


def test_the_scorer_decides_the_kind_before_the_values_do() -> None:
    ratings = np.array([1, 2, 3, 1, 2, 3, 2, 2])
    assert infer_kind(ratings) == "multiclass"
    assert infer_kind(ratings, "r2") == "regression"
    assert infer_kind(ratings, "neg_mean_absolute_error") == "regression"
    assert infer_kind(np.linspace(0, 1, 8) > 0.5, "roc_auc") == "binary"
    assert infer_kind(ratings, "accuracy") == "multiclass"
    X = np.arange(16.0).reshape(-1, 2)
    task = Task.from_data(X, ratings, scoring="r2")
    assert (task.kind, task.scoring) == ("regression", "r2")


def test_a_kind_that_contradicts_the_scorer_is_refused() -> None:
    X, y = np.arange(16.0).reshape(-1, 2), np.array([0, 1] * 4)
    with pytest.raises(ValueError, match="does not fit scoring='r2', a regression scorer"):
        Task.from_data(X, y, kind="binary", scoring="r2")
    with pytest.raises(ValueError, match="a classification scorer"):
        Task.from_data(X, y.astype(float), kind="regression", scoring="roc_auc")
    with pytest.raises(ValueError, match="y holds labels"):
        Task.from_data(X, np.array(["a", "b"] * 4), scoring="r2")


def test_integer_values_on_a_single_row_are_counts_not_classes() -> None:
    counts = np.array([0, 0, 1, 1, 2, 2, 3, 12, 16, 19])
    with pytest.warns(UserWarning, match="taken as a regression target"):
        assert infer_kind(counts) == "regression"
    with pytest.warns(UserWarning, match="taken as a regression target"):
        task = Task.from_data(np.arange(20.0).reshape(-1, 2), counts)
    assert task.kind == "regression"
    with pytest.warns(UserWarning, match="single row: each such row is kept in every training"):
        classes = Task.from_data(np.arange(20.0).reshape(-1, 2), counts, kind="multiclass")
    lonely_rows = [6, 7, 8, 9]  # the rows of 3, 12, 16 and 19
    for train, valid in classes.cv.split(classes.X, classes.y):
        assert set(lonely_rows) <= set(train)
        assert not set(lonely_rows) & set(valid)
        assert set(classes.y[valid]) == {0, 1, 2}


def test_a_class_of_one_row_is_refused_where_nothing_could_be_validated() -> None:
    with pytest.raises(ValueError, match="single row; validating needs two classes"):
        Task.from_data(np.ones((4, 2)), np.array(["a", "a", "a", "b"]))  # binary
    with pytest.raises(ValueError, match="single row; validating needs two classes"):
        Task.from_data(np.ones((5, 2)), np.array(["a", "a", "b", "c", "d"]))


def test_many_integer_classes_are_taken_as_classes_with_a_warning() -> None:
    y = np.repeat(np.arange(15), 2)
    with pytest.warns(UserWarning, match="15 integer values: taken as classes"):
        assert infer_kind(y) == "multiclass"
    few = np.repeat(np.arange(4), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert infer_kind(few) == "multiclass"


def test_folds_shrink_for_tiny_classes() -> None:
    X = np.arange(20, dtype=float).reshape(-1, 1)
    y = np.array([0] * 17 + [1] * 3)
    task = Task.from_data(X, y, random_state=0)
    assert task.n_splits == 3
    for train, valid in task.cv.split(task.X, task.y):
        assert 1 in task.y[valid]
        assert 1 in task.y[train]


def test_regression_folds_keep_two_validation_rows() -> None:
    task = Task.from_data(np.arange(5.0).reshape(-1, 1), [0.0, 0.0, 0.0, 1.0, 1.5])
    assert task.n_splits == 2
    assert all(len(valid) >= 2 for _, valid in task.cv.split(task.X, task.y))
    with pytest.raises(ValueError, match="at least 4 rows"):
        Task.from_data(np.arange(3.0).reshape(-1, 1), [0.1, 0.5, 0.9])


def test_cv_is_seeded() -> None:
    X, y = load_iris(return_X_y=True)
    a = list(Task.from_data(X, y, random_state=3).cv.split(X, y))
    b = list(Task.from_data(X, y, random_state=3).cv.split(X, y))
    assert all((x[1] == z[1]).all() for x, z in zip(a, b, strict=True))


def test_with_validation_holdout_and_user_cv_wins() -> None:
    X, y = load_iris(return_X_y=True)
    task = Task.from_data(X, y, random_state=0)
    holdout = task.with_validation("holdout")
    assert isinstance(holdout.cv, StratifiedShuffleSplit)
    assert holdout.fold_train_size() == int(150 * 0.75)
    fixed = Task.from_data(X, y, cv=4)
    assert fixed.with_validation("holdout").n_splits == 4


def test_repeated_cv_validates_every_row_once_per_repeat_with_fresh_folds() -> None:
    X, y = load_iris(return_X_y=True)
    single = Task.from_data(X, y, random_state=0).with_validation("cv", 5)
    repeated = Task.from_data(X, y, random_state=0).with_validation("cv", 5, n_repeats=2)
    assert isinstance(repeated.cv, RepeatedSplits)
    assert repeated.n_splits == 10
    assert repeated.fold_train_size() == single.fold_train_size() == 120
    splits = list(repeated.cv.split(X, y))
    first, second = splits[:5], splits[5:]
    for repeat in (first, second):
        assert sorted(np.concatenate([valid for _, valid in repeat])) == list(range(150))
        for _, valid in repeat:  # stratified: every class in every fold
            assert set(y[valid]) == {0, 1, 2}
    # The first repeat is the single k-fold's split; the second shuffles afresh.
    for (_, a), (_, b) in zip(first, single.cv.split(X, y), strict=True):
        assert np.array_equal(a, b)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(first, second, strict=True))
    again = Task.from_data(X, y, random_state=0).with_validation("cv", 5, n_repeats=2)
    assert all(
        np.array_equal(a[1], b[1]) for a, b in zip(splits, again.cv.split(X, y), strict=True)
    )


def test_repeated_cv_keeps_the_rules_of_one_k_fold_and_ignores_a_holdout() -> None:
    X = np.arange(21, dtype=float).reshape(-1, 1)
    y = np.array(["a"] * 17 + ["b"] * 3 + ["c"])  # b: 3 rows; c: one row
    task = Task.from_data(X, y, kind="multiclass", random_state=0)
    task = task.with_validation("cv", 5, n_repeats=3)
    assert task.n_splits == 3 * 3  # folds shrunk to the rarest class, in every repeat
    for train, valid in task.cv.split(task.X, task.y):
        assert 20 in train  # the one-row class stays in training
        assert 20 not in valid
        assert "b" in task.y[valid]
    # A class too small for a holdout part: 2 folds instead, not repeated.
    assert task.with_validation("holdout", n_repeats=3).n_splits == 2
    with pytest.raises(ValueError, match="n_repeats must be at least 1"):
        task.with_validation("cv", 5, n_repeats=0)


def test_holdout_keeps_every_class_on_both_sides() -> None:
    # Two rows of a class among 12,000: a 25% stratified holdout would round it to no
    # validation row, and log loss (the multiclass default) would fail every trial.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12_000, 3))
    y = np.where(X[:, 0] > 0, "pos", "neg").astype(object)
    y[:2] = "rare"
    task = Task.from_data(X, y, random_state=0).with_validation("holdout")
    assert task.n_splits == 2
    for train, valid in task.cv.split(X, y):
        assert set(y[train]) == set(y[valid]) == {"pos", "neg", "rare"}
    y[:4] = "rare"  # four rows: the holdout has room for one
    assert isinstance(Task.from_data(X, y).with_validation("holdout").cv, StratifiedShuffleSplit)


def test_user_scorer_names_are_checked() -> None:
    X, y = load_iris(return_X_y=True)
    assert Task.from_data(X, y, scoring="balanced_accuracy").scoring == "balanced_accuracy"
    with pytest.raises(ValueError, match="not a scikit-learn scorer"):
        Task.from_data(X, y, scoring="accuracyy")


def test_schema_transform_applies_fit_time_kinds() -> None:
    X, y = mixed_frame()
    task = Task.from_data(X, y)
    new = X.iloc[:5].copy()
    new["cat"] = [1, 2, None, "a", "zz"]  # mixed types become strings, missing stays NaN
    out = task.schema.transform(new)
    assert list(out["cat"].iloc[[0, 1, 3]]) == ["1", "2", "a"]
    assert pd.isna(out["cat"].iloc[2])
    with pytest.raises(ValueError, match="lacks columns"):
        task.schema.transform(new.drop(columns=["num"]))


@pytest.mark.parametrize(
    ("X", "y", "error", "match"),
    [
        (np.empty((0, 3)), np.empty(0), ValueError, "X is empty"),
        (np.ones((5, 2)), np.ones(4), ValueError, "5 rows but y has 4"),
        (np.ones((4, 2)), np.array([1.0, np.nan, 2.0, 3.0]), ValueError, "missing values"),
        (np.array([[1.0], [np.inf], [2.0], [3.0]]), np.array([0, 1, 0, 1]), ValueError, "infinite"),
        (
            np.array([[1.0], [1e300], [2.0], [3.0]]),
            np.array([0, 1, 0, 1]),
            ValueError,
            "float32 range",
        ),
        (np.ones((4, 2)), np.array([1, 1, 1, 1]), ValueError, "single class"),
        (np.ones((4, 2)), np.array(["a", "a", "a", "b"]), ValueError, "single row"),
        (np.ones((4, 2)), np.ones((4, 2)), ValueError, "multi-output"),
        (
            np.ones((4, 1)),
            np.array([0, "0", 1, "1"], dtype=object),
            ValueError,
            "differ only in type: 0 \\(int\\), '0' \\(str\\) would all be class '0'",
        ),
        (np.ones(4), np.array([0, 1, 0, 1]), ValueError, "2-D"),
        (None, np.array([0, 1]), TypeError, "2-D array"),
    ],
)
def test_bad_input_is_named(X: object, y: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        Task.from_data(X, y)


def test_more_folds_than_rows() -> None:
    with pytest.raises(ValueError, match="more folds than there are rows"):
        Task.from_data(np.arange(6.0).reshape(-1, 1), np.arange(6.0), kind="regression", cv=10)


def test_nested_columns_are_refused_and_dates_become_numbers() -> None:
    y = np.array([0, 1, 0, 1])
    dates = pd.DataFrame({"when": pd.date_range("2020-01-01", periods=4)})
    with pytest.warns(UserWarning, match="'when' holds dates"):
        task = Task.from_data(dates, y)
    assert task.schema.columns == ("when",)
    assert "when__year" in task.X.columns
    assert task.X.dtypes.eq(float).all()
    nested = pd.DataFrame({"bag": [[1], [2], [3], [4]]})
    with pytest.raises(TypeError, match="nested"):
        Task.from_data(nested, y)


def test_same_data_same_id_different_data_different_id() -> None:
    X, y = load_iris(return_X_y=True)
    assert Task.from_data(X, y).task_id == Task.from_data(X, y).task_id
    assert Task.from_data(X[1:], y[1:]).task_id != Task.from_data(X, y).task_id


def test_a_fit_with_a_one_row_class_predicts_its_probability_column() -> None:
    """The peer benchmark's primary_tumor: a class seen once in the training split."""
    import autometa

    X, y = load_iris(return_X_y=True)
    y = y.astype(object)
    y[0] = "rare"
    with pytest.warns(UserWarning, match=r"Classes \['rare'\] have a single row"):
        model = autometa.fit(X, y, n_trials=3, random_state=0, algorithms=["linear", "naive_bayes"])
    assert model.scoring_ == "neg_log_loss"
    assert np.isfinite(model.best_score_)
    assert "rare" in list(model.classes_)
    assert model.predict_proba(X[:5]).shape == (5, 4)
