"""autometa_multitask: models whose parameters are shared across earlier tasks.

Registered through the ``autometa`` entry-point group like any third-party plugin. Its
meta-learners (``Strategy(meta_learner=...)``):

- ``"score_forest"``: one multi-output forest from meta-features to the regret of every
  pool configuration (:mod:`autometa_multitask.score_forest`);
- ``"task_surrogate"``: one surrogate over [meta-features, configuration encoding],
  trained on every earlier task with per-task loss weights from task similarity
  (:mod:`autometa_multitask.task_surrogate`).

The samplers it offers (``Strategy(sampler=...)``) are built from the fit's knowledge base:

- ``"rgpe"``: a ranking-weighted ensemble of per-task surrogates that proposes every
  configuration after the first few trials (:mod:`autometa_multitask.rgpe`);
- ``"cmaes_warm"``: CMA-ES on one algorithm, warm-started from the nearest earlier
  tasks' evaluations (:mod:`autometa_multitask.warm_cmaes`).
"""

from __future__ import annotations

from collections.abc import Mapping

from autometa.contract import MetaLearner, SamplerFactory
from autometa.contract.hookspecs import hookimpl
from autometa_multitask.rgpe import RGPESampler, make_rgpe
from autometa_multitask.score_forest import ScoreForest
from autometa_multitask.task_surrogate import TaskSurrogate
from autometa_multitask.warm_cmaes import WarmStartedCmaEs, make_cmaes_warm

__all__ = [
    "RGPESampler",
    "ScoreForest",
    "TaskSurrogate",
    "WarmStartedCmaEs",
    "make_cmaes_warm",
    "make_rgpe",
]


@hookimpl
def autometa_meta_learners() -> list[type[MetaLearner]]:
    return [ScoreForest, TaskSurrogate]


@hookimpl
def autometa_samplers() -> Mapping[str, SamplerFactory]:
    return {"rgpe": make_rgpe, "cmaes_warm": make_cmaes_warm}
