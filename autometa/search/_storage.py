"""Open a study's storage, and lock a study across processes while a read-then-write runs.

:func:`open_storage` turns a URL into a storage, failing within seconds and naming the
URL (never its password) when the database cannot be reached; :func:`study_lock` is the
cross-process lock fits sharing a study take (a PostgreSQL advisory lock, or a file lock
beside an SQLite database).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import BaseStorage

from autometa.knowledge._storage import database_url
from autometa.knowledge._urls import mask_url

CONNECT_TIMEOUT_S = 10
"""Seconds a PostgreSQL or MySQL server gets to answer before opening a storage fails."""

LOCK_CLASS = 0x414D5354  # "AMST"
"""First key of autometa's PostgreSQL advisory locks; the second is a study id (0: tables)."""

SQLITE_BUSY_TIMEOUT_S = 120.0
"""Seconds a write to an SQLite study waits for another process's write lock.

SQLite's own default (5 s) ended fits whenever a sharer was paused inside a write (a
process stopped with Ctrl-Z or SIGSTOP, a machine under memory pressure): they now wait
for it this long, then fail with SQLite's "database is locked"."""

SQLITE_LOCK_SUFFIX = ".autometa-lock"
"""The file beside an SQLite study that :func:`study_lock` locks (created when missing)."""

logger = logging.getLogger("autometa")


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
        url = database_url(storage)
    except ValueError as exc:
        raise ValueError(
            f"storage: {exc} Or pass an Optuna storage object (e.g. a JournalStorage)."
        ) from None
    shown = mask_url(storage)
    _check_sqlite_directory(url, shown)
    engine_kwargs: dict[str, Any] = {}
    if url.get_backend_name() in ("postgresql", "mysql") and "connect_timeout" not in url.query:
        engine_kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    if url.get_backend_name() == "sqlite" and "timeout" not in url.query:
        engine_kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
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
    return mask_url(url) if isinstance(url, str) else type(storage).__name__


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

    An SQLite database file (which only processes of one machine share) gets the same
    from an exclusive ``flock`` on a file beside it (:data:`SQLITE_LOCK_SUFFIX`), which
    the kernel releases when its process dies. Other storages (journal files, MySQL, an
    in-memory SQLite, a system without ``fcntl``, a folder where the lock file cannot be
    made) get no lock: a warm start may then be enqueued twice, and processes asking a
    trial at the same moment may together run up to ``processes - 1`` trials more than
    ``n_trials``.
    """
    engine = getattr(storage, "engine", None)
    if not isinstance(storage, optuna.storages.RDBStorage) or engine is None:
        yield
        return
    if engine.dialect.name == "sqlite":
        with _sqlite_file_lock(engine.url.database):
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


@contextmanager
def _sqlite_file_lock(database: str | None) -> Iterator[None]:
    """An exclusive ``flock`` on the lock file beside ``database``; none where impossible."""
    try:
        import fcntl
    except ImportError:  # not on this system (Windows): unlocked, as documented
        yield
        return
    if database in (None, "", ":memory:") or database.startswith("file:"):
        yield
        return
    try:
        handle = open(f"{database}{SQLITE_LOCK_SUFFIX}", "a")  # noqa: SIM115 (held below)
    except OSError as exc:  # a read-only folder: the study's writes would fail anyway
        logger.debug("no lock file beside %s (%s); the study is not locked", database, exc)
        yield
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
