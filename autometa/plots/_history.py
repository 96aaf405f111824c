"""The optimization-history figure: best score so far, warm-start trials marked."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from autometa.plots._draw import (
    COLD_COLOUR,
    SAMPLER_COLOUR,
    WARM_COLOUR,
    _check_fitted,
    _empty,
    _figure,
    _legend_below,
    _titles,
)

if TYPE_CHECKING:
    import optuna
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


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
            label=f"failed, capped or pruned trial ({len(failed)})",
        )
    ax.set_xlabel("trial number")
    ax.set_ylabel(f"{scoring} (greater is better)")
    _titles(figure, ax, f"Optimization history: best {scoring} so far")
    ax.grid(alpha=0.3)
    _legend_below(figure, ax, columns=2)
    return figure


def _finished(study: optuna.Study) -> list[tuple[int, float, bool]]:
    """(1-based trial number, value or NaN, is a warm start) of every finished trial."""
    from optuna.trial import TrialState

    rows = []
    for trial in sorted(study.trials, key=lambda t: t.number):
        if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
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
