"""scikit-learn's conventions the estimators follow: tags that tell the truth, feature
names only for named columns, the input's column count."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.utils import get_tags

import autometa
from autometa import AutoMetaClassifier, AutoMetaRegressor

CHEAP = ["naive_bayes", "linear"]


def test_tags_welcome_missing_categorical_and_string_input() -> None:
    for estimator in (AutoMetaClassifier(), AutoMetaRegressor()):
        tags = get_tags(estimator)
        assert tags.input_tags.allow_nan
        assert tags.input_tags.categorical
        assert tags.input_tags.string
        assert not tags.non_deterministic, "one job: trials finish in the order asked"
    assert get_tags(AutoMetaClassifier(n_jobs=2)).non_deterministic
    assert get_tags(AutoMetaClassifier()).estimator_type == "classifier"


def test_feature_names_only_for_named_columns() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X, y = X.iloc[:120], y.iloc[:120]
    named = autometa.fit(X, y, n_trials=1, algorithms=CHEAP, ensemble=False)
    assert list(named.feature_names_in_) == list(X.columns)
    assert named.n_features_in_ == X.shape[1]
    plain = autometa.fit(X.to_numpy(), y, n_trials=1, algorithms=CHEAP, ensemble=False)
    assert not hasattr(plain, "feature_names_in_")
    assert plain.n_features_in_ == X.shape[1]
    mixed = X.iloc[:, :3].set_axis(["a", 1, "c"], axis=1)
    assert not hasattr(
        autometa.fit(mixed, y, n_trials=1, algorithms=CHEAP, ensemble=False), "feature_names_in_"
    )


def test_the_column_count_is_the_input_one_when_columns_get_roles() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "when": pd.date_range("2020-01-01", periods=60, freq="5D"),
            "x": rng.normal(size=60),
        }
    )
    y = (X["when"].dt.month > 6).astype(int)
    model = autometa.fit(X, y, n_trials=1, algorithms=CHEAP, ensemble=False)
    assert model.n_features_in_ == 2
    assert len(model.schema_.features) > 2
