"""A search's budget and what it evaluated: when to stop, the time a refit will take, and
the time a trial started now may run."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from autometa.contract._task import Task
from autometa.contract._types import Evaluation

MIN_TRIAL_TIME_S = 0.5
"""A trial is not started with less time than this left."""

ENSEMBLE_SELECTION_RESERVE_S = 1.0
"""Seconds kept for ensemble selection when the time for an ensemble is reserved."""

ENSEMBLE_REFIT_SHARE = 0.1
"""At most this share of a fit's timeout is kept for refitting ensemble members beyond
the best configuration (whose refit is always kept)."""


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


def refit_ratio(task: Task) -> float:
    """Seconds a fit on all rows takes per second of one evaluation: one fold's share of
    the evaluation, scaled from a fold's training rows to all rows."""
    return task.n_rows / (max(task.n_splits, 1) * max(task.fold_train_size(), 1))


def estimated_refit_seconds(evaluation: Evaluation, task: Task) -> float:
    """Time a fit on all rows will take, from the mean time of one CV fold."""
    return evaluation.fit_time * refit_ratio(task)


def best_few(evaluations: Sequence[Evaluation], n: int) -> list[Evaluation]:
    """The ``n`` best successful evaluations, best first."""
    return sorted((e for e in evaluations if e.ok), key=lambda e: -e.score)[: max(n, 1)]


def trial_seconds(
    budget: Budget, task: Task, best: Sequence[Evaluation], reserved_refits: int
) -> float:
    """Seconds a trial started now may run: what is left after the final refits, and no
    more than leaves time for the trial's own refit, should it win.

    The time kept is 1.5 times the estimated refit of the best configuration so far
    (``best``, best first), plus half a second; with an ensemble (``reserved_refits >
    1``), also 1.5 times the refits of the next best (at most
    :data:`ENSEMBLE_REFIT_SHARE` of the timeout: members the time left cannot refit are
    dropped, the search is not starved for them) and the selection's time.

    A trial of ``t`` seconds predicts a refit of about ``r * t`` (``r`` is
    :func:`refit_ratio`), kept 1.5 times too, so ``t <= (seconds left - 0.5)
    / (1 + 1.5 r)``: a third of the time left for a 75/25 holdout, 73% of it for 5-fold
    CV. Without that bound a trial started early, while a cheap configuration led, could
    run into the time a slower winner's refit needs.
    """
    left = budget.seconds_left()
    own_refit = (left - 0.5) / (1 + 1.5 * refit_ratio(task))
    if not best:
        return min(left, own_refit)
    refits = [estimated_refit_seconds(e, task) for e in best]
    reserve = 1.5 * refits[0] + 0.5
    if reserved_refits > 1:
        members = 1.5 * sum(refits[1:])
        if budget.timeout is not None:
            members = min(members, ENSEMBLE_REFIT_SHARE * budget.timeout)
        reserve += members + ENSEMBLE_SELECTION_RESERVE_S
    return min(left - reserve, own_refit)
