"""How far the cost model's predictions are from the stored times of held-out tasks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from autometa.contract._cost import MIN_SECONDS, CostModel, TaskSize, timing_table
from autometa.contract._types import Config

if TYPE_CHECKING:
    from autometa.knowledge._base import KnowledgeBase


@dataclass(frozen=True)
class CostModelError:
    """How far predictions on held-out tasks were from the stored times."""

    n_cells: int
    median_ratio: float
    """Median of predicted/observed seconds (1 is unbiased)."""
    within_2x: float
    """Share of cells predicted within a factor of 2 of the observed seconds."""
    by_algorithm: dict[str, tuple[float, float]]
    """(median ratio, share within 2x) per algorithm."""

    def table(self) -> str:
        rows = [
            f"{'algorithm':<24} {'median pred/obs':>15} {'within 2x':>10}",
            f"{'all (' + str(self.n_cells) + ' cells)':<24} "
            f"{self.median_ratio:>15.3f} {self.within_2x:>10.1%}",
        ]
        for name, (ratio, share) in sorted(self.by_algorithm.items()):
            rows.append(f"{name:<24} {ratio:>15.3f} {share:>10.1%}")
        return "\n".join(rows)


def cost_model_error(
    configs: Sequence[Config],
    sizes: Sequence[TaskSize],
    times: np.ndarray,
    *,
    n_folds: int | None = None,
    min_seconds: float = 0.0,
    observed: int = 0,
    set_aside: int | None = None,
    random_state: int = 0,
) -> CostModelError:
    """Fit on the other tasks, predict each held-out task's stored times, and compare.

    ``n_folds`` None holds out one task at a time; otherwise tasks are split into that
    many interleaved folds. Cells below ``min_seconds`` are left out of the measure (the
    stored times are rounded to milliseconds, so the smallest ratios are mostly noise).

    ``observed`` > 0 measures the model as a running fit uses it: each held-out task's
    predictions are first corrected (:meth:`CostModel.with_observations`) by that many of
    its own stored times, drawn at random (``random_state``) as a search's first trials
    would be measured. ``set_aside`` cells per task (default ``observed``) are drawn and
    left out of the measure, so runs with different ``observed`` and the same
    ``set_aside`` are judged on the same cells.
    """
    times = np.asarray(times, dtype=float)
    set_aside = observed if set_aside is None else set_aside
    if not 0 <= observed <= set_aside:
        raise ValueError(f"need 0 <= observed <= set_aside, got {observed} and {set_aside}.")
    n_tasks = len(sizes)
    folds = n_tasks if n_folds is None else max(2, min(n_folds, n_tasks))
    predicted = np.full(times.shape, np.nan)
    aside = np.zeros(times.shape, dtype=bool)
    rng = np.random.default_rng(random_state)
    for fold in range(folds):
        test = np.arange(fold, n_tasks, folds)
        train = np.setdiff1d(np.arange(n_tasks), test)
        model = CostModel().fit_table(configs, [sizes[i] for i in train], times[train])
        for i in test.tolist():
            known = np.flatnonzero(np.isfinite(times[i]) & (times[i] >= 0))
            drawn = rng.permutation(known)[:set_aside]
            aside[i, drawn] = True
            seen = [(configs[j], float(times[i, j])) for j in drawn[:observed]]
            task_model = model.with_observations(seen, sizes[i]) if seen else model
            predicted[i] = task_model.predict(configs, sizes[i])
    keep = np.isfinite(times) & (times >= max(min_seconds, MIN_SECONDS)) & ~aside
    ratio = predicted[keep] / times[keep]
    algorithms = np.array([c.algorithm for c in configs])
    per_cell_algorithm = np.broadcast_to(algorithms, times.shape)[keep]
    by_algorithm = {
        a: (
            float(np.median(ratio[per_cell_algorithm == a])),
            _within(ratio[per_cell_algorithm == a]),
        )
        for a in sorted(set(per_cell_algorithm))
    }
    return CostModelError(int(keep.sum()), float(np.median(ratio)), _within(ratio), by_algorithm)


def _within(ratio: np.ndarray, factor: float = 2.0) -> float:
    return float(np.mean((ratio <= factor) & (ratio >= 1 / factor))) if len(ratio) else math.nan


def cost_model_report(knowledge: KnowledgeBase, observed: Sequence[int], random_state: int) -> str:
    """The cost model's error on ``knowledge``'s held-out tasks, one table per number of
    the held-out task's own times it is first corrected by (all judged on the same
    cells: the largest number's draw is left out of every table)."""
    table = timing_table(knowledge)
    parts = []
    for k in observed:
        error = cost_model_error(
            *table, observed=k, set_aside=max(observed), random_state=random_state
        )
        times = f", corrected by {k} of its own times" if k else ""
        parts.append(f"cost model, one task held out at a time{times}:\n{error.table()}")
    return "\n\n".join(parts)
