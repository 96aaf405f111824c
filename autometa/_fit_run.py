"""One fit's run, from the checked parameters to the fitted model.

:class:`FitRun` plans (steps 1-5 of docs/architecture.md's fit), opens or resumes the
study, searches, builds the ensemble or refits the best, and adds the trials to a
knowledge base the user named. The estimators and :func:`autometa.fit` only check their
parameters, build a run and keep what it returns (:class:`FitResult`).
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import optuna
from optuna.samplers import BaseSampler
from sklearn.base import BaseEstimator

from autometa._fit_settings import FitSettings
from autometa._progress import search_progress
from autometa.contract._row_checks import check_groups, check_sample_weight
from autometa.contract._sampler import SamplerContext
from autometa.contract._types import Evaluation, TaskKind
from autometa.knowledge._base import TaskRecord
from autometa.search._adaptive import (
    AdaptationSummary,
    AdaptiveProposer,
    adaptive_proposer,
    static_warm_starts,
)
from autometa.search._budget import Budget, SearchOutcome
from autometa.search._durable import DurableStudy
from autometa.search._ensemble import PredictionStore
from autometa.search._ensemble_model import EnsembleSummary, make_store
from autometa.search._evaluation import Splits
from autometa.search._fidelities import fidelity_splits
from autometa.search._loop import run_search
from autometa.search._out_of_fold import validation_rows
from autometa.search._planning import Plan, make_plan
from autometa.search._pruning import resolve_pruner
from autometa.search._refit import check_outcome, ensemble_or_refit
from autometa.search._shared_predictions import SharedPredictions, shared_predictions
from autometa.search._space import make_sampler
from autometa.search._studies import SCORING_ATTR, TASK_ATTR
from autometa.search._studies import quiet_optuna as quiet_optuna
from autometa.search._weights import row_weights, weightable

logger = logging.getLogger(__name__)

RESERVED_ENSEMBLE_REFITS = 4
"""With an ensemble, the search keeps time to refit this many of its best configurations
(members past what the time left allows are dropped)."""

Estimator = TypeVar("Estimator", bound=BaseEstimator)


@dataclass
class FitResult:
    """What a fit learned, to be kept on the estimator as its fitted attributes."""

    plan: Plan
    study: optuna.Study
    evaluations: list[Evaluation]
    best: Evaluation
    """The best single configuration that did not fail to refit."""
    model: BaseEstimator
    """The ensemble, or the best configuration refitted on all rows."""
    ensemble: EnsembleSummary | None
    feature_names: np.ndarray | None = None
    """X's column names when they were all strings (scikit-learn's convention)."""
    adaptation: AdaptationSummary | None = None
    """What the adaptive meta-learner proposed, and when the sampler took over."""

    def fitted(self, estimator: Estimator) -> Estimator:
        """Set scikit-learn's fitted attributes (names ending in ``_``) on ``estimator``."""
        plan, task = self.plan, self.plan.task
        attributes: dict[str, Any] = {
            "model_": self.model,
            "best_config_": self.best.config,
            "best_score_": self.best.score,
            "study_": self.study,
            "evaluations_": self.evaluations,
            "n_configs_": len(self.evaluations),
            "meta_features_": plan.meta_features,
            "recommendations_": plan.recommendations,
            "strategy_": plan.strategy,
            "strategy_source_": plan.strategy_source,
            "planning_timings_": dict(plan.timings),
            "task_kind_": task.kind,
            "scoring_": task.scoring,
            "task_id_": task.task_id,
            "schema_": task.schema,
            "n_features_in_": len(task.schema.columns),  # as given, before columns get roles
        }
        if self.feature_names is not None:
            attributes["feature_names_in_"] = self.feature_names
        if task.is_classification:
            attributes["classes_"] = task.classes
        attributes["ensemble_"] = self.ensemble
        attributes["adaptation_"] = self.adaptation
        for name, value in attributes.items():
            setattr(estimator, name, value)
        return estimator


class FitRun:
    """One fit: :meth:`open` it, :meth:`plan`, then :meth:`complete` the search, refit
    and record.

    ``started`` is the ``time.monotonic()`` value the fit's ``timeout`` counts from.
    """

    def __init__(self, settings: FitSettings, started: float, study: DurableStudy) -> None:
        self.settings = settings
        self.started = started
        self.study = study
        self.feature_names: np.ndarray | None = None

    @classmethod
    def open(cls, settings: FitSettings, started: float) -> FitRun:
        """A run with its study's storage open: an unreachable database fails here,
        before planning."""
        return cls(settings, started, DurableStudy.open(settings.storage, settings.study_name))

    def plan(
        self,
        X: Any,
        y: Any,
        kind: TaskKind | None,
        *,
        sample_weight: Any = None,
        groups: Any = None,
    ) -> Plan:
        """Steps 1-5 of a fit; the strategy is told the checked budget.

        ``sample_weight`` and ``groups`` are checked first (a bad one fails before any
        work), ``class_weight``'s labels against y's classes as soon as the task is built
        (:func:`~autometa.search._planning.plan_space`); then all are joined to the
        planned task (:meth:`_with_rows`).
        """
        s = self.settings
        columns = getattr(X, "columns", None)
        named = columns is not None and all(isinstance(c, str) for c in columns)
        self.feature_names = np.asarray(columns, dtype=object) if named else None
        weights = None if sample_weight is None else check_sample_weight(sample_weight, _n_rows(X))
        codes = None if groups is None else check_groups(groups, _n_rows(X))
        plan = make_plan(
            X,
            y,
            kind=kind,
            scoring=s.scoring,
            # With groups the splitter is made with them, once the task is known.
            cv=s.cv if codes is None else None,
            random_state=s.random_state,
            knowledge=s.knowledge,
            strategy=s.strategy,
            warm_start=s.warm_start,
            plugins=s.plugins,
            blocked=s.blocked,
            algorithms=s.algorithms,
            timeout=s.timeout,
            class_weight=s.class_weight,
        )
        if weights is not None or codes is not None or s.class_weight is not None:
            plan = self._with_rows(plan, weights, codes)
        task = plan.task
        logger.info(
            "fitting a %s task (%s), scoring=%s (%s), %d rows x %d features, %d-fold validation",
            task.kind,
            "given" if kind is not None else "inferred",
            task.scoring,
            "given" if s.scoring is not None else "default",
            task.n_rows,
            task.n_features,
            task.n_splits,
        )
        return plan

    def _with_rows(self, plan: Plan, weights: Any, codes: Any) -> Plan:
        """The plan with the task's weights, groups and class weighting.

        With weights, algorithms whose estimator cannot take them are left out (and
        logged): fitted unweighted they would learn from rows the weights discount, and
        a weighted score would blame the configuration for what the weights asked.
        """
        s = self.settings
        task = plan.task.with_rows(weights, codes, s.class_weight, None if codes is None else s.cv)
        algorithms, left_out = dict(plan.algorithms), list[str]()
        if row_weights(task) is not None:
            algorithms, left_out = weightable(plan.algorithms, task)
        if left_out:
            logger.warning(
                "left out of this weighted fit: %s (their estimators take no sample_weight)",
                ", ".join(left_out),
            )
        if not algorithms:
            raise ValueError(
                f"None of the algorithms searched ({', '.join(left_out)}) takes sample "
                "weights. Search others (algorithms=...), or fit without sample_weight "
                "and class_weight."
            )
        if codes is not None:
            logger.info(
                "validating by groups: %d groups, each on one side of every split (%r)",
                len(np.unique(codes)),
                task.cv,
            )
        recommendations = [r for r in plan.recommendations if r.config.algorithm in algorithms]
        return replace(plan, task=task, algorithms=algorithms, recommendations=recommendations)

    def complete(self, plan: Plan) -> FitResult:
        """Steps 5-8: warm start, search, ensemble or refit, grow the knowledge base."""
        s = self.settings
        deadline = None if s.timeout is None else self.started + s.timeout
        splits = list(plan.task.cv.split(plan.task.X, plan.task.y, plan.task.groups))
        store = (
            make_store(plan.task, validation_rows(splits), s.ensemble_memory_limit)
            if s.ensemble
            else None
        )
        with quiet_optuna():
            previous = self.study.resume(
                plan.task,
                plan.algorithms,
                sampler=lambda seed: _make_sampler(plan, seed, s.n_jobs),
                random_state=s.random_state,
                user_attrs=study_attributes(plan),
            )
            remaining = None if s.n_trials is None else max(s.n_trials - len(previous), 0)
            budget = Budget(remaining, deadline, s.timeout)
            outcome, proposer = SearchOutcome([], []), adaptive_proposer(plan, previous, s.timeout)
            shared = shared_predictions(s.artifact_store, self.study.storage, store, plan.task.y)
            if remaining != 0:
                self.study.enqueue_once(static_warm_starts(plan.recommendations, proposer))
                outcome = self._search(plan, budget, previous, splits, store, shared, proposer)
                self.study.close_unreached()
            else:
                logger.info("study already has %d trials; refitting its best", len(previous))
        evaluations, done = self.study.read_back(plan.task, [*previous, *outcome.evaluations])
        check_outcome(evaluations, s.timeout)
        if shared is not None and store is not None:
            # Trials other processes (or earlier fits of the study) ran join the ensemble.
            shared.offer(store, done, exclude=outcome.trial_numbers)
        best, model, summary = ensemble_or_refit(
            plan.task, plan.algorithms, evaluations, budget, store, s.ensemble_size
        )
        adapted = None if proposer is None else proposer.summary()
        result = FitResult(
            plan, self.study.study, evaluations, best, model, summary, self.feature_names, adapted
        )
        self._grow_knowledge(plan, evaluations)
        return result

    def _search(
        self,
        plan: Plan,
        budget: Budget,
        previous: list[Evaluation],
        splits: Splits,
        store: PredictionStore | None,
        shared: SharedPredictions | None = None,
        proposer: AdaptiveProposer | None = None,
    ) -> SearchOutcome:
        """Run the search, showing progress and telling the plugins of each trial.

        A holdout's row fidelities (the strategy's) and its pruner are set up here.
        """
        s = self.settings
        seed = 0 if s.random_state is None else s.random_state
        rungs = fidelity_splits(plan.task, splits, plan.strategy.fidelities, seed)
        with search_progress(
            s.verbose, budget.n_trials, budget.deadline, plan.task.scoring
        ) as show:

            def observe(evaluation: Evaluation) -> None:
                show(evaluation)
                plan.plugins.trial_completed(evaluation, plan.task)

            return run_search(
                plan.task,
                plan.algorithms,
                self.study.study,
                budget,
                n_jobs=s.n_jobs,
                on_evaluation=observe,
                previous=previous,
                lease=self.study.lease(s.n_trials),
                memory_limit_mb=s.memory_limit_mb,
                splits=splits,
                predictions=store,
                reserved_refits=(
                    min(s.ensemble_size, RESERVED_ENSEMBLE_REFITS)
                    if store is not None and store.capacity > 0
                    else 1
                ),
                callbacks=s.callbacks,
                rungs=rungs,
                shared=shared,
                proposer=proposer,
                pruner=resolve_pruner(
                    plan.strategy.pruner,
                    len(rungs) + len(splits),
                    "rows" if rungs else "folds",
                    timed=s.timeout is not None,
                ),
            )

    def _grow_knowledge(self, plan: Plan, evaluations: list[Evaluation]) -> None:
        """Add this task and its evaluations to the fit's knowledge base, if writable.

        That is a base the user named, or by default (``knowledge=None``) the user's own
        base laid over the shipped one (:func:`autometa.knowledge.default_knowledge`):
        only its top layer is written. The shipped base alone and bases opened read-only
        (``AUTOMETA_KNOWLEDGE``) only teach. A weighted fit (``sample_weight`` or
        ``class_weight``) teaches nothing: its scores measure another objective than the
        base's unweighted cells, under the same configurations and scoring name, and would
        mislead every later recommendation.
        """
        knowledge = plan.knowledge
        if knowledge.read_only:
            return
        if row_weights(plan.task) is not None:
            logger.warning(
                "this fit's trials were not added to the knowledge base %s: they were "
                "fitted or scored with weights, and its cells are unweighted",
                knowledge.location,
            )
            return
        try:
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
                    "groups": plan.task.groups is not None,
                },
            )
            knowledge.add_task(record)
            # A pruned trial's score is partial: it would teach a wrong value.
            knowledge.add_evaluations([e for e in evaluations if e.status != "pruned"])
        except Exception as exc:  # the search is done: losing its model would cost more
            warnings.warn(
                f"The fit finished, but its trials could not be added to the knowledge base "
                f"{knowledge.location} ({type(exc).__name__}: {exc}); the model is returned "
                "all the same. Fix the knowledge base and fit again to teach it this task.",
                RuntimeWarning,
                stacklevel=2,
            )


def _n_rows(X: Any) -> int:
    """Rows of ``X`` as given (its checks come later, in :meth:`Task.from_data`)."""
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) else len(X)


def _make_sampler(plan: Plan, random_state: int | None, n_jobs: int) -> BaseSampler:
    """The strategy's sampler: a built-in name, an instance, or a name a plugin offers
    (built from the fit's task, space, knowledge base and meta-features)."""
    context = SamplerContext(plan.task, plan.algorithms, plan.knowledge, plan.meta_features.values)
    return make_sampler(
        plan.strategy.sampler, random_state, n_jobs, plugins=plan.plugins, context=context
    )


def study_attributes(plan: Plan) -> dict[str, Any]:
    """The task, meta-features and recommendations (with evidence), kept on the study.

    Values are plain JSON (non-finite numbers become null), as RDB and journal storages
    need.
    """
    return {
        TASK_ATTR: plan.task.task_id,
        SCORING_ATTR: plan.task.scoring,
        "autometa_meta_features": {
            k: _finite_or_none(v) for k, v in plan.meta_features.values.items()
        },
        "autometa_recommendations": [
            {
                "config": {"algorithm": r.config.algorithm, "params": dict(r.config.params)},
                "predicted_score": _finite_or_none(r.predicted_score),
                "evidence": r.evidence.describe(),
            }
            for r in plan.recommendations
        ],
    }


def _finite_or_none(value: float) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
