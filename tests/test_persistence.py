"""Saved models: .skops files are data and load only vetted types; .joblib files are code."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import autometa
from autometa._cli import main
from autometa.persistence import (
    UntrustedTypesError,
    check_model_path,
    load_model,
    save_model,
)

skops_io = pytest.importorskip("skops.io")


class Tripwire(BaseEstimator):
    """Leaves a file behind when it is loaded: proof that loading ran its code."""

    def __init__(self, path: str = "") -> None:
        self.path = path

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(state["path"]).write_text("loading ran code from the file")
        self.__dict__.update(state)


def cancer() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:200], y.iloc[:200]


@pytest.fixture(scope="module")
def classifier() -> Any:
    X, y = cancer()
    return autometa.fit(X, y, n_trials=3, random_state=0, algorithms=["linear", "naive_bayes"])


def test_classifier_round_trips_through_skops_with_identical_predictions(
    classifier: Any, tmp_path: Path
) -> None:
    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    path = save_model(classifier, tmp_path / "model.skops")
    loaded = load_model(path)
    assert type(loaded) is type(classifier)
    np.testing.assert_array_equal(loaded.predict(X), classifier.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), classifier.predict_proba(X))
    assert loaded.best_config_ == classifier.best_config_
    assert loaded.evaluations_ == classifier.evaluations_
    assert loaded.recommendations_ == classifier.recommendations_
    assert loaded.meta_features_.values.keys() == classifier.meta_features_.values.keys()
    assert loaded.study_ is None  # documented: the study is not data
    assert classifier.study_ is not None, "saving must not change the caller's model"
    assert "Strategy" in loaded.explain()


def test_regressor_with_a_plugin_estimator_round_trips(tmp_path: Path) -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = autometa.fit(X, y, n_trials=2, random_state=0, algorithms=["svm"])
    loaded = load_model(save_model(model, tmp_path / "svr.skops"))  # autometa_sklearn's SVR
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_types_neither_skops_nor_autometa_vet_are_refused_until_trusted(tmp_path: Path) -> None:
    # autometa's catalogue never builds a ball tree (its k-NN uses p=1 or 2: a k-d tree),
    # so the ball tree is not on the list of types its own models need.
    X, y = cancer()
    knn = KNeighborsClassifier(algorithm="ball_tree").fit(X, y)
    path = save_model(knn, tmp_path / "knn.skops")
    with pytest.raises(UntrustedTypesError) as info:
        load_model(path)
    assert info.value.types == ["sklearn.neighbors._ball_tree.BallTree"]
    assert "trusted=['sklearn.neighbors._ball_tree.BallTree']" in str(info.value)
    loaded = load_model(path, trusted=info.value.types)
    np.testing.assert_array_equal(loaded.predict_proba(X), knn.predict_proba(X))


def test_a_forest_autometa_made_loads_without_trusted(tmp_path: Path) -> None:
    X, y = cancer()
    forest = autometa.fit(X, y, n_trials=1, random_state=0, algorithms=["random_forest"])
    loaded = load_model(save_model(forest, tmp_path / "forest.skops"))  # sklearn's Tree: data
    np.testing.assert_array_equal(loaded.predict_proba(X), forest.predict_proba(X))


def test_a_file_with_an_untrusted_type_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    path = save_model(make_pipeline(StandardScaler(), Tripwire(str(marker))), tmp_path / "x.skops")
    with pytest.raises(UntrustedTypesError) as info:
        load_model(path)
    assert info.value.types == [f"{__name__}.Tripwire"]
    assert not marker.exists(), "an untrusted type's code ran during the refused load"
    load_model(path, trusted=[Tripwire])  # the user vouches for it: now it runs
    assert marker.exists()


def test_functions_are_never_trusted_even_from_an_installed_plugin(tmp_path: Path) -> None:
    from autometa_sklearn.adaptive import relative_gamma

    path = save_model(FunctionTransformer(relative_gamma), tmp_path / "f.skops")
    with pytest.raises(UntrustedTypesError, match="relative_gamma"):
        load_model(path)


def test_suffix_chooses_the_format_and_unknown_ones_write_nothing(
    classifier: Any, tmp_path: Path
) -> None:
    X, _ = cancer()
    pickled = load_model(save_model(classifier, tmp_path / "model.joblib"))
    np.testing.assert_array_equal(pickled.predict(X), classifier.predict(X))
    assert pickled.study_ is not None  # a pickle keeps everything, code included
    with pytest.raises(ValueError, match=r"use the suffix \.skops"):
        save_model(classifier, tmp_path / "model.txt")
    assert not (tmp_path / "model.txt").exists()
    assert check_model_path("m.SKOPS") == "skops"
    assert check_model_path("m.pkl") == "pickle"


def test_a_file_that_is_not_skops_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(b"\x80\x04not a zip archive")
    with pytest.raises(ValueError, match=r"not a model saved in the \.skops format"):
        load_model(path)
    with pytest.raises(FileNotFoundError, match="No model file"):
        load_model(tmp_path / "missing.skops")


@pytest.mark.slow
def test_cli_saves_skops_predicts_from_it_and_checks_out_before_fitting(
    tmp_path: Path,
) -> None:
    X, y = cancer()
    data = tmp_path / "data.csv"
    X.assign(target=y).to_csv(data, index=False)
    runner = CliRunner()
    bad = runner.invoke(main, ["fit", str(data), "--target", "target", "--out", "m.txt"])
    assert bad.exit_code == 2
    assert "use the suffix .skops" in bad.output
    assert "Strategy" not in bad.output, "the fit ran before --out was checked"
    out = tmp_path / "model.skops"
    fit_args = ["--target", "target", "--n-trials", "2", "--random-state", "0"]
    fitted = runner.invoke(
        main,
        ["fit", str(data), *fit_args, "--knowledge", str(tmp_path / "kb.db"), "--out", str(out)],
    )
    assert fitted.exit_code == 0, fitted.output
    predict_args = ["predict", str(out), str(data), "--target", "target"]
    trust: list[str] = []  # which types need trust depends on the algorithm chosen
    try:
        load_model(out)
    except UntrustedTypesError as exc:
        trust = exc.types
        refused = runner.invoke(main, predict_args)
        assert refused.exit_code == 2
        assert "--trust" in refused.output
    predicted = runner.invoke(main, [*predict_args, *(f"--trust={t}" for t in trust)])
    assert predicted.exit_code == 0, predicted.output
    expected = load_model(out, trusted=trust).predict(X)
    lines = predicted.output.strip().splitlines()
    assert lines[0] == "prediction"
    assert [int(v) for v in lines[1:]] == expected.tolist()


# -- fuzzing the trust boundary ------------------------------------------------------------
DANGEROUS = [
    ("os", "system"),
    ("builtins", "eval"),
    ("subprocess", "Popen"),
    ("autometa._cli", "main"),
    ("autometa_sklearn.adaptive", "relative_gamma"),
    (__name__, "Tripwire"),
]
LOADERS = ["ObjectNode", "ReduceNode", "FunctionNode", "TypeNode", "MethodNode", "JsonNode"]


def _nodes(node: Any) -> list[dict[str, Any]]:
    """Every skops schema node (a dict with a loader) inside ``node``, depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "__loader__" in node:
            found.append(node)
        for value in node.values():
            found.extend(_nodes(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_nodes(value))
    return found


@pytest.fixture(scope="module")
def saved_skops(classifier: Any, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return save_model(classifier, tmp_path_factory.mktemp("fuzz") / "m.skops").read_bytes()


def _tampered(saved: bytes, folder: str, schema: dict[str, Any]) -> Path:
    """``saved`` with its schema replaced by ``schema`` (a valid zip: CRCs recomputed)."""
    source = zipfile.ZipFile(io.BytesIO(saved))
    path = Path(folder) / "tampered.skops"
    with zipfile.ZipFile(path, "w") as target:
        for member in source.namelist():
            body = json.dumps(schema) if member == "schema.json" else source.read(member)
            target.writestr(member, body)
    return path


def _schema(saved: bytes) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(zipfile.ZipFile(io.BytesIO(saved)).read("schema.json"))
    return schema


def _live_nodes(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The nodes skops builds: a node whose ``__id__`` was met before (in file order) is a
    repeated reference, taken from the first copy, so neither it nor anything inside it
    is ever read."""
    seen: set[Any] = set()
    live: list[dict[str, Any]] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if "__loader__" in node:
                if node.get("__id__") in seen:
                    return
                seen.add(node.get("__id__"))
                live.append(node)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return live


def _tripwire_node(marker: Path) -> dict[str, Any]:
    """The schema node of a Tripwire, as skops itself writes it (with the protocol keys a
    file's root node needs; other nodes ignore them)."""
    saved = skops_io.dumps(Tripwire(str(marker)))
    node = _schema(saved)
    for offset, inner in enumerate(_nodes(node)):
        inner["__id__"] = -1 - offset  # never the id of a node of the model
    return node


TYPE_BLIND_LOADERS = {"JsonNode", "SliceNode"}
"""skops loaders that never read a node's type: a JSON value, and ``slice(start, stop,
step)``; a type swapped into one of them is ignored, so there is nothing to refuse."""


# derandomize: the same 40 swaps every run, so CI cannot turn red (or green) by chance.
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_type_swapped_into_a_skops_file_is_refused_before_it_runs(
    saved_skops: bytes, data: st.DataObject
) -> None:
    schema = _schema(saved_skops)
    nodes = [n for n in _live_nodes(schema) if n["__loader__"] not in TYPE_BLIND_LOADERS]
    node = data.draw(st.sampled_from(nodes), label="node")
    module, name = data.draw(st.sampled_from(DANGEROUS), label="type")
    # skops loads a node once per ``__id__`` and reuses it wherever the id occurs again,
    # so every occurrence of the drawn node is swapped: whichever skops reads first.
    same = [n for n in _nodes(schema) if n.get("__id__") == node.get("__id__")]
    with tempfile.TemporaryDirectory() as folder:
        marker = Path(folder) / "ran.txt"
        for occurrence in same:
            if name == "Tripwire":
                occurrence.clear()
                occurrence.update(_tripwire_node(marker))
            else:
                occurrence.update({"__module__": module, "__class__": name})
        with pytest.raises(UntrustedTypesError) as info:
            load_model(_tampered(saved_skops, folder, schema))
        assert f"{module}.{name}" in info.value.types
        assert not marker.exists()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_tampered_skops_files_never_run_code_and_fail_clearly(
    saved_skops: bytes, data: st.DataObject
) -> None:
    """Edit the schema of a real .skops file as an attacker would (types swapped for
    dangerous ones, loaders changed, keys dropped, values replaced) and load it."""
    schema = _schema(saved_skops)
    nodes = _nodes(schema)
    with tempfile.TemporaryDirectory() as folder:
        marker = Path(folder) / "ran.txt"
        for _ in range(data.draw(st.integers(1, 4), label="edits")):
            node = data.draw(st.sampled_from(nodes), label="node")
            if "__loader__" not in node:
                continue  # replaced by a Tripwire earlier
            edit = data.draw(st.sampled_from(["type", "loader", "drop", "value"]), label="edit")
            if edit == "type":
                module, name = data.draw(st.sampled_from(DANGEROUS), label="type")
                if name == "Tripwire":
                    node.clear()
                    node.update(_tripwire_node(marker))
                else:
                    node.update({"__module__": module, "__class__": name})
            elif edit == "loader":
                node["__loader__"] = data.draw(st.sampled_from(LOADERS), label="loader")
            elif edit == "drop":
                node.pop(data.draw(st.sampled_from(sorted(node)), label="key"))
            else:
                node["content"] = data.draw(
                    st.one_of(st.none(), st.integers(), st.text(max_size=20)), label="value"
                )
        path = _tampered(saved_skops, folder, schema)
        error: ValueError | None = None
        try:
            load_model(path)
        except ValueError as exc:  # UntrustedTypesError included
            error = exc
        assert error is None or str(path) in str(error)
        assert not marker.exists(), "a tampered file ran code while loading"
