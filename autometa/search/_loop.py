"""The search: Optuna ask/tell over one conditional space, trials run by an executor.

A trial is asked whenever the executor (:mod:`autometa.search._executors`) has a worker
free, and told as soon as it ends. A configuration that raises or runs out of time
becomes a failed trial carrying its reason; the search goes on.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial, Trial, TrialState

from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Config, Evaluation
from autometa.search._budget import Budget, SearchOutcome, estimated_refit_seconds
from autometa.search._evaluation import CVOutcome, Splits, describe_error
from autometa.search._executors import (
    TrialCall,
    TrialData,
    TrialExecutor,
    TrialsLost,
    make_executor,
)
from autometa.search._leases import TrialLease
from autometa.search._pruning import pruning_snapshot
from autometa.search._space import suggest_config
from autometa.search._watchdog import stopped_outcome
from autometa.search._weights import row_weights

if TYPE_CHECKING:
    from autometa.search._ensemble import PredictionStore

logger = logging.getLogger(__name__)

_PROBE_CONFIG = Config("probe", {})
"""A configuration standing for any, where only an evaluation's time matters."""

_JUDGED_BY = (TrialState.COMPLETE, TrialState.PRUNED)
"""The trials a pruner compares a running trial with."""

MIN_TRIAL_TIME_S = 0.5
"""A trial is not started with less time than this left."""

ENSEMBLE_SELECTION_RESERVE_S = 1.0
"""Seconds kept for ensemble selection when the time for an ensemble is reserved."""

ENSEMBLE_REFIT_SHARE = 0.1
"""At most this share of a fit's timeout is kept for refitting ensemble members beyond
the best configuration (whose refit is always kept)."""


def run_search(
    task: Task,
    algorithms: Mapping[str, Algorithm],
    study: optuna.Study,
    budget: Budget,
    *,
    n_jobs: int = 1,
    on_evaluation: Callable[[Evaluation], None] | None = None,
    previous: Sequence[Evaluation] = (),
    lease: TrialLease | None = None,
    memory_limit_mb: float | None = None,
    splits: Splits | None = None,
    predictions: PredictionStore | None = None,
    reserved_refits: int = 1,
    callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
    rungs: Splits = (),
    pruner: BasePruner | None = None,
) -> SearchOutcome:
    """Ask, evaluate and tell until the budget is spent; return what was evaluated.

    The search is asynchronous: a trial is asked as soon as a worker is free, so a slow
    configuration holds up only its own worker (with ``n_jobs > 1`` the trials tried
    therefore depend on timing, as with ``optuna.Study.optimize(n_jobs=...)``; with
    ``n_jobs=1`` the search is reproducible for a given sampler seed).

    Time is kept for the final refit: a trial is asked only if the time left, minus the
    estimated refit of the best configuration so far (``previous`` evaluations of a
    resumed study included), is at least :data:`MIN_TRIAL_TIME_S`, and it must end by
    then. With a ``lease`` (durable studies), trials dead processes left running are
    reclaimed before each ask, and this process's own trials are marked as its while
    they run and released if the search raises. ``memory_limit_mb`` limits each trial's
    memory (see :func:`autometa.search._limits.memory_cap`).

    ``splits`` are the validation splits (by default ``task.cv``'s, by its groups). With
    ``predictions`` (a store for those splits' validation rows), trials also return
    their out-of-fold predictions and the store keeps the best ones for ensemble
    selection. ``reserved_refits`` is how many of the best configurations so far the
    time kept for the end must refit (more than one: an ensemble's members, plus
    :data:`ENSEMBLE_SELECTION_RESERVE_S` for the selection).

    ``callbacks`` are called as ``callback(study, frozen_trial)`` after each trial is
    told, as ``optuna.Study.optimize`` calls its callbacks (so optuna-integration's
    MLflow and Weights & Biases callbacks work); an exception in one ends the search,
    as it ends ``optimize``.

    ``rungs`` are the cheaper splits of a holdout's row fidelities
    (:func:`autometa.search._fidelities.fidelity_splits`), evaluated before ``splits``.
    Each step's score (a fold, or a fidelity) is reported to the trial as its
    intermediate value; with a ``pruner`` the worker asks it after each step, on a
    replica of the study (:mod:`autometa.search._pruning`), and a trial it stops is told
    ``PRUNED``.
    """
    if not algorithms:
        raise ValueError(
            f"No algorithm is available for a {task.kind} task; check that the "
            "autometa_sklearn plugin (or another algorithm plugin) is installed and not "
            "blocked."
        )
    splits = list(task.cv.split(task.X, task.y, task.groups) if splits is None else splits)
    data = TrialData(
        task.X,
        task.y,
        splits,
        task.scoring,
        memory_limit_mb,
        task.classes,
        row_weights(task),
        tuple(rungs),
    )
    executor = make_executor(n_jobs, data)
    holding: AbstractContextManager[Callable[[Trial], Trial]] = (
        nullcontext(_unclaimed) if lease is None else lease.hold(study)
    )
    outcome = SearchOutcome([], [])
    with holding as claim, executor:
        search = _AsyncSearch(
            task=task,
            algorithms=algorithms,
            study=study,
            budget=budget,
            executor=executor,
            lease=lease,
            claim=claim,
            outcome=outcome,
            earlier=_best_few(previous, reserved_refits),
            on_evaluation=on_evaluation,
            predictions=predictions,
            reserved_refits=max(reserved_refits, 1),
            callbacks=tuple(callbacks),
            pruner=pruner,
        )
        search.run()
    return outcome


def _unclaimed(trial: Trial) -> Trial:
    return trial


def _taken(study: optuna.Study, number: int) -> bool:
    """Whether trial ``number``, which this process runs, is finished in the storage.

    Asked when writing to the trial raised: then another process finished it (see
    :func:`autometa.search._leases.reclaim_abandoned`). Optuna reports that differently
    across versions and storages (``UpdateFinishedTrialError``, ``ValueError`` from
    ``tell``), hence the storage is asked rather than the exception.
    """
    try:
        trials = study.get_trials(deepcopy=False)
    except Exception:  # the storage is down: the original error says more
        return False
    return any(t.number == number and t.state.is_finished() for t in trials)


def _best_few(evaluations: Sequence[Evaluation], n: int) -> list[Evaluation]:
    """The ``n`` best successful evaluations, best first."""
    return sorted((e for e in evaluations if e.ok), key=lambda e: -e.score)[: max(n, 1)]


def _tell(
    study: optuna.Study, trial: Trial, evaluation: Evaluation, result: CVOutcome
) -> FrozenTrial:
    # Each step's score is the trial's intermediate value, as an objective reporting per
    # fold would leave it (optuna-dashboard draws them; pruners read them).
    for step, score in enumerate(result.step_scores):
        if math.isfinite(score):
            trial.report(score, step)
    # ``status`` goes last: a failed trial carrying it was evaluated (see _studies).
    trial.set_user_attr("fit_time", round(evaluation.fit_time, 4))
    if result.fold_scores:
        trial.set_user_attr("fold_scores", [round(s, 6) for s in result.fold_scores])
    if not evaluation.ok:
        trial.set_user_attr("error", evaluation.error)
    trial.set_user_attr("status", evaluation.status)
    if evaluation.ok:
        return study.tell(trial, evaluation.score)
    if evaluation.status == "pruned":
        logger.debug("trial %d %s", trial.number, evaluation.error)
        return study.tell(trial, state=TrialState.PRUNED)
    logger.info("trial %d %s: %s", trial.number, evaluation.status, evaluation.error)
    return study.tell(trial, state=TrialState.FAIL)


@dataclass
class _Pending:
    """A trial that was asked and has no result yet."""

    trial: Trial
    config: Config
    estimator: Any
    known: CVOutcome | None = None
    """The outcome of a trial that cannot run (its estimator could not be made)."""


@dataclass
class _AsyncSearch:
    """One search's ask/evaluate/tell loop over a stream of trial calls.

    The executor pulls calls from :meth:`_feed` lazily, one more each time a worker is
    free, so a worker never waits for the others. With worker processes the pull may
    happen in another thread (joblib's callback thread) while this thread tells results,
    hence :attr:`lock` around every use of the study.

    A fault stays with the trial that caused it:

    - raising, running past its time limit or past ``memory_limit_mb``: handled where
      the trial runs (:func:`autometa.search._evaluation.cross_validate_config`): failed
      or capped;
    - hanging where no signal reaches Python (native code stuck on a lock): the
      executor's watchdog kills its worker after its deadline
      (:data:`autometa.search._watchdog.HARD_TIMEOUT_GRACE_S`): capped;
    - ending its worker process (``os._exit``, a crash in native code, the out-of-memory
      killer): the executor loses every running trial (:class:`TrialsLost`), so each of
      them is evaluated once more, alone; the innocent ones then get their result and
      the culprit, dying again, is failed with the exit code or signal.

    The next stream gets fresh workers, and the search goes on.
    """

    task: Task
    algorithms: Mapping[str, Algorithm]
    study: optuna.Study
    budget: Budget
    executor: TrialExecutor
    lease: TrialLease | None
    claim: Callable[[Trial], Trial]
    outcome: SearchOutcome
    earlier: list[Evaluation]
    """The best evaluations of earlier processes (a resumed study), best first."""
    on_evaluation: Callable[[Evaluation], None] | None
    predictions: PredictionStore | None = None
    reserved_refits: int = 1
    callbacks: tuple[Callable[[optuna.Study, FrozenTrial], None], ...] = ()
    pruner: BasePruner | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: dict[int, _Pending] = field(default_factory=dict)
    """Asked trials without a result, by trial number."""
    retry: deque[int] = field(default_factory=deque)
    """Pending trials to hand to a worker again (their worker was lost, not by their fault)."""
    asked: int = 0
    feed_error: BaseException | None = None

    def run(self) -> None:
        """Stream until the budget is spent, settling lost workers between streams."""
        while True:
            loss = self._stream(self._feed())
            if self.feed_error is not None:
                raise self.feed_error
            if loss is None:
                return
            self._settle(loss)

    # -- feeding workers (possibly the executor's thread) -----------------------------
    def _feed(self) -> Iterator[TrialCall]:
        while True:
            try:
                with self.lock:
                    call = self._next_call()
            except Exception as exc:  # raised here it would pass for a trial's fault
                self.feed_error = exc
                return
            if call is None:
                return
            yield call

    def _next_call(self) -> TrialCall | None:
        """The next trial to run; None once the budget is spent."""
        if self.retry:
            return self._call(self.retry.popleft())
        if self.budget.n_trials is not None and self.asked >= self.budget.n_trials:
            return None
        if self._trial_seconds() < MIN_TRIAL_TIME_S:
            return None
        if self.lease is not None:
            self.lease.reclaim(self.study)
            trials = self.lease.ask(self.study, 1, self.claim)
            if not trials:  # a shared study other processes are filling has its total
                return None
            trial = trials[0]
        else:
            trial = self.claim(self.study.ask())
        self.asked += 1
        try:
            config = suggest_config(trial, self.algorithms, self.task)
        except Exception:
            if not _taken(self.study, trial.number):
                raise
            self._lose(trial.number, "before it was sampled")
            return self._next_call()  # its retry, if it had one, is a trial like the others
        try:
            estimator = self.algorithms[config.algorithm].make_estimator(config.params, self.task)
        except Exception as exc:  # a factory bug is one failed trial, not a crashed search
            failed = CVOutcome(math.nan, 0.0, "failed", describe_error(exc))
            self.pending[trial.number] = _Pending(trial, config, None, failed)
        else:
            self.pending[trial.number] = _Pending(trial, config, estimator)
        return self._call(trial.number)

    def _trial_seconds(self) -> float:
        """Seconds a trial started now may run, leaving time for the final refits.

        The time kept is 1.5 times the estimated refit of the best configuration so far,
        plus half a second; when an ensemble is built, also 1.5 times the refits of the
        next ``reserved_refits - 1`` best (at most :data:`ENSEMBLE_REFIT_SHARE` of the
        timeout: members whose refit the time left cannot pay are dropped, the search
        is not starved for them) and the selection's time.
        """
        best = _best_few([*self.outcome.evaluations, *self.earlier], self.reserved_refits)
        if not best:
            return self.budget.seconds_left()
        refits = [estimated_refit_seconds(e, self.task) for e in best]
        reserve = 1.5 * refits[0] + 0.5
        if self.reserved_refits > 1:
            members = 1.5 * sum(refits[1:])
            if self.budget.timeout is not None:
                members = min(members, ENSEMBLE_REFIT_SHARE * self.budget.timeout)
            reserve += members + ENSEMBLE_SELECTION_RESERVE_S
        return self.budget.seconds_left() - reserve

    def _own_refit_bound(self) -> float:
        """Seconds a trial may run so that, should it win, its own refit still fits.

        A trial of ``t`` seconds predicts a refit of about ``r * t`` (``r`` from
        :func:`estimated_refit_seconds`), kept 1.5 times as for the best so far, so
        ``t <= (seconds left - 0.5) / (1 + 1.5 r)``: a third of the time left for a 75/25
        holdout, 73% for 5-fold CV. Without it a trial started early, while a cheap
        configuration led, could run into the time a slower winner's refit needs.
        """
        probe = Evaluation(self.task.task_id, _PROBE_CONFIG, 0.0, 1.0)
        ratio = estimated_refit_seconds(probe, self.task)
        return (self.budget.seconds_left() - 0.5) / (1 + 1.5 * ratio)

    def _call(self, number: int) -> TrialCall:
        pending = self.pending[number]
        if pending.known is not None:
            return TrialCall(number, known=pending.known)
        seconds = min(self._trial_seconds(), self._own_refit_bound())
        if seconds < MIN_TRIAL_TIME_S:  # only a retry gets here
            lost = CVOutcome(
                math.nan, 0.0, "capped", "lost with a worker process; no time left to retry"
            )
            return TrialCall(number, known=lost)
        # An absolute wall-clock deadline, not a duration: time spent waiting for a
        # worker, starting it or shipping data to it then counts against the trial too.
        deadline = None if math.isinf(seconds) else time.time() + seconds
        pruning = None
        if self.pruner is not None:
            finished = self.study.get_trials(deepcopy=False, states=_JUDGED_BY)
            pruning = pruning_snapshot(finished, self.pruner)
        return TrialCall(number, deadline, pending.estimator, self._keep_predictions(), pruning)

    def _keep_predictions(self) -> bool:
        return self.predictions is not None and self.predictions.capacity > 0

    # -- collecting results (this thread) ------------------------------------------------
    def _stream(self, calls: Iterator[TrialCall]) -> CVOutcome | None:
        """Run ``calls`` with the executor, telling each result as it comes back.

        Returns None when every call came back, else the outcome the trials still
        pending get: capped when no result came back in time, failed when a worker died.
        """
        try:
            for number, result in self.executor.results(calls, self.budget.seconds_left()):
                self._tell(number, result)  # its errors are not a worker's: not TrialsLost
        except TrialsLost as lost:
            return lost.outcome
        return None

    def _tell(self, number: int, result: CVOutcome) -> None:
        with self.lock:
            pending = self.pending.pop(number)
            evaluation = Evaluation(
                self.task.task_id,
                pending.config,
                result.score,
                result.fit_time,
                result.status,
                result.error,
            )
            try:
                frozen = _tell(self.study, pending.trial, evaluation, result)
            except Exception:
                if not _taken(self.study, number):
                    raise
                self._lose(number, f"evaluated ({evaluation.status}) but not told")
                return
            if self.predictions is not None and result.predictions is not None:
                self.predictions.add(number, evaluation, result.predictions)
            self.outcome.evaluations.append(evaluation)
            self.outcome.trial_numbers.append(number)
        if self.on_evaluation is not None:
            self.on_evaluation(evaluation)
        for callback in self.callbacks:
            callback(self.study, frozen)

    def _lose(self, number: int, what: str) -> None:
        """Record trial ``number`` as lost: another process took it while this one ran it.

        That process judged this one's lease abandoned (a machine whose heartbeat stalled
        longer than :data:`autometa.search._leases.STALE_AFTER_S`), failed the trial and
        enqueued its configuration again; the result here is dropped, so the study counts
        the configuration once, and the search goes on. The trial does not count towards
        this search's ``n_trials``: the study's total is reached with trials that count.
        """
        self.outcome.lost.append(number)
        self.asked -= 1
        logger.warning(
            "trial %d was %s: another process took it as abandoned (this process's heartbeat "
            "stalled); its configuration was enqueued again unless already recorded",
            number,
            what,
        )

    def _settle(self, loss: CVOutcome) -> None:
        """Give the trials a lost stream left pending their result, or another worker."""
        lost = sorted(self.pending)
        stopped = set(self.executor.take_stopped()) & set(lost)
        if loss.status == "capped" or stopped:
            # Nothing came back in time (all are capped), or the watchdog names the
            # culprit (the others died with its pool: they get a worker again).
            for number in lost:
                if number in stopped:
                    self._tell(number, stopped_outcome())
                elif loss.status == "capped":
                    self._tell(number, loss)
                else:
                    self.retry.append(number)
        elif len(lost) == 1:
            self._tell(lost[0], loss)
        else:
            for number in lost:  # alone, so that only a culprit can break its pool
                again = self._stream(iter([self._call(number)]))
                if again is not None:
                    stopped_now = self.executor.take_stopped()
                    self._tell(number, stopped_outcome() if stopped_now else again)
