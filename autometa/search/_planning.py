"""Everything that happens before the search: the plan of one fit.

``make_plan`` runs steps 1-5 of a fit (plugins, task, algorithms and meta-features,
knowledge, strategy, recommendations). ``autometa.recommend`` stops there; ``fit`` goes
on to search; ``SearchSpace`` takes only the first steps (:func:`plan_space`). Keeping it
in one place means all of them see exactly the same task, space and recommendations.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from autometa._plugins import Plugins, build_plugin_manager
from autometa.contract._metalearner import MetaLearner, SearchBudget, adapts
from autometa.contract._row_checks import ClassWeight, check_class_weight
from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Recommendation, Strategy, TaskKind
from autometa.knowledge._base import KnowledgeBase
from autometa.knowledge._user import default_knowledge
from autometa.search._guard import GUARD_ALGORITHM as GUARD_ALGORITHM
from autometa.search._guard import GUARD_MODEL as GUARD_MODEL
from autometa.search._guard import applied_guard, with_guard
from autometa.search._guard import guard_recommendation as guard_recommendation
from autometa.search._metafeatures import MetaFeatures, compute_meta_features
from autometa.search._space import config_in_space
from autometa.search._unseen import unseen_defaults, with_unseen_defaults

logger = logging.getLogger(__name__)

RECOMMENDATION_SLACK = 3
"""Ask the learner for this many times more than needed: some may fall outside the space."""

KnowledgeSpec = KnowledgeBase | str | Path | None
KNOWLEDGE_ENV = "AUTOMETA_KNOWLEDGE"


@dataclass
class Space:
    """What a fit searches: the plugins, the validated task and the algorithms offered."""

    plugins: Plugins
    task: Task
    algorithms: dict[str, Algorithm]


@dataclass
class Plan:
    """The state of a fit once it knows what to search and where to start."""

    plugins: Plugins
    task: Task
    algorithms: dict[str, Algorithm]
    meta_features: MetaFeatures
    knowledge: KnowledgeBase
    strategy: Strategy
    strategy_source: str
    recommendations: list[Recommendation]
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds each planning step took, in order (:data:`PLANNING_STEPS`)."""
    learner: MetaLearner | None = None
    """The fitted meta-learner when it adapts: the search asks it again after trials."""


PLANNING_STEPS = (
    "plugins",
    "validation",
    "algorithms",
    "meta_features",
    "knowledge",
    "strategy",
    "recommendations",
)
"""The steps of :func:`make_plan`, as named in :attr:`Plan.timings`."""


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    """Add the wall time of the block to ``timings[step]`` (also when it raises)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = timings.get(step, 0.0) + time.perf_counter() - start


def open_knowledge(knowledge: KnowledgeSpec) -> KnowledgeBase:
    """The knowledge base a fit learns from.

    None means the default: the file or URL in the environment variable
    ``AUTOMETA_KNOWLEDGE`` (opened read-only) if set, else the shipped base with the
    user's own over it (:func:`autometa.knowledge.default_knowledge`; the shipped base
    alone when ``AUTOMETA_USER_KNOWLEDGE=off``). A string or path is opened (and created
    if missing); a KnowledgeBase is used as given.
    """
    if knowledge is None:
        configured = os.environ.get(KNOWLEDGE_ENV)
        if configured:
            # Read-only, never created: a variable every fit sees must not have each fit write to a
            # shared base, nor a mistyped path create an empty one.
            return KnowledgeBase.open(configured, read_only=True, create=False)
        return default_knowledge()
    if isinstance(knowledge, KnowledgeBase):
        return knowledge
    if isinstance(knowledge, (str, Path)):
        return KnowledgeBase.open(knowledge)
    raise TypeError(
        "knowledge must be None (the shipped knowledge base), a path or database URL, or a "
        f"KnowledgeBase; got {type(knowledge).__name__}."
    )


def make_plan(
    X: Any,
    y: Any,
    *,
    kind: TaskKind | None = None,
    scoring: str | None = None,
    cv: Any = None,
    random_state: int | None = None,
    name: str | None = None,
    knowledge: KnowledgeSpec = None,
    strategy: Strategy | None = None,
    warm_start: int | None = None,
    plugins: Iterable[object] = (),
    blocked: Iterable[str] = (),
    algorithms: Iterable[str] | None = None,
    timeout: float | None = None,
    class_weight: ClassWeight = None,
) -> Plan:
    """Validate the data, ask the plugins, and compute the warm-start recommendations.

    ``algorithms`` restricts the search (and the recommendations) to those names;
    ``timeout`` is the search's budget in seconds, told to learners that order for it.
    ``class_weight`` is only checked, against the classes of y (see :func:`plan_space`).
    The plan's ``timings`` say how long each step (:data:`PLANNING_STEPS`) took.
    """
    if warm_start is not None and warm_start < 0:
        raise ValueError(f"warm_start must be >= 0 (0 = cold search), got {warm_start}.")
    timings: dict[str, float] = {}
    space = plan_space(
        X,
        y,
        kind=kind,
        scoring=scoring,
        cv=cv,
        random_state=random_state,
        name=name,
        plugins=plugins,
        blocked=blocked,
        algorithms=algorithms,
        timings=timings,
        class_weight=class_weight,
    )
    manager, task, searched = space.plugins, space.task, space.algorithms
    with _timed(timings, "meta_features"):
        # Their own fixed seed (not random_state) and row bound, so a new task's values
        # are computed exactly as the knowledge base's were.
        groups = manager.meta_feature_groups(task)
        meta_features = compute_meta_features(task, extra_groups=groups)
    with _timed(timings, "knowledge"):
        base = open_knowledge(knowledge)
    with _timed(timings, "strategy"):
        learners = manager.meta_learners()
        source = "user"
        if strategy is None:
            budget = SearchBudget(_finite_or_none(timeout), task.n_splits, task.n_rows)
            selected = manager.select_strategy(
                task, meta_features.values, base, sorted(learners), budget
            )
            strategy, source = selected if selected is not None else _fallback(learners)
        if warm_start is not None:
            # After the selection: the user's count overrides the selector's, but not its learner or
            # validation.
            strategy = replace(strategy, n_warm_starts=warm_start)
        task = task.with_validation(strategy.validation, strategy.n_splits, strategy.n_repeats)
    with _timed(timings, "recommendations"):
        learner = fitted_learner(strategy, learners, base)
        recommendations = recommend_for(
            task,
            meta_features.values,
            searched,
            base,
            strategy,
            learners,
            timeout=timeout,
            fitted=learner,
        )
    return Plan(
        manager,
        task,
        searched,
        meta_features,
        base,
        strategy,
        source,
        recommendations,
        timings,
        learner if learner is not None and adapts(learner) else None,
    )


def plan_space(
    X: Any,
    y: Any,
    *,
    kind: TaskKind | None = None,
    scoring: str | None = None,
    cv: Any = None,
    random_state: int | None = None,
    name: str | None = None,
    plugins: Iterable[object] = (),
    blocked: Iterable[str] = (),
    algorithms: Iterable[str] | None = None,
    timings: dict[str, float] | None = None,
    class_weight: ClassWeight = None,
) -> Space:
    """Steps 1-3 of a plan: the plugins, the validated task, the algorithms searched.

    ``algorithms`` restricts the space to those names; with ``timings``, the seconds
    each step took are added to it. ``class_weight`` is checked against the task's
    classes as soon as the task is built, so a label y lacks fails before any work;
    the task does not take it (a fit joins it later, with the rows' weights:
    :meth:`Task.with_rows <autometa.contract.Task.with_rows>`).
    """
    timings = {} if timings is None else timings
    with _timed(timings, "plugins"):
        manager = build_plugin_manager(plugins, blocked=blocked)
    with _timed(timings, "validation"):
        task = Task.from_data(
            X, y, kind=kind, scoring=scoring, cv=cv, random_state=random_state, name=name
        )
        check_class_weight(class_weight, task.is_classification, task.classes)
    with _timed(timings, "algorithms"):
        offered = manager.algorithms(task)
        searched = offered if algorithms is None else restrict_algorithms(offered, algorithms, task)
    if not searched:
        raise ValueError(
            f"No installed plugin offers an algorithm for a {task.kind} task. Install "
            "autometa with its first-party plugins, or unblock 'sklearn'."
        )
    return Space(manager, task, searched)


def recommend_for(
    task: Task,
    meta_features: Mapping[str, float],
    algorithms: Mapping[str, Algorithm],
    knowledge: KnowledgeBase,
    strategy: Strategy,
    learners: Mapping[str, type],
    *,
    timeout: float | None = None,
    fitted: MetaLearner | None = None,
) -> list[Recommendation]:
    """The strategy's learner, fitted on ``knowledge``, recommending points of this space.

    ``fitted`` is that learner already fitted (:func:`fitted_learner`), to fit it once.

    A learner whose ``recommend`` declares ``budget`` is told the search's budget
    (``timeout`` seconds, this task's folds and rows). On a table larger than those the
    knowledge base measured, the first recommendation is the cheap guard (see
    :func:`with_guard`). A searched algorithm without cells in the base of this kind
    (a plugin added after the build) has its defaults among the first places, after
    the guard and the learner's first few picks
    (:func:`autometa.search._unseen.with_unseen_defaults`).
    """
    learner = fitted if fitted is not None else fitted_learner(strategy, learners, knowledge)
    if learner is None:
        return []
    extra = {}
    # Only a learner that declares budget is told it: one written before the keyword existed would
    # reject it.
    if "budget" in inspect.signature(learner.recommend).parameters:
        seconds = _finite_or_none(timeout)
        extra["budget"] = SearchBudget(seconds, task.n_splits, task.n_rows)
    candidates = learner.recommend(
        meta_features,
        kind=task.kind,
        algorithms=list(algorithms.values()),
        k=strategy.n_warm_starts * RECOMMENDATION_SLACK,
        **extra,
    )
    usable = [r for r in candidates if config_in_space(r.config, algorithms, task)]
    if len(usable) < len(candidates):
        logger.info(
            "%d of %d recommendations fall outside this task's space and are skipped",
            len(candidates) - len(usable),
            len(candidates),
        )
    # Cut after the guard and the unseen defaults are placed: they take some of the n_warm_starts
    # places, not extra ones; the guard stays first.
    guarded = with_guard(usable, algorithms, task, knowledge)
    pinned = 1 if applied_guard(algorithms, task, knowledge) is not None else 0
    defaults = unseen_defaults(algorithms, task, knowledge)
    return with_unseen_defaults(guarded, defaults, strategy.n_warm_starts, pinned=pinned)


def fitted_learner(
    strategy: Strategy, learners: Mapping[str, type], knowledge: KnowledgeBase
) -> MetaLearner | None:
    """The strategy's meta-learner fitted on ``knowledge``; None for a cold search."""
    if strategy.meta_learner is None or strategy.n_warm_starts == 0:
        return None
    if strategy.meta_learner not in learners:
        raise ValueError(
            f"Strategy asks for meta-learner {strategy.meta_learner!r}, which no plugin "
            f"registers; registered: {sorted(learners)}."
        )
    learner: MetaLearner = learners[strategy.meta_learner]().fit(knowledge)
    return learner


def restrict_algorithms(
    offered: Mapping[str, Algorithm], names: Iterable[str], task: Task
) -> dict[str, Algorithm]:
    """The ``names`` among ``offered``, in that order; an unknown name is a ValueError."""
    wanted = list(names)
    # A string is iterable too: algorithms='rf' would otherwise ask for 'r' and 'f'.
    if isinstance(names, str):
        raise TypeError(f"algorithms must be a list of names, got the string {names!r}.")
    unknown = [name for name in wanted if name not in offered]
    if unknown:
        raise ValueError(
            f"algorithms={unknown} are not offered for a {task.kind} task of "
            f"{task.n_rows} rows; available: {sorted(offered)}."
        )
    return {name: offered[name] for name in wanted}


def _fallback(learners: Mapping[str, type]) -> tuple[Strategy, str]:
    """No selector answered: nearest tasks if registered, else a cold search."""
    if Strategy().meta_learner in learners:
        return Strategy(reason="no selector plugin answered: defaults"), "autometa default"
    return Strategy(meta_learner=None, n_warm_starts=0, reason="no meta-learner registered"), (
        "autometa default"
    )


def _finite_or_none(seconds: float | None) -> float | None:
    """A time limit in seconds, None when there is none."""
    return seconds if seconds is not None and math.isfinite(seconds) else None
