"""The example plugin conforms to autometa's contract and works inside a real fit.

Run from the package folder after ``pip install -e .``: ``python -m pytest``.
"""

from __future__ import annotations

import math
import warnings

import autometa_example_plugin
import numpy as np
import pandas as pd
import pytest
from autometa_example_plugin import LDA, make_lda, meta_features
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import cross_val_score

import autometa
import autometa.testing
from autometa import KnowledgeBase
from autometa._plugins import build_plugin_manager
from autometa.contract import Task


# -- the conformance checks autometa offers every plugin author -----------------------------
def test_plugin_registers_and_its_hooks_return_the_right_types() -> None:
    autometa.testing.check_plugin(autometa_example_plugin)


def test_lda_behaves_as_the_search_needs() -> None:
    autometa.testing.check_algorithm(LDA, n_configs=5)


def test_meta_features_are_finite_reproducible_and_do_not_clash() -> None:
    autometa.testing.check_meta_features(autometa_example_plugin)


# -- what the plugin itself promises ---------------------------------------------------------
def test_lda_is_offered_only_for_classification_with_enough_rows() -> None:
    tasks = autometa.testing.small_tasks()
    assert autometa_example_plugin.autometa_algorithms(tasks["binary"]) == [LDA]
    assert autometa_example_plugin.autometa_algorithms(tasks["regression"]) == []
    tiny = Task.from_data(np.arange(8.0).reshape(-1, 1), ["a", "b", "c", "d"] * 2, cv=2)
    assert autometa_example_plugin.autometa_algorithms(tiny) == []  # 4 rows per fold, 4 classes


def test_shrinkage_helps_with_few_rows_per_feature() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    task = Task.from_data(X.iloc[:60], y.iloc[:60], cv=3, random_state=0)  # 60 rows, 30 columns

    def auc(mode: str) -> float:
        model = make_lda({"shrinkage_mode": mode}, task)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # plain LDA warns that variables are collinear
            return float(
                cross_val_score(model, task.X, task.y, cv=task.cv, scoring="roc_auc").mean()
            )

    plain, shrunk = auc("none"), auc("ledoit_wolf")
    assert shrunk > 0.97
    assert shrunk > plain + 0.05


def test_lda_survives_folds_where_no_feature_varies_within_the_classes() -> None:
    constant = pd.DataFrame({"flag": np.ones(40), "colour": ["red", "blue"] * 20})
    task = Task.from_data(constant, np.arange(40) % 2, cv=2, random_state=0)
    autometa.testing.check_algorithm(LDA, task)  # scikit-learn's SVD solver raises here
    model = make_lda({}, task).fit(task.X, task.y)
    np.testing.assert_allclose(model.predict_proba(task.X), 0.5)  # the class priors


def test_meta_feature_values() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=200)
    X = pd.DataFrame(
        {
            "counts": rng.integers(0, 9, 200).astype(float),
            "twin": 2 * base + 1,  # perfectly correlated with "base"
            "base": base,
            "label": rng.choice(np.array(["u", "v"], dtype=object), 200),
        }
    )
    X.loc[::5, "counts"] = np.nan  # missing cells do not make a column non-integer
    task = Task.from_data(X, np.arange(200) % 2)
    values = meta_features(task)
    assert values["example_integer_fraction"] == pytest.approx(1 / 3)
    numeric = task.X[["counts", "twin", "base"]]
    pairs = numeric.corr().abs().to_numpy()[np.triu_indices(3, k=1)]
    assert values["example_mean_abs_correlation"] == pytest.approx(pairs.mean())
    assert pairs.max() == pytest.approx(1.0)


def test_meta_features_are_nan_without_enough_numeric_columns() -> None:
    X = pd.DataFrame({"label": ["u", "v", "w", "u"] * 5, "x": np.linspace(0.5, 9.5, 20)})
    values = meta_features(Task.from_data(X, np.arange(20) % 2))
    assert values["example_integer_fraction"] == 0.0
    assert math.isnan(values["example_mean_abs_correlation"])  # one numeric column: no pair


# -- installed: found through the entry point and used by autometa.fit ---------------------
def test_installed_plugin_is_searched_and_its_meta_features_recorded() -> None:
    infos = {info.name: info for info in build_plugin_manager().info()}
    assert "example" in infos, (
        "the entry point is not installed; run `pip install -e examples/autometa_example_plugin`"
    )
    assert infos["example"].distribution == "autometa-example-plugin"
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = autometa.fit(
        X.iloc[:200],
        y.iloc[:200],
        n_trials=3,
        algorithms=["lda"],
        knowledge=KnowledgeBase.in_memory(),
        random_state=0,
    )
    assert {e.config.algorithm for e in model.evaluations_} == {"lda"}
    assert model.best_config_.algorithm == "lda"
    assert model.best_score_ > 0.95
    assert model.meta_features_.groups["example"] == (
        "example_integer_fraction",
        "example_mean_abs_correlation",
    )
    assert 0.0 < model.meta_features_.values["example_mean_abs_correlation"] < 1.0
    np.testing.assert_allclose(model.predict_proba(X.iloc[200:260]).sum(axis=1), 1.0)
