"""autometa.fit / recommend / warm_start end to end, on real data and a real knowledge base."""

from __future__ import annotations

import math
import re
import time
import types
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import optuna
import pytest
from estimators import FailingClassifier, FailsOnManyRows
from optuna.distributions import CategoricalDistribution
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import autometa
from autometa import AutoMetaClassifier, AutoMetaRegressor, hookimpl
from autometa._progress import search_progress
from autometa.contract import (
    Algorithm,
    Config,
    Evaluation,
    Evidence,
    MetaLearner,
    Recommendation,
    Strategy,
)
from autometa.knowledge import KnowledgeBase
from autometa.search._unseen import UNSEEN_MODEL
from autometa_sklearn import ALGORITHM_NAMES

CHEAP = ["linear", "naive_bayes", "knn", "sgd"]
"""Fast algorithms, for tests about the API rather than about what the search finds."""


@pytest.fixture(scope="module")
def cancer() -> tuple[Any, Any]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:240], y.iloc[:240]


def test_fit_is_warm_started_from_the_knowledge_base(
    cancer: tuple[Any, Any], tiny_knowledge: Path
) -> None:
    X, y = cancer
    model = autometa.fit(
        X,
        y,
        n_trials=6,
        random_state=0,
        knowledge=KnowledgeBase.open(tiny_knowledge, read_only=True),
    )
    assert isinstance(model, AutoMetaClassifier)
    assert model.strategy_.meta_learner == "greedy_portfolio"
    assert model.recommendations_, "the knowledge base has binary tasks to learn from"
    first = model.study_.trials[0]
    assert first.params == model.recommendations_[0].config.to_trial_params()
    assert first.user_attrs["warm_start_rank"] == 0
    # the only binary task in the tiny knowledge base is "cancer": its best first
    with KnowledgeBase.open(tiny_knowledge, read_only=True) as kb:
        table = kb.score_table("binary")
    best = table.configs[int(np.nanargmax(table.scores[0]))]
    assert model.recommendations_[0].config == best
    assert model.n_configs_ == 6 == len(model.evaluations_)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(model.classes_) == [0, 1]
    assert model.score(X, y) > 0.9
    assert model.best_score_ == max(e.score for e in model.evaluations_ if e.ok)
    text = model.explain()
    assert "greedy_portfolio" in text
    assert "Winner:" in text
    assert "observed:" in text


def test_regression_fit_and_sklearn_conventions(knowledge_copy: Path) -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = autometa.fit(X, y, n_trials=4, random_state=0, knowledge=str(knowledge_copy))
    assert isinstance(model, AutoMetaRegressor)
    assert model.scoring_ == "r2"
    assert model.score(X, y) > 0.3
    params = model.get_params()
    assert params["n_trials"] == 4
    assert params["random_state"] == 0
    assert clone(model).get_params()["n_trials"] == 4


def test_pickles_clones_and_composes(cancer: tuple[Any, Any], tmp_path: Path) -> None:
    X, y = cancer
    estimator = AutoMetaClassifier(n_trials=2, random_state=0, cv=3, algorithms=CHEAP)
    scores = cross_val_score(estimator, X, y, cv=2, scoring="roc_auc")
    assert scores.shape == (2,)
    assert (scores > 0.8).all()
    pipeline = make_pipeline(
        FunctionTransformer(), AutoMetaClassifier(n_trials=2, random_state=0, algorithms=CHEAP)
    )
    pipeline.fit(X, y)
    path = tmp_path / "model.joblib"
    joblib.dump(pipeline, path)
    np.testing.assert_array_equal(joblib.load(path).predict(X), pipeline.predict(X))


def test_progress_bar_is_opt_in_and_shows_the_best_score(
    cancer: tuple[Any, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    X, y = cancer
    autometa.fit(X, y, n_trials=2, algorithms=CHEAP)
    assert capsys.readouterr().err == ""  # quiet in library use
    model = autometa.fit(X, y, n_trials=3, algorithms=CHEAP, verbose=1)
    err = capsys.readouterr().err
    assert "3/3" in err
    assert f"best roc_auc={max(e.score for e in model.evaluations_ if e.ok):.4g}" in err


def test_progress_bar_counts_seconds_when_only_a_timeout_is_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The bar itself, not a fit: a fit given a few seconds fails on a slow machine.
    deadline = time.monotonic() + 600
    with search_progress(True, None, deadline, "roc_auc") as show:
        show(Evaluation("t", Config("linear", {}), 0.75, 0.1))
        show(Evaluation("t", Config("linear", {}), math.nan, 0.1, "failed", "boom"))
    err = capsys.readouterr().err
    assert re.search(r"\d+/(600|599)s ", err), err  # seconds of the budget, not trials
    assert "trials=2 best roc_auc=0.75" in err


def test_seeded_sequential_fits_are_reproducible(cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    runs = [
        autometa.fit(X, y, n_trials=5, random_state=3, warm_start=0, algorithms=CHEAP)
        for _ in range(2)
    ]
    assert [e.config for e in runs[0].evaluations_] == [e.config for e in runs[1].evaluations_]
    np.testing.assert_allclose(
        [e.score for e in runs[0].evaluations_], [e.score for e in runs[1].evaluations_]
    )


def test_cold_search_is_one_argument_away(cancer: tuple[Any, Any], knowledge_copy: Path) -> None:
    X, y = cancer
    model = autometa.fit(X, y, n_trials=3, warm_start=0, knowledge=str(knowledge_copy))
    assert model.recommendations_ == []
    assert all("warm_start_rank" not in t.user_attrs for t in model.study_.trials)


def test_timeout_is_kept_with_the_refit(cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    started = time.monotonic()
    # Planning (meta-features, loading the shipped base, fitting the learner) counts
    # against the timeout too; 10 s leaves room for trials on a loaded machine.
    model = autometa.fit(X, y, timeout=10, random_state=0, n_jobs=2)
    elapsed = time.monotonic() - started
    assert model.n_configs_ >= 1
    assert elapsed < 10 + 4, f"fit took {elapsed:.1f}s for timeout=10"


def test_recommend_and_warm_start_a_users_study(tiny_knowledge: Path) -> None:
    X, y = load_iris(return_X_y=True)
    catalogue = list(ALGORITHM_NAMES)  # whatever else is installed, search the catalogue
    recs = autometa.recommend(X, y, k=3, knowledge=str(tiny_knowledge), algorithms=catalogue)
    assert 1 <= len(recs) <= 3
    assert all(isinstance(r, Recommendation) and r.evidence.describe() for r in recs)
    study = optuna.create_study(direction="maximize")
    enqueued = autometa.warm_start(
        study, X, y, n=3, knowledge=str(tiny_knowledge), algorithms=catalogue
    )
    assert [r.config for r in enqueued] == [r.config for r in recs]
    seen: list[object] = []

    def users_objective(trial: optuna.Trial) -> float:
        seen.append(trial.suggest_categorical("algorithm", sorted(ALGORITHM_NAMES)))
        return 0.0

    study.optimize(users_objective, n_trials=len(recs))
    assert seen == [r.config.algorithm for r in recs]


def test_explanation_names_the_nearest_tasks_and_the_meta_features_that_made_them_near(
    cancer: tuple[Any, Any], tiny_knowledge: Path
) -> None:
    X, y = cancer
    model = autometa.fit(
        X,
        y,
        n_trials=2,
        random_state=0,
        knowledge=KnowledgeBase.open(tiny_knowledge, read_only=True),
        strategy=Strategy("nearest_tasks", 2, validation="cv", n_splits=3, reason="test"),
    )
    text = model.explain()
    assert re.search(r"from: cancer \(distance \d\.\d{3}\)", text), text
    assert re.search(r"near in: \w+=[-\d.e]+ \(Δ ", text), text
    assert re.search(r"predicted: [-\d.]+ on nearest_tasks's own scale", text), text


def test_fits_grow_a_named_knowledge_base(tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    path = tmp_path / "mine.db"
    first = autometa.fit(
        X.iloc[:200], y.iloc[:200], n_trials=4, random_state=0, knowledge=str(path)
    )
    with KnowledgeBase.open(path, read_only=True) as kb:
        assert [t.task_id for t in kb.tasks()] == [first.task_id_]
        assert len(kb.evaluations(first.task_id_)) == 4
    second = autometa.fit(X.iloc[200:400], y.iloc[200:400], n_trials=2, knowledge=str(path))
    # the first fit's task, the only one in the base, taught the second
    assert second.recommendations_
    # the algorithms the first fit never tried start from their defaults (test_unseen_algorithms)
    learned = [r for r in second.recommendations_ if r.evidence.model != UNSEEN_MODEL]
    assert learned
    assert all("over 1 earlier binary tasks" in r.evidence.note for r in learned)
    assert first.best_config_ in {r.config for r in second.recommendations_}


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_trials": 0}, "n_trials must be a positive integer"),
        ({"timeout": -1}, "timeout must be a positive number"),
        ({"timeout": 0.05}, "too small to evaluate even one configuration"),
        ({"n_jobs": 0}, "n_jobs must be a non-zero integer"),
        ({"warm_start": -2}, "warm_start must be >= 0"),
    ],
)
def test_bad_budgets_are_named(cancer: tuple[Any, Any], params: dict[str, Any], match: str) -> None:
    X, y = cancer
    with pytest.raises(ValueError, match=match):
        autometa.fit(X, y, **params)


def test_algorithms_restrict_the_search(cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    model = autometa.fit(X, y, n_trials=3, algorithms=["naive_bayes"])
    assert {e.config.algorithm for e in model.evaluations_} == {"naive_bayes"}
    with pytest.raises(ValueError, match=r"algorithms=\['catboost'\] are not offered"):
        autometa.fit(X, y, n_trials=1, algorithms=["catboost"])


def test_wrong_estimator_for_the_target_is_named() -> None:
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match="use AutoMetaRegressor"):
        AutoMetaClassifier(n_trials=1).fit(X, y, kind="regression")


# -- every hook, shown through its effect on a fit ---------------------------------------
ALWAYS_FAILS = Algorithm(
    "always_fails",
    ("binary", "multiclass"),
    lambda params, task: FailingClassifier(fail=True),
    lambda task: {"fail": CategoricalDistribution([True])},
    {"fail": True},
)
PRIOR = Algorithm(
    "prior",
    ("binary", "multiclass"),
    lambda params, task: DummyClassifier(strategy=params["strategy"]),
    lambda task: {"strategy": CategoricalDistribution(["prior", "stratified"])},
    {"strategy": "prior"},
)


def plugin(name: str, **hooks: Any) -> types.SimpleNamespace:
    namespace = types.SimpleNamespace(autometa_plugin_name=name)
    for hook_name, function in hooks.items():
        setattr(namespace, hook_name, hookimpl(function))
    return namespace


def test_hook_algorithms_adds_an_algorithm(cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    only_prior = plugin("prior", autometa_algorithms=lambda task: [PRIOR])
    # ensemble=False: the plugin's estimator is the model itself. With an ensemble, two
    # unseeded "stratified" dummies sometimes out-score one, and model_ is their ensemble.
    model = autometa.fit(
        X, y, n_trials=3, plugins=[only_prior], algorithms=["prior"], ensemble=False
    )
    assert {e.config.algorithm for e in model.evaluations_} == {"prior"}
    assert isinstance(
        model.model_[-1] if hasattr(model.model_, "steps") else model.model_, DummyClassifier
    )


def test_every_failing_trial_fails_the_fit_clearly(cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    failing = plugin("failing", autometa_algorithms=lambda task: [ALWAYS_FAILS])
    with pytest.raises(autometa.AllTrialsFailedError, match="ArithmeticError"):
        autometa.fit(X, y, n_trials=2, plugins=[failing], algorithms=["always_fails"])


def test_refit_falls_back_when_the_best_cannot_be_refitted(cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    fragile = Algorithm(
        "fragile",
        ("binary",),
        lambda params, task: FailsOnManyRows(max_rows=params["max_rows"]),
        lambda task: {"max_rows": CategoricalDistribution([200])},
        {"max_rows": 200},
    )
    both = plugin("both", autometa_algorithms=lambda task: [fragile, PRIOR])
    strategy = Strategy(None, 0, "random", "cv", 3)
    model = autometa.fit(
        X,
        y,
        n_trials=6,
        random_state=0,
        plugins=[both],
        algorithms=["fragile", "prior"],
        strategy=strategy,
    )
    scores = {e.config.algorithm: e.score for e in model.evaluations_ if e.ok}
    assert scores["fragile"] > 0.9 > scores.get("prior", 0.5)  # fragile won the search ...
    assert model.best_config_.algorithm == "prior"  # ... but only prior could be refitted
    assert isinstance(model.predict_proba(X), np.ndarray)


def test_hook_meta_features_adds_a_timed_group(cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    extra = plugin(
        "extra", autometa_meta_features=lambda task: {"extra_rows_squared": task.n_rows**2}
    )
    model = autometa.fit(X, y, n_trials=1, plugins=[extra], algorithms=CHEAP)
    assert model.meta_features_.values["extra_rows_squared"] == 240.0**2
    assert "extra" in model.meta_features_.times
    assert model.study_.user_attrs["autometa_meta_features"]["extra_rows_squared"] == 240.0**2


class FixedLearner(MetaLearner):
    """Always recommends the prior DummyClassifier configuration first."""

    name = "fixed"

    def fit(self, knowledge: KnowledgeBase) -> FixedLearner:
        self.n_tasks_ = len(knowledge)
        return self

    def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def]
        return [
            Recommendation(
                Config("prior", {"strategy": "stratified"}),
                0.5,
                Evidence("fixed", note=f"saw {self.n_tasks_} tasks"),
            )
        ]


def test_hooks_meta_learners_and_select_strategy_steer_the_fit(cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    chooser = plugin(
        "chooser",
        autometa_algorithms=lambda task: [PRIOR],
        autometa_meta_learners=lambda: [FixedLearner],
        autometa_select_strategy=lambda task, meta_learners: Strategy(
            "fixed", 1, "random", "cv", 3, reason=f"chooser saw {sorted(meta_learners)}"
        ),
    )
    model = autometa.fit(X, y, n_trials=2, plugins=[chooser], algorithms=["prior"])
    assert model.strategy_source_ == "chooser"
    assert model.strategy_.meta_learner == "fixed"
    assert "fixed" in model.strategy_.reason
    assert "nearest_tasks" in model.strategy_.reason
    assert model.evaluations_[0].config == Config("prior", {"strategy": "stratified"})
    assert len(model.study_.trials) == 2


def test_hook_trial_completed_observes_every_trial(cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    seen: list[Evaluation] = []
    observer = plugin(
        "observer", autometa_trial_completed=lambda evaluation: seen.append(evaluation)
    )
    model = autometa.fit(X, y, n_trials=3, plugins=[observer], algorithms=CHEAP)
    assert seen == model.evaluations_
