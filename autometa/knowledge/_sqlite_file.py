"""Checks of an SQLite knowledge-base file that need no connection, or only the one
opening it: what is at the path, whether its pages are all there, and what SQLite's error
messages about it mean (used by :mod:`autometa.knowledge._storage`).

The file's bytes are never read here: closing a descriptor of a database file would drop
the locks SQLite holds on it for this process.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from autometa.knowledge._format import KnowledgeBaseError


def check_pages(conn: Connection, path: Path) -> None:
    """Refuse a file shorter than the pages SQLite says it has (asked of SQLite, under its
    lock: ``PRAGMA page_size`` and ``page_count``)."""
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return  # pages may legitimately live in the WAL until the next checkpoint
    page_size = int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
    expected = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one()) * page_size
    size = path.stat().st_size
    if size % page_size or size < expected:
        raise _truncated(path, f"its header describes {expected} bytes in pages of {page_size}")


def _truncated(path: Path, detail: str) -> KnowledgeBaseError:
    return KnowledgeBaseError(
        f"{path} is truncated or damaged: it has {path.stat().st_size} bytes but {detail}. "
        "Restore it from a copy, or rebuild it (an earlier export_jsonl file can be imported "
        "into a new knowledge base)."
    )


def check_path(path: Path, *, read_only: bool, create: bool) -> bool:
    """Filesystem checks with clear messages; returns whether the file exists."""
    if path.is_dir():
        raise IsADirectoryError(
            f"Knowledge base path {path} is a directory; pass a file path such as "
            f"{path / 'knowledge.db'}."
        )
    if path.exists():
        if not path.is_file():
            raise KnowledgeBaseError(
                f"{path} is not an autometa knowledge base: it is not a regular file (a FIFO, "
                "socket or device). Pass the path of a knowledge-base file, or a path that "
                "does not exist yet to create one."
            )
        if not read_only and not os.access(path, os.W_OK):
            raise PermissionError(
                f"Knowledge base {path} is not writable; open it with read_only=True or "
                "fix its permissions."
            )
        return True
    if read_only or not create:
        raise FileNotFoundError(
            f"Knowledge base {path} does not exist"
            + ("; it is opened read-only, so it is not created." if read_only else ".")
        )
    parent = path.parent
    for ancestor in (parent, *parent.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise NotADirectoryError(
                    f"Cannot create knowledge base {path}: {ancestor} is a file, not a directory."
                )
            break
    if not parent.exists():
        raise FileNotFoundError(
            f"Cannot create knowledge base {path}: directory {parent} does not exist. "
            "Create it first (e.g. mkdir -p) or choose another path."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(
            f"Cannot create knowledge base {path}: directory {parent} is not writable."
        )
    return False


def translate(exc: DBAPIError, path: Path) -> Exception:
    message = str(exc.orig)
    if "not a database" in message:  # SQLite found no database header
        return KnowledgeBaseError(
            f"{path} is not an autometa knowledge base: it is not an SQLite database "
            f"(SQLite: {message}; {path.stat().st_size} bytes). It may be truncated, or "
            "another kind of file; a JSON Lines export is loaded with "
            "KnowledgeBase.in_memory().import_jsonl(path). Pass the path of a knowledge "
            "base, or a path that does not exist yet to create a new one."
        )
    if "malformed" in message:  # e.g. fewer pages than the header describes
        return _truncated(path, f"SQLite finds it malformed ({message})")
    if "unable to open" in message or "readonly" in message:
        return PermissionError(f"Cannot open knowledge base {path} (SQLite: {message}).")
    return exc
