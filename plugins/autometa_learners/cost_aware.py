"""Cost-aware portfolio: the greedy portfolio, paid for in predicted seconds.

Like :class:`~autometa_learners.portfolio.GreedyPortfolio` it adds configurations one at
a time to lower the mean best-so-far regret over the earlier tasks, but it divides each
candidate's regret reduction by its expected seconds on the new task (auto-sklearn 2
built its portfolios under a time limit). The seconds come from the knowledge base's
cost model (:class:`autometa.contract.CostModel`), for the new task's rows, columns,
classes and categorical width and the search's folds, plus a fixed per-trial overhead.
Under a short budget, or on a large table, cheap strong configurations (gradient
boosting's defaults, small forests, linear models) come first; the slow ones come once
the quick ones have covered what they can, and, given a budget, not before the
configurations that still fit in it. The earlier tasks nearest the new one in
meta-features count for more (``share`` of the weight, by an exponential kernel of
``bandwidth``), the rest is spread evenly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from autometa.contract import (
    Algorithm,
    Config,
    CostModel,
    Evidence,
    MetaFeatureSpace,
    MetaLearner,
    Recommendation,
    SearchBudget,
    TaskKind,
    TaskSize,
    cost_aware_cover,
    evidence_weights,
    portfolio_regret,
    similarity_weights,
)

if TYPE_CHECKING:
    from autometa.contract import KnowledgeView, ScoreTableView

DEFAULT_SIZE = 32
DEFAULT_OVERHEAD = 0.1
DEFAULT_N_SPLITS = 5
DEFAULT_BANDWIDTH = 0.02
DEFAULT_SHARE = 0.8


class CostAwarePortfolio(MetaLearner):
    """Recommend a portfolio picked by regret reduction per predicted second.

    Parameters
    ----------
    size:
        Most configurations recommended per call.
    overhead:
        Seconds every trial costs beyond its fit (sampling, bookkeeping).
    bandwidth, share:
        Nearness weighting of the earlier tasks (``share=0``: all alike).
    """

    name = "cost_aware_portfolio"

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        overhead: float = DEFAULT_OVERHEAD,
        bandwidth: float = DEFAULT_BANDWIDTH,
        share: float = DEFAULT_SHARE,
    ) -> None:
        self.size = size
        self.overhead = overhead
        self.bandwidth = bandwidth
        self.share = share

    def fit(self, knowledge: KnowledgeView) -> CostAwarePortfolio:
        self.cost_model_ = CostModel().fit(knowledge)
        self.tables_: dict[str, tuple[list[Config], np.ndarray, np.ndarray]] = {}
        self.spaces_: dict[str, MetaFeatureSpace] = {}
        for kind in sorted({record.kind for record in knowledge.tasks()}):
            table = knowledge.score_table(kind)
            if table.task_ids:
                self._fit_kind(knowledge, kind, table)
        return self

    def _fit_kind(self, knowledge: KnowledgeView, kind: TaskKind, table: ScoreTableView) -> None:
        """Learn one kind's score table (a subclass keeps more of it)."""
        normalized = table.normalized()
        regret = portfolio_regret(normalized)
        evidence = evidence_weights(normalized)
        self.tables_[kind] = (list(table.configs), regret, evidence)
        records = {r.task_id: r for r in knowledge.tasks(kind)}
        self.spaces_[kind] = MetaFeatureSpace.from_records(records[t] for t in table.task_ids)

    def _task_weights(self, kind: TaskKind, meta_features: Mapping[str, float]) -> np.ndarray:
        """The earlier tasks' weights: nearness in meta-features, times their evidence."""
        _, _, evidence = self.tables_[kind]
        space = self.spaces_[kind]
        weights = similarity_weights(
            space.matrix, space.query(meta_features), bandwidth=self.bandwidth, share=self.share
        )
        if (evidence < 1.0).any():  # sparse tasks (a user's own fits) count for less
            weights = weights * evidence / (weights * evidence).sum()
        return weights

    def recommend(
        self,
        meta_features: Mapping[str, float],
        *,
        kind: TaskKind,
        algorithms: Sequence[Algorithm],
        k: int = 10,
        budget: SearchBudget | None = None,
    ) -> list[Recommendation]:
        if kind not in self.tables_:
            return []
        budget = budget if budget is not None else SearchBudget(n_splits=DEFAULT_N_SPLITS)
        configs, regret, _ = self.tables_[kind]
        available = {a.name for a in algorithms}
        allowed = np.array([c.algorithm in available for c in configs])
        size = TaskSize.from_meta_features(meta_features, n_rows=budget.n_rows)
        seconds = self.cost_model_.predict(configs, size, n_splits=budget.n_splits)
        picks = cost_aware_cover(
            regret,
            seconds + self.overhead,
            min(k, self.size),
            budget=budget.seconds,
            weights=self._task_weights(kind, meta_features),
            allowed=allowed,
        )
        n_tasks = len(regret)
        return [
            Recommendation(
                configs[column],
                1.0 - expected,
                Evidence(
                    self.name,
                    note=f"cost-aware step {step + 1}: about {seconds[column]:.2g}s on this "
                    f"task; weighted mean best-so-far regret {expected:.4f} over {n_tasks} earlier "
                    f"{kind} tasks",
                ),
            )
            for step, (column, expected) in enumerate(picks)
        ]
