"""Checks of what a fit may be given per row besides X and y: weights and groups.

:meth:`Task.from_data <autometa.contract.Task.from_data>` and the estimators' ``fit``
run them before any work, so a bad weight fails with its fix, not deep in a worker.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

CLASS_WEIGHTS = (None, "balanced")
"""What ``class_weight`` may be: None, or ``"balanced"`` (each class weighs the same in
training, as scikit-learn's ``compute_sample_weight("balanced", y)``)."""


def check_sample_weight(sample_weight: Any, n_rows: int) -> np.ndarray:
    """``sample_weight`` as float64 weights, one per row: finite, non-negative, not all
    zero."""
    if isinstance(sample_weight, pd.DataFrame):
        raise TypeError("sample_weight must be one weight per row (1-D), not a DataFrame.")
    weights = np.asarray(sample_weight)
    if weights.ndim != 1 or len(weights) != n_rows:
        raise ValueError(
            f"sample_weight must have one weight per row of X ({n_rows}); got shape "
            f"{weights.shape}."
        )
    try:
        weights = weights.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"sample_weight must be numbers; got values of dtype {weights.dtype}."
        ) from None
    bad = int((~np.isfinite(weights)).sum())
    if bad:
        raise ValueError(
            f"sample_weight has {bad} missing or infinite values; give every row a finite "
            "weight (0 leaves a row out)."
        )
    if (weights < 0).any():
        raise ValueError(
            f"sample_weight has {int((weights < 0).sum())} negative values; weights must "
            "be 0 or more."
        )
    if not (weights > 0).any():
        raise ValueError(
            "sample_weight is zero everywhere: no row would count. Give some "
            "rows a positive weight."
        )
    return weights


def check_groups(groups: Any, n_rows: int) -> np.ndarray:
    """``groups`` as integer codes, one per row, without missing values, two groups at
    least (rows of one group are never split between training and validation)."""
    values = np.asarray(groups, dtype=object)
    if values.ndim != 1 or len(values) != n_rows:
        raise ValueError(
            f"groups must have one group label per row of X ({n_rows}); got shape {values.shape}."
        )
    codes, uniques = pd.factorize(pd.Series(values), use_na_sentinel=True)
    missing = int((codes < 0).sum())
    if missing:
        raise ValueError(
            f"groups has {missing} missing values; give every row a group (e.g. its own "
            "id for a row that shares a group with no other)."
        )
    if len(uniques) < 2:
        raise ValueError(
            f"groups has a single group ({uniques[0]!r}): validation by groups needs two "
            "groups at least."
        )
    return np.asarray(codes, dtype=np.int64)


def check_class_weight(class_weight: Any, classification: bool | None = None) -> None:
    """``class_weight`` is None or ``"balanced"``, and balanced only for classification
    (``classification`` None: the kind is not known yet)."""
    if class_weight not in CLASS_WEIGHTS:
        raise ValueError(
            f"class_weight must be None or 'balanced', got {class_weight!r}. For weights "
            "of your own, pass sample_weight= to fit."
        )
    if class_weight is not None and classification is False:
        raise ValueError(
            "class_weight='balanced' weighs classes, and this is a regression task; "
            "drop class_weight, or pass sample_weight= to fit for weights of your own."
        )
