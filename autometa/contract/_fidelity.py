"""How a strategy may step a trial: row fidelities for a holdout, and the pruner.

A :class:`~autometa.contract.Strategy` with ``fidelities`` fits each configuration on
growing stratified subsamples of the holdout's training rows before all of them, each
step scored on the same validation rows; its ``pruner`` (an Optuna pruner, ``"auto"``
or None) may stop the trial after any step. With k-fold CV the steps are the folds.
This module holds the rules both the strategy selectors and the search apply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from optuna.pruners import BasePruner, HyperbandPruner, SuccessiveHalvingPruner

AUTO_PRUNER = "auto"

FIDELITY_FACTOR = 3
"""Each row fidelity has this many times the rows of the one before (successive
halving's reduction factor)."""

MIN_FIDELITY_ROWS = 2_000
"""The cheapest fidelity fits on at least this many rows: the knowledge base's scores
come from fits on up to 2,000 rows, so configurations rank there as they were measured."""

MAX_CHEAPER_FIDELITIES = 3
"""At most this many fidelities come before the full training rows."""


def row_fidelities(
    n_train_rows: int,
    *,
    factor: int = FIDELITY_FACTOR,
    min_rows: int = MIN_FIDELITY_ROWS,
    max_steps: int = MAX_CHEAPER_FIDELITIES,
) -> tuple[float, ...]:
    """The fractions of ``n_train_rows`` a trial fits on before all of them, smallest first.

    ``1/factor``, ``1/factor**2``, ... while a fidelity keeps ``min_rows`` rows, at most
    ``max_steps`` of them: 150,000 training rows give (1/27, 1/9, 1/3), about 5,600,
    16,700 and 50,000 rows; 7,500 give (1/3,); 5,000 give none.
    """
    fractions = []
    for power in range(1, max_steps + 1):
        fraction = factor ** (-power)
        if n_train_rows * fraction < min_rows:
            break
        fractions.append(fraction)
    return tuple(sorted(fractions))


def check_fidelities(fidelities: Sequence[float], validation: str) -> tuple[float, ...]:
    """``fidelities`` as a tuple, refused unless strictly increasing in (0, 1) and for a
    holdout (with k-fold CV the steps of a trial are its folds)."""
    values = tuple(float(f) for f in fidelities)
    if not values:
        return values
    if validation != "holdout":
        raise ValueError(
            f"fidelities={values} need validation='holdout' (with {validation!r} the steps "
            "of a trial are its folds); pass validation='holdout' or fidelities=()."
        )
    if not all(math.isfinite(f) and 0 < f < 1 for f in values) or list(values) != sorted(
        set(values)
    ):
        raise ValueError(
            f"fidelities must be strictly increasing fractions of the training rows between "
            f"0 and 1 (the full rows come last on their own), e.g. (1/9, 1/3); got {values}."
        )
    return values


def check_pruner(pruner: Any) -> None:
    """Refuse what cannot prune a trial inside the worker that runs it.

    autometa decides on a replica of the study's finished trials (see
    ``autometa.search._pruning``); successive halving and Hyperband keep their rungs in
    the trials' system attributes and in the pruner object, which a replica cannot share.
    """
    if pruner is None or pruner == AUTO_PRUNER:
        return
    if isinstance(pruner, (SuccessiveHalvingPruner, HyperbandPruner)):
        raise ValueError(
            f"pruner={type(pruner).__name__}(...) cannot be used: autometa prunes inside the "
            "worker that runs a trial, on a replica of the study's finished trials, and this "
            "pruner keeps its rungs in state a replica cannot share. Use pruner='auto' "
            "(successive halving's promotion rule over row fidelities, Wilcoxon over folds), "
            "an optuna.pruners.PercentilePruner, MedianPruner or WilcoxonPruner, or None."
        )
    if not isinstance(pruner, BasePruner):
        raise TypeError(
            f"pruner must be 'auto', None or an optuna.pruners.BasePruner; got {pruner!r}."
        )
