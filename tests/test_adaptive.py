"""Adaptive portfolio: earlier tasks re-weighted by the new task's observed scores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_replay import build

from autometa._cli import main
from autometa.contract._adaptive import observation_weights
from autometa.contract._cost import CostModel, TaskSize
from autometa.contract._types import Config
from autometa.knowledge import (
    AdaptiveCostAwarePolicy,
    AdaptivePortfolioPolicy,
    CostAwarePolicy,
    GreedyPortfolioPolicy,
    HeldOutTask,
    History,
    KnowledgeBase,
    replay,
)
from autometa.knowledge._replay import _walk

PROBE, FOR_A, FOR_B = Config("m", {"c": 0}), Config("m", {"c": 1}), Config("m", {"c": 2})


def two_families(n: int = 5) -> History:
    """Family A's best is FOR_A, family B's is FOR_B; PROBE is middling on both (so the
    static portfolio tries it first) but scores high in raw units on A, low on B."""
    rng = np.random.default_rng(0)
    normalized, raw = [], []
    for family in "AB" * n:
        jitter = rng.uniform(-0.01, 0.01, 3)
        if family == "A":
            normalized.append([0.5, 1.0, 0.0])
            raw.append(np.array([0.90, 0.95, 0.50]) + jitter)
        else:
            normalized.append([0.5, 0.0, 1.0])
            raw.append(np.array([0.60, 0.30, 0.70]) + jitter)
    size = TaskSize(1000.0, 10.0, 2.0, 0.0)
    configs = [PROBE, FOR_A, FOR_B]
    return History(
        configs=configs,
        regret=1.0 - np.array(normalized),
        seconds=np.ones((2 * n, 3)),
        feature_names=[],
        meta_features=np.zeros((2 * n, 0)),
        sizes=[size] * (2 * n),
        cost_model=CostModel().fit_table(configs, [size] * (2 * n), np.ones((2 * n, 3))),
        scores=np.array(raw),
    )


def held_out() -> HeldOutTask:
    return HeldOutTask("new", "binary", {}, TaskSize(1000.0, 10.0, 2.0, 0.0), 3, None)


@pytest.mark.parametrize(("probe_score", "expected"), [(0.91, 1), (0.61, 2)])
def test_one_observation_points_the_next_pick_at_its_family(
    probe_score: float, expected: int
) -> None:
    history = two_families()
    search = AdaptivePortfolioPolicy().start(held_out(), history)
    first = search.ask()
    assert first == 0, "with no observation the static portfolio's first pick"
    search.tell(first, probe_score, 1.0)
    assert search.ask() == expected


def test_the_order_term_alone_needs_two_observations_and_then_follows_them() -> None:
    history = two_families()
    normalized = 1.0 - history.regret
    # FOR_A beat PROBE here: the tasks of family A (even rows) agree, B's disagree
    weights = observation_weights(normalized, None, [0, 1], [0.7, 0.8])
    assert weights[::2].sum() > 0.9
    one = observation_weights(normalized, None, [0], [0.7])
    np.testing.assert_allclose(one, np.full(len(one), 1 / len(one)))


def test_failures_ties_repeats_and_missing_cells_say_nothing() -> None:
    history = two_families()
    normalized, raw = 1.0 - history.regret, history.scores
    uniform = np.full(len(normalized), 1 / len(normalized))
    np.testing.assert_allclose(observation_weights(normalized, raw, [0], [np.nan]), uniform)
    tie = observation_weights(normalized, None, [1, 2], [0.8, 0.8])
    np.testing.assert_allclose(tie, uniform)
    repeat = observation_weights(normalized, None, [1, 1], [0.8, 0.7])
    np.testing.assert_allclose(repeat, uniform)
    holes = normalized.copy()
    holes[:, 1] = np.nan
    np.testing.assert_allclose(observation_weights(holes, None, [0, 1], [0.7, 0.8]), uniform)
    prior = np.linspace(1, 2, len(normalized))
    np.testing.assert_allclose(
        observation_weights(normalized, None, [], [], prior), prior / prior.sum()
    )


def test_bad_arguments_are_named() -> None:
    history = two_families()
    with pytest.raises(ValueError, match="2 columns but 1 scores"):
        observation_weights(1.0 - history.regret, None, [0, 1], [0.5])
    with pytest.raises(ValueError, match="tau > 0"):
        observation_weights(1.0 - history.regret, None, [0], [0.5], tau=0.0)


def test_replay_walks_an_adaptive_policy_reproducibly() -> None:
    knowledge = build(KnowledgeBase.in_memory())
    policies = [GreedyPortfolioPolicy(), AdaptivePortfolioPolicy()]
    first = replay(knowledge, policies, trials=(1, 2, 3))
    second = replay(knowledge, policies, trials=(1, 2, 3))
    assert first.per_task == second.per_task
    adaptive, static = first.results["adaptive_portfolio"], first.results["greedy_portfolio"]
    assert adaptive.regret_at_trials[1] == static.regret_at_trials[1]
    # the tasks come in two families: after one trial the adaptive search knows which
    assert adaptive.regret_at_trials[2] <= static.regret_at_trials[2]


def test_the_adaptive_cost_aware_order_starts_as_the_cost_aware_one_and_adapts() -> None:
    history = two_families()
    # PROBE is the cheapest, so both orders try it first (equal regret on every task)
    history = replace(
        history,
        cost_model=CostModel().fit_table(
            history.configs, history.sizes, np.tile([0.5, 1.0, 1.0], (len(history.sizes), 1))
        ),
    )
    static = CostAwarePolicy().order(held_out(), history)
    assert static[0] == 0
    for probe_score, expected in [(0.91, 1), (0.61, 2)]:
        search = AdaptiveCostAwarePolicy().start(held_out(), history)
        assert search.ask() == 0
        search.tell(0, probe_score, 1.0)
        # the probe's raw score says which family the task is in: its best comes next
        assert search.ask() == expected


def test_the_adaptive_cost_aware_order_is_re_timed_by_what_its_picks_were_charged() -> None:
    # SLOW_BEST (algorithm a) is best everywhere, OTHER (b) halfway; all took 1 s before
    probe, slow_best, other = Config("a", {"c": 0}), Config("a", {"c": 1}), Config("b", {})
    history = two_families()
    configs = [probe, slow_best, other]
    history = replace(
        history,
        configs=configs,
        regret=np.tile([1.0, 0.0, 0.5], (len(history.sizes), 1)),
        cost_model=CostModel().fit_table(configs, history.sizes, np.ones((len(history.sizes), 3))),
    )
    charged_as_predicted = AdaptiveCostAwarePolicy().start(held_out(), history)
    seconds = float(charged_as_predicted.seconds[0])
    order = []
    for measured_times, charged in [(True, seconds), (True, 100 * seconds), (False, 100 * seconds)]:
        search = AdaptiveCostAwarePolicy(measured_times=measured_times).start(held_out(), history)
        search.tell(0, 0.5, charged)  # the probe, say the first of a guard's picks
        order.append(search.ask())
    # charged 100 times its prediction, algorithm a's best waits behind b's configuration,
    # unless the policy ignores what it measured
    assert order == [1, 2, 1]


def test_replay_walks_the_adaptive_cost_aware_order_reproducibly() -> None:
    knowledge = build(KnowledgeBase.in_memory())
    policies = [CostAwarePolicy(), AdaptiveCostAwarePolicy()]
    first = replay(knowledge, policies, trials=(1, 2, 3))
    second = replay(knowledge, policies, trials=(1, 2, 3))
    assert first.per_task == second.per_task
    adaptive, static = first.results["adaptive_cost_aware"], first.results["cost_aware"]
    assert adaptive.regret_at_trials[1] == static.regret_at_trials[1]


def test_a_proposer_that_repeats_a_pick_is_refused() -> None:
    class Stuck:
        def ask(self) -> int:
            return 0

        def tell(self, column: int, score: float, seconds: float) -> None:
            pass

    with pytest.raises(ValueError, match="column 0 twice"):
        _walk(Stuck(), np.array([0.5, 0.6]), np.ones(2))


def test_cli_replay_adds_the_adaptive_portfolio_on_request(tmp_path: Path) -> None:
    location = tmp_path / "kb.sqlite"
    with KnowledgeBase.open(location) as kb:
        build(kb)
    plain = CliRunner().invoke(main, ["kb", "replay", str(location), "--trials", "1,2"])
    adaptive = CliRunner().invoke(
        main, ["kb", "replay", str(location), "--trials", "1,2", "--adaptive"]
    )
    assert plain.exit_code == 0, plain.output
    assert adaptive.exit_code == 0, adaptive.output
    assert "adaptive_portfolio" not in plain.output
    assert "adaptive_portfolio" in adaptive.output
    assert "adaptive_cost_aware" in adaptive.output
