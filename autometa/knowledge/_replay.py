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

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from autometa.contract._cost import (
    PROTOCOL_SPLITS,
    CostModel,
    TaskSize,
    measured_rows,
    timing_table,
)
from autometa.contract._types import Config, TaskKind
from autometa.knowledge._base import KnowledgeBase, TaskRecord
from autometa.knowledge._loto import _same_task
from autometa.knowledge._replay_policies import (
    DEFAULT_OVERHEAD,
    SINGLE_BEST,
    AdaptivePolicy,
    HeldOutTask,
    History,
    Policy,
    Proposer,
    SingleBestPolicy,
    default_policies,
)
from autometa.knowledge._replay_report import PolicyResult, ReplayReport

logger = logging.getLogger(__name__)

DEFAULT_SECONDS = (5.0, 10.0, 30.0, 60.0, 120.0)
DEFAULT_TRIALS = (1, 5, 10, 25)
FULL_ROWS = "full"
"""``n_rows`` value that scales every task to its own size before subsampling."""
ORACLE = "oracle"


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
            order = _walk(policy.start(task, history), data.scores[index], charged)
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


def _walk(search: Proposer, scores: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """The order an adaptive search takes when told the held-out task's ``scores`` and the
    ``seconds`` each pick is charged."""
    order: list[int] = []
    seen: set[int] = set()
    while len(order) < len(scores):
        column = int(search.ask())
        if column in seen or not 0 <= column < len(scores):
            raise ValueError(f"an adaptive policy asked for column {column} twice or out of range.")
        seen.add(column)
        order.append(column)
        search.tell(column, float(scores[column]), float(seconds[column]))
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
    from autometa.knowledge._loto import algorithms_by_kind

    try:
        algorithms = algorithms_by_kind(knowledge)
    except Exception as exc:  # a base built with plugins not installed here
        logger.warning("replay: no algorithm defaults (%s); nearest tasks starts without", exc)
        return {}
    return {kind: frozenset(a.default_config for a in algs) for kind, algs in algorithms.items()}
