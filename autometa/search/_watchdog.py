"""Stragglers and lost workers: the watchdog that stops hung worker processes, and
what a lost worker's exit code means.

Workers mark the trial they run, with its deadline, in a private folder
(:func:`autometa.search._evaluation.run_trial`); the watchdog reads the markers and
kills the worker of a trial :data:`HARD_TIMEOUT_GRACE_S` past its deadline.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from autometa.search._evaluation import CVOutcome, describe_error

logger = logging.getLogger(__name__)

HARD_TIMEOUT_GRACE_S = 2.0
"""Seconds past a trial's own limit before its worker process is stopped.

A worker whose trial hit the limit returns within milliseconds; one that has not by then
is stuck where no signal reaches Python (see :func:`watchdog`)."""

WATCHDOG_INTERVAL_S = 0.25
"""How often the watchdog looks for trials past their deadline and grace."""


@dataclass
class Watch:
    """What one watchdog saw: its marker folder and the trials whose worker it stopped."""

    marker_dir: str | None
    stopped: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_stopped(self) -> list[int]:
        """The trials stopped since the last call."""
        with self.lock:
            stopped, self.stopped = self.stopped, []
        return stopped


@contextmanager
def watchdog(*, enabled: bool) -> Iterator[Watch]:
    """Kill the worker processes of trials running :data:`HARD_TIMEOUT_GRACE_S` past
    their deadline.

    Workers mark the trial they run, with its deadline, in a private folder
    (``autometa.search._evaluation``'s ``run_trial``); a thread here reads the markers every
    :data:`WATCHDOG_INTERVAL_S` and sends SIGKILL. This is the guard for code that no
    signal handler can interrupt (native code stuck on a lock, or looping without
    returning to Python), which a worker-side time limit cannot stop. Only processes
    that are this process's own children are killed (loky's workers are), never this
    process: a trial running in-process or on a cluster's worker (another parent,
    another machine) is left alone, and joblib's own timeout remains its guard.
    """
    if not enabled:
        yield Watch(None)
        return
    watch = Watch(tempfile.mkdtemp(prefix="autometa-trials-"))
    done = threading.Event()

    def patrol() -> None:
        while not done.wait(WATCHDOG_INTERVAL_S):
            _stop_stragglers(watch)

    thread = threading.Thread(target=patrol, name="autometa-watchdog", daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        done.set()
        thread.join()
        assert watch.marker_dir is not None
        # Removed after the join: the patrol must not read a folder being deleted.
        shutil.rmtree(watch.marker_dir, ignore_errors=True)


def _stop_stragglers(watch: Watch) -> None:
    """Kill each child worker process whose marker says its trial is past the grace."""
    assert watch.marker_dir is not None
    # Windows has no SIGKILL; os.kill with SIGTERM there is TerminateProcess, as final.
    kill = getattr(signal, "SIGKILL", signal.SIGTERM)
    try:
        markers = sorted(Path(watch.marker_dir).iterdir())
    except OSError:
        return
    now = time.time()
    for marker in markers:
        if not marker.name.isdigit():
            continue  # a marker being written
        try:
            pid, parent, deadline = marker.read_text().split()
        except (OSError, ValueError):
            continue  # the trial just ended and removed it
        if deadline == "none" or now < float(deadline) + HARD_TIMEOUT_GRACE_S:
            continue
        # In-process trials mark this very process, and a cluster's worker has another parent:
        # neither is ours to kill (see watchdog).
        if int(parent) != os.getpid() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), kill)
        except OSError:
            continue
        with watch.lock:
            watch.stopped.append(int(marker.name))
        with contextlib.suppress(OSError):
            # The killed worker cannot remove its marker: without this the next patrol would signal
            # the pid again, which may belong to another process by then.
            marker.unlink()
        logger.warning("stopped worker process %s: its trial ignored the time limit", pid)


def stopped_outcome() -> CVOutcome:
    """The outcome of a trial whose worker the watchdog stopped."""
    return CVOutcome(
        math.nan,
        0.0,
        "capped",
        f"no result within the hard limit ({HARD_TIMEOUT_GRACE_S:.0f}s past its time "
        "limit): its worker process ignored the limit (stuck in native code?) and was "
        "stopped",
    )


_EXIT_CODES = re.compile(r"exit codes of the workers are \{([^}]*)\}")


def describe_worker_loss(exc: BaseException) -> str:
    """Why a worker process was lost, from the error joblib raised in the parent.

    loky names the exit codes of the workers that ended (``{EXIT(3)}``,
    ``{SIGKILL(-9)}``); they become e.g. ``worker process died (exit code 3)``.
    Other backends' errors are described as they are.
    """
    found = _EXIT_CODES.search(str(exc))
    codes = [int(code) for code in re.findall(r"\((-?\d+)\)", found.group(1))] if found else []
    if not codes:
        return f"worker process lost: {describe_error(exc)}"
    return "worker process died (" + "; ".join(_describe_exit(code) for code in codes) + ")"


def _describe_exit(code: int) -> str:
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    hints = {
        "SIGKILL": ": killed, often by the system's out-of-memory killer (see memory_limit)",
        "SIGSEGV": ": a crash in native code",
        "SIGABRT": ": aborted by native code",
    }
    return f"killed by {name}{hints.get(name, '')}"
