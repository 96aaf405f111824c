"""After the search: the model to predict with, an ensemble of the kept trials or the
single best configuration refitted on all rows, in the time the budget leaves."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from sklearn.base import BaseEstimator

from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Config, Evaluation
from autometa.search._budget import Budget, estimated_refit_seconds
from autometa.search._ensemble import PredictionStore
from autometa.search._ensemble_model import (
    EnsembleSummary,
    build_ensemble,
    n_successful_configs,
    no_ensemble_summary,
)
from autometa.search._errors import AllTrialsFailedError, BudgetTooSmallError
from autometa.search._evaluation import fit_with_limit
from autometa.search._limits import MEMORY_CAPPED, TrialTimeLimitExceeded
from autometa.search._weights import training_weights

logger = logging.getLogger(__name__)

REFIT_MIN_LIMIT_S = 1.0
"""A limited refit always gets at least this long, even when the budget is spent."""


def check_outcome(evaluations: list[Evaluation], timeout: float | None) -> None:
    """Refuse a search that left no successful evaluation, saying why."""
    if any(e.ok for e in evaluations):
        return
    if not evaluations or all(e.status == "capped" for e in evaluations):
        by_memory = sum(1 for e in evaluations if MEMORY_CAPPED in (e.error or ""))
        if by_memory == len(evaluations) > 0:
            raise BudgetTooSmallError(
                f"Every configuration ({by_memory}) {MEMORY_CAPPED} before it finished. "
                "Raise memory_limit (MB per trial), run fewer trials at once (n_jobs), or "
                "subsample the data."
            )
        memory = f", {by_memory} by the memory limit" if by_memory else ""
        raise BudgetTooSmallError(
            f"timeout={timeout}s was too small to evaluate even one configuration "
            f"({len(evaluations) - by_memory} stopped by the time limit{memory}). Increase "
            "timeout, or subsample the data for a first look."
        )
    errors = sorted({e.error or "" for e in evaluations if e.status == "failed"})
    raise AllTrialsFailedError(
        f"All {len(evaluations)} configurations failed; distinct errors:\n  "
        + "\n  ".join(errors[:10])
    )


def ensemble_or_refit(
    task: Task,
    algorithms: Mapping[str, Algorithm],
    evaluations: list[Evaluation],
    budget: Budget,
    store: PredictionStore | None,
    ensemble_size: int,
) -> tuple[Evaluation, BaseEstimator, EnsembleSummary | None]:
    """The model to predict with: an ensemble of the kept trials, or the single best.

    Without an ensemble (no ``store``), or when no member could be refitted, the best
    configuration is refitted alone (:func:`refit_best`), skipping those whose refit
    already failed. The returned evaluation is the best-scoring configuration that did
    not fail to refit (``best_config_``).
    """
    if store is None:
        best, model = refit_best(task, algorithms, evaluations, budget)
        return best, model, None
    if store.capacity == 0 or not store.offered:
        reason = (
            f"one trial's predictions take {store.bytes_per_trial / 2**20:.2g} MB, more "
            f"than ensemble_memory_limit={store.memory_limit_mb:g} MB: no ensemble"
            if store.capacity == 0
            else "no trial of this fit has predictions (a resumed durable study whose "
            "trials ran in other processes, or estimators that could not predict)"
        )
        summary = no_ensemble_summary(task.scoring, reason, n_successful_configs(evaluations))
        best, model = refit_best(task, algorithms, evaluations, budget)
        return best, model, summary
    built = build_ensemble(
        task,
        algorithms,
        store,
        evaluations,
        size=ensemble_size,
        budget=budget,
        min_first_limit_s=REFIT_MIN_LIMIT_S,
    )
    if built.model is None:
        best, model = refit_best(task, algorithms, evaluations, budget, exclude=built.failed)
        return best, model, built.summary
    refitted = [e for e in evaluations if e.ok and e.config not in built.failed]
    best = max(refitted, key=lambda e: e.score)
    return best, built.model, built.summary


def refit_best(
    task: Task,
    algorithms: Mapping[str, Algorithm],
    evaluations: list[Evaluation],
    budget: Budget,
    exclude: frozenset[Config] = frozenset(),
) -> tuple[Evaluation, BaseEstimator]:
    """Refit on all rows the best configuration that the time left allows.

    Candidates are the ten best whose estimated refit fits in the time left, each
    limited to that time; the last resort is the fastest configuration that worked,
    without a limit, because a model delivered slightly late beats a failed fit.
    Configurations in ``exclude`` (their refit failed already) are not tried. The
    refit uses the task's weights (:func:`~autometa.search._weights.training_weights`).
    """
    ranked = sorted(
        (e for e in evaluations if e.ok and e.config not in exclude), key=lambda e: -e.score
    )
    if not ranked:
        raise AllTrialsFailedError(
            f"No configuration could be refitted on all rows: {len(exclude)} were tried and failed."
        )
    left = budget.seconds_left()
    affordable = [e for e in ranked[:10] if estimated_refit_seconds(e, task) <= left]
    fastest = min(ranked, key=lambda e: estimated_refit_seconds(e, task))
    attempts: list[tuple[Evaluation, bool]] = [(e, True) for e in affordable]
    attempts.append((fastest, False))
    errors = []
    weights = training_weights(task)
    for evaluation, limited in attempts:
        estimator = algorithms[evaluation.config.algorithm].make_estimator(
            evaluation.config.params, task
        )
        left = budget.seconds_left()
        limit = max(left, REFIT_MIN_LIMIT_S) if limited and math.isfinite(left) else None
        try:
            return evaluation, fit_with_limit(estimator, task.X, task.y, limit, weights)
        except (Exception, TrialTimeLimitExceeded) as exc:  # try the next one
            errors.append(f"{evaluation.config}: {type(exc).__name__}: {exc}")
            logger.warning("refit failed (%s); trying the next configuration", errors[-1])
    raise AllTrialsFailedError(
        "No configuration could be refitted on all rows:\n  " + "\n  ".join(errors)
    )
