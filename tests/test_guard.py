"""The cheap guard: gradient boosting's defaults come first, so a budget cut short still
leaves a model as good as the defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer

import autometa
from autometa._plugins import build_plugin_manager
from autometa.contract import (
    Evidence,
    Recommendation,
    SearchBudget,
    Strategy,
    Task,
    measured_rows,
)
from autometa.knowledge import KnowledgeBase
from autometa.search._planning import (
    GUARD_ALGORITHM,
    GUARD_MODEL,
    recommend_for,
    restrict_algorithms,
)
from autometa.search._unseen import UNSEEN_MODEL


@pytest.fixture(scope="module")
def cancer() -> tuple[Any, Any]:
    """More rows (400) than the tiny knowledge base measured its tasks on (300)."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:400], y.iloc[:400]


def plan(
    cancer: tuple[Any, Any], knowledge: KnowledgeBase, strategy: Strategy, names: list[str] | None
) -> list[Recommendation]:
    X, y = cancer
    task = Task.from_data(X, y, random_state=0)
    manager = build_plugin_manager()
    offered = manager.algorithms(task)
    algorithms = offered if names is None else restrict_algorithms(offered, names, task)
    return recommend_for(task, {}, algorithms, knowledge, strategy, manager.meta_learners())


def test_one_trial_is_the_guards_model(cancer: tuple[Any, Any], tiny_knowledge: Path) -> None:
    X, y = cancer
    model = autometa.fit(
        X,
        y,
        n_trials=1,
        random_state=0,
        knowledge=KnowledgeBase.open(tiny_knowledge, read_only=True),
        strategy=Strategy(meta_learner="greedy_portfolio", n_warm_starts=5),
    )
    (only,) = model.evaluations_
    task = Task.from_data(X, y, random_state=0)
    defaults = build_plugin_manager().algorithms(task)[GUARD_ALGORITHM].default_config
    assert only.config == defaults == model.recommendations_[0].config
    assert model.score(X, y) > 0.9


def test_guard_is_first_and_not_repeated(cancer: tuple[Any, Any], tiny_knowledge: Path) -> None:
    with KnowledgeBase.open(tiny_knowledge, read_only=True) as kb:
        recs = plan(cancer, kb, Strategy(meta_learner="greedy_portfolio", n_warm_starts=50), None)
    configs = [r.config for r in recs]
    assert configs[0].algorithm == GUARD_ALGORITHM
    assert recs[0].evidence.model in {GUARD_MODEL, "greedy_portfolio"}
    assert len(set(configs)) == len(configs)
    assert len(recs) <= 50


def test_a_learner_that_already_has_the_guard_keeps_its_evidence(
    cancer: tuple[Any, Any], tiny_knowledge: Path
) -> None:
    X, y = cancer
    task = Task.from_data(X, y, random_state=0)
    manager = build_plugin_manager()
    algorithms = manager.algorithms(task)
    guard = algorithms[GUARD_ALGORITHM].default_config
    other = algorithms["linear"].default_config

    class Knows:
        name = "knows"

        def fit(self, knowledge: KnowledgeBase) -> Knows:
            return self

        def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def]
            return [
                Recommendation(other, 0.9, Evidence("knows")),
                Recommendation(guard, 0.8, Evidence("knows", note="mine")),
            ]

    with KnowledgeBase.open(tiny_knowledge, read_only=True) as kb:
        recs = recommend_for(
            task, {}, algorithms, kb, Strategy(meta_learner="knows"), {"knows": Knows}
        )
    # Algorithms without cells in the tiny base have their defaults after these (test_unseen_*).
    assert [r.config for r in recs][:2] == [guard, other]
    assert all(r.evidence.model == UNSEEN_MODEL for r in recs[2:])
    assert recs[0].evidence.note == "mine"

    class Lacks(Knows):
        def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def]
            return [Recommendation(other, 0.9, Evidence("lacks"))]

    with KnowledgeBase.open(tiny_knowledge, read_only=True) as kb:
        recs = recommend_for(
            task, {}, algorithms, kb, Strategy(meta_learner="lacks"), {"lacks": Lacks}
        )
    assert [r.config for r in recs][:2] == [guard, other]
    assert all(r.evidence.model == UNSEEN_MODEL for r in recs[2:])
    assert recs[0].evidence.model == GUARD_MODEL


def test_no_guard_when_its_algorithm_is_not_searched_or_the_search_is_cold(
    cancer: tuple[Any, Any], tiny_knowledge: Path
) -> None:
    with KnowledgeBase.open(tiny_knowledge, read_only=True) as kb:
        restricted = plan(cancer, kb, Strategy(meta_learner="greedy_portfolio"), ["linear", "knn"])
        assert restricted, "the learner still recommends within the restriction"
        assert all(r.config.algorithm in {"linear", "knn"} for r in restricted)
        cold = plan(cancer, kb, Strategy(meta_learner="greedy_portfolio", n_warm_starts=0), None)
        assert cold == []
        none = plan(cancer, kb, Strategy(meta_learner=None, n_warm_starts=0), None)
        assert none == []


def test_no_guard_on_a_table_within_the_sizes_the_knowledge_base_measured(
    cancer: tuple[Any, Any], tiny_knowledge: Path
) -> None:
    X, y = cancer
    small = (X.iloc[:300], y.iloc[:300])
    with KnowledgeBase.open(tiny_knowledge, read_only=True) as kb:
        assert measured_rows(kb) == 300
        learner_only = plan(small, kb, Strategy(meta_learner="greedy_portfolio"), None)
        guarded = plan(cancer, kb, Strategy(meta_learner="greedy_portfolio"), None)
    assert all(r.evidence.model != GUARD_MODEL for r in learner_only)
    assert guarded[0].config.algorithm == GUARD_ALGORITHM


def test_a_learner_that_declares_budget_is_told_the_searchs(
    cancer: tuple[Any, Any], tiny_knowledge: Path
) -> None:
    X, y = cancer
    task = Task.from_data(X, y, cv=4, random_state=0)
    algorithms = build_plugin_manager().algorithms(task)
    told: list[SearchBudget | None] = []

    class Listens:
        name = "listens"

        def fit(self, knowledge: KnowledgeBase) -> Listens:
            return self

        def recommend(self, meta_features, *, kind, algorithms, k=10, budget=None):  # type: ignore[no-untyped-def]
            told.append(budget)
            return []

    with KnowledgeBase.open(tiny_knowledge, read_only=True) as kb:
        strategy = Strategy(meta_learner="listens")
        recs = recommend_for(task, {}, algorithms, kb, strategy, {"listens": Listens}, timeout=30)
        recommend_for(task, {}, algorithms, kb, strategy, {"listens": Listens})
    assert told == [SearchBudget(30.0, 4, 400), SearchBudget(None, 4, 400)]
    # the guard even when the learner has none (then the unseen algorithms' defaults)
    assert [r.evidence.model for r in recs][:1] == [GUARD_MODEL]
    assert all(r.evidence.model == UNSEEN_MODEL for r in recs[1:])
