"""Rows no validation part may hold: the rows of classes seen only once.

A class with a single row cannot be both learned and validated. Refusing the whole table
for it (as autometa once did) fails tables people really have: a 22-class medical table
whose rarest diagnosis occurs once in the training split. :class:`TrainingOnlyRows`
keeps such rows in every training part, so every model learns the class exists (and
``predict_proba`` has its column), and splits the other rows as usual; no score measures
the rare class, which is the honest outcome of having one example of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.utils.validation import _num_samples


class TrainingOnlyRows:
    """A splitter that keeps ``rows`` in every training part and splits the others.

    ``splitter`` (e.g. a seeded ``StratifiedKFold``) sees only the other rows and their
    labels; each of its training parts gets ``rows`` added. ``get_n_splits`` is its.
    """

    def __init__(self, splitter: Any, rows: np.ndarray) -> None:
        self.splitter = splitter
        self.rows = np.asarray(rows, dtype=int)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return int(self.splitter.get_n_splits())

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        others = np.ones(_num_samples(X), dtype=bool)
        others[self.rows] = False
        common = np.flatnonzero(others)
        labels = None if y is None else np.asarray(y)[common]
        for train, valid in self.splitter.split(np.zeros((len(common), 1)), labels):
            yield np.sort(np.concatenate([common[train], self.rows])), common[valid]

    def __repr__(self) -> str:
        return f"TrainingOnlyRows({self.splitter!r}, rows={self.rows.tolist()})"


def single_row_classes(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The classes of ``y`` seen once, and the rows that hold them (sorted)."""
    classes, counts = np.unique(y, return_counts=True)
    lonely = classes[counts < 2]
    return lonely, np.flatnonzero(np.isin(y, lonely))
