"""What a replayed search policy sees, and the policies replay compares.

A policy orders the pool for a held-out task from the other tasks (:class:`History`);
an adaptive policy (:class:`AdaptivePolicy`) is asked for one pick at a time and told
each pick's score, as a search would observe it. See :mod:`autometa.knowledge._replay`
for how the picks are charged and judged.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from autometa.contract._adaptive import (
    DEFAULT_EPS,
    DEFAULT_SIGMA,
    DEFAULT_TAU,
    observation_weights,
)
from autometa.contract._cost import CostModel, TaskSize, cost_aware_cover
from autometa.contract._metalearner import greedy_cover
from autometa.contract._similarity import similarity_weights
from autometa.contract._types import Config, TaskKind

DEFAULT_OVERHEAD = 0.1
"""Seconds every trial costs beyond its fit (sampling, bookkeeping, scoring setup)."""
DEFAULT_BANDWIDTH = 0.02
DEFAULT_SHARE = 0.8
SINGLE_BEST = "single_best"
"""Name of the single-best baseline replay always adds."""


# -- what a policy sees --------------------------------------------------------------------
@dataclass(frozen=True)
class HeldOutTask:
    """The new task as a policy may see it: no scores, no times.

    ``size`` is the size the search runs on (scaled when replay was asked for other
    rows), ``n_splits`` the folds of every trial, ``budget`` the seconds the search has
    (None: order for any budget).
    """

    task_id: str
    kind: TaskKind
    meta_features: Mapping[str, float]
    size: TaskSize
    n_splits: int
    budget: float | None


@dataclass(frozen=True, eq=False)
class History:
    """The training tasks of one kind: what a policy learns from.

    ``regret`` and ``seconds`` are tasks x ``configs``: normalized regret (missing or
    failed = 1) and stored fit seconds (NaN where unknown); ``scores`` the same cells in
    the kind's scoring (greater is better, NaN where unknown or failed). ``meta_features``
    is tasks x ``feature_names``. ``cost_model`` is fitted on these tasks' times;
    ``defaults`` are the algorithms' default configurations.
    """

    configs: list[Config]
    regret: np.ndarray
    seconds: np.ndarray
    feature_names: list[str]
    meta_features: np.ndarray
    sizes: list[TaskSize]
    cost_model: CostModel
    defaults: frozenset[Config] = frozenset()
    scores: np.ndarray | None = None


class Policy(Protocol):
    """A search policy: an ordering of the pool for a held-out task."""

    @property
    def name(self) -> str:
        """Unique among the policies replayed together."""
        ...

    def order(self, task: HeldOutTask, history: History) -> np.ndarray:
        """Column indices of ``history.configs`` in the order to try them (a permutation)."""
        ...


class Proposer(Protocol):
    """One adaptive search on one held-out task: asked for a pick, told its score."""

    def ask(self) -> int:
        """The next column of ``history.configs`` to evaluate (never one asked before)."""
        ...

    def tell(self, column: int, score: float, seconds: float) -> None:
        """The held-out task's score of ``column`` (greater is better; NaN = failed) and
        the seconds it was charged (its stored time, scaled as the replay was asked, plus
        the per-trial overhead): what a search measures of a trial."""
        ...


class AdaptivePolicy(Protocol):
    """A policy that revises its order after every observed score (replay tells it the
    held-out task's stored score of each pick, as a search would observe it)."""

    @property
    def name(self) -> str: ...

    def start(self, task: HeldOutTask, history: History) -> Proposer:
        """A fresh search on ``task``."""
        ...


# -- the policies ----------------------------------------------------------------------------
@dataclass
class SingleBestPolicy:
    """The pool by mean normalized regret over the training tasks (best on average first)."""

    name: str = SINGLE_BEST

    def order(self, task: HeldOutTask, history: History) -> np.ndarray:
        return np.argsort(history.regret.mean(axis=0), kind="stable")


@dataclass
class GreedyPortfolioPolicy:
    """Today's greedy portfolio (``GreedyPortfolio``), continued to the whole pool."""

    name: str = "greedy_portfolio"

    def order(self, task: HeldOutTask, history: History) -> np.ndarray:
        n = history.regret.shape[1]
        return np.array([column for column, _ in greedy_cover(history.regret, n)], dtype=int)


@dataclass
class NearestTasksPolicy:
    """The nearest-tasks learner's order (``NearestTasks``), continued to the whole pool.

    The single best default first; then, nearest task first (L1 over meta-features scaled
    to [0, 1]), each task's best configuration not taken yet; then each task's next
    best, round by round.
    """

    name: str = "nearest_tasks"
    default_first: bool = True

    def order(self, task: HeldOutTask, history: History) -> np.ndarray:
        regret = history.regret
        query = np.array([task.meta_features.get(n, np.nan) for n in history.feature_names])
        both = np.vstack([history.meta_features, query])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
            low, high = np.nanmin(both, axis=0), np.nanmax(both, axis=0)
            span = np.where(high - low > 0, high - low, np.nan)
            diff = np.abs((history.meta_features - low) / span - (query - low) / span)
            distance = np.nanmean(diff, axis=1)
        nearest = np.argsort(np.nan_to_num(distance, nan=np.inf), kind="stable")
        chosen: list[int] = []
        taken = np.zeros(regret.shape[1], dtype=bool)
        if self.default_first and history.defaults:
            columns = [j for j, c in enumerate(history.configs) if c in history.defaults]
            if columns:
                best = columns[int(np.argmin(regret[:, columns].mean(axis=0)))]
                chosen.append(best)
                taken[best] = True
        ranked = np.argsort(regret[nearest], axis=1, kind="stable")
        for row in ranked:  # each near task's best configuration not taken yet
            free = row[~taken[row]]
            if len(free):
                chosen.append(int(free[0]))
                taken[free[0]] = True
        for column in ranked.T.ravel():  # then round by round
            if not taken[column]:
                chosen.append(int(column))
                taken[column] = True
        chosen.extend(np.flatnonzero(~taken).tolist())
        return np.array(chosen, dtype=int)


@dataclass
class RandomPolicy:
    """A random permutation, reproducible from ``random_state`` and the task id."""

    random_state: int = 0
    name: str = "random"

    def order(self, task: HeldOutTask, history: History) -> np.ndarray:
        rng = np.random.default_rng([self.random_state, zlib.crc32(task.task_id.encode())])
        return rng.permutation(history.regret.shape[1])


@dataclass
class CostAwarePolicy:
    """Greedy portfolio by regret reduction per predicted second (``cost_aware_cover``).

    Seconds are the cost model's prediction for this task's size and folds, plus the
    per-trial ``overhead``; with a budget, picks that no longer fit are deferred. The
    training tasks are weighted by nearness in meta-features (``similarity_weights``
    with ``bandwidth`` and ``share``; ``share=0`` weighs them all alike).
    """

    overhead: float = DEFAULT_OVERHEAD
    bandwidth: float = DEFAULT_BANDWIDTH
    share: float = DEFAULT_SHARE
    name: str = "cost_aware"

    def order(self, task: HeldOutTask, history: History) -> np.ndarray:
        seconds = history.cost_model.predict(history.configs, task.size, n_splits=task.n_splits)
        weights = _nearness(task, history, self.bandwidth, self.share)
        picks = cost_aware_cover(
            history.regret,
            seconds + self.overhead,
            history.regret.shape[1],
            budget=task.budget,
            weights=weights,
        )
        return np.array([column for column, _ in picks], dtype=int)


def _nearness(task: HeldOutTask, history: History, bandwidth: float, share: float) -> np.ndarray:
    """The training tasks' weights by nearness in meta-features (``similarity_weights``)."""
    query = np.array([task.meta_features.get(n, np.nan) for n in history.feature_names])
    return similarity_weights(history.meta_features, query, bandwidth=bandwidth, share=share)


@dataclass
class GuardedPolicy:
    """Another policy's order with the cheap guard first, as a fit runs it.

    The guard is ``algorithm``'s default configuration when the pool holds it (see
    ``autometa.search._planning.guard_recommendation``); otherwise the order is unchanged.
    """

    policy: Policy
    algorithm: str = "hist_gradient_boosting"

    @property
    def name(self) -> str:
        return f"{self.policy.name}+guard"

    def order(self, task: HeldOutTask, history: History) -> np.ndarray:
        order = np.asarray(self.policy.order(task, history), dtype=int)
        guard = [
            j
            for j, c in enumerate(history.configs)
            if c in history.defaults and c.algorithm == self.algorithm
        ]
        if not guard:
            return order
        return np.concatenate([[guard[0]], order[order != guard[0]]])


@dataclass
class AdaptivePortfolioPolicy:
    """The greedy portfolio re-weighted after every observation (``observation_weights``).

    Each step picks the column that most lowers the weighted expected best-so-far regret,
    the earlier tasks weighted by how well their stored scores agree with the scores the
    held-out task showed so far (order and level terms; ``level=False`` drops the level
    term). With no observation yet the weights are uniform, so the first pick is the
    static portfolio's. After ``adapt_steps`` picks the rest of the order follows the
    last weights without asking again (the scores seen by then have settled them).
    """

    tau: float = DEFAULT_TAU
    eps: float = DEFAULT_EPS
    sigma: float = DEFAULT_SIGMA
    level: bool = True
    adapt_steps: int = 50
    name: str = "adaptive_portfolio"

    def start(self, task: HeldOutTask, history: History) -> _AdaptiveSearch:
        return _AdaptiveSearch(self, history)


@dataclass
class _AdaptiveSearch:
    """One held-out task's adaptive portfolio: the picks and scores so far."""

    policy: AdaptivePortfolioPolicy
    history: History
    columns: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)

    def ask(self) -> int:
        if self.queued:
            return self.queued.pop(0)
        regret = self.history.regret
        weights = observation_weights(
            1.0 - regret,
            self.history.scores if self.policy.level else None,
            self.columns,
            self.scores,
            tau=self.policy.tau,
            eps=self.policy.eps,
            sigma=self.policy.sigma,
        )
        size = 1 if len(self.columns) < self.policy.adapt_steps else regret.shape[1]
        picks = [c for c, _ in greedy_cover(regret, size, weights=weights, after=self.columns)]
        self.queued = picks[1:]
        return picks[0]

    def tell(self, column: int, score: float, seconds: float) -> None:
        self.columns.append(column)
        self.scores.append(score)


@dataclass
class AdaptiveCostAwarePolicy:
    """The cost-aware order, re-weighted and re-timed after every observation.

    Each step picks the column with the largest drop in the weighted expected best-so-far
    regret per predicted second (the cost-aware cover's rule; once no column lowers it,
    the best remaining mean quality per second). The training tasks are weighted by
    nearness in meta-features (the cost-aware policy's weights, as the prior) and by how
    well their stored scores agree with the scores the held-out task showed so far
    (``observation_weights``). With ``measured_times`` the predicted seconds are
    corrected by the seconds the picks so far were charged
    (:meth:`~autometa.contract.CostModel.with_observations`), as the
    ``adaptive_cost_aware_portfolio`` learner corrects them with its trials' times. After
    ``adapt_steps`` picks the weights and seconds stay as they are.
    """

    overhead: float = DEFAULT_OVERHEAD
    bandwidth: float = DEFAULT_BANDWIDTH
    share: float = DEFAULT_SHARE
    adapt_steps: int = 50
    measured_times: bool = True
    name: str = "adaptive_cost_aware"

    def start(self, task: HeldOutTask, history: History) -> _AdaptiveCostSearch:
        prior = _nearness(task, history, self.bandwidth, self.share)
        return _AdaptiveCostSearch(self, task, history, prior, prior)


@dataclass
class _AdaptiveCostSearch:
    """One held-out task's adaptive cost-aware search: the picks, scores and times so far."""

    policy: AdaptiveCostAwarePolicy
    task: HeldOutTask
    history: History
    prior: np.ndarray
    weights: np.ndarray
    columns: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    measured: list[tuple[Config, float]] = field(default_factory=list)
    seconds: np.ndarray = field(init=False)
    """:meth:`predicted`, kept until the next measured time changes it."""

    def __post_init__(self) -> None:
        self.seconds = self.predicted()

    def predicted(self) -> np.ndarray:
        """Each column's seconds: the cost model's, corrected by the measured times."""
        history, task = self.history, self.task
        model = history.cost_model.with_observations(
            self.measured, task.size, n_splits=task.n_splits
        )
        seconds = model.predict(history.configs, task.size, n_splits=task.n_splits)
        return seconds + self.policy.overhead

    def ask(self) -> int:
        regret = self.history.regret
        if len(self.columns) <= self.policy.adapt_steps:
            self.weights = observation_weights(
                1.0 - regret, self.history.scores, self.columns, self.scores, self.prior
            )
        ((column, _),) = cost_aware_cover(
            regret, self.seconds, 1, weights=self.weights, after=self.columns
        )
        return column

    def tell(self, column: int, score: float, seconds: float) -> None:
        self.columns.append(column)
        self.scores.append(score)
        if self.policy.measured_times and len(self.columns) <= self.policy.adapt_steps:
            fit_seconds = max(seconds - self.policy.overhead, 0.0)
            self.measured.append((self.history.configs[column], fit_seconds))
            self.seconds = self.predicted()


def default_policies(random_state: int = 0, overhead: float = DEFAULT_OVERHEAD) -> list[Policy]:
    """Today's greedy portfolio, nearest tasks, random and the cost-aware policy, then the
    greedy and cost-aware ones with the cheap guard first (as a fit runs them)."""
    return [
        GreedyPortfolioPolicy(),
        NearestTasksPolicy(),
        RandomPolicy(random_state),
        CostAwarePolicy(overhead),
        GuardedPolicy(GreedyPortfolioPolicy()),
        GuardedPolicy(CostAwarePolicy(overhead)),
    ]
