"""Extending a built knowledge base with a newly installed algorithm (``kb build --extend``):
only the new cells are evaluated, the base's stay as they were, a kill is survived, another
protocol is refused, and a base whose extension's plugin is missing still loads."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import extension_plugin
import pytest
from click.testing import CliRunner
from extension_plugin import TREE
from sklearn.datasets import load_breast_cancer

import autometa
from autometa._build import build_knowledge_base
from autometa._cli import main
from autometa._extend import extend_knowledge_base, extended_algorithms
from autometa.knowledge import KnowledgeBase
from autometa.knowledge._protocol import BuildProtocol

PROTOCOL = BuildProtocol(n_splits=3, max_rows=120, time_limit_s=20, pool_size=12)
DATASETS = ["iris", "cancer_small", "diabetes"]
TESTS_DIR = Path(__file__).parent


@pytest.fixture
def base(tiny_corpus: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A base of three tasks built from the first-party catalogue, with its shards."""
    out, shards = tmp_path / "kb.db", tmp_path / "shards"
    build_knowledge_base(
        tiny_corpus,
        out,
        protocol=PROTOCOL,
        datasets=DATASETS,
        shards_dir=shards,
        n_jobs=2,
        progress=False,
    ).close()
    return out, shards


def _extend(corpus: Path, out: Path, **kwargs: object) -> KnowledgeBase:
    options: dict[str, object] = {
        "plugins": [extension_plugin],
        "algorithms": ["decision_tree"],  # not also whatever else this machine has installed
        "n_jobs": 2,
        "progress": False,
    }
    options.update(kwargs)
    return extend_knowledge_base(corpus, out, **options)  # type: ignore[arg-type]


def _rows(out: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(out) as connection:
        return sorted(connection.execute("SELECT * FROM evaluations").fetchall(), key=repr)


def test_extend_adds_only_the_new_cells_and_records_their_plugin(
    tiny_corpus: Path, base: tuple[Path, Path]
) -> None:
    out, shards = base
    before = _rows(out)
    with _extend(tiny_corpus, out, configs_per_algorithm=5, shards_dir=shards) as kb:
        for task_id in DATASETS:
            cells = [e for e in kb.evaluations(task_id) if e.config.algorithm == "decision_tree"]
            assert len(cells) == 5
            assert TREE.default_config in {e.config for e in cells}
        provenance = extended_algorithms(kb)["decision_tree"]
        assert provenance["plugin"] == "extension_plugin"
        assert provenance["configs_per_algorithm"] == 5
        assert provenance["pools"]["regression"]["size"] == 5
    after = _rows(out)
    assert set(before) <= set(after)  # every stored row unchanged
    assert len(after) == len(before) + 5 * len(DATASETS)
    # The base's shards are untouched; the new cells sit in a subfolder of their own.
    assert sorted(p.name for p in (shards / "decision_tree").iterdir()) == sorted(
        f"{name}.jsonl" for name in DATASETS
    )
    # A new machine: base and extension shards together give the same base.
    with KnowledgeBase.in_memory() as copy:
        copy.import_jsonl(shards)
        assert copy.counts()["evaluations"] == len(after)
        assert "decision_tree" in extended_algorithms(copy)


def test_extend_resumes_and_refuses_another_protocol_or_pool(
    tiny_corpus: Path, base: tuple[Path, Path]
) -> None:
    out, _ = base
    _extend(tiny_corpus, out, configs_per_algorithm=4, datasets=["iris"]).close()
    with KnowledgeBase.open(out) as kb:
        first = {e.config: e.fit_time for e in kb.evaluations("iris")}
    with _extend(tiny_corpus, out, configs_per_algorithm=4) as kb:
        assert {e.config: e.fit_time for e in kb.evaluations("iris")} == first
        assert sum(e.config.algorithm == "decision_tree" for e in kb.evaluations("diabetes")) == 4
    other = BuildProtocol(n_splits=5, max_rows=120, time_limit_s=20, pool_size=12)
    with pytest.raises(ValueError, match="not be comparable"):
        _extend(tiny_corpus, out, configs_per_algorithm=4, protocol=other)
    with pytest.raises(ValueError, match="another pool of 'decision_tree'"):
        _extend(tiny_corpus, out, configs_per_algorithm=6)
    with pytest.raises(ValueError, match="in the base's own pool already"):
        _extend(tiny_corpus, out, algorithms=["knn"])
    with pytest.raises(ValueError, match="No installed plugin offers"):
        _extend(tiny_corpus, out, algorithms=["no_such_algorithm"])


def test_a_base_without_a_build_record_is_refused(tiny_corpus: Path, tmp_path: Path) -> None:
    KnowledgeBase.open(tmp_path / "empty.db").close()
    with pytest.raises(ValueError, match="no build record"):
        _extend(tiny_corpus, tmp_path / "empty.db")


def test_an_extend_killed_mid_write_resumes(tiny_corpus: Path, base: tuple[Path, Path]) -> None:
    out, _ = base
    before = len(_rows(out))
    script = (
        f"import sys; sys.path.insert(0, {str(TESTS_DIR)!r})\n"
        "import extension_plugin\n"
        "from autometa._extend import extend_knowledge_base\n"
        f"extend_knowledge_base({str(tiny_corpus)!r}, {str(out)!r}, n_jobs=1,"
        " progress=False, plugins=[extension_plugin], algorithms=['decision_tree'],"
        " configs_per_algorithm=60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and len(_rows(out)) < before + 40:
            time.sleep(0.2)
        assert process.poll() is None, "the extension finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    with sqlite3.connect(out) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert len(_rows(out)) >= before + 40
    with _extend(tiny_corpus, out, configs_per_algorithm=60) as kb:
        for task_id in DATASETS:
            assert sum(e.config.algorithm == "decision_tree" for e in kb.evaluations(task_id)) == 60


def test_a_base_whose_extension_plugin_is_missing_loads_and_never_recommends_it(
    tiny_corpus: Path, base: tuple[Path, Path]
) -> None:
    out, _ = base
    _extend(tiny_corpus, out, configs_per_algorithm=5).close()
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with KnowledgeBase.open(out, read_only=True) as kb:
        with_plugin = autometa.recommend(X, y, k=50, knowledge=kb, plugins=[extension_plugin])
        without = autometa.recommend(X, y, k=50, knowledge=kb)
        model = autometa.fit(X.iloc[:200], y.iloc[:200], knowledge=kb, n_trials=3, cv=3)
    assert any(r.config.algorithm == "decision_tree" for r in with_plugin)
    assert without
    assert all(r.config.algorithm != "decision_tree" for r in without)
    assert model.best_config_.algorithm != "decision_tree"


def test_the_command_line_extends_and_refuses_a_protocol_option_that_differs(
    tiny_corpus: Path, base: tuple[Path, Path]
) -> None:
    pytest.importorskip("lightgbm")  # an installed plugin's algorithm the base lacks (CI has it)
    out, shards = base
    runner = CliRunner()
    command = ["kb", "build", str(tiny_corpus), "--out", str(out), "--shards", str(shards)]
    command += ["--extend", "--algorithm", "lightgbm", "--configs-per-algorithm", "2"]
    refused = runner.invoke(main, [*command, "--n-splits", "5"])
    assert refused.exit_code != 0
    assert "not be comparable" in refused.output
    # The base's own protocol options, given explicitly, are accepted.
    result = runner.invoke(
        main,
        [
            *command,
            "--n-splits",
            "3",
            "--max-rows",
            "120",
            "--dataset",
            "iris",
            "--pool-size",
            "12",
        ],
    )
    assert result.exit_code == 0, result.output
    with KnowledgeBase.open(out, read_only=True) as kb:
        assert sum(e.config.algorithm == "lightgbm" for e in kb.evaluations("iris")) == 2
        assert extended_algorithms(kb)["lightgbm"]["plugin"] == "lightgbm"
    assert (shards / "lightgbm" / "iris.jsonl").is_file()
    alone = runner.invoke(
        main, ["kb", "build", str(tiny_corpus), "--out", str(out), "--algorithm", "x"]
    )
    assert alone.exit_code != 0
    assert "--extend" in alone.output
