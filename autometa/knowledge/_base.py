"""KnowledgeBase: earlier tasks, the configurations tried on them, and how they scored.

Meta-learners learn from a knowledge base; every fit can add to one. It holds tasks
(:class:`TaskRecord`), configurations stored once per
:attr:`~autometa.contract.Config.key`, evaluation cells (one
:class:`~autometa.contract.Evaluation` per task and configuration; writing a cell again
replaces it) and metadata. :class:`KnowledgeBase` is a thin facade over a
:class:`~autometa.knowledge._store.KnowledgeStore`: the SQLAlchemy store
(:mod:`autometa.knowledge._sql_store`; a SQLite file by default, SQLite in memory, or any
SQLAlchemy URL). Beside it: the JSON Lines format (:mod:`autometa.knowledge._jsonl`), the
shipped base (:mod:`autometa.knowledge._shipped`), Optuna study import
(:mod:`autometa.knowledge._study`), score tables and derived data.

A knowledge base received from someone else is data, never code: no pickle, no ``eval``;
stored values are only parsed with :func:`json.loads` and type-checked.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autometa.contract._types import Config, Evaluation, TaskKind
from autometa.knowledge._derived import Derivations, base_fingerprint
from autometa.knowledge._format import KnowledgeBaseError
from autometa.knowledge._jsonl_files import paths, read_sources, sources, write_file
from autometa.knowledge._limits import ImportLimits
from autometa.knowledge._records import Bundle, TaskRecord, check_evaluation, check_metadata
from autometa.knowledge._schema import APPLICATION_ID, SCHEMA_VERSION
from autometa.knowledge._scores import ScoreTable
from autometa.knowledge._shipped import (
    CACHE_DIR_ENV,
    DEFAULT_CACHE_PREFIX,
    DEFAULT_LOCATION,
    default_cache_dir,
    open_shipped,
    write_packaged,
)
from autometa.knowledge._sql_store import SqlAlchemyStore
from autometa.knowledge._study import study_content
from autometa.knowledge._urls import without_password

if TYPE_CHECKING:
    from optuna.study import Study

    from autometa.knowledge._store import KnowledgeStore

__all__ = [  # what other modules import from here (the facade, and the shipped base's)
    "APPLICATION_ID",
    "CACHE_DIR_ENV",
    "DEFAULT_CACHE_PREFIX",
    "DEFAULT_LOCATION",
    "SCHEMA_VERSION",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "ScoreTable",
    "TaskRecord",
    "default_cache_dir",
    "write_packaged",
]

PathLike = str | os.PathLike[str]


class KnowledgeBase:
    """Tasks, configurations and evaluations, in a SQLite file or any SQLAlchemy database.

    Create one with :meth:`open` (a file path or a URL), :meth:`in_memory`, :meth:`default`
    (the read-only base shipped with autometa) or ``layered_knowledge`` (one base over
    another). Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self, store: KnowledgeStore | None, location: str, *, read_only: bool = False
    ) -> None:
        """Wrap an open store; use the class methods instead."""
        self._store = store
        self._build: Callable[[], KnowledgeStore] | None = None  # the shipped base, lazily
        self._location = location
        self._read_only = read_only
        self._derived = Derivations(self._live_store)
        self._layers: tuple[KnowledgeBase, KnowledgeBase] | None = None  # layered_knowledge's

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
        store = SqlAlchemyStore.open(location, read_only=read_only, create=create)
        return cls(store, store.location, read_only=read_only)

    @classmethod
    def in_memory(cls) -> KnowledgeBase:
        """A new, empty, writable knowledge base in memory (gone when closed)."""
        return cls(SqlAlchemyStore.in_memory(), ":memory:")

    @classmethod
    def default(cls) -> KnowledgeBase:
        """The knowledge base shipped with autometa (``autometa/data/default_kb/``), read-only.

        Parsed once and cached in autometa's cache folder (``AUTOMETA_CACHE_DIR``, else
        ``$XDG_CACHE_HOME/autometa`` or ``~/.cache/autometa``; see
        :mod:`autometa.knowledge._shipped`). Fits add to the user's own base over it.
        """
        shipped = open_shipped()
        location = DEFAULT_LOCATION if shipped.store is None else shipped.store.location
        kb = cls(shipped.store, location, read_only=True)
        kb._build = shipped.build
        kb._derived = Derivations(kb._live_store, **shipped.derivation_options())
        return kb

    @property
    def layers(self) -> tuple[KnowledgeBase, ...]:
        """The bases this one is made of, lowest first (``(self,)`` unless layered)."""
        return self._layers or (self,)

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
        return self._store is None and self._build is None

    def close(self) -> None:
        """Release the database connections (an in-memory base is discarded). Idempotent."""
        self._build = None
        self._derived.packaged = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"KnowledgeBase({self._location!r}, closed)"
        try:
            counts = self.counts()
        except Exception as exc:  # repr must not raise, even on a damaged file
            return f"KnowledgeBase({self._location!r}, unreadable: {exc})"
        inner = ", ".join(f"{k}={v}" for k, v in counts.items())
        mode = ", read-only" if self._read_only else ""
        return f"KnowledgeBase({self._location!r}, {inner}{mode})"

    def __deepcopy__(self, memo: dict[int, Any]) -> KnowledgeBase:
        """A handle on a store: copies share it (as sklearn's clone of a parameter does)."""
        return self

    def __len__(self) -> int:
        """Number of tasks."""
        return self.counts()["tasks"]

    def _live_store(self) -> KnowledgeStore:
        if self._store is None and self._build is not None:
            self._store, self._build = self._build(), None  # the shipped base, on first use
            self._location = self._store.location
        if self._store is None:
            raise KnowledgeBaseError(f"Knowledge base {self._location} is closed.")
        return self._store

    def _writable(self) -> KnowledgeStore:
        store = self._live_store()
        if self._read_only:
            raise KnowledgeBaseError(
                f"Knowledge base {self._location} is read-only; nothing was written. Open "
                "it with read_only=False, or copy it into a writable one with copy_into()."
            )
        return store

    # -- writes --------------------------------------------------------------------------
    def add_task(self, record: TaskRecord, *, replace_meta_features: bool = True) -> None:
        """Insert or update one task.

        An existing task gets the record's name, kind, scoring and provenance. Its
        meta-features are replaced by the record's, or with ``replace_meta_features=False``
        updated with them (names absent from the record keep their stored values). Changing
        the kind or scoring of a task that already has evaluations is refused: those scores
        would no longer mean what the task says.
        """
        if not isinstance(record, TaskRecord):
            raise TypeError(f"add_task expects a TaskRecord, got {type(record).__name__}.")
        content = Bundle(tasks={record.task_id: record})
        self._writable().write(content, merge_meta_features=not replace_meta_features)

    def add_evaluations(self, evaluations: Iterable[Evaluation]) -> int:
        """Add evaluations in one transaction; return how many were written.

        Configurations are stored once per :attr:`Config.key`. A (task, config) cell that
        already exists is replaced (within one call, the last one wins). Every task must
        have been added with :meth:`add_task` first. Scores and fit times that are NaN or
        infinite are stored as NULL and read back as NaN.
        """
        batch = list(evaluations)
        for evaluation in batch:
            check_evaluation(evaluation)
        self._writable().write(Bundle(evaluations=batch))
        return len(batch)

    def set_metadata(self, key: str, value: Any) -> None:
        """Store a JSON value under ``key`` (e.g. the provenance of a build)."""
        check_metadata(key, value)
        self._writable().write(Bundle(metadata={key: value}))

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

        Trials must use :meth:`Config.to_trial_params`'s names (others are skipped with a
        warning); a minimised value is stored negated (greater is better), so pass the
        ``scoring`` it then corresponds to. ``task_id`` defaults to ``optuna:<study
        name>``. Details: :func:`autometa.knowledge._study.study_content`.
        """
        content = study_content(study, meta_features, kind, scoring, task_id, name, provenance)
        self._writable().write(content)
        return len(content.evaluations)

    # -- reads ---------------------------------------------------------------------------
    def tasks(self, kind: TaskKind | None = None) -> list[TaskRecord]:
        """All tasks (or those of one kind) sorted by task id; each call gets its own copies."""
        return self._derived.tasks(kind)

    def task(self, task_id: str) -> TaskRecord:
        """One task; KeyError if the knowledge base does not have it."""
        record = self._live_store().read_task(task_id)
        if record is None:
            raise KeyError(
                f"No task {task_id!r} in knowledge base {self._location}; add it with "
                "add_task() (tasks() lists the known ones)."
            )
        return record

    def evaluations(
        self, task_id: str | None = None, *, kind: TaskKind | None = None
    ) -> list[Evaluation]:
        """Evaluations (of one task, or of the tasks of one kind), sorted by task id, config
        key. An unknown ``task_id`` gives an empty list."""
        return self._live_store().read_evaluations(task_id, kind=kind)

    def configs(self, algorithm: str | None = None) -> list[Config]:
        """All stored configurations (or those of one algorithm), sorted by key."""
        return self._live_store().read_configs(algorithm)

    def evaluated(self, task_id: str) -> dict[str, str]:
        """``{Config.key: status}`` of what was already tried on a task (to resume builds)."""
        return self._live_store().read_statuses(task_id)

    def score_table(
        self, kind: TaskKind | None = None, *, algorithms: Iterable[str] | None = None
    ) -> ScoreTable:
        """The task x config matrix of ``ok`` scores, for the tasks of ``kind`` (or all).

        Rows are the tasks with an ok, finite score among the selected configurations;
        columns the configurations (of ``algorithms``, if given) with one on those tasks;
        NaN elsewhere. Read once per :meth:`content_digest`, then cut.
        """
        return self._derived.score_table(kind, algorithms)

    def content_digest(self) -> str | None:
        """A key of this base's content: equal keys mean equal content, and every write
        through autometa changes it (the shipped files' hash, else the meta ``revision``
        token each write stores). None when the base was never written by autometa."""
        return self._derived.digest()

    def metadata(self) -> dict[str, Any]:
        """Everything in the ``meta`` table: schema_version, application, created_with, and
        what builders stored with :meth:`set_metadata` (e.g. build provenance)."""
        if self._store is None and self._derived.packaged is not None:
            return copy.deepcopy(dict(self._derived.packaged.metadata))
        return self._live_store().read_metadata()

    def counts(self) -> dict[str, int]:
        """``{"tasks": n, "configs": n, "evaluations": n}``."""
        if self._store is None and self._derived.packaged is not None:
            return dict(self._derived.packaged.counts)
        return self._live_store().counts()

    # -- sharing -------------------------------------------------------------------------
    def export_jsonl(
        self, path: PathLike, *, task_ids: Iterable[str] | None = None
    ) -> dict[str, int]:
        """Write the knowledge base (or some tasks and their evaluations) as JSON Lines.

        Format: :mod:`autometa.knowledge._jsonl`. Deterministic (same content, same
        bytes); gzip-compressed for a ``.gz`` path; written to a temporary name and
        renamed. Returns the number of records of each type.
        """
        wanted = None if task_ids is None else sorted(set(task_ids))
        content = self._live_store().read_content(wanted)
        write_file(Path(path), content)
        return content.counts()

    def import_jsonl(
        self, path_or_paths: PathLike | Iterable[PathLike], *, limits: ImportLimits | None = None
    ) -> dict[str, int]:
        """Import JSON Lines exports (files, or folders of ``*.jsonl``/``*.jsonl.gz`` files).

        Everything is parsed and checked first: a malformed line, or input past ``limits``
        (:mod:`autometa.knowledge._limits`), raises :class:`KnowledgeBaseError` naming file and
        line before anything is written; one transaction then replaces same-key tasks and cells.
        """
        store = self._writable()  # fail before parsing, not after
        content, counts = read_sources(sources(paths(path_or_paths)), limits)
        store.write(content)
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
        target = other._writable()
        content = self._live_store().read_content(None if task_ids is None else list(task_ids))
        target.write(content)
        return content.counts()

    # -- fingerprints: cache keys for what is derived from the content ---------------------
    def task_fingerprints(self) -> dict[str, str]:
        """A content hash of each task, by task id, computed once per :meth:`content_digest`:
        of what a meta-learner sees (kind, scoring, meta-features, every cell's config key,
        score and status), equal on any storage backend."""
        return self._derived.fingerprints()

    def fingerprint(self, task_fingerprints: Mapping[str, str] | None = None) -> str:
        """A content hash of the whole knowledge base: of its :meth:`task_fingerprints`
        (pass them if already computed, to save reading them again)."""
        return base_fingerprint(task_fingerprints or self.task_fingerprints())


def reopen_spec(knowledge: KnowledgeBase) -> str | None:
    """What a pickled model keeps of a ``knowledge=`` base: the location to open it
    again (a URL without its password: see :func:`~autometa.knowledge._urls.without_password`),
    or None for the shipped base (the default again) and an in-memory one (whose content
    lives only in the process that made it)."""
    if knowledge._derived.shipped_digest is not None or knowledge.location == ":memory:":
        return None
    return without_password(knowledge.location)
