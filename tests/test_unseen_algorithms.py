"""An algorithm without cells in the knowledge base still starts early: its defaults are
among the warm starts (``autometa.search._unseen``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from optuna.distributions import FloatDistribution
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.naive_bayes import GaussianNB

import autometa
from autometa.contract import Algorithm, Evidence, Recommendation, Strategy, Task
from autometa.knowledge import KnowledgeBase
from autometa.search._planning import GUARD_ALGORITHM, GUARD_MODEL
from autometa.search._unseen import (
    UNSEEN_MODEL,
    UNSEEN_NOTE,
    UNSEEN_POSITION,
    unseen_algorithms,
    with_unseen_defaults,
)
from autometa.testing import small_knowledge_base
from autometa.testing._data import _reference_algorithms

GAUSSIAN_NB = Algorithm(
    "gaussian_nb",
    ("binary", "multiclass"),
    lambda params, task: GaussianNB(var_smoothing=params["var_smoothing"]),
    lambda task: {"var_smoothing": FloatDistribution(1e-12, 1e-3, log=True)},
    {"var_smoothing": 1e-9},
)
KNOWN = [a.name for a in _reference_algorithms()]
STRATEGY = Strategy(meta_learner="greedy_portfolio", n_warm_starts=5)


class UnseenPlugin:
    """Offers the knowledge base's reference algorithms and one it has no cells of."""

    autometa_plugin_name = "unseen_test"

    @autometa.hookimpl
    def autometa_algorithms(self, task: Task) -> list[Algorithm]:
        offered = [*_reference_algorithms(), GAUSSIAN_NB]
        return [a for a in offered if task.kind in a.kinds]


@pytest.fixture(scope="module")
def knowledge() -> Iterator[KnowledgeBase]:
    with small_knowledge_base() as kb:
        yield kb


@pytest.fixture(scope="module")
def cancer() -> tuple[Any, Any]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:200], y.iloc[:200]


def recommend(
    data: tuple[Any, Any], knowledge: KnowledgeBase, names: list[str], k: int = 5
) -> list[Recommendation]:
    X, y = data
    return autometa.recommend(
        X,
        y,
        k,
        knowledge=knowledge,
        strategy=STRATEGY,
        plugins=[UnseenPlugin()],
        algorithms=names,
        random_state=0,
    )


def test_an_unseen_algorithm_alone_gets_its_default(
    cancer: tuple[Any, Any], knowledge: KnowledgeBase
) -> None:
    (only,) = recommend(cancer, knowledge, ["gaussian_nb"])
    assert only.config == GAUSSIAN_NB.default_config
    assert only.evidence.model == UNSEEN_MODEL
    assert UNSEEN_NOTE in only.evidence.describe()
    assert np.isnan(only.predicted_score)


def test_its_default_comes_after_the_first_learned_picks(
    cancer: tuple[Any, Any], knowledge: KnowledgeBase
) -> None:
    recs = recommend(cancer, knowledge, [*KNOWN, "gaussian_nb"], k=6)
    models = [r.evidence.model for r in recs]
    assert len(recs) == 6
    assert models.index(UNSEEN_MODEL) == UNSEEN_POSITION
    assert models.count(UNSEEN_MODEL) == 1
    assert recs[UNSEEN_POSITION].config == GAUSSIAN_NB.default_config
    assert all(r.config.algorithm in KNOWN for i, r in enumerate(recs) if i != UNSEEN_POSITION)


def test_an_algorithm_with_cells_is_unaffected(
    cancer: tuple[Any, Any], knowledge: KnowledgeBase
) -> None:
    X, y = cancer
    task = Task.from_data(X, y, random_state=0)
    offered = {a.name: a for a in UnseenPlugin().autometa_algorithms(task)}
    assert unseen_algorithms(offered, task, knowledge) == ["gaussian_nb"]
    recs = recommend(cancer, knowledge, KNOWN)
    assert recs
    assert all(r.evidence.model == "greedy_portfolio" for r in recs)


def test_a_fit_evaluates_the_default_among_its_first_trials(cancer: tuple[Any, Any]) -> None:
    """Its own base: the fit adds its cells, after which the algorithm is no longer unseen."""
    X, y = cancer
    with small_knowledge_base() as knowledge:
        model = autometa.fit(
            X,
            y,
            n_trials=STRATEGY.n_warm_starts,
            knowledge=knowledge,
            strategy=STRATEGY,
            plugins=[UnseenPlugin()],
            algorithms=[*KNOWN, "gaussian_nb"],
            random_state=0,
        )
        tried = [e.config for e in model.evaluations_]
        assert GAUSSIAN_NB.default_config in tried
        assert [r.config for r in model.recommendations_] == tried
        # The fit recorded its trials: gaussian_nb has cells now and competes as any other.
        again = recommend(cancer, knowledge, [*KNOWN, "gaussian_nb"])
        assert all(r.evidence.model != UNSEEN_MODEL for r in again)


def test_the_guard_stays_first(knowledge: KnowledgeBase) -> None:
    """Guard and unseen default are the same algorithm here: no cells of it in the base."""
    X, y = make_classification(n_samples=2_500, n_features=8, random_state=0)
    recs = recommend((X, y), knowledge, [GUARD_ALGORITHM, *KNOWN, "gaussian_nb"])
    assert recs[0].config.algorithm == GUARD_ALGORITHM
    assert recs[0].evidence.model == GUARD_MODEL
    assert [r.config for r in recs].count(recs[0].config) == 1
    unseen = [i for i, r in enumerate(recs) if r.evidence.model == UNSEEN_MODEL]
    assert [recs[i].config for i in unseen] == [GAUSSIAN_NB.default_config]
    assert unseen == [1 + UNSEEN_POSITION]


def rec(name: str, model: str = "learner") -> Recommendation:
    from autometa.contract import Config

    return Recommendation(Config(name, {}), 0.5, Evidence(model))


@pytest.mark.parametrize(
    ("n_places", "pinned", "expected"),
    [
        (8, 0, ["a", "b", "c", "u", "v", "d", "e", "f"]),
        (1, 0, ["a"]),  # too few places: the learner's first picks keep them
        (3, 0, ["a", "b", "c"]),
        (4, 0, ["a", "b", "c", "u"]),  # the cut keeps what fits
        (4, 1, ["g", "a", "b", "c"]),  # never before the pinned guard
        (6, 1, ["g", "a", "b", "c", "u", "v"]),
        (0, 0, []),
    ],
)
def test_where_the_defaults_go(n_places: int, pinned: int, expected: list[str]) -> None:
    head = [rec("g")] if pinned else []
    learned = [*head, *(rec(n) for n in "abcdef")]
    defaults = [rec("u", UNSEEN_MODEL), rec("v", UNSEEN_MODEL)]
    placed = with_unseen_defaults(learned, defaults, n_places, position=3, pinned=pinned)
    assert [r.config.algorithm for r in placed] == expected


def test_no_learned_pick_leaves_every_place_to_the_defaults() -> None:
    defaults = [rec("u", UNSEEN_MODEL), rec("v", UNSEEN_MODEL)]
    placed = with_unseen_defaults([], defaults, 5)
    assert [r.config.algorithm for r in placed] == ["u", "v"]
    few = with_unseen_defaults([rec("a")], defaults, 5)  # fewer picks than the position
    assert [r.config.algorithm for r in few] == ["a", "u", "v"]
    assert with_unseen_defaults([rec("u")], defaults, 5)[0].evidence.model == "learner"


def test_replay_holds_the_algorithm_out_and_places_its_default(knowledge: KnowledgeBase) -> None:
    from autometa.contract import CostModel
    from autometa.knowledge import GreedyPortfolioPolicy
    from autometa.knowledge._replay import _kind_data
    from autometa.knowledge._replay_policies import HeldOutTask, History
    from autometa.knowledge._replay_unseen import (
        NEVER,
        HeldOutAlgorithm,
        UnseenDefaultPolicy,
        replay_unseen,
    )

    data = _kind_data(knowledge, "binary", 2_000)
    assert data is not None
    history = History(
        configs=data.configs,
        regret=data.regret[1:],
        seconds=data.seconds[1:],
        feature_names=data.feature_names,
        meta_features=data.meta_features[1:],
        sizes=data.sizes[1:],
        cost_model=CostModel().fit_table(data.configs, data.sizes[1:], data.seconds[1:]),
        defaults=frozenset(a.default_config for a in _reference_algorithms()),
        scores=data.scores[1:],
    )
    record = data.records[0]
    task = HeldOutTask(record.task_id, "binary", record.meta_features, data.sizes[0], 3, None)
    held = HeldOutAlgorithm(GreedyPortfolioPolicy(), "reference_tree")
    trees = {j for j, c in enumerate(data.configs) if c.algorithm == "reference_tree"}
    default = data.configs.index(_reference_algorithms()[1].default_config)
    never = UnseenDefaultPolicy(held, None).order(task, history)
    first = UnseenDefaultPolicy(held, 0).order(task, history)
    second = UnseenDefaultPolicy(held, 1).order(task, history)
    assert sorted(never) == sorted(first) == list(range(len(data.configs)))
    assert set(never[-len(trees) :]) == trees  # never inserted: all its cells come last
    assert first[0] == default
    assert second[1] == default
    rows, by_algorithm = replay_unseen(
        knowledge, [GreedyPortfolioPolicy()], algorithms=["reference_tree"], positions=(None, 0)
    )
    assert [(r.policy, r.position) for r in rows] == [
        ("greedy_portfolio", NEVER),
        ("greedy_portfolio", "0"),
    ]
    assert set(by_algorithm) == {"reference_tree"}
