"""Seeded, stratified row subsamples: what meta-features and cheap fidelities see.

One function, shared by the meta-features' bounded groups and the row fidelities of a
search (:mod:`autometa.search._fidelities`), so both draw rows the same way.
"""

from __future__ import annotations

import numpy as np

from autometa.contract._types import TaskKind


def stratified_subsample(y: np.ndarray, kind: TaskKind, max_rows: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``max_rows`` rows, drawn without replacement.

    Classification subsamples are stratified: each class keeps at least two rows (when
    ``2 * n_classes <= max_rows``), so stratified CV still works, and the remaining rows
    are shared out in proportion to class size by largest remainders.
    """
    n = len(y)
    if n <= max_rows:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if kind == "regression":
        # Sorted: the subsample keeps the table's row order, whatever order the draw gave.
        return np.sort(rng.choice(n, size=max_rows, replace=False))
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    floor = np.minimum(counts, 2) if 2 * len(classes) <= max_rows else np.zeros_like(counts)
    spare = counts - floor
    # spare.sum() > 0: it is n - floor.sum(), and n > max_rows >= floor.sum() (a floor is
    # kept only when 2 * n_classes <= max_rows).
    share = (max_rows - floor.sum()) * spare / spare.sum()
    extra = np.floor(share).astype(np.int64)
    short = max_rows - int(floor.sum()) - int(extra.sum())
    # Largest remainders first; a stable sort breaks ties by class order (deterministic).
    extra[np.argsort(-(share - extra), kind="stable")[:short]] += 1
    take = floor + extra
    chosen = [rng.permutation(np.flatnonzero(inverse == c))[: take[c]] for c in range(len(classes))]
    return np.sort(np.concatenate(chosen))
