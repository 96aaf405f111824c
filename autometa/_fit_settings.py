"""An estimator's parameters, checked once, with the fit's budget resolved.

Bad values fail here, before any work, with a message naming the parameter and what to
pass instead.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from autometa._progress import resolve_verbose
from autometa.contract._row_checks import ClassWeight, check_class_weight
from autometa.contract._types import Strategy
from autometa.search._limits import resolve_memory_limit
from autometa.search._planning import KnowledgeSpec
from autometa.search._shared_predictions import ArtifactSetting

DEFAULT_TIMEOUT_S = 60.0
"""Time budget when neither ``timeout`` nor ``n_trials`` is given (as FLAML's default)."""


@dataclass(frozen=True)
class FitSettings:
    """What one fit runs with: the estimator's parameters after :meth:`check`."""

    timeout: float | None
    """Seconds for search and refit together; :data:`DEFAULT_TIMEOUT_S` when neither a
    timeout nor ``n_trials`` was given."""
    n_trials: int | None
    n_jobs: int
    memory_limit_mb: float | None
    """The per-trial memory limit in megabytes for ``n_jobs`` workers (None: no limit)."""
    random_state: int | None
    scoring: str | None
    cv: Any
    warm_start: int | None
    strategy: Strategy | None
    knowledge: KnowledgeSpec
    storage: str | optuna.storages.BaseStorage | None
    study_name: str | None
    plugins: Sequence[object]
    blocked: Sequence[str]
    algorithms: Sequence[str] | None
    verbose: int
    """0 silent, 1 a progress bar with start and end lines, 2+ also a line per trial;
    resolved from ``verbose`` and the deprecated ``progress`` (see
    :func:`autometa._progress.resolve_verbose`)."""
    ensemble: bool
    ensemble_size: int
    ensemble_memory_limit: float
    callbacks: tuple[Callable[[optuna.Study, FrozenTrial], None], ...] = ()
    artifact_store: ArtifactSetting = "auto"
    """Where a durable study's trials share their out-of-fold predictions for every
    process's ensemble (:mod:`autometa.search._shared_predictions`)."""
    class_weight: ClassWeight = None
    """``"balanced"`` (every class weighs the same in training) or a dict ``{class label:
    weight}``, checked (see :class:`autometa.search._weights.RowWeights`); scores are not
    reweighted. Its labels are checked against y's classes when the task is built."""

    @classmethod
    def check(cls, params: Mapping[str, Any]) -> FitSettings:
        """Check an estimator's parameters (``get_params(deep=False)``); resolve the budget."""
        timeout, n_trials = params["timeout"], params["n_trials"]
        if n_trials is not None and (
            not isinstance(n_trials, (int, np.integer))
            or isinstance(n_trials, bool)  # True is an int to Python, not a count to a user
            or n_trials < 1
        ):
            raise ValueError(f"n_trials must be a positive integer, got {n_trials!r}.")
        if timeout is not None and (
            not isinstance(timeout, (int, float, np.integer, np.floating))
            or isinstance(timeout, bool)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}.")
        if timeout is None and n_trials is None:
            timeout = DEFAULT_TIMEOUT_S
        _check_ensemble(
            params["ensemble"], params["ensemble_size"], params["ensemble_memory_limit"]
        )
        n_jobs: int = params["n_jobs"]
        if not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
            raise ValueError(f"n_jobs must be a non-zero integer (-1 = all cores), got {n_jobs!r}.")
        memory_limit_mb = resolve_memory_limit(params["memory_limit"], n_jobs)  # bad values fail
        class_weight = check_class_weight(params.get("class_weight"))
        return cls(
            timeout=timeout,
            n_trials=n_trials,
            n_jobs=n_jobs,
            memory_limit_mb=memory_limit_mb,
            random_state=params["random_state"],
            scoring=params["scoring"],
            cv=params["cv"],
            warm_start=params["warm_start"],
            strategy=params["strategy"],
            knowledge=params["knowledge"],
            storage=params["storage"],
            study_name=params["study_name"],
            plugins=params["plugins"],
            blocked=params["blocked"],
            algorithms=params["algorithms"],
            verbose=_check_verbose(params.get("verbose"), params.get("progress")),
            ensemble=bool(params["ensemble"]),
            ensemble_size=int(params["ensemble_size"]),
            ensemble_memory_limit=float(params["ensemble_memory_limit"]),
            callbacks=_check_callbacks(params.get("callbacks", ())),
            class_weight=class_weight,
            artifact_store=params.get("artifact_store", "auto"),
        )


def _check_verbose(verbose: Any, progress: Any) -> int:
    """The fit's verbosity; ``progress``, deprecated, warns and still counts."""
    if progress is not None:
        warnings.warn(
            "progress= is deprecated and will be removed in a future release; use "
            "verbose=1 (a progress bar) or verbose=0 (silent) instead, as in scikit-learn.",
            FutureWarning,
            stacklevel=4,  # _check_verbose < check < the estimator's fit or autometa.fit
        )
    return resolve_verbose(verbose, progress)


def _check_callbacks(callbacks: Any) -> tuple[Callable[[optuna.Study, FrozenTrial], None], ...]:
    """Optuna callbacks: a sequence of callables (one callable alone is a common slip)."""
    if callbacks is None:
        return ()
    if callable(callbacks) or not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            "callbacks must be a list of callables called as callback(study, trial), as "
            f"for optuna.Study.optimize; got {callbacks!r}. Wrap a single one: [callback]."
        )
    wrong = [c for c in callbacks if not callable(c)]
    if wrong:
        raise TypeError(f"callbacks must be callables; these are not: {wrong!r}.")
    return tuple(callbacks)


def _check_ensemble(ensemble: Any, size: Any, bound: Any) -> None:
    if not isinstance(ensemble, (bool, np.bool_)):
        raise ValueError(f"ensemble must be True or False, got {ensemble!r}.")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(
            "ensemble_size must be a positive integer (greedy rounds, the most members "
            f"an ensemble can have), got {size!r}; pass ensemble=False for no ensemble."
        )
    if (
        isinstance(bound, bool)
        or not isinstance(bound, (int, float, np.integer, np.floating))
        or not math.isfinite(bound)
        or bound <= 0
    ):
        raise ValueError(
            "ensemble_memory_limit must be a positive number of megabytes for the "
            f"trials' kept predictions, got {bound!r}; pass ensemble=False for no ensemble."
        )
