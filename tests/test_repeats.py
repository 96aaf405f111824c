"""A configuration the sampler proposes again is told its earlier outcome, not refitted."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from estimators import LoggedFitsClassifier
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState
from sklearn.datasets import load_breast_cancer

from autometa.contract import Algorithm, Task
from autometa.search._budget import Budget
from autometa.search._loop import run_search
from autometa.search._repeats import MAX_REPEATS_IN_A_ROW, REPEAT_ATTR
from autometa.search._space import make_sampler


@pytest.fixture(scope="module")
def task() -> Task:
    X, y = load_breast_cancer(return_X_y=True)
    return Task.from_data(X[:200], y[:200], cv=3, random_state=0)


def logged(log: Path, labels: list[str]) -> dict[str, Algorithm]:
    """One algorithm whose only parameter takes ``labels``: a space of that many points."""
    return {
        "logged": Algorithm(
            "logged",
            ("binary", "multiclass"),
            lambda params, task: LoggedFitsClassifier(str(log), params["label"]),
            lambda task: {"label": CategoricalDistribution(labels)},
            {"label": labels[0]},
        )
    }


def fits(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").split() if log.exists() else []


def new_study() -> optuna.Study:
    return optuna.create_study(direction="maximize", sampler=make_sampler("tpe", 0))


def test_a_repeat_is_told_the_earlier_outcome_without_a_fit(task: Task, tmp_path: Path) -> None:
    log = tmp_path / "fits.log"
    labels = ["a", "b", "c"]
    study = new_study()
    outcome = run_search(task, logged(log, labels), study, Budget(n_trials=8, deadline=None))
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == len(outcome.evaluations) == 8
    repeats = [t for t in trials if REPEAT_ATTR in t.user_attrs]
    assert repeats, "8 trials over 3 points must repeat one"
    by_number = {t.number: t for t in trials}
    for repeat in repeats:
        earlier = by_number[repeat.user_attrs[REPEAT_ATTR]]
        assert earlier.number < repeat.number
        assert REPEAT_ATTR not in earlier.user_attrs
        assert repeat.params == earlier.params
        assert repeat.value == earlier.value
        assert repeat.intermediate_values == earlier.intermediate_values  # the fold scores
    # Each point was fitted once per fold, however often it was proposed.
    fitted = fits(log)
    assert sorted(set(fitted)) == sorted({t.params["logged__label"] for t in trials})
    assert len(fitted) == 3 * len(set(fitted))


def test_the_trial_after_a_repeat_is_a_random_point_of_the_space(
    task: Task, tmp_path: Path
) -> None:
    study = new_study()
    algorithms = {
        **logged(tmp_path / "fits.log", ["a"]),
        "wide": Algorithm(
            "wide",
            ("binary", "multiclass"),
            lambda params, task: LoggedFitsClassifier(str(tmp_path / "wide.log"), "w"),
            lambda task: {"x": FloatDistribution(0.0, 1.0)},
            {"x": 0.5},
        ),
    }
    study.enqueue_trial({"algorithm": "logged", "logged__label": "a"})
    study.enqueue_trial({"algorithm": "logged", "logged__label": "a"})
    run_search(task, algorithms, study, Budget(n_trials=3, deadline=None))
    first, repeat, after = study.get_trials()
    assert REPEAT_ATTR not in first.user_attrs
    assert repeat.user_attrs[REPEAT_ATTR] == first.number
    # Enqueued by the search (Optuna marks enqueued trials' parameters as fixed).
    assert "fixed_params" in after.system_attrs
    assert REPEAT_ATTR not in after.user_attrs
    assert after.params["algorithm"] == "wide"  # the one point of "logged" was evaluated


def test_a_repeat_as_the_last_trial_leaves_no_trial_waiting(task: Task, tmp_path: Path) -> None:
    study = new_study()
    study.enqueue_trial({"algorithm": "logged", "logged__label": "a"})
    study.enqueue_trial({"algorithm": "logged", "logged__label": "a"})
    run_search(task, logged(tmp_path / "fits.log", ["a", "b"]), study, Budget(2, None))
    first, repeat = study.get_trials()  # no third, enqueued and never run
    assert repeat.user_attrs[REPEAT_ATTR] == first.number
    assert {t.state for t in study.get_trials()} == {TrialState.COMPLETE}


def test_the_repeats_are_reproducible_for_a_seed(task: Task, tmp_path: Path) -> None:
    def params() -> list[dict[str, object]]:
        study = new_study()
        run_search(task, logged(tmp_path / "f.log", ["a", "b"]), study, Budget(6, None))
        return [t.params for t in study.get_trials()]

    assert params() == params()


def test_a_space_the_search_has_exhausted_ends_the_search(task: Task, tmp_path: Path) -> None:
    log = tmp_path / "fits.log"
    study = new_study()
    outcome = run_search(task, logged(log, ["a", "b"]), study, Budget(n_trials=500, deadline=None))
    assert len(outcome.evaluations) < 500
    assert len(fits(log)) == 2 * 3  # two points, three folds each
    last = study.get_trials()[-MAX_REPEATS_IN_A_ROW:]
    assert all(REPEAT_ATTR in t.user_attrs for t in last)
