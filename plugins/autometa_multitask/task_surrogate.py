"""One surrogate over [meta-features, configuration] for all earlier tasks, similarity-weighted.

Every evaluation in the knowledge base is a training row: the task's scaled
meta-features next to the configuration's encoding (:mod:`autometa.contract._encoding`), and as
target the configuration's normalized regret on that task. One gradient-boosted model
learns them all, so what it learns about a hyperparameter on one task (a learning rate
too high, too few neighbours) is shared with every other task: a multi-task model.

For a new task the model is trained with per-task loss weights: the loss is a weighted
sum of the earlier tasks' losses, each task weighted by its similarity to the new one
(a Gaussian kernel on the contract's task distance,
:class:`autometa.contract.MetaFeatureSpace`; bandwidth the median distance). The
model then fits the tasks that resemble the new one most closely and the rest only
loosely, and ranks the pool's configurations by predicted regret. Training happens per
recommendation (weights depend on the new task), which costs about a second on a base
of a few hundred tasks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from sklearn.ensemble import HistGradientBoostingRegressor

from autometa.contract import (
    Algorithm,
    Config,
    ConfigEncoder,
    Evidence,
    MetaFeatureSpace,
    MetaLearner,
    Recommendation,
    TaskKind,
    is_number,
)

if TYPE_CHECKING:
    from autometa.contract import KnowledgeView, ScoreTableView

N_SOURCE_TASKS = 3
LOG_SCALE_RATIO = 100.0
"""A positive numeric parameter spanning more than this factor is encoded on a log scale."""


class TaskSurrogate(MetaLearner):
    """Gradient-boosted surrogate on [meta-features, configuration], similarity-weighted.

    Parameters
    ----------
    max_iter, learning_rate, max_leaf_nodes:
        The booster's (see :class:`sklearn.ensemble.HistGradientBoostingRegressor`).
    bandwidth_quantile:
        The kernel's bandwidth is this quantile of the new task's distances to the
        earlier ones: smaller trusts the nearest tasks more.
    random_state:
        Seed of the booster.
    """

    name = "task_surrogate"

    def __init__(
        self,
        max_iter: int = 150,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        bandwidth_quantile: float = 0.5,
        random_state: int | None = 0,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.bandwidth_quantile = bandwidth_quantile
        self.random_state = random_state

    def fit(self, knowledge: KnowledgeView) -> TaskSurrogate:
        # The contract's scaled meta-features and distance: one notion of "similar" for
        # every learner, so the evidence of different learners agrees.
        self.space_ = MetaFeatureSpace.from_records(knowledge.tasks())
        self.tables_: dict[str, ScoreTableView] = {
            kind: knowledge.score_table(kind)
            for kind in sorted(set(self.space_.task_kinds.values()))
        }
        self.encoders_: dict[str, ConfigEncoder] = {}
        self.encoded_: dict[str, np.ndarray] = {}
        self.regret_: dict[str, np.ndarray] = {}
        for kind, table in self.tables_.items():
            if not table.task_ids:
                continue
            encoder = ConfigEncoder(inferred_spaces(table.configs))
            self.encoders_[kind] = encoder
            self.encoded_[kind] = encoder.transform(table.configs).X
            self.regret_[kind] = 1.0 - np.nan_to_num(table.normalized(), nan=0.0)
        return self

    def recommend(
        self,
        meta_features: Mapping[str, float],
        *,
        kind: TaskKind,
        algorithms: Sequence[Algorithm],
        k: int = 10,
    ) -> list[Recommendation]:
        table = self.tables_.get(kind)
        if table is None or kind not in self.encoders_:
            return []
        available = np.array([c.algorithm in {a.name for a in algorithms} for c in table.configs])
        if not available.any():
            return []
        weights, distance = self._task_weights(meta_features, kind, table)
        predicted = self._predict(meta_features, kind, table, weights)
        predicted[~available] = np.inf
        order = np.argsort(predicted, kind="stable")[: min(k, int(available.sum()))]
        heaviest = np.argsort(-weights, kind="stable")[:N_SOURCE_TASKS]
        sources = tuple(
            (self.space_.task_names[table.task_ids[i]], float(distance[i])) for i in heaviest
        )
        explaining = self.space_.explaining(meta_features, table.task_ids[heaviest[0]])
        return [
            Recommendation(
                table.configs[column],
                1.0 - float(predicted[column]),
                Evidence(
                    self.name,
                    source_tasks=sources,
                    meta_features=explaining,
                    note=f"surrogate's predicted normalized score {1 - predicted[column]:.3f}, "
                    f"trained on {len(table.task_ids)} earlier {kind} tasks weighted by "
                    "similarity",
                ),
            )
            for column in order
        ]

    def _task_weights(
        self, meta_features: Mapping[str, float], kind: TaskKind, table: ScoreTableView
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian-kernel weight (sums to 1) and distance of each earlier task in ``table``."""
        known = dict(self.space_.distances(meta_features, kind))
        distance = np.array([known.get(t, np.inf) for t in table.task_ids])
        finite = distance[np.isfinite(distance)]
        if finite.size == 0:
            return np.full(len(distance), 1.0 / len(distance)), distance
        bandwidth = max(float(np.quantile(finite, self.bandwidth_quantile)), 1e-6)
        weights = np.exp(-0.5 * (np.nan_to_num(distance, posinf=np.inf) / bandwidth) ** 2)
        return weights / weights.sum(), distance

    def _predict(
        self,
        meta_features: Mapping[str, float],
        kind: TaskKind,
        table: ScoreTableView,
        weights: np.ndarray,
    ) -> np.ndarray:
        """Train on every (earlier task, configuration) cell with task weights; predict."""
        tasks, query = self.space_.scaled(meta_features)
        rows = [self.space_.task_ids.index(t) for t in table.task_ids]
        # Meta-features no earlier task of this kind defines (another kind's) carry nothing.
        defined = ~np.isnan(tasks[rows]).all(axis=0)
        task_features, query = tasks[rows][:, defined], query[defined]
        configs = self.encoded_[kind]
        n_tasks, n_configs = len(rows), len(configs)
        X = np.hstack([np.repeat(task_features, n_configs, axis=0), np.tile(configs, (n_tasks, 1))])
        y = self.regret_[kind].ravel()
        sample_weight = np.repeat(weights, n_configs) * n_tasks  # mean weight 1 per task
        model = HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            random_state=self.random_state,
        ).fit(X, y, sample_weight=sample_weight)
        candidates = np.hstack([np.repeat(query[None, :], n_configs, axis=0), configs])
        return np.asarray(model.predict(candidates), dtype=float)


def inferred_spaces(configs: Sequence[Config]) -> dict[str, dict[str, BaseDistribution]]:
    """The spaces the knowledge base's configurations span, for encoding them.

    A meta-learner sees configurations, not the task-dependent spaces they were drawn
    from; the encoder only needs ranges and choices, which the configurations show.
    Numbers become a float range (log scale when positive and spanning a factor over
    :data:`LOG_SCALE_RATIO`), anything else a categorical of the values seen.
    """
    seen: dict[str, dict[str, list[Any]]] = {}
    for config in configs:
        for param, value in config.params.items():
            seen.setdefault(config.algorithm, {}).setdefault(param, []).append(value)
    spaces: dict[str, dict[str, BaseDistribution]] = {a: {} for a in {c.algorithm for c in configs}}
    for algorithm, params in seen.items():
        for param, values in params.items():
            numbers = [float(v) for v in values if is_number(v)]
            if len(numbers) == len(values):
                low, high = min(numbers), max(numbers)
                log = low > 0 and high / low > LOG_SCALE_RATIO
                spaces[algorithm][param] = FloatDistribution(low, max(high, low + 1e-12), log=log)
            else:
                choices = sorted({repr(v): v for v in values}.items())
                spaces[algorithm][param] = CategoricalDistribution([v for _, v in choices])
    return spaces
