"""Greedy portfolio: auto-sklearn 2's static warm start (Feurer et al., 2022; TabRepo).

From the score table of the earlier tasks of one kind, configurations are added one at
a time, each time the one that most lowers the mean (over tasks) of the best-so-far
normalized regret. The result does not depend on the new task's meta-features: it is
the sequence that would have served the earlier tasks best on average, which makes it
robust where meta-features mislead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from autometa.contract import (
    Algorithm,
    Config,
    Evidence,
    MetaLearner,
    Recommendation,
    TaskKind,
    evidence_weights,
    greedy_cover,
    portfolio_regret,
)

if TYPE_CHECKING:
    from autometa.contract import KnowledgeView, ScoreTableView

DEFAULT_SIZE = 32


class GreedyPortfolio(MetaLearner):
    """Recommend a portfolio built greedily to minimise mean best-so-far regret.

    Parameters
    ----------
    size:
        Most configurations kept per kind (recommendations come from its prefix).
    """

    name = "greedy_portfolio"

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size

    def fit(self, knowledge: KnowledgeView) -> GreedyPortfolio:
        self.portfolios_: dict[str, list[tuple[Config, float, int]]] = {}
        kinds = sorted({record.kind for record in knowledge.tasks()})
        for kind in kinds:
            table = knowledge.score_table(kind)
            if table.task_ids:
                self._fit_kind(knowledge, kind, table)
        return self

    def _fit_kind(self, knowledge: KnowledgeView, kind: TaskKind, table: ScoreTableView) -> None:
        """Build the portfolio of one kind from its score table (subclasses keep more)."""
        self.portfolios_[kind] = greedy_portfolio(table.configs, table.normalized(), self.size)

    def recommend(
        self,
        meta_features: Mapping[str, float],
        *,
        kind: TaskKind,
        algorithms: Sequence[Algorithm],
        k: int = 10,
    ) -> list[Recommendation]:
        available = {a.name for a in algorithms}
        result = []
        for step, (config, regret, n_tasks) in enumerate(self.portfolios_.get(kind, [])):
            if config.algorithm not in available:
                continue
            result.append(
                Recommendation(
                    config,
                    1.0 - regret,
                    Evidence(
                        self.name,
                        note=f"portfolio step {step + 1}: mean best-so-far regret {regret:.4f} "
                        f"over {n_tasks} earlier {kind} tasks",
                    ),
                )
            )
            if len(result) == k:
                break
        return result


def greedy_portfolio(
    configs: Sequence[Config], normalized: np.ndarray, size: int
) -> list[tuple[Config, float, int]]:
    """(configuration, mean best-so-far regret after adding it, tasks) in greedy order.

    ``normalized`` is tasks x configurations in [0, 1] (1 = the task's best), NaN where
    not evaluated; a missing cell counts as the worst score on a task evaluated on the
    whole pool, and as unknown on a task holding only what a fit tried
    (:func:`autometa.contract.portfolio_regret`), which weighs less
    (:func:`autometa.contract.evidence_weights`).
    """
    regret = portfolio_regret(normalized)
    return cover_portfolio(configs, regret, prior_weights(normalized), size)


def prior_weights(normalized: np.ndarray) -> np.ndarray | None:
    """Each task's weight before any observation: its evidence, summing to 1
    (:func:`autometa.contract.evidence_weights`); None for no task."""
    evidence = evidence_weights(normalized)
    return evidence / evidence.sum() if len(evidence) else None


def cover_portfolio(
    configs: Sequence[Config], regret: np.ndarray, weights: np.ndarray | None, size: int
) -> list[tuple[Config, float, int]]:
    """:func:`greedy_portfolio` from its regret table and task weights."""
    return [
        (configs[column], expected, len(regret))
        for column, expected in greedy_cover(regret, size, weights=weights)
    ]
