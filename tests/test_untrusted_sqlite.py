"""A received SQLite knowledge base cannot carry code: schema objects autometa did not
create (triggers, views, other tables or indexes) are refused when it is opened, and every
SQLite connection runs with SQLite's defensive settings (issue 18, point 5).

The file is edited with Python's own ``sqlite3``, as whoever sent it would have done.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from autometa.contract import Config, Evaluation
from autometa.knowledge import KnowledgeBase, KnowledgeBaseError, TaskRecord
from autometa.knowledge._sql_store import SqlAlchemyStore

# An AFTER INSERT trigger that silently rewrites every score appended later: the attack
# of issue 18, point 5.
REWRITE_SCORES = """
CREATE TRIGGER boost AFTER INSERT ON evaluations
BEGIN
    UPDATE evaluations SET score = 0.99 WHERE rowid = NEW.rowid;
END
"""

ADDED_OBJECTS = {
    "trigger 'boost'": REWRITE_SCORES,
    "view 'best'": "CREATE VIEW best AS SELECT task_id, max(score) FROM evaluations",
    "table 'extra'": "CREATE TABLE extra (x)",
    "index 'ix_extra_score'": "CREATE INDEX ix_extra_score ON evaluations (score)",
}


def _base(path: Path) -> None:
    with KnowledgeBase.open(path) as kb:
        kb.add_task(TaskRecord("t", "t", "binary", "roc_auc", {"n_rows": 10.0}))
        kb.add_evaluations([Evaluation("t", Config("rf", {"i": 1}), 0.5, 0.1)])


def _received(path: Path, *statements: str) -> None:
    """A knowledge base as someone might send it: autometa's, plus their own SQL."""
    _base(path)
    raw = sqlite3.connect(path)
    try:
        for statement in statements:
            raw.execute(statement)
        raw.commit()
    finally:
        raw.close()


@pytest.mark.parametrize("shown", sorted(ADDED_OBJECTS))
@pytest.mark.parametrize("read_only", [False, True])
def test_a_base_carrying_objects_autometa_did_not_create_is_refused(
    tmp_path: Path, shown: str, read_only: bool
) -> None:
    path = tmp_path / "received.db"
    _received(path, ADDED_OBJECTS[shown])
    before = path.read_bytes()
    with pytest.raises(KnowledgeBaseError) as refused:
        KnowledgeBase.open(path, read_only=read_only)
    message = str(refused.value)
    assert str(path) in message
    assert shown in message  # names what was found ...
    assert "kb import" in message  # ... and how to proceed
    assert "DROP" in message
    assert path.read_bytes() == before, "nothing written to a refused file"


def test_the_trigger_never_rewrites_an_appended_score(tmp_path: Path) -> None:
    path = tmp_path / "received.db"
    _received(path, REWRITE_SCORES)
    # Before the fix: opened, and the append ran the trigger (score 0.1 stored as 0.99).
    with pytest.raises(KnowledgeBaseError, match="trigger 'boost'"), KnowledgeBase.open(path) as kb:
        kb.add_evaluations([Evaluation("t", Config("rf", {"i": 2}), 0.1, 0.1)])
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("SELECT count(*) FROM evaluations").fetchone() == (1,)
        assert raw.execute("SELECT score FROM evaluations").fetchone() == (0.5,)
    finally:
        raw.close()


def test_all_objects_are_named_in_one_message(tmp_path: Path) -> None:
    path = tmp_path / "received.db"
    _received(path, *ADDED_OBJECTS.values())
    with pytest.raises(KnowledgeBaseError) as refused:
        KnowledgeBase.open(path, read_only=True)
    for shown in ADDED_OBJECTS:
        assert shown in str(refused.value)


def test_a_base_autometa_wrote_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "own.db"
    _base(path)
    raw = sqlite3.connect(path)
    raw.execute("ANALYZE")  # SQLite's own statistics tables are not foreign objects
    raw.commit()
    raw.close()
    for read_only in (True, False):
        with KnowledgeBase.open(path, read_only=read_only) as kb:
            assert kb.counts() == {"tasks": 1, "configs": 1, "evaluations": 1}


@pytest.mark.parametrize("where", ["file", "memory"])
def test_connections_run_with_sqlites_defensive_settings(tmp_path: Path, where: str) -> None:
    if where == "file":
        _base(tmp_path / "kb.db")
        store = SqlAlchemyStore.open(tmp_path / "kb.db", read_only=True, create=False)
    else:
        store = SqlAlchemyStore.in_memory()
    try:
        raw = store._live().raw_connection()
        try:
            dbapi = raw.driver_connection
            assert isinstance(dbapi, sqlite3.Connection)
            # Functions with side effects cannot run from a schema object (a view, a trigger).
            assert dbapi.execute("PRAGMA trusted_schema").fetchone() == (0,)
            assert dbapi.execute("PRAGMA cell_size_check").fetchone() == (1,)
            defensive = getattr(sqlite3, "SQLITE_DBCONFIG_DEFENSIVE", None)
            if defensive is not None:  # Python >= 3.12: no writable_schema, no shadow tables
                assert dbapi.getconfig(defensive)
        finally:
            raw.close()
    finally:
        store.close()
