"""Bad input to the command line ends with exit code 2 and one line (issue 18, point 11).

Every command that reads a path (``fit``, ``predict``, ``recommend``, ``kb import``,
``kb export``, ``kb info``) is given a path that does not exist, a directory, garbage
bytes, a Parquet file without its engine, and (``kb import``) values nested 500 deep.
Each must exit 2 with an ``Error:`` line that names the problem and its fix, and no
traceback. The missing Parquet engine is a real subprocess with ``pyarrow`` made
unimportable (``sys.modules["pyarrow"] = None``, as Python does for a blocked module).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sklearn.datasets import load_iris

import autometa
from autometa._cli import main
from autometa.persistence import save_model


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good and bad files: a table, a model, a knowledge-base export, garbage, a folder."""
    root = tmp_path_factory.mktemp("bad_input")
    frame = load_iris(as_frame=True).frame
    frame.to_csv(root / "iris.csv", index=False)
    frame.to_parquet(root / "iris.parquet")
    model = autometa.fit(
        frame.drop(columns="target"), frame["target"], n_trials=1,
        algorithms=["naive_bayes"], ensemble=False, memory_limit=None,
    )  # fmt: skip
    save_model(model, root / "model.joblib")
    garbage = bytes(range(256)) * 32  # every byte value: no text, no zip, no pickle
    for name in ("garbage.csv", "garbage.joblib", "garbage.db", "garbage.jsonl"):
        (root / name).write_bytes(garbage)
    nested: object = 0.5
    for _ in range(500):
        nested = [nested]
    config = {"type": "config", "id": 1, "algorithm": "linear", "params": {"C": nested}}
    (root / "deep.jsonl").write_text(json.dumps(config) + "\n")
    (root / "folder").mkdir()
    return {path.name: path for path in root.iterdir()}


def run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_bad_input(result: Result, *named: str) -> None:
    """Exit 2, no traceback, and a last line ``Error: ...`` naming each of ``named``."""
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), f"{type(result.exception).__name__}: {result.exception}"
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: "), result.stderr
    for text in named:
        assert text in last, last


def test_a_path_that_does_not_exist(files: dict[str, Path]) -> None:
    missing = files["iris.csv"].parent / "missing"
    csv, model = files["iris.csv"], files["model.joblib"]
    assert_bad_input(run("fit", missing / "a.csv", "--target", "target"), "does not exist")
    assert_bad_input(run("predict", missing / "m.joblib", csv), "does not exist")
    assert_bad_input(run("predict", model, missing / "a.csv"), "does not exist")
    assert_bad_input(run("recommend", missing / "a.csv", "--target", "target"), "does not exist")
    kb = missing / "kb.db"
    recommend = run("recommend", csv, "--target", "target", "--knowledge", kb)
    assert_bad_input(recommend, str(kb), "does not exist")
    assert_bad_input(run("kb", "info", kb), str(kb), "does not exist")
    assert_bad_input(run("kb", "export", kb, "--out", missing.parent / "o.jsonl"), str(kb))
    assert_bad_input(run("kb", "import", missing / "a.jsonl", "--into", kb), "does not exist")
    # Where a file would be written: the folder must exist, said before any work.
    out = missing / "model.joblib"
    fit = run("fit", csv, "--target", "target", "--n-trials", "1", "--out", out)
    assert_bad_input(fit, str(missing), "does not exist", "Create it first")
    assert_bad_input(run("kb", "export", "--out", missing / "o.jsonl"), str(missing), "create it")
    into = run("kb", "import", files["deep.jsonl"], "--into", kb)
    assert_bad_input(into, str(missing), "does not exist")


def test_a_directory_where_a_file_is_expected(files: dict[str, Path]) -> None:
    folder, csv = files["folder"], files["iris.csv"]
    assert_bad_input(run("fit", folder, "--target", "target"), "is a directory")
    fit = run("fit", csv, "--target", "target", "--n-trials", "1", "--knowledge", folder)
    assert_bad_input(fit, str(folder), "is a directory", "pass a file path")
    assert_bad_input(run("predict", folder, csv), "is a directory")
    assert_bad_input(run("recommend", folder, "--target", "target"), "is a directory")
    recommend = run("recommend", csv, "--target", "target", "--knowledge", folder)
    assert_bad_input(recommend, "is a directory")
    assert_bad_input(run("kb", "info", folder), str(folder), "is a directory")
    assert_bad_input(run("kb", "export", folder, "--out", folder.parent / "o.jsonl"), str(folder))
    into = run("kb", "import", files["deep.jsonl"], "--into", folder)
    assert_bad_input(into, str(folder), "is a directory")


def test_garbage_bytes(files: dict[str, Path]) -> None:
    garbage_csv, model = files["garbage.csv"], files["model.joblib"]
    for command in ("fit", "recommend"):
        result = run(command, garbage_csv, "--target", "target")
        assert_bad_input(result, str(garbage_csv), "cannot be read as a table", "UTF-8 CSV")
    assert_bad_input(run("predict", model, garbage_csv), str(garbage_csv), "UTF-8 CSV")
    predict = run("predict", files["garbage.joblib"], files["iris.csv"])
    assert_bad_input(predict, str(files["garbage.joblib"]), "not written by save_model")
    garbage_kb = files["garbage.db"]
    assert_bad_input(run("kb", "info", garbage_kb), str(garbage_kb), "not an SQLite database")
    into = files["iris.csv"].parent / "new.db"
    imported = run("kb", "import", files["garbage.jsonl"], "--into", into)
    assert_bad_input(imported, str(files["garbage.jsonl"]), "line 1")


def test_values_nested_500_deep(files: dict[str, Path]) -> None:
    into = files["iris.csv"].parent / "deep.db"
    result = run("kb", "import", files["deep.jsonl"], "--into", into)
    assert_bad_input(result, str(files["deep.jsonl"]), "nested too deeply", "Flatten")


BLOCK_PYARROW = """
import sys
sys.modules["pyarrow"] = None  # what Python does for a module that is not installed
sys.modules["fastparquet"] = None
from autometa._cli import main
main()
"""


@pytest.mark.parametrize("command", ["fit", "recommend"])
def test_parquet_without_its_engine(files: dict[str, Path], command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_PYARROW, command, str(files["iris.parquet"]), "--target",
         "target", "--n-trials", "1"][: None if command == "fit" else -2],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, done.stderr  # one line, not pandas' list of engines
    assert errors[0].startswith("Error: ")
    assert "needs pyarrow" in errors[0]
    assert "pip install" in errors[0]
