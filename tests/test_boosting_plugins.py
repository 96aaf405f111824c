"""The first-party LightGBM and XGBoost plugins: the contract's checks, real fits, round
trips, and a machine without the libraries (the plugins offer nothing and nothing breaks)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

import autometa
from autometa._plugins import build_plugin_manager
from autometa.testing import check_algorithm, check_plugin

PLUGINS = {"lightgbm": "autometa_lightgbm", "xgboost": "autometa_xgboost"}


@pytest.fixture(params=sorted(PLUGINS))
def library(request: pytest.FixtureRequest) -> str:
    if os.environ.get("CI") == "true":
        importlib.import_module(request.param)  # CI installs the extras: never skip there
    pytest.importorskip(request.param)
    return str(request.param)


def test_each_plugin_passes_the_contract_checks(library: str) -> None:
    plugin = __import__(PLUGINS[library])
    check_plugin(plugin)
    algorithm = __import__(f"{PLUGINS[library]}.booster", fromlist=["booster"])
    check_algorithm(getattr(algorithm, library.upper()))


def test_each_plugin_is_registered_through_its_entry_point(library: str) -> None:
    plugins = build_plugin_manager()
    info = {i.name: i for i in plugins.info()}
    assert info[library].distribution == "autometa-ml"
    blocked = build_plugin_manager(blocked=[library])
    X, y = load_iris(return_X_y=True, as_frame=True)
    task = autometa.Task.from_data(X, y)
    assert library in plugins.algorithms(task)
    assert library not in blocked.algorithms(task)


@pytest.mark.parametrize("load", [load_breast_cancer, load_iris, load_diabetes])
def test_a_fit_on_the_library_alone_predicts_after_a_joblib_round_trip(
    library: str, load: object, tmp_path: object
) -> None:
    X, y = load(return_X_y=True, as_frame=True)  # type: ignore[operator]
    X = X.assign(group=np.where(np.arange(len(X)) % 3 == 0, "a", "b"))  # a categorical column
    X.loc[X.index[::7], X.columns[0]] = np.nan
    model = autometa.fit(X, y, algorithms=[library], n_trials=3, cv=3, random_state=0)
    assert model.best_config_.algorithm == library
    path = f"{tmp_path}/model.joblib"
    joblib.dump(model, path)
    again = joblib.load(path)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        assert set(model.predict(X)) <= set(y)


def test_without_the_libraries_the_plugins_offer_nothing_and_the_shipped_base_loads() -> None:
    """A base install: LightGBM and XGBoost unimportable, entry points still declared."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["lightgbm"] = None  # import fails as if the package were not installed
        sys.modules["xgboost"] = None
        import warnings
        warnings.simplefilter("error")  # the plugins must not warn either
        import autometa
        from autometa._plugins import build_plugin_manager
        from sklearn.datasets import load_breast_cancer
        X, y = load_breast_cancer(return_X_y=True, as_frame=True)
        plugins = build_plugin_manager()
        task = autometa.Task.from_data(X, y)
        offered = plugins.algorithms(task)
        assert "lightgbm" not in offered and "xgboost" not in offered, sorted(offered)
        recommendations = autometa.recommend(X, y, k=25)
        assert recommendations
        assert all(r.config.algorithm not in ("lightgbm", "xgboost") for r in recommendations)
        print("ok", len(autometa.KnowledgeBase.default().tasks()))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok ")


def test_a_skops_file_of_the_library_loads_without_trusted_types(
    library: str, tmp_path: object
) -> None:
    """A first-party plugin's model loads by default (its booster is the library's model
    format, data; see autometa.persistence.SAFE_MODEL_TYPES)."""
    pytest.importorskip("skops")
    from skops.io import get_untrusted_types

    from autometa.persistence import SAFE_MODEL_TYPES, load_model, save_model

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = autometa.fit(X, y, algorithms=[library], n_trials=2, cv=3, random_state=0)
    path = save_model(model, f"{tmp_path}/model.skops")
    library_types = [t for t in get_untrusted_types(file=path) if t.startswith(library)]
    assert library_types, "the file holds the library's own types"
    assert set(library_types) <= SAFE_MODEL_TYPES
    again = load_model(path)
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
