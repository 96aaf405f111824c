"""What is derived from a knowledge base's content, computed once per content digest.

Task records, the score table of all tasks and task fingerprints depend only on the
content, so they are memoised by the base's content digest (the shipped files' hash, or
the revision token every write changes) for any base with that digest. For the shipped
base they also come from the packaged ``.npz`` or from files cached beside its database.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from autometa.knowledge._packaged import Packaged
from autometa.knowledge._records import TaskRecord, check_kind_argument, copy_record
from autometa.knowledge._scores import Scores, ScoreTable
from autometa.knowledge._store import DigestInputs, KnowledgeStore

logger = logging.getLogger(__name__)


class Derivations:
    """How one base computes what is derived from it: from the files cached beside the
    shipped base (``prefix``), the packaged data, or its store."""

    def __init__(
        self,
        store: Callable[[], KnowledgeStore],
        *,
        packaged: Packaged | None = None,
        shipped_digest: str | None = None,
        prefix: Path | None = None,
    ) -> None:
        self.store = store
        self.packaged = packaged
        self.shipped_digest = shipped_digest
        self.prefix = prefix

    def digest(self) -> str | None:
        """``KnowledgeBase.content_digest``: the shipped files' hash, or the revision."""
        if self.shipped_digest is not None:
            return self.shipped_digest
        revision = self.store().revision()
        # The prefix keeps a revision token from ever equalling a shipped digest in the shared memo.
        return None if revision is None else f"revision-{revision}"

    def tasks(self, kind: str | None) -> list[TaskRecord]:
        """``KnowledgeBase.tasks``: read once per digest; each call gets its own copies."""
        if kind is not None:
            check_kind_argument(kind)
        digest = self.digest()
        if digest is None:
            # No revision yet: nothing identifies the content, so nothing can be memoised; read it.
            return self.store().read_tasks(cast(Any, kind))
        records = _derived_tasks(self.key(digest))
        # Copies: the memoised records are shared by every base with this digest, and a caller may
        # mutate the meta-features of what it gets.
        return [copy_record(r) for r in records if kind is None or r.kind == kind]

    def score_table(self, kind: str | None, algorithms: Iterable[str] | None) -> ScoreTable:
        """``KnowledgeBase.score_table``: the table of all tasks is read once per digest,
        the table of a kind or of some algorithms cut from it."""
        if kind is not None:
            check_kind_argument(kind)
        digest = self.digest()
        if digest is None:
            return self.store().read_score_table(cast(Any, kind), algorithms)
        derived = _derived_scores(self.key(digest))
        return derived.cut(kind, None if algorithms is None else sorted(set(algorithms)))

    def scores(self) -> Scores:
        """The table of all tasks with their fit times and kinds, once per digest."""
        digest = self.digest()
        return read_scores(self.store()) if digest is None else _derived_scores(self.key(digest))

    def fingerprints(self) -> dict[str, str]:
        """``KnowledgeBase.task_fingerprints``, computed once per digest."""
        digest = self.digest()
        if digest is None:
            return fingerprints_of(self.store().digest_inputs())
        return dict(_derived_fingerprints(self.key(digest)))

    def key(self, digest: str) -> DerivedKey:
        """The memo key of this base's content ``digest``."""
        # Weak: the lru_cache keeps its keys alive, and a strong reference would keep the base and
        # its database connection alive with them.
        return DerivedKey(digest, weakref.ref(self))

    def file(self, what: str) -> Path | None:
        """The cache file of derived data ``what``, for the shipped base only."""
        if self.prefix is None:
            return None
        return self.prefix.with_name(f"{self.prefix.name}.{what}.npz")

    def compute_scores(self) -> Scores:
        """The table of all tasks with each row's kind: from the cache file, else read."""
        path = self.file("scores")
        if path is not None and path.is_file():
            try:
                return Scores.load(path, self.shipped_digest or "")
            except (OSError, ValueError, KeyError) as exc:
                logger.info("recomputing the damaged derived file %s: %s", path, exc)
        if self.packaged is not None:
            return self.packaged.scores
        scores = read_scores(self.store())
        if path is not None:
            save_npz(path, scores.arrays(self.shipped_digest or ""))
        return scores

    def compute_fingerprints(self) -> tuple[tuple[str, str], ...]:
        """Task fingerprints as pairs: from the cache file, else read."""
        path = self.file("fingerprints")
        if path is not None and path.is_file():
            try:
                return _load_fingerprints(path, self.shipped_digest or "")
            except (OSError, ValueError, KeyError) as exc:
                logger.info("recomputing the damaged derived file %s: %s", path, exc)
        if self.packaged is not None:
            return self.packaged.fingerprints
        pairs = tuple(fingerprints_of(self.store().digest_inputs()).items())
        if path is not None:
            arrays = {
                "digest": np.array(self.shipped_digest or ""),
                "task_ids": np.array([t for t, _ in pairs], dtype=str),
                "fingerprints": np.array([f for _, f in pairs], dtype=str),
            }
            save_npz(path, arrays)
        return pairs

    def compute_tasks(self) -> tuple[TaskRecord, ...]:
        """All task records, sorted by task id."""
        if self.packaged is not None:
            return self.packaged.tasks
        return tuple(self.store().read_tasks())


@dataclass(frozen=True)
class DerivedKey:
    """A content digest, and what computes from it on a miss (not part of the key: any
    base with this digest has the same content)."""

    digest: str
    source: weakref.ref[Derivations] = field(compare=False, hash=False, repr=False)

    def derivations(self) -> Derivations:
        source = self.source()
        if source is None:  # pragma: no cover - the caller holds the base
            raise RuntimeError("the knowledge base was garbage-collected during a read")
        return source


@functools.lru_cache(maxsize=8)
def _derived_scores(key: DerivedKey) -> Scores:
    """The score table of all tasks of the base with content ``key.digest``."""
    return key.derivations().compute_scores()


@functools.lru_cache(maxsize=8)
def _derived_tasks(key: DerivedKey) -> tuple[TaskRecord, ...]:
    """The task records of the base with content ``key.digest``, sorted by task id."""
    return key.derivations().compute_tasks()


@functools.lru_cache(maxsize=8)
def _derived_fingerprints(key: DerivedKey) -> tuple[tuple[str, str], ...]:
    """The task fingerprints of the base with content ``key.digest``."""
    return key.derivations().compute_fingerprints()


def read_scores(store: KnowledgeStore) -> Scores:
    """The score table of all tasks with its fit times, and each row's kind, read from
    ``store`` (the times once here, so that a cost model fitted from them later reads no
    evaluation)."""
    table = store.read_score_table(None, None)
    row = {task_id: i for i, task_id in enumerate(table.task_ids)}
    column = {config: j for j, config in enumerate(table.configs)}
    fit_times = np.full(table.scores.shape, np.nan)
    for evaluation in store.read_evaluations():
        i, j = row.get(evaluation.task_id), column.get(evaluation.config)
        # Capped cells keep their time (the budget they used, which the cost model needs); a failed
        # fit's time says nothing about what a successful one costs. Cells outside the table (no
        # finite score) are skipped.
        if i is not None and j is not None and evaluation.status != "failed":
            fit_times[i, j] = evaluation.fit_time
    kinds = {record.task_id: record.kind for record in store.read_tasks()}
    fit_times.setflags(write=False)  # kept uncopied by the table, as table.scores is
    timed = ScoreTable(table.task_ids, table.configs, table.scores, fit_times)
    return Scores(timed, tuple(kinds[t] for t in table.task_ids))


def fingerprints_of(inputs: DigestInputs) -> dict[str, str]:
    """A content hash of each task (kind, scoring, meta-features, and every cell's
    configuration key, score and status), by task id."""
    digests = {
        task_id: hashlib.sha256(f"{kind}\n{scoring}\n{meta}\n".encode())
        for task_id, kind, scoring, meta in inputs.tasks
    }
    # Sorted: the hash must not depend on the order the backend returns rows in. score!r is the
    # shortest round-trip form, so equal floats hash equal and any change shows.
    for task_id, key, score, status in sorted(inputs.cells):  # (task_id, key) is unique
        digests[task_id].update(f"{key}\t{score!r}\t{status}\n".encode())
    return {task_id: digest.hexdigest() for task_id, digest in sorted(digests.items())}


def base_fingerprint(task_fingerprints: Mapping[str, str]) -> str:
    """A content hash of a whole knowledge base, from its tasks' fingerprints."""
    digest = hashlib.sha256()
    for task_id, task_digest in sorted(task_fingerprints.items()):
        digest.update(f"{task_id}\t{task_digest}\n".encode())
    return digest.hexdigest()


def _load_fingerprints(path: Path, digest: str) -> tuple[tuple[str, str], ...]:
    with np.load(path, allow_pickle=False) as data:
        if str(data["digest"]) != digest:
            raise ValueError(f"written for another base ({str(data['digest'])[:30]})")
        return tuple(
            (str(t), str(f)) for t, f in zip(data["task_ids"], data["fingerprints"], strict=True)
        )


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Best effort: write ``arrays`` to ``path`` atomically (a temporary file, a rename)."""
    # The pid keeps two processes caching at once off each other's temporary file, and the rename is
    # atomic: a reader sees the old file or the whole new one. The name already ends in .npz, or
    # np.savez would append it.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    try:
        np.savez(temporary, **cast(dict[str, Any], arrays))
        os.replace(temporary, path)
    except OSError as exc:
        logger.info("not caching derived data at %s: %s", path, exc)
        temporary.unlink(missing_ok=True)
