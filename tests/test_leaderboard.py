"""model.leaderboard(): every trial of a fit, best first, the same after a .skops round trip."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

import autometa
from autometa._leaderboard import COLUMNS

CHEAP = ["linear", "naive_bayes", "knn", "sgd"]


@pytest.fixture(scope="module")
def model() -> Any:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return autometa.fit(X.iloc[:200], y.iloc[:200], n_trials=6, random_state=0, algorithms=CHEAP)


def test_one_row_per_trial_best_first(model: Any) -> None:
    board = model.leaderboard()
    assert tuple(board.columns) == COLUMNS
    assert len(board) == len(model.evaluations_)
    assert board["rank"].tolist() == list(range(1, len(board) + 1))
    scores = board["score"].dropna().to_numpy()
    assert np.all(np.diff(scores) <= 0), "best score first"
    assert board.loc[0, "score"] == pytest.approx(model.best_score_)
    assert sorted(board["trial"]) == list(range(len(board)))
    assert set(board["algorithm"]) <= set(CHEAP)


def test_warm_starts_and_ensemble_members_are_marked(model: Any) -> None:
    board = model.leaderboard()
    first_recommended = model.recommendations_[0].config
    row = board[board["trial"] == 0].iloc[0]
    assert row["algorithm"] == first_recommended.algorithm
    assert row["params"] == dict(first_recommended.params)
    assert row["warm_start_rank"] == 0
    weights = board["ensemble_weight"]
    if model.ensemble_ is not None:
        assert math.isclose(weights.sum(), 1.0, rel_tol=1e-9)
        assert (weights > 0).sum() == len({m.config for m in model.ensemble_.members})
    else:
        assert (weights == 0).all()


def test_the_saved_model_has_the_same_leaderboard(model: Any, tmp_path: Any) -> None:
    pytest.importorskip("skops")
    from autometa.persistence import UntrustedTypesError, load_model, save_model

    path = tmp_path / "model.skops"
    save_model(model, path)
    try:
        loaded = load_model(path)
    except UntrustedTypesError as refused:  # e.g. a k-d tree of a kNN member, named
        loaded = load_model(path, trusted=refused.types)
    assert loaded.leaderboard().equals(model.leaderboard())
