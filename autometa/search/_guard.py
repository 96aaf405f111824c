"""The cheap guard: a strong, fast first trial where the knowledge base extrapolates.

On tables larger than the knowledge base measured, the first recommendation is
:data:`GUARD_ALGORITHM`'s library defaults (:func:`with_guard`), so a budget that ends
early still leaves a model as good as those defaults.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from autometa.contract._cost import measured_rows
from autometa.contract._knowledge import KnowledgeView
from autometa.contract._task import Task
from autometa.contract._types import Algorithm, Evidence, Recommendation
from autometa.search._space import config_in_space

GUARD_ALGORITHM = "hist_gradient_boosting"
"""The cheap strong first trial: this algorithm's library defaults, when it is searched."""
GUARD_MODEL = "cheap guard"


def guard_recommendation(algorithms: Mapping[str, Algorithm], task: Task) -> Recommendation | None:
    """The cheap strong first trial: :data:`GUARD_ALGORITHM`'s library defaults.

    Histogram gradient boosting with its defaults is among the strongest configurations
    on tabular data and among the fastest to fit, so a budget that ends after one trial
    still leaves a model at least as good as the defaults. None when the algorithm is not
    searched (the user restricted ``algorithms``, or no plugin offers it) or its defaults
    fall outside this task's space.
    """
    algorithm = algorithms.get(GUARD_ALGORITHM)
    if algorithm is None:
        return None
    config = algorithm.default_config
    if not config_in_space(config, algorithms, task):
        return None
    return Recommendation(
        config,
        math.nan,
        Evidence(
            GUARD_MODEL,
            note=f"{GUARD_ALGORITHM} defaults first: cheap and strong, so an early end "
            "of the budget still leaves a model as good as the defaults",
        ),
    )


def with_guard(
    recommendations: list[Recommendation],
    algorithms: Mapping[str, Algorithm],
    task: Task,
    knowledge: KnowledgeView,
) -> list[Recommendation]:
    """``recommendations`` with the guard first (moved there if a learner already has it).

    Only on tables with more rows than the knowledge base's tasks had when they were
    measured (:func:`autometa.contract.measured_rows`): there the learner's ranking is
    an extrapolation and a trial costs more, so the library defaults go first. Within
    the measured sizes the learner's own first picks are better: in replay on all 263
    tasks of the shipped base (docs/replay.md) the guard raised the mean regret at 10 s
    from 0.0116 to 0.0227 for the greedy portfolio.
    """
    guard = applied_guard(algorithms, task, knowledge)
    if guard is None:
        return recommendations
    same = [r for r in recommendations if r.config == guard.config]
    # The learner's own copy, when it has one, keeps its predicted score and evidence.
    first = same[0] if same else guard
    return [first, *(r for r in recommendations if r.config != guard.config)]


def applied_guard(
    algorithms: Mapping[str, Algorithm], task: Task, knowledge: KnowledgeView
) -> Recommendation | None:
    """The guard when :func:`with_guard` puts it first on this task, else None."""
    if task.n_rows <= measured_rows(knowledge):
        return None
    return guard_recommendation(algorithms, task)
