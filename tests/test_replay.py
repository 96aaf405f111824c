"""Replay: reproducible, bounded by the oracle, and it shows what cost-awareness buys."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from optuna.distributions import FloatDistribution

from autometa._cli import main
from autometa.contract import Algorithm, Config, Evaluation, SearchBudget, cost_aware_cover
from autometa.knowledge import (
    CostAwarePolicy,
    GreedyPortfolioPolicy,
    KnowledgeBase,
    RandomPolicy,
    TaskRecord,
    replay,
)
from autometa.knowledge._replay import ORACLE, SINGLE_BEST
from autometa_learners import CostAwarePortfolio, GreedyPortfolio

CHEAP_A, COSTLY_A = Config("fast", {"c": 1.0}), Config("slow", {"c": 1.0})
CHEAP_B, COSTLY_B = Config("fast", {"c": 2.0}), Config("slow", {"c": 2.0})
BAD = Config("fast", {"c": 3.0})
SECONDS = {CHEAP_A: 0.05, CHEAP_B: 0.05, BAD: 0.05, COSTLY_A: 5.0, COSTLY_B: 5.0}


def build(kb: KnowledgeBase, n_tasks: int = 8) -> KnowledgeBase:
    """Half the tasks love family A, half family B; a slow configuration of each family
    scores a hair better than its fast twin, and BAD is worst everywhere. Times grow in
    proportion to the rows (500 to 1,200)."""
    for i in range(n_tasks):
        task_id = f"t{i}"
        loves_a = i % 2 == 0
        features = {
            "NumberOfInstances": 500.0 + 100 * i,
            "NumberOfFeatures": 10.0,
            "Group": 0.0 if loves_a else 1.0,
            "Noise": float(i),
        }
        kb.add_task(TaskRecord(task_id, task_id, "binary", "roc_auc", features, {}))
        good, other = (0.90, 0.60) if loves_a else (0.60, 0.90)
        scores = {
            COSTLY_A: good + 0.001,
            CHEAP_A: good,
            COSTLY_B: other + 0.001,
            CHEAP_B: other,
            BAD: 0.5,
        }
        rows = features["NumberOfInstances"]
        kb.add_evaluations(
            Evaluation(task_id, c, s, SECONDS[c] * rows / 500) for c, s in scores.items()
        )
    return kb


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return build(KnowledgeBase.in_memory())


def algorithm(name: str) -> Algorithm:
    return Algorithm(
        name,
        ("binary", "multiclass"),
        lambda p, t: None,  # type: ignore[arg-type,return-value]
        lambda t: {"c": FloatDistribution(0.1, 10.0)},
        {"c": 1.0},
    )


def test_replay_is_reproducible_for_a_seed(knowledge: KnowledgeBase) -> None:
    first = replay(knowledge, random_state=3, seconds=[1, 10], trials=[1, 3])
    again = replay(knowledge, random_state=3, seconds=[1, 10], trials=[1, 3])
    assert first.to_json() == again.to_json()
    other = replay(knowledge, random_state=4, seconds=[1, 10], trials=[1, 3])
    assert [t["random"] for t in other.per_task.values()] != [
        t["random"] for t in first.per_task.values()
    ]
    assert set(first.results) == {
        "greedy_portfolio",
        "nearest_tasks",
        "random",
        "cost_aware",
        "greedy_portfolio+guard",
        "cost_aware+guard",
        SINGLE_BEST,
        ORACLE,
    }


def test_oracle_regret_is_zero_and_no_policy_beats_it(knowledge: KnowledgeBase) -> None:
    report = replay(knowledge, seconds=[0.1, 1, 6, 20], trials=[1, 2, 5])
    oracle = report.results[ORACLE]
    assert all(value == 0.0 for value in oracle.regret_at_trials.values())
    assert oracle.regret_at_seconds[20] == 0.0
    for per_policy in report.per_task.values():
        bound = per_policy[ORACLE]
        for name, curve in per_policy.items():
            assert all(a >= b for a, b in zip(curve["seconds"], bound["seconds"], strict=True)), (
                name
            )
            assert all(a >= b for a, b in zip(curve["trials"], bound["trials"], strict=True))
    # every configuration tried: all policies reach the task's best
    for result in report.results.values():
        assert result.regret_at_trials[5] == 0.0
    # nothing finishes in 0.1 s (+0.1 s overhead): regret 1 for everyone, the oracle too
    assert all(r.regret_at_seconds[0.1] == 1.0 for r in report.results.values())
    assert report.results[ORACLE].trials_at_seconds[20] == 1.0


def test_cost_aware_policy_wins_early_where_slow_and_fast_score_alike(
    knowledge: KnowledgeBase,
) -> None:
    report = replay(knowledge, seconds=[1, 60], trials=[1, 5])
    greedy, cost_aware = report.results["greedy_portfolio"], report.results["cost_aware"]
    # the greedy portfolio starts with a 5 s configuration: nothing after 1 s
    assert greedy.regret_at_seconds[1] == 1.0
    assert cost_aware.regret_at_seconds[1] < 0.01
    # with time for everything, both find the best
    assert greedy.regret_at_seconds[60] == cost_aware.regret_at_seconds[60] == 0.0
    # after one trial, weighting the tasks of its own group picks the right family
    assert cost_aware.regret_at_trials[1] < greedy.regret_at_trials[1]


def test_scaling_to_more_rows_and_folds_makes_every_trial_dearer(
    knowledge: KnowledgeBase,
) -> None:
    stored = replay(knowledge, [RandomPolicy()], seconds=[1, 10, 100], trials=[1])
    scaled = replay(knowledge, [RandomPolicy()], seconds=[1, 10, 100], trials=[1], n_rows=1e5)
    folds = replay(knowledge, [RandomPolicy()], seconds=[1, 10, 100], trials=[1], n_splits=10)
    for dearer in (scaled, folds):
        for s in (1, 10, 100):
            assert (
                dearer.results["random"].trials_at_seconds[s]
                <= stored.results["random"].trials_at_seconds[s]
            )
        assert (
            dearer.results["random"].trials_at_seconds[10]
            < stored.results["random"].trials_at_seconds[10]
        )
    with pytest.raises(ValueError, match="n_rows must be"):
        replay(knowledge, n_rows=0)
    with pytest.raises(ValueError, match="unique"):
        replay(knowledge, [RandomPolicy(), RandomPolicy()])


def test_cost_aware_first_picks_are_cheaper_than_the_greedy_portfolios(
    knowledge: KnowledgeBase,
) -> None:
    algorithms = [algorithm("fast"), algorithm("slow")]
    meta = {"NumberOfInstances": 800.0, "NumberOfFeatures": 10.0, "Group": 0.0, "Noise": 3.0}
    greedy = GreedyPortfolio().fit(knowledge).recommend(meta, kind="binary", algorithms=algorithms)
    aware = CostAwarePortfolio().fit(knowledge)
    cheap = aware.recommend(meta, kind="binary", algorithms=algorithms, k=5)
    assert [r.config for r in greedy[:2]] == [COSTLY_A, COSTLY_B]
    assert [r.config for r in cheap[:2]] == [CHEAP_A, CHEAP_B]
    assert sum(SECONDS[r.config] for r in cheap[:2]) < sum(SECONDS[r.config] for r in greedy[:2])
    assert "about" in cheap[0].evidence.note
    # told the budget: within 1 s the slow ones do not come before every fast one
    budgeted = aware.recommend(
        meta, kind="binary", algorithms=algorithms, k=5, budget=SearchBudget(1.0, 3, 800)
    )
    assert {r.config.algorithm for r in budgeted[:3]} == {"fast"}
    # restricted to the slow algorithm, it recommends only that
    slow_only = aware.recommend(meta, kind="binary", algorithms=[algorithm("slow")], k=5)
    assert {r.config.algorithm for r in slow_only} == {"slow"}


def test_cost_aware_cover_keeps_to_the_budget_then_goes_on() -> None:
    regret = np.array([[0.0, 0.1, 0.5], [0.0, 0.1, 0.5]])
    seconds = np.array([10.0, 1.0, 0.1])
    order = [c for c, _ in cost_aware_cover(regret, seconds, 3, budget=2.0)]
    assert order[:2] == [2, 1]  # fits in 2 s, best gain per second first
    assert order[2] == 0  # then the dear one, once nothing else fits
    assert [c for c, _ in cost_aware_cover(regret, np.ones(3), 3)] == [0, 1, 2]
    # continuing a cover: the seconds of what came before count, or what was measured
    assert [c for c, _ in cost_aware_cover(regret, seconds, 2, budget=2.0, after=[2])] == [1, 0]
    dear_best, cheap_fair = np.array([[0.0, 0.7], [0.0, 0.7]]), np.array([1.0, 0.5])
    assert cost_aware_cover(dear_best, cheap_fair, 1, budget=2.0)[0][0] == 0
    # 1.2 s spent: the best gain per second no longer fits what is left, the other does
    assert cost_aware_cover(dear_best, cheap_fair, 1, budget=2.0, spent=1.2)[0][0] == 1
    with pytest.raises(ValueError, match="seconds has shape"):
        cost_aware_cover(regret, np.ones(2), 3)


def test_policies_are_plain_objects_with_an_order(knowledge: KnowledgeBase) -> None:
    class SlowFirst:
        name = "slow_first"

        def order(self, task, history):  # type: ignore[no-untyped-def]
            seconds = np.nanmean(history.seconds, axis=0)
            return np.argsort(-seconds, kind="stable")

    report = replay(knowledge, [SlowFirst(), CostAwarePolicy(), GreedyPortfolioPolicy()])
    assert report.results["slow_first"].regret_at_seconds[5] == 1.0
    assert math.isclose(report.results["cost_aware"].regret_at_seconds[5], 0.0, abs_tol=0.01)

    class Broken:
        name = "broken"

        def order(self, task, history):  # type: ignore[no-untyped-def]
            return np.array([0, 0])

    with pytest.raises(ValueError, match="permutation"):
        replay(knowledge, [Broken()])


def test_cli_replay_prints_the_table(tmp_path: Path) -> None:
    location = tmp_path / "kb.sqlite"
    with KnowledgeBase.open(location) as kb:
        build(kb)
    out = tmp_path / "replay.json"
    result = CliRunner().invoke(
        main,
        ["kb", "replay", str(location), "--seconds", "1,20", "--trials", "1,2", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for column in ("@1s", "@20s", "@2 tr"):
        assert column in lines[0]
    rows = {line.split()[0]: line.split() for line in lines[2:] if line.strip()}
    assert set(rows) >= {"greedy_portfolio", "cost_aware", "random", "oracle"}
    assert rows["oracle"][1] == "8"  # tasks
    assert json.loads(out.read_text())["results"]["oracle"]["regret_at_trials"]["1"] == 0.0
    scaled = CliRunner().invoke(
        main,
        [
            "kb",
            "replay",
            str(location),
            "--rows",
            "full",
            "--n-splits",
            "5",
            "--cost-model",
            "--observed-times",
            "0,2",
        ],
    )
    assert scaled.exit_code == 0, scaled.output
    assert scaled.output.count("within 2x") == 2
    assert "corrected by 2 of its own times" in scaled.output
    bad = CliRunner().invoke(main, ["kb", "replay", str(location), "--rows", "-3"])
    assert bad.exit_code == 2
    assert "n_rows must be" in bad.output
