"""Evaluate one configuration on one task with cross-validation, within a time limit.

This is the code that runs inside joblib workers, both for a search and for the
knowledge-base builder, so every score in autometa comes from the same protocol. It
never raises for a failing estimator: the outcome says ``ok``, ``failed`` (with the
error) or ``capped`` (the time limit stopped it).
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import get_scorer

Status = Literal["ok", "failed", "capped"]
Splits = Sequence[tuple[np.ndarray, np.ndarray]]


class TrialTimeLimitExceeded(Exception):
    """Raised inside a worker when a configuration runs past its time limit."""


@dataclass(frozen=True)
class CVOutcome:
    """Scores of one configuration: mean over folds (greater is better) and timing."""

    score: float
    fit_time: float
    status: Status
    error: str | None = None
    fold_scores: tuple[float, ...] = field(default=())


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block with :class:`TrialTimeLimitExceeded` after ``seconds``.

    Uses an interval timer, so it works only in a process's main thread (the case for
    loky workers and sequential runs); elsewhere it is a no-op and the caller's hard
    timeout (joblib's) is the only guard. Long stretches of C code without returning to
    Python are interrupted when they return.
    """
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    assert seconds is not None

    def _raise(signum: int, frame: FrameType | None) -> None:
        raise TrialTimeLimitExceeded(f"time limit of {seconds:.1f}s exceeded")

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def cross_validate_config(
    estimator: BaseEstimator,
    X: pd.DataFrame,
    y: np.ndarray,
    splits: Splits,
    scoring: str,
    time_limit_s: float | None = None,
) -> CVOutcome:
    """Fit and score ``estimator`` on every split; stop early when time runs out.

    After each fold the time the remaining folds will take is projected from the
    folds so far; when it would pass ``time_limit_s`` the configuration is reported as
    ``capped`` without spending that time, so a doomed trial costs one fold, not all.
    """
    scorer = get_scorer(scoring)
    started = time.perf_counter()
    fold_scores: list[float] = []
    try:
        with warnings.catch_warnings(), time_limit(time_limit_s):
            # Convergence and numerical warnings of individual trials are expected
            # while searching; the trial's score already says how it went.
            warnings.simplefilter("ignore")
            for train, valid in splits:
                model = clone(estimator)
                model.fit(X.iloc[train], y[train])
                fold_scores.append(float(scorer(model, X.iloc[valid], y[valid])))
                elapsed = time.perf_counter() - started
                remaining_folds = len(splits) - len(fold_scores)
                projected = elapsed + remaining_folds * elapsed / len(fold_scores)
                if remaining_folds and time_limit_s is not None and projected > time_limit_s:
                    return CVOutcome(
                        float("nan"),
                        elapsed,
                        "capped",
                        f"projected {projected:.1f}s for all folds exceeds the "
                        f"{time_limit_s:.1f}s limit",
                        tuple(fold_scores),
                    )
    except TrialTimeLimitExceeded as exc:
        return _outcome_from_error("capped", started, str(exc), fold_scores)
    except MemoryError:
        return _outcome_from_error("failed", started, "MemoryError: out of memory", fold_scores)
    except Exception as exc:  # any estimator error becomes a failed trial, not a crash
        return _outcome_from_error("failed", started, describe_error(exc), fold_scores)
    score = float(np.mean(fold_scores))
    if not np.isfinite(score):
        return CVOutcome(
            float("nan"),
            time.perf_counter() - started,
            "failed",
            f"non-finite score {score} from folds {fold_scores}",
            tuple(fold_scores),
        )
    return CVOutcome(score, time.perf_counter() - started, "ok", None, tuple(fold_scores))


def fit_with_limit(
    estimator: BaseEstimator, X: pd.DataFrame, y: np.ndarray, time_limit_s: float | None
) -> BaseEstimator:
    """Fit a clone of ``estimator`` on all rows; raise TrialTimeLimitExceeded if too slow."""
    model = clone(estimator)
    with warnings.catch_warnings(), time_limit(time_limit_s):
        warnings.simplefilter("ignore")
        model.fit(X, y)
    return model


def _outcome_from_error(
    status: Status, started: float, error: str, fold_scores: list[float]
) -> CVOutcome:
    return CVOutcome(float("nan"), time.perf_counter() - started, status, error, tuple(fold_scores))


def describe_error(exc: BaseException) -> str:
    """``Type: message`` plus the innermost frame, enough to find the failing code."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}{where}"[:2000]
