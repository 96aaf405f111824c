"""What a sampler offered by a plugin is built from (hook ``autometa_samplers``), and the
built-in samplers a plugin's sampler may delegate to."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import optuna
from optuna.samplers import BaseSampler

from autometa.contract._knowledge import KnowledgeView
from autometa.contract._task import Task
from autometa.contract._types import Algorithm

BUILTIN_SAMPLERS = ("tpe", "random", "cmaes", "qmc")
"""Names of the samplers autometa builds itself; a plugin may not offer these names."""


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
    knowledge: KnowledgeView
    meta_features: Mapping[str, float]


SamplerFactory = Callable[[SamplerContext, int | None, int], BaseSampler]
"""``factory(context, random_state, n_jobs)`` returns a new, seeded Optuna sampler."""


def builtin_sampler(name: str, random_state: int | None, n_jobs: int = 1) -> BaseSampler:
    """A new built-in Optuna sampler, configured as autometa's own search uses it.

    A plugin's sampler that hands some trials to another sampler (the first trials, or
    parameters it does not model) delegates to one of these, so it behaves as the
    fit's default search does there.

    :param name: one of :data:`BUILTIN_SAMPLERS`: ``"tpe"`` (multivariate, grouped for
        the conditional space, a constant liar when ``n_jobs > 1``), ``"random"``,
        ``"cmaes"`` (TPE for what CMA-ES does not cover) or ``"qmc"``.
    :param random_state: seed of the sampler.
    :param n_jobs: how many trials are asked before any is told.
    """
    if name == "tpe":
        with warnings.catch_warnings():
            # `group` is marked experimental; it is what a conditional space needs, and
            # the warning would tell our users nothing they can act on.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=random_state,
                multivariate=True,
                group=True,  # the space is conditional on `algorithm`
                # Trials asked before others are told would otherwise crowd the same region.
                constant_liar=n_jobs > 1,
            )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=random_state)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(
            seed=random_state,
            # CMA-ES models numeric parameters only: the algorithm choice and categorical ones go to
            # TPE rather than Optuna's default, random sampling.
            independent_sampler=builtin_sampler("tpe", random_state, n_jobs),
        )
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=random_state)
    raise ValueError(
        f"Unknown built-in sampler {name!r}; use one of {list(BUILTIN_SAMPLERS)} (samplers "
        "offered by plugins are built by the fit, by name in the Strategy)."
    )
