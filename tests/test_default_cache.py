"""The shipped knowledge base is parsed once, then opened from a content-keyed cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from autometa.knowledge._base import CACHE_DIR_ENV, DEFAULT_LOCATION, KnowledgeBase


def test_second_load_opens_the_cache_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    first = KnowledgeBase.default()
    assert first.location == DEFAULT_LOCATION  # parsed from the shipped files
    assert len(first) > 0, "the shipped knowledge base has tasks"
    cached = list(tmp_path.glob("default-kb-*.db"))
    assert len(cached) == 1
    second = KnowledgeBase.default()
    assert second.location == str(cached[0])
    assert second.read_only
    assert second.counts() == first.counts()
    assert second.metadata()["build"] == first.metadata()["build"]


def test_a_damaged_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    expected = KnowledgeBase.default().counts()
    (cache,) = tmp_path.glob("default-kb-*.db")
    cache.write_bytes(b"not a database at all" * 100)
    rebuilt = KnowledgeBase.default()
    assert rebuilt.counts() == expected
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
