"""Opening a knowledge-base file: only SQLite reads it, so this process's locks survive."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from autometa.contract import Config, Evaluation
from autometa.knowledge import KnowledgeBase, KnowledgeBaseError, TaskRecord

# In a child process: switching the file out of WAL needs the exclusive lock on it, which
# it cannot get while a connection of the parent holds its shared lock.
SWITCH_JOURNAL = """
import sqlite3, sys
raw = sqlite3.connect(sys.argv[1], timeout=0)
try:
    print(raw.execute("PRAGMA journal_mode = DELETE").fetchone()[0])
except sqlite3.OperationalError as exc:
    print("refused:", exc)
"""


def _base(path: Path) -> None:
    with KnowledgeBase.open(path) as kb:
        kb.add_task(TaskRecord("t", "t", "binary", "roc_auc", {"n_rows": 10.0}))
        kb.add_evaluations([Evaluation("t", Config("rf", {"i": 1}), 0.5, 0.1)])


def test_opening_again_keeps_the_locks_this_process_holds(tmp_path: Path) -> None:
    path = tmp_path / "kb.db"
    _base(path)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN")
    assert holder.execute("SELECT count(*) FROM tasks").fetchone() == (1,)  # lock held
    try:
        for read_only in (True, False):  # the same file opened again in this process
            with KnowledgeBase.open(path, read_only=read_only) as again:
                assert len(again) == 1
        child = subprocess.run(
            [sys.executable, "-c", SWITCH_JOURNAL, str(path)], capture_output=True, text=True
        )
        assert "refused" in child.stdout, (child.stdout, child.stderr)
    finally:
        holder.rollback()
        holder.close()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "kb.db"
    os.mkfifo(path)
    for read_only in (False, True):
        with pytest.raises(KnowledgeBaseError, match="not a regular file"):
            KnowledgeBase.open(path, read_only=read_only)
    assert not path.is_file()  # still the FIFO, nothing created beside it
    assert [p.name for p in tmp_path.iterdir()] == ["kb.db"]
