"""What a plugin may read of a knowledge base: read-only protocols, no storage.

Hooks and meta-learners receive the fit's knowledge base. They are promised only the
reads below, described structurally (:class:`typing.Protocol`), so the contract does not
depend on how or where the base is stored: :class:`autometa.knowledge.KnowledgeBase`
satisfies :class:`KnowledgeView`, and so does any object with these members (a test
double holding a few tasks in memory, a read-only proxy). Writing (adding tasks or
evaluations) is not part of the contract: a plugin learns from a base, it never changes
it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from autometa.contract._types import Config, Evaluation, TaskKind


@runtime_checkable
class TaskRecordView(Protocol):
    """An earlier task as a knowledge base describes it.

    ``meta_features`` maps names to floats (NaN where undefined); ``provenance`` says
    where the task came from (a JSON object).
    """

    @property
    def task_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> TaskKind: ...

    @property
    def scoring(self) -> str: ...

    @property
    def meta_features(self) -> Mapping[str, float]: ...

    @property
    def provenance(self) -> Mapping[str, Any]: ...


@runtime_checkable
class ScoreTableView(Protocol):
    """Scores of configurations (columns) on earlier tasks (rows), greater is better.

    ``scores[i, j]`` is the score of ``configs[j]`` on ``task_ids[i]``, NaN where the
    pair was not evaluated or failed. Scores of different tasks are not comparable;
    :meth:`normalized` scales each row to [0, 1] (1 is the task's best).
    """

    @property
    def task_ids(self) -> Sequence[str]: ...

    @property
    def configs(self) -> Sequence[Config]: ...

    @property
    def scores(self) -> npt.NDArray[np.float64]: ...

    @property
    def fit_times(self) -> npt.NDArray[np.float64] | None:
        """Seconds each ``ok`` or capped cell's evaluation took, NaN elsewhere (None: the
        base keeps no times)."""
        ...

    @property
    def shape(self) -> tuple[int, int]: ...

    def normalized(self) -> npt.NDArray[np.float64]:
        """Per-task min-max scaled copy of :attr:`scores` in [0, 1]; NaN stays NaN."""
        ...


@runtime_checkable
class KnowledgeView(Protocol):
    """The reads a hook or meta-learner may make of the fit's knowledge base.

    Every method is a pure read: calling it never changes the base. Results are sorted
    (tasks by id, configurations by key), so a learner built on them is deterministic.
    """

    @property
    def location(self) -> str:
        """Where the base lives (a path or database URL, passwords hidden); for messages
        and cache keys."""
        ...

    def __len__(self) -> int:
        """The number of earlier tasks (``len(knowledge)``; 0 for an empty base)."""
        ...

    def tasks(self, kind: TaskKind | None = None) -> Sequence[TaskRecordView]:
        """Every earlier task (or those of one kind), sorted by task id."""
        ...

    def task(self, task_id: str) -> TaskRecordView:
        """One earlier task; KeyError if the base does not have it."""
        ...

    def evaluations(
        self, task_id: str | None = None, *, kind: TaskKind | None = None
    ) -> Sequence[Evaluation]:
        """Evaluations (of one task, or of the tasks of one kind), with score, fit time and
        status, sorted by task id and configuration key."""
        ...

    def configs(self, algorithm: str | None = None) -> Sequence[Config]:
        """Every stored configuration (or those of one algorithm), sorted by key."""
        ...

    def score_table(
        self, kind: TaskKind | None = None, *, algorithms: Sequence[str] | None = None
    ) -> ScoreTableView:
        """The task x configuration matrix of successful scores (of ``kind``, restricted to
        ``algorithms`` when given)."""
        ...

    def metadata(self) -> Mapping[str, Any]:
        """What the base's builders stored about it (e.g. ``build.protocol``: the rows and
        folds its fit times were measured with)."""
        ...

    def counts(self) -> Mapping[str, int]:
        """``{"tasks": n, "configs": n, "evaluations": n}``."""
        ...

    def task_fingerprints(self) -> Mapping[str, str]:
        """A content hash of each task (what a meta-learner sees of it), by task id: a key
        for caching what is derived from the base."""
        ...

    def fingerprint(self, task_fingerprints: Mapping[str, str] | None = None) -> str:
        """A content hash of the whole base (pass :meth:`task_fingerprints` if already
        computed)."""
        ...
