"""Small real tasks and knowledge bases the checks run on (scikit-learn's bundled data)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import RandomSampler
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from autometa.contract._task import Task
from autometa.contract._types import (
    TASK_KINDS,
    Algorithm,
    Config,
    Evaluation,
    TaskKind,
)
from autometa.knowledge._base import KnowledgeBase, TaskRecord
from autometa.search._evaluation import cross_validate_config
from autometa.search._metafeatures import compute_meta_features
from autometa.testing._common import _SEED


def _with_missing_and_categorical(X: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Add a categorical column and missing cells: tasks as users pass them have both."""
    rng = np.random.default_rng(seed)
    X = X.reset_index(drop=True).copy()
    X["colour"] = rng.choice(np.array(["red", "green", "blue"], dtype=object), len(X))
    X.loc[X.index[::7], "colour"] = np.nan
    X.iloc[::11, 0] = np.nan
    return X


def _task(X: pd.DataFrame, y: Any, kind: TaskKind, name: str, seed: int) -> Task:
    return Task.from_data(
        _with_missing_and_categorical(X, seed),
        np.asarray(y),
        kind=kind,
        cv=3,
        random_state=_SEED,
        name=name,
        task_id=name,
    )


def small_tasks() -> dict[TaskKind, Task]:
    """One small real task per kind, as :meth:`Task.from_data` builds them.

    ``binary``: 150 rows of breast cancer; ``multiclass``: wine (178 rows, 3 classes);
    ``regression``: 150 rows of diabetes. Each has an extra categorical column with
    missing values and missing cells in a numeric column, because the tasks a plugin
    meets in a fit have both; 3-fold CV, ``random_state=0``.
    """
    cancer_X, cancer_y = load_breast_cancer(return_X_y=True, as_frame=True)
    rows = cancer_X.sample(150, random_state=_SEED).index
    wine_X, wine_y = load_wine(return_X_y=True, as_frame=True)
    diabetes_X, diabetes_y = load_diabetes(return_X_y=True, as_frame=True)
    return {
        "binary": _task(cancer_X.loc[rows], cancer_y.loc[rows], "binary", "cancer", 1),
        "multiclass": _task(wine_X, wine_y, "multiclass", "wine", 2),
        "regression": _task(
            diabetes_X.iloc[:150], diabetes_y.iloc[:150], "regression", "diabetes", 3
        ),
    }


def _knowledge_tasks() -> list[Task]:
    """Earlier tasks for :func:`small_knowledge_base`: two per kind, none in small_tasks."""
    cancer_X, cancer_y = load_breast_cancer(return_X_y=True, as_frame=True)
    iris_X, iris_y = load_iris(return_X_y=True, as_frame=True)
    wine_X, wine_y = load_wine(return_X_y=True, as_frame=True)
    diabetes_X, diabetes_y = load_diabetes(return_X_y=True, as_frame=True)
    cancer_rows = cancer_X.sample(120, random_state=1).index
    two_irises = iris_y.to_numpy() > 0
    wine_rows = wine_X.sample(120, random_state=1).index
    return [
        _task(cancer_X.loc[cancer_rows], cancer_y.loc[cancer_rows], "binary", "cancer_120", 4),
        _task(iris_X[two_irises], iris_y[two_irises], "binary", "iris_two", 5),
        _task(iris_X, iris_y, "multiclass", "iris", 6),
        _task(wine_X.loc[wine_rows], wine_y.loc[wine_rows], "multiclass", "wine_120", 7),
        _task(diabetes_X.iloc[150:270], diabetes_y.iloc[150:270], "regression", "diab_a", 8),
        _task(diabetes_X.iloc[270:], diabetes_y.iloc[270:], "regression", "diab_b", 9),
    ]


def _preprocessor(task: Task) -> ColumnTransformer:
    numeric = Pipeline(
        [("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
         ("scale", StandardScaler())]
    )  # fmt: skip
    fill_missing = SimpleImputer(
        strategy="constant", fill_value="missing", keep_empty_features=True
    )
    categorical = Pipeline(
        [("impute", fill_missing),
         ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]
    )  # fmt: skip
    return ColumnTransformer(
        [("numeric", numeric, list(task.schema.numeric)),
         ("categorical", categorical, list(task.schema.categorical))],
        sparse_threshold=0.0,
    )  # fmt: skip


def _make_linear(params: Mapping[str, Any], task: Task) -> Pipeline:
    strength = float(params["regularization"])
    model: BaseEstimator = (
        LogisticRegression(C=1.0 / strength, max_iter=1000)
        if task.is_classification
        else Ridge(alpha=strength)
    )
    return Pipeline([("preprocess", _preprocessor(task)), ("model", model)])


def _make_tree(params: Mapping[str, Any], task: Task) -> Pipeline:
    leaf = int(params["min_samples_leaf"])
    model: BaseEstimator = (
        DecisionTreeClassifier(min_samples_leaf=leaf, random_state=task.random_state)
        if task.is_classification
        else DecisionTreeRegressor(min_samples_leaf=leaf, random_state=task.random_state)
    )
    return Pipeline([("preprocess", _preprocessor(task)), ("model", model)])


def _linear_space(task: Task) -> dict[str, BaseDistribution]:
    return {"regularization": FloatDistribution(1e-3, 1e3, log=True)}


def _tree_space(task: Task) -> dict[str, BaseDistribution]:
    return {"min_samples_leaf": IntDistribution(1, 20, log=True)}


def _reference_algorithms() -> list[Algorithm]:
    """Two cheap real algorithms for every kind: a regularised linear model and a tree."""
    return [
        Algorithm(
            "reference_linear", TASK_KINDS, _make_linear, _linear_space, {"regularization": 1.0}
        ),
        Algorithm("reference_tree", TASK_KINDS, _make_tree, _tree_space, {"min_samples_leaf": 1}),
    ]


def _sampled_params(
    space: Mapping[str, BaseDistribution], n: int, seed: int
) -> list[dict[str, Any]]:
    """``n`` points of ``space`` drawn by a seeded Optuna RandomSampler (no storage)."""
    study = optuna.create_study(sampler=RandomSampler(seed=seed))
    return [study.ask(dict(space)).params for _ in range(n)]


def small_knowledge_base(
    algorithms: Sequence[Algorithm] | None = None, *, configs_per_algorithm: int = 3
) -> KnowledgeBase:
    """A real in-memory knowledge base: six earlier tasks (two per kind), their full
    meta-features, and cross-validated scores of a few configurations per algorithm.

    :param algorithms: the algorithms to evaluate (each on the tasks of its kinds);
        None means two cheap reference algorithms, ``reference_linear`` and
        ``reference_tree``, that handle every kind.
    :param configs_per_algorithm: the default plus this many minus one configurations
        drawn by a seeded Optuna RandomSampler.
    """
    algorithms = list(algorithms) if algorithms is not None else _reference_algorithms()
    kb = KnowledgeBase.in_memory()
    with threadpool_limits(1):  # as in the search's worker processes
        _fill_knowledge(kb, algorithms, configs_per_algorithm)
    return kb


def _fill_knowledge(
    kb: KnowledgeBase, algorithms: Sequence[Algorithm], configs_per_algorithm: int
) -> None:
    for task in _knowledge_tasks():
        kb.add_task(TaskRecord.from_task(task, compute_meta_features(task).values))
        splits = list(task.cv.split(task.X, task.y))
        evaluations = []
        for algorithm in (a for a in algorithms if task.kind in a.kinds):
            space = algorithm.search_space(task)
            sampled = _sampled_params(space, configs_per_algorithm - 1, _SEED)
            candidates = [dict(algorithm.default_params), *sampled]
            for config in dict.fromkeys(Config(algorithm.name, p) for p in candidates):
                outcome = cross_validate_config(
                    algorithm.make_estimator(config.params, task),
                    task.X,
                    task.y,
                    splits,
                    task.scoring,
                )
                evaluations.append(
                    Evaluation(
                        task.task_id,
                        config,
                        outcome.score,
                        outcome.fit_time,
                        outcome.status,
                        outcome.error,
                    )
                )
        kb.add_evaluations(evaluations)
