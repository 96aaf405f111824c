"""Categorical columns of many levels: target-encoded where features are standardised.

A column of more than ``MAX_ONE_HOT_LEVELS`` levels is target-encoded (cross-fitted) in
the pipelines of ``make_preprocessor(task, scale=True)`` (linear models, SVM, kNN, the
neural network, naive Bayes); ``scale=False`` keeps ordinal codes. The explanation says
which columns are target-encoded. examples/benchmark_target_encoding.py measures it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder, StandardScaler, TargetEncoder

import autometa
from autometa.contract import Task, TaskKind
from autometa.contract._column_roles import ColumnRoles
from autometa_sklearn.catalogue import algorithms_for
from autometa_sklearn.preprocessing import (
    MAX_ONE_HOT_LEVELS,
    MISSING_CODE,
    UNKNOWN_CODE,
    CrossFittedTargetEncoder,
    make_preprocessor,
)

MANY = 60
"""Levels of the column that must be target-encoded (more than MAX_ONE_HOT_LEVELS)."""
FEW = 5


def table(kind: TaskKind, rows: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A 60-level ``city`` whose level carries the target effect (some cells missing), a
    5-level ``colour`` and a number; the levels' names sort in no order of their effect."""
    rng = np.random.default_rng(seed)
    city = rng.integers(0, MANY, rows)
    effect = rng.normal(size=MANY)
    x = rng.normal(size=rows)
    signal = 2.0 * effect[city] + 0.5 * x
    if kind == "regression":
        y: np.ndarray = signal + 0.5 * rng.normal(size=rows)
    elif kind == "binary":
        y = np.where(rng.random(rows) < 1 / (1 + np.exp(-signal)), "yes", "no")
    else:
        y = np.array(["a", "b", "c"])[rng.integers(0, 3, MANY)[city]]
    frame = pd.DataFrame(
        {
            "city": pd.Series([f"city_{i:02d}" for i in city], dtype=object),
            "colour": np.array(list("vwxyz"), dtype=object)[rng.integers(0, FEW, rows)],
            "x": x,
        }
    )
    frame.loc[rng.random(rows) < 0.05, "city"] = None
    return frame, y


def task_of(kind: TaskKind, rows: int = 600, seed: int = 0) -> Task:
    X, y = table(kind, rows, seed)
    return Task.from_data(X, y, kind=kind, cv=3, random_state=seed)


def target_step(preprocess: Any) -> Pipeline:
    """The fitted or unfitted target-encoding pipeline of a ColumnTransformer."""
    named = dict((name, step) for name, step, _ in preprocess.transformers)
    step: Pipeline = named["target"]
    return step


# -- structure ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "target_type", "width"),
    [("binary", "binary", 1), ("multiclass", "multiclass", 3), ("regression", "continuous", 1)],
)
def test_scaled_pipelines_target_encode_many_levels_and_one_hot_few(
    kind: TaskKind, target_type: str, width: int
) -> None:
    task = task_of(kind)
    preprocess = make_preprocessor(task, scale=True)
    columns = {name: list(cols) for name, _, cols in preprocess.transformers}
    assert columns == {"numeric": ["x"], "one_hot": ["colour"], "target": ["city"]}
    steps = target_step(preprocess).named_steps
    assert list(steps) == ["encode", "scale"]
    assert isinstance(steps["encode"], CrossFittedTargetEncoder)
    assert steps["encode"].target_type == target_type
    assert isinstance(steps["scale"], StandardScaler)

    out = preprocess.fit_transform(task.X, task.y)
    # one number, one column per colour, and one target column per class (multiclass) or one
    assert out.shape == (task.n_rows, 1 + FEW + width)
    encoder = preprocess.named_transformers_["target"]["encode"].encoder_
    assert isinstance(encoder, TargetEncoder)
    assert encoder.target_type_ == target_type
    assert np.isfinite(out).all()


def test_unscaled_pipelines_keep_ordinal_codes() -> None:
    task = task_of("binary")
    preprocess = make_preprocessor(task, scale=False)
    named = {name: (step, list(cols)) for name, step, cols in preprocess.transformers}
    assert set(named) == {"numeric", "one_hot", "ordinal"}
    ordinal, columns = named["ordinal"]
    assert columns == ["city"]
    assert list(ordinal.named_steps) == ["encode"]
    assert isinstance(ordinal["encode"], OrdinalEncoder)
    out = preprocess.fit_transform(task.X, task.y)
    codes = out[:, -1]
    assert out.shape == (task.n_rows, 1 + FEW + 1)
    assert set(np.unique(codes)) == set(range(MANY)) | {MISSING_CODE}
    later = task.X.iloc[:2].assign(city=["never seen", None])
    assert preprocess.transform(later)[:, -1].tolist() == [UNKNOWN_CODE, MISSING_CODE]


def test_twenty_levels_are_one_hot_and_more_are_many() -> None:
    X, y = table("binary")
    X["twenty"] = [f"t{i % MAX_ONE_HOT_LEVELS}" for i in range(len(X))]  # exactly 20: one-hot
    task = Task.from_data(X, y, cv=3, random_state=0)
    assert task.schema.roles.many_levels == ("city",)
    columns = {
        name: list(cols) for name, _, cols in make_preprocessor(task, scale=True).transformers
    }
    assert columns["one_hot"] == ["colour", "twenty"]
    assert columns["target"] == ["city"]


# -- behaviour ------------------------------------------------------------------------------
def test_unseen_levels_encode_to_the_target_mean_and_missing_is_a_level() -> None:
    task = task_of("regression")
    encoder = CrossFittedTargetEncoder(target_type="continuous", random_state=0)
    encoder.fit(task.X[["city"]], task.y)
    fitted = encoder.encoder_
    later = pd.DataFrame({"city": pd.Series(["never seen", None, "city_07"], dtype=object)})
    later = task.schema.transform(later.assign(colour="v", x=0.0))[["city"]]  # None -> NaN
    unseen, missing, seen = encoder.transform(later)[:, 0]
    assert unseen == pytest.approx(fitted.target_mean_)
    assert missing != pytest.approx(fitted.target_mean_)  # the training rows had missing cells
    assert seen != pytest.approx(fitted.target_mean_)
    # without missing cells in training, a missing cell is an unseen level
    complete = task.X["city"].notna().to_numpy()
    clean = CrossFittedTargetEncoder(target_type="continuous").fit(
        task.X.loc[complete, ["city"]], task.y[complete]
    )
    assert clean.transform(later)[1, 0] == pytest.approx(clean.encoder_.target_mean_)


def test_training_rows_are_encoded_without_their_own_target() -> None:
    """fit_transform cross-fits: a row's code does not come from its own target, so it
    tells the model less about that row than the all-rows code does."""
    task = task_of("regression", rows=300)
    encoder = CrossFittedTargetEncoder(target_type="continuous", random_state=0)
    crossed = encoder.fit_transform(task.X[["city"]], task.y)[:, 0]
    in_sample = encoder.transform(task.X[["city"]])[:, 0]
    assert not np.allclose(crossed, in_sample)
    assert np.corrcoef(crossed, task.y)[0, 1] < np.corrcoef(in_sample, task.y)[0, 1]


def test_cross_fitting_copes_with_small_classes_and_absent_classes() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"c": pd.Series([f"l{i}" for i in rng.integers(0, 30, 40)], dtype=object)})
    rare = np.array(["a"] * 37 + ["b"] * 3)  # stratified folds: 3 at most
    out = CrossFittedTargetEncoder(target_type="binary").fit_transform(X, rare)
    assert out.shape == (40, 1)
    # a multiclass task whose training rows hold two of its classes: one column, no error
    two = np.array(["a", "b"] * 20)
    encoder = CrossFittedTargetEncoder(target_type="multiclass")
    assert encoder.fit_transform(X, two).shape == (40, 1)
    assert encoder.transform(X).shape == (40, 1)


def test_every_scaled_pipeline_fits_and_predicts_unseen_levels_and_missing_values() -> None:
    task = task_of("binary", rows=300)
    later = task.X.iloc[:4].assign(city=["never seen", None, np.nan, "city_03"])
    scaled = [a for a in algorithms_for(task) if a.name in ("linear", "knn", "naive_bayes")]
    assert len(scaled) == 3
    for algorithm in scaled:
        model = algorithm.make_estimator(algorithm.default_params, task)
        assert isinstance(
            target_step(model.named_steps["preprocess"])["encode"], CrossFittedTargetEncoder
        )
        model.fit(task.X, task.y)
        proba = model.predict_proba(later)
        assert proba.shape == (4, 2)
        assert np.isfinite(proba).all()


def _cv_score(task: Task, encoding: Any) -> float:
    linear = next(a for a in algorithms_for(task) if a.name == "linear")
    model = linear.make_estimator(linear.default_params, task)
    model.set_params(preprocess=make_preprocessor(task, scale=True, many_levels=encoding))
    splits = list(task.cv.split(task.X, task.y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(model, task.X, task.y, cv=splits, scoring=task.scoring)
    return float(np.mean(scores))


@pytest.mark.parametrize(("kind", "margin"), [("binary", 0.15), ("regression", 0.5)])
def test_target_encoded_linear_model_beats_ordinal_codes(kind: TaskKind, margin: float) -> None:
    """Where the level carries the signal, ordinal codes give a linear model an arbitrary
    slope; the target encoding gives it the signal (same splits, same model)."""
    task = task_of(kind)
    ordinal = _cv_score(task, "ordinal")
    target = _cv_score(task, "target")
    assert target > ordinal + margin, (ordinal, target)
    assert target > (0.75 if kind == "binary" else 0.5), target  # the signal, not noise


# -- the explanation ------------------------------------------------------------------------
def test_many_levels_change_no_column_and_raise_no_warning() -> None:
    roles = ColumnRoles(many_levels=("city",))
    assert not roles  # nothing re-roled: derive_columns leaves the table alone
    X, y = table("binary")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        task = Task.from_data(X, y, cv=3, random_state=0)
    assert task.schema.features == ("city", "colour", "x")


def test_the_explanation_says_which_columns_are_target_encoded() -> None:
    X, y = table("binary", rows=300)
    model = autometa.fit(X, y, n_trials=2, random_state=0, algorithms=["linear"], cv=3)
    explanation = model.explain()
    line = next(line for line in explanation.splitlines() if "'city'" in line)
    assert f"more than {MAX_ONE_HOT_LEVELS} levels: target-encoded" in line
    assert "(linear, sgd, svm, knn, mlp, naive_bayes)" in line  # for which pipelines
    assert "'colour'" not in explanation  # 5 levels: one-hot, nothing to explain
    later = X.iloc[:3].assign(city=["never seen", None, "city_01"])
    assert np.isfinite(model.predict_proba(later)).all()
