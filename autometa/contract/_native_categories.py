"""Input for boosters that split natively on categories and route missing values.

LightGBM, XGBoost (and CatBoost) take categorical columns as pandas ``category`` columns
and learn where missing values go, so a plugin wrapping one of them needs the same small
preprocessing: numeric columns as floats with NaN kept, categorical columns as integer
codes typed as categories. It lives in the contract because several plugins share it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from sklearn.utils.validation import check_is_fitted

from autometa.contract._task import Task

MAX_CATEGORIES = 255
"""Levels kept per categorical column; rarer ones share one "infrequent" code."""


class CategoricalFrame(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A float array as a DataFrame whose columns at ``categorical`` are categories.

    Columns are named ``f0``, ``f1``, ... (LightGBM and XGBoost reject some characters
    users put in names). The categories are fixed at fit to the non-negative codes seen
    there, so training and prediction agree on every code; any other value (an unseen
    level's -1, NaN) becomes missing, which the boosters route like a missing value.
    """

    def __init__(self, categorical: tuple[int, ...] = ()) -> None:
        self.categorical = categorical

    def fit(self, X: Any, y: Any = None) -> CategoricalFrame:
        values = _float_matrix(X)
        self.n_features_in_ = values.shape[1]
        self.categories_ = {
            index: np.unique(values[:, index][values[:, index] >= 0]).astype(np.int64)
            for index in self.categorical
        }
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "categories_")
        values = _float_matrix(X)
        if values.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {values.shape[1]} features, but {type(self).__name__} was fitted "
                f"with {self.n_features_in_}."
            )
        names = [f"f{i}" for i in range(values.shape[1])]
        frame: pd.DataFrame = pd.DataFrame(values, columns=names)
        for index, categories in self.categories_.items():
            frame[frame.columns[index]] = _typed_codes(values[:, index], categories)
        return frame


def categorical_frame_preprocessor(task: Task) -> Pipeline:
    """``task``'s columns for a native-categorical booster, as an unfitted Pipeline.

    Numeric columns pass through (missing values stay NaN); categorical columns become
    ordinal codes (missing -> NaN, unseen -> -1, at most :data:`MAX_CATEGORIES` levels),
    then :class:`CategoricalFrame` types them as categories.
    """
    numeric = list(task.schema.numeric)
    categorical = list(task.schema.categorical)
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=-1,
        encoded_missing_value=np.nan,
        max_categories=MAX_CATEGORIES,
    )
    columns = ColumnTransformer(
        [("numeric", "passthrough", numeric), ("categorical", encoder, categorical)],
        remainder="drop",
        sparse_threshold=0.0,
    )
    indices = tuple(range(len(numeric), len(numeric) + len(categorical)))
    return Pipeline([("columns", columns), ("frame", CategoricalFrame(indices))])


def _float_matrix(X: Any) -> np.ndarray:
    values = np.array(X, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"Expected a 2-D array, got shape {values.shape}.")
    return values


def _typed_codes(values: np.ndarray, categories: np.ndarray) -> pd.Categorical:
    """Integer categories (XGBoost refuses float ones); other values are missing."""
    position = np.searchsorted(categories, values)
    inside = position < len(categories)
    known = np.zeros(len(values), dtype=bool)
    known[inside] = categories[position[inside]] == values[inside]
    codes = np.where(known, position, -1)
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories))
