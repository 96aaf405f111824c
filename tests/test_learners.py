"""Nearest-tasks meta-learner: sane recommendations from a small, hand-made knowledge base."""

from __future__ import annotations

import math

import numpy as np
import pytest
from optuna.distributions import FloatDistribution

from autometa.contract import Algorithm, Config, Evaluation, greedy_cover
from autometa.knowledge import KnowledgeBase, TaskRecord
from autometa_learners import GreedyPortfolio, NearestTasks, ZeroShot
from autometa_learners.portfolio import greedy_portfolio


def algo(name: str, default: float = 1.0) -> Algorithm:
    return Algorithm(
        name,
        ("binary", "multiclass"),
        lambda p, t: None,  # type: ignore[arg-type,return-value]
        lambda t: {"c": FloatDistribution(1e-3, 1e3, log=True)},
        {"c": default},
    )


ALGORITHMS = [algo("alpha"), algo("beta"), algo("gamma")]
A_DEFAULT, B_DEFAULT = Config("alpha", {"c": 1.0}), Config("beta", {"c": 1.0})
A_TUNED, B_TUNED, G_TUNED = (
    Config("alpha", {"c": 10.0}),
    Config("beta", {"c": 0.1}),
    Config("gamma", {"c": 5.0}),
)


def knowledge() -> KnowledgeBase:
    """Small tasks love alpha, large ones beta; gamma is best on one far-away task."""
    kb = KnowledgeBase.in_memory()
    tasks = {
        "small1": (100, {A_TUNED: 0.95, A_DEFAULT: 0.90, B_DEFAULT: 0.80, B_TUNED: 0.70}),
        "small2": (120, {A_TUNED: 0.93, A_DEFAULT: 0.91, B_DEFAULT: 0.85, B_TUNED: 0.60}),
        "large1": (10000, {B_TUNED: 0.99, B_DEFAULT: 0.97, A_DEFAULT: 0.60, A_TUNED: 0.50}),
        "huge": (1e6, {G_TUNED: 0.99, B_DEFAULT: 0.90, A_DEFAULT: 0.40}),
    }
    for name, (rows, scores) in tasks.items():
        kb.add_task(
            TaskRecord(
                name, name, "binary", "roc_auc", {"LogRows": math.log(rows), "Ratio": rows / 10}, {}
            )
        )
        kb.add_evaluations(Evaluation(name, c, s, 0.1) for c, s in scores.items())
    kb.add_task(TaskRecord("reg", "reg", "regression", "r2", {"LogRows": 4.6, "Ratio": 10}, {}))
    kb.add_evaluations([Evaluation("reg", Config("alpha", {"c": 99.0}), 0.9, 0.1)])
    return kb


def recommend(
    meta: dict[str, float], k: int = 4, algorithms: list[Algorithm] = ALGORITHMS
) -> list[Config]:
    learner = NearestTasks().fit(knowledge())
    return [r.config for r in learner.recommend(meta, kind="binary", algorithms=algorithms, k=k)]


def test_small_task_gets_the_small_tasks_best_after_the_single_best_default() -> None:
    recs = recommend({"LogRows": math.log(110), "Ratio": 11})
    # B_DEFAULT has the best mean normalised score over all four tasks.
    assert recs[0] == B_DEFAULT
    assert recs[1] == A_TUNED  # best of the nearest task (small1 or small2)
    assert len(recs) == len(set(recs))
    assert Config("alpha", {"c": 99.0}) not in recs  # a regression task's config


def test_large_task_gets_the_large_tasks_best() -> None:
    recs = recommend({"LogRows": math.log(9000), "Ratio": 900})
    assert recs[:2] == [B_DEFAULT, B_TUNED]


def test_unavailable_algorithms_are_never_recommended() -> None:
    recs = recommend({"LogRows": math.log(1e6), "Ratio": 1e5}, algorithms=ALGORITHMS[:2])
    assert all(c.algorithm in {"alpha", "beta"} for c in recs)
    full = recommend({"LogRows": math.log(1e6), "Ratio": 1e5})
    assert G_TUNED in full


def test_evidence_names_source_tasks_distances_and_features() -> None:
    learner = NearestTasks().fit(knowledge())
    recs = learner.recommend(
        {"LogRows": math.log(100), "Ratio": 10}, kind="binary", algorithms=ALGORITHMS, k=3
    )
    tuned = next(r for r in recs if r.config == A_TUNED)
    ((source, distance),) = tuned.evidence.source_tasks
    assert source == "small1"
    assert distance == pytest.approx(0.0, abs=1e-12)
    assert {name for name, _ in tuned.evidence.meta_features} == {"LogRows", "Ratio"}
    # Normalized like the default's prediction: small1's best is 1, its raw score noted.
    assert tuned.predicted_score == pytest.approx(1.0)
    assert "score 0.95 on small1" in tuned.evidence.describe()


def test_missing_meta_features_still_rank() -> None:
    learner = NearestTasks().fit(knowledge())
    ranked = learner.distances({"LogRows": math.log(10000), "Ratio": np.nan}, "binary")
    assert ranked[0][0] == "large1"


def test_empty_knowledge_base_recommends_a_default() -> None:
    learner = NearestTasks().fit(KnowledgeBase.in_memory())
    recs = learner.recommend({"LogRows": 3.0}, kind="binary", algorithms=ALGORITHMS, k=5)
    assert [r.config for r in recs] == [A_DEFAULT]
    assert "no earlier tasks" in recs[0].evidence.describe()


def test_greedy_portfolio_covers_both_task_groups_first() -> None:
    learner = GreedyPortfolio().fit(knowledge())
    recs = learner.recommend({}, kind="binary", algorithms=ALGORITHMS, k=3)
    configs = [r.config for r in recs]
    # B_DEFAULT is best on average; then the config that fixes the tasks it serves worst
    # (the small ones, where A_TUNED is best); then huge's G_TUNED.
    assert configs == [B_DEFAULT, A_TUNED, G_TUNED]
    regrets = [1 - r.predicted_score for r in recs]
    assert regrets == sorted(regrets, reverse=True)  # each step lowers the mean regret
    assert "portfolio step 1" in recs[0].evidence.describe()


def test_greedy_portfolio_is_a_pure_function_of_the_table() -> None:
    configs = [Config("a", {"i": i}) for i in range(3)]
    normalized = np.array([[1.0, 0.0, 0.9], [0.0, 1.0, 0.9], [np.nan, 0.5, 1.0]])
    order = greedy_portfolio(configs, normalized, size=3)
    assert [c for c, _, _ in order][:2] == [configs[2], configs[0]]
    assert order[0][1] == pytest.approx((0.1 + 0.1 + 0.0) / 3)
    assert order[1][1] == pytest.approx((0.0 + 0.1 + 0.0) / 3)


def test_greedy_cover_weighs_tasks_respects_allowed_and_continues() -> None:
    regret = np.array([[0.0, 1.0, 0.2, 0.7], [1.0, 0.0, 0.2, 0.7], [1.0, 1.0, 0.9, 0.0]])
    assert [c for c, _ in greedy_cover(regret, 2)] == [2, 3]  # best mean, then task 3
    heavy_first = np.array([0.8, 0.1, 0.1])
    assert greedy_cover(regret, 1, weights=heavy_first)[0][0] == 0
    allowed = np.array([True, True, False, False])
    assert [c for c, _ in greedy_cover(regret, 4, allowed=allowed)] == [0, 1]
    whole = greedy_cover(regret, 4)
    begun = greedy_cover(regret, 2)
    assert begun + greedy_cover(regret, 2, after=[c for c, _ in begun]) == whole


def test_portfolio_skips_unavailable_algorithms_and_handles_empty_knowledge() -> None:
    learner = GreedyPortfolio().fit(knowledge())
    recs = learner.recommend({}, kind="binary", algorithms=ALGORITHMS[1:], k=5)
    assert all(r.config.algorithm != "alpha" for r in recs)
    empty = GreedyPortfolio().fit(KnowledgeBase.in_memory())
    assert empty.recommend({}, kind="binary", algorithms=ALGORITHMS, k=5) == []


def test_zero_shot_returns_the_nearest_tasks_ranking_of_the_portfolio() -> None:
    learner = ZeroShot().fit(knowledge())
    small = learner.recommend(
        {"LogRows": math.log(100), "Ratio": 10}, kind="binary", algorithms=ALGORITHMS, k=5
    )
    # small1's own order, then the portfolio member it never evaluated.
    assert [r.config for r in small] == [A_TUNED, A_DEFAULT, B_DEFAULT, B_TUNED, G_TUNED]
    assert small[0].evidence.source_tasks[0][0] == "small1"
    assert small[0].predicted_score == pytest.approx(1.0)
    assert "not evaluated on small1" in small[-1].evidence.note
    large = learner.recommend(
        {"LogRows": math.log(10000), "Ratio": 1000}, kind="binary", algorithms=ALGORITHMS, k=2
    )
    assert [r.config for r in large] == [B_TUNED, B_DEFAULT]


def test_zero_shot_portfolio_is_pruned_and_respects_available_algorithms() -> None:
    learner = ZeroShot(portfolio_size=2).fit(knowledge())
    # The two-config portfolio: B_DEFAULT (best on average), then A_TUNED (fixes small).
    assert set(learner.portfolios_["binary"]) == {B_DEFAULT, A_TUNED}
    recs = learner.recommend(
        {"LogRows": math.log(100), "Ratio": 10}, kind="binary", algorithms=ALGORITHMS, k=5
    )
    assert [r.config for r in recs] == [A_TUNED, B_DEFAULT]
    only_beta = learner.recommend(
        {"LogRows": math.log(100), "Ratio": 10}, kind="binary", algorithms=ALGORITHMS[1:2], k=5
    )
    assert [r.config for r in only_beta] == [B_DEFAULT]
    empty = ZeroShot().fit(KnowledgeBase.in_memory())
    assert empty.recommend({"LogRows": 3.0}, kind="binary", algorithms=ALGORITHMS, k=5) == []
