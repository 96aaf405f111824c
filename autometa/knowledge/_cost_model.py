"""How far the cost model's predictions are from the stored times of held-out tasks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autometa.contract._cost import MIN_SECONDS, CostModel, TaskSize
from autometa.contract._types import Config


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
) -> CostModelError:
    """Fit on the other tasks, predict each held-out task's stored times, and compare.

    ``n_folds`` None holds out one task at a time; otherwise tasks are split into that
    many interleaved folds. Cells below ``min_seconds`` are left out of the measure (the
    stored times are rounded to milliseconds, so the smallest ratios are mostly noise).
    """
    times = np.asarray(times, dtype=float)
    n_tasks = len(sizes)
    folds = n_tasks if n_folds is None else max(2, min(n_folds, n_tasks))
    predicted = np.full(times.shape, np.nan)
    for fold in range(folds):
        test = np.arange(fold, n_tasks, folds)
        train = np.setdiff1d(np.arange(n_tasks), test)
        model = CostModel().fit_table(configs, [sizes[i] for i in train], times[train])
        for i in test.tolist():
            predicted[i] = model.predict(configs, sizes[i])
    keep = np.isfinite(times) & (times >= max(min_seconds, MIN_SECONDS))
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
