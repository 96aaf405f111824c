"""JSON Lines files of knowledge bases: which files an import reads, reading, writing.

The line format itself is :mod:`autometa.knowledge._jsonl`; here are folders (their
``*.jsonl`` and ``*.jsonl.gz`` files in name order), gzip, and atomic writes.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from autometa.contract._types import Config
from autometa.knowledge._format import KnowledgeBaseError
from autometa.knowledge._jsonl import format_jsonl, parse_jsonl
from autometa.knowledge._records import Bundle

if TYPE_CHECKING:
    from importlib.abc import Traversable

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
"""Names of the files a folder contributes to an import."""


# -- files ---------------------------------------------------------------------------------
def paths(path_or_paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """One path, or several, as a list of paths."""
    if isinstance(path_or_paths, (str, os.PathLike)):
        return [Path(path_or_paths)]
    return [Path(p) for p in path_or_paths]


def sources(items: Sequence[Traversable]) -> list[Traversable]:
    """Files to import: each item itself, or a folder's JSON Lines files in name order,
    then its subfolders' in name order (an extended base keeps each added algorithm's
    cells in a subfolder of its own: see :mod:`autometa._extend`)."""
    out: list[Traversable] = []
    for item in items:
        if item.is_dir():
            children = sorted(item.iterdir(), key=lambda c: c.name)
            out.extend(c for c in children if c.is_file() and c.name.endswith(JSONL_SUFFIXES))
            out.extend(sources([c for c in children if c.is_dir()]))
        elif isinstance(item, Path) and not item.exists():
            raise FileNotFoundError(f"JSON Lines file {item} does not exist.")
        else:
            out.append(item)
    return out


def read_sources(files: Sequence[Traversable]) -> tuple[Bundle, dict[str, int]]:
    """All ``files`` parsed and checked into one bundle, and the record counts read."""
    combined = Bundle()
    counts = {"files": len(files), "tasks": 0, "configs": 0, "evaluations": 0}
    parsed_configs: dict[str, tuple[int, Config]] = {}  # files repeat one pool
    for source in files:
        bundle = _read_source(source, parsed_configs)
        for name, count in bundle.counts().items():
            counts[name] += count
        combined.update(bundle)
    return combined, counts


def _read_source(
    source: Traversable, parsed_configs: dict[str, tuple[int, Config]] | None = None
) -> Bundle:
    label = str(source)
    with source.open("rb") as raw:
        if source.name.endswith(".gz"):
            try:
                with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                    return parse_jsonl(label, stream, parsed_configs)
            except (OSError, EOFError, zlib.error) as exc:
                raise KnowledgeBaseError(f"{label}: not a readable gzip file ({exc}).") from None
        return parse_jsonl(label, raw, parsed_configs)


def write_file(target: Path, bundle: Bundle) -> None:
    """Write ``bundle`` to ``target`` as JSON Lines (gzip-compressed, reproducibly, for a
    ``.gz`` name) through a temporary file and a rename: readers never see half of it."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as raw:
            stream: BinaryIO = raw
            if target.name.endswith(".gz"):
                stream = cast(BinaryIO, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0))
            try:
                for line in format_jsonl(bundle):
                    stream.write(line.encode("utf-8"))
            finally:
                if stream is not raw:
                    stream.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
