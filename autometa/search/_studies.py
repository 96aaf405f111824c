"""Durable studies: open a storage, check a study before resuming it, and resume it.

``autometa.fit(..., storage=..., study_name=...)`` keeps its Optuna study in a storage (an
SQLite file, any SQLAlchemy database URL, or a storage object such as a
``JournalStorage`` over a file), so a fit that is killed can be started again and
resumes. This module holds what that needs:

- :func:`open_storage` turns a URL into a storage, failing within seconds and naming
  the URL (never its password) when the database cannot be reached.
- :func:`check_study` refuses, before anything is written, a study that autometa cannot
  resume: another direction, another task or scoring, parameters outside the space.
- :func:`study_evaluations` rebuilds the :class:`~autometa.contract.Evaluation` of every
  trial earlier processes finished, so they count towards ``n_trials`` and compete in
  the final refit.
- :class:`TrialLease` marks the trials this process is running (owner and heartbeat)
  and :func:`reclaim_abandoned` fails the ones a dead process left ``RUNNING`` and
  enqueues them again, as Optuna's ``RetryHeartbeatStaleTrialCallback`` does, but for
  every storage (Optuna's heartbeat needs an ``RDBStorage``).

A trial *counts as done* when it is ``COMPLETE``, or ``FAIL`` with an evaluation status
(``failed`` or ``capped``: the configuration was evaluated and did not work). A trial
failed because its process died carries no such status: it does not count, and its
configuration is enqueued again, once, with the user attribute ``retry_of``.
"""

from __future__ import annotations

import logging
import math
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
import sqlalchemy
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, Trial, TrialState

from autometa.contract._task import Task
from autometa.contract._types import ALGORITHM_PARAM, PARAM_SEPARATOR, Algorithm, Config, Evaluation

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
"""Seconds a PostgreSQL or MySQL server gets to answer before opening a storage fails."""

HEARTBEAT_INTERVAL_S = 10.0
"""How often a process running trials refreshes their lease."""

STALE_AFTER_S = 60.0
"""A running trial whose lease was not refreshed for this long is taken as abandoned."""

LEASE_ATTR = "autometa_lease"
"""User attribute of a running trial: ``{"host", "pid", "beat"}`` of the process running it."""

RETRY_ATTR = "retry_of"
"""User attribute of a trial enqueued again after its process died: the abandoned trial."""

LOCK_CLASS = 0x414D5354  # "AMST"
"""First key of autometa's PostgreSQL advisory locks; the second is a study id (0: tables)."""

TASK_ATTR = "autometa_task"
SCORING_ATTR = "autometa_scoring"
EVALUATED = ("failed", "capped")
"""Statuses of a failed trial whose configuration was evaluated (it counts as done)."""


# -- storage -----------------------------------------------------------------------------
def open_storage(storage: str | BaseStorage | None) -> BaseStorage | None:
    """A storage from an SQLAlchemy URL; storage objects and None pass unchanged.

    Opening connects once, so a server that is down, a driver that is not installed or an
    SQLite file in a missing directory fail here, within :data:`CONNECT_TIMEOUT_S`, with
    a ``ValueError`` naming the URL (its password masked).
    """
    if storage is None or isinstance(storage, BaseStorage):
        return storage
    if not isinstance(storage, str):
        raise TypeError(
            "storage must be a database URL such as 'sqlite:///study.db' or an Optuna "
            f"storage object (e.g. a JournalStorage); got {type(storage).__name__}."
        )
    try:
        url = sqlalchemy.engine.make_url(storage)
    except sqlalchemy.exc.ArgumentError:
        raise ValueError(
            f"storage={storage!r} is not a database URL; use e.g. 'sqlite:///study.db', "
            "'postgresql://user@host/db', or pass an Optuna storage object."
        ) from None
    shown = url.render_as_string(hide_password=True)
    _check_sqlite_directory(url, shown)
    engine_kwargs: dict[str, Any] = {}
    if url.get_backend_name() in ("postgresql", "mysql") and "connect_timeout" not in url.query:
        engine_kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        with _tables_lock(url, engine_kwargs):
            return optuna.storages.RDBStorage(storage, engine_kwargs=engine_kwargs)
    except ImportError as exc:
        cause = exc.__cause__ or exc
        raise ValueError(
            f"Cannot open storage {shown!r}: its database driver is not installed ({cause}). "
            "Install it (e.g. psycopg2-binary for postgresql://, PyMySQL for "
            "mysql+pymysql://) or use an SQLite URL such as 'sqlite:///study.db'."
        ) from exc
    except sqlalchemy.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ValueError(
            f"Cannot open storage {shown!r}: {reason}. Check that the database server is "
            "running and reachable and that the URL (host, port, database, user) is right."
        ) from exc


@contextmanager
def _tables_lock(url: sqlalchemy.engine.URL, engine_kwargs: Mapping[str, Any]) -> Iterator[None]:
    """On PostgreSQL, one process at a time creates Optuna's tables in a database.

    Processes opening one new database at once would otherwise all try to create them,
    and all but one fail on PostgreSQL's unique catalogue names.
    """
    if url.get_backend_name() != "postgresql":
        yield
        return
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool, **engine_kwargs)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(sqlalchemy.select(sqlalchemy.func.pg_advisory_xact_lock(LOCK_CLASS, 0)))
            yield
    finally:
        engine.dispose()


def _check_sqlite_directory(url: sqlalchemy.engine.URL, shown: str) -> None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    folder = Path(url.database).parent
    if not folder.is_dir():
        raise ValueError(
            f"Cannot open storage {shown!r}: the directory {str(folder)!r} does not exist. "
            "Create it first; SQLite creates the file, not its directory."
        )


def storage_label(storage: BaseStorage) -> str:
    """How to name a storage in a message: its URL without password, else its class."""
    url = getattr(storage, "url", None)
    if isinstance(url, str):
        try:
            return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
        except sqlalchemy.exc.ArgumentError:
            pass
    return type(storage).__name__


# -- checking a study before resuming it -------------------------------------------------
def joint_space(algorithms: Mapping[str, Algorithm], task: Task) -> dict[str, BaseDistribution]:
    """Every Optuna parameter of the conditional space, by its namespaced name."""
    space: dict[str, BaseDistribution] = {
        ALGORITHM_PARAM: CategoricalDistribution(sorted(algorithms))
    }
    for name, algorithm in algorithms.items():
        for param, distribution in algorithm.search_space(task).items():
            space[f"{name}{PARAM_SEPARATOR}{param}"] = distribution
    return space


def check_study(
    storage: BaseStorage | None,
    study_name: str | None,
    *,
    task: Task,
    algorithms: Mapping[str, Algorithm],
) -> int:
    """Refuse, writing nothing, an existing study this fit cannot resume.

    A study resumes when it maximises one objective, was made for the same data and
    scoring (user attributes ``autometa_task`` and ``autometa_scoring``, when present), and
    all its trials' parameters belong to this fit's space with the same distributions.
    A missing study is fine: the fit creates it. Returns how many trials the study
    already holds (0 for a new one).
    """
    if storage is None or study_name is None:
        return 0
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return 0
    where = f"Study {study_name!r} in {storage_label(storage)}"
    fix = (
        f"Pass another study_name, or delete it with optuna.delete_study(study_name="
        f"{study_name!r}, storage=...)."
    )
    if study.directions != [StudyDirection.MAXIMIZE]:
        shown = ", ".join(d.name.lower() for d in study.directions)
        raise ValueError(
            f"{where} has direction {shown}, but autometa maximises one score (scikit-learn's "
            f"greater-is-better convention, scoring={task.scoring!r}). {fix}"
        )
    attrs = study.user_attrs
    if attrs.get(TASK_ATTR, task.task_id) != task.task_id:
        raise ValueError(
            f"{where} was made for other data ({TASK_ATTR}={attrs[TASK_ATTR]!r}, this data is "
            f"{task.task_id!r}); a study resumes only on the same X and y. {fix}"
        )
    if attrs.get(SCORING_ATTR, task.scoring) != task.scoring:
        raise ValueError(
            f"{where} was scored with {attrs[SCORING_ATTR]!r}, this fit uses "
            f"scoring={task.scoring!r}; the scores would not compare. Pass "
            f"scoring={attrs[SCORING_ATTR]!r} to resume it. {fix}"
        )
    space = joint_space(algorithms, task)
    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        problem = _outside(trial, space)
        if problem:
            raise ValueError(
                f"{where} does not match this fit's search space: trial {trial.number} "
                f"{problem}. Resume it with the same data, algorithms=, plugins= and "
                f"blocked= as the fit that made it. {fix}"
            )
    return len(trials)


def _outside(trial: FrozenTrial, space: Mapping[str, BaseDistribution]) -> str | None:
    """Why ``trial`` is not a point of ``space``, or None when it is."""
    distributions = dict(trial.distributions)
    fixed = trial.system_attrs.get("fixed_params") if trial.state == TrialState.WAITING else None
    names = list(distributions) + [n for n in (fixed or {}) if n not in distributions]
    for name in names:
        expected = space.get(name)
        if expected is None:
            return f"has parameter {name!r}, which is not one of autometa's"
        old = distributions.get(name)
        if old is not None and not _compatible(old, expected):
            if isinstance(old, CategoricalDistribution) and isinstance(
                expected, CategoricalDistribution
            ):
                choices = (list(old.choices), list(expected.choices))
                return f"chose {name!r} among {choices[0]}, this fit among {choices[1]}"
            return f"samples {name!r} from {old}, this fit from {expected}"
    return None


def _compatible(old: BaseDistribution, new: BaseDistribution) -> bool:
    """Whether Optuna accepts both distributions for one parameter name in one study."""
    if type(old) is not type(new):
        return False
    if isinstance(old, (FloatDistribution, IntDistribution)) and isinstance(
        new, (FloatDistribution, IntDistribution)
    ):
        return old.log == new.log
    if isinstance(old, CategoricalDistribution) and isinstance(new, CategoricalDistribution):
        return old.choices == new.choices
    return True


# -- what earlier processes did ----------------------------------------------------------
def counts_as_done(trial: FrozenTrial) -> bool:
    """Whether the trial's configuration was evaluated (see the module docstring)."""
    if trial.state == TrialState.COMPLETE:
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get("status") in EVALUATED


def study_evaluations(study: optuna.Study, task: Task) -> list[Evaluation]:
    """The evaluations of the study's trials that count as done, in trial order.

    Rebuilt from each trial's parameters, value and the user attributes the search
    writes (``fit_time``, ``status``, ``error``); a trial without ``fit_time`` (e.g. one
    a user's own objective told) gets 0.
    """
    evaluations = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        if not counts_as_done(trial) or ALGORITHM_PARAM not in trial.params:
            continue
        config = Config.from_trial_params(trial.params)
        attrs = trial.user_attrs
        ok = trial.state == TrialState.COMPLETE
        evaluations.append(
            Evaluation(
                task.task_id,
                config,
                float(trial.value) if ok and trial.value is not None else math.nan,
                float(attrs.get("fit_time", 0.0)),
                "ok" if ok else attrs["status"],
                None if ok else attrs.get("error"),
            )
        )
    return evaluations


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
            self._renew([trial])
            with guard:
                held.append(trial)
            return trial

        def beat() -> None:
            while not stop.wait(self.interval_s):
                with guard:
                    beating = list(held)
                running = {t.number for t in self._renew(beating)}
                told = {t.number for t in beating} - running
                with guard:  # a long search tells thousands of trials: forget those
                    held[:] = [t for t in held if t.number not in told]

        thread = threading.Thread(target=beat, name="autometa-heartbeat", daemon=True)
        thread.start()
        try:
            yield claim
        except BaseException:
            numbers = {t.number for t in held}
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if trial.number in numbers:
                    _release(study, trial)
            raise
        finally:
            stop.set()
            thread.join()


# -- several processes on one study -----------------------------------------------------
WORKERS_ATTR = "autometa_workers"
"""Study user attribute: how many fits have joined the study so far (see :func:`join_study`)."""


@contextmanager
def study_lock(study: optuna.Study, storage: BaseStorage | None) -> Iterator[None]:
    """Hold, across processes, a lock on ``study`` while a short read-then-write runs.

    Optuna has no such lock: its ``enqueue_trial(skip_if_exists=True)`` and a count of
    the trials followed by ``ask()`` are each two steps another process can slip
    between. On an :class:`~optuna.storages.RDBStorage` over PostgreSQL this takes a
    transaction-level advisory lock (keys :data:`LOCK_CLASS` and the study's id) on a
    connection of its own, released at the end of the block or when the process dies.
    With it, fits sharing a study never enqueue a warm start twice and together run
    exactly the study's ``n_trials``.

    Other storages (SQLite, journal files, MySQL) get no lock: a warm start may then be
    enqueued twice, and processes asking a trial at the same moment may together run
    up to ``processes - 1`` trials more than ``n_trials``.
    """
    engine = getattr(storage, "engine", None)
    if not isinstance(storage, optuna.storages.RDBStorage) or engine is None:
        yield
        return
    if engine.dialect.name != "postgresql":
        yield
        return
    study_id = storage.get_study_id_from_name(study.study_name)
    with engine.connect() as conn, conn.begin():
        lock = sqlalchemy.func.pg_advisory_xact_lock(LOCK_CLASS, study_id)
        conn.execute(sqlalchemy.select(lock))
        yield


def trials_taken(study: optuna.Study) -> int:
    """Trials that count as done or are running (in any process): the study's fill level.

    Waiting trials (enqueued, not yet asked) and trials failed because their process
    died (enqueued again) do not count.
    """
    states = (TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING)
    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=states)
        if t.state == TrialState.RUNNING or counts_as_done(t)
    )


def join_study(study: optuna.Study, storage: BaseStorage | None) -> int:
    """Register one more fit on a durable study; return how many joined before it.

    The first fit on a study gets 0, every later one (a resumed fit, or another process
    sharing the search) a new number, under :func:`study_lock`. Seeded samplers mix it
    into their seed, so processes given the same ``random_state`` do not all propose the
    same configurations, and a resumed fit does not replay the points it drew before.
    """
    with study_lock(study, storage):
        joined = study.user_attrs.get(WORKERS_ATTR, 0)
        joined = joined if isinstance(joined, int) and joined >= 0 else 0
        study.set_user_attr(WORKERS_ATTR, joined + 1)
    return joined


def _abandoned(trial: FrozenTrial, host: str, now: float) -> bool:
    lease = trial.user_attrs.get(LEASE_ATTR)
    if not isinstance(lease, Mapping):
        # Killed between ask and lease: only its age tells.
        started = trial.datetime_start or datetime.now()
        return (datetime.now() - started).total_seconds() > STALE_AFTER_S
    if now - float(lease.get("beat", 0.0)) > STALE_AFTER_S:
        return True
    pid = lease.get("pid")
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
    retried = any(
        t.user_attrs.get(RETRY_ATTR) == trial.number for t in study.get_trials(deepcopy=False)
    )
    if not (evaluated or second_death or retried) and ALGORITHM_PARAM in trial.params:
        attrs: dict[str, Any] = {RETRY_ATTR: trial.number}
        if "warm_start_rank" in trial.user_attrs:
            attrs["warm_start_rank"] = trial.user_attrs["warm_start_rank"]
        study.enqueue_trial(dict(trial.params), user_attrs=attrs)
    study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def in_memory_copy(study: optuna.Study) -> optuna.Study:
    """The study's trials and user attributes in a new in-memory study.

    A fitted model keeps its study; pickled with a study in a database it would
    reconnect to that database when loaded (and SQLite would create an empty file
    wherever it is loaded), so it is pickled with this detached copy instead.
    """
    copy = optuna.create_study(
        study_name=study.study_name, directions=study.directions, sampler=study.sampler
    )
    for key, value in study.user_attrs.items():
        copy.set_user_attr(key, value)
    copy.add_trials(study.get_trials(deepcopy=False))
    return copy
