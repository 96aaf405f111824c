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
from optuna.trial import FrozenTrial, Trial

from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Config, Evaluation
from autometa.search._budget import (
    MIN_TRIAL_TIME_S,
    Budget,
    SearchOutcome,
    best_few,
    trial_seconds,
)
from autometa.search._evaluation import CVOutcome, Splits, describe_error
from autometa.search._executors import (
    TrialCall,
    TrialData,
    TrialExecutor,
    TrialsLost,
    make_executor,
)
from autometa.search._leases import TrialLease
from autometa.search._outcomes import tell_outcome, told_elsewhere
from autometa.search._pruning import pruning_snapshot
from autometa.search._repeats import EvaluatedConfigs
from autometa.search._space import suggest_config
from autometa.search._watchdog import stopped_outcome
from autometa.search._weights import row_weights

if TYPE_CHECKING:
    from autometa.search._adaptive import AdaptiveProposer
    from autometa.search._ensemble import PredictionStore
    from autometa.search._shared_predictions import SharedPredictions

logger = logging.getLogger(__name__)


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
    shared: SharedPredictions | None = None,
    proposer: AdaptiveProposer | None = None,
) -> SearchOutcome:
    """Ask, evaluate and tell until the budget is spent; return what was evaluated.

    The search is asynchronous: a trial is asked as soon as a worker is free, so a slow
    configuration holds up only its own worker (with ``n_jobs > 1`` the trials tried
    therefore depend on timing, as with ``optuna.Study.optimize(n_jobs=...)``; with
    ``n_jobs=1`` the search is reproducible for a given sampler seed).

    Time is kept for the final refit: a trial is asked only if the time left, minus the
    estimated refit of the best configuration so far (``previous`` evaluations of a
    resumed study included) and no more than leaves time for its own refit, is at least
    :data:`~autometa.search._budget.MIN_TRIAL_TIME_S`, and it must end by then
    (:func:`~autometa.search._budget.trial_seconds`). With a ``lease`` (durable
    studies), trials dead processes left running are reclaimed before each ask, and
    this process's own trials are marked as its while they run and released if the
    search raises. ``memory_limit_mb`` limits each trial's memory (see
    :func:`autometa.search._limits.memory_cap`).

    ``splits`` are the validation splits (by default ``task.cv``'s, by its groups). With
    ``predictions`` (a store for those splits' validation rows), trials also return
    their out-of-fold predictions and the store keeps the best ones for ensemble
    selection. ``reserved_refits`` is how many of the best configurations so far the
    time kept for the end must refit (more than one: an ensemble's members, plus
    :data:`~autometa.search._budget.ENSEMBLE_SELECTION_RESERVE_S` for the selection).

    ``callbacks`` are called as ``callback(study, frozen_trial)`` after each trial is
    told, as ``optuna.Study.optimize`` calls its callbacks (so optuna-integration's
    MLflow and Weights & Biases callbacks work); an exception in one ends the search,
    as it ends ``optimize``.

    ``rungs`` are the cheaper splits of a holdout's row fidelities
    (:func:`autometa.search._fidelities.fidelity_splits`), evaluated before ``splits``.
    Each step's score (a fold, or a fidelity) is reported to the trial as its
    intermediate value; with a ``pruner`` the worker asks it after each step, on a
    replica of the study (:mod:`autometa.search._pruning`), and a trial it stops is told
    ``PRUNED``. With a ``proposer`` (an adaptive meta-learner), each ask is preceded by
    its proposal while it beats the sampler (:mod:`autometa.search._adaptive`); with
    ``shared``, each trial the store keeps also uploads its predictions for the other
    processes of a shared study (:mod:`autometa.search._shared_predictions`).
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
            earlier=best_few(previous, reserved_refits),
            on_evaluation=on_evaluation,
            predictions=predictions,
            reserved_refits=max(reserved_refits, 1),
            callbacks=tuple(callbacks),
            pruner=pruner,
            shared=shared,
            proposer=proposer,
            evaluated=EvaluatedConfigs(algorithms, task),
        )
        search.run()
    return outcome


def _unclaimed(trial: Trial) -> Trial:
    return trial


@dataclass
class _Pending:
    """A trial that was asked and has no result yet."""

    trial: Trial
    config: Config
    estimator: Any
    known: CVOutcome | None = None
    """The outcome of a trial no worker runs: no estimator could be made, or a repeat."""


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
    evaluated: EvaluatedConfigs
    predictions: PredictionStore | None = None
    reserved_refits: int = 1
    callbacks: tuple[Callable[[optuna.Study, FrozenTrial], None], ...] = ()
    pruner: BasePruner | None = None
    shared: SharedPredictions | None = None
    proposer: AdaptiveProposer | None = None
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
        if self._trial_seconds() < MIN_TRIAL_TIME_S or self.evaluated.exhausted:
            return None
        self.evaluated.enqueue_next(self.study)  # a random point after a repeat
        if self.proposer is not None:
            pending = [p.config for p in self.pending.values()]
            self.proposer.before_ask(self.study, self.outcome.evaluations, pending, self.asked)
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
            if not told_elsewhere(self.study, trial.number):
                raise
            self._lose(trial.number, "before it was sampled")
            return self._next_call()  # its retry, if it had one, is a trial like the others
        repeated = self.evaluated.repeat(trial, config)
        if repeated is not None:  # told the earlier outcome: no worker refits it
            self.pending[trial.number] = _Pending(trial, config, None, repeated)
            return self._call(trial.number)
        try:
            estimator = self.algorithms[config.algorithm].make_estimator(config.params, self.task)
        except Exception as exc:  # a factory bug is one failed trial, not a crashed search
            failed = CVOutcome(math.nan, 0.0, "failed", describe_error(exc))
            self.pending[trial.number] = _Pending(trial, config, None, failed)
        else:
            self.pending[trial.number] = _Pending(trial, config, estimator)
        return self._call(trial.number)

    def _trial_seconds(self) -> float:
        """Seconds a trial started now may run (:func:`trial_seconds`)."""
        best = best_few([*self.outcome.evaluations, *self.earlier], self.reserved_refits)
        return trial_seconds(self.budget, self.task, best, self.reserved_refits)

    def _call(self, number: int) -> TrialCall:
        pending = self.pending[number]
        if pending.known is not None:
            return TrialCall(number, known=pending.known)
        seconds = self._trial_seconds()
        if seconds < MIN_TRIAL_TIME_S:  # only a retry gets here
            lost = "lost with a worker process; no time left to retry"
            return TrialCall(number, known=CVOutcome(math.nan, 0.0, "capped", lost))
        # An absolute wall-clock deadline, not a duration: time spent waiting for a
        # worker, starting it or shipping data to it then counts against the trial too.
        deadline = None if math.isinf(seconds) else time.time() + seconds
        pruning = None
        if self.pruner is not None:  # it judges the trial by the finished ones
            pruning = pruning_snapshot(self.study.get_trials(deepcopy=False), self.pruner)
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
            kept = self.predictions is not None and self.predictions.would_keep(number, evaluation)
            if self.shared is not None and kept and result.predictions is not None:
                # Uploaded before the trial is told: a finished trial takes no artifact.
                self.shared.share(pending.trial, result.predictions)
            try:
                frozen = tell_outcome(self.study, pending.trial, evaluation, result)
            except Exception:
                if not told_elsewhere(self.study, number):
                    raise
                self._lose(number, f"evaluated ({evaluation.status}) but not told")
                return
            if self.predictions is not None and result.predictions is not None:
                self.predictions.add(number, evaluation, result.predictions)
            self.evaluated.record(number, pending.config, result)
            self.outcome.evaluations.append(evaluation)
            self.outcome.trial_numbers.append(number)
        if self.on_evaluation is not None:
            self.on_evaluation(evaluation)
        for callback in self.callbacks:
            callback(self.study, frozen)

    def _lose(self, number: int, what: str) -> None:
        """Record trial ``number`` as lost: another process took it while this one ran it.

        That process judged this one's lease abandoned (its heartbeat stalled longer than
        :data:`autometa.search._leases.STALE_AFTER_S`), failed the trial and enqueued its
        configuration again. The result here is dropped (the study counts the configuration
        once) and does not count towards ``n_trials``; the search goes on.
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
