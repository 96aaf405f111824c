"""Rows of the knowledge-base tables to records and back, for the SQLAlchemy store.

Reading decodes and type-checks every stored value (a crafted database raises
:class:`~autometa.knowledge._format.KnowledgeBaseError` naming the row); writing turns
:class:`~autometa.knowledge._records.TaskRecord` and :class:`~autometa.contract.Evaluation`
into rows inside the caller's write transaction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, select

from autometa.contract._types import Config, Evaluation
from autometa.knowledge._format import (
    KnowledgeBaseError,
    check_optional_number,
    check_status,
    check_text,
    dumps,
    encode_meta_features,
    finite_or_none,
    is_well_formed_evaluation,
    loads,
    make_config,
)
from autometa.knowledge._jsonl import checked_task
from autometa.knowledge._records import Bundle, TaskRecord
from autometa.knowledge._schema import (
    chunks,
    configs_table,
    evaluations_table,
    existing,
    tasks_table,
    upsert,
)

EVALUATION_COLUMNS = tuple(
    evaluations_table.c[name]
    for name in ("task_id", "config_id", "score", "fit_time", "status", "error")
)
"""The evaluation columns :meth:`Rows.evaluation` decodes, in its order."""


class Rows:
    """Decodes rows of the database at ``location`` (named in every error)."""

    def __init__(self, location: str) -> None:
        self.location = location

    def config(self, config_id: Any, key: Any, algorithm: Any, params: Any) -> Config:
        """A configuration row; its key column must match its algorithm and params."""
        where = f"{self.location}: configs row {config_id}"
        config = make_config(algorithm, loads(params, f"{where}, column params"), where)
        if config.key != key:
            raise KnowledgeBaseError(
                f"{where}: the key column does not match the algorithm and params columns; "
                "the database was edited outside autometa."
            )
        return config

    def task(self, row: Any) -> TaskRecord:
        """A tasks row."""
        where = f"{self.location}: tasks row {row.task_id!r}"
        return checked_task(
            row.task_id,
            row.name,
            row.kind,
            row.scoring,
            loads(row.meta_features, f"{where}, column meta_features"),
            loads(row.provenance, f"{where}, column provenance"),
            where,
        )

    def evaluation(self, values: Sequence[Any], config: Config) -> Evaluation:
        """An evaluation from ``(task_id, config_id, score, fit_time, status, error, ...)``."""
        task_id, config_id, score, fit_time, status, error = values[:6]
        # Fast path for well-formed rows (the common case, 10^5 rows per read); anything
        # else goes through the checks below, which also build the error message.
        if is_well_formed_evaluation(task_id, score, fit_time, status, error):
            return Evaluation(
                task_id,
                config,
                math.nan if score is None else score,
                math.nan if fit_time is None else fit_time,
                status,
                error,
            )
        where = f"{self.location}: evaluation of task {task_id!r}, config {config_id}"
        if error is not None and not isinstance(error, str):
            raise KnowledgeBaseError(f"{where}: error must be text, found {type(error).__name__}.")
        return Evaluation(
            task_id=check_text(task_id, where, "task_id"),
            config=config,
            score=check_optional_number(score, where, "score"),
            fit_time=check_optional_number(fit_time, where, "fit_time"),
            status=check_status(status, where),
            error=error,
        )


def write_tasks(
    conn: Connection, rows: Rows, records: Sequence[TaskRecord], *, merge: bool
) -> None:
    """Insert or replace tasks (``merge``: keep stored meta-features the record lacks);
    refuse to change the kind or scoring of a task that has evaluations."""
    if not records:
        return
    ids = sorted({r.task_id for r in records})
    stored: dict[str, Any] = {}
    for chunk in chunks(ids):
        for found in conn.execute(select(tasks_table).where(tasks_table.c.task_id.in_(chunk))):
            stored[found.task_id] = found
    final: dict[str, TaskRecord] = {}
    for record in records:
        row = stored.get(record.task_id)
        if row is not None and (row.kind, row.scoring) != (record.kind, record.scoring):
            has_evaluations = conn.execute(
                select(evaluations_table.c.task_id)
                .where(evaluations_table.c.task_id == record.task_id)
                .limit(1)
            ).first()
            if has_evaluations:
                raise ValueError(
                    f"Task {record.task_id!r} is stored as kind={row.kind!r}, "
                    f"scoring={row.scoring!r} and has evaluations scored that way; "
                    f"refusing to change it to kind={record.kind!r}, "
                    f"scoring={record.scoring!r}. Use a new task_id."
                )
        if merge:
            previous = final.get(record.task_id)
            if previous is None and row is not None:
                previous = rows.task(row)
            if previous is not None:
                merged = {**previous.meta_features, **record.meta_features}
                record = replace(record, meta_features=merged)
        final[record.task_id] = record
    values = [
        {
            "task_id": r.task_id,
            "name": r.name,
            "kind": r.kind,
            "scoring": r.scoring,
            "meta_features": dumps(encode_meta_features(r.meta_features)),
            "provenance": dumps(r.provenance),
        }
        for r in final.values()
    ]
    updated = ["name", "kind", "scoring", "meta_features", "provenance"]
    upsert(conn, tasks_table, values, ["task_id"], updated)


def write_evaluations(conn: Connection, location: str, content: Bundle) -> None:
    """Store the configurations the evaluations of ``content`` use, then the cells;
    ValueError (naming where it was first used) for a task that is not stored."""
    if not content.evaluations:
        return
    first_use = dict.fromkeys(e.task_id for e in content.evaluations)  # in order of use
    known = existing(conn, tasks_table.c.task_id, sorted(first_use))
    if missing := [t for t in first_use if t not in known]:
        origin = content.origins.get(missing[0], "")
        more = f" (and {len(missing) - 1} more: {missing[1:6]})" if len(missing) > 1 else ""
        raise ValueError(
            f"Unknown task_id {missing[0]!r}{f' at {origin}' if origin else ''}{more}: "
            f"knowledge base {location} has no such task. Add the task with "
            "add_task() first (or include its task record in the import)."
        )
    used = {e.config.key: e.config for e in content.evaluations}
    config_rows = [
        {"key": key, "algorithm": c.algorithm, "params": dumps(dict(c.params))}
        for key, c in used.items()
    ]
    upsert(conn, configs_table, config_rows, ["key"], [])
    ids: dict[str, int] = {}
    for chunk in chunks(sorted(used)):
        stmt = select(configs_table.c.key, configs_table.c.config_id).where(
            configs_table.c.key.in_(chunk)
        )
        ids.update({key: config_id for key, config_id in conn.execute(stmt)})
    cells = [
        {
            "task_id": e.task_id,
            "config_id": ids[e.config.key],
            "score": finite_or_none(float(e.score)),
            "fit_time": finite_or_none(float(e.fit_time)),
            "status": e.status,
            "error": e.error,
        }
        for e in content.evaluations
    ]
    upsert(
        conn,
        evaluations_table,
        cells,
        ["task_id", "config_id"],
        ["score", "fit_time", "status", "error"],
    )
