"""Shared views of one task for the meta-feature groups, and the seeded subsample.

:class:`_TaskData` computes what several groups need (numeric columns, level counts, the
encoded subsample) once per call, on first use, from the seeded, stratified rows
:func:`~autometa.search._subsample.stratified_subsample` draws. The bounds are the
constants below.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from autometa.contract._task import Task
from autometa.search._subsample import stratified_subsample

MAX_SUBSAMPLE_ROWS = 2000
"""Rows the expensive groups see at most."""

MAX_STATISTICS_ROWS = 20_000
"""Rows the skewness and kurtosis of the ``statistical`` group see at most.

Per-column moments over all rows of a large table were most of a fit's planning; a
moment estimated from 20,000 rows is close to the full data's. Both are measured in
docs/benchmarks.md ("Meta-feature statistics on at most 20,000 rows"), which also says
why the shipped base's larger tasks keep their all-rows values. The knowledge-base
builder computes meta-features with this same function, so new bases get the bound."""

MAX_SUBSAMPLE_CELLS = 300_000
"""Rows x encoded columns the expensive groups aim to stay under. Fitting a decision
tree costs about rows x columns, so this bounds landmarking on wide tasks (a 370-column
task gets about 800 rows)."""

MIN_SUBSAMPLE_ROWS = 500
"""Rows the expensive groups get at least (when the task has them), however wide it is."""

MAX_ONE_HOT_LEVELS = 10
"""Categorical columns are one-hot encoded into at most this many indicator columns
(rarer levels share one "infrequent" column), which bounds the width of the matrix the
expensive groups work on."""

_MISSING_LEVEL = "\x00missing"
"""Level that stands for a missing categorical cell during encoding."""


# -- shared, lazily computed views of one task --------------------------------------------
class _TaskData:
    """The task plus views several groups need, computed once per call on first use.

    The time of a shared view is charged to the first group that asks for it.
    """

    def __init__(self, task: Task, seed: int) -> None:
        self.task = task
        self.seed = seed

    @cached_property
    def numeric(self) -> np.ndarray:
        """Numeric columns as a C-contiguous ``(n_numeric, n_rows)`` float array.

        Column-major because pandas stores a frame's columns contiguously and every
        statistic here is per column.
        """
        columns = list(self.task.schema.numeric)
        if not columns:
            # (0, n_rows), not (0,): _missing also sums the mask along axis 1, which a 1-D
            # array lacks.
            return np.empty((0, self.task.n_rows))
        values = self.task.X[columns].to_numpy(dtype=np.float64)
        return np.ascontiguousarray(values.T)

    @cached_property
    def statistics_sample(self) -> np.ndarray:
        """:attr:`numeric` on at most :data:`MAX_STATISTICS_ROWS` rows: a seeded,
        stratified subsample (sorted row order) when the task has more."""
        numeric = self.numeric
        if self.task.n_rows <= MAX_STATISTICS_ROWS:
            return numeric
        rows = stratified_subsample(self.task.y, self.task.kind, MAX_STATISTICS_ROWS, self.seed)
        return np.ascontiguousarray(numeric[:, rows])

    @cached_property
    def categorical_missing(self) -> np.ndarray:
        """Missing-cell mask of the categorical columns, ``(n_rows, n_categorical)``."""
        columns = list(self.task.schema.categorical)
        if not columns:
            return np.zeros((self.task.n_rows, 0), dtype=bool)
        return self.task.X[columns].isna().to_numpy()

    @cached_property
    def levels(self) -> np.ndarray:
        """Distinct observed levels (missing excluded) per categorical column."""
        columns = list(self.task.schema.categorical)
        if not columns:
            return np.empty(0)
        return self.task.X[columns].nunique(dropna=True).to_numpy(dtype=np.float64)

    @cached_property
    def encoded_width(self) -> int:
        """Columns the encoding of :attr:`sample` produces (at most; the subsample may
        lack some levels): one per numeric column, one per level of a categorical
        column (missing counts as a level) up to :data:`MAX_ONE_HOT_LEVELS`."""
        with_missing = self.levels + self.categorical_missing.any(axis=0)
        one_hot = np.minimum(with_missing, MAX_ONE_HOT_LEVELS).sum()
        return len(self.task.schema.numeric) + int(one_hot)

    @cached_property
    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """A seeded subsample, imputed, encoded and standardised: ``(Z, y)``.

        Median imputation for numeric columns, one-hot encoding (missing is a level of
        its own, rare levels pooled) for categorical ones, then every column scaled to
        zero mean and unit variance so distances and components weigh columns equally.
        The encoders see the whole subsample, including the rows later used to score
        the landmarkers: harmless for describing a task, as in auto-sklearn.
        """
        task = self.task
        budget = MAX_SUBSAMPLE_CELLS // max(self.encoded_width, 1)
        max_rows = min(MAX_SUBSAMPLE_ROWS, max(MIN_SUBSAMPLE_ROWS, budget))
        rows = stratified_subsample(task.y, task.kind, max_rows, self.seed)
        frame = task.X.iloc[rows]
        parts = []
        if task.schema.numeric:
            numeric = frame[list(task.schema.numeric)].to_numpy(dtype=np.float64)
            # Columns with no observed value in the subsample are dropped by the imputer.
            parts.append(SimpleImputer(strategy="median").fit_transform(numeric))
        if task.schema.categorical:
            # Missing becomes a level of its own: OneHotEncoder refuses a column mixing strings and
            # NaN. The leading NUL keeps it from equalling any real level.
            levels = frame[list(task.schema.categorical)].fillna(_MISSING_LEVEL)
            encoder = OneHotEncoder(
                max_categories=MAX_ONE_HOT_LEVELS, sparse_output=False, dtype=np.float64
            )
            parts.append(encoder.fit_transform(levels.to_numpy(dtype=object)))
        Z = np.hstack(parts) if parts else np.empty((len(rows), 0))
        if Z.shape[1]:
            with np.errstate(all="ignore"):
                Z = StandardScaler().fit_transform(Z)
            # Values near the float limit (e.g. 1e300) overflow the variance; such a column
            # cannot be standardised and is treated as carrying no usable signal.
            Z = np.nan_to_num(Z, nan=0.0, posinf=0.0, neginf=0.0)
        return Z, task.y[rows]
