"""What a task's data must satisfy, and the kind inferred from its target.

The checks :meth:`Task.from_data <autometa.contract.Task.from_data>` runs: each refuses
bad input with an error that names the problem and the fix.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import get_scorer, get_scorer_names, log_loss, make_scorer

from autometa.contract._kinds import TaskKind

# Logged under the task module's name, where these checks were first written.
logger = logging.getLogger("autometa.contract._task")


DEFAULT_SCORING: dict[TaskKind, str] = {
    "binary": "roc_auc",
    "multiclass": "neg_log_loss",
    "regression": "r2",
}
"""Default ``scoring`` per kind: threshold-free for classification, scale-free for regression."""

MAX_CLASSES_FROM_INTEGERS = 20
"""An integer-valued numeric target with at most this many values is taken as classes."""
BORDERLINE_CLASSES_FROM_INTEGERS = 10
"""Above this many integer values, taking them as classes is a guess worth a warning."""

REGRESSION_SCORERS = frozenset(
    {
        "d2_absolute_error_score",
        "explained_variance",
        "neg_max_error",
        "neg_mean_absolute_error",
        "neg_mean_absolute_percentage_error",
        "neg_mean_gamma_deviance",
        "neg_mean_poisson_deviance",
        "neg_mean_squared_error",
        "neg_mean_squared_log_error",
        "neg_median_absolute_error",
        "neg_root_mean_squared_error",
        "neg_root_mean_squared_log_error",
        "r2",
    }
)
"""scikit-learn's scorers of continuous predictions; every other registered scorer
compares labels or class probabilities. A scorer says what the user wants predicted,
so it decides the task kind before any guess from the target's values."""


def infer_kind(y: np.ndarray, scoring: str | None = None) -> TaskKind:
    """The task kind of target ``y``, taking the user's ``scoring`` as the first clue.

    A regression scorer (:data:`REGRESSION_SCORERS`) means regression, any other
    scorer classification (binary for two values, else multiclass). Without a scorer:
    binary for two values; multiclass for labels or for at most
    :data:`MAX_CLASSES_FROM_INTEGERS` integer values, unless one of those values occurs
    only once (a class no split can validate: counts, most likely); else regression (also
    for two numbers with a fraction, such as 0.0 and 1.5: no classifier takes those).
    A guess that could go either way is logged and warned about with the fix.
    """
    values, counts = np.unique(y, return_counts=True) if y.dtype.kind != "O" else _counts(y)
    labels = y.dtype.kind in "OUSb"
    if scoring is not None:
        if scoring not in REGRESSION_SCORERS:
            return "binary" if len(values) == 2 else "multiclass"
        if labels:
            raise ValueError(
                f"scoring={scoring!r} scores a regression, but y holds labels "
                f"({_plain(values[0])!r}, ...). Pass a classification scorer, or a numeric y."
            )
        return "regression"
    numeric = None if labels else y.astype(float)
    is_integer = numeric is not None and bool(np.all(np.equal(np.mod(numeric, 1), 0)))
    if len(values) == 2 and (labels or is_integer):
        return "binary"
    if labels:
        return "multiclass"
    if not is_integer or len(values) > MAX_CLASSES_FROM_INTEGERS:
        return "regression"
    if counts.min() < 2:
        _warn_kind(
            f"y holds {len(values)} integer values, some of them on a single row: taken "
            "as a regression target (counts or ratings), not as classes. Pass "
            "kind='multiclass' to treat them as classes."
        )
        return "regression"
    if len(values) > BORDERLINE_CLASSES_FROM_INTEGERS:
        _warn_kind(
            f"y holds {len(values)} integer values: taken as classes (multiclass). If they "
            "are counts or ratings, pass kind='regression' or a regression scoring "
            "such as scoring='r2'."
        )
    return "multiclass"


def classifier_kind(y: Any, scoring: str | None = None) -> TaskKind | None:
    """The kind a classifier makes of target ``y``: ``"binary"`` for two labels, else
    ``"multiclass"``, whatever the labels (integers seen once included, which
    :func:`infer_kind` would take for counts).

    A target of numbers with a fraction is refused in scikit-learn's words ("Unknown
    label type: continuous"): a classifier cannot learn it. None leaves the kind to
    :meth:`Task.from_data <autometa.contract.Task.from_data>`: for a regression
    ``scoring`` (whose mismatch it names) and for a target it refuses anyway (None,
    empty, not 1-D, with missing or infinite values).
    """
    if scoring in REGRESSION_SCORERS or y is None:
        return None
    values = np.asarray(y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else y)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.ravel()
    if values.ndim != 1 or len(values) == 0 or values.dtype.kind == "c":
        return None
    if values.dtype.kind == "f":
        if not np.isfinite(values).all():
            return None
        if not np.all(np.equal(np.mod(values, 1), 0)):
            fraction = next(v for v in values if v % 1)
            raise ValueError(
                f"Unknown label type: continuous (y holds numbers with a fraction, such as "
                f"{_plain(fraction)!r}). A classifier needs class labels: use "
                "AutoMetaRegressor for a numeric target, or convert the labels."
            )
    if values.dtype.kind == "O" and pd.isna(values).any():
        return None
    return "binary" if len(pd.unique(values)) == 2 else "multiclass"


def _counts(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique`` with counts for object arrays, whose values need not be orderable."""
    table = pd.Series(y).value_counts(sort=False)
    return table.index.to_numpy(), table.to_numpy()


def _warn_kind(message: str) -> None:
    logger.warning(message)
    warnings.warn(message, UserWarning, stacklevel=4)


def _check_kind_fits_scoring(kind: TaskKind, scoring: str | None) -> None:
    """A kind the user gave must agree with the scorer the user gave."""
    if scoring is None or (kind == "regression") == (scoring in REGRESSION_SCORERS):
        return
    wanted = "regression" if scoring in REGRESSION_SCORERS else "classification"
    raise ValueError(
        f"kind={kind!r} does not fit scoring={scoring!r}, a {wanted} scorer. Pass a "
        f"scorer for a {kind} task (default: {DEFAULT_SCORING[kind]!r}) or the kind "
        "the scorer is made for."
    )


FLOAT32_MAX = float(np.finfo(np.float32).max)
"""scikit-learn's tree models work in float32: larger magnitudes cannot be used."""


def _check_numeric_range(frame: pd.DataFrame, numeric: Sequence[str]) -> None:
    if not numeric:
        return
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(frame.loc[:, list(numeric)].to_numpy(dtype=float))
    infinite = [c for c, bad in zip(numeric, np.isinf(magnitude).any(axis=0), strict=True) if bad]
    if infinite:
        raise ValueError(
            f"X has infinite values in columns {infinite[:10]}. Replace them with NaN "
            "(treated as missing) or a finite value."
        )
    huge = [c for c, bad in zip(numeric, (magnitude > FLOAT32_MAX).any(axis=0), strict=True) if bad]
    if huge:
        raise ValueError(
            f"X has values beyond ±{FLOAT32_MAX:.1e} in columns {huge[:10]}, outside the "
            "float32 range scikit-learn's tree models compute in. Rescale those columns "
            "(e.g. a log transform) or clip them."
        )


def _check_classes(kind: TaskKind, classes: np.ndarray, counts: np.ndarray) -> None:
    if len(classes) < 2:
        raise ValueError(
            f"y has a single class ({classes[0]!r}); a classifier needs at least two. "
            "Check the target column, or pass kind='regression' for a numeric target."
        )
    if classes.dtype.kind == "f" and not np.all(np.equal(np.mod(classes, 1), 0)):
        fraction = next(c for c in classes if c % 1)
        raise ValueError(
            f"y holds numbers with a fraction ({_plain(fraction)!r}) as class labels, which "
            "scikit-learn's classifiers refuse. Pass kind='regression' (or a regression "
            "scoring) for a numeric target, or convert the labels (e.g. y.astype(str))."
        )
    if kind == "binary" and len(classes) != 2:
        raise ValueError(f"kind='binary' but y has {len(classes)} classes; use kind='multiclass'.")
    lonely = [_plain(c) for c, n in zip(classes, counts, strict=True) if n < 2]
    if not lonely:
        return
    if kind == "binary" or len(classes) - len(lonely) < 2:
        raise ValueError(
            f"Classes {lonely[:10]} have a single row; validating needs two classes with "
            "at least two rows each. Drop those rows or merge the classes."
        )
    warnings.warn(
        f"Classes {lonely[:10]} have a single row: each such row is kept in every training "
        "fold and never validated, so models learn the class exists but no score measures "
        "it. Merge rare classes if that matters.",
        UserWarning,
        stacklevel=3,
    )


def _check_weighted_classes(
    y: np.ndarray, weights: np.ndarray | None, class_weight: Mapping[Any, float] | None = None
) -> None:
    """Weights must leave two classes in play: with zero weight on every row of all
    classes but one, no classifier learns anything and no score can be computed.

    ``class_weight`` (a checked dict) takes the classes it weighs 0 out of play too:
    together with ``sample_weight`` it may leave a single class, as neither alone does.
    """
    if weights is None:
        return
    weighted = [
        c for c in np.unique(y[weights > 0]).tolist() if (class_weight or {}).get(c, 1.0) > 0
    ]
    if len(weighted) < 2:
        given = "sample_weight" if class_weight is None else "sample_weight with class_weight"
        left = f"a single class with positive weight ({weighted[0]!r})" if weighted else "no row"
        raise ValueError(
            f"{given} leaves {left}; a classifier needs rows of at least two classes. "
            "Give rows of another class a positive weight."
        )


def scorer_for(scoring: str, classes: np.ndarray | None) -> Any:
    """scikit-learn's scorer ``scoring``, told every class when it is log loss.

    A validation part may lack a class (one kept in training only, see
    :class:`~autometa.contract._splitters.TrainingOnlyRows`); log loss then needs the
    full list of classes to match the probability columns to them.
    """
    if scoring == "neg_log_loss" and classes is not None:
        return make_scorer(
            log_loss,
            greater_is_better=False,
            response_method="predict_proba",
            labels=list(classes),
        )
    return get_scorer(scoring)


def _check_scoring(scoring: str) -> None:
    if not isinstance(scoring, str):
        raise TypeError(f"scoring must be a scikit-learn scorer name, got {scoring!r}.")
    try:
        get_scorer(scoring)
    except ValueError:
        close = [s for s in get_scorer_names() if scoring.lower() in s][:5]
        hint = f" Did you mean one of {close}?" if close else ""
        raise ValueError(
            f"scoring={scoring!r} is not a scikit-learn scorer name.{hint} "
            "See sklearn.metrics.get_scorer_names()."
        ) from None


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
