"""Rows no validation part may hold: the rows of classes seen only once.

A class with a single row cannot be both learned and validated. Refusing the whole table
for it (as autometa once did) fails tables people really have: a 22-class medical table
whose rarest diagnosis occurs once in the training split. :class:`TrainingOnlyRows`
keeps such rows in every training part, so every model learns the class exists (and
``predict_proba`` has its column), and splits the other rows as usual; no score measures
the rare class, which is the honest outcome of having one example of it.

The other splitters here wrap scikit-learn's for autometa's rules: :class:`FirstSplit`
(a holdout made of one fold, for groups) and :class:`RepeatedSplits` (k-fold CV repeated
with fresh shuffles, for small tables).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.utils.validation import _num_samples


class TrainingOnlyRows:
    """A splitter that keeps ``rows`` in every training part and splits the others.

    ``splitter`` (e.g. a seeded ``StratifiedKFold``) sees only the other rows, their
    labels and groups; each of its training parts gets ``rows`` added. ``get_n_splits``
    is its.
    """

    def __init__(self, splitter: Any, rows: np.ndarray) -> None:
        self.splitter = splitter
        self.rows = np.asarray(rows, dtype=int)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        kept = None if groups is None else np.delete(np.asarray(groups), self.rows)
        return int(self.splitter.get_n_splits(None, None, kept))

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        others = np.ones(_num_samples(X), dtype=bool)
        others[self.rows] = False
        common = np.flatnonzero(others)
        labels = None if y is None else np.asarray(y)[common]
        kept_groups = None if groups is None else np.asarray(groups)[common]
        for train, valid in self.splitter.split(np.zeros((len(common), 1)), labels, kept_groups):
            yield np.sort(np.concatenate([common[train], self.rows])), common[valid]

    def __repr__(self) -> str:
        return f"TrainingOnlyRows({self.splitter!r}, rows={self.rows.tolist()})"


def single_row_classes(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The classes of ``y`` seen once, and the rows that hold them (sorted)."""
    classes, counts = np.unique(y, return_counts=True)
    lonely = classes[counts < 2]
    return lonely, np.flatnonzero(np.isin(y, lonely))


class FirstSplit:
    """Only the first split of ``splitter``: a holdout made of one fold.

    With groups a holdout must keep each group on one side and, for a classification,
    every class on both sides; ``FirstSplit(StratifiedGroupKFold(4))`` validates on
    about a quarter of the groups, as a stratified holdout validates on a quarter of
    the rows. ``fraction`` is the share of rows validated (for planning).
    """

    def __init__(self, splitter: Any, fraction: float) -> None:
        self.splitter = splitter
        self.fraction = fraction

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return 1

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        yield next(iter(self.splitter.split(X, y, groups)))

    def __repr__(self) -> str:
        return f"FirstSplit({self.splitter!r}, fraction={self.fraction})"


class RepeatedSplits:
    """The splits of ``splitters`` one after another: k-fold CV repeated, each repeat
    shuffled with its own seed.

    Every row is validated once per repeat, so a score averages ``len(splitters)``
    estimates of the same rows and its out-of-fold predictions are the mean over the
    repeats. It is a splitter of autometa's own, not scikit-learn's
    ``RepeatedStratifiedKFold``, because each repeat is built by
    :func:`~autometa.contract.make_cv` with the same rules as a single k-fold (folds
    shrunk for tiny classes, one-row classes kept in training, groups kept whole).
    """

    def __init__(self, splitters: list[Any]) -> None:
        if not splitters:
            raise ValueError("RepeatedSplits needs at least one splitter.")
        self.splitters = splitters

    @property
    def n_repeats(self) -> int:
        return len(self.splitters)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return sum(int(s.get_n_splits(X, y, groups)) for s in self.splitters)

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for splitter in self.splitters:
            yield from splitter.split(X, y, groups)

    def __repr__(self) -> str:
        return f"RepeatedSplits({self.splitters!r})"


def one_repeat(cv: Any) -> tuple[Any, int]:
    """The splitter of one repeat of ``cv`` and how many repeats it has: a
    :class:`RepeatedSplits`' first splitter and its count, any other splitter and 1."""
    if isinstance(cv, RepeatedSplits):
        return cv.splitters[0], cv.n_repeats
    return cv, 1


def uses_groups(cv: Any) -> bool:
    """Whether splitter ``cv`` splits by groups (GroupKFold, LeaveOneGroupOut, ...).

    Read from scikit-learn's metadata request (its ``split`` asks for ``groups``);
    a splitter without one (a third party's) is taken not to need them.
    """
    if isinstance(cv, (TrainingOnlyRows, FirstSplit)):
        return uses_groups(cv.splitter)
    if isinstance(cv, RepeatedSplits):
        return any(uses_groups(s) for s in cv.splitters)
    try:
        requests = cv.get_metadata_routing().split.requests
    except Exception:  # not a scikit-learn splitter: nothing says it needs groups
        return False
    return bool(requests.get("groups"))


def group_rows(groups: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Every row sharing a group with one of ``rows`` (sorted): kept in training
    together, so that no group straddles training and validation."""
    return np.flatnonzero(np.isin(groups, groups[rows]))
