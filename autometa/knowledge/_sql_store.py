"""The SQLAlchemy knowledge store: SQLite (file or memory), PostgreSQL, any SQLAlchemy URL.

It implements :class:`~autometa.knowledge._store.KnowledgeStore` on the tables of
:mod:`autometa.knowledge._schema`, opened by :mod:`autometa.knowledge._storage`. Every
read is one transaction, every write one write transaction that also stores a new
revision token (meta key ``revision``), so whoever reads new content reads its revision.
Rows are decoded by :mod:`autometa.knowledge._sql_rows`.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DBAPIError

from autometa.contract._types import Config, Evaluation, TaskKind
from autometa.knowledge._format import (
    RESERVED_METADATA,
    REVISION_KEY,
    KnowledgeBaseError,
    check_status,
    check_text,
    dumps,
    loads,
)
from autometa.knowledge._records import (
    Bundle,
    TaskRecord,
    check_kind_argument,
    check_storable_text,
)
from autometa.knowledge._schema import (
    configs_table,
    evaluations_table,
    meta_table,
    tasks_table,
    upsert,
)
from autometa.knowledge._scores import ScoreTable
from autometa.knowledge._sql_rows import (
    EVALUATION_COLUMNS,
    Rows,
    read_content,
    read_score_table,
    write_evaluations,
    write_tasks,
)
from autometa.knowledge._storage import open_location, open_memory, transaction
from autometa.knowledge._store import DigestInputs, KnowledgeStore

_COUNTED = (("tasks", tasks_table), ("configs", configs_table), ("evaluations", evaluations_table))


class SqlAlchemyStore(KnowledgeStore):
    """A knowledge store in a database reached through SQLAlchemy Core."""

    def __init__(self, engine: Engine, location: str, *, read_only: bool = False) -> None:
        """Wrap an engine on an already validated database; use :meth:`open` instead."""
        self._engine: Engine | None = engine
        self._location = location
        self._read_only = read_only
        self._rows = Rows(location)

    @classmethod
    def open(
        cls, location: str | os.PathLike[str], *, read_only: bool = False, create: bool = True
    ) -> SqlAlchemyStore:
        """The store at a file path or SQLAlchemy URL (see ``KnowledgeBase.open``)."""
        opened = open_location(location, read_only=read_only, create=create)
        return cls(opened.engine, opened.location, read_only=read_only)

    @classmethod
    def in_memory(cls) -> SqlAlchemyStore:
        """A new, empty, writable store in SQLite memory."""
        opened = open_memory()
        return cls(opened.engine, opened.location)

    @property
    def location(self) -> str:
        return self._location

    @property
    def read_only(self) -> bool:
        return self._read_only

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- SQLite only: the shipped-base cache ----------------------------------------------
    def freeze(self, location: str) -> None:
        """Make the SQLite connection itself refuse writes (``PRAGMA query_only``)."""
        raw = self._live().raw_connection()
        try:
            dbapi = raw.driver_connection
            assert dbapi is not None
            # On the driver connection: query_only is per connection, and this engine is in memory
            # with its one shared connection (StaticPool), so every later use is refused writes.
            dbapi.execute("PRAGMA query_only = ON")
        finally:
            raw.close()
        self._read_only = True
        self._location = location
        self._rows = Rows(location)

    def backup_to(self, path: Path) -> None:
        """Copy this SQLite database page by page into a new file (SQLite's backup API:
        milliseconds, where re-inserting 10^5 rows takes seconds)."""
        raw = self._live().raw_connection()
        try:
            source = raw.driver_connection
            if not isinstance(source, sqlite3.Connection):
                raise KnowledgeBaseError(f"{self._location} is not SQLite; cannot back it up.")
            target = sqlite3.connect(path)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            raw.close()

    # -- transactions ----------------------------------------------------------------------
    def _live(self) -> Engine:
        if self._engine is None:
            raise KnowledgeBaseError(f"Knowledge base {self._location} is closed.")
        return self._engine

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        try:
            with transaction(self._live(), write=False) as conn:
                yield conn
        except DBAPIError as exc:
            raise self._translate(exc) from exc

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        # No check of self.read_only here: the connection itself refuses (SQLite mode=ro or
        # query_only, a PostgreSQL read-only session), so nothing slips past it.
        try:
            with transaction(self._live(), write=True) as conn:
                yield conn
                # Last, in the same transaction: whoever reads the new content reads the
                # new revision, so derived data keyed by it is never stale.
                revision = [{"key": REVISION_KEY, "value": dumps(uuid.uuid4().hex)}]
                upsert(conn, meta_table, revision, ["key"], ["value"])
        except DBAPIError as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: DBAPIError) -> Exception:
        message = str(exc.orig)
        # The drivers raise a generic OperationalError: only the message tells a read-only or a
        # damaged database apart (sqlite3 says readonly, PostgreSQL read-only).
        if "readonly" in message or "read-only" in message:
            return KnowledgeBaseError(
                f"Knowledge base {self._location} cannot be written ({message})."
            )
        if "malformed" in message or "not a database" in message:
            return KnowledgeBaseError(
                f"Knowledge base {self._location} is damaged ({message}). Restore it from a "
                "copy or rebuild it."
            )
        return exc

    def _ordered(self, column: Any) -> Any:
        """``column`` to sort by, in code-point order (Python's, SQLite's) on every backend
        (PostgreSQL would sort by the database's collation, e.g. "a" before "B")."""
        if self._live().dialect.name == "postgresql":
            return column.collate("C")
        return column

    # -- writes ----------------------------------------------------------------------------
    def write(self, content: Bundle, *, merge_meta_features: bool = False) -> None:
        if reserved := RESERVED_METADATA & set(content.metadata):
            raise ValueError(
                f"metadata key {sorted(reserved)[0]!r} is maintained by the knowledge base itself."
            )
        check_storable_text(content)
        rows = [{"key": k, "value": dumps(v)} for k, v in content.metadata.items()]
        with self._writing() as conn:
            if rows:
                upsert(conn, meta_table, rows, ["key"], ["value"])
            write_tasks(conn, self._rows, list(content.tasks.values()), merge=merge_meta_features)
            write_evaluations(conn, self._location, content)

    # -- reads -----------------------------------------------------------------------------
    def read_tasks(self, kind: TaskKind | None = None) -> list[TaskRecord]:
        stmt = select(tasks_table).order_by(self._ordered(tasks_table.c.task_id))
        if kind is not None:
            stmt = stmt.where(tasks_table.c.kind == check_kind_argument(kind))
        with self._reading() as conn:
            rows = conn.execute(stmt).all()
        return [self._rows.task(row) for row in rows]

    def read_task(self, task_id: str) -> TaskRecord | None:
        with self._reading() as conn:
            row = conn.execute(select(tasks_table).where(tasks_table.c.task_id == task_id)).first()
        return None if row is None else self._rows.task(row)

    def read_evaluations(
        self, task_id: str | None = None, *, kind: TaskKind | None = None
    ) -> list[Evaluation]:
        ev, cf = evaluations_table, configs_table
        stmt = (
            select(*EVALUATION_COLUMNS, cf.c.key, cf.c.algorithm, cf.c.params)
            .join(cf, cf.c.config_id == ev.c.config_id)
            .order_by(*map(self._ordered, (ev.c.task_id, cf.c.key)))
        )
        if task_id is not None:
            stmt = stmt.where(ev.c.task_id == task_id)
        if kind is not None:
            stmt = stmt.join(tasks_table, tasks_table.c.task_id == ev.c.task_id).where(
                tasks_table.c.kind == check_kind_argument(kind)
            )
        with self._reading() as conn:
            rows = conn.execute(stmt).all()
        configs: dict[int, Config] = {}
        out = []
        for row in rows:
            config = configs.get(row[1])
            if config is None:
                # Each configuration decoded once however many cells use it; row[6:9] are key,
                # algorithm and params, selected after the six EVALUATION_COLUMNS.
                config = configs[row[1]] = self._rows.config(row[1], *row[6:9])
            out.append(self._rows.evaluation(row, config))
        return out

    def read_configs(self, algorithm: str | None = None) -> list[Config]:
        cf = configs_table
        stmt = select(cf.c.config_id, cf.c.key, cf.c.algorithm, cf.c.params)
        stmt = stmt.order_by(self._ordered(cf.c.key))
        if algorithm is not None:
            stmt = stmt.where(cf.c.algorithm == algorithm)
        with self._reading() as conn:
            rows = conn.execute(stmt).all()
        return [self._rows.config(*row) for row in rows]

    def read_statuses(self, task_id: str) -> dict[str, str]:
        ev, cf = evaluations_table, configs_table
        stmt = (
            select(cf.c.key, ev.c.status)
            .join(cf, cf.c.config_id == ev.c.config_id)
            .where(ev.c.task_id == task_id)
            .order_by(self._ordered(cf.c.key))
        )
        with self._reading() as conn:
            rows = conn.execute(stmt).all()
        where = f"{self._location}: evaluations of task {task_id!r}"
        return {
            check_text(key, where, "config key"): check_status(status, where)
            for key, status in rows
        }

    def read_score_table(
        self, kind: TaskKind | None = None, algorithms: Iterable[str] | None = None
    ) -> ScoreTable:
        if kind is not None:
            check_kind_argument(kind)
        with self._reading() as conn:
            return read_score_table(conn, self._rows, kind, algorithms)

    def read_content(self, task_ids: Sequence[str] | None = None) -> Bundle:
        with self._reading() as conn:
            return read_content(conn, self._rows, task_ids)

    def read_metadata(self) -> dict[str, Any]:
        with self._reading() as conn:
            rows = conn.execute(select(meta_table.c.key, meta_table.c.value)).all()
        return {key: loads(value, f"{self._location}: meta {key!r}") for key, value in sorted(rows)}

    def counts(self) -> dict[str, int]:
        with self._reading() as conn:
            return {
                name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in _COUNTED
            }

    def revision(self) -> str | None:
        with self._reading() as conn:
            value = conn.execute(
                select(meta_table.c.value).where(meta_table.c.key == REVISION_KEY)
            ).scalar_one_or_none()
        if value is None:
            return None
        revision = loads(value, f"{self._location}: meta {REVISION_KEY!r}")
        if not isinstance(revision, str) or not revision:
            raise KnowledgeBaseError(
                f"{self._location}: meta {REVISION_KEY!r} must be a non-empty string, found "
                f"{revision!r}; the database was edited outside autometa."
            )
        return revision

    def digest_inputs(self) -> DigestInputs:
        ev, cf, tk = evaluations_table, configs_table, tasks_table
        with self._reading() as conn:
            # Tasks and cells in one read transaction: both come from the same revision.
            tasks = conn.execute(select(tk.c.task_id, tk.c.kind, tk.c.scoring, tk.c.meta_features))
            task_rows = [tuple(row) for row in tasks]
            cells = conn.execute(
                select(ev.c.task_id, cf.c.key, ev.c.score, ev.c.status).join(
                    cf, cf.c.config_id == ev.c.config_id
                )
            ).all()
        return DigestInputs(
            tasks=task_rows,
            cells=[tuple(row) for row in cells],
        )
