"""Reading tabular files into ``X, y`` the way autometa expects them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


def read_table(path: str | Path, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Read a CSV (optionally gzipped) or Parquet file and split off the ``target`` column.

    Only empty cells count as missing in CSV files, so category labels such as "NA" or
    "None" stay labels. Rows whose target is missing are an error, not silently dropped.
    """
    path = Path(path)
    name = path.name.lower()
    if not path.is_file():
        raise FileNotFoundError(f"No such data file: {path}")
    try:
        if name.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
        elif name.endswith((".csv", ".csv.gz")):
            frame = pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False)
        else:
            raise ValueError(
                f"{path}: unsupported file type; use one of {', '.join(TABLE_SUFFIXES)}."
            )
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, EOFError) as exc:
        raise ValueError(
            f"{path}: cannot be read as a table ({type(exc).__name__}: {exc})."
        ) from exc
    if target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:10]))
        raise ValueError(
            f"{path}: no target column {target!r}; columns are {shown}"
            f"{', ...' if frame.shape[1] > 10 else ''}. Pass the right --target."
        )
    y = frame[target]
    if y.isna().any():
        raise ValueError(
            f"{path}: target column {target!r} has {int(y.isna().sum())} missing values; "
            "drop those rows first."
        )
    X = frame.drop(columns=[target])
    for column in X.columns:  # pandas 3 reads text as "str"; categoricals as plain objects
        if pd.api.types.is_string_dtype(X[column]) and not pd.api.types.is_object_dtype(X[column]):
            X[column] = X[column].astype(object)
    return X, y


def dataset_name(path: str | Path) -> str:
    """``abalone`` for ``.../abalone.csv.gz``."""
    name = Path(path).name
    for suffix in sorted(TABLE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem
