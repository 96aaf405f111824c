"""A task's validation splitter: k-fold or holdout, stratified, by groups, or the user's own.

:func:`make_cv` turns what :meth:`Task.from_data <autometa.contract.Task.from_data>` and
the strategy ask for (a number of folds, ``"holdout"``, a splitter, a list of splits)
into one splitter; classes seen once stay in every training part, groups stay whole.
"""

from __future__ import annotations

import logging
from typing import Any, TypeAlias

import numpy as np
from sklearn.model_selection import (
    BaseCrossValidator,
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    ShuffleSplit,
    StratifiedGroupKFold,
    StratifiedKFold,
    StratifiedShuffleSplit,
    check_cv,
)

from autometa.contract._kinds import TaskKind
from autometa.contract._splitters import (
    FirstSplit,
    RepeatedSplits,
    TrainingOnlyRows,
    group_rows,
    single_row_classes,
    uses_groups,
)

# Logged under the task module's name, where these checks were first written.
logger = logging.getLogger("autometa.contract._task")

DEFAULT_N_SPLITS = 5
HOLDOUT_FRACTION = 0.25

Splitter: TypeAlias = (
    BaseCrossValidator
    | ShuffleSplit
    | StratifiedShuffleSplit
    | TrainingOnlyRows
    | FirstSplit
    | RepeatedSplits
)


def make_cv(
    kind: TaskKind,
    y: np.ndarray,
    cv: int | Splitter,
    random_state: int | None,
    groups: np.ndarray | None = None,
    n_repeats: int = 1,
) -> Splitter:
    """A seeded splitter; stratified for classification; folds shrunk for tiny classes.

    An iterable of ``(train, test)`` row-index arrays is replayed as given.
    With ``groups`` a number of folds means group k-fold (stratified for classification,
    folds shrunk to the number of groups), so that no group straddles training and
    validation. A splitter that splits by groups without ``groups`` is an error.
    ``n_repeats`` > 1 repeats a number of folds with fresh shuffles
    (:class:`RepeatedSplits`); the first repeat is the single k-fold's split.
    """
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be at least 1, got {n_repeats}.")
    if n_repeats > 1 and isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        seeds = _repeat_seeds(random_state, n_repeats)
        return RepeatedSplits([make_cv(kind, y, cv, seed, groups) for seed in seeds])
    if not isinstance(cv, (int, np.integer)) or isinstance(cv, bool):
        if not hasattr(cv, "split") or not hasattr(cv, "get_n_splits"):
            return _given_splits(cv, len(y))
        if groups is None and uses_groups(cv):
            raise ValueError(
                f"cv={cv!r} splits by groups, but no groups were given. Pass groups= to fit "
                "(one group label per row, e.g. a patient or site id; on the command line "
                "--groups COLUMN), or a splitter that does not need groups."
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
    if groups is not None:
        return _group_folds(kind, y, n_splits, random_state, groups)
    if kind == "regression":
        # Every validation fold keeps two rows at least: R² and most regression scores
        # are undefined on a single row.
        folds = max(2, min(n_splits, len(y) // 2))
        return KFold(n_splits=folds, shuffle=True, random_state=random_state)
    folds = StratifiedKFold(
        n_splits=max(2, min(n_splits, _smallest_class(y))), shuffle=True, random_state=random_state
    )
    return _keep_single_rows_in_training(folds, y)


def _repeat_seeds(random_state: int | None, n_repeats: int) -> list[int | None]:
    """``random_state`` for the first repeat, one derived from it for each other one
    (None stays None: every repeat shuffles afresh, as a single unseeded k-fold does)."""
    if random_state is None:
        return [None] * n_repeats
    derived = np.random.SeedSequence([random_state, n_repeats]).generate_state(n_repeats - 1)
    return [random_state, *(int(seed) for seed in derived)]


def _given_splits(cv: Any, n_rows: int) -> Splitter:
    """An iterable of ``(train, test)`` row-index arrays, as scikit-learn's ``cv`` takes
    it: a splitter replaying those splits, each index checked against the rows."""
    if isinstance(cv, (str, bytes, float, bool)) or not hasattr(cv, "__iter__"):
        raise TypeError(
            "cv must be an int (number of folds), a scikit-learn splitter or an iterable "
            f"of (train, test) index arrays; got {cv!r}."
        )
    splits = []
    for split in cv:
        try:
            train, test = (np.asarray(part) for part in split)
        except (TypeError, ValueError):
            raise TypeError(
                f"cv as an iterable must yield (train, test) pairs of row indices; got {split!r}."
            ) from None
        if not all(p.ndim == 1 and p.dtype.kind in "iu" for p in (train, test)):
            raise TypeError("cv's (train, test) pairs must be 1-D arrays of integer row indices.")
        if not len(train) or not len(test):
            raise ValueError("cv has a split with no training or no validation rows.")
        if max(train.max(), test.max()) >= n_rows or min(train.min(), test.min()) < 0:
            raise ValueError(f"cv has a split with row indices outside X's {n_rows} rows.")
        splits.append((train, test))
    if not splits:
        raise ValueError("cv is an empty iterable; give at least one (train, test) split.")
    wrapped: Splitter = check_cv(splits)
    return wrapped


def _group_folds(
    kind: TaskKind, y: np.ndarray, n_splits: int, random_state: int | None, groups: np.ndarray
) -> Splitter:
    """Group k-fold, shrunk to the groups there are (stratified for classification).

    The groups of a class seen once stay in training whole (as the row alone would
    without groups, see :class:`TrainingOnlyRows`).
    """
    n_groups = len(np.unique(groups))
    folds = min(n_splits, n_groups)
    if folds < n_splits:
        logger.info("%d groups: validating on %d group folds, not %d", n_groups, folds, n_splits)
    if kind == "regression":
        return GroupKFold(n_splits=folds, shuffle=True, random_state=random_state)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=random_state)
    _, lonely = single_row_classes(y)
    return TrainingOnlyRows(splitter, group_rows(groups, lonely)) if len(lonely) else splitter


def group_holdout(kind: TaskKind, random_state: int | None, groups: np.ndarray) -> Splitter:
    """A holdout of about :data:`HOLDOUT_FRACTION` of the groups, each group on one side
    (for classification the first fold of a stratified group k-fold)."""
    if kind == "regression":
        return GroupShuffleSplit(n_splits=1, test_size=HOLDOUT_FRACTION, random_state=random_state)
    folds = max(2, min(round(1 / HOLDOUT_FRACTION), len(np.unique(groups))))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=random_state)
    return FirstSplit(splitter, 1 / folds)


def _keep_single_rows_in_training(splitter: Splitter, y: np.ndarray) -> Splitter:
    """``splitter`` as is, or wrapped so that one-row classes stay in training."""
    _, rows = single_row_classes(y)
    return TrainingOnlyRows(splitter, rows) if len(rows) else splitter


def _smallest_class(y: np.ndarray) -> int:
    """Rows of the rarest class a split can validate (one-row classes stay in training):
    what bounds the folds or holdout a stratified split can keep."""
    counts = np.unique(y, return_counts=True)[1]
    shared = counts[counts >= 2]
    return int(shared.min() if len(shared) else counts.min())


def _holdout(
    kind: TaskKind, y: np.ndarray, random_state: int | None, groups: np.ndarray | None = None
) -> int | Splitter:
    """One seeded split keeping :data:`HOLDOUT_FRACTION` for validation (stratified for
    classification), or 2 folds when a class is too small for it.

    A stratified split rounds a class's share of the validation part down, so a class
    of fewer than ``1 / HOLDOUT_FRACTION`` rows may get none: probabilistic scores such
    as log loss are then undefined and every trial would fail. Two stratified folds put
    one row of it on each side. With ``groups``: :func:`group_holdout`.
    """
    if groups is not None:
        return group_holdout(kind, random_state, groups)
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
    holdout = StratifiedShuffleSplit(
        n_splits=1, test_size=HOLDOUT_FRACTION, random_state=random_state
    )
    return _keep_single_rows_in_training(holdout, y)
