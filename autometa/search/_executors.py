"""Trial execution behind one small interface: in this process, or in joblib workers.

The search loop hands a :class:`TrialExecutor` a lazy stream of :class:`TrialCall` and
reads ``(trial number, outcome)`` pairs back as trials end, without knowing where they
ran. :func:`make_executor` picks the executor from ``n_jobs`` as joblib sees it:

- :class:`InProcessExecutor` (one job): trials run one after the other in the caller's
  process; the time and memory limits still apply (the memory limit is lifted again
  after each trial), but a configuration that ends its process ends the caller, and one
  that hangs in native code hangs it.
- :class:`JoblibExecutor` (two jobs or more): trials run in joblib's workers, processes
  with the default loky backend, a cluster's workers under
  ``joblib.parallel_config(backend="dask")``. A watchdog (:mod:`autometa.search._watchdog`)
  stops the local worker of a trial that hangs past its deadline; joblib's own timeout is
  the last resort where it cannot.
"""

from __future__ import annotations

import math
import multiprocessing
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import joblib
import numpy as np
import pandas as pd

from autometa.search._evaluation import CVOutcome, Splits, run_trial
from autometa.search._pruning import PruningSnapshot
from autometa.search._watchdog import HARD_TIMEOUT_GRACE_S, Watch, describe_worker_loss, watchdog
from autometa.search._weights import RowWeights


@dataclass(frozen=True)
class TrialData:
    """What every trial of one search shares: the data, its splits, scorer and limits."""

    X: pd.DataFrame
    y: np.ndarray
    splits: Splits
    scoring: str
    memory_limit_mb: float | None
    classes: np.ndarray | None
    weights: RowWeights | None = None
    """The task's row weights for fitting and scoring; None when every row counts the same."""
    rungs: Splits = ()
    """The cheaper splits of a holdout's row fidelities, smallest first (see
    :func:`autometa.search._evaluation.cross_validate_config`)."""


@dataclass(frozen=True)
class TrialCall:
    """One trial to run, tagged with its number; or, with ``known``, its outcome already.

    ``deadline`` is an absolute wall-clock (``time.time()``) value, not a duration, so
    time spent waiting for a worker, starting it or shipping data to it counts too.
    """

    number: int
    deadline: float | None = None
    estimator: Any = None
    keep_predictions: bool = False
    pruning: PruningSnapshot | None = None
    """The pruner and the study's finished trials, when the trial may be pruned."""
    known: CVOutcome | None = None
    """The outcome of a trial that cannot run (its estimator could not be made, or no
    time is left to retry it); executors pass it through."""


class TrialsLost(Exception):
    """The executor lost the trials still running (a worker died or never answered).

    ``outcome`` is what those trials get unless the caller runs them again: capped when
    nothing came back within the hard limit, failed (with the exit code) when a worker
    died.
    """

    def __init__(self, outcome: CVOutcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


class TrialExecutor(ABC):
    """Runs trials of one search; a context manager around the whole search.

    :meth:`results` pulls calls from the stream it is given lazily, one more each time
    a worker is free, so a slow trial holds up only its own worker, and yields each
    result as soon as it is back. A lost worker ends the stream with :class:`TrialsLost`;
    the caller decides which of its trials run again (in a new stream).
    """

    def __init__(self, data: TrialData) -> None:
        self.data = data

    def __enter__(self) -> TrialExecutor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    @abstractmethod
    def results(
        self, calls: Iterator[TrialCall], seconds_left: float
    ) -> Iterator[tuple[int, CVOutcome]]:
        """Run ``calls``, yielding ``(number, outcome)`` as each trial ends.

        ``seconds_left`` is the search's budget; an executor that can abandon a worker
        gives up on one that has not answered a little after it.
        """

    def take_stopped(self) -> list[int]:
        """Trials whose worker this executor stopped since the last call (hung ones)."""
        return []


class InProcessExecutor(TrialExecutor):
    """Runs each trial in this process, in order: ask, run, tell, ask, ..."""

    def results(
        self, calls: Iterator[TrialCall], seconds_left: float
    ) -> Iterator[tuple[int, CVOutcome]]:
        for call in calls:
            try:
                result = self._run(call)
            except Exception as exc:  # run_trial does not raise for a configuration's fault
                raise TrialsLost(lost_outcome(exc)) from exc
            yield result

    def _run(self, call: TrialCall) -> tuple[int, CVOutcome]:
        if call.known is not None:
            return call.number, call.known
        data = self.data
        return run_trial(
            call.number,
            call.deadline,
            call.estimator,
            data.X,
            data.y,
            data.splits,
            data.scoring,
            data.memory_limit_mb,
            None,
            call.keep_predictions,
            data.classes,
            data.weights,
            data.rungs,
            call.pruning,
        )


class JoblibExecutor(TrialExecutor):
    """Runs trials in ``n_jobs`` joblib workers (loky processes, or dask's under its backend).

    Calls stream through ``joblib.Parallel(return_as="generator_unordered",
    pre_dispatch="n_jobs")``: joblib pulls ``n_jobs`` of them when a stream starts, then
    one more each time a trial finishes, in its callback thread. joblib looks ahead: a
    stream may ask up to ``n_jobs - 1`` trials before a worker is free for them; each
    still ends by its own deadline. A worker process that dies breaks the pool and takes
    the other running trials with it; joblib starts fresh workers for the next stream.
    """

    def __init__(self, data: TrialData, n_jobs: int) -> None:
        super().__init__(data)
        self.n_jobs = n_jobs
        self._watch = Watch(None)
        self._stack = ExitStack()

    def __enter__(self) -> JoblibExecutor:
        self._watch = self._stack.enter_context(watchdog(enabled=True))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()

    def results(
        self, calls: Iterator[TrialCall], seconds_left: float
    ) -> Iterator[tuple[int, CVOutcome]]:
        # The watchdog stops a hung worker first; joblib's timeout is the last resort where
        # it cannot (a cluster's worker).
        # Twice the grace: every deadline lies within the budget, the watchdog stops a worker one
        # grace past it, and one more grace lets that stop land first. joblib's timeout abandons
        # every running trial, the watchdog only the hung one.
        last_resort = None if math.isinf(seconds_left) else seconds_left + 2 * HARD_TIMEOUT_GRACE_S
        parallel = joblib.Parallel(
            n_jobs=self.n_jobs,
            timeout=last_resort,
            return_as="generator_unordered",
            pre_dispatch="n_jobs",
            # One trial per dispatch: automatic batching would hand one worker several trials to
            # run back to back, each waiting for the others before it starts.
            batch_size=1,
        )
        outputs = parallel(self._delayed(call) for call in calls)
        while True:
            try:
                number, outcome = next(outputs)
            except StopIteration:
                return
            except Exception as exc:  # a worker process died, or the watchdog stopped one
                raise TrialsLost(lost_outcome(exc)) from exc
            yield number, outcome

    def _delayed(self, call: TrialCall) -> Any:
        if call.known is not None:
            return joblib.delayed(_given)(call.number, call.known)
        data = self.data
        return joblib.delayed(run_trial)(
            call.number,
            call.deadline,
            call.estimator,
            data.X,
            data.y,
            data.splits,
            data.scoring,
            data.memory_limit_mb,
            self._watch.marker_dir,
            call.keep_predictions,
            data.classes,
            data.weights,
            data.rungs,
            call.pruning,
        )

    def take_stopped(self) -> list[int]:
        return self._watch.take_stopped()


def make_executor(n_jobs: int, data: TrialData) -> TrialExecutor:
    """In this process when joblib would run ``n_jobs`` as one job, else in its workers."""
    # Ask joblib, not n_jobs: -1 on one core, or parallel_config(n_jobs=1), is one job too,
    # and in-process skips starting workers and shipping them the data.
    if joblib.effective_n_jobs(n_jobs) == 1:
        return InProcessExecutor(data)
    return JoblibExecutor(data, n_jobs)


def lost_outcome(exc: Exception) -> CVOutcome:
    """What the trials an executor lost get: capped after a timeout, else failed."""
    # Both: joblib raises multiprocessing's TimeoutError (not a subclass of the builtin) for
    # backends with a result callback (loky); others pass on their futures' builtin one.
    if isinstance(exc, (TimeoutError, multiprocessing.TimeoutError)):
        return CVOutcome(
            math.nan, 0.0, "capped", "no result within the hard limit: worker abandoned"
        )
    return CVOutcome(math.nan, 0.0, "failed", describe_worker_loss(exc))


def _given(number: int, outcome: CVOutcome) -> tuple[int, CVOutcome]:
    """A joblib call whose outcome is known already (a trial that cannot run)."""
    return number, outcome
