"""The search: Optuna ask/tell over one conditional space, trials evaluated by joblib.

One study covers every algorithm: the parameter ``algorithm`` chooses one, and only that
algorithm's ``<algorithm>__<param>`` parameters are suggested (a conditional,
define-by-run space). Warm starts are enqueued trials, so samplers, storages and
dashboards see them as ordinary trials.

Each round asks ``n_jobs`` trials, evaluates them in joblib workers (processes with the
default loky backend, a cluster under ``joblib.parallel_config(backend="dask")``),
and tells the results. A configuration that raises or runs out of time becomes a
failed trial carrying its reason; the search goes on.
"""

from __future__ import annotations

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
import warnings
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

from autometa.evaluation import CVOutcome, describe_error, run_trial
from autometa.studies import TrialLease, reclaim_abandoned
from autometa.task import Task
from autometa.types import ALGORITHM_PARAM, PARAM_SEPARATOR, Algorithm, Config, Evaluation

if TYPE_CHECKING:
    from autometa.knowledge import KnowledgeBase
    from autometa.plugins import Plugins

logger = logging.getLogger(__name__)

HARD_TIMEOUT_GRACE_S = 2.0
"""Seconds past a trial's own limit before its worker process is stopped.

A worker whose trial hit the limit returns within milliseconds; one that has not by then
is stuck where no signal reaches Python (see ``_watchdog``)."""

MIN_TRIAL_TIME_S = 0.5
"""A round is not started with less time than this left."""

SAMPLERS = ("tpe", "random", "cmaes", "qmc")


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


@dataclass(frozen=True)
class SamplerContext:
    """What a sampler offered by a plugin may learn from: the fit's task and its space,
    the knowledge base and the task's meta-features.

    Samplers named by plugins (hook ``autometa_samplers``) are built from it, e.g. a
    sampler that models the earlier tasks' scores, or one that starts where the nearest
    earlier tasks did best.
    """

    task: Task
    algorithms: Mapping[str, Algorithm]
    """The algorithms of this fit's search space, by name."""
    knowledge: KnowledgeBase
    meta_features: Mapping[str, float]


SamplerFactory = Callable[[SamplerContext, int | None, int], BaseSampler]
"""``factory(context, random_state, n_jobs)`` returns a new, seeded Optuna sampler."""


def make_sampler(
    spec: str | BaseSampler,
    random_state: int | None,
    n_jobs: int = 1,
    *,
    plugins: Plugins | None = None,
    context: SamplerContext | None = None,
) -> BaseSampler:
    """An Optuna sampler from a name, seeded; instances are returned unchanged.

    Built-in names (:data:`SAMPLERS`) come first; any other name is one a plugin offers
    (``autometa_samplers``), built from ``context``. An unknown name is a ValueError
    listing the known ones.
    """
    if isinstance(spec, BaseSampler):
        return spec
    if not isinstance(spec, str):
        raise TypeError(
            f"A sampler is a name or an optuna.samplers.BaseSampler, got {type(spec).__name__}."
        )
    if spec in SAMPLERS:
        return _built_in_sampler(spec, random_state, n_jobs)
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
        f"Unknown sampler {spec!r}; use one of {[*SAMPLERS, *offered]}{hint} or an Optuna "
        "sampler instance."
    )


def _built_in_sampler(spec: str, random_state: int | None, n_jobs: int) -> BaseSampler:
    if spec == "tpe":
        with warnings.catch_warnings():
            # `group` is marked experimental; it is what a conditional space needs, and
            # the warning would tell our users nothing they can act on.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=random_state,
                multivariate=True,
                group=True,  # the space is conditional on `algorithm`
                constant_liar=n_jobs > 1,
            )
    if spec == "random":
        return optuna.samplers.RandomSampler(seed=random_state)
    if spec == "cmaes":
        return optuna.samplers.CmaEsSampler(
            seed=random_state,
            independent_sampler=make_sampler("tpe", random_state, n_jobs),
        )
    if spec == "qmc":
        return optuna.samplers.QMCSampler(seed=random_state)
    raise AssertionError(f"not a built-in sampler: {spec!r}")


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
) -> SearchOutcome:
    """Ask, evaluate and tell until the budget is spent; return what was evaluated.

    Time is kept for the final refit: a round starts only if the time left, minus the
    estimated refit of the best configuration so far (``previous`` evaluations of a
    resumed study included), is at least :data:`MIN_TRIAL_TIME_S`, and each trial is
    limited to that time. With a ``lease`` (durable studies), each round first reclaims
    trials dead processes left running, then marks its own trials as this process's
    while they run, and releases them if the round raises. ``memory_limit_mb`` limits
    each trial's memory (see :func:`autometa.evaluation.memory_cap`).
    """
    if not algorithms:
        raise ValueError(
            f"No algorithm is available for a {task.kind} task; check that the "
            "autometa_sklearn plugin (or another algorithm plugin) is installed and not "
            "blocked."
        )
    workers = joblib.effective_n_jobs(n_jobs)
    splits = list(task.cv.split(task.X, task.y))
    outcome = SearchOutcome([], [])
    earlier_best = SearchOutcome(list(previous), []).best()
    while budget.n_trials is None or len(outcome.evaluations) < budget.n_trials:
        known = [b for b in (outcome.best(), earlier_best) if b is not None]
        best = max(known, key=lambda e: e.score) if known else None
        reserve = 1.5 * estimated_refit_seconds(best, task) + 0.5 if best else 0.0
        trial_limit = budget.seconds_left() - reserve
        if trial_limit < MIN_TRIAL_TIME_S:
            break
        size = workers
        if budget.n_trials is not None:
            size = min(size, budget.n_trials - len(outcome.evaluations))
        if lease is not None:
            reclaim_abandoned(study)
        holding: AbstractContextManager[Callable[[Trial], Trial]] = (
            nullcontext(_unclaimed) if lease is None else lease.hold(study)
        )
        with holding as claim:
            if lease is None:
                trials = [claim(study.ask()) for _ in range(size)]
            else:  # a shared study: fewer when other processes are filling it too
                trials = lease.ask(study, size, claim)
                if not trials:
                    break
            configs = [suggest_config(trial, algorithms, task) for trial in trials]
            limit = None if math.isinf(trial_limit) else trial_limit
            results = _evaluate_round(
                task, algorithms, configs, splits, limit, n_jobs, memory_limit_mb
            )
            for trial, config, result in zip(trials, configs, results, strict=True):
                evaluation = Evaluation(
                    task.task_id,
                    config,
                    result.score,
                    result.fit_time,
                    result.status,
                    result.error,
                )
                _tell(study, trial, evaluation, result)
                outcome.evaluations.append(evaluation)
                outcome.trial_numbers.append(trial.number)
                if on_evaluation is not None:
                    on_evaluation(evaluation)
    return outcome


def _unclaimed(trial: Trial) -> Trial:
    return trial


def _tell(study: optuna.Study, trial: Trial, evaluation: Evaluation, result: CVOutcome) -> None:
    # ``status`` is written last: a failed trial carrying it was evaluated (it counts as
    # done when a durable study is resumed), see autometa.studies.
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


def _evaluate_round(
    task: Task,
    algorithms: Mapping[str, Algorithm],
    configs: Sequence[Config],
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    time_limit_s: float | None,
    n_jobs: int,
    memory_limit_mb: float | None = None,
) -> list[CVOutcome]:
    """Evaluate configurations in parallel; every one gets an outcome, whatever happens.

    A fault stays with the configuration that caused it:

    - raising, running past the time limit or past ``memory_limit_mb``: handled inside
      the worker (:func:`autometa.evaluation.cross_validate_config`): failed or capped;
    - hanging where no signal reaches Python (native code stuck on a lock): a watchdog
      kills the worker :data:`HARD_TIMEOUT_GRACE_S` after the time limit: capped;
    - ending its worker process (``os._exit``, a crash in native code, the out-of-memory
      killer): the process pool breaks and takes the round's other trials with it, so
      each configuration left without a result is evaluated once more, alone; the
      innocent ones then get their result and the culprit, dying again, is failed with
      the exit code or signal.

    joblib starts fresh workers on the next call, so later rounds run as usual. With
    ``n_jobs=1`` trials run in this process (joblib's sequential backend): the time and
    memory limits still apply (the memory limit is lifted again after each trial), but a
    configuration that ends its process ends the caller, and one that hangs in native
    code hangs it.
    """
    results: list[CVOutcome | None] = [None] * len(configs)
    jobs: dict[int, Any] = {}
    for index, config in enumerate(configs):
        try:
            jobs[index] = algorithms[config.algorithm].make_estimator(config.params, task)
        except Exception as exc:  # a factory bug is one failed trial, not a crashed fit
            results[index] = CVOutcome(math.nan, 0.0, "failed", describe_error(exc))
    if jobs:
        # Workers get an absolute wall-clock deadline, not a duration: time spent starting
        # a worker process or shipping data to it then counts against the budget too.
        deadline = None if time_limit_s is None else time.time() + time_limit_s
        round_ = _Round(task, splits, n_jobs, deadline, memory_limit_mb)
        loss = round_.run(jobs, results)
        lost = [index for index in jobs if results[index] is None]
        if loss is not None and loss.status == "failed" and len(lost) > 1:
            for index in lost:  # alone, so that only a culprit can break its pool
                if not round_.time_left():
                    results[index] = CVOutcome(
                        math.nan,
                        0.0,
                        "capped",
                        f"lost with a worker process ({loss.error}); no time left to retry",
                    )
                    continue
                again = round_.run({index: jobs[index]}, results)
                if again is not None:
                    results[index] = again
        for index in lost:
            if results[index] is None:
                results[index] = loss
    return [r for r in results if r is not None]


@dataclass(frozen=True)
class _Round:
    """Runs trials of one round in joblib workers, all under one wall-clock deadline."""

    task: Task
    splits: Sequence[tuple[np.ndarray, np.ndarray]]
    n_jobs: int
    deadline: float | None
    memory_limit_mb: float | None

    def time_left(self) -> bool:
        """Whether a trial started now would have time to run (see MIN_TRIAL_TIME_S)."""
        return self.deadline is None or self.deadline - time.time() >= MIN_TRIAL_TIME_S

    def run(self, jobs: Mapping[int, Any], results: list[CVOutcome | None]) -> CVOutcome | None:
        """Evaluate ``jobs`` (slot -> estimator) into ``results`` as they come back.

        Returns None when every job came back, else the outcome its lost jobs get: capped
        when the deadline (plus grace) passed, failed when a worker process died.
        """
        in_process = joblib.effective_n_jobs(self.n_jobs) == 1
        hard_timeout = None
        if self.deadline is not None:
            hard_timeout = max(self.deadline - time.time(), 0.0) + HARD_TIMEOUT_GRACE_S
        parallel = joblib.Parallel(
            n_jobs=self.n_jobs,
            # joblib ignores (and warns about) timeouts when it runs in-process; there the
            # worker-side time limit of cross_validate_config is the guard.
            timeout=None if in_process else hard_timeout,
            return_as="generator_unordered",
        )
        with _watchdog(None if in_process else hard_timeout) as watch:
            calls = (
                joblib.delayed(run_trial)(
                    index,
                    self.deadline,
                    estimator,
                    self.task.X,
                    self.task.y,
                    self.splits,
                    self.task.scoring,
                    self.memory_limit_mb,
                    watch.marker_dir,
                )
                for index, estimator in jobs.items()
            )
            try:
                for index, result in parallel(calls):
                    results[index] = result
            except (TimeoutError, multiprocessing.TimeoutError):
                return _hard_limit_outcome(hard_timeout, stopped=False)
            except Exception as exc:  # a worker process died, or was stopped by the watchdog
                if watch.stopped:
                    return _hard_limit_outcome(hard_timeout, stopped=True)
                return CVOutcome(math.nan, 0.0, "failed", describe_worker_loss(exc))
        return None


@dataclass
class _Watch:
    """What one watchdog saw: its marker folder and the trials whose worker it stopped."""

    marker_dir: str | None
    stopped: list[int] = field(default_factory=list)


@contextmanager
def _watchdog(seconds: float | None) -> Iterator[_Watch]:
    """After ``seconds``, kill the worker processes of trials still running.

    Workers mark the trial they run in a private folder (``autometa.evaluation``'s
    ``run_trial``); a timer thread here reads the markers and sends SIGKILL. This is the
    guard for code that no signal handler can interrupt (native code stuck on a lock, or
    looping without returning to Python), which a worker-side time limit cannot stop.
    Only processes that are this process's own children are killed (loky's workers are),
    never this process: a trial running in-process or on a cluster's worker (another
    parent, another machine) is left alone, and joblib's own timeout remains its guard.
    """
    if seconds is None:
        yield _Watch(None)
        return
    watch = _Watch(tempfile.mkdtemp(prefix="autometa-trials-"))
    assert watch.marker_dir is not None
    timer = threading.Timer(seconds, _stop_stragglers, args=(watch.marker_dir, watch.stopped))
    timer.daemon = True
    timer.start()
    try:
        yield watch
    finally:
        timer.cancel()
        shutil.rmtree(watch.marker_dir, ignore_errors=True)


def _stop_stragglers(marker_dir: str, stopped: list[int]) -> None:
    """Kill each child worker process whose marker says it is still running a trial."""
    kill = getattr(signal, "SIGKILL", signal.SIGTERM)
    try:
        markers = sorted(Path(marker_dir).iterdir())
    except OSError:  # the round ended and removed the folder meanwhile
        return
    for marker in markers:
        if not marker.name.isdigit():
            continue  # a marker being written
        try:
            pid, parent = (int(part) for part in marker.read_text().split())
        except (OSError, ValueError):
            continue  # the trial just ended and removed it
        if parent != os.getpid() or pid == os.getpid():
            continue
        try:
            os.kill(pid, kill)
        except OSError:
            continue
        stopped.append(int(marker.name))
        logger.warning("stopped worker process %d: its trial ignored the time limit", pid)


def _hard_limit_outcome(hard_timeout: float | None, *, stopped: bool) -> CVOutcome:
    limit = "" if hard_timeout is None else f" of {hard_timeout:.0f}s"
    what = (
        "its worker process ignored the time limit (stuck in native code?) and was stopped"
        if stopped
        else "the worker was abandoned"
    )
    return CVOutcome(math.nan, 0.0, "capped", f"no result within the hard limit{limit}: {what}")


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
