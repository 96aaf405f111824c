"""Platt scaling of a binary ensemble's probabilities when the fit's scoring only ranks.

Ensemble selection optimises the fit's own scoring. For a ranking scorer (ROC AUC,
average precision) that leaves the probabilities' scale free, and averaging members
pulls them towards the middle: the ensemble ranks well but its log loss can be worse
than its best member's. A monotone map of the positive class's probability changes no
ranking, so it is fitted afterwards on the same out-of-fold predictions the selection
used: p' = sigmoid(a * logit(p) + b) with a > 0, a and b minimising log loss (Platt's
sigmoid on the logit). The identity (a=1, b=0) is the starting point and is kept unless
the fit lowers the validation log loss with a > 0, so calibration never raises it.

The logit is taken as ``log(p1) - log(p0)`` from both columns, so probabilities near 0
or 1 keep their order, and both calibrated columns are computed as sigmoids of their own
(``expit(t)`` and ``expit(-t)``), so neither loses precision to ``1 - p``. Only
probabilities within about 1e-16 of 0 or 1 after calibration can merge into ties.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.metrics import log_loss

RANKING_SCORERS = frozenset(
    {
        "roc_auc",
        "roc_auc_ovr",
        "roc_auc_ovo",
        "roc_auc_ovr_weighted",
        "roc_auc_ovo_weighted",
        "average_precision",
    }
)
"""scikit-learn scorer names that depend on a binary task's probabilities only through
their order: any monotone map of the positive class's probability scores the same."""

_TINY = 1e-300
"""Probabilities are floored here before the logarithm: an exact 0 (e.g. a member that
only predicts labels) gets a finite logit that still sorts below every positive one."""


def ranks_only(scoring: str, classes: np.ndarray | None) -> bool:
    """Whether ``scoring`` on this task sees probabilities only through their order."""
    return classes is not None and len(classes) == 2 and scoring in RANKING_SCORERS


def positive_logit(proba: np.ndarray) -> np.ndarray:
    """``log(p1 / p0)`` per row of two-column probabilities (rows need not sum to 1)."""
    floored = np.maximum(np.asarray(proba, dtype=float), _TINY)
    return np.asarray(np.log(floored[:, 1]) - np.log(floored[:, 0]))


def calibrate(proba: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """Two-column probabilities sigmoid(slope * logit + intercept) for the positive class."""
    t = slope * positive_logit(proba) + intercept
    return np.column_stack([expit(-t), expit(t)])


@dataclass(frozen=True)
class PlattFit:
    """The outcome of :func:`fit_platt`: a map to apply, or why the raw ones are kept."""

    slope: float | None
    """a in sigmoid(a * logit(p) + b); None when the raw probabilities are kept."""
    intercept: float
    log_loss_before: float
    """Log loss of the raw probabilities on the rows the fit used."""
    log_loss_after: float
    """Log loss after calibration (equal to before when the raw ones are kept)."""
    reason: str | None = None
    """Why the raw probabilities are kept, when they are."""

    @property
    def parameters(self) -> tuple[float, float] | None:
        """(a, b) to apply, or None."""
        return None if self.slope is None else (self.slope, self.intercept)


def fit_platt(proba: np.ndarray, positive: np.ndarray) -> PlattFit:
    """Fit a > 0 and b minimising the log loss of sigmoid(a * logit(p) + b) on ``positive``.

    ``proba`` are two-column probabilities, ``positive`` whether each row's label is the
    second class. The raw probabilities are kept (``slope`` None) when both labels are
    not present, the fit fails or gives a <= 0, or it does not lower the log loss
    measured as scikit-learn measures it.
    """
    proba = np.asarray(proba, dtype=float)
    target = np.asarray(positive, dtype=bool)
    sums = proba.sum(axis=1, keepdims=True)
    raw = np.divide(proba, sums, out=np.full_like(proba, 0.5), where=sums > 0)
    before = _log_loss(raw, target)

    def keep(reason: str) -> PlattFit:
        return PlattFit(None, 0.0, before, before, reason)

    if target.all() or not target.any():
        return keep("the validation rows hold one class")
    z = positive_logit(proba)
    if not np.isfinite(z).all():
        return keep("the probabilities are not all finite")
    y = target.astype(float)

    def loss_and_gradient(ab: np.ndarray) -> tuple[float, np.ndarray]:
        t = ab[0] * z + ab[1]
        residual = expit(t) - y
        loss = float(np.mean(np.logaddexp(0.0, t) - y * t))
        return loss, np.array([np.mean(residual * z), np.mean(residual)])

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = minimize(loss_and_gradient, np.array([1.0, 0.0]), jac=True, method="BFGS")
    except Exception as exc:  # a failed fit keeps what the selection chose
        return keep(f"the fit failed: {type(exc).__name__}: {exc}")
    slope, intercept = (float(v) for v in result.x)
    if not (math.isfinite(slope) and math.isfinite(intercept)):
        return keep("the fit did not converge")
    if slope <= 0:
        return keep(f"the fitted slope a={slope:.3g} is not positive")
    after = _log_loss(calibrate(proba, slope, intercept), target)
    if not after < before:
        return keep("calibration would not lower the validation log loss")
    return PlattFit(slope, intercept, before, after)


def _log_loss(proba: np.ndarray, positive: np.ndarray) -> float:
    return float(log_loss(positive.astype(int), proba, labels=[0, 1]))


__all__ = ["RANKING_SCORERS", "PlattFit", "calibrate", "fit_platt", "positive_logit", "ranks_only"]
