"""The ``fit`` command's options as :func:`autometa.fit` takes them.

Besides the estimator's parameters, ``--sample-weight`` and ``--groups`` name columns of
the table that are not features: each row's weight and group, taken out of X
(:func:`take_row_columns`); ``--class-weight`` is read against the target's labels
(:func:`class_weight_option`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import pandas as pd

    from autometa.contract._row_checks import ClassWeight

CLASS_WEIGHT_FORMAT = "'balanced' or LABEL=WEIGHT[,LABEL=WEIGHT...] (e.g. 0=1,1=5)"


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
            default=None,
            metavar="WEIGHTS",
            help="Weigh training rows by class (classification): 'balanced' makes every "
            "class weigh the same; LABEL=WEIGHT[,LABEL=WEIGHT...] gives those classes "
            "their weight and the others 1 (labels are numbers when the target column is "
            "numeric). Scores are not reweighted: pair it with a --scoring such as "
            "balanced_accuracy. Default: none, every class weighs 1.",
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
    artifact_store: str,
    **options: Any,
) -> dict[str, Any]:
    """The command line's fit options as ``autometa.fit`` takes them."""
    import importlib

    options["artifact_store"] = None if artifact_store.lower() == "none" else artifact_store

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


def class_weight_option(text: str | None, y: pd.Series) -> ClassWeight:
    """``--class-weight`` as ``fit`` takes it: None, ``"balanced"``, or a dict whose
    labels have the target's type (``"1"`` is ``1`` for a numeric target column, as
    the table was read), for the fit to check against the classes."""
    if text is None or text.strip() == "balanced":
        return None if text is None else "balanced"
    weights: dict[Any, float] = {}
    for item in text.split(","):
        label, equals, weight = item.rpartition("=")
        if not equals or not label.strip():
            raise ValueError(f"--class-weight {text!r}: expected {CLASS_WEIGHT_FORMAT}.")
        key = _as_label(label.strip(), y)
        if key in weights:
            raise ValueError(f"--class-weight {text!r}: class {key!r} is given twice.")
        try:
            weights[key] = float(weight)
        except ValueError:
            raise ValueError(
                f"--class-weight {text!r}: the weight of class {key!r}, {weight.strip()!r}, "
                "is not a number."
            ) from None
    return weights


def _as_label(text: str, y: pd.Series) -> Any:
    """A label typed on the command line as the target column holds it: a bool, an
    integer or a float when the column is one; text otherwise, or when it is not one
    (the fit then names the classes it could be)."""
    import pandas as pd

    dtype = y.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return {"true": True, "false": False}.get(text.lower(), text)
    if not pd.api.types.is_numeric_dtype(dtype):
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    integral = pd.api.types.is_integer_dtype(dtype) and number.is_integer()
    return int(number) if integral else number


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
