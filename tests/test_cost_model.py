"""The cost model: learns a known size law, never falls with more rows, and corrects itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autometa.contract import Config, CostModel, Evaluation, TaskSize, timing_table
from autometa.knowledge import KnowledgeBase, TaskRecord, cost_model_error

CONFIGS = [
    Config("forest", {"n": 50}),
    Config("forest", {"n": 500}),
    Config("linear", {"C": 1.0}),
    Config("linear", {"C": 0.1}),
]
SPEED = np.array([0.01, 0.1, 0.001, 0.002])  # seconds per fit at one row (before the law)
EXPONENT = {"forest": 0.9, "linear": 0.5}


def synthetic(n_tasks: int = 12, seed: int = 0) -> tuple[list[TaskSize], np.ndarray]:
    """Times that follow ``speed * train_rows ** exponent[algorithm]`` times 3 folds, + noise."""
    rng = np.random.default_rng(seed)
    sizes = [
        TaskSize(float(rows), float(rng.integers(2, 50)))
        for rows in np.geomspace(50, 2000, n_tasks).round()
    ]
    times = np.array(
        [
            [
                3 * speed * (size.n_rows * 2 / 3) ** EXPONENT[c.algorithm]
                for c, speed in zip(CONFIGS, SPEED, strict=True)
            ]
            for size in sizes
        ]
    )
    return sizes, times * np.exp(rng.normal(0, 0.05, times.shape))


def test_learns_the_size_law_of_each_algorithm() -> None:
    sizes, times = synthetic()
    model = CostModel().fit_table(CONFIGS, sizes, times)
    assert model.explain("forest")["log_train_rows"] == pytest.approx(0.9, abs=0.05)
    assert model.explain("linear")["log_train_rows"] == pytest.approx(0.5, abs=0.05)
    # a task bigger than any seen: the law extrapolates
    big = TaskSize(20000, 10)
    expected = 3 * SPEED * (20000 * 2 / 3) ** np.array([0.9, 0.9, 0.5, 0.5])
    np.testing.assert_allclose(model.predict(CONFIGS, big), expected, rtol=0.3)


def test_predictions_never_fall_with_more_rows() -> None:
    sizes, times = synthetic()
    # a base where bigger tables happened to be faster (e.g. a faster machine built them)
    falling = times[::-1].copy()
    for table in (times, falling):
        model = CostModel().fit_table(CONFIGS, sizes, table)
        rows = np.geomspace(10, 1e6, 30)
        predicted = np.array([model.predict(CONFIGS, TaskSize(r, 10.0)) for r in rows])
        assert (np.diff(predicted, axis=0) >= -1e-12).all()
    assert CostModel().fit_table(CONFIGS, sizes, falling).explain("forest")["log_train_rows"] == 0


def test_more_folds_cost_more_and_holdout_least() -> None:
    sizes, times = synthetic()
    model = CostModel().fit_table(CONFIGS, sizes, times)
    size = TaskSize(1000, 10)
    holdout, three, five = (model.predict(CONFIGS, size, n_splits=k) for k in (1, 3, 5))
    assert (holdout < three).all()
    assert (three < five).all()


def test_update_moves_predictions_towards_observations() -> None:
    sizes, times = synthetic()
    model = CostModel().fit_table(CONFIGS, sizes, times)
    size = TaskSize(1500, 20)
    before = model.predict(CONFIGS, size)
    # this machine runs forests 4x slower than the base says
    observed = [(CONFIGS[0], 4 * before[0]), (CONFIGS[1], 4 * before[1])]
    model.update(observed, size)
    after = model.predict(CONFIGS, size)
    assert (after[:2] > 1.5 * before[:2]).all()
    assert (after[:2] < 4 * before[:2]).all()
    # the machine-wide part moves the unobserved algorithm too, but less
    assert 1.0 < after[2] / before[2] < after[0] / before[0]
    # more evidence moves it further
    model.update(observed * 5, size)
    assert (model.predict(CONFIGS, size)[:2] > after[:2]).all()
    with pytest.raises(ValueError, match="finite and >= 0"):
        model.update([(CONFIGS[0], -1.0)], size)


def test_a_corrected_copy_leaves_the_shared_model_as_it_was() -> None:
    sizes, times = synthetic()
    shared = CostModel().fit_table(CONFIGS, sizes, times)
    size = TaskSize(1500, 20)
    before = shared.predict(CONFIGS, size)
    observed = [(CONFIGS[0], 4 * before[0])]
    copy = shared.with_observations(observed, size)
    np.testing.assert_array_equal(shared.predict(CONFIGS, size), before)
    assert copy.predict(CONFIGS, size)[0] > 1.5 * before[0]
    # the same correction as updating the model itself, on top of what it had seen
    np.testing.assert_allclose(
        copy.predict(CONFIGS, size), shared.update(observed, size).predict(CONFIGS, size)
    )
    twice = shared.with_observations(observed, size)
    assert twice.predict(CONFIGS, size)[0] > copy.predict(CONFIGS, size)[0]


def test_unseen_configuration_gets_its_algorithms_median() -> None:
    sizes, times = synthetic()
    model = CostModel().fit_table(CONFIGS, sizes, times)
    size = TaskSize(500, 5)
    new_forest = model.predict([Config("forest", {"n": 100})], size)[0]
    forests = model.predict(CONFIGS[:2], size)
    assert forests.min() <= new_forest <= forests.max()
    assert math.isfinite(model.predict([Config("unknown", {})], size)[0])


def test_held_out_error_is_small_on_a_clean_law() -> None:
    sizes, times = synthetic(n_tasks=10)
    error = cost_model_error(CONFIGS, sizes, times)
    assert error.n_cells == times.size
    assert error.median_ratio == pytest.approx(1.0, abs=0.1)
    assert error.within_2x == 1.0
    # noise 20x larger than the law's signal does not stay within 2x everywhere
    noisy = times * np.exp(np.random.default_rng(1).normal(0, 2.0, times.shape))
    assert cost_model_error(CONFIGS, sizes, noisy).within_2x < 0.9
    assert "forest" in error.table()


def test_observed_times_of_the_held_out_task_correct_its_predictions() -> None:
    sizes, times = synthetic(n_tasks=20)
    # every task runs on its own "machine": a speed factor the size law cannot know
    factors = np.exp(np.random.default_rng(2).normal(0, 1.0, len(sizes)))[:, None]
    slow_or_fast = times * factors
    blind = cost_model_error(CONFIGS, sizes, slow_or_fast, set_aside=2)
    corrected = cost_model_error(CONFIGS, sizes, slow_or_fast, observed=2)
    # judged on the same cells: the two left of each task
    assert blind.n_cells == corrected.n_cells == 2 * len(sizes)
    assert corrected.within_2x > blind.within_2x + 0.2
    with pytest.raises(ValueError, match="observed <= set_aside"):
        cost_model_error(CONFIGS, sizes, times, observed=3, set_aside=2)


def test_timing_table_reads_sizes_and_times_from_a_knowledge_base() -> None:
    kb = KnowledgeBase.in_memory()
    features = {"NumberOfInstances": 50000.0, "NumberOfFeatures": 8.0, "NumberOfClasses": 3.0}
    kb.add_task(
        TaskRecord("big", "big", "multiclass", "accuracy", features, {"n_rows_evaluated": 2000})
    )
    kb.add_evaluations(
        [
            Evaluation("big", CONFIGS[0], 0.8, 1.5),
            Evaluation("big", CONFIGS[1], float("nan"), 0.0, "failed", "boom"),
        ]
    )
    configs, sizes, times = timing_table(kb)
    assert configs == [CONFIGS[0]]  # a failed cell has no time
    assert sizes == [TaskSize(2000.0, 8.0, 3.0, 0.0)]  # the size it was timed at
    assert times.tolist() == [[1.5]]
    assert TaskSize.from_meta_features(features).n_rows == 50000.0


def test_the_score_table_carries_the_times_a_cost_model_is_fitted_from() -> None:
    """Fit times are kept with the score table (once per content), so fitting a cost
    model reads no evaluation; a capped cell has its time but no score."""
    kb = KnowledgeBase.in_memory()
    for task_id in ("a", "b"):
        features = {"NumberOfInstances": 500.0, "NumberOfFeatures": 4.0}
        kb.add_task(TaskRecord(task_id, task_id, "binary", "roc_auc", features, {}))
    kb.add_evaluations(
        [
            Evaluation("a", CONFIGS[0], 0.8, 1.5),
            Evaluation("a", CONFIGS[1], float("nan"), 9.0, "capped", "time limit"),
            Evaluation("b", CONFIGS[1], 0.7, 4.0),
            Evaluation("b", CONFIGS[0], float("nan"), 0.2, "failed", "boom"),
        ]
    )
    table = kb.score_table("binary")
    assert table.fit_times is not None
    seconds = {
        (task_id, config): table.fit_times[i, j]
        for i, task_id in enumerate(table.task_ids)
        for j, config in enumerate(table.configs)
    }
    assert seconds[("a", CONFIGS[0])] == 1.5
    assert seconds[("a", CONFIGS[1])] == 9.0
    assert seconds[("b", CONFIGS[1])] == 4.0
    assert math.isnan(seconds[("b", CONFIGS[0])])
    configs, _, times = timing_table(kb, "binary")
    assert configs == table.configs
    np.testing.assert_array_equal(times, table.fit_times)
    kb.add_evaluations([Evaluation("b", CONFIGS[2], 0.6, 0.3)])  # a write: read again
    later = kb.score_table("binary")
    assert later.fit_times is not None
    assert later.fit_times[later.task_ids.index("b"), later.configs.index(CONFIGS[2])] == 0.3


def test_bad_sizes_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="n_rows >= 1"):
        TaskSize(0, 3)
    with pytest.raises(ValueError, match="expected"):
        CostModel().fit_table(CONFIGS, [TaskSize(10, 2)], np.ones((2, 4)))
