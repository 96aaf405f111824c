"""Nearest tasks: the meta-learner of auto-sklearn 1 (Feurer et al., 2015).

Meta-features are scaled to [0, 1] with the minimum and maximum over the earlier tasks;
tasks are ranked by L1 distance to the new task; the best configuration of each nearest
task is recommended in that order, duplicates removed. One configuration comes first:
the algorithm default that scores best on average over the earlier tasks of the same
kind (the single best default), a safe opening move when the nearest tasks mislead.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from autometa.contract import Algorithm, Config, Evidence, MetaLearner, Recommendation, TaskKind

if TYPE_CHECKING:
    from autometa.knowledge import KnowledgeBase, ScoreTable

N_EXPLAINING_FEATURES = 3


class NearestTasks(MetaLearner):
    """Recommend the best configurations of the earlier tasks nearest in meta-features.

    Parameters
    ----------
    configs_per_task:
        How many of each near task's best configurations to take before moving to the
        next task (auto-sklearn 1 takes one).
    default_first:
        Put the single best algorithm default first.
    """

    name = "nearest_tasks"

    def __init__(self, configs_per_task: int = 1, default_first: bool = True) -> None:
        self.configs_per_task = configs_per_task
        self.default_first = default_first

    def fit(self, knowledge: KnowledgeBase) -> NearestTasks:
        records = knowledge.tasks()
        self.feature_names_ = sorted({name for r in records for name in r.meta_features})
        self.task_names_ = {r.task_id: r.name for r in records}
        self.task_kinds_ = {r.task_id: r.kind for r in records}
        matrix = np.array(
            [[r.meta_features.get(name, np.nan) for name in self.feature_names_] for r in records],
            dtype=float,
        ).reshape(len(records), len(self.feature_names_))
        self.task_ids_ = [r.task_id for r in records]
        self.matrix_ = matrix
        self.tables_: dict[str, ScoreTable] = {
            kind: knowledge.score_table(kind) for kind in sorted(set(self.task_kinds_.values()))
        }
        return self

    def scaled(self, meta_features: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """Earlier tasks and the new one scaled to [0, 1] together, as auto-sklearn does.

        Including the new task in the minimum and maximum keeps distances defined even
        when every earlier task shares a value (or there is only one earlier task).
        """
        query = np.array([meta_features.get(n, np.nan) for n in self.feature_names_], dtype=float)
        both = np.vstack([self.matrix_, query])
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
            low, high = np.nanmin(both, axis=0), np.nanmax(both, axis=0)
            span = np.where(high - low > 0, high - low, np.nan)
            return (self.matrix_ - low) / span, (query - low) / span

    def distances(
        self, meta_features: Mapping[str, float], kind: TaskKind
    ) -> list[tuple[str, float]]:
        """(task id, L1 distance) of the earlier tasks of ``kind``, nearest first.

        The distance is the mean absolute scaled difference over the meta-features both
        tasks define, so a task missing a few values is not unfairly near or far.
        """
        tasks, query = self.scaled(meta_features)
        result = []
        for row, task_id in enumerate(self.task_ids_):
            if self.task_kinds_[task_id] != kind:
                continue
            diff = np.abs(tasks[row] - query)
            if np.isfinite(diff).any():
                result.append((task_id, float(np.nanmean(diff))))
        return sorted(result, key=lambda pair: (pair[1], pair[0]))

    def recommend(
        self,
        meta_features: Mapping[str, float],
        *,
        kind: TaskKind,
        algorithms: Sequence[Algorithm],
        k: int = 10,
    ) -> list[Recommendation]:
        available = {a.name: a for a in algorithms}
        table = self.tables_.get(kind)
        chosen: dict[Config, Recommendation] = {}
        if self.default_first:
            default = self._best_default(table, available)
            if default is not None:
                chosen[default.config] = default
        if table is not None:
            rows = {task_id: i for i, task_id in enumerate(table.task_ids)}
            normalized = table.normalized()  # every prediction on the default's scale
            tasks, query = self.scaled(meta_features)
            for task_id, distance in self.distances(meta_features, kind):
                if len(chosen) >= k or task_id not in rows:
                    break
                scores = table.scores[rows[task_id]]
                taken = 0
                for column in np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable"):
                    config = table.configs[column]
                    if taken >= self.configs_per_task or not np.isfinite(scores[column]):
                        break
                    if config.algorithm not in available or config in chosen:
                        continue
                    chosen[config] = Recommendation(
                        config,
                        float(normalized[rows[task_id], column]),
                        Evidence(
                            model=self.name,
                            source_tasks=((self.task_names_[task_id], distance),),
                            meta_features=self._explaining(
                                tasks, self.task_ids_.index(task_id), query
                            ),
                            note=f"score {scores[column]:.4g} on {self.task_names_[task_id]} "
                            f"(normalized {normalized[rows[task_id], column]:.3f})",
                        ),
                    )
                    taken += 1
        return list(chosen.values())[:k]

    def explaining(
        self, meta_features: Mapping[str, float], task_id: str
    ) -> tuple[tuple[str, float], ...]:
        """The meta-features in which earlier task ``task_id`` is closest to the new one."""
        tasks, query = self.scaled(meta_features)
        return self._explaining(tasks, self.task_ids_.index(task_id), query)

    def _explaining(
        self, tasks: np.ndarray, row: int, query: np.ndarray
    ) -> tuple[tuple[str, float], ...]:
        """The meta-features in which earlier task ``row`` is closest to the new one.

        Closeness is relative to how much a meta-feature varies among the earlier tasks of
        the same kind: one that is equal for all of them (ClassProbabilityMean of binary
        tasks) tells nothing about why this task is near, so it is never named.
        """
        kind = self.task_kinds_[self.task_ids_[row]]
        same_kind = [i for i, t in enumerate(self.task_ids_) if self.task_kinds_[t] == kind]
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
        return tuple(
            (self.feature_names_[i], float(diff[i])) for i in order[:N_EXPLAINING_FEATURES]
        )

    def _best_default(
        self, table: ScoreTable | None, available: Mapping[str, Algorithm]
    ) -> Recommendation | None:
        defaults = [a.default_config for a in available.values()]
        if not defaults:
            return None
        if table is None or not table.task_ids:
            return Recommendation(
                defaults[0], float("nan"), Evidence(self.name, note="no earlier tasks")
            )
        normalized = table.normalized()
        columns = {config: i for i, config in enumerate(table.configs)}
        best, best_mean, best_n = None, -np.inf, 0
        for config in defaults:
            if config not in columns:
                continue
            values = normalized[:, columns[config]]
            if np.isfinite(values).any() and np.nanmean(values) > best_mean:
                best, best_mean = config, float(np.nanmean(values))
                best_n = int(np.isfinite(values).sum())
        if best is None:
            return Recommendation(
                defaults[0], float("nan"), Evidence(self.name, note="no default evaluated")
            )
        return Recommendation(
            best,
            best_mean,
            Evidence(
                self.name,
                note=f"single best default: mean normalized score {best_mean:.3f} "
                f"over {best_n} earlier tasks",
            ),
        )
