"""Opening a knowledge-base database (SQLite file or memory, or a URL) without harming it.

Opening is careful because a knowledge base may come from someone else, or the path may
name the wrong file. An existing, non-empty file is checked before anything is written to
it (no WAL switch, no table), by SQLite itself under its lock: ``PRAGMA application_id``,
``page_size`` and ``page_count`` against the file's size, then the tables and ``meta``
rows (:mod:`autometa.knowledge._schema`), and that it holds no trigger, view, table or
index autometa did not create. A file that is not SQLite, a truncated file, an
SQLite database of another application, a FIFO, or a schema from a newer autometa raise
:class:`~autometa.knowledge._format.KnowledgeBaseError` naming the file and the fix, and
leave the file's bytes as they were. Only a missing or empty file (or an SQLite database
without tables) becomes a new knowledge base. The file's bytes are never read here: closing
a descriptor of a database file would drop the locks SQLite holds on it for this process.

SQLite connections use a 30 s busy timeout, foreign keys and SQLite's defensive settings
(``trusted_schema`` off, ``cell_size_check``, ``SQLITE_DBCONFIG_DEFENSIVE`` where Python
exposes it); files use WAL journaling;
write transactions start with ``BEGIN IMMEDIATE`` so that two processes appending to one
file queue for the write lock instead of failing on a lock upgrade.

A database URL (``postgresql+psycopg://user:password@host/db``) gets the same checks
before anything is written: a database with other tables, or a schema from a newer
autometa, is refused. Processes creating the schema of one new PostgreSQL database at
once take turns on an advisory lock; concurrent appends rely on ``ON CONFLICT`` under
PostgreSQL's default READ COMMITTED isolation, with rows written in key order so that
writers never deadlock. A server that cannot be reached fails the open within
:data:`CONNECT_TIMEOUT_S` seconds, naming the URL without its password.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool

from autometa.knowledge._format import KnowledgeBaseError
from autometa.knowledge._schema import (
    APPLICATION_ID,
    check_schema,
    check_sqlite_objects,
    create_schema,
    foreign,
    table_names,
)
from autometa.knowledge._sqlite_file import check_pages, check_path, translate
from autometa.knowledge._urls import mask_url

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another process's write lock before failing."""

CONNECT_TIMEOUT_S = 10
"""Seconds a PostgreSQL or MySQL server gets to answer before opening a base fails."""

WRITE_OPTION = "autometa_write"
"""Connection execution option: the next transaction writes (SQLite: BEGIN IMMEDIATE)."""


# -- engines -------------------------------------------------------------------------------
def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    dbapi_connection.execute("PRAGMA foreign_keys = ON")
    # SQLite's defences for files from elsewhere: no function with side effects runs from a
    # schema object, damaged cells are caught when read, and (Python >= 3.12, which exposes
    # sqlite3_db_config) no writable_schema or shadow-table writes.
    dbapi_connection.execute("PRAGMA trusted_schema = OFF")
    dbapi_connection.execute("PRAGMA cell_size_check = ON")
    defensive = getattr(sqlite3, "SQLITE_DBCONFIG_DEFENSIVE", None)
    if defensive is not None:
        dbapi_connection.setconfig(defensive, True)


def _on_sqlite_begin(connection: Connection) -> None:
    # pysqlite's own transaction handling is off (isolation_level=None); we begin here so
    # writers take the write lock up front (no deadlock on a SHARED -> RESERVED upgrade).
    write = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _sqlite_engine(connect: Any, *, memory: bool) -> Engine:
    engine = create_engine(
        "sqlite://",
        creator=connect,
        poolclass=StaticPool if memory else None,
    )
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def memory_engine() -> Engine:
    """SQLite in memory; one shared connection (StaticPool) so all calls see one database."""

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)

    return _sqlite_engine(connect, memory=True)


def _file_engine(path: Path, *, read_only: bool, create: bool, immutable: bool = False) -> Engine:
    mode = "ro" if read_only else "rwc" if create else "rw"
    # immutable=1: no locks and no -shm file, which a reader of a WAL-mode file must
    # otherwise create beside it (see _open_immutable).
    uri = f"{path.as_uri()}?mode={mode}" + ("&immutable=1" if immutable else "")

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(
            uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )

    return _sqlite_engine(connect, memory=False)


@contextlib.contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """A connection inside one transaction; committed on success, rolled back on error."""
    with engine.connect() as conn:
        if write:
            conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


# -- opening -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Opened:
    """An engine on a validated knowledge base, and how to describe it to people."""

    engine: Engine
    location: str


def open_memory() -> Opened:
    """A new, empty in-memory knowledge base."""
    engine = memory_engine()
    with transaction(engine, write=True) as conn:
        create_schema(conn)
    return Opened(engine, ":memory:")


def open_location(location: str | os.PathLike[str], *, read_only: bool, create: bool) -> Opened:
    """Open (and, when allowed, create) the knowledge base at a path or SQLAlchemy URL."""
    if isinstance(location, str) and location in (":memory:", "sqlite://"):
        if read_only:
            raise KnowledgeBaseError("A new in-memory knowledge base cannot be read-only.")
        return open_memory()
    if isinstance(location, str) and "://" in location:
        url = database_url(location)
        if url.get_backend_name() == "sqlite":
            if url.database in (None, "", ":memory:"):
                return open_location(":memory:", read_only=read_only, create=create)
            if url.query:
                raise KnowledgeBaseError(
                    f"{mask_url(location)}: query options are not supported for SQLite files; "
                    "pass the file path instead (autometa sets the connection options itself)."
                )
            return _open_sqlite_file(Path(url.database), read_only=read_only, create=create)
        return _open_url(location, read_only=read_only, create=create)
    return _open_sqlite_file(Path(location), read_only=read_only, create=create)


def database_url(text: str) -> URL:
    """``text`` parsed as an SQLAlchemy URL. A malformed one is a ``ValueError`` that
    names it (password masked) and shows the expected form; for a port that is not a
    number SQLAlchemy itself only says ``invalid literal for int()``."""
    shown = mask_url(text)
    example = "'postgresql+psycopg://user:password@host:5432/database' or 'sqlite:///file.db'"
    try:
        return make_url(text)
    except ArgumentError:
        raise ValueError(f"{shown} is not a database URL; expected e.g. {example}.") from None
    except ValueError:
        raise ValueError(
            f"{shown} is not a valid database URL: its port must be a number; expected "
            f"e.g. {example}."
        ) from None


def _open_url(url: str, *, read_only: bool, create: bool) -> Opened:
    parsed = database_url(url)
    shown = mask_url(url)
    options: dict[str, Any] = {}
    server = parsed.get_backend_name() in ("postgresql", "mysql")
    if server and "connect_timeout" not in parsed.query:
        # Without it, a server that accepts the connection but never answers hangs the open.
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        engine = create_engine(url, **options)
    except ImportError as exc:
        raise KnowledgeBaseError(
            f"Cannot open knowledge base {shown}: its database driver is not installed "
            f"({exc}). For PostgreSQL, pip install 'autometa-ml[postgres]' and use a "
            "postgresql+psycopg:// URL."
        ) from exc
    if engine.dialect.name == "postgresql" and read_only:
        event.listen(engine, "connect", _postgres_read_only)
    try:
        with transaction(engine, write=not read_only) as conn:
            if engine.dialect.name == "postgresql" and not read_only:
                # Processes opening one new database at once: one creates, the others wait
                # for its commit and then find the schema (DDL is transactional there).
                conn.execute(select(func.pg_advisory_xact_lock(APPLICATION_ID)))
            names = set(inspect(conn).get_table_names())
            if not names and create and not read_only:
                create_schema(conn)
            else:
                check_schema(conn, shown, names)
    except OperationalError as exc:
        engine.dispose()
        message = str(exc.orig or exc).strip()
        reason = message.splitlines()[0] if message else type(exc.orig).__name__
        raise KnowledgeBaseError(
            f"Cannot open knowledge base {shown}: {reason}. Check that the database server "
            "is running and reachable and that the URL (host, port, database, user, "
            "password) is right."
        ) from exc
    except BaseException:
        engine.dispose()
        raise
    return Opened(engine, shown)


def _postgres_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    cursor.close()
    dbapi_connection.commit()


def _open_sqlite_file(path: Path, *, read_only: bool, create: bool) -> Opened:
    path = path.expanduser().absolute()
    exists = check_path(path, read_only=read_only, create=create)
    try:
        return _open_engine(path, exists, read_only=read_only, create=create)
    except PermissionError:
        if not read_only or os.access(path.parent, os.W_OK):
            raise
    return _open_immutable(path)


def _open_immutable(path: Path) -> Opened:
    """A base in a directory this process cannot write, opened in SQLite's immutable mode.

    A reader of a WAL-mode file needs its ``-shm`` index beside it, creating it if
    missing, so a read-only directory (a container, a shared install) cannot be read
    otherwise. Immutable mode reads the file alone: refused while ``-wal`` holds commits
    not yet copied into it, which that mode would skip.
    """
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise PermissionError(
            f"Cannot open knowledge base {path} read-only: {wal} holds commits not yet copied "
            f"into it, and SQLite cannot read them without writing to {path.parent}. Open it "
            "once where the directory is writable, or copy the files to such a directory."
        )
    opened = _open_engine(path, True, read_only=True, create=False, immutable=True)
    _say_once(
        f"opening knowledge base {path} immutable (SQLite immutable=1): its directory is not "
        "writable; changes others make to it while it is open are not seen."
    )
    return opened


@functools.lru_cache(maxsize=64)
def _say_once(message: str) -> None:
    """Log ``message`` once per process (however often a base is opened)."""
    logger.info(message)


def _open_engine(
    path: Path, exists: bool, *, read_only: bool, create: bool, immutable: bool = False
) -> Opened:
    # Only SQLite reads the file (through PRAGMAs, under its locks): a descriptor opened
    # and closed here would drop the POSIX locks this process's SQLite connections hold.
    empty = not exists or path.stat().st_size == 0
    engine = _file_engine(path, read_only=read_only, create=create, immutable=immutable)
    try:
        if empty and not read_only and create:
            # A new (missing or empty) database is WAL from its first page: switching a
            # file from a rollback journal to WAL while another process (a concurrent
            # creator) has it open makes that process fail with SQLITE_IOERR.
            _ensure_wal(engine)
        _validate_or_create(engine, path, read_only=read_only, create=create)
        if not read_only:
            _ensure_wal(engine)
    except DBAPIError as exc:
        engine.dispose()
        raise translate(exc, path) from exc
    except BaseException:
        engine.dispose()
        raise
    return Opened(engine, str(path))


def _validate_or_create(engine: Engine, path: Path, *, read_only: bool, create: bool) -> None:
    writable = not read_only
    with transaction(engine, write=writable) as conn:
        # Under the lock (RESERVED for writers, SHARED for readers) no other process is
        # half-way through a commit. The application id is asked of SQLite, not read from
        # the file: in WAL mode the newest page 1 may still be in the -wal file.
        application_id = conn.exec_driver_sql("PRAGMA application_id").scalar()
        objects = conn.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_master")
        rows = [tuple(row) for row in objects]
        if application_id == 0:
            if rows:
                found = sorted(f"{kind} {name}" for kind, name, *_ in rows)
                raise foreign(path, f"application_id 0, schema objects {found}")
            if not (writable and create):
                raise KnowledgeBaseError(
                    f"{path} is an empty database, not a knowledge base"
                    + (" (opened read-only, so nothing is created)." if read_only else ".")
                )
            create_schema(conn)
            return
        if application_id != APPLICATION_ID:
            raise foreign(path, f"application_id {application_id:#x}")
        check_pages(conn, path)
        # Our tables and meta rows first (another application's database, a newer autometa's
        # schema are told as such), then nothing else: no trigger or view has run by then.
        check_schema(conn, str(path), table_names(rows))
        check_sqlite_objects(str(path), rows)


def _ensure_wal(engine: Engine) -> None:
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        assert dbapi is not None
        mode = dbapi.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            with contextlib.suppress(sqlite3.OperationalError):  # busy: next open retries
                dbapi.execute("PRAGMA journal_mode = WAL")
    finally:
        raw.close()
