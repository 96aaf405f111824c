"""The knowledge base shipped with autometa: its files, its cache, and its packaged data.

The shipped base is a folder of JSON Lines files (``autometa/data/default_kb/``, built by
``autometa kb build``); every ``*.jsonl`` and ``*.jsonl.gz`` file there is imported in
name order. Parsing them takes seconds, so the result is cached as an SQLite file named
after a hash of the files' contents in autometa's cache folder (:func:`default_cache_dir`)
and later opened read-only in milliseconds; the files are immutable, so the hash names the
content for good. A damaged cache is rebuilt, an unwritable cache folder only costs the
parse, and a missing or empty data folder gives an empty base. Until the cache exists,
what planning reads (tasks, score tables, task fingerprints, counts) comes from the
packaged ``.npz`` (:mod:`autometa.knowledge._packaged`), and the files are parsed only
when something else is asked for: the first ``autometa.recommend`` on a fresh machine does
not wait for the parse.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from autometa.knowledge._derived import fingerprints_of, read_scores
from autometa.knowledge._format import KnowledgeBaseError, dumps
from autometa.knowledge._jsonl import task_json
from autometa.knowledge._jsonl_files import read_sources, sources
from autometa.knowledge._packaged import Packaged, packaged_file
from autometa.knowledge._sql_store import SqlAlchemyStore

if TYPE_CHECKING:
    from importlib.abc import Traversable

logger = logging.getLogger(__name__)

DEFAULT_LOCATION = "<autometa default knowledge base>"
DEFAULT_CACHE_PREFIX = "default-kb-"
CACHE_DIR_ENV = "AUTOMETA_CACHE_DIR"


@dataclass(frozen=True)
class Shipped:
    """The shipped base as found: an open ``store``, or a ``build`` that makes it on first
    use with ``packaged`` data meanwhile; ``digest`` (``shipped-<hash>``) and ``prefix``
    (where derived files are cached) are None for an empty base."""

    store: SqlAlchemyStore | None
    build: Callable[[], SqlAlchemyStore] | None = None
    packaged: Packaged | None = None
    digest: str | None = None
    prefix: Path | None = None

    def derivation_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~autometa.knowledge._derived.Derivations`."""
        return {"packaged": self.packaged, "shipped_digest": self.digest, "prefix": self.prefix}


def open_shipped() -> Shipped:
    """The shipped base: its cache file if valid, else packaged data and a lazy parse."""
    folder = _default_kb_dir()
    files = sources([folder]) if folder.is_dir() else []
    if not files:
        empty = SqlAlchemyStore.in_memory()
        empty.freeze(DEFAULT_LOCATION)
        return Shipped(empty)
    digest = _sources_digest(files)
    # 80 bits of the hash name the file; the derived files next to it check the full digest.
    cache = default_cache_dir() / f"{DEFAULT_CACHE_PREFIX}{digest[:20]}.db"
    marks: dict[str, Any] = {"digest": f"shipped-{digest}", "prefix": cache.with_suffix("")}
    try:
        if cache.is_file():  # PermissionError for a folder this process may not look into
            # Read-only: processes share this file, and none may change what the hash names.
            return Shipped(SqlAlchemyStore.open(cache, read_only=True, create=False), **marks)
    except KnowledgeBaseError:
        logger.warning("rebuilding the damaged knowledge-base cache %s", cache)
    except OSError as exc:  # unreadable: parse into memory, as for an unwritable folder
        _uncached(cache.parent, str(exc))
    # None when the packaged data describes other files (a checkout whose data changed): nothing to
    # answer from meanwhile, so parse now.
    packaged = Packaged.load(packaged_file(), f"shipped-{digest}")
    if packaged is None:
        return Shipped(_parse(files, cache), **marks)
    return Shipped(None, lambda: _parse(files, cache), packaged, **marks)


def _parse(files: Sequence[Traversable], cache: Path) -> SqlAlchemyStore:
    """The shipped base parsed from its files, and cached (best effort) at ``cache``."""
    store = SqlAlchemyStore.in_memory()
    bundle, _ = read_sources(files)
    store.write(bundle)
    _store_cache(store, cache)
    store.freeze(DEFAULT_LOCATION)
    return store


def _store_cache(store: SqlAlchemyStore, cache: Path) -> None:
    """Best effort: write ``store`` to ``cache`` atomically; drop older cache files."""
    temporary = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        # Parsed in memory, then copied page by page (milliseconds; inserting into a file takes
        # seconds) to a temporary file renamed below: no process opens a half-built cache.
        store.backup_to(temporary)
        SqlAlchemyStore.open(temporary, read_only=True, create=False).close()  # it opens
        os.replace(temporary, cache)
        current = cache.with_suffix("").name
        for stale in cache.parent.glob(f"{DEFAULT_CACHE_PREFIX}*"):
            if not stale.name.startswith(current):  # older bases' files, derived ones too
                stale.unlink(missing_ok=True)
    except (OSError, sqlite3.Error, KnowledgeBaseError) as exc:
        _uncached(cache.parent, str(exc))
        # The glob also catches SQLite's -journal and -wal files of the temporary copy.
        with contextlib.suppress(OSError):  # a folder we may not even list
            for leftover in cache.parent.glob(f"{temporary.name}*"):
                leftover.unlink(missing_ok=True)


def _uncached(folder: Path, reason: str) -> None:
    """Log why the cache in ``folder`` is not used (debug), and warn once (per process and
    folder) that the shipped base is then kept in memory only."""
    logger.debug("not using the knowledge-base cache folder %s: %s", folder, reason)
    _warn_uncached(folder)


@functools.lru_cache(maxsize=16)
def _warn_uncached(folder: Path) -> None:
    # Memoized: a read-only container or shared install would otherwise say it on every
    # fit; every process still parses the files again (seconds).
    logger.warning(
        "the knowledge-base cache folder %s cannot be written or read: the default knowledge "
        "base is read into memory in each process instead (seconds). Set %s to a writable "
        "folder to cache it.",
        folder,
        CACHE_DIR_ENV,
    )


def write_packaged(path: str | os.PathLike[str] | None = None) -> Path:
    """Write what planning reads from the shipped base to ``path`` (default: the
    package's ``autometa/data/default_kb_derived.npz``), read from its database.

    Run after the shipped base changes (``python -c "from autometa.knowledge._base
    import write_packaged; write_packaged()"``); ``tests/test_planning_overhead.py``
    fails while the file describes other files.
    """
    target = Path(str(packaged_file())) if path is None else Path(path)
    shipped = open_shipped()
    digest = shipped.digest
    if digest is None:
        raise KnowledgeBaseError("the shipped knowledge base is empty: nothing to package.")
    # The database itself, never the packaged data being replaced.
    store = shipped.store if shipped.store is not None else cast(Callable[[], Any], shipped.build)()
    try:
        scores = read_scores(store)
        fingerprints = fingerprints_of(store.digest_inputs())
        arrays = {
            "digest": np.array(digest),
            **{f"scores_{k}": v for k, v in scores.arrays(digest).items()},
            "task_ids": np.array(list(fingerprints), dtype=str),
            "fingerprints": np.array(list(fingerprints.values()), dtype=str),
            "tasks": np.array([dumps(task_json(r)) for r in store.read_tasks()], dtype=str),
            "counts": np.array(dumps(store.counts())),
            "metadata": np.array(dumps(store.read_metadata())),
        }
    finally:
        store.close()
    np.savez_compressed(target, **cast(dict[str, Any], arrays))
    return target


# -- where the files and the cache are -----------------------------------------------------
def default_cache_dir() -> Path:
    """Where autometa caches derived files (``AUTOMETA_CACHE_DIR`` overrides)."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "autometa"


def _default_kb_dir() -> Traversable:
    """The folder of JSON Lines files that make up the shipped knowledge base."""
    return resources.files("autometa").joinpath("data").joinpath("default_kb")


def _sources_digest(files: Sequence[Traversable]) -> str:
    """:func:`_digest`, hashed once per process while the files' sizes and modification
    times stay the same (the shipped files are 20 MB: hashing them costs 30 ms)."""
    # Files inside a zip (a zipimport install) have no stat(): no stamp to key the memo, so hash
    # them every time.
    if not all(isinstance(source, Path) for source in files):
        return _digest(files)
    stamps = []
    for source in files:
        stat = Path(str(source)).stat()
        stamps.append((str(source), stat.st_size, stat.st_mtime_ns))
    return _stamped_digest(tuple(stamps))


@functools.lru_cache(maxsize=4)
def _stamped_digest(stamps: tuple[tuple[str, int, int], ...]) -> str:
    return _digest([Path(path) for path, _, _ in stamps])


def _digest(files: Sequence[Traversable]) -> str:
    """A hash of the files' names and contents: the cache key of the shipped base."""
    digest = hashlib.sha256()
    for source in files:
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()
