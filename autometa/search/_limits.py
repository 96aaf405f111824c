"""A trial's limits from the inside: wall-clock time and memory.

A wall-clock limit (an interval timer whose signal handler raises, or off the main
thread a timer thread that raises in the fitting thread) and a memory limit
(the address-space rlimit, under which a too-large allocation raises ``MemoryError``).
Both only work where Python code runs: a trial that ends its own process or hangs in
native code has to be handled by the executor that owns the worker (see
:mod:`autometa.search._executors`). Imported by every worker, so free of Optuna and the
rest of autometa.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Literal, TypeAlias

import joblib
import numpy as np

MemoryLimit: TypeAlias = "float | Literal['auto'] | None"
"""A per-trial memory limit as users give it: megabytes, ``"auto"`` or None (no limit)."""

AUTO_MEMORY_FRACTION = 0.8
"""With ``memory_limit="auto"``, the workers together may use this share of the RAM."""

MIN_MEMORY_LIMIT_MB = 16.0
"""Smaller limits cannot even hold the copies of a cross-validation fold."""


class TrialTimeLimitExceeded(BaseException):
    """Raised inside a worker when a configuration runs past its time limit.

    A ``BaseException`` (like ``KeyboardInterrupt``), so that estimator code catching
    ``Exception`` around its loop cannot swallow it and run on; code that catches
    ``BaseException`` (or uses a bare ``except:``) still can, and such a trial then ends
    only when its loop does (or, in a worker process, when the watchdog stops it).
    """

    def __init__(self, message: str = "time limit exceeded") -> None:
        super().__init__(message)


MEMORY_CAPPED = "exceeded the memory limit"
"""How a trial stopped by the memory limit says so in its error (the time limit's
trials say ``time limit``): the failure message of a fit tells the two apart."""


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block with :class:`TrialTimeLimitExceeded` after ``seconds``.

    In a process's main thread (loky workers, a fit called from a script) an interval
    timer's SIGALRM handler raises it; a timer and handler the caller had set are put
    back afterwards. In any other thread (a web server's, a notebook executor's, a dask
    worker's) a timer thread raises it asynchronously in the block's thread (see
    :func:`_thread_time_limit`). Either way it lands when the block's thread next runs
    Python bytecode: a long stretch of C code is interrupted when it returns, and code
    that hangs in C is left to the executor that owns the worker (the watchdog).
    """
    if seconds is None:
        yield
    elif hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        with _signal_time_limit(seconds):
            yield
    else:
        with _thread_time_limit(seconds):
            yield


@contextmanager
def _signal_time_limit(seconds: float) -> Iterator[None]:
    """:func:`time_limit` in the main thread: ITIMER_REAL and a SIGALRM handler."""

    def _raise(signum: int, frame: FrameType | None) -> None:
        raise TrialTimeLimitExceeded(_exceeded(seconds))

    # A timer the caller set is put back afterwards, less the time this block took
    # (an overdue one fires at once), with its handler: the fit borrows SIGALRM.
    caller_delay, caller_interval = signal.getitimer(signal.ITIMER_REAL)
    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if caller_delay > 0:
            left = caller_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), caller_interval)


@contextmanager
def _thread_time_limit(seconds: float) -> Iterator[None]:
    """:func:`time_limit` off the main thread: an asynchronous exception from a timer.

    A ``threading.Timer`` raises :class:`TrialTimeLimitExceeded` in this thread through
    ``PyThreadState_SetAsyncExc``; it lands at the thread's next bytecode boundary, as a
    signal handler's exception would. On the way out the timer is disarmed under a lock,
    so it cannot fire later; if it fired meanwhile, an exception still pending is
    cleared, so none can land after the block. (One that lands while the timer starts or
    is disarmed leaves the block as its exception: the block did overrun.) Without
    CPython's C API (e.g. on PyPy) this is a no-op and the executor's hard limit is the
    only guard. A sleep or a C call is not interrupted, only followed by the exception.
    """
    set_async_exc = getattr(getattr(ctypes, "pythonapi", None), "PyThreadState_SetAsyncExc", None)
    if set_async_exc is None:  # pragma: no cover - every CPython has it
        yield
        return
    target = ctypes.c_ulong(threading.get_ident())
    lock = threading.Lock()
    armed, fired = True, False

    def fire() -> None:
        nonlocal fired
        with lock:
            if armed:
                fired = True
                set_async_exc(target, ctypes.py_object(TrialTimeLimitExceeded))

    timer = threading.Timer(max(seconds, 1e-3), fire)
    timer.daemon = True
    timer.name = "autometa-time-limit"
    try:
        try:
            timer.start()  # in the try: on a busy machine it may fire before start returns
            yield
        finally:
            with lock:
                armed = False
                pending = fired
            timer.cancel()
            if pending:  # a no-op if it landed already
                set_async_exc(target, None)
    except TrialTimeLimitExceeded as exc:  # in the block, or while disarming
        if exc.args == TrialTimeLimitExceeded().args:  # the timer raised the bare class
            exc.args = (_exceeded(seconds),)  # say which limit
        raise


def _exceeded(seconds: float) -> str:
    return f"time limit of {seconds:.1f}s exceeded"


# -- memory --------------------------------------------------------------------------------
def memory_limit_supported() -> bool:
    """Whether :func:`memory_cap` is enforced here: Linux only.

    The limit is ``RLIMIT_AS`` (address space), which Linux enforces; macOS accepts the
    call but does not enforce it, and Windows has no ``resource`` module.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import resource
    except ImportError:  # pragma: no cover - every Linux CPython has it
        return False
    return hasattr(resource, "RLIMIT_AS")


def total_memory_mb() -> float | None:
    """Memory this process may use, in MB: the RAM, or a smaller cgroup (container) limit."""
    sizes: list[float] = []
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sizes.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20)
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            sizes.append(int(text) / 2**20)
    return min(sizes) if sizes else None


def resolve_memory_limit(memory_limit: MemoryLimit, n_jobs: int = 1) -> float | None:
    """The per-trial memory limit in MB when ``n_jobs`` trials run at once, or None.

    ``"auto"`` shares :data:`AUTO_MEMORY_FRACTION` of the machine's memory (see
    :func:`total_memory_mb`) between the worker processes, and is no limit with one job
    (trials then run in the caller's process); a number is taken as it is; None means
    no limit. Where limits are not enforced (see :func:`memory_limit_supported`) the
    result is None, with a warning when a number was asked for. Bad values raise a
    ValueError that says what to pass instead.
    """
    if memory_limit is None:
        return None
    if isinstance(memory_limit, str):
        if memory_limit != "auto":
            raise ValueError(
                f"memory_limit must be a number of megabytes, 'auto' or None, got {memory_limit!r}."
            )
        total = total_memory_mb()
        workers = max(joblib.effective_n_jobs(n_jobs), 1)
        if total is None or not memory_limit_supported() or workers == 1:
            # With one job, trials run in the caller's own process, where an address-space
            # limit also binds whatever its other threads do meanwhile; a default should
            # not reach into the user's process, so "auto" limits worker processes only
            # (an explicit number still applies in-process).
            return None
        return max(AUTO_MEMORY_FRACTION * total / workers, MIN_MEMORY_LIMIT_MB)
    if (
        isinstance(memory_limit, bool)
        or not isinstance(memory_limit, (int, float, np.integer, np.floating))
        or not np.isfinite(memory_limit)
        or memory_limit < MIN_MEMORY_LIMIT_MB
    ):
        raise ValueError(
            f"memory_limit must be a number of megabytes of at least {MIN_MEMORY_LIMIT_MB:.0f} "
            f"(or 'auto', or None for no limit), got {memory_limit!r}."
        )
    if not memory_limit_supported():
        warnings.warn(
            f"memory_limit={memory_limit} is not enforced on {sys.platform}: trials are "
            "limited in memory on Linux only. Pass memory_limit=None to silence this.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return float(memory_limit)


def _address_space_mb() -> float | None:
    """This process's current virtual memory size (Linux), in MB."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextmanager
def memory_cap(megabytes: float | None) -> Iterator[None]:
    """Let the block grow this process's memory by at most ``megabytes``, then restore.

    The address-space soft limit is set to the current size plus ``megabytes``, so an
    allocation past it fails with ``MemoryError`` instead of swapping the machine or
    waking the out-of-memory killer. The previous limit is restored on the way out,
    whatever happens, so a sequential search never leaves its caller limited.

    The limit is process-wide: it is applied only in the main thread (as loky workers
    and sequential runs are), where no other trial can be setting its own at the same
    time; elsewhere (e.g. dask's threaded workers) and on platforms without it (see
    :func:`memory_limit_supported`) this is a no-op. While it is set, other threads of
    the same process are limited too.
    """
    current = _address_space_mb() if megabytes is not None else None
    usable = (
        current is not None
        and memory_limit_supported()
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    assert megabytes is not None
    assert current is not None
    import resource

    previous = resource.getrlimit(resource.RLIMIT_AS)
    soft, hard = previous
    wanted = int((current + megabytes) * 2**20)
    if soft != resource.RLIM_INFINITY:
        wanted = min(wanted, soft)  # never loosen a limit the caller set
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, previous)
