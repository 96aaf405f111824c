"""Task: validated training data with everything a search needs to know about it.

``Task.from_data(X, y)`` is where bad input stops. Every problem that would otherwise
surface deep inside a worker process (a NaN target, a nested value, a class with a
single row) is turned into a ``ValueError`` or ``TypeError`` here, naming the problem
and what to do about it.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    ShuffleSplit,
    StratifiedShuffleSplit,
)

from autometa.contract._column_roles import (
    ColumnRoles,
    derive_columns,
    derived_columns,
    detect_roles,
    many_level_columns,
)
from autometa.contract._cv import DEFAULT_N_SPLITS, HOLDOUT_FRACTION, Splitter, _holdout, make_cv
from autometa.contract._kinds import TASK_KINDS, TaskKind
from autometa.contract._row_checks import (
    ClassWeight,
    check_class_weight,
    check_groups,
    check_sample_weight,
    class_weight_dict,
    class_weight_text,
)
from autometa.contract._splitters import FirstSplit, TrainingOnlyRows, one_repeat
from autometa.contract._task_checks import (
    DEFAULT_SCORING,
    _check_classes,
    _check_kind_fits_scoring,
    _check_numeric_range,
    _check_scoring,
    _check_weighted_classes,
    infer_kind,
)
from autometa.contract._task_data import (
    _as_category_strings,
    _as_float,
    _as_frame,
    _as_target,
    _check_scalar_cells,
    _is_numeric_object,
    _regression_target,
)


@dataclass(frozen=True)
class FeatureSchema:
    """Column names and kinds seen at fit time; applied again to data at predict time."""

    columns: tuple[str, ...]
    """The columns of X, as given (what predict must be given again)."""
    categorical: tuple[str, ...]
    empty: tuple[str, ...] = ()
    """Columns without a single value at fit time: numeric and all NaN, whatever comes
    later (a model learned nothing from them, so later values are not read)."""
    roles: ColumnRoles = ColumnRoles()  # noqa: RUF009  (frozen: one shared default is safe)
    """Date, duration, identifier and free-text columns, and what they become (none for a
    schema pickled before this field existed: the default is a class attribute)."""

    @property
    def features(self) -> tuple[str, ...]:
        """The columns models see: ``columns`` with each re-roled one replaced by what
        it becomes (:mod:`autometa.contract._column_roles`)."""
        return derived_columns(self.columns, self.roles)

    @property
    def numeric(self) -> tuple[str, ...]:
        cats = set(self.categorical)
        return tuple(c for c in self.features if c not in cats)

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
        frame = derive_columns(frame, self.roles)
        cats, empty = set(self.categorical), set(self.empty)
        columns = {
            column: (
                _as_category_strings(frame[column])
                if column in cats
                else pd.Series(np.nan, index=frame.index, dtype=float)
                if column in empty
                else _as_float(frame[column], column)
            )
            for column in self.features
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
    sample_weight: np.ndarray | None = field(default=None, repr=False)
    """One non-negative weight per row, or None (all rows weigh the same). Estimators are
    fitted and scorers score with them."""
    groups: np.ndarray | None = field(default=None, repr=False)
    """One integer group code per row, or None. Every split keeps a group on one side."""
    class_weight: ClassWeight = None
    """``"balanced"`` (every class weighs the same) or a dict ``{class label: weight}``
    (classes not named weigh 1), checked: training rows weigh their class's weight (times
    ``sample_weight``); scorers do not use them."""

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
        sample_weight: Any = None,
        groups: Any = None,
        class_weight: ClassWeight = None,
    ) -> Task:
        """Validate ``X`` and ``y`` and infer what is not given.

        Parameters
        ----------
        X:
            2-D numpy array or pandas DataFrame. Numeric, categorical (object, category,
            string, bool) and missing values are supported, and date, identifier and free-text
            columns are turned into what models can use (:mod:`._column_roles`); nested values
            are not.
        y:
            1-D target of the same length, without missing values.
        kind:
            ``"binary"``, ``"multiclass"`` or ``"regression"``; when None, inferred from
            ``scoring`` if given, else from ``y`` (see :func:`infer_kind`).
        scoring:
            Any scikit-learn scorer name; defaults to :data:`DEFAULT_SCORING`.
        cv:
            Number of folds, a splitter, or an iterable of ``(train, test)`` row-index
            arrays (as scikit-learn's ``cv``); defaults to 5 folds (stratified for
            classification) shrunk to the smallest class size; with ``groups``, group
            folds (:meth:`with_rows`).
        sample_weight, groups, class_weight:
            See :meth:`with_rows`.
        """
        frame = _as_frame(X)
        _check_size(frame)
        target = _as_target(y, n_rows=frame.shape[0])
        schema = _infer_schema(frame)
        frame = schema.transform(frame)
        schema = _with_many_levels(schema, frame)
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
        weights = None if sample_weight is None else check_sample_weight(sample_weight, len(target))
        class_weight = check_class_weight(class_weight, task_kind != "regression", classes)
        if task_kind != "regression":
            _check_weighted_classes(target, weights, class_weight_dict(class_weight))
        codes = None if groups is None else check_groups(groups, len(target))
        # The default number of folds shrinks with tiny data; a number the user gave is
        # checked as given.
        default_folds = min(DEFAULT_N_SPLITS, max(2, len(target)))
        protocol = cv if cv is not None else default_folds
        splitter = make_cv(task_kind, target, protocol, random_state, codes)
        fingerprint = _fingerprint(frame, target)[:12] + _rows_suffix(weights, codes, class_weight)
        return cls(
            X=frame,
            y=target,
            kind=task_kind,
            scoring=chosen_scoring,
            cv=splitter,
            schema=schema,
            random_state=random_state,
            name=name or "task",
            task_id=task_id or f"{name or 'task'}-{fingerprint}",
            classes=classes,
            cv_given=cv is not None,
            sample_weight=weights,
            groups=codes,
            class_weight=class_weight,
        )

    def with_rows(
        self,
        sample_weight: Any = None,
        groups: Any = None,
        class_weight: ClassWeight = None,
        cv: int | Splitter | None = None,
    ) -> Task:
        """The same task with row weights, groups and class weighting, checked.

        ``sample_weight``: one finite, non-negative weight per row, not all zero; each
        estimator is fitted and each score computed with them. ``groups``: one label per
        row, no missing values; every split then keeps each group whole on one side: a
        number of folds (``cv``, or the task's own when ``cv`` is None) becomes group
        k-fold (stratified for classification), a holdout a group holdout, and a
        splitter given as ``cv`` is used as given (with the groups). ``class_weight``
        (classification only): ``"balanced"`` weighs each class the same in training, a
        dict ``{class label: weight}`` weighs the rows of each class named (finite,
        non-negative; every label a class of y; others weigh 1).

        Any of them appends a digest of them to ``task_id``: a durable study or a
        knowledge base never takes a weighted fit's scores for the plain task's.
        """
        weights = None if sample_weight is None else check_sample_weight(sample_weight, self.n_rows)
        class_weight = check_class_weight(class_weight, self.is_classification, self.classes)
        if self.is_classification:
            _check_weighted_classes(self.y, weights, class_weight_dict(class_weight))
        codes = None if groups is None else check_groups(groups, self.n_rows)
        task = replace(
            self,
            sample_weight=weights,
            groups=codes,
            class_weight=class_weight,
            task_id=self.task_id + _rows_suffix(weights, codes, class_weight),
        )
        if cv is not None:
            splitter = make_cv(self.kind, self.y, cv, self.random_state, codes)
            return replace(task, cv=splitter, cv_given=True)
        if codes is None or self.cv_given:
            return task
        # The strategy's protocol, now by groups: one split is a holdout, more are folds.
        repeats = one_repeat(self.cv)[1]
        scheme: Literal["cv", "holdout"] = "holdout" if self.n_splits == 1 else "cv"
        return task.with_validation(scheme, self.n_splits // repeats, repeats)

    def with_validation(
        self,
        validation: Literal["cv", "holdout"],
        n_splits: int = DEFAULT_N_SPLITS,
        n_repeats: int = 1,
    ) -> Task:
        """The same task validated as a strategy asks, unless the user fixed ``cv``.

        ``n_repeats`` repeats k-fold CV with fresh shuffles (ignored for a holdout).
        """
        if self.cv_given:
            return self
        protocol: int | Splitter
        if validation == "holdout":
            protocol = _holdout(self.kind, self.y, self.random_state, self.groups)
            n_repeats = 1
        else:
            # Shrunk with tiny data as the default is in from_data: the user gave no number
            # of folds, so more folds than rows is the strategy's wish, not an error to raise.
            protocol = min(n_splits, max(2, len(self.y)))
        splitter = make_cv(self.kind, self.y, protocol, self.random_state, self.groups, n_repeats)
        return replace(self, cv=splitter)

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
        if self.groups is None:
            return int(self.cv.get_n_splits())
        # A splitter by groups (LeaveOneGroupOut) counts them.
        return int(self.cv.get_n_splits(self.X, self.y, self.groups))

    def fold_train_size(self) -> int:
        """Rows an estimator sees when fitted on one training fold (a lower bound)."""
        splitter, repeats = one_repeat(self.cv)  # each repeat trains on the same share
        splits = self.n_splits // repeats
        if isinstance(splitter, TrainingOnlyRows):
            splitter = splitter.splitter
        if isinstance(splitter, FirstSplit):
            return int(self.n_rows * (1 - splitter.fraction))
        if isinstance(splitter, (ShuffleSplit, StratifiedShuffleSplit)):
            return int(self.n_rows * (1 - HOLDOUT_FRACTION))
        return int(self.n_rows * (splits - 1) / splits)


def _check_size(frame: pd.DataFrame) -> None:
    """At least one column and two rows (one row can be neither split nor validated),
    refused in scikit-learn's words (``n feature(s) (shape=...) while a minimum of``)."""
    shape = tuple(int(n) for n in frame.shape)
    if shape[1] == 0:
        raise ValueError(
            f"X is empty: 0 feature(s) (shape={shape}) while a minimum of 1 is required; "
            "pass at least one column."
        )
    if shape[0] < 2:
        rows = "is empty: 0" if shape[0] == 0 else "has 1"
        raise ValueError(
            f"X {rows} sample(s) (shape={shape}) while a minimum of 2 is required; pass at "
            "least two rows."
        )


def _infer_schema(frame: pd.DataFrame) -> FeatureSchema:
    # No value says what kind an all-missing column is: numeric, all NaN, which every
    # algorithm's preprocessing keeps (an all-None object column used to become a
    # categorical that the encoders dropped, leaving some pipelines no feature).
    empty = [str(c) for c in frame.columns if frame[c].isna().all()]
    roles = detect_roles(frame.drop(columns=empty))
    for line in roles.describe():
        warnings.warn(f"Column {line}.", UserWarning, stacklevel=2)
    derived = derive_columns(frame, roles)
    categorical = []
    for column in derived.columns:
        series = derived[column]
        if str(column) in empty:
            continue
        dtype = series.dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            _check_scalar_cells(series, column)
            if not pd.api.types.is_bool_dtype(dtype) and _is_numeric_object(series):
                continue
            categorical.append(str(column))
    return FeatureSchema(
        tuple(str(c) for c in frame.columns), tuple(categorical), tuple(empty), roles
    )


def _with_many_levels(schema: FeatureSchema, frame: pd.DataFrame) -> FeatureSchema:
    """``schema`` with its categorical columns of many levels recorded, counted on the
    transformed ``frame`` (the strings the encoders see), after the column warnings."""
    many = many_level_columns(frame, schema.categorical)
    return replace(schema, roles=replace(schema.roles, many_levels=many)) if many else schema


def _rows_suffix(
    weights: np.ndarray | None, groups: np.ndarray | None, class_weight: ClassWeight
) -> str:
    """``-r`` and a digest of the rows' weights, groups and class weighting; empty
    without any."""
    if weights is None and groups is None and class_weight is None:
        return ""
    digest = hashlib.sha1(usedforsecurity=False)
    for part in (weights, groups):
        digest.update(b"-" if part is None else np.ascontiguousarray(part).tobytes())
    digest.update(class_weight_text(class_weight).encode())
    return f"-r{digest.hexdigest()[:8]}"


def _fingerprint(frame: pd.DataFrame, y: np.ndarray) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(pd.util.hash_array(np.asarray(y, dtype=object)).tobytes())
    return digest.hexdigest()
