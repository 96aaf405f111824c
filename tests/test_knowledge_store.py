"""The knowledge-store conformance suite on every backend autometa ships: a SQLite file,
SQLite in memory, and PostgreSQL (skipped when no server URL is configured; CI has one)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from autometa.knowledge._records import Bundle
from autometa.knowledge._sql_store import SqlAlchemyStore
from autometa.knowledge._storage import open_memory
from autometa.knowledge._store import DigestInputs, KnowledgeStore
from autometa.testing import check_knowledge_store
from autometa.testing._knowledge_store import KNOWLEDGE_STORE_CHECKS

Backend = tuple[Callable[[], KnowledgeStore], Callable[[KnowledgeStore], KnowledgeStore]]


def _frozen(store: KnowledgeStore) -> KnowledgeStore:
    assert isinstance(store, SqlAlchemyStore)
    store.freeze(store.location)  # memory cannot be reopened: its connection refuses writes
    return store


def _reopened(location: str) -> KnowledgeStore:
    return SqlAlchemyStore.open(location, read_only=True, create=False)


@pytest.fixture(params=["sqlite_file", "sqlite_memory", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite_memory":
        return SqlAlchemyStore.in_memory, _frozen
    if request.param == "postgresql":
        make_url: Callable[[], str] = request.getfixturevalue("postgres_database")
        urls: list[str] = []

        def make_database() -> KnowledgeStore:
            urls.append(make_url())
            return SqlAlchemyStore.open(urls[-1])

        return make_database, lambda store: _reopened(urls[-1])
    paths = iter(tmp_path / f"kb{i}.db" for i in range(100))
    return (lambda: SqlAlchemyStore.open(next(paths))), lambda s: _reopened(s.location)


@pytest.mark.parametrize("check", list(KNOWLEDGE_STORE_CHECKS))
def test_store_conforms(backend: Backend, check: str) -> None:
    make_store, read_only = backend
    check_knowledge_store(make_store, read_only=read_only, only=[check])


# -- each check can fail: a real store with one rule broken fails exactly that check -------
class _Miscounts(SqlAlchemyStore):
    def counts(self) -> dict[str, int]:
        return {**super().counts(), "tasks": super().counts()["tasks"] + 1}


class _LosesUnicode(SqlAlchemyStore):
    def read_task(self, task_id: str) -> Any:
        return None if not task_id.isascii() else super().read_task(task_id)


class _Unordered(SqlAlchemyStore):
    def read_tasks(self, kind: Any = None) -> list[Any]:
        return sorted(super().read_tasks(kind), key=lambda t: t.task_id.lower())


class _FixedRevision(SqlAlchemyStore):
    def revision(self) -> str | None:
        return "fixed"


class _ForgetsOrigins(SqlAlchemyStore):
    def write(self, content: Bundle, *, merge_meta_features: bool = False) -> None:
        super().write(replace(content, origins={}), merge_meta_features=merge_meta_features)


class _WholeContent(SqlAlchemyStore):
    def read_content(self, task_ids: Any = None) -> Bundle:
        return super().read_content(None)


class _NanDigests(SqlAlchemyStore):
    def digest_inputs(self) -> DigestInputs:
        inputs = super().digest_inputs()
        cells = [(t, k, math.nan if s is None else s, st) for t, k, s, st in inputs.cells]
        return DigestInputs(inputs.tasks, cells)


class _NeverCloses(SqlAlchemyStore):
    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("check", "broken"),
    [
        ("empty", _Miscounts),
        ("round_trip", _LosesUnicode),
        ("order", _Unordered),
        ("re_append", _FixedRevision),
        ("refusals", _ForgetsOrigins),
        ("content", _WholeContent),
        ("scores_and_digests", _NanDigests),
        ("read_only", SqlAlchemyStore),  # with a "read-only" view that accepts writes
        ("close", _NeverCloses),
    ],
)
def test_each_check_fails_on_a_store_that_breaks_its_rule(
    check: str, broken: type[SqlAlchemyStore]
) -> None:
    def make() -> KnowledgeStore:
        opened = open_memory()
        return broken(opened.engine, opened.location)

    with pytest.raises(AssertionError, match=f"check {check!r}"):
        check_knowledge_store(make, read_only=lambda store: store, only=[check])
    assert set(KNOWLEDGE_STORE_CHECKS) == {
        "empty",
        "round_trip",
        "order",
        "re_append",
        "refusals",
        "content",
        "scores_and_digests",
        "read_only",
        "close",
    }  # every check has a broken store above


def test_unknown_check_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown checks"):
        check_knowledge_store(SqlAlchemyStore.in_memory, only=["no_such_check"])
