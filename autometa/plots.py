"""Plots of a fit: where the task sits among earlier ones, how the search went, and
whether the recommendations scored as predicted.

matplotlib is an optional extra (``pip install "autometa-ml[plots]"``), imported only when a
plot is asked for. Figures are built as :class:`matplotlib.figure.Figure` objects on the
Agg canvas, never through ``pyplot``: nothing opens a window, and the caller's pyplot
state and backend are left alone. Every function returns the Figure; :func:`write_plots`
saves the three of a fitted model as PNG files.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from autometa._explain import best_by_config
from autometa.contract._types import Config, Recommendation, TaskKind
from autometa.knowledge._base import KnowledgeBase

if TYPE_CHECKING:
    import optuna
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

KIND_COLOURS: dict[str, str] = {
    "binary": "tab:blue",
    "multiclass": "tab:orange",
    "regression": "tab:green",
}
NEW_TASK_COLOUR = "crimson"
WARM_COLOUR = "tab:orange"
SAMPLER_COLOUR = "tab:blue"
COLD_COLOUR = "0.35"
WINNER_COLOUR = "gold"
PLOT_FILES = ("task_space.png", "history.png", "predicted_vs_observed.png")
"""File names :func:`write_plots` writes, in this order."""
DPI = 110


# -- entry points for a fitted model ---------------------------------------------------------
def write_plots(
    model: Any,
    directory: str | Path,
    *,
    cold: Any = None,
    knowledge: KnowledgeBase | None = None,
) -> list[Path]:
    """Write the three plots of a fitted model into ``directory`` (created if missing).

    Returns the paths of ``task_space.png``, ``history.png`` and
    ``predicted_vs_observed.png``. ``cold`` and ``knowledge`` are passed on as in
    :func:`plot_history` and :func:`plot_task_space`.
    """
    figures = (
        plot_task_space(model, knowledge=knowledge),
        plot_history(model, cold=cold),
        plot_predicted_vs_observed(model),
    )
    return [
        save(figure, Path(directory) / name)
        for figure, name in zip(figures, PLOT_FILES, strict=True)
    ]


def plot_task_space(model: Any, *, knowledge: KnowledgeBase | None = None) -> Figure:
    """The fitted task among the earlier tasks of its knowledge base, in meta-feature space.

    ``knowledge`` defaults to the base the model learned from (its ``knowledge``
    parameter, or the shipped one); the model's own task is left out of it, since a fit
    with ``knowledge=PATH`` adds itself there.
    """
    _check_fitted(model)
    with _model_knowledge(model, knowledge) as base:
        return task_space_figure(
            model.meta_features_.values,
            model.task_kind_,
            model.recommendations_,
            base,
            exclude={model.task_id_},
        )


def plot_history(model: Any, *, cold: Any = None) -> Figure:
    """Best score so far against trial number, warm-start trials marked.

    ``cold`` is a second run to compare with, such as the same data fitted with
    ``warm_start=0``: a fitted autometa model or an Optuna study (maximised, as
    autometa's are). Its best-so-far curve is drawn next to this fit's.
    """
    _check_fitted(model)
    figure, ax = _figure((7.5, 5.0))
    scoring = model.scoring_
    this = "this fit, warm-started" if model.recommendations_ else "this fit"
    runs = [(this, _trials_of(model), SAMPLER_COLOUR, "-")]
    if cold is not None:
        runs.append(("cold start", _trials_of(cold), COLD_COLOUR, "--"))
    firsts: list[float] = []
    values: list[float] = []
    for label, trials, colour, style in runs:
        numbers = np.array([number for number, _, _ in trials], dtype=float)
        scores = np.array([value for _, value, _ in trials], dtype=float)
        best = np.maximum.accumulate(np.where(np.isfinite(scores), scores, -np.inf))
        shown = np.isfinite(best)
        if not shown.any():
            continue
        ax.step(
            numbers[shown],
            best[shown],
            where="post",
            color=colour,
            linestyle=style,
            linewidth=2,
            label=f"best so far, {label}",
        )
        firsts.append(float(best[shown][0]))
        values.extend(float(v) for v in scores[np.isfinite(scores)])
    if not firsts:
        _empty(ax, "No trial succeeded.")
        _titles(figure, ax, f"Optimization history: best {scoring} so far")
        return figure
    bottom = _history_limits(ax, min(firsts), values)
    for label, trials, colour, _ in runs:
        if label == this:
            _mark_trials(ax, [t for t in trials if t[2]], bottom, WARM_COLOUR, "D", "warm-start")
            _mark_trials(ax, [t for t in trials if not t[2]], bottom, colour, "o", "sampler")
        else:
            _mark_trials(ax, trials, bottom, colour, ".", "cold-start")
    failed = [n for n, v, _ in runs[0][1] if not math.isfinite(v)]
    if failed:
        from matplotlib.transforms import blended_transform_factory

        edge = blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(
            failed,
            [0.03] * len(failed),
            "x",
            color="tab:red",
            transform=edge,
            linestyle="none",
            label=f"failed or capped trial ({len(failed)})",
        )
    ax.set_xlabel("trial number")
    ax.set_ylabel(f"{scoring} (greater is better)")
    _titles(figure, ax, f"Optimization history: best {scoring} so far")
    ax.grid(alpha=0.3)
    _legend_below(figure, ax, columns=2)
    return figure


def plot_predicted_vs_observed(model: Any) -> Figure:
    """Each recommendation's predicted score against the score it got here, winner marked.

    Predictions are on the meta-learner's scale (for nearest tasks, the configuration's
    score on the earlier task it comes from), so the diagonal is a reference, not a
    promise. Recommendations that were not evaluated, failed, or carry no prediction are
    listed under the plot.
    """
    _check_fitted(model)
    recommendations: list[Recommendation] = model.recommendations_
    observed = best_by_config(model.evaluations_)
    figure, ax = _figure((6.4, 6.0))
    scoring = model.scoring_
    points, missing = [], []
    for number, rec in enumerate(recommendations, start=1):
        evaluation = observed.get(rec.config)
        if evaluation is None:
            missing.append(f"#{number} not evaluated")
        elif not evaluation.ok:
            missing.append(f"#{number} {evaluation.status}")
        elif not math.isfinite(rec.predicted_score):
            missing.append(f"#{number} had no prediction")
        else:
            points.append((number, rec.predicted_score, evaluation.score, rec.config))
    winner: Config = model.best_config_
    if points:
        xs = np.array([p[1] for p in points])
        ys = np.array([p[2] for p in points])
        low = float(min(xs.min(), ys.min(), model.best_score_))
        high = float(max(xs.max(), ys.max(), model.best_score_))
        pad = max((high - low) * 0.08, 1e-3)
        low, high = low - pad, high + pad
        ax.plot([low, high], [low, high], color="0.6", linestyle=":", label="predicted = observed")
        ax.scatter(
            xs,
            ys,
            s=45,
            color=WARM_COLOUR,
            edgecolor="black",
            linewidth=0.5,
            zorder=3,
            label="recommendation (#rank)",
        )
        won = [p for p in points if p[3] == winner]
        if won:
            ax.scatter(
                [won[0][1]],
                [won[0][2]],
                s=320,
                marker="*",
                color=WINNER_COLOUR,
                edgecolor="black",
                linewidth=0.8,
                zorder=4,
                label=f"winner: #{won[0][0]}, {scoring}={won[0][2]:.4g}",
            )
        else:
            ax.axhline(
                model.best_score_,
                color="tab:red",
                linestyle="--",
                linewidth=1,
                label=f"winner (from the sampler): {model.best_score_:.4g}",
            )
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_aspect("equal", adjustable="box")
        _legend_below(figure, ax, columns=2)
        _place_labels(ax, [(x, y, f"#{number}") for number, x, y, _ in points])
    else:
        _empty(ax, "No recommendation was both predicted and evaluated.")
    learner = recommendations[0].evidence.model if recommendations else "no meta-learner"
    ax.set_xlabel(f"predicted by {learner} (on its own scale)")
    ax.set_ylabel(f"observed {scoring} here (cross-validated)")
    ax.grid(alpha=0.3)
    note = "Not shown: " + ", ".join(missing) if missing else None
    _titles(figure, ax, "Recommendations: predicted vs observed", note)
    return figure


# -- task space ------------------------------------------------------------------------------
def task_space_figure(
    meta_features: Mapping[str, float],
    kind: TaskKind,
    recommendations: Sequence[Recommendation],
    knowledge: KnowledgeBase,
    *,
    exclude: Collection[str] = (),
) -> Figure:
    """The new task (its ``meta_features``) among the earlier tasks of ``knowledge``.

    The projection is a PCA of the meta-features both the new task and the earlier ones
    define, each first compressed with a signed log (counts span orders of magnitude) and
    standardised over the earlier tasks. Earlier tasks are coloured by kind; the ones
    the recommendations come from are ringed and labelled with their rank and distance.
    Distances are the meta-learner's own; the 2-D picture only approximates them.
    """
    figure, ax = _figure((10.0, 6.4))
    records = [r for r in knowledge.tasks() if r.task_id not in set(exclude)]
    names = sorted(n for n, v in meta_features.items() if _finite(v))
    matrix = np.array(
        [[r.meta_features.get(n, np.nan) for n in names] for r in records], dtype=float
    ).reshape(len(records), len(names))
    query = np.array([meta_features[n] for n in names], dtype=float)
    coords, query_xy, explained = _project(matrix, query)
    title = f"New {kind} task among {len(records)} earlier tasks (meta-feature space)"
    if coords is None:
        _empty(ax, "Too few earlier tasks or shared meta-features to project.")
        _titles(figure, ax, title)
        return figure
    for task_kind, colour in KIND_COLOURS.items():
        rows = [i for i, r in enumerate(records) if r.kind == task_kind]
        if rows:
            ax.scatter(
                coords[rows, 0],
                coords[rows, 1],
                s=16,
                color=colour,
                alpha=0.45,
                linewidth=0,
                label=f"earlier {task_kind} task ({len(rows)})",
            )
    sources = _sources(recommendations)
    by_name = {r.name: i for i, r in enumerate(records)}
    shown = [(name, ranks, dist) for name, (ranks, dist) in sources.items() if name in by_name]
    if shown:
        rows = [by_name[name] for name, _, _ in shown]
        ax.scatter(
            coords[rows, 0],
            coords[rows, 1],
            s=70,
            facecolor="none",
            edgecolor="black",
            linewidth=1.2,
            zorder=3,
            label="source of a recommendation",
        )
    ax.scatter(
        [query_xy[0]],
        [query_xy[1]],
        s=260,
        marker="*",
        color=NEW_TASK_COLOUR,
        edgecolor="black",
        linewidth=0.8,
        zorder=4,
        label="new task",
    )
    _side_labels(
        ax, [(coords[by_name[name]], _label(name, ranks, dist)) for name, ranks, dist in shown]
    )
    ax.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({explained[1]:.0%} of variance)")
    ax.grid(alpha=0.3)
    _legend_below(figure, ax, columns=5)
    _titles(
        figure,
        ax,
        title,
        f"PCA of {len(names)} meta-features (signed log, standardised over the earlier "
        "tasks). Labels: ranks of the recommendations an earlier task gave, its name and "
        "its distance as the meta-learner measured it (the 2-D picture only approximates "
        "that distance).",
    )
    return figure


def _project(
    matrix: np.ndarray, query: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray, tuple[float, float]]:
    """2-D PCA coordinates of the earlier tasks and the new one, and the variance shares."""
    from sklearn.decomposition import PCA

    if matrix.shape[0] < 3 or matrix.shape[1] < 2:
        return None, query, (0.0, 0.0)
    squashed = np.sign(matrix) * np.log1p(np.abs(matrix))
    target = np.sign(query) * np.log1p(np.abs(query))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a meta-feature no earlier task has
        centre = np.nanmedian(squashed, axis=0)
    usable = np.isfinite(centre)
    squashed, target, centre = squashed[:, usable], target[usable], centre[usable]
    squashed = np.where(np.isfinite(squashed), squashed, centre)
    mean, std = squashed.mean(axis=0), squashed.std(axis=0)
    varying = std > 0
    if varying.sum() < 2:
        return None, query, (0.0, 0.0)
    scaled = (squashed[:, varying] - mean[varying]) / std[varying]
    point = (target[varying] - mean[varying]) / std[varying]
    pca = PCA(n_components=2, random_state=0).fit(scaled)
    ratio = pca.explained_variance_ratio_
    return (
        pca.transform(scaled),
        pca.transform(point[None, :])[0],
        (float(ratio[0]), float(ratio[1])),
    )


def _sources(
    recommendations: Sequence[Recommendation],
) -> dict[str, tuple[list[int], float]]:
    """Earlier task name -> (ranks of the recommendations it gave, its distance)."""
    sources: dict[str, tuple[list[int], float]] = {}
    for number, rec in enumerate(recommendations, start=1):
        for name, distance in rec.evidence.source_tasks:
            ranks, _ = sources.setdefault(name, ([], distance))
            ranks.append(number)
    return sources


def _label(name: str, ranks: Sequence[int], distance: float) -> str:
    return f"#{','.join(map(str, ranks))} {name} (d={distance:.3f})"


LABEL_GAP = 0.05
"""Least vertical distance between two side labels, as a fraction of the axes' height."""


def _side_labels(ax: Axes, items: Sequence[tuple[np.ndarray, str]]) -> None:
    """Labels in a column right of the axes, joined to their points by thin lines.

    Nearest tasks crowd together around the new task, so labels placed beside their
    points would overlap. Each label starts level with its point and is pushed down
    (then the column up, if it ran off the bottom) just enough to keep
    :data:`LABEL_GAP` between labels, so lines stay short and do not cross.
    """
    if not items:
        return
    ax.get_ylim()  # settle autoscaling before reading positions
    to_axes = ax.transAxes.inverted().transform
    ordered = sorted(
        ((float(to_axes(ax.transData.transform(xy))[1]), xy, text) for xy, text in items),
        key=lambda item: -item[0],
    )
    gap = min(LABEL_GAP, 0.96 / max(len(ordered) - 1, 1))
    heights: list[float] = []
    for wanted, _, _ in ordered:
        height = min(wanted, 0.98)
        if heights:
            height = min(height, heights[-1] - gap)
        heights.append(height)
    shift = max(0.0, 0.02 - heights[-1])
    heights = [h + shift for h in heights]
    for height, (_, xy, text) in zip(heights, ordered, strict=True):
        ax.annotate(
            text,
            xy=(float(xy[0]), float(xy[1])),
            xytext=(1.02, height),
            textcoords="axes fraction",
            fontsize=8,
            va="center",
            arrowprops={"arrowstyle": "-", "color": "0.55", "linewidth": 0.6},
        )


# -- history helpers -------------------------------------------------------------------------
def _finished(study: optuna.Study) -> list[tuple[int, float, bool]]:
    """(1-based trial number, value or NaN, is a warm start) of every finished trial."""
    from optuna.trial import TrialState

    rows = []
    for trial in sorted(study.trials, key=lambda t: t.number):
        if trial.state not in (TrialState.COMPLETE, TrialState.FAIL):
            continue
        value = trial.value if trial.state == TrialState.COMPLETE else None
        rows.append(
            (
                trial.number + 1,
                float(value) if value is not None else math.nan,
                "warm_start_rank" in trial.user_attrs,
            )
        )
    return rows


def _mark_trials(
    ax: Axes,
    trials: Sequence[tuple[int, float, bool]],
    bottom: float,
    colour: str,
    marker: str,
    kind: str,
) -> None:
    """Each trial's own score; trials below the plotted range sit on its lower edge as
    triangles, so none silently disappears."""
    from matplotlib.transforms import blended_transform_factory

    ok = [(n, v) for n, v, _ in trials if math.isfinite(v)]
    if not ok:
        return
    inside = [(n, v) for n, v in ok if v >= bottom]
    below = [n for n, v in ok if v < bottom]
    label = f"{kind} trial ({len(ok)}" + (f", {len(below)} below the range)" if below else ")")
    size = 5 if marker == "D" else 4
    ax.plot(
        [n for n, _ in inside],
        [v for _, v in inside],
        marker,
        color=colour,
        markersize=size,
        alpha=0.8,
        linestyle="none",
        label=label,
    )
    if below:
        edge = blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(
            below,
            [0.012] * len(below),
            "v",
            color=colour,
            markersize=size,
            alpha=0.8,
            linestyle="none",
            transform=edge,
        )


def _history_limits(ax: Axes, lowest_first: float, values: Sequence[float]) -> float:
    """Set the y range so the best-so-far curves fill it; return its bottom.

    The curves are always in full view, and so is every trial within three times the
    median trial's distance from the best; only outliers beyond that (a log loss of 10
    next to 0.1, which would flatten every curve) are cut and shown on the lower edge.
    """
    top = max(values)
    spread = top - float(np.median(values))
    low = max(min(values), min(lowest_first, top - 3 * spread))
    margin = 0.06 * (top - low) if top > low else max(abs(top) * 0.01, 1e-3)
    ax.set_ylim(low - margin, top + margin)
    return low - margin


def _legend_below(figure: Figure, ax: Axes, columns: int) -> None:
    """The legend under the axes, where it cannot hide data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        figure.legend(
            handles, labels, loc="outside lower center", ncols=columns, fontsize=8, frameon=False
        )


def _trials_of(run: Any) -> list[tuple[int, float, bool]]:
    """The finished trials of a fitted model or an Optuna study, in trial order.

    A model loaded from a ``.skops`` file has no study (``study_`` is None); its
    ``evaluations_`` keep every trial in order, and the warm starts are its
    recommendations, so the history is drawn from those.
    """
    import optuna

    if isinstance(run, optuna.Study):
        return _finished(run)
    study = getattr(run, "study_", None)
    if isinstance(study, optuna.Study):
        return _finished(study)
    evaluations = getattr(run, "evaluations_", None)
    if evaluations is not None:
        warm = {r.config for r in getattr(run, "recommendations_", [])}
        return [
            (number, e.score if e.ok else math.nan, e.config in warm)
            for number, e in enumerate(evaluations, start=1)
        ]
    raise TypeError(
        f"cold must be a fitted autometa model or an optuna.Study, got {type(run).__name__}; "
        "fit one with autometa.fit(X, y, warm_start=0)."
    )


# -- shared helpers --------------------------------------------------------------------------
def _figure(size: tuple[float, float]) -> tuple[Figure, Axes]:
    """A Figure on the Agg canvas (no window, no pyplot state) with one Axes."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            'autometa\'s plots need matplotlib: pip install "autometa-ml[plots]"'
        ) from None
    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def save(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as a PNG at ``path`` (parent folders created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png")
    return path


def _check_fitted(model: Any) -> None:
    if not hasattr(model, "evaluations_"):
        raise ValueError(
            f"{type(model).__name__} is not fitted: call fit first (plots show a fit's "
            "recommendations, trials and scores)."
        )


@contextmanager
def _model_knowledge(model: Any, given: KnowledgeBase | None) -> Iterator[KnowledgeBase]:
    """The knowledge base a fitted model learned from; closed afterwards if opened here."""
    from autometa.search._planning import open_knowledge

    if given is not None:
        yield given
        return
    spec = getattr(model, "knowledge", None)
    if isinstance(spec, KnowledgeBase) and not spec.closed:
        yield spec
        return
    if isinstance(spec, (str, Path)):
        opened = KnowledgeBase.open(spec, read_only=True, create=False)
    else:
        opened = open_knowledge(None)
    try:
        yield opened
    finally:
        opened.close()


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _titles(figure: Figure, ax: Axes, title: str, note: str | None = None) -> None:
    """The figure's title on top and, under it, a small grey note on how to read it.

    Both sit above the axes, where constrained layout keeps room for them; the legend
    goes below.
    """
    import textwrap

    figure.suptitle(title, fontsize=12)
    if note:
        width = int(figure.get_figwidth() * 11)  # 8-point characters the axes can hold
        ax.set_title("\n".join(textwrap.wrap(note, width)), fontsize=8, color="0.3")


def _place_labels(ax: Axes, points: Sequence[tuple[float, float, str]]) -> None:
    """Label points without overlaps: each label takes the first free spot around its point.

    Positions are tried in display coordinates (after a draw fixes the layout) against
    the labels already placed and every marker, so close points get labels on
    different sides instead of on top of each other.
    """
    figure = ax.get_figure()
    assert figure is not None
    figure.canvas.draw()
    to_display = ax.transData.transform
    scale = figure.dpi / 72.0
    markers = [to_display((x, y)) for x, y, _ in points]
    taken: list[tuple[float, float, float, float]] = [
        (mx - 4 * scale, my - 4 * scale, mx + 4 * scale, my + 4 * scale) for mx, my in markers
    ]
    offsets = [(5, 3), (5, -11), (-5, 3), (-5, -11), (5, 12), (-5, 12), (5, -20), (-5, -20)]
    for (x, y, text), (mx, my) in zip(points, markers, strict=True):
        width, height = (len(text) * 5.0 + 5) * scale, 10 * scale  # with a little air
        choice = offsets[0]
        for dx, dy in offsets:
            left = mx + dx * scale - (width if dx < 0 else 0)
            box = (left, my + dy * scale, left + width, my + dy * scale + height)
            if not any(_overlap(box, other) for other in taken):
                choice = (dx, dy)
                break
        dx, dy = choice
        left = mx + dx * scale - (width if dx < 0 else 0)
        taken.append((left, my + dy * scale, left + width, my + dy * scale + height))
        ax.annotate(
            text,
            (x, y),
            xytext=(dx, dy),
            textcoords="offset points",
            fontsize=8,
            ha="right" if dx < 0 else "left",
            va="bottom",
        )


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
