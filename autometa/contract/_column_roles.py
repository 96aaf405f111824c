"""Columns that are not plain features: dates, identifiers and free text.

A table a user actually has often holds columns that a model cannot use as they are. Left
alone they become categoricals with one level per row: an order number, a customer name
or a timestamp string one-hot or ordinal encoded teaches a model nothing about new rows,
and a review text becomes a category no later row shares. :func:`detect_roles` finds such
columns by rules that look only at X (never at y), and :func:`derive_columns` turns each
into what a model can use, the same way at fit and at predict time:

- **dates** (a datetime64 column, or text that parses as dates, e.g. ``2024-03-01`` or
  ``03/01/2024 14:00``) become numbers: year, month, day, day of week, day of year, the
  hour when any value has a time of day, and days since 1970 (for trends). A timedelta
  column becomes its seconds.
- **identifiers** are dropped: a value seen once predicts nothing about rows not seen.
  An identifier is unique in every row of at least :data:`MIN_ROWS_FOR_ID` rows and is
  either text of few words (a name, a code) or integers forming a run (1..n) under a
  name that says so (``id``, ``customer_id``, ``key``, ``index``; a year column also
  forms a run, so integers need both).
- **free text** (text whose cells average at least :data:`MIN_TEXT_WORDS` words and
  repeat rarely) is summarised by its length in characters and in words. This is a
  deliberately small encoding, stated so that nobody mistakes it for a language model:
  encode the text yourself (e.g. TF-IDF or embeddings into numeric columns) when its
  content matters.

Everything else keeps its dtype-based role (numeric or categorical). The rules are
conservative: a column is re-roled only when its evidence is clear, since dropping a
useful column costs more than keeping a useless one.

One more fact is recorded but changes no column: which categorical columns have **many
levels** (more than :data:`MAX_ONE_HOT_LEVELS` in the training data,
:func:`many_level_columns`). One-hot encoding them would give a column per level, so the
shipped catalogue's pipelines that standardise their features (linear models, SVM, kNN,
the neural network, naive Bayes) target-encode them instead, the forests split their
ordinal codes and the boosters take them as native categories; the explanation says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_ROWS_FOR_ID = 20
"""Fewer rows than this cannot show that a column is unique per row by design."""

MIN_TEXT_WORDS = 4.0
"""Mean words per cell from which a text column is free text rather than a category."""

MAX_TEXT_REPEAT = 0.5
"""Free text repeats rarely: at most this share of its cells may be repeats of others."""

MAX_ONE_HOT_LEVELS = 20
"""Categorical columns with at most this many levels are one-hot encoded; a column with
more has many levels (target-encoded or ordinal codes, depending on the model)."""

SCALED_PIPELINES = "linear, sgd, svm, knn, mlp, naive_bayes"
"""The shipped algorithms whose pipelines standardise features and so target-encode
columns of many levels (plugins/autometa_sklearn, ``make_preprocessor(scale=True)``)."""

MIN_DATE_SHARE = 0.95
"""Share of a text column's non-missing cells that must parse as dates."""

DATE_SAMPLE = 500
"""Cells of a text column looked at to decide whether it holds dates (the first ones)."""

_DATE_SHAPE = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})"
    r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)
"""What a date written as text looks like: year-month-day or day/month/year (either
separator), optionally with a time of day and a zone. Plain numbers never match."""

_ID_NAME = re.compile(r"(^|[_\s.-])(id|key|index|idx)$|^unnamed: \d+$", re.IGNORECASE)
"""Column names that say "identifier" (the last word, so ``paid`` and ``monkey`` do not)."""

_CALENDAR = ("year", "month", "day", "day_of_week", "day_of_year")


@dataclass(frozen=True)
class ColumnRoles:
    """The columns :func:`detect_roles` re-roled, each tuple in the table's column order.

    ``dates`` and ``durations`` become numeric columns, ``ids`` are dropped, ``text``
    becomes length features; ``timed`` lists the date columns whose hour is kept and
    ``day_first`` those written day first (``31/01/2024``), decided once at fit time so
    that predict reads them alike. ``many_levels`` re-roles nothing: it names the
    categorical columns with more than :data:`MAX_ONE_HOT_LEVELS` levels at fit time
    (:func:`many_level_columns`), so that the explanation can say how they are encoded.
    """

    dates: tuple[str, ...] = ()
    timed: tuple[str, ...] = ()
    day_first: tuple[str, ...] = ()
    durations: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    many_levels: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        """Whether any column is re-roled (``many_levels`` changes no column)."""
        return bool(self.dates or self.durations or self.ids or self.text)

    def derived_names(self, column: str) -> tuple[str, ...]:
        """Names of the columns ``column`` becomes (empty when dropped, itself otherwise)."""
        if column in self.dates:
            hour = ("hour",) if column in self.timed else ()
            return tuple(f"{column}__{part}" for part in (*_CALENDAR, *hour, "days"))
        if column in self.durations:
            return (f"{column}__seconds",)
        if column in self.text:
            return (f"{column}__chars", f"{column}__words")
        if column in self.ids:
            return ()
        return (column,)

    def describe(self) -> list[str]:
        """One line per re-roled column and per column of many levels, for the explanation.

        Task.from_data warns with these lines before ``many_levels`` is known: a column
        of many levels is no problem to warn about, only a fact to explain.
        """
        lines = [f"{c!r} holds dates: used as calendar numbers" for c in self.dates]
        lines += [f"{c!r} holds durations: used as seconds" for c in self.durations]
        lines += [f"{c!r} is unique in every row (an identifier): dropped" for c in self.ids]
        lines += [
            f"{c!r} holds free text: used as its length in characters and words "
            "(encode the text yourself if its content matters)"
            for c in self.text
        ]
        lines += [
            f"{c!r} has more than {MAX_ONE_HOT_LEVELS} levels: target-encoded (each level's "
            f"cross-fitted mean target) in the pipelines that standardise features "
            f"({SCALED_PIPELINES}); ordinal codes or native categories for tree models"
            for c in self.many_levels
        ]
        return lines


def detect_roles(frame: pd.DataFrame) -> ColumnRoles:
    """Find the date, duration, identifier and free-text columns of ``frame`` (X only)."""
    dates, timed, day_first, durations, ids, text = [], [], [], [], [], []
    for name in frame.columns:
        column, series = str(name), frame[name]
        if pd.api.types.is_timedelta64_dtype(series.dtype):
            durations.append(column)
        elif _is_date_column(series) or _is_date_text(series):
            dates.append(column)
            first = _is_day_first(series)
            if first:
                day_first.append(column)
            if _has_time_of_day(_as_datetime(series, day_first=first)):
                timed.append(column)
        elif _is_free_text(series):
            text.append(column)
        elif _is_identifier(series):
            ids.append(column)
    return ColumnRoles(
        dates=tuple(dates),
        timed=tuple(timed),
        day_first=tuple(day_first),
        durations=tuple(durations),
        ids=tuple(ids),
        text=tuple(text),
    )


def derive_columns(frame: pd.DataFrame, roles: ColumnRoles) -> pd.DataFrame:
    """``frame`` with each re-roled column replaced by what it becomes, in place order.

    Applied alike at fit and at predict time; a cell that is missing or does not parse
    gives NaN in every column derived from it.
    """
    if not roles:
        return frame
    parts: dict[str, pd.Series] = {}
    for name in frame.columns:
        column, series = str(name), frame[name]
        if column in roles.dates:
            dates = _as_datetime(series, day_first=column in roles.day_first)
            parts.update(_calendar(column, dates, column in roles.timed))
        elif column in roles.durations:
            seconds = pd.to_timedelta(series, errors="coerce").dt.total_seconds()
            parts[f"{column}__seconds"] = seconds.astype(float)
        elif column in roles.text:
            cells = series.where(series.notna(), None)
            parts[f"{column}__chars"] = cells.map(_chars, na_action="ignore").astype(float)
            parts[f"{column}__words"] = cells.map(_words, na_action="ignore").astype(float)
        elif column not in roles.ids:
            parts[column] = series
    derived: pd.DataFrame = pd.DataFrame(parts, index=frame.index)
    return derived


def many_level_columns(frame: pd.DataFrame, categorical: Iterable[str]) -> tuple[str, ...]:
    """The ``categorical`` columns of ``frame`` with more than :data:`MAX_ONE_HOT_LEVELS`
    distinct non-missing levels: those one-hot encoding would blow up."""
    return tuple(c for c in categorical if frame[c].nunique(dropna=True) > MAX_ONE_HOT_LEVELS)


def derived_columns(columns: Iterable[str], roles: ColumnRoles) -> tuple[str, ...]:
    """The column names :func:`derive_columns` gives a table with ``columns``."""
    return tuple(name for column in columns for name in roles.derived_names(column))


# -- the rules ------------------------------------------------------------------------------
def _text_cells(series: pd.Series) -> pd.Series | None:
    """The non-missing cells of a column of strings, or None for any other column."""
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return None
    cells = series.dropna()
    if cells.empty or pd.api.types.infer_dtype(cells, skipna=True) != "string":
        return None
    return cells.astype(str)


def _is_date_column(series: pd.Series) -> bool:
    """A datetime64 column, or an object column of date or datetime objects."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return True
    if series.dtype != object or series.isna().all():
        return False
    return pd.api.types.infer_dtype(series, skipna=True) in ("datetime", "datetime64", "date")


def _is_date_text(series: pd.Series) -> bool:
    cells = _text_cells(series)
    if cells is None:
        return False
    sample = cells.iloc[:DATE_SAMPLE]
    if sample.str.match(_DATE_SHAPE).mean() < MIN_DATE_SHARE:
        return False
    parsed = _as_datetime(sample, day_first=_is_day_first(sample))
    return bool(parsed.notna().mean() >= MIN_DATE_SHARE)


def _is_day_first(series: pd.Series) -> bool:
    """Whether dates written with the year last put the day first: some cell's first
    number is above 12 (``31/01/2024``). Otherwise month first, pandas' reading."""
    cells = _text_cells(series)
    if cells is None:
        return False
    first = cells.str.extract(r"^\s*(\d{1,2})[-/.]\d{1,2}[-/.]\d{2,4}", expand=False)
    return bool((pd.to_numeric(first, errors="coerce") > 12).any())


def _as_datetime(series: pd.Series, *, day_first: bool = False) -> pd.Series:
    """Dates of a datetime or text column (NaT where a cell does not parse), zone-free."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = series
    else:
        values = pd.to_datetime(
            series.astype(object), errors="coerce", format="mixed", dayfirst=day_first, utc=True
        )
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values


def _has_time_of_day(dates: pd.Series) -> bool:
    known = dates.dropna()
    return bool(len(known) and (known != known.dt.normalize()).any())


def _calendar(column: str, dates: pd.Series, timed: bool) -> dict[str, pd.Series]:
    parts = {f"{column}__{part}": getattr(dates.dt, part).astype(float) for part in _CALENDAR}
    if timed:
        parts[f"{column}__hour"] = dates.dt.hour.astype(float)
    epoch = (dates - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
    parts[f"{column}__days"] = epoch.astype(float)
    return parts


def _is_free_text(series: pd.Series) -> bool:
    cells = _text_cells(series)
    if cells is None or len(cells) < 2:
        return False
    words = float(cells.map(_words).mean())
    repeats = 1.0 - cells.nunique() / len(cells)
    return words >= MIN_TEXT_WORDS and repeats <= MAX_TEXT_REPEAT


def _is_identifier(series: pd.Series) -> bool:
    """Unique in every row, and text of few words, or integers forming a run (1..n)
    under an identifier's name."""
    if len(series) < MIN_ROWS_FOR_ID:
        return False
    cells = _text_cells(series)
    integer_key = pd.api.types.is_integer_dtype(series.dtype) and _ID_NAME.search(str(series.name))
    if cells is None and not integer_key:
        return False  # unique floats are measurements far more often than keys
    # the cheap tests first: uniqueness hashes every cell, which counts on wide tables
    if series.isna().any() or not series.is_unique:
        return False
    if cells is not None:
        return bool(cells.map(_words).mean() < MIN_TEXT_WORDS)
    values = np.sort(series.to_numpy(dtype=np.int64))
    return bool(values[-1] - values[0] + 1 == len(values))


def _chars(cell: object) -> int:
    return len(str(cell))


def _words(cell: object) -> int:
    return len(str(cell).split())
