"""KnowledgeBase: storage, sharing, concurrency, crash safety and hostile files.

Real SQLite files in tmp_path; real processes where concurrency or a kill is tested.
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import pytest

from autometa.contract import Config, Evaluation
from autometa.knowledge import _format as kb_format
from autometa.knowledge import _shipped as knowledge
from autometa.knowledge import _storage as kb_storage
from autometa.knowledge._base import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    KnowledgeBase,
    KnowledgeBaseError,
    ScoreTable,
    TaskRecord,
)

RF1 = Config("rf", {"n_estimators": 100, "max_depth": 3})
RF2 = Config("rf", {"n_estimators": 300, "max_depth": None})
KNN = Config("knn", {"n_neighbors": 5, "weights": "distance"})
SVM = Config("svm", {"C": 1.5, "gamma": [0.1, "scale"]})


def task(task_id: str, kind: str = "binary", **features: float) -> TaskRecord:
    return TaskRecord(
        task_id=task_id,
        name=f"name of {task_id}",
        kind=kind,  # type: ignore[arg-type]
        scoring="roc_auc" if kind != "regression" else "r2",
        meta_features={"n_rows": 100.0, "skew": math.nan, **features},
        provenance={"source": "test", "nested": {"b": 1, "a": [1, 2]}},
    )


def fill(kb: KnowledgeBase) -> None:
    kb.add_task(task("t1"))
    kb.add_task(task("t2"))
    kb.add_task(task("r1", "regression"))
    kb.add_evaluations(
        [
            Evaluation("t1", RF1, 0.80, 1.0),
            Evaluation("t1", KNN, 0.70, 0.1),
            Evaluation("t1", SVM, math.nan, 0.2, "failed", "ValueError: boom"),
            Evaluation("t2", RF1, 0.60, 1.5),
            Evaluation("t2", RF2, 0.65, 3.0, "capped"),
            Evaluation("r1", KNN, 0.30, 0.1),
        ]
    )


def same_evaluations(a: list[Evaluation], b: list[Evaluation]) -> bool:
    def key(e: Evaluation) -> tuple[object, ...]:
        score = None if math.isnan(e.score) else e.score
        fit = None if math.isnan(e.fit_time) else e.fit_time
        return (e.task_id, e.config.key, score, fit, e.status, e.error)

    return sorted(map(key, a), key=repr) == sorted(map(key, b), key=repr)


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# -- round trip ----------------------------------------------------------------------------
def test_round_trip_through_a_file(tmp_path: Path) -> None:
    path = tmp_path / "kb.db"
    with KnowledgeBase.open(path) as kb:
        fill(kb)
        written = kb.evaluations()
        tasks = kb.tasks()
    with KnowledgeBase.open(path) as kb:
        assert kb.tasks() == tasks
        assert [t.task_id for t in kb.tasks()] == ["r1", "t1", "t2"]
        assert [t.task_id for t in kb.tasks(kind="binary")] == ["t1", "t2"]
        record = kb.task("t1")
        assert record == task("t1")
        assert math.isnan(record.meta_features["skew"])
        assert record.provenance == {"source": "test", "nested": {"b": 1, "a": [1, 2]}}
        read = kb.evaluations()
        assert same_evaluations(read, written)
        assert len(read) == 6
        failed = [e for e in read if e.status == "failed"]
        assert len(failed) == 1
        assert math.isnan(failed[0].score)
        assert failed[0].error == "ValueError: boom"
        assert failed[0].config == SVM
        assert SVM.params["gamma"] == [0.1, "scale"]  # lists survive
        assert {e.config for e in kb.evaluations("t2")} == {RF1, RF2}
        assert {e.task_id for e in kb.evaluations(kind="regression")} == {"r1"}
        assert kb.evaluations("nope") == []
        assert kb.configs() == sorted([RF1, RF2, KNN, SVM], key=lambda c: c.key)
        assert kb.configs("rf") == sorted([RF1, RF2], key=lambda c: c.key)
        assert kb.evaluated("t1") == {RF1.key: "ok", KNN.key: "ok", SVM.key: "failed"}
        assert kb.evaluated("unknown") == {}
        assert kb.counts() == {"tasks": 3, "configs": 4, "evaluations": 6}
        assert len(kb) == 3
        assert "tasks=3" in repr(kb)
        assert str(path) in repr(kb)


def test_task_lookup_error_is_clear() -> None:
    with KnowledgeBase.in_memory() as kb, pytest.raises(KeyError, match="add_task"):
        kb.task("missing")


def test_configs_are_stored_once_and_a_cell_is_replaced(tmp_path: Path) -> None:
    with KnowledgeBase.open(tmp_path / "kb.db") as kb:
        kb.add_task(task("a"))
        kb.add_task(task("b"))
        same = Config("rf", {"max_depth": 3, "n_estimators": 100})  # equal to RF1
        assert kb.add_evaluations([Evaluation("a", RF1, 0.5, 1.0)]) == 1
        kb.add_evaluations([Evaluation("b", same, 0.6, 1.0), Evaluation("a", same, 0.7, 2.0)])
        assert kb.counts() == {"tasks": 2, "configs": 1, "evaluations": 2}
        (cell,) = kb.evaluations("a")
        assert (cell.score, cell.fit_time) == (0.7, 2.0)
        # within one call the last write of a cell wins
        kb.add_evaluations([Evaluation("a", RF1, 0.1, 1.0), Evaluation("a", RF1, 0.2, 1.0)])
        assert kb.evaluations("a")[0].score == 0.2
        assert kb.add_evaluations([]) == 0


def test_unknown_task_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with KnowledgeBase.open(tmp_path / "kb.db") as kb:
        kb.add_task(task("a"))
        batch = [Evaluation("a", RF1, 0.5, 1.0), Evaluation("ghost", KNN, 0.5, 1.0)]
        with pytest.raises(ValueError, match=r"'ghost'.*add_task\(\) first"):
            kb.add_evaluations(batch)
        assert kb.counts() == {"tasks": 1, "configs": 0, "evaluations": 0}


def test_bad_evaluation_values_are_refused() -> None:
    with KnowledgeBase.in_memory() as kb:
        kb.add_task(task("a"))
        with pytest.raises(TypeError, match="Evaluation"):
            kb.add_evaluations([("a", RF1, 0.5, 1.0)])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="status"):
            kb.add_evaluations([Evaluation("a", RF1, 0.5, 1.0, "weird")])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="fit_time"):
            kb.add_evaluations([Evaluation("a", RF1, 0.5, -1.0)])
        kb.add_evaluations([Evaluation("a", RF1, math.inf, math.nan)])
        (stored,) = kb.evaluations()
        assert math.isnan(stored.score)
        assert math.isnan(stored.fit_time)


def test_add_task_updates_and_guards_its_scoring() -> None:
    with KnowledgeBase.in_memory() as kb:
        kb.add_task(task("a", extra=1.0))
        kb.add_task(TaskRecord("a", "renamed", "binary", "roc_auc", {"new": 2.0}))
        assert kb.task("a").meta_features == {"new": 2.0}
        assert kb.task("a").name == "renamed"
        kb.add_task(
            TaskRecord("a", "renamed", "binary", "roc_auc", {"more": 3.0}),
            replace_meta_features=False,
        )
        assert kb.task("a").meta_features == {"new": 2.0, "more": 3.0}
        kb.add_task(TaskRecord("a", "x", "binary", "accuracy", {}))  # no evaluations yet: fine
        kb.add_evaluations([Evaluation("a", RF1, 0.5, 1.0)])
        with pytest.raises(ValueError, match="new task_id"):
            kb.add_task(TaskRecord("a", "x", "binary", "roc_auc", {}))


def test_task_record_validation() -> None:
    with pytest.raises(ValueError, match="infinite"):
        TaskRecord("a", "a", "binary", "roc_auc", {"x": math.inf})
    with pytest.raises(ValueError, match="kind"):
        TaskRecord("a", "a", "ranking", "roc_auc", {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="number"):
        TaskRecord("a", "a", "binary", "roc_auc", {"x": "1"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="JSON"):
        TaskRecord("a", "a", "binary", "roc_auc", {}, provenance={"f": object()})
    record = TaskRecord("a", "a", "binary", "roc_auc", {"b": np.float64(2), "a": 1})
    assert list(record.meta_features) == ["a", "b"]
    assert all(type(v) is float for v in record.meta_features.values())
    assert TaskRecord("a", "a", "binary", "roc_auc", {"x": float("nan")}) == TaskRecord(
        "a",
        "a",
        "binary",
        "roc_auc",
        {"x": None},  # type: ignore[dict-item]
    )


def test_metadata() -> None:
    with KnowledgeBase.in_memory() as kb:
        meta = kb.metadata()
        assert meta["schema_version"] == SCHEMA_VERSION
        assert meta["application"] == "autometa"
        assert isinstance(meta["created_with"], str)
        assert meta["created_with"]
        kb.set_metadata("build", {"corpus": "v1", "seed": 0})
        assert kb.metadata()["build"] == {"corpus": "v1", "seed": 0}
        with pytest.raises(ValueError, match="maintained"):
            kb.set_metadata("schema_version", 99)
        with pytest.raises(TypeError, match="JSON"):
            kb.set_metadata("x", math.nan)


def test_closed_knowledge_base_says_so() -> None:
    kb = KnowledgeBase.in_memory()
    kb.close()
    kb.close()
    assert "closed" in repr(kb)
    with pytest.raises(KnowledgeBaseError, match="closed"):
        kb.counts()


# -- score table ---------------------------------------------------------------------------
def test_score_table_and_normalized() -> None:
    with KnowledgeBase.in_memory() as kb:
        fill(kb)
        table = kb.score_table()
        assert table.task_ids == ["r1", "t1", "t2"]
        assert table.configs == sorted([RF1, KNN], key=lambda c: c.key)  # SVM failed, RF2 capped
        col = {c: j for j, c in enumerate(table.configs)}
        assert table.scores[1, col[RF1]] == 0.80
        assert table.scores[1, col[KNN]] == 0.70
        assert np.isnan(table.scores[0, col[RF1]])
        assert np.isnan(table.scores[2, col[KNN]])
        assert not table.scores.flags.writeable

        binary = kb.score_table("binary")
        assert binary.task_ids == ["t1", "t2"]
        norm = binary.normalized()
        c = {cfg: j for j, cfg in enumerate(binary.configs)}
        assert norm[0, c[RF1]] == 1.0
        assert norm[0, c[KNN]] == 0.0
        assert norm[1, c[RF1]] == 1.0
        assert np.isnan(norm[1, c[KNN]])

        rf_only = kb.score_table(algorithms=["rf"])
        assert rf_only.configs == [RF1]
        assert rf_only.task_ids == ["t1", "t2"]
        assert kb.score_table(algorithms=[]).shape == (0, 0)


def test_normalized_edge_cases() -> None:
    scores = np.array([[0.2, 0.4, 0.6, np.nan], [0.5, 0.5, np.nan, 0.5], [np.nan] * 4])
    configs = [Config("a", {"i": i}) for i in range(4)]
    table = ScoreTable(["a", "b", "c"], configs, scores)
    norm = table.normalized()
    np.testing.assert_allclose(norm[0, :3], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(norm[1], [1.0, 1.0, np.nan, 1.0])
    assert np.isnan(norm[2]).all()
    assert table.scores[0, 0] == 0.2  # a copy
    with pytest.raises(ValueError, match="shape"):
        ScoreTable(["a"], configs, scores)


# -- JSON Lines ----------------------------------------------------------------------------
def test_export_import_round_trip_is_exact_and_deterministic(tmp_path: Path) -> None:
    with KnowledgeBase.open(tmp_path / "a.db") as kb:
        fill(kb)
        kb.set_metadata("build", {"corpus": "v1"})
        counts = kb.export_jsonl(tmp_path / "a.jsonl")
        assert counts == {"tasks": 3, "configs": 4, "evaluations": 6}
        kb.export_jsonl(tmp_path / "a.jsonl.gz")
        tasks, evaluations = kb.tasks(), kb.evaluations()
    first = (tmp_path / "a.jsonl").read_bytes()
    lines = first.decode().splitlines()
    assert lines[0].startswith('{"type":"meta","format":"autometa-kb","schema_version":1')
    assert [line.split('"', 4)[3] for line in lines] == (
        ["meta"] + ["config"] * 4 + ["task"] * 3 + ["evaluation"] * 6
    )
    assert '"score":null' in first.decode()
    assert "NaN" not in first.decode()

    # Same content added in another order gives the same bytes.
    with KnowledgeBase.in_memory() as other:
        other.set_metadata("build", {"corpus": "v1"})
        for record in reversed(tasks):
            other.add_task(record)
        other.add_evaluations(reversed(evaluations))
        other.export_jsonl(tmp_path / "b.jsonl")
        other.export_jsonl(tmp_path / "b.jsonl.gz")
    assert (tmp_path / "b.jsonl").read_bytes() == first
    assert (tmp_path / "b.jsonl.gz").read_bytes() == (tmp_path / "a.jsonl.gz").read_bytes()
    assert gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes()) == first

    # Import gives back the same content, and exporting again the same bytes.
    for name in ("a.jsonl", "a.jsonl.gz"):
        with KnowledgeBase.open(tmp_path / f"from-{name}.db") as copy:
            counts = copy.import_jsonl(tmp_path / name)
            assert counts == {"files": 1, "tasks": 3, "configs": 4, "evaluations": 6}
            assert copy.tasks() == tasks
            assert same_evaluations(copy.evaluations(), evaluations)
            assert copy.metadata()["build"] == {"corpus": "v1"}
            copy.export_jsonl(tmp_path / "again.jsonl")
            assert (tmp_path / "again.jsonl").read_bytes() == first


def test_export_a_subset_of_tasks(tmp_path: Path) -> None:
    with KnowledgeBase.in_memory() as kb:
        fill(kb)
        counts = kb.export_jsonl(tmp_path / "t2.jsonl", task_ids=["t2"])
        assert counts == {"tasks": 1, "configs": 2, "evaluations": 2}
        with pytest.raises(KeyError, match="nope"):
            kb.export_jsonl(tmp_path / "x.jsonl", task_ids=["nope"])
    with KnowledgeBase.in_memory() as kb:
        kb.import_jsonl(tmp_path / "t2.jsonl")
        assert kb.configs() == sorted([RF1, RF2], key=lambda c: c.key)


def test_import_a_folder_and_several_files(tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    with KnowledgeBase.in_memory() as kb:
        fill(kb)
        kb.export_jsonl(folder / "1-binary.jsonl", task_ids=["t1", "t2"])
        kb.export_jsonl(folder / "2-regression.jsonl.gz", task_ids=["r1"])
        (folder / "notes.txt").write_text("ignored")
        expected = kb.evaluations()
    with KnowledgeBase.in_memory() as kb:
        assert kb.import_jsonl(folder)["files"] == 2
        assert same_evaluations(kb.evaluations(), expected)
    with KnowledgeBase.in_memory() as kb:
        kb.import_jsonl([folder / "1-binary.jsonl", str(folder / "2-regression.jsonl.gz")])
        assert same_evaluations(kb.evaluations(), expected)


GOOD_CONFIG = '{"type":"config","id":1,"algorithm":"rf","params":{"a":1}}'
GOOD_TASK = '{"type":"task","task_id":"t","kind":"binary","scoring":"roc_auc","meta_features":{}}'
GOOD_EVAL = '{"type":"evaluation","task_id":"t","config":1,"score":0.5,"status":"ok"}'


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type":"cake"}', "unknown record type"),
        ('{"type":"task","task_id":"t"}', "lacks"),
        (GOOD_EVAL[:-1] + ',"colour":"red"}', "unknown fields"),
        (GOOD_EVAL.replace('"config":1', '"config":7'), "config 7"),
        (GOOD_EVAL.replace("0.5", '"high"'), "score"),
        (GOOD_EVAL.replace("0.5", "NaN"), "NaN"),
        (GOOD_EVAL.replace('"ok"', '"great"'), "status"),
        (GOOD_TASK.replace('"binary"', '"ranking"'), "kind"),
        (GOOD_TASK.replace("{}", '{"x":"big"}'), "meta-feature 'x'"),
        (
            GOOD_CONFIG.replace('"id":1', '"id":2').replace('{"a":1}', '{"a":{"x":1}}'),
            "parameter 'a'",
        ),
        (GOOD_CONFIG, "defined twice"),
        ('{"type":"meta","format":"autometa-kb","schema_version":1}', "first line"),
    ],
)
def test_malformed_line_names_file_and_line_and_writes_nothing(
    tmp_path: Path, bad: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([GOOD_CONFIG, GOOD_TASK, GOOD_EVAL, "", bad, GOOD_EVAL]) + "\n")
    with KnowledgeBase.open(tmp_path / "kb.db") as kb:
        fill(kb)
        before = kb.counts(), kb.evaluations()
        with pytest.raises(KnowledgeBaseError, match=message) as caught:
            kb.import_jsonl(path)
        assert f"{path}, line 5" in str(caught.value)
        assert (kb.counts(), kb.evaluations()) == before


def test_import_is_all_or_nothing_across_files(tmp_path: Path) -> None:
    good = tmp_path / "a.jsonl"
    good.write_text("\n".join([GOOD_CONFIG, GOOD_TASK, GOOD_EVAL]) + "\n")
    bad = tmp_path / "b.jsonl"
    bad.write_bytes(b'{"type":"task","task_id":"u","kind":"binary"\xff\n')
    with KnowledgeBase.in_memory() as kb:
        with pytest.raises(KnowledgeBaseError, match=r"b\.jsonl, line 1.*UTF-8"):
            kb.import_jsonl([good, bad])
        assert kb.counts() == {"tasks": 0, "configs": 0, "evaluations": 0}


def test_import_with_unknown_task_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "orphan.jsonl"
    path.write_text("\n".join([GOOD_CONFIG, GOOD_EVAL]) + "\n")
    with KnowledgeBase.in_memory() as kb:
        with pytest.raises(ValueError, match=r"'t' at .*orphan\.jsonl, line 2"):
            kb.import_jsonl(path)
        assert kb.counts() == {"tasks": 0, "configs": 0, "evaluations": 0}
        kb.add_task(TaskRecord("t", "t", "binary", "roc_auc", {}))
        assert kb.import_jsonl(path)["evaluations"] == 1  # a stored task is fine


def test_import_refuses_a_newer_format(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    path.write_text('{"type":"meta","format":"autometa-kb","schema_version":99}\n')
    with KnowledgeBase.in_memory() as kb, pytest.raises(KnowledgeBaseError, match="newer"):
        kb.import_jsonl(path)


def test_copy_into_seeds_another_knowledge_base(tmp_path: Path) -> None:
    with KnowledgeBase.in_memory() as source, KnowledgeBase.open(tmp_path / "kb.db") as target:
        fill(source)
        source.set_metadata("build", "x")
        target.add_task(task("own"))
        assert source.copy_into(target) == {"tasks": 3, "configs": 4, "evaluations": 6}
        assert [t.task_id for t in target.tasks()] == ["own", "r1", "t1", "t2"]
        assert same_evaluations(target.evaluations(), source.evaluations())
        assert target.metadata()["build"] == "x"
        with pytest.raises(ValueError, match="another"):
            source.copy_into(source)


# -- optuna --------------------------------------------------------------------------------
def test_add_study_imports_trials_following_the_convention() -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0), study_name="old"
    )

    def objective(trial: optuna.Trial) -> float:
        algorithm = trial.suggest_categorical("algorithm", ["rf", "knn"])
        x = trial.suggest_float(f"{algorithm}__x", 0.0, 1.0)
        if trial.number == 3:
            trial.set_user_attr("error", "ValueError: boom")
            raise ValueError("boom")
        return x

    study.optimize(objective, n_trials=8, catch=(ValueError,))
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 0.5},
            distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
            value=0.5,
        )
    )
    with KnowledgeBase.in_memory() as kb:
        with pytest.warns(UserWarning, match="no 'algorithm' parameter"):
            n = kb.add_study(
                study, meta_features={"n_rows": 10.0}, kind="regression", scoring="neg_rmse"
            )
        assert n == 8
        record = kb.task("optuna:old")
        assert (record.kind, record.scoring, record.name) == ("regression", "neg_rmse", "old")
        assert record.provenance["direction"] == "minimize"
        stored = {e.config: e for e in kb.evaluations("optuna:old")}
        for trial in study.trials[:8]:
            evaluation = stored[Config.from_trial_params(trial.params)]
            assert evaluation.config.algorithm == trial.params["algorithm"]
            if trial.state == optuna.trial.TrialState.COMPLETE:
                assert evaluation.status == "ok"
                assert trial.value is not None
                assert evaluation.score == -trial.value  # greater is better
                assert evaluation.fit_time >= 0
            else:
                assert evaluation.status == "failed"
                assert math.isnan(evaluation.score)
                assert evaluation.error == "ValueError: boom"


def test_add_study_refuses_multi_objective() -> None:
    study = optuna.create_study(directions=["minimize", "maximize"])
    with KnowledgeBase.in_memory() as kb, pytest.raises(ValueError, match="objectives"):
        kb.add_study(study, meta_features={}, kind="binary", scoring="roc_auc")


# -- default knowledge base ----------------------------------------------------------------
@pytest.mark.parametrize("exists", [True, False])
def test_default_with_no_files_is_empty_and_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exists: bool
) -> None:
    folder = tmp_path / "default_kb"
    if exists:
        folder.mkdir()
    monkeypatch.setattr(knowledge, "_default_kb_dir", lambda: folder)
    kb = KnowledgeBase.default()
    assert kb.counts() == {"tasks": 0, "configs": 0, "evaluations": 0}
    assert kb.read_only
    with pytest.raises(KnowledgeBaseError, match="read-only"):
        kb.add_task(task("a"))
    assert kb.score_table().shape == (0, 0)


def test_default_loads_every_jsonl_file_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "default_kb"
    folder.mkdir()
    with KnowledgeBase.in_memory() as kb:
        fill(kb)
        kb.export_jsonl(folder / "a.jsonl", task_ids=["t1"])
        kb.export_jsonl(folder / "b.jsonl", task_ids=["t2", "r1"])
        expected = kb.evaluations()
    monkeypatch.setattr(knowledge, "_default_kb_dir", lambda: folder)
    default = KnowledgeBase.default()
    assert same_evaluations(default.evaluations(), expected)
    with pytest.raises(KnowledgeBaseError, match="read-only"):
        default.add_evaluations([Evaluation("t1", RF2, 0.1, 0.1)])
    # Read-only below the API too: the connection itself refuses writes.
    default._read_only = False
    with pytest.raises(KnowledgeBaseError, match="readonly"):
        default.set_metadata("x", 1)
    with KnowledgeBase.in_memory() as mine:
        KnowledgeBase.default().copy_into(mine)
        mine.add_evaluations([Evaluation("t1", RF2, 0.1, 0.1)])
        assert mine.counts()["evaluations"] == 7


def test_shipped_default_loads() -> None:
    """The shipped base holds what its files say, counted here without its reader: every
    task line, and every (task, configuration) cell of the evaluation lines."""
    import json

    tasks: set[str] = set()
    configs: set[str] = set()
    cells: set[tuple[str, str]] = set()
    files = sorted((Path(knowledge.__file__).parents[1] / "data" / "default_kb").rglob("*.jsonl"))
    assert files, "no shipped knowledge base files"
    for file in files:
        keys: dict[int, str] = {}  # config ids are local to a file
        for line in file.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record["type"] == "task":
                tasks.add(record["task_id"])
            elif record["type"] == "config":
                keys[record["id"]] = Config(record["algorithm"], record["params"]).key
                configs.add(keys[record["id"]])
            elif record["type"] == "evaluation":
                cells.add((record["task_id"], keys[record["config"]]))
    kb = KnowledgeBase.default()
    assert kb.read_only
    assert len(cells) > 0
    assert kb.counts() == {"tasks": len(tasks), "configs": len(configs), "evaluations": len(cells)}


# -- files: layout, read-only, bad paths -----------------------------------------------------
def test_new_file_layout(tmp_path: Path) -> None:
    path = tmp_path / "kb.db"
    KnowledgeBase.open(path).close()
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        indexes = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "ix_configs_algorithm" in indexes
    finally:
        raw.close()
    assert path.read_bytes()[68:72] == APPLICATION_ID.to_bytes(4, "big")


def test_sqlalchemy_url_for_a_file(tmp_path: Path) -> None:
    path = tmp_path / "kb.db"
    with KnowledgeBase.open(f"sqlite:///{path}") as kb:
        fill(kb)
    with KnowledgeBase.open(path) as kb:
        assert kb.counts()["evaluations"] == 6
    with KnowledgeBase.open("sqlite://") as memory:
        assert len(memory) == 0


def test_read_only_refuses_every_write(tmp_path: Path) -> None:
    path = tmp_path / "kb.db"
    with KnowledgeBase.open(path) as kb:
        fill(kb)
    before = path.read_bytes()
    with KnowledgeBase.open(path, read_only=True) as kb:
        assert kb.counts()["evaluations"] == 6
        writes = [
            lambda: kb.add_task(task("x")),
            lambda: kb.add_evaluations([Evaluation("t1", RF2, 0.1, 0.1)]),
            lambda: kb.set_metadata("k", 1),
            lambda: kb.import_jsonl([]),
            lambda: KnowledgeBase.in_memory().copy_into(kb),
        ]
        for write in writes:
            with pytest.raises(KnowledgeBaseError, match="read-only"):
                write()
        assert "read-only" in repr(kb)
    assert path.read_bytes() == before


def test_read_only_or_no_create_does_not_create(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.db"):
        KnowledgeBase.open(tmp_path / "missing.db", read_only=True)
    with pytest.raises(FileNotFoundError, match=r"missing\.db"):
        KnowledgeBase.open(tmp_path / "missing.db", create=False)
    assert list(tmp_path.iterdir()) == []


def test_missing_directory_and_file_as_directory_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "kb.db"
    with pytest.raises(FileNotFoundError, match=r"directory .*dir does not exist"):
        KnowledgeBase.open(missing)
    regular = tmp_path / "a-file"
    regular.write_text("x")
    with pytest.raises(NotADirectoryError, match=r"a-file is a file, not a directory"):
        KnowledgeBase.open(regular / "kb.db")
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        KnowledgeBase.open(tmp_path)
    assert regular.read_text() == "x"


# -- hostile and damaged files ---------------------------------------------------------------
def _assert_rejected_unchanged(path: Path, match: str) -> None:
    folder = listing(path.parent)
    for read_only in (False, True):
        with pytest.raises(KnowledgeBaseError, match=match) as caught:
            KnowledgeBase.open(path, read_only=read_only)
        assert str(path) in str(caught.value)
        assert path.read_bytes() == folder[path.name]
        if not read_only:  # a writable attempt leaves no trace at all
            assert listing(path.parent) == folder


def test_foreign_sqlite_file_is_rejected_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE people (name TEXT)")
    raw.execute("INSERT INTO people VALUES ('ada')")
    raw.commit()
    raw.close()
    _assert_rejected_unchanged(path, r"not an autometa knowledge base.*people")


def test_foreign_application_id_is_rejected_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA application_id = 1234")
    raw.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    raw.commit()
    raw.close()
    _assert_rejected_unchanged(path, "application_id 0x4d2")


def test_foreign_tables_with_our_application_id_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "odd.db"
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    raw.execute("CREATE TABLE things (x)")
    raw.commit()
    raw.close()
    _assert_rejected_unchanged(path, "missing")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (os.urandom(4096), "not an SQLite database"),
        (b"SQLite format 3\x00" + os.urandom(5000), "damaged|not an autometa"),
        (b'{"type":"meta"}\n', "JSON Lines"),
    ],
)
def test_non_sqlite_files_are_rejected_unchanged(
    tmp_path: Path, content: bytes, match: str
) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(content)
    _assert_rejected_unchanged(path, match)


def _populated(path: Path, n: int = 300) -> None:
    with KnowledgeBase.open(path) as kb:
        kb.add_task(task("t"))
        kb.add_evaluations(
            Evaluation("t", Config("a", {"i": i, "pad": "x" * 50}), i, 0.0) for i in range(n)
        )


@pytest.mark.parametrize("keep", [0.5, 0.5001, 60])
def test_truncated_knowledge_base_is_rejected_unchanged(tmp_path: Path, keep: float) -> None:
    source = tmp_path / "whole.db"
    _populated(source)
    data = source.read_bytes()
    assert len(data) > 8 * 4096
    path = tmp_path / "cut" / "kb.db"
    path.parent.mkdir()
    path.write_bytes(data[: int(len(data) * keep) if keep < 1 else int(keep)])
    _assert_rejected_unchanged(path, "truncated|not an SQLite database")


def test_newer_schema_is_rejected_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    _populated(path, 5)
    raw = sqlite3.connect(path)
    raw.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
    )
    raw.commit()
    raw.close()
    _assert_rejected_unchanged(path, r"newer autometa.*schema version 2.*Upgrade")


def test_empty_sqlite_file_is_adopted_only_when_writable(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(KnowledgeBaseError, match="empty"):
        KnowledgeBase.open(path, read_only=True)
    with KnowledgeBase.open(path) as kb:
        kb.add_task(task("a"))
    with KnowledgeBase.open(path, read_only=True) as kb:
        assert len(kb) == 1


class _Payload:
    """Unpickling this creates a marker file: proof that a pickle would have run code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("protocol", [0, pickle.HIGHEST_PROTOCOL])
def test_pickle_payloads_are_rejected_never_run(tmp_path: Path, protocol: int) -> None:
    # The payload is live: unpickling it deliberately does create its marker.
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(proof), protocol=protocol)).close()
    assert proof.exists()

    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker), protocol=protocol)
    cell: bytes | str = payload.decode("latin-1") if protocol == 0 else payload
    path = tmp_path / "crafted.db"
    with KnowledgeBase.open(path) as kb:
        fill(kb)
    raw = sqlite3.connect(path)
    raw.execute("UPDATE configs SET params = ? WHERE algorithm = 'knn'", (cell,))
    raw.execute("UPDATE tasks SET meta_features = ? WHERE task_id = 't2'", (cell,))
    raw.execute("UPDATE meta SET value = ? WHERE key = 'created_with'", (cell,))
    raw.commit()
    raw.close()

    with KnowledgeBase.open(path) as kb:
        reads: list[Callable[[], object]] = [
            kb.configs,
            kb.evaluations,
            kb.score_table,
            kb.tasks,
            lambda: kb.task("t2"),
            kb.metadata,
            lambda: kb.export_jsonl(tmp_path / "out.jsonl"),
            lambda: kb.copy_into(KnowledgeBase.in_memory()),
        ]
        for read in reads:
            with pytest.raises(KnowledgeBaseError, match="JSON"):
                read()
        assert kb.task("t1").task_id == "t1"  # untouched rows still read
        assert kb.configs("rf") == sorted([RF1, RF2], key=lambda c: c.key)
    assert not marker.exists()


def test_no_pickle_or_eval_in_the_knowledge_base_code() -> None:
    for module in (knowledge, kb_format, kb_storage):
        source = Path(module.__file__ or "").read_text()
        for forbidden in ("import pickle", "pickle.load", "eval(", "exec(", "marshal"):
            assert forbidden not in source, (module.__name__, forbidden)


def test_key_column_must_match_params(tmp_path: Path) -> None:
    path = tmp_path / "edited.db"
    with KnowledgeBase.open(path) as kb:
        fill(kb)
    raw = sqlite3.connect(path)
    raw.execute("UPDATE configs SET params = '{\"n_neighbors\": 6}' WHERE algorithm = 'knn'")
    raw.commit()
    raw.close()
    with KnowledgeBase.open(path) as kb, pytest.raises(KnowledgeBaseError, match="key column"):
        kb.configs()


# -- processes ---------------------------------------------------------------------------------
APPENDER = textwrap.dedent(
    """
    import os, sys, time
    from autometa.knowledge import KnowledgeBase, TaskRecord
    from autometa.contract import Config, Evaluation

    path, go, me = sys.argv[1], sys.argv[2], sys.argv[3]
    while not os.path.exists(go):
        time.sleep(0.002)
    with KnowledgeBase.open(path) as kb:
        kb.add_task(TaskRecord(me, me, "binary", "roc_auc", {"x": 1.0}))
        for i in range(200):
            kb.add_evaluations([Evaluation(me, Config("a", {"i": i}), i / 200, 0.01)])
    """
)


def test_two_processes_appending_to_one_file_lose_nothing(tmp_path: Path) -> None:
    path, go = tmp_path / "shared.db", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(path), str(go), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("p1", "p2")
    ]
    time.sleep(0.5)  # both interpreters importing; both then race to create the file
    go.touch()
    for proc in procs:
        _out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()
    with KnowledgeBase.open(path) as kb:
        assert kb.counts() == {"tasks": 2, "configs": 200, "evaluations": 400}
        for name in ("p1", "p2"):
            assert len(kb.evaluated(name)) == 200


WRITER = textwrap.dedent(
    """
    import sys
    from autometa.knowledge import KnowledgeBase, TaskRecord
    from autometa.contract import Config, Evaluation

    kb = KnowledgeBase.open(sys.argv[1])
    kb.add_task(TaskRecord("t", "t", "regression", "r2", {}))
    batch = 0
    while True:
        kb.add_evaluations(
            Evaluation("t", Config("a", {"batch": batch, "i": i}), float(i), 0.0)
            for i in range(200)
        )
        print(batch, flush=True)
        batch += 1
    """
)


def test_killed_writer_leaves_only_whole_transactions(tmp_path: Path) -> None:
    path = tmp_path / "kb.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:  # let it commit a few batches, then kill it mid-stream
            if int(line) >= 5:
                break
        time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    with KnowledgeBase.open(path) as kb:
        evaluations = kb.evaluations()
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        raw.close()
    per_batch: dict[int, int] = {}
    for evaluation in evaluations:
        batch = evaluation.config.params["batch"]
        per_batch[batch] = per_batch.get(batch, 0) + 1
    assert len(per_batch) >= 6
    assert set(per_batch.values()) == {200}
    assert sorted(per_batch) == list(range(len(per_batch)))
