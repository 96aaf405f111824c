"""Load: eight processes, each running real fits that grow one knowledge base.

Once on a SQLite file, once on a real PostgreSQL database (see tests/conftest.py).

Each process fits two tasks of its own (subsamples of a bundled dataset) with
``knowledge=<the shared file>``: every fit reads the base to warm-start while the others
write to it. Each process reports what its fits evaluated; afterwards the base must hold
every reported evaluation exactly once, with its status and score, and nothing else.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from autometa.knowledge import KnowledgeBase

PROCESSES = 8
FITS_PER_PROCESS = 2
N_TRIALS = 3

FITTER = textwrap.dedent(
    """
    import json, os, sys, time
    import autometa
    from sklearn.datasets import load_breast_cancer

    path, go = sys.argv[1], sys.argv[2]
    me, fits, n_trials = (int(arg) for arg in sys.argv[3:6])
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    while not os.path.exists(go):  # every process imported: start together
        time.sleep(0.005)
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
    path, go = shared_location, tmp_path / "go"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                FITTER,
                path,
                str(go),
                str(me),
                str(FITS_PER_PROCESS),
                str(N_TRIALS),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # eight processes on a small machine: one native thread each, no oversubscription
            env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        )
        for me in range(PROCESSES)
    ]
    time.sleep(1.0)
    go.touch()
    reported: dict[str, dict[str, tuple[str, float | None]]] = {}
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        for line in out.splitlines():
            fit = json.loads(line)
            assert fit["task_id"] not in reported, "two fits made the same task"
            # A configuration proposed twice within one fit is one cell: the last one wins.
            cells = {key: (status, score) for key, status, score in fit["evaluations"]}
            reported[fit["task_id"]] = cells
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
