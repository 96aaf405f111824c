"""Descriptors: the numbers a study carries to say what its task is like.

:func:`describe_study` stores them on a study (a user attribute), :func:`study_descriptors`
reads them back, with the meta-features ``autometa.fit(storage=...)`` stored.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import optuna

DESCRIPTORS_ATTR = "autometa_descriptors"
"""Study user attribute holding ``{descriptor name: number or null}`` of the study's task."""

FIT_META_FEATURES_ATTR = "autometa_meta_features"
"""Study user attribute where ``autometa.fit(storage=...)`` keeps the task's meta-features;
such studies are sources too (explicit descriptors win on a shared name)."""


def describe_study(
    study: optuna.Study,
    descriptors: Mapping[str, float] | None = None,
    *,
    X: Any = None,
    y: Any = None,
    plugins: Iterable[object] = (),
    blocked: Iterable[str] = (),
) -> dict[str, float | None]:
    """Store what the study's task is like, so later studies can transfer from it.

    ``descriptors`` are numbers that set the task apart from the others you tune
    (``{"n_rows": 5e4, "noise": 0.1}``); with ``X`` and ``y`` autometa's meta-features
    of the data are computed and stored too (a given descriptor wins on a shared name).
    Non-finite values are stored as null (they count as missing when ranking). The
    result replaces the study's user attribute :data:`DESCRIPTORS_ATTR` and is returned.
    Describe every study of a family with the same names: only shared names compare.
    """
    if (X is None) != (y is None):
        raise ValueError("Pass both X and y to describe a study by its data's meta-features.")
    values: dict[str, float | None] = {}
    if X is not None:
        values.update(_meta_features(X, y, plugins, blocked))
    values.update(_checked_descriptors(descriptors or {}))
    if not values:
        raise ValueError(
            "Nothing to describe the study with: pass descriptors={'name': number, ...} "
            "and/or X and y."
        )
    study.set_user_attr(DESCRIPTORS_ATTR, values)
    return values


def _meta_features(
    X: Any, y: Any, plugins: Iterable[object], blocked: Iterable[str]
) -> dict[str, float | None]:
    from autometa._plugins import build_plugin_manager
    from autometa.contract._task import Task
    from autometa.search._metafeatures import compute_meta_features

    manager = build_plugin_manager(plugins, blocked=blocked)
    task = Task.from_data(X, y)
    computed = compute_meta_features(task, extra_groups=manager.meta_feature_groups(task))
    return {name: _finite_or_none(value) for name, value in computed.values.items()}


def _checked_descriptors(descriptors: Mapping[str, Any]) -> dict[str, float | None]:
    """``descriptors`` as JSON-safe floats, or a ValueError naming the bad entry."""
    if not isinstance(descriptors, Mapping):
        raise TypeError(
            f"descriptors must be a mapping of names to numbers, got {type(descriptors).__name__}."
        )
    checked: dict[str, float | None] = {}
    for name, value in descriptors.items():
        if not isinstance(name, str):
            raise ValueError(f"Descriptor names must be strings, got {name!r}.")
        if value is None:
            checked[name] = None
        elif isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(
                f"Descriptor {name!r} is {value!r}; descriptors are numbers (use NaN or None "
                "for an unknown value, and encode categories as numbers)."
            )
        else:
            checked[name] = _finite_or_none(value)
    return checked


def study_descriptors(study: optuna.Study | Any) -> dict[str, float]:
    """The descriptors a study carries (NaN where unknown); ``{}`` when it has none.

    Accepts a study or anything with ``user_attrs`` (e.g. a ``StudySummary``). Reads
    :data:`DESCRIPTORS_ATTR`, then fills in the meta-features ``autometa.fit`` stored.
    """
    attrs = study.user_attrs
    merged: dict[str, float] = {}
    for key in (FIT_META_FEATURES_ATTR, DESCRIPTORS_ATTR):
        stored = attrs.get(key)
        if isinstance(stored, Mapping):
            for name, value in stored.items():
                merged[str(name)] = _as_float(value)
    return merged


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return math.nan
    return float(value)


def _finite_or_none(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
