"""The shipped knowledge base is parsed once, then opened from a content-keyed cache.

Before the cache exists, planning's reads come from the data packaged with it, and the
parse waits until something else is asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autometa.knowledge._base import CACHE_DIR_ENV, DEFAULT_LOCATION, KnowledgeBase
from autometa.knowledge._derived import fingerprints_of


def test_second_load_opens_the_cache_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    first = KnowledgeBase.default()
    assert first.location == DEFAULT_LOCATION
    assert len(first) > 0, "the shipped knowledge base has tasks"
    assert first.metadata()["build"]  # packaged with the code: nothing parsed yet
    assert not list(tmp_path.glob("default-kb-*.db"))
    assert first.configs()  # not packaged: the files are parsed now
    assert first.location == DEFAULT_LOCATION  # parsed from the shipped files
    cached = list(tmp_path.glob("default-kb-*.db"))
    assert len(cached) == 1
    second = KnowledgeBase.default()
    assert second.location == str(cached[0])
    assert second.read_only
    assert second.counts() == first.counts()
    assert second.metadata()["build"] == first.metadata()["build"]


def test_a_damaged_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    first = KnowledgeBase.default()
    expected = first.counts()
    assert first.configs()  # not packaged: parsed and cached
    (cache,) = tmp_path.glob("default-kb-*.db")
    cache.write_bytes(b"not a database at all" * 100)
    rebuilt = KnowledgeBase.default()
    assert rebuilt.counts() == expected
    assert rebuilt.configs(), "parsed again"
    assert KnowledgeBase.default().location == str(cache)  # and cached again


def test_an_unwritable_cache_folder_only_costs_the_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv(CACHE_DIR_ENV, str(blocker / "cache"))
    kb = KnowledgeBase.default()
    assert kb.location == DEFAULT_LOCATION
    assert len(kb) > 0
    assert not list(tmp_path.glob("**/.default-kb-*"))  # no temporary files left behind


def test_planning_reads_wait_for_no_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    lazy = KnowledgeBase.default()
    tasks, table = lazy.tasks(), lazy.score_table("binary")
    fingerprints, counts = lazy.task_fingerprints(), lazy.counts()
    assert not list(tmp_path.glob("default-kb-*.db")), "served by the packaged data"
    assert not lazy.closed
    assert lazy.evaluations(tasks[0].task_id)  # not packaged: the files are parsed now
    assert list(tmp_path.glob("default-kb-*.db"))
    assert lazy.counts() == counts
    store = lazy._live_store()  # read from the database itself, past the memos
    assert store.read_tasks(None) == tasks
    assert fingerprints_of(store.digest_inputs()) == fingerprints
    read = store.read_score_table("binary", None)
    assert read.task_ids == table.task_ids
    assert read.configs == table.configs
    np.testing.assert_array_equal(read.scores, table.scores)
    lazy.close()
    assert lazy.closed
    unused = KnowledgeBase.default()
    unused.close()
    with pytest.raises(ValueError, match="closed"):
        unused.evaluations()
