"""An example third-party autometa plugin: one algorithm and one meta-feature group.

Installed, it is found through its entry point (``[project.entry-points.autometa]
example = "autometa_example_plugin"``) and joins every fit; ``blocked=["example"]``
leaves it out. It implements two hooks of :mod:`autometa.contract.hookspecs`:

``autometa_algorithms`` offers ``lda``: scikit-learn's
:class:`~sklearn.discriminant_analysis.LinearDiscriminantAnalysis` for classification,
searched over covariance shrinkage. Without shrinkage (its default) LDA is the classic
linear classifier for roughly Gaussian classes; with Ledoit-Wolf or a fixed shrinkage
the within-class covariance estimate stays well conditioned when there are few rows
per feature, where unregularised LDA overfits badly. It is cheap (one pass over the
data) and has calibrated-enough ``predict_proba``, so it makes a useful fast baseline
that the shipped catalogue does not have.

``autometa_meta_features`` adds two cheap descriptions of the numeric columns,
computed on a seeded sample of at most :data:`MAX_SAMPLE_ROWS` rows (so their cost does
not grow with the data) and NaN where undefined:

* ``example_integer_fraction``: the share of numeric columns whose observed values are
  all whole numbers (counts, codes, ordinal scales), which tree models and linear
  models treat very differently;
* ``example_mean_abs_correlation``: the mean absolute Pearson correlation over pairs of
  numeric columns (at most :data:`MAX_CORRELATION_COLUMNS` of them), a measure of
  redundancy that favours regularised and projection-based models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from sklearn.compose import ColumnTransformer
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import autometa
from autometa.contract import Algorithm, Task

__all__ = [
    "LDA",
    "LDA_DEFAULTS",
    "MAX_CORRELATION_COLUMNS",
    "MAX_SAMPLE_ROWS",
    "autometa_algorithms",
    "autometa_meta_features",
    "make_lda",
    "meta_features",
]

# -- the algorithm ---------------------------------------------------------------------------
SHRINKAGE_MODES = ("none", "ledoit_wolf", "fixed")
"""``none``: no shrinkage (scikit-learn's default); ``ledoit_wolf``: the analytic
Ledoit-Wolf shrinkage; ``fixed``: shrinkage by the ``shrinkage`` parameter.

Every mode uses the least-squares solver. Without shrinkage it fits the same model as
scikit-learn's default SVD solver (identical scores on the bundled datasets), but it
also copes with a training fold in which no feature varies within the classes, where
the SVD solver raises; such a fold then predicts the class priors."""

LDA_DEFAULTS: dict[str, Any] = {"shrinkage_mode": "none", "shrinkage": 0.5}
"""scikit-learn's defaults; ``shrinkage`` is used by ``shrinkage_mode='fixed'`` only."""

MAX_ONE_HOT_LEVELS = 20
"""Each categorical column becomes at most this many indicator columns (rare levels
pooled), which keeps the covariance matrix small."""


def lda_space(task: Task) -> dict[str, BaseDistribution]:
    """The search space of ``lda`` (the same for every classification task)."""
    return {
        "shrinkage_mode": CategoricalDistribution(SHRINKAGE_MODES),
        "shrinkage": FloatDistribution(0.0, 1.0),
    }


def _preprocessor(task: Task) -> ColumnTransformer:
    """Median-impute and standardise numbers; one-hot encode categories, missing as a level."""
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            (
                "impute",
                SimpleImputer(
                    strategy="constant", fill_value="__missing__", keep_empty_features=True
                ),
            ),
            (
                "encode",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    max_categories=MAX_ONE_HOT_LEVELS,
                    sparse_output=False,
                ),
            ),
        ]
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, list(task.schema.numeric)),
            ("categorical", categorical, list(task.schema.categorical)),
        ],
        sparse_threshold=0.0,
    )


def make_lda(params: Mapping[str, Any], task: Task) -> Pipeline:
    """An unfitted ``preprocess -> LinearDiscriminantAnalysis`` pipeline for ``params``."""
    unknown = sorted(set(params) - set(LDA_DEFAULTS))
    if unknown:
        raise ValueError(f"Algorithm 'lda' has no hyperparameters {unknown}.")
    p = {**LDA_DEFAULTS, **params}
    mode = p["shrinkage_mode"]
    if mode == "none":
        model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=None)
    elif mode == "ledoit_wolf":
        model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
    elif mode == "fixed":
        model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=float(p["shrinkage"]))
    else:
        raise ValueError(f"shrinkage_mode must be one of {SHRINKAGE_MODES}, got {mode!r}.")
    return Pipeline([("preprocess", _preprocessor(task)), ("model", model)])


LDA = Algorithm(
    name="lda",
    kinds=("binary", "multiclass"),
    make_estimator=make_lda,
    search_space=lda_space,
    default_params=dict(LDA_DEFAULTS),
)


def lda_offered(task: Task) -> bool:
    """LDA needs more training rows than classes; with 2-fold CV (the fewest rows a
    training fold gets) that means more than twice as many rows as classes."""
    return task.is_classification and task.n_rows // 2 > len(np.asarray(task.classes))


@autometa.hookimpl
def autometa_algorithms(task: Task) -> list[Algorithm]:
    """``lda`` for classification tasks large enough for it; nothing otherwise."""
    return [LDA] if lda_offered(task) else []


# -- the meta-features -----------------------------------------------------------------------
MAX_SAMPLE_ROWS = 2_000
"""Rows the meta-features look at, sampled with a fixed seed."""

MAX_CORRELATION_COLUMNS = 50
"""Numeric columns the correlation looks at (a fixed-seed choice): 1,225 pairs at most."""

SEED = 0
"""Fixed, so the same data always gets the same meta-features, whatever the search seed."""


def _numeric_sample(task: Task) -> pd.DataFrame:
    """The numeric columns of at most MAX_SAMPLE_ROWS rows; all-missing columns dropped."""
    rows = task.X
    if len(rows) > MAX_SAMPLE_ROWS:
        rows = rows.sample(MAX_SAMPLE_ROWS, random_state=SEED)
    return rows.loc[:, list(task.schema.numeric)].dropna(axis=1, how="all")


def integer_fraction(numeric: pd.DataFrame) -> float:
    """Share of columns whose observed values are all whole numbers; NaN without columns."""
    if numeric.shape[1] == 0:
        return float("nan")
    values = numeric.to_numpy(dtype=float)
    whole = np.isnan(values) | (np.mod(values, 1.0) == 0.0)
    return float(whole.all(axis=0).mean())


def mean_abs_correlation(numeric: pd.DataFrame) -> float:
    """Mean |Pearson r| over column pairs (pairwise complete rows); NaN if no pair has one.

    Constant columns have no correlation and are left out.
    """
    if numeric.shape[1] > MAX_CORRELATION_COLUMNS:
        rng = np.random.default_rng(SEED)
        keep = np.sort(rng.choice(numeric.shape[1], MAX_CORRELATION_COLUMNS, replace=False))
        numeric = numeric.iloc[:, keep]
    if numeric.shape[1] < 2:
        return float("nan")
    with np.errstate(all="ignore"):
        matrix = numeric.corr(method="pearson", min_periods=3).to_numpy()
    pairs = np.abs(matrix[np.triu_indices_from(matrix, k=1)])
    pairs = pairs[np.isfinite(pairs)]
    return float(np.clip(pairs.mean(), 0.0, 1.0)) if pairs.size else float("nan")


def meta_features(task: Task) -> dict[str, float]:
    """The ``example_*`` meta-features of ``task`` (see the module docstring)."""
    numeric = _numeric_sample(task)
    return {
        "example_integer_fraction": integer_fraction(numeric),
        "example_mean_abs_correlation": mean_abs_correlation(numeric),
    }


@autometa.hookimpl
def autometa_meta_features(task: Task) -> dict[str, float]:
    """The ``example_*`` meta-features; timed by autometa as the group ``example``."""
    return meta_features(task)
