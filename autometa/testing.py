"""Conformance checks for autometa plugins, to call from a plugin's own test suite.

autometa loads third-party code through :mod:`autometa.contract.hookspecs`, and most mistakes in
that code do not fail where they are made: a default outside the search space makes
every warm start of that algorithm silently skipped, an estimator that does not pickle
fails only in a joblib worker, an infinite meta-feature breaks the knowledge base, a
non-deterministic meta-learner makes seeded fits irreproducible. These checks run a
plugin's parts the way a fit runs them, on small real tasks, and raise
:class:`AssertionError` with a message naming the plugin (or algorithm, or learner) and
what is wrong, so a plugin author finds out in ``pytest`` rather than from a user::

    import autometa.testing
    import my_plugin

    def test_my_plugin_conforms():
        autometa.testing.check_plugin(my_plugin)
        for algorithm in my_plugin.ALGORITHMS:
            autometa.testing.check_algorithm(algorithm)
        autometa.testing.check_meta_features(my_plugin)

The checks use real components only: a real plugin manager
(:func:`autometa._plugins.build_plugin_manager`), tasks built by
:meth:`autometa.contract.Task.from_data` from scikit-learn's bundled datasets, real Optuna
samplers, and knowledge bases filled by real cross-validation. They raise explicitly
(never through ``assert`` statements), so they also work under ``python -O``.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
import pickle
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler, RandomSampler
from optuna.trial import Trial
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import get_scorer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from autometa._plugins import PluginError, Plugins, build_plugin_manager
from autometa.contract import hookspecs
from autometa.contract._encoding import ConfigEncoder, spaces_of
from autometa.contract._metalearner import MetaLearner
from autometa.contract._task import Task
from autometa.contract._types import (
    TASK_KINDS,
    Algorithm,
    Config,
    Evaluation,
    Evidence,
    Recommendation,
    Strategy,
    TaskKind,
)
from autometa.knowledge._base import KnowledgeBase, TaskRecord
from autometa.search._evaluation import cross_validate_config
from autometa.search._loop import (
    SAMPLERS,
    SamplerContext,
    config_in_space,
    make_sampler,
    suggest_config,
)
from autometa.search._metafeatures import compute_meta_features

__all__ = [
    "check_algorithm",
    "check_meta_features",
    "check_meta_learner",
    "check_plugin",
    "check_samplers",
    "check_strategy_selector",
    "small_knowledge_base",
    "small_tasks",
]

HOOK_NAMES: tuple[str, ...] = tuple(
    name
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(function, f"{hookspecs.PROJECT_NAME}_spec")
)
"""Every hook of the contract, read from the markers of :mod:`autometa.contract.hookspecs`."""

SUPPORTED_DISTRIBUTIONS = (FloatDistribution, IntDistribution, CategoricalDistribution)
"""The Optuna distributions the search can suggest (see :func:`autometa.search._loop.suggest`)."""

PROBABILITY_TOLERANCE = 1e-6
"""How far a row of ``predict_proba`` may sum from 1."""

_SEED = 0


def _fail(message: str) -> NoReturn:
    raise AssertionError(message)


# -- small real tasks ----------------------------------------------------------------------
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


# -- reference algorithms for knowledge bases ------------------------------------------------
def _preprocessor(task: Task) -> ColumnTransformer:
    numeric = Pipeline(
        [("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
         ("scale", StandardScaler())]
    )  # fmt: skip
    categorical = Pipeline(
        [("impute", SimpleImputer(strategy="constant", fill_value="missing")),
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


# -- plugins ----------------------------------------------------------------------------------
def _registered(plugin: object) -> tuple[Plugins, str]:
    """``plugin`` alone in a real plugin manager, and the name it is registered under."""
    try:
        plugins = build_plugin_manager([plugin], autoload=False, builtins=False)
    except PluginError as exc:
        _fail(f"Plugin {_label(plugin)!r} cannot be registered (unknown hook?): {exc}")
    names = plugins.names()
    if len(names) != 1:
        _fail(f"Plugin {_label(plugin)!r} was not registered (blocked by its name?).")
    return plugins, names[0]


def _label(plugin: object) -> str:
    explicit = getattr(plugin, "autometa_plugin_name", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    return str(getattr(plugin, "__name__", None) or type(plugin).__name__)


def _unmarked_hooks(plugin: object) -> list[str]:
    """Functions named like hooks that lack ``@autometa.hookimpl`` (pluggy ignores them)."""
    marker = f"{hookspecs.PROJECT_NAME}_impl"
    found = []
    for name in dir(plugin):
        if not name.startswith(f"{hookspecs.PROJECT_NAME}_"):
            continue
        value = getattr(plugin, name, None)
        if (inspect.isfunction(value) or inspect.ismethod(value)) and not hasattr(value, marker):
            found.append(name)
    return found


def _call_hook(plugins: Plugins, plugin_name: str, hook: str, **kwargs: Any) -> Any:
    """Call ``hook`` through pluggy (which passes each implementation only what it names)."""
    caller = getattr(plugins.plugin_manager.hook, hook)
    try:
        result = caller(**kwargs)
    except Exception as exc:
        _fail(f"Plugin {plugin_name!r} raised in {hook}: {type(exc).__name__}: {exc}")
    if caller.spec is not None and caller.spec.opts.get("firstresult"):
        return result
    if len(result) != 1:  # None results are dropped by pluggy
        return None
    return result[0]


def check_plugin(plugin: object) -> None:
    """Register ``plugin`` with a real plugin manager and call every hook it implements.

    Checks that the plugin registers (no unknown hook names, no arguments a hook does
    not have), implements at least one hook, has no function named like a hook but left
    without ``@autometa.hookimpl`` (pluggy would silently ignore it), and that each hook
    it implements, called on a binary, a multiclass and a regression task, returns what
    the contract says: a list of :class:`~autometa.contract.Algorithm` handling the task's
    kind with unique names; a mapping of names to finite-or-NaN numbers; a list of
    :class:`~autometa.contract.MetaLearner` subclasses with unique names; a
    :class:`~autometa.contract.Strategy` or None; None from an observer, which must not
    raise. These are the errors a fit would otherwise report at run time; the deeper
    checks (:func:`check_algorithm`, :func:`check_meta_features`,
    :func:`check_meta_learner`, :func:`check_strategy_selector`) test what the parts do.
    """
    unmarked = _unmarked_hooks(plugin)
    if unmarked:
        _fail(
            f"Plugin {_label(plugin)!r}: {unmarked} look like hooks but are not decorated "
            "with @autometa.hookimpl, so autometa never calls them. Known hooks: "
            f"{list(HOOK_NAMES)}."
        )
    plugins, name = _registered(plugin)
    hooks = plugins.info()[0].hooks
    if not hooks:
        _fail(
            f"Plugin {name!r} implements no hook; decorate functions named after the "
            f"hooks {list(HOOK_NAMES)} with @autometa.hookimpl."
        )
    learner_names: list[str] = []
    if "autometa_meta_learners" in hooks:
        learner_names = _check_learner_classes(plugins, name)
    for task in small_tasks().values():
        if "autometa_algorithms" in hooks:
            _check_algorithm_list(plugins, name, task)
        if "autometa_meta_features" in hooks:
            result = _call_hook(plugins, name, "autometa_meta_features", task=task)
            _check_feature_mapping(f"Plugin {name!r}", result, task)
        if "autometa_select_strategy" in hooks:
            knowledge = KnowledgeBase.in_memory()
            choices = sorted({*learner_names, "nearest_tasks"})
            _check_strategy(plugins, name, task, knowledge, choices)
        if "autometa_samplers" in hooks:
            _sampler_factories(plugins, name)
        if "autometa_trial_completed" in hooks:
            for evaluation in _evaluations_of(task):
                result = _call_hook(
                    plugins, name, "autometa_trial_completed", evaluation=evaluation, task=task
                )
                if result is not None:
                    _fail(
                        f"Plugin {name!r}: autometa_trial_completed returned "
                        f"{type(result).__name__}; observers return None."
                    )


def _evaluations_of(task: Task) -> list[Evaluation]:
    config = Config("reference_linear", {"regularization": 1.0})
    return [
        Evaluation(task.task_id, config, 0.75, 0.12),
        Evaluation(task.task_id, config, math.nan, 0.01, "failed", "ValueError: example"),
    ]


def _check_algorithm_list(plugins: Plugins, name: str, task: Task) -> None:
    result = _call_hook(plugins, name, "autometa_algorithms", task=task)
    if not isinstance(result, (list, tuple)):
        _fail(
            f"Plugin {name!r}: autometa_algorithms must return a list of Algorithm, got "
            f"{type(result).__name__} for a {task.kind} task."
        )
    seen: set[str] = set()
    for algorithm in result:
        if not isinstance(algorithm, Algorithm):
            _fail(
                f"Plugin {name!r}: autometa_algorithms returned {type(algorithm).__name__} "
                f"({algorithm!r}), expected autometa.contract.Algorithm."
            )
        if task.kind not in algorithm.kinds:
            _fail(
                f"Plugin {name!r}: autometa_algorithms offered {algorithm.name!r} (kinds "
                f"{algorithm.kinds}) for a {task.kind} task; offer only algorithms that "
                "handle the task's kind."
            )
        if algorithm.name in seen:
            _fail(f"Plugin {name!r}: autometa_algorithms returned {algorithm.name!r} twice.")
        seen.add(algorithm.name)


def _check_learner_classes(plugins: Plugins, name: str) -> list[str]:
    result = _call_hook(plugins, name, "autometa_meta_learners")
    if not isinstance(result, (list, tuple)):
        _fail(
            f"Plugin {name!r}: autometa_meta_learners must return a list of MetaLearner "
            f"classes, got {type(result).__name__}."
        )
    names: list[str] = []
    for cls in result:
        if not (isinstance(cls, type) and issubclass(cls, MetaLearner)):
            _fail(
                f"Plugin {name!r}: autometa_meta_learners returned {cls!r}; return the "
                "classes themselves (subclasses of autometa.MetaLearner), not instances."
            )
        if not isinstance(cls.name, str) or not cls.name:
            _fail(f"Plugin {name!r}: meta-learner {cls.__name__} has no `name` class attribute.")
        if cls.name in names:
            _fail(f"Plugin {name!r}: two meta-learners are named {cls.name!r}.")
        names.append(cls.name)
    return names


def _check_strategy(
    plugins: Plugins, name: str, task: Task, knowledge: KnowledgeBase, learners: list[str]
) -> Strategy | None:
    before = knowledge.counts()
    result = _call_hook(
        plugins,
        name,
        "autometa_select_strategy",
        task=task,
        meta_features=compute_meta_features(task).values,
        knowledge=knowledge,
        meta_learners=list(learners),
    )
    if knowledge.counts() != before:
        _fail(f"Plugin {name!r}: autometa_select_strategy modified the knowledge base.")
    if result is None:
        return None
    if not isinstance(result, Strategy):
        _fail(
            f"Plugin {name!r}: autometa_select_strategy returned {type(result).__name__}, "
            "expected autometa.contract.Strategy or None."
        )
    if result.meta_learner is not None and result.meta_learner not in learners:
        _fail(
            f"Plugin {name!r}: autometa_select_strategy chose meta-learner "
            f"{result.meta_learner!r} for a {task.kind} task, which is not among the "
            f"registered ones it was given ({learners}); choose from `meta_learners`."
        )
    sampler = result.sampler
    if isinstance(sampler, str) and sampler not in SAMPLERS:
        offered = _offered_samplers(plugins)
        if sampler not in offered:
            _fail(
                f"Plugin {name!r}: autometa_select_strategy returned an unusable sampler: "
                f"Unknown sampler {sampler!r}; neither built in ({list(SAMPLERS)}) nor offered "
                f"by the plugin or an installed one ({sorted(offered)})."
            )
        return result
    try:
        make_sampler(sampler, _SEED)
    except (ValueError, TypeError) as exc:
        _fail(f"Plugin {name!r}: autometa_select_strategy returned an unusable sampler: {exc}")
    return result


def _offered_samplers(plugins: Plugins) -> set[str]:
    """Sampler names the plugin under check and the installed plugins offer."""
    names = set(plugins.samplers())
    with contextlib.suppress(PluginError):  # a broken installed plugin is not this one's fault
        names |= set(build_plugin_manager().samplers())
    return names


# -- algorithms -------------------------------------------------------------------------------
def check_algorithm(
    algorithm: Algorithm,
    task: Task | None = None,
    *,
    n_configs: int = 3,
    random_state: int = _SEED,
) -> None:
    """Run ``algorithm`` the way a search does, on ``task`` or a small task of each kind.

    For each task: ``search_space`` returns distributions the search can suggest
    (Optuna Float/Int/Categorical, JSON-safe choices); ``default_params`` names exactly
    the space's parameters with values inside it (otherwise the default, and every
    recommendation of it, is dropped as out of space); and the default plus
    ``n_configs`` configurations drawn by a seeded Optuna RandomSampler each build an
    estimator that survives :func:`sklearn.base.clone` and pickling (the search clones
    per fold and ships estimators to joblib worker processes; saved models are pickles),
    fits and predicts on a training fold, scores finitely with the task's scorer, and
    gives the same predictions after a pickle round trip and when a clone is fitted on
    the same rows (seeded fits must be reproducible). Classifiers must have
    ``predict_proba`` with one column per class, rows summing to 1.

    :param task: check only this task (its kind must be one of ``algorithm.kinds``).
    """
    if not isinstance(algorithm, Algorithm):
        _fail(f"check_algorithm expects an autometa.contract.Algorithm, got {algorithm!r}.")
    if task is None:
        tasks = [t for kind, t in small_tasks().items() if kind in algorithm.kinds]
    elif task.kind not in algorithm.kinds:
        _fail(
            f"Algorithm {algorithm.name!r} handles {algorithm.kinds}, not the given "
            f"{task.kind} task."
        )
    else:
        tasks = [task]
    for one in tasks:
        where = f"Algorithm {algorithm.name!r} on a {one.kind} task ({one.name})"
        space = _checked_space(algorithm, one, where)
        _check_default(algorithm, space, where)
        candidates = [dict(algorithm.default_params)]
        candidates += _sampled_params(space, n_configs, random_state)
        for config in dict.fromkeys(Config(algorithm.name, p) for p in candidates):
            _check_estimator(algorithm, config, one, where)


def _checked_space(algorithm: Algorithm, task: Task, where: str) -> dict[str, BaseDistribution]:
    try:
        space = algorithm.search_space(task)
    except Exception as exc:
        _fail(f"{where}: search_space raised {type(exc).__name__}: {exc}")
    if not isinstance(space, Mapping):
        _fail(f"{where}: search_space returned {type(space).__name__}, expected a dict.")
    for param, distribution in space.items():
        if not isinstance(param, str) or not param:
            _fail(f"{where}: search space parameter names must be strings, got {param!r}.")
        if not isinstance(distribution, SUPPORTED_DISTRIBUTIONS):
            _fail(
                f"{where}: parameter {param!r} has {type(distribution).__name__}; the "
                "search suggests optuna.distributions.FloatDistribution, IntDistribution "
                "and CategoricalDistribution only."
            )
        if isinstance(distribution, CategoricalDistribution):
            for choice in distribution.choices:
                if not (choice is None or isinstance(choice, (str, int, float, bool))):
                    _fail(
                        f"{where}: parameter {param!r} offers {choice!r}; categorical choices "
                        "must be str, int, float, bool or None (configurations are stored "
                        "as JSON)."
                    )
    return dict(space)


def _check_default(algorithm: Algorithm, space: Mapping[str, BaseDistribution], where: str) -> None:
    defaults = dict(algorithm.default_params)
    missing, extra = sorted(set(space) - set(defaults)), sorted(set(defaults) - set(space))
    if missing or extra:
        _fail(
            f"{where}: default_params must name exactly the search space's parameters; "
            f"missing {missing}, not in the space {extra}."
        )
    for param, value in defaults.items():
        distribution = space[param]
        try:
            inside = distribution._contains(distribution.to_internal_repr(value))
        except (ValueError, TypeError):
            inside = False
        if not inside:
            _fail(
                f"{where}: default {param}={value!r} lies outside the search space "
                f"{distribution!r}; the default would never be searched or recommended."
            )
    try:
        Config(algorithm.name, defaults)
    except TypeError as exc:
        _fail(f"{where}: default_params are not JSON-safe: {exc}")


def _check_estimator(algorithm: Algorithm, config: Config, task: Task, where: str) -> None:
    where = f"{where}, params {dict(config.params)}"
    try:
        estimator = algorithm.make_estimator(config.params, task)
    except Exception as exc:
        _fail(f"{where}: make_estimator raised {type(exc).__name__}: {exc}")
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
        _fail(f"{where}: make_estimator returned {estimator!r}, not a scikit-learn estimator.")
    try:
        twin = clone(estimator)
    except Exception as exc:
        _fail(
            f"{where}: the estimator does not survive sklearn.base.clone ({type(exc).__name__}: "
            f"{exc}); keep every __init__ argument as an attribute of the same name, unchanged."
        )
    try:
        pickle.loads(pickle.dumps(estimator))
    except Exception as exc:
        _fail(
            f"{where}: the estimator cannot be pickled ({type(exc).__name__}: {exc}); joblib "
            "workers and saved models need it (no lambdas or local classes inside)."
        )
    train, test = next(iter(task.cv.split(task.X, task.y)))
    X_train, y_train, X_test = task.X.iloc[train], task.y[train], task.X.iloc[test]
    # One thread, as in the search's worker processes; warnings are the search's business.
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        try:
            estimator.fit(X_train, y_train)
            twin.fit(X_train, y_train)
            predictions = np.asarray(estimator.predict(X_test))
        except Exception as exc:
            _fail(f"{where}: fit/predict raised {type(exc).__name__}: {exc}")
        if predictions.shape[:1] != (len(test),):
            _fail(f"{where}: predict returned shape {predictions.shape} for {len(test)} rows.")
        outputs = _outputs(estimator, X_test, task, where)
        try:
            score = float(get_scorer(task.scoring)(estimator, X_test, task.y[test]))
        except Exception as exc:
            _fail(f"{where}: scoring with {task.scoring!r} raised {type(exc).__name__}: {exc}")
        if not math.isfinite(score):
            _fail(f"{where}: {task.scoring} score is {score} on a validation fold.")
        try:
            restored = pickle.loads(pickle.dumps(estimator))
        except Exception as exc:
            _fail(f"{where}: the fitted estimator cannot be pickled ({type(exc).__name__}: {exc}).")
        if not _same(_outputs(restored, X_test, task, where), outputs):
            _fail(f"{where}: the fitted estimator predicts differently after a pickle round trip.")
        if not _same(_outputs(twin, X_test, task, where), outputs):
            _fail(
                f"{where}: a clone fitted on the same rows predicts differently; seed every "
                "random step from task.random_state (and keep parameters in __init__)."
            )


def _outputs(model: Any, X: pd.DataFrame, task: Task, where: str) -> np.ndarray:
    """Probabilities of a classifier (checked), predictions of a regressor (checked)."""
    if not task.is_classification:
        predictions = np.asarray(model.predict(X), dtype=float)
        if not np.isfinite(predictions).all():
            _fail(f"{where}: predict returned non-finite values.")
        return predictions
    labels = set(np.asarray(model.predict(X)).tolist())
    unknown = labels - set(np.asarray(task.classes).tolist())
    if unknown:
        _fail(f"{where}: predict returned labels {sorted(map(str, unknown))} not in y.")
    if not hasattr(model, "predict_proba"):
        _fail(
            f"{where}: classifiers must have predict_proba (log loss and ROC AUC need it, "
            "and so does the model autometa returns)."
        )
    proba = np.asarray(model.predict_proba(X), dtype=float)
    n_classes = len(np.asarray(model.classes_))
    if proba.shape != (len(X), n_classes):
        _fail(f"{where}: predict_proba has shape {proba.shape}, expected {(len(X), n_classes)}.")
    if not np.isfinite(proba).all() or (proba < -PROBABILITY_TOLERANCE).any():
        _fail(f"{where}: predict_proba returned negative or non-finite values.")
    worst = float(np.abs(proba.sum(axis=1) - 1.0).max())
    if worst > PROBABILITY_TOLERANCE:
        _fail(f"{where}: predict_proba rows must sum to 1; one is off by {worst:.3g}.")
    return proba


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-7, atol=1e-10, equal_nan=True))


# -- meta-features ----------------------------------------------------------------------------
def check_meta_features(
    plugin_or_callable: object | Callable[[Task], Mapping[str, float]],
) -> None:
    """Check the meta-features of a plugin (its ``autometa_meta_features`` hook) or of a
    callable ``task -> {name: value}``, on a binary, a multiclass and a regression task.

    Values must be real numbers (not bools), NaN where undefined but never infinite
    (knowledge bases refuse infinities); names must be non-empty strings that do not
    clash with autometa's own meta-features (as
    :func:`autometa.search._metafeatures.compute_meta_features` returns them, or the fit fails);
    a plugin's name must not be one of autometa's group names; and two calls on the
    same task must give the same values (meta-features are how a new task is compared
    with earlier ones, so they must be reproducible). A plugin is then run through the
    real meta-feature engine, as a fit runs it.
    """
    plugins: Plugins | None = None
    compute: Callable[[Task], object]
    if hasattr(plugin_or_callable, "autometa_meta_features") or not callable(plugin_or_callable):
        plugins, name = _registered(plugin_or_callable)
        if "autometa_meta_features" not in plugins.info()[0].hooks:
            _fail(f"Plugin {name!r} does not implement autometa_meta_features.")
        owner = f"Plugin {name!r}"
        compute = _through_hook(plugins, name)
    else:
        label = getattr(plugin_or_callable, "__qualname__", repr(plugin_or_callable))
        owner = f"Meta-feature function {label!r}"
        compute = _guarded(plugin_or_callable, owner)
    for task in small_tasks().values():
        own = compute_meta_features(task)
        values = _check_feature_mapping(owner, compute(task), task)
        clashes = sorted(set(values) & set(own.values))
        if clashes:
            _fail(
                f"{owner}: meta-features {clashes} clash with autometa's own names; prefix "
                "yours with your plugin's name."
            )
        again = _check_feature_mapping(owner, compute(task), task)
        if again.keys() != values.keys() or not all(
            _same_number(values[k], again[k]) for k in values
        ):
            _fail(
                f"{owner}: two calls on the same {task.kind} task gave different "
                "meta-features; seed any sampling so the values are reproducible."
            )
        if plugins is not None:
            name = plugins.names()[0]
            if name in own.groups:
                _fail(
                    f"{owner}: its name is one of autometa's meta-feature groups "
                    f"{sorted(own.groups)}; register it under another name."
                )
            try:
                engine = compute_meta_features(task, extra_groups=plugins.meta_feature_groups(task))
            except Exception as exc:
                _fail(f"{owner}: the meta-feature engine failed: {type(exc).__name__}: {exc}")
            if engine.groups[name] != tuple(values):
                _fail(f"{owner}: the engine saw other names than the hook returned.")


def _through_hook(plugins: Plugins, name: str) -> Callable[[Task], object]:
    def compute(task: Task) -> object:
        return _call_hook(plugins, name, "autometa_meta_features", task=task)

    return compute


def _guarded(function: Callable[[Task], object], owner: str) -> Callable[[Task], object]:
    def compute(task: Task) -> object:
        try:
            return function(task)
        except Exception as exc:
            _fail(f"{owner} raised {type(exc).__name__}: {exc}")

    return compute


def _check_feature_mapping(owner: str, result: object, task: Task) -> dict[str, float]:
    if not isinstance(result, Mapping):
        _fail(
            f"{owner}: meta-features must be a mapping of name to float, got "
            f"{type(result).__name__} for a {task.kind} task."
        )
    values: dict[str, float] = {}
    for name, value in result.items():
        if not isinstance(name, str) or not name:
            _fail(f"{owner}: meta-feature names must be non-empty strings, got {name!r}.")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            _fail(
                f"{owner}: meta-feature {name!r} is {type(value).__name__} {value!r}; "
                "values must be real numbers (NaN where undefined)."
            )
        if math.isinf(float(value)):
            _fail(
                f"{owner}: meta-feature {name!r} is infinite on a {task.kind} task; use NaN "
                "where a value is undefined (knowledge bases refuse infinities)."
            )
        values[name] = float(value)
    return values


def _same_number(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


# -- meta-learners ----------------------------------------------------------------------------
def check_meta_learner(
    cls: type[MetaLearner],
    algorithms: Sequence[Algorithm] | None = None,
    *,
    knowledge: KnowledgeBase | None = None,
) -> None:
    """Fit and query the meta-learner class ``cls`` as a fit does.

    Checks that ``cls`` subclasses :class:`~autometa.contract.MetaLearner` with a
    non-empty ``name``, builds with no arguments and follows scikit-learn's parameter
    conventions (``get_params``, ``clone``); that ``fit`` returns the learner, accepts an
    empty knowledge base (``recommend`` must still work then) and does not modify the
    knowledge base; that on a small real knowledge base (:func:`small_knowledge_base`
    over ``algorithms``) ``recommend`` returns a list of at most ``k``
    :class:`~autometa.contract.Recommendation` with distinct configurations, only of the
    algorithms passed in (none when none are passed); and that two learners built with
    the same parameters and fitted on the same knowledge base recommend the same (seeded
    fits must be reproducible).

    :param algorithms: algorithms for the knowledge base and the queries; None means two
        cheap reference algorithms covering every kind.
    :param knowledge: the knowledge base to fit on (it is not modified); None builds
        :func:`small_knowledge_base` over ``algorithms``. Pass one to check several
        learners without building it each time.
    """
    if not (isinstance(cls, type) and issubclass(cls, MetaLearner)):
        _fail(f"check_meta_learner expects a MetaLearner subclass, got {cls!r}.")
    label = f"Meta-learner {cls.__name__}"
    if not isinstance(cls.name, str) or not cls.name:
        _fail(f"{label} has no `name` class attribute; strategies choose learners by name.")
    label = f"Meta-learner {cls.name!r}"
    try:
        learner = cls()
        params = learner.get_params()
        clone(learner)
        rebuilt = cls(**params).get_params()
    except Exception as exc:
        _fail(
            f"{label} does not follow scikit-learn's conventions (build with no arguments, "
            f"get_params, clone): {type(exc).__name__}: {exc}"
        )
    if rebuilt != params:
        _fail(f"{label}: cls(**get_params()) has other parameters: {rebuilt} != {params}.")
    algorithms = list(algorithms) if algorithms is not None else _reference_algorithms()
    queries = {
        kind: compute_meta_features(task).values
        for kind, task in small_tasks().items()
        if any(kind in a.kinds for a in algorithms)
    }
    empty = KnowledgeBase.in_memory()
    _fit(learner, empty, label, "an empty knowledge base")
    for kind, features in queries.items():
        _recommend(learner, features, kind, _of_kind(algorithms, kind), 5, label)
    if knowledge is None:
        knowledge = small_knowledge_base(algorithms)
    _fit(learner, knowledge, label, "a small knowledge base")
    first: dict[TaskKind, list[Recommendation]] = {}
    for kind, features in queries.items():
        offered = _of_kind(algorithms, kind)
        first[kind] = _recommend(learner, features, kind, offered, 5, label)
        _recommend(learner, features, kind, offered, 1, label)
        _recommend(learner, features, kind, offered[:1], 5, label)
        if _recommend(learner, features, kind, [], 5, label):
            _fail(f"{label} recommended configurations when no algorithm was available.")
    again = _fit(cls(**params), knowledge, label, "a small knowledge base")
    for kind, features in queries.items():
        second = _recommend(again, features, kind, _of_kind(algorithms, kind), 5, label)
        if not _same_recommendations(first[kind], second):
            _fail(
                f"{label} is not deterministic: two learners with the same parameters, fitted "
                f"on the same knowledge base, recommend differently for a {kind} task; seed "
                "any randomness from the learner's parameters."
            )


def _of_kind(algorithms: Iterable[Algorithm], kind: TaskKind) -> list[Algorithm]:
    return [a for a in algorithms if kind in a.kinds]


def _fit(learner: MetaLearner, knowledge: KnowledgeBase, label: str, what: str) -> MetaLearner:
    before = knowledge.counts()
    try:
        fitted = learner.fit(knowledge)
    except Exception as exc:
        _fail(f"{label}: fit on {what} raised {type(exc).__name__}: {exc}")
    if fitted is not learner:
        _fail(f"{label}: fit must return self, returned {fitted!r}.")
    if knowledge.counts() != before:
        _fail(f"{label}: fit modified the knowledge base ({before} -> {knowledge.counts()}).")
    return learner


def _recommend(
    learner: MetaLearner,
    features: Mapping[str, float],
    kind: TaskKind,
    algorithms: Sequence[Algorithm],
    k: int,
    label: str,
) -> list[Recommendation]:
    where = f"{label} recommending k={k} for a {kind} task"
    try:
        result = learner.recommend(dict(features), kind=kind, algorithms=list(algorithms), k=k)
    except Exception as exc:
        _fail(f"{where} raised {type(exc).__name__}: {exc}")
    if not isinstance(result, list):
        _fail(f"{where}: recommend returned {type(result).__name__}, expected a list.")
    if len(result) > k:
        _fail(f"{where}: returned {len(result)} recommendations, at most k={k} are allowed.")
    names = {a.name for a in algorithms}
    seen: set[Config] = set()
    for rec in result:
        if not isinstance(rec, Recommendation):
            _fail(f"{where}: returned {type(rec).__name__}, expected Recommendation.")
        if not isinstance(rec.config, Config) or not isinstance(rec.evidence, Evidence):
            _fail(f"{where}: {rec!r} needs a Config and an Evidence.")
        if not isinstance(rec.predicted_score, numbers.Real):
            _fail(f"{where}: predicted_score {rec.predicted_score!r} is not a number.")
        if rec.config.algorithm not in names:
            _fail(
                f"{where}: recommended {rec.config.algorithm!r}, which is not among the "
                f"algorithms passed in ({sorted(names)})."
            )
        if rec.config in seen:
            _fail(f"{where}: recommendations must be distinct; {rec.config} is repeated.")
        seen.add(rec.config)
    return result


def _same_recommendations(a: list[Recommendation], b: list[Recommendation]) -> bool:
    return len(a) == len(b) and all(
        x.config == y.config
        and _same_number(float(x.predicted_score), float(y.predicted_score))
        and x.evidence.describe() == y.evidence.describe()
        for x, y in zip(a, b, strict=True)
    )


# -- strategy selectors -------------------------------------------------------------------------
def check_strategy_selector(
    plugin: object,
    meta_learners: Sequence[str] = ("nearest_tasks",),
    *,
    knowledge: KnowledgeBase | None = None,
) -> None:
    """Ask ``plugin``'s ``autometa_select_strategy`` for strategies on several tasks.

    Tasks of each kind, with an empty and with a small real knowledge base, and with
    ``meta_learners`` and with no registered learner at all. Each answer must be a
    :class:`~autometa.contract.Strategy` or None; a strategy may only name a meta-learner
    from the ``meta_learners`` it was given (a fit with another fails), must name a
    sampler autometa can build, and the selector must not modify the knowledge base.

    :param meta_learners: the names offered to the selector, as a fit passes the
        registered meta-learners' names.
    :param knowledge: the non-empty knowledge base to ask with; None builds
        :func:`small_knowledge_base`.
    """
    plugins, name = _registered(plugin)
    if "autometa_select_strategy" not in plugins.info()[0].hooks:
        _fail(f"Plugin {name!r} does not implement autometa_select_strategy.")
    if knowledge is None:
        knowledge = small_knowledge_base()
    knowledges = [KnowledgeBase.in_memory(), knowledge]
    for task in small_tasks().values():
        for knowledge in knowledges:
            for learners in (sorted(meta_learners), []):
                _check_strategy(plugins, name, task, knowledge, learners)


# -- samplers -----------------------------------------------------------------------------------
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
