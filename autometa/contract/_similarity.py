"""How near an earlier task is to a new one, from their meta-features: one definition.

Every learner and sampler that weighs earlier tasks by similarity uses
:func:`task_distances`, so the distances shown as evidence by different learners agree.
The distance is auto-sklearn 1's (Feurer et al., 2015): each meta-feature is min-max
scaled, and the distance is the mean absolute scaled difference over the meta-features
both tasks define, so a task missing a few values is neither unfairly near nor far.

:func:`scale_jointly` is the scaling nearest tasks use (earlier tasks and the new one
together); :class:`MetaFeatureSpace` holds the earlier tasks of a knowledge base as
points and answers distances and explanations for a new task.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

from autometa.contract._knowledge import TaskRecordView
from autometa.contract._types import TaskKind

FloatArray = npt.NDArray[np.float64]
"""A float array (meta-features, scaled meta-features, distances)."""

N_EXPLAINING_FEATURES = 3
"""How many meta-features :meth:`MetaFeatureSpace.explaining` names by default."""


def task_distances(tasks: npt.ArrayLike, query: npt.ArrayLike) -> FloatArray:
    """Distance of each earlier task (row of ``tasks``) to the new task ``query``.

    Both are already scaled meta-features (columns in the same order). The distance of a
    row is the mean absolute difference over the columns where the difference is defined
    (NaN in either side leaves a column out); a row sharing no defined column with
    ``query`` gets NaN, never a made-up number.

    :param tasks: earlier tasks x meta-features (a single row may be 1-d).
    :param query: the new task's meta-features, one value per column.
    :return: one distance per row (NaN where undefined).
    """
    rows = np.atleast_2d(np.asarray(tasks, dtype=float))
    point = np.asarray(query, dtype=float).reshape(-1)
    if rows.shape[1] != point.shape[0]:
        raise ValueError(
            f"tasks have {rows.shape[1]} meta-features and query has {point.shape[0]}; "
            "pass both with the same columns in the same order."
        )
    with np.errstate(all="ignore"):
        difference = np.abs(rows - point)
    return np.array(
        # Checked first: nanmean of an all-NaN row warns, and NaN is the answer anyway.
        [float(np.nanmean(d)) if np.isfinite(d).any() else np.nan for d in difference],
        dtype=float,
    )


def scale_jointly(tasks: npt.ArrayLike, query: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Earlier tasks and the new one min-max scaled together, as auto-sklearn does.

    Including the new task in the minimum and maximum keeps distances defined even when
    every earlier task shares a value (or there is only one earlier task). A column that
    is constant over all of them, or undefined everywhere, becomes NaN: it cannot tell
    tasks apart.

    :return: ``(scaled tasks, scaled query)``.
    """
    rows = np.atleast_2d(np.asarray(tasks, dtype=float))
    point = np.asarray(query, dtype=float).reshape(-1)
    both = np.vstack([rows, point])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        low, high = np.nanmin(both, axis=0), np.nanmax(both, axis=0)
        # A constant column gets a NaN span, not a division by zero: its scaled values are NaN, so
        # every distance leaves it out.
        span = np.where(high - low > 0, high - low, np.nan)
        return (rows - low) / span, (point - low) / span


class MetaFeatureSpace:
    """Earlier tasks as points in meta-feature space, for distances to a new task.

    Build it with :meth:`from_records` from a knowledge base's tasks. The columns are
    every meta-feature any earlier task defines, sorted by name; a new task's missing
    meta-features are NaN.

    :param task_ids: the earlier tasks, in row order.
    :param task_names: their readable names (for evidence).
    :param task_kinds: their kinds (distances are asked per kind).
    :param feature_names: the columns.
    :param matrix: earlier tasks x meta-features, unscaled.
    """

    def __init__(
        self,
        task_ids: Iterable[str],
        task_names: Iterable[str],
        task_kinds: Iterable[TaskKind],
        feature_names: Iterable[str],
        matrix: npt.ArrayLike,
    ) -> None:
        self.task_ids = list(task_ids)
        self.task_names = dict(zip(self.task_ids, task_names, strict=True))
        self.task_kinds: dict[str, TaskKind] = dict(zip(self.task_ids, task_kinds, strict=True))
        self.feature_names = list(feature_names)
        self.matrix = np.asarray(matrix, dtype=float).reshape(
            len(self.task_ids), len(self.feature_names)
        )
        self._row = {task_id: row for row, task_id in enumerate(self.task_ids)}

    @classmethod
    def from_records(
        cls, records: Iterable[TaskRecordView], *, feature_names: Iterable[str] | None = None
    ) -> MetaFeatureSpace:
        """The space of ``records`` (e.g. ``knowledge.tasks()``), rows in their order.

        :param feature_names: the columns, in this order; by default every meta-feature
            any record defines, sorted. Leaving out columns the new task does not define
            changes no distance, though the last bits of a mean may differ (the sum runs
            over other positions).
        """
        records = list(records)
        names = (
            sorted({name for r in records for name in r.meta_features})
            if feature_names is None
            else list(feature_names)
        )
        return cls(
            [r.task_id for r in records],
            [r.name for r in records],
            [r.kind for r in records],
            names,
            [[r.meta_features.get(name, np.nan) for name in names] for r in records],
        )

    def __len__(self) -> int:
        return len(self.task_ids)

    def query(self, meta_features: Mapping[str, float]) -> FloatArray:
        """The new task's meta-features in column order (NaN where missing)."""
        return np.array([meta_features.get(n, np.nan) for n in self.feature_names], dtype=float)

    def scaled(self, meta_features: Mapping[str, float]) -> tuple[FloatArray, FloatArray]:
        """Earlier tasks and the new one scaled together (:func:`scale_jointly`)."""
        return scale_jointly(self.matrix, self.query(meta_features))

    def distances(
        self, meta_features: Mapping[str, float], kind: TaskKind | None = None
    ) -> list[tuple[str, float]]:
        """``(task id, distance)`` of the earlier tasks (of ``kind``, if given), nearest
        first; ties go to the smaller task id, and tasks at an undefined distance (no
        meta-feature in common) are left out."""
        tasks, query = self.scaled(meta_features)
        distance = task_distances(tasks, query)
        found = [
            (task_id, float(distance[row]))
            for row, task_id in enumerate(self.task_ids)
            if (kind is None or self.task_kinds[task_id] == kind) and not np.isnan(distance[row])
        ]
        return sorted(found, key=lambda pair: (pair[1], pair[0]))

    def explaining(
        self,
        meta_features: Mapping[str, float],
        task_id: str,
        *,
        n: int = N_EXPLAINING_FEATURES,
        scaled: tuple[FloatArray, FloatArray] | None = None,
    ) -> tuple[tuple[str, float], ...]:
        """The ``n`` meta-features in which earlier task ``task_id`` is closest to the new
        one, with their scaled absolute difference.

        Closeness is relative to how much a meta-feature varies among the earlier tasks of
        the same kind: one equal for all of them tells nothing about why this task is
        near, so it is never named. Pass ``scaled`` (from :meth:`scaled`) to save
        scaling again when explaining several tasks.
        """
        tasks, query = self.scaled(meta_features) if scaled is None else scaled
        row = self._row[task_id]
        kind = self.task_kinds[task_id]
        same_kind = [i for i, t in enumerate(self.task_ids) if self.task_kinds[t] == kind]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
            spread = np.nanstd(tasks[same_kind], axis=0)
        diff = np.abs(tasks[row] - query)
        relative = np.divide(diff, spread, out=np.full_like(diff, np.nan), where=spread > 0)
        if not np.isfinite(relative).any():  # a single earlier task of this kind
            relative = diff
        order = [
            i for i in np.argsort(np.nan_to_num(relative, nan=np.inf)) if np.isfinite(relative[i])
        ]
        return tuple((self.feature_names[i], float(diff[i])) for i in order[:n])


def similarity_weights(
    tasks: np.ndarray, query: np.ndarray, *, bandwidth: float = 0.02, share: float = 0.8
) -> np.ndarray:
    """Weights of earlier tasks (rows of ``tasks``) by their nearness to ``query``.

    Meta-features are scaled to [0, 1] over the earlier tasks and the new one (as the
    nearest-tasks learner does); a task's distance is its mean absolute scaled difference
    over the meta-features both define. ``share`` of the weight follows ``exp(-(distance
    - nearest) / bandwidth)``, the rest is uniform, so far tasks still count. Sums to 1.
    """
    n_tasks = len(tasks)
    if n_tasks == 0:
        return np.zeros(0)
    distance = task_distances(*scale_jointly(tasks, query))
    uniform = np.full(n_tasks, 1.0 / n_tasks)
    if not np.isfinite(distance).any() or bandwidth <= 0:
        return uniform
    # A task sharing no defined meta-feature with the query counts as the farthest one.
    distance = np.where(np.isfinite(distance), distance, np.nanmax(distance))
    # Shifted so the nearest gets exp(0): the sum cannot underflow to 0 for a far query.
    kernel = np.exp(-(distance - distance.min()) / bandwidth)
    weights: np.ndarray = share * kernel / kernel.sum() + (1.0 - share) * uniform
    return weights
