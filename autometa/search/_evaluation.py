"""Evaluate one configuration on one task with cross-validation, within limits.

This is the code that runs inside joblib workers, both for a search and for the
knowledge-base builder, so every score in autometa comes from the same protocol. It
never raises for a failing estimator: the outcome says ``ok``, ``failed`` (with the
error), ``capped`` (a time or memory limit stopped it, see
:mod:`autometa.search._limits`) or ``pruned`` (the study's pruner stopped it after some
steps, see :mod:`autometa.search._pruning`).

A configuration is evaluated in steps: the splits' folds, preceded for a holdout with
row fidelities by fits on subsamples of its training rows (``rungs``), each scored on
the holdout's validation rows. The score is the mean over the splits; the cheaper steps
only decide whether the trial goes on.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import traceback
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from autometa.contract._task_checks import scorer_for
from autometa.contract._types import EvaluationStatus
from autometa.search._limits import MEMORY_CAPPED, TrialTimeLimitExceeded, memory_cap, time_limit
from autometa.search._out_of_fold import OutOfFold, Splits
from autometa.search._weights import RowWeights, fit_estimator, score_estimator

if TYPE_CHECKING:  # a worker imports Optuna only when it is handed a pruner
    from autometa.search._pruning import PruningSnapshot


TIME_USED_BEFORE_START = "its time ran out before a worker could start it"
"""The error of a trial whose deadline passed while it waited for a worker."""


@dataclass(frozen=True)
class CVOutcome:
    """Scores of one configuration: mean over folds (greater is better) and timing."""

    score: float
    fit_time: float
    status: EvaluationStatus
    error: str | None = None
    fold_scores: tuple[float, ...] = field(default=())
    step_scores: tuple[float, ...] = field(default=())
    """Every step's score, cheaper fidelities first: what is reported to the trial as its
    intermediate values. The fold scores are its last ``len(splits)`` steps."""
    predictions: np.ndarray | None = field(default=None, compare=False, repr=False)
    """Out-of-fold predictions for :func:`validation_rows` (float32), when asked for.

    Class probabilities (one column per class of the task, in the task's order) for a
    classifier, values for a regressor; None when not asked for, when the trial did not
    succeed, or when the estimator could not predict them (the trial still counts)."""


# -- one configuration ---------------------------------------------------------------------
def cross_validate_config(
    estimator: BaseEstimator,
    X: pd.DataFrame,
    y: np.ndarray,
    splits: Splits,
    scoring: str,
    time_limit_s: float | None = None,
    memory_limit_mb: float | None = None,
    *,
    keep_predictions: bool = False,
    classes: np.ndarray | None = None,
    weights: RowWeights | None = None,
    rungs: Splits = (),
    pruning: PruningSnapshot | None = None,
) -> CVOutcome:
    """Fit and score ``estimator`` on every split; stop early when time runs out.

    After each step the time the remaining steps will take is projected from the steps
    so far (:func:`_projected_seconds`); when it would pass ``time_limit_s`` the
    configuration is reported as ``capped`` without spending that time, so a doomed
    trial costs one fold (or two cheap fidelities), not all.

    ``rungs`` are cheaper splits (a holdout's row fidelities: subsamples of its training
    rows, scored on a bounded part of its validation rows) evaluated before ``splits``.
    The outcome's ``fit_time`` is then the time of ``splits`` alone when the trial
    completes: what the configuration costs under the task's validation, from which its
    refit is estimated; a trial stopped early has its total time. With ``pruning`` (see
    :mod:`autometa.search._pruning`) each step's score is reported to a replica of the
    study and its pruner may stop the trial: ``pruned``, with the step scores so far.

    With ``memory_limit_mb`` (see :func:`memory_cap`), a ``MemoryError`` makes the
    trial ``capped`` with the limit in its reason; without one it is ``failed``. An
    estimator calling ``sys.exit`` fails its trial rather than ending the process.

    With ``keep_predictions``, each fold's model also predicts its validation rows (see
    :func:`~autometa.search._out_of_fold.predict_for_ensemble`; ``classes`` are the
    task's classes, None for a regression) and a successful outcome carries them as
    float32, for ensemble selection. The score is computed as without them, by the
    scorer on the model.

    With ``weights`` each fold's model is fitted with its training rows' weights and
    scored with its validation rows' (:class:`~autometa.search._weights.RowWeights`).
    """
    scorer = scorer_for(scoring, classes)
    started = time.perf_counter()
    steps = _steps(splits, rungs)
    step_seconds: list[float] = []
    step_scores: list[float] = []
    fold_scores: list[float] = []
    oof = OutOfFold(splits, classes) if keep_predictions else None
    judge = None if pruning is None else pruning.judge()
    try:
        # The memory cap is outermost so that it is restored after the timer is disarmed:
        # a late alarm can then never interrupt the restore.
        with memory_cap(memory_limit_mb), warnings.catch_warnings(), time_limit(time_limit_s):
            # Convergence and numerical warnings of individual trials are expected
            # while searching; the trial's score already says how it went.
            warnings.simplefilter("ignore")
            for number, (train, valid, is_fold) in enumerate(steps):
                step_started = time.perf_counter()
                model = clone(estimator)
                fit_weights = None if weights is None else weights.for_fit(y, train)
                fit_estimator(model, X.iloc[train], y[train], fit_weights)
                score_weights = None if weights is None else weights.for_score(valid)
                score = score_estimator(scorer, model, X.iloc[valid], y[valid], score_weights)
                step_scores.append(score)
                if is_fold:
                    fold_scores.append(score)
                    if oof is not None:
                        oof.add(model, X.iloc[valid], valid)
                del model  # a step's model is not kept while the next one fits
                step_seconds.append(time.perf_counter() - step_started)
                elapsed = time.perf_counter() - started
                last = number + 1 == len(steps)
                if judge is not None and not last and judge.should_prune(number, score):
                    return CVOutcome(
                        float("nan"),
                        elapsed,
                        "pruned",
                        f"pruned after step {number + 1} of {len(steps)}",
                        tuple(fold_scores),
                        tuple(step_scores),
                    )
                projected = elapsed + _projected_seconds(
                    step_seconds, [len(t) for t, _, _ in steps]
                )
                if not last and time_limit_s is not None and projected > time_limit_s:
                    return CVOutcome(
                        float("nan"),
                        elapsed,
                        "capped",
                        f"projected {projected:.1f}s for all {len(steps)} steps exceeds the "
                        f"{time_limit_s:.1f}s limit",
                        tuple(fold_scores),
                        tuple(step_scores),
                    )
    except TrialTimeLimitExceeded as exc:
        return _outcome_from_error("capped", started, str(exc), fold_scores, step_scores)
    except MemoryError as exc:
        if memory_limit_mb is None:
            return _outcome_from_error(
                "failed", started, "MemoryError: out of memory", fold_scores, step_scores
            )
        return _outcome_from_error(
            "capped",
            started,
            f"{MEMORY_CAPPED} of {memory_limit_mb:.0f} MB ({describe_error(exc)})",
            fold_scores,
            step_scores,
        )
    except SystemExit as exc:  # an estimator must not end the process that evaluates it
        reason = f"SystemExit: the estimator called sys.exit({exc.code!r})"
        return _outcome_from_error("failed", started, reason, fold_scores, step_scores)
    except Exception as exc:  # any estimator error becomes a failed trial, not a crash
        return _outcome_from_error("failed", started, describe_error(exc), fold_scores, step_scores)
    score = float(np.mean(fold_scores))
    if not np.isfinite(score):
        return CVOutcome(
            float("nan"),
            time.perf_counter() - started,
            "failed",
            f"non-finite score {score} from folds {fold_scores}",
            tuple(fold_scores),
            tuple(step_scores),
        )
    predictions = None if oof is None else oof.result()
    return CVOutcome(
        score,
        # With rungs, the splits' steps alone: what the configuration costs.
        sum(step_seconds[len(rungs) :]) if rungs else time.perf_counter() - started,
        "ok",
        None,
        tuple(fold_scores),
        tuple(step_scores),
        predictions,
    )


def _projected_seconds(done: Sequence[float], rows: Sequence[int]) -> float:
    """Seconds the steps after the ``len(done)`` done ones will take (``rows``: every
    step's training rows).

    A step of the same size as the last one takes as long. A larger one takes
    ``last * (rows ratio) ** a``, with ``a`` measured on the last two steps of different
    sizes and kept within [0.5, 1.5]: fit times grow with rows anywhere from the square
    root (fixed costs per boosting round) to more than linearly (deep trees). With one
    size measured the exponent is unknown and only steps of that size are projected:
    a boosting default that takes a second on a ninth of the rows may take three, not
    nine, on all of them, and is not stopped for it.
    """
    last_rows, last_seconds = rows[len(done) - 1], done[-1]
    exponent: float | None = None
    for earlier in range(len(done) - 2, -1, -1):
        if rows[earlier] != last_rows and done[earlier] > 0 and last_seconds > 0:
            ratio = math.log(last_seconds / done[earlier]) / math.log(last_rows / rows[earlier])
            exponent = min(max(ratio, 0.5), 1.5)
            break
    projected = 0.0
    for size in rows[len(done) :]:
        if size == last_rows:
            projected += last_seconds
        elif exponent is not None:
            projected += last_seconds * (size / last_rows) ** exponent
    return projected


def _steps(splits: Splits, rungs: Splits) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """``(train, valid, is_fold)`` for each step: the rungs, then the splits."""
    cheap = [(train, valid, False) for train, valid in rungs]
    return cheap + [(train, valid, True) for train, valid in splits]


def run_trial(
    index: int,
    deadline: float | None,
    estimator: BaseEstimator,
    X: pd.DataFrame,
    y: np.ndarray,
    splits: Splits,
    scoring: str,
    memory_limit_mb: float | None = None,
    marker_dir: str | None = None,
    keep_predictions: bool = False,
    classes: np.ndarray | None = None,
    weights: RowWeights | None = None,
    rungs: Splits = (),
    pruning: PruningSnapshot | None = None,
) -> tuple[int, CVOutcome]:
    """Worker entry point of a search: evaluate until the wall-clock ``deadline``.

    Returns the result tagged with ``index`` (the trial's number). A deadline rather than a
    duration makes the time spent starting a worker or shipping data count too. With
    ``marker_dir`` (a folder the caller made on this machine), the worker leaves a
    marker naming its process while the trial runs, so the caller can stop this process
    if the trial hangs where no signal reaches it (see ``autometa.search._watchdog``).
    ``keep_predictions``, ``classes``, ``weights``, ``rungs`` and ``pruning`` are
    :func:`cross_validate_config`'s. This module is imported by every new worker, so it
    stays free of Optuna (unpickling a pruning snapshot imports it) and the rest of autometa.
    """
    if deadline is not None and deadline <= time.time():
        # Waiting for a worker (a new pool, on a busy machine) used up the trial's time: say so,
        # rather than start a fit only to stop it at once.
        return index, CVOutcome(math.nan, 0.0, "capped", TIME_USED_BEFORE_START)
    marker = _leave_marker(marker_dir, index, deadline)
    try:
        limit = None if deadline is None else max(deadline - time.time(), 1e-3)
        outcome = cross_validate_config(
            estimator,
            X,
            y,
            splits,
            scoring,
            limit,
            memory_limit_mb,
            keep_predictions=keep_predictions,
            classes=classes,
            weights=weights,
            rungs=rungs,
            pruning=pruning,
        )
        return index, outcome
    finally:
        if marker is not None:
            with contextlib.suppress(OSError):
                marker.unlink()


def _leave_marker(marker_dir: str | None, index: int, deadline: float | None) -> Path | None:
    """Write ``<marker_dir>/<index>`` holding ``"<pid> <parent pid> <deadline>"``.

    The deadline is ``none`` when the trial has none. Returns None if there is no folder.
    """
    if marker_dir is None or not os.path.isdir(marker_dir):
        return None  # e.g. a worker on another machine of a cluster
    marker = Path(marker_dir) / str(index)
    partial = marker.with_name(f".{index}.partial")
    ends = "none" if deadline is None else repr(deadline)
    try:
        partial.write_text(f"{os.getpid()} {os.getppid()} {ends}")
        partial.replace(marker)  # atomic: the caller never reads half a marker
    except OSError:
        return None
    return marker


def fit_with_limit(
    estimator: BaseEstimator,
    X: pd.DataFrame,
    y: np.ndarray,
    time_limit_s: float | None,
    sample_weight: np.ndarray | None = None,
) -> BaseEstimator:
    """Fit a clone of ``estimator`` on all rows (with ``sample_weight``, routed by
    :func:`~autometa.search._weights.fit_estimator`); raise TrialTimeLimitExceeded if too
    slow."""
    model = clone(estimator)
    with warnings.catch_warnings(), time_limit(time_limit_s):
        warnings.simplefilter("ignore")
        fit_estimator(model, X, y, sample_weight)
    return model


def _outcome_from_error(
    status: EvaluationStatus,
    started: float,
    error: str,
    fold_scores: list[float],
    step_scores: list[float],
) -> CVOutcome:
    elapsed = time.perf_counter() - started
    return CVOutcome(float("nan"), elapsed, status, error, tuple(fold_scores), tuple(step_scores))


def describe_error(exc: BaseException) -> str:
    """``Type: message`` plus the innermost frame, enough to find the failing code."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}{where}"[:2000]
