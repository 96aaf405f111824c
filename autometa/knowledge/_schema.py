"""The knowledge base's tables (SQLAlchemy Core), creating and checking them, bulk writes.

The same statements run on SQLite (file or memory) and any other SQLAlchemy backend such
as PostgreSQL. A database is ours when it has the four tables and its ``meta`` rows say
``application = "autometa"`` and a ``schema_version`` this autometa reads; anything else
is refused with :class:`~autometa.knowledge._format.KnowledgeBaseError` naming the fix.
An SQLite file must also hold nothing else (:func:`check_sqlite_objects`): a trigger,
view, table or index autometa did not create could change what is stored or read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
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
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from autometa._version import __version__
from autometa.contract._types import TASK_KINDS
from autometa.knowledge._format import STATUSES, KnowledgeBaseError, dumps, loads

SCHEMA_VERSION = 1
"""Version of the table layout; stored in ``meta`` and checked on every open."""

APPLICATION_ID = 0x414D4B42  # "AMKB"
"""SQLite ``PRAGMA application_id`` of autometa knowledge-base files (bytes 68-71)."""

APPLICATION = "autometa"
"""Value of the ``application`` row of ``meta``: marks the database as a knowledge base."""

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
    # A tuple of plain strings has a repr that is also a valid SQL list: ('binary', ...).
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


def foreign(path: Path | str, detail: str, *, sqlite: bool = True) -> KnowledgeBaseError:
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


# -- schema creation and checks ------------------------------------------------------------
def create_schema(conn: Connection) -> None:
    """Create tables and the meta rows; inside the caller's write transaction."""
    if conn.dialect.name == "sqlite":
        # Only an SQLite file has a header to mark; other backends are recognised by the meta rows
        # alone.
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


# SQLite's own: automatic indexes of PRIMARY KEY / UNIQUE constraints (no SQL text),
# AUTOINCREMENT counters and ANALYZE statistics (planner hints, no code).
_SQLITE_AUTOINDEX = "sqlite_autoindex_"
_SQLITE_TABLES = frozenset(
    {"sqlite_sequence", "sqlite_stat1", "sqlite_stat2", "sqlite_stat3", "sqlite_stat4"}
)


def _created(kind: str, name: str, table: str, sql: str | None) -> bool:
    """Whether ``sqlite_master`` row (type, name, tbl_name, sql) is one autometa creates."""
    if kind == "table":
        return (name in schema.tables and table == name) or (
            name in _SQLITE_TABLES and sql is not None
        )
    if kind == "index" and table in schema.tables:
        if name.startswith(_SQLITE_AUTOINDEX):
            return sql is None  # a real automatic index has no SQL; a forged one would
        return name in {index.name for index in schema.tables[table].indexes}
    return False  # triggers, views, anything else


def table_names(rows: Sequence[tuple[Any, ...]]) -> set[str]:
    """The tables among ``sqlite_master`` rows, without SQLite's own."""
    return {name for kind, name, *_ in rows if kind == "table" and not name.startswith("sqlite_")}


def check_sqlite_objects(location: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Refuse schema objects autometa did not create.

    ``rows`` are ``SELECT type, name, tbl_name, sql FROM sqlite_master`` (one query, run
    by the caller under its lock, after :func:`check_schema` has read only ``meta``). A
    trigger runs on every later write and a view on every read, so a received file
    carrying one could rewrite what its user appends: such a file is refused before any
    of its content is read or written.
    """
    unknown = [
        (str(kind), str(name), table)
        for kind, name, table, sql in rows
        if not _created(kind, name, table, sql)
    ]
    if not unknown:
        return
    shown = [
        f"{kind} {name!r}" + (f" on {table}" if kind in ("trigger", "index") else "")
        for kind, name, table in unknown
    ]
    drops = "; ".join(
        f'DROP {kind.upper()} "{name.replace(chr(34), chr(34) * 2)}"' for kind, name, _ in unknown
    )
    raise KnowledgeBaseError(
        f"{location} holds schema objects autometa did not create: {', '.join(shown)}. A "
        "trigger or view runs when the base is read or written and could change what it "
        "stores, so the file is not opened. Ask whoever sent it for a JSON Lines export "
        "(autometa kb export), which holds data only, and load it with autometa kb import; "
        f"or, in a copy you trust, remove them with the sqlite3 shell: {drops};"
    )


def check_schema(conn: Connection, location: str, names: set[str]) -> None:
    if missing := set(_TABLES) - names:
        detail = f"tables {sorted(names)}; missing {sorted(missing)}"
        raise foreign(location, detail, sqlite=conn.dialect.name == "sqlite")
    values = {k: v for k, v in conn.execute(select(meta_table.c.key, meta_table.c.value))}
    application = loads(values.get("application"), f"{location}: meta 'application'")
    if application != APPLICATION:
        detail = f"meta application is {application!r}"
        raise foreign(location, detail, sqlite=conn.dialect.name == "sqlite")
    version = loads(values.get("schema_version"), f"{location}: meta 'schema_version'")
    # bool is a subclass of int: without the second test JSON true would read as version 1.
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
    # Portable fallback. Not atomic against a concurrent writer of the same key on backends without
    # serializable transactions: such a race fails on the primary key rather than writing a
    # duplicate.
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
