"""SearchSpace: autometa's space and estimators inside the user's own Optuna loop."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.model_selection import cross_val_score

import autometa
from autometa import Config, SearchSpace


def test_warm_started_users_loop_samples_autometa_space(tiny_knowledge: Path) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    cheap = ["linear", "naive_bayes", "knn"]
    space = SearchSpace(X, y, algorithms=cheap, random_state=0)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    recs = autometa.warm_start(study, X, y, n=3, knowledge=str(tiny_knowledge), algorithms=cheap)
    assert recs, "the tiny knowledge base has multiclass tasks to learn from"
    suggested: list[Config] = []

    def objective(trial: optuna.Trial) -> float:
        config, estimator = space.suggest(trial)
        suggested.append(config)
        return float(cross_val_score(estimator, X, y, cv=3, scoring=space.scoring).mean())

    study.optimize(objective, n_trials=len(recs) + 3)

    assert suggested[: len(recs)] == [r.config for r in recs]  # warm starts first, as is
    assert [t.user_attrs["warm_start_rank"] for t in study.trials[: len(recs)]] == list(
        range(len(recs))
    )
    assert all(c.algorithm in cheap for c in suggested)
    assert space.scoring == "neg_log_loss"
    assert study.best_value > -0.3  # iris is easy: a good model's log loss is small
    best = space.estimator(study.best_params).fit(X, y)
    assert (best.predict(X) == y).mean() > 0.9


def test_the_estimator_takes_raw_data_clones_and_pickles() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "size": rng.normal(size=120),
            "colour": pd.Categorical(rng.choice(["red", "blue", None], size=120)),
            "flag": rng.choice([True, False], size=120),
        }
    )
    y = np.where(X["size"] > 0, "big", "small")
    space = SearchSpace(X, y, algorithms=["linear", "random_forest"], random_state=0)
    default = space.algorithms["linear"].default_config
    config, estimator = space.suggest(optuna.trial.FixedTrial(default.to_trial_params()))
    assert config == default
    model = clone(estimator).fit(X, y)
    assert (model.predict(X) == y).mean() > 0.9
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X.iloc[:5]), model.predict(X.iloc[:5]))
    from_array = space.estimator(config).fit(X.to_numpy(), y)  # same columns, no names
    assert from_array.predict(X.to_numpy()[:3]).shape == (3,)
    assert list(model[:-1].get_feature_names_out()) == ["size", "colour", "flag"]


def test_a_config_outside_the_space_is_named() -> None:
    X, y = load_iris(return_X_y=True)
    space = SearchSpace(X, y, algorithms=["knn"])
    assert "knn" in repr(space)
    with pytest.raises(ValueError, match=r"'linear' is not in this space; it has \['knn'\]"):
        space.estimator({"algorithm": "linear", "linear__C": 1.0})
    with pytest.raises(ValueError, match=r"algorithms=\['nope'\] are not offered"):
        SearchSpace(X, y, algorithms=["nope"])


def test_fit_resumes_a_study_the_users_loop_started(tmp_path: Path) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    space = SearchSpace(X, y, algorithms=["naive_bayes", "knn"])
    study = optuna.create_study(storage=url, study_name="mine", direction="maximize")

    def objective(trial: optuna.Trial) -> Any:
        _, estimator = space.suggest(trial)
        return cross_val_score(estimator, X, y, cv=3, scoring=space.scoring).mean()

    study.optimize(objective, n_trials=2)
    model = autometa.fit(
        X,
        y,
        n_trials=3,
        storage=url,
        study_name="mine",
        algorithms=["naive_bayes", "knn"],
        knowledge=str(tmp_path / "kb.db"),
    )
    assert len(model.evaluations_) == 3  # the two of the user's loop count
    assert len(model.study_.trials) == 3
