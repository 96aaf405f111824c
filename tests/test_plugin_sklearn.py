"""Tests of the first-party algorithm catalogue plugin (plugins/autometa_sklearn)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pluggy
import pytest
from optuna.samplers import RandomSampler
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.decomposition import PCA
from sklearn.metrics import get_scorer
from sklearn.model_selection import cross_val_score
from threadpoolctl import threadpool_limits

import autometa.contract.hookspecs
import autometa_sklearn
from autometa.contract import Algorithm, Config, Task
from autometa_sklearn.adaptive import CalibratedSVC, HoldoutSafeMLPClassifier, holdout_possible
from autometa_sklearn.preprocessing import MAX_ONE_HOT_LEVELS, split_categorical
from autometa_sklearn.svm import SVM_ITER_ROWS, SVM_MAX_ITER, SVM_MAX_ROWS

optuna.logging.set_verbosity(optuna.logging.WARNING)

# scikit-learn's default MLP (200 Adam epochs) stops before its tolerance on these small
# data sets; the plugin leaves that warning alone, the tests need not show it.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

EXPECTED = {
    "binary": [
        "linear", "sgd", "svm", "knn", "random_forest", "extra_trees",
        "hist_gradient_boosting", "mlp", "naive_bayes",
    ],
    "regression": [
        "linear", "sgd", "svm", "knn", "random_forest", "extra_trees",
        "hist_gradient_boosting", "mlp",
    ],
}  # fmt: skip
EXPECTED["multiclass"] = EXPECTED["binary"]
WITH_PCA = {"linear", "sgd", "svm", "knn", "mlp"}
N_SAMPLED = 3


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One thread per fit, as in the search's workers (OpenMP is slow on tiny data)."""
    with threadpool_limits(1):
        yield


# -- data ---------------------------------------------------------------------------------
def with_categoricals(X: pd.DataFrame, y: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Add two low-cardinality categoricals (one informative) and a high-cardinality one,
    all with missing values, and some missing numbers."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    n = len(X)
    codes = pd.factorize(pd.Series(y))[0] if y.dtype.kind != "f" else (y > np.median(y))
    informative = np.where(rng.random(n) < 0.7, np.asarray(codes) % 3, rng.integers(0, 3, n))
    X["colour"] = np.array(["red", "green", "blue"], dtype=object)[informative]
    X["size"] = rng.choice(np.array(["S", "M", "L", "XL"], dtype=object), n)
    X["postcode"] = [f"p{i}" for i in rng.integers(0, 60, n)]
    for column in ("colour", "size", "postcode"):
        X.loc[rng.random(n) < 0.1, column] = None
    X.loc[rng.random(n) < 0.1, X.columns[0]] = np.nan
    return X


def make_task(loader: Any, kind: str, seed: int = 0) -> Task:
    X, y = loader(return_X_y=True, as_frame=True)
    y = y.to_numpy()
    return Task.from_data(
        with_categoricals(X, y, seed), y, kind=kind, cv=3, random_state=seed, name=kind
    )


@pytest.fixture(scope="module")
def tasks() -> dict[str, Task]:
    return {
        "binary": make_task(load_breast_cancer, "binary"),
        "multiclass": make_task(load_wine, "multiclass"),
        "regression": make_task(load_diabetes, "regression"),
    }


def tiny_task(kind: str, n: int = 6, seed: int = 1) -> Task:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": [np.nan] * n,  # missing throughout
            "c": rng.choice(np.array(["x", "y"], dtype=object), n),
        }
    )
    if kind == "regression":
        y: np.ndarray = rng.normal(size=n)
    elif kind == "binary":
        y = np.array(["no", "yes"] * (n // 2))
    else:
        y = np.array(["a", "b", "c"] * (n // 3))
    return Task.from_data(X, y, kind=kind, cv=2, random_state=seed)  # type: ignore[arg-type]


def algorithms(task: Task) -> dict[str, Algorithm]:
    return {a.name: a for a in autometa_sklearn.autometa_algorithms(task)}


def cases() -> list[tuple[str, str]]:
    return [(kind, name) for kind, names in EXPECTED.items() for name in names]


def sample_configs(algorithm: Algorithm, task: Task, n: int) -> list[dict[str, Any]]:
    study = optuna.create_study(sampler=RandomSampler(seed=7))
    space = algorithm.search_space(task)
    return [study.ask(space).params for _ in range(n)]


def first_split(task: Task) -> tuple[np.ndarray, np.ndarray]:
    return next(iter(task.cv.split(task.X, task.y)))


def check_proba(model: Any, X: pd.DataFrame, n_classes: int) -> None:
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), n_classes)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def prior_log_loss(y: np.ndarray) -> float:
    _, counts = np.unique(y, return_counts=True)
    share = counts / counts.sum()
    return float(-(share * np.log(share)).sum())


# -- the hook -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_hook_through_pluggy_offers_the_catalogue(tasks: dict[str, Task], kind: str) -> None:
    pm = pluggy.PluginManager(autometa.contract.hookspecs.PROJECT_NAME)
    pm.add_hookspecs(autometa.contract.hookspecs)
    pm.register(autometa_sklearn)
    results = pm.hook.autometa_algorithms(task=tasks[kind])
    assert len(results) == 1
    names = [a.name for a in results[0]]
    assert names == EXPECTED[kind]
    assert all(isinstance(a, Algorithm) and kind in a.kinds for a in results[0])


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_algorithms_pickle_for_worker_processes(tasks: dict[str, Task], kind: str) -> None:
    for algorithm in autometa_sklearn.autometa_algorithms(tasks[kind]):
        assert pickle.loads(pickle.dumps(algorithm)) == algorithm


def test_svm_is_offered_up_to_its_row_limit() -> None:
    def task(n: int) -> Task:
        rng = np.random.default_rng(0)
        return Task.from_data(
            pd.DataFrame({"a": rng.normal(size=n)}), np.arange(n) % 2, random_state=0
        )

    assert "svm" in algorithms(task(SVM_MAX_ROWS))
    big = task(SVM_MAX_ROWS + 1)
    assert "svm" not in algorithms(big)
    assert set(algorithms(big)) == set(EXPECTED["binary"]) - {"svm"}


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_svm_iteration_cap_falls_with_rows_above_the_knowledge_base_size(kind: str) -> None:
    """A libsvm call cannot be interrupted by a trial's time limit, so its iterations are
    capped in proportion to 1 / rows: about the same seconds at every size offered."""

    def built_cap(n: int) -> int:
        rng = np.random.default_rng(0)
        y = np.arange(n) % 2 if kind == "binary" else rng.normal(size=n)
        task = Task.from_data(pd.DataFrame({"a": rng.normal(size=n)}), y, random_state=0)
        final = algorithms(task)["svm"].make_estimator({}, task)[-1]
        model = final.regressor if kind == "regression" else final
        return int(model.max_iter)

    assert built_cap(500) == built_cap(SVM_ITER_ROWS) == SVM_MAX_ITER
    assert built_cap(4 * SVM_ITER_ROWS) == SVM_MAX_ITER // 4
    assert built_cap(SVM_MAX_ROWS) < built_cap(4 * SVM_ITER_ROWS)


# -- spaces and defaults ------------------------------------------------------------------
def _space_tasks() -> Iterator[Task]:
    rng = np.random.default_rng(0)
    for kind in ("binary", "multiclass", "regression"):
        yield tiny_task(kind)
        n = 20_000
        y = (
            rng.normal(size=n)
            if kind == "regression"
            else np.arange(n) % (2 if kind == "binary" else 4)
        )
        X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.choice(["u", "v"], n)})
        yield Task.from_data(X, y, kind=kind, random_state=0)  # type: ignore[arg-type]


@pytest.mark.parametrize("task", list(_space_tasks()), ids=lambda t: f"{t.kind}-{t.n_rows}")
def test_defaults_lie_in_every_space(task: Task) -> None:
    for algorithm in autometa_sklearn.autometa_algorithms(task):
        space = algorithm.search_space(task)
        assert set(space) == set(algorithm.default_params), algorithm.name
        for param, value in algorithm.default_params.items():
            dist = space[param]
            assert dist._contains(dist.to_internal_repr(value)), (algorithm.name, param, value)
        Config(algorithm.name, algorithm.default_params)  # JSON-safe


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_spaces_are_json_safe_and_knn_fits_the_folds(tasks: dict[str, Task], kind: str) -> None:
    task = tasks[kind]
    for algorithm in autometa_sklearn.autometa_algorithms(task):
        for dist in algorithm.search_space(task).values():
            if isinstance(dist, optuna.distributions.CategoricalDistribution):
                json.dumps(list(dist.choices))
                assert all(
                    c is None or isinstance(c, (str, int, float, bool)) for c in dist.choices
                )
    knn_k = algorithms(task)["knn"].search_space(task)["n_neighbors"]
    assert isinstance(knn_k, optuna.distributions.IntDistribution)
    assert knn_k.high <= task.fold_train_size() - 1


def test_sgd_default_loss_has_probabilities(tasks: dict[str, Task]) -> None:
    sgd = algorithms(tasks["binary"])["sgd"]
    assert sgd.default_params["loss"] == "log_loss"
    loss = sgd.search_space(tasks["binary"])["loss"]
    assert isinstance(loss, optuna.distributions.CategoricalDistribution)
    assert set(loss.choices) == {"log_loss", "modified_huber"}


def test_unknown_hyperparameter_is_named(tasks: dict[str, Task]) -> None:
    task = tasks["binary"]
    with pytest.raises(ValueError, match="n_estimators"):
        algorithms(task)["random_forest"].make_estimator({"n_estimators": 10}, task)


def test_factory_of_other_kind_is_refused(tasks: dict[str, Task]) -> None:
    regressor = algorithms(tasks["regression"])["linear"]
    with pytest.raises(ValueError, match="regression"):
        regressor.make_estimator({}, tasks["binary"])


# -- fitting --------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "name"), cases())
def test_default_config_beats_trivial_baseline(
    tasks: dict[str, Task], kind: str, name: str
) -> None:
    task = tasks[kind]
    algorithm = algorithms(task)[name]
    model = algorithm.make_estimator(algorithm.default_params, task)
    scores = cross_val_score(
        model, task.X, task.y, cv=task.cv, scoring=task.scoring, error_score="raise"
    )
    score = float(scores.mean())
    if kind == "binary":
        assert task.scoring == "roc_auc"
        assert score > 0.9, score
    elif kind == "multiclass":
        assert task.scoring == "neg_log_loss"
        assert score > -0.75 * prior_log_loss(task.y), score
    else:
        assert task.scoring == "r2"
        assert score > 0.2, score


@pytest.mark.parametrize(("kind", "name"), cases())
def test_sampled_configs_fit_and_predict(tasks: dict[str, Task], kind: str, name: str) -> None:
    task = tasks[kind]
    algorithm = algorithms(task)[name]
    train, test = first_split(task)
    scorer = get_scorer(task.scoring)
    for params in sample_configs(algorithm, task, N_SAMPLED):
        Config(name, params)  # sampled values are JSON-safe
        model = algorithm.make_estimator(params, task)
        model.fit(task.X.iloc[train], task.y[train])
        score = scorer(model, task.X.iloc[test], task.y[test])
        assert np.isfinite(score), params
        if task.is_classification:
            assert task.classes is not None
            check_proba(model, task.X.iloc[test], len(task.classes))


@pytest.mark.parametrize(("kind", "name"), cases())
def test_pipelines_clone_and_pickle(tasks: dict[str, Task], kind: str, name: str) -> None:
    task = tasks[kind]
    algorithm = algorithms(task)[name]
    train, test = first_split(task)
    X_train, y_train, X_test = task.X.iloc[train], task.y[train], task.X.iloc[test]
    model = algorithm.make_estimator(algorithm.default_params, task)
    unfitted = pickle.loads(pickle.dumps(model))
    model.fit(X_train, y_train)
    expected = model.predict(X_test)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X_test), expected)
    np.testing.assert_array_equal(clone(model).fit(X_train, y_train).predict(X_test), expected)
    np.testing.assert_array_equal(unfitted.fit(X_train, y_train).predict(X_test), expected)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_unseen_categories_at_predict_time(tasks: dict[str, Task], kind: str) -> None:
    task = tasks[kind]
    train, test = first_split(task)
    X_new = task.X.iloc[test].copy()
    X_new["colour"] = "purple"  # unseen, few-level column
    X_new["postcode"] = "p_unknown"  # unseen, many-level column
    X_new["size"] = np.nan
    X_new = task.schema.transform(X_new)  # as the engine normalises data to predict
    assert split_categorical(task) == (["colour", "size"], ["postcode"])
    for algorithm in autometa_sklearn.autometa_algorithms(task):
        model = algorithm.make_estimator(algorithm.default_params, task)
        model.fit(task.X.iloc[train], task.y[train])
        assert len(model.predict(X_new)) == len(X_new)
        if task.is_classification:
            assert task.classes is not None
            check_proba(model, X_new, len(task.classes))


def test_a_categorical_column_missing_throughout_the_training_rows_keeps_its_place() -> None:
    """The only column is a category with one value, in a row the training rows lack: each
    pipeline still has a feature to fit on (the fuzz test once found the one-hot path
    dropping it, leaving the linear model no column) and predicts on every row."""
    column = pd.Series([None] * 8 + [False], dtype="boolean")
    task = Task.from_data(pd.DataFrame({"flag": column}), np.array([0, 0, 1, 1, 1, 1, 1, 1, 1]))
    train = np.arange(8)  # the rows where "flag" is missing
    for algorithm in autometa_sklearn.autometa_algorithms(task):
        model = algorithm.make_estimator(algorithm.default_params, task)
        model.fit(task.X.iloc[train], task.y[train])
        assert len(model.predict(task.X)) == len(task.X), algorithm.name


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, n in cases() if n in WITH_PCA])
def test_pca_flag_inserts_pca(tasks: dict[str, Task], kind: str, name: str) -> None:
    task = tasks[kind]
    algorithm = algorithms(task)[name]
    assert "pca" not in algorithm.make_estimator({}, task).named_steps
    model = algorithm.make_estimator({"pca": True}, task)
    pca = model.named_steps["pca"]
    assert isinstance(pca, PCA)
    assert pca.n_components == 0.95
    train, _ = first_split(task)
    model.fit(task.X.iloc[train], task.y[train])
    assert model.named_steps["pca"].n_components_ < model.named_steps["pca"].n_features_in_


def test_only_scale_sensitive_models_offer_pca(tasks: dict[str, Task]) -> None:
    for kind in ("binary", "regression"):
        for name, algorithm in algorithms(tasks[kind]).items():
            assert ("pca" in algorithm.search_space(tasks[kind])) == (name in WITH_PCA)


def test_scale_sensitive_regressors_standardise_the_target(tasks: dict[str, Task]) -> None:
    task = tasks["regression"]
    for name, algorithm in algorithms(task).items():
        final = algorithm.make_estimator({}, task).named_steps["model"]
        assert isinstance(final, TransformedTargetRegressor) == (name in {"svm", "sgd", "mlp"})


def test_hist_gradient_boosting_uses_native_categories(tasks: dict[str, Task]) -> None:
    task = tasks["binary"]
    model = algorithms(task)["hist_gradient_boosting"].make_estimator({}, task)
    n_numeric = len(task.schema.numeric)
    expected = list(range(n_numeric, n_numeric + len(task.schema.categorical)))
    assert model.named_steps["model"].categorical_features == expected
    train, _ = first_split(task)
    model.fit(task.X.iloc[train], task.y[train])
    assert model.named_steps["model"].is_categorical_[n_numeric:].all()


# -- small data -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_every_algorithm_survives_a_six_row_fold(kind: str) -> None:
    task = tiny_task(kind, n=12)
    train, test = first_split(task)
    assert len(train) == 6
    for algorithm in autometa_sklearn.autometa_algorithms(task):
        space = algorithm.search_space(task)
        extreme = {"early_stopping": True} if "early_stopping" in space else {}
        for params in (dict(algorithm.default_params), extreme):
            model = algorithm.make_estimator(params, task)
            model.fit(task.X.iloc[train], task.y[train])
            model.predict(task.X.iloc[test])
            if task.is_classification:
                assert task.classes is not None
                check_proba(model, task.X.iloc[test], len(task.classes))


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_knn_clamps_neighbours_to_the_fold(kind: str) -> None:
    task = tiny_task(kind, n=12)
    knn = algorithms(task)["knn"]
    train, test = first_split(task)
    for k in (5, 6, 50):
        model = knn.make_estimator({"n_neighbors": k}, task).fit(task.X.iloc[train], task.y[train])
        assert model.named_steps["model"].n_neighbors_ == min(k, 6)
        assert model.named_steps["model"].n_neighbors == k  # the parameter is untouched
        assert len(model.predict(task.X.iloc[test])) == len(test)


def test_svm_calibrates_when_a_class_has_one_row() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(9, 2))
    y = np.array(["a", "a", "a", "a", "b", "b", "b", "b", "c"])
    model = CalibratedSVC(random_state=0).fit(X, y)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(model.classes_) == ["a", "b", "c"]


def test_mlp_skips_early_stopping_without_room_for_a_holdout() -> None:
    y_small = np.array([0, 0, 1, 1, 2, 2])
    assert not holdout_possible(y_small, 0.1, stratified=True)
    assert holdout_possible(np.arange(100) % 2, 0.1, stratified=True)
    X = np.random.default_rng(0).normal(size=(6, 2))
    model = HoldoutSafeMLPClassifier(early_stopping=True, max_iter=5).fit(X, y_small)
    assert model.early_stopping is True  # the parameter is untouched
    assert model.early_stopping_used_ is False


def test_task_with_only_categorical_or_only_numeric_columns() -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    numeric = Task.from_data(X, y.to_numpy(), cv=3, random_state=0)
    categorical = Task.from_data(
        X.apply(lambda c: pd.qcut(c, 4, labels=False, duplicates="drop").map("q{}".format)),
        y.to_numpy(),
        cv=3,
        random_state=0,
    )
    assert not categorical.schema.numeric
    for task in (numeric, categorical):
        train, test = first_split(task)
        for algorithm in autometa_sklearn.autometa_algorithms(task):
            model = algorithm.make_estimator(algorithm.default_params, task)
            model.fit(task.X.iloc[train], task.y[train])
            check_proba(model, task.X.iloc[test], 3)


def test_one_hot_threshold(tasks: dict[str, Task]) -> None:
    few, many = split_categorical(tasks["binary"])
    levels = tasks["binary"].X[many[0]].nunique()
    assert levels > MAX_ONE_HOT_LEVELS
    assert all(tasks["binary"].X[c].nunique() <= MAX_ONE_HOT_LEVELS for c in few)
