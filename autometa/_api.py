"""The public API: ``fit``, ``recommend``, ``warm_start`` and the scikit-learn estimators.

``AutoMetaClassifier`` and ``AutoMetaRegressor`` follow scikit-learn's conventions:
parameters in ``__init__`` (so ``clone`` and ``get_params`` work), learned state in
attributes ending with ``_``, ``predict``/``predict_proba``/``score``. ``autometa.fit``
picks the right one from the data.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import optuna
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import BaseTrial
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from autometa._plugins import build_plugin_manager
from autometa.contract._task import FeatureSchema, Task
from autometa.contract._types import (
    Algorithm,
    Config,
    Evaluation,
    Recommendation,
    Strategy,
    TaskKind,
)
from autometa.knowledge._base import KnowledgeBase, TaskRecord
from autometa.search._ensemble import (
    DEFAULT_ENSEMBLE_MEMORY_MB,
    DEFAULT_ENSEMBLE_SIZE,
    PredictionStore,
)
from autometa.search._ensemble_model import (
    EnsembleSummary,
    build_ensemble,
    make_store,
    no_ensemble_summary,
)
from autometa.search._evaluation import (
    MemoryLimit,
    fit_with_limit,
    resolve_memory_limit,
    validation_rows,
)
from autometa.search._loop import (
    Budget,
    SamplerContext,
    SearchOutcome,
    estimated_refit_seconds,
    make_sampler,
    run_search,
    suggest_config,
)
from autometa.search._planning import KnowledgeSpec, Plan, make_plan, restrict_algorithms
from autometa.search._progress import search_progress
from autometa.search._studies import (
    SCORING_ATTR,
    TASK_ATTR,
    TrialLease,
    check_study,
    in_memory_copy,
    join_study,
    open_storage,
    reclaim_abandoned,
    study_evaluations,
    study_lock,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
"""Time budget when neither ``timeout`` nor ``n_trials`` is given (as FLAML's default)."""


REFIT_MIN_LIMIT_S = 1.0
"""A limited refit always gets at least this long, even when the budget is spent."""

RESERVED_ENSEMBLE_REFITS = 4
"""With an ensemble, the search keeps time to refit this many of its best configurations
(members past what the time left allows are dropped)."""


class BudgetTooSmallError(ValueError):
    """The time budget ran out before a single configuration could be evaluated."""


class AllTrialsFailedError(ValueError):
    """Every configuration tried failed; the distinct errors are in the message.

    A ValueError, as scikit-learn's when all fits of a cross-validation fail: the cause
    is nearly always in the data or the settings (scoring, cv) rather than in autometa.
    """


class _AutoMetaBase(BaseEstimator):
    """Shared implementation of the classifier and regressor (not public).

    With ``storage`` (an SQLAlchemy URL such as ``"sqlite:///study.db"`` or an Optuna
    storage object, e.g. a ``JournalStorage``) and ``study_name``, the study is durable:
    a fit that was killed and is started again with the same ``study_name`` resumes it.
    ``n_trials`` is then the total for the study, so a resumed fit runs only the trials
    still missing (none when the study has them all: it only refits), while ``timeout``
    limits each call. Trials the dead process left running are failed and enqueued again;
    warm starts already in the study are not enqueued twice. ``evaluations_``,
    ``best_config_`` and the refit cover the whole study, earlier processes' trials
    included; the ``autometa_trial_completed`` hook sees only this call's trials.

    Faults of a configuration stay with its trial. With ``n_jobs`` of 2 or more, trials
    run in joblib worker processes: one that raises is failed with its error, one that
    runs past its time or past ``memory_limit`` megabytes (``"auto"``: 80% of the
    machine's memory shared between the workers; None: no limit; enforced on Linux only)
    is capped, one that hangs in native code has its worker killed two seconds after its
    time limit (capped), and one that kills its worker (``os._exit``, a segfault, the
    out-of-memory killer) is failed with the exit code, the trials it took down with it
    being evaluated again. With ``n_jobs`` of 2 or more a trial is asked whenever a worker
    is free, so which configurations are tried depends on timing (as with Optuna's
    ``optimize(n_jobs=...)``); with ``n_jobs=1`` a fit is reproducible for a given
    ``random_state``. With ``n_jobs=1`` trials run in this process: raising, time
    and memory limits are handled the same way (the memory limit is lifted after each
    trial), but a configuration that ends its process ends yours, and one that hangs in
    native code hangs the fit.

    With ``ensemble=True`` (the default) the fit returns an ensemble of what the search
    evaluated, as auto-sklearn does: each trial keeps its out-of-fold predictions of the
    validation rows (float32; only the best trials', within ``ensemble_memory_limit``
    megabytes), greedy forward selection with replacement (Caruana et al.) picks at most
    ``ensemble_size`` members optimising the fit's own ``scoring`` on them, and the
    members are refitted on all rows in the time kept for it (one that fails or does not
    fit in the time is dropped, the weights renormalised). ``ensemble_`` describes the
    members, weights and validation scores; with one member left the model is that
    member alone. ``ensemble=False`` refits the single best configuration, as before.
    ``best_config_`` and ``best_score_`` are the best single configuration's either way
    (passing over one whose refit on all rows failed).
    Durable studies ensemble only this process's trials: other processes' trials have no
    predictions here (``explain()`` says how many).
    """

    _kinds: tuple[TaskKind, ...] = ()

    def __init__(
        self,
        *,
        timeout: float | None = None,
        n_trials: int | None = None,
        n_jobs: int = 1,
        memory_limit: MemoryLimit = "auto",
        random_state: int | None = None,
        scoring: str | None = None,
        cv: Any = None,
        warm_start: int | None = None,
        strategy: Strategy | None = None,
        knowledge: KnowledgeSpec = None,
        storage: str | optuna.storages.BaseStorage | None = None,
        study_name: str | None = None,
        plugins: Sequence[object] = (),
        blocked: Sequence[str] = (),
        algorithms: Sequence[str] | None = None,
        progress: bool = False,
        ensemble: bool = True,
        ensemble_size: int = DEFAULT_ENSEMBLE_SIZE,
        ensemble_memory_limit: float = DEFAULT_ENSEMBLE_MEMORY_MB,
    ) -> None:
        self.timeout = timeout
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.memory_limit = memory_limit
        self.random_state = random_state
        self.scoring = scoring
        self.cv = cv
        self.warm_start = warm_start
        self.strategy = strategy
        self.knowledge = knowledge
        self.storage = storage
        self.study_name = study_name
        self.plugins = plugins
        self.blocked = blocked
        self.algorithms = algorithms
        self.progress = progress
        self.ensemble = ensemble
        self.ensemble_size = ensemble_size
        self.ensemble_memory_limit = ensemble_memory_limit

    # -- fitting --------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, *, kind: TaskKind | None = None) -> _AutoMetaBase:
        """Search on ``X, y``; refit the ensemble's members (or the best) on all rows."""
        started = time.monotonic()
        timeout, _ = self._check_budget()
        storage = open_storage(self.storage)  # an unreachable database fails before planning
        if kind is None and len(self._kinds) == 1:
            kind = self._kinds[0]
        plan = self._plan(X, y, kind, timeout)
        if self._kinds and plan.task.kind not in self._kinds:
            other = "AutoMetaRegressor" if plan.task.kind == "regression" else "AutoMetaClassifier"
            raise ValueError(
                f"{type(self).__name__} got a {plan.task.kind} target; use {other} or "
                "autometa.fit, which chooses for you."
            )
        return self._fit_plan(plan, started, storage)

    def _plan(self, X: Any, y: Any, kind: TaskKind | None, timeout: float | None) -> Plan:
        """Steps 1-5 of a fit; ``timeout`` is the checked budget, told to the strategy."""
        return make_plan(
            X,
            y,
            kind=kind,
            scoring=self.scoring,
            cv=self.cv,
            random_state=self.random_state,
            knowledge=self.knowledge,
            strategy=self.strategy,
            warm_start=self.warm_start,
            plugins=self.plugins,
            blocked=self.blocked,
            algorithms=self.algorithms,
            timeout=timeout,
        )

    def _fit_plan(self, plan: Plan, started: float, storage: BaseStorage | None) -> _AutoMetaBase:
        """Steps 5-8 of a fit: warm start, search, ensemble or refit, grow the knowledge base."""
        timeout, n_trials = self._check_budget()
        deadline = None if timeout is None else started + timeout
        splits = list(plan.task.cv.split(plan.task.X, plan.task.y))
        store = (
            make_store(plan.task, validation_rows(splits), float(self.ensemble_memory_limit))
            if self.ensemble
            else None
        )
        with _quiet_optuna():
            study, previous = self._open_study(plan, storage)
            remaining = None if n_trials is None else max(n_trials - len(previous), 0)
            budget = Budget(remaining, deadline)
            outcome = SearchOutcome([], [])
            if remaining != 0:
                with study_lock(study, storage):  # processes sharing the study enqueue once
                    enqueue(study, plan.recommendations)
                with search_progress(self.progress, remaining, deadline, plan.task.scoring) as show:

                    def observe(evaluation: Evaluation) -> None:
                        show(evaluation)
                        plan.plugins.trial_completed(evaluation, plan.task)

                    outcome = run_search(
                        plan.task,
                        plan.algorithms,
                        study,
                        budget,
                        n_jobs=self.n_jobs,
                        on_evaluation=observe,
                        previous=previous,
                        lease=None
                        if storage is None
                        else TrialLease(storage=storage, n_trials=n_trials),
                        memory_limit_mb=resolve_memory_limit(self.memory_limit, self.n_jobs),
                        splits=splits,
                        predictions=store,
                        reserved_refits=(
                            min(int(self.ensemble_size), RESERVED_ENSEMBLE_REFITS)
                            if store is not None and store.capacity > 0
                            else 1
                        ),
                    )
            else:
                logger.info("study already has %d trials; refitting its best", len(previous))
        evaluations = [*previous, *outcome.evaluations]
        if storage is not None:  # with the trials other processes sharing the study finished
            evaluations = study_evaluations(study, plan.task)
        self._check_outcome(evaluations, timeout)
        best, model, summary = self._ensemble_or_refit(plan, evaluations, budget, store)
        self._record(plan, study, evaluations, best, model)
        self.ensemble_: EnsembleSummary | None = summary
        self._grow_knowledge(plan, evaluations)
        return self

    def _check_budget(self) -> tuple[float | None, int | None]:
        timeout, n_trials = self.timeout, self.n_trials
        if n_trials is not None and (not isinstance(n_trials, (int, np.integer)) or n_trials < 1):
            raise ValueError(f"n_trials must be a positive integer, got {n_trials!r}.")
        if timeout is not None and (
            not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0
        ):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}.")
        if timeout is None and n_trials is None:
            timeout = DEFAULT_TIMEOUT_S
        self._check_ensemble()
        if not isinstance(self.n_jobs, (int, np.integer)) or self.n_jobs == 0:
            raise ValueError(
                f"n_jobs must be a non-zero integer (-1 = all cores), got {self.n_jobs!r}."
            )
        resolve_memory_limit(self.memory_limit, self.n_jobs)  # bad values fail here
        return timeout, n_trials

    def _check_ensemble(self) -> None:
        if not isinstance(self.ensemble, (bool, np.bool_)):
            raise ValueError(f"ensemble must be True or False, got {self.ensemble!r}.")
        size = self.ensemble_size
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(
                "ensemble_size must be a positive integer (greedy rounds, the most members "
                f"an ensemble can have), got {size!r}; pass ensemble=False for no ensemble."
            )
        bound = self.ensemble_memory_limit
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

    def _open_study(
        self, plan: Plan, storage: BaseStorage | None
    ) -> tuple[optuna.Study, list[Evaluation]]:
        """Create the study, or resume a durable one; return it with its earlier evaluations.

        An existing study is checked before anything is written to it (direction, task,
        scoring, search space); then trials a dead process left running are reclaimed.
        """
        n_earlier = check_study(
            storage, self.study_name, task=plan.task, algorithms=plan.algorithms
        )
        study = optuna.create_study(
            storage=storage,
            study_name=self.study_name,
            direction="maximize",
            sampler=_make_sampler(plan, self.random_state, self.n_jobs),
            load_if_exists=True,
        )
        _describe(study, plan)
        if storage is None:
            return study, []
        joined = join_study(study, storage)
        if self.random_state is not None and (joined or n_earlier):
            # A resumed seeded sampler must not replay the random points it drew before,
            # nor propose what other processes sharing the study (same seed) propose.
            mixed = np.random.SeedSequence([self.random_state, joined, n_earlier])
            seed = int(mixed.generate_state(1)[0])
            study.sampler = _make_sampler(plan, seed, self.n_jobs)
        reclaim_abandoned(study)
        return study, study_evaluations(study, plan.task)

    def _check_outcome(self, evaluations: list[Evaluation], timeout: float | None) -> None:
        if any(e.ok for e in evaluations):
            return
        if not evaluations or all(e.status == "capped" for e in evaluations):
            raise BudgetTooSmallError(
                f"timeout={timeout}s was too small to evaluate even one configuration "
                f"({len(evaluations)} stopped by the time limit). Increase timeout, or "
                "subsample the data for a first look."
            )
        errors = sorted({e.error or "" for e in evaluations if e.status == "failed"})
        raise AllTrialsFailedError(
            f"All {len(evaluations)} configurations failed; distinct errors:\n  "
            + "\n  ".join(errors[:10])
        )

    def _ensemble_or_refit(
        self,
        plan: Plan,
        evaluations: list[Evaluation],
        budget: Budget,
        store: PredictionStore | None,
    ) -> tuple[Evaluation, BaseEstimator, EnsembleSummary | None]:
        """The model to predict with: an ensemble of the kept trials, or the single best.

        Without an ensemble (``ensemble=False``), or when no member could be refitted,
        the best configuration is refitted alone (:meth:`_refit`), skipping those whose
        refit already failed. The returned evaluation is the best-scoring configuration
        that did not fail to refit (``best_config_``).
        """
        if store is None:
            best, model = self._refit(plan, evaluations, budget)
            return best, model, None
        if store.capacity == 0 or not store.offered:
            reason = (
                f"one trial's predictions take {store.bytes_per_trial / 2**20:.2g} MB, more "
                f"than ensemble_memory_limit={store.memory_limit_mb:g} MB: no ensemble"
                if store.capacity == 0
                else "no trial of this fit has predictions (a resumed durable study whose "
                "trials ran in other processes, or estimators that could not predict)"
            )
            summary = no_ensemble_summary(
                plan.task.scoring, reason, sum(1 for e in evaluations if e.ok)
            )
            best, model = self._refit(plan, evaluations, budget)
            return best, model, summary
        built = build_ensemble(
            plan.task,
            plan.algorithms,
            store,
            evaluations,
            size=int(self.ensemble_size),
            budget=budget,
            min_first_limit_s=REFIT_MIN_LIMIT_S,
        )
        if built.model is None:
            best, model = self._refit(plan, evaluations, budget, exclude=built.failed)
            return best, model, built.summary
        refitted = [e for e in evaluations if e.ok and e.config not in built.failed]
        best = max(refitted, key=lambda e: e.score)
        return best, built.model, built.summary

    def _refit(
        self,
        plan: Plan,
        evaluations: list[Evaluation],
        budget: Budget,
        exclude: frozenset[Config] = frozenset(),
    ) -> tuple[Evaluation, BaseEstimator]:
        """Refit on all rows the best configuration that the time left allows.

        Candidates are the ten best whose estimated refit fits in the time left, each
        limited to that time; the last resort is the fastest configuration that worked,
        without a limit, because a model delivered slightly late beats a failed fit.
        Configurations in ``exclude`` (their refit failed already) are not tried.
        """
        task = plan.task
        ranked = sorted(
            (e for e in evaluations if e.ok and e.config not in exclude), key=lambda e: -e.score
        )
        if not ranked:
            raise AllTrialsFailedError(
                "No configuration could be refitted on all rows: "
                f"{len(exclude)} were tried and failed."
            )
        left = budget.seconds_left()
        affordable = [e for e in ranked[:10] if estimated_refit_seconds(e, task) <= left]
        fastest = min(ranked, key=lambda e: estimated_refit_seconds(e, task))
        attempts: list[tuple[Evaluation, bool]] = [(e, True) for e in affordable]
        attempts.append((fastest, False))
        errors = []
        for evaluation, limited in attempts:
            estimator = plan.algorithms[evaluation.config.algorithm].make_estimator(
                evaluation.config.params, task
            )
            left = budget.seconds_left()
            limit = max(left, REFIT_MIN_LIMIT_S) if limited and math.isfinite(left) else None
            try:
                return evaluation, fit_with_limit(estimator, task.X, task.y, limit)
            except Exception as exc:  # includes TrialTimeLimitExceeded: try the next one
                errors.append(f"{evaluation.config}: {type(exc).__name__}: {exc}")
                logger.warning("refit failed (%s); trying the next configuration", errors[-1])
        raise AllTrialsFailedError(
            "No configuration could be refitted on all rows:\n  " + "\n  ".join(errors)
        )

    def _record(
        self,
        plan: Plan,
        study: optuna.Study,
        evaluations: list[Evaluation],
        best: Evaluation,
        model: BaseEstimator,
    ) -> None:
        self.model_ = model
        self.best_config_: Config = best.config
        self.best_score_ = best.score
        self.study_ = study
        self.evaluations_ = evaluations
        self.n_configs_ = len(evaluations)
        self.meta_features_ = plan.meta_features
        self.recommendations_: list[Recommendation] = plan.recommendations
        self.strategy_ = plan.strategy
        self.strategy_source_ = plan.strategy_source
        self.planning_timings_ = dict(plan.timings)
        self.task_kind_ = plan.task.kind
        self.scoring_ = plan.task.scoring
        self.task_id_ = plan.task.task_id
        self.schema_ = plan.task.schema
        self.n_features_in_ = plan.task.n_features
        self.feature_names_in_ = np.array(plan.task.schema.columns, dtype=object)
        if plan.task.is_classification:
            self.classes_ = plan.task.classes

    def _grow_knowledge(self, plan: Plan, evaluations: list[Evaluation]) -> None:
        """Add this task and its evaluations to a knowledge base the user named.

        The shipped base (``knowledge=None``) and bases opened read-only only teach.
        """
        knowledge = plan.knowledge
        if self.knowledge is None or knowledge.read_only:
            return
        record = TaskRecord(
            task_id=plan.task.task_id,
            name=plan.task.name,
            kind=plan.task.kind,
            scoring=plan.task.scoring,
            meta_features=dict(plan.meta_features.values),
            provenance={
                "source": "autometa.fit",
                "n_rows": plan.task.n_rows,
                "validation": plan.strategy.validation,
                "n_splits": plan.task.n_splits,
            },
        )
        knowledge.add_task(record)
        knowledge.add_evaluations(evaluations)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle a durable study as an in-memory copy: a loaded model needs no database."""
        state = dict(super().__getstate__())
        if self.storage is not None and "study_" in state:
            with _quiet_optuna():
                state["study_"] = in_memory_copy(state["study_"])
        return state

    # -- using the model ------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray(self.model_.predict(self.schema_.transform(X)))

    def explain(self) -> str:
        """How the search went: strategy, recommendations with evidence, the winner and
        the ensemble's members and weights."""
        from autometa._explain import explain_fit

        check_is_fitted(self, "model_")
        return explain_fit(self)


class AutoMetaClassifier(ClassifierMixin, _AutoMetaBase):
    """AutoML classifier warm-started from earlier tasks (binary and multiclass)."""

    _kinds = ("binary", "multiclass")

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray(self.model_.predict_proba(self.schema_.transform(X)))


class AutoMetaRegressor(RegressorMixin, _AutoMetaBase):
    """AutoML regressor warm-started from earlier tasks."""

    _kinds = ("regression",)


def fit(X: Any, y: Any, *, kind: TaskKind | None = None, **params: Any) -> _AutoMetaBase:
    """Search for a good model of ``y`` given ``X`` and return it fitted.

    Returns an :class:`AutoMetaClassifier` or :class:`AutoMetaRegressor` depending on
    the target (or ``kind``). Keyword arguments are those of the estimators: ``timeout``
    (seconds, search and refit together), ``n_trials``, ``n_jobs``, ``memory_limit``
    (megabytes per trial, ``"auto"`` or None; see :class:`AutoMetaClassifier` for what
    each ``n_jobs`` protects against), ``random_state``,
    ``scoring``, ``cv``, ``warm_start`` (number of warm starts; 0 for a cold search),
    ``strategy``, ``knowledge``, ``storage``, ``study_name``, ``plugins``, ``blocked``,
    ``algorithms`` (search only these algorithm names), ``progress`` (a progress bar with
    the best score so far and the time left on standard error), ``ensemble`` (default
    True: an ensemble of the evaluated configurations; False refits the single best),
    ``ensemble_size`` (most members) and ``ensemble_memory_limit`` (megabytes of kept
    out-of-fold predictions); see :class:`AutoMetaClassifier`.

    With ``storage`` and ``study_name`` the study is durable and a killed fit, started
    again with the same arguments, resumes it: ``n_trials`` is the total for the study
    and ``timeout`` applies to each call (see :class:`AutoMetaClassifier`).
    """
    started = time.monotonic()
    estimator: _AutoMetaBase = AutoMetaClassifier(**params)
    timeout, _ = estimator._check_budget()
    storage = open_storage(estimator.storage)
    plan = estimator._plan(X, y, kind, timeout)  # validated once, inside the time budget
    if plan.task.kind == "regression":
        estimator = AutoMetaRegressor(**params)
    return estimator._fit_plan(plan, started, storage)


def recommend(
    X: Any,
    y: Any,
    k: int = 10,
    *,
    knowledge: KnowledgeSpec = None,
    strategy: Strategy | None = None,
    random_state: int | None = None,
    scoring: str | None = None,
    kind: TaskKind | None = None,
    plugins: Iterable[object] = (),
    blocked: Iterable[str] = (),
    algorithms: Iterable[str] | None = None,
) -> list[Recommendation]:
    """What to try on ``X, y``, best first, each with its evidence; nothing is fitted."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    plan = make_plan(
        X,
        y,
        kind=kind,
        scoring=scoring,
        random_state=random_state,
        knowledge=knowledge,
        strategy=strategy,
        warm_start=k,
        plugins=plugins,
        blocked=blocked,
        algorithms=algorithms,
    )
    return plan.recommendations


def warm_start(
    study: optuna.Study,
    X: Any,
    y: Any,
    n: int = 10,
    *,
    knowledge: KnowledgeSpec = None,
    random_state: int | None = None,
    scoring: str | None = None,
    kind: TaskKind | None = None,
    plugins: Iterable[object] = (),
    blocked: Iterable[str] = (),
    algorithms: Iterable[str] | None = None,
) -> list[Recommendation]:
    """Enqueue autometa's top ``n`` recommendations into the user's own ``study``.

    The enqueued parameters follow autometa's naming: ``algorithm`` chooses the
    algorithm and ``<algorithm>__<param>`` holds each hyperparameter, so an objective
    that samples :class:`SearchSpace` (given the same ``algorithms``, ``plugins`` and
    ``blocked``) receives them. Recommendations already in the study are not enqueued
    again. Returns what was recommended.

    The study must maximise one objective: recommendations are ranked by a scikit-learn
    score, greater is better (``neg_log_loss``, not log loss). A study that minimises,
    or has several objectives, is refused before anything is computed or enqueued.
    """
    if study.directions != [optuna.study.StudyDirection.MAXIMIZE]:
        shown = ", ".join(d.name.lower() for d in study.directions)
        scorer = "the task's default scoring" if scoring is None else f"scoring={scoring!r}"
        raise ValueError(
            f"Study {study.study_name!r} has direction {shown}, but autometa's recommendations "
            "are ranked by a score to maximise (scikit-learn's greater-is-better convention, "
            f"{scorer}). Create the study with "
            "optuna.create_study(direction='maximize') and return the scorer's value, e.g. "
            "cross_val_score(estimator, X, y, scoring=space.scoring).mean()."
        )
    recommendations = recommend(
        X,
        y,
        n,
        knowledge=knowledge,
        random_state=random_state,
        scoring=scoring,
        kind=kind,
        plugins=plugins,
        blocked=blocked,
        algorithms=algorithms,
    )
    enqueue(study, recommendations)
    return recommendations


def enqueue(study: optuna.Study, recommendations: Sequence[Recommendation]) -> None:
    """Enqueue recommendations in order; each trial records its rank as ``warm_start_rank``.

    Optuna's ``skip_if_exists`` compares with every trial of the study, whatever its state
    (waiting, running, finished), so a resumed study does not get its warm starts twice.
    """
    for rank, recommendation in enumerate(recommendations):
        study.enqueue_trial(
            recommendation.config.to_trial_params(),
            user_attrs={"warm_start_rank": rank},
            skip_if_exists=True,
        )


class SearchSpace:
    """autometa's search space for one dataset, to sample in your own Optuna objective.

    It holds the validated task and the algorithms the plugins offer for it, built once;
    :meth:`suggest` samples a configuration from the conditional space (parameter
    ``algorithm``, then ``<algorithm>__<param>``: the names :func:`warm_start` enqueues)
    and returns it with its unfitted estimator, so the optimisation loop stays yours::

        space = autometa.SearchSpace(X, y)
        autometa.warm_start(study, X, y, n=10)

        def objective(trial):
            config, estimator = space.suggest(trial)
            return cross_val_score(estimator, X, y, cv=5, scoring=space.scoring).mean()

        study.optimize(objective, n_trials=50)
        model = space.estimator(study.best_params).fit(X, y)

    The estimator is a scikit-learn ``Pipeline``: a ``schema`` step (:class:`ApplySchema`)
    that brings raw data (a DataFrame with the training columns, or an array of the same
    width) into the types the task was validated with, then the algorithm's own
    pipeline. It clones and pickles like any estimator.

    Parameters
    ----------
    X, y:
        The training data, as for :func:`fit`.
    kind, scoring, random_state:
        As for :func:`fit`; ``scoring`` only sets :attr:`scoring` (the default for the
        kind when None), ``random_state`` seeds the estimators.
    algorithms, plugins, blocked:
        Restrict or extend the algorithms, as for :func:`fit`.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        *,
        kind: TaskKind | None = None,
        scoring: str | None = None,
        random_state: int | None = None,
        algorithms: Iterable[str] | None = None,
        plugins: Iterable[object] = (),
        blocked: Iterable[str] = (),
    ) -> None:
        manager = build_plugin_manager(plugins, blocked=blocked)
        self.task = Task.from_data(X, y, kind=kind, scoring=scoring, random_state=random_state)
        offered = manager.algorithms(self.task)
        self.algorithms: dict[str, Algorithm] = (
            offered if algorithms is None else restrict_algorithms(offered, algorithms, self.task)
        )
        if not self.algorithms:
            raise ValueError(
                f"No installed plugin offers an algorithm for a {self.task.kind} task. "
                "Install autometa with its first-party plugins, or unblock 'sklearn'."
            )

    @property
    def scoring(self) -> str:
        """The scikit-learn scorer name autometa uses for this task."""
        return self.task.scoring

    def suggest(self, trial: BaseTrial) -> tuple[Config, Pipeline]:
        """Sample a configuration with ``trial``; return it and its unfitted estimator."""
        config = suggest_config(trial, self.algorithms, self.task)
        return config, self.estimator(config)

    def estimator(self, config: Config | Mapping[str, Any]) -> Pipeline:
        """The unfitted estimator of a :class:`Config` or of trial parameters.

        Trial parameters are e.g. ``study.best_params`` or ``trial.params``.
        """
        if not isinstance(config, Config):
            config = Config.from_trial_params(config)
        algorithm = self.algorithms.get(config.algorithm)
        if algorithm is None:
            raise ValueError(
                f"Algorithm {config.algorithm!r} is not in this space; it has "
                f"{sorted(self.algorithms)}."
            )
        model = algorithm.make_estimator(config.params, self.task)
        return Pipeline([("schema", ApplySchema(self.task.schema)), ("model", model)])

    def __repr__(self) -> str:
        return (
            f"SearchSpace({self.task.kind}, {self.task.n_rows} rows, "
            f"algorithms={sorted(self.algorithms)})"
        )


class ApplySchema(TransformerMixin, BaseEstimator):
    """Bring raw ``X`` into the columns and dtypes a task was validated with.

    The first step of a :class:`SearchSpace` estimator: catalogue pipelines select
    columns by name and expect numeric columns as floats and categorical ones as strings
    (what :meth:`FeatureSchema.transform` makes of a DataFrame, or of an array of the same
    width). Stateless: nothing is learned in ``fit``.
    """

    def __init__(self, schema: FeatureSchema) -> None:
        self.schema = schema

    def fit(self, X: Any, y: Any = None) -> ApplySchema:
        return self

    def transform(self, X: Any) -> Any:
        return self.schema.transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self.schema.columns, dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        return True


def _make_sampler(plan: Plan, random_state: int | None, n_jobs: int) -> BaseSampler:
    """The strategy's sampler: a built-in name, an instance, or a name a plugin offers
    (built from the fit's task, space, knowledge base and meta-features)."""
    context = SamplerContext(plan.task, plan.algorithms, plan.knowledge, plan.meta_features.values)
    return make_sampler(
        plan.strategy.sampler, random_state, n_jobs, plugins=plan.plugins, context=context
    )


def _describe(study: optuna.Study, plan: Plan) -> None:
    """Store the task, meta-features and recommendations (with evidence) on the study.

    Values are plain JSON (non-finite numbers become null), as RDB and journal storages
    need.
    """
    study.set_user_attr(TASK_ATTR, plan.task.task_id)
    study.set_user_attr(SCORING_ATTR, plan.task.scoring)
    study.set_user_attr(
        "autometa_meta_features",
        {k: _finite_or_none(v) for k, v in plan.meta_features.values.items()},
    )
    study.set_user_attr(
        "autometa_recommendations",
        [
            {
                "config": {"algorithm": r.config.algorithm, "params": dict(r.config.params)},
                "predicted_score": _finite_or_none(r.predicted_score),
                "evidence": r.evidence.describe(),
            }
            for r in plan.recommendations
        ],
    )


def _finite_or_none(value: float) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's per-trial INFO lines during a fit, then restore the caller's level."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(previous, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


__all__ = [
    "AllTrialsFailedError",
    "AutoMetaClassifier",
    "AutoMetaRegressor",
    "BudgetTooSmallError",
    "KnowledgeBase",
    "SearchSpace",
    "fit",
    "recommend",
    "warm_start",
]
