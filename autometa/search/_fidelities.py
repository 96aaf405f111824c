"""The cheaper splits of a holdout's row fidelities.

A strategy's ``fidelities`` are fractions of the holdout's training rows
(:func:`autometa.contract.row_fidelities`); here they become splits, drawn once per
search (seeded and stratified, as the meta-features' subsamples are) so that every trial
steps through the same rows and a pruner compares like with like. They are scored on at
most :data:`MAX_FIDELITY_VALIDATION_ROWS` of the validation rows: a cheap fit should not
wait for the prediction of a quarter of a large table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autometa.contract._task import Task
from autometa.search._evaluation import Splits
from autometa.search._subsample import stratified_subsample

MAX_FIDELITY_VALIDATION_ROWS = 10_000
"""The cheaper fidelities are scored on at most this many of the validation rows (the
same ones for every trial and fidelity); the full fit is scored on all of them."""


def fidelity_splits(
    task: Task, splits: Splits, fidelities: Sequence[float], seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """``(train, valid)`` of each fidelity, smallest first: subsamples of the holdout's.

    Only a single split (a holdout) has fidelities: with a user's ``cv`` of several
    splits, which a strategy cannot override, the folds are the steps and there are none.
    A fraction that would keep fewer than two rows per class, or all rows, is skipped.
    """
    if not fidelities or len(splits) != 1:
        return ()
    train, valid = (np.asarray(part) for part in splits[0])
    valid = valid[
        stratified_subsample(task.y[valid], task.kind, MAX_FIDELITY_VALIDATION_ROWS, seed)
    ]
    floor = 2 * len(task.classes) if task.classes is not None else 2
    rungs = []
    for fraction in fidelities:
        size = round(fraction * len(train))
        if size < floor or size >= len(train):
            continue
        rungs.append((train[stratified_subsample(task.y[train], task.kind, size, seed)], valid))
    return tuple(rungs)
