"""A live trial is never taken from its owner; a dead one is; a taken one is a loss, not a crash.

Real processes (children started, stopped with SIGSTOP, killed) and real SQLite studies.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import pytest
from estimators import SleepyClassifier
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from autometa import hookimpl
from autometa.contract import Algorithm
from autometa.search._leases import (
    LEASE_ATTR,
    RETRY_ATTR,
    LeaseWatch,
    _release,
    host_identity,
    owner_lease,
    reclaim_abandoned,
)
from autometa.search._studies import counts_as_done

linux_only = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="process liveness is read from /proc"
)

# Judged by the heartbeat, every lease of these tests would be stale within a second.
IMPATIENT = {"stale_after_s": 0.5, "abandoned_after_s": 1.0}


def running_trial(tmp_path: Path, lease: dict[str, Any] | None) -> optuna.Study:
    """A SQLite study holding one sampled running trial carrying ``lease``."""
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'study.db'}", study_name="s", direction="maximize"
    )
    trial = study.ask()
    trial.suggest_categorical("algorithm", ["sleepy"])
    trial.suggest_float("sleepy__seconds", 0.5, 1.0)
    if lease is not None:
        trial.set_user_attr(LEASE_ATTR, lease)
    return study


def state_and_retries(study: optuna.Study) -> tuple[TrialState, list[FrozenTrial]]:
    trials = study.get_trials()
    return trials[0].state, [t for t in trials if t.user_attrs.get(RETRY_ATTR) == 0]


@contextmanager
def sleeping_child() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield child
    finally:
        child.send_signal(signal.SIGCONT)  # a stopped child would not die of SIGTERM
        child.kill()
        child.wait()


def reclaimed_twice(study: optuna.Study, watch: LeaseWatch) -> list[int]:
    """Reclaim, then again once ``watch`` would call an unchanged heartbeat stale."""
    first = reclaim_abandoned(study, watch)
    time.sleep(watch.stale_after_s * 2)
    return first + reclaim_abandoned(study, watch)


# -- (a), (b): an owner alive on this host keeps its trial, whatever its heartbeat --------
@linux_only
def test_a_live_owner_with_a_ten_minute_old_beat_keeps_its_trial(tmp_path: Path) -> None:
    with sleeping_child() as owner:
        study = running_trial(tmp_path, owner_lease(owner.pid, time.time() - 600))
        assert reclaimed_twice(study, LeaseWatch(**IMPATIENT)) == []
        assert state_and_retries(study) == (TrialState.RUNNING, [])


@linux_only
def test_a_suspended_owner_keeps_its_trial(tmp_path: Path) -> None:
    with sleeping_child() as owner:
        study = running_trial(tmp_path, owner_lease(owner.pid, time.time() - 600))
        owner.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{owner.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
            assert time.monotonic() < deadline, "the child did not stop"
            time.sleep(0.01)
        assert reclaimed_twice(study, LeaseWatch(**IMPATIENT)) == []
        assert state_and_retries(study) == (TrialState.RUNNING, [])


# -- (c): a dead owner on this host loses its trial at once, and it is retried once --------
@linux_only
def test_a_dead_owner_on_this_host_is_reclaimed_at_once_and_retried_once(
    tmp_path: Path,
) -> None:
    with sleeping_child() as owner:
        lease = owner_lease(owner.pid, time.time())  # a fresh beat: only liveness tells
    study = running_trial(tmp_path, lease)
    watch = LeaseWatch()  # default periods: nothing is judged by its beat within this test
    assert reclaim_abandoned(study, watch) == [0]
    assert reclaim_abandoned(study, watch) == []
    state, retries = state_and_retries(study)
    assert state == TrialState.FAIL
    assert [r.state for r in retries] == [TrialState.WAITING]
    assert retries[0].system_attrs["fixed_params"] == study.get_trials()[0].params


@linux_only
def test_a_reused_process_id_is_not_taken_for_the_owner(tmp_path: Path) -> None:
    lease = owner_lease(os.getpid(), time.time())  # alive, but started at another time
    lease["started"] -= 1
    study = running_trial(tmp_path, lease)
    assert reclaim_abandoned(study, LeaseWatch()) == [0]


# -- (d): another host's lease: by its heartbeat, watched on this machine's clock ----------
def elsewhere(beat: float) -> dict[str, Any]:
    """A lease of another machine with this one's hostname, whose process id is alive here."""
    return {**owner_lease(os.getpid(), beat), "host": "boot:another-machine/pid:[4026531836]"}


def test_another_hosts_old_beat_is_reclaimed_only_once_seen_unchanged(tmp_path: Path) -> None:
    study = running_trial(tmp_path, elsewhere(time.time() - 600))
    watch = LeaseWatch(stale_after_s=1.0)
    assert reclaim_abandoned(study, watch) == []  # 10 minutes old, but never seen before
    time.sleep(0.3)
    assert reclaim_abandoned(study, watch) == []
    time.sleep(1.0)
    assert reclaim_abandoned(study, watch) == [0]
    assert state_and_retries(study)[0] == TrialState.FAIL
    assert len(state_and_retries(study)[1]) == 1


def test_another_hosts_beat_from_the_future_is_not_reclaimed(tmp_path: Path) -> None:
    study = running_trial(tmp_path, elsewhere(time.time() + 600))  # its clock runs ahead
    assert reclaim_abandoned(study, LeaseWatch(stale_after_s=1.0)) == []
    assert state_and_retries(study) == (TrialState.RUNNING, [])


def test_another_hosts_advancing_beat_is_never_reclaimed(tmp_path: Path) -> None:
    beat = time.time() - 600  # its clock runs behind
    study = running_trial(tmp_path, elsewhere(beat))
    watch = LeaseWatch(stale_after_s=0.5)
    for _ in range(4):
        assert reclaim_abandoned(study, watch) == []
        time.sleep(0.3)
        beat += 0.3
        optuna.trial.Trial(study, study.get_trials()[0]._trial_id).set_user_attr(
            LEASE_ATTR, elsewhere(beat)
        )
    assert state_and_retries(study) == (TrialState.RUNNING, [])


def test_a_beat_older_than_any_clock_skew_is_reclaimed_at_once(tmp_path: Path) -> None:
    study = running_trial(tmp_path, elsewhere(time.time() - 2 * 3600))
    assert reclaim_abandoned(study, LeaseWatch()) == [0]


@pytest.mark.parametrize(
    "lease",
    [
        # Today's format: hostname/PID namespace, no start time; the pid is alive here.
        {"host": f"{socket.gethostname()}/pid:[4026531836]", "pid": os.getpid(), "beat": 1.0},
        {"host": 7, "pid": "me", "beat": "yesterday"},
        None,  # killed between ask and lease
    ],
    ids=["old-format", "malformed", "no-lease"],
)
def test_unknown_leases_are_judged_by_an_unchanged_beat(
    tmp_path: Path, lease: dict[str, Any] | None
) -> None:
    study = running_trial(tmp_path, lease)
    watch = LeaseWatch(stale_after_s=0.5, abandoned_after_s=1e12)
    assert reclaim_abandoned(study, watch) == []
    time.sleep(0.7)
    assert reclaim_abandoned(study, watch) == [0]


@linux_only
def test_the_host_identity_tells_machines_apart() -> None:
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    namespace = os.readlink("/proc/self/ns/pid")
    assert host_identity() == f"boot:{boot}/{namespace}"  # not the hostname


# -- (e): an owner whose trial was taken all the same records it lost and goes on ----------
SLOW = Algorithm(
    "sleepy",
    ("binary", "multiclass"),
    lambda params, task: SleepyClassifier(seconds=params["seconds"]),
    lambda task: {"seconds": FloatDistribution(0.5, 0.6)},
    {"seconds": 0.5},
)
PLUGIN = types.SimpleNamespace(
    autometa_plugin_name="liveness_test", autometa_algorithms=hookimpl(lambda task: [SLOW])
)

OWNER = """
import json, logging, sys
import autometa
from autometa.contract import Strategy
from sklearn.datasets import load_breast_cancer
from test_lease_liveness import PLUGIN
logging.basicConfig(level=logging.WARNING)
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
model = autometa.fit(
    X.iloc[:200], y.iloc[:200], storage=sys.argv[1], study_name="taken", n_trials=3,
    random_state=0, plugins=[PLUGIN], algorithms=["sleepy"], knowledge=sys.argv[2],
    strategy=Strategy(None, 0, "random", "cv", 2),
)
print(json.dumps({"evaluations": len(model.evaluations_)}))
"""


def test_an_owner_whose_trial_is_taken_records_it_lost_and_finishes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    tests = str(Path(__file__).parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])}
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, url, str(tmp_path / "kb.db")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        taken = take_the_trial_it_evaluates(url, owner)
        out, err = owner.communicate(timeout=120)
    finally:
        owner.kill()
        owner.wait()
    assert owner.returncode == 0, err.decode()
    assert f"trial {taken} was evaluated (ok) but not told" in err.decode()
    trials = optuna.load_study(study_name="taken", storage=url).trials
    lost = trials[taken]
    assert lost.state == TrialState.FAIL
    assert not counts_as_done(lost)  # recorded as lost: the owner's result was dropped ...
    retries = [t for t in trials if t.user_attrs.get(RETRY_ATTR) == taken]
    assert [(r.params, r.state) for r in retries] == [(lost.params, TrialState.COMPLETE)]
    done = [t for t in trials if counts_as_done(t)]
    assert len(done) == 3  # ... the study's total reached with trials that count, ...
    configs = [tuple(sorted(t.params.items())) for t in done]
    assert len(set(configs)) == len(configs)  # ... each configuration counted once
    assert json.loads(out.decode().splitlines()[-1]) == {"evaluations": 3}


def take_the_trial_it_evaluates(url: str, owner: subprocess.Popen[bytes]) -> int:
    """As another process judging the owner abandoned would: fail its sampled running
    trial and enqueue its configuration again, while the owner evaluates it."""
    storage = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert owner.poll() is None, owner.stderr.read().decode() if owner.stderr else ""
        try:
            storage = storage or optuna.storages.RDBStorage(url)
            study = optuna.load_study(study_name="taken", storage=storage)
        except Exception:  # the owner has not created the file or the study yet
            study = None
        for trial in [] if study is None else study.get_trials(states=(TrialState.RUNNING,)):
            # Sampled in full: taken mid-sampling, its retry would sample the rest anew.
            if LEASE_ATTR in trial.user_attrs and "sleepy__seconds" in trial.params:
                _release(study, trial)
                return trial.number
        time.sleep(0.05)
    raise AssertionError("the owner did not start a trial within 90 s")
