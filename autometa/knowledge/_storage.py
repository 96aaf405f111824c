"""Where a knowledge base lives: its tables, and opening a database without harming it.

The schema is SQLAlchemy Core, so the same statements run on a SQLite file (the
default), SQLite in memory, and any other SQLAlchemy URL such as PostgreSQL.

Opening is careful because a knowledge base may come from someone else, or the path may
name the wrong file. An existing, non-empty file is checked before anything is written to
it (no WAL switch, no table): its header bytes first, then, under SQLite's lock, its
application id, tables and ``meta`` rows. A file that is not SQLite, a truncated file, an
SQLite database of another application, or a schema from a newer autometa raise
:class:`~autometa.knowledge._format.KnowledgeBaseError` naming the file and the fix, and leave
the file's bytes as they were. Only a missing or empty file (or an SQLite database
without tables) becomes a new knowledge base.

SQLite connections use a 30 s busy timeout and foreign keys; files use WAL journaling;
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
import os
import shutil
import sqlite3
import struct
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool

from autometa._version import __version__
from autometa.contract._types import TASK_KINDS
from autometa.knowledge._format import STATUSES, KnowledgeBaseError, dumps, loads

SCHEMA_VERSION = 1
"""Version of the table layout; stored in ``meta`` and checked on every open."""

APPLICATION_ID = 0x414D4B42  # "AMKB"
"""SQLite ``PRAGMA application_id`` of autometa knowledge-base files (bytes 68-71)."""

APPLICATION = "autometa"
"""Value of the ``application`` row of ``meta``: marks the database as a knowledge base."""

BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another process's write lock before failing."""

CONNECT_TIMEOUT_S = 10
"""Seconds a PostgreSQL or MySQL server gets to answer before opening a base fails."""

WRITE_OPTION = "autometa_write"
"""Connection execution option: the next transaction writes (SQLite: BEGIN IMMEDIATE)."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
_TABLES = ("meta", "tasks", "configs", "evaluations")

# -- schema --------------------------------------------------------------------------------
# Module-level Table objects are the schema definition itself (constants, never mutated).
schema = MetaData()

meta_table = Table(
    "meta",
    schema,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),  # JSON
)

tasks_table = Table(
    "tasks",
    schema,
    Column("task_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("scoring", Text, nullable=False),
    Column("meta_features", Text, nullable=False),  # JSON {name: number | null}
    Column("provenance", Text, nullable=False),  # JSON object
    CheckConstraint(f"kind IN {TASK_KINDS!r}", name="ck_tasks_kind"),
)

configs_table = Table(
    "configs",
    schema,
    Column("config_id", Integer, primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False, unique=True),  # Config.key, canonical JSON
    Column("algorithm", Text, nullable=False),
    Column("params", Text, nullable=False),  # JSON object of scalars / lists
    Index("ix_configs_algorithm", "algorithm"),
)

evaluations_table = Table(
    "evaluations",
    schema,
    Column("task_id", Text, ForeignKey("tasks.task_id"), nullable=False),
    Column("config_id", Integer, ForeignKey("configs.config_id"), nullable=False),
    Column("score", Float, nullable=True),  # greater is better; NULL: failed / not finite
    Column("fit_time", Float, nullable=True),  # seconds; NULL: unknown
    Column("status", Text, nullable=False),
    Column("error", Text, nullable=True),
    # The primary key is the UNIQUE(task_id, config_id) cell and, through its leading
    # column, the index on task_id; a separate task_id index would only duplicate it.
    PrimaryKeyConstraint("task_id", "config_id", name="pk_evaluations"),
    CheckConstraint(f"status IN {STATUSES!r}", name="ck_evaluations_status"),
    Index("ix_evaluations_config_id", "config_id"),
)


def autometa_version() -> str:
    """The running autometa's version (recorded with what a base is built by)."""
    return __version__


# -- engines -------------------------------------------------------------------------------
def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    dbapi_connection.execute("PRAGMA foreign_keys = ON")


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


def _file_engine(path: Path, *, read_only: bool, create: bool) -> Engine:
    mode = "ro" if read_only else "rwc" if create else "rw"
    uri = f"{path.as_uri()}?mode={mode}"

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
        _create_schema(conn)
    return Opened(engine, ":memory:")


def open_location(location: str | os.PathLike[str], *, read_only: bool, create: bool) -> Opened:
    """Open (and, when allowed, create) the knowledge base at a path or SQLAlchemy URL."""
    if isinstance(location, str) and location in (":memory:", "sqlite://"):
        if read_only:
            raise KnowledgeBaseError("A new in-memory knowledge base cannot be read-only.")
        return open_memory()
    if isinstance(location, str) and "://" in location:
        url = make_url(location)
        if url.get_backend_name() == "sqlite":
            if url.database in (None, "", ":memory:"):
                return open_location(":memory:", read_only=read_only, create=create)
            if url.query:
                raise KnowledgeBaseError(
                    f"{location}: query options are not supported for SQLite files; pass the "
                    "file path instead (autometa sets the connection options itself)."
                )
            return _open_sqlite_file(Path(url.database), read_only=read_only, create=create)
        return _open_url(location, read_only=read_only, create=create)
    return _open_sqlite_file(Path(location), read_only=read_only, create=create)


def _open_url(url: str, *, read_only: bool, create: bool) -> Opened:
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
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
                _create_schema(conn)
            else:
                _check_schema(conn, shown, names)
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


@dataclass(frozen=True)
class _Header:
    size: int
    page_size: int
    page_count: int | None  # None when the in-header size is not valid (old writers)
    application_id: int
    wal: bool


def _first_bytes(path: Path, count: int) -> bytes:
    """The first ``count`` bytes of ``path``, read without closing a descriptor here.

    SQLite's locks are POSIX record locks, which belong to the process: closing *any*
    descriptor of the database file drops all of them, even those SQLite connections of
    this process hold. Another process may then checkpoint and delete the WAL in use
    (seen as "disk I/O error", with commits at risk). So the bytes are read by a
    short-lived child process (``head``) wherever there is one; without it (Windows,
    where locks are not POSIX locks) the file is read directly.
    """
    head = shutil.which("head")
    if head is not None and os.name == "posix":
        done = subprocess.run([head, "-c", str(count), str(path)], capture_output=True)
        if done.returncode == 0:
            return done.stdout
    # No `head`, or it could not read the file (then no SQLite connection of ours has it
    # open either): read it here, which also raises the right OSError naming the path.
    with path.open("rb") as handle:
        return handle.read(count)


def _read_header(path: Path) -> _Header | None:
    """The SQLite header as bytes (no SQLite involved); None for an empty file."""
    size = path.stat().st_size
    head = _first_bytes(path, 100)
    if size == 0:
        return None
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        looks_json = head.lstrip()[:1] == b"{"
        hint = (
            " It looks like JSON Lines: load an export with "
            "KnowledgeBase.in_memory().import_jsonl(path)."
            if looks_json
            else " It may be truncated, or another kind of file."
        )
        raise KnowledgeBaseError(
            f"{path} is not an autometa knowledge base: it is not an SQLite database "
            f"({size} bytes, starting {head[:16]!r}).{hint} Pass the path of a knowledge "
            "base, or a path that does not exist yet to create a new one."
        )
    (raw_page_size,) = struct.unpack(">H", head[16:18])
    page_size = 65536 if raw_page_size == 1 else raw_page_size
    change_counter, page_count = struct.unpack(">II", head[24:32])
    (valid_for,) = struct.unpack(">I", head[92:96])
    (application_id,) = struct.unpack(">i", head[68:72])
    return _Header(
        size=size,
        page_size=page_size,
        page_count=page_count if page_count and change_counter == valid_for else None,
        application_id=application_id,
        wal=head[18] == 2,
    )


def _check_truncation(path: Path, header: _Header) -> None:
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return  # pages may legitimately live in the WAL until the next checkpoint
    expected = header.page_count * header.page_size if header.page_count else header.size
    if header.size % header.page_size or header.size < expected:
        raise KnowledgeBaseError(
            f"{path} is truncated or damaged: it has {header.size} bytes but its header "
            f"describes {expected} bytes in pages of {header.page_size}. Restore it from a "
            "copy, or rebuild it (an earlier export_jsonl file can be imported into a new "
            "knowledge base)."
        )


def _foreign(path: Path | str, detail: str, *, sqlite: bool = True) -> KnowledgeBaseError:
    if not sqlite:
        return KnowledgeBaseError(
            f"{path} is a database but not an autometa knowledge base ({detail}). Pass the "
            "URL of a knowledge base, or of an empty database to create one in (autometa "
            "does not add its tables to a database that holds others)."
        )
    return KnowledgeBaseError(
        f"{path} is an SQLite database but not an autometa knowledge base ({detail}). "
        "Pass the path of a knowledge base, or a path that does not exist yet to create one."
    )


def _check_path(path: Path, *, read_only: bool, create: bool) -> bool:
    """Filesystem checks with clear messages; returns whether the file exists."""
    if path.is_dir():
        raise IsADirectoryError(
            f"Knowledge base path {path} is a directory; pass a file path such as "
            f"{path / 'knowledge.db'}."
        )
    if path.exists():
        if not read_only and not os.access(path, os.W_OK):
            raise PermissionError(
                f"Knowledge base {path} is not writable; open it with read_only=True or "
                "fix its permissions."
            )
        return True
    if read_only or not create:
        raise FileNotFoundError(
            f"Knowledge base {path} does not exist"
            + ("; it is opened read-only, so it is not created." if read_only else ".")
        )
    parent = path.parent
    for ancestor in (parent, *parent.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise NotADirectoryError(
                    f"Cannot create knowledge base {path}: {ancestor} is a file, not a directory."
                )
            break
    if not parent.exists():
        raise FileNotFoundError(
            f"Cannot create knowledge base {path}: directory {parent} does not exist. "
            "Create it first (e.g. mkdir -p) or choose another path."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(
            f"Cannot create knowledge base {path}: directory {parent} is not writable."
        )
    return False


def _open_sqlite_file(path: Path, *, read_only: bool, create: bool) -> Opened:
    path = path.expanduser().absolute()
    exists = _check_path(path, read_only=read_only, create=create)
    header: _Header | None = None
    if exists:
        # Cheap byte-level rejection before SQLite touches the file. Only checks that no
        # concurrent writer can make transiently false (truncation is checked under a lock).
        header = _read_header(path)
        if header is not None and header.application_id not in (0, APPLICATION_ID):
            raise _foreign(path, f"application_id {header.application_id:#x}")
    engine = _file_engine(path, read_only=read_only, create=create)
    try:
        if header is None and not read_only and create:
            # A new (missing or empty) database is WAL from its first page: switching a
            # file from a rollback journal to WAL while another process (a concurrent
            # creator) has it open makes that process fail with SQLITE_IOERR.
            _ensure_wal(engine)
        _validate_or_create(engine, path, read_only=read_only, create=create)
        if not read_only:
            _ensure_wal(engine)
    except DBAPIError as exc:
        engine.dispose()
        raise _translate(exc, path) from exc
    except BaseException:
        engine.dispose()
        raise
    return Opened(engine, str(path))


def _translate(exc: DBAPIError, path: Path) -> Exception:
    message = str(exc.orig)
    if "not a database" in message or "malformed" in message:
        return KnowledgeBaseError(
            f"{path} is damaged or not a knowledge base (SQLite: {message}). Restore it "
            "from a copy or rebuild it."
        )
    if "unable to open" in message or "readonly" in message:
        return PermissionError(f"Cannot open knowledge base {path} (SQLite: {message}).")
    return exc


def _validate_or_create(engine: Engine, path: Path, *, read_only: bool, create: bool) -> None:
    writable = not read_only
    with transaction(engine, write=writable) as conn:
        # Under the lock (RESERVED for writers, SHARED for readers) no other process is
        # half-way through a commit. The application id is asked of SQLite, not read from
        # the file: in WAL mode the newest page 1 may still be in the -wal file.
        application_id = conn.exec_driver_sql("PRAGMA application_id").scalar()
        names = set(inspect(conn).get_table_names())
        if application_id == 0:
            if names:
                raise _foreign(path, f"application_id 0, tables {sorted(names)}")
            if not (writable and create):
                raise KnowledgeBaseError(
                    f"{path} is an empty database, not a knowledge base"
                    + (" (opened read-only, so nothing is created)." if read_only else ".")
                )
            _create_schema(conn)
            return
        if application_id != APPLICATION_ID:
            raise _foreign(path, f"application_id {application_id:#x}")
        header = _read_header(path)
        if header is not None:
            _check_truncation(path, header)
        _check_schema(conn, str(path), names)


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


# -- schema creation and checks ------------------------------------------------------------
def _create_schema(conn: Connection) -> None:
    """Create tables and the meta rows; inside the caller's write transaction."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")
    schema.create_all(conn)
    rows = {
        "schema_version": SCHEMA_VERSION,
        "application": APPLICATION,
        "created_with": autometa_version(),
    }
    existing = set(conn.execute(select(meta_table.c.key)).scalars())
    new = [{"key": k, "value": dumps(v)} for k, v in rows.items() if k not in existing]
    if new:
        conn.execute(meta_table.insert(), new)


def _check_schema(conn: Connection, location: str, names: set[str]) -> None:
    if missing := set(_TABLES) - names:
        detail = f"tables {sorted(names)}; missing {sorted(missing)}"
        raise _foreign(location, detail, sqlite=conn.dialect.name == "sqlite")
    values = {k: v for k, v in conn.execute(select(meta_table.c.key, meta_table.c.value))}
    application = loads(values.get("application"), f"{location}: meta 'application'")
    if application != APPLICATION:
        detail = f"meta application is {application!r}"
        raise _foreign(location, detail, sqlite=conn.dialect.name == "sqlite")
    version = loads(values.get("schema_version"), f"{location}: meta 'schema_version'")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise KnowledgeBaseError(f"{location}: meta schema_version is invalid ({version!r}).")
    if version > SCHEMA_VERSION:
        raise KnowledgeBaseError(
            f"{location} was written by a newer autometa (knowledge-base schema version "
            f"{version}; autometa {autometa_version()} reads up to {SCHEMA_VERSION}). "
            "Upgrade autometa (pip install -U autometa) to open it."
        )
    # version < SCHEMA_VERSION would be migrated here; version 1 is the first schema.


# -- portable bulk writes ------------------------------------------------------------------
CHUNK = 500
"""Bound parameters per IN (...) list; well below every backend's limit."""


def chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """``items`` in slices of :data:`CHUNK` (for IN lists)."""
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def existing(conn: Connection, column: Any, values: Sequence[str]) -> set[str]:
    """Which of ``values`` are present in ``column``."""
    found: set[str] = set()
    for chunk in chunks(values):
        found.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
    return found


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows; on a key clash update the ``update`` columns (none: keep the stored row).

    Rows with the same key are collapsed first (the last wins), which is also what
    PostgreSQL's batched ``ON CONFLICT`` needs, and written in key order: two transactions
    writing overlapping rows then lock them in the same order and wait for each other
    instead of deadlocking. SQLite and PostgreSQL use ``ON CONFLICT``; other backends a
    delete-then-insert (or select-then-insert) in the same transaction.
    """
    by_key = {tuple(row[k] for k in keys): row for row in rows}
    unique = [by_key[key] for key in sorted(by_key)]
    if not unique:
        return
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite_insert(table) if dialect == "sqlite" else postgresql_insert(table)
        if update:
            stmt = insert.on_conflict_do_update(
                index_elements=list(keys), set_={c: insert.excluded[c] for c in update}
            )
        else:
            stmt = insert.on_conflict_do_nothing(index_elements=list(keys))
        if dialect == "sqlite":
            # Same statement, positional tuples straight to the driver: SQLAlchemy's
            # per-row parameter processing would otherwise double the cost of 10^5 rows.
            compiled = stmt.compile(dialect=conn.dialect, column_keys=list(unique[0]))
            order = compiled.positiontup or []
            conn.exec_driver_sql(
                compiled.string, [tuple(row[name] for name in order) for row in unique]
            )
        else:
            conn.execute(stmt, unique)
        return
    match = and_(*(table.c[k] == bindparam(f"match_{k}") for k in keys))
    params = [{f"match_{k}": row[k] for k in keys} for row in unique]
    if update:
        conn.execute(table.delete().where(match), params)
        conn.execute(table.insert(), unique)
        return
    fresh = [
        row
        for row, param in zip(unique, params, strict=True)
        if conn.execute(select(table.c[keys[0]]).where(match), param).first() is None
    ]
    if fresh:
        conn.execute(table.insert(), fresh)
