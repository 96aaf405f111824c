"""Leases: which running trials of a durable study are alive, and reclaiming the dead ones.

:class:`TrialLease` marks the trials this process is running (owner and heartbeat) and
:func:`reclaim_abandoned` fails the ones a dead process left ``RUNNING`` and enqueues
them again, as Optuna's ``RetryHeartbeatStaleTrialCallback`` does, but for every
storage (Optuna's heartbeat needs an ``RDBStorage``). A trial failed because its
process died is enqueued again once, with the user attribute :data:`RETRY_ATTR`.

How a running trial is judged (:func:`reclaim_abandoned`):

- Its owner runs on this host (same :func:`host_identity`, which tells machines, boots
  and PID namespaces apart): it is abandoned exactly when that process is gone (or its
  process id now names another process, told by its start time). The age of its
  heartbeat does not matter: a suspended, busy or stalled owner keeps its trial.
- Its owner runs elsewhere (or its lease has an unknown format, or no lease was written
  yet, or this system cannot tell a process alive): only the heartbeat tells. It is
  abandoned once *this* process has seen the same heartbeat, unchanged, for
  :data:`STALE_AFTER_S` of its own monotonic clock, so no two machines' clocks are ever
  compared (the storage's own time would do too, but a journal file has none, and
  Optuna stamps trials with each client's clock); or at once when the heartbeat is more
  than :data:`ABANDONED_AFTER_S` old by this machine's clock, far beyond any skew between
  the clocks of working machines (a process resuming a study another machine left long
  ago need not watch it first).

An owner whose trial was taken anyway (a machine that stalled past the threshold) finds
it finished when it tells its result; the search then records the trial as lost and
goes on (:mod:`autometa.search._loop`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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
"""A lease from another host whose heartbeat this process saw unchanged for this long
(its own monotonic clock) is taken as abandoned."""

ABANDONED_AFTER_S = 3600.0
"""A lease from another host whose heartbeat is older than this by this machine's clock
is taken as abandoned at once, without watching it first."""

LEASE_ATTR = "autometa_lease"
"""User attribute of a running trial: the process running it, as :func:`owner_lease`
writes it (``host``, ``hostname``, ``pid``, ``started``, ``beat``)."""

RETRY_ATTR = "retry_of"
"""User attribute of a trial enqueued again after its process died: the abandoned trial."""

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


# -- who owns a lease ----------------------------------------------------------------------
def host_identity() -> str:
    """Where a process id names one process: this machine, since its boot, in this PID namespace.

    On Linux the kernel's boot id (random per machine and per boot: two machines with one
    hostname differ, and after a reboot no process of the old boot is taken for alive)
    and the PID namespace's inode (containers of one machine reuse process ids; the
    inode alone is the same constant on every machine). Elsewhere the hostname and the
    network card's address; when there is none, :func:`uuid.getnode` is random per
    process, so every lease is then judged by its heartbeat, which is the safe side.
    """
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    try:
        machine = "boot:" + _BOOT_ID.read_text().strip()
    except OSError:
        machine = f"{socket.gethostname()}:{uuid.getnode():012x}"
    return f"{machine}/{namespace}"


def _start_time(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux); None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The fields follow the command name in parentheses, which may itself hold spaces or ')':
    # split after the last one. Field 22, starttime, is then the 20th.
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def owner_lease(pid: int, beat: float) -> dict[str, Any]:
    """The lease of process ``pid`` of this host, with heartbeat ``beat`` (``time.time()``)."""
    return {
        "host": host_identity(),
        "hostname": socket.gethostname(),  # for people reading the study; never compared
        "pid": pid,
        "started": _start_time(pid),
        "beat": round(beat, 3),
    }


def _owner_alive(pid: Any, started: Any) -> bool | None:
    """Whether process ``pid`` of this host, started at ``started``, still runs.

    False when it is gone, a zombie, or its id now names a process started at another
    time; None when this system cannot tell (Windows, where ``os.kill(pid, 0)`` would
    terminate it; or a live process whose start time cannot be checked).
    """
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or os.name == "nt":
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        pass
    if not Path("/proc/self/stat").exists():
        return None  # no /proc (macOS, BSD): alive, but perhaps under a reused id
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False  # gone since os.kill
    except OSError:
        return None
    if stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]:
        return False
    now_started = _start_time(pid)
    if now_started is None or not isinstance(started, int):
        return None
    return now_started == started


class LeaseWatch:
    """What this process saw of leases it can only judge by their heartbeat.

    Remembers, per running trial, its heartbeat and since when (this process's
    ``time.monotonic()``) it has seen it unchanged. One per process and study, kept
    across :func:`reclaim_abandoned` calls (a fresh one knows nothing yet).
    """

    def __init__(
        self, stale_after_s: float = STALE_AFTER_S, abandoned_after_s: float = ABANDONED_AFTER_S
    ) -> None:
        self.stale_after_s = stale_after_s
        self.abandoned_after_s = abandoned_after_s
        self._seen: dict[int, tuple[Any, float]] = {}
        self._lock = threading.Lock()

    def unchanged_for(self, trial_id: int, beat: Any) -> float:
        """Seconds ``beat`` of trial ``trial_id`` has been seen unchanged (0 when new)."""
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(trial_id)
            if seen is None or seen[0] != beat:
                self._seen[trial_id] = (beat, now)
                return 0.0
            return now - seen[1]

    def keep_only(self, trial_ids: set[int]) -> None:
        """Forget the trials no longer running."""
        with self._lock:
            for trial_id in set(self._seen) - trial_ids:
                del self._seen[trial_id]


class TrialLease:
    """Marks the trials this process runs, so other processes can tell they are alive.

    Inside :meth:`hold`, each trial claimed right after ``study.ask()`` carries the user
    attribute :data:`LEASE_ATTR` (:func:`owner_lease`: host, process and its start time,
    last heartbeat), refreshed every ``interval_s`` by a background thread. If the block
    raises (Ctrl-C included), its unfinished trials are failed and enqueued again, so
    none is left ``RUNNING``.

    Like Optuna's heartbeat, a lease is written just after the trial is created; a
    process killed between the two leaves a trial without a lease, which is judged like
    another host's (:class:`LeaseWatch`).
    """

    def __init__(
        self,
        interval_s: float = HEARTBEAT_INTERVAL_S,
        *,
        storage: BaseStorage | None = None,
        n_trials: int | None = None,
        watch: LeaseWatch | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.pid = os.getpid()
        self.owner = owner_lease(self.pid, 0.0)
        self.host = self.owner["host"]
        self.storage = storage
        """The study's storage; on PostgreSQL, :meth:`ask` takes the study lock there."""
        self.n_trials = n_trials
        """The study's total: :meth:`ask` never lets it hold more trials (None: no cap)."""
        self.watch = LeaseWatch() if watch is None else watch
        """What this process saw of other hosts' leases, for :meth:`reclaim`."""

    def reclaim(self, study: optuna.Study) -> list[int]:
        """:func:`reclaim_abandoned` with this process's :attr:`watch`."""
        return reclaim_abandoned(study, self.watch, self.storage)

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
        lease = {**self.owner, "beat": round(time.time(), 3)}
        running = []
        for trial in trials:
            try:
                trial.set_user_attr(LEASE_ATTR, lease)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # told meanwhile (or taken by another process): no lease to keep
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


def _beat(lease: Mapping[str, Any]) -> float | None:
    """The heartbeat of ``lease`` (seconds since the epoch); None when missing or malformed."""
    beat = lease.get("beat")
    if isinstance(beat, bool) or not isinstance(beat, (int, float)) or not math.isfinite(beat):
        return None
    return float(beat)


def _abandoned(trial: FrozenTrial, host: str, watch: LeaseWatch) -> bool:
    """Whether ``trial``, running, was left by its process (see the module's docstring)."""
    lease = trial.user_attrs.get(LEASE_ATTR)
    if not isinstance(lease, Mapping):  # killed between ask and lease (or not autometa's)
        lease = {}
    if lease.get("host") == host:
        alive = _owner_alive(lease.get("pid"), lease.get("started"))
        if alive is not None:  # never the beat's age: a suspended or busy owner keeps its trial
            return not alive
    # Another host (an old lease's host never equals host_identity(): it is judged here too), or
    # this host's owner when this system cannot tell it alive: the heartbeat alone.
    beat = _beat(lease)
    if beat is not None and time.time() - beat > watch.abandoned_after_s:
        return True
    seen = (lease.get("host"), lease.get("pid"), beat)
    return watch.unchanged_for(trial._trial_id, seen) >= watch.stale_after_s


def reclaim_abandoned(
    study: optuna.Study, watch: LeaseWatch | None = None, storage: BaseStorage | None = None
) -> list[int]:
    """Fail the running trials whose process died, enqueue them again; return their numbers.

    A trial of this host is abandoned when its process no longer runs; a trial of another
    host when ``watch`` has seen its heartbeat unchanged for ``watch.stale_after_s`` (a
    fresh watch, the default, has seen nothing yet), or its heartbeat is older than
    ``watch.abandoned_after_s``. Trials other live processes are running are left alone.
    ``storage`` is the study's: on PostgreSQL each trial is released under
    :func:`study_lock`, so processes that find one dead trial at the same moment release
    it once (one retry), the others finding it failed already.
    """
    watch = LeaseWatch() if watch is None else watch
    host = host_identity()
    reclaimed = []
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    watch.keep_only({t._trial_id for t in running})
    for trial in running:
        if _abandoned(trial, host, watch) and _release_once(study, trial, storage):
            reclaimed.append(trial.number)
    if reclaimed:
        logger.info("trials %s were left running by a process that died; retrying", reclaimed)
    return reclaimed


def _release_once(study: optuna.Study, trial: FrozenTrial, storage: BaseStorage | None) -> bool:
    """Release ``trial`` unless another process did since it was read; whether this one did.

    Read again and released under one :func:`study_lock`: without it (SQLite, journal
    files) two processes may still both release it, and its configuration run twice.
    """
    with study_lock(study, storage):
        still = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if trial.number not in {t.number for t in still}:
            return False
        _release(study, trial)
    return True


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
    # skip_if_finished reads the trial, then writes it: its owner, or another process releasing it
    # without a lock, may finish it in between. Failed or told, it no longer runs: done.
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
