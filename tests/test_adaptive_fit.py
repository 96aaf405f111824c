"""An adaptive meta-learner inside a real fit: proposals after observations, hand-over.

The fits search the shipped knowledge base's pool, restricted to cheap algorithms, on
150 rows of breast cancer with a holdout split and a few trials (``n_trials``, never a
timeout).
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from sklearn.datasets import load_breast_cancer

import autometa
import autometa.testing
from autometa.contract import (
    Algorithm,
    Config,
    Evaluation,
    MetaLearner,
    Proposal,
    Strategy,
    adapts,
)
from autometa.knowledge import KnowledgeBase, TaskRecord
from autometa.persistence import load_model, save_model
from autometa.search._adaptive import GAIN_ATTR, PROPOSAL_ATTR
from autometa_learners import AdaptivePortfolio, GreedyPortfolio

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
CHEAP = ["linear", "knn", "naive_bayes"]
PROBE, FOR_A, FOR_B = Config("m", {"c": 0}), Config("m", {"c": 1}), Config("m", {"c": 2})
M = Algorithm("m", ("binary",), lambda p, t: None, lambda t: {})  # type: ignore[arg-type,return-value]
"""The algorithm of the hand-made pool (propose reads only its name)."""


@pytest.fixture(scope="module")
def small_knowledge() -> Iterator[KnowledgeBase]:
    with autometa.testing.small_knowledge_base() as knowledge:
        yield knowledge


@pytest.fixture(scope="module")
def data() -> tuple[Any, Any]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rows = X.sample(150, random_state=0).index
    return X.loc[rows], y.loc[rows]


def adaptive(**changes: Any) -> Strategy:
    settings: dict[str, Any] = {
        "meta_learner": "adaptive_portfolio",
        "validation": "holdout",
        "pruner": None,
        **changes,
    }
    return Strategy(**settings)


def fit(data: tuple[Any, Any], strategy: Strategy, n_trials: int, **kwargs: Any) -> Any:
    return autometa.fit(
        *data,
        n_trials=n_trials,
        strategy=strategy,
        algorithms=CHEAP,
        random_state=0,
        ensemble=False,
        **kwargs,
    )


def proposals(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if PROPOSAL_ATTR in t.user_attrs]


# -- the contract and the checks ---------------------------------------------------------------
def test_only_a_learner_that_overrides_propose_adapts() -> None:
    assert adapts(AdaptivePortfolio)
    assert adapts(AdaptivePortfolio())
    assert not adapts(GreedyPortfolio)
    assert not adapts(MetaLearner)
    proposal = (
        GreedyPortfolio()
        .fit(KnowledgeBase.in_memory())
        .propose({}, [], kind="binary", algorithms=[])
    )
    assert proposal is None


def test_the_shipped_adaptive_learner_passes_the_checks(small_knowledge: KnowledgeBase) -> None:
    autometa.testing.check_meta_learner(AdaptivePortfolio, knowledge=small_knowledge)
    autometa.testing.check_adaptive_learner(AdaptivePortfolio, knowledge=small_knowledge)


def test_the_guides_adaptive_example_passes_the_checks(small_knowledge: KnowledgeBase) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    (source,) = [block for block in blocks if "def propose(" in block]
    plugin = types.ModuleType("docs_adaptive_example")
    exec(compile(source, f"{GUIDE}:adaptive", "exec"), plugin.__dict__)
    autometa.testing.check_plugin(plugin)
    (cls,) = plugin.autometa_meta_learners()
    autometa.testing.check_meta_learner(cls, knowledge=small_knowledge)
    autometa.testing.check_adaptive_learner(cls, knowledge=small_knowledge)


def test_the_check_catches_a_learner_that_proposes_what_it_saw(
    small_knowledge: KnowledgeBase,
) -> None:
    class Forgetful(AdaptivePortfolio):
        name = "forgetful"

        def propose(self, meta_features: Any, observed: Any, **kwargs: Any) -> Proposal | None:
            proposal = super().propose(meta_features, [], **{**kwargs, "pending": ()})
            if proposal is None or not observed:
                return proposal
            return Proposal(
                proposal.recommendation.__class__(
                    observed[0].config, 0.5, proposal.recommendation.evidence
                ),
                proposal.gain,
            )

    with pytest.raises(AssertionError, match="already observed or is pending"):
        autometa.testing.check_adaptive_learner(Forgetful, knowledge=small_knowledge)

    class Static(GreedyPortfolio):
        name = "static"

    with pytest.raises(AssertionError, match=r"does not override MetaLearner\.propose"):
        autometa.testing.check_adaptive_learner(Static, knowledge=small_knowledge)


# -- the sanity rule: two task families with opposite best configurations ----------------
def two_families(n: int = 5, hole: bool = False) -> KnowledgeBase:
    """Family A's best is FOR_A, B's is FOR_B; PROBE is middling on both (the static
    portfolio tries it first) but scores high on A and low on B."""
    kb = KnowledgeBase.in_memory()
    for i in range(2 * n):
        family = "AB"[i % 2]
        task_id = f"{family}{i}"
        kb.add_task(TaskRecord(task_id, task_id, "binary", "roc_auc", {"x": float(i)}, {}))
        jitter = 0.001 * i
        scores = {
            "A": {PROBE: 0.90, FOR_A: 0.95, FOR_B: 0.50},
            "B": {PROBE: 0.60, FOR_A: 0.30, FOR_B: 0.70},
        }[family]
        kb.add_evaluations(
            Evaluation(task_id, config, score + jitter, 1.0)
            for config, score in scores.items()
            if not (hole and i == 0 and config == FOR_B)
        )
    return kb


def propose(learner: AdaptivePortfolio, observed: list[Evaluation], **kw: Any) -> Proposal:
    proposal = learner.propose({}, observed, kind="binary", algorithms=[M], **kw)
    assert proposal is not None
    return proposal


def seen(config: Config, score: float, status: str = "ok") -> Evaluation:
    return Evaluation("new", config, score, 1.0, status)  # type: ignore[arg-type]


@pytest.mark.parametrize("hole", [False, True])
@pytest.mark.parametrize(("probe_score", "expected"), [(0.91, FOR_A), (0.61, FOR_B)])
def test_one_observation_points_the_next_proposal_at_its_family(
    probe_score: float, expected: Config, hole: bool
) -> None:
    learner = AdaptivePortfolio().fit(two_families(hole=hole))
    first = propose(learner, [])
    static = (
        GreedyPortfolio()
        .fit(two_families(hole=hole))
        .recommend({}, kind="binary", algorithms=[M], k=1)
    )
    assert first.recommendation.config == PROBE == static[0].config
    assert first.gain > 0
    after = propose(learner, [seen(PROBE, probe_score)])
    assert after.recommendation.config == expected
    family = "A" if expected == FOR_A else "B"
    assert all(task.startswith(family) for task, _ in after.task_weights)


def test_failures_repeats_outside_configs_and_pending_ones_are_handled() -> None:
    learner = AdaptivePortfolio().fit(two_families())
    outside = Config("m", {"c": 7})
    # the sampler's own configuration says nothing; a failure neither (a tie: the first column)
    assert propose(learner, [seen(outside, 0.99)]).recommendation.config == PROBE
    failed = propose(learner, [seen(PROBE, math.nan, "failed")])
    assert failed.recommendation.config == FOR_A
    # a repeat weighs once: the same proposal as after one observation
    once = propose(learner, [seen(PROBE, 0.61)])
    twice = propose(learner, [seen(PROBE, 0.61), seen(PROBE, 0.61)])
    assert once.recommendation.config == twice.recommendation.config == FOR_B
    assert once.gain == pytest.approx(twice.gain)
    # pending configurations are not proposed again, and count as if evaluated
    pending = propose(learner, [seen(PROBE, 0.61)], pending=[FOR_B])
    assert pending.recommendation.config == FOR_A
    assert pending.gain < once.gain
    # nothing left to propose
    nothing = learner.propose(
        {}, [seen(PROBE, 0.6), seen(FOR_A, 0.3)], kind="binary", algorithms=[M], pending=[FOR_B]
    )
    assert nothing is None
    assert learner.propose({}, [], kind="regression", algorithms=[M]) is None


# -- in a fit ------------------------------------------------------------------------------
def test_a_fit_proposes_after_every_observation(data: tuple[Any, Any], tmp_path: Path) -> None:
    model = fit(data, adaptive(handover_gain=0.0), 5)
    trials = model.study_.trials
    assert len(trials) == 5
    proposed = proposals(model.study_)
    # the first trial is the static first recommendation; every later one a proposal
    assert [t.number for t in proposed] == [1, 2, 3, 4]
    assert all(t.user_attrs[GAIN_ATTR] >= 0 for t in proposed)
    assert trials[0].user_attrs["warm_start_rank"] == 0
    configs = [Config.from_trial_params(t.params) for t in trials]
    assert len(set(configs)) == len(configs)
    pool = set(KnowledgeBase.default().configs())
    assert all(c in pool for c in configs)
    summary = model.adaptation_
    assert summary.proposed == 4
    assert summary.handed_over_at is None
    assert list(summary.configs) == configs[1:]
    assert len(summary.task_weights) == 3
    # one entry per proposal, the last one's tasks those the summary names
    assert len(summary.weight_history) == 4
    assert summary.weight_history[-1] == summary.task_weights
    assert summary.weight_history[0] != summary.weight_history[-1]
    text = model.explain()
    assert "Adaptive: adaptive_portfolio proposed 4 trials" in text
    assert "the search ended before the sampler took over" in text
    assert "the observations pointed to earlier tasks" in text
    moved = text.split("how the weights moved")[1].splitlines()[1:5]
    heaviest = summary.weight_history[0][0]
    assert moved[0].strip() == (
        f"proposal 1: {heaviest[0]} {heaviest[1]:.3f}, "
        + ", ".join(f"{t} {w:.3f}" for t, w in summary.weight_history[0][1:])
    )
    assert moved[3].strip().startswith("proposal 4: ")
    save_model(model, tmp_path / "model.skops")
    assert load_model(tmp_path / "model.skops").adaptation_ == summary


def test_the_sampler_takes_over_when_the_predicted_gain_is_below_the_threshold(
    data: tuple[Any, Any],
) -> None:
    model = fit(data, adaptive(handover_gain=1.0), 4)
    assert proposals(model.study_) == []
    summary = model.adaptation_
    assert summary.proposed == 0
    assert summary.handed_over_at == 1
    assert "< handover_gain 1" in summary.reason
    assert "the sampler took over after 1 trials" in model.explain()


def test_a_learner_that_does_not_adapt_enqueues_its_warm_starts_as_before(
    data: tuple[Any, Any],
) -> None:
    model = fit(data, adaptive(meta_learner="greedy_portfolio", n_warm_starts=3), 4)
    ranks = [t.user_attrs.get("warm_start_rank") for t in model.study_.trials]
    assert ranks == [0, 1, 2, None]
    assert proposals(model.study_) == []
    assert model.adaptation_ is None
    assert "Adaptive:" not in model.explain()


def test_a_resumed_durable_study_counts_its_earlier_trials_as_observed(
    data: tuple[Any, Any], tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    strategy = adaptive(handover_gain=0.0)
    first = fit(data, strategy, 3, storage=storage, study_name="s")
    second = fit(data, strategy, 5, storage=storage, study_name="s")
    study = optuna.load_study(study_name="s", storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 5
    configs = [Config.from_trial_params(t.params) for t in done]
    assert len(set(configs)) == 5, "a resumed fit proposes none of the earlier trials again"
    assert first.adaptation_.proposed == 2
    assert second.adaptation_.proposed == 2
    assert [t.user_attrs.get(PROPOSAL_ATTR) for t in done] == [None, 1, 2, 1, 2]


def test_parallel_workers_are_not_proposed_the_same_configuration(
    data: tuple[Any, Any],
) -> None:
    model = fit(data, adaptive(handover_gain=0.0), 4, n_jobs=2)
    configs = [Config.from_trial_params(t.params) for t in model.study_.trials]
    assert len(configs) == 4
    assert len(set(configs)) == 4
    assert len(proposals(model.study_)) == 3


class Broken(AdaptivePortfolio):
    """Proposes once, then raises: a plugin's bug in the middle of a search."""

    name = "broken"

    def propose(self, meta_features: Any, observed: Any, **kwargs: Any) -> Proposal | None:
        if len(observed) > 1:
            raise RuntimeError("boom")
        return super().propose(meta_features, observed, **kwargs)


@autometa.hookimpl
def autometa_meta_learners() -> list[type[MetaLearner]]:
    return [Broken]


def test_a_learner_whose_propose_raises_hands_over_with_a_warning(
    data: tuple[Any, Any],
) -> None:
    plugin = types.ModuleType("broken_learner")
    plugin.autometa_meta_learners = autometa_meta_learners  # type: ignore[attr-defined]
    with pytest.warns(UserWarning, match=r"broken\.propose failed \(RuntimeError: boom\)"):
        model = fit(data, adaptive(meta_learner="broken", handover_gain=0.0), 4, plugins=[plugin])
    assert len(model.study_.trials) == 4
    assert model.adaptation_.proposed == 1
    assert model.adaptation_.handed_over_at == 2


def test_adaptive_learners_are_offered_to_the_strategy_selector(
    data: tuple[Any, Any],
) -> None:
    offered: list[list[str]] = []

    class Recorder:
        """A selector asked first (passed in), which records what it is offered."""

        autometa_plugin_name = "recorder"

        @autometa.hookimpl
        def autometa_select_strategy(self, meta_learners: list[str]) -> None:
            offered.append(list(meta_learners))

    recommendations = autometa.recommend(*data, k=3, plugins=[Recorder()], algorithms=CHEAP)
    assert recommendations
    assert offered
    assert "greedy_portfolio" in offered[0]
    assert "adaptive_portfolio" in offered[0]
