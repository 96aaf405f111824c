"""Reading tabular files into ``X, y`` the way autometa expects them."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


def read_frame(path: str | Path) -> pd.DataFrame:
    """Read a CSV (optionally gzipped) or Parquet file; ``"-"`` reads CSV from standard input.

    Only empty cells count as missing in CSV files, so category labels such as "NA" or
    "None" stay labels. Text columns come back as plain object columns.
    """
    stdin = str(path) == "-"
    path = Path(path)
    name = path.name.lower()
    if not stdin and not path.is_file():
        raise FileNotFoundError(f"No such data file: {path}")
    shown = "standard input" if stdin else str(path)
    try:
        if stdin or name.endswith((".csv", ".csv.gz")):
            frame = pd.read_csv(
                sys.stdin if stdin else path,
                keep_default_na=False,
                na_values=[""],
                low_memory=False,
            )
        elif name.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
        else:
            raise ValueError(
                f"{path}: unsupported file type; use one of {', '.join(TABLE_SUFFIXES)}, or - "
                "for CSV on standard input."
            )
    except ImportError:  # pandas' own message spans lines; one line says it all
        raise ValueError(
            f"{shown}: reading Parquet needs pyarrow, which is not installed: "
            'pip install "autometa-ml[parquet]" (or pip install pyarrow), or pass a CSV file.'
        ) from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, EOFError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(
            f"{shown}: cannot be read as a table ({type(exc).__name__}: {reason}). Pass a "
            "UTF-8 CSV file (.csv, .csv.gz) or a Parquet file with a header row."
        ) from exc
    for column in frame.columns:  # pandas 3 reads text as "str"; categoricals as plain objects
        if pd.api.types.is_string_dtype(frame[column]) and not pd.api.types.is_object_dtype(
            frame[column]
        ):
            frame[column] = frame[column].astype(object)
    return frame


def read_table(path: str | Path, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """:func:`read_frame`, with the ``target`` column split off.

    Rows whose target is missing are an error, not silently dropped.
    """
    frame = read_frame(path)
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
    return frame.drop(columns=[target]), y


def dataset_name(path: str | Path) -> str:
    """``abalone`` for ``.../abalone.csv.gz``."""
    name = Path(path).name
    for suffix in sorted(TABLE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem
