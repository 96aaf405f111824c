"""The knowledge base against a plain-Python model of it, under random sequences of operations.

A hypothesis state machine appends tasks and evaluations (valid ones, and invalid ones that
must be refused leaving everything as it was), imports JSON Lines, exports and imports the
base into a fresh one, reopens it, and kills a writer: a child process that opens the same
base and imports a file of one task and many evaluations (one transaction) is SIGKILLed
at a random moment. After every step the base must hold exactly what the model holds:
the same tasks, the same evaluation cells (each read back as written), the same number
of configurations, and a score table of the shape those cells give. After a kill the
killed transaction is there entirely or not at all, and everything before it is intact.

It runs on a SQLite file and on a PostgreSQL database (a fresh one per example; see
``postgres_database`` in tests/conftest.py). Kills run on both: on PostgreSQL the server
rolls back the transaction of a client whose connection dies, on SQLite the next reader
rolls back the write-ahead log the killed writer left.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from autometa.contract import Config, Evaluation
from autometa.knowledge import KnowledgeBase, KnowledgeBaseError, TaskRecord

TASK_IDS = ["t0", "t1", "t2", "τ3"]
CONFIGS = [
    Config("knn", {"n_neighbors": 3}),
    Config("knn", {"n_neighbors": 7, "weights": "distance"}),
    Config("random_forest", {"max_depth": None, "max_features": 0.5}),
    Config("svm", {"C": 1.5, "gamma": "scale"}),
]
SCORINGS = {"binary": ["roc_auc", "accuracy"], "multiclass": ["neg_log_loss"], "regression": ["r2"]}
KILLED_ROWS = 1500
"""Evaluations in the killed child's one transaction: enough that a kill can land inside."""

CHILD = """
import sys
from autometa.knowledge import KnowledgeBase
kb = KnowledgeBase.open(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
kb.import_jsonl(sys.argv[2])
print("done", flush=True)
"""

NUMBERS = st.one_of(st.floats(-1e6, 1e6), st.just(math.nan), st.just(math.inf))


@st.composite
def task_records(draw: st.DrawFn, task_ids: list[str] = TASK_IDS) -> TaskRecord:
    kind = draw(st.sampled_from(sorted(SCORINGS)))
    features = draw(
        st.dictionaries(
            st.sampled_from(["n_rows", "skew", "ratio ñ"]),
            st.one_of(st.floats(-1e6, 1e6), st.just(math.nan)),
        )
    )
    return TaskRecord(
        task_id=draw(st.sampled_from(task_ids)),
        name=draw(st.text(max_size=5)),
        kind=kind,
        scoring=draw(st.sampled_from(SCORINGS[kind])),
        meta_features=features,
        provenance=draw(st.dictionaries(st.sampled_from(["source", "n"]), st.integers(0, 9))),
    )


@st.composite
def evaluations(draw: st.DrawFn, task_ids: list[str] = TASK_IDS) -> Evaluation:
    status = draw(st.sampled_from(["ok", "ok", "failed", "capped"]))
    return Evaluation(
        task_id=draw(st.sampled_from(task_ids)),
        config=draw(st.sampled_from(CONFIGS)),
        score=draw(NUMBERS),
        fit_time=draw(st.one_of(st.floats(0, 100), st.just(math.nan))),
        status=status,
        error=None if status == "ok" else draw(st.text(max_size=8)),
    )


def invalid(evaluation: Evaluation, how: str) -> Evaluation:
    """``evaluation`` spoiled so that add_evaluations must refuse it."""
    fields = {
        "status": {"status": "maybe"},
        "fit_time": {"fit_time": -1.0},
        "score": {"score": "0.5"},
        "task_id": {"task_id": ""},
        "error": {"error": 42},
    }[how]
    return Evaluation(**{**vars(evaluation), **fields})


def number(value: float) -> float | None:
    """How a stored number reads back: NaN and infinities as missing."""
    return float(value) if math.isfinite(value) else None


def cell(e: Evaluation) -> tuple[Any, ...]:
    return (e.task_id, e.config.key, number(e.score), number(e.fit_time), e.status, e.error)


class KnowledgeBaseMachine(RuleBasedStateMachine):
    """One knowledge base and the model of it: ``tasks``, ``cells`` by (task, config key),
    ``configs`` (keys ever stored: configurations are never deleted)."""

    new_location: Callable[[], str]  # set by the subclass each test makes
    seen: Counter[str]  # what ran, over all examples of one test: its report

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="kb-stateful-"))
        self.location = self.new_location()
        self.kb = KnowledgeBase.open(self.location)
        self.tasks: dict[str, TaskRecord] = {}
        self.cells: dict[tuple[str, str], Evaluation] = {}
        self.configs: set[str] = set()
        self.kills = 0
        self.seen["examples"] += 1

    def teardown(self) -> None:
        self.kb.close()

    # -- what the model predicts ---------------------------------------------------------
    def refusal(self, records: list[TaskRecord], batch: list[Evaluation]) -> str | None:
        """Why a write of ``records`` then ``batch`` must be refused, or None."""
        texts = [r.name for r in records] + [e.error or "" for e in batch]
        if any("\x00" in text for text in texts):
            return "contains a NUL character"  # on every backend: PostgreSQL cannot store it
        for record in records:
            old = self.tasks.get(record.task_id)
            has_cells = any(task_id == record.task_id for task_id, _ in self.cells)
            if old and has_cells and (old.kind, old.scoring) != (record.kind, record.scoring):
                return "refusing to change it"
        known = set(self.tasks) | {r.task_id for r in records}
        if any(e.task_id not in known for e in batch):
            return "Unknown task_id"
        return None

    def apply(self, records: list[TaskRecord], batch: list[Evaluation]) -> None:
        for record in records:
            self.tasks[record.task_id] = record
        for e in batch:
            self.cells[e.task_id, e.config.key] = e
            self.configs.add(e.config.key)

    def write(self, records: list[TaskRecord], batch: list[Evaluation], call: Callable[[], Any]):
        expected = self.refusal(records, batch)
        self.seen["writes refused" if expected else "writes"] += 1
        if expected is None:
            call()
            self.apply(records, batch)
        else:
            with pytest.raises(ValueError, match=expected):
                call()

    def content_file(self, records: list[TaskRecord], batch: list[Evaluation]) -> Path:
        """A JSON Lines file of ``records`` and ``batch`` (cells of those tasks), as a base
        exports it."""
        path = self.folder / f"content-{time.monotonic_ns()}.jsonl"
        with KnowledgeBase.in_memory() as scratch:
            for record in records:
                scratch.add_task(record)
            scratch.add_evaluations(batch)
            scratch.export_jsonl(path, task_ids=[r.task_id for r in records])
        return path

    # -- rules ---------------------------------------------------------------------------
    @initialize(
        records=st.lists(task_records(), min_size=1, max_size=3, unique_by=lambda r: r.task_id)
    )
    def some_tasks(self, records: list[TaskRecord]) -> None:
        for record in records:
            self.add_task(record)

    @rule(record=task_records())
    def add_task(self, record: TaskRecord) -> None:
        self.write([record], [], lambda: self.kb.add_task(record))

    @rule(batch=st.lists(evaluations(), min_size=1, max_size=5))
    def add_evaluations(self, batch: list[Evaluation]) -> None:
        self.write([], batch, lambda: self.kb.add_evaluations(batch))

    @rule(
        batch=st.lists(evaluations(), min_size=1, max_size=4),
        spoil=st.data(),
        how=st.sampled_from(["status", "fit_time", "score", "task_id", "error"]),
    )
    def add_invalid_evaluations(self, batch: list[Evaluation], spoil: Any, how: str) -> None:
        where = spoil.draw(st.integers(0, len(batch) - 1))
        batch[where] = invalid(batch[where], how)
        self.seen["writes refused"] += 1
        with pytest.raises((ValueError, TypeError)):
            self.kb.add_evaluations(batch)

    @rule(
        records=st.lists(task_records(), min_size=1, max_size=3, unique_by=lambda r: r.task_id),
        batch=st.lists(evaluations(), max_size=6),
    )
    def import_jsonl(self, records: list[TaskRecord], batch: list[Evaluation]) -> None:
        ids = {r.task_id for r in records}
        batch = [e for e in batch if e.task_id in ids]  # an export holds its tasks' cells
        if self.refusal(records, batch) == "contains a NUL character":
            self.seen["writes refused"] += 1
            with pytest.raises(KnowledgeBaseError, match="NUL"):  # no base, no file takes it
                self.content_file(records, batch)
            return
        path = self.content_file(records, batch)
        self.write(records, batch, lambda: self.kb.import_jsonl(path))

    @rule()
    def export_then_import_into_a_fresh_base(self) -> None:
        path = self.folder / "export.jsonl.gz"
        counts = self.kb.export_jsonl(path)
        assert counts["evaluations"] == len(self.cells)
        with KnowledgeBase.in_memory() as fresh:
            fresh.import_jsonl(path)
            assert fresh.counts() == self.kb.counts()
            assert fresh.tasks() == self.kb.tasks()
            assert sorted(map(cell, fresh.evaluations())) == sorted(
                map(cell, self.kb.evaluations())
            )
        self.kb.import_jsonl(path)  # importing one's own export changes nothing
        self.seen["round trips"] += 1

    @rule()
    def reopen(self) -> None:
        self.kb.close()
        self.kb = KnowledgeBase.open(self.location, create=False)
        self.seen["reopens"] += 1

    @precondition(lambda self: self.kills < 1)  # a child costs seconds: one per example
    @rule(delay=st.sampled_from([0.0, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2]))
    def kill_a_writer(self, delay: float) -> None:
        self.kills += 1
        task_id = f"killed-{self.kills}"
        record = TaskRecord(task_id, "killed", "binary", "roc_auc", {"n_rows": 1.0})
        batch = [
            Evaluation(task_id, Config("knn", {"n_neighbors": n}), n / KILLED_ROWS, 0.1)
            for n in range(KILLED_ROWS)
        ]
        path = self.content_file([record], batch)
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, self.location, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdin is not None
        said = child.stdout.readline()
        assert said == "ready\n", f"{said!r}: {child.communicate()[1]}"
        child.stdin.write("go\n")
        child.stdin.flush()
        time.sleep(delay)  # a random moment: before, during or after the transaction
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate(timeout=60)
        self.kb.close()
        self.kb = KnowledgeBase.open(self.location, create=False)  # it opens
        stored = self.kb.evaluations(task_id)
        assert len(stored) in (0, KILLED_ROWS), f"{len(stored)} of the transaction's rows"
        committed = len(stored) == KILLED_ROWS
        assert (task_id in {t.task_id for t in self.kb.tasks()}) == committed
        if "done" in out:
            assert committed, "the child committed, but its rows are gone"
        if committed:
            self.apply([record], batch)
        self.seen[
            "kills after the commit"
            if "done" in out
            else "kills before the commit"
            if committed
            else "kills rolled back"
        ] += 1

    # -- invariants ----------------------------------------------------------------------
    @invariant()
    def holds_what_the_model_holds(self) -> None:
        self.seen["steps checked"] += 1
        assert self.kb.counts() == {
            "tasks": len(self.tasks),
            "configs": len(self.configs),
            "evaluations": len(self.cells),
        }
        assert self.kb.tasks() == [self.tasks[t] for t in sorted(self.tasks)]
        assert sorted(map(cell, self.kb.evaluations())) == sorted(map(cell, self.cells.values()))

    @invariant()
    def score_table_has_the_shape_of_the_ok_cells(self) -> None:
        ok = [e for e in self.cells.values() if e.ok]
        table = self.kb.score_table()
        assert set(table.task_ids) == {e.task_id for e in ok}
        assert {c.key for c in table.configs} == {e.config.key for e in ok}
        assert table.scores.shape == (len(table.task_ids), len(table.configs))


STATEFUL = settings(
    max_examples=12,
    stateful_step_count=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def run_machine(new_location: Callable[[], str]) -> Counter[str]:
    seen: Counter[str] = Counter()
    machine = type(
        "Machine",
        (KnowledgeBaseMachine,),
        {"new_location": staticmethod(new_location), "seen": seen},
    )
    run_state_machine_as_test(machine, settings=STATEFUL)
    print("\n" + ", ".join(f"{k}: {v}" for k, v in sorted(seen.items())))
    assert seen["examples"] >= STATEFUL.max_examples
    for what in ("writes", "writes refused", "round trips", "reopens"):
        assert seen[what], f"no {what}: {seen}"
    assert sum(v for k, v in seen.items() if k.startswith("kills")) >= 1
    return seen


def test_sqlite_knowledge_base_behaves_like_its_model(tmp_path: Path) -> None:
    made = iter(range(10**6))
    run_machine(lambda: str(tmp_path / f"kb-{next(made)}.db"))


def test_postgres_knowledge_base_behaves_like_its_model(
    postgres_database: Callable[[], str],
) -> None:
    run_machine(postgres_database)


def test_a_nul_character_is_refused_on_every_backend() -> None:
    """Found by the state machine on PostgreSQL, whose text columns cannot hold a NUL: the
    write failed there with the driver's DataError, while SQLite stored it. Now refused
    before anything is written, on SQLite too, so every base can be copied into any other."""
    with KnowledgeBase.in_memory() as kb:
        with pytest.raises(KnowledgeBaseError, match=r"name of task 't0' contains a NUL"):
            kb.add_task(TaskRecord("t0", "a\x00b", "binary", "roc_auc", {}))
        kb.add_task(TaskRecord("t0", "ab", "binary", "roc_auc", {}))
        failed = Evaluation("t0", CONFIGS[0], math.nan, 0.1, "failed", "boom\x00")
        with pytest.raises(KnowledgeBaseError, match="error of an evaluation of task 't0'"):
            kb.add_evaluations([failed])
        assert kb.counts()["evaluations"] == 0
