"""A plugin module for `autometa fit --plugin prior_plugin`: one algorithm, a class prior."""

from __future__ import annotations

from optuna.distributions import CategoricalDistribution
from sklearn.dummy import DummyClassifier

import autometa
from autometa.contract import Algorithm, Task

autometa_plugin_name = "prior_plugin"

PRIOR = Algorithm(
    "prior",
    ("binary", "multiclass"),
    lambda params, task: DummyClassifier(strategy=params["strategy"]),
    lambda task: {"strategy": CategoricalDistribution(["prior", "stratified"])},
    {"strategy": "prior"},
)


@autometa.hookimpl
def autometa_algorithms(task: Task) -> list[Algorithm]:
    return [PRIOR]
