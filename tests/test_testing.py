"""autometa.testing: first-party plugins pass every check, and each check catches its defect.

Every broken plugin below is correct except for one thing, and the test asserts that the
check fails for exactly that reason (by matching its message).
"""

from __future__ import annotations

import importlib
import math
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import autometa_learners
import autometa_selectors
import autometa_sklearn
from autometa import hookimpl
from autometa.contract import (
    TASK_KINDS,
    Algorithm,
    Evidence,
    MetaLearner,
    Recommendation,
    Strategy,
    Task,
    TaskKind,
)
from autometa.knowledge import KnowledgeBase, TaskRecord
from autometa.testing import (
    check_algorithm,
    check_meta_features,
    check_meta_learner,
    check_plugin,
    check_strategy_selector,
    small_knowledge_base,
    small_tasks,
)
from autometa_learners import NearestTasks
from autometa_sklearn import CATALOGUE

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    # the broken space of test_check_algorithm_catches[choice-not-json] is also one Optuna
    # warns about; the check must fail on it, which is what that test shows
    pytest.mark.filterwarnings("ignore:Choices for a categorical distribution:UserWarning"),
]


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return small_knowledge_base()


def plugin(name: str, **hooks: Callable[..., Any]) -> types.SimpleNamespace:
    namespace = types.SimpleNamespace(autometa_plugin_name=name)
    for hook_name, function in hooks.items():
        setattr(namespace, hook_name, hookimpl(function))
    return namespace


# -- the helpers are what they say ----------------------------------------------------------
def test_small_tasks_are_real_and_have_what_user_data_has() -> None:
    tasks = small_tasks()
    assert {kind: task.kind for kind, task in tasks.items()} == {k: k for k in TASK_KINDS}
    for task in tasks.values():
        assert task.schema.categorical == ("colour",)
        assert task.X.isna().any().sum() == 2  # the categorical and one numeric column
        assert 100 <= task.n_rows <= 200
        assert task.random_state == 0


def test_small_knowledge_base_holds_cross_validated_scores(knowledge: KnowledgeBase) -> None:
    tasks = knowledge.tasks()
    assert sorted(t.kind for t in tasks) == sorted(TASK_KINDS * 2)
    assert not {t.task_id for t in tasks} & {t.task_id for t in small_tasks().values()}
    assert all("NumberOfInstances" in t.meta_features for t in tasks)
    assert {c.algorithm for c in knowledge.configs()} == {"reference_linear", "reference_tree"}
    evaluations = knowledge.evaluations()
    assert len(evaluations) == 6 * 2 * 3  # tasks x algorithms x configurations
    assert all(e.ok for e in evaluations)
    assert max(e.score for e in evaluations if e.task_id == "cancer_120") > 0.9  # ROC AUC


# -- first-party plugins pass ---------------------------------------------------------------
@pytest.mark.parametrize(
    "first_party", [autometa_sklearn, autometa_learners, autometa_selectors], ids=str
)
def test_first_party_plugins_pass_check_plugin(first_party: object) -> None:
    check_plugin(first_party)


@pytest.mark.parametrize(
    "index", range(len(CATALOGUE)), ids=lambda i: catalogue_id(CATALOGUE[i][0])
)
def test_catalogue_algorithms_pass_check_algorithm(index: int) -> None:
    # Looked up now, not at collection: tests/test_plugins.py re-imports the plugin
    # modules, and pickling an estimator needs the classes of the live module.
    algorithm, _ = importlib.import_module("autometa_sklearn").CATALOGUE[index]
    check_algorithm(algorithm)


def catalogue_id(algorithm: Algorithm) -> str:
    return f"{algorithm.name}-{'-'.join(algorithm.kinds)}"


@pytest.mark.parametrize(
    "learner", autometa_learners.autometa_meta_learners(), ids=lambda cls: cls.name
)
def test_first_party_learners_pass_check_meta_learner(
    learner: type[MetaLearner], knowledge: KnowledgeBase
) -> None:
    check_meta_learner(learner, knowledge=knowledge)


def test_shipped_selector_passes_check_strategy_selector(knowledge: KnowledgeBase) -> None:
    check_strategy_selector(autometa_selectors, knowledge=knowledge)


def rows_per_class(task: Task) -> dict[str, float]:
    classes = len(task.classes) if task.classes is not None else math.nan
    return {"mine_rows_per_class": task.n_rows / classes}  # NaN for regression


def test_well_formed_meta_features_pass() -> None:
    check_meta_features(plugin("mine", autometa_meta_features=rows_per_class))
    check_meta_features(rows_per_class)


# -- check_plugin catches ---------------------------------------------------------------------
def test_check_plugin_catches_a_plugin_without_hooks() -> None:
    with pytest.raises(AssertionError, match="Plugin 'idle' implements no hook"):
        check_plugin(types.SimpleNamespace(autometa_plugin_name="idle"))


def test_check_plugin_catches_an_unknown_hook() -> None:
    typo = plugin("typo", autometa_algorithm=lambda task: [])
    with pytest.raises(AssertionError, match="Plugin 'typo' cannot be registered"):
        check_plugin(typo)


def test_check_plugin_catches_a_hook_without_hookimpl() -> None:
    def autometa_meta_features(task: Task) -> dict[str, float]:
        return {"forgot_rows": float(task.n_rows)}

    forgot = types.SimpleNamespace(autometa_plugin_name="forgot")
    forgot.autometa_meta_features = autometa_meta_features  # no @hookimpl
    with pytest.raises(AssertionError, match=r"'forgot'.*not decorated with @autometa.hookimpl"):
        check_plugin(forgot)


def select_numeric(X: Any, columns: Sequence[str]) -> np.ndarray:
    return np.nan_to_num(X[list(columns)].to_numpy(dtype=float))


def numeric_only(build: Callable[..., BaseEstimator]) -> Callable[[Mapping[str, Any], Task], Any]:
    """A factory of ``numeric columns (NaN as 0) -> build()`` pipelines."""

    def make(params: Mapping[str, Any], task: Task) -> Any:
        columns = list(task.schema.numeric)
        select = FunctionTransformer(select_numeric, kw_args={"columns": columns})
        return make_pipeline(select, build(**params))

    return make


def logistic(name: str = "logistic", **overrides: Any) -> Algorithm:
    """A correct algorithm; ``overrides`` break one field of it."""
    fields: dict[str, Any] = {
        "name": name,
        "kinds": ("binary", "multiclass"),
        "make_estimator": numeric_only(lambda C: LogisticRegression(C=C, max_iter=500)),
        "search_space": lambda task: {"C": FloatDistribution(1e-3, 1e3, log=True)},
        "default_params": {"C": 1.0},
    }
    return Algorithm(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("hooks", "match"),
    [
        (
            {"autometa_algorithms": lambda task: {"logistic": logistic()}},
            "'wrong': autometa_algorithms must return a list of Algorithm, got dict",
        ),
        (
            {"autometa_algorithms": lambda task: [logistic().make_estimator]},
            "'wrong': autometa_algorithms returned function",
        ),
        (
            {"autometa_algorithms": lambda task: [logistic(kinds=("binary", "multiclass"))] * 2},
            "'wrong': autometa_algorithms returned 'logistic' twice",
        ),
        (
            {"autometa_algorithms": lambda task: [logistic(kinds=("binary",))]},
            r"'wrong': autometa_algorithms offered 'logistic' .* for a multiclass task",
        ),
        (
            {"autometa_meta_features": lambda task: [("wrong_rows", 1.0)]},
            "'wrong': meta-features must be a mapping of name to float, got list",
        ),
        (
            {"autometa_meta_learners": lambda: [NearestTasks()]},
            "'wrong': autometa_meta_learners returned NearestTasks.*not instances",
        ),
        (
            {"autometa_select_strategy": lambda task: {"meta_learner": "nearest_tasks"}},
            "'wrong': autometa_select_strategy returned dict",
        ),
        (
            {"autometa_trial_completed": lambda evaluation: evaluation.score},
            "'wrong': autometa_trial_completed returned float; observers return None",
        ),
    ],
    ids=[
        "dict-of-algorithms",
        "not-an-algorithm",
        "duplicate-name",
        "wrong-kind",
        "features-not-mapping",
        "learner-instance",
        "strategy-dict",
        "observer-returns",
    ],
)
def test_check_plugin_catches_wrong_return_types(
    hooks: dict[str, Callable[..., Any]], match: str
) -> None:
    with pytest.raises(AssertionError, match=match):
        check_plugin(plugin("wrong", **hooks))


def test_a_correct_plugin_with_every_hook_passes_check_plugin() -> None:
    seen: list[float] = []
    complete = plugin(
        "complete",
        autometa_algorithms=lambda task: [logistic()] if task.is_classification else [],
        autometa_meta_features=rows_per_class,
        autometa_meta_learners=lambda: [MeanBest],
        autometa_select_strategy=lambda meta_learners: Strategy("mean_best"),
        autometa_trial_completed=lambda evaluation: seen.append(evaluation.score),
    )
    check_plugin(complete)
    assert len(seen) == 6  # an ok and a failed evaluation on each of the three tasks


def test_check_plugin_catches_a_raising_hook() -> None:
    def explode(task: Task) -> list[Algorithm]:
        raise KeyError("colour")

    with pytest.raises(AssertionError, match="'boom' raised in autometa_algorithms: KeyError"):
        check_plugin(plugin("boom", autometa_algorithms=explode))


# -- check_algorithm catches -------------------------------------------------------------------
class UnnormalisedClassifier(ClassifierMixin, BaseEstimator):
    """Scores in [0, 1] per class, not divided by their sum (a classic bug)."""

    def fit(self, X: Any, y: Any) -> UnnormalisedClassifier:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), len(self.classes_)), 0.8)


class RenamesItsParameter(ClassifierMixin, BaseEstimator):
    """Stores its parameter under another value than it was given: clone refuses it."""

    def __init__(self, C: float = 1.0) -> None:
        self.C = float(C) * 2

    def fit(self, X: Any, y: Any) -> RenamesItsParameter:
        self.model_ = LogisticRegression(C=self.C).fit(np.nan_to_num(X), y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(np.nan_to_num(X))


@pytest.mark.parametrize(
    ("algorithm", "match"),
    [
        (
            logistic(default_params={"C": 1e5}),
            r"'logistic' on a binary task \(cancer\): default C=100000.0 lies outside",
        ),
        (
            logistic(default_params={}),
            r"'logistic' .*default_params must name exactly .* missing \['C'\]",
        ),
        (
            logistic(search_space=lambda task: {"C": (1e-3, 1e3)}),
            "'logistic' .*parameter 'C' has tuple",
        ),
        (
            logistic(
                search_space=lambda task: {"C": CategoricalDistribution([1.0, (1, 2)])},  # type: ignore[list-item]
            ),
            r"'logistic' .*offers \(1, 2\); categorical choices must be",
        ),
        (
            logistic(
                make_estimator=lambda params, task: make_pipeline(
                    FunctionTransformer(lambda X: np.nan_to_num(X[["mean radius"]])),
                    LogisticRegression(C=params["C"]),
                )
            ),
            "'logistic' .*the estimator cannot be pickled",
        ),
        (
            logistic(make_estimator=lambda params, task: RenamesItsParameter(C=params["C"])),
            "'logistic' .*does not survive sklearn.base.clone",
        ),
        (
            logistic(make_estimator=numeric_only(lambda C: RidgeClassifier(alpha=1 / C))),
            "'logistic' .*classifiers must have predict_proba",
        ),
        (
            logistic(make_estimator=numeric_only(lambda C: UnnormalisedClassifier())),
            "'logistic' .*predict_proba rows must sum to 1; one is off by 0.6",
        ),
        (
            logistic(make_estimator=numeric_only(lambda C: RandomForestClassifier(n_estimators=5))),
            "'logistic' .*a clone fitted on the same rows predicts differently",
        ),
        (
            logistic(make_estimator=lambda params, task: LogisticRegression(C=params["C"])),
            "'logistic' .*fit/predict raised ValueError",  # NaN and strings reach it raw
        ),
    ],
    ids=[
        "default-outside-space",
        "default-missing-param",
        "not-a-distribution",
        "choice-not-json",
        "unpicklable",
        "clone-breaks",
        "no-predict-proba",
        "proba-not-normalised",
        "unseeded",
        "no-preprocessing",
    ],
)
def test_check_algorithm_catches(algorithm: Algorithm, match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        check_algorithm(algorithm)


def test_check_algorithm_refuses_a_task_of_another_kind() -> None:
    with pytest.raises(AssertionError, match=r"'logistic' handles .* not the given regression"):
        check_algorithm(logistic(), small_tasks()["regression"])
    check_algorithm(logistic(), small_tasks()["multiclass"], n_configs=1)  # the control


# -- check_meta_features catches -------------------------------------------------------------
def log_empty_columns(task: Task) -> dict[str, float]:
    """A real bug: the log of a count that can be zero."""
    with np.errstate(divide="ignore"):
        return {"mine_log_empty_columns": float(np.log(task.X.isna().all().sum()))}


def unseeded(task: Task) -> dict[str, float]:
    sample = task.X.sample(20)  # no random_state
    return {"mine_sample_mean": float(sample.select_dtypes("number").mean().mean())}


@pytest.mark.parametrize(
    ("features", "match"),
    [
        (log_empty_columns, "'bad': meta-feature 'mine_log_empty_columns' is infinite"),
        (lambda task: {"mine_log_missing": -math.inf}, "is infinite"),
        (
            lambda task: {"NumberOfInstances": float(task.n_rows)},
            r"'bad': meta-features \['NumberOfInstances'\] clash with autometa's own",
        ),
        (lambda task: {"mine_has_missing": True}, "'mine_has_missing' is bool"),
        (lambda task: {"mine_kind": task.kind}, "'mine_kind' is str"),
        (lambda task: {3: 1.0}, "names must be non-empty strings, got 3"),
        (unseeded, "'bad': two calls on the same binary task gave different meta-features"),
    ],
    ids=["log-zero", "inf", "clash", "bool", "text", "int-name", "unseeded"],
)
def test_check_meta_features_catches(features: Callable[[Task], Any], match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        check_meta_features(plugin("bad", autometa_meta_features=features))


def test_check_meta_features_catches_a_group_name_clash() -> None:
    named_pca = plugin("pca", autometa_meta_features=rows_per_class)
    with pytest.raises(AssertionError, match="its name is one of autometa's meta-feature groups"):
        check_meta_features(named_pca)


def test_check_meta_features_on_a_bare_function_names_it() -> None:
    with pytest.raises(AssertionError, match="function 'unseeded': two calls"):
        check_meta_features(unseeded)


def test_check_meta_features_needs_the_hook() -> None:
    with pytest.raises(AssertionError, match="'other' does not implement autometa_meta_features"):
        check_meta_features(plugin("other", autometa_algorithms=lambda task: []))


# -- check_meta_learner catches ---------------------------------------------------------------
class MeanBest(MetaLearner):
    """A real, simple meta-learner: the configurations with the best mean normalised score."""

    name = "mean_best"

    def __init__(self, min_tasks: int = 1) -> None:
        self.min_tasks = min_tasks

    def fit(self, knowledge: KnowledgeBase) -> MetaLearner:
        self.tables_ = {kind: knowledge.score_table(kind) for kind in TASK_KINDS}
        return self

    def ranked(self, kind: TaskKind, algorithms: Sequence[Algorithm]) -> list[Recommendation]:
        table = self.tables_[kind]
        if not table.configs:
            return []
        normalized = table.normalized()
        names = {a.name for a in algorithms}
        ranked = []
        for column, config in enumerate(table.configs):
            values = normalized[:, column][np.isfinite(normalized[:, column])]
            if config.algorithm in names and len(values) >= self.min_tasks:
                evidence = Evidence(self.name, note=f"mean over {len(values)} tasks")
                ranked.append(Recommendation(config, float(values.mean()), evidence))
        return sorted(ranked, key=lambda r: (-r.predicted_score, r.config.key))

    def recommend(
        self,
        meta_features: Mapping[str, float],
        *,
        kind: TaskKind,
        algorithms: Sequence[Algorithm],
        k: int = 10,
    ) -> list[Recommendation]:
        return self.ranked(kind, algorithms)[:k]


class Jittered(MeanBest):
    """Adds unseeded exploration noise to its predictions."""

    name = "jittered"

    def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def,unused-ignore]
        noise = np.random.default_rng()
        return [
            Recommendation(r.config, r.predicted_score + noise.normal(), r.evidence)
            for r in self.ranked(kind, algorithms)[:k]
        ]


class Repeats(MeanBest):
    name = "repeats"

    def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def,unused-ignore]
        ranked = self.ranked(kind, algorithms)
        return (ranked[:1] + ranked)[:k]


class IgnoresK(MeanBest):
    name = "ignores_k"

    def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def,unused-ignore]
        return self.ranked(kind, algorithms)


class IgnoresAlgorithms(MeanBest):
    name = "ignores_algorithms"

    def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def,unused-ignore]
        return self.ranked(kind, [logistic("reference_linear"), logistic("reference_tree")])[:k]


class NeedsData(MeanBest):
    name = "needs_data"

    def fit(self, knowledge: KnowledgeBase) -> MetaLearner:
        self.largest_ = max(t.meta_features["NumberOfInstances"] for t in knowledge.tasks())
        return super().fit(knowledge)


class WritesBack(MeanBest):
    name = "writes_back"

    def fit(self, knowledge: KnowledgeBase) -> MetaLearner:
        knowledge.add_task(TaskRecord("seen", "seen", "binary", "roc_auc", {}))
        return super().fit(knowledge)


class ReturnsCopy(MeanBest):
    name = "returns_copy"

    def fit(self, knowledge: KnowledgeBase) -> MetaLearner:
        return MeanBest(self.min_tasks).fit(knowledge)


class NeedsArguments(MeanBest):
    name = "needs_arguments"

    def __init__(self, min_tasks: int) -> None:
        super().__init__(min_tasks)


class Nameless(MeanBest):
    name = ""


class ReturnsTuple(MeanBest):
    name = "returns_tuple"

    def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def,unused-ignore]
        return tuple(self.ranked(kind, algorithms)[:k])


def test_a_correct_learner_passes(knowledge: KnowledgeBase) -> None:
    check_meta_learner(MeanBest, knowledge=knowledge)


@pytest.mark.parametrize(
    ("cls", "match"),
    [
        (Jittered, "'jittered' is not deterministic"),
        (Repeats, "'repeats' recommending k=5 .* must be distinct"),
        (IgnoresK, "'ignores_k' recommending k=5 .* returned 6 recommendations, at most k=5"),
        (IgnoresAlgorithms, "'ignores_algorithms' .*not among the algorithms passed in"),
        (NeedsData, "'needs_data': fit on an empty knowledge base raised ValueError"),
        (WritesBack, "'writes_back': fit modified the knowledge base"),
        (ReturnsCopy, "'returns_copy': fit must return self"),
        (NeedsArguments, "'needs_arguments' does not follow scikit-learn's conventions"),
        (Nameless, "Nameless has no `name` class attribute"),
        (ReturnsTuple, "'returns_tuple' .*returned tuple, expected a list"),
        (NearestTasks(), "expects a MetaLearner subclass"),
    ],
    ids=[
        "non-deterministic",
        "duplicates",
        "more-than-k",
        "other-algorithms",
        "fails-on-empty",
        "writes",
        "fit-returns-other",
        "needs-arguments",
        "nameless",
        "returns-tuple",
        "instance",
    ],
)
def test_check_meta_learner_catches(cls: Any, match: str, knowledge: KnowledgeBase) -> None:
    with pytest.raises(AssertionError, match=match):
        check_meta_learner(cls, knowledge=knowledge)


def test_check_meta_learner_builds_its_own_knowledge_base_from_given_algorithms() -> None:
    check_meta_learner(MeanBest, [logistic("reference_linear")])
    with pytest.raises(AssertionError, match=r"'ignores_algorithms' .*not among"):
        check_meta_learner(IgnoresAlgorithms, [logistic("reference_linear")])


# -- check_strategy_selector catches --------------------------------------------------------
@pytest.mark.parametrize(
    ("select", "match"),
    [
        (
            lambda task: Strategy("my_learner"),
            r"'chooser'.*chose meta-learner 'my_learner' .*not among the registered ones",
        ),
        (
            lambda task, meta_learners: Strategy("nearest_tasks"),
            r"chose meta-learner 'nearest_tasks' .*given \(\[\]\)",  # none were registered
        ),
        (lambda task: {"meta_learner": None}, "'chooser': autometa_select_strategy returned dict"),
        (lambda task: Strategy(None, 0, sampler="bayes"), "unusable sampler: Unknown sampler"),
    ],
    ids=["unknown-learner", "ignores-empty-list", "wrong-type", "bad-sampler"],
)
def test_check_strategy_selector_catches(
    select: Callable[..., Any], match: str, knowledge: KnowledgeBase
) -> None:
    chooser = plugin("chooser", autometa_select_strategy=select)
    with pytest.raises(AssertionError, match=match):
        check_strategy_selector(chooser, knowledge=knowledge)


def test_check_strategy_selector_accepts_abstaining_and_needs_the_hook(
    knowledge: KnowledgeBase,
) -> None:
    abstains = plugin("abstains", autometa_select_strategy=lambda task: None)
    check_strategy_selector(abstains, knowledge=knowledge)
    size_based = plugin(
        "size_based",
        autometa_select_strategy=lambda task, meta_learners: Strategy(
            meta_learners[0] if meta_learners else None,
            validation="holdout" if task.n_rows > 160 else "cv",
        ),
    )
    check_strategy_selector(size_based, ["mine", "nearest_tasks"], knowledge=knowledge)
    with pytest.raises(AssertionError, match="'other' does not implement autometa_select"):
        check_strategy_selector(plugin("other", autometa_meta_learners=lambda: [MeanBest]))


def test_check_strategy_selector_catches_a_selector_that_writes(
    knowledge: KnowledgeBase,
) -> None:
    def remembers(task: Task, knowledge: KnowledgeBase) -> None:
        knowledge.add_task(TaskRecord.from_task(task, {}))

    with pytest.raises(AssertionError, match=r"'remembers': .*modified the knowledge base"):
        check_strategy_selector(
            plugin("remembers", autometa_select_strategy=remembers), knowledge=knowledge
        )
