"""The adaptive cost-aware portfolio: re-weighted by observed scores, re-timed by measured seconds.

Hand-made knowledge bases with a known answer, plus the contract checks on the small
base :mod:`autometa.testing` ships, and one fit with a trial count.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sklearn.datasets import load_breast_cancer
from test_adaptive_fit import FOR_A, FOR_B, PROBE, M, seen, two_families

import autometa
import autometa.testing
from autometa.contract import (
    Algorithm,
    Config,
    Evaluation,
    SearchBudget,
    Strategy,
    TaskSize,
    adapts,
)
from autometa.knowledge import KnowledgeBase, TaskRecord
from autometa_learners import AdaptiveCostAwarePortfolio, CostAwarePortfolio

SLOW_PROBE, SLOW_BEST, OTHER_GOOD = Config("a", {"c": 0}), Config("a", {"c": 1}), Config("b", {})
A = Algorithm("a", ("binary",), lambda p, t: None, lambda t: {})  # type: ignore[arg-type,return-value]
B = Algorithm("b", ("binary",), lambda p, t: None, lambda t: {})  # type: ignore[arg-type,return-value]


@pytest.fixture(scope="module")
def small_knowledge() -> Iterator[KnowledgeBase]:
    with autometa.testing.small_knowledge_base() as knowledge:
        yield knowledge


def test_it_passes_the_contract_checks(small_knowledge: KnowledgeBase) -> None:
    assert adapts(AdaptiveCostAwarePortfolio)
    assert not adapts(CostAwarePortfolio)
    autometa.testing.check_meta_learner(AdaptiveCostAwarePortfolio, knowledge=small_knowledge)
    autometa.testing.check_adaptive_learner(AdaptiveCostAwarePortfolio, knowledge=small_knowledge)


def test_before_any_trial_it_proposes_what_the_cost_aware_portfolio_recommends(
    small_knowledge: KnowledgeBase,
) -> None:
    task = small_knowledge.tasks("binary")[0]
    pool = sorted({c.algorithm for c in small_knowledge.configs()})
    algorithms = [Algorithm(n, ("binary",), lambda p, t: None, lambda t: {}) for n in pool]  # type: ignore[arg-type,return-value]
    budget = SearchBudget(30.0, 5, 500)
    static = CostAwarePortfolio().fit(small_knowledge)
    adaptive = AdaptiveCostAwarePortfolio().fit(small_knowledge)
    ask = {"kind": "binary", "algorithms": algorithms, "budget": budget}
    expected = static.recommend(task.meta_features, **ask)
    assert [r.config for r in adaptive.recommend(task.meta_features, **ask)] == [
        r.config for r in expected
    ]
    first = adaptive.propose(task.meta_features, [], **ask)
    assert first is not None
    assert first.recommendation.config == expected[0].config


@pytest.mark.parametrize(("probe_score", "expected"), [(0.91, FOR_A), (0.61, FOR_B)])
def test_one_observation_points_the_next_proposal_at_its_family(
    probe_score: float, expected: Config
) -> None:
    learner = AdaptiveCostAwarePortfolio().fit(two_families())
    first = learner.propose({}, [], kind="binary", algorithms=[M])
    assert first is not None
    assert first.recommendation.config == PROBE
    after = learner.propose({}, [seen(PROBE, probe_score)], kind="binary", algorithms=[M])
    assert after is not None
    assert after.recommendation.config == expected
    family = "A" if expected == FOR_A else "B"
    assert all(task.startswith(family) for task, _ in after.task_weights)


def timed_pool() -> KnowledgeBase:
    """SLOW_BEST (algorithm ``a``, 1 s) is best everywhere; OTHER_GOOD (``b``, 0.5 s) is a
    third of the way from the worst to it, so per second SLOW_BEST is worth more.
    SLOW_PROBE, also of ``a``, is the same poor score everywhere: observing it says
    nothing about which earlier tasks the new one is like."""
    kb = KnowledgeBase.in_memory()
    cells = ((SLOW_PROBE, 0.6, 1.0), (SLOW_BEST, 0.9, 1.0), (OTHER_GOOD, 0.7, 0.5))
    for i in range(6):
        kb.add_task(TaskRecord(f"t{i}", f"t{i}", "binary", "roc_auc", {"x": float(i)}, {}))
        kb.add_evaluations(Evaluation(f"t{i}", c, score, seconds) for c, score, seconds in cells)
    return kb


def after_the_probe(
    learner: AdaptiveCostAwarePortfolio, seconds: float, budget: float | None
) -> Config:
    """The proposal after SLOW_PROBE was measured at ``seconds`` (3-fold CV, like the base)."""
    observed = [Evaluation("new", SLOW_PROBE, 0.6, seconds)]
    proposal = learner.propose(
        {}, observed, kind="binary", algorithms=[A, B], budget=SearchBudget(budget, 3, None)
    )
    assert proposal is not None
    return proposal.recommendation.config


def predicted(learner: AdaptiveCostAwarePortfolio, config: Config) -> float:
    size = TaskSize.from_meta_features({}, n_rows=None)
    return float(learner.cost_model_.predict([config], size, n_splits=3)[0]) + learner.overhead


def test_measured_seconds_re_time_the_order() -> None:
    learner = AdaptiveCostAwarePortfolio().fit(timed_pool())
    probe = predicted(learner, SLOW_PROBE) - learner.overhead
    # timed as the base says: the best gain per second comes next
    assert after_the_probe(learner, probe, None) == SLOW_BEST
    # algorithm a runs 100 times slower on this task: its best waits, the other comes first
    assert after_the_probe(learner, 100 * probe, None) == OTHER_GOOD
    # neither fit's measurements changed the learner's own model
    assert learner.cost_model_.observed_ == {}


def test_what_is_left_of_the_timeout_decides_what_still_fits() -> None:
    learner = AdaptiveCostAwarePortfolio().fit(timed_pool())
    probe = predicted(learner, SLOW_PROBE)  # measured as predicted: no correction
    best, other = predicted(learner, SLOW_BEST), predicted(learner, OTHER_GOOD)
    assert after_the_probe(learner, probe - learner.overhead, probe + best + 1) == SLOW_BEST
    # what is left after the probe fits the cheaper configuration only
    left_for_other = probe + (best + other) / 2
    assert after_the_probe(learner, probe - learner.overhead, left_for_other) == OTHER_GOOD
    # nothing fits any more: every configuration competes again, by gain per second
    assert after_the_probe(learner, probe - learner.overhead, probe + other / 2) == SLOW_BEST


def test_a_fit_with_a_trial_count_proposes_from_its_trials() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rows = X.sample(150, random_state=0).index
    strategy = Strategy(
        "adaptive_cost_aware_portfolio", validation="holdout", pruner=None, handover_gain=0.0
    )
    model = autometa.fit(
        X.loc[rows],
        y.loc[rows],
        n_trials=4,
        strategy=strategy,
        algorithms=["linear", "knn", "naive_bayes"],
        random_state=0,
        ensemble=False,
    )
    assert model.adaptation_.learner == "adaptive_cost_aware_portfolio"
    assert model.adaptation_.proposed == 3
    configs = [Config.from_trial_params(t.params) for t in model.study_.trials]
    assert len(set(configs)) == 4
    assert list(model.adaptation_.configs) == configs[1:]
    assert "adaptive_cost_aware_portfolio proposed 3 trials" in model.explain()
