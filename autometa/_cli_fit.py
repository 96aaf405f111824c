"""The ``fit`` command's options as :func:`autometa.fit` takes them.

Besides the estimator's parameters, ``--sample-weight`` and ``--groups`` name columns of
the table that are not features: each row's weight and group, taken out of X
(:func:`take_row_columns`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import pandas as pd


def row_options(command: Any) -> Any:
    """The ``fit`` command's ``--sample-weight``, ``--groups`` and ``--class-weight``."""
    options = [
        click.option(
            "--sample-weight",
            default=None,
            metavar="COLUMN",
            help="Column holding each row's weight in every fit and score (not a feature).",
        ),
        click.option(
            "--groups",
            default=None,
            metavar="COLUMN",
            help="Column holding each row's group: no group straddles training and "
            "validation (not a feature).",
        ),
        click.option(
            "--class-weight",
            type=click.Choice(["balanced"]),
            default=None,
            help="balanced: every class weighs the same in training (classification); "
            "pair it with a balanced --scoring such as balanced_accuracy.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def fit_options(
    *,
    no_warm_start: bool,
    algorithms: str | None,
    blocked: str | None,
    plugin_modules: tuple[str, ...],
    memory_limit: str,
    **options: Any,
) -> dict[str, Any]:
    """The command line's fit options as ``autometa.fit`` takes them."""
    import importlib

    if no_warm_start:
        if options.get("warm_start") not in (None, 0):
            raise ValueError("--no-warm-start and --warm-start N contradict each other.")
        options["warm_start"] = 0
    options["algorithms"] = _names(algorithms)
    options["blocked"] = _names(blocked) or ()
    plugins = []
    for name in plugin_modules:
        try:
            plugins.append(importlib.import_module(name))
        except ImportError as exc:
            raise ValueError(f"--plugin {name}: cannot import it ({exc}).") from None
    options["plugins"] = plugins
    limit = memory_limit.strip().lower()
    if limit in ("auto", "none"):
        options["memory_limit"] = None if limit == "none" else "auto"
    else:
        try:
            options["memory_limit"] = float(limit)
        except ValueError:
            raise ValueError(
                f"--memory-limit must be megabytes, 'auto' or 'none'; got {memory_limit!r}."
            ) from None
    return options


def _names(text: str | None) -> list[str] | None:
    """``"a, b"`` as ``["a", "b"]``; None as None."""
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def take_row_columns(
    X: pd.DataFrame, sample_weight: str | None, groups: str | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """X without the weight and group columns, and those columns as ``fit``'s
    ``sample_weight`` and ``groups``."""
    taken: dict[str, Any] = {}
    for option, column in (("sample_weight", sample_weight), ("groups", groups)):
        if column is None:
            continue
        if column not in X.columns:
            shown = ", ".join(map(str, list(X.columns)[:10]))
            flag = "--" + option.replace("_", "-")
            raise ValueError(f"{flag} {column!r}: no such column; columns are {shown}.")
        taken[option] = X[column].to_numpy()
    if sample_weight is not None and sample_weight == groups:
        raise ValueError("--sample-weight and --groups name the same column.")
    return X.drop(columns=[c for c in (sample_weight, groups) if c is not None]), taken
