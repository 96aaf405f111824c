"""Everything that happens before the search: the plan of one fit.

``make_plan`` runs steps 1-5 of a fit (plugins, task, algorithms and meta-features,
knowledge, strategy, recommendations). ``autometa.recommend`` stops there; ``fit`` goes
on to search. Keeping it in one place means both see exactly the same recommendations.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from autometa._plugins import Plugins, build_plugin_manager
from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Recommendation, Strategy, TaskKind
from autometa.knowledge._base import KnowledgeBase
from autometa.search._loop import config_in_space
from autometa.search._metafeatures import MetaFeatures, compute_meta_features

logger = logging.getLogger(__name__)

RECOMMENDATION_SLACK = 3
"""Ask the learner for this many times more than needed: some may fall outside the space."""

KnowledgeSpec = KnowledgeBase | str | Path | None
KNOWLEDGE_ENV = "AUTOMETA_KNOWLEDGE"


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
    ``AUTOMETA_KNOWLEDGE`` (opened read-only) if set, else the shipped base. A string or
    path is opened (and created if missing); a KnowledgeBase is used as given.
    """
    if knowledge is None:
        configured = os.environ.get(KNOWLEDGE_ENV)
        if configured:
            return KnowledgeBase.open(configured, read_only=True, create=False)
        return KnowledgeBase.default()
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
) -> Plan:
    """Validate the data, ask the plugins, and compute the warm-start recommendations.

    ``algorithms`` restricts the search (and the recommendations) to those names.
    The plan's ``timings`` say how long each step (:data:`PLANNING_STEPS`) took.
    """
    if warm_start is not None and warm_start < 0:
        raise ValueError(f"warm_start must be >= 0 (0 = cold search), got {warm_start}.")
    timings: dict[str, float] = {}
    with _timed(timings, "plugins"):
        manager = build_plugin_manager(plugins, blocked=blocked)
    with _timed(timings, "validation"):
        task = Task.from_data(
            X, y, kind=kind, scoring=scoring, cv=cv, random_state=random_state, name=name
        )
    with _timed(timings, "algorithms"):
        offered = manager.algorithms(task)
        algorithms = (
            offered if algorithms is None else restrict_algorithms(offered, algorithms, task)
        )
    if not algorithms:
        raise ValueError(
            f"No installed plugin offers an algorithm for a {task.kind} task. Install "
            "autometa with its first-party plugins, or unblock 'sklearn'."
        )
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
            selected = manager.select_strategy(task, meta_features.values, base, sorted(learners))
            strategy, source = selected if selected is not None else _fallback(learners)
        if warm_start is not None:
            strategy = replace(strategy, n_warm_starts=warm_start)
        task = task.with_validation(strategy.validation, strategy.n_splits)
    with _timed(timings, "recommendations"):
        recommendations = recommend_for(
            task, meta_features.values, algorithms, base, strategy, learners
        )
    return Plan(
        manager,
        task,
        algorithms,
        meta_features,
        base,
        strategy,
        source,
        recommendations,
        timings,
    )


def recommend_for(
    task: Task,
    meta_features: Mapping[str, float],
    algorithms: Mapping[str, Algorithm],
    knowledge: KnowledgeBase,
    strategy: Strategy,
    learners: Mapping[str, type],
) -> list[Recommendation]:
    """The strategy's learner, fitted on ``knowledge``, recommending points of this space."""
    if strategy.meta_learner is None or strategy.n_warm_starts == 0:
        return []
    if strategy.meta_learner not in learners:
        raise ValueError(
            f"Strategy asks for meta-learner {strategy.meta_learner!r}, which no plugin "
            f"registers; registered: {sorted(learners)}."
        )
    learner = learners[strategy.meta_learner]().fit(knowledge)
    candidates = learner.recommend(
        meta_features,
        kind=task.kind,
        algorithms=list(algorithms.values()),
        k=strategy.n_warm_starts * RECOMMENDATION_SLACK,
    )
    usable = [r for r in candidates if config_in_space(r.config, algorithms, task)]
    if len(usable) < len(candidates):
        logger.info(
            "%d of %d recommendations fall outside this task's space and are skipped",
            len(candidates) - len(usable),
            len(candidates),
        )
    return usable[: strategy.n_warm_starts]


def restrict_algorithms(
    offered: Mapping[str, Algorithm], names: Iterable[str], task: Task
) -> dict[str, Algorithm]:
    """The ``names`` among ``offered``, in that order; an unknown name is a ValueError."""
    wanted = list(names)
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
