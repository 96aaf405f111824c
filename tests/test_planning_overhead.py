"""Planning is timed, and what depends only on the knowledge base is computed once per
content digest: never stale, and giving exactly what a fresh computation gives."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.stats
from sklearn.datasets import load_breast_cancer, make_classification

import autometa
from autometa._explain import explain_fit, format_planning
from autometa.contract import Config, Evaluation
from autometa.contract._task import Task
from autometa.knowledge import KnowledgeBase, TaskRecord
from autometa.knowledge._base import CACHE_DIR_ENV
from autometa.knowledge._derived import (
    _derived_fingerprints,
    _derived_scores,
    _derived_tasks,
    fingerprints_of,
)
from autometa.knowledge._packaged import Packaged as _Packaged
from autometa.knowledge._packaged import packaged_file as _packaged_file
from autometa.search._metafeatures import MAX_STATISTICS_ROWS, compute_meta_features
from autometa.search._planning import PLANNING_STEPS, make_plan
from autometa.search._subsample import stratified_subsample
from autometa_selectors import learned
from autometa_selectors.selection import PairwiseSelector, TrainingSet
from autometa_selectors.stored import load_selector, save_selector, stored_path, training_key

CHEAP = ["linear", "naive_bayes", "knn"]


@pytest.fixture(scope="module")
def cancer() -> tuple[Any, Any]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:200], y.iloc[:200]


def clear_memos() -> None:
    """Forget everything kept in this process, as a new process would."""
    for memo in (_derived_scores, _derived_fingerprints, _derived_tasks, learned._fitted):
        memo.cache_clear()


# -- timings -------------------------------------------------------------------------------
def test_plan_timings_cover_every_step(cancer: tuple[Any, Any], tiny_knowledge: Path) -> None:
    X, y = cancer
    with KnowledgeBase.open(tiny_knowledge, read_only=True) as kb:
        plan = make_plan(X, y, knowledge=kb, algorithms=CHEAP)
    assert list(plan.timings) == list(PLANNING_STEPS)
    assert all(math.isfinite(s) and s >= 0.0 for s in plan.timings.values())
    assert plan.timings["meta_features"] > 0.0  # it fits landmarkers: never free
    text = format_planning(plan.timings)
    assert text.startswith(f"Planning: {sum(plan.timings.values()):.3f}s")
    for step in PLANNING_STEPS:
        assert f"{step} {plan.timings[step]:.3f}s" in text


def _cheap_fit(cancer: tuple[Any, Any], tiny_knowledge: Path, **params: Any) -> Any:
    """A two-trial fit of the cheap algorithms, learning from the tiny base only."""
    X, y = cancer
    knowledge = KnowledgeBase.open(tiny_knowledge, read_only=True)
    return autometa.fit(
        X, y, n_trials=2, random_state=0, algorithms=CHEAP, knowledge=knowledge, **params
    )


def test_explain_prints_the_planning_timings(cancer: tuple[Any, Any], tiny_knowledge: Path) -> None:
    model = _cheap_fit(cancer, tiny_knowledge)
    assert set(model.planning_timings_) == set(PLANNING_STEPS)
    assert all(s >= 0.0 for s in model.planning_timings_.values())
    text = explain_fit(model)
    assert format_planning(model.planning_timings_) in text
    assert model.explain() == text
    assert "validation=cv (" in text or "validation=holdout" in text


def test_explain_names_the_users_cv_not_the_strategys(
    cancer: tuple[Any, Any], tiny_knowledge: Path
) -> None:
    model = _cheap_fit(cancer, tiny_knowledge, cv=3)
    assert "validation=cv=3 (given; the strategy's" in model.explain()
    assert "(5 folds)" not in model.explain()


# -- derived data keyed by the content digest ----------------------------------------------
def _config(i: int) -> Config:
    return Config("linear", {"C": float(i)})


def test_a_changed_knowledge_base_is_never_read_from_a_stale_memo(tmp_path: Path) -> None:
    path = tmp_path / "kb.db"
    with KnowledgeBase.open(path) as kb, KnowledgeBase.open(path) as other:
        kb.add_task(TaskRecord("a", "a", "binary", "roc_auc", {"x": 1.0}))
        kb.add_evaluations([Evaluation("a", _config(1), 0.7, 0.1)])
        before = kb.content_digest()
        assert before is not None
        table = kb.score_table("binary")
        assert table.shape == (1, 1)
        fingerprints = kb.task_fingerprints()
        assert kb.score_table("binary").shape == (1, 1)  # read again: from the memo
        kb.add_evaluations([Evaluation("a", _config(2), 0.9, 0.1)])
        assert kb.content_digest() != before
        assert kb.score_table("binary").shape == (1, 2)
        assert kb.task_fingerprints() != fingerprints
        # a write through another handle (another process would be the same) is seen too
        other.add_task(TaskRecord("b", "b", "binary", "roc_auc", {"x": 2.0}))
        other.add_evaluations([Evaluation("b", _config(1), 0.5, 0.1)])
        assert kb.content_digest() == other.content_digest()
        assert kb.score_table("binary").task_ids == ["a", "b"]
        assert [t.task_id for t in kb.tasks()] == ["a", "b"]
        other.add_evaluations([Evaluation("b", _config(1), 0.25, 0.1)])  # a cell replaced
        assert kb.score_table("binary").scores[1, 0] == 0.25


def test_memoised_reads_equal_fresh_reads_and_are_copies(tiny_knowledge: Path) -> None:
    with KnowledgeBase.open(tiny_knowledge, read_only=True) as kb:
        assert kb.content_digest() is not None  # the builder wrote it
        for kind in (None, "binary", "multiclass", "regression"):
            for algorithms in (None, ["linear"], ["knn", "random_forest"]):
                fresh = kb._live_store().read_score_table(kind, algorithms)
                memo = kb.score_table(kind, algorithms=algorithms)
                assert memo.task_ids == fresh.task_ids
                assert memo.configs == fresh.configs
                np.testing.assert_array_equal(memo.scores, fresh.scores)
        assert kb.task_fingerprints() == fingerprints_of(kb._live_store().digest_inputs())
        assert kb.tasks() == kb._live_store().read_tasks(None)
        assert kb.tasks("binary") == kb._live_store().read_tasks("binary")
        kb.tasks()[0].meta_features.clear()  # a caller's copy: the memo is untouched
        kb.score_table().task_ids.clear()
        assert kb.tasks() == kb._live_store().read_tasks(None)
        assert kb.score_table().task_ids == kb._live_store().read_score_table(None, None).task_ids


def test_a_base_without_revision_is_read_directly(tmp_path: Path, tiny_knowledge: Path) -> None:
    copy = tmp_path / "old.db"
    copy.write_bytes(tiny_knowledge.read_bytes())
    with sqlite3.connect(copy) as raw:  # as a base written before revisions existed
        raw.execute("DELETE FROM meta WHERE key = 'revision'")
    with KnowledgeBase.open(copy, read_only=True) as kb:
        assert kb.content_digest() is None
        assert (
            kb.score_table("binary").shape
            == kb._live_store().read_score_table("binary", None).shape
        )


@pytest.fixture(scope="module")
def shipped_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The shipped base cached in a folder of its own (built once for this module)."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_DIR_ENV, str(folder))
        clear_memos()
        with KnowledgeBase.default() as kb:
            assert kb.configs()  # not packaged: the shipped files are parsed and cached
        yield folder
    clear_memos()


def test_shipped_derived_files_are_keyed_by_the_files_digest(
    shipped_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(shipped_cache))
    clear_memos()
    kb = KnowledgeBase.default()
    assert kb.content_digest().startswith("shipped-")
    table = kb.score_table("regression")
    fingerprints = kb.task_fingerprints()
    (scores,) = shipped_cache.glob("default-kb-*.scores.npz")
    (prints,) = shipped_cache.glob("default-kb-*.fingerprints.npz")
    assert scores.name.startswith(Path(kb.location).stem)
    clear_memos()  # a new process: read back from the files
    again = kb.score_table("regression")
    assert again.task_ids == table.task_ids
    assert again.configs == table.configs
    np.testing.assert_array_equal(again.scores, table.scores)
    assert (
        kb.task_fingerprints() == fingerprints == fingerprints_of(kb._live_store().digest_inputs())
    )
    # a file written for other content is not used: it is recomputed and replaced
    with np.load(scores, allow_pickle=False) as data:
        arrays = dict(data)
    arrays["digest"] = np.array("shipped-someone-else")
    arrays["scores"] = np.zeros_like(arrays["scores"])
    np.savez(scores, **arrays)
    clear_memos()
    np.testing.assert_array_equal(kb.score_table("regression").scores, table.scores)
    clear_memos()
    prints.write_bytes(b"not an npz file")
    assert kb.task_fingerprints() == fingerprints


def test_the_packaged_planning_data_describes_the_shipped_files(
    shipped_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(shipped_cache))
    with KnowledgeBase.default() as kb:
        digest = kb.content_digest()
        assert digest is not None
        packaged = _Packaged.load(_packaged_file(), digest)
        assert packaged is not None, (
            "autometa/data/default_kb_derived.npz does not describe the shipped base; "
            'regenerate it: python -c "from autometa.knowledge._base import write_packaged; '
            'write_packaged()"'
        )
        assert packaged.tasks == tuple(kb._live_store().read_tasks(None))
        assert dict(packaged.fingerprints) == fingerprints_of(kb._live_store().digest_inputs())
        assert dict(packaged.counts) == kb.counts()
        table = kb._live_store().read_score_table(None, None)
        assert packaged.scores.table.task_ids == table.task_ids
        assert packaged.scores.table.configs == table.configs
        np.testing.assert_array_equal(packaged.scores.table.scores, table.scores)


def test_recommend_is_the_same_before_and_after_caching(
    shipped_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    X, y = make_classification(n_samples=300, n_features=8, random_state=3)
    monkeypatch.setenv(CACHE_DIR_ENV, str(shipped_cache))
    for derived in [
        *shipped_cache.glob("default-kb-*.npz"),
        *shipped_cache.glob("selector-forests-*.npz"),
    ]:
        derived.unlink()  # only the base itself is cached: everything else is computed
    with pytest.MonkeyPatch.context() as patch:  # and the selector is fitted, not shipped
        patch.setattr(learned, "shipped_selector", lambda: tmp_path / "absent.npz")
        clear_memos()
        first = autometa.recommend(X, y, k=5)
        assert list(shipped_cache.glob("selector-forests-*.npz")), "the fitted selector is kept"
        assert list(shipped_cache.glob("default-kb-*.scores.npz")), "so is the score table"
        clear_memos()  # a new process: derived files and the stored selector are read back
        second = autometa.recommend(X, y, k=5)
        third = autometa.recommend(X, y, k=5)  # the same process: memos
    keys = [r.config.key for r in first]
    assert len(keys) == 5
    assert [r.config.key for r in second] == keys == [r.config.key for r in third]
    assert [r.predicted_score for r in second] == [r.predicted_score for r in first]
    # a fresh machine: no cache at all; the packaged data and the shipped selector serve
    fresh_cache = tmp_path / "fresh"
    monkeypatch.setenv(CACHE_DIR_ENV, str(fresh_cache))
    clear_memos()
    fresh = autometa.recommend(X, y, k=5)
    assert [r.config.key for r in fresh] == keys
    assert not list(fresh_cache.glob("default-kb-*.db")), "no parse was needed"


# -- the stored selector -------------------------------------------------------------------
def test_the_shipped_selector_is_the_default_fit_on_the_shipped_base(
    shipped_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import sklearn

    from autometa._plugins import build_plugin_manager

    with np.load(Path(str(learned.shipped_selector())), allow_pickle=False) as data:
        header = json.loads(str(data["header"]))
    if header["sklearn"] != sklearn.__version__:
        pytest.skip(f"shipped for scikit-learn {header['sklearn']}: refitted once here")
    monkeypatch.setenv(CACHE_DIR_ENV, str(shipped_cache))
    with KnowledgeBase.default() as kb:
        offered = sorted(build_plugin_manager().meta_learners())
        found = learned.training_data(kb, offered)
        assert found is not None
        records = kb.tasks()
        training = TrainingSet.build(found[0], {r.task_id: r for r in records})
    key = training_key(training, PairwiseSelector(random_state=learned.SELECTOR_SEED))
    assert header["key"] == key, (
        "plugins/autometa_selectors/data/selector_forests.npz is not the default fit on the "
        'shipped base; regenerate it: python -c "from autometa_selectors.learned import '
        'write_shipped_selector; write_shipped_selector()"'
    )
    shipped = load_selector(Path(str(learned.shipped_selector())), key)
    fitted = PairwiseSelector(random_state=learned.SELECTOR_SEED).fit(training)
    for record in records[:40]:
        assert shipped.wins(record.meta_features, record.kind) == fitted.wins(
            record.meta_features, record.kind
        )
        assert shipped.choose(record.meta_features, record.kind) == fitted.choose(
            record.meta_features, record.kind
        )


def _training(n_tasks: int = 40) -> TrainingSet:
    """Tasks where learner "a" wins when feature f0 is high, "b" when low, "c" never."""
    rng = np.random.default_rng(0)
    features = [{"f0": float(v), "f1": float(w)} for v, w in rng.normal(size=(n_tasks, 2))]
    features[3]["f1"] = math.nan
    targets = np.array(
        [[0.1 if f["f0"] > 0 else 0.5, 0.5 if f["f0"] > 0 else 0.1, 0.6] for f in features]
    )
    kinds = ["binary" if i % 2 else "regression" for i in range(n_tasks)]
    return TrainingSet([f"t{i}" for i in range(n_tasks)], features, kinds, targets, ["a", "b", "c"])


def test_a_stored_selector_chooses_exactly_as_the_fitted_one(tmp_path: Path) -> None:
    training = _training()
    fitted = PairwiseSelector(n_estimators=20, random_state=0).fit(training)
    assert any(not isinstance(m, (str, type(None))) for m in fitted.pairs_.values())
    key = training_key(training, fitted)
    path = tmp_path / "selector.npz"
    save_selector(fitted, path, key)
    loaded = load_selector(path, key)
    rng = np.random.default_rng(1)
    for values in rng.normal(size=(30, 2)):
        point = {"f0": float(values[0]), "f1": float(values[1]) if values[1] > -1 else math.nan}
        for kind in ("binary", "regression"):
            assert loaded.wins(point, kind) == fitted.wins(point, kind)
            assert loaded.choose(point, kind) == fitted.choose(point, kind)
    with pytest.raises(ValueError, match="another training set"):
        load_selector(path, "0" * 64)


def test_a_damaged_stored_selector_is_refitted(tmp_path: Path) -> None:
    training = _training()
    learned._fitted.cache_clear()
    first = learned.fitted_selector(training, tmp_path)
    (path,) = tmp_path.glob("selector-forests-*.npz")
    key = training_key(training, PairwiseSelector(random_state=learned.SELECTOR_SEED))
    assert path == stored_path(tmp_path, key)
    with np.load(path, allow_pickle=False) as data:
        arrays = dict(data)
    nodes = arrays["nodes"].copy()
    nodes["left_child"][nodes["left_child"] > 0] = 0  # children pointing back up: a loop
    np.savez(path, **{**arrays, "nodes": nodes})
    with pytest.raises(ValueError, match="inconsistent"):
        load_selector(path, key)
    learned._fitted.cache_clear()
    again = learned.fitted_selector(training, tmp_path)
    point = {"f0": 0.3, "f1": -0.2}
    assert again.choose(point, "binary") == first.choose(point, "binary")
    assert load_selector(path, key).wins(point, "binary") == first.wins(point, "binary")


# -- meta-features on a bounded subsample --------------------------------------------------
def test_statistics_use_a_seeded_bounded_subsample() -> None:
    rows = MAX_STATISTICS_ROWS + 500
    X, y = make_classification(n_samples=rows, n_features=4, weights=[0.9], random_state=0)
    X[:, 0] = np.exp(X[:, 0])  # skewed, so a different subsample gives different moments
    task = Task.from_data(X, y)
    first = compute_meta_features(task, expensive=False)
    second = compute_meta_features(task, expensive=False)
    assert first.values == second.values  # NaN-free here, so == is exact
    other_seed = compute_meta_features(task, expensive=False, random_state=1)
    assert other_seed.values["SkewnessMax"] != first.values["SkewnessMax"]
    # exactly scipy's moments on the subsample the expensive groups' helper draws
    sample = stratified_subsample(task.y, task.kind, MAX_STATISTICS_ROWS, 0)
    assert len(sample) == MAX_STATISTICS_ROWS
    columns = np.ascontiguousarray(np.asarray(X, dtype=float)[sample].T)  # as computed
    expected = scipy.stats.skew(columns, axis=1)
    assert first.values["SkewnessMax"] == float(np.max(expected))
    # counts still use every row
    assert first.values["NumberOfInstances"] == rows


def test_statistics_of_a_small_table_use_every_row() -> None:
    X, y = make_classification(n_samples=500, n_features=4, random_state=0)
    values = compute_meta_features(Task.from_data(X, y), expensive=False).values
    columns = np.ascontiguousarray(np.asarray(X, dtype=float).T)
    assert values["SkewnessMin"] == float(np.min(scipy.stats.skew(columns, axis=1)))
