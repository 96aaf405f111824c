"""Ensembles of what the search evaluated: scoring predictions, selection, the fitted model."""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from estimators import FailsOnManyRows
from optuna.distributions import CategoricalDistribution
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import get_scorer

import autometa
from autometa import AutoMetaClassifier, hookimpl
from autometa._cli import main
from autometa.contract import Algorithm, Config, Evaluation, Strategy
from autometa.persistence import load_model, save_model
from autometa.search._ensemble import (
    KeptTrial,
    PredictionStore,
    score_predictions,
    select_ensemble,
    weighted_predictions,
)
from autometa.search._ensemble_model import WeightedEnsemble
from autometa.search._out_of_fold import predict_for_ensemble

CHEAP = ["linear", "naive_bayes", "knn", "sgd"]
RANDOM = Strategy(None, 0, "random", "cv", 3)
"""A cold random search over 3 folds: diverse trials, quickly (no learner to fit)."""


@pytest.fixture(scope="module")
def cancer() -> tuple[Any, Any]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:240], y.iloc[:240]


@pytest.fixture(scope="module")
def wine() -> tuple[Any, Any]:
    return load_wine(return_X_y=True, as_frame=True)


@pytest.fixture(scope="module")
def wine_model(wine: tuple[Any, Any]) -> Any:
    X, y = wine
    return autometa.fit(X, y, n_trials=8, random_state=0, strategy=RANDOM, algorithms=CHEAP)


# -- scoring prediction arrays -----------------------------------------------------------
@pytest.mark.parametrize(
    ("scoring", "loader", "kind"),
    [
        ("roc_auc", load_breast_cancer, "binary"),
        ("neg_log_loss", load_wine, "multiclass"),
        ("accuracy", load_wine, "multiclass"),
        ("roc_auc_ovr", load_wine, "multiclass"),
        ("r2", load_diabetes, "regression"),
        ("neg_mean_absolute_error", load_diabetes, "regression"),
    ],
)
def test_predictions_score_as_the_scorer_scores_the_model(
    scoring: str, loader: Any, kind: str
) -> None:
    X, y = loader(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    train, valid = np.arange(len(y)) % 3 != 0, np.arange(len(y)) % 3 == 0
    if kind == "regression":
        model: Any = LinearRegression().fit(X[train], y[train])
        classes = None
    else:
        model = LogisticRegression(C=0.05, max_iter=500).fit(X[train], y[train])
        classes = np.unique(y)
    predictions = predict_for_ensemble(model, X[valid], classes)
    expected = get_scorer(scoring)(model, X[valid], y[valid])
    assert score_predictions(scoring, predictions, y[valid], classes) == pytest.approx(expected)


def test_a_classifier_without_probabilities_contributes_one_hot_labels() -> None:
    X, y = load_wine(return_X_y=True)

    class LabelsOnly:
        classes_ = np.array([0, 1, 2])

        def predict(self, X: Any) -> np.ndarray:
            return np.full(len(X), 2)

    one_hot = predict_for_ensemble(LabelsOnly(), X[:4], np.array([0, 1, 2]))
    np.testing.assert_array_equal(one_hot, np.tile([0.0, 0.0, 1.0], (4, 1)))
    assert score_predictions("accuracy", one_hot, y[:4], np.array([0, 1, 2])) == 0.0


# -- selection and the memory bound ------------------------------------------------------
def _candidates(seed: int, n: int = 8) -> tuple[list[KeptTrial], np.ndarray]:
    """Noisy probability predictions of a binary target, each trial differently noisy."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=300)
    kept = []
    for number in range(n):
        logit = (2 * y - 1) * rng.uniform(0.2, 1.5) + rng.normal(0, 1.5, size=300)
        p1 = 1 / (1 + np.exp(-logit))
        proba = np.column_stack([1 - p1, p1]).astype(np.float32)
        evaluation = Evaluation("t", Config("linear", {"C": number}), 0.5 + number / 100, 1.0)
        kept.append(KeptTrial(number, evaluation, proba))
    return kept, y


@pytest.mark.parametrize("scoring", ["roc_auc", "neg_log_loss", "accuracy"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_selection_never_scores_below_its_best_member(scoring: str, seed: int) -> None:
    candidates, y = _candidates(seed)
    classes = np.array([0, 1])
    selection = select_ensemble(candidates, y, scoring, classes, size=10)
    assert selection is not None
    singles = [score_predictions(scoring, c.predictions, y, classes) for c in candidates]
    searchs_best = candidates[-1]  # the best trial score
    assert selection.best_single == searchs_best.number
    assert selection.best_single_score == pytest.approx(singles[-1])
    assert selection.score >= selection.best_single_score
    if len(selection.weights) > 1:  # a combination beats every candidate alone
        assert selection.score >= max(singles)
    else:
        assert selection.weights == {searchs_best.number: 1.0}
    assert sum(selection.weights.values()) == pytest.approx(1.0)
    recomputed = score_predictions(
        scoring, weighted_predictions(candidates, selection.weights), y, classes
    )
    assert recomputed == pytest.approx(selection.score)
    if scoring == "roc_auc":  # noisy, independent errors: averaging helps
        assert selection.score > max(singles)
        assert len(selection.weights) > 1


def test_ties_go_to_fewer_and_cheaper_members() -> None:
    candidates, y = _candidates(0, n=1)
    only = candidates[0]
    slow = KeptTrial(1, Evaluation("t", Config("knn", {}), 0.5, 9.0), only.predictions.copy())
    fast = KeptTrial(2, Evaluation("t", Config("sgd", {}), 0.5, 0.1), only.predictions.copy())
    selection = select_ensemble([slow, fast], y, "roc_auc", np.array([0, 1]), size=5)
    assert selection is not None
    assert selection.weights == {2: 1.0}  # identical predictions: one member, the cheaper


def test_a_selection_that_combines_nothing_is_the_searchs_best() -> None:
    # The search's best (trial score 0.9) pools worse than a runner-up (0.8) whose
    # probabilities are calibrated: 0.9 where 90% of the rows are positive. Any mixture with
    # the softer 0.7 is less sharp than the truth and scores worse, so the greedy rounds keep
    # one member, and that member is the search's choice, not the runner-up.
    y = np.repeat([1, 0], 200)
    signal = y.copy()
    signal[::10] = 1 - signal[::10]  # one row in ten points the wrong way
    sharp, soft = np.where(signal == 1, 0.9, 0.1), np.where(signal == 1, 0.7, 0.3)
    best = KeptTrial(0, Evaluation("t", Config("knn", {}), 0.9, 1.0), _two_columns(soft))
    runner_up = KeptTrial(1, Evaluation("t", Config("sgd", {}), 0.8, 1.0), _two_columns(sharp))
    classes = np.array([0, 1])
    pooled = {
        c.number: score_predictions("neg_log_loss", c.predictions, y, classes)
        for c in (best, runner_up)
    }
    assert pooled[runner_up.number] > pooled[best.number]  # the pooled score prefers the other
    selection = select_ensemble([best, runner_up], y, "neg_log_loss", classes, size=5)
    assert selection is not None
    assert selection.weights == {best.number: 1.0}
    assert selection.score == pytest.approx(pooled[best.number])
    assert (selection.best_single, selection.best_single_score) == (0, selection.score)


def _two_columns(p1: np.ndarray) -> np.ndarray:
    return np.column_stack([1 - p1, p1]).astype(np.float32)


def test_the_store_keeps_only_the_best_trials_within_its_memory_bound() -> None:
    rows = np.arange(1000)
    one_trial = 1000 * 3 * 4  # float32, three classes
    store = PredictionStore(rows, width=3, memory_limit_mb=2.5 * one_trial / 2**20)
    assert store.capacity == 2
    rng = np.random.default_rng(0)
    scores = rng.permutation(10) / 10
    for number, score in enumerate(scores):
        evaluation = Evaluation("t", Config("linear", {"C": number}), float(score), 1.0)
        store.add(number, evaluation, rng.random((1000, 3)))  # float64 in, float32 kept
    assert store.offered == 10
    assert sorted(k.evaluation.score for k in store.kept.values()) == [0.8, 0.9]
    assert store.nbytes <= store.memory_limit_mb * 2**20
    assert all(k.predictions.dtype == np.float32 for k in store.kept.values())


# -- the fitted estimator ----------------------------------------------------------------
def test_fit_returns_an_ensemble_that_beats_or_ties_its_best_member(
    wine: tuple[Any, Any], wine_model: Any
) -> None:
    X = wine[0]
    model = wine_model
    summary = model.ensemble_
    assert summary is not None
    assert summary.members
    assert sum(summary.weights) == pytest.approx(1.0)
    assert summary.score >= summary.best_single_score
    assert summary.n_candidates == sum(e.ok for e in model.evaluations_)
    assert summary.n_without_predictions == 0
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])
    if len(summary.members) > 1:
        assert isinstance(model.model_, WeightedEnsemble)
    text = model.explain()
    assert "Ensemble:" in text
    for member in summary.members:
        assert f"weight {member.weight:.3f}  trial {member.trial_number}" in text


def test_regression_ensemble_on_holdout_validation() -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    holdout = Strategy(None, 0, "random", "holdout")
    model = autometa.fit(
        X, y, n_trials=6, random_state=1, strategy=holdout, algorithms=["linear", "knn", "sgd"]
    )
    summary = model.ensemble_
    assert summary is not None
    assert summary.members
    assert summary.score >= summary.best_single_score
    assert sum(summary.weights) == pytest.approx(1.0)
    assert model.predict(X).shape == (len(y),)
    assert model.score(X, y) > 0.3


def test_repeated_cv_scores_every_fold_and_ensembles_the_mean_over_repeats(
    cancer: tuple[Any, Any],
) -> None:
    X, y = cancer
    repeated = Strategy(None, 0, "random", "cv", 3, n_repeats=2)
    model = autometa.fit(X, y, n_trials=4, random_state=0, strategy=repeated, algorithms=CHEAP)
    complete = [t for t in model.study_.trials if t.user_attrs.get("status") == "ok"]
    assert complete
    for trial in complete:
        assert sorted(trial.intermediate_values) == list(range(6))  # 3 folds x 2 repeats
        assert trial.value == pytest.approx(np.mean(trial.user_attrs["fold_scores"]))
    summary = model.ensemble_
    assert summary is not None
    assert summary.n_without_predictions == 0  # every row predicted, once per repeat
    assert summary.score >= summary.best_single_score
    assert "(3 folds x 2 repeats)" in model.explain()


def test_a_one_trial_search_returns_that_model(cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    params: dict[str, Any] = dict(n_trials=1, random_state=0, algorithms=CHEAP, strategy=RANDOM)
    single = autometa.fit(X, y, ensemble=False, **params)
    model = autometa.fit(X, y, **params)
    assert not isinstance(model.model_, WeightedEnsemble)
    assert model.ensemble_ is not None
    assert [m.config for m in model.ensemble_.members] == [model.best_config_]
    assert model.ensemble_.weights == (1.0,)
    np.testing.assert_array_equal(model.predict_proba(X), single.predict_proba(X))


def test_ensemble_false_is_the_single_refit_of_the_best(cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    params: dict[str, Any] = dict(n_trials=5, random_state=0, algorithms=CHEAP, strategy=RANDOM)
    off = autometa.fit(X, y, ensemble=False, **params)
    on = autometa.fit(X, y, **params)
    assert off.ensemble_ is None
    assert "Ensemble: off" in off.explain()
    # the same search either way: keeping predictions does not change trial scores
    assert [e.config for e in off.evaluations_] == [e.config for e in on.evaluations_]
    np.testing.assert_allclose(
        [e.score for e in off.evaluations_], [e.score for e in on.evaluations_]
    )
    best = max((e for e in off.evaluations_ if e.ok), key=lambda e: e.score)
    assert off.best_config_ == best.config
    space = autometa.SearchSpace(X, y, random_state=0, algorithms=CHEAP)
    alone = space.estimator(off.best_config_).fit(X, y)
    np.testing.assert_allclose(off.predict_proba(X), alone.predict_proba(X))


def test_a_tiny_memory_bound_keeps_few_trials(cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    one_trial_mb = len(y) * 2 * 4 / 2**20  # every row validated, two classes, float32
    model = autometa.fit(
        X,
        y,
        n_trials=6,
        random_state=0,
        strategy=RANDOM,
        algorithms=CHEAP,
        ensemble_memory_limit=2.5 * one_trial_mb,
    )
    summary = model.ensemble_
    assert summary is not None
    assert summary.n_candidates == 2
    assert summary.n_without_predictions == 0  # evicted by the bound, not without any
    assert any("kept" in note for note in summary.notes)
    below = autometa.fit(
        X,
        y,
        n_trials=2,
        random_state=0,
        strategy=RANDOM,
        algorithms=CHEAP,
        ensemble_memory_limit=one_trial_mb / 2,
    )
    assert below.ensemble_ is not None
    assert not below.ensemble_.members
    assert "no ensemble" in below.explain()


def test_joblib_and_skops_round_trips_predict_identically(
    wine: tuple[Any, Any], wine_model: Any, tmp_path: Path
) -> None:
    pytest.importorskip("skops")
    X = wine[0]
    model = wine_model
    assert isinstance(model.model_, WeightedEnsemble), model.explain()
    expected = model.predict_proba(X)
    for name in ("model.joblib", "model.skops"):
        loaded = load_model(save_model(model, tmp_path / name))
        np.testing.assert_array_equal(loaded.predict_proba(X), expected)
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
        assert loaded.ensemble_ == model.ensemble_


def test_trials_in_worker_processes_return_their_predictions(cancer: tuple[Any, Any]) -> None:
    X, y = cancer
    model = autometa.fit(
        X, y, n_trials=4, random_state=0, strategy=RANDOM, algorithms=CHEAP, n_jobs=2
    )
    summary = model.ensemble_
    assert summary is not None
    ok = sum(e.ok for e in model.evaluations_)
    assert ok >= 1
    assert summary.n_candidates == ok
    assert summary.n_without_predictions == 0


def _durable(tmp_path: Path, **more: Any) -> dict[str, Any]:
    """Fit parameters of a cheap random search in a durable SQLite study."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    return (
        dict(random_state=0, strategy=RANDOM, algorithms=CHEAP, storage=storage, study_name="ens")
        | more
    )


def test_a_durable_study_ensembles_this_process_trials_without_an_artifact_store(
    cancer: tuple[Any, Any], tmp_path: Path
) -> None:
    X, y = cancer
    params = _durable(tmp_path, artifact_store=None)
    first = autometa.fit(X, y, n_trials=3, **params)
    assert first.ensemble_ is not None
    assert first.ensemble_.n_without_predictions == 0
    second = autometa.fit(X, y, n_trials=5, **params)  # resumes: two more trials here
    summary = second.ensemble_
    assert summary is not None
    earlier_ok = sum(e.ok for e in first.evaluations_)
    assert summary.n_without_predictions == earlier_ok
    assert summary.n_candidates == sum(e.ok for e in second.evaluations_) - earlier_ok
    assert "have no predictions here" in second.explain()
    again = autometa.fit(X, y, n_trials=5, **params)  # nothing left to run: no predictions
    assert again.ensemble_ is not None
    assert not again.ensemble_.members
    assert "no trial of this fit has predictions" in again.explain()
    assert not (tmp_path / "study.db.artifacts").exists()


def test_a_durable_study_ensembles_every_fits_trials_through_its_artifact_store(
    cancer: tuple[Any, Any], tmp_path: Path
) -> None:
    """Each fit of a resumed SQLite study runs in its own call, as another process
    would; by default its trials' predictions go to ``study.db.artifacts``."""
    X, y = cancer
    params = _durable(tmp_path)
    first = autometa.fit(X, y, n_trials=3, **params)
    assert any((tmp_path / "study.db.artifacts").iterdir())
    second = autometa.fit(X, y, n_trials=5, **params)  # resumes: two more trials here
    summary = second.ensemble_
    assert summary is not None
    assert summary.n_without_predictions == 0
    assert summary.n_candidates == sum(e.ok for e in second.evaluations_)
    again = autometa.fit(X, y, n_trials=5, **params)  # nothing left to run: all shared
    assert again.ensemble_ is not None
    assert again.ensemble_.members
    assert again.ensemble_.n_candidates == summary.n_candidates
    assert again.ensemble_.score == pytest.approx(summary.score)
    np.testing.assert_allclose(again.predict_proba(X), second.predict_proba(X))
    assert first.ensemble_ is not None
    assert first.ensemble_.n_candidates == sum(e.ok for e in first.evaluations_)


def test_shared_predictions_of_other_rows_are_not_mixed_in(
    cancer: tuple[Any, Any], tmp_path: Path
) -> None:
    """A holdout of another seed validates on other rows: its predictions are not used."""
    X, y = cancer
    params: dict[str, Any] = dict(
        strategy=Strategy(None, 0, "random", "holdout", 3),
        algorithms=CHEAP,
        storage=f"sqlite:///{tmp_path / 'study.db'}",
        study_name="ens",
        artifact_store=tmp_path / "shared",
    )
    autometa.fit(X, y, n_trials=3, random_state=0, **params)
    assert any((tmp_path / "shared").iterdir())
    other = autometa.fit(X, y, n_trials=3, random_state=1, **params)  # nothing left to run
    summary = other.ensemble_
    assert summary is not None
    assert summary.n_candidates == 0
    assert "no trial of this fit has predictions" in other.explain()
    same_rows = autometa.fit(X, y, n_trials=3, random_state=0, **params)
    assert same_rows.ensemble_ is not None
    assert same_rows.ensemble_.n_candidates == sum(e.ok for e in same_rows.evaluations_)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"ensemble_size": 0}, "ensemble_size must be a positive integer"),
        ({"ensemble_memory_limit": -1}, "ensemble_memory_limit must be a positive number"),
        ({"ensemble": "yes"}, "ensemble must be True or False"),
    ],
)
def test_bad_ensemble_settings_are_named(
    cancer: tuple[Any, Any], params: dict[str, Any], match: str
) -> None:
    X, y = cancer
    with pytest.raises(ValueError, match=match):
        AutoMetaClassifier(n_trials=1, strategy=RANDOM, **params).fit(X, y)


def test_cli_fit_no_ensemble(tiny_corpus: Path) -> None:
    data = tiny_corpus / "data" / "cancer_small.csv.gz"
    args = ["fit", str(data), "--target", "target", "--n-trials", "2", "--random-state", "0"]
    off = CliRunner().invoke(main, [*args, "--no-ensemble"])
    assert off.exit_code == 0, off.output
    assert "Ensemble: off" in off.output
    on = CliRunner().invoke(main, args)
    assert on.exit_code == 0, on.output
    assert "Ensemble: off" not in on.output
    assert "Ensemble:" in on.output


def test_cli_durable_fits_share_predictions_in_the_artifact_store_they_are_given(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    data = tiny_corpus / "data" / "cancer_small.csv.gz"
    args = ["fit", str(data), "--target", "target", "--n-trials", "2", "--random-state", "0"]
    durable = ["--storage", f"sqlite:///{tmp_path / 'runs.db'}", "--study-name", "s"]
    shared = tmp_path / "shared"
    first = CliRunner().invoke(main, [*args, *durable, "--artifact-store", str(shared)])
    assert first.exit_code == 0, first.output
    assert any(shared.iterdir())
    durable[1] = f"sqlite:///{tmp_path / 'other.db'}"
    none = CliRunner().invoke(main, [*args, *durable, "--artifact-store", "none"])
    assert none.exit_code == 0, none.output
    assert not (tmp_path / "other.db.artifacts").exists()


def test_a_member_whose_refit_fails_is_dropped_and_the_weights_renormalised(
    cancer: tuple[Any, Any],
) -> None:
    X, y = cancer  # 240 rows: folds of 160 fit, the refit on all rows does not
    fragile = _one_parameter_plugin("fragile", [200, 220], lambda rows: FailsOnManyRows(rows))
    model = autometa.fit(
        X,
        y,
        n_trials=8,
        random_state=0,
        strategy=RANDOM,
        plugins=[fragile],
        algorithms=["fragile", "naive_bayes", "knn"],
    )
    summary = model.ensemble_
    assert summary is not None
    assert any("fragile" in reason and "refit failed" in reason for reason in summary.dropped)
    assert summary.members
    assert all(m.config.algorithm != "fragile" for m in summary.members)
    assert sum(summary.weights) == pytest.approx(1.0)
    assert model.best_config_.algorithm != "fragile"
    assert model.score(X, y) > 0.8


def test_repeated_configurations_are_not_reported_as_trials_without_predictions(
    cancer: tuple[Any, Any],
) -> None:
    X, y = cancer
    two_points = _one_parameter_plugin(
        "two_points", [0.1, 1.0], lambda C: LogisticRegression(C=C, max_iter=500)
    )
    model = autometa.fit(
        X,
        y,
        n_trials=6,
        random_state=0,
        strategy=RANDOM,
        plugins=[two_points],
        algorithms=["two_points"],
    )
    assert any("repeat_of" in t.user_attrs for t in model.study_.trials)  # six trials, two points
    summary = model.ensemble_
    assert summary is not None
    assert summary.n_candidates == 2
    assert summary.n_without_predictions == 0
    assert "have no predictions here" not in model.explain()


def _one_parameter_plugin(
    name: str, values: list[Any], make: Callable[[Any], Any]
) -> types.SimpleNamespace:
    """A plugin of one binary classifier ``make(value)`` whose one parameter takes ``values``."""
    algorithm = Algorithm(
        name,
        ("binary",),
        lambda params, task: make(params["value"]),
        lambda task: {"value": CategoricalDistribution(values)},
        {"value": values[0]},
    )
    return types.SimpleNamespace(
        autometa_plugin_name=name, autometa_algorithms=hookimpl(lambda task: [algorithm])
    )
