"""check_knowledge_store: a knowledge-store backend keeps every rule of the store interface.

A backend's test module passes a factory of new, empty stores (and, to check refusals,
a way to reopen a store's content read-only), as Optuna's storage tests do for its
storages. Each check writes through :meth:`KnowledgeStore.write` and reads back through
every read of the interface (:mod:`autometa.knowledge._store` lists the rules).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence, Sized

import numpy as np

from autometa.contract._types import Config, Evaluation
from autometa.knowledge._format import KnowledgeBaseError, dumps, encode_meta_features
from autometa.knowledge._records import Bundle, TaskRecord
from autometa.knowledge._store import KnowledgeStore
from autometa.testing._common import _fail, _same_number

StoreFactory = Callable[[], KnowledgeStore]
"""Makes a new, empty, writable store."""
ReadOnly = Callable[[KnowledgeStore], KnowledgeStore]
"""Given a store (already written), returns a read-only store of the same content."""

_A = Config("rf", {"n_estimators": 100, "max_depth": 3})
_B = Config("rf", {"n_estimators": 300, "max_depth": None})
_C = Config("knn", {"n_neighbors": 5, "weights": "distance", "grid": [0.1, "scale"]})
_UNICODE = "tâche-λ-数据-😀"


def _task(task_id: str, kind: str = "binary", **features: float) -> TaskRecord:
    return TaskRecord(
        task_id=task_id,
        name=f"name of {task_id}",
        kind=kind,  # type: ignore[arg-type]
        scoring="r2" if kind == "regression" else "roc_auc",
        meta_features={"n_rows": 100.0, "skew": math.nan, **features},
        provenance={"source": "check", "nested": {"b": 1, "a": [1, "ü"]}},
    )


def _content() -> Bundle:
    """Tasks of every kind (one with a unicode id), and ok, failed and capped cells."""
    tasks = [
        _task("t2"),
        _task("t1", n_rows=50.0),
        _task(_UNICODE, "multiclass"),
        _task("r", "regression"),
    ]
    evaluations = [
        Evaluation("t1", _A, 0.8, 1.5),
        Evaluation("t1", _B, 0.7, 2.0),
        Evaluation("t1", _C, math.nan, 0.1, "failed", "ValueError: boom ü"),
        Evaluation("t2", _A, 0.6, math.inf, "capped", "over budget"),
        Evaluation("t2", _C, 0.9, 0.2),
        Evaluation(_UNICODE, _B, 0.5, 0.3),
        Evaluation("r", _A, -1.25, 0.4),
    ]
    return Bundle(
        metadata={"built_by": {"tool": "check", "größe": [1, 2.5, None]}},
        tasks={t.task_id: t for t in tasks},
        evaluations=evaluations,
    )


def _same_evaluations(got: Sequence[Evaluation], expected: Iterable[Evaluation], what: str) -> None:
    want = sorted(expected, key=lambda e: (e.task_id, e.config.key))
    if len(got) != len(want):
        _fail(f"{what}: {len(got)} evaluations read back, {len(want)} expected.")
    for g, w in zip(got, want, strict=True):
        fit_time = w.fit_time if math.isfinite(w.fit_time) else math.nan
        same = (
            (g.task_id, g.config, g.status, g.error) == (w.task_id, w.config, w.status, w.error)
            and _same_number(g.score, w.score)
            and _same_number(g.fit_time, fit_time)
        )
        if not same or not isinstance(g, Evaluation):
            _fail(f"{what}: read back {g!r}, expected {w!r} (in task id, config key order).")


def _check_empty(make_store: StoreFactory, read_only: ReadOnly | None) -> None:
    store = make_store()
    try:
        if store.read_only:
            _fail("a new store from the factory is read-only.")
        empty = {"tasks": 0, "configs": 0, "evaluations": 0}
        if store.counts() != empty:
            _fail(f"a new store counts {store.counts()}, expected {empty}.")
        reads: dict[str, Sized] = {
            "read_tasks()": store.read_tasks(),
            "read_evaluations()": store.read_evaluations(),
            "read_configs()": store.read_configs(),
            "read_statuses('t')": store.read_statuses("t"),
            "digest_inputs().tasks": store.digest_inputs().tasks,
            "digest_inputs().cells": store.digest_inputs().cells,
        }
        for name, value in reads.items():
            if len(value):
                _fail(f"{name} of a new store is {value!r}, expected empty.")
        if store.read_task("t") is not None or store.revision() is not None:
            _fail("a new store has a task 't' or a revision; expected neither.")
        if store.read_score_table().shape != (0, 0):
            _fail(f"a new store's score table has shape {store.read_score_table().shape}.")
        if store.read_content().counts() != empty or store.read_content().metadata:
            _fail("read_content() of a new store is not empty.")
    finally:
        store.close()


def _check_round_trip(make_store: StoreFactory, read_only: ReadOnly | None) -> None:
    store = make_store()
    try:
        content = _content()
        store.write(content)
        expected_tasks = sorted(content.tasks.values(), key=lambda t: t.task_id)
        if store.read_tasks() != expected_tasks:
            _fail(f"read_tasks() gave {store.read_tasks()}, expected {expected_tasks}.")
        if store.read_task(_UNICODE) != content.tasks[_UNICODE]:
            _fail(f"read_task({_UNICODE!r}) does not give back the task written.")
        if [t.task_id for t in store.read_tasks("regression")] != ["r"]:
            _fail("read_tasks('regression') does not give exactly the regression task.")
        _same_evaluations(store.read_evaluations(), content.evaluations, "read_evaluations()")
        ones = [e for e in content.evaluations if e.task_id == "t1"]
        _same_evaluations(store.read_evaluations("t1"), ones, "read_evaluations('t1')")
        binary = [e for e in content.evaluations if e.task_id in ("t1", "t2")]
        _same_evaluations(store.read_evaluations(kind="binary"), binary, "kind='binary'")
        if store.read_evaluations("missing") != []:
            _fail("read_evaluations of an unknown task is not empty.")
        configs = sorted({_A, _B, _C}, key=lambda c: c.key)
        if store.read_configs() != configs or store.read_configs("knn") != [_C]:
            _fail(f"read_configs() gave {store.read_configs()}, expected {configs}.")
        statuses = {_A.key: "ok", _B.key: "ok", _C.key: "failed"}
        if store.read_statuses("t1") != statuses:
            _fail(f"read_statuses('t1') gave {store.read_statuses('t1')}, expected {statuses}.")
        counts = {"tasks": 4, "configs": 3, "evaluations": 7}
        if store.counts() != counts:
            _fail(f"counts() gave {store.counts()}, expected {counts}.")
        metadata = store.read_metadata()
        if metadata.get("built_by") != content.metadata["built_by"]:
            _fail(f"read_metadata() lost or changed 'built_by': {metadata.get('built_by')!r}.")
        if list(metadata) != sorted(metadata):
            _fail(f"read_metadata() keys are not sorted: {list(metadata)}.")
    finally:
        store.close()


def _check_order(make_store: StoreFactory, read_only: ReadOnly | None) -> None:
    store = make_store()
    try:
        ids = ["b", "B", "a", "Z", "é", "ä", "_", "10", "9"]
        configs = [Config(name, {}) for name in ("b", "B", "a", "Z", "é")]
        store.write(
            Bundle(
                tasks={i: _task(i) for i in ids},
                evaluations=[Evaluation(i, c, 0.5, 1.0) for i in ids for c in configs],
            )
        )
        if [t.task_id for t in store.read_tasks()] != sorted(ids):
            _fail(f"tasks are not in code-point order: {[t.task_id for t in store.read_tasks()]}.")
        keys = [c.key for c in store.read_configs()]
        if keys != sorted(keys):
            _fail(f"configurations are not sorted by key (code points): {keys}.")
        pairs = [(e.task_id, e.config.key) for e in store.read_evaluations()]
        if pairs != sorted(pairs):
            _fail("evaluations are not sorted by task id, then config key (code points).")
        table = store.read_score_table()
        if table.task_ids != sorted(ids) or [c.key for c in table.configs] != sorted(keys):
            _fail("the score table's rows or columns are not in code-point order.")
    finally:
        store.close()


def _check_re_append(make_store: StoreFactory, read_only: ReadOnly | None) -> None:
    store = make_store()
    try:
        store.write(_content())
        first, before = store.revision(), store.read_content()
        store.write(_content())  # the same content again: nothing changes but the revision
        again = store.read_content()
        if again.counts() != before.counts() or again.tasks != before.tasks:
            _fail(f"writing the same content twice changed it: {again.counts()}.")
        _same_evaluations(again.evaluations, before.evaluations, "after re-append")
        if first is None or store.revision() in (None, first):
            _fail(f"the revision did not change on a write ({first!r} -> {store.revision()!r}).")
        newer = [Evaluation("t1", _A, 0.1, 9.0), Evaluation("t1", _A, 0.95, 3.0)]
        store.write(Bundle(evaluations=newer))  # replaces the cell; the last one wins
        _same_evaluations(
            store.read_evaluations("t1"), [*_content().evaluations[1:3], newer[1]], "replaced cell"
        )
        store.write(Bundle(tasks={"t1": _task("t1", extra=2.0)}))
        if store.read_task("t1") != _task("t1", extra=2.0):
            _fail("writing a task again does not replace it.")
        store.write(Bundle(tasks={"t1": _task("t1", more=3.0)}), merge_meta_features=True)
        merged = store.read_task("t1")
        if (
            merged is None
            or merged.meta_features.get("extra") != 2.0
            or "more" not in merged.meta_features
        ):
            _fail(f"merge_meta_features=True lost stored meta-features: {merged!r}.")
    finally:
        store.close()


def _check_refusals(make_store: StoreFactory, read_only: ReadOnly | None) -> None:
    store = make_store()
    try:
        store.write(_content())
        before, revision = store.read_content(), store.revision()
        attempts = {
            "a task's kind changed while it has evaluations": (
                Bundle(tasks={"new": _task("new"), "t1": _task("t1", "multiclass")}),
                "refusing",
            ),
            "an evaluation of an unknown task": (
                Bundle(
                    tasks={"new": _task("new")},
                    evaluations=[Evaluation("nowhere", _A, 0.5, 1.0)],
                    origins={"nowhere": "file.jsonl, line 7"},
                ),
                "file.jsonl, line 7",
            ),
            "a reserved metadata key": (Bundle(metadata={"schema_version": 99}), "maintained"),
        }
        for what, (content, words) in attempts.items():
            try:
                store.write(content)
            except ValueError as exc:
                if words not in str(exc):
                    _fail(f"writing {what} was refused without saying {words!r}: {exc}")
            else:
                _fail(f"writing {what} was accepted; it must raise ValueError.")
            after = store.read_content()
            if after.counts() != before.counts() or after.tasks != before.tasks:
                _fail(f"a refused write ({what}) stored part of its content: {after.counts()}.")
            if store.revision() != revision:
                _fail(f"a refused write ({what}) changed the revision.")
        try:
            store.read_content(["t1", "ghost"])
        except KeyError as exc:
            if "ghost" not in str(exc):
                _fail(f"read_content of an unknown task does not name it: {exc}")
        else:
            _fail("read_content(['t1', 'ghost']) did not raise KeyError for 'ghost'.")
    finally:
        store.close()


def _check_content(make_store: StoreFactory, read_only: ReadOnly | None) -> None:
    store, copy = make_store(), make_store()
    try:
        store.write(_content())
        part = store.read_content(["t2"])
        if set(part.tasks) != {"t2"} or set(part.configs) != {_A.key, _C.key}:
            _fail(
                f"read_content(['t2']) holds tasks {set(part.tasks)}, configs {set(part.configs)}."
            )
        whole = store.read_content()
        if "schema_version" in whole.metadata or "revision" in whole.metadata:
            _fail(f"read_content() includes reserved metadata keys: {sorted(whole.metadata)}.")
        copy.write(whole)  # a store's content written to another is the same content
        if copy.read_tasks() != store.read_tasks() or copy.read_configs() != store.read_configs():
            _fail("a copy (write of read_content) has other tasks or configurations.")
        _same_evaluations(copy.read_evaluations(), store.read_evaluations(), "copied store")
        if copy.read_metadata().get("built_by") != _content().metadata["built_by"]:
            _fail("a copy (write of read_content) lost the metadata.")
    finally:
        store.close()
        copy.close()


def _check_scores_and_digests(make_store: StoreFactory, read_only: ReadOnly | None) -> None:
    store = make_store()
    try:
        store.write(_content())
        table = store.read_score_table("binary")
        # t2's cell of A is capped, not ok: NaN. Columns are sorted by key below.
        expected = np.array([[0.8, 0.7, np.nan], [np.nan, np.nan, 0.9]])
        order = [_A, _B, _C]
        by_key = sorted(range(3), key=lambda j: order[j].key)
        if table.task_ids != ["t1", "t2"] or table.configs != [order[j] for j in by_key]:
            _fail(f"read_score_table('binary') has rows {table.task_ids}, columns {table.configs}.")
        if not np.array_equal(table.scores, expected[:, by_key], equal_nan=True):
            _fail(f"read_score_table('binary') scores are {table.scores.tolist()}.")
        if store.read_score_table(algorithms=["knn"]).task_ids != ["t2"]:
            _fail("read_score_table(algorithms=['knn']) keeps tasks without an ok knn score.")
        inputs = store.digest_inputs()
        content = _content()
        tasks = sorted(
            (t.task_id, t.kind, t.scoring, dumps(encode_meta_features(t.meta_features)))
            for t in content.tasks.values()
        )
        if sorted(inputs.tasks) != tasks:
            _fail(f"digest_inputs().tasks are {sorted(inputs.tasks)}, expected {tasks}.")
        cells = sorted(
            (e.task_id, e.config.key, e.score if math.isfinite(e.score) else None, e.status)
            for e in content.evaluations
        )
        if sorted(inputs.cells) != cells:
            _fail(f"digest_inputs().cells are {sorted(inputs.cells)}, expected {cells}.")
    finally:
        store.close()


def _check_read_only(make_store: StoreFactory, read_only: ReadOnly | None) -> None:
    if read_only is None:
        return
    store = make_store()
    store.write(_content())
    frozen = read_only(store)
    try:
        if not frozen.read_only:
            _fail("the read-only store says read_only is False.")
        before = frozen.read_content()
        writes = [Bundle(tasks={"x": _task("x")}), Bundle(metadata={"k": 1}), _content()]
        for content in writes:
            try:
                frozen.write(content)
            except KnowledgeBaseError:
                pass
            else:
                _fail("a read-only store accepted a write; it must raise KnowledgeBaseError.")
        after = frozen.read_content()
        if after.counts() != before.counts() or after.metadata != before.metadata:
            _fail("a read-only store changed its content on a refused write.")
    finally:
        frozen.close()
        store.close()


def _check_close(make_store: StoreFactory, read_only: ReadOnly | None) -> None:
    store = make_store()
    store.close()
    store.close()  # idempotent
    try:
        store.counts()
    except KnowledgeBaseError as exc:
        if "closed" not in str(exc):
            _fail(f"reading a closed store does not say it is closed: {exc}")
    else:
        _fail("a closed store still answers counts(); it must raise KnowledgeBaseError.")


KNOWLEDGE_STORE_CHECKS: dict[str, Callable[[StoreFactory, ReadOnly | None], None]] = {
    "empty": _check_empty,
    "round_trip": _check_round_trip,
    "order": _check_order,
    "re_append": _check_re_append,
    "refusals": _check_refusals,
    "content": _check_content,
    "scores_and_digests": _check_scores_and_digests,
    "read_only": _check_read_only,
    "close": _check_close,
}
"""Every check of :func:`check_knowledge_store`, by name (to run them one by one)."""


def check_knowledge_store(
    make_store: StoreFactory,
    *,
    read_only: ReadOnly | None = None,
    only: Iterable[str] | None = None,
) -> None:
    """Check a knowledge-store backend against every rule of the store interface.

    ``make_store()`` returns a new, empty, writable
    :class:`~autometa.knowledge._store.KnowledgeStore` (each check closes the stores it
    makes). ``read_only(store)`` returns a read-only store of ``store``'s content (the
    same database reopened read-only); without it, read-only refusals are not checked.
    ``only`` names the checks to run (keys of :data:`KNOWLEDGE_STORE_CHECKS`). Raises
    AssertionError naming the check and what is wrong.
    """
    names = list(KNOWLEDGE_STORE_CHECKS) if only is None else list(only)
    if unknown := set(names) - set(KNOWLEDGE_STORE_CHECKS):
        raise ValueError(f"unknown checks {sorted(unknown)}; known: {list(KNOWLEDGE_STORE_CHECKS)}")
    for name in names:
        try:
            KNOWLEDGE_STORE_CHECKS[name](make_store, read_only)
        except AssertionError as exc:
            raise AssertionError(f"knowledge store check {name!r}: {exc}") from None
