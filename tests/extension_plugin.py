"""A plugin with one algorithm the tiny knowledge bases lack: a decision tree, every kind.

Tests extend a built base with it (``kb build --extend``); it is small and fast, and its
space has enough distinct points for pools of any size the tests ask for.
"""

from __future__ import annotations

from optuna.distributions import IntDistribution
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import autometa
from autometa.contract import Algorithm, Task

autometa_plugin_name = "extension_plugin"


def _make_tree(params: dict[str, int], task: Task) -> object:
    tree = DecisionTreeClassifier if task.is_classification else DecisionTreeRegressor
    columns = make_column_transformer(
        (SimpleImputer(strategy="median"), list(task.schema.numeric)),
        (
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
            list(task.schema.categorical),
        ),
    )
    return make_pipeline(columns, tree(**params, random_state=0))


TREE = Algorithm(
    "decision_tree",
    ("binary", "multiclass", "regression"),
    _make_tree,
    lambda task: {
        "max_depth": IntDistribution(1, 30, log=True),
        "min_samples_leaf": IntDistribution(1, 50, log=True),
    },
    {"max_depth": 30, "min_samples_leaf": 1},
)


@autometa.hookimpl
def autometa_algorithms(task: Task) -> list[Algorithm]:
    return [TREE]
