"""A knowledge base of one's own laid over another: reads see both, writes go to the top.

The default knowledge base of a fit is the shipped one with the user's own base over it
(:mod:`autometa.knowledge._user`): every fit adds its task to the top layer, and every
later fit learns from the shipped tasks and the user's together, while the shipped
files are never written.

What a layered base holds is defined by one rule: it reads exactly as a base would into
which the lower layer's content and then the upper layer's were written. A task in both
layers has the upper layer's record; a cell (task, configuration) in both has the upper
layer's evaluation; everything else comes from the layer that has it. Writes go to the
upper layer only, so the lower one can be read-only (the shipped base is).

Reads are as fast as the lower layer's: its score table, task records and fingerprints
come from its own derived data (for the shipped base, the packaged ``.npz``), and only
the upper layer, which is small, is read from its database on each change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from autometa.knowledge._base import KnowledgeBase
from autometa.knowledge._derived import Derivations, fingerprints_of, read_scores
from autometa.knowledge._records import Bundle
from autometa.knowledge._scores import Scores, ScoreTable
from autometa.knowledge._store import DigestInputs, KnowledgeStore

if TYPE_CHECKING:
    from autometa.contract._types import Config, Evaluation, TaskKind
    from autometa.knowledge._records import TaskRecord


def layered_knowledge(lower: KnowledgeBase, upper: KnowledgeBase) -> KnowledgeBase:
    """``upper`` laid over ``lower``: reads see both, writes go to ``upper``.

    It reads as a base into which ``lower``'s content and then ``upper``'s were written
    (a task or cell in both is ``upper``'s); it is read-only when ``upper`` is.
    :attr:`KnowledgeBase.layers` gives the two back.
    """
    store = LayeredStore(lower, upper._live_store())
    knowledge = KnowledgeBase(store, store.location, read_only=upper.read_only)
    knowledge._derived = LayeredDerivations(store)
    knowledge._layers = (lower, upper)
    return knowledge


class LayeredStore(KnowledgeStore):
    """The store of a layered base: ``upper`` over the content of ``lower``.

    ``lower`` is a :class:`KnowledgeBase` (read through its derived data where it has
    them), ``upper`` the store every write goes to.
    """

    def __init__(self, lower: KnowledgeBase, upper: KnowledgeStore) -> None:
        self.lower = lower
        self.upper = upper

    @property
    def location(self) -> str:
        return f"{self.upper.location} (over {self.lower.location})"

    @property
    def read_only(self) -> bool:
        return self.upper.read_only

    # -- writes: the upper layer's ---------------------------------------------------------
    def write(self, content: Bundle, *, merge_meta_features: bool = False) -> None:
        self.upper.write(content, merge_meta_features=merge_meta_features)

    # -- reads: the lower layer's content, then the upper layer's over it ------------------
    def read_tasks(self, kind: TaskKind | None = None) -> list[TaskRecord]:
        merged = {r.task_id: r for r in self.lower.tasks()}
        merged.update((r.task_id, r) for r in self.upper.read_tasks())
        return [merged[t] for t in sorted(merged) if kind is None or merged[t].kind == kind]

    def read_task(self, task_id: str) -> TaskRecord | None:
        record = self.upper.read_task(task_id)
        if record is not None:
            return record
        try:
            return self.lower.task(task_id)
        except KeyError:
            return None

    def read_evaluations(
        self, task_id: str | None = None, *, kind: TaskKind | None = None
    ) -> list[Evaluation]:
        upper = self.upper.read_evaluations(task_id)
        lower = self.lower.evaluations(task_id)
        cells = {(e.task_id, e.config.key): e for e in (*lower, *upper)}
        if kind is not None:
            kinds = {r.task_id: r.kind for r in self.read_tasks()}
            cells = {cell: e for cell, e in cells.items() if kinds.get(e.task_id) == kind}
        return [cells[cell] for cell in sorted(cells)]

    def read_configs(self, algorithm: str | None = None) -> list[Config]:
        configs = {c.key: c for c in self.lower.configs(algorithm)}
        configs.update((c.key, c) for c in self.upper.read_configs(algorithm))
        return [configs[key] for key in sorted(configs)]

    def read_statuses(self, task_id: str) -> dict[str, str]:
        statuses = self.lower.evaluated(task_id)
        statuses.update(self.upper.read_statuses(task_id))
        return dict(sorted(statuses.items()))

    def read_score_table(
        self, kind: TaskKind | None = None, algorithms: Iterable[str] | None = None
    ) -> ScoreTable:
        return self.scores().cut(kind, None if algorithms is None else sorted(set(algorithms)))

    def scores(self) -> Scores:
        """The score table of all tasks of both layers, with fit times and kinds."""
        upper_cells = {(e.task_id, e.config.key) for e in self.upper.read_evaluations()}
        kinds = {r.task_id: r.kind for r in self.read_tasks()}
        return merged_scores(
            self.lower._derived.scores(), read_scores(self.upper), upper_cells, kinds
        )

    def read_content(self, task_ids: Sequence[str] | None = None) -> Bundle:
        wanted = None if task_ids is None else list(dict.fromkeys(task_ids))
        if wanted is not None:
            missing = [t for t in wanted if self.read_task(t) is None]
            if missing:
                raise KeyError(f"No such task(s) in {self.location}: {missing}.")
        upper_ids = {r.task_id for r in self.upper.read_tasks()}
        lower_ids = {r.task_id for r in self.lower.tasks()}
        content = Bundle()
        lower_store = self.lower._live_store()
        content.update(
            lower_store.read_content(
                None if wanted is None else [t for t in wanted if t in lower_ids]
            )
        )
        top = self.upper.read_content(
            None if wanted is None else [t for t in wanted if t in upper_ids]
        )
        cells = {(e.task_id, e.config.key): e for e in (*content.evaluations, *top.evaluations)}
        content.update(top)
        content.evaluations = [cells[cell] for cell in sorted(cells)]
        return content

    def read_metadata(self) -> dict[str, Any]:
        metadata = self.lower.metadata()
        metadata.update(self.upper.read_metadata())
        return dict(sorted(metadata.items()))

    def counts(self) -> dict[str, int]:
        return {
            "tasks": len(self.read_tasks()),
            "configs": len(self.read_configs()),
            "evaluations": len(self.read_evaluations()),
        }

    def revision(self) -> str | None:
        lower, upper = self.lower.content_digest(), self.upper.revision()
        if lower is None and upper is None:
            return None
        return f"{lower}|{upper}"

    def digest_inputs(self) -> DigestInputs:
        lower = self.lower._live_store().digest_inputs()
        upper = self.upper.digest_inputs()
        tasks = {t[0]: t for t in lower.tasks}
        tasks.update((t[0], t) for t in upper.tasks)
        cells = {(c[0], c[1]): c for c in lower.cells}
        cells.update(((c[0], c[1]), c) for c in upper.cells)
        return DigestInputs(list(tasks.values()), list(cells.values()))

    def close(self) -> None:
        self.upper.close()


class LayeredDerivations(Derivations):
    """What is derived from a layered base, composed from its layers' own.

    The lower layer's score table and task fingerprints come from its derived data; the
    upper layer's are computed from its (small) store once per content digest.
    """

    def __init__(self, store: LayeredStore) -> None:
        super().__init__(lambda: store)
        self.layered = store

    def digest(self) -> str | None:
        revision = self.layered.revision()
        # Its own prefix: never equal to a plain base's digest in the shared memo.
        return None if revision is None else f"layered-{revision}"

    def compute_scores(self) -> Scores:
        return self.layered.scores()

    def compute_tasks(self) -> tuple[TaskRecord, ...]:
        return tuple(self.layered.read_tasks())

    def compute_fingerprints(self) -> tuple[tuple[str, str], ...]:
        fingerprints = self.layered.lower.task_fingerprints()
        upper = self.layered.upper.digest_inputs()
        both = {t[0] for t in upper.tasks} & set(fingerprints)
        fingerprints.update(fingerprints_of(upper))
        if both:  # a task in both layers hashes its merged content, as one base would
            merged = self.layered.digest_inputs()
            fingerprints.update(
                fingerprints_of(
                    DigestInputs(
                        [t for t in merged.tasks if t[0] in both],
                        [c for c in merged.cells if c[0] in both],
                    )
                )
            )
        return tuple(sorted(fingerprints.items()))


def merged_scores(
    lower: Scores, upper: Scores, upper_cells: set[tuple[str, str]], kinds: Mapping[str, str]
) -> Scores:
    """One score table of both layers: rows and columns of either, the upper's cells
    (``upper_cells``, whatever their status) replacing the lower's.

    ``kinds`` gives every task's kind in the layered base (a task in both layers has
    the upper record's).
    """
    task_ids = sorted(set(lower.table.task_ids) | set(upper.table.task_ids))
    configs = {c.key: c for c in (*lower.table.configs, *upper.table.configs)}
    keys = sorted(configs)
    row = {t: i for i, t in enumerate(task_ids)}
    column = {k: j for j, k in enumerate(keys)}
    scores = np.full((len(task_ids), len(keys)), np.nan)
    times = np.full(scores.shape, np.nan)
    _place(scores, times, lower.table, row, column)
    # A cell the upper layer holds replaces the lower's, also when it holds no finite score
    # there (a failed evaluation): first clear every such cell, then place the upper's table.
    for task_id, key in upper_cells:
        if task_id in row and key in column:
            scores[row[task_id], column[key]] = np.nan
            times[row[task_id], column[key]] = np.nan
    _place(scores, times, upper.table, row, column)
    for values in (scores, times):
        values.setflags(write=False)
    table = ScoreTable(task_ids, [configs[k] for k in keys], scores, times)
    return Scores(table, tuple(kinds[t] for t in task_ids))


def _place(
    scores: np.ndarray,
    times: np.ndarray,
    table: ScoreTable,
    row: dict[str, int],
    column: dict[str, int],
) -> None:
    """Copy ``table``'s finite cells (and their fit times) into the merged arrays."""
    rows = np.array([row[t] for t in table.task_ids], dtype=np.intp)
    columns = np.array([column[c.key] for c in table.configs], dtype=np.intp)
    if not len(rows) or not len(columns):
        return
    block = np.ix_(rows, columns)
    finite = np.isfinite(table.scores)
    scores[block] = np.where(finite, table.scores, scores[block])
    if table.fit_times is not None:
        timed = np.isfinite(table.fit_times)
        times[block] = np.where(timed, table.fit_times, times[block])
