"""Replay: judge search policies on the knowledge base without fitting a model.

Leave one task out. A policy sees the other tasks of the same kind (their scores, fit
times and meta-features) and the held-out task's meta-features and size, and returns an
ordering of the shared configuration pool. Replay then walks the ordering on the
held-out task, charging each pick the score and ``fit_time`` stored for that cell (plus
a fixed per-trial overhead), and records the best-so-far regret:

- **normalized regret** of a configuration on a task is ``(best - score) / (best -
  worst)`` over the pool's scores on that task, as in :mod:`autometa.knowledge._loto`
  (0 = the task's best configuration, 1 = its worst; a cell that failed or was capped
  counts as the worst). With nothing finished yet the regret is 1.
- **regret at t seconds**: the best regret among the picks that finished within t
  simulated seconds; **regret at k trials**: the best among the first k picks.

Means over held-out tasks are reported for every policy, with the single best
configuration (the pool ordered by mean normalized score on the training tasks) and the
oracle (at k trials the task's best, regret 0; at t seconds the best configuration that
alone fits in t seconds: no ordering can do better). Times are those of the build
protocol (3-fold CV on at most 2,000 rows) unless ``n_rows`` / ``n_splits`` ask to
scale them with the cost model, e.g. to a user's 28,000 rows and 5-fold CV.

Everything is numpy over the dense tables: each policy is fitted once per held-out task,
and all 263 tasks of the shipped base replay in seconds. A policy is any object with a
``name`` and an ``order(task, history)`` method (:class:`Policy`), so a strategy selector
can be trained from replay's per-task results.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from autometa.contract._adaptive import (
    DEFAULT_EPS,
    DEFAULT_SIGMA,
    DEFAULT_TAU,
    observation_weights,
)
from autometa.contract._cost import (
    PROTOCOL_SPLITS,
    CostModel,
    TaskSize,
    cost_aware_cover,
    measured_rows,
    similarity_weights,
    timing_table,
)
from autometa.contract._metalearner import greedy_cover
from autometa.contract._types import Config, TaskKind
from autometa.knowledge._base import KnowledgeBase, TaskRecord
from autometa.knowledge._loto import _same_task

logger = logging.getLogger(__name__)

DEFAULT_SECONDS = (5.0, 10.0, 30.0, 60.0, 120.0)
DEFAULT_TRIALS = (1, 5, 10, 25)
DEFAULT_OVERHEAD = 0.1
"""Seconds every trial costs beyond its fit (sampling, bookkeeping, scoring setup)."""
DEFAULT_BANDWIDTH = 0.02
DEFAULT_SHARE = 0.8
FULL_ROWS = "full"
"""``n_rows`` value that scales every task to its own size before subsampling."""
ORACLE = "oracle"
SINGLE_BEST = "single_best"


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

    def tell(self, column: int, score: float) -> None:
        """The held-out task's score of ``column`` (greater is better; NaN = failed)."""
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
        query = np.array([task.meta_features.get(n, np.nan) for n in history.feature_names])
        weights = similarity_weights(
            history.meta_features, query, bandwidth=self.bandwidth, share=self.share
        )
        picks = cost_aware_cover(
            history.regret,
            seconds + self.overhead,
            history.regret.shape[1],
            budget=task.budget,
            weights=weights,
        )
        return np.array([column for column, _ in picks], dtype=int)


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

    def tell(self, column: int, score: float) -> None:
        self.columns.append(column)
        self.scores.append(score)


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


# -- the report ------------------------------------------------------------------------------
@dataclass
class PolicyResult:
    """One policy's mean regrets over the held-out tasks."""

    policy: str
    n_tasks: int
    regret_at_seconds: dict[float, float]
    regret_at_trials: dict[int, float]
    trials_at_seconds: dict[float, float] = field(default_factory=dict)


@dataclass
class ReplayReport:
    """Every policy's results, plus per-task regrets (for plots and a strategy selector)."""

    results: dict[str, PolicyResult]
    per_task: dict[str, dict[str, dict[str, list[float]]]]
    seconds: tuple[float, ...]
    trials: tuple[int, ...]
    settings: dict[str, object]

    def table(self) -> str:
        """Plain text: mean normalized regret at each budget in seconds and in trials."""
        time_cols = [f"@{s:g}s" for s in self.seconds]
        trial_cols = [f"@{k} tr" for k in self.trials]
        width = max([len("policy"), *map(len, self.results)])
        header = (
            f"{'policy':<{width}} {'tasks':>5} "
            + " ".join(f"{c:>7}" for c in time_cols)
            + " | "
            + " ".join(f"{c:>7}" for c in trial_cols)
            + f" | {'trials@' + f'{self.seconds[-1]:g}s':>12}"
        )
        rows = [header, "-" * len(header)]
        for name, result in self.results.items():
            rows.append(
                f"{name:<{width}} {result.n_tasks:>5} "
                + " ".join(f"{result.regret_at_seconds[s]:>7.4f}" for s in self.seconds)
                + " | "
                + " ".join(f"{result.regret_at_trials[k]:>7.4f}" for k in self.trials)
                + f" | {result.trials_at_seconds.get(self.seconds[-1], math.nan):>12.1f}"
            )
        return "\n".join(rows)

    def to_json(self) -> str:
        return json.dumps(
            {
                "settings": self.settings,
                "seconds": list(self.seconds),
                "trials": list(self.trials),
                "results": {
                    name: {
                        "n_tasks": r.n_tasks,
                        "regret_at_seconds": {f"{s:g}": v for s, v in r.regret_at_seconds.items()},
                        "regret_at_trials": {str(k): v for k, v in r.regret_at_trials.items()},
                        "trials_at_seconds": {f"{s:g}": v for s, v in r.trials_at_seconds.items()},
                    }
                    for name, r in self.results.items()
                },
                "per_task": self.per_task,
            },
            indent=2,
            sort_keys=True,
        )


# -- replay -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _KindData:
    records: list[TaskRecord]
    configs: list[Config]
    regret: np.ndarray
    seconds: np.ndarray
    feature_names: list[str]
    meta_features: np.ndarray
    sizes: list[TaskSize]
    full_rows: list[float]
    scores: np.ndarray


def replay(
    knowledge: KnowledgeBase,
    policies: Sequence[Policy | AdaptivePolicy] | None = None,
    *,
    seconds: Sequence[float] = DEFAULT_SECONDS,
    trials: Sequence[int] = DEFAULT_TRIALS,
    n_rows: float | str | None = None,
    n_splits: int | None = None,
    budget: float | None = None,
    overhead: float = DEFAULT_OVERHEAD,
    random_state: int = 0,
    kinds: Iterable[TaskKind] | None = None,
    task_ids: Iterable[str] | None = None,
) -> ReplayReport:
    """Replay ``policies`` (default :func:`default_policies`) leaving one task out.

    :param seconds: simulated budgets at which to report the regret.
    :param trials: trial counts at which to report the regret.
    :param n_rows: charge every task's times scaled by the cost model to this many rows;
        ``"full"``: to each task's own full size before the build subsampled it; None: the
        stored times, measured on at most the protocol's rows.
    :param n_splits: folds every trial runs (None: the protocol's 3, as stored).
    :param budget: the search budget in seconds the policies are told (None: anytime).
    :param overhead: seconds every trial costs on top of its fit time.
    :param random_state: seed of the random policy.
    :param task_ids: hold out only these tasks (all others still train).
    """
    seconds = tuple(sorted({float(s) for s in seconds}))
    trials = tuple(sorted({int(k) for k in trials}))
    if not seconds or seconds[0] <= 0 or not trials or trials[0] < 1:
        raise ValueError(
            f"seconds must be positive budgets and trials positive counts, got {seconds} "
            f"and {trials}."
        )
    if (
        n_rows is not None
        and n_rows != FULL_ROWS
        and not (isinstance(n_rows, (int, float)) and n_rows >= 1)
    ):
        raise ValueError(
            f"n_rows must be a number >= 1, {FULL_ROWS!r} (each task's own size) or None "
            f"(the stored times), got {n_rows!r}."
        )
    if n_splits is not None and n_splits < 1:
        raise ValueError(f"n_splits must be >= 1 (1 = holdout), got {n_splits}.")
    if overhead < 0:
        raise ValueError(f"overhead must be >= 0 seconds, got {overhead}.")
    policies = list(default_policies(random_state, overhead) if policies is None else policies)
    names = [p.name for p in policies]
    if len(set(names)) != len(names) or {ORACLE, SINGLE_BEST} & set(names):
        raise ValueError(
            f"policy names must be unique and not {ORACLE!r} or {SINGLE_BEST!r}: {names}."
        )
    all_names = [*names, SINGLE_BEST, ORACLE]
    folds = PROTOCOL_SPLITS if n_splits is None else n_splits
    wanted = set(kinds) if kinds is not None else None
    only = set(task_ids) if task_ids is not None else None
    defaults = _defaults(knowledge)
    per_task: dict[str, dict[str, dict[str, list[float]]]] = {}
    max_rows = measured_rows(knowledge)
    for kind in ("binary", "multiclass", "regression"):
        if wanted is not None and kind not in wanted:
            continue
        data = _kind_data(knowledge, kind, max_rows)
        if data is None:
            continue
        for index, record in enumerate(data.records):
            if only is not None and record.task_id not in only:
                continue
            train = [i for i, other in enumerate(data.records) if not _same_task(other, record)]
            if not train:
                continue
            per_task[record.task_id] = _replay_task(
                data,
                index,
                train,
                [*policies, SingleBestPolicy()],
                defaults.get(kind, frozenset()),
                n_rows=n_rows,
                n_splits=folds,
                budget=budget,
                overhead=overhead,
                seconds=seconds,
                trials=trials,
            )
    if not per_task:
        raise ValueError(f"{knowledge!r} has no task with at least two scored configurations.")
    results = {}
    for name in all_names:
        at_s = np.array([per_task[t][name]["seconds"] for t in per_task])
        at_k = np.array([per_task[t][name]["trials"] for t in per_task])
        count = np.array([per_task[t][name]["count"] for t in per_task])
        results[name] = PolicyResult(
            policy=name,
            n_tasks=len(per_task),
            regret_at_seconds={s: float(at_s[:, i].mean()) for i, s in enumerate(seconds)},
            regret_at_trials={k: float(at_k[:, i].mean()) for i, k in enumerate(trials)},
            trials_at_seconds={s: float(count[:, i].mean()) for i, s in enumerate(seconds)},
        )
    settings: dict[str, object] = {
        "n_rows": n_rows,
        "n_splits": folds,
        "budget": budget,
        "overhead": overhead,
        "random_state": random_state,
    }
    return ReplayReport(results, per_task, seconds, trials, settings)


def _replay_task(
    data: _KindData,
    index: int,
    train: list[int],
    policies: Sequence[Policy | AdaptivePolicy],
    defaults: frozenset[Config],
    *,
    n_rows: float | str | None,
    n_splits: int,
    budget: float | None,
    overhead: float,
    seconds: tuple[float, ...],
    trials: tuple[int, ...],
) -> dict[str, dict[str, list[float]]]:
    """Every policy's regret curve on held-out task ``index`` of ``data``."""
    train_seconds = data.seconds[train]
    sizes = [data.sizes[i] for i in train]
    cost_model = CostModel().fit_table(data.configs, sizes, train_seconds)
    history = History(
        configs=data.configs,
        regret=data.regret[train],
        seconds=train_seconds,
        feature_names=data.feature_names,
        meta_features=data.meta_features[train],
        sizes=sizes,
        cost_model=cost_model,
        defaults=defaults,
        scores=data.scores[train],
    )
    record = data.records[index]
    own = data.sizes[index]
    if n_rows is None:
        target = own
    elif n_rows == FULL_ROWS:
        target = own.with_rows(max(data.full_rows[index], own.n_rows))
    else:
        target = own.with_rows(float(n_rows))
    charged = data.seconds[index].copy()
    unknown = ~np.isfinite(charged)
    if unknown.any():  # no stored time: charge the prediction
        charged[unknown] = cost_model.predict(
            [c for c, u in zip(data.configs, unknown, strict=True) if u], own
        )
    if n_rows is not None or n_splits != PROTOCOL_SPLITS:
        charged = charged * (
            cost_model.predict(data.configs, target, n_splits=n_splits)
            / cost_model.predict(data.configs, own, n_splits=PROTOCOL_SPLITS)
        )
    charged = charged + overhead
    task = HeldOutTask(
        task_id=record.task_id,
        kind=record.kind,
        meta_features=record.meta_features,
        size=target,
        n_splits=n_splits,
        budget=budget,
    )
    regret = data.regret[index]
    budgets = np.array(seconds)
    ks = np.array(trials)
    out: dict[str, dict[str, list[float]]] = {}
    for policy in policies:
        if hasattr(policy, "start"):
            order = _walk(policy.start(task, history), data.scores[index])
        else:
            order = np.asarray(policy.order(task, history), dtype=int)
        if sorted(order.tolist()) != list(range(len(data.configs))):
            raise ValueError(
                f"policy {policy.name!r} must return a permutation of the "
                f"{len(data.configs)} pool columns, got {len(order)} indices."
            )
        best = np.minimum.accumulate(regret[order])
        finished = np.cumsum(charged[order])
        done = np.searchsorted(finished, budgets, side="right")  # picks within each budget
        at_seconds = np.where(done > 0, best[np.maximum(done - 1, 0)], 1.0)
        at_trials = best[np.minimum(ks, len(best)) - 1]
        out[policy.name] = {
            "seconds": at_seconds.tolist(),
            "trials": at_trials.tolist(),
            "count": done.astype(float).tolist(),
        }
    # the oracle: the best configuration that alone fits in each budget
    fits = charged[None, :] <= budgets[:, None]
    oracle_seconds = np.where(fits, regret[None, :], np.inf).min(axis=1)
    out[ORACLE] = {
        "seconds": np.where(np.isfinite(oracle_seconds), oracle_seconds, 1.0).tolist(),
        "trials": [float(regret.min())] * len(trials),
        "count": [1.0 if f.any() else 0.0 for f in fits],
    }
    return out


def _walk(search: Proposer, scores: np.ndarray) -> np.ndarray:
    """The order an adaptive search takes when told the held-out task's ``scores``."""
    order: list[int] = []
    seen: set[int] = set()
    while len(order) < len(scores):
        column = int(search.ask())
        if column in seen or not 0 <= column < len(scores):
            raise ValueError(f"an adaptive policy asked for column {column} twice or out of range.")
        seen.add(column)
        order.append(column)
        search.tell(column, float(scores[column]))
    return np.array(order, dtype=int)


def _kind_data(knowledge: KnowledgeBase, kind: TaskKind, max_rows: int) -> _KindData | None:
    """The dense tables of one kind: tasks with two or more scored configurations."""
    table = knowledge.score_table(kind)
    if not table.task_ids:
        return None
    scored = np.isfinite(table.scores).sum(axis=1) >= 2
    records_by_id = {r.task_id: r for r in knowledge.tasks(kind)}
    rows = [i for i, t in enumerate(table.task_ids) if scored[i] and t in records_by_id]
    if len(rows) < 2:
        return None
    records = [records_by_id[table.task_ids[i]] for i in rows]
    regret = 1.0 - np.nan_to_num(table.normalized()[rows], nan=0.0)
    time_configs, _, times = timing_table(knowledge, kind)
    time_column = {c: j for j, c in enumerate(time_configs)}
    time_row = {r.task_id: i for i, r in enumerate(knowledge.tasks(kind))}
    seconds = np.full(regret.shape, np.nan)
    for j, config in enumerate(table.configs):
        if config in time_column:
            seconds[:, j] = times[[time_row[r.task_id] for r in records], time_column[config]]
    feature_names = sorted({n for r in records for n in r.meta_features})
    meta = np.array(
        [[r.meta_features.get(n, np.nan) for n in feature_names] for r in records], dtype=float
    )
    sizes = [TaskSize.evaluated(r, max_rows) for r in records]
    full_rows = [_full_rows(r, size) for r, size in zip(records, sizes, strict=True)]
    scores = np.asarray(table.scores, dtype=float)[rows]
    return _KindData(
        records, list(table.configs), regret, seconds, feature_names, meta, sizes, full_rows, scores
    )


def _full_rows(record: TaskRecord, evaluated: TaskSize) -> float:
    """The task's rows before the build subsampled it (provenance, else NumberOfInstances)."""
    rows = record.provenance.get("n_rows", record.meta_features.get("NumberOfInstances"))
    return float(rows) if isinstance(rows, (int, float)) and rows >= 1 else evaluated.n_rows


def _defaults(knowledge: KnowledgeBase) -> dict[str, frozenset[Config]]:
    """Each kind's algorithm defaults (of the build's reference spaces), for nearest tasks."""
    from autometa.knowledge._loto import _algorithms_by_kind

    try:
        algorithms = _algorithms_by_kind(knowledge)
    except Exception as exc:  # a base built with plugins not installed here
        logger.warning("replay: no algorithm defaults (%s); nearest tasks starts without", exc)
        return {}
    return {kind: frozenset(a.default_config for a in algs) for kind, algs in algorithms.items()}
