"""Leases: which running trials of a durable study are alive, and reclaiming the dead ones.

:class:`TrialLease` marks the trials this process is running (owner and heartbeat) and
:func:`reclaim_abandoned` fails the ones a dead process left ``RUNNING`` and enqueues
them again, as Optuna's ``RetryHeartbeatStaleTrialCallback`` does, but for every
storage (Optuna's heartbeat needs an ``RDBStorage``). A trial failed because its
process died is enqueued again once, with the user attribute :data:`RETRY_ATTR`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, Trial, TrialState

from autometa.contract._types import ALGORITHM_PARAM
from autometa.search._storage import study_lock
from autometa.search._studies import EVALUATED, trials_taken

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 10.0
"""How often a process running trials refreshes their lease."""

STALE_AFTER_S = 60.0
"""A running trial whose lease was not refreshed for this long is taken as abandoned."""

LEASE_ATTR = "autometa_lease"
"""User attribute of a running trial: ``{"host", "pid", "beat"}`` of the process running it."""

RETRY_ATTR = "retry_of"
"""User attribute of a trial enqueued again after its process died: the abandoned trial."""


# -- leases: which running trials are alive ----------------------------------------------
def _host() -> str:
    """This machine, and on Linux this PID namespace (containers reuse process ids)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}/{namespace}"


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine still runs (zombies do not)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate it; rely on the heartbeat
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state follows the command name in parentheses, which may itself hold spaces or ')': split
    # after the last one.
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


class TrialLease:
    """Marks the trials this process runs, so other processes can tell they are alive.

    Inside :meth:`hold`, each trial claimed right after ``study.ask()`` carries the user
    attribute :data:`LEASE_ATTR` (host, process id, last heartbeat), refreshed every
    ``interval_s`` by a background thread. If the block raises (Ctrl-C included), its
    unfinished trials are failed and enqueued again, so none is left ``RUNNING``.

    Like Optuna's heartbeat, a lease is written just after the trial is created; a
    process killed between the two leaves a trial without a lease, which is reclaimed
    once it is :data:`STALE_AFTER_S` old.
    """

    def __init__(
        self,
        interval_s: float = HEARTBEAT_INTERVAL_S,
        *,
        storage: BaseStorage | None = None,
        n_trials: int | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.host = _host()
        self.pid = os.getpid()
        self.storage = storage
        """The study's storage; on PostgreSQL, :meth:`ask` takes the study lock there."""
        self.n_trials = n_trials
        """The study's total: :meth:`ask` never lets it hold more trials (None: no cap)."""

    def ask(self, study: optuna.Study, n: int, claim: Callable[[Trial], Trial]) -> list[Trial]:
        """Ask and ``claim`` up to ``n`` trials, fewer when the study is nearly full.

        Under :func:`study_lock`, the trials already in the study (done, or running in
        any process) are counted and only as many are asked as :attr:`n_trials` still
        allows, so processes sharing a study stop at its total together instead of each
        running its own (see :func:`study_lock` for the exact guarantee per storage).
        """
        with study_lock(study, self.storage):
            if self.n_trials is not None:
                n = min(n, self.n_trials - trials_taken(study))
            # Counted and asked under one lock, so two processes cannot both see room for the same
            # last trials; max(): the study may already be over its total.
            return [claim(study.ask()) for _ in range(max(n, 0))]

    def _renew(self, trials: Sequence[Trial]) -> list[Trial]:
        """Refresh the lease of ``trials``; return those still running."""
        lease = {"host": self.host, "pid": self.pid, "beat": round(time.time(), 3)}
        running = []
        for trial in trials:
            try:
                trial.set_user_attr(LEASE_ATTR, lease)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # told meanwhile: no lease to keep
            except Exception as exc:  # the storage hiccuped: try again at the next beat
                logger.debug("lease of trial %d not renewed: %s", trial.number, exc)
            running.append(trial)
        return running

    @contextmanager
    def hold(self, study: optuna.Study) -> Iterator[Callable[[Trial], Trial]]:
        """A block whose trials stay leased; yields ``claim``, to call on each new trial.

        Trials still running when the block raises are released: failed, and enqueued
        again.
        """
        held: list[Trial] = []
        guard = threading.Lock()  # claim runs in joblib's callback thread, beat in its own
        stop = threading.Event()

        def claim(trial: Trial) -> Trial:
            # Leased now, not at the next beat: until then a reclaiming process could judge the new
            # trial by its age alone.
            self._renew([trial])
            with guard:
                held.append(trial)
            return trial

        def beat() -> None:
            while not stop.wait(self.interval_s):
                with guard:
                    beating = list(held)
                # Renewed outside the lock: storage writes can be slow, and claim, in joblib's
                # callback thread, must not wait on them.
                running = {t.number for t in self._renew(beating)}
                told = {t.number for t in beating} - running
                with guard:  # a long search tells thousands of trials: forget those
                    held[:] = [t for t in held if t.number not in told]

        thread = threading.Thread(target=beat, name="autometa-heartbeat", daemon=True)
        thread.start()
        try:
            yield claim
        except BaseException:
            # Re-read from the storage: only trials still RUNNING there are released, since the held
            # list may lag behind trials told meanwhile.
            numbers = {t.number for t in held}
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if trial.number in numbers:
                    _release(study, trial)
            raise
        finally:
            stop.set()
            thread.join()


def _abandoned(trial: FrozenTrial, host: str, now: float) -> bool:
    lease = trial.user_attrs.get(LEASE_ATTR)
    if not isinstance(lease, Mapping):
        # Killed between ask and lease: only its age tells.
        # No start time: taken as just started, so it is not reclaimed yet.
        started = trial.datetime_start or datetime.now()
        return (datetime.now() - started).total_seconds() > STALE_AFTER_S
    if now - float(lease.get("beat", 0.0)) > STALE_AFTER_S:
        return True
    pid = lease.get("pid")
    # A pid means something only on its own host and PID namespace; elsewhere the heartbeat alone
    # tells (above).
    return lease.get("host") == host and isinstance(pid, int) and not _process_alive(pid)


def reclaim_abandoned(study: optuna.Study) -> list[int]:
    """Fail the running trials whose process died, enqueue them again; return their numbers.

    A trial is abandoned when its lease names a process of this machine that no longer
    runs, or its heartbeat is older than :data:`STALE_AFTER_S` (a process elsewhere that
    died). Trials other live processes are running are left alone.
    """
    host, now = _host(), time.time()
    reclaimed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _abandoned(trial, host, now):
            _release(study, trial)
            reclaimed.append(trial.number)
    if reclaimed:
        logger.info("trials %s were left running by a process that died; retrying", reclaimed)
    return reclaimed


def _release(study: optuna.Study, trial: FrozenTrial) -> None:
    """Fail an unfinished trial; enqueue its configuration again, once.

    Not when it was evaluated already, nor when it is itself a retry: a configuration
    whose process died twice (say it exhausts memory) is not tried a third time.
    """
    evaluated = trial.user_attrs.get("status") in EVALUATED
    second_death = RETRY_ATTR in trial.user_attrs
    # Another process reclaiming the same trial may have enqueued it already: a second enqueue would
    # run the configuration twice.
    retried = any(
        t.user_attrs.get(RETRY_ATTR) == trial.number for t in study.get_trials(deepcopy=False)
    )
    # A trial that died before sampling its algorithm has no configuration to retry.
    if not (evaluated or second_death or retried) and ALGORITHM_PARAM in trial.params:
        attrs: dict[str, Any] = {RETRY_ATTR: trial.number}
        if "warm_start_rank" in trial.user_attrs:
            # Still that warm start: the leaderboard and history plot show it as one.
            attrs["warm_start_rank"] = trial.user_attrs["warm_start_rank"]
        study.enqueue_trial(dict(trial.params), user_attrs=attrs)
    # Enqueued before failing: a process dying in between leaves the trial RUNNING, reclaimed again
    # later (the retried check stops a second enqueue), never failed without its retry.
    # skip_if_finished: its owner may have told it meanwhile (a live but slow process whose
    # heartbeat went stale).
    study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
