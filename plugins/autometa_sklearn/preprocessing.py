"""Column preprocessing built from a task's schema: imputation, scaling, categorical encoding.

Every pipeline in the catalogue starts with one :class:`~sklearn.compose.ColumnTransformer`
made here. Which columns are numeric or categorical comes from ``task.schema``; whether a
categorical column is one-hot or ordinal encoded depends on its number of levels in the
whole of ``task.X`` (not the training fold), so every fold of a task gets the same layout.

The output is always a dense float array (``sparse_threshold=0``): naive Bayes, PCA and
the neural network need dense input, and with at most :data:`MAX_ONE_HOT_LEVELS` one-hot
columns per categorical feature the dense matrix stays small.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from autometa.contract import Task

MAX_ONE_HOT_LEVELS = 20
"""Categorical columns with at most this many levels in ``task.X`` are one-hot encoded."""

MISSING_LEVEL = "__missing__"
"""The level a missing categorical value becomes before one-hot encoding."""

UNKNOWN_CODE = -1
"""Ordinal code of a level not seen during fit."""

MISSING_CODE = -2
"""Ordinal code of a missing value (kept apart from unknown levels: missingness informs)."""

MAX_NATIVE_CATEGORIES = 255
"""HistGradientBoosting bins a categorical feature into at most ``max_bins`` (255) codes;
rarer levels beyond that are merged into one "infrequent" code by the encoder."""


def category_levels(task: Task) -> dict[str, int]:
    """Number of distinct non-missing levels of each categorical column in ``task.X``."""
    return {c: int(task.X[c].nunique(dropna=True)) for c in task.schema.categorical}


def split_categorical(task: Task) -> tuple[list[str], list[str]]:
    """Categorical columns to one-hot encode (few levels) and to ordinal encode (many)."""
    levels = category_levels(task)
    few = [c for c in task.schema.categorical if levels[c] <= MAX_ONE_HOT_LEVELS]
    many = [c for c in task.schema.categorical if levels[c] > MAX_ONE_HOT_LEVELS]
    return few, many


def make_preprocessor(task: Task, *, scale: bool) -> ColumnTransformer:
    """Impute and encode every column; standardise too when ``scale`` is true.

    - numeric: median imputation (an all-missing column in a fold becomes zeros rather
      than disappearing, so the column count never depends on the fold), then
      ``StandardScaler`` if ``scale``;
    - categorical with at most :data:`MAX_ONE_HOT_LEVELS` levels: missing values become
      their own level, then one-hot encoding; unseen levels encode as all zeros;
    - categorical with more levels: ordinal codes (unseen -> :data:`UNKNOWN_CODE`,
      missing -> :data:`MISSING_CODE`), then ``StandardScaler`` if ``scale`` so that the
      codes do not dominate distances and gradients.
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
        one_hot = Pipeline(
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
        transformers.append(("one_hot", one_hot, few))
    if many:
        steps = [("encode", _ordinal_encoder())]
        if scale:
            steps.append(("scale", StandardScaler()))
        transformers.append(("ordinal", Pipeline(steps), many))
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


def _as_float_matrix(X: object) -> np.ndarray:
    """A float64 copy of ``X`` as a 2-D array (missing values stay NaN)."""
    values = np.array(X, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"Expected a 2-D array, got shape {values.shape}.")
    return values
