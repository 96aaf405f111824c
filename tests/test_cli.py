"""The command line, run as a user would: real files in, text and exit codes out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from autometa.cli import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autometa.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_fit_predict_recommend_round_trip(
    tiny_corpus: Path, knowledge_copy: Path, tmp_path: Path
) -> None:
    data = tiny_corpus / "data" / "cancer.csv.gz"
    model = tmp_path / "model.joblib"
    fitted = run(
        "fit",
        str(data),
        "--target",
        "target",
        "--n-trials",
        "3",
        "--random-state",
        "0",
        "--knowledge",
        str(knowledge_copy),
        "--out",
        str(model),
    )
    assert fitted.returncode == 0, fitted.stderr
    assert "Winner:" in fitted.stdout
    assert model.is_file()
    predicted = run("predict", str(model), str(data), "--target", "target")
    assert predicted.returncode == 0, predicted.stderr
    lines = predicted.stdout.strip().splitlines()
    assert lines[0] == "prediction"
    assert len(lines) == 1 + len(pd.read_csv(data))
    recommended = run(
        "recommend", str(data), "--target", "target", "-k", "2", "--knowledge", str(knowledge_copy)
    )
    assert recommended.returncode == 0, recommended.stderr
    assert " 1. " in recommended.stdout
    assert "cancer" in recommended.stdout


def test_bad_input_exits_2_with_the_reason(tiny_corpus: Path) -> None:
    data = tiny_corpus / "data" / "iris.csv.gz"
    result = CliRunner().invoke(main, ["fit", str(data), "--target", "species", "--n-trials", "1"])
    assert result.exit_code == 2
    assert "no target column 'species'" in result.output
    result = CliRunner().invoke(main, ["fit", str(data), "--target", "target", "--n-trials", "0"])
    assert result.exit_code == 2
    assert "n_trials must be a positive integer" in result.output


def test_plugins_lists_distribution_and_hooks() -> None:
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0
    rows = {line.split()[0]: line for line in result.output.splitlines()}
    assert "autometa" in rows["sklearn"]
    assert "autometa_algorithms" in rows["sklearn"]
    assert "autometa_meta_learners" in rows["learners"]


def test_kb_info_export_and_import(tiny_knowledge: Path, tmp_path: Path) -> None:
    info = CliRunner().invoke(main, ["kb", "info", str(tiny_knowledge)])
    assert info.exit_code == 0, info.output
    parsed = json.loads(info.output)
    assert parsed["counts"]["tasks"] == 4
    assert parsed["metadata"]["build"]["protocol"]["n_splits"] == 3
    exported = tmp_path / "kb.jsonl"
    result = CliRunner().invoke(main, ["kb", "export", str(tiny_knowledge), "--out", str(exported)])
    assert result.exit_code == 0, result.output
    copy = tmp_path / "copy.db"
    result = CliRunner().invoke(main, ["kb", "import", str(exported), "--into", str(copy)])
    assert result.exit_code == 0, result.output
    assert (
        json.loads(CliRunner().invoke(main, ["kb", "info", str(copy)]).output)["counts"]
        == (parsed["counts"])
    )
    broken = tmp_path / "broken.jsonl"
    broken.write_text(exported.read_text().replace('"type":"task"', '"type":"tsak"', 1))
    result = CliRunner().invoke(main, ["kb", "import", str(broken), "--into", str(copy)])
    assert result.exit_code == 2
    assert "line" in result.output


def test_kb_build_defaults_are_the_library_protocol() -> None:
    """`autometa kb build` with no options reproduces BuildProtocol() (the shipped base)."""
    from dataclasses import asdict

    from autometa.builder import BuildProtocol

    build = main.commands["kb"].commands["build"]  # type: ignore[attr-defined]
    defaults = {p.name: p.default for p in build.params}
    expected = asdict(BuildProtocol())
    expected["time_limit"] = expected.pop("time_limit_s")
    assert {k: defaults[k] for k in expected} == expected
    from autometa.builder import DEFAULT_BUILD_PLUGINS

    assert tuple(defaults["allowed"]) == DEFAULT_BUILD_PLUGINS
