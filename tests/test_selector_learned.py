"""The learned strategy selector: it learns which meta-learner wins where, is judged by
leave-one-task-out like a learner, finds its training data (shipped, cached, computed)
for the knowledge base in use, and leaves the answer to the rule-based one otherwise."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer

import autometa
import autometa_selectors
from autometa._cli import main
from autometa._plugins import build_plugin_manager
from autometa.contract import Config, Evaluation, SearchBudget
from autometa.contract._task import Task
from autometa.knowledge import KnowledgeBase, TaskRecord
from autometa.knowledge._loto import SBS, _summarise
from autometa.testing import check_plugin, check_strategy_selector, small_tasks
from autometa_learners import GreedyPortfolio, NearestTasks
from autometa_selectors.learned import (
    MAX_MEASURED_IN_FIT,
    MIN_TRAINING_TASKS,
    cache_files,
    choose_learner,
    shipped_data,
)
from autometa_selectors.selection import (
    ORACLE,
    SELECTOR,
    PairwiseSelector,
    Selector,
    SelectorData,
    TrainingSet,
    evaluate_selectors,
    selector_choices,
)

KS = (1, 3, 5, 10, 25)
PAIR = ("greedy_portfolio", "nearest_tasks")
LEARNERS = {"greedy_portfolio": GreedyPortfolio, "nearest_tasks": NearestTasks}
FIRST_PARTY = {"sklearn", "learners", "selectors"}


# -- synthetic training data: learner "a" is best exactly where f > 0 ---------------------------
def records(n: int, seed: int = 0, kind: str = "binary") -> dict[str, TaskRecord]:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        features = {"f": float(rng.uniform(-1, 1)), "noise": float(rng.normal())}
        if i % 4 == 0:
            features["sometimes"] = math.nan  # undefined on some tasks
        else:
            features["sometimes"] = float(rng.normal())
        out[f"t{i:03d}"] = TaskRecord(f"t{i:03d}", f"t{i:03d}", kind, "roc_auc", features)
    return out


def rule_data(tasks: dict[str, TaskRecord], seed: int = 0) -> SelectorData:
    """Regret curves where "a" wins (by a random margin) exactly when f > 0, "b" otherwise."""
    rng = np.random.default_rng(seed)
    regrets = {}
    for task_id, record in tasks.items():
        loser = [float(r) for r in np.sort(rng.uniform(0.1, 0.6, len(KS)))[::-1]]
        winner = [0.0] * len(KS)
        a_wins = record.meta_features["f"] > 0
        regrets[task_id] = {"a": winner if a_wins else loser, "b": loser if a_wins else winner}
    return SelectorData(KS, ("a", "b"), regrets)


def small_forests(training: TrainingSet) -> Selector:
    """The pairwise selector with fewer trees: the same model, a fraction of the time."""
    return PairwiseSelector(n_estimators=20).fit(training)


def report_of(data: SelectorData) -> Any:
    """A LotoReport over ``data``'s learners, with a single-best row as loto makes one."""
    per_task = {
        t: {**{n: list(c[n]) for n in data.learners}, SBS: [0.3] * len(KS)}
        for t, c in data.regrets.items()
    }
    return _summarise(per_task, [*data.learners, SBS], KS)


def test_selector_learns_which_learner_wins_where_and_beats_both() -> None:
    tasks = records(40)
    data = rule_data(tasks)
    choices = selector_choices(data, tasks, small_forests)
    truth = {t: "a" if r.meta_features["f"] > 0 else "b" for t, r in tasks.items()}
    accuracy = np.mean([choices[t] == truth[t] for t in tasks])
    assert accuracy >= 0.95, f"held-out accuracy {accuracy:.2f}"
    evaluation = evaluate_selectors(report_of(data), data, tasks, small_forests)
    results = evaluation.report.results
    for k in KS:
        assert results[SELECTOR].regret_at[k] < min(
            results["a"].regret_at[k], results["b"].regret_at[k]
        )
        assert results[ORACLE].regret_at[k] == 0.0
    assert results[SELECTOR].gap_closed > 0.9
    assert "learned_selector chose: a" in evaluation.summary()


def test_a_held_out_task_and_its_duplicates_never_train_its_selector() -> None:
    tasks = records(24)
    twin = tasks["t001"]
    tasks["t001_copy"] = TaskRecord(
        "t001_copy", "copy", twin.kind, twin.scoring, twin.meta_features
    )
    data = rule_data(tasks)
    seen: dict[float, list[str]] = {}

    def spying_learn(training: TrainingSet) -> Any:
        query_free = sorted(training.task_ids)
        selector = small_forests(training)

        class Recording:
            def choose(self, meta_features: Any, kind: str) -> Any:
                seen[meta_features["f"]] = query_free
                return selector.choose(meta_features, kind)

        return Recording()

    selector_choices(data, tasks, spying_learn)
    trained_on = seen[twin.meta_features["f"]]
    assert "t001" not in trained_on
    assert "t001_copy" not in trained_on
    assert len(trained_on) == len(tasks) - 2


def test_ties_teach_nothing() -> None:
    """Where both learners tie, the forest gets no example: "a" wins where it ever differs."""
    tasks = records(60)
    data = rule_data(tasks)
    tied = {
        t: (
            {"a": [0.0] * 5, "b": [0.4] * 5}
            if r.meta_features["f"] > 0
            else {"a": [0.2] * 5, "b": [0.2] * 5}
        )
        for t, r in tasks.items()
    }
    data = SelectorData(KS, ("a", "b"), tied)
    selector = PairwiseSelector(guard=False).fit(TrainingSet.build(data, tasks))
    assert selector.choose({"f": -0.9, "noise": 0.0}, "binary").learner == "a"
    assert selector.choose({"f": 0.9, "noise": 0.0}, "binary").learner == "a"


def test_forests_that_do_not_beat_the_single_best_learner_give_way_to_it() -> None:
    """Noise: "a" is better on 80% of tasks regardless of the meta-features."""
    tasks = records(40, seed=4)
    rng = np.random.default_rng(4)
    regrets = {}
    for task_id in tasks:
        a_wins = rng.random() < 0.8
        regrets[task_id] = {"a": [0.0 if a_wins else 0.5] * 5, "b": [0.5 if a_wins else 0.0] * 5}
    selector = small_forests(TrainingSet.build(SelectorData(KS, ("a", "b"), regrets), tasks))
    queries = [dict(r.meta_features) for r in records(20, seed=5).values()]
    choices = [selector.choose(q, "binary") for q in queries]
    assert {c.learner for c in choices} == {"a"}
    assert "did not beat it out of bag" in choices[0].reason


def test_a_near_tie_names_the_same_single_best_whichever_task_is_held_out() -> None:
    """An exact tie on the mean: removing one task must not flip the single best (by
    the means alone it flips against the removed task, every time)."""
    tasks = records(40, seed=6)
    regrets = {}
    for i, task_id in enumerate(tasks):
        b = 0.4 if i < 5 else 0.0 if i < 10 else 0.2  # "b" loses 5 tasks, wins 5
        regrets[task_id] = {"a": [0.2] * 5, "b": [b] * 5}
    data = SelectorData(KS, ("a", "b"), regrets)
    chosen = set()
    for held_out in data.task_ids:
        others = [t for t in data.task_ids if t != held_out]
        selector = small_forests(TrainingSet.build(data, tasks, task_ids=others))
        chosen.add(selector.choose(dict(tasks[held_out].meta_features), "binary").learner)
    assert chosen == {"a"}  # tied, so the first by name, every time


def test_nan_unknown_features_and_an_unseen_kind_still_get_a_learner() -> None:
    tasks = records(40)
    for task_id in list(tasks)[:10]:  # an all-NaN column and infinite-free NaNs
        r = tasks[task_id]
        tasks[task_id] = TaskRecord(
            r.task_id, r.name, r.kind, r.scoring, {**r.meta_features, "f": math.nan}
        )
    data = rule_data(records(40))
    selector = PairwiseSelector().fit(TrainingSet.build(data, tasks))
    for query, kind in [
        ({"f": math.nan, "noise": math.inf, "new_feature": 1.0}, "binary"),
        ({}, "regression"),  # a kind the selector never saw
        ({"f": 0.5, "sometimes": math.nan}, "multiclass"),
    ]:
        assert selector.choose(query, kind).learner in {"a", "b"}


def test_pairwise_selector_is_deterministic_under_random_state() -> None:
    tasks = records(60, seed=3)
    rng = np.random.default_rng(3)
    noisy = SelectorData(
        KS,
        ("a", "b", "c"),
        {t: {n: sorted(rng.uniform(0, 1, 5).tolist(), reverse=True) for n in "abc"} for t in tasks},
    )
    training = TrainingSet.build(noisy, tasks)
    queries = [dict(r.meta_features) for r in records(20, seed=9).values()]

    def wins(seed: int) -> list[dict[str, float]]:
        selector = PairwiseSelector(20, guard=False, random_state=seed).fit(training)
        return [selector.wins(q, "binary") for q in queries]

    assert wins(0) == wins(0)
    assert wins(0) != wins(1), "the forests ignore random_state"


def test_selector_data_round_trips_as_json_and_refuses_bad_files(tmp_path: Path) -> None:
    data = rule_data(records(5))
    path = tmp_path / "data.json"
    data.save(path)
    assert SelectorData.load(path) == data
    assert json.loads(path.read_text())["format"] == "autometa-selector-data"
    path.write_text('{"format": "autometa-selector-data", "version": 99}')
    with pytest.raises(ValueError, match=r"version 99.*--save-selector-data"):
        SelectorData.load(path)
    path.write_text("[1, 2")
    with pytest.raises(ValueError, match=f"{path.name}: not JSON"):
        SelectorData.load(path)
    with pytest.raises(ValueError, match="regrets in \\[0, 1\\]"):
        SelectorData(KS, ("a",), {"t": {"a": [math.nan] * 5}})


# -- a real knowledge base, real learners -------------------------------------------------------
CONFIGS = [Config("linear", {"C": 10.0**e, "pca": False}) for e in range(-3, 3)] + [
    Config("knn", {"n_neighbors": n, "weights": "uniform", "p": 2, "pca": False})
    for n in (1, 5, 15, 45)
]
"""Points of the real search spaces, so a fit can enqueue what the learners recommend."""


def add_task(kb: KnowledgeBase, index: int, rng: np.random.Generator) -> None:
    """A binary task whose best configuration moves with its meta-feature f."""
    f = float(rng.uniform(-1, 1))
    task_id = f"task{index:03d}"
    features = {
        "NumberOfInstances": float(rng.integers(100, 5000)),
        "NumberOfFeatures": 10.0,
        "f": f,
    }
    kb.add_task(TaskRecord(task_id, task_id, "binary", "roc_auc", features))
    best = (f + 1) / 2 * (len(CONFIGS) - 1)
    kb.add_evaluations(
        Evaluation(task_id, config, 0.9 - 0.05 * abs(i - best) + rng.normal(0, 0.02), 0.1)
        for i, config in enumerate(CONFIGS)
    )


def synthetic_kb(n: int = 24, seed: int = 0) -> KnowledgeBase:
    kb = KnowledgeBase.in_memory()
    rng = np.random.default_rng(seed)
    for index in range(n):
        add_task(kb, index, rng)
    return kb


def binary_features() -> dict[str, float]:
    return {"NumberOfInstances": 569.0, "NumberOfFeatures": 30.0, "f": 0.2}


def test_too_small_or_empty_base_or_unseen_kind_leaves_the_rule_based_selector(
    tmp_path: Path,
) -> None:
    none = tmp_path / "absent.json"
    for kb in (KnowledgeBase.in_memory(), synthetic_kb(MIN_TRAINING_TASKS - 1)):
        choice = choose_learner(
            "binary",
            binary_features(),
            kb,
            PAIR,
            shipped=none,
            cache_dir=tmp_path,
            learners=LEARNERS,
        )
        assert choice is None
    assert cache_files(tmp_path) == [], "a too-small base was measured anyway"
    kb = synthetic_kb()
    assert (
        choose_learner(
            "regression", {}, kb, PAIR, shipped=none, cache_dir=tmp_path, learners=LEARNERS
        )
        is None
    )
    assert (
        choose_learner(
            "binary", {}, kb, PAIR[:1], shipped=none, cache_dir=tmp_path, learners=LEARNERS
        )
        is None
    )
    task = small_tasks()["binary"]
    strategy = autometa_selectors.autometa_select_strategy(
        task=task,
        meta_features=binary_features(),
        knowledge=synthetic_kb(5),
        meta_learners=list(PAIR),
        budget=SearchBudget(None, task.n_splits, task.n_rows),
    )
    assert strategy.reason.startswith("rule-based")
    assert strategy.meta_learner == "greedy_portfolio"


def test_training_data_is_cached_reused_and_invalidated_per_changed_task(tmp_path: Path) -> None:
    absent = tmp_path / "absent.json"
    cache_dir = tmp_path / "cache"
    kb = synthetic_kb()
    first = choose_learner(
        "binary",
        binary_features(),
        kb,
        PAIR,
        shipped=absent,
        cache_dir=cache_dir,
        learners=LEARNERS,
    )
    assert first is not None
    assert first.learner in PAIR
    assert "computed now" in first.reason
    (cache,) = cache_files(cache_dir)
    data = SelectorData.load(cache)
    assert data.learners == PAIR
    assert sorted(data.regrets) == sorted(kb.task_fingerprints())
    assert len(data.regrets) == 24
    assert data.task_fingerprints == kb.task_fingerprints()

    # The second call reads the file: rewrite it so that each learner in turn always wins.
    for favourite, other in (PAIR, PAIR[::-1]):
        rigged = {t: {favourite: [0.0] * 5, other: [0.5] * 5} for t in data.regrets}
        SelectorData(data.ks, data.learners, rigged, data.task_fingerprints).save(cache)
        again = choose_learner(
            "binary",
            binary_features(),
            kb,
            PAIR,
            shipped=absent,
            cache_dir=cache_dir,
            learners=LEARNERS,
        )
        assert again is not None
        assert again.learner == favourite
        assert "cached in" in again.reason
        assert "computed now" not in again.reason
        assert cache_files(cache_dir) == [cache]

    # A new task and a changed task: only those two are measured; the rest is reused.
    add_task(kb, 99, np.random.default_rng(5))
    kb.add_evaluations([Evaluation("task003", CONFIGS[0], 0.99, 0.1)])
    changed = choose_learner(
        "binary",
        binary_features(),
        kb,
        PAIR,
        shipped=absent,
        cache_dir=cache_dir,
        learners=LEARNERS,
    )
    assert changed is not None
    assert "computed now" in changed.reason
    newest = cache_files(cache_dir)[0]
    assert newest != cache
    updated = SelectorData.load(newest)
    assert updated.task_fingerprints == kb.task_fingerprints()
    reused = {t for t in rigged if updated.regrets.get(t) == rigged[t]}
    assert set(updated.regrets) - reused == {"task003", "task099"}


def test_shipped_data_is_used_as_is_and_unregistered_learners_are_skipped(tmp_path: Path) -> None:
    kb = synthetic_kb()
    fingerprints = kb.task_fingerprints()
    ghost_best = {
        t: {
            "ghost": [0.0] * 5,
            "greedy_portfolio": [0.1 + 0.3 * (i % 2)] * 5,
            "nearest_tasks": [0.2] * 5,
        }
        for i, t in enumerate(fingerprints)
    }
    shipped = tmp_path / "selector_training.json"
    SelectorData(KS, ("ghost", *PAIR), ghost_best, fingerprints).save(shipped)
    choice = choose_learner(
        "binary",
        binary_features(),
        kb,
        PAIR,
        shipped=shipped,
        cache_dir=tmp_path / "c",
        learners=LEARNERS,
    )
    assert choice is not None
    assert choice.learner in PAIR
    assert set(choice.wins) == set(PAIR)
    assert "shipped" in choice.reason
    assert cache_files(tmp_path / "c") == [], "measured although the shipped data fits"


def test_the_shipped_training_data_describes_the_shipped_knowledge_base(tmp_path: Path) -> None:
    """A rebuilt base needs `autometa kb evaluate --save-selector-data` run again; this
    fails until it is, instead of letting default fits learn from stale rows."""
    data = SelectorData.from_json(shipped_data().read_text("utf-8"))  # as a fit reads it
    kb = KnowledgeBase.default()
    assert data.task_fingerprints == kb.task_fingerprints()
    assert set(data.learners) <= set(build_plugin_manager().meta_learners())
    assert len(data.regrets) == kb.counts()["tasks"]
    record = kb.tasks(kind="binary")[0]
    choice = choose_learner(
        "binary", record.meta_features, kb, data.learners, cache_dir=tmp_path / "c"
    )
    assert choice is not None
    assert choice.learner in data.learners
    assert choice.reason.endswith(f"{len(data.regrets)} tasks, shipped)"), choice.reason
    assert cache_files(tmp_path / "c") == [], "the shipped base was measured at fit time"


def test_kb_evaluate_reports_the_selector_and_saves_its_training_data(tmp_path: Path) -> None:
    location = tmp_path / "kb.db"
    with KnowledgeBase.open(location) as kb:
        synthetic_kb().copy_into(kb)
        fingerprints = kb.task_fingerprints()
    saved, report = tmp_path / "selector.json", tmp_path / "report.json"
    result = CliRunner().invoke(
        main,
        [
            "kb",
            "evaluate",
            str(location),
            "--learners",
            ",".join(PAIR),
            "--selector",
            "--save-selector-data",
            str(saved),
            "--json",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    assert SELECTOR in result.output
    assert ORACLE in result.output
    assert "learned_selector chose:" in result.output
    results = json.loads(report.read_text())["results"]

    def target(name: str) -> float:  # what the oracle minimises per task
        return float(np.mean([results[name]["regret_at"][k] for k in ("1", "3", "5", "10")]))

    assert target(ORACLE) <= min(target(n) for n in PAIR)
    data = SelectorData.load(saved)
    assert data.learners == PAIR
    assert data.task_fingerprints == fingerprints
    with KnowledgeBase.open(location, read_only=True) as kb:
        choice = choose_learner(
            "binary",
            binary_features(),
            kb,
            PAIR,
            shipped=saved,
            cache_dir=tmp_path / "c",
            learners=LEARNERS,
        )
    assert choice is not None
    assert "shipped" in choice.reason


def test_plugin_conformance_with_the_learned_selector_answering(tmp_path: Path) -> None:
    check_plugin(autometa_selectors)
    kb = synthetic_kb()
    check_strategy_selector(autometa_selectors, PAIR, knowledge=kb)
    task = small_tasks()["binary"]
    untimed = SearchBudget(None, task.n_splits, task.n_rows)
    strategy = autometa_selectors.autometa_select_strategy(
        task=task,
        meta_features=binary_features(),
        knowledge=kb,
        meta_learners=list(PAIR),
        budget=untimed,
    )
    assert strategy.reason.startswith("learned selector")
    assert strategy.meta_learner in PAIR


def test_a_fit_with_a_timeout_warm_starts_from_the_cost_aware_portfolio() -> None:
    task = small_tasks()["binary"]
    kb = synthetic_kb(5)
    learners = [*PAIR, autometa_selectors.TIME_BOUNDED_LEARNER]

    def choose(seconds: float | None, offered: list[str], base: KnowledgeBase = kb) -> Any:
        return autometa_selectors.autometa_select_strategy(
            task=task,
            meta_features=binary_features(),
            knowledge=base,
            meta_learners=offered,
            budget=SearchBudget(seconds, task.n_splits, task.n_rows),
        )

    timed = choose(60.0, learners)
    assert timed.meta_learner == "cost_aware_portfolio"
    assert timed.reason.startswith("timeout=60s: cost_aware_portfolio")
    assert choose(None, learners).meta_learner != "cost_aware_portfolio"  # n_trials only
    assert choose(60.0, list(PAIR)).meta_learner in PAIR  # not registered: not chosen
    cold = choose(60.0, learners, KnowledgeBase.in_memory())  # no earlier task of the kind
    assert cold.meta_learner is None


def test_fit_records_the_learned_choice_and_its_reason() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    others = [n for n in build_plugin_manager().names() if n not in FIRST_PARTY]  # keep it quick
    registered = build_plugin_manager(blocked=others).meta_learners()
    model = autometa.fit(
        X.iloc[:200],
        y.iloc[:200],
        n_trials=2,
        random_state=0,
        knowledge=synthetic_kb(),
        algorithms=["linear", "knn"],
        blocked=others,
    )
    assert model.strategy_source_ == "selectors"
    assert model.strategy_.meta_learner in registered
    assert model.strategy_.reason.startswith(f"learned selector: {model.strategy_.meta_learner}")
    assert "leave-one-task-out regrets on 24 tasks" in model.strategy_.reason
    assert model.recommendations_, "the chosen learner recommended nothing"


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        (["nearest_tasks", "score_forest", "greedy_portfolio"], "greedy_portfolio"),
        (["nearest_tasks", "score_forest"], "score_forest"),
        (["nearest_tasks", "zero_shot"], "nearest_tasks"),
    ],
)
def test_rule_based_takes_the_best_offered_learner(offered: list[str], expected: str) -> None:
    strategy = autometa_selectors.rule_based_strategy(
        small_tasks()["binary"], synthetic_kb(5), offered
    )
    assert strategy.meta_learner == expected
    assert expected in strategy.reason
    assert strategy.n_warm_starts == autometa_selectors.N_WARM_STARTS


def test_rule_based_takes_another_offered_learner_or_searches_cold_without_peers() -> None:
    kb = synthetic_kb(5)  # binary tasks only
    other = autometa_selectors.rule_based_strategy(small_tasks()["binary"], kb, ["zero_shot"])
    assert other.meta_learner == "zero_shot"
    for offered in (["greedy_portfolio"], []):
        strategy = autometa_selectors.rule_based_strategy(small_tasks()["regression"], kb, offered)
        assert strategy.meta_learner is None
        assert strategy.n_warm_starts == 0
        assert "cold TPE" in strategy.reason


@pytest.mark.parametrize(
    ("n_rows", "kind", "expected"),
    [
        (autometa_selectors.CV_ROWS, "binary", ("cv", 5, autometa_selectors.CV_REPEATS)),
        (autometa_selectors.CV_ROWS, "regression", ("cv", 5, 1)),
        (autometa_selectors.CV_ROWS + 1, "binary", ("cv", 3, 1)),
        (autometa_selectors.THREE_FOLD_ROWS + 1, "binary", ("holdout", 3, 1)),
    ],
)
def test_validation_by_size_repeats_the_folds_of_small_classification_tables(
    n_rows: int, kind: str, expected: tuple[str, int, int]
) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n_rows) if kind == "binary" else rng.normal(size=n_rows)
    task = Task.from_data(rng.normal(size=(n_rows, 2)), y, kind=kind)  # type: ignore[arg-type]
    strategy = autometa_selectors.rule_based_strategy(task, synthetic_kb(5), ["greedy_portfolio"])
    assert (strategy.validation, strategy.n_splits, strategy.n_repeats) == expected
    assert ("repeats" in strategy.reason) == (expected[2] > 1)
    planned = task.with_validation(strategy.validation, strategy.n_splits, strategy.n_repeats)
    assert planned.n_splits == (expected[1] * expected[2] if expected[0] == "cv" else 1)


def test_a_fit_never_measures_a_large_unmeasured_base(tmp_path: Path) -> None:
    # More unmeasured tasks than MAX_MEASURED_IN_FIT: no leave-one-task-out inside the fit.
    kb = synthetic_kb(MAX_MEASURED_IN_FIT + 1)
    choice = choose_learner(
        "binary",
        binary_features(),
        kb,
        PAIR,
        shipped=tmp_path / "absent.json",
        cache_dir=tmp_path / "cache",
        learners=LEARNERS,
    )
    assert choice is None
    assert cache_files(tmp_path / "cache") == []
