"""Every model autometa makes from its first-party algorithms loads from .skops with no
``trusted`` list (README, "Saved models and trust"), and a foreign type is still refused."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer, load_diabetes
from threadpoolctl import threadpool_limits

import autometa
from autometa._cli import main

pytest.importorskip("skops.io")
from autometa.persistence import UntrustedTypesError, load_model, save_model
from autometa_sklearn.catalogue import CATALOGUE

PLUGIN_ALGORITHMS = ("lightgbm", "xgboost")
"""The first-party plugins' algorithms; each is named after the library it needs."""


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Any:
    """Boosters on 80 rows are quickest on one OpenMP thread; on a busy machine a thread
    pool waiting for a second core makes each fit many times slower."""
    with threadpool_limits(limits=1):
        yield


def _names(kinds: tuple[str, ...]) -> list[str]:
    shipped = [a.name for a, _ in CATALOGUE if set(a.kinds) & set(kinds)]
    return [*dict.fromkeys(shipped), *PLUGIN_ALGORITHMS]


CASES = [("classification", n) for n in _names(("binary", "multiclass"))] + [
    ("regression", n) for n in _names(("regression",))
]


def tiny(kind: str) -> tuple[pd.DataFrame, pd.Series]:
    """80 rows, 6 numeric columns (few enough that k-NN builds a k-d tree), a missing value,
    a categorical column with few levels (one-hot) and one with many (HistGradientBoosting's
    native categories, the forests' ordinal codes, target encoding in the pipelines that
    standardise features: its folds are saved too)."""
    load = load_breast_cancer if kind == "classification" else load_diabetes
    X, y = load(return_X_y=True, as_frame=True)
    rows = np.random.RandomState(0).permutation(len(X))[:80]
    X, y = X.iloc[rows, :6].reset_index(drop=True), y.iloc[rows].reset_index(drop=True)
    X["group"] = np.where(np.arange(len(X)) % 3 == 0, "a", "b")
    X["many"] = [f"level{i % 25}" for i in range(len(X))]
    X.loc[3, X.columns[0]] = np.nan
    return X, y


def same_predictions(loaded: Any, model: Any, X: pd.DataFrame) -> None:
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize(("kind", "algorithm"), CASES, ids=[f"{k}-{a}" for k, a in CASES])
def test_each_first_party_algorithm_loads_without_trusted(
    kind: str, algorithm: str, tmp_path: Path
) -> None:
    if algorithm in PLUGIN_ALGORITHMS:
        pytest.importorskip(algorithm)
    X, y = tiny(kind)
    model = autometa.fit(
        X, y, algorithms=[algorithm], n_trials=1, warm_start=0, cv=2, random_state=0
    )
    assert model.best_config_.algorithm == algorithm
    loaded = load_model(save_model(model, tmp_path / "model.skops"))  # no trusted=
    same_predictions(loaded, model, X)


def test_the_readme_flow_fit_out_then_predict_needs_no_trust(tmp_path: Path) -> None:
    """`autometa fit --out model.skops` then `autometa predict model.skops DATA.csv`, the
    default fit (every algorithm, an ensemble), on data with categorical columns."""
    X, y = tiny("classification")
    data = tmp_path / "data.csv"
    X.assign(target=y).to_csv(data, index=False)
    out = tmp_path / "model.skops"
    runner = CliRunner()
    fit_args = ["fit", str(data), "--target", "target", "--n-trials", "4", "--random-state", "0"]
    fitted = runner.invoke(main, [*fit_args, "--out", str(out)])
    assert fitted.exit_code == 0, fitted.output
    predicted = runner.invoke(main, ["predict", str(out), str(data), "--target", "target"])
    assert predicted.exit_code == 0, predicted.output
    lines = predicted.output.strip().splitlines()
    assert lines[0] == "prediction"
    assert [int(v) for v in lines[1:]] == load_model(out).predict(X).tolist()


# -- the trust boundary stays closed --------------------------------------------------------
def _retyped(path: Path, old: str, new: str, target: Path) -> Path:
    """A copy of the .skops file at ``path`` whose nodes of type ``old`` (module.name) name
    ``new`` instead, as a hand-edited file would; a valid zip (CRCs recomputed)."""
    source = zipfile.ZipFile(path)
    schema = json.loads(source.read("schema.json"))
    old_module, _, old_name = old.rpartition(".")
    new_module, _, new_name = new.rpartition(".")
    changed = 0

    def visit(node: Any) -> None:
        nonlocal changed
        if isinstance(node, dict):
            if node.get("__module__") == old_module and node.get("__class__") == old_name:
                node.update({"__module__": new_module, "__class__": new_name})
                changed += 1
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    assert changed, f"{path} holds no {old}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as copy:
        for member in source.namelist():
            body = json.dumps(schema) if member == "schema.json" else source.read(member)
            copy.writestr(member, body)
    target.write_bytes(buffer.getvalue())
    return target


@pytest.fixture(scope="module")
def hgb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good .skops file of a HistGradientBoosting model with categorical columns: it
    holds a tree type, ``functools.partial`` and the function ``check_array``."""
    X, y = tiny("classification")
    model = autometa.fit(
        X, y, algorithms=["hist_gradient_boosting"], n_trials=1, warm_start=0, cv=2
    )
    return save_model(model, tmp_path_factory.mktemp("hgb") / "model.skops")


@pytest.mark.parametrize(
    ("trusted_name", "foreign"),
    [
        ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", "subprocess.Popen"),
        ("sklearn.utils.validation.check_array", "os.system"),
        ("sklearn.utils.validation.check_array", "sklearn.utils.validation.check_X_y"),
        ("functools.partial", "builtins.eval"),
        ("autometa.contract._types.Config", "my_package.Unknown"),
    ],
)
def test_a_foreign_type_in_an_otherwise_good_file_is_refused(
    hgb_file: Path, trusted_name: str, foreign: str, tmp_path: Path
) -> None:
    load_model(hgb_file)  # the file as saved loads
    tampered = _retyped(hgb_file, trusted_name, foreign, tmp_path / "tampered.skops")
    with pytest.raises(UntrustedTypesError) as refused:
        load_model(tampered)
    assert refused.value.types == [foreign]
