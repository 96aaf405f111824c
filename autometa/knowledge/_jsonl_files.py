"""JSON Lines files of knowledge bases: which files an import reads, reading, writing.

The line format itself is :mod:`autometa.knowledge._jsonl`; here are folders (their
``*.jsonl`` and ``*.jsonl.gz`` files in name order), gzip, the limits of one import
(:mod:`autometa.knowledge._limits`), and atomic writes.
"""

from __future__ import annotations

import gzip
import math
import os
import stat
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from autometa.contract._types import Config
from autometa.knowledge._format import KnowledgeBaseError
from autometa.knowledge._jsonl import format_jsonl, parse_jsonl
from autometa.knowledge._limits import ImportBudget, ImportLimits, check_table_cells
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
    cells in a subfolder of its own: see :mod:`autometa._extend`).

    Nothing is opened here: a path that is neither a regular file nor a folder (a FIFO,
    whose opening would wait for a writer forever, a socket, a device) is refused first,
    given directly or named ``*.jsonl`` in a folder.
    """
    out: list[Traversable] = []
    for item in items:
        if isinstance(item, Path):
            mode = _mode(item)
            if stat.S_ISDIR(mode):
                children = sorted(item.iterdir(), key=lambda c: c.name)
                modes = {c: _mode(c, c.name.endswith(JSONL_SUFFIXES)) for c in children}
                for child in children:
                    if child.name.endswith(JSONL_SUFFIXES) and not stat.S_ISDIR(modes[child]):
                        out.append(_regular(child, modes[child]))
                out.extend(sources([c for c in children if stat.S_ISDIR(modes[c])]))
            else:
                out.append(_regular(item, mode))
        elif item.is_dir():  # a package's files (the shipped base): no FIFOs there
            entries = sorted(item.iterdir(), key=lambda c: c.name)
            out.extend(c for c in entries if c.is_file() and c.name.endswith(JSONL_SUFFIXES))
            out.extend(sources([c for c in entries if c.is_dir()]))
        else:
            out.append(item)
    return out


def _mode(path: Path, wanted: bool = True) -> int:
    """The file type and mode of ``path`` (following links), without opening it; 0 for
    a path not ``wanted`` that cannot be looked at (a dangling link beside the files)."""
    try:
        return os.stat(path).st_mode
    except OSError:
        if not wanted:
            return 0
        if not path.exists():
            raise FileNotFoundError(f"JSON Lines file {path} does not exist.") from None
        raise


def _regular(path: Path, mode: int) -> Path:
    if stat.S_ISREG(mode):
        return path
    kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket or device"
    raise KnowledgeBaseError(
        f"{path} is {kind}, not a regular file; it was not opened (reading a pipe would "
        "wait for a writer). Pass a JSON Lines file (.jsonl or .jsonl.gz) or a folder of "
        "them; to import from a stream, save it to a file first."
    )


def read_sources(
    files: Sequence[Traversable], limits: ImportLimits | None = None
) -> tuple[Bundle, dict[str, int]]:
    """All ``files`` parsed and checked into one bundle, and the record counts read.

    ``limits`` (default: :meth:`ImportLimits.from_environment`) bound what the files may
    make this read and the score table of what they hold: going past one raises
    :class:`KnowledgeBaseError` naming the file (and line) before anything is written.
    """
    limits = ImportLimits.from_environment() if limits is None else limits
    budget = ImportBudget(limits)
    combined = Bundle()
    counts = {"files": len(files), "tasks": 0, "configs": 0, "evaluations": 0}
    parsed_configs: dict[str, tuple[int, Config]] = {}  # files repeat one pool
    for source in files:
        bundle = _read_source(source, budget, parsed_configs)
        for name, count in bundle.counts().items():
            counts[name] += count
        combined.update(bundle)
    _check_table(combined, files, limits)
    return combined, counts


def _check_table(content: Bundle, files: Sequence[Traversable], limits: ImportLimits) -> None:
    """Refuse content whose own score table (tasks x configurations with an ok, finite
    score) would pass the limit: a base it was imported into could not be used."""
    tasks, configs, cells = set(), set(), 0
    for evaluation in content.evaluations:
        if evaluation.status == "ok" and math.isfinite(evaluation.score):
            tasks.add(evaluation.task_id)
            configs.add(evaluation.config.key)
            cells += 1
    others = len(files) - 1
    where = f"{files[0]}" + (f" and the {others} other files imported" if others else "")
    check_table_cells(where, len(tasks), len(configs), cells, limits.table_cells)


def _read_source(
    source: Traversable,
    budget: ImportBudget,
    parsed_configs: dict[str, tuple[int, Config]] | None = None,
) -> Bundle:
    label = str(source)
    with source.open("rb") as raw:
        if source.name.endswith(".gz"):
            try:
                with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                    return parse_jsonl(label, budget.lines(stream, label), parsed_configs, budget)
            except (OSError, EOFError, zlib.error) as exc:
                raise KnowledgeBaseError(f"{label}: not a readable gzip file ({exc}).") from None
        return parse_jsonl(label, budget.lines(raw, label), parsed_configs, budget)


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
