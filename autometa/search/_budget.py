"""A search's budget and what it evaluated: when to stop, and the time a refit will take."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from autometa.contract._task import Task
from autometa.contract._types import Evaluation


@dataclass(frozen=True)
class Budget:
    """When the search must stop: after ``n_trials`` new trials or at ``deadline``.

    ``n_trials`` counts the trials of this search only; ``autometa.fit`` subtracts those
    an earlier process already finished in a resumed study.
    """

    n_trials: int | None
    deadline: float | None
    """Absolute ``time.monotonic()`` value by which the whole fit, refit included, ends."""
    timeout: float | None = None
    """The fit's whole time budget in seconds, when it has one (shares are taken of it)."""

    def seconds_left(self) -> float:
        return math.inf if self.deadline is None else self.deadline - time.monotonic()


@dataclass
class SearchOutcome:
    """Evaluations of this search, in the order they were told to the study."""

    evaluations: list[Evaluation]
    trial_numbers: list[int]
    lost: list[int] = field(default_factory=list)
    """Trials another process took from this one while it ran them (see
    :mod:`autometa.search._leases`): their results were dropped, not told."""

    def best(self) -> Evaluation | None:
        ok = [e for e in self.evaluations if e.ok]
        return max(ok, key=lambda e: e.score) if ok else None


def estimated_refit_seconds(evaluation: Evaluation, task: Task) -> float:
    """Time a fit on all rows will take, from the mean time of one CV fold."""
    per_fold = evaluation.fit_time / max(task.n_splits, 1)
    return per_fold * task.n_rows / max(task.fold_train_size(), 1)
