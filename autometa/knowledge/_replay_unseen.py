"""Replay for an algorithm the knowledge base has no cells of: where its default goes.

A fit puts the default configuration of every searched algorithm without cells among
the learned warm starts (``autometa.search._unseen``). Replay measures where: each
algorithm of the base in turn is treated as unseen, so the wrapped policy learns from
the other algorithms' columns only (their regret re-normalized without it), and the
held-out algorithm's default is inserted after the first ``position`` picks (None:
never inserted, so its columns come after everything learned, as when the sampler
would have to find it). Its other columns follow, last. Leave one task out as in
:func:`autometa.knowledge.replay`; :func:`replay_unseen` sweeps algorithms and
positions and averages over the algorithms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from autometa.contract._types import TaskKind
from autometa.knowledge._base import KnowledgeBase
from autometa.knowledge._replay import DEFAULT_SECONDS, replay
from autometa.knowledge._replay_policies import DEFAULT_OVERHEAD, HeldOutTask, History, Policy

NEVER = "never"
"""How an unseen default that is never inserted shows in :func:`replay_unseen`'s rows."""
DEFAULT_POSITIONS: tuple[int | None, ...] = (None, 0, 1, 3, 5)
DEFAULT_UNSEEN_TRIALS = (1, 5, 10, 25)


@dataclass(eq=False)
class HeldOutAlgorithm:
    """A policy's order when ``algorithm`` has no cells, computed once per held-out task.

    Several positions share one instance, so the wrapped policy runs once per task.
    """

    policy: Policy
    algorithm: str
    _orders: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def orders(self, task: HeldOutTask, history: History) -> tuple[np.ndarray, np.ndarray]:
        """The learned order of the other columns, and the algorithm's columns (default
        first), both as column indices of ``history.configs``."""
        if task.task_id not in self._orders:
            held = np.array([c.algorithm == self.algorithm for c in history.configs])
            rest = np.flatnonzero(~held)
            learned = rest[np.asarray(self.policy.order(task, _without(history, rest)), dtype=int)]
            columns = np.flatnonzero(held)
            is_default = np.array([history.configs[j] in history.defaults for j in columns])
            own = np.concatenate([columns[is_default], columns[~is_default]]).astype(int)
            self._orders[task.task_id] = (learned, own)
        return self._orders[task.task_id]


@dataclass
class UnseenDefaultPolicy:
    """``held.policy``'s order without ``held.algorithm``, its default at ``position``.

    ``position`` counts the learned picks before the default (0: the default first);
    None never inserts it: the algorithm's columns all come after the learned ones.
    """

    held: HeldOutAlgorithm
    position: int | None

    @property
    def name(self) -> str:
        where = NEVER if self.position is None else str(self.position)
        return f"{self.held.policy.name}@{where}"

    def order(self, task: HeldOutTask, history: History) -> np.ndarray:
        learned, own = self.held.orders(task, history)
        if self.position is None or not len(own):
            return np.concatenate([learned, own]).astype(int)
        at = min(self.position, len(learned))
        return np.concatenate([learned[:at], own[:1], learned[at:], own[1:]]).astype(int)


def _without(history: History, keep: np.ndarray) -> History:
    """``history`` restricted to the columns ``keep``, regret re-normalized over them."""
    regret = history.regret[:, keep]
    scores = None if history.scores is None else history.scores[:, keep]
    if scores is not None:
        with np.errstate(all="ignore"):
            low = np.nanmin(np.where(np.isfinite(scores), scores, np.inf), axis=1, keepdims=True)
            high = np.nanmax(np.where(np.isfinite(scores), scores, -np.inf), axis=1, keepdims=True)
            span = high - low
            normalized = np.where(span > 0, (scores - low) / np.where(span > 0, span, 1.0), 1.0)
        regret = np.where(np.isfinite(scores), 1.0 - normalized, 1.0)
    configs = [history.configs[j] for j in keep]
    return replace(
        history,
        configs=configs,
        regret=regret,
        seconds=history.seconds[:, keep],
        scores=scores,
        defaults=frozenset(c for c in history.defaults if c in set(configs)),
    )


@dataclass(frozen=True)
class UnseenRow:
    """Mean regret of one policy with unseen defaults at one position, over algorithms."""

    policy: str
    position: str
    n_algorithms: int
    regret_at_seconds: dict[float, float]
    regret_at_trials: dict[int, float]


def replay_unseen(
    knowledge: KnowledgeBase,
    policies: Sequence[Policy],
    *,
    algorithms: Iterable[str] | None = None,
    positions: Sequence[int | None] = DEFAULT_POSITIONS,
    seconds: Sequence[float] = DEFAULT_SECONDS,
    trials: Sequence[int] = DEFAULT_UNSEEN_TRIALS,
    n_rows: float | str | None = None,
    n_splits: int | None = None,
    overhead: float = DEFAULT_OVERHEAD,
) -> tuple[list[UnseenRow], dict[str, dict[str, dict[str, float]]]]:
    """Replay every policy with each algorithm (default: all of the base) held out.

    Returns the rows (policy x position, means over algorithms of the mean over the
    tasks of the kinds that algorithm has cells in) and, per algorithm and row name, the
    mean regret at each trial count (``"@k"``). ``n_rows``, ``n_splits`` and ``overhead``
    scale and charge the times as in :func:`autometa.knowledge.replay`.
    """
    names = sorted({c.algorithm for c in knowledge.configs()} if algorithms is None else algorithms)
    at_s: dict[str, list[list[float]]] = {}
    at_k: dict[str, list[list[float]]] = {}
    per_algorithm: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        kinds: list[TaskKind] = [
            kind
            for kind in ("binary", "multiclass", "regression")
            if any(c.algorithm == name for c in knowledge.score_table(kind).configs)
        ]
        if not kinds:
            continue
        held = [HeldOutAlgorithm(policy, name) for policy in policies]
        wrapped = [UnseenDefaultPolicy(h, p) for h in held for p in positions]
        report = replay(
            knowledge,
            wrapped,
            seconds=seconds,
            trials=trials,
            kinds=kinds,
            n_rows=n_rows,
            n_splits=n_splits,
            overhead=overhead,
        )
        per_algorithm[name] = {}
        for policy in wrapped:
            result = report.results[policy.name]
            at_s.setdefault(policy.name, []).append(list(result.regret_at_seconds.values()))
            at_k.setdefault(policy.name, []).append(list(result.regret_at_trials.values()))
            per_algorithm[name][policy.name] = {
                f"@{k}": v for k, v in result.regret_at_trials.items()
            }
    rows = []
    for row_name, values in at_s.items():
        base, _, where = row_name.rpartition("@")
        mean_s = np.mean(values, axis=0)
        mean_k = np.mean(at_k[row_name], axis=0)
        rows.append(
            UnseenRow(
                base,
                where,
                len(values),
                dict(zip(sorted(set(map(float, seconds))), map(float, mean_s), strict=True)),
                dict(zip(sorted(set(map(int, trials))), map(float, mean_k), strict=True)),
            )
        )
    return rows, per_algorithm


def format_unseen(rows: Sequence[UnseenRow]) -> str:
    """The rows as a plain-text table (means over the held-out algorithms)."""
    if not rows:
        return "(no algorithm to hold out)"
    secs = list(rows[0].regret_at_seconds)
    ks = list(rows[0].regret_at_trials)
    head = f"{'policy':<18} {'default at':>10} {'algs':>5} "
    head += " ".join(f"{f'@{s:g}s':>7}" for s in secs) + " | "
    head += " ".join(f"{f'@{k} tr':>7}" for k in ks)
    lines = [head]
    for row in rows:
        line = f"{row.policy:<18} {row.position:>10} {row.n_algorithms:>5} "
        line += " ".join(f"{row.regret_at_seconds[s]:7.4f}" for s in secs) + " | "
        line += " ".join(f"{row.regret_at_trials[k]:7.4f}" for k in ks)
        lines.append(line)
    return "\n".join(lines)
