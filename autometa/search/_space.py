"""The conditional search space: sampling it, testing its points, and the study's sampler.

One study covers every algorithm: the parameter ``algorithm`` chooses one, and only that
algorithm's ``<algorithm>__<param>`` parameters are suggested (a conditional,
define-by-run space). Warm starts are enqueued trials, so samplers, storages and
dashboards see them as ordinary trials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler
from optuna.trial import BaseTrial

from autometa.contract._sampler import BUILTIN_SAMPLERS, SamplerContext, builtin_sampler
from autometa.contract._task import Task
from autometa.contract._types import (
    ALGORITHM_PARAM,
    PARAM_SEPARATOR,
    Algorithm,
    Config,
    Recommendation,
)

if TYPE_CHECKING:
    from autometa._plugins import Plugins


def suggest(trial: BaseTrial, name: str, distribution: BaseDistribution) -> Any:
    """Suggest one parameter from an Optuna distribution object."""
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            name,
            distribution.low,
            distribution.high,
            log=distribution.log,
            step=distribution.step,
        )
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(
            name,
            distribution.low,
            distribution.high,
            log=distribution.log,
            step=distribution.step,
        )
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    raise TypeError(f"Unsupported distribution for {name!r}: {distribution!r}")


def suggest_config(trial: BaseTrial, algorithms: Mapping[str, Algorithm], task: Task) -> Config:
    """Sample a configuration from the joint conditional space of ``algorithms``.

    Any Optuna trial works, a ``FixedTrial`` included; parameter names are those of
    :meth:`Config.to_trial_params`, so enqueued warm starts are received as they are.
    """
    name = trial.suggest_categorical(ALGORITHM_PARAM, sorted(algorithms))
    assert isinstance(name, str)
    params = {
        param: suggest(trial, f"{name}{PARAM_SEPARATOR}{param}", distribution)
        for param, distribution in algorithms[name].search_space(task).items()
    }
    return Config(name, params)


def config_in_space(config: Config, algorithms: Mapping[str, Algorithm], task: Task) -> bool:
    """Whether ``config`` is a point of this task's space (algorithm known, values inside).

    Recommendations from earlier tasks can fall outside a new task's space (an algorithm
    gated off by size, a range that shrank); enqueuing them would fail or warn, so they
    are filtered with this first.
    """
    algorithm = algorithms.get(config.algorithm)
    if algorithm is None:
        return False
    space = algorithm.search_space(task)
    if set(space) != set(config.params):
        return False
    for param, distribution in space.items():
        value = config.params[param]
        try:
            internal = distribution.to_internal_repr(value)
        except (ValueError, TypeError):
            return False
        if not distribution._contains(internal):
            return False
    return True


def joint_space(algorithms: Mapping[str, Algorithm], task: Task) -> dict[str, BaseDistribution]:
    """Every Optuna parameter of the conditional space, by its namespaced name."""
    space: dict[str, BaseDistribution] = {
        ALGORITHM_PARAM: CategoricalDistribution(sorted(algorithms))
    }
    for name, algorithm in algorithms.items():
        for param, distribution in algorithm.search_space(task).items():
            space[f"{name}{PARAM_SEPARATOR}{param}"] = distribution
    return space


def make_sampler(
    spec: str | BaseSampler,
    random_state: int | None,
    n_jobs: int = 1,
    *,
    plugins: Plugins | None = None,
    context: SamplerContext | None = None,
) -> BaseSampler:
    """An Optuna sampler from a name, seeded; instances are returned unchanged.

    Built-in names (:data:`autometa.contract.BUILTIN_SAMPLERS`) come first; any other
    name is one a plugin offers (``autometa_samplers``), built from ``context``. An
    unknown name is a ValueError listing the known ones.
    """
    if isinstance(spec, BaseSampler):
        return spec
    if not isinstance(spec, str):
        raise TypeError(
            f"A sampler is a name or an optuna.samplers.BaseSampler, got {type(spec).__name__}."
        )
    if spec in BUILTIN_SAMPLERS:
        return builtin_sampler(spec, random_state, n_jobs)
    offered = [] if plugins is None else sorted(plugins.samplers())
    if spec in offered:
        assert plugins is not None
        if context is None:
            raise ValueError(
                f"Sampler {spec!r} comes from a plugin and is built from the fit's task and "
                "knowledge base: pass context=SamplerContext(...) to make_sampler."
            )
        return plugins.make_sampler(spec, context, random_state, n_jobs)
    hint = "" if plugins is not None else " (pass plugins= to include the plugins' samplers)"
    raise ValueError(
        f"Unknown sampler {spec!r}; use one of {[*BUILTIN_SAMPLERS, *offered]}{hint} or an Optuna "
        "sampler instance."
    )


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
