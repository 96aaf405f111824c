"""``recommend`` and ``warm_start``: a fit's plan without the fit, for the user's own search."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import optuna

from autometa.contract._types import Recommendation, Strategy, TaskKind
from autometa.search._planning import KnowledgeSpec, Plan, make_plan
from autometa.search._space import enqueue


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
    plan = recommendation_plan(
        X,
        y,
        k,
        kind=kind,
        scoring=scoring,
        random_state=random_state,
        knowledge=knowledge,
        strategy=strategy,
        plugins=plugins,
        blocked=blocked,
        algorithms=algorithms,
    )
    return plan.recommendations


def recommendation_plan(
    X: Any,
    y: Any,
    k: int,
    *,
    knowledge: KnowledgeSpec = None,
    strategy: Strategy | None = None,
    random_state: int | None = None,
    scoring: str | None = None,
    kind: TaskKind | None = None,
    plugins: Iterable[object] = (),
    blocked: Iterable[str] = (),
    algorithms: Iterable[str] | None = None,
) -> Plan:
    """The plan behind :func:`recommend` (and ``autometa recommend``): a fit's steps 1-5
    with ``k`` warm starts."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer (how many recommendations), got {k!r}.")
    return make_plan(
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
