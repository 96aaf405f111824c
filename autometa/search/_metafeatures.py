"""Meta-features: numbers that describe a task so earlier, similar tasks can be found.

A meta-learner compares a new task with the tasks in its knowledge base through these
numbers, so they must be cheap enough to compute before every fit, defined on any valid
:class:`~autometa.contract.Task` (NaN where a quantity is undefined, never an exception or
``inf``), and reproducible: the same data and seed always give the same values.

The built-in features reproduce auto-sklearn 1's meta-features under auto-sklearn's
CamelCase names (Feurer et al., 2015), in groups:

* cheap, always computed: ``general``, ``missing``, ``class`` (classification only;
  absent, not NaN, for regression), ``symbols`` and ``statistical``; all on every row
  except ``statistical`` (skewness and kurtosis), which sees a seeded, stratified
  subsample of at most :data:`MAX_STATISTICS_ROWS` rows, so the cost of planning a
  fit stays bounded on large tables;
* expensive, computed when ``expensive=True``: ``landmarking`` and ``pca``, on a seeded,
  stratified subsample of at most :data:`MAX_SUBSAMPLE_ROWS` rows and about
  :data:`MAX_SUBSAMPLE_CELLS` encoded cells, so their cost does not grow with the data
  (wide tasks get fewer rows, never fewer than :data:`MIN_SUBSAMPLE_ROWS`).

Plugins add their own groups through ``extra_groups`` (the caller wraps the
``autometa_meta_features`` hook); each group is timed, and a feature name produced by
two groups is an error naming both.

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
import numbers
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import scipy.stats
from scipy.linalg import LinAlgError
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from autometa.contract._task import Task
from autometa.contract._types import TASK_KINDS, TaskKind

__all__ = [
    "CHEAP_GROUPS",
    "DEFAULT_SEED",
    "EXPENSIVE_GROUPS",
    "MAX_STATISTICS_ROWS",
    "MAX_SUBSAMPLE_CELLS",
    "MAX_SUBSAMPLE_ROWS",
    "MIN_SUBSAMPLE_ROWS",
    "MetaFeatures",
    "compute_meta_features",
]

MAX_SUBSAMPLE_ROWS = 2000
"""Rows the expensive groups see at most."""

MAX_STATISTICS_ROWS = 20_000
"""Rows the skewness and kurtosis of the ``statistical`` group see at most.

Per-column moments over 100,000 rows x 100 columns take about 1 s, most of a fit's
planning; on 20,000 rows they take a fifth of that, and a moment estimated from 20,000
rows is close to the full data's (measured on the shipped base's tasks above the bound:
docs/benchmarks.md). The knowledge-base builder computes meta-features with this same
function, so new bases get the same bound. The shipped base was built before the bound
existed: 18 of its 263 tasks have more rows, and their stored skewness and kurtosis come
from all their rows; they are left as they are."""

MAX_SUBSAMPLE_CELLS = 300_000
"""Rows x encoded columns the expensive groups aim to stay under. Fitting a decision
tree costs about rows x columns, so this keeps landmarking under a second on wide
tasks (a 370-column task gets about 800 rows)."""

MIN_SUBSAMPLE_ROWS = 500
"""Rows the expensive groups get at least (when the task has them), however wide it is."""

LANDMARK_FOLDS = 3
"""Cross-validation folds of the landmarkers (fewer when the smallest class is smaller)."""

MAX_ONE_HOT_LEVELS = 10
"""Categorical columns are one-hot encoded into at most this many indicator columns
(rarer levels share one "infrequent" column), which bounds the width of the matrix the
expensive groups work on."""

DEFAULT_SEED = 0
"""Seed used when ``random_state`` is None. Meta-features describe the data, so by
default they depend on nothing else: not on the search seed in ``task.random_state``,
and not on the run; a task compared with a knowledge base gets the description its
earlier tasks got."""

_MISSING_LEVEL = "\x00missing"
"""Level that stands for a missing categorical cell during encoding."""


# -- result ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetaFeatures:
    """Meta-features of one task, grouped and timed.

    Attributes
    ----------
    values:
        ``{feature name: value}``; NaN where a feature is undefined for the task.
    groups:
        ``{group name: feature names}`` in computation order; every name in ``values``
        belongs to exactly one group.
    times:
        ``{group name: seconds}`` the group took to compute.
    """

    values: dict[str, float]
    groups: dict[str, tuple[str, ...]]
    times: dict[str, float]

    def as_dict(self) -> dict[str, float]:
        """A copy of ``values``: the plain mapping meta-learners and storage consume."""
        return dict(self.values)

    @property
    def names(self) -> tuple[str, ...]:
        """All feature names, in group order."""
        return tuple(self.values)

    @property
    def total_time(self) -> float:
        """Seconds spent over all groups."""
        return float(sum(self.times.values()))

    def subset(self, groups: Iterable[str]) -> MetaFeatures:
        """Only the given groups (for example to compare with a knowledge base that
        lacks the expensive ones). An unknown group name raises ``KeyError``."""
        wanted = list(groups)
        unknown = [g for g in wanted if g not in self.groups]
        if unknown:
            raise KeyError(
                f"Unknown meta-feature groups {unknown}; this result has {list(self.groups)}."
            )
        keep = [g for g in self.groups if g in set(wanted)]
        return MetaFeatures(
            values={n: self.values[n] for g in keep for n in self.groups[g]},
            groups={g: self.groups[g] for g in keep},
            times={g: self.times[g] for g in keep},
        )


# -- shared, lazily computed views of one task --------------------------------------------
class _TaskData:
    """The task plus views several groups need, computed once per call on first use.

    The time of a shared view is charged to the first group that asks for it.
    """

    def __init__(self, task: Task, seed: int) -> None:
        self.task = task
        self.seed = seed

    @cached_property
    def numeric(self) -> np.ndarray:
        """Numeric columns as a C-contiguous ``(n_numeric, n_rows)`` float array.

        Column-major because pandas stores a frame's columns contiguously and every
        statistic here is per column.
        """
        columns = list(self.task.schema.numeric)
        if not columns:
            return np.empty((0, self.task.n_rows))
        values = self.task.X[columns].to_numpy(dtype=np.float64)
        return np.ascontiguousarray(values.T)

    @cached_property
    def statistics_sample(self) -> np.ndarray:
        """:attr:`numeric` on at most :data:`MAX_STATISTICS_ROWS` rows: a seeded,
        stratified subsample (sorted row order) when the task has more."""
        numeric = self.numeric
        if self.task.n_rows <= MAX_STATISTICS_ROWS:
            return numeric
        rows = _subsample(self.task.y, self.task.kind, MAX_STATISTICS_ROWS, self.seed)
        return np.ascontiguousarray(numeric[:, rows])

    @cached_property
    def categorical_missing(self) -> np.ndarray:
        """Missing-cell mask of the categorical columns, ``(n_rows, n_categorical)``."""
        columns = list(self.task.schema.categorical)
        if not columns:
            return np.zeros((self.task.n_rows, 0), dtype=bool)
        return self.task.X[columns].isna().to_numpy()

    @cached_property
    def levels(self) -> np.ndarray:
        """Distinct observed levels (missing excluded) per categorical column."""
        columns = list(self.task.schema.categorical)
        if not columns:
            return np.empty(0)
        return self.task.X[columns].nunique(dropna=True).to_numpy(dtype=np.float64)

    @cached_property
    def encoded_width(self) -> int:
        """Columns the encoding of :attr:`sample` produces (at most; the subsample may
        lack some levels): one per numeric column, one per level of a categorical
        column (missing counts as a level) up to :data:`MAX_ONE_HOT_LEVELS`."""
        with_missing = self.levels + self.categorical_missing.any(axis=0)
        one_hot = np.minimum(with_missing, MAX_ONE_HOT_LEVELS).sum()
        return len(self.task.schema.numeric) + int(one_hot)

    @cached_property
    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """A seeded subsample, imputed, encoded and standardised: ``(Z, y)``.

        Median imputation for numeric columns, one-hot encoding (missing is a level of
        its own, rare levels pooled) for categorical ones, then every column scaled to
        zero mean and unit variance so distances and components weigh columns equally.
        The encoders see the whole subsample, including the rows later used to score
        the landmarkers: harmless for describing a task, as in auto-sklearn.
        """
        task = self.task
        budget = MAX_SUBSAMPLE_CELLS // max(self.encoded_width, 1)
        max_rows = min(MAX_SUBSAMPLE_ROWS, max(MIN_SUBSAMPLE_ROWS, budget))
        rows = _subsample(task.y, task.kind, max_rows, self.seed)
        frame = task.X.iloc[rows]
        parts = []
        if task.schema.numeric:
            numeric = frame[list(task.schema.numeric)].to_numpy(dtype=np.float64)
            # Columns with no observed value in the subsample are dropped by the imputer.
            parts.append(SimpleImputer(strategy="median").fit_transform(numeric))
        if task.schema.categorical:
            levels = frame[list(task.schema.categorical)].fillna(_MISSING_LEVEL)
            encoder = OneHotEncoder(
                max_categories=MAX_ONE_HOT_LEVELS, sparse_output=False, dtype=np.float64
            )
            parts.append(encoder.fit_transform(levels.to_numpy(dtype=object)))
        Z = np.hstack(parts) if parts else np.empty((len(rows), 0))
        if Z.shape[1]:
            with np.errstate(all="ignore"):
                Z = StandardScaler().fit_transform(Z)
            # Values near the float limit (e.g. 1e300) overflow the variance; such a column
            # cannot be standardised and is treated as carrying no usable signal.
            Z = np.nan_to_num(Z, nan=0.0, posinf=0.0, neginf=0.0)
        return Z, task.y[rows]


def _subsample(y: np.ndarray, kind: TaskKind, max_rows: int, seed: int) -> np.ndarray:
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
        return np.sort(rng.choice(n, size=max_rows, replace=False))
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    floor = np.minimum(counts, 2) if 2 * len(classes) <= max_rows else np.zeros_like(counts)
    spare = counts - floor
    share = (max_rows - floor.sum()) * spare / spare.sum()
    extra = np.floor(share).astype(np.int64)
    short = max_rows - int(floor.sum()) - int(extra.sum())
    # Largest remainders first; a stable sort breaks ties by class order (deterministic).
    extra[np.argsort(-(share - extra), kind="stable")[:short]] += 1
    take = floor + extra
    chosen = [rng.permutation(np.flatnonzero(inverse == c))[: take[c]] for c in range(len(classes))]
    return np.sort(np.concatenate(chosen))


# -- numeric helpers ---------------------------------------------------------------------
def _log(x: float) -> float:
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


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence numeric warnings that degenerate data (constant or empty columns, tiny
    classes, collinear features) provoke inside numpy, scipy and scikit-learn: the
    meta-features report such cases as NaN instead."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)  # scikit-learn's data warnings
        yield


@contextmanager
def _single_threaded(active: bool) -> Iterator[None]:
    """One BLAS/OpenMP thread for the expensive groups: their matrices are small (the
    subsample), where threads gain little, while oversubscribed BLAS threads (several
    tasks described in parallel, or a busy machine) are many times slower."""
    if not active:
        yield
        return
    with threadpool_limits(limits=1):
        yield


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
    :data:`MAX_STATISTICS_ROWS` rows. Constant and empty columns are undefined (NaN)
    and skipped by the summaries.
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
        n_splits = max(2, min(LANDMARK_FOLDS, smallest))
        splitter = StratifiedKFold(n_splits, shuffle=True, random_state=data.seed)
    else:
        n_splits = min(LANDMARK_FOLDS, len(y))
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
        pca = PCA(svd_solver="full").fit(Z)
    except LinAlgError:  # the SVD did not converge: the group is undefined for this data
        return undefined
    if not pca.explained_variance_.sum() > 0:  # every column constant: no direction
        return undefined
    cumulative = np.cumsum(pca.explained_variance_ratio_)
    needed = min(int(np.searchsorted(cumulative, 0.95)) + 1, len(cumulative))
    first = (Z - pca.mean_) @ pca.components_[0]
    return {
        "PCAFractionOfComponentsFor95PercentVariance": needed / Z.shape[1],
        "PCAKurtosisFirstPC": float(scipy.stats.kurtosis(first)),
        "PCASkewnessFirstPC": float(scipy.stats.skew(first)),
    }


# -- the engine --------------------------------------------------------------------------
class _Group(NamedTuple):
    """A built-in group: its name, the function computing it, whether it is expensive
    and the task kinds it applies to (elsewhere it is absent, not NaN)."""

    name: str
    compute: Callable[[_TaskData], dict[str, float]]
    expensive: bool
    kinds: tuple[TaskKind, ...] = TASK_KINDS


_GROUPS: tuple[_Group, ...] = (
    _Group("general", _general, expensive=False),
    _Group("missing", _missing, expensive=False),
    _Group("class", _class, expensive=False, kinds=("binary", "multiclass")),
    _Group("symbols", _symbols, expensive=False),
    _Group("statistical", _statistical, expensive=False),
    _Group("landmarking", _landmarking, expensive=True),
    _Group("pca", _pca, expensive=True),
)

CHEAP_GROUPS: tuple[str, ...] = tuple(g.name for g in _GROUPS if not g.expensive)
EXPENSIVE_GROUPS: tuple[str, ...] = tuple(g.name for g in _GROUPS if g.expensive)


def compute_meta_features(
    task: Task,
    *,
    expensive: bool = True,
    extra_groups: Mapping[str, Callable[[], Mapping[str, float]]] | None = None,
    random_state: int | None = None,
) -> MetaFeatures:
    """Compute the meta-features of ``task``, group by group, timing each group.

    Parameters
    ----------
    task:
        A validated task.
    expensive:
        Also compute the ``landmarking`` and ``pca`` groups (fitted models on a
        subsample of at most :data:`MAX_SUBSAMPLE_ROWS` rows).
    extra_groups:
        ``{group name: function}`` from plugins; each function is called with no
        arguments and returns ``{feature name: number}``. Values become floats.
    random_state:
        Seed of the subsample and the landmarkers' folds. None means
        :data:`DEFAULT_SEED`, not ``task.random_state``: the same data always gets the
        same meta-features, whatever seed the search uses.

    Raises
    ------
    ValueError
        A feature name (or group name) of ``extra_groups`` is already taken; the
        message names both groups.
    TypeError
        An extra group returns something other than a mapping of names to numbers.
    """
    seed = _seed(random_state)
    data = _TaskData(task, seed)
    values: dict[str, float] = {}
    groups: dict[str, tuple[str, ...]] = {}
    times: dict[str, float] = {}
    owner: dict[str, str] = {}

    def add(group: str, features: Mapping[str, float], seconds: float) -> None:
        for name in features:
            if name in owner:
                raise ValueError(
                    f"Meta-feature {name!r} of group {group!r} is already produced by "
                    f"group {owner[name]!r}; rename one of them (prefix plugin features "
                    "with the plugin's name)."
                )
        for name, value in features.items():
            owner[name] = group
            values[name] = value
        groups[group] = tuple(features)
        times[group] = seconds

    for spec in _GROUPS:
        if (spec.expensive and not expensive) or task.kind not in spec.kinds:
            continue
        start = time.perf_counter()
        with _quiet(), _single_threaded(spec.expensive):
            features = spec.compute(data)
        add(spec.name, features, time.perf_counter() - start)

    for group, compute in (extra_groups or {}).items():
        if group in groups:
            raise ValueError(
                f"Meta-feature group {group!r} is already defined by autometa or another "
                "plugin; give the plugin's group another name."
            )
        start = time.perf_counter()
        raw = compute()
        seconds = time.perf_counter() - start
        add(group, _checked(group, raw), seconds)

    return MetaFeatures(values=values, groups=groups, times=times)


def _seed(random_state: Any) -> int:
    if random_state is None:
        return DEFAULT_SEED
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(f"random_state must be an int or None, got {random_state!r}.")
    return int(random_state)


def _checked(group: str, raw: object) -> dict[str, float]:
    """``raw`` as ``{str: float}``, or a TypeError that names the group."""
    if not isinstance(raw, Mapping):
        raise TypeError(
            f"Meta-feature group {group!r} returned {type(raw).__name__}; it must return "
            "a mapping of feature name to number."
        )
    checked: dict[str, float] = {}
    for name, value in raw.items():
        if not isinstance(name, str):
            raise TypeError(f"Meta-feature group {group!r} returned a non-string name {name!r}.")
        if not isinstance(value, (numbers.Real, np.bool_)):
            raise TypeError(
                f"Meta-feature group {group!r} returned {type(value).__name__} "
                f"{value!r} for {name!r}; values must be numbers (NaN where undefined)."
            )
        checked[name] = float(value)
    return checked
