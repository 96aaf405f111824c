"""check_samplers: a plugin's samplers build from a context and drive a real Optuna study."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any

import numpy as np
import optuna
from optuna.samplers import BaseSampler
from optuna.trial import Trial

from autometa._plugins import PluginError, Plugins
from autometa.contract._encoding import ConfigEncoder, spaces_of
from autometa.contract._task import Task
from autometa.contract._types import (
    Algorithm,
    Config,
)
from autometa.knowledge._base import KnowledgeBase
from autometa.search._metafeatures import compute_meta_features
from autometa.search._space import (
    SamplerContext,
    config_in_space,
    suggest_config,
)
from autometa.testing._common import _SEED, _fail, _registered
from autometa.testing._data import _reference_algorithms, small_knowledge_base, small_tasks


def _sampler_factories(plugins: Plugins, name: str) -> dict[str, Any]:
    try:
        factories = plugins.samplers()
    except PluginError as exc:
        _fail(str(exc))
    if not factories:
        _fail(f"Plugin {name!r}: autometa_samplers offers no sampler; return a non-empty mapping.")
    return factories


def _synthetic_score(encoder: ConfigEncoder, config: Config) -> float:
    """A fixed, cheap function of the configuration: samplers are checked without fitting."""
    row, _ = encoder.encode(config)
    return -float(np.mean((row - 0.3) ** 2))


def _search(
    sampler: BaseSampler, task: Task, algorithms: Mapping[str, Algorithm], n_trials: int
) -> tuple[optuna.Study, list[Config]]:
    """Trials as a fit with ``n_jobs=2`` runs them: a warm start first, and two trials
    always running, a new one asked as soon as the older one is told."""
    encoder = ConfigEncoder(spaces_of(algorithms, task))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    first = next(iter(algorithms.values())).default_config
    study.enqueue_trial(first.to_trial_params())
    configs: list[Config] = []
    running: list[tuple[Trial, Config]] = []
    while len(configs) < n_trials:
        while len(running) < 2 and len(configs) + len(running) < n_trials:
            trial = study.ask()
            running.append((trial, suggest_config(trial, algorithms, task)))
        trial, config = running.pop(0)
        study.tell(trial, _synthetic_score(encoder, config))
        configs.append(config)
    return study, configs


def check_samplers(
    plugin: object, *, knowledge: KnowledgeBase | None = None, n_trials: int = 8
) -> None:
    """Build every sampler ``plugin`` offers (``autometa_samplers``) and search with it.

    For each sampler, on a task of each kind with the two reference algorithms, with an
    empty and with a small real knowledge base: the factory returns an
    ``optuna.samplers.BaseSampler``; a study driven as a fit drives it (one enqueued warm
    start, then two trials always running, as ``n_jobs=2``) runs
    ``n_trials`` trials on a synthetic objective (a fixed function of the configuration:
    nothing is fitted); the enqueued trial keeps its parameters; every trial is a point
    of the space; the same ``random_state`` gives the same configurations again; and the
    study, sampler included, still samples after a pickle round trip (a fitted model
    carries its study).

    :param knowledge: the non-empty knowledge base to build samplers with; None builds
        :func:`small_knowledge_base`.
    """
    plugins, name = _registered(plugin)
    if "autometa_samplers" not in plugins.info()[0].hooks:
        _fail(f"Plugin {name!r} does not implement autometa_samplers.")
    factories = _sampler_factories(plugins, name)
    if knowledge is None:
        knowledge = small_knowledge_base()
    algorithms = {a.name: a for a in _reference_algorithms()}
    tasks = [(task, compute_meta_features(task).values) for task in small_tasks().values()]
    for sampler_name in sorted(factories):
        for task, features in tasks:
            for base in (KnowledgeBase.in_memory(), knowledge):
                context = SamplerContext(task, algorithms, base, features)
                where = (
                    f"Plugin {name!r}, sampler {sampler_name!r}, {task.kind} task, "
                    f"{'a small' if len(base) else 'an empty'} knowledge base"
                )
                _check_one_sampler(plugins, sampler_name, context, n_trials, where)


def _check_one_sampler(
    plugins: Plugins, sampler_name: str, context: SamplerContext, n_trials: int, where: str
) -> None:
    runs = []
    for _ in range(2):
        try:
            sampler = plugins.make_sampler(sampler_name, context, _SEED, 2)
            study, configs = _search(sampler, context.task, context.algorithms, n_trials)
        except PluginError as exc:
            _fail(f"{where}: {exc}")
        except Exception as exc:
            _fail(f"{where}: searching raised {type(exc).__name__}: {exc}")
        runs.append((study, configs))
    study, configs = runs[0]
    first = next(iter(context.algorithms.values())).default_config
    if configs[0] != first:
        _fail(f"{where}: the enqueued warm start {first} became {configs[0]}; keep fixed params.")
    outside = [c for c in configs if not config_in_space(c, context.algorithms, context.task)]
    if outside:
        _fail(f"{where}: proposed configurations outside the search space: {outside[:3]}.")
    if [c.key for c in configs] != [c.key for c in runs[1][1]]:
        _fail(
            f"{where}: not deterministic; two samplers built with random_state={_SEED} "
            "proposed different configurations. Seed every random choice from random_state."
        )
    try:
        again = pickle.loads(pickle.dumps(study))
        trial = again.ask()
        suggest_config(trial, context.algorithms, context.task)
    except Exception as exc:
        _fail(f"{where}: the study does not survive pickling: {type(exc).__name__}: {exc}")
