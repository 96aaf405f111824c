"""The search: Optuna ask/tell over one conditional space, trials evaluated by joblib.

One study covers every algorithm: the parameter ``algorithm`` chooses one, and only that
algorithm's ``<algorithm>__<param>`` parameters are suggested (a conditional,
define-by-run space). Warm starts are enqueued trials, so samplers, storages and
dashboards see them as ordinary trials.

A trial is asked whenever one of ``n_jobs`` joblib workers is free (processes with the
default loky backend, a cluster under ``joblib.parallel_config(backend="dask")``), and
told as soon as it ends. A configuration that raises or runs out of time becomes a
failed trial carrying its reason; the search goes on.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler
from optuna.trial import BaseTrial, Trial, TrialState

from autometa.contract._sampler import BUILTIN_SAMPLERS, SamplerContext, builtin_sampler
from autometa.contract._task import Task
from autometa.contract._types import ALGORITHM_PARAM, PARAM_SEPARATOR, Algorithm, Config, Evaluation
from autometa.search._evaluation import CVOutcome, Splits, describe_error, run_trial
from autometa.search._studies import TrialLease, reclaim_abandoned

if TYPE_CHECKING:
    from autometa._plugins import Plugins
    from autometa.search._ensemble import PredictionStore

logger = logging.getLogger(__name__)

HARD_TIMEOUT_GRACE_S = 2.0
"""Seconds past a trial's own limit before its worker process is stopped.

A worker whose trial hit the limit returns within milliseconds; one that has not by then
is stuck where no signal reaches Python (see ``_watchdog``)."""

MIN_TRIAL_TIME_S = 0.5
"""A trial is not started with less time than this left."""

WATCHDOG_INTERVAL_S = 0.25
"""How often the watchdog looks for trials past their deadline and grace."""

ENSEMBLE_SELECTION_RESERVE_S = 1.0
"""Seconds kept for ensemble selection when the time for an ensemble is reserved."""


# -- the space ---------------------------------------------------------------------------
def suggest(trial: BaseTrial, name: str, distribution: BaseDistribution) -> Any:
    """Suggest one parameter from an Optuna distribution object."""
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            name,
            distribution.low,
            distribution.high,
            log=distribution.log,
            step=distribution.step,
        )
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(
            name,
            distribution.low,
            distribution.high,
            log=distribution.log,
            step=distribution.step,
        )
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    raise TypeError(f"Unsupported distribution for {name!r}: {distribution!r}")


def suggest_config(trial: BaseTrial, algorithms: Mapping[str, Algorithm], task: Task) -> Config:
    """Sample a configuration from the joint conditional space of ``algorithms``.

    Any Optuna trial works, a ``FixedTrial`` included; parameter names are those of
    :meth:`Config.to_trial_params`, so enqueued warm starts are received as they are.
    """
    name = trial.suggest_categorical(ALGORITHM_PARAM, sorted(algorithms))
    assert isinstance(name, str)
    params = {
        param: suggest(trial, f"{name}{PARAM_SEPARATOR}{param}", distribution)
        for param, distribution in algorithms[name].search_space(task).items()
    }
    return Config(name, params)


def config_in_space(config: Config, algorithms: Mapping[str, Algorithm], task: Task) -> bool:
    """Whether ``config`` is a point of this task's space (algorithm known, values inside).

    Recommendations from earlier tasks can fall outside a new task's space (an algorithm
    gated off by size, a range that shrank); enqueuing them would fail or warn, so they
    are filtered with this first.
    """
    algorithm = algorithms.get(config.algorithm)
    if algorithm is None:
        return False
    space = algorithm.search_space(task)
    if set(space) != set(config.params):
        return False
    for param, distribution in space.items():
        value = config.params[param]
        try:
            internal = distribution.to_internal_repr(value)
        except (ValueError, TypeError):
            return False
        if not distribution._contains(internal):
            return False
    return True


def make_sampler(
    spec: str | BaseSampler,
    random_state: int | None,
    n_jobs: int = 1,
    *,
    plugins: Plugins | None = None,
    context: SamplerContext | None = None,
) -> BaseSampler:
    """An Optuna sampler from a name, seeded; instances are returned unchanged.

    Built-in names (:data:`autometa.contract.BUILTIN_SAMPLERS`) come first; any other
    name is one a plugin offers (``autometa_samplers``), built from ``context``. An
    unknown name is a ValueError listing the known ones.
    """
    if isinstance(spec, BaseSampler):
        return spec
    if not isinstance(spec, str):
        raise TypeError(
            f"A sampler is a name or an optuna.samplers.BaseSampler, got {type(spec).__name__}."
        )
    if spec in BUILTIN_SAMPLERS:
        return builtin_sampler(spec, random_state, n_jobs)
    offered = [] if plugins is None else sorted(plugins.samplers())
    if spec in offered:
        assert plugins is not None
        if context is None:
            raise ValueError(
                f"Sampler {spec!r} comes from a plugin and is built from the fit's task and "
                "knowledge base: pass context=SamplerContext(...) to make_sampler."
            )
        return plugins.make_sampler(spec, context, random_state, n_jobs)
    hint = "" if plugins is not None else " (pass plugins= to include the plugins' samplers)"
    raise ValueError(
        f"Unknown sampler {spec!r}; use one of {[*BUILTIN_SAMPLERS, *offered]}{hint} or an Optuna "
        "sampler instance."
    )


# -- running -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Budget:
    """When the search must stop: after ``n_trials`` new trials or at ``deadline``.

    ``n_trials`` counts the trials of this search only; ``autometa.fit`` subtracts those
    an earlier process already finished in a resumed study.
    """

    n_trials: int | None
    deadline: float | None
    """Absolute ``time.monotonic()`` value by which the whole fit, refit included, ends."""

    def seconds_left(self) -> float:
        return math.inf if self.deadline is None else self.deadline - time.monotonic()


@dataclass
class SearchOutcome:
    """Evaluations of this search, in the order they were told to the study."""

    evaluations: list[Evaluation]
    trial_numbers: list[int]

    def best(self) -> Evaluation | None:
        ok = [e for e in self.evaluations if e.ok]
        return max(ok, key=lambda e: e.score) if ok else None


def estimated_refit_seconds(evaluation: Evaluation, task: Task) -> float:
    """Time a fit on all rows will take, from the mean time of one CV fold."""
    per_fold = evaluation.fit_time / max(task.n_splits, 1)
    return per_fold * task.n_rows / max(task.fold_train_size(), 1)


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
    memory (see :func:`autometa.search._evaluation.memory_cap`).

    ``splits`` are the validation splits (by default ``task.cv``'s). With
    ``predictions`` (a store for those splits' validation rows), trials also return
    their out-of-fold predictions and the store keeps the best ones for ensemble
    selection. ``reserved_refits`` is how many of the best configurations so far the
    time kept for the end must refit (more than one: an ensemble's members, plus
    :data:`ENSEMBLE_SELECTION_RESERVE_S` for the selection).
    """
    if not algorithms:
        raise ValueError(
            f"No algorithm is available for a {task.kind} task; check that the "
            "autometa_sklearn plugin (or another algorithm plugin) is installed and not "
            "blocked."
        )
    in_process = joblib.effective_n_jobs(n_jobs) == 1
    holding: AbstractContextManager[Callable[[Trial], Trial]] = (
        nullcontext(_unclaimed) if lease is None else lease.hold(study)
    )
    outcome = SearchOutcome([], [])
    with holding as claim, _watchdog(enabled=not in_process) as watch:
        search = _AsyncSearch(
            task=task,
            algorithms=algorithms,
            study=study,
            budget=budget,
            n_jobs=n_jobs,
            splits=list(task.cv.split(task.X, task.y)) if splits is None else list(splits),
            memory_limit_mb=memory_limit_mb,
            lease=lease,
            claim=claim,
            watch=watch,
            outcome=outcome,
            earlier=_best_few(previous, reserved_refits),
            on_evaluation=on_evaluation,
            predictions=predictions,
            reserved_refits=max(reserved_refits, 1),
        )
        search.run()
    return outcome


def _unclaimed(trial: Trial) -> Trial:
    return trial


def _best_few(evaluations: Sequence[Evaluation], n: int) -> list[Evaluation]:
    """The ``n`` best successful evaluations, best first."""
    return sorted((e for e in evaluations if e.ok), key=lambda e: -e.score)[: max(n, 1)]


def _tell(study: optuna.Study, trial: Trial, evaluation: Evaluation, result: CVOutcome) -> None:
    # ``status`` is written last: a failed trial carrying it was evaluated (it counts as
    # done when a durable study is resumed), see autometa.search._studies.
    trial.set_user_attr("fit_time", round(evaluation.fit_time, 4))
    if result.fold_scores:
        trial.set_user_attr("fold_scores", [round(s, 6) for s in result.fold_scores])
    if not evaluation.ok:
        trial.set_user_attr("error", evaluation.error)
    trial.set_user_attr("status", evaluation.status)
    if evaluation.ok:
        study.tell(trial, evaluation.score)
    else:
        study.tell(trial, state=TrialState.FAIL)
        logger.info("trial %d %s: %s", trial.number, evaluation.status, evaluation.error)


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
    """One search's ask/evaluate/tell loop over a stream of joblib calls.

    joblib pulls calls from :meth:`_feed` lazily (``pre_dispatch="n_jobs"``): ``n_jobs``
    of them when a stream starts, then one more each time a trial finishes, so a worker
    never waits for the others. With worker processes the pull happens in joblib's
    callback thread while this thread tells results, hence :attr:`lock` around every use
    of the study. joblib looks ahead: a stream may ask up to ``n_jobs - 1`` trials
    before a worker is free for them; each still ends by its own deadline.

    A fault stays with the trial that caused it:

    - raising, running past its time limit or past ``memory_limit_mb``: handled inside
      the worker (:func:`autometa.search._evaluation.cross_validate_config`): failed or capped;
    - hanging where no signal reaches Python (native code stuck on a lock): the
      watchdog kills its worker :data:`HARD_TIMEOUT_GRACE_S` after its deadline: capped;
    - ending its worker process (``os._exit``, a crash in native code, the out-of-memory
      killer): the process pool breaks and takes the other running trials with it, so
      each of them is evaluated once more, alone; the innocent ones then get their
      result and the culprit, dying again, is failed with the exit code or signal.

    joblib starts fresh workers for the next stream, and the search goes on. With
    ``n_jobs=1`` trials run in this process (joblib's sequential backend): the time and
    memory limits still apply (the memory limit is lifted again after each trial), but a
    configuration that ends its process ends the caller, and one that hangs in native
    code hangs it.
    """

    task: Task
    algorithms: Mapping[str, Algorithm]
    study: optuna.Study
    budget: Budget
    n_jobs: int
    splits: Sequence[tuple[np.ndarray, np.ndarray]]
    memory_limit_mb: float | None
    lease: TrialLease | None
    claim: Callable[[Trial], Trial]
    watch: _Watch
    outcome: SearchOutcome
    earlier: list[Evaluation]
    """The best evaluations of earlier processes (a resumed study), best first."""
    on_evaluation: Callable[[Evaluation], None] | None
    predictions: PredictionStore | None = None
    reserved_refits: int = 1
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

    # -- feeding workers (joblib's callback thread) ------------------------------------
    def _feed(self) -> Iterator[Any]:
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

    def _next_call(self) -> Any | None:
        """The next trial to run as a joblib call; None once the budget is spent."""
        if self.retry:
            return self._call(self.retry.popleft())
        if self.budget.n_trials is not None and self.asked >= self.budget.n_trials:
            return None
        if self._trial_seconds() < MIN_TRIAL_TIME_S:
            return None
        if self.lease is not None:
            reclaim_abandoned(self.study)
            trials = self.lease.ask(self.study, 1, self.claim)
            if not trials:  # a shared study other processes are filling has its total
                return None
            trial = trials[0]
        else:
            trial = self.claim(self.study.ask())
        self.asked += 1
        config = suggest_config(trial, self.algorithms, self.task)
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

        The time kept is 1.5 times the estimated refits of the ``reserved_refits`` best
        configurations so far, plus half a second (and the selection's time when an
        ensemble is built).
        """
        best = _best_few([*self.outcome.evaluations, *self.earlier], self.reserved_refits)
        if not best:
            return self.budget.seconds_left()
        refits = sum(estimated_refit_seconds(e, self.task) for e in best)
        reserve = 1.5 * refits + 0.5
        if self.reserved_refits > 1:
            reserve += ENSEMBLE_SELECTION_RESERVE_S
        return self.budget.seconds_left() - reserve

    def _call(self, number: int) -> Any:
        pending = self.pending[number]
        if pending.known is not None:
            return joblib.delayed(_given)(number, pending.known)
        seconds = self._trial_seconds()
        if seconds < MIN_TRIAL_TIME_S:  # only a retry gets here
            lost = CVOutcome(
                math.nan, 0.0, "capped", "lost with a worker process; no time left to retry"
            )
            return joblib.delayed(_given)(number, lost)
        # Workers get an absolute wall-clock deadline, not a duration: time spent waiting
        # for a worker, starting it or shipping data to it then counts against it too.
        deadline = None if math.isinf(seconds) else time.time() + seconds
        return joblib.delayed(run_trial)(
            number,
            deadline,
            pending.estimator,
            self.task.X,
            self.task.y,
            self.splits,
            self.task.scoring,
            self.memory_limit_mb,
            self.watch.marker_dir,
            self._keep_predictions(),
            self.task.classes,
        )

    def _keep_predictions(self) -> bool:
        return self.predictions is not None and self.predictions.capacity > 0

    # -- collecting results (this thread) ------------------------------------------------
    def _stream(self, calls: Iterator[Any]) -> CVOutcome | None:
        """Run ``calls`` in joblib workers, telling each result as it comes back.

        Returns None when every call came back, else the outcome the trials still
        pending get: capped when joblib's timeout passed, failed when a worker died.
        """
        in_process = joblib.effective_n_jobs(self.n_jobs) == 1
        seconds = self.budget.seconds_left()
        # The watchdog stops a hung worker first; joblib's timeout is the last resort where
        # it cannot (a cluster's worker). joblib ignores (and warns about) timeouts
        # in-process, where cross_validate_config's limit is the guard.
        last_resort = None if math.isinf(seconds) else seconds + 2 * HARD_TIMEOUT_GRACE_S
        parallel = joblib.Parallel(
            n_jobs=self.n_jobs,
            timeout=None if in_process else last_resort,
            return_as="generator_unordered",
            pre_dispatch="n_jobs",
            batch_size=1,
        )
        results = parallel(calls)
        while True:
            try:
                number, result = next(results)
            except StopIteration:
                return None
            except (TimeoutError, multiprocessing.TimeoutError):
                return CVOutcome(
                    math.nan, 0.0, "capped", "no result within the hard limit: worker abandoned"
                )
            except Exception as exc:  # a worker process died, or the watchdog stopped one
                return CVOutcome(math.nan, 0.0, "failed", describe_worker_loss(exc))
            self._tell(number, result)  # outside the try: its errors are not a worker's

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
            _tell(self.study, pending.trial, evaluation, result)
            if self.predictions is not None and result.predictions is not None:
                self.predictions.add(number, evaluation, result.predictions)
            self.outcome.evaluations.append(evaluation)
            self.outcome.trial_numbers.append(number)
        if self.on_evaluation is not None:
            self.on_evaluation(evaluation)

    def _settle(self, loss: CVOutcome) -> None:
        """Give the trials a lost stream left pending their result, or another worker."""
        lost = sorted(self.pending)
        stopped = set(self.watch.take_stopped()) & set(lost)
        if loss.status == "capped" or stopped:
            # Nothing came back in time (all are capped), or the watchdog names the
            # culprit (the others died with its pool: they get a worker again).
            for number in lost:
                if number in stopped:
                    self._tell(number, _stopped_outcome())
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
                    stopped_now = self.watch.take_stopped()
                    self._tell(number, _stopped_outcome() if stopped_now else again)


def _given(number: int, outcome: CVOutcome) -> tuple[int, CVOutcome]:
    """A joblib call whose outcome is known already (a trial that cannot run)."""
    return number, outcome


def _stopped_outcome() -> CVOutcome:
    return CVOutcome(
        math.nan,
        0.0,
        "capped",
        f"no result within the hard limit ({HARD_TIMEOUT_GRACE_S:.0f}s past its time "
        "limit): its worker process ignored the limit (stuck in native code?) and was "
        "stopped",
    )


@dataclass
class _Watch:
    """What one watchdog saw: its marker folder and the trials whose worker it stopped."""

    marker_dir: str | None
    stopped: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_stopped(self) -> list[int]:
        """The trials stopped since the last call."""
        with self.lock:
            stopped, self.stopped = self.stopped, []
        return stopped


@contextmanager
def _watchdog(*, enabled: bool) -> Iterator[_Watch]:
    """Kill the worker processes of trials running :data:`HARD_TIMEOUT_GRACE_S` past
    their deadline.

    Workers mark the trial they run, with its deadline, in a private folder
    (``autometa.search._evaluation``'s ``run_trial``); a thread here reads the markers every
    :data:`WATCHDOG_INTERVAL_S` and sends SIGKILL. This is the guard for code that no
    signal handler can interrupt (native code stuck on a lock, or looping without
    returning to Python), which a worker-side time limit cannot stop. Only processes
    that are this process's own children are killed (loky's workers are), never this
    process: a trial running in-process or on a cluster's worker (another parent,
    another machine) is left alone, and joblib's own timeout remains its guard.
    """
    if not enabled:
        yield _Watch(None)
        return
    watch = _Watch(tempfile.mkdtemp(prefix="autometa-trials-"))
    done = threading.Event()

    def patrol() -> None:
        while not done.wait(WATCHDOG_INTERVAL_S):
            _stop_stragglers(watch)

    thread = threading.Thread(target=patrol, name="autometa-watchdog", daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        done.set()
        thread.join()
        assert watch.marker_dir is not None
        shutil.rmtree(watch.marker_dir, ignore_errors=True)


def _stop_stragglers(watch: _Watch) -> None:
    """Kill each child worker process whose marker says its trial is past the grace."""
    assert watch.marker_dir is not None
    kill = getattr(signal, "SIGKILL", signal.SIGTERM)
    try:
        markers = sorted(Path(watch.marker_dir).iterdir())
    except OSError:
        return
    now = time.time()
    for marker in markers:
        if not marker.name.isdigit():
            continue  # a marker being written
        try:
            pid, parent, deadline = marker.read_text().split()
        except (OSError, ValueError):
            continue  # the trial just ended and removed it
        if deadline == "none" or now < float(deadline) + HARD_TIMEOUT_GRACE_S:
            continue
        if int(parent) != os.getpid() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), kill)
        except OSError:
            continue
        with watch.lock:
            watch.stopped.append(int(marker.name))
        with contextlib.suppress(OSError):
            marker.unlink()
        logger.warning("stopped worker process %s: its trial ignored the time limit", pid)


_EXIT_CODES = re.compile(r"exit codes of the workers are \{([^}]*)\}")


def describe_worker_loss(exc: BaseException) -> str:
    """Why a worker process was lost, from the error joblib raised in the parent.

    loky names the exit codes of the workers that ended (``{EXIT(3)}``,
    ``{SIGKILL(-9)}``); they become e.g. ``worker process died (exit code 3)``.
    Other backends' errors are described as they are.
    """
    found = _EXIT_CODES.search(str(exc))
    codes = [int(code) for code in re.findall(r"\((-?\d+)\)", found.group(1))] if found else []
    if not codes:
        return f"worker process lost: {describe_error(exc)}"
    return "worker process died (" + "; ".join(_describe_exit(code) for code in codes) + ")"


def _describe_exit(code: int) -> str:
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    hints = {
        "SIGKILL": ": killed, often by the system's out-of-memory killer (see memory_limit)",
        "SIGSEGV": ": a crash in native code",
        "SIGABRT": ": aborted by native code",
    }
    return f"killed by {name}{hints.get(name, '')}"
