"""Steps of a trial (folds, row fidelities), Optuna's pruners deciding after each, and
what a pruned trial is: recorded PRUNED, never the winner, never taught to a base."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.pruners import (
    HyperbandPruner,
    PercentilePruner,
    SuccessiveHalvingPruner,
    ThresholdPruner,
    WilcoxonPruner,
)
from optuna.trial import TrialState, create_trial
from sklearn.datasets import make_classification
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

import autometa
from autometa.contract import Strategy, Task, row_fidelities
from autometa.knowledge import KnowledgeBase
from autometa.search._evaluation import _projected_seconds, cross_validate_config
from autometa.search._fidelities import MAX_FIDELITY_VALIDATION_ROWS, fidelity_splits
from autometa.search._pruning import pruning_snapshot, resolve_pruner
from autometa.search._studies import study_evaluations

AGGRESSIVE = PercentilePruner(50.0, n_startup_trials=2, n_warmup_steps=0, n_min_trials=2)
"""Keeps the better half at each step once two trials completed: prunes on small data."""


@pytest.fixture(scope="module")
def table() -> tuple[Any, Any]:
    X, y = make_classification(n_samples=6_000, n_features=12, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def pruned_fit(table: tuple[Any, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    X, y = table
    knowledge = tmp_path_factory.mktemp("kb") / "kb.db"
    strategy = Strategy(
        meta_learner=None,
        n_warm_starts=0,
        validation="holdout",
        fidelities=(1 / 9, 1 / 3),
        pruner=AGGRESSIVE,
    )
    model = autometa.fit(
        X,
        y,
        n_trials=14,
        random_state=0,
        strategy=strategy,
        algorithms=["linear", "naive_bayes", "hist_gradient_boosting", "knn"],
        knowledge=str(knowledge),
        ensemble=False,
    )
    return model, knowledge


# -- a fit with pruning ---------------------------------------------------------------------
def test_pruned_trials_are_recorded_as_pruned_not_failed(pruned_fit: Any) -> None:
    model, _ = pruned_fit
    trials = model.study_.trials
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, "the aggressive pruner pruned nothing in 14 trials"
    assert not [t for t in trials if t.state == TrialState.FAIL]
    for trial in pruned:
        # Stopped after one or two of its three steps, each reported as it would be by
        # an objective calling trial.report.
        assert 1 <= len(trial.intermediate_values) <= 2
        assert trial.user_attrs["status"] == "pruned"
    for trial in trials:
        if trial.state == TrialState.COMPLETE:
            assert sorted(trial.intermediate_values) == [0, 1, 2]
            # The value is the full fit's score, the last step's.
            assert trial.value == pytest.approx(trial.intermediate_values[2])
    statuses = [e.status for e in model.evaluations_]
    assert statuses.count("pruned") == len(pruned)
    assert all(math.isnan(e.score) for e in model.evaluations_ if e.status == "pruned")
    assert "pruned" in model.explain()


def test_a_pruned_trial_is_never_the_winner(pruned_fit: Any) -> None:
    model, _ = pruned_fit
    complete = [t for t in model.study_.trials if t.state == TrialState.COMPLETE]
    best = max(complete, key=lambda t: t.value)
    assert model.best_score_ == pytest.approx(best.value)
    # A pruned trial keeps its last intermediate value as its Optuna value: it must not
    # compete with full scores, even where that partial value is higher.
    board = model.leaderboard()
    scored = board[board["status"] == "ok"]
    assert board.iloc[0]["status"] == "ok"
    assert (board[board["status"] == "pruned"]["rank"] > scored["rank"].max()).all()


def test_pruned_trials_are_not_taught_to_the_knowledge_base(pruned_fit: Any) -> None:
    model, path = pruned_fit
    with KnowledgeBase.open(path, read_only=True) as knowledge:
        stored = knowledge.evaluations(model.task_id_)
    assert {e.status for e in stored} == {"ok"}
    n_pruned = sum(e.status == "pruned" for e in model.evaluations_)
    assert len(stored) == len(model.evaluations_) - n_pruned


def test_a_resumed_study_reads_pruned_trials_back_as_pruned(
    table: tuple[Any, Any], tmp_path: Path
) -> None:
    X, y = table
    url = f"sqlite:///{tmp_path / 'study.db'}"
    params: dict[str, Any] = {
        "n_trials": 10,
        "random_state": 0,
        "algorithms": ["linear", "naive_bayes", "knn"],
        "storage": url,
        "study_name": "pruning",
        "ensemble": False,
        "strategy": Strategy(
            meta_learner=None,
            n_warm_starts=0,
            validation="holdout",
            fidelities=(1 / 3,),
            pruner=AGGRESSIVE,
        ),
    }
    first = autometa.fit(X, y, **params)
    n_pruned = sum(e.status == "pruned" for e in first.evaluations_)
    assert n_pruned
    params["n_trials"] = 12  # two more, after the ten that count as done
    second = autometa.fit(X, y, **params)
    study = optuna.load_study(study_name="pruning", storage=url)
    assert len(study.trials) == 12
    task = Task.from_data(X, y, random_state=0)
    read_back = study_evaluations(study, task)
    assert [e.status for e in read_back][:10] == [e.status for e in first.evaluations_]
    assert second.best_score_ >= first.best_score_


# -- the steps of one evaluation --------------------------------------------------------------
def test_wilcoxon_prunes_folds_significantly_worse_than_the_best_trial() -> None:
    X, y = make_classification(n_samples=400, random_state=0)
    frame = pd.DataFrame(X)
    task = Task.from_data(frame, y, cv=5, random_state=0)
    splits = list(task.cv.split(frame, y))
    best = create_trial(value=0.6, intermediate_values={i: 0.6 for i in range(5)})
    snapshot = pruning_snapshot([best], resolve_pruner("auto", 5, "folds"))
    assert snapshot is not None
    assert isinstance(snapshot.pruner, WilcoxonPruner)
    chance = cross_validate_config(DummyClassifier(), frame, y, splits, "roc_auc", pruning=snapshot)
    # Four folds all worse than the best's: one-sided p = 1/16 < 0.1. Three would not do.
    assert chance.status == "pruned"
    assert len(chance.step_scores) == 4
    assert chance.fold_scores == chance.step_scores
    assert math.isnan(chance.score)
    good = cross_validate_config(
        LogisticRegression(max_iter=500), frame, y, splits, "roc_auc", pruning=snapshot
    )
    # Folds better than the best trial's are never pruned.
    assert good.status == "ok"
    assert len(good.fold_scores) == 5


def test_row_fidelities_run_before_the_full_fit_and_its_time_is_the_full_fits() -> None:
    X, y = make_classification(n_samples=3_000, random_state=1)
    frame = pd.DataFrame(X)
    task = Task.from_data(frame, y, random_state=0).with_validation("holdout")
    splits = list(task.cv.split(frame, y))
    rungs = fidelity_splits(task, splits, (1 / 9, 1 / 3), seed=0)
    train, valid = splits[0]
    assert [len(r) for r, _ in rungs] == [round(len(train) / 9), round(len(train) / 3)]
    for rows, rung_valid in rungs:
        assert set(rows) <= set(train)
        assert np.array_equal(rung_valid, valid)  # fewer than the bound: all of them
        assert set(np.unique(y[rows])) == {0, 1}  # stratified
    outcome = cross_validate_config(
        LogisticRegression(max_iter=500), frame, y, splits, "roc_auc", rungs=rungs
    )
    assert outcome.status == "ok"
    assert len(outcome.step_scores) == 3
    assert outcome.fold_scores == outcome.step_scores[-1:]
    assert outcome.score == outcome.step_scores[-1]


def test_cheap_fidelities_are_scored_on_a_bounded_part_of_the_validation_rows() -> None:
    y = np.tile([0, 1, 1, 2], 12_500)  # 50,000 rows
    frame = pd.DataFrame({"x": np.arange(len(y), dtype=float)})
    task = Task.from_data(frame, y, random_state=0).with_validation("holdout")
    splits = list(task.cv.split(frame, y))
    (rung,) = fidelity_splits(task, splits, (1 / 3,), seed=0)
    assert len(rung[1]) == MAX_FIDELITY_VALIDATION_ROWS
    assert set(rung[1]) <= set(splits[0][1])
    assert fidelity_splits(task, splits, (), seed=0) == ()
    # A user's k-fold cv keeps its folds as the steps: no fidelities.
    folds = list(Task.from_data(frame, y, cv=3, random_state=0).cv.split(frame, y))
    assert fidelity_splits(task, folds, (1 / 3,), seed=0) == ()


def test_projection_stops_only_what_it_can_measure() -> None:
    # Equal folds: each remaining one takes as long as the last.
    assert _projected_seconds([2.0], [800, 800, 800]) == pytest.approx(4.0)
    # One fidelity measured: the growth with rows is unknown, nothing larger is projected.
    assert _projected_seconds([1.0], [100, 300, 900]) == 0.0
    # Two: time tripled when rows tripled (exponent 1), so 900 rows take 9 s.
    assert _projected_seconds([1.0, 3.0], [100, 300, 900]) == pytest.approx(9.0)
    # Faster than the square root is taken as the square root; slower than 1.5 as 1.5.
    assert _projected_seconds([1.0, 1.0], [100, 400, 1600]) == pytest.approx(2.0)
    assert _projected_seconds([1.0, 100.0], [100, 400, 1600]) == pytest.approx(800.0)


# -- what a strategy may ask for ---------------------------------------------------------------
def test_row_fidelities_keep_at_least_two_thousand_rows_per_step() -> None:
    assert row_fidelities(150_000) == (1 / 27, 1 / 9, 1 / 3)
    assert row_fidelities(7_500) == (1 / 3,)
    assert row_fidelities(5_000) == ()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fidelities": (1 / 3,)}, ValueError, "need validation='holdout'"),
        ({"validation": "holdout", "fidelities": (0.5, 0.2)}, ValueError, "strictly increasing"),
        ({"validation": "holdout", "fidelities": (1.0,)}, ValueError, "between 0 and 1"),
        ({"pruner": SuccessiveHalvingPruner()}, ValueError, "replica"),
        ({"pruner": HyperbandPruner()}, ValueError, "replica"),
        ({"pruner": "median"}, TypeError, "BasePruner"),
    ],
)
def test_a_strategy_refuses_steps_it_cannot_take(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Strategy(**kwargs)


def test_the_automatic_pruner_fits_the_steps() -> None:
    assert isinstance(resolve_pruner("auto", 5, "folds"), WilcoxonPruner)
    assert isinstance(resolve_pruner("auto", 3, "rows"), PercentilePruner)
    assert resolve_pruner("auto", 1, "folds") is None  # one step: nothing to decide
    # Without a timeout "auto" does not prune: a pruned trial would be one of n_trials.
    assert resolve_pruner("auto", 5, "folds", timed=False) is None
    assert resolve_pruner(AGGRESSIVE, 5, "folds", timed=False) is AGGRESSIVE
    assert resolve_pruner(None, 5, "folds") is None
    given = ThresholdPruner(lower=0.5)
    assert resolve_pruner(given, 5, "folds") is given


def test_a_timed_fit_on_a_large_table_steps_through_fidelities() -> None:
    from autometa.contract import SearchBudget
    from autometa_selectors import with_fidelities

    y = np.tile([0, 1], 10_000)
    task = Task.from_data(np.zeros((len(y), 1)), y, random_state=0)
    holdout = Strategy(validation="holdout")
    timed = with_fidelities(holdout, task, SearchBudget(60.0, 1, len(y)))
    assert timed.fidelities == row_fidelities(15_000) == (1 / 3,)
    assert "row fidelities 1/3" in timed.reason
    # Without a timeout a pruned trial would use up one of n_trials with a partial look.
    assert with_fidelities(holdout, task, SearchBudget(None, 1, len(y))) is holdout
    folds = Strategy(validation="cv", n_splits=3)
    assert with_fidelities(folds, task, SearchBudget(60.0, 3, len(y))) is folds
