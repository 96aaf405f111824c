"""How much one import of JSON Lines files may read, and how large a score table may be.

A knowledge base someone sent is read before anything about it is trusted, so every
resource it can make autometa spend is bounded: the bytes of one line (checked while
reading it, before it is held whole: a gzip file of 199 kB can hold a line of 200 MB),
how deeply a line's values nest (:data:`~autometa.knowledge._format.MAX_NESTING`), the
bytes, task records and evaluation cells of one import, and the dense task x
configuration matrix of :meth:`KnowledgeBase.score_table` (a few thousand tasks, each
with its own configuration, make a 1 MB file whose table has tens of millions of cells).
Going past a limit raises :class:`~autometa.knowledge._format.KnowledgeBaseError` naming
the file and line, the limit, and the environment variable that raises it.

Each default is far above the shipped base (``autometa/data/default_kb/``: 263 tasks,
499 configurations, 78,900 cells in 22 MB of JSON; its longest line has 1,961 bytes and
its values nest 6 deep) and keeps the memory of one import near a gigabyte at most.
A user with a genuinely larger base raises them with the environment variables below
(read at each import, so they reach ``kb import`` too) or, in Python, passes
``limits=autometa.knowledge.ImportLimits(...)`` to :meth:`KnowledgeBase.import_jsonl`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Protocol

from autometa.knowledge._format import KnowledgeBaseError

MAX_LINE_BYTES = 1 << 20
"""Longest line (1 MiB) of a JSON Lines file: 500 times the shipped base's longest (a task
with its meta-features and provenance, 1,961 bytes). ``AUTOMETA_KB_MAX_LINE_BYTES``."""

MAX_IMPORT_BYTES = 512 << 20
"""Most bytes of JSON text (512 MiB, after gunzip) one import reads: 20 times the shipped
base. Everything is parsed before anything is written (imports are all or nothing), so
this bounds the import's memory (about three times the text). ``AUTOMETA_KB_MAX_IMPORT_BYTES``."""

MAX_TASKS = 100_000
"""Most task records one import reads: 380 times the shipped base's 263.
``AUTOMETA_KB_MAX_TASKS``."""

MAX_EVALUATIONS = 1_000_000
"""Most evaluation records (cells) one import reads: 12 times the shipped base's 78,900;
about a kilobyte of memory each until they are written. ``AUTOMETA_KB_MAX_EVALUATIONS``."""

MAX_TABLE_CELLS = 10_000_000
"""Most cells (tasks x configurations) of the dense score table: 80 MB of float64 per
array (with its fit times, twice that), 76 times the shipped base's 263 x 499. Checked for
the files of each import, before anything is written, and whenever a base's table is read.
``AUTOMETA_KB_MAX_TABLE_CELLS``."""

_ENVIRONMENT: Mapping[str, str] = MappingProxyType(
    {
        "line_bytes": "AUTOMETA_KB_MAX_LINE_BYTES",
        "import_bytes": "AUTOMETA_KB_MAX_IMPORT_BYTES",
        "tasks": "AUTOMETA_KB_MAX_TASKS",
        "evaluations": "AUTOMETA_KB_MAX_EVALUATIONS",
        "table_cells": "AUTOMETA_KB_MAX_TABLE_CELLS",
    }
)


@dataclass(frozen=True)
class ImportLimits:
    """The limits of one import (defaults: the module's ``MAX_*`` constants)."""

    line_bytes: int = MAX_LINE_BYTES
    import_bytes: int = MAX_IMPORT_BYTES
    tasks: int = MAX_TASKS
    evaluations: int = MAX_EVALUATIONS
    table_cells: int = MAX_TABLE_CELLS

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ImportLimits.{item.name} must be a positive integer.")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ImportLimits:
        """The defaults, each replaced by its ``AUTOMETA_KB_MAX_*`` variable when set."""
        environ = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for name, variable in _ENVIRONMENT.items():
            text = environ.get(variable, "").replace("_", "").strip()
            if not text:
                continue
            if not text.isdigit() or int(text) < 1:
                raise ValueError(
                    f"{variable}={environ[variable]!r} is not a positive whole number."
                )
            values[name] = int(text)
        return cls(**values)


def check_table_cells(where: str, n_tasks: int, n_configs: int, n_cells: int, limit: int) -> None:
    """Refuse a dense score table of ``n_tasks`` x ``n_configs`` past ``limit`` cells
    (``n_cells`` of them evaluated), before it is allocated."""
    if n_tasks * n_configs <= limit:
        return
    raise KnowledgeBaseError(
        f"{where}: its score table would have {n_tasks:,} tasks x {n_configs:,} "
        f"configurations = {n_tasks * n_configs:,} cells (about "
        f"{n_tasks * n_configs * 8 / 1e6:,.0f} MB per array) for {n_cells:,} evaluations, "
        f"more than the limit of {limit:,} cells. Tasks of a knowledge base should share a "
        "pool of configurations (as `autometa kb build` makes them); if the memory is "
        f"there, raise the limit with {_ENVIRONMENT['table_cells']}."
    )


class _Lines(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


class ImportBudget:
    """What one import has read so far, against its :class:`ImportLimits` (one per
    import: it counts across all of the import's files)."""

    def __init__(self, limits: ImportLimits) -> None:
        self.limits = limits
        self.bytes = 0
        self.tasks = 0
        self.evaluations = 0

    def lines(self, stream: _Lines, source: str) -> Iterator[bytes]:
        """The lines of ``stream``, each read with a bounded ``readline``: a line longer
        than the limit is refused after reading one byte past it, never held whole."""
        limit = self.limits.line_bytes
        number = 0
        while line := stream.readline(limit + 1):
            number += 1
            if len(line) > limit and not line.endswith(b"\n"):  # limit + 1 bytes, no end
                raise KnowledgeBaseError(
                    f"{source}, line {number}: the line is longer than {limit:,} bytes, the "
                    "limit for one record (an autometa export's longest lines have a few "
                    "kB). The file is damaged or not an autometa export; if the line is "
                    f"genuine, raise the limit with {_ENVIRONMENT['line_bytes']}."
                )
            self.bytes += len(line)
            if self.bytes > self.limits.import_bytes:
                raise KnowledgeBaseError(
                    f"{source}, line {number}: the import has read more than "
                    f"{self.limits.import_bytes:,} bytes of JSON, the limit for one import. "
                    "Import the files in parts, or raise the limit with "
                    f"{_ENVIRONMENT['import_bytes']} if the memory is there."
                )
            yield line

    def count(self, what: str, where: str) -> None:
        """Count one ``task`` or ``evaluation`` record read at ``where``."""
        count = self.tasks = self.tasks + (what == "task")
        if what == "evaluation":
            count = self.evaluations = self.evaluations + 1
        limit = self.limits.tasks if what == "task" else self.limits.evaluations
        if count > limit:
            variable = _ENVIRONMENT["tasks" if what == "task" else "evaluations"]
            raise KnowledgeBaseError(
                f"{where}: more than {limit:,} {what} records in one import, the limit. "
                f"Import the files in parts, or raise the limit with {variable} if the "
                "memory is there."
            )
