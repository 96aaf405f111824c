"""Failure paths around a fit that used to lose work or mislead (issue 18's points 2, 4,
9, 10 and 12), each through the public API on real data."""

from __future__ import annotations

import signal
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

import autometa
from autometa import BudgetTooSmallError
from autometa.contract import Config, Evaluation
from autometa.knowledge import KnowledgeBase
from autometa.search._refit import check_outcome

CHEAP = ["naive_bayes", "linear"]


@pytest.fixture(scope="module")
def cancer() -> tuple[Any, Any]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:150], y.iloc[:150]


def test_a_timer_the_caller_set_survives_a_fit(cancer: tuple[Any, Any]) -> None:
    """Trials run under SIGALRM time limits; the caller's own timer and handler come back."""
    rang: list[int] = []

    def ring(signum: int, frame: Any) -> None:
        rang.append(signum)

    handler = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        # timeout makes every trial run under a time limit; n_trials ends the fit early
        autometa.fit(*cancer, n_trials=2, timeout=600, algorithms=CHEAP, ensemble=False)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 50.0 < left <= 100.0, "the caller's timer was cancelled or reset"
        assert signal.getsignal(signal.SIGALRM) is ring
        assert rang == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, handler)


def test_trials_stopped_by_memory_are_not_blamed_on_time() -> None:
    capped = [
        Evaluation(
            "t",
            Config("forest", {"n": n}),
            float("nan"),
            1.0,
            "capped",
            "exceeded the memory limit of 50 MB (MemoryError)",
        )
        for n in (1, 2)
    ]
    with pytest.raises(BudgetTooSmallError, match="exceeded the memory limit") as info:
        check_outcome(capped, None)
    assert "timeout" not in str(info.value)
    assert "memory_limit" in str(info.value)
    timed = Evaluation("t", Config("forest", {"n": 3}), float("nan"), 9.0, "capped", "time limit")
    with pytest.raises(BudgetTooSmallError, match=r"1 stopped by the time limit, 2 by the memory"):
        check_outcome([*capped, timed], 10.0)


def test_a_failed_final_write_to_the_knowledge_base_keeps_the_model(
    cancer: tuple[Any, Any], tmp_path: Path
) -> None:
    path = tmp_path / "team.db"
    autometa.fit(*cancer, n_trials=2, knowledge=str(path), algorithms=CHEAP, ensemble=False)
    before = KnowledgeBase.open(path, read_only=True).counts()
    # the same data under another scoring: the base refuses to re-score the stored task
    with pytest.warns(RuntimeWarning, match="could not be added to the knowledge base"):
        model = autometa.fit(
            *cancer,
            n_trials=2,
            knowledge=str(path),
            algorithms=CHEAP,
            scoring="accuracy",
            ensemble=False,
        )
    assert model.scoring_ == "accuracy"
    assert model.predict(cancer[0]).shape == (150,)
    assert KnowledgeBase.open(path, read_only=True).counts() == before, "nothing half-written"


def test_a_model_fitted_with_a_knowledge_base_object_pickles(
    cancer: tuple[Any, Any], tmp_path: Path
) -> None:
    path = tmp_path / "team.db"
    with KnowledgeBase.open(path) as knowledge:
        model = autometa.fit(
            *cancer, n_trials=2, knowledge=knowledge, algorithms=CHEAP, ensemble=False
        )
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    assert loaded.knowledge == str(path)  # opened again from there by a refit
    np.testing.assert_array_equal(loaded.predict(cancer[0]), model.predict(cancer[0]))
    shipped = autometa.fit(
        *cancer, n_trials=1, knowledge=KnowledgeBase.default(), algorithms=CHEAP, ensemble=False
    )
    assert joblib.load(_dumped(shipped, tmp_path)).knowledge is None  # the default again


def _dumped(model: Any, folder: Path) -> Path:
    path = folder / "other.joblib"
    joblib.dump(model, path)
    return path


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"timeout": True}, "timeout must be a positive number"),
        ({"n_trials": True}, "n_trials must be a positive integer"),
        ({"n_trials": 2.0}, "n_trials must be a positive integer"),
    ],
)
def test_booleans_are_not_budgets(
    cancer: tuple[Any, Any], params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        autometa.fit(*cancer, algorithms=CHEAP, **params)


@pytest.mark.parametrize("k", [2.5, True, 0])
def test_recommend_k_must_be_a_count(cancer: tuple[Any, Any], k: Any) -> None:
    with pytest.raises(ValueError, match="k must be a positive integer"):
        autometa.recommend(*cancer, k=k)


def test_a_bad_port_in_a_database_url_is_named_without_the_password(
    cancer: tuple[Any, Any],
) -> None:
    url = "postgresql+psycopg://me:s3cret@localhost:54x3/db"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no traceback of SQLAlchemy's int() either
        with pytest.raises(ValueError, match="not a valid database URL") as info:
            KnowledgeBase.open(url)
    assert "s3cret" not in str(info.value)
    assert "localhost:54x3" in str(info.value)
    with pytest.raises(ValueError, match="not a valid database URL") as info:
        autometa.fit(*cancer, n_trials=1, storage=url, algorithms=CHEAP)
    assert "s3cret" not in str(info.value)


def test_optuna_callbacks_see_every_trial_as_optimize_shows_it(cancer: tuple[Any, Any]) -> None:
    seen: list[tuple[int, str, float | None]] = []

    def record(study: Any, trial: Any) -> None:
        assert trial.number < len(study.trials)
        seen.append((trial.number, trial.state.name, trial.value))

    model = autometa.fit(*cancer, n_trials=3, algorithms=CHEAP, ensemble=False, callbacks=[record])
    assert [number for number, _, _ in seen] == [t.number for t in model.study_.trials]
    assert {state for _, state, _ in seen} <= {"COMPLETE", "FAIL"}
    best = max(value for _, state, value in seen if state == "COMPLETE")
    assert best == pytest.approx(model.best_score_)
    with pytest.raises(TypeError, match=r"Wrap a single one: \[callback\]"):
        autometa.fit(*cancer, n_trials=1, algorithms=CHEAP, callbacks=record)
