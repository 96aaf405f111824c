"""Checks of what a fit may be given per row besides X and y: weights and groups, and
the class weights that weigh rows by their class.

:meth:`Task.from_data <autometa.contract.Task.from_data>` and the estimators' ``fit``
run them before any work, so a bad weight fails with its fix, not deep in a worker.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real
from typing import Any, Literal

import numpy as np
import pandas as pd

ClassWeight = Literal["balanced"] | Mapping[Any, float] | None
"""What ``class_weight`` may be, as in scikit-learn: None (every class weighs 1),
``"balanced"`` (each class weighs the same in training, as scikit-learn's
``compute_sample_weight("balanced", y)``) or a mapping ``{class label: weight}`` of
finite, non-negative weights (classes not named weigh 1). A training row weighs its
class's weight (times its ``sample_weight``); scorers never use class weights."""


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


def check_class_weight(
    class_weight: Any, classification: bool | None = None, classes: np.ndarray | None = None
) -> ClassWeight:
    """``class_weight`` checked, as the task keeps it: None, ``"balanced"``, or a dict of
    float weights keyed by plain Python labels (an empty mapping names no class: None).

    ``classification`` False refuses any class weighting (None: the kind is not known
    yet). With the task's ``classes``, every label must be one of them and two classes
    at least must keep a positive weight: checked where the task is built, before any
    work, rather than in a training fold.
    """
    checked: ClassWeight
    if isinstance(class_weight, Mapping):
        checked = _checked_weights(class_weight) or None
    elif class_weight is None or (isinstance(class_weight, str) and class_weight == "balanced"):
        checked = None if class_weight is None else "balanced"
    else:
        raise ValueError(
            "class_weight must be None, 'balanced' or a dict {class label: weight} such as "
            f"{{0: 1.0, 1: 5.0}} (classes not named weigh 1), got {class_weight!r}."
        )
    if checked is not None and classification is False:
        raise ValueError(
            f"class_weight={class_weight!r} weighs classes, and this is a regression task; "
            "drop class_weight, or pass sample_weight= to fit for weights of your own."
        )
    if isinstance(checked, Mapping) and classes is not None:
        _check_labels(checked, classes)
    return checked


def _checked_weights(class_weight: Mapping[Any, Any]) -> dict[Any, float]:
    """The mapping's weights as floats (finite, non-negative), its labels as plain Python
    values (``np.int64(1)`` as ``1``), so equal dicts make equal task ids."""
    checked: dict[Any, float] = {}
    for label, weight in class_weight.items():
        if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, Real):
            raise TypeError(
                f"class_weight's weights must be numbers; class {_plain(label)!r} has "
                f"{weight!r}. Give each class named a number of 0 or more."
            )
        value = float(weight)
        if not math.isfinite(value) or value < 0:
            raise ValueError(
                f"class_weight gives class {_plain(label)!r} the weight {value!r}; a class "
                "weight must be a finite number of 0 or more (0 leaves the class's rows "
                "out of training)."
            )
        checked[_plain(label)] = value
    return checked


def _check_labels(class_weight: Mapping[Any, float], classes: np.ndarray) -> None:
    """Every label is a class of y, and two classes at least weigh more than 0."""
    known = classes.tolist()
    unknown = [label for label in class_weight if label not in known]
    if unknown:
        raise ValueError(
            f"class_weight names {_shown(unknown)}, which "
            f"{'is not a class' if len(unknown) == 1 else 'are not classes'} of y; the "
            f"classes are {_shown(known)}. Key class_weight by "
            "these labels, with their type (1 and '1' differ)."
        )
    positive = [c for c in known if class_weight.get(c, 1.0) > 0]
    if not positive:
        raise ValueError(
            f"class_weight gives every class the weight 0 ({dict(class_weight)!r}): no row "
            "would count in training. Give at least two classes a positive weight."
        )
    if len(positive) < 2:
        raise ValueError(
            f"class_weight leaves a single class with a positive weight ({positive[0]!r}); a "
            "classifier needs rows of at least two classes. Give another class a positive "
            "weight."
        )


def _shown(labels: list[Any]) -> str:
    """The first ten labels, as a list a user can read."""
    return f"{labels[:10]!r}" + (f" (and {len(labels) - 10} more)" if len(labels) > 10 else "")


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds; anything else as it is."""
    return value.item() if isinstance(value, np.generic) else value


def class_weight_text(class_weight: ClassWeight) -> str:
    """``class_weight`` as text that does not depend on a dict's order: its items sorted
    by their labels' text (then their ``repr``, so ``1`` and ``'1'`` never tie)."""
    if not isinstance(class_weight, Mapping):
        return str(class_weight)  # None or "balanced", as task ids have always had them
    items = sorted(class_weight.items(), key=lambda item: (str(item[0]), repr(item[0])))
    return "{" + ", ".join(f"{label!r}: {weight!r}" for label, weight in items) + "}"


def class_weight_dict(class_weight: ClassWeight) -> Mapping[Any, float] | None:
    """The per-class weights of a dict ``class_weight``; None for None or "balanced"
    (which weighs every class more than 0)."""
    return class_weight if isinstance(class_weight, Mapping) else None
