"""Nearest tasks: the meta-learner of auto-sklearn 1 (Feurer et al., 2015).

Meta-features are scaled to [0, 1] with the minimum and maximum over the earlier tasks
and the new one; tasks are ranked by their distance to the new task (the contract's
:class:`autometa.contract.MetaFeatureSpace`, the one distance every learner shares); the
best configuration of each nearest task is recommended in that order, duplicates
removed. One configuration comes first: the algorithm default that scores best on
average over the earlier tasks of the same kind (the single best default), a safe
opening move when the nearest tasks mislead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from autometa.contract import (
    Algorithm,
    Config,
    Evidence,
    MetaFeatureSpace,
    MetaLearner,
    Recommendation,
    TaskKind,
)

if TYPE_CHECKING:
    from autometa.contract import KnowledgeView, ScoreTableView

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

    def fit(self, knowledge: KnowledgeView) -> NearestTasks:
        self.space_ = MetaFeatureSpace.from_records(knowledge.tasks())
        self.feature_names_ = self.space_.feature_names
        self.task_names_ = self.space_.task_names
        self.task_kinds_ = self.space_.task_kinds
        self.task_ids_ = self.space_.task_ids
        self.matrix_ = self.space_.matrix
        self.tables_: dict[str, ScoreTableView] = {
            kind: knowledge.score_table(kind) for kind in sorted(set(self.task_kinds_.values()))
        }
        return self

    def scaled(self, meta_features: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """Earlier tasks and the new one scaled to [0, 1] together, as auto-sklearn does
        (:func:`autometa.contract.scale_jointly`)."""
        return self.space_.scaled(meta_features)

    def distances(
        self, meta_features: Mapping[str, float], kind: TaskKind
    ) -> list[tuple[str, float]]:
        """(task id, L1 distance) of the earlier tasks of ``kind``, nearest first.

        The distance is the contract's (:func:`autometa.contract.task_distances`): the
        mean absolute scaled difference over the meta-features both tasks define, so a
        task missing a few values is not unfairly near or far.
        """
        return self.space_.distances(meta_features, kind)

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
            scaled = self.scaled(meta_features)
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
                            meta_features=self.space_.explaining(
                                meta_features,
                                task_id,
                                n=N_EXPLAINING_FEATURES,
                                scaled=scaled,
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
        return self.space_.explaining(meta_features, task_id, n=N_EXPLAINING_FEATURES)

    def _best_default(
        self, table: ScoreTableView | None, available: Mapping[str, Algorithm]
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
