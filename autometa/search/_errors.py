"""The errors a fit raises when its search leaves nothing to predict with (public API)."""

from __future__ import annotations


class BudgetTooSmallError(ValueError):
    """The time budget ran out before a single configuration could be evaluated."""


class AllTrialsFailedError(ValueError):
    """Every configuration tried failed; the distinct errors are in the message.

    A ValueError, as scikit-learn's when all fits of a cross-validation fail: the cause
    is nearly always in the data or the settings (scoring, cv) rather than in autometa.
    """
