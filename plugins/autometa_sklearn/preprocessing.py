"""Column preprocessing built from a task's schema: imputation, scaling, categorical encoding.

Every pipeline in the catalogue starts with one :class:`~sklearn.compose.ColumnTransformer`
made here. Which columns are numeric or categorical comes from ``task.schema``; whether a
categorical column is one-hot encoded or has many levels depends on its number of levels
in the whole of ``task.X`` (not the training fold), so every fold of a task gets the same
layout. A column of many levels is target-encoded in the pipelines that standardise
their features (linear models, SVM, kNN, the neural network, naive Bayes: arbitrary
ordinal codes mean nothing as distances or slopes) and becomes ordinal codes for the
forests, which split them; examples/benchmark_target_encoding.py measures both.

The output is always a dense float array (``sparse_threshold=0``): naive Bayes, PCA and
the neural network need dense input, and with at most :data:`MAX_ONE_HOT_LEVELS` one-hot
columns per categorical feature the dense matrix stays small.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
import sklearn
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder
from sklearn.utils.validation import check_is_fitted

from autometa.contract import MAX_ONE_HOT_LEVELS as MAX_ONE_HOT_LEVELS  # re-exported
from autometa.contract import Task, TaskKind, many_level_columns

ManyLevels = Literal["ordinal", "target"]
"""How a categorical column of more than :data:`MAX_ONE_HOT_LEVELS` levels is encoded."""

TARGET_TYPES: dict[TaskKind, str] = {
    "binary": "binary",
    "multiclass": "multiclass",
    "regression": "continuous",
}
"""``TargetEncoder``'s ``target_type`` for each task kind (multiclass: a column per class)."""

TARGET_ENCODING_FOLDS = 5
"""Folds of the target encoder's cross-fitting (scikit-learn's default), fewer when a
class of the training rows has fewer rows than that."""

MISSING_LEVEL = "__missing__"
"""The level a missing categorical value becomes before one-hot encoding."""

UNKNOWN_CODE = -1
"""Ordinal code of a level not seen during fit."""

MISSING_CODE = -2
"""Ordinal code of a missing value (kept apart from unknown levels: missingness informs)."""

MAX_NATIVE_CATEGORIES = 255
"""HistGradientBoosting bins a categorical feature into at most ``max_bins`` (255) codes;
rarer levels beyond that are merged into one "infrequent" code by the encoder."""


def split_categorical(task: Task) -> tuple[list[str], list[str]]:
    """Categorical columns to one-hot encode (at most :data:`MAX_ONE_HOT_LEVELS` levels in
    ``task.X``) and those of many levels (the contract's rule, which the explanation
    reports: :func:`autometa.contract.many_level_columns`)."""
    many = list(many_level_columns(task.X, task.schema.categorical))
    few = [c for c in task.schema.categorical if c not in many]
    return few, many


def make_preprocessor(
    task: Task, *, scale: bool, many_levels: ManyLevels | None = None
) -> ColumnTransformer:
    """Impute and encode every column; standardise too when ``scale`` is true.

    - numeric: median imputation (an all-missing column in a fold becomes zeros rather
      than disappearing, so the column count never depends on the fold), then
      ``StandardScaler`` if ``scale``;
    - categorical with at most :data:`MAX_ONE_HOT_LEVELS` levels: missing values become
      their own level, then one-hot encoding; unseen levels encode as all zeros;
    - categorical with more levels, as ``many_levels`` says (by default ``"target"``
      when ``scale``, ``"ordinal"`` otherwise): ``"target"`` is
      :class:`CrossFittedTargetEncoder` (a column per class for multiclass tasks, one
      otherwise), ``"ordinal"`` ordinal codes (unseen -> :data:`UNKNOWN_CODE`, missing ->
      :data:`MISSING_CODE`); either then ``StandardScaler`` if ``scale``, so that
      neither dominates distances and gradients.

    Ordinal codes of a 50-level column order the levels arbitrarily: a tree can split
    them apart, but to a linear model, a kernel or a distance they are noise. Measured
    on the corpus tables with such columns (docs/benchmarks.md), target encoding helps
    linear models, SVM and kNN, and does not consistently help the forests, which keep
    the codes.
    """
    transformers: list[tuple[str, BaseEstimator, list[str]]] = []
    numeric = list(task.schema.numeric)
    if numeric:
        impute = SimpleImputer(strategy="median", keep_empty_features=True)
        steps: list[tuple[str, BaseEstimator]] = [("impute", impute)]
        if scale:
            steps.append(("scale", StandardScaler()))
        transformers.append(("numeric", Pipeline(steps), numeric))
    few, many = split_categorical(task)
    if few:
        transformers.append(("one_hot", _one_hot_encoder(), few))
    if many:
        encoding = many_levels or ("target" if scale else "ordinal")
        encoder = _target_encoder(task) if encoding == "target" else _ordinal_encoder()
        steps = [("encode", encoder)]
        if scale:
            steps.append(("scale", StandardScaler()))
        transformers.append((encoding, Pipeline(steps), many))
    return _column_transformer(transformers)


def make_native_categorical_preprocessor(task: Task) -> tuple[ColumnTransformer, list[int]]:
    """Preprocessing for HistGradientBoosting, which handles missing values and categories.

    Numeric columns keep their missing values (the booster learns where missing rows go,
    which imputation would hide); only columns that are missing throughout the training
    fold are filled with zeros (scikit-learn 1.9's binner fails on an all-NaN column).
    Categorical columns become ordinal codes with missing -> NaN and unseen levels -> -1,
    both of which the booster treats as missing. Returns the transformer and the output
    indices of the categorical columns (for ``categorical_features``).
    """
    transformers: list[tuple[str, BaseEstimator, list[str]]] = []
    numeric = list(task.schema.numeric)
    categorical = list(task.schema.categorical)
    if numeric:
        transformers.append(("numeric", FillEmptyColumns(), numeric))
    if categorical:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=UNKNOWN_CODE,
            encoded_missing_value=np.nan,
            max_categories=MAX_NATIVE_CATEGORIES,
        )
        transformers.append(("categorical", encoder, categorical))
    categorical_indices = list(range(len(numeric), len(numeric) + len(categorical)))
    return _column_transformer(transformers), categorical_indices


def _one_hot_encoder() -> Pipeline:
    """Missing values as a level of their own, then one-hot (unseen levels: all zeros)."""
    return Pipeline(
        [
            (
                "impute",
                # Kept even when a training fold has no value in the column: the
                # fold's layout must not depend on which rows it drew.
                SimpleImputer(
                    strategy="constant", fill_value=MISSING_LEVEL, keep_empty_features=True
                ),
            ),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )


def _target_encoder(task: Task) -> CrossFittedTargetEncoder:
    """A target encoder for ``task``'s kind, its folds seeded by the task's seed (or 0)."""
    seed = 0 if task.random_state is None else int(task.random_state)
    return CrossFittedTargetEncoder(target_type=TARGET_TYPES[task.kind], random_state=seed)


def _ordinal_encoder() -> OrdinalEncoder:
    return OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=UNKNOWN_CODE,
        encoded_missing_value=MISSING_CODE,
    )


def _column_transformer(
    transformers: list[tuple[str, BaseEstimator, list[str]]],
) -> ColumnTransformer:
    return ColumnTransformer(
        transformers,
        remainder="drop",
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )


class FillEmptyColumns(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Replace columns that were entirely missing during fit by ``fill_value``.

    Other missing values are left alone for estimators that handle them natively.
    """

    def __init__(self, fill_value: float = 0.0) -> None:
        self.fill_value = fill_value

    def fit(self, X: object, y: object = None) -> FillEmptyColumns:
        values = _as_float_matrix(X)
        self.n_features_in_ = values.shape[1]
        self.empty_columns_ = np.flatnonzero(np.isnan(values).all(axis=0))
        return self

    def transform(self, X: object) -> np.ndarray:
        check_is_fitted(self, "empty_columns_")
        values = _as_float_matrix(X)
        if values.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {values.shape[1]} features, but {type(self).__name__} was fitted "
                f"with {self.n_features_in_}."
            )
        values[:, self.empty_columns_] = self.fill_value
        return values


class CrossFittedTargetEncoder(TransformerMixin, BaseEstimator):
    """scikit-learn's ``TargetEncoder`` with cross-fitting folds that suit the rows given.

    Each level becomes the (shrunk) mean target of its rows, a column per class for a
    multiclass target. ``fit_transform``, which a Pipeline calls on training rows,
    encodes every row by the means of the other folds' rows, so a model never trains on
    its own rows' targets; ``transform`` (at predict time) uses the means of all
    training rows. A missing value (NaN, as ``FeatureSchema.transform`` makes every
    missing cell) is a level of its own; a level unseen in training gets the target mean.

    The wrapper decides at fit time what ``TargetEncoder`` leaves to its caller: as
    many folds as the smallest class of the rows fills (stratified folds need one row
    per class each; at most :data:`TARGET_ENCODING_FOLDS`), ``"binary"`` for a
    multiclass task whose training rows hold two classes only, and seeded shuffled
    folds on every supported scikit-learn (1.9 replaced ``random_state`` and
    ``shuffle`` by a splitter as ``cv``). The fitted encoder is ``encoder_``.
    """

    def __init__(
        self,
        target_type: str = "continuous",
        n_splits: int = TARGET_ENCODING_FOLDS,
        random_state: int = 0,
    ) -> None:
        self.target_type = target_type
        self.n_splits = n_splits
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> CrossFittedTargetEncoder:
        """Fit the level means on all rows (what ``transform`` then uses)."""
        self.encoder_ = self._encoder(y).fit(X, y)
        self.n_features_in_ = self.encoder_.n_features_in_
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit as :meth:`fit`, and encode ``X`` cross-fitted (each row by other folds)."""
        if y is None:
            raise ValueError(f"{type(self).__name__} needs the target y to fit.")
        self.encoder_ = self._encoder(y)
        encoded: np.ndarray = self.encoder_.fit_transform(X, y)
        self.n_features_in_ = self.encoder_.n_features_in_
        return encoded

    def transform(self, X: Any) -> np.ndarray:
        """Encode ``X`` with the means of all training rows (for new rows)."""
        check_is_fitted(self, "encoder_")
        encoded: np.ndarray = self.encoder_.transform(X)
        return encoded

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "encoder_")
        names: np.ndarray = self.encoder_.get_feature_names_out(input_features)
        return names

    def _encoder(self, y: Any) -> TargetEncoder:
        """An unfitted ``TargetEncoder`` for the training target ``y``."""
        target = np.asarray(y)
        target_type = self.target_type
        classification = target_type != "continuous"
        if classification:
            _, counts = np.unique(target, return_counts=True)
            if target_type == "multiclass" and len(counts) < 3:
                target_type = "binary"  # a class absent from these rows: a single column
            smallest = int(counts.min())
        else:
            smallest = len(target)
        splits = max(2, min(self.n_splits, smallest))
        return TargetEncoder(
            target_type=target_type, **_cross_fitting(splits, classification, self.random_state)
        )


def _cross_fitting(splits: int, stratified: bool, seed: int) -> dict[str, Any]:
    """``TargetEncoder`` arguments for seeded, shuffled, optionally stratified folds."""
    if _SPLITTER_AS_CV:
        folds = StratifiedKFold if stratified else KFold
        return {"cv": folds(splits, shuffle=True, random_state=seed)}
    return {"cv": splits, "shuffle": True, "random_state": seed}


def _sklearn_at_least(major: int, minor: int) -> bool:
    found = re.match(r"(\d+)\.(\d+)", sklearn.__version__)
    return found is not None and (int(found[1]), int(found[2])) >= (major, minor)


_SPLITTER_AS_CV = _sklearn_at_least(1, 9)
"""scikit-learn 1.9 takes a splitter as ``TargetEncoder(cv=...)`` and deprecates its
``shuffle`` and ``random_state``; older versions take a number of folds only."""


def _as_float_matrix(X: object) -> np.ndarray:
    """A float64 copy of ``X`` as a 2-D array (missing values stay NaN)."""
    values = np.array(X, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"Expected a 2-D array, got shape {values.shape}.")
    return values
