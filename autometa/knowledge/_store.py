"""The store interface: what :class:`~autometa.knowledge.KnowledgeBase` needs of a backend.

A knowledge base is a thin facade over one :class:`KnowledgeStore`, as an Optuna study is
over a ``BaseStorage``. The SQLAlchemy store (SQLite file or memory, PostgreSQL, any
SQLAlchemy URL) is :class:`~autometa.knowledge._sql_store.SqlAlchemyStore`. A third
backend implements the abstract methods below and passes
:func:`autometa.testing.check_knowledge_store`, which checks every rule written here.

Rules every store keeps:

- Content is tasks (:class:`~autometa.knowledge._records.TaskRecord`), configurations
  (:class:`~autometa.contract.Config`, one per :attr:`Config.key`), evaluation cells (the
  contract's :class:`~autometa.contract.Evaluation`, one per task and configuration key)
  and metadata (JSON values by key).
- :meth:`KnowledgeStore.write` is atomic: all of it or nothing. It replaces stored tasks
  and cells with the same key (the last of a batch wins) and changes :meth:`revision`.
- Reads return tasks sorted by task id, configurations by key, evaluations by task id
  then configuration key, all in code-point order; NaN where a score or time is missing.
- A read-only store refuses every write with
  :class:`~autometa.knowledge._format.KnowledgeBaseError` and stores nothing.
- Stored values are data, never code: they are parsed as JSON and type-checked, so a
  crafted database raises KnowledgeBaseError instead of running anything.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from autometa.contract._types import Config, Evaluation, TaskKind
    from autometa.knowledge._records import Bundle, TaskRecord
    from autometa.knowledge._scores import ScoreTable


@dataclass(frozen=True)
class DigestInputs:
    """What a content hash of each task covers, as stored (see ``task_fingerprints``).

    ``tasks`` holds ``(task_id, kind, scoring, meta_features_json)`` where the JSON text is
    the canonical encoding of the meta-features (``_format.dumps`` of
    ``encode_meta_features``); ``cells`` holds ``(task_id, config_key, score, status)``
    with ``score`` None where it is missing. Any order.
    """

    tasks: list[tuple[str, str, str, str]]
    cells: list[tuple[str, str, float | None, str]]


class KnowledgeStore(abc.ABC):
    """Where a knowledge base's content lives; see the module docstring for the rules."""

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """A description of where the content lives, for messages (no password)."""

    @property
    @abc.abstractmethod
    def read_only(self) -> bool:
        """Whether every write is refused."""

    # -- writes ------------------------------------------------------------------------
    @abc.abstractmethod
    def write(self, content: Bundle, *, merge_meta_features: bool = False) -> None:
        """Store ``content`` in one transaction, and change :meth:`revision`.

        Metadata keys are set (reserved keys raise ValueError); tasks replace stored
        tasks with the same id (with ``merge_meta_features``, stored meta-features absent
        from the record are kept); configurations that an evaluation of ``content`` uses
        are stored once per key; evaluation cells replace stored cells. Refused with
        ValueError, storing nothing: an evaluation of a task neither stored nor in
        ``content`` (naming ``content.origins`` of it when known), and a change of kind
        or scoring of a task that has evaluations.
        """

    # -- reads -------------------------------------------------------------------------
    @abc.abstractmethod
    def read_tasks(self, kind: TaskKind | None = None) -> list[TaskRecord]:
        """All tasks, or those of one kind, sorted by task id."""

    @abc.abstractmethod
    def read_task(self, task_id: str) -> TaskRecord | None:
        """One task, or None if there is no such task."""

    @abc.abstractmethod
    def read_evaluations(
        self, task_id: str | None = None, *, kind: TaskKind | None = None
    ) -> list[Evaluation]:
        """Evaluations (of one task, of the tasks of one kind, or all), sorted."""

    @abc.abstractmethod
    def read_configs(self, algorithm: str | None = None) -> list[Config]:
        """Stored configurations (or those of one algorithm), sorted by key."""

    @abc.abstractmethod
    def read_statuses(self, task_id: str) -> dict[str, str]:
        """``{Config.key: status}`` of the evaluations of one task (empty if unknown)."""

    @abc.abstractmethod
    def read_score_table(
        self, kind: TaskKind | None = None, algorithms: Iterable[str] | None = None
    ) -> ScoreTable:
        """The task x configuration matrix of ``ok``, finite scores (see ScoreTable):
        rows are tasks (of ``kind``) with such a score among the configurations (of
        ``algorithms``), columns the configurations with such a score on those tasks."""

    @abc.abstractmethod
    def read_content(self, task_ids: Sequence[str] | None = None) -> Bundle:
        """Everything, or the given tasks with their evaluations and the configurations
        those use, with the metadata except the reserved keys; KeyError naming unknown
        ``task_ids``."""

    @abc.abstractmethod
    def read_metadata(self) -> dict[str, Any]:
        """All metadata, reserved keys included, sorted by key."""

    @abc.abstractmethod
    def counts(self) -> dict[str, int]:
        """``{"tasks": n, "configs": n, "evaluations": n}``."""

    @abc.abstractmethod
    def revision(self) -> str | None:
        """A token every write changes (None before the first write)."""

    @abc.abstractmethod
    def digest_inputs(self) -> DigestInputs:
        """What task fingerprints hash: equal content gives equal inputs on any store."""

    # -- lifetime ----------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None:
        """Release connections (an in-memory store is discarded). Idempotent."""
