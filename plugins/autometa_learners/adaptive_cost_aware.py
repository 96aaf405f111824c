"""Adaptive cost-aware portfolio: the cost-aware portfolio, revised after every trial.

Before the first trial it recommends what :class:`CostAwarePortfolio` does: the pool
ordered by regret reduction per predicted second. Asked again after trials
(:meth:`AdaptiveCostAwarePortfolio.propose`) it revises both halves of that ratio with
what the new task has shown:

- **the regret**: the earlier tasks keep their nearness in meta-features as the prior and
  are re-weighted by how well their stored scores of the configurations tried so far
  agree with the observed ones (:func:`autometa.contract.observation_weights`, as the
  adaptive portfolio does);
- **the seconds**: the cost model is corrected by the fit times measured on this task
  (:meth:`autometa.contract.CostModel.with_observations`: a machine-wide factor and one
  per algorithm), and what is left of the timeout is what the trials have not spent, so a
  configuration predicted to outrun it waits while others still fit.

Leave-one-task-out replay on all 263 tasks of the shipped base, each at its full size
under 5-fold CV (``autometa kb replay --rows full --n-splits 5 --adaptive``,
docs/replay.md), puts this order's mean normalized regret at 0.0148 / 0.0100 / 0.0061
after 5 / 10 / 30 simulated seconds, against the cost-aware order's 0.0170 / 0.0116 /
0.0067. Re-timing by the charged times as well (the replay default since session 16)
moves these by at most 0.0002 (0.0148 / 0.0102 / 0.0059). On a held-out peerbench
(docs/benchmarks.md) it was not ahead of the cost-aware portfolio, so it stays opt-in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from autometa.contract import (
    Algorithm,
    Config,
    Evaluation,
    Evidence,
    Proposal,
    Recommendation,
    SearchBudget,
    TaskKind,
    TaskSize,
    cost_aware_cover,
    observation_weights,
)
from autometa.contract._adaptive import DEFAULT_EPS, DEFAULT_SIGMA, DEFAULT_TAU
from autometa_learners.adaptive import SHOWN_TASKS, KindTable, first_observations
from autometa_learners.cost_aware import (
    DEFAULT_BANDWIDTH,
    DEFAULT_N_SPLITS,
    DEFAULT_OVERHEAD,
    DEFAULT_SHARE,
    DEFAULT_SIZE,
    CostAwarePortfolio,
)

if TYPE_CHECKING:
    from autometa.contract import KnowledgeView, ScoreTableView


class AdaptiveCostAwarePortfolio(CostAwarePortfolio):
    """The cost-aware portfolio, re-weighted and re-timed after every observed trial.

    Parameters
    ----------
    size, overhead, bandwidth, share:
        As :class:`CostAwarePortfolio`'s (``share`` sets the nearness prior).
    tau, eps, sigma:
        The order and level terms of :func:`autometa.contract.observation_weights`.
    """

    name = "adaptive_cost_aware_portfolio"

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        overhead: float = DEFAULT_OVERHEAD,
        bandwidth: float = DEFAULT_BANDWIDTH,
        share: float = DEFAULT_SHARE,
        tau: float = DEFAULT_TAU,
        eps: float = DEFAULT_EPS,
        sigma: float = DEFAULT_SIGMA,
    ) -> None:
        super().__init__(size, overhead, bandwidth, share)
        self.tau = tau
        self.eps = eps
        self.sigma = sigma

    def fit(self, knowledge: KnowledgeView) -> AdaptiveCostAwarePortfolio:
        self.observed_tables_: dict[str, KindTable] = {}
        super().fit(knowledge)
        return self

    def _fit_kind(self, knowledge: KnowledgeView, kind: TaskKind, table: ScoreTableView) -> None:
        super()._fit_kind(knowledge, kind, table)
        configs, regret, _ = self.tables_[kind]
        scorings = {record.scoring for record in knowledge.tasks(kind)}
        self.observed_tables_[kind] = KindTable(
            task_ids=tuple(table.task_ids),
            configs=tuple(configs),
            columns={config: column for column, config in enumerate(configs)},
            normalized=np.asarray(table.normalized(), dtype=float),
            raw=np.asarray(table.scores, dtype=float),
            regret=regret,
            prior=None,  # the nearness prior depends on the new task: see propose
            scoring=next(iter(scorings)) if len(scorings) == 1 else None,
        )

    def propose(
        self,
        meta_features: Mapping[str, float],
        observed: Sequence[Evaluation],
        *,
        kind: TaskKind,
        algorithms: Sequence[Algorithm],
        pending: Sequence[Config] = (),
        scoring: str | None = None,
        budget: SearchBudget | None = None,
    ) -> Proposal | None:
        table = self.observed_tables_.get(kind)
        if table is None:
            return None
        budget = budget if budget is not None else SearchBudget(n_splits=DEFAULT_N_SPLITS)
        columns, scores = first_observations(table.columns, observed)
        comparable = table.scoring is not None and scoring in (None, table.scoring)
        weights = observation_weights(
            table.normalized,
            table.raw if comparable else None,
            columns,
            scores,
            self._task_weights(kind, meta_features),
            tau=self.tau,
            eps=self.eps,
            sigma=self.sigma,
        )
        taken = {e.config for e in observed} | set(pending)
        available = {a.name for a in algorithms}
        allowed = np.array([c.algorithm in available and c not in taken for c in table.configs])
        if not allowed.any():
            return None
        size = TaskSize.from_meta_features(meta_features, n_rows=budget.n_rows)
        measured = [(e.config, e.fit_time) for e in observed if e.ok and _seconds(e.fit_time)]
        model = self.cost_model_.with_observations(measured, size, n_splits=budget.n_splits)
        seconds = model.predict(table.configs, size, n_splits=budget.n_splits) + self.overhead
        # As the adaptive portfolio: what was evaluated counts as picked, and so does what
        # is being evaluated; the seconds spent are measured, the pending ones predicted.
        done = [c for c, s in zip(columns, scores, strict=True) if math.isfinite(s)]
        running = [table.columns[c] for c in pending if c in table.columns]
        spent = sum(e.fit_time + self.overhead for e in observed if _seconds(e.fit_time))
        spent += float(seconds[running].sum())
        before = float(weights @ table.regret[:, done + running].min(axis=1, initial=1.0))
        ((column, expected),) = cost_aware_cover(
            table.regret,
            seconds,
            1,
            budget=budget.seconds,
            weights=weights,
            allowed=allowed,
            after=done + running,
            spent=spent,
        )
        heaviest = np.argsort(-weights, kind="stable")[:SHOWN_TASKS]
        pointed = tuple((table.task_ids[i], float(weights[i])) for i in heaviest)
        gain = max(before - expected, 0.0)
        note = (
            f"adaptive cost-aware portfolio after {len(columns)} observed pool configurations "
            f"({spent:.3g}s spent): about {seconds[column]:.2g}s on this task (corrected by "
            f"{len(measured)} measured times); expected best-so-far regret {expected:.4f} "
            f"(gain {gain:.4f}); observations point to "
            + ", ".join(f"{task} ({weight:.2f})" for task, weight in pointed)
        )
        recommendation = Recommendation(
            table.configs[column], 1.0 - expected, Evidence(self.name, note=note)
        )
        return Proposal(recommendation, gain, pointed)


def _seconds(value: float) -> bool:
    """Whether ``value`` is a usable measured time (finite, not negative)."""
    return math.isfinite(value) and value >= 0
