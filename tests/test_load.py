"""Load: eight processes, each running real fits that grow one knowledge base.

Once on a SQLite file, once on a real PostgreSQL database (see tests/conftest.py).

Each process fits two tasks of its own (subsamples of a bundled dataset) with
``knowledge=<the shared file>``: every fit reads the base to warm-start while the others
write to it. Each process reports what its fits evaluated; afterwards the base must hold
every reported evaluation exactly once, with its status and score, and nothing else.

The processes start their fits together (a barrier over their pipes: each says "ready"
once imported, and waits for "go"), and each reports when (``time.monotonic``, one clock
for every process of the machine) it fitted and wrote: the test fails unless the eight
were fitting at the same time and writes of one process fell between another's, so a
run in which the writers happened to take turns cannot pass for a concurrent one.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from autometa.knowledge import KnowledgeBase

PROCESSES = 8
FITS_PER_PROCESS = 2
N_TRIALS = 3

FITTER = textwrap.dedent(
    """
    import json, sys, time
    import autometa
    from autometa.knowledge import KnowledgeBase
    from sklearn.datasets import load_breast_cancer

    path = sys.argv[1]
    me, fits, n_trials = (int(arg) for arg in sys.argv[2:5])
    writes = []
    real_add_evaluations = KnowledgeBase.add_evaluations

    def timed(self, evaluations):  # the real write, timed
        start = time.monotonic()
        try:
            return real_add_evaluations(self, evaluations)
        finally:
            writes.append([start, time.monotonic()])

    KnowledgeBase.add_evaluations = timed
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "go"  # every process imported: start together
    started = time.monotonic()
    for fit in range(fits):
        rows = X.sample(150, random_state=100 * me + fit).index
        model = autometa.fit(
            X.loc[rows], y.loc[rows], n_trials=n_trials, random_state=fit, cv=2,
            algorithms=["naive_bayes", "knn"], knowledge=path,
        )
        print(json.dumps({
            "task_id": model.task_id_,
            "evaluations": [
                [e.config.key, e.status, None if e.score != e.score else e.score]
                for e in model.evaluations_
            ],
        }), flush=True)
    print(json.dumps({"started": started, "writes": writes}), flush=True)
    """
)


@pytest.fixture(params=["sqlite", "postgres"])
def shared_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the eight processes' knowledge base lives: a SQLite file or a database URL."""
    if request.param == "sqlite":
        return str(tmp_path / "shared.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.mark.slow
def test_eight_processes_fitting_into_one_knowledge_base_lose_nothing(
    tmp_path: Path, shared_location: str
) -> None:
    path = shared_location
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                FITTER,
                path,
                str(me),
                str(FITS_PER_PROCESS),
                str(N_TRIALS),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # eight processes on a small machine: one native thread each, no oversubscription
            env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        )
        for me in range(PROCESSES)
    ]
    for proc in procs:  # the barrier: all imported and waiting...
        said = proc.stdout.readline()  # type: ignore[union-attr]
        assert said == "ready\n", f"{said!r}: {proc.communicate()[1]}"
    for proc in procs:  # ...then all released at once
        proc.stdin.write("go\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
    reported: dict[str, dict[str, tuple[str, float | None]]] = {}
    timings: list[dict[str, Any]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        *fits, timing = out.splitlines()
        timings.append(json.loads(timing))
        for line in fits:
            fit = json.loads(line)
            assert fit["task_id"] not in reported, "two fits made the same task"
            # A configuration proposed twice within one fit is one cell: the last one wins.
            cells = {key: (status, score) for key, status, score in fit["evaluations"]}
            reported[fit["task_id"]] = cells
    assert_writers_overlapped(timings)
    assert len(reported) == PROCESSES * FITS_PER_PROCESS

    with KnowledgeBase.open(path, read_only=True) as kb:
        assert {t.task_id for t in kb.tasks()} == set(reported)
        stored = {
            task_id: {e.config.key: (e.status, e.score) for e in kb.evaluations(task_id)}
            for task_id in reported
        }
        rows = kb.counts()["evaluations"]
    if "://" not in path:
        raw = sqlite3.connect(path)
        try:
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            raw.close()
    assert rows == sum(len(cells) for cells in reported.values()), "rows lost or extra"
    for task_id, cells in reported.items():
        assert set(stored[task_id]) == set(cells), f"{task_id}: evaluations lost or extra"
        for key, (status, score) in cells.items():
            got_status, got_score = stored[task_id][key]
            assert got_status == status
            assert (score is None and math.isnan(got_score)) or got_score == score


def assert_writers_overlapped(timings: list[dict[str, Any]]) -> None:
    """All processes were fitting at one moment, and writes interleaved across processes.

    ``timings`` holds each process's start and its writes' ``[start, end]`` (monotonic
    seconds, one clock across the machine's processes).
    """
    assert all(len(t["writes"]) == FITS_PER_PROCESS for t in timings), timings
    last_start = max(t["started"] for t in timings)
    first_end = min(t["writes"][-1][1] for t in timings)
    assert last_start < first_end, "a process finished before another had started"
    # A process's write window: from its first write's start to its last write's end.
    windows = [(t["writes"][0][0], t["writes"][-1][1]) for t in timings]
    interleaved = [
        me
        for me, (first, last) in enumerate(windows)
        if any(
            first < start < last
            for other, t in enumerate(timings)
            if other != me
            for start, _ in t["writes"]
        )
    ]
    assert interleaved, f"the processes wrote in turns, never in between each other: {windows}"
