"""The knowledge-base builder: dense, resumable, recorded skips, shards, kills survived."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autometa._build import build_knowledge_base
from autometa.knowledge import KnowledgeBase
from autometa.knowledge._protocol import BuildProtocol, subsample
from autometa.knowledge._schema import autometa_version

PROTOCOL = BuildProtocol(n_splits=3, max_rows=120, time_limit_s=20, pool_size=12)


def build(corpus: Path, out: Path, **kwargs: object) -> KnowledgeBase:
    return build_knowledge_base(
        corpus,
        out,
        protocol=kwargs.pop("protocol", PROTOCOL),
        n_jobs=2,
        progress=False,
        **kwargs,  # type: ignore[arg-type]
    )


def test_tiny_knowledge_base_is_dense_with_provenance(tiny_knowledge: Path) -> None:
    with KnowledgeBase.open(tiny_knowledge, read_only=True) as kb:
        tasks = {t.task_id: t for t in kb.tasks()}
        assert set(tasks) == {"iris", "wine", "cancer", "diabetes"}
        assert {t.kind for t in tasks.values()} == {"binary", "multiclass", "regression"}
        for task_id in tasks:
            statuses = kb.evaluated(task_id)
            assert len(statuses) == 14  # every pool configuration, failed or not
            assert sum(s == "ok" for s in statuses.values()) >= 12
        build_info = kb.metadata()["build"]
        assert build_info["protocol"]["pool_size"] == 14
        assert build_info["pools"]["classification"]["size"] == 14
        assert len(build_info["corpus_manifest_sha256"]) == 64
        assert build_info["autometa_version"] == autometa_version()
        assert tasks["cancer"].provenance["subsampled"] is True
        assert tasks["cancer"].provenance["n_rows"] == 569
        assert tasks["cancer"].meta_features["NumberOfInstances"] == 569
        assert kb.score_table("binary").scores.shape == (1, 14)


def test_resume_skips_finished_cells_and_refuses_another_protocol(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "kb.db"
    build(tiny_corpus, out, datasets=["iris"]).close()
    with KnowledgeBase.open(out) as kb:
        before = {e.config: e.fit_time for e in kb.evaluations("iris")}
    kb = build(tiny_corpus, out, datasets=["iris", "cancer_small"])
    after = {e.config: e.fit_time for e in kb.evaluations("iris")}
    assert after == before  # nothing re-evaluated
    assert len(kb.evaluated("cancer_small")) == 12
    kb.close()
    other = BuildProtocol(n_splits=5, max_rows=120, time_limit_s=20, pool_size=12)
    with pytest.raises(ValueError, match="different protocol"):
        build(tiny_corpus, out, datasets=["iris"], protocol=other)


def test_bad_datasets_are_recorded_as_skipped(tiny_corpus: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "data").mkdir(parents=True)
    pd.DataFrame({"a": [1, 2, 3], "label": [0, 1, 0]}).to_csv(corpus / "data" / "no_target.csv")
    (corpus / "data" / "garbage.csv.gz").write_bytes(b"\x1f\x8b not really gzip")
    (corpus / "data" / "iris.csv.gz").write_bytes(
        (tiny_corpus / "data" / "iris.csv.gz").read_bytes()
    )
    with build(corpus, tmp_path / "kb.db") as kb:
        skipped = kb.metadata()["build_skipped"]
        assert set(skipped) == {"no_target", "garbage"}
        assert "no target column 'target'" in skipped["no_target"]
        assert [t.task_id for t in kb.tasks()] == ["iris"]


def test_shards_carry_a_build_to_a_new_machine(tiny_corpus: Path, tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    build(tiny_corpus, tmp_path / "first.db", datasets=["iris"], shards_dir=shards).close()
    assert [p.name for p in shards.iterdir()] == ["iris.jsonl"]
    shard_bytes = (shards / "iris.jsonl").read_bytes()
    # A new machine has only the shards: the build imports them and goes on.
    kb = build(tiny_corpus, tmp_path / "second.db", datasets=["iris", "wine"], shards_dir=shards)
    assert sorted(p.name for p in shards.iterdir()) == ["iris.jsonl", "wine.jsonl"]
    assert (shards / "iris.jsonl").read_bytes() == shard_bytes  # finished shards never change
    assert len(kb.evaluated("iris")) == len(kb.evaluated("wine")) == 12
    kb.close()
    with KnowledgeBase.in_memory() as fresh:
        fresh.import_jsonl(shards)
        assert len(fresh) == 2


def test_subsample_is_stratified_seeded_and_keeps_rare_classes() -> None:
    y = pd.Series([0] * 950 + [1] * 48 + [2] * 2)
    X = pd.DataFrame({"x": np.arange(1000)})
    X1, y1, changed = subsample(X, y, "multiclass", 100, random_state=0)
    X2, _, _ = subsample(X, y, "multiclass", 100, random_state=0)
    assert changed
    assert X1.equals(X2)
    counts = y1.value_counts()
    assert counts[2] == 2
    assert 3 <= counts[1] <= 6
    assert len(y1) <= 102


def test_a_build_killed_mid_write_opens_and_resumes(tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed.db"
    script = (
        "from autometa._build import BuildProtocol, build_knowledge_base\n"
        f"build_knowledge_base({str(tiny_corpus)!r}, {str(out)!r}, n_jobs=1, progress=False,"
        " protocol=BuildProtocol(n_splits=3, max_rows=120, time_limit_s=20, pool_size=60))\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if out.exists() and _evaluations(out) >= 40:
                break
        assert process.poll() is None, "the build finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    with sqlite3.connect(out) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    survived = _evaluations(out)
    assert survived >= 40
    kb = build(tiny_corpus, out, protocol=BuildProtocol(3, 120, 20, 60), datasets=["iris"])
    assert len(kb.evaluated("iris")) == 60
    kb.close()


def _evaluations(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0])
    except sqlite3.Error:
        return 0
