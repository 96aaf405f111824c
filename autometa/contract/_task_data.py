"""The user's ``X`` and ``y`` as a DataFrame and a target array of plain values.

Conversions :class:`~autometa.contract.Task` and :class:`~autometa.contract.FeatureSchema`
apply; a value no conversion can take is refused with an error that says what to do.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.exceptions import DataConversionWarning


def _as_frame(X: Any, expected_columns: Sequence[str] | None = None) -> pd.DataFrame:
    if sparse.issparse(X):
        # Densifying could take far more memory than the user expects: their call.
        raise TypeError(
            f"X is a sparse {type(X).__name__}; autometa needs dense data. Pass "
            "X.toarray() if it fits in memory, or reduce its columns first."
        )
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        if len(set(names)) != len(names):
            raise ValueError("X has duplicate column names; make them unique.")
        complex_columns = [n for n, d in zip(names, X.dtypes, strict=True) if d.kind == "c"]
        if complex_columns:
            raise ValueError(
                f"Complex data not supported: X's columns {complex_columns[:10]} hold complex "
                "numbers. Split them into real and imaginary columns."
            )
        # set_axis and reset_index return new frames sharing data (copy-on-write).
        renamed: pd.DataFrame = X.set_axis(names, axis=1).reset_index(drop=True)
        return renamed
    if isinstance(X, pd.Series):
        raise TypeError("X is a Series; pass a 2-D DataFrame (e.g. X.to_frame()).")
    if X is None or isinstance(X, (str, bytes, int, float)):
        raise TypeError(f"X must be a 2-D array or DataFrame, got {type(X).__name__}.")
    array = np.asarray(X)
    if array.ndim != 2:
        raise ValueError(
            f"X must be 2-D (rows x features), got an array of shape {array.shape}. "
            "Reshape your data: X.reshape(-1, 1) for a single feature, X.reshape(1, -1) "
            "for a single row."
        )
    if array.dtype.kind == "c":
        raise ValueError(
            "Complex data not supported: X holds complex numbers. Split them into real and "
            "imaginary columns."
        )
    columns = (
        list(expected_columns)
        if expected_columns is not None and len(expected_columns) == array.shape[1]
        else [f"x{i}" for i in range(array.shape[1])]
    )
    frame: pd.DataFrame = pd.DataFrame(array, columns=columns)
    return frame


def _as_target(y: Any, n_rows: int) -> np.ndarray:
    if y is None:
        raise ValueError(
            "fit requires y to be passed, but the target y is None; pass the target, one "
            "value per row of X."
        )
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(
                f"y has {y.shape[1]} columns; multi-output targets are not supported yet. "
                "Fit one target at a time."
            )
        y = y.iloc[:, 0]
    array = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y)
    if array.ndim == 2 and array.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected; it is read as "
            "1-D. Pass y.ravel() (shape (n_samples,)) to silence this warning.",
            DataConversionWarning,
            stacklevel=4,
        )
        array = array.ravel()
    if array.ndim != 1:
        raise ValueError(
            f"y must be 1-D, got shape {array.shape}; multi-output targets are not "
            "supported yet. Fit one target at a time."
        )
    if len(array) != n_rows:
        raise ValueError(
            f"X has {n_rows} rows but y has {len(array)}; they must describe the same rows."
        )
    if array.dtype.kind == "c":
        raise ValueError(
            "Complex data not supported: y holds complex numbers. Pass a real-valued target."
        )
    if array.dtype.kind == "O":
        missing = pd.isna(array)
    elif array.dtype.kind in "fc":
        missing = np.isnan(array)
    else:
        missing = np.zeros(len(array), dtype=bool)
    if missing.any():
        raise ValueError(
            f"y has {int(missing.sum())} missing values (NaN/None); drop those rows first."
        )
    if array.dtype.kind == "O":
        kinds = {type(v) for v in array}
        if len(kinds) > 1:
            array = _labels_as_text(array)
        elif kinds and all(_is_number(k) for k in kinds):
            # Numbers held as objects (e.g. y.astype(object)): as numbers, which
            # scikit-learn's splitters and label checks recognise.
            array = np.asarray(array.tolist())
    return array


def _is_number(kind: type) -> bool:
    """Whether values of type ``kind`` are numbers (booleans are labels, not numbers)."""
    return issubclass(kind, (int, float, np.integer, np.floating)) and not issubclass(
        kind, (bool, np.bool_)
    )


def _labels_as_text(y: np.ndarray) -> np.ndarray:
    """Labels of mixed types as strings, refusing labels that only their type told apart.

    ``0`` and ``"0"`` would both become ``"0"`` and their rows would silently merge into
    one class; that is almost always a data-loading slip, so it is named instead.
    """
    text = y.astype(str)
    spelled: dict[str, set[tuple[str, Any]]] = {}
    for value, label in zip(y, text, strict=True):
        spelled.setdefault(label, set()).add((type(value).__name__, value))
    clashes = {label: kinds for label, kinds in spelled.items() if len(kinds) > 1}
    if clashes:
        label, kinds = next(iter(clashes.items()))
        shown = ", ".join(f"{value!r} ({name})" for name, value in sorted(kinds, key=str))
        raise ValueError(
            f"y mixes labels that differ only in type: {shown} would all be class {str(label)!r}. "
            "Convert the target to one type first (e.g. y.astype(str) or pd.to_numeric(y))."
        )
    return text


def _regression_target(y: np.ndarray) -> np.ndarray:
    try:
        values = y.astype(float)
    except (TypeError, ValueError):
        raise TypeError(
            "kind='regression' needs a numeric target; y holds non-numeric labels."
        ) from None
    if not np.isfinite(values).all():
        raise ValueError("y has infinite values; a regression target must be finite.")
    return values


def _is_numeric_object(series: pd.Series) -> bool:
    """An object column whose cells are all numbers (e.g. from a mixed numpy array)."""
    if series.dtype != object:
        return False
    cells = series.dropna()
    return len(cells) > 0 and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in cells
    )


def _check_scalar_cells(series: pd.Series, column: str) -> None:
    if series.dtype != object:
        return
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred in ("string", "empty", "boolean", "integer", "floating", "mixed-integer-float"):
        return  # scalar cells only; nothing to look at one by one
    for value in series.dropna():
        if isinstance(value, (list, tuple, dict, set, np.ndarray)):
            raise TypeError(
                f"Column {column!r} holds nested values ({type(value).__name__}); "
                "flatten them into separate scalar columns."
            )
        if isinstance(value, (pd.Timestamp, np.datetime64)) or hasattr(value, "isoformat"):
            raise TypeError(
                f"Column {column!r} holds dates/times; convert them to numbers or drop it."
            )


def _as_category_strings(series: pd.Series) -> pd.Series:
    missing = series.isna().to_numpy()
    if (
        series.dtype == object
        and not missing.any()
        and pd.api.types.infer_dtype(series, skipna=False) == "string"
    ):
        return series  # already plain strings: the common case, kept cheap
    out = series.astype(object).astype(str).astype(object).to_numpy(copy=True)
    out[missing] = np.nan
    strings: pd.Series[Any] = pd.Series(out, index=series.index, dtype=object)
    return strings


def _as_float(series: pd.Series, column: str) -> pd.Series:
    try:
        return pd.to_numeric(series, errors="raise").astype(float)
    except (TypeError, ValueError):
        raise TypeError(
            f"Column {column!r} was numeric during fit but now holds non-numeric values."
        ) from None
