"""Tests of the meta-feature engine: names and counts, hand-checked values, degenerate
data, plugin groups, agreement with PyMFE and reproducibility."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

from autometa.contract import Task
from autometa.search._metafeatures import (
    CHEAP_GROUPS,
    DEFAULT_SEED,
    EXPENSIVE_GROUPS,
    MAX_SUBSAMPLE_ROWS,
    MetaFeatures,
    compute_meta_features,
)
from autometa.search._subsample import stratified_subsample

GENERAL = (
    "NumberOfInstances",
    "LogNumberOfInstances",
    "NumberOfFeatures",
    "LogNumberOfFeatures",
    "DatasetRatio",
    "LogDatasetRatio",
    "InverseDatasetRatio",
    "LogInverseDatasetRatio",
    "NumberOfNumericFeatures",
    "NumberOfCategoricalFeatures",
    "RatioNumericalToNominal",
    "RatioNominalToNumerical",
)
MISSING = (
    "NumberOfInstancesWithMissingValues",
    "PercentageOfInstancesWithMissingValues",
    "NumberOfFeaturesWithMissingValues",
    "PercentageOfFeaturesWithMissingValues",
    "NumberOfMissingValues",
    "PercentageOfMissingValues",
)
CLASS = (
    "NumberOfClasses",
    "ClassProbabilityMin",
    "ClassProbabilityMax",
    "ClassProbabilityMean",
    "ClassProbabilitySTD",
    "ClassEntropy",
)
SYMBOLS = ("SymbolsMin", "SymbolsMax", "SymbolsMean", "SymbolsSTD", "SymbolsSum")
STATISTICAL = tuple(
    f"{moment}{stat}"
    for moment in ("Skewness", "Kurtosis")
    for stat in ("Min", "Max", "Mean", "STD")
)
CLASSIFICATION_LANDMARKS = (
    "Landmark1NN",
    "LandmarkDecisionNodeLearner",
    "LandmarkDecisionTree",
    "LandmarkLDA",
    "LandmarkNaiveBayes",
    "LandmarkRandomNodeLearner",
)
REGRESSION_LANDMARKS = (
    "Landmark1NN",
    "LandmarkDecisionNodeLearner",
    "LandmarkDecisionTree",
    "LandmarkLinearRegression",
    "LandmarkRandomNodeLearner",
)
PCA_FEATURES = (
    "PCAFractionOfComponentsFor95PercentVariance",
    "PCAKurtosisFirstPC",
    "PCASkewnessFirstPC",
)


def sklearn_task(loader, **kwargs) -> Task:
    X, y = loader(return_X_y=True, as_frame=True)
    return Task.from_data(X, y, **kwargs)


def tiny_frame() -> tuple[pd.DataFrame, np.ndarray]:
    """Six rows, two numeric and two categorical columns, four missing cells."""
    X = pd.DataFrame(
        {
            "num1": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
            "num2": [0.5, np.nan, np.nan, 1.0, 2.0, 3.0],
            "cat1": ["a", "b", "a", None, "c", "a"],
            "cat2": ["x", "x", "y", "y", "x", "y"],
        }
    )
    y = np.array([0, 0, 0, 0, 1, 1])
    return X, y


def mixed_frame(n: int = 400, seed: int = 0, missing: float = 0.0) -> pd.DataFrame:
    """Numeric and categorical columns, optionally with missing cells in both."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "normal": rng.normal(size=n),
            "skewed": rng.exponential(size=n),
            "counts": rng.poisson(3.0, size=n).astype(float),
            "colour": rng.choice(["red", "green", "blue"], size=n),
            "size": rng.choice(["S", "M", "L", "XL"], size=n, p=[0.1, 0.4, 0.4, 0.1]),
            "flag": rng.choice(["yes", "no"], size=n),
        }
    )
    if missing:
        for column in ("normal", "colour"):
            X[column] = X[column].mask(rng.random(n) < missing)
    return X


# -- names, counts, groups, times ---------------------------------------------------------
def test_cheap_classification_has_37_features_in_five_groups() -> None:
    mf = compute_meta_features(sklearn_task(load_iris), expensive=False)
    assert len(mf.values) == 37
    assert tuple(mf.groups) == CHEAP_GROUPS
    assert mf.groups == {
        "general": GENERAL,
        "missing": MISSING,
        "class": CLASS,
        "symbols": SYMBOLS,
        "statistical": STATISTICAL,
    }
    assert set(mf.times) == set(mf.groups)
    assert all(isinstance(t, float) and t >= 0.0 for t in mf.times.values())
    assert all(type(v) is float for v in mf.values.values())
    assert mf.names == tuple(mf.values)


def test_cheap_regression_has_31_features_and_no_class_group() -> None:
    mf = compute_meta_features(sklearn_task(load_diabetes), expensive=False)
    assert len(mf.values) == 31
    assert "class" not in mf.groups
    assert "class" not in mf.times
    assert not set(CLASS) & set(mf.values)


def test_expensive_groups_only_when_asked() -> None:
    task = sklearn_task(load_iris)
    cheap = compute_meta_features(task, expensive=False)
    full = compute_meta_features(task, expensive=True)
    assert not set(EXPENSIVE_GROUPS) & set(cheap.groups)
    assert tuple(full.groups) == CHEAP_GROUPS + EXPENSIVE_GROUPS
    assert full.groups["landmarking"] == CLASSIFICATION_LANDMARKS
    assert full.groups["pca"] == PCA_FEATURES
    assert len(full.values) == 37 + 6 + 3
    assert set(full.times) == set(full.groups)
    # The cheap features do not depend on whether the expensive ones are computed.
    assert {k: full.values[k] for k in cheap.values} == cheap.values


def test_classification_landmarks_are_accuracies_that_make_sense() -> None:
    mf = compute_meta_features(sklearn_task(load_iris), random_state=0)
    scores = np.array([mf.values[name] for name in CLASSIFICATION_LANDMARKS])
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    # Iris is nearly linearly separable; a stump finds at most two of three classes.
    assert mf.values["LandmarkLDA"] > 0.9
    assert mf.values["Landmark1NN"] > 0.85
    assert mf.values["LandmarkDecisionNodeLearner"] <= 2 / 3 + 0.05
    fraction = mf.values["PCAFractionOfComponentsFor95PercentVariance"]
    assert fraction in {0.25, 0.5, 0.75, 1.0}  # a whole number of components out of 4


def test_regression_landmarks_are_r2_scores() -> None:
    mf = compute_meta_features(sklearn_task(load_diabetes), random_state=0)
    assert mf.groups["landmarking"] == REGRESSION_LANDMARKS
    assert len(mf.values) == 31 + 5 + 3
    # A linear model explains diabetes progression about half; 1NN overfits badly.
    assert 0.3 < mf.values["LandmarkLinearRegression"] < 0.7
    assert mf.values["Landmark1NN"] < mf.values["LandmarkLinearRegression"]


# -- hand-checked values -------------------------------------------------------------------
def test_hand_checked_values_on_a_tiny_frame() -> None:
    X, y = tiny_frame()
    mf = compute_meta_features(Task.from_data(X, y), expensive=False)
    expected = {
        "NumberOfInstances": 6.0,
        "LogNumberOfInstances": math.log(6),
        "NumberOfFeatures": 4.0,
        "DatasetRatio": 4 / 6,
        "LogDatasetRatio": math.log(4 / 6),
        "InverseDatasetRatio": 1.5,
        "NumberOfNumericFeatures": 2.0,
        "NumberOfCategoricalFeatures": 2.0,
        "RatioNumericalToNominal": 1.0,
        "RatioNominalToNumerical": 1.0,
        # num1 misses row 2, num2 rows 1 and 2, cat1 row 3.
        "NumberOfInstancesWithMissingValues": 3.0,
        "PercentageOfInstancesWithMissingValues": 0.5,
        "NumberOfFeaturesWithMissingValues": 3.0,
        "PercentageOfFeaturesWithMissingValues": 0.75,
        "NumberOfMissingValues": 4.0,
        "PercentageOfMissingValues": 4 / 24,
        # Classes 0 and 1 with 4 and 2 rows.
        "NumberOfClasses": 2.0,
        "ClassProbabilityMin": 1 / 3,
        "ClassProbabilityMax": 2 / 3,
        "ClassProbabilityMean": 0.5,
        "ClassProbabilitySTD": 1 / 6,
        "ClassEntropy": -(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3),
        # cat1 has levels a, b, c (missing is not a level); cat2 has x, y.
        "SymbolsMin": 2.0,
        "SymbolsMax": 3.0,
        "SymbolsMean": 2.5,
        "SymbolsSTD": 0.5,
        "SymbolsSum": 5.0,
    }
    for name, value in expected.items():
        assert mf.values[name] == pytest.approx(value, rel=1e-12), name
    # Skewness of num1 over its observed cells, by hand: deviations from 3.6 are
    # -2.6, -1.6, 0.4, 1.4, 2.4, so m2 = 17.2 / 5 and m3 = -5.04 / 5.
    skew_num1 = (-5.04 / 5) / (17.2 / 5) ** 1.5
    skew_num2 = scipy.stats.skew([0.5, 1.0, 2.0, 3.0])
    kurt = [scipy.stats.kurtosis([1, 2, 4, 5, 6]), scipy.stats.kurtosis([0.5, 1.0, 2.0, 3.0])]
    assert mf.values["SkewnessMin"] == pytest.approx(min(skew_num1, skew_num2))
    assert mf.values["SkewnessMax"] == pytest.approx(max(skew_num1, skew_num2))
    assert mf.values["SkewnessMean"] == pytest.approx((skew_num1 + skew_num2) / 2)
    assert mf.values["SkewnessSTD"] == pytest.approx(abs(skew_num1 - skew_num2) / 2)
    assert mf.values["KurtosisMean"] == pytest.approx(np.mean(kurt))
    assert mf.values["KurtosisSTD"] == pytest.approx(np.std(kurt))


def test_statistical_group_matches_scipy_column_by_column_with_missing_cells() -> None:
    X = mixed_frame(n=500, seed=3, missing=0.2)
    task = Task.from_data(X, np.arange(500) % 2)
    mf = compute_meta_features(task, expensive=False)
    numeric = task.X[list(task.schema.numeric)]
    skews = [scipy.stats.skew(numeric[c].dropna()) for c in numeric]
    kurts = [scipy.stats.kurtosis(numeric[c].dropna()) for c in numeric]
    assert mf.values["SkewnessMax"] == pytest.approx(max(skews))
    assert mf.values["SkewnessSTD"] == pytest.approx(np.std(skews))
    assert mf.values["KurtosisMin"] == pytest.approx(min(kurts))
    assert mf.values["KurtosisMean"] == pytest.approx(np.mean(kurts))
    assert mf.values["NumberOfMissingValues"] == float(X.isna().to_numpy().sum())
    assert mf.values["NumberOfInstancesWithMissingValues"] == float(X.isna().any(axis=1).sum())


# -- degenerate data -------------------------------------------------------------------------
def assert_no_inf(mf: MetaFeatures) -> None:
    infinite = [name for name, value in mf.values.items() if math.isinf(value)]
    assert not infinite, infinite


def test_numeric_only_data_has_undefined_symbols_and_ratio() -> None:
    mf = compute_meta_features(sklearn_task(load_iris), expensive=False)
    for name in ("SymbolsMin", "SymbolsMax", "SymbolsMean", "SymbolsSTD"):
        assert math.isnan(mf.values[name]), name
    assert mf.values["SymbolsSum"] == 0.0
    assert math.isnan(mf.values["RatioNumericalToNominal"])  # no categorical column
    assert mf.values["RatioNominalToNumerical"] == 0.0
    assert_no_inf(mf)


def test_categorical_only_data_has_undefined_moments() -> None:
    X = mixed_frame()[["colour", "size", "flag"]]
    mf = compute_meta_features(Task.from_data(X, np.arange(len(X)) % 3))
    for name in STATISTICAL:
        assert math.isnan(mf.values[name]), name
    assert math.isnan(mf.values["RatioNominalToNumerical"])
    assert mf.values["RatioNumericalToNominal"] == 0.0
    assert mf.values["SymbolsMax"] == 4.0
    assert_no_inf(mf)
    landmarks = [mf.values[name] for name in CLASSIFICATION_LANDMARKS]
    assert all(0.0 <= v <= 1.0 for v in landmarks if not math.isnan(v))


def test_constant_columns_are_skipped_by_the_moment_summaries() -> None:
    rng = np.random.default_rng(1)
    x = rng.exponential(size=200)
    X = pd.DataFrame({"constant": np.full(200, 3.0), "x": x, "also_constant": np.zeros(200)})
    mf = compute_meta_features(Task.from_data(X, np.arange(200) % 2), expensive=False)
    assert mf.values["SkewnessMin"] == pytest.approx(scipy.stats.skew(x))
    assert mf.values["SkewnessMax"] == pytest.approx(scipy.stats.skew(x))
    assert mf.values["KurtosisMean"] == pytest.approx(scipy.stats.kurtosis(x))
    assert mf.values["SkewnessSTD"] == 0.0


def test_degenerate_data_gives_nan_without_exceptions_or_warnings() -> None:
    n = 60
    X = pd.DataFrame(
        {
            "constant": np.ones(n),
            "empty_number": np.full(n, np.nan),
            "empty_level": pd.Series([None] * n, dtype=object),
            "one_level": ["only"] * n,
        }
    )
    task = Task.from_data(X, np.arange(n) % 2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning leaking to the user fails the test
        mf = compute_meta_features(task, expensive=True)
    assert_no_inf(mf)
    for name in (*STATISTICAL, *PCA_FEATURES):
        assert math.isnan(mf.values[name]), name
    # The all-missing column has no level: left out of Min/Mean/STD, as auto-sklearn.
    assert mf.values["SymbolsMin"] == 1.0
    assert mf.values["SymbolsSum"] == 1.0
    assert mf.values["NumberOfFeaturesWithMissingValues"] == 2.0
    assert mf.values["NumberOfInstancesWithMissingValues"] == float(n)
    assert mf.values["PercentageOfMissingValues"] == 0.5


def test_a_failing_landmarker_gives_nan_and_the_others_still_score() -> None:
    y = np.arange(60) % 2
    # One column equal to the label: no within-class variance, so LDA cannot fit.
    mf = compute_meta_features(Task.from_data(pd.DataFrame({"leak": y.astype(float)}), y))
    assert math.isnan(mf.values["LandmarkLDA"])
    for name in set(CLASSIFICATION_LANDMARKS) - {"LandmarkLDA"}:
        assert mf.values[name] == 1.0, name


def test_single_numeric_column() -> None:
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"x": rng.normal(size=80)})
    y = (X["x"] + rng.normal(scale=0.5, size=80) > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mf = compute_meta_features(Task.from_data(X, y), expensive=True)
    assert mf.values["SkewnessSTD"] == 0.0
    assert mf.values["SkewnessMin"] == mf.values["SkewnessMax"]
    assert mf.values["PCAFractionOfComponentsFor95PercentVariance"] == 1.0
    assert mf.values["LogNumberOfFeatures"] == 0.0
    assert mf.values["LandmarkDecisionNodeLearner"] > 0.6  # one informative column
    assert_no_inf(mf)


# -- extra (plugin) groups -----------------------------------------------------------------
def test_extra_groups_are_merged_converted_and_timed() -> None:
    task = sklearn_task(load_wine)
    mf = compute_meta_features(
        task,
        expensive=False,
        extra_groups={
            "myplugin": lambda: {"myplugin_rows": np.int64(task.n_rows), "myplugin_nan": np.nan},
            "other": lambda: {"other_half": np.float32(0.5), "other_flag": True},
        },
    )
    assert tuple(mf.groups)[-2:] == ("myplugin", "other")
    assert mf.groups["myplugin"] == ("myplugin_rows", "myplugin_nan")
    assert mf.values["myplugin_rows"] == 178.0
    assert type(mf.values["myplugin_rows"]) is float
    assert math.isnan(mf.values["myplugin_nan"])
    assert mf.values["other_half"] == 0.5
    assert mf.values["other_flag"] == 1.0
    assert set(mf.times) == set(mf.groups)
    assert len(mf.values) == 37 + 4


def test_extra_group_time_is_measured() -> None:
    import time

    def slow() -> dict[str, float]:
        time.sleep(0.05)
        return {"slow_value": 1.0}

    mf = compute_meta_features(
        sklearn_task(load_iris), expensive=False, extra_groups={"slow": slow}
    )
    assert mf.times["slow"] >= 0.04


def test_feature_name_clash_with_builtin_names_both_groups() -> None:
    with pytest.raises(ValueError, match=r"'NumberOfInstances'.*'myplugin'.*'general'"):
        compute_meta_features(
            sklearn_task(load_iris),
            expensive=False,
            extra_groups={"myplugin": lambda: {"NumberOfInstances": 1.0}},
        )


def test_feature_name_clash_between_plugins_names_both_groups() -> None:
    with pytest.raises(ValueError, match=r"'shared'.*'second'.*'first'"):
        compute_meta_features(
            sklearn_task(load_iris),
            expensive=False,
            extra_groups={"first": lambda: {"shared": 1.0}, "second": lambda: {"shared": 2.0}},
        )


def test_group_name_clash_is_rejected() -> None:
    with pytest.raises(ValueError, match="'general'"):
        compute_meta_features(
            sklearn_task(load_iris), expensive=False, extra_groups={"general": lambda: {}}
        )


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ([("x", 1.0)], r"'bad'.*list"),
        (None, r"'bad'.*NoneType"),
        ({"x": "high"}, r"'bad'.*'x'"),
        ({"x": None}, r"'bad'.*'x'"),
        ({"x": [1.0, 2.0]}, r"'bad'.*'x'"),
        ({1: 1.0}, r"'bad'.*non-string"),
    ],
)
def test_bad_extra_group_results_raise_type_error_naming_the_group(
    returned: object, message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        compute_meta_features(
            sklearn_task(load_iris), expensive=False, extra_groups={"bad": lambda: returned}
        )


# -- result object ---------------------------------------------------------------------------
def test_subset_and_as_dict() -> None:
    mf = compute_meta_features(sklearn_task(load_iris), expensive=True)
    part = mf.subset(["pca", "general"])
    assert tuple(part.groups) == ("general", "pca")  # computation order is kept
    assert tuple(part.values) == GENERAL + PCA_FEATURES
    assert set(part.times) == {"general", "pca"}
    with pytest.raises(KeyError, match="nope"):
        mf.subset(["nope"])
    plain = mf.as_dict()
    plain["NumberOfInstances"] = -1.0
    assert mf.values["NumberOfInstances"] == 150.0
    assert mf.total_time == pytest.approx(sum(mf.times.values()))


# -- agreement with PyMFE --------------------------------------------------------------------
# Definitional differences, handled below:
# * PyMFE summarises with the sample standard deviation (ddof=1); autometa, like
#   auto-sklearn, uses the population one (ddof=0): scale PyMFE's "sd" by sqrt((k-1)/k)
#   for k summarised values.
# * PyMFE's default skewness/kurtosis is method 3 (moments over the sample standard
#   deviation); method 1 is scipy's default, which autometa and auto-sklearn use.
# * PyMFE gives the number of classes, instance and attribute counts as ints.
def pymfe_values(task: Task) -> dict[str, float]:
    from pymfe.mfe import MFE

    features = [
        "nr_inst",
        "nr_attr",
        "nr_num",
        "nr_cat",
        "attr_to_inst",
        "inst_to_attr",
        "num_to_cat",
        "cat_to_num",
        "skewness",
        "kurtosis",
    ]
    groups = ["general", "statistical"]
    if task.kind != "regression":
        features += ["nr_class", "class_ent", "freq_class"]
        groups.append("info-theory")
    mfe = MFE(
        groups=groups,
        features=features,
        summary=["min", "max", "mean", "sd"],
        random_state=0,
    )
    columns = list(task.X.columns)
    mfe.fit(
        task.X.to_numpy(dtype=object),
        task.y,
        cat_cols=[columns.index(c) for c in task.schema.categorical],
        transform_num=False,
        transform_cat=None,
        precomp_groups=None,  # PyMFE's precomputations take seconds on a numeric target
        suppress_warnings=True,
    )
    names, values = mfe.extract(
        skewness={"method": 1}, kurtosis={"method": 1}, suppress_warnings=True
    )
    return {name: float(value) for name, value in zip(names, values, strict=True)}


def population_sd(sample_sd: float, k: int) -> float:
    return sample_sd * math.sqrt((k - 1) / k)


@pytest.mark.parametrize(
    "make_task",
    [
        pytest.param(lambda: sklearn_task(load_breast_cancer), id="breast_cancer"),
        pytest.param(lambda: sklearn_task(load_wine), id="wine"),
        pytest.param(lambda: sklearn_task(load_diabetes), id="diabetes"),
        pytest.param(
            lambda: Task.from_data(mixed_frame(seed=5), np.repeat(["a", "b", "c", "d"], 100)),
            id="mixed",
        ),
    ],
)
def test_agrees_with_pymfe(make_task) -> None:
    task = make_task()
    ours = compute_meta_features(task, expensive=False).values
    ref = pymfe_values(task)
    n_numeric = len(task.schema.numeric)
    pairs = [
        ("NumberOfInstances", ref["nr_inst"]),
        ("NumberOfFeatures", ref["nr_attr"]),
        ("NumberOfNumericFeatures", ref["nr_num"]),
        ("NumberOfCategoricalFeatures", ref["nr_cat"]),
        ("DatasetRatio", ref["attr_to_inst"]),
        ("InverseDatasetRatio", ref["inst_to_attr"]),
        # Both are NaN when the denominator is zero.
        ("RatioNumericalToNominal", ref["num_to_cat"]),
        ("RatioNominalToNumerical", ref["cat_to_num"]),
    ]
    for moment, key in (("Skewness", "skewness"), ("Kurtosis", "kurtosis")):
        pairs += [
            (f"{moment}Min", ref[f"{key}.min"]),
            (f"{moment}Max", ref[f"{key}.max"]),
            (f"{moment}Mean", ref[f"{key}.mean"]),
            (f"{moment}STD", population_sd(ref[f"{key}.sd"], n_numeric)),
        ]
    if task.kind != "regression":
        n_classes = int(ref["nr_class"])
        pairs += [
            ("NumberOfClasses", ref["nr_class"]),
            ("ClassEntropy", ref["class_ent"]),
            ("ClassProbabilityMin", ref["freq_class.min"]),
            ("ClassProbabilityMax", ref["freq_class.max"]),
            ("ClassProbabilityMean", ref["freq_class.mean"]),
            ("ClassProbabilitySTD", population_sd(ref["freq_class.sd"], n_classes)),
        ]
    names = [name for name, _ in pairs]
    np.testing.assert_allclose(
        [ours[name] for name in names],
        [value for _, value in pairs],
        rtol=1e-9,
        atol=1e-12,
        err_msg=f"disagreement in {names}",
    )
    assert not math.isnan(ours["SkewnessMean"])  # the comparison is not NaN against NaN


# -- reproducibility and subsampling ----------------------------------------------------------
def landmark_and_pca(mf: MetaFeatures) -> np.ndarray:
    return np.array([mf.values[n] for g in EXPENSIVE_GROUPS for n in mf.groups[g]])


def large_task(random_state: int | None = None) -> Task:
    """More rows than the expensive groups use, with categories and missing cells."""
    n = MAX_SUBSAMPLE_ROWS + 700
    X = mixed_frame(n=n, seed=11, missing=0.05)
    rng = np.random.default_rng(12)
    y = np.where(X["skewed"].to_numpy() + rng.normal(size=n) > 1.5, "yes", "no")
    return Task.from_data(X, y, random_state=random_state)


def test_expensive_groups_are_deterministic_for_a_seed() -> None:
    task = large_task()
    first = landmark_and_pca(compute_meta_features(task, random_state=3))
    second = landmark_and_pca(compute_meta_features(task, random_state=3))
    np.testing.assert_array_equal(first, second)
    other = landmark_and_pca(compute_meta_features(task, random_state=4))
    assert not np.array_equal(first, other, equal_nan=True)


def test_default_seed_is_fixed_and_independent_of_the_task_seed() -> None:
    # Meta-features describe the data: the search seed of the task must not change them.
    searched_with_4 = compute_meta_features(large_task(random_state=4))
    searched_with_9 = compute_meta_features(large_task(random_state=9))
    unseeded = compute_meta_features(large_task())
    np.testing.assert_array_equal(landmark_and_pca(searched_with_4), landmark_and_pca(unseeded))
    np.testing.assert_array_equal(landmark_and_pca(searched_with_9), landmark_and_pca(unseeded))
    np.testing.assert_array_equal(
        landmark_and_pca(unseeded),
        landmark_and_pca(compute_meta_features(large_task(), random_state=DEFAULT_SEED)),
    )


def test_random_state_must_be_an_integer() -> None:
    with pytest.raises(TypeError, match="random_state"):
        compute_meta_features(sklearn_task(load_iris), random_state=0.5)  # type: ignore[arg-type]


def test_stratified_subsample_keeps_every_class() -> None:
    y = np.array(["big"] * 9000 + ["mid"] * 980 + ["rare"] * 20 + ["pair"] * 2)
    rows = stratified_subsample(y, "multiclass", 1000, seed=0)
    assert len(rows) == 1000
    assert len(np.unique(rows)) == 1000
    assert np.all(np.diff(rows) > 0)
    classes, counts = np.unique(y[rows], return_counts=True)
    got = dict(zip(classes.tolist(), counts.tolist(), strict=True))
    assert got["pair"] == 2  # every class keeps at least two rows for stratified folds
    # The other 992 rows are shared in proportion to the rows beyond those two.
    for label, count in (("big", 9000), ("mid", 980), ("rare", 20)):
        assert abs(got[label] - (2 + 992 * (count - 2) / 9994)) < 1, label
    np.testing.assert_array_equal(rows, stratified_subsample(y, "multiclass", 1000, seed=0))
    assert not np.array_equal(rows, stratified_subsample(y, "multiclass", 1000, seed=1))


def test_subsample_keeps_small_data_whole_and_samples_regression_uniformly() -> None:
    np.testing.assert_array_equal(
        stratified_subsample(np.zeros(50), "regression", 100, 0), np.arange(50)
    )
    rows = stratified_subsample(np.arange(5000.0), "regression", 300, seed=0)
    assert len(np.unique(rows)) == 300
    assert rows.max() < 5000
