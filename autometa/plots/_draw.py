"""What every plot shares: colours, the Agg figure, titles, label placement, saving."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autometa.knowledge._base import KnowledgeBase

if TYPE_CHECKING:
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
DPI = 110


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


def _legend_below(figure: Figure, ax: Axes, columns: int) -> None:
    """The legend under the axes, where it cannot hide data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        figure.legend(
            handles, labels, loc="outside lower center", ncols=columns, fontsize=8, frameon=False
        )


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
