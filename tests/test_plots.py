"""Plots of a real fit on a real knowledge base: what is drawn is what the fit found."""

from __future__ import annotations

import copy
import math
import shutil
import sys
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from sklearn.datasets import load_wine

import autometa
from autometa import plots
from autometa._explain import best_by_config
from autometa.contract import Config, Evidence, Recommendation, Strategy
from autometa.knowledge import KnowledgeBase

CHEAP = ["linear", "naive_bayes", "knn", "sgd"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def grown_knowledge(tiny_knowledge: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("plots") / "kb.db"
    shutil.copyfile(tiny_knowledge, copy)
    return copy


@pytest.fixture(scope="module")
def fitted(grown_knowledge: Path) -> Any:
    """Wine, warm-started by nearest tasks (whose recommendations name their source
    tasks, which the task-space plot marks) from the tiny base, which the fit grows."""
    X, y = load_wine(return_X_y=True, as_frame=True)
    return autometa.fit(
        X,
        y,
        n_trials=5,
        random_state=0,
        knowledge=str(grown_knowledge),
        algorithms=CHEAP,
        strategy=Strategy("nearest_tasks", 3, reason="the plots' sources"),
    )


def collection(figure: Figure, label: str) -> np.ndarray:
    """Offsets of the scatter labelled ``label`` (exactly one must exist)."""
    found = [c for c in figure.axes[0].collections if c.get_label() == label]
    assert len(found) == 1, [c.get_label() for c in figure.axes[0].collections]
    return np.asarray(found[0].get_offsets())


def line(figure: Figure, label: str) -> tuple[np.ndarray, np.ndarray]:
    found = [ln for ln in figure.axes[0].get_lines() if ln.get_label() == label]
    assert len(found) == 1, [ln.get_label() for ln in figure.axes[0].get_lines()]
    return np.asarray(found[0].get_xdata()), np.asarray(found[0].get_ydata())


def label_boxes(figure: Figure) -> list[Any]:
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    # the text itself: an Annotation's own extent also covers its connecting line
    return [Text.get_window_extent(text, renderer) for text in figure.axes[0].texts]


def assert_no_overlap(figure: Figure) -> None:
    boxes = label_boxes(figure)
    assert len(boxes) >= 2
    for a, b in combinations(boxes, 2):
        assert not a.overlaps(b), f"labels overlap: {a} and {b}"


def test_write_plots_writes_three_pngs(fitted: Any, tmp_path: Path) -> None:
    paths = plots.write_plots(fitted, tmp_path / "out")
    assert [p.name for p in paths] == list(plots.PLOT_FILES)
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert path.stat().st_size > 10_000  # drawn axes, not an empty canvas


def test_task_space_leaves_out_the_fitted_task_and_marks_the_sources(
    fitted: Any, grown_knowledge: Path
) -> None:
    with KnowledgeBase.open(grown_knowledge, read_only=True) as kb:
        assert fitted.task_id_ in {t.task_id for t in kb.tasks()}  # the fit grew the base
        earlier = len(kb.tasks()) - 1
    figure = plots.plot_task_space(fitted)
    drawn = sum(
        len(collection(figure, f"earlier {kind} task ({n})"))
        for kind, n in (("binary", 1), ("multiclass", 2), ("regression", 1))
    )
    assert drawn == earlier == 4  # not its own nearest neighbour
    assert f"among {earlier} earlier tasks" in figure.get_suptitle()
    assert len(collection(figure, "new task")) == 1
    sources = {
        name: dist for r in fitted.recommendations_ for name, dist in r.evidence.source_tasks
    }
    assert sources, "wine's recommendations come from the multiclass tasks"
    assert len(collection(figure, "source of a recommendation")) == len(sources)
    labels = " | ".join(text.get_text() for text in figure.axes[0].texts)
    for name, dist in sources.items():
        assert f"{name} (d={dist:.3f})" in labels


def test_task_identical_to_an_earlier_one_lands_on_it(tiny_knowledge: Path) -> None:
    with KnowledgeBase.open(tiny_knowledge, read_only=True) as kb:
        iris = kb.task("iris")
        multiclass = [t.task_id for t in kb.tasks() if t.kind == "multiclass"]
        figure = plots.task_space_figure(iris.meta_features, "multiclass", [], kb)
    new = collection(figure, "new task")[0]
    earlier = collection(figure, f"earlier multiclass task ({len(multiclass)})")
    np.testing.assert_allclose(new, earlier[multiclass.index("iris")], atol=1e-9)


def test_task_space_of_a_portfolio_rings_where_each_recommendation_scored_best(
    tiny_knowledge: Path,
) -> None:
    """The greedy portfolio names no source task: the plot rings each earlier task of the
    kind in the colour of the recommendation (of the first five) that scored best on it."""
    with KnowledgeBase.open(tiny_knowledge, read_only=True) as kb:
        wine = kb.task("wine")
        table = kb.score_table("multiclass")
        configs = list(table.configs[:3])
        recommendations = [
            Recommendation(config, 0.9, Evidence("greedy_portfolio", note=f"step {i + 1}"))
            for i, config in enumerate(configs)
        ]
        figure = plots.task_space_figure(
            wine.meta_features, "multiclass", recommendations, kb, exclude={"wine"}
        )
        earlier = {t.task_id: t for t in kb.tasks() if t.task_id != "wine"}
    expected: dict[int, list[str]] = {}
    for task_id, row in zip(table.task_ids, table.scores, strict=True):
        scored = {rank: row[i] for rank, i in enumerate(range(3), start=1) if np.isfinite(row[i])}
        if task_id != "wine" and scored:
            expected.setdefault(max(scored, key=lambda rank: scored[rank]), []).append(task_id)
    assert expected, "the tiny base scored these configurations on its multiclass tasks"
    multiclass = [t for t in earlier.values() if t.kind == "multiclass"]
    points = collection(figure, f"earlier multiclass task ({len(multiclass)})")
    for rank, task_ids in expected.items():
        ringed = collection(figure, f"#{rank} scored best here ({len(task_ids)})")
        for task_id in task_ids:  # each ring sits on its task's point
            assert np.isclose(points, ringed[task_ids.index(task_id)]).all(axis=1).any()
    assert "scored best among them" in figure.axes[0].get_title().replace("\n", " ")
    assert len(collection(figure, "new task")) == 1


def test_task_space_labels_do_not_overlap(tiny_knowledge: Path) -> None:
    with KnowledgeBase.open(tiny_knowledge, read_only=True) as kb:
        records = kb.tasks()
        recommendations = [
            Recommendation(
                Config("linear", {"C": float(i + 1)}),
                0.9,
                Evidence("nearest_tasks", source_tasks=((record.name, 0.1 * i),)),
            )
            for i, record in enumerate(records)
        ]
        figure = plots.task_space_figure(
            records[0].meta_features, records[0].kind, recommendations, kb
        )
    assert len(figure.axes[0].texts) == len(records)
    assert_no_overlap(figure)


def test_history_is_the_running_best_with_warm_starts_marked(fitted: Any) -> None:
    cold = optuna.create_study(direction="maximize")
    cold_values = [0.2, 0.9, 0.5, 0.95]
    for value in cold_values:
        cold.add_trial(optuna.trial.create_trial(value=value))
    figure = plots.plot_history(fitted, cold=cold)
    trials = sorted(fitted.study_.trials, key=lambda t: t.number)
    values = [t.value if t.value is not None else -math.inf for t in trials]
    _, best = line(figure, "best so far, this fit, warm-started")
    np.testing.assert_allclose(best, np.maximum.accumulate(values))
    warm = [t for t in trials if "warm_start_rank" in t.user_attrs and t.value is not None]
    xs, ys = line(figure, f"warm-start trial ({len(warm)})")
    assert list(xs) == [t.number + 1 for t in warm]
    np.testing.assert_allclose(ys, [t.value for t in warm])
    _, cold_best = line(figure, "best so far, cold start")
    np.testing.assert_allclose(cold_best, np.maximum.accumulate(cold_values))
    with pytest.raises(TypeError, match="warm_start=0"):
        plots.plot_history(fitted, cold="not a run")


def test_history_of_a_model_without_its_study(fitted: Any) -> None:
    """A model loaded from .skops has study_ None: its evaluations_ give the same history."""
    loaded = copy.copy(fitted)
    loaded.study_ = None
    label = "best so far, this fit, warm-started"
    np.testing.assert_allclose(
        line(plots.plot_history(loaded), label)[1], line(plots.plot_history(fitted), label)[1]
    )
    warm = [t for t in fitted.study_.trials if "warm_start_rank" in t.user_attrs]
    line(plots.plot_history(loaded), f"warm-start trial ({sum(t.value is not None for t in warm)})")


def test_predicted_vs_observed_points_and_winner(fitted: Any) -> None:
    figure = plots.plot_predicted_vs_observed(fitted)
    observed = best_by_config(fitted.evaluations_)
    expected = [
        (r.predicted_score, observed[r.config].score)
        for r in fitted.recommendations_
        if r.config in observed and observed[r.config].ok and math.isfinite(r.predicted_score)
    ]
    assert expected
    np.testing.assert_allclose(collection(figure, "recommendation (#rank)"), expected)
    warm = [r.config for r in fitted.recommendations_]
    if fitted.best_config_ in warm:
        number = warm.index(fitted.best_config_) + 1
        star = collection(figure, f"winner: #{number}, {fitted.scoring_}={fitted.best_score_:.4g}")
        np.testing.assert_allclose(star[0][1], fitted.best_score_)
    else:
        line(figure, f"winner (from the sampler): {fitted.best_score_:.4g}")


def test_point_labels_do_not_overlap() -> None:
    """Close points (as recommendations scoring alike are) get labels on different sides."""
    figure = plots._figure((6.0, 6.0))[0]
    ax = figure.axes[0]
    points = [(0.5, 0.5), (0.505, 0.5), (0.5, 0.505), (0.505, 0.505), (0.51, 0.502)]
    ax.scatter(*zip(*points, strict=True))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    plots._place_labels(ax, [(x, y, f"#{i + 10}") for i, (x, y) in enumerate(points)])
    assert_no_overlap(figure)


def test_without_matplotlib_the_error_says_what_to_install(
    fitted: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "autometa-ml\[plots\]"'):
        plots.plot_history(fitted)


def test_an_unfitted_model_is_refused() -> None:
    with pytest.raises(ValueError, match="call fit first"):
        plots.plot_history(autometa.AutoMetaClassifier())
