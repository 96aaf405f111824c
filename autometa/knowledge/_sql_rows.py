"""Rows of the knowledge-base tables to records and back, for the SQLAlchemy store.

Also the two reads that assemble many rows: a score table and a content bundle.

Reading decodes and type-checks every stored value (a crafted database raises
:class:`~autometa.knowledge._format.KnowledgeBaseError` naming the row); writing turns
:class:`~autometa.knowledge._records.TaskRecord` and :class:`~autometa.contract.Evaluation`
into rows inside the caller's write transaction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from autometa.contract._types import Config, Evaluation
from autometa.knowledge._format import (
    RESERVED_METADATA,
    KnowledgeBaseError,
    check_optional_number,
    check_status,
    check_text,
    dumps,
    encode_meta_features,
    finite_or_none,
    loads,
    make_config,
    stored_evaluation,
)
from autometa.knowledge._jsonl import checked_task
from autometa.knowledge._limits import ImportLimits, check_table_cells
from autometa.knowledge._records import Bundle, TaskRecord
from autometa.knowledge._schema import (
    chunks,
    configs_table,
    evaluations_table,
    existing,
    meta_table,
    tasks_table,
    upsert,
)
from autometa.knowledge._scores import ScoreTable

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
        evaluation = stored_evaluation(task_id, config, score, fit_time, status, error)
        if evaluation is not None:
            return evaluation
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
        # A task without evaluations may be redeclared: nothing was scored under its old kind.
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
            # The same task twice in one write: merge onto the earlier record of this batch, not the
            # stored row, or the first record's new meta-features would be lost.
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
    # Never updated: the key determines algorithm and params, so a stored row is already identical,
    # and its config_id (which evaluations refer to) must not change.
    upsert(conn, configs_table, config_rows, ["key"], [])
    # Read the ids back: the insert returns none for rows that already existed, and RETURNING with
    # executemany is not portable.
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


def read_score_table(
    conn: Connection, rows_of: Rows, kind: str | None, algorithms: Iterable[str] | None
) -> ScoreTable:
    """The score table of the tasks of ``kind`` (and configurations of ``algorithms``)."""
    ev, cf, tk = evaluations_table, configs_table, tasks_table
    stmt = (
        select(ev.c.task_id, ev.c.config_id, ev.c.score)
        .join(cf, cf.c.config_id == ev.c.config_id)
        .where(ev.c.status == "ok", ev.c.score.is_not(None))
    )
    config_stmt = select(cf.c.config_id, cf.c.key, cf.c.algorithm, cf.c.params)
    if kind is not None:
        stmt = stmt.join(tk, tk.c.task_id == ev.c.task_id).where(tk.c.kind == kind)
    if algorithms is not None:
        names = sorted(set(algorithms))
        stmt = stmt.where(cf.c.algorithm.in_(names))
        config_stmt = config_stmt.where(cf.c.algorithm.in_(names))
    # Only configurations with a scored cell in this cut: the table gets no all-NaN column.
    config_stmt = config_stmt.where(cf.c.config_id.in_(stmt.with_only_columns(ev.c.config_id)))
    rows = conn.execute(stmt).all()
    config_rows = conn.execute(config_stmt).all()
    where = f"{rows_of.location}: evaluations"
    cells = []
    for task_id, config_id, score in rows:
        value = check_optional_number(score, where, "score")
        # NaN here: a non-finite number written by other software to a backend that keeps them
        # (autometa writes NULL). The table holds finite scores only: like NULL, it is no cell.
        if math.isfinite(value):
            cells.append((check_text(task_id, where, "task_id"), config_id, value))
    used = {config_id for _, config_id, _ in cells}
    # Columns and rows in key and id order, not config_id or storage order: the same content gives
    # the same table in any base, whatever order it was written in.
    configs = sorted(
        ((rows_of.config(*row), row[0]) for row in config_rows if row[0] in used),
        key=lambda pair: pair[0].key,
    )
    task_ids = sorted({task_id for task_id, _, _ in cells})
    limit = ImportLimits.from_environment().table_cells
    check_table_cells(rows_of.location, len(task_ids), len(configs), len(cells), limit)
    row_of = {task_id: i for i, task_id in enumerate(task_ids)}
    col_of = {config_id: j for j, (_, config_id) in enumerate(configs)}
    scores = np.full((len(task_ids), len(configs)), np.nan)
    if cells:
        count = len(cells)
        # One fancy-indexed assignment: a Python loop of item writes costs far more at 10^5 cells.
        rows_idx = np.fromiter((row_of[t] for t, _, _ in cells), dtype=np.intp, count=count)
        cols_idx = np.fromiter((col_of[c] for _, c, _ in cells), dtype=np.intp, count=count)
        scores[rows_idx, cols_idx] = np.fromiter((s for _, _, s in cells), float, count)
    scores.setflags(write=False)  # ScoreTable keeps a read-only array as it is, uncopied
    return ScoreTable(task_ids=task_ids, configs=[c for c, _ in configs], scores=scores)


def read_content(conn: Connection, rows: Rows, task_ids: Sequence[str] | None) -> Bundle:
    """Everything, or the given tasks with their evaluations and configurations."""
    bundle = Bundle()
    for key, value in conn.execute(select(meta_table.c.key, meta_table.c.value)):
        # The reserved keys describe this database (schema, creator, revision), not its content; a
        # copy writes its own.
        if key not in RESERVED_METADATA:
            bundle.metadata[key] = loads(value, f"{rows.location}: meta {key!r}")
    task_stmt = select(tasks_table)
    ev, cf = evaluations_table, configs_table
    eval_stmt = select(*EVALUATION_COLUMNS)
    config_stmt = select(cf.c.config_id, cf.c.key, cf.c.algorithm, cf.c.params)
    if task_ids is not None:
        known = existing(conn, tasks_table.c.task_id, task_ids)
        if unknown := [t for t in task_ids if t not in known]:
            raise KeyError(f"No tasks {unknown[:10]} in knowledge base {rows.location}.")
        task_stmt = task_stmt.where(tasks_table.c.task_id.in_(task_ids))
        eval_stmt = eval_stmt.where(ev.c.task_id.in_(task_ids))
        config_stmt = config_stmt.where(
            # Only the configurations these tasks use: a partial export carries no unused ones.
            cf.c.config_id.in_(eval_stmt.with_only_columns(ev.c.config_id))
        )
    for row in conn.execute(task_stmt):
        task = rows.task(row)
        bundle.tasks[task.task_id] = task
    configs: dict[int, Config] = {}
    for row in conn.execute(config_stmt):
        config = configs[row.config_id] = rows.config(*row)
        bundle.configs[config.key] = config
    for row in conn.execute(eval_stmt):
        bundle.evaluations.append(rows.evaluation(row, configs[row[1]]))
    return bundle
