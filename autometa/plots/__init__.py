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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from autometa._explain import best_by_config
from autometa.contract._types import Config, Recommendation
from autometa.knowledge._base import KnowledgeBase
from autometa.plots._draw import (
    WARM_COLOUR,
    WINNER_COLOUR,
    _check_fitted,
    _empty,
    _figure,
    _legend_below,
    _model_knowledge,
    _place_labels,
    _titles,
    save,
)
from autometa.plots._history import plot_history
from autometa.plots._task_space import task_space_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PLOT_FILES = ("task_space.png", "history.png", "predicted_vs_observed.png")
"""File names :func:`write_plots` writes, in this order."""


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


def plot_predicted_vs_observed(model: Any) -> Figure:
    """Each recommendation's predicted score against the score it got here, winner marked.

    Predictions are on the meta-learner's own scale (for the portfolios, one minus the
    expected regret over earlier tasks; for nearest tasks, the configuration's score on
    the earlier task it comes from), observed scores on the fit's scoring: each axis is
    labelled with its scale and there is no diagonal, since the two are not one scale
    (what to read is the order). Recommendations that were not evaluated, failed, or
    carry no prediction are listed under the plot.
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
        # Two scales (the learner's and the scoring's): no shared limits and no diagonal,
        # which would pretend the two were comparable.
        x_low, x_high = _padded(float(xs.min()), float(xs.max()))
        y_low, y_high = _padded(
            float(min(ys.min(), model.best_score_)), float(max(ys.max(), model.best_score_))
        )
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
        ax.set_xlim(x_low, x_high)
        ax.set_ylim(y_low, y_high)
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


def _padded(low: float, high: float) -> tuple[float, float]:
    """Axis limits around ``[low, high]`` with a margin (a point alone gets one too)."""
    pad = max((high - low) * 0.08, 1e-3)
    return low - pad, high + pad


__all__ = [
    "PLOT_FILES",
    "plot_history",
    "plot_predicted_vs_observed",
    "plot_task_space",
    "save",
    "task_space_figure",
    "write_plots",
]
