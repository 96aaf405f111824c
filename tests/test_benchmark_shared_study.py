"""The shared-study load benchmark, end to end on SQLite with tiny parameters, and the
race it found: processes reclaiming one dead process's trial at the same moment.

examples/benchmark_shared_study.py starts processes sharing one study and one knowledge
base, stops one and kills another mid-search, and checks the study and the base
afterwards. Its first PostgreSQL run found two processes reclaiming the killed process's
trial at once: both enqueued its configuration again (it ran twice), and the one that
failed the trial second crashed the fit with Optuna's ``UpdateFinishedTrialError``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from autometa.search._leases import (
    LEASE_ATTR,
    RETRY_ATTR,
    LeaseWatch,
    owner_lease,
    reclaim_abandoned,
)
from autometa.search._storage import open_storage

BENCHMARK = Path(__file__).parent.parent / "examples" / "benchmark_shared_study.py"
RECLAIMERS = 8
ROUNDS = 4


@pytest.fixture(params=["sqlite", "postgres"])
def study_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return str(request.getfixturevalue("postgres_url"))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="liveness is read from /proc")
def test_processes_reclaiming_one_dead_trial_at_once_retry_it_once_and_go_on(
    study_url: str,
) -> None:
    storage = open_storage(study_url)
    assert storage is not None
    # One storage per reclaimer, as each process has its own connections.
    peers = [open_storage(study_url) for _ in range(RECLAIMERS)]
    errors: list[BaseException] = []
    names = [f"round{n}" for n in range(ROUNDS)]
    for name in names:  # a study per round: one dead trial, never itself a retry
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
        trial = study.ask()
        trial.suggest_categorical("algorithm", ["a", "b"])
        trial.set_user_attr(LEASE_ATTR, owner_lease(dead_pid(), time.time()))
        barrier = threading.Barrier(RECLAIMERS)

        def reclaim(peer: Any, name: str = name, barrier: threading.Barrier = barrier) -> None:
            mine = optuna.load_study(study_name=name, storage=peer)
            mine.get_trials()  # each process has read the study before the owner died
            barrier.wait()
            try:
                reclaim_abandoned(mine, LeaseWatch(), storage=peer)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=reclaim, args=(peer,)) for peer in peers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors[:3]  # no reclaiming process crashed
    for name in names:
        trials = optuna.load_study(study_name=name, storage=storage).get_trials()
        assert trials[0].state == TrialState.FAIL
        # Under the study's lock (advisory on PostgreSQL, a file lock on SQLite): retried once.
        assert [t.user_attrs.get(RETRY_ATTR) for t in trials] == [None, 0], name


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end_with_a_stop_and_a_kill(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    command = [
        sys.executable,
        str(BENCHMARK),
        "--backend",
        "sqlite",
        "--processes",
        "2",
        "--trials",
        "8",
        "--stop-seconds",
        "2",
        "--kill",
        "1",
        "--timeout",
        "480",
        "--out",
        str(out),
    ]
    # Generous bounds: they catch a hang, not a slow machine (8 trials took over 120 s on
    # a fresh 2-core CI machine beside the rest of the suite).
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=os.environ)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["passed"]
    assert [c["check"] for c in report["checks"] if not c["passed"]] == []
    figures = report["figures"]
    assert (figures["stops_injected"], figures["kills_injected"]) == (1, 1)
    assert figures["seconds_stopped"] >= 2
    assert figures["survivors_with_a_model"] == "1/1"
    assert figures["trials_running"] == 0
    assert figures["trials_counted"] >= 8
    assert figures["rows_lost"] == 0
    assert figures["rows_found"] == figures["rows_reported_distinct"] > 0
    assert "all checks passed" in done.stdout
