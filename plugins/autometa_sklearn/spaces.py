"""Small constructors for the Optuna distributions the catalogue's spaces are made of.

Choices are JSON-safe scalars (str, int, float, bool, None) so that configurations can
be stored as data in a knowledge base.
"""

from __future__ import annotations

from optuna.distributions import (
    BaseDistribution,
    CategoricalChoiceType,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

Space = dict[str, BaseDistribution]


def log_float(low: float, high: float) -> FloatDistribution:
    """A float searched on a log scale (regularisation strengths, learning rates, ...)."""
    return FloatDistribution(low, high, log=True)


def uniform_float(low: float, high: float) -> FloatDistribution:
    return FloatDistribution(low, high)


def log_int(low: int, high: int) -> IntDistribution:
    """An integer searched on a log scale (neighbours, leaf sizes, iterations, widths)."""
    return IntDistribution(low, high, log=True)


def uniform_int(low: int, high: int) -> IntDistribution:
    return IntDistribution(low, high)


def choice(*options: CategoricalChoiceType) -> CategoricalDistribution:
    return CategoricalDistribution(options)


def pca_flag() -> CategoricalDistribution:
    """``pca``: insert ``PCA(n_components=0.95)`` after preprocessing (default False)."""
    return choice(False, True)
