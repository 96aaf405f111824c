"""SIGKILL while a knowledge base is being appended to: what was committed survives whole.

A real writer process appends large batches (one transaction each) and is killed inside
a transaction, again and again, at different moments; after every kill the file must
open, pass SQLite's integrity check, hold every batch the writer reported committed
with exactly the values written, hold no part of an uncommitted batch, and take new
appends: the rerun writer resumes where the dead one stopped and finishes the job.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from autometa.contract import Evaluation
from autometa.knowledge import KnowledgeBase

BATCHES = 10
ROWS = 1500
"""Evaluations per transaction: large enough that a kill soon after it begins lands inside."""

KILL_DELAYS_S = (0.0, 0.01, 0.05, 0.15)
"""Seconds after a batch begins at which each successive writer is killed (a batch takes
about 0.2 s to write on a busy two-core machine)."""

WRITER = textwrap.dedent(
    """
    import sys
    from autometa.knowledge import KnowledgeBase, TaskRecord
    from autometa.contract import Config, Evaluation

    path, batches, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    STATUSES = ("ok", "failed", "capped")

    def evaluation(batch, i):
        status = STATUSES[i % 3]
        return Evaluation(
            "t",
            Config("a", {"batch": batch, "i": i}),
            batch + i / rows if status == "ok" else float("nan"),
            0.001 * i,
            status,
            None if status == "ok" else f"{status} {batch}/{i} \\u00e9\\u2713",
        )

    with KnowledgeBase.open(path) as kb:
        kb.add_task(TaskRecord("t", "t", "regression", "r2", {"x": 1.0}))
        done = {e.config.params["batch"] for e in kb.evaluations("t")}
        for batch in range(batches):
            if batch in done:
                continue  # resumed: committed by an earlier, killed writer
            print("begin", batch, flush=True)
            kb.add_evaluations(evaluation(batch, i) for i in range(rows))
            print("committed", batch, flush=True)
    """
)


def expected(batch: int, i: int) -> tuple[float | None, float, str, str | None]:
    """What the writer wrote for row ``i`` of ``batch`` (score None for NaN)."""
    status = ("ok", "failed", "capped")[i % 3]
    score = batch + i / ROWS if status == "ok" else None
    error = None if status == "ok" else f"{status} {batch}/{i} é✓"
    return score, 0.001 * i, status, error


def start_writer(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(BATCHES), str(ROWS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_inside_a_batch(
    writer: subprocess.Popen[str], delay_s: float
) -> tuple[set[int], int | None]:
    """Let the writer commit one batch, kill it ``delay_s`` after it begins the next.

    Returns the batches it reported committed (including any it finished during the
    delay, read from what it printed before it died) and the one it was killed in (None
    if it died between batches).
    """
    assert writer.stdout is not None
    committed: set[int] = set()
    try:
        for line in writer.stdout:
            word, batch = line.split()
            if word == "committed":
                committed.add(int(batch))
            elif committed:  # "begin" of the batch after a committed one
                time.sleep(delay_s)
                writer.send_signal(signal.SIGKILL)
                writer.wait(timeout=60)
                killed_in: int | None = int(batch)
                for later in writer.stdout.read().splitlines():
                    word, batch = later.split()
                    if word == "committed":
                        committed.add(int(batch))
                        killed_in = None
                    else:
                        killed_in = int(batch)
                return committed, killed_in
        raise AssertionError(f"the writer ended before it could be killed: {writer.stderr}")
    finally:
        writer.wait(timeout=60)
        writer.stdout.close()
        assert writer.stderr is not None
        writer.stderr.close()


def check_file(path: Path) -> dict[int, list[Evaluation]]:
    """The file opens, is intact, and every batch in it is whole and exact."""
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        raw.close()
    with KnowledgeBase.open(path, read_only=True) as kb:
        evaluations = kb.evaluations("t")
    by_batch: dict[int, list[Evaluation]] = {}
    for e in evaluations:
        by_batch.setdefault(e.config.params["batch"], []).append(e)
    for batch, rows in by_batch.items():
        assert sorted(e.config.params["i"] for e in rows) == list(range(ROWS)), (
            f"batch {batch} is torn: {len(rows)} of {ROWS} rows"
        )
        for e in rows:
            score, fit_time, status, error = expected(batch, e.config.params["i"])
            got_score = None if e.score != e.score else e.score  # NaN read back for NULL
            assert (got_score, e.fit_time, e.status, e.error) == (score, fit_time, status, error)
    return by_batch


def test_sigkill_inside_appends_keeps_committed_rows_and_the_rerun_resumes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kb.db"
    reported: set[int] = set()
    inside = 0
    for delay_s in KILL_DELAYS_S:
        writer = start_writer(path)
        committed, killed_in = kill_inside_a_batch(writer, delay_s)
        assert writer.returncode == -signal.SIGKILL
        reported |= committed
        stored = check_file(path)
        assert reported <= set(stored), f"committed batches lost: {reported - set(stored)}"
        assert set(stored) <= reported | {killed_in}  # nothing from batches never begun
        inside += killed_in is not None and killed_in not in stored
        # A kill between the commit and its "committed" line leaves the batch whole in
        # the file: it is committed from now on, and the next writer skips it.
        reported |= set(stored)
    assert inside, "no kill landed inside a transaction: the test proved nothing"
    finishing = start_writer(path)  # appending again works, and resumes the job
    out, err = finishing.communicate(timeout=300)
    assert finishing.returncode == 0, err
    rerun = {int(line.split()[1]) for line in out.splitlines() if line.startswith("begin")}
    assert not rerun & reported, "the rerun wrote again batches that were committed"
    stored = check_file(path)
    assert sorted(stored) == list(range(BATCHES))
    assert sum(len(rows) for rows in stored.values()) == BATCHES * ROWS  # each exactly once
