"""The knowledge layer's records: a task (:class:`TaskRecord`) and a content bundle.

One record type per concept: an earlier task is a :class:`TaskRecord`, an evaluation is
the contract's :class:`~autometa.contract.Evaluation`, a configuration the contract's
:class:`~autometa.contract.Config`. A :class:`Bundle` groups them as files, stores and
copies exchange them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from autometa.contract._types import TASK_KINDS, Config, Evaluation, TaskKind
from autometa.knowledge._format import RESERVED_METADATA, STATUSES, KnowledgeBaseError, dumps

if TYPE_CHECKING:
    from autometa.contract._task import Task


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


def copy_record(record: TaskRecord) -> TaskRecord:
    """A copy with its own dicts, without validating again (``record`` was validated)."""
    clone = object.__new__(TaskRecord)
    for name, value in vars(record).items():
        object.__setattr__(clone, name, dict(value) if isinstance(value, dict) else value)
    return clone


def check_kind_argument(kind: str) -> str:
    """``kind`` if it is a task kind, else ValueError (for ``kind=`` filters)."""
    if kind not in TASK_KINDS:
        raise ValueError(f"kind must be one of {TASK_KINDS}, got {kind!r}.")
    return kind


def check_evaluation(evaluation: Any) -> None:
    """Raise TypeError/ValueError unless ``evaluation`` is an :class:`Evaluation` to store."""
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


def check_storable_text(content: Bundle) -> None:
    """Raise KnowledgeBaseError if a text field of ``content`` holds a NUL character.

    PostgreSQL cannot store one in a text column (SQLite can): refused on every backend,
    so that what one base holds can always be copied into another. (JSON fields are
    stored escaped and may hold anything.)
    """
    fields: list[tuple[str, str, str | None]] = [
        (f"task {r.task_id!r}", name, value)
        for r in content.tasks.values()
        for name, value in (("task_id", r.task_id), ("name", r.name), ("scoring", r.scoring))
    ]
    fields += [(f"config {c.key}", "algorithm", c.algorithm) for c in content.configs.values()]
    fields += [
        (f"an evaluation of task {e.task_id!r}", name, value)
        for e in content.evaluations
        for name, value in (
            ("task_id", e.task_id),
            ("error", e.error),
            ("algorithm", e.config.algorithm),
        )
    ]
    for owner, name, value in fields:
        if value is not None and "\x00" in value:
            raise KnowledgeBaseError(
                f"The {name} of {owner} contains a NUL character (\\x00), which PostgreSQL "
                "cannot store; nothing was written. Remove it from the text."
            )


def check_metadata(key: Any, value: Any) -> None:
    """Raise ValueError/TypeError unless ``value`` may be stored as metadata ``key``."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"metadata key must be a non-empty string, got {key!r}.")
    if key in RESERVED_METADATA:
        raise ValueError(f"metadata key {key!r} is maintained by the knowledge base itself.")
    try:
        dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata {key!r} must be JSON-serialisable (no NaN): {exc}") from None


@dataclass
class Bundle:
    """Content of a knowledge base or an export, independent of where it lives.

    ``configs`` maps :attr:`Config.key` to every configuration the content holds (also
    those no evaluation of it uses); ``origins`` maps a task id to where an evaluation
    first referred to it (``file, line N``), for the error when that task is unknown.
    """

    metadata: dict[str, Any] = field(default_factory=dict)
    configs: dict[str, Config] = field(default_factory=dict)
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    evaluations: list[Evaluation] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)

    def update(self, other: Bundle) -> None:
        """Add ``other``'s content; on a clash (same task, same metadata key) it wins."""
        self.metadata.update(other.metadata)
        self.configs.update(other.configs)
        self.tasks.update(other.tasks)
        self.evaluations.extend(other.evaluations)
        for task_id, origin in other.origins.items():
            self.origins.setdefault(task_id, origin)

    def counts(self) -> dict[str, int]:
        """``{"tasks": n, "configs": n, "evaluations": n}`` of this content."""
        return {
            "tasks": len(self.tasks),
            "configs": len(self.configs),
            "evaluations": len(self.evaluations),
        }
