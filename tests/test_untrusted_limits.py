"""A knowledge base someone sent costs bounded resources to read (issue 18, point 6).

Each crafted input of the issue is a real file in ``tmp_path``: a gzip file of 200 kB
holding a line of 200 MB (written in chunks, so this test never holds it), values nested
500 deep, numbers too large for a float (``1e999``), a FIFO given as a base, and a 1 MB
export of thousands of tasks each with its own configuration (a score table of 10^7
cells). Each is refused with a message naming the file (and line), nothing is written to
the base it was imported into, and ``kb import`` exits 2. The limits are those of
:mod:`autometa.knowledge._limits`.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from autometa._cli import main
from autometa.contract import Config, Evaluation
from autometa.knowledge import ImportLimits, KnowledgeBase, KnowledgeBaseError, TaskRecord
from autometa.knowledge._format import MAX_NESTING, check_nesting
from autometa.knowledge._limits import MAX_LINE_BYTES, MAX_TABLE_CELLS

META = {"type": "meta", "format": "autometa-kb", "schema_version": 1}


def task(task_id: str, **fields: object) -> dict[str, object]:
    record = {"type": "task", "task_id": task_id, "kind": "binary", "scoring": "roc_auc"}
    return {**record, "meta_features": {"n_rows": 10.0}, **fields}


def config(ident: int, **params: object) -> dict[str, object]:
    return {"type": "config", "id": ident, "algorithm": "rf", "params": params}


def cell(task_id: str, ident: int, score: object = 0.5, **fields: object) -> dict[str, object]:
    record = {"type": "evaluation", "task_id": task_id, "config": ident, "score": score}
    return {**record, "status": "ok", "fit_time": 0.1, **fields}


def write_jsonl(path: Path, *records: object) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def giant_gzip(path: Path, megabytes: int = 200) -> Path:
    """Two good lines, then a task whose name is ``megabytes`` MB long, in one gzip
    file written a megabyte at a time (about 200 kB on disk)."""
    head = json.dumps(task("giant", name="@")).encode()
    before, after = head.split(b"@")
    chunk = b"a" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=6) as stream:
        stream.write(json.dumps(META).encode() + b"\n" + json.dumps(task("t0")).encode() + b"\n")
        stream.write(before)
        for _ in range(megabytes):
            stream.write(chunk)
        stream.write(after + b"\n")
    return path


def grid(path: Path, n: int) -> Path:
    """An export of ``n`` tasks, each with one cell of its own configuration: a file of
    ``n`` cells whose score table has ``n * n``."""
    records: list[object] = [META]
    records += [config(i + 1, i=i) for i in range(n)]
    records += [task(f"t{i}") for i in range(n)]
    records += [cell(f"t{i}", i + 1) for i in range(n)]
    return write_jsonl(path, *records)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A base with one task and two cells: what a failed import must leave as it was."""
    path = tmp_path / "mine.db"
    with KnowledgeBase.open(path) as kb:
        kb.add_task(TaskRecord("mine", "mine", "binary", "roc_auc", {"n_rows": 5.0}))
        kb.add_evaluations(Evaluation("mine", Config("rf", {"i": i}), 0.7, 0.2) for i in (1, 2))
    return path


def rows(path: Path) -> dict[str, int]:
    """Rows of each table, counted with Python's sqlite3 (not through autometa)."""
    raw = sqlite3.connect(path)
    try:
        tables = ("tasks", "configs", "evaluations", "meta")
        return {t: raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        raw.close()


def refused(base: Path, source: Path, *named: str) -> str:
    """Import ``source`` into ``base``: KnowledgeBaseError naming ``source`` and ``named``,
    and the base unchanged. Returns the message."""
    before = rows(base)
    with KnowledgeBase.open(base) as kb, pytest.raises(KnowledgeBaseError) as error:
        kb.import_jsonl(source)
    message = str(error.value)
    for text in (str(source), *named):
        assert text in message, message
    assert rows(base) == before, "a refused import wrote to the base"
    return message


def run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_exit_2(result: Result, *named: str) -> None:
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: "), result.stderr
    for text in named:
        assert text in last, last


# -- 1. line size ---------------------------------------------------------------------------
def test_a_200_mb_line_in_a_200_kb_gzip_is_refused_unread(tmp_path: Path, base: Path) -> None:
    source = giant_gzip(tmp_path / "bomb.jsonl.gz")
    assert source.stat().st_size < 400_000
    tracemalloc.start()
    try:
        message = refused(base, source, "line 3", f"{MAX_LINE_BYTES:,} bytes")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Before: the whole line was read (200 MB), then decoded and parsed.
    assert peak < 20e6, f"the refused import allocated {peak / 1e6:.0f} MB"
    assert "AUTOMETA_KB_MAX_LINE_BYTES" in message
    assert_exit_2(run("kb", "import", source, "--into", base), str(source), "line 3")
    assert rows(base)["tasks"] == 1


def test_line_and_import_limits_can_be_raised_or_lowered(
    tmp_path: Path, base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    long_name = write_jsonl(tmp_path / "long.jsonl", META, task("t", name="x" * 3000))
    monkeypatch.setenv("AUTOMETA_KB_MAX_LINE_BYTES", "2_000")
    refused(base, long_name, "line 2", "longer than 2,000 bytes")
    with KnowledgeBase.open(base) as kb:  # the keyword wins over the environment
        assert kb.import_jsonl(long_name, limits=ImportLimits(line_bytes=4000))["tasks"] == 1
    monkeypatch.setenv("AUTOMETA_KB_MAX_IMPORT_BYTES", "500")
    many = write_jsonl(tmp_path / "many.jsonl", META, *(task(f"u{i}") for i in range(9)))
    sizes = np.cumsum([len(line) for line in many.read_bytes().splitlines(keepends=True)])
    past = int(np.argmax(sizes > 500)) + 1  # the line that goes past 500 bytes
    refused(base, many, f"line {past}", "more than 500 bytes")
    monkeypatch.setenv("AUTOMETA_KB_MAX_IMPORT_BYTES", "lots")
    with pytest.raises(ValueError, match="AUTOMETA_KB_MAX_IMPORT_BYTES='lots'"):
        ImportLimits.from_environment()


# -- 2. nesting -----------------------------------------------------------------------------
def nested(depth: int, inner: object = 0.5) -> object:
    for _ in range(depth):
        inner = [inner]
    return inner


def test_values_nested_500_deep_are_refused_with_file_and_line(tmp_path: Path, base: Path) -> None:
    deep_params = write_jsonl(tmp_path / "params.jsonl", META, config(1, C=nested(500)))
    # Before: RecursionError (no file, no line) from the check of the parameters.
    refused(base, deep_params, "line 2", "nested too deeply", "Flatten")
    deep_object: object = {}
    for _ in range(500):
        deep_object = {"a": deep_object}
    deep_provenance = write_jsonl(
        tmp_path / "provenance.jsonl", META, task("t0"), task("t1", provenance=deep_object)
    )
    # Before: imported (and stored) without a word.
    refused(base, deep_provenance, "line 3", "nested too deeply")
    assert_exit_2(run("kb", "import", deep_params, "--into", base), "line 2", "Flatten")


def test_brackets_inside_strings_and_the_deepest_allowed_values_pass(tmp_path: Path) -> None:
    brackets = "[{" * 600
    fine = write_jsonl(
        tmp_path / "fine.jsonl",
        META,
        config(1, C=nested(MAX_NESTING - 2), name=brackets),  # with the record and params
        task("t", name=brackets),
        cell("t", 1, error=brackets),
    )
    with KnowledgeBase.in_memory() as kb:
        assert kb.import_jsonl(fine) == {"files": 1, "tasks": 1, "configs": 1, "evaluations": 1}
        assert kb.tasks()[0].name == brackets


def test_a_stored_value_nested_500_deep_is_refused_when_read(tmp_path: Path, base: Path) -> None:
    raw = sqlite3.connect(base)
    try:
        raw.execute("UPDATE tasks SET provenance = ?", (json.dumps(nested(500)),))
        raw.commit()
    finally:
        raw.close()
    with KnowledgeBase.open(base, read_only=True) as kb, pytest.raises(KnowledgeBaseError) as e:
        kb.tasks()
    assert "nested too deeply" in str(e.value)
    assert str(base) in str(e.value)


# -- 3. numbers too large for a float -------------------------------------------------------
HUGE = "1" + "0" * 400  # an integer with no float


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ('{"type":"task","task_id":"t","kind":"binary","scoring":"roc_auc",'
         '"meta_features":{"skew":1e999}}', "meta-feature 'skew'"),
        ('{"type":"task","task_id":"t","kind":"binary","scoring":"roc_auc",'
         f'"meta_features":{{"skew":{HUGE}}}}}', "meta-feature 'skew'"),
        ('{"type":"task","task_id":"t","kind":"binary","scoring":"roc_auc",'
         '"meta_features":{},"provenance":{"source":{"rows":[1,-1e999]}}}',
         "provenance['source']['rows'][1]"),
        ('{"type":"config","id":1,"algorithm":"rf","params":{"C":[1e999]}}', "parameter 'C'"),
        ('{"type":"evaluation","task_id":"mine","config":1,"score":1e999,"status":"ok"}',
         "score"),
        ('{"type":"evaluation","task_id":"mine","config":1,"score":0.5,"status":"ok",'
         '"fit_time":-1e999}', "fit_time"),
        ('{"type":"task","task_id":"t","kind":"binary","scoring":"roc_auc",'
         '"meta_features":{"skew":NaN}}', "NaN"),
        ('{"type":"config","id":1,"algorithm":"rf","params":{"C":Infinity}}', "Infinity"),
    ],
    ids=["meta-1e999", "meta-400-digits", "provenance", "params", "score", "fit_time", "NaN",
         "Infinity"],
)  # fmt: skip
def test_non_finite_numbers_are_refused_naming_file_line_and_field(
    tmp_path: Path, base: Path, record: str, field: str
) -> None:
    lines = [json.dumps(META), json.dumps(config(1, C=1.0)), record]
    if '"evaluation"' in record:  # its config is line 2's
        lines.pop()
        lines.append(record)
    else:
        lines.pop(1)
    source = tmp_path / "numbers.jsonl"
    source.write_text("\n".join(lines) + "\n")
    # Before: ValueError without file or line (meta-features), OverflowError (the integer),
    # or imported as an infinite provenance value or a NaN score.
    refused(base, source, f"line {len(lines)}", field)
    assert_exit_2(run("kb", "import", source, "--into", base), f"line {len(lines)}", field)


def test_metadata_with_1e999_is_refused(tmp_path: Path, base: Path) -> None:
    source = tmp_path / "meta.jsonl"
    source.write_text(json.dumps(META)[:-1] + ',"metadata":{"note":{"x":1e999}}}\n')
    refused(base, source, "line 1", "metadata['note']['x']")


# -- 4. cells, tasks and the score table ----------------------------------------------------
def test_an_export_of_ten_million_table_cells_is_refused(tmp_path: Path, base: Path) -> None:
    side = int(MAX_TABLE_CELLS**0.5) + 1  # 3163 tasks x 3163 configs: a 1 MB file
    source = grid(tmp_path / "grid.jsonl", side)
    assert source.stat().st_size < 1.2e6
    # Before: imported; the base's score table then allocated side x side float64 arrays
    # (a 4000 x 4000 grid made the process grow by 763 MB; a 13 MB file needs ~20 GB).
    message = refused(base, source, f"{side:,} tasks x {side:,} configurations")
    assert "AUTOMETA_KB_MAX_TABLE_CELLS" in message
    assert_exit_2(run("kb", "import", source, "--into", base), str(source), "cells")


def test_a_base_past_the_table_limit_says_so_when_its_table_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = grid(tmp_path / "grid.jsonl", 40)
    with KnowledgeBase.open(tmp_path / "kb.db") as kb:
        kb.import_jsonl(source)  # 1,600 cells: within the default limit
        whole = kb.score_table()
        assert whole.shape == (40, 40)
        assert np.shares_memory(whole.scores, kb.score_table().scores), "copied per call"
        monkeypatch.setenv("AUTOMETA_KB_MAX_TABLE_CELLS", "1000")
        kb.add_task(TaskRecord("t-new", "t-new", "binary", "roc_auc", {}))  # new content
        with pytest.raises(KnowledgeBaseError, match="40 tasks x 40 configurations") as error:
            kb.score_table()
        assert str(tmp_path / "kb.db") in str(error.value)


def test_cells_and_tasks_per_import_are_bounded(
    tmp_path: Path, base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = grid(tmp_path / "a.jsonl", 3)  # 3 tasks, 3 cells: lines 5-7 and 8-10
    second = write_jsonl(
        tmp_path / "b.jsonl", META, config(1, i=0), task("u0"), cell("u0", 1), cell("t0", 1)
    )
    monkeypatch.setenv("AUTOMETA_KB_MAX_EVALUATIONS", "4")
    # Counted over the whole import: the fifth cell is the second file's line 5.
    refused(base, tmp_path, str(second), "line 5", "more than 4 evaluation records")
    monkeypatch.setenv("AUTOMETA_KB_MAX_EVALUATIONS", "100")
    monkeypatch.setenv("AUTOMETA_KB_MAX_TASKS", "2")
    refused(base, first, "line 7", "more than 2 task records", "AUTOMETA_KB_MAX_TASKS")
    assert_exit_2(run("kb", "import", first, "--into", base), "line 7")


# -- 5. FIFOs, sockets, folders -------------------------------------------------------------
@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO, with a guard: were it opened for reading, a writer opens and closes it after
    30 s, so that a regression fails instead of hanging the test run."""
    path = tmp_path / "stream.jsonl"
    os.mkfifo(path)
    done = threading.Event()

    def unblock() -> None:
        if done.wait(30):
            return
        with contextlib.suppress(OSError):  # OSError: nobody is reading it
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    guard = threading.Thread(target=unblock, daemon=True)
    guard.start()
    yield path
    done.set()
    guard.join()


def test_a_fifo_is_refused_unopened(tmp_path: Path, base: Path, fifo: Path) -> None:
    # Before: open() waited for a writer forever.
    refused(base, fifo, "FIFO", "not a regular file")
    folder = tmp_path / "folder"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", META, task("a"))
    os.mkfifo(folder / "b.jsonl")
    refused(base, folder, str(folder / "b.jsonl"), "FIFO")
    with pytest.raises(KnowledgeBaseError, match="not a regular file"):
        KnowledgeBase.open(fifo)  # the SQLite path
    assert_exit_2(run("kb", "import", fifo, "--into", base), str(fifo), "FIFO")
    good = write_jsonl(tmp_path / "good.jsonl", META, task("g"))
    assert_exit_2(run("kb", "import", good, "--into", fifo), str(fifo), "not a regular file")
    assert rows(base)["tasks"] == 1


def test_a_socket_is_refused(tmp_path: Path, base: Path) -> None:
    import socket

    path = tmp_path / "s.jsonl"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        refused(base, path, "a socket or device")
    finally:
        server.close()


def test_kb_import_of_a_fifo_exits_and_leaves_no_process(fifo: Path, base: Path) -> None:
    """The command as a real process, in a session of its own: it exits 2 within the
    timeout, and nothing of its session outlives it."""
    code = "import sys; from autometa._cli import main; sys.exit(main())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", code, "kb", "import", str(fifo), "--into", str(base)],
        stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        _, stderr = child.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        pytest.fail("kb import of a FIFO hangs")
    assert child.returncode == 2, stderr
    assert "FIFO" in stderr
    assert str(fifo) in stderr
    try:
        os.killpg(child.pid, 0)  # any process left in the command's session?
    except ProcessLookupError:
        pass
    else:
        os.killpg(child.pid, signal.SIGKILL)
        pytest.fail("kb import left a process behind")


# -- the shipped base is within every limit, far ------------------------------------------
def test_the_shipped_base_is_far_within_the_default_limits() -> None:
    """The defaults' justification, measured on the shipped files (read, not imported)."""
    folder = Path(__file__).parents[1] / "autometa" / "data" / "default_kb"
    lines = [line for f in sorted(folder.rglob("*.jsonl")) for line in f.read_bytes().splitlines()]
    kinds = [line.split(b'"type":"', 1)[1].split(b'"', 1)[0].decode() for line in lines]
    configs = {line.split(b'"algorithm":')[1] for line in lines if b'"type":"config"' in line}
    limits = ImportLimits()
    assert max(map(len, lines)) * 100 < limits.line_bytes
    assert sum(map(len, lines)) * 10 < limits.import_bytes
    assert kinds.count("task") * 100 < limits.tasks
    assert kinds.count("evaluation") * 10 < limits.evaluations
    assert kinds.count("task") * len(configs) * 50 < limits.table_cells
    for line in lines:
        check_nesting(line.decode(), "shipped")
