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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import optuna
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from autometa.evaluation import fit_with_limit
from autometa.knowledge import KnowledgeBase, TaskRecord
from autometa.planning import KnowledgeSpec, Plan, make_plan
from autometa.search import Budget, estimated_refit_seconds, make_sampler, run_search
from autometa.types import Config, Evaluation, Recommendation, Strategy, TaskKind

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
"""Time budget when neither ``timeout`` nor ``n_trials`` is given (as FLAML's default)."""


REFIT_MIN_LIMIT_S = 1.0
"""A limited refit always gets at least this long, even when the budget is spent."""


class BudgetTooSmallError(ValueError):
    """The time budget ran out before a single configuration could be evaluated."""


class AllTrialsFailedError(RuntimeError):
    """Every configuration tried raised an error; the errors are in the message."""


class _AutoMetaBase(BaseEstimator):
    """Shared implementation of the classifier and regressor (not public)."""

    _kinds: tuple[TaskKind, ...] = ()

    def __init__(
        self,
        *,
        timeout: float | None = None,
        n_trials: int | None = None,
        n_jobs: int = 1,
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
    ) -> None:
        self.timeout = timeout
        self.n_trials = n_trials
        self.n_jobs = n_jobs
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

    # -- fitting --------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, *, kind: TaskKind | None = None) -> _AutoMetaBase:
        """Search for the best configuration on ``X, y`` and refit it on all rows."""
        started = time.monotonic()
        self._check_budget()
        if kind is None and len(self._kinds) == 1:
            kind = self._kinds[0]
        plan = self._plan(X, y, kind)
        if self._kinds and plan.task.kind not in self._kinds:
            other = "AutoMetaRegressor" if plan.task.kind == "regression" else "AutoMetaClassifier"
            raise ValueError(
                f"{type(self).__name__} got a {plan.task.kind} target; use {other} or "
                "autometa.fit, which chooses for you."
            )
        return self._fit_plan(plan, started)

    def _plan(self, X: Any, y: Any, kind: TaskKind | None) -> Plan:
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
        )

    def _fit_plan(self, plan: Plan, started: float) -> _AutoMetaBase:
        """Steps 5-8 of a fit: warm start, search, refit, grow the knowledge base."""
        timeout, n_trials = self._check_budget()
        budget = Budget(n_trials, None if timeout is None else started + timeout)
        with _quiet_optuna():
            study = self._create_study(plan)
            outcome = run_search(
                plan.task,
                plan.algorithms,
                study,
                budget,
                n_jobs=self.n_jobs,
                on_evaluation=lambda e: plan.plugins.trial_completed(e, plan.task),
            )
        self._check_outcome(outcome.evaluations, timeout)
        best, model = self._refit(plan, outcome.evaluations, budget)
        self._record(plan, study, outcome.evaluations, best, model)
        self._grow_knowledge(plan, outcome.evaluations)
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
        if not isinstance(self.n_jobs, (int, np.integer)) or self.n_jobs == 0:
            raise ValueError(
                f"n_jobs must be a non-zero integer (-1 = all cores), got {self.n_jobs!r}."
            )
        return timeout, n_trials

    def _create_study(self, plan: Plan) -> optuna.Study:
        study = optuna.create_study(
            storage=self.storage,
            study_name=self.study_name,
            direction="maximize",
            sampler=make_sampler(plan.strategy.sampler, self.random_state, self.n_jobs),
            load_if_exists=True,
        )
        study.set_user_attr("autometa_task", plan.task.task_id)
        study.set_user_attr("autometa_scoring", plan.task.scoring)
        study.set_user_attr(
            "autometa_meta_features",
            {k: (v if math.isfinite(v) else None) for k, v in plan.meta_features.values.items()},
        )
        study.set_user_attr(
            "autometa_recommendations",
            [
                {
                    "config": str(r.config),
                    "predicted_score": r.predicted_score
                    if math.isfinite(r.predicted_score)
                    else None,
                    "evidence": r.evidence.describe(),
                }
                for r in plan.recommendations
            ],
        )
        enqueue(study, plan.recommendations)
        return study

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

    def _refit(
        self, plan: Plan, evaluations: list[Evaluation], budget: Budget
    ) -> tuple[Evaluation, BaseEstimator]:
        """Refit on all rows the best configuration that the time left allows.

        Candidates are the ten best whose estimated refit fits in the time left, each
        limited to that time; the last resort is the fastest configuration that worked,
        without a limit, because a model delivered slightly late beats a failed fit.
        """
        task = plan.task
        ranked = sorted((e for e in evaluations if e.ok), key=lambda e: -e.score)
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

    # -- using the model ------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray(self.model_.predict(self.schema_.transform(X)))

    def explain(self) -> str:
        """How the search went: strategy, recommendations with evidence, and the winner."""
        from autometa.explain import explain_fit

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
    (seconds, search and refit together), ``n_trials``, ``n_jobs``, ``random_state``,
    ``scoring``, ``cv``, ``warm_start`` (number of warm starts; 0 for a cold search),
    ``strategy``, ``knowledge``, ``storage``, ``study_name``, ``plugins``, ``blocked``,
    ``algorithms`` (search only these algorithm names).
    """
    started = time.monotonic()
    estimator: _AutoMetaBase = AutoMetaClassifier(**params)
    estimator._check_budget()
    plan = estimator._plan(X, y, kind)  # validated once, inside the time budget
    if plan.task.kind == "regression":
        estimator = AutoMetaRegressor(**params)
    return estimator._fit_plan(plan, started)


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
    plugins: Iterable[object] = (),
    blocked: Iterable[str] = (),
) -> list[Recommendation]:
    """Enqueue autometa's top ``n`` recommendations into the user's own ``study``.

    The enqueued parameters follow autometa's naming: ``algorithm`` chooses the
    algorithm and ``<algorithm>__<param>`` holds each hyperparameter, so an objective
    that suggests those names receives them. Returns what was enqueued.
    """
    recommendations = recommend(
        X,
        y,
        n,
        knowledge=knowledge,
        random_state=random_state,
        scoring=scoring,
        plugins=plugins,
        blocked=blocked,
    )
    enqueue(study, recommendations)
    return recommendations


def enqueue(study: optuna.Study, recommendations: Sequence[Recommendation]) -> None:
    """Enqueue recommendations in order; each trial records its rank as ``warm_start_rank``."""
    for rank, recommendation in enumerate(recommendations):
        study.enqueue_trial(
            recommendation.config.to_trial_params(),
            user_attrs={"warm_start_rank": rank},
            skip_if_exists=True,
        )


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
    "fit",
    "recommend",
    "warm_start",
]
