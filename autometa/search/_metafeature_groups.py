"""The built-in meta-feature groups: one function per group, from shared task views.

Cheap groups (``general``, ``missing``, ``class``, ``symbols``, ``statistical``) read
the data as given; expensive ones (``landmarking``, ``pca``) fit models on the encoded
subsample. Each returns ``{feature name: value}``, NaN where a value is undefined;
:mod:`autometa.search._metafeatures` times them and merges their results.

Where autometa deliberately differs from auto-sklearn:

* Undefined quantities are NaN. auto-sklearn returns 0 for ``RatioNumericalToNominal``
  without categorical columns (and vice versa) and for the ``Symbols*`` and
  ``Skewness*``/``Kurtosis*`` statistics over an empty set of columns; 0 there would
  claim, for example, "columns have zero levels on average", which is false. The one
  exception is ``SymbolsSum``: the total number of levels of no columns is 0.
* Skewness and kurtosis are taken over the numeric columns of the data as given,
  ignoring missing cells (auto-sklearn took them over its one-hot encoded, imputed
  matrix, which mixes in 0/1 indicator columns).
* Landmarkers use a shuffled, stratified 3-fold CV on the subsample (auto-sklearn meant
  to stratify 5 folds but, through a bug, used unshuffled plain ``KFold``, on all rows);
  regression tasks get regression landmarkers scored by R².
* Landmarkers and PCA see the subsample imputed, one-hot encoded (rare levels pooled)
  and standardised, so PCA works on correlations rather than raw scales.

As in auto-sklearn, ``Percentage*`` features are fractions in [0, 1] and every STD is
the population standard deviation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.stats
from scipy.linalg import LinAlgError
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from autometa.search._metafeature_data import _TaskData

LANDMARK_FOLDS = 3
"""Cross-validation folds of the landmarkers (fewer when the smallest class is smaller)."""


# -- numeric helpers ---------------------------------------------------------------------
def _log(x: float) -> float:
    # log 0 is undefined, not -inf: NaN, like every undefined feature.
    return math.log(x) if x > 0 else math.nan


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator != 0 else math.nan


def _summary(prefix: str, values: np.ndarray) -> dict[str, float]:
    """``{prefix+Min/Max/Mean/STD: ...}`` over the finite entries of ``values``.

    NaN entries (undefined for that column) are skipped; with no finite entry left,
    every statistic is NaN. STD is the population standard deviation, as auto-sklearn's
    ``np.nanstd``.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {f"{prefix}{s}": math.nan for s in ("Min", "Max", "Mean", "STD")}
    return {
        f"{prefix}Min": float(finite.min()),
        f"{prefix}Max": float(finite.max()),
        f"{prefix}Mean": float(finite.mean()),
        f"{prefix}STD": float(finite.std()),
    }


# -- cheap groups ------------------------------------------------------------------------
def _general(data: _TaskData) -> dict[str, float]:
    """Size and column kinds."""
    schema = data.task.schema
    n_rows = float(data.task.n_rows)
    n_features = float(data.task.n_features)
    n_numeric = float(len(schema.numeric))
    n_categorical = float(len(schema.categorical))
    ratio = _ratio(n_features, n_rows)
    inverse = _ratio(n_rows, n_features)
    return {
        "NumberOfInstances": n_rows,
        "LogNumberOfInstances": _log(n_rows),
        "NumberOfFeatures": n_features,
        "LogNumberOfFeatures": _log(n_features),
        "DatasetRatio": ratio,
        "LogDatasetRatio": _log(ratio),
        "InverseDatasetRatio": inverse,
        "LogInverseDatasetRatio": _log(inverse),
        "NumberOfNumericFeatures": n_numeric,
        "NumberOfCategoricalFeatures": n_categorical,
        "RatioNumericalToNominal": _ratio(n_numeric, n_categorical),
        "RatioNominalToNumerical": _ratio(n_categorical, n_numeric),
    }


def _missing(data: _TaskData) -> dict[str, float]:
    """How many cells, rows and columns have missing values."""
    numeric_missing = np.isnan(data.numeric)  # (n_numeric, n_rows)
    categorical_missing = data.categorical_missing  # (n_rows, n_categorical)
    per_row = numeric_missing.sum(axis=0) + categorical_missing.sum(axis=1)
    per_column = np.concatenate([numeric_missing.sum(axis=1), categorical_missing.sum(axis=0)])
    n_rows, n_features = data.task.n_rows, data.task.n_features
    rows_with = float(np.count_nonzero(per_row))
    columns_with = float(np.count_nonzero(per_column))
    cells = float(per_row.sum())
    return {
        "NumberOfInstancesWithMissingValues": rows_with,
        "PercentageOfInstancesWithMissingValues": _ratio(rows_with, n_rows),
        "NumberOfFeaturesWithMissingValues": columns_with,
        "PercentageOfFeaturesWithMissingValues": _ratio(columns_with, n_features),
        "NumberOfMissingValues": cells,
        "PercentageOfMissingValues": _ratio(cells, n_rows * n_features),
    }


def _class(data: _TaskData) -> dict[str, float]:
    """Class balance: number of classes, their frequencies and entropy (bits)."""
    counts = np.unique(data.task.y, return_counts=True)[1].astype(np.float64)
    probabilities = counts / counts.sum()
    return {
        "NumberOfClasses": float(len(counts)),
        "ClassProbabilityMin": float(probabilities.min()),
        "ClassProbabilityMax": float(probabilities.max()),
        "ClassProbabilityMean": float(probabilities.mean()),
        "ClassProbabilitySTD": float(probabilities.std()),
        "ClassEntropy": float(scipy.stats.entropy(counts, base=2)),
    }


def _symbols(data: _TaskData) -> dict[str, float]:
    """Number of distinct levels (missing excluded) of the categorical columns.

    Columns without any observed level are left out of Min/Max/Mean/STD, as in
    auto-sklearn; with no categorical column those are NaN and ``SymbolsSum`` is 0.
    """
    levels = data.levels
    observed = np.where(levels > 0, levels, np.nan)
    return {
        **_summary("Symbols", observed),
        "SymbolsSum": float(levels.sum()),
    }


def _statistical(data: _TaskData) -> dict[str, float]:
    """Skewness and kurtosis of the numeric columns, summarised over columns.

    Per column: ``scipy.stats.skew`` / ``scipy.stats.kurtosis`` (biased moments, Fisher
    kurtosis; scipy's and auto-sklearn's defaults) over the observed cells of at most
    ``MAX_STATISTICS_ROWS`` rows (:attr:`_TaskData.statistics_sample`). Constant and
    empty columns are undefined (NaN) and skipped by the summaries.
    """
    numeric = data.statistics_sample
    if numeric.shape[0] == 0:
        skewness = kurtosis = np.empty(0)
    else:
        # nan_policy="omit" is scipy's slow path; without missing cells it changes nothing.
        policy = "omit" if np.isnan(numeric).any() else "propagate"
        skewness = np.asarray(scipy.stats.skew(numeric, axis=1, nan_policy=policy), float)
        kurtosis = np.asarray(scipy.stats.kurtosis(numeric, axis=1, nan_policy=policy), float)
    return {**_summary("Skewness", skewness), **_summary("Kurtosis", kurtosis)}


# -- expensive groups --------------------------------------------------------------------
def _classification_landmarkers(seed: int) -> dict[str, Any]:
    return {
        "Landmark1NN": KNeighborsClassifier(n_neighbors=1),
        "LandmarkDecisionNodeLearner": DecisionTreeClassifier(
            criterion="entropy", max_depth=1, random_state=seed
        ),
        "LandmarkDecisionTree": DecisionTreeClassifier(random_state=seed),
        "LandmarkLDA": LinearDiscriminantAnalysis(),
        "LandmarkNaiveBayes": GaussianNB(),
        "LandmarkRandomNodeLearner": DecisionTreeClassifier(
            criterion="entropy", max_depth=1, max_features=1, random_state=seed
        ),
    }


def _regression_landmarkers(seed: int) -> dict[str, Any]:
    return {
        "Landmark1NN": KNeighborsRegressor(n_neighbors=1),
        "LandmarkDecisionNodeLearner": DecisionTreeRegressor(max_depth=1, random_state=seed),
        "LandmarkDecisionTree": DecisionTreeRegressor(random_state=seed),
        "LandmarkLinearRegression": Ridge(alpha=1.0),
        "LandmarkRandomNodeLearner": DecisionTreeRegressor(
            max_depth=1, max_features=1, random_state=seed
        ),
    }


def _landmarking(data: _TaskData) -> dict[str, float]:
    """Cross-validated scores of simple learners: where they do well, so do their kin.

    Classification: mean accuracy; regression: mean R². Stratified, shuffled, seeded
    folds; fewer than :data:`LANDMARK_FOLDS` when the smallest class is smaller.
    """
    classification = data.task.kind != "regression"
    learners = (
        _classification_landmarkers(data.seed)
        if classification
        else _regression_landmarkers(data.seed)
    )
    Z, y = data.sample
    splitter: KFold | StratifiedKFold
    if classification:
        smallest = int(np.unique(y, return_counts=True)[1].min())
        # No more folds than the smallest class has rows; but two even for a class of one row, where
        # StratifiedKFold only warns (the subsample keeps two rows of each class where it can).
        n_splits = max(2, min(LANDMARK_FOLDS, smallest))
        splitter = StratifiedKFold(n_splits, shuffle=True, random_state=data.seed)
    else:
        n_splits = min(LANDMARK_FOLDS, len(y))
        # max(..., 2) only so the splitter can be built: fewer than two rows return NaN below.
        splitter = KFold(max(n_splits, 2), shuffle=True, random_state=data.seed)
    if Z.shape[1] == 0 or n_splits < 2:
        return dict.fromkeys(learners, math.nan)
    folds = list(splitter.split(Z, y))
    return {
        name: _cv_score(learner, Z, y, folds, classification) for name, learner in learners.items()
    }


def _cv_score(
    learner: Any,
    Z: np.ndarray,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    classification: bool,
) -> float:
    scores = []
    for train, test in folds:
        try:
            learner.fit(Z[train], y[train])
            predicted = learner.predict(Z[test])
        # Degenerate folds are properties of the data, not bugs, and make the landmark
        # undefined. LDA raises LinAlgError on a singular scatter matrix, ValueError with
        # fewer rows than classes, and (scikit-learn 1.9) IndexError when no feature
        # varies within classes, e.g. a single column that equals the label.
        except (LinAlgError, ValueError, IndexError):
            return math.nan
        if classification:
            scores.append(float(np.mean(predicted == y[test])))
        else:
            scores.append(float(r2_score(y[test], predicted)))
    return float(np.mean(scores))


def _pca(data: _TaskData) -> dict[str, float]:
    """Principal components of the encoded, standardised subsample.

    ``PCAFractionOfComponentsFor95PercentVariance``: components needed to explain 95 %
    of the variance over the number of encoded columns. Skewness/kurtosis of the data
    projected on the first component (whose sign scikit-learn fixes deterministically).
    """
    undefined = {
        "PCAFractionOfComponentsFor95PercentVariance": math.nan,
        "PCAKurtosisFirstPC": math.nan,
        "PCASkewnessFirstPC": math.nan,
    }
    Z, _ = data.sample
    if Z.shape[0] < 2 or Z.shape[1] == 0:
        return undefined
    try:
        # full: every component (the 95 % count needs them all) and no dependence on a solver seed.
        pca = PCA(svd_solver="full").fit(Z)
    except LinAlgError:  # the SVD did not converge: the group is undefined for this data
        return undefined
    if not pca.explained_variance_.sum() > 0:  # every column constant: no direction
        return undefined
    cumulative = np.cumsum(pca.explained_variance_ratio_)
    # searchsorted finds the first component reaching 95 %, +1 makes that a count; min() guards the
    # index past the end should rounding keep the total just under 0.95.
    needed = min(int(np.searchsorted(cumulative, 0.95)) + 1, len(cumulative))
    first = (Z - pca.mean_) @ pca.components_[0]
    return {
        "PCAFractionOfComponentsFor95PercentVariance": needed / Z.shape[1],
        "PCAKurtosisFirstPC": float(scipy.stats.kurtosis(first)),
        "PCASkewnessFirstPC": float(scipy.stats.skew(first)),
    }
