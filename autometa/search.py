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
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

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

from autometa.evaluation import CVOutcome, cross_validate_config, describe_error
from autometa.studies import TrialLease, reclaim_abandoned
from autometa.task import Task
from autometa.types import ALGORITHM_PARAM, PARAM_SEPARATOR, Algorithm, Config, Evaluation

logger = logging.getLogger(__name__)

HARD_TIMEOUT_GRACE_S = 5.0
"""Extra seconds joblib waits past a trial's own limit before abandoning the worker."""

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


def make_sampler(spec: str | BaseSampler, random_state: int | None, n_jobs: int = 1) -> BaseSampler:
    """An Optuna sampler from a name, seeded; instances are returned unchanged."""
    if isinstance(spec, BaseSampler):
        return spec
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
    raise ValueError(f"Unknown sampler {spec!r}; use one of {SAMPLERS} or a sampler instance.")


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
) -> SearchOutcome:
    """Ask, evaluate and tell until the budget is spent; return what was evaluated.

    Time is kept for the final refit: a round starts only if the time left, minus the
    estimated refit of the best configuration so far (``previous`` evaluations of a
    resumed study included), is at least :data:`MIN_TRIAL_TIME_S`, and each trial is
    limited to that time. With a ``lease`` (durable studies), each round first reclaims
    trials dead processes left running, then marks its own trials as this process's
    while they run, and releases them if the round raises.
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
            trials = [claim(study.ask()) for _ in range(size)]
            configs = [suggest_config(trial, algorithms, task) for trial in trials]
            limit = None if math.isinf(trial_limit) else trial_limit
            results = _evaluate_round(task, algorithms, configs, splits, limit, n_jobs)
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
) -> list[CVOutcome]:
    """Evaluate configurations in parallel; every one gets an outcome, whatever happens."""
    results: list[CVOutcome | None] = [None] * len(configs)
    jobs = []
    for index, config in enumerate(configs):
        try:
            estimator = algorithms[config.algorithm].make_estimator(config.params, task)
        except Exception as exc:  # a factory bug is one failed trial, not a crashed fit
            results[index] = CVOutcome(math.nan, 0.0, "failed", describe_error(exc))
            continue
        jobs.append((index, estimator))
    if jobs:
        hard_timeout = None if time_limit_s is None else time_limit_s + HARD_TIMEOUT_GRACE_S
        in_process = joblib.effective_n_jobs(n_jobs) == 1
        parallel = joblib.Parallel(
            n_jobs=n_jobs,
            # joblib ignores (and warns about) timeouts when it runs in-process; there the
            # worker-side time limit of cross_validate_config is the guard.
            timeout=None if in_process else hard_timeout,
            return_as="generator_unordered",
        )
        # Workers get an absolute wall-clock deadline, not a duration: time spent starting
        # a worker process or shipping data to it then counts against the budget too.
        deadline = None if time_limit_s is None else time.time() + time_limit_s
        calls = (
            joblib.delayed(_indexed)(
                index, deadline, estimator, task.X, task.y, splits, task.scoring
            )
            for index, estimator in jobs
        )
        try:
            for index, result in parallel(calls):
                results[index] = result
        except (TimeoutError, multiprocessing.TimeoutError):
            _fill(results, "capped", f"no result within the hard limit of {hard_timeout:.0f}s")
        except Exception as exc:  # e.g. a worker process killed by the OS
            _fill(results, "failed", f"worker lost: {describe_error(exc)}")
    return [r for r in results if r is not None]


def _indexed(
    index: int,
    deadline: float | None,
    estimator: Any,
    X: Any,
    y: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    scoring: str,
) -> tuple[int, CVOutcome]:
    """Worker: evaluate until the wall-clock ``deadline``; tag the result with its slot."""
    limit = None if deadline is None else max(deadline - time.time(), 1e-3)
    return index, cross_validate_config(estimator, X, y, splits, scoring, limit)


def _fill(results: list[CVOutcome | None], status: Any, error: str) -> None:
    for index, result in enumerate(results):
        if result is None:
            results[index] = CVOutcome(math.nan, 0.0, status, error)
