"""Small real estimators that misbehave on purpose, for fault-handling tests."""

from __future__ import annotations

import ctypes
import os
import sys
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class SleepyClassifier(ClassifierMixin, BaseEstimator):
    """Predicts the majority class after sleeping ``seconds`` in fit (in short naps)."""

    def __init__(self, seconds: float = 1.0) -> None:
        self.seconds = seconds

    def fit(self, X: Any, y: Any) -> SleepyClassifier:
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            time.sleep(0.01)
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[np.argmax(counts)]
        self.prior_ = counts / counts.sum()
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.majority_)

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.tile(self.prior_, (len(X), 1))


class FailingClassifier(ClassifierMixin, BaseEstimator):
    """Raises in fit when ``fail`` is true, else behaves like a majority classifier."""

    def __init__(self, fail: bool = True) -> None:
        self.fail = fail

    def fit(self, X: Any, y: Any) -> FailingClassifier:
        if self.fail:
            raise ArithmeticError("this configuration always fails")
        self.classes_, counts = np.unique(y, return_counts=True)
        self.prior_ = counts / counts.sum()
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.classes_[np.argmax(self.prior_)])

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.tile(self.prior_, (len(X), 1))


class PredictsWithItsModel:
    """``predict`` / ``predict_proba`` of the classifier a wrapper fitted as ``model_``."""

    model_: Any

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.model_.predict(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.model_.predict_proba(X))


class FailsOnManyRows(PredictsWithItsModel, ClassifierMixin, BaseEstimator):
    """A good logistic model that refuses to fit on more than ``max_rows`` rows.

    Cross-validation (on folds) succeeds and scores well; the refit on all rows fails,
    which is what the refit fallback has to survive.
    """

    def __init__(self, max_rows: int = 200) -> None:
        self.max_rows = max_rows

    def fit(self, X: Any, y: Any) -> FailsOnManyRows:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if len(X) > self.max_rows:
            raise MemoryError(f"refusing {len(X)} rows")
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
        self.classes_ = self.model_.classes_
        return self


class _MajorityMixin:
    """Majority-class ``predict`` / prior ``predict_proba`` once fitted."""

    classes_: np.ndarray
    prior_: np.ndarray

    def _fit_majority(self, y: Any) -> None:
        self.classes_, counts = np.unique(y, return_counts=True)
        self.prior_ = counts / counts.sum()

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.classes_[np.argmax(self.prior_)])

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.tile(self.prior_, (len(X), 1))


class ExitingClassifier(_MajorityMixin, ClassifierMixin, BaseEstimator):
    """Ends its process in fit.

    ``hard=True``: ``os._exit(exit_code)``, as a crashing C extension would: no
    exception, no cleanup, no ``finally`` block runs. ``hard=False``: ``sys.exit``, which
    raises SystemExit (not an Exception) through every caller.
    """

    def __init__(self, exit_code: int = 3, hard: bool = True) -> None:
        self.exit_code = exit_code
        self.hard = hard

    def fit(self, X: Any, y: Any) -> ExitingClassifier:
        if self.hard:
            os._exit(self.exit_code)
        sys.exit(self.exit_code)


class DeadlockedClassifier(_MajorityMixin, ClassifierMixin, BaseEstimator):
    """Hangs forever in native code: locks one pthread mutex twice through ctypes.

    This is what a C library stuck on a lock looks like (e.g. OpenMP after a fork): the
    thread waits in the kernel, signals are taken by the C-level handler but the call
    never returns to Python, so a Python SIGALRM handler (and ``time.sleep``-style
    interruption) never gets to run. Only killing the process ends it. POSIX only.
    """

    def fit(self, X: Any, y: Any) -> DeadlockedClassifier:
        libc = ctypes.CDLL(None)
        mutex = ctypes.create_string_buffer(128)  # larger than any pthread_mutex_t
        libc.pthread_mutex_init(mutex, None)
        libc.pthread_mutex_lock(mutex)
        libc.pthread_mutex_lock(mutex)  # a default mutex locked again: never returns
        raise AssertionError("unreachable: the second lock returned")


class MemoryHogClassifier(_MajorityMixin, ClassifierMixin, BaseEstimator):
    """Allocates and touches ``megabytes`` of memory in 32 MB chunks during fit.

    Pages are written, so without a memory limit the memory is really used (not only
    reserved); under a limit the chunk that crosses it raises MemoryError.
    """

    def __init__(self, megabytes: int = 4096) -> None:
        self.megabytes = megabytes

    def fit(self, X: Any, y: Any) -> MemoryHogClassifier:
        chunk = 32
        held = [np.ones(chunk * 2**20, dtype=np.uint8) for _ in range(self.megabytes // chunk)]
        self.held_mb_ = chunk * len(held)
        del held
        self._fit_majority(y)
        return self


class LoggedFitsClassifier(_MajorityMixin, ClassifierMixin, BaseEstimator):
    """Predicts the majority class; appends ``label`` to the file ``log`` at every fit, so a
    test can count the fits its search ran (across worker processes too)."""

    def __init__(self, log: str = "", label: str = "") -> None:
        self.log = log
        self.label = label

    def fit(self, X: Any, y: Any) -> LoggedFitsClassifier:
        with open(self.log, "a", encoding="utf-8") as out:
            out.write(f"{self.label}\n")
        self._fit_majority(y)
        return self
