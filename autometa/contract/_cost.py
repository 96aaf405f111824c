"""How long a configuration takes to fit on a new task, learned from the knowledge base.

Every cell of the knowledge base holds the seconds its configuration took (``fit_time``:
k-fold cross-validation on at most ``max_rows`` rows of that task). :class:`CostModel`
learns, across all tasks, one log-linear model per algorithm::

    log(seconds per fit) = offset[config] + slope[algorithm] . (log training rows,
                           log features, log classes, log(1 + categorical levels))

The offset is each configuration's own speed (a forest of 500 trees against one of 50);
the slopes say how an algorithm's time grows with the task's size, shared by all its
configurations so that they are estimated from every task. The fit is ordinary least
squares with the offsets as fixed effects (each configuration's times are centred on
their mean), so it is a few numpy calls. The slope on rows is kept >= 0: a prediction
never falls when the table grows.

A fit that measures its own trials corrects the model with :meth:`CostModel.update` (or,
leaving a shared model as it is, a copy with :meth:`CostModel.with_observations`): the
geometric mean of observed/predicted ratios, shrunk towards 1 while observations are
few, multiplies later predictions (for the algorithms observed, and a machine-wide part
for all). :func:`autometa.knowledge.cost_model_error` measures the model on held-out tasks.

:func:`cost_aware_cover` is the greedy portfolio step that weighs each configuration's
expected gain against its predicted seconds.

The model lives in the contract because the planner, the cost-aware learners of any
plugin and replay (:mod:`autometa.knowledge`) all predict seconds with it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from autometa.contract._types import Config, TaskKind

if TYPE_CHECKING:
    from autometa.contract._knowledge import KnowledgeView, TaskRecordView

SIZE_TERMS = ("log_train_rows", "log_features", "log_classes", "log1p_categorical_levels")
"""The size terms of the log-linear model, in the order of :attr:`CostModel.slopes_`."""
PROTOCOL_SPLITS = 3
"""Folds the shipped knowledge base's fit times were measured with (its build protocol)."""
PROTOCOL_MAX_ROWS = 2000
"""Rows the shipped knowledge base's tasks were subsampled to (its build protocol)."""
MIN_SECONDS = 1e-3
"""Stored times are rounded to milliseconds; anything below counts as one."""
HOLDOUT_TRAIN_FRACTION = 0.75


@dataclass(frozen=True)
class TaskSize:
    """The size of a task as the cost model sees it.

    ``n_classes`` is 1 for regression; ``categorical_levels`` is the total number of
    categories over the categorical columns (the meta-feature ``SymbolsSum``), what
    one-hot encoding widens the table by.
    """

    n_rows: float
    n_features: float
    n_classes: float = 1.0
    categorical_levels: float = 0.0

    def __post_init__(self) -> None:
        if not (self.n_rows >= 1 and self.n_features >= 1):
            raise ValueError(
                f"TaskSize needs n_rows >= 1 and n_features >= 1, got n_rows={self.n_rows}, "
                f"n_features={self.n_features}."
            )

    @classmethod
    def from_meta_features(
        cls, meta_features: Mapping[str, float], *, n_rows: float | None = None
    ) -> TaskSize:
        """The size from a task's meta-features (``n_rows`` overrides NumberOfInstances)."""
        rows = _finite(meta_features.get("NumberOfInstances"), 1.0) if n_rows is None else n_rows
        return cls(
            n_rows=max(float(rows), 1.0),
            n_features=max(_finite(meta_features.get("NumberOfFeatures"), 1.0), 1.0),
            n_classes=max(_finite(meta_features.get("NumberOfClasses"), 1.0), 1.0),
            categorical_levels=max(_finite(meta_features.get("SymbolsSum"), 0.0), 0.0),
        )

    @classmethod
    def evaluated(cls, record: TaskRecordView, max_rows: int = PROTOCOL_MAX_ROWS) -> TaskSize:
        """The size a knowledge-base task had when its cells were timed (after subsampling)."""
        rows = record.provenance.get("n_rows_evaluated")
        if not isinstance(rows, (int, float)) or rows < 1:
            rows = min(_finite(record.meta_features.get("NumberOfInstances"), 1.0), max_rows)
        return cls.from_meta_features(record.meta_features, n_rows=float(rows))

    def with_rows(self, n_rows: float) -> TaskSize:
        return TaskSize(n_rows, self.n_features, self.n_classes, self.categorical_levels)

    def terms(self, n_splits: int) -> np.ndarray:
        """The size terms of one fit under ``n_splits``-fold CV (1 = a 75/25 holdout)."""
        fraction = HOLDOUT_TRAIN_FRACTION if n_splits < 2 else (n_splits - 1) / n_splits
        return np.array(
            [
                math.log(max(self.n_rows * fraction, 1.0)),
                math.log(self.n_features),
                math.log(self.n_classes),
                math.log1p(self.categorical_levels),
            ]
        )


def _finite(value: float | None, default: float) -> float:
    return float(value) if value is not None and math.isfinite(value) else default


def _fits(n_splits: int) -> int:
    return max(int(n_splits), 1)


class CostModel:
    """Predict a configuration's fit seconds on a new task from earlier tasks' times.

    Parameters
    ----------
    n_splits:
        Folds the training times were measured with (the build protocol: 3).
    prior_weight:
        How many observations :meth:`update` needs before a correction counts half.
    """

    def __init__(self, n_splits: int = PROTOCOL_SPLITS, prior_weight: float = 3.0) -> None:
        self.n_splits = n_splits
        self.prior_weight = prior_weight

    # -- learning ------------------------------------------------------------------------
    def fit(self, knowledge: KnowledgeView) -> CostModel:
        """Learn from every timed evaluation in ``knowledge`` (failed cells are skipped)."""
        configs, sizes, times = timing_table(knowledge)
        return self.fit_table(configs, sizes, times)

    def fit_table(
        self, configs: Sequence[Config], sizes: Sequence[TaskSize], times: np.ndarray
    ) -> CostModel:
        """Learn from ``times`` (tasks x configurations, seconds, NaN where unknown)."""
        times = np.asarray(times, dtype=float)
        if times.shape != (len(sizes), len(configs)):
            raise ValueError(
                f"times has shape {times.shape}, expected (tasks, configs) = "
                f"({len(sizes)}, {len(configs)})."
            )
        terms = np.array([s.terms(self.n_splits) for s in sizes]).reshape(
            len(sizes), len(SIZE_TERMS)
        )
        # Per fit: a cell timed n_splits fits; _log_predict multiplies back by the new count.
        log_time = np.log(np.maximum(times, MIN_SECONDS) / _fits(self.n_splits))
        log_time[~np.isfinite(times)] = np.nan
        self.configs_ = list(configs)
        self.column_ = {config: j for j, config in enumerate(self.configs_)}
        self.offsets_ = np.full(len(configs), np.nan)
        self.slopes_: dict[str, np.ndarray] = {}
        algorithms = np.array([c.algorithm for c in configs])
        for algorithm in sorted(set(algorithms)):
            columns = np.flatnonzero(algorithms == algorithm)
            slopes, offsets = _fixed_effects(log_time[:, columns], terms)
            self.slopes_[algorithm] = slopes
            self.offsets_[columns] = offsets
        known = np.isfinite(self.offsets_)
        self.default_offset_ = float(np.median(self.offsets_[known])) if known.any() else 0.0
        self.algorithm_offset_ = {
            a: float(np.nanmedian(self.offsets_[algorithms == a]))
            for a in self.slopes_
            if np.isfinite(self.offsets_[algorithms == a]).any()
        }
        self.default_slopes_ = (
            np.mean(list(self.slopes_.values()), axis=0) if self.slopes_ else np.zeros(4)
        )
        self.observed_: dict[str, list[float]] = {}
        return self

    # -- predicting ----------------------------------------------------------------------
    def predict(
        self, configs: Sequence[Config], size: TaskSize, *, n_splits: int = PROTOCOL_SPLITS
    ) -> np.ndarray:
        """Predicted seconds of each configuration under ``n_splits``-fold CV on ``size``.

        ``n_splits=1`` means one 75/25 holdout fit. A configuration the model has not seen
        gets its algorithm's median offset (or the overall median for a new algorithm).
        """
        seconds: np.ndarray = np.exp(self._log_predict(configs, size, n_splits))
        corrected: np.ndarray = seconds * self._corrections(configs)
        return corrected

    def _log_predict(self, configs: Sequence[Config], size: TaskSize, n_splits: int) -> np.ndarray:
        terms = size.terms(n_splits)
        out = np.empty(len(configs))
        for i, config in enumerate(configs):
            column = self.column_.get(config)
            offset = self.offsets_[column] if column is not None else math.nan
            if not math.isfinite(offset):
                offset = self.algorithm_offset_.get(config.algorithm, self.default_offset_)
            slopes = self.slopes_.get(config.algorithm, self.default_slopes_)
            out[i] = offset + float(slopes @ terms)
        return out + math.log(_fits(n_splits))

    # -- correcting ----------------------------------------------------------------------
    def update(
        self,
        observations: Iterable[tuple[Config, float]],
        size: TaskSize,
        *,
        n_splits: int = PROTOCOL_SPLITS,
    ) -> CostModel:
        """Correct later predictions with ``(config, seconds)`` observed on a task of ``size``.

        Each observation adds its log ratio observed/predicted (against the uncorrected
        model, so repeated updates pool their evidence). Predictions are multiplied by the
        shrunk geometric mean ratio: over every observation (the machine is faster or
        slower than the one that built the base) and, on top, over its algorithm's own.
        Returns ``self``.
        """
        pairs = [(c, float(s)) for c, s in observations]
        bad = [s for _, s in pairs if not (math.isfinite(s) and s >= 0)]
        if bad:
            raise ValueError(f"observed seconds must be finite and >= 0, got {bad[:3]}.")
        if not pairs:
            return self
        predicted = self._log_predict([c for c, _ in pairs], size, n_splits)
        for (config, seconds), log_pred in zip(pairs, predicted, strict=True):
            ratio = math.log(max(seconds, MIN_SECONDS)) - log_pred
            self.observed_.setdefault(config.algorithm, []).append(ratio)
        return self

    def with_observations(
        self,
        observations: Iterable[tuple[Config, float]],
        size: TaskSize,
        *,
        n_splits: int = PROTOCOL_SPLITS,
    ) -> CostModel:
        """A copy corrected by ``observations`` as :meth:`update` would; ``self`` is unchanged.

        For a model shared by many fits (a learner fitted once per knowledge base): each
        fit corrects its own copy with the times it measured, the shared one stays clean.
        """
        corrected = copy.copy(self)
        corrected.observed_ = {a: list(ratios) for a, ratios in self.observed_.items()}
        return corrected.update(observations, size, n_splits=n_splits)

    def _corrections(self, configs: Sequence[Config]) -> np.ndarray:
        if not self.observed_:
            return np.ones(len(configs))
        every = [r for ratios in self.observed_.values() for r in ratios]
        machine = sum(every) / (len(every) + self.prior_weight)
        by_algorithm = {
            a: sum(r - machine for r in ratios) / (len(ratios) + self.prior_weight)
            for a, ratios in self.observed_.items()
        }
        return np.exp([machine + by_algorithm.get(c.algorithm, 0.0) for c in configs])

    def explain(self, algorithm: str) -> dict[str, float]:
        """The slopes of ``algorithm``: how its log time grows with each size term."""
        slopes = self.slopes_.get(algorithm, self.default_slopes_)
        return dict(zip(SIZE_TERMS, map(float, slopes), strict=True))


def _fixed_effects(log_time: np.ndarray, terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shared slopes and per-column offsets of ``log_time ~ offset[col] + terms @ slopes``.

    Least squares with one free offset per column: centre every column's known cells and
    their size terms on their means, regress the centred times on the centred terms (a
    small ridge keeps a term that does not vary, like classes in regression, at zero),
    then each offset is its column's mean residual. The rows slope is kept >= 0.
    """
    known = np.isfinite(log_time)
    counts = known.sum(axis=0)
    y = np.where(known, log_time, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        y_mean = y.sum(axis=0) / counts  # NaN for an empty column
        x_mean = (known.T.astype(float) @ terms) / counts[:, None]  # columns x terms
    rows, cols = np.nonzero(known)
    if len(rows) == 0:
        return np.zeros(terms.shape[1]), np.full(log_time.shape[1], np.nan)
    xc = terms[rows] - x_mean[cols]
    yc = log_time[rows, cols] - y_mean[cols]
    slopes = _ridge(xc, yc)
    if slopes[0] < 0:  # predictions must not fall with more rows
        slopes = np.concatenate([[0.0], _ridge(xc[:, 1:], yc)])
    offsets = y_mean - x_mean @ slopes
    return slopes, offsets


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float = 1e-3) -> np.ndarray:
    # alpha times the cell count: x.T @ x grows with it, so the ridge keeps the same pull.
    gram = x.T @ x + alpha * len(y) * np.eye(x.shape[1])
    result: np.ndarray = np.linalg.solve(gram, x.T @ y)
    return result


def timing_table(
    knowledge: KnowledgeView, kind: TaskKind | None = None
) -> tuple[list[Config], list[TaskSize], np.ndarray]:
    """(configurations, task sizes, seconds) of ``knowledge``'s tasks of ``kind`` (or all).

    A cell holds the stored ``fit_time`` of an ``ok`` or ``capped`` evaluation (a capped
    one ran that long before it was stopped), NaN otherwise. When the base's score table
    carries its fit times (autometa's knowledge bases keep them with the table, once per
    content), rows and columns are the score table's; otherwise every evaluation is read
    and rows follow ``knowledge.tasks(kind)``, columns every configuration evaluated.
    """
    records = knowledge.tasks(kind)
    max_rows = measured_rows(knowledge)
    table = knowledge.score_table(kind)
    if table.fit_times is not None:
        record_of = {r.task_id: r for r in records}
        sizes = [TaskSize.evaluated(record_of[t], max_rows) for t in table.task_ids]
        return list(table.configs), sizes, np.array(table.fit_times, dtype=float)
    row_of = {r.task_id: i for i, r in enumerate(records)}
    evaluations = [
        e
        for e in knowledge.evaluations(kind=kind)
        if e.status != "failed" and e.fit_time is not None and e.task_id in row_of
    ]
    configs = sorted({e.config for e in evaluations}, key=lambda c: c.key)
    col_of = {c: j for j, c in enumerate(configs)}
    times = np.full((len(records), len(configs)), np.nan)
    for e in evaluations:
        times[row_of[e.task_id], col_of[e.config]] = e.fit_time
    return configs, [TaskSize.evaluated(r, max_rows) for r in records], times


def measured_rows(knowledge: KnowledgeView) -> int:
    """Rows the knowledge base's tasks were subsampled to when their scores and times
    were measured (its build protocol; :data:`PROTOCOL_MAX_ROWS` when it does not say)."""
    protocol = knowledge.metadata().get("build", {}).get("protocol", {})
    value = protocol.get("max_rows", PROTOCOL_MAX_ROWS) if isinstance(protocol, dict) else 0
    return int(value) if isinstance(value, int) and value > 0 else PROTOCOL_MAX_ROWS


def cost_aware_cover(
    regret: np.ndarray,
    seconds: np.ndarray,
    size: int,
    *,
    budget: float | None = None,
    weights: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
    cost_exponent: float = 1.0,
    after: Sequence[int] = (),
    spent: float | None = None,
) -> list[tuple[int, float]]:
    """Columns of ``regret`` picked greedily by regret reduction per expected second.

    ``regret`` is earlier tasks x configurations in [0, 1]; ``seconds`` the expected
    seconds of each configuration on the new task. Each step adds the column with the
    largest ``(mean best-so-far regret now - after adding it) / seconds`` (weighted by
    ``weights``), among those that still fit in what is left of ``budget``; once none
    fits (or with ``budget=None``, never) every remaining column competes. A column that
    lowers nothing is ordered by its mean regret per second, so the tail stays cheap and
    good first. Returns ``(column, weighted best-so-far regret after it)`` pairs; ties
    go to the earliest column, so the result is deterministic. ``after`` continues an
    earlier cover: those columns count as picked already, and their seconds as spent unless
    ``spent`` gives the seconds spent so far (measured, in a running search).
    """
    n_tasks, n_configs = regret.shape
    seconds = np.maximum(np.asarray(seconds, dtype=float), MIN_SECONDS)
    cost = seconds**cost_exponent
    if seconds.shape != (n_configs,):
        raise ValueError(f"seconds has shape {seconds.shape}, expected ({n_configs},).")
    weights = np.full(n_tasks, 1.0 / max(n_tasks, 1)) if weights is None else weights
    remaining = np.ones(n_configs, dtype=bool) if allowed is None else allowed.copy()
    remaining[list(after)] = False
    best_so_far = regret[:, list(after)].min(axis=1, initial=1.0)
    quality = 1.0 - weights @ regret  # tie-breaker once nothing lowers the regret
    elapsed = float(seconds[list(after)].sum()) if spent is None else spent
    picked: list[tuple[int, float]] = []
    while len(picked) < size and remaining.any():
        current = float(weights @ best_so_far)
        lowered = weights @ np.minimum(best_so_far[:, None], regret)
        gain = (current - lowered) / cost
        if not (gain[remaining] > 1e-12).any():
            # No column lowers the regret now: rank by quality per second, below any real gain.
            gain = 1e-12 * quality / cost
        fits = remaining if budget is None else remaining & (elapsed + seconds <= budget)
        gain = np.where(fits if fits.any() else remaining, gain, -np.inf)
        column = int(np.argmax(gain))
        remaining[column] = False
        elapsed += float(seconds[column])
        best_so_far = np.minimum(best_so_far, regret[:, column])
        picked.append((column, float(lowered[column])))
    return picked
