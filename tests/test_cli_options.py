"""The command line at parity with the Python API: fit's options, --json, and predict on
Parquet or standard input with probability columns named by class."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_iris

from autometa._cli import main


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = load_iris(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    path = tmp_path_factory.mktemp("data") / "iris.csv"
    frame.to_csv(path, index=False)
    return path


def fit(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["fit", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_names_the_winner_and_every_trial(iris_csv: Path) -> None:
    code, out, err = fit(
        str(iris_csv), "--target", "target", "--n-trials", "3", "--json",
        "--algorithms", "naive_bayes, linear", "--no-warm-start", "--cv", "3",
        "--memory-limit", "none", "--random-state", "0",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["kind"] == "multiclass"
    assert report["scoring"] == "neg_log_loss"
    assert report["n_trials"] == len(report["trials"]) == 3
    assert {t["algorithm"] for t in report["trials"]} <= {"naive_bayes", "linear"}
    assert report["best_config"]["algorithm"] in {"naive_bayes", "linear"}
    assert report["trials"][0]["score"] == pytest.approx(report["best_score"])
    assert all(t["warm_start_rank"] is None for t in report["trials"]), "a cold search"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--memory-limit", "lots"], "--memory-limit must be megabytes"),
        (["--plugin", "no_such_module_here"], "--plugin no_such_module_here: cannot import"),
        (["--warm-start", "3", "--no-warm-start"], "contradict each other"),
        (["--algorithms", "no_such_algorithm"], "no_such_algorithm"),
    ],
)
def test_bad_options_exit_2_with_the_reason(iris_csv: Path, args: list[str], message: str) -> None:
    code, _, err = fit(str(iris_csv), "--target", "target", "--n-trials", "1", *args)
    assert code == 2
    assert message in err


def test_a_plugin_module_named_on_the_command_line_is_used(iris_csv: Path) -> None:
    code, out, err = fit(
        str(iris_csv), "--target", "target", "--n-trials", "2", "--json",
        "--plugin", "prior_plugin", "--algorithms", "prior", "--no-ensemble",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["best_config"]["algorithm"] == "prior"


def test_predict_reads_parquet_and_standard_input_and_names_the_classes(
    iris_csv: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model.joblib"
    code, _, err = fit(
        str(iris_csv), "--target", "target", "--n-trials", "2", "--out", str(model),
        "--algorithms", "naive_bayes",
    )  # fmt: skip
    assert code == 0, err
    frame = pd.read_csv(iris_csv)
    parquet = tmp_path / "iris.parquet"
    frame.to_parquet(parquet)
    runner = CliRunner()
    from_parquet = runner.invoke(main, ["predict", str(model), str(parquet), "--proba"])
    assert from_parquet.exit_code == 0, from_parquet.output
    table = pd.read_csv(io.StringIO(from_parquet.stdout))
    assert list(table.columns) == ["setosa", "versicolor", "virginica"]
    assert len(table) == len(frame)
    from_stdin = runner.invoke(
        main, ["predict", str(model), "-", "--target", "target"], input=iris_csv.read_text()
    )
    assert from_stdin.exit_code == 0, from_stdin.output
    labels = pd.read_csv(io.StringIO(from_stdin.stdout))["prediction"]
    assert set(labels) <= {"setosa", "versicolor", "virginica"}
    assert len(labels) == len(frame)


def test_every_fit_option_says_what_it_does() -> None:
    help_text = CliRunner().invoke(main, ["fit", "--help"]).stdout
    for option in (
        "--algorithms", "--blocked", "--cv", "--memory-limit", "--plugin", "--no-warm-start",
        "--json", "--kind", "--timeout", "--random-state", "--study-name",
    ):  # fmt: skip
        assert option in help_text
    assert "[default: auto]" in help_text
