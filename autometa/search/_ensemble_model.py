"""The fitted ensemble: members refitted on all rows, their weights, and what it scored.

:func:`build_ensemble` runs after the search: it selects members from the kept
out-of-fold predictions (:mod:`autometa.search._ensemble`), refits each on all rows
within the time left (a member that fails or does not fit in the time is dropped and
the weights renormalised) and returns the model to predict with: a
:class:`WeightedEnsemble`, or the one member's own estimator when only one is left
(exactly what a single refit gives).

When the fit's scoring only ranks a binary task's probabilities (ROC AUC, average
precision), the ensemble's positive-class probability is calibrated afterwards with a
monotone map fitted on the same validation predictions (:mod:`autometa.search._calibration`):
the scoring is unchanged, the log loss lowered. A single member selected from several
candidates is then calibrated too, inside a one-member :class:`WeightedEnsemble`; a
one-trial search still returns that trial's model as it is.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Config, Evaluation
from autometa.search._budget import Budget, estimated_refit_seconds
from autometa.search._calibration import PlattFit, calibrate, fit_platt, ranks_only
from autometa.search._ensemble import (
    KeptTrial,
    PredictionStore,
    score_predictions,
    select_ensemble,
    weighted_predictions,
)
from autometa.search._evaluation import fit_with_limit
from autometa.search._limits import TrialTimeLimitExceeded
from autometa.search._out_of_fold import predict_for_ensemble
from autometa.search._weights import training_weights

logger = logging.getLogger(__name__)


class WeightedEnsemble(BaseEstimator):
    """A weighted average of fitted members' predictions.

    For a classification (``classes`` given) it averages class probabilities (a member
    without ``predict_proba`` contributes one-hot labels) and predicts the most probable
    class; for a regression it averages the predicted values. Members are fitted
    estimators; nothing is learned in this object itself.

    ``calibration`` (a, b), for a binary task, maps the averaged positive-class
    probability p to sigmoid(a * logit(p) + b) with a > 0 (fitted by
    :func:`~autometa.search._calibration.fit_platt` on the validation predictions, like
    the members and weights it is given, not learned here). ``predict`` is then the most
    probable class of the calibrated probabilities, i.e. the threshold 0.5 on them.
    """

    def __init__(
        self,
        members: Sequence[Any],
        weights: Sequence[float],
        classes: np.ndarray | None = None,
        calibration: tuple[float, float] | None = None,
    ) -> None:
        self.members = members
        self.weights = weights
        self.classes = classes
        self.calibration = calibration

    def __sklearn_is_fitted__(self) -> bool:
        # check_is_fitted looks for attributes ending in _, which this class has none of; it asks
        # this method instead.
        return len(self.members) > 0

    def _average(self, X: Any) -> np.ndarray:
        if not self.members:
            raise NotFittedError("This WeightedEnsemble has no members.")
        total: np.ndarray | None = None
        for member, weight in zip(self.members, self.weights, strict=True):
            part = weight * predict_for_ensemble(member, X, self.classes)
            total = part if total is None else total + part
        assert total is not None
        return total

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.classes is None:
            raise AttributeError("a regression ensemble has no predict_proba")
        average = self._average(X)
        # getattr: an ensemble pickled before calibration existed has no such attribute.
        calibration = getattr(self, "calibration", None)
        return average if calibration is None else calibrate(average, *calibration)

    def predict(self, X: Any) -> np.ndarray:
        if self.classes is None:
            return self._average(X)
        return np.asarray(self.classes)[np.argmax(self.predict_proba(X), axis=1)]


@dataclass(frozen=True)
class EnsembleMember:
    """One member: its configuration, weight, trial and validation scores."""

    config: Config
    weight: float
    trial_number: int
    score: float
    """The trial's own score (mean over folds), as in ``evaluations_``."""
    fit_time: float


@dataclass(frozen=True)
class EnsembleSummary:
    """What ``ensemble_`` holds: the members and how the ensemble compares.

    Scores are on the validation rows' out-of-fold predictions (pooled over the folds),
    for the ensemble as refitted (weights renormalised after drops) and for the search's
    best trial with predictions (the one a fit without an ensemble refits). ``notes`` say
    what was left out and why.
    """

    members: tuple[EnsembleMember, ...]
    scoring: str
    score: float
    best_single_score: float
    best_single_config: Config | None
    n_candidates: int
    """Trials whose predictions were kept for the selection."""
    n_without_predictions: int
    """Successful configurations without predictions here: run by other processes or an
    earlier fit of a durable study, or whose estimator could not predict the validation
    rows. A repeat of a configuration (told its first trial's outcome) is not counted
    again. (Trials whose predictions the memory bound evicted are in ``notes``.)"""
    rounds: int
    dropped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    """Time the selection and the members' refits took."""
    calibration: tuple[float, float] | None = None
    """(a, b) of the calibration p' = sigmoid(a * logit(p) + b) of the positive class's
    probability, for a binary fit whose scoring only ranks; None when not calibrated."""
    calibration_log_loss: tuple[float, float] | None = None
    """Validation log loss before and after calibration, when it was tried."""

    @property
    def weights(self) -> tuple[float, ...]:
        return tuple(m.weight for m in self.members)


@dataclass(frozen=True)
class BuiltEnsemble:
    """The result of :func:`build_ensemble`; ``model`` is None when no member refitted."""

    model: Any | None
    summary: EnsembleSummary
    failed: frozenset[Config]
    """Configurations whose refit raised: a single-model fallback skips them. One stopped
    by the time limit is not among them: it may still be the fallback's last resort,
    refitted without a limit (a model delivered late beats no model)."""


def build_ensemble(
    task: Task,
    algorithms: Mapping[str, Algorithm],
    store: PredictionStore,
    evaluations: Sequence[Evaluation],
    *,
    size: int,
    budget: Budget,
    min_first_limit_s: float,
) -> BuiltEnsemble:
    """Select members from ``store``, refit them on all rows, and describe the result.

    Members are refitted in order of weight; each gets the time left (the first at least
    ``min_first_limit_s``), and one whose estimated refit does not fit in the time left
    is not tried. ``evaluations`` (all of the study's, other processes' included) only
    count the successful trials that had no predictions here. With weights, selection
    scores with the validation rows' ``sample_weight`` and members are refitted with the
    task's training weights.
    """
    started = time.monotonic()
    built = _build(task, algorithms, store, evaluations, size, budget, min_first_limit_s)
    summary = dataclasses.replace(built.summary, seconds=time.monotonic() - started)
    return dataclasses.replace(built, summary=summary)


def _build(
    task: Task,
    algorithms: Mapping[str, Algorithm],
    store: PredictionStore,
    evaluations: Sequence[Evaluation],
    size: int,
    budget: Budget,
    min_first_limit_s: float,
) -> BuiltEnsemble:
    candidates = sorted(store.kept.values(), key=lambda k: k.number)
    n_ok = n_successful_configs(evaluations)
    # max(): offered counts every trial that came with predictions, failed ones too.
    without = max(n_ok - store.offered, 0)
    notes = _notes(store, n_ok)
    y = task.y[store.rows]
    w = None if task.sample_weight is None else task.sample_weight[store.rows]
    selection = (
        select_ensemble(candidates, y, task.scoring, task.classes, size, budget.deadline, w)
        if candidates
        else None
    )
    if selection is None:
        if candidates:
            notes.append(f"no kept trial's predictions could be scored with {task.scoring}")
        summary = EnsembleSummary(
            (), task.scoring, math.nan, math.nan, None, 0, without, 0, (), tuple(notes)
        )
        return BuiltEnsemble(None, summary, frozenset())
    by_number = {c.number: c for c in candidates}
    weights = selection.weights
    # Heaviest first: when time runs out, the members left out weigh least.
    order = sorted(weights, key=lambda n: (-weights[n], n))
    fitted: dict[int, Any] = {}
    dropped: list[str] = []
    failed: set[Config] = set()
    refit_weights = training_weights(task)
    for number in order:
        evaluation = by_number[number].evaluation
        left = budget.seconds_left()
        estimate = estimated_refit_seconds(evaluation, task)
        # The first member is always tried, with at least min_first_limit_s: the fit must end with a
        # model.
        if fitted and estimate > left:
            dropped.append(
                f"{evaluation.config} (weight {weights[number]:.2f}): its refit would take "
                f"about {estimate:.1f}s, {max(left, 0):.1f}s were left"
            )
            continue
        limit = None if math.isinf(left) else (left if fitted else max(left, min_first_limit_s))
        try:
            estimator = algorithms[evaluation.config.algorithm].make_estimator(
                evaluation.config.params, task
            )
            fitted[number] = fit_with_limit(estimator, task.X, task.y, limit, refit_weights)
        except (Exception, TrialTimeLimitExceeded) as exc:  # the member is dropped
            if not isinstance(exc, TrialTimeLimitExceeded):
                failed.add(evaluation.config)
            dropped.append(
                f"{evaluation.config} (weight {weights[number]:.2f}): refit failed: "
                f"{type(exc).__name__}: {exc}"
            )
            logger.warning("ensemble member dropped: %s", dropped[-1])
    best_single = by_number[selection.best_single].evaluation.config
    if not fitted:
        summary = EnsembleSummary(
            (),
            task.scoring,
            math.nan,
            selection.best_single_score,
            best_single,
            len(candidates),
            without,
            selection.rounds,
            tuple(dropped),
            (*notes, "no member could be refitted on all rows"),
        )
        return BuiltEnsemble(None, summary, frozenset(failed))
    kept_weight = sum(weights[n] for n in fitted)
    final = {n: weights[n] / kept_weight for n in order if n in fitted}
    # After a drop the renormalised weights are another ensemble, scored again; without one the
    # selection's score is exact.
    score = (
        selection.score
        if len(final) == len(weights)
        else score_predictions(
            task.scoring, weighted_predictions(candidates, final), y, task.classes, w
        )
    )
    members = tuple(
        EnsembleMember(
            by_number[n].evaluation.config,
            w,
            n,
            by_number[n].evaluation.score,
            by_number[n].evaluation.fit_time,
        )
        for n, w in final.items()
    )
    platt = _platt(task, candidates, final, y)
    calibration = None if platt is None else platt.parameters
    if platt is not None and platt.reason is not None:
        notes.append(f"probabilities not calibrated: {platt.reason}")
    model: Any
    if len(final) == 1 and calibration is None:
        model = fitted[next(iter(final))]
    else:
        model = WeightedEnsemble(
            [fitted[n] for n in final], [final[n] for n in final], task.classes, calibration
        )
    summary = EnsembleSummary(
        members,
        task.scoring,
        score,
        selection.best_single_score,
        best_single,
        len(candidates),
        without,
        selection.rounds,
        tuple(dropped),
        tuple(notes),
        calibration=calibration,
        calibration_log_loss=None
        if platt is None
        else (platt.log_loss_before, platt.log_loss_after),
    )
    return BuiltEnsemble(model, summary, frozenset(failed))


def _platt(
    task: Task, candidates: Sequence[KeptTrial], final: dict[int, float], y: np.ndarray
) -> PlattFit | None:
    """The calibration of the final ensemble's validation predictions, when it applies.

    It applies when the scoring only ranks a binary task's probabilities and there was a
    choice (a one-trial search returns that trial's model unchanged).
    """
    if task.classes is None or not ranks_only(task.scoring, task.classes) or len(candidates) < 2:
        return None
    return fit_platt(weighted_predictions(candidates, final), y == task.classes[1])


def _notes(store: PredictionStore, n_ok: int) -> list[str]:
    """Why some successful trials are not candidates."""
    notes = []
    if store.capacity == 0:
        notes.append(
            f"one trial's predictions take {store.bytes_per_trial / 2**20:.1f} MB, more than "
            f"ensemble_memory_limit={store.memory_limit_mb:g} MB: no ensemble"
        )
    elif store.offered > len(store.kept):
        notes.append(
            f"predictions of the best {len(store.kept)} of {store.offered} trials kept "
            f"(ensemble_memory_limit={store.memory_limit_mb:g} MB, at most "
            f"{store.max_kept} trials)"
        )
    missing = n_ok - store.offered
    if missing > 0:
        notes.append(
            f"{missing} successful configurations have no predictions here (run by another process "
            "or an earlier fit of a durable study, or their estimator could not predict "
            "the validation rows)"
        )
    return notes


def n_successful_configs(evaluations: Sequence[Evaluation]) -> int:
    """Distinct configurations that succeeded: a repeat of one (told its first trial's
    outcome, :mod:`autometa.search._repeats`) has no predictions of its own to miss."""
    return len({e.config for e in evaluations if e.ok})


def no_ensemble_summary(scoring: str, reason: str, n_without: int) -> EnsembleSummary:
    """An ``ensemble_`` saying why there is no ensemble (e.g. no trial ran here)."""
    return EnsembleSummary((), scoring, math.nan, math.nan, None, 0, n_without, 0, (), (reason,))


def make_store(task: Task, rows: np.ndarray, memory_limit_mb: float) -> PredictionStore:
    """An empty store for ``task``'s validation ``rows``."""
    width = 1 if task.classes is None else len(task.classes)
    return PredictionStore(rows=rows, width=width, memory_limit_mb=memory_limit_mb)


__all__ = [
    "BuiltEnsemble",
    "EnsembleMember",
    "EnsembleSummary",
    "KeptTrial",
    "WeightedEnsemble",
    "build_ensemble",
    "make_store",
    "n_successful_configs",
    "no_ensemble_summary",
]
