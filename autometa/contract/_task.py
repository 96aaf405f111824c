"""Task: validated training data with everything a search needs to know about it.

``Task.from_data(X, y)`` is where bad input stops. Every problem that would otherwise
surface deep inside a worker process (a NaN target, a datetime column, a class with a
single row) is turned into a ``ValueError`` or ``TypeError`` here, naming the problem
and what to do about it.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd
from sklearn.metrics import get_scorer, get_scorer_names
from sklearn.model_selection import (
    BaseCrossValidator,
    KFold,
    ShuffleSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
)

from autometa.contract._types import TASK_KINDS, TaskKind

logger = logging.getLogger(__name__)

DEFAULT_SCORING: dict[TaskKind, str] = {
    "binary": "roc_auc",
    "multiclass": "neg_log_loss",
    "regression": "r2",
}
"""Default ``scoring`` per kind: threshold-free for classification, scale-free for regression."""

DEFAULT_N_SPLITS = 5
HOLDOUT_FRACTION = 0.25
MAX_CLASSES_FROM_INTEGERS = 20
"""An integer-valued numeric target with at most this many values is taken as classes."""
BORDERLINE_CLASSES_FROM_INTEGERS = 10
"""Above this many integer values, taking them as classes is a guess worth a warning."""

REGRESSION_SCORERS = frozenset(
    {
        "d2_absolute_error_score",
        "explained_variance",
        "neg_max_error",
        "neg_mean_absolute_error",
        "neg_mean_absolute_percentage_error",
        "neg_mean_gamma_deviance",
        "neg_mean_poisson_deviance",
        "neg_mean_squared_error",
        "neg_mean_squared_log_error",
        "neg_median_absolute_error",
        "neg_root_mean_squared_error",
        "neg_root_mean_squared_log_error",
        "r2",
    }
)
"""scikit-learn's scorers of continuous predictions; every other registered scorer
compares labels or class probabilities. A scorer says what the user wants predicted,
so it decides the task kind before any guess from the target's values."""

Splitter: TypeAlias = BaseCrossValidator | ShuffleSplit | StratifiedShuffleSplit


@dataclass(frozen=True)
class FeatureSchema:
    """Column names and kinds seen at fit time; applied again to data at predict time."""

    columns: tuple[str, ...]
    categorical: tuple[str, ...]
    empty: tuple[str, ...] = ()
    """Columns without a single value at fit time: numeric and all NaN, whatever comes
    later (a model learned nothing from them, so later values are not read)."""

    @property
    def numeric(self) -> tuple[str, ...]:
        cats = set(self.categorical)
        return tuple(c for c in self.columns if c not in cats)

    def transform(self, X: Any) -> pd.DataFrame:
        """Return ``X`` as a DataFrame with the fit-time columns and normalised dtypes.

        Numeric columns become float64; categorical ones become object columns of strings
        with NaN for missing values, so encoders never meet mixed types.
        """
        frame = _as_frame(X, expected_columns=self.columns)
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"X lacks columns seen during fit: {missing[:10]}. Pass data with the same "
                "columns as the training data."
            )
        cats, empty = set(self.categorical), set(self.empty)
        columns = {
            column: (
                _as_category_strings(frame[column])
                if column in cats
                else pd.Series(np.nan, index=frame.index, dtype=float)
                if column in empty
                else _as_float(frame[column], column)
            )
            for column in self.columns
        }
        converted: pd.DataFrame = pd.DataFrame(columns, index=frame.index)
        return converted


@dataclass(frozen=True)
class Task:
    """A supervised learning task, validated and ready to search.

    Build it with :meth:`from_data`; the constructor trusts its arguments.
    """

    X: pd.DataFrame
    y: np.ndarray
    kind: TaskKind
    scoring: str
    cv: Splitter
    schema: FeatureSchema
    random_state: int | None = None
    name: str = "task"
    task_id: str = ""
    classes: np.ndarray | None = None
    cv_given: bool = field(default=False, repr=False)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_data(
        cls,
        X: Any,
        y: Any,
        *,
        kind: TaskKind | None = None,
        scoring: str | None = None,
        cv: int | Splitter | None = None,
        random_state: int | None = None,
        name: str | None = None,
        task_id: str | None = None,
    ) -> Task:
        """Validate ``X`` and ``y`` and infer what is not given.

        Parameters
        ----------
        X:
            2-D numpy array or pandas DataFrame. Numeric, categorical (object, category,
            string, bool) and missing values are supported; datetime and nested values
            are not.
        y:
            1-D target of the same length, without missing values.
        kind:
            ``"binary"``, ``"multiclass"`` or ``"regression"``; when None, inferred from
            ``scoring`` if given, else from ``y`` (see :func:`infer_kind`).
        scoring:
            Any scikit-learn scorer name; defaults to :data:`DEFAULT_SCORING`.
        cv:
            Number of folds or a splitter; defaults to 5 folds (stratified for
            classification) shrunk to the smallest class size.
        """
        frame = _as_frame(X)
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise ValueError(
                f"X is empty (shape {frame.shape}); pass at least two rows and one column."
            )
        target = _as_target(y, n_rows=frame.shape[0])
        schema = _infer_schema(frame)
        frame = schema.transform(frame)
        _check_numeric_range(frame, schema.numeric)
        if scoring is not None:
            _check_scoring(scoring)
        if kind is not None and kind not in TASK_KINDS:
            raise ValueError(f"kind must be one of {TASK_KINDS}, got {kind!r}.")
        task_kind = kind or infer_kind(target, scoring)
        _check_kind_fits_scoring(task_kind, scoring)
        classes = None
        if task_kind == "regression":
            target = _regression_target(target)
        else:
            classes, counts = np.unique(target, return_counts=True)
            _check_classes(task_kind, classes, counts)
        chosen_scoring = scoring or DEFAULT_SCORING[task_kind]
        # The default number of folds shrinks with tiny data; a number the user gave is
        # checked as given.
        default_folds = min(DEFAULT_N_SPLITS, max(2, len(target)))
        splitter = make_cv(task_kind, target, cv if cv is not None else default_folds, random_state)
        fingerprint = _fingerprint(frame, target)
        return cls(
            X=frame,
            y=target,
            kind=task_kind,
            scoring=chosen_scoring,
            cv=splitter,
            schema=schema,
            random_state=random_state,
            name=name or "task",
            task_id=task_id or f"{name or 'task'}-{fingerprint[:12]}",
            classes=classes,
            cv_given=cv is not None,
        )

    def with_validation(
        self, validation: Literal["cv", "holdout"], n_splits: int = DEFAULT_N_SPLITS
    ) -> Task:
        """The same task validated as a strategy asks, unless the user fixed ``cv``."""
        if self.cv_given:
            return self
        protocol: int | Splitter
        if validation == "holdout":
            protocol = _holdout(self.kind, self.y, self.random_state)
        else:
            protocol = n_splits
        return replace(self, cv=make_cv(self.kind, self.y, protocol, self.random_state))

    # -- facts ----------------------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def is_classification(self) -> bool:
        return self.kind != "regression"

    @property
    def n_splits(self) -> int:
        return int(self.cv.get_n_splits())

    def fold_train_size(self) -> int:
        """Rows an estimator sees when fitted on one training fold (a lower bound)."""
        splits = self.n_splits
        if isinstance(self.cv, (ShuffleSplit, StratifiedShuffleSplit)):
            return int(self.n_rows * (1 - HOLDOUT_FRACTION))
        return int(self.n_rows * (splits - 1) / splits)


# -- inference and checks ----------------------------------------------------------------
def infer_kind(y: np.ndarray, scoring: str | None = None) -> TaskKind:
    """The task kind of target ``y``, taking the user's ``scoring`` as the first clue.

    A regression scorer (:data:`REGRESSION_SCORERS`) means regression, any other
    scorer classification (binary for two values, else multiclass). Without a scorer:
    binary for two values; multiclass for labels or for at most
    :data:`MAX_CLASSES_FROM_INTEGERS` integer values, unless one of those values occurs
    only once (a class no split can validate: counts, most likely); else regression.
    A guess that could go either way is logged and warned about with the fix.
    """
    values, counts = np.unique(y, return_counts=True) if y.dtype.kind != "O" else _counts(y)
    labels = y.dtype.kind in "OUSb"
    if scoring is not None:
        if scoring not in REGRESSION_SCORERS:
            return "binary" if len(values) == 2 else "multiclass"
        if labels:
            raise ValueError(
                f"scoring={scoring!r} scores a regression, but y holds labels "
                f"({_plain(values[0])!r}, ...). Pass a classification scorer, or a numeric y."
            )
        return "regression"
    if len(values) == 2:
        return "binary"
    if labels:
        return "multiclass"
    numeric = y.astype(float)
    is_integer = bool(np.all(np.equal(np.mod(numeric, 1), 0)))
    if not is_integer or len(values) > MAX_CLASSES_FROM_INTEGERS:
        return "regression"
    if counts.min() < 2:
        _warn_kind(
            f"y holds {len(values)} integer values, some of them on a single row: taken "
            "as a regression target (counts or ratings), not as classes. Pass "
            "kind='multiclass' to treat them as classes."
        )
        return "regression"
    if len(values) > BORDERLINE_CLASSES_FROM_INTEGERS:
        _warn_kind(
            f"y holds {len(values)} integer values: taken as classes (multiclass). If they "
            "are counts or ratings, pass kind='regression' or a regression scoring "
            "such as scoring='r2'."
        )
    return "multiclass"


def _counts(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique`` with counts for object arrays, whose values need not be orderable."""
    table = pd.Series(y).value_counts(sort=False)
    return table.index.to_numpy(), table.to_numpy()


def _warn_kind(message: str) -> None:
    logger.warning(message)
    warnings.warn(message, UserWarning, stacklevel=4)


def _check_kind_fits_scoring(kind: TaskKind, scoring: str | None) -> None:
    """A kind the user gave must agree with the scorer the user gave."""
    if scoring is None or (kind == "regression") == (scoring in REGRESSION_SCORERS):
        return
    wanted = "regression" if scoring in REGRESSION_SCORERS else "classification"
    raise ValueError(
        f"kind={kind!r} does not fit scoring={scoring!r}, a {wanted} scorer. Pass a "
        f"scorer for a {kind} task (default: {DEFAULT_SCORING[kind]!r}) or the kind "
        "the scorer is made for."
    )


def make_cv(
    kind: TaskKind, y: np.ndarray, cv: int | Splitter, random_state: int | None
) -> Splitter:
    """A seeded splitter; stratified for classification; folds shrunk for tiny classes."""
    if not isinstance(cv, (int, np.integer)) or isinstance(cv, bool):
        if not hasattr(cv, "split") or not hasattr(cv, "get_n_splits"):
            raise TypeError(
                f"cv must be an int (number of folds) or a scikit-learn splitter; got {cv!r}."
            )
        return cv
    n_splits = int(cv)
    if n_splits < 2:
        raise ValueError(f"cv must be at least 2 folds, got {n_splits}.")
    if kind == "regression" and len(y) < 4:
        raise ValueError(
            f"A regression task needs at least 4 rows to cross-validate; got {len(y)}."
        )
    if n_splits > len(y):
        raise ValueError(
            f"cv={n_splits} asks for more folds than there are rows ({len(y)}); use cv <= {len(y)}."
        )
    if kind == "regression":
        # Every validation fold keeps two rows at least: R² and most regression scores
        # are undefined on a single row.
        folds = max(2, min(n_splits, len(y) // 2))
        return KFold(n_splits=folds, shuffle=True, random_state=random_state)
    return StratifiedKFold(
        n_splits=max(2, min(n_splits, _smallest_class(y))), shuffle=True, random_state=random_state
    )


def _smallest_class(y: np.ndarray) -> int:
    """Rows of the rarest class: what bounds the folds or holdout a stratified split can keep."""
    return int(np.unique(y, return_counts=True)[1].min())


def _holdout(kind: TaskKind, y: np.ndarray, random_state: int | None) -> int | Splitter:
    """One seeded split keeping :data:`HOLDOUT_FRACTION` for validation (stratified for
    classification), or 2 folds when a class is too small for it.

    A stratified split rounds a class's share of the validation part down, so a class
    of fewer than ``1 / HOLDOUT_FRACTION`` rows may get none: probabilistic scores such
    as log loss are then undefined and every trial would fail. Two stratified folds put
    one row of it on each side.
    """
    if kind == "regression":
        return ShuffleSplit(n_splits=1, test_size=HOLDOUT_FRACTION, random_state=random_state)
    smallest = _smallest_class(y)
    if smallest * HOLDOUT_FRACTION < 1:
        logger.info(
            "the smallest class has %d rows, too few to reach a %.0f%% holdout part: "
            "validating on 2 stratified folds instead",
            smallest,
            100 * HOLDOUT_FRACTION,
        )
        return 2
    return StratifiedShuffleSplit(n_splits=1, test_size=HOLDOUT_FRACTION, random_state=random_state)


FLOAT32_MAX = float(np.finfo(np.float32).max)
"""scikit-learn's tree models work in float32: larger magnitudes cannot be used."""


def _check_numeric_range(frame: pd.DataFrame, numeric: Sequence[str]) -> None:
    if not numeric:
        return
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(frame.loc[:, list(numeric)].to_numpy(dtype=float))
    infinite = [c for c, bad in zip(numeric, np.isinf(magnitude).any(axis=0), strict=True) if bad]
    if infinite:
        raise ValueError(
            f"X has infinite values in columns {infinite[:10]}. Replace them with NaN "
            "(treated as missing) or a finite value."
        )
    huge = [c for c, bad in zip(numeric, (magnitude > FLOAT32_MAX).any(axis=0), strict=True) if bad]
    if huge:
        raise ValueError(
            f"X has values beyond ±{FLOAT32_MAX:.1e} in columns {huge[:10]}, outside the "
            "float32 range scikit-learn's tree models compute in. Rescale those columns "
            "(e.g. a log transform) or clip them."
        )


def _check_classes(kind: TaskKind, classes: np.ndarray, counts: np.ndarray) -> None:
    if len(classes) < 2:
        raise ValueError(
            f"y has a single class ({classes[0]!r}); a classifier needs at least two. "
            "Check the target column, or pass kind='regression' for a numeric target."
        )
    if kind == "binary" and len(classes) != 2:
        raise ValueError(f"kind='binary' but y has {len(classes)} classes; use kind='multiclass'.")
    lonely = [c for c, n in zip(classes, counts, strict=True) if n < 2]
    if lonely:
        raise ValueError(
            f"Classes {[_plain(c) for c in lonely[:10]]} have a single row; cross-validation "
            "needs at least two rows per class. Drop those rows or merge the classes."
        )


def _check_scoring(scoring: str) -> None:
    if not isinstance(scoring, str):
        raise TypeError(f"scoring must be a scikit-learn scorer name, got {scoring!r}.")
    try:
        get_scorer(scoring)
    except ValueError:
        close = [s for s in get_scorer_names() if scoring.lower() in s][:5]
        hint = f" Did you mean one of {close}?" if close else ""
        raise ValueError(
            f"scoring={scoring!r} is not a scikit-learn scorer name.{hint} "
            "See sklearn.metrics.get_scorer_names()."
        ) from None


# -- conversion --------------------------------------------------------------------------
def _as_frame(X: Any, expected_columns: Sequence[str] | None = None) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        if len(set(names)) != len(names):
            raise ValueError("X has duplicate column names; make them unique.")
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
            "Reshape a single feature with X.reshape(-1, 1)."
        )
    columns = (
        list(expected_columns)
        if expected_columns is not None and len(expected_columns) == array.shape[1]
        else [f"x{i}" for i in range(array.shape[1])]
    )
    frame: pd.DataFrame = pd.DataFrame(array, columns=columns)
    return frame


def _as_target(y: Any, n_rows: int) -> np.ndarray:
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(
                f"y has {y.shape[1]} columns; multi-output targets are not supported yet. "
                "Fit one target at a time."
            )
        y = y.iloc[:, 0]
    array = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y)
    if array.ndim == 2 and array.shape[1] == 1:
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
    return array


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


def _infer_schema(frame: pd.DataFrame) -> FeatureSchema:
    categorical, empty = [], []
    for column in frame.columns:
        series = frame[column]
        if series.isna().all():
            # No value says what kind the column is: numeric, all NaN, which every
            # algorithm's preprocessing keeps (an all-None object column used to become
            # a categorical that the encoders dropped, leaving some pipelines no feature).
            empty.append(str(column))
            continue
        dtype = series.dtype
        if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
            raise TypeError(
                f"Column {column!r} holds dates/times ({dtype}); convert it to numbers "
                "(e.g. a timestamp or day of week) or drop it."
            )
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            _check_scalar_cells(series, column)
            if not pd.api.types.is_bool_dtype(dtype) and _is_numeric_object(series):
                continue
            categorical.append(str(column))
    return FeatureSchema(tuple(str(c) for c in frame.columns), tuple(categorical), tuple(empty))


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


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _fingerprint(frame: pd.DataFrame, y: np.ndarray) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(pd.util.hash_array(np.asarray(y, dtype=object)).tobytes())
    return digest.hexdigest()
