"""The task-space figure: the new task among the earlier tasks of a knowledge base."""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from autometa.contract._types import Recommendation, TaskKind
from autometa.knowledge._base import KnowledgeBase
from autometa.plots._draw import (
    KIND_COLOURS,
    NEW_TASK_COLOUR,
    _empty,
    _figure,
    _finite,
    _legend_below,
    _titles,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FAVOURED_SHOWN = 5
"""How many of the first recommendations the rings of a task-independent learner show."""

FAVOURED_COLOURS = ("black", "tab:purple", "tab:brown", "tab:pink", "tab:cyan")
"""Ring colour of the earlier tasks where recommendation #1, #2, ... scored best."""


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

    A learner whose recommendations name no source task (the greedy portfolio, the
    default, recommends the same list for every task of a kind) gets the picture of what
    its list does instead: each earlier task of the new task's kind is ringed in the
    colour of the first :data:`FAVOURED_SHOWN` recommendations' best scorer on it, so the
    rings near the new task show which recommendation its neighbours favoured.
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
    favoured = {} if shown else _favoured(knowledge, kind, recommendations, exclude)
    row_of = {r.task_id: i for i, r in enumerate(records)}
    for rank in sorted(set(favoured.values())):
        rows = [row_of[t] for t, best in favoured.items() if best == rank and t in row_of]
        ax.scatter(
            coords[rows, 0],
            coords[rows, 1],
            s=70,
            facecolor="none",
            edgecolor=FAVOURED_COLOURS[rank - 1],
            linewidth=1.3,
            zorder=3,
            label=f"#{rank} scored best here ({len(rows)})",
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
    marks = (
        f"Rings: the earlier {kind} tasks where each of the first {FAVOURED_SHOWN} "
        "recommendations (which name no source task) scored best among them."
        if favoured
        else "Labels: ranks of the recommendations an earlier task gave, its name and its "
        "distance as the meta-learner measured it (the 2-D picture only approximates that "
        "distance)."
    )
    _titles(
        figure,
        ax,
        title,
        f"PCA of {len(names)} meta-features (signed log, standardised over the earlier "
        f"tasks). {marks}",
    )
    return figure


def _favoured(
    knowledge: KnowledgeBase,
    kind: TaskKind,
    recommendations: Sequence[Recommendation],
    exclude: Collection[str],
) -> dict[str, int]:
    """Earlier task id -> the rank (1-based) of the recommendation, among the first
    :data:`FAVOURED_SHOWN`, that scored best on it; tasks none of them was evaluated on
    are left out."""
    table = knowledge.score_table(kind)
    columns = {config: i for i, config in enumerate(table.configs)}
    ranked = [
        (rank, columns[rec.config])
        for rank, rec in enumerate(recommendations[:FAVOURED_SHOWN], start=1)
        if rec.config in columns
    ]
    if not ranked:
        return {}
    scores = np.asarray(table.scores)[:, [column for _, column in ranked]]
    favoured: dict[str, int] = {}
    for task_id, row in zip(table.task_ids, scores, strict=True):
        if task_id not in exclude and np.isfinite(row).any():
            favoured[task_id] = ranked[int(np.nanargmax(row))][0]
    return favoured


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
