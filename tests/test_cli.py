"""The command line, run as a user would: real files in, text and exit codes out."""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from autometa._cli import main
from autometa.knowledge import KnowledgeBase
from autometa.plots import PLOT_FILES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autometa", *args], capture_output=True, text=True, timeout=300
    )


def test_fit_predict_recommend_round_trip(
    tiny_corpus: Path, knowledge_copy: Path, tmp_path: Path
) -> None:
    data = tiny_corpus / "data" / "cancer.csv.gz"
    model = tmp_path / "model.joblib"
    fitted = run(
        "-v",
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
        "--plots",
        str(tmp_path / "plots"),
    )
    assert fitted.returncode == 0, fitted.stderr
    # the explanation: the chosen learner's reasons, its prediction, the score here
    why = r"why: portfolio step 1: mean best-so-far regret [\d.]+ over 1 earlier binary tasks"
    assert re.search(why, fitted.stdout), fitted.stdout
    assert re.search(r"predicted: [-\d.]+ on greedy_portfolio's own scale", fitted.stdout), (
        fitted.stdout
    )
    assert re.search(r"observed: roc_auc [-\d.]+ in [\d.]+s, rank \d of \d", fitted.stdout)
    assert "Winner:" in fitted.stdout
    assert "search started" in fitted.stderr
    assert "search finished: 3 trials" in fitted.stderr
    for name in PLOT_FILES:
        assert (tmp_path / "plots" / name).read_bytes()[:8] == PNG_MAGIC
    assert f"Plots: {tmp_path / 'plots' / PLOT_FILES[0]}" in fitted.stdout
    assert model.is_file()
    predicted = run("predict", str(model), str(data), "--target", "target")
    assert predicted.returncode == 0, predicted.stderr
    lines = predicted.stdout.strip().splitlines()
    assert lines[0] == "prediction"
    assert len(lines) == 1 + len(pd.read_csv(data))
    recommended = run(
        "recommend",
        str(data),
        "--target",
        "target",
        "-k",
        "2",
        "--knowledge",
        str(knowledge_copy),
        "--plots",
        str(tmp_path / "recommend"),
    )
    assert recommended.returncode == 0, recommended.stderr
    assert " 1. " in recommended.stdout
    # learned from the base as the fit left it: the tiny base's cancer and the fit's task
    assert "over 2 earlier binary tasks" in recommended.stdout, recommended.stdout
    assert "predicted:" in recommended.stdout
    assert (tmp_path / "recommend" / "task_space.png").read_bytes()[:8] == PNG_MAGIC


def test_recommend_reads_a_named_knowledge_base_without_creating_it(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "typo.db"
    data = tiny_corpus / "data" / "iris.csv.gz"
    result = CliRunner().invoke(
        main, ["recommend", str(data), "--target", "target", "--knowledge", str(missing)]
    )
    assert result.exit_code == 2, result.output
    assert str(missing) in result.output
    assert not missing.exists()


def test_plots_without_matplotlib_fail_before_any_work(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    data = tiny_corpus / "data" / "iris.csv.gz"
    for command in ("fit", "recommend"):
        result = CliRunner().invoke(
            main, [command, str(data), "--target", "target", "--plots", str(tmp_path / "p")]
        )
        assert result.exit_code == 2, result.output
        assert 'pip install "autometa-ml[plots]"' in result.output
    assert not (tmp_path / "p").exists()


def run_on_a_terminal(*args: str) -> tuple[int, str, str]:
    """Run the CLI with standard error on a pseudo-terminal: (exit code, stdout, terminal)."""
    leader, follower = os.openpty()
    # a real terminal has a size; tqdm draws nothing on one of 0 columns
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "autometa", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    return process.wait(timeout=300), out, seen.decode(errors="replace")


def test_kb_evaluate_shows_progress_on_a_terminal_and_logs(tiny_knowledge: Path) -> None:
    args = ["kb", "evaluate", str(tiny_knowledge), "--learners", "nearest_tasks", "--k", "1"]
    code, out, terminal = run_on_a_terminal(*args)
    assert code == 0, terminal
    assert "nearest_tasks" in out
    # a tqdm bar over the 4 held-out tasks, with elapsed<remaining time
    assert re.search(r"kb evaluate: 100%.*4/4 \[\d\d:\d\d<\d\d:\d\d", terminal), terminal
    piped = run("-v", *args)  # not a terminal: no bar, but the log says what ran
    assert piped.returncode == 0, piped.stderr
    assert "kb evaluate:" not in piped.stderr
    assert "leave-one-task-out started: 4 tasks" in piped.stderr
    assert "leave-one-task-out finished: 4 tasks" in piped.stderr


def test_library_evaluation_is_quiet_unless_asked(
    tiny_knowledge: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from autometa._plugins import build_plugin_manager
    from autometa.knowledge._loto import leave_one_task_out

    learners = {"nearest_tasks": build_plugin_manager().meta_learners()["nearest_tasks"]}
    with KnowledgeBase.open(tiny_knowledge, read_only=True) as kb:
        quiet = leave_one_task_out(kb, learners, ks=[1])
        assert capfd.readouterr().err == ""
        shown = leave_one_task_out(kb, learners, ks=[1], progress=True, n_jobs=2)
        assert "kb evaluate" in capfd.readouterr().err
    assert shown.per_task == quiet.per_task  # chunked workers give the same answers


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

    from autometa.knowledge._protocol import BuildProtocol

    build = main.commands["kb"].commands["build"]  # type: ignore[attr-defined]
    defaults = {p.name: p.default for p in build.params}
    expected = asdict(BuildProtocol())
    expected["time_limit"] = expected.pop("time_limit_s")
    assert {k: defaults[k] for k in expected} == expected
    from autometa.knowledge._protocol import DEFAULT_BUILD_PLUGINS

    assert tuple(defaults["allowed"]) == DEFAULT_BUILD_PLUGINS


def test_version_is_the_package_s() -> None:
    import autometa

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"autometa, version {autometa.__version__}"


def test_kind_overrides_the_guess_and_a_bad_kind_is_named(tmp_path: Path) -> None:
    """Counts (0..4) would be guessed as classes; --kind regression fits a regressor."""
    rows = 60
    data = tmp_path / "counts.csv"
    pd.DataFrame(
        {"x": [float(i % 7) for i in range(rows)], "target": [i % 5 for i in range(rows)]}
    ).to_csv(data, index=False)
    common = ["--target", "target", "--n-trials", "2", "--random-state", "0", "--no-ensemble"]
    runner = CliRunner()
    regression = runner.invoke(main, ["fit", str(data), *common, "--kind", "regression"])
    assert regression.exit_code == 0, regression.output
    assert "with r2=" in regression.output
    guessed = runner.invoke(main, ["fit", str(data), *common])
    assert guessed.exit_code == 0, guessed.output
    assert "with neg_log_loss=" in guessed.output
    bad = runner.invoke(main, ["fit", str(data), *common, "--kind", "ordinal"])
    assert bad.exit_code == 2
    assert "kind must be one of" in bad.output
    recommended = runner.invoke(
        main, ["recommend", str(data), "--target", "target", "-k", "2", "--kind", "regression"]
    )
    assert recommended.exit_code == 0, recommended.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "Task: multiclass (inferred from the target), scoring=neg_log_loss (the default"),
        (
            ["--scoring", "accuracy"],
            "Task: multiclass (inferred from the target and scoring), scoring=accuracy (given)",
        ),
    ],
)
def test_fit_says_the_kind_and_scoring_before_the_search(
    tiny_corpus: Path, args: list[str], expected: str
) -> None:
    data = tiny_corpus / "data" / "iris.csv.gz"
    result = CliRunner().invoke(
        main, ["fit", str(data), "--target", "target", "--n-trials", "1", "--no-ensemble", *args]
    )
    assert result.exit_code == 0, result.output
    assert expected in result.stderr
    assert "Task: multiclass (" not in result.stdout  # on stderr: stdout stays the report
