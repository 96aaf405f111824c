"""First-party strategy selectors, registered through the ``autometa`` entry-point group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from autometa.hookspecs import hookimpl
from autometa.types import Strategy

if TYPE_CHECKING:
    from autometa.knowledge import KnowledgeBase
    from autometa.task import Task

CV_ROWS = 2_000
"""Up to this many rows, 5-fold CV: small data needs every row for a stable estimate."""
THREE_FOLD_ROWS = 10_000
"""Up to this many rows, 3-fold CV; above, one stratified 75/25 holdout split."""
N_WARM_STARTS = 10
PREFERRED_LEARNER = "nearest_tasks"


def rule_based_strategy(
    task: Task, knowledge: KnowledgeBase, meta_learners: Sequence[str]
) -> Strategy:
    """Validation by size, nearest-tasks warm starts when the knowledge base has peers."""
    if task.n_rows <= CV_ROWS:
        validation, n_splits, why = "cv", 5, f"{task.n_rows} rows <= {CV_ROWS}: 5-fold CV"
    elif task.n_rows <= THREE_FOLD_ROWS:
        validation, n_splits, why = "cv", 3, f"{task.n_rows} rows: 3-fold CV"
    else:
        validation, n_splits, why = "holdout", 3, f"{task.n_rows} rows: 25% holdout"
    peers = len(knowledge.tasks(kind=task.kind))
    if PREFERRED_LEARNER in meta_learners and peers:
        return Strategy(
            PREFERRED_LEARNER,
            N_WARM_STARTS,
            "tpe",
            validation,  # type: ignore[arg-type]
            n_splits,
            reason=f"rule-based: {peers} earlier {task.kind} tasks -> {PREFERRED_LEARNER}; {why}",
        )
    return Strategy(
        None,
        0,
        "tpe",
        validation,  # type: ignore[arg-type]
        n_splits,
        reason=f"rule-based: no earlier {task.kind} tasks or no learner -> cold TPE; {why}",
    )


@hookimpl(trylast=True)
def autometa_select_strategy(
    task: Task,
    meta_features: Mapping[str, float],
    knowledge: KnowledgeBase,
    meta_learners: Sequence[str],
) -> Strategy:
    return rule_based_strategy(task, knowledge, meta_learners)
