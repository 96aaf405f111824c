"""KnowledgeBase: earlier tasks, the configurations tried on them, and how they scored.

Meta-learners learn from a knowledge base; every fit can add to one. It holds

- **tasks**: id, name, kind, scoring, meta-features (NaN where undefined), provenance;
- **configurations**: an algorithm and JSON parameters, stored once per
  :attr:`~autometa.contract.Config.key`;
- **evaluations**: one cell per (task, configuration) with a greater-is-better score,
  fit time, status (``ok`` / ``failed`` / ``capped``) and error. Writing a cell again
  replaces it.

Storage is SQLAlchemy Core: a SQLite file by default (WAL journal and a 30 s busy timeout
so processes appending to one file lose nothing), SQLite in memory, or any SQLAlchemy URL
for a shared team database. Every write is one transaction.

A knowledge base received from someone else is data, never code: there is no pickle and no
``eval`` anywhere; stored values are only parsed with :func:`json.loads` and type-checked,
so a crafted file raises :class:`KnowledgeBaseError` instead of running anything.

Knowledge bases are shared as JSON Lines (:meth:`KnowledgeBase.export_jsonl`,
:meth:`KnowledgeBase.import_jsonl`; format in :mod:`autometa.knowledge._format`). The default
knowledge base shipped in the wheel is a folder of such files
(``autometa/data/default_kb/``), loaded by :meth:`KnowledgeBase.default`.
"""

from __future__ import annotations

import copy
import functools
import gzip
import hashlib
import logging
import math
import os
import sqlite3
import uuid
import warnings
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, cast

import numpy as np
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import DBAPIError

from autometa.contract._types import TASK_KINDS, Config, Evaluation, TaskKind
from autometa.knowledge._format import (
    RESERVED_METADATA,
    REVISION_KEY,
    STATUSES,
    Bundle,
    EvaluationEntry,
    KnowledgeBaseError,
    TaskEntry,
    check_kind,
    check_meta_features,
    check_object,
    check_optional_number,
    check_status,
    check_text,
    dumps,
    encode_meta_features,
    finite_or_none,
    format_jsonl,
    is_well_formed_evaluation,
    loads,
    make_config,
    parse_jsonl,
)
from autometa.knowledge._storage import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    chunks,
    configs_table,
    evaluations_table,
    existing,
    meta_table,
    open_location,
    open_memory,
    tasks_table,
    transaction,
    upsert,
)

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from importlib.abc import Traversable

    from optuna.study import Study
    from sqlalchemy import Engine

    from autometa.contract._task import Task

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "ScoreTable",
    "TaskRecord",
]

_JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
DEFAULT_LOCATION = "<autometa default knowledge base>"
DEFAULT_CACHE_PREFIX = "default-kb-"
CACHE_DIR_ENV = "AUTOMETA_CACHE_DIR"

PathLike = str | os.PathLike[str]
_EVALUATION_COLUMNS = tuple(
    evaluations_table.c[name]
    for name in ("task_id", "config_id", "score", "fit_time", "status", "error")
)
_Status = Literal["ok", "failed", "capped"]


# -- public value types --------------------------------------------------------------------
@dataclass(frozen=True)
class TaskRecord:
    """An earlier task as the knowledge base knows it.

    ``meta_features`` maps names to floats (NaN where a meta-feature is undefined;
    infinities are rejected because they are always an upstream bug). ``provenance`` is
    any JSON object saying where the task came from (dataset source, version, licence...).
    Equality treats NaN meta-features as equal, so records compare equal after a round
    trip through storage.
    """

    task_id: str
    name: str
    kind: TaskKind
    scoring: str
    meta_features: dict[str, float]
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.task_id, str) or not self.task_id:
            raise ValueError(f"task_id must be a non-empty string, got {self.task_id!r}.")
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string, got {self.name!r}.")
        if self.kind not in TASK_KINDS:
            raise ValueError(f"kind must be one of {TASK_KINDS}, got {self.kind!r}.")
        if not isinstance(self.scoring, str) or not self.scoring:
            raise ValueError(f"scoring must be a scorer name, got {self.scoring!r}.")
        if not isinstance(self.meta_features, Mapping):
            raise TypeError(
                f"meta_features must be a mapping name -> float, got "
                f"{type(self.meta_features).__name__}."
            )
        features: dict[str, float] = {}
        for name, value in self.meta_features.items():
            features[str(name)] = _meta_feature(self.task_id, str(name), value)
        if not isinstance(self.provenance, Mapping):
            raise TypeError(f"provenance must be a mapping, got {type(self.provenance).__name__}.")
        provenance = dict(self.provenance)
        try:
            dumps(provenance)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"provenance of task {self.task_id!r} must be JSON-serialisable "
                f"(str, number, bool, None, list, dict; no NaN): {exc}"
            ) from None
        object.__setattr__(self, "meta_features", dict(sorted(features.items())))
        object.__setattr__(self, "provenance", provenance)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskRecord):
            return NotImplemented
        return (
            (self.task_id, self.name, self.kind, self.scoring, self.provenance)
            == (other.task_id, other.name, other.kind, other.scoring, other.provenance)
            and self.meta_features.keys() == other.meta_features.keys()
            and all(_same_float(v, other.meta_features[k]) for k, v in self.meta_features.items())
        )

    __hash__ = None  # type: ignore[assignment]  # holds dicts

    @classmethod
    def from_task(
        cls,
        task: Task,
        meta_features: Mapping[str, float],
        *,
        provenance: Mapping[str, Any] | None = None,
    ) -> TaskRecord:
        """The record of a validated :class:`~autometa.contract.Task` and its meta-features."""
        return cls(
            task_id=task.task_id,
            name=task.name,
            kind=task.kind,
            scoring=task.scoring,
            meta_features=dict(meta_features),
            provenance=dict(provenance or {}),
        )


def _meta_feature(task_id: str, name: str, value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(
            f"meta-feature {name!r} of task {task_id!r} must be a number, got {value!r}."
        )
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"meta-feature {name!r} of task {task_id!r} must be a number, got {value!r}."
        ) from None
    if math.isinf(number):
        raise ValueError(
            f"meta-feature {name!r} of task {task_id!r} is infinite; use NaN for undefined "
            "values (an infinite meta-feature is a bug in the code that computed it)."
        )
    return number


def _same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@dataclass(frozen=True, eq=False)
class ScoreTable:
    """Scores of configurations (columns) on tasks (rows), as meta-learners consume them.

    ``scores[i, j]`` is the greater-is-better score of ``configs[j]`` on ``task_ids[i]``;
    NaN where the pair was not evaluated or the evaluation was not ``ok``. Rows are
    sorted by task id, columns by :attr:`Config.key`. The array is read-only.
    (``eq=False``: comparing tables is comparing arrays; do it with numpy.)
    """

    task_ids: list[str]
    configs: list[Config]
    scores: np.ndarray

    def __post_init__(self) -> None:
        scores = np.array(self.scores, dtype=float)
        expected = (len(self.task_ids), len(self.configs))
        if scores.shape != expected:
            raise ValueError(f"scores has shape {scores.shape}, expected {expected}.")
        scores.setflags(write=False)
        object.__setattr__(self, "scores", scores)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.task_ids), len(self.configs))

    def normalized(self) -> np.ndarray:
        """Per-task min-max scaled copy in [0, 1]; 1 is the task's best score.

        Scores on different tasks (and scorings) are not comparable; their rank within a
        task is. A row with fewer than two distinct finite scores becomes 1.0 wherever it
        is finite (every config tried there was as good as the best). NaN stays NaN.
        """
        out = np.full(self.scores.shape, np.nan)
        for i, row in enumerate(self.scores):
            finite = np.isfinite(row)
            if not finite.any():
                continue
            low, high = row[finite].min(), row[finite].max()
            if high > low:
                out[i, finite] = (row[finite] - low) / (high - low)
            else:
                out[i, finite] = 1.0
        return out


# -- the knowledge base --------------------------------------------------------------------
class KnowledgeBase:
    """Tasks, configurations and evaluations, in a SQLite file or any SQLAlchemy database.

    Create one with :meth:`open` (a file path or a URL), :meth:`in_memory` or
    :meth:`default` (the read-only base shipped with autometa). Use it as a context
    manager, or call :meth:`close`.
    """

    def __init__(self, engine: Engine | None, location: str, *, read_only: bool = False) -> None:
        """Wrap an engine on an already validated database; use the class methods instead."""
        self._engine: Engine | None = engine
        self._build: Callable[[], KnowledgeBase] | None = None
        """For :meth:`default` without its cache file: makes the database on first use."""
        self._packaged: _Packaged | None = None
        """For :meth:`default`: what planning reads, shipped with the package."""
        self._location = location
        self._read_only = read_only
        self._shipped_digest: str | None = None
        """For :meth:`default`: the hash of the shipped files this base was built from."""
        self._derived_prefix: Path | None = None
        """For :meth:`default`: where files derived from it are cached (path + prefix)."""

    # -- construction --------------------------------------------------------------------
    @classmethod
    def open(
        cls, location: PathLike, *, read_only: bool = False, create: bool = True
    ) -> KnowledgeBase:
        """Open the knowledge base at ``location``; create it if missing and ``create``.

        ``location`` is a file path (str or :class:`os.PathLike`; a SQLite file), or a
        string containing ``://``: a SQLAlchemy URL (``sqlite:///kb.db``,
        ``postgresql+psycopg://user@host/db``...). ``read_only=True`` opens a SQLite file
        with ``mode=ro`` and makes every write method raise :class:`KnowledgeBaseError`.

        Raises :class:`KnowledgeBaseError` (a ValueError) before anything is written when
        the location is not a knowledge base (not SQLite, truncated, another
        application's database) or was written by a newer autometa; FileNotFoundError,
        NotADirectoryError or PermissionError (naming the path) when it cannot be created.
        """
        opened = open_location(location, read_only=read_only, create=create)
        return cls(opened.engine, opened.location, read_only=read_only)

    @classmethod
    def in_memory(cls) -> KnowledgeBase:
        """A new, empty, writable knowledge base in memory (gone when closed)."""
        opened = open_memory()
        return cls(opened.engine, opened.location)

    @classmethod
    def default(cls) -> KnowledgeBase:
        """The knowledge base shipped with autometa, read-only.

        It is built by ``autometa kb build`` into ``autometa/data/default_kb/`` as JSON
        Lines files; every ``*.jsonl`` (and ``*.jsonl.gz``) file there is imported in name
        order. Parsing them takes seconds, so the result is cached as an SQLite file named
        after a hash of the files' contents in autometa's cache folder
        (``AUTOMETA_CACHE_DIR``, else ``$XDG_CACHE_HOME/autometa`` or
        ``~/.cache/autometa``); later calls open that file read-only in milliseconds. A
        damaged cache is rebuilt; an unwritable cache folder only costs the parse. A
        missing or empty data folder gives an empty knowledge base. To add to it, copy it
        into your own: ``KnowledgeBase.default().copy_into(kb)``.

        Before the cache file exists, what planning a fit reads (tasks, score tables,
        task fingerprints, counts) comes from ``autometa/data/default_kb_derived.npz``,
        shipped with the package for these exact files (checked by their hash), and the
        database is made only when something else is asked for: the first
        ``autometa.recommend`` on a fresh machine does not wait for the parse.
        """
        folder = _default_kb_dir()
        sources = _sources([folder]) if folder.is_dir() else []
        if not sources:
            empty = cls.in_memory()
            empty._freeze(DEFAULT_LOCATION)
            return empty
        digest = _sources_digest(sources)
        cache = default_cache_dir() / f"{DEFAULT_CACHE_PREFIX}{digest[:20]}.db"
        if cache.is_file():
            try:
                kb = cls.open(cache, read_only=True, create=False)
            except KnowledgeBaseError:
                logger.warning("rebuilding the damaged knowledge-base cache %s", cache)
            else:
                kb._mark_shipped(digest, cache)
                return kb
        packaged = _Packaged.load(_packaged_file(), f"shipped-{digest}")
        if packaged is None:
            return cls._parse_default(sources, cache, digest)
        lazy = cls(None, DEFAULT_LOCATION, read_only=True)
        lazy._build = lambda: cls._parse_default(sources, cache, digest)
        lazy._packaged = packaged
        lazy._mark_shipped(digest, cache)
        return lazy

    @classmethod
    def _parse_default(
        cls, sources: Sequence[Traversable], cache: Path, digest: str
    ) -> KnowledgeBase:
        """The shipped base parsed from its files, and cached (best effort) at ``cache``."""
        kb = cls.in_memory()
        kb._import_sources(sources)
        kb._store_cache(cache)
        kb._freeze(DEFAULT_LOCATION)
        kb._mark_shipped(digest, cache)
        return kb

    def _mark_shipped(self, digest: str, cache: Path) -> None:
        """Key what is derived from this base by the shipped files' hash; cache it beside
        ``cache`` (the files are immutable, so the hash names the content for good)."""
        self._shipped_digest = f"shipped-{digest}"
        self._derived_prefix = cache.with_suffix("")

    def _store_cache(self, cache: Path) -> None:
        """Best effort: write this base to ``cache`` atomically; drop older cache files."""
        temporary = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            self._backup_to(temporary)
            KnowledgeBase.open(temporary, read_only=True, create=False).close()  # it opens
            os.replace(temporary, cache)
            current = cache.with_suffix("").name
            for stale in cache.parent.glob(f"{DEFAULT_CACHE_PREFIX}*"):
                if not stale.name.startswith(current):  # older bases' files, derived ones too
                    stale.unlink(missing_ok=True)
        except (OSError, sqlite3.Error, KnowledgeBaseError) as exc:
            logger.info("not caching the default knowledge base at %s: %s", cache, exc)
            for leftover in cache.parent.glob(f"{temporary.name}*"):
                leftover.unlink(missing_ok=True)

    def _backup_to(self, path: Path) -> None:
        """Copy this SQLite database page by page into a new file (SQLite's backup API:
        milliseconds, where re-inserting 10^5 rows through :meth:`copy_into` takes
        seconds)."""
        raw = self._live_engine().raw_connection()
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

    def _freeze(self, location: str) -> None:
        raw = self._live_engine().raw_connection()
        try:
            dbapi = raw.driver_connection
            assert dbapi is not None
            dbapi.execute("PRAGMA query_only = ON")
        finally:
            raw.close()
        self._read_only = True
        self._location = location

    # -- lifetime ------------------------------------------------------------------------
    @property
    def location(self) -> str:
        """The file path or URL (password hidden) of this knowledge base."""
        return self._location

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def closed(self) -> bool:
        return self._engine is None and self._build is None

    def close(self) -> None:
        """Release the database connections (an in-memory base is discarded). Idempotent."""
        self._build = None
        self._packaged = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._engine is None:
            return f"KnowledgeBase({self._location!r}, closed)"
        try:
            counts = self.counts()
        except Exception as exc:  # repr must not raise, even on a damaged file
            return f"KnowledgeBase({self._location!r}, unreadable: {exc})"
        inner = ", ".join(f"{k}={v}" for k, v in counts.items())
        mode = ", read-only" if self._read_only else ""
        return f"KnowledgeBase({self._location!r}, {inner}{mode})"

    def __deepcopy__(self, memo: dict[int, Any]) -> KnowledgeBase:
        """A knowledge base is a handle on a store: copies share it (as sklearn's clone does
        when an estimator parameter is a KnowledgeBase)."""
        return self

    def __len__(self) -> int:
        """Number of tasks."""
        return self.counts()["tasks"]

    def _live_engine(self) -> Engine:
        if self._engine is None and self._build is not None:
            built, self._build = self._build(), None  # the shipped base, on first use
            self._engine, built._engine = built._engine, None
            self._location = built._location
        if self._engine is None:
            raise KnowledgeBaseError(f"Knowledge base {self._location} is closed.")
        return self._engine

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        engine = self._live_engine()
        try:
            with transaction(engine, write=False) as conn:
                yield conn
        except DBAPIError as exc:
            raise self._translate(exc) from exc

    def _require_writable(self) -> Engine:
        engine = self._live_engine()
        if self._read_only:
            raise KnowledgeBaseError(
                f"Knowledge base {self._location} is read-only; nothing was written. Open "
                "it with read_only=False, or copy it into a writable one with copy_into()."
            )
        return engine

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        engine = self._require_writable()
        try:
            with transaction(engine, write=True) as conn:
                yield conn
                # Last, in the same transaction: whoever reads the new content reads the
                # new revision, so derived data keyed by it is never stale.
                upsert(
                    conn,
                    meta_table,
                    [{"key": REVISION_KEY, "value": dumps(uuid.uuid4().hex)}],
                    ["key"],
                    ["value"],
                )
        except DBAPIError as exc:
            raise self._translate(exc) from exc

    def _in_code_point_order(self, column: Any) -> Any:
        """``column`` to sort by, in code-point order (Python's, SQLite's) on every backend.

        PostgreSQL sorts text by the database's collation (e.g. en-US puts "a" before "B"),
        which would make results that follow this order depend on the server.
        """
        if self._live_engine().dialect.name == "postgresql":
            return column.collate("C")
        return column

    def _translate(self, exc: DBAPIError) -> Exception:
        message = str(exc.orig)
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

    # -- writes --------------------------------------------------------------------------
    def add_task(self, record: TaskRecord, *, replace_meta_features: bool = True) -> None:
        """Insert or update one task.

        An existing task gets the record's name, kind, scoring and provenance. Its
        meta-features are replaced by the record's, or with ``replace_meta_features=False``
        updated with them (names absent from the record keep their stored values; useful
        when a new meta-feature group is computed later). Changing the kind or scoring of a
        task that already has evaluations is refused: those scores would no longer mean
        what the task says.
        """
        if not isinstance(record, TaskRecord):
            raise TypeError(f"add_task expects a TaskRecord, got {type(record).__name__}.")
        with self._writing() as conn:
            self._upsert_tasks(conn, [_entry(record)], replace_meta_features=replace_meta_features)

    def add_evaluations(self, evaluations: Iterable[Evaluation]) -> int:
        """Add evaluations in one transaction; return how many were written.

        Configurations are stored once per :attr:`Config.key`. A (task, config) cell that
        already exists is replaced (within one call, the last one wins). Every task must
        have been added with :meth:`add_task` first. Scores and fit times that are NaN or
        infinite are stored as NULL and read back as NaN.
        """
        batch = list(evaluations)
        bundle = Bundle()
        keys: dict[int, str] = {}  # Config.key is computed, not stored: once per object
        for evaluation in batch:
            _check_evaluation(evaluation)
            key = keys.get(id(evaluation.config))
            if key is None:
                key = keys[id(evaluation.config)] = evaluation.config.key
            bundle.configs[key] = evaluation.config
            bundle.evaluations.append(
                EvaluationEntry(
                    task_id=evaluation.task_id,
                    config_key=key,
                    score=float(evaluation.score),
                    fit_time=float(evaluation.fit_time),
                    status=evaluation.status,
                    error=evaluation.error,
                )
            )
        with self._writing() as conn:
            self._write_evaluations(conn, bundle)
        return len(batch)

    def set_metadata(self, key: str, value: Any) -> None:
        """Store a JSON value under ``key`` (e.g. the provenance of a build)."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"metadata key must be a non-empty string, got {key!r}.")
        if key in RESERVED_METADATA:
            raise ValueError(f"metadata key {key!r} is maintained by the knowledge base itself.")
        try:
            text = dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"metadata {key!r} must be JSON-serialisable (no NaN): {exc}") from None
        with self._writing() as conn:
            upsert(conn, meta_table, [{"key": key, "value": text}], ["key"], ["value"])

    # -- reads ---------------------------------------------------------------------------
    def tasks(self, kind: TaskKind | None = None) -> list[TaskRecord]:
        """All tasks (or those of one kind), sorted by task id.

        Read once per :meth:`content_digest`; each call returns its own copies.
        """
        if kind is not None:
            _kind(kind)
        digest = self.content_digest()
        if digest is None:
            return self._read_tasks(kind)
        records = _derived_tasks(_DerivedKey(digest, weakref.ref(self)))
        return [_copy_record(r) for r in records if kind is None or r.kind == kind]

    def _read_tasks(self, kind: TaskKind | None) -> list[TaskRecord]:
        """:meth:`tasks` read from the database (no memo)."""
        stmt = select(tasks_table).order_by(self._in_code_point_order(tasks_table.c.task_id))
        if kind is not None:
            stmt = stmt.where(tasks_table.c.kind == _kind(kind))
        with self._reading() as conn:
            rows = conn.execute(stmt).all()
        return [_record(self._task_entry(row)) for row in rows]

    def task(self, task_id: str) -> TaskRecord:
        """One task; KeyError if the knowledge base does not have it."""
        with self._reading() as conn:
            row = conn.execute(select(tasks_table).where(tasks_table.c.task_id == task_id)).first()
        if row is None:
            raise KeyError(
                f"No task {task_id!r} in knowledge base {self._location}; add it with "
                "add_task() (tasks() lists the known ones)."
            )
        return _record(self._task_entry(row))

    def evaluations(
        self, task_id: str | None = None, *, kind: TaskKind | None = None
    ) -> list[Evaluation]:
        """Evaluations (of one task, or of the tasks of one kind), sorted by task id, config key.

        An unknown ``task_id`` gives an empty list.
        """
        ev, cf = evaluations_table, configs_table
        stmt = (
            select(*_EVALUATION_COLUMNS, cf.c.key, cf.c.algorithm, cf.c.params)
            .join(cf, cf.c.config_id == ev.c.config_id)
            .order_by(*map(self._in_code_point_order, (ev.c.task_id, cf.c.key)))
        )
        if task_id is not None:
            stmt = stmt.where(ev.c.task_id == task_id)
        if kind is not None:
            stmt = stmt.join(tasks_table, tasks_table.c.task_id == ev.c.task_id).where(
                tasks_table.c.kind == _kind(kind)
            )
        with self._reading() as conn:
            rows = conn.execute(stmt).all()
        configs: dict[int, Config] = {}
        out = []
        for row in rows:
            config_id, key = row[1], row[6]
            config = configs.get(config_id)
            if config is None:
                config = configs[config_id] = self._config(config_id, key, *row[7:9])
            entry = self._evaluation_entry(row, key)  # key checked by _config
            out.append(
                Evaluation(
                    task_id=entry.task_id,
                    config=config,
                    score=entry.score,
                    fit_time=entry.fit_time,
                    status=cast(_Status, entry.status),
                    error=entry.error,
                )
            )
        return out

    def configs(self, algorithm: str | None = None) -> list[Config]:
        """All stored configurations (or those of one algorithm), sorted by key."""
        cf = configs_table
        stmt = select(cf.c.config_id, cf.c.key, cf.c.algorithm, cf.c.params).order_by(
            self._in_code_point_order(cf.c.key)
        )
        if algorithm is not None:
            stmt = stmt.where(cf.c.algorithm == algorithm)
        with self._reading() as conn:
            rows = conn.execute(stmt).all()
        return [self._config(*row) for row in rows]

    def evaluated(self, task_id: str) -> dict[str, str]:
        """``{Config.key: status}`` of what was already tried on a task (to resume builds)."""
        ev, cf = evaluations_table, configs_table
        stmt = (
            select(cf.c.key, ev.c.status)
            .join(cf, cf.c.config_id == ev.c.config_id)
            .where(ev.c.task_id == task_id)
            .order_by(self._in_code_point_order(cf.c.key))
        )
        with self._reading() as conn:
            rows = conn.execute(stmt).all()
        where = f"{self._location}: evaluations of task {task_id!r}"
        return {
            check_text(key, where, "config key"): check_status(status, where)
            for key, status in rows
        }

    def score_table(
        self, kind: TaskKind | None = None, *, algorithms: Iterable[str] | None = None
    ) -> ScoreTable:
        """The task x config matrix of ``ok`` scores, for the tasks of ``kind`` (or all).

        Rows are the tasks with at least one ok, finite score among the selected
        configurations; columns are the configurations (of ``algorithms``, if given) with
        at least one ok, finite score on the selected tasks. Everything else is NaN.

        The table of all tasks is read once per :meth:`content_digest` (and, for the
        shipped base, kept on disk beside its cache as a ``.npz`` file); the table of a
        kind or of some algorithms is cut from it.
        """
        if kind is not None:
            _kind(kind)
        digest = self.content_digest()
        if digest is None:
            return self._read_score_table(kind, algorithms)
        derived = _derived_scores(_DerivedKey(digest, weakref.ref(self)))
        return derived.cut(kind, None if algorithms is None else sorted(set(algorithms)))

    def content_digest(self) -> str | None:
        """A key of this base's content: equal keys mean equal content, and every write
        changes it. None when the base has none yet (never written by this autometa).

        The shipped base's key is the hash of its files; any other base's is a random
        token each write transaction stores with its changes (meta key ``revision``), so
        reading it costs one query. (An edit made outside autometa, with SQL, keeps the
        old token: derived data would then be stale until the next write through
        autometa.) What depends only on the content (score tables, task fingerprints) is
        computed once per key.
        """
        if self._shipped_digest is not None:
            return self._shipped_digest
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
        return f"revision-{revision}"

    def _derived_file(self, what: str) -> Path | None:
        """The cache file of derived data ``what``, for the shipped base only."""
        if self._derived_prefix is None:
            return None
        return self._derived_prefix.with_name(f"{self._derived_prefix.name}.{what}.npz")

    def _compute_scores(self) -> _Scores:
        """The table of all tasks with each row's kind: from the cache file, else read."""
        path = self._derived_file("scores")
        if path is not None and path.is_file():
            try:
                return _Scores.load(path, self._shipped_digest or "")
            except (OSError, ValueError, KeyError) as exc:
                logger.info("recomputing the damaged derived file %s: %s", path, exc)
        if self._packaged is not None:
            return self._packaged.scores
        table = self._read_score_table(None, None)
        with self._reading() as conn:
            kinds = dict(conn.execute(select(tasks_table.c.task_id, tasks_table.c.kind)).all())
        where = f"{self._location}: tasks"
        scores = _Scores(table, tuple(check_kind(kinds[t], where) for t in table.task_ids))
        if path is not None:
            _save_npz(path, scores.arrays(self._shipped_digest or ""))
        return scores

    def _read_score_table(
        self, kind: TaskKind | None, algorithms: Iterable[str] | None
    ) -> ScoreTable:
        """:meth:`score_table` read from the database (no memo)."""
        ev, cf, tk = evaluations_table, configs_table, tasks_table
        stmt = (
            select(ev.c.task_id, ev.c.config_id, ev.c.score)
            .join(cf, cf.c.config_id == ev.c.config_id)
            .where(ev.c.status == "ok", ev.c.score.is_not(None))
        )
        config_stmt = select(cf.c.config_id, cf.c.key, cf.c.algorithm, cf.c.params)
        if kind is not None:
            stmt = stmt.join(tk, tk.c.task_id == ev.c.task_id).where(tk.c.kind == _kind(kind))
        if algorithms is not None:
            names = sorted(set(algorithms))
            stmt = stmt.where(cf.c.algorithm.in_(names))
            config_stmt = config_stmt.where(cf.c.algorithm.in_(names))
        config_stmt = config_stmt.where(cf.c.config_id.in_(stmt.with_only_columns(ev.c.config_id)))
        with self._reading() as conn:
            rows = conn.execute(stmt).all()
            config_rows = conn.execute(config_stmt).all()
        where = f"{self._location}: evaluations"
        cells = []
        for task_id, config_id, score in rows:
            value = check_optional_number(score, where, "score")
            if math.isfinite(value):
                cells.append((check_text(task_id, where, "task_id"), config_id, value))
        used = {config_id for _, config_id, _ in cells}
        configs = sorted(
            ((self._config(*row), row[0]) for row in config_rows if row[0] in used),
            key=lambda pair: pair[0].key,
        )
        task_ids = sorted({task_id for task_id, _, _ in cells})
        row_of = {task_id: i for i, task_id in enumerate(task_ids)}
        col_of = {config_id: j for j, (_, config_id) in enumerate(configs)}
        scores = np.full((len(task_ids), len(configs)), np.nan)
        if cells:
            rows_idx = np.fromiter(
                (row_of[t] for t, _, _ in cells), dtype=np.intp, count=len(cells)
            )
            cols_idx = np.fromiter(
                (col_of[c] for _, c, _ in cells), dtype=np.intp, count=len(cells)
            )
            scores[rows_idx, cols_idx] = np.fromiter(
                (s for _, _, s in cells), dtype=float, count=len(cells)
            )
        return ScoreTable(task_ids=task_ids, configs=[c for c, _ in configs], scores=scores)

    def metadata(self) -> dict[str, Any]:
        """Everything in the ``meta`` table: schema_version, application, created_with, and
        what builders stored with :meth:`set_metadata` (e.g. build provenance)."""
        if self._engine is None and self._packaged is not None:
            return copy.deepcopy(dict(self._packaged.metadata))
        with self._reading() as conn:
            rows = conn.execute(select(meta_table.c.key, meta_table.c.value)).all()
        return {key: loads(value, f"{self._location}: meta {key!r}") for key, value in sorted(rows)}

    def counts(self) -> dict[str, int]:
        """``{"tasks": n, "configs": n, "evaluations": n}``."""
        if self._engine is None and self._packaged is not None:
            return dict(self._packaged.counts)
        with self._reading() as conn:
            return {
                name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in (
                    ("tasks", tasks_table),
                    ("configs", configs_table),
                    ("evaluations", evaluations_table),
                )
            }

    # -- sharing -------------------------------------------------------------------------
    def export_jsonl(
        self, path: PathLike, *, task_ids: Iterable[str] | None = None
    ) -> dict[str, int]:
        """Write the knowledge base (or some tasks and their evaluations) as JSON Lines.

        The format is documented in :mod:`autometa.knowledge._format`. The output is
        deterministic (same content, same bytes), so exports diff cleanly under version
        control. A path ending in ``.gz`` is gzip-compressed (reproducibly). The file is
        written to a temporary name and renamed, so readers never see half of it.
        Returns the number of records of each type.
        """
        wanted = None if task_ids is None else sorted(set(task_ids))
        with self._reading() as conn:
            bundle = self._bundle(conn, wanted)
        target = Path(path)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            with temporary.open("wb") as raw:
                stream: BinaryIO = raw
                if target.name.endswith(".gz"):
                    stream = cast(
                        BinaryIO, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
                    )
                try:
                    for line in format_jsonl(bundle):
                        stream.write(line.encode("utf-8"))
                finally:
                    if stream is not raw:
                        stream.close()
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return {
            "tasks": len(bundle.tasks),
            "configs": len(bundle.configs),
            "evaluations": len(bundle.evaluations),
        }

    def import_jsonl(self, path_or_paths: PathLike | Iterable[PathLike]) -> dict[str, int]:
        """Import JSON Lines exports (files, or folders of ``*.jsonl``/``*.jsonl.gz`` files).

        All files are parsed and checked before anything is written, then imported in one
        transaction: a malformed line raises :class:`KnowledgeBaseError` naming the file
        and line number and leaves the knowledge base unchanged. Imported tasks replace
        stored ones with the same id (meta-features included); evaluation cells replace
        stored cells; metadata keys of a file's meta record are set. Evaluations may refer
        to tasks defined in any of the files or already stored. Returns the number of
        records of each type read, and of files.
        """
        if isinstance(path_or_paths, (str, os.PathLike)):
            items: list[PathLike] = [path_or_paths]
        else:
            items = list(path_or_paths)
        return self._import_sources(_sources([Path(p) for p in items]))

    def _import_sources(self, sources: Sequence[Traversable]) -> dict[str, int]:
        self._require_writable()  # fail before parsing, not after
        combined = Bundle()
        counts = {"files": len(sources), "tasks": 0, "configs": 0, "evaluations": 0}
        parsed_configs: dict[str, tuple[int, Config]] = {}  # files repeat one pool
        for source in sources:
            bundle = _parse_source(source, parsed_configs)
            counts["tasks"] += len(bundle.tasks)
            counts["configs"] += len(bundle.configs)
            counts["evaluations"] += len(bundle.evaluations)
            combined.update(bundle)
        with self._writing() as conn:
            self._apply(conn, combined)
        return counts

    def copy_into(
        self, other: KnowledgeBase, *, task_ids: Sequence[str] | None = None
    ) -> dict[str, int]:
        """Add this knowledge base's content (or only ``task_ids``) to ``other``, atomically.

        Use it to seed a new base (``KnowledgeBase.default().copy_into(mine)``), to merge
        two, or to hold tasks out (leave-one-task-out evaluation): tasks and evaluation
        cells already in ``other`` are replaced by this one's, metadata keys other than
        the reserved ones are copied. Returns record counts.
        """
        if other is self:
            raise ValueError("copy_into needs another knowledge base, not this one.")
        other._require_writable()
        with self._reading() as conn:
            bundle = self._bundle(conn, None if task_ids is None else list(task_ids))
        with other._writing() as conn:
            other._apply(conn, bundle)
        return {
            "tasks": len(bundle.tasks),
            "configs": len(bundle.configs),
            "evaluations": len(bundle.evaluations),
        }

    def add_study(
        self,
        study: Study,
        *,
        meta_features: Mapping[str, float],
        kind: TaskKind,
        scoring: str,
        task_id: str | None = None,
        name: str | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> int:
        """Import an earlier Optuna study as a task with its evaluations; return how many.

        The study's trials must use autometa's parameter convention (what
        :meth:`Config.to_trial_params` writes): ``algorithm`` plus ``<algorithm>__<param>``.
        Trials without an ``algorithm`` parameter are skipped with a warning. Complete
        trials become ``ok`` evaluations, failed trials ``failed`` ones (error from the
        trial's ``error`` user attribute when present; failed trials keep the parameters
        sampled before the failure); pruned, running and waiting trials are ignored.

        Scores are stored greater-is-better: a study that *minimizes* has its values
        negated (a minimised log loss L is stored as -L, like scikit-learn's ``neg_*``
        scorers), so pass the ``scoring`` name the stored values correspond to. The fit
        time is the trial's ``fit_time`` user attribute when present, else its duration.
        When two trials share a configuration, the last ok one is kept.

        ``task_id`` defaults to ``optuna:<study name>``, ``name`` to the study name.
        Multi-objective studies are refused.
        """
        from optuna.study import StudyDirection
        from optuna.trial import TrialState

        if len(study.directions) != 1:
            raise ValueError(
                f"Study {study.study_name!r} has {len(study.directions)} objectives; a "
                "knowledge-base task has one score. Import single-objective studies."
            )
        sign = -1.0 if study.direction == StudyDirection.MINIMIZE else 1.0
        record = TaskRecord(
            task_id=task_id or f"optuna:{study.study_name}",
            name=name or study.study_name,
            kind=kind,
            scoring=scoring,
            meta_features=dict(meta_features),
            provenance={
                "source": "optuna",
                "study_name": study.study_name,
                "direction": "minimize" if sign < 0 else "maximize",
                **dict(provenance or {}),
            },
        )
        kept: dict[str, Evaluation] = {}
        skipped: list[int] = []
        for trial in study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)
        ):
            if "algorithm" not in trial.params:
                skipped.append(trial.number)
                continue
            config = Config.from_trial_params(trial.params)
            ok = trial.state == TrialState.COMPLETE and trial.value is not None
            error = trial.user_attrs.get("error")
            fit_time = trial.user_attrs.get("fit_time")
            if not isinstance(fit_time, (int, float)) or isinstance(fit_time, bool):
                fit_time = trial.duration.total_seconds() if trial.duration else math.nan
            evaluation = Evaluation(
                task_id=record.task_id,
                config=config,
                score=sign * float(trial.value) if ok and trial.value is not None else math.nan,
                fit_time=float(fit_time),
                status="ok" if ok else "failed",
                error=None
                if ok
                else (str(error) if error else "failed in Optuna (no reason recorded)"),
            )
            previous = kept.get(config.key)
            if previous is None or evaluation.status == "ok" or previous.status != "ok":
                kept[config.key] = evaluation
        if skipped:
            warnings.warn(
                f"add_study skipped {len(skipped)} trial(s) of study {study.study_name!r} "
                f"(numbers {skipped[:10]}{'...' if len(skipped) > 10 else ''}): they have no "
                "'algorithm' parameter, so they are not autometa configurations. Trial "
                "parameters must be named 'algorithm' and '<algorithm>__<param>', as "
                "Config.to_trial_params() writes them.",
                UserWarning,
                stacklevel=2,
            )
        bundle = Bundle()
        for evaluation in kept.values():
            bundle.configs[evaluation.config.key] = evaluation.config
            bundle.evaluations.append(
                EvaluationEntry(
                    task_id=evaluation.task_id,
                    config_key=evaluation.config.key,
                    score=evaluation.score,
                    fit_time=evaluation.fit_time,
                    status=evaluation.status,
                    error=evaluation.error,
                )
            )
        with self._writing() as conn:
            self._upsert_tasks(conn, [_entry(record)], replace_meta_features=True)
            self._write_evaluations(conn, bundle)
        return len(bundle.evaluations)

    # -- internals: decoding stored rows -------------------------------------------------
    def _config(self, config_id: Any, key: Any, algorithm: Any, params: Any) -> Config:
        where = f"{self._location}: configs row {config_id}"
        config = make_config(algorithm, loads(params, f"{where}, column params"), where)
        if config.key != key:
            raise KnowledgeBaseError(
                f"{where}: the key column does not match the algorithm and params columns; "
                "the database was edited outside autometa."
            )
        return config

    def _task_entry(self, row: Any) -> TaskEntry:
        where = f"{self._location}: tasks row {row.task_id!r}"
        return TaskEntry(
            task_id=check_text(row.task_id, where, "task_id"),
            name=check_text(row.name, where, "name", empty=True),
            kind=check_kind(row.kind, where),
            scoring=check_text(row.scoring, where, "scoring"),
            meta_features=check_meta_features(
                loads(row.meta_features, f"{where}, column meta_features"), where
            ),
            provenance=check_object(
                loads(row.provenance, f"{where}, column provenance"), where, "provenance"
            ),
        )

    def _evaluation_entry(self, values: Sequence[Any], config_key: str) -> EvaluationEntry:
        """An evaluation from ``(task_id, config_id, score, fit_time, status, error, ...)``."""
        task_id, config_id, score, fit_time, status, error = values[:6]
        # Fast path for well-formed rows (the common case, 10^5 rows per read); anything
        # else goes through the checks below, which also build the error message.
        if is_well_formed_evaluation(task_id, score, fit_time, status, error):
            return EvaluationEntry(
                task_id,
                config_key,
                math.nan if score is None else score,
                math.nan if fit_time is None else fit_time,
                status,
                error,
            )
        where = f"{self._location}: evaluation of task {task_id!r}, config {config_id}"
        if error is not None and not isinstance(error, str):
            raise KnowledgeBaseError(f"{where}: error must be text, found {type(error).__name__}.")
        return EvaluationEntry(
            task_id=check_text(task_id, where, "task_id"),
            config_key=config_key,
            score=check_optional_number(score, where, "score"),
            fit_time=check_optional_number(fit_time, where, "fit_time"),
            status=check_status(status, where),
            error=error,
        )

    def _bundle(self, conn: Connection, task_ids: Sequence[str] | None) -> Bundle:
        """Everything (or the given tasks with their evaluations) as a :class:`Bundle`."""
        bundle = Bundle()
        for key, value in conn.execute(select(meta_table.c.key, meta_table.c.value)):
            if key not in RESERVED_METADATA:
                bundle.metadata[key] = loads(value, f"{self._location}: meta {key!r}")
        task_stmt = select(tasks_table)
        ev, cf = evaluations_table, configs_table
        eval_stmt = select(*_EVALUATION_COLUMNS)
        config_stmt = select(cf.c.config_id, cf.c.key, cf.c.algorithm, cf.c.params)
        if task_ids is not None:
            known = existing(conn, tasks_table.c.task_id, task_ids)
            if unknown := [t for t in task_ids if t not in known]:
                raise KeyError(f"No tasks {unknown[:10]} in knowledge base {self._location}.")
            task_stmt = task_stmt.where(tasks_table.c.task_id.in_(task_ids))
            eval_stmt = eval_stmt.where(ev.c.task_id.in_(task_ids))
            config_stmt = config_stmt.where(
                cf.c.config_id.in_(eval_stmt.with_only_columns(ev.c.config_id))
            )
        for row in conn.execute(task_stmt):
            entry = self._task_entry(row)
            bundle.tasks[entry.task_id] = entry
        keys: dict[int, str] = {}
        for row in conn.execute(config_stmt):
            config = self._config(*row)
            keys[row.config_id] = config.key
            bundle.configs[config.key] = config
        for row in conn.execute(eval_stmt):
            bundle.evaluations.append(self._evaluation_entry(row, keys[row[1]]))
        return bundle

    # -- internals: writing ----------------------------------------------------------------
    def _apply(self, conn: Connection, bundle: Bundle) -> None:
        """Write a bundle (metadata, tasks, configs, evaluations) inside ``conn``'s transaction."""
        if bundle.metadata:
            rows = [{"key": k, "value": dumps(v)} for k, v in bundle.metadata.items()]
            upsert(conn, meta_table, rows, ["key"], ["value"])
        self._upsert_tasks(conn, list(bundle.tasks.values()), replace_meta_features=True)
        self._write_evaluations(conn, bundle)

    def _upsert_tasks(
        self, conn: Connection, entries: Sequence[TaskEntry], *, replace_meta_features: bool
    ) -> None:
        if not entries:
            return
        ids = sorted({e.task_id for e in entries})
        stored: dict[str, Any] = {}
        for chunk in chunks(ids):
            for found in conn.execute(select(tasks_table).where(tasks_table.c.task_id.in_(chunk))):
                stored[found.task_id] = found
        final: dict[str, TaskEntry] = {}
        for entry in entries:
            row = stored.get(entry.task_id)
            if row is not None and (row.kind, row.scoring) != (entry.kind, entry.scoring):
                has_evaluations = conn.execute(
                    select(evaluations_table.c.task_id)
                    .where(evaluations_table.c.task_id == entry.task_id)
                    .limit(1)
                ).first()
                if has_evaluations:
                    raise ValueError(
                        f"Task {entry.task_id!r} is stored as kind={row.kind!r}, "
                        f"scoring={row.scoring!r} and has evaluations scored that way; "
                        f"refusing to change it to kind={entry.kind!r}, "
                        f"scoring={entry.scoring!r}. Use a new task_id."
                    )
            if not replace_meta_features:
                previous = final.get(entry.task_id)
                if previous is None and row is not None:
                    previous = self._task_entry(row)
                if previous is not None:
                    entry = replace(
                        entry, meta_features={**previous.meta_features, **entry.meta_features}
                    )
            final[entry.task_id] = entry
        rows = [
            {
                "task_id": e.task_id,
                "name": e.name,
                "kind": e.kind,
                "scoring": e.scoring,
                "meta_features": dumps(encode_meta_features(e.meta_features)),
                "provenance": dumps(e.provenance),
            }
            for e in final.values()
        ]
        upsert(
            conn,
            tasks_table,
            rows,
            ["task_id"],
            ["name", "kind", "scoring", "meta_features", "provenance"],
        )

    def _write_evaluations(self, conn: Connection, bundle: Bundle) -> None:
        if not bundle.evaluations:
            return
        first_use: dict[str, str] = {}
        for entry in bundle.evaluations:
            first_use.setdefault(entry.task_id, entry.origin)
        known = existing(conn, tasks_table.c.task_id, sorted(first_use))
        missing = [t for t in first_use if t not in known]
        if missing:
            origin = first_use[missing[0]]
            more = f" (and {len(missing) - 1} more: {missing[1:6]})" if len(missing) > 1 else ""
            raise ValueError(
                f"Unknown task_id {missing[0]!r}{f' at {origin}' if origin else ''}{more}: "
                f"knowledge base {self._location} has no such task. Add the task with "
                "add_task() first (or include its task record in the import)."
            )
        used = {e.config_key for e in bundle.evaluations}
        config_rows = [
            {"key": key, "algorithm": c.algorithm, "params": dumps(dict(c.params))}
            for key, c in bundle.configs.items()
            if key in used
        ]
        upsert(conn, configs_table, config_rows, ["key"], [])
        ids: dict[str, int] = {}
        for chunk in chunks(sorted(used)):
            stmt = select(configs_table.c.key, configs_table.c.config_id).where(
                configs_table.c.key.in_(chunk)
            )
            ids.update({key: config_id for key, config_id in conn.execute(stmt)})
        rows = [
            {
                "task_id": e.task_id,
                "config_id": ids[e.config_key],
                "score": finite_or_none(e.score),
                "fit_time": finite_or_none(e.fit_time),
                "status": e.status,
                "error": e.error,
            }
            for e in bundle.evaluations
        ]
        upsert(
            conn,
            evaluations_table,
            rows,
            ["task_id", "config_id"],
            ["score", "fit_time", "status", "error"],
        )

    # -- fingerprints: cache keys for what is derived from the content ---------------------
    def task_fingerprints(self) -> dict[str, str]:
        """A content hash of each task, by task id.

        Computed once per :meth:`content_digest` (and, for the shipped base, kept on disk
        beside its cache as a ``.npz`` file).

        It covers what a meta-learner sees: the task's kind, scoring and meta-features and
        every evaluation cell (configuration key, score, status); not the name,
        provenance, fit times or errors. Equal content gives equal hashes on any storage
        backend. One pass over the evaluations without parsing JSON (about 0.3 s for
        30,000 cells), so derived data (e.g. a strategy selector's training data) can be
        keyed by it.
        """
        digest = self.content_digest()
        if digest is None:
            return self._read_task_fingerprints()
        return dict(_derived_fingerprints(_DerivedKey(digest, weakref.ref(self))))

    def _compute_fingerprints(self) -> tuple[tuple[str, str], ...]:
        """:meth:`task_fingerprints` as pairs: from the cache file, else read."""
        path = self._derived_file("fingerprints")
        if path is not None and path.is_file():
            try:
                return _load_fingerprints(path, self._shipped_digest or "")
            except (OSError, ValueError, KeyError) as exc:
                logger.info("recomputing the damaged derived file %s: %s", path, exc)
        if self._packaged is not None:
            return self._packaged.fingerprints
        pairs = tuple(self._read_task_fingerprints().items())
        if path is not None:
            _save_npz(
                path,
                {
                    "digest": np.array(self._shipped_digest or ""),
                    "task_ids": np.array([t for t, _ in pairs], dtype=str),
                    "fingerprints": np.array([f for _, f in pairs], dtype=str),
                },
            )
        return pairs

    def _read_task_fingerprints(self) -> dict[str, str]:
        """:meth:`task_fingerprints` read from the database (no memo)."""
        ev, cf, tk = evaluations_table, configs_table, tasks_table
        with self._reading() as conn:
            tasks = conn.execute(select(tk.c.task_id, tk.c.kind, tk.c.scoring, tk.c.meta_features))
            digests = {
                task_id: hashlib.sha256(f"{kind}\n{scoring}\n{meta}\n".encode())
                for task_id, kind, scoring, meta in tasks
            }
            cells = conn.execute(
                select(ev.c.task_id, cf.c.key, ev.c.score, ev.c.status).join(
                    cf, cf.c.config_id == ev.c.config_id
                )
            ).all()
        for task_id, key, score, status in sorted(cells):  # (task_id, key) is unique
            digests[task_id].update(f"{key}\t{score!r}\t{status}\n".encode())
        return {task_id: digest.hexdigest() for task_id, digest in sorted(digests.items())}

    def fingerprint(self, task_fingerprints: Mapping[str, str] | None = None) -> str:
        """A content hash of the whole knowledge base: of its :meth:`task_fingerprints`
        (pass them if already computed, to save reading them again)."""
        if task_fingerprints is None:
            task_fingerprints = self.task_fingerprints()
        digest = hashlib.sha256()
        for task_id, task_digest in sorted(task_fingerprints.items()):
            digest.update(f"{task_id}\t{task_digest}\n".encode())
        return digest.hexdigest()


# -- derived data: computed once per content digest ---------------------------------------
@dataclass(frozen=True)
class _DerivedKey:
    """A content digest, and the base to compute from on a miss (not part of the key: any
    base with this digest has the same content)."""

    digest: str
    knowledge: weakref.ref[KnowledgeBase] = field(compare=False, hash=False, repr=False)

    def base(self) -> KnowledgeBase:
        knowledge = self.knowledge()
        if knowledge is None:  # pragma: no cover - the caller holds the base
            raise RuntimeError("the knowledge base was garbage-collected during a read")
        return knowledge


@functools.lru_cache(maxsize=8)
def _derived_scores(key: _DerivedKey) -> _Scores:
    """The score table of all tasks of the base with content ``key.digest``."""
    return key.base()._compute_scores()


@functools.lru_cache(maxsize=8)
def _derived_tasks(key: _DerivedKey) -> tuple[TaskRecord, ...]:
    """The task records of the base with content ``key.digest``, sorted by task id."""
    base = key.base()
    if base._packaged is not None:
        return base._packaged.tasks
    return tuple(base._read_tasks(None))


def _copy_record(record: TaskRecord) -> TaskRecord:
    """A copy with its own dicts, without validating again (``record`` was validated)."""
    clone = object.__new__(TaskRecord)
    for name, value in vars(record).items():
        object.__setattr__(clone, name, dict(value) if isinstance(value, dict) else value)
    return clone


@functools.lru_cache(maxsize=8)
def _derived_fingerprints(key: _DerivedKey) -> tuple[tuple[str, str], ...]:
    """The task fingerprints of the base with content ``key.digest``."""
    return key.base()._compute_fingerprints()


@dataclass(frozen=True, eq=False)
class _Scores:
    """The score table of all tasks and each row's task kind: what the tables of a kind
    or of some algorithms are cut from."""

    table: ScoreTable
    kinds: tuple[str, ...]

    def cut(self, kind: str | None, algorithms: Sequence[str] | None) -> ScoreTable:
        """:meth:`KnowledgeBase.score_table` ``(kind, algorithms=algorithms)``, as a copy.

        Rows of other kinds are dropped, then columns of other algorithms, then columns
        and rows left with no finite score: exactly the rows and columns the database
        query keeps.
        """
        scores = self.table.scores
        rows = np.ones(len(self.kinds), dtype=bool)
        if kind is not None:
            rows = np.array([k == kind for k in self.kinds], dtype=bool)
        columns = np.ones(len(self.table.configs), dtype=bool)
        if algorithms is not None:
            names = set(algorithms)
            columns = np.array([c.algorithm in names for c in self.table.configs], dtype=bool)
        finite = np.isfinite(scores) & rows[:, None] & columns[None, :]
        keep_columns = finite.any(axis=0)
        keep_rows = finite[:, keep_columns].any(axis=1)
        return ScoreTable(
            task_ids=[t for t, keep in zip(self.table.task_ids, keep_rows, strict=True) if keep],
            configs=[c for c, keep in zip(self.table.configs, keep_columns, strict=True) if keep],
            scores=scores[np.ix_(keep_rows, keep_columns)],
        )

    def arrays(self, digest: str) -> dict[str, np.ndarray]:
        """Plain arrays (strings and floats) for a ``.npz`` file: no pickle."""
        configs = self.table.configs
        return {
            "digest": np.array(digest),
            "task_ids": np.array(self.table.task_ids, dtype=str),
            "kinds": np.array(self.kinds, dtype=str),
            "config_keys": np.array([c.key for c in configs], dtype=str),
            "algorithms": np.array([c.algorithm for c in configs], dtype=str),
            "params": np.array([dumps(dict(c.params)) for c in configs], dtype=str),
            "scores": np.asarray(self.table.scores, dtype=float),
        }

    @classmethod
    def load(cls, path: Path, digest: str) -> _Scores:
        """Read :meth:`arrays` back from a file (ValueError if anything is off)."""
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: np.asarray(data[name]) for name in data.files}
        return cls.from_arrays(arrays, digest, str(path))

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], digest: str, where: str) -> _Scores:
        """:meth:`arrays` back, checking every value (ValueError if anything is off)."""
        if str(arrays["digest"]) != digest:
            raise ValueError(f"written for another base ({str(arrays['digest'])[:30]})")
        task_ids = [str(t) for t in arrays["task_ids"]]
        kinds = tuple(check_kind(str(k), where) for k in arrays["kinds"])
        configs = []
        for key, algorithm, params in zip(
            arrays["config_keys"], arrays["algorithms"], arrays["params"], strict=True
        ):
            config = make_config(str(algorithm), loads(str(params), where), where)
            if config.key != str(key):
                raise ValueError(f"config key {key!r} does not match its parameters")
            configs.append(config)
        scores = np.array(arrays["scores"], dtype=float)
        if len(kinds) != len(task_ids):
            raise ValueError("task_ids and kinds differ in length")
        return cls(ScoreTable(task_ids, configs, scores), kinds)


PACKAGED_DERIVED = "default_kb_derived.npz"
"""What planning reads from the shipped base, shipped with it (``autometa/data/``)."""


def _packaged_file() -> Traversable:
    return resources.files("autometa").joinpath("data").joinpath(PACKAGED_DERIVED)


@dataclass(frozen=True, eq=False)
class _Packaged:
    """The shipped base's score table, task fingerprints, task records, counts and
    metadata, as :func:`write_packaged` stored them for the files of hash ``digest``."""

    digest: str
    scores: _Scores
    fingerprints: tuple[tuple[str, str], ...]
    tasks: tuple[TaskRecord, ...]
    counts: Mapping[str, int]
    metadata: Mapping[str, Any]

    @classmethod
    def load(cls, source: Traversable, digest: str) -> _Packaged | None:
        """The data in ``source`` if it was written for ``digest``; else None (logged)."""
        if not source.is_file():
            return None
        try:
            with source.open("rb") as raw, np.load(raw, allow_pickle=False) as data:
                arrays = {name: np.asarray(data[name]) for name in data.files}
            if str(arrays["digest"]) != digest:
                logger.info("%s describes other shipped files; not using it", source)
                return None
            where = str(source)
            scores = _Scores.from_arrays(
                {k[len("scores_") :]: v for k, v in arrays.items() if k.startswith("scores_")},
                digest,
                where,
            )
            fingerprints = tuple(
                (str(t), str(f))
                for t, f in zip(arrays["task_ids"], arrays["fingerprints"], strict=True)
            )
            tasks = tuple(_record(_task_from_json(str(text), where)) for text in arrays["tasks"])
            counts = {str(k): int(v) for k, v in loads(str(arrays["counts"]), where).items()}
            metadata = check_object(loads(str(arrays["metadata"]), where), where, "metadata")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("ignoring the damaged %s: %s", source, exc)
            return None
        return cls(digest, scores, fingerprints, tasks, counts, metadata)


def _task_from_json(text: str, where: str) -> TaskEntry:
    raw = check_object(loads(text, where), where, "task")
    return TaskEntry(
        task_id=check_text(raw["task_id"], where, "task_id"),
        name=check_text(raw["name"], where, "name", empty=True),
        kind=check_kind(raw["kind"], where),
        scoring=check_text(raw["scoring"], where, "scoring"),
        meta_features=check_meta_features(raw["meta_features"], where),
        provenance=check_object(raw["provenance"], where, "provenance"),
    )


def write_packaged(path: PathLike | None = None) -> Path:
    """Write what planning reads from the shipped base to ``path`` (default: the
    package's ``autometa/data/default_kb_derived.npz``), read from its database.

    Run after the shipped base changes (``python -c "from autometa.knowledge._base
    import write_packaged; write_packaged()"``); ``tests/test_planning_overhead.py``
    fails while the file describes other files.
    """
    target = Path(str(_packaged_file())) if path is None else Path(path)
    kb = KnowledgeBase.default()
    kb._live_engine()  # the database itself, never the packaged data being replaced
    digest = kb.content_digest()
    if digest is None or not digest.startswith("shipped-"):
        raise KnowledgeBaseError("the shipped knowledge base is empty: nothing to package.")
    table = kb._read_score_table(None, None)
    records = kb._read_tasks(None)
    kinds = {r.task_id: r.kind for r in records}
    scores = _Scores(table, tuple(kinds[t] for t in table.task_ids))
    fingerprints = kb._read_task_fingerprints()
    tasks = [
        dumps(
            {
                "task_id": r.task_id,
                "name": r.name,
                "kind": r.kind,
                "scoring": r.scoring,
                "meta_features": encode_meta_features(r.meta_features),
                "provenance": r.provenance,
            }
        )
        for r in records
    ]
    arrays = {
        "digest": np.array(digest),
        **{f"scores_{k}": v for k, v in scores.arrays(digest).items()},
        "task_ids": np.array(list(fingerprints), dtype=str),
        "fingerprints": np.array(list(fingerprints.values()), dtype=str),
        "tasks": np.array(tasks, dtype=str),
        "counts": np.array(dumps(kb.counts())),
        "metadata": np.array(dumps(kb.metadata())),
    }
    np.savez_compressed(target, **cast(dict[str, Any], arrays))
    return target


def _load_fingerprints(path: Path, digest: str) -> tuple[tuple[str, str], ...]:
    with np.load(path, allow_pickle=False) as data:
        if str(data["digest"]) != digest:
            raise ValueError(f"written for another base ({str(data['digest'])[:30]})")
        return tuple(
            (str(t), str(f)) for t, f in zip(data["task_ids"], data["fingerprints"], strict=True)
        )


def _save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Best effort: write ``arrays`` to ``path`` atomically (a temporary file, a rename)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    try:
        np.savez(temporary, **cast(dict[str, Any], arrays))
        os.replace(temporary, path)
    except OSError as exc:
        logger.info("not caching derived data at %s: %s", path, exc)
        temporary.unlink(missing_ok=True)


# -- module helpers (pure functions; no state) ---------------------------------------------
def default_cache_dir() -> Path:
    """Where autometa caches derived files (``AUTOMETA_CACHE_DIR`` overrides)."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "autometa"


def _sources_digest(sources: Sequence[Traversable]) -> str:
    """:func:`_digest`, hashed once per process while the files' sizes and modification
    times stay the same (the shipped files are 20 MB: hashing them costs 30 ms)."""
    if not all(isinstance(source, Path) for source in sources):
        return _digest(sources)
    stamps = []
    for source in sources:
        stat = Path(str(source)).stat()
        stamps.append((str(source), stat.st_size, stat.st_mtime_ns))
    return _stamped_digest(tuple(stamps))


@functools.lru_cache(maxsize=4)
def _stamped_digest(stamps: tuple[tuple[str, int, int], ...]) -> str:
    return _digest([Path(path) for path, _, _ in stamps])


def _digest(sources: Sequence[Traversable]) -> str:
    """A hash of the files' names and contents: the cache key of the shipped base."""
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _default_kb_dir() -> Traversable:
    """The folder of JSON Lines files that make up the shipped knowledge base."""
    return resources.files("autometa").joinpath("data").joinpath("default_kb")


def _sources(items: Sequence[Traversable]) -> list[Traversable]:
    """Files to import: each item itself, or a folder's JSON Lines files in name order."""
    out: list[Traversable] = []
    for item in items:
        if item.is_dir():
            out.extend(
                sorted(
                    (c for c in item.iterdir() if c.is_file() and c.name.endswith(_JSONL_SUFFIXES)),
                    key=lambda c: c.name,
                )
            )
        elif isinstance(item, Path) and not item.exists():
            raise FileNotFoundError(f"JSON Lines file {item} does not exist.")
        else:
            out.append(item)
    return out


def _parse_source(
    source: Traversable, parsed_configs: dict[str, tuple[int, Config]] | None = None
) -> Bundle:
    label = str(source)
    with source.open("rb") as raw:
        if source.name.endswith(".gz"):
            try:
                with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                    return parse_jsonl(label, stream, parsed_configs)
            except (OSError, EOFError, zlib.error) as exc:
                raise KnowledgeBaseError(f"{label}: not a readable gzip file ({exc}).") from None
        return parse_jsonl(label, raw, parsed_configs)


def _entry(record: TaskRecord) -> TaskEntry:
    return TaskEntry(
        task_id=record.task_id,
        name=record.name,
        kind=record.kind,
        scoring=record.scoring,
        meta_features=dict(record.meta_features),
        provenance=dict(record.provenance),
    )


def _record(entry: TaskEntry) -> TaskRecord:
    return TaskRecord(
        task_id=entry.task_id,
        name=entry.name,
        kind=entry.kind,
        scoring=entry.scoring,
        meta_features=entry.meta_features,
        provenance=entry.provenance,
    )


def _kind(kind: str) -> str:
    if kind not in TASK_KINDS:
        raise ValueError(f"kind must be one of {TASK_KINDS}, got {kind!r}.")
    return kind


def _check_evaluation(evaluation: Any) -> None:
    if not isinstance(evaluation, Evaluation):
        raise TypeError(f"Expected Evaluation objects, got {type(evaluation).__name__}.")
    if not isinstance(evaluation.config, Config):
        raise TypeError(f"Evaluation.config must be a Config, got {evaluation.config!r}.")
    if not isinstance(evaluation.task_id, str) or not evaluation.task_id:
        raise ValueError(
            f"Evaluation.task_id must be a non-empty string, got {evaluation.task_id!r}."
        )
    if evaluation.status not in STATUSES:
        raise ValueError(f"Evaluation.status must be one of {STATUSES}, got {evaluation.status!r}.")
    if evaluation.error is not None and not isinstance(evaluation.error, str):
        raise TypeError(f"Evaluation.error must be a string or None, got {evaluation.error!r}.")
    for name in ("score", "fit_time"):
        value = getattr(evaluation, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise TypeError(f"Evaluation.{name} must be a number, got {value!r}.")
    if float(evaluation.fit_time) < 0:
        raise ValueError(f"Evaluation.fit_time must be >= 0, got {evaluation.fit_time!r}.")
