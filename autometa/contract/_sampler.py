"""What a sampler offered by a plugin is built from (hook ``autometa_samplers``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from optuna.samplers import BaseSampler

from autometa.contract._task import Task
from autometa.contract._types import Algorithm

if TYPE_CHECKING:
    from autometa.knowledge._base import KnowledgeBase


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
