"""check_meta_features: a plugin's meta-features are finite-or-NaN numbers, deterministic."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping

import numpy as np

from autometa._plugins import Plugins
from autometa.contract._task import Task
from autometa.search._metafeatures import compute_meta_features
from autometa.testing._common import _call_hook, _fail, _registered, _same_number
from autometa.testing._data import small_tasks


def check_meta_features(
    plugin_or_callable: object | Callable[[Task], Mapping[str, float]],
) -> None:
    """Check the meta-features of a plugin (its ``autometa_meta_features`` hook) or of a
    callable ``task -> {name: value}``, on a binary, a multiclass and a regression task.

    Values must be real numbers (not bools), NaN where undefined but never infinite
    (knowledge bases refuse infinities); names must be non-empty strings that do not
    clash with autometa's own meta-features (as
    :func:`autometa.search._metafeatures.compute_meta_features` returns them, or the fit fails);
    a plugin's name must not be one of autometa's group names; and two calls on the
    same task must give the same values (meta-features are how a new task is compared
    with earlier ones, so they must be reproducible). A plugin is then run through the
    real meta-feature engine, as a fit runs it.
    """
    plugins: Plugins | None = None
    compute: Callable[[Task], object]
    if hasattr(plugin_or_callable, "autometa_meta_features") or not callable(plugin_or_callable):
        plugins, name = _registered(plugin_or_callable)
        if "autometa_meta_features" not in plugins.info()[0].hooks:
            _fail(f"Plugin {name!r} does not implement autometa_meta_features.")
        owner = f"Plugin {name!r}"
        compute = _through_hook(plugins, name)
    else:
        label = getattr(plugin_or_callable, "__qualname__", repr(plugin_or_callable))
        owner = f"Meta-feature function {label!r}"
        compute = _guarded(plugin_or_callable, owner)
    for task in small_tasks().values():
        own = compute_meta_features(task)
        values = _check_feature_mapping(owner, compute(task), task)
        clashes = sorted(set(values) & set(own.values))
        if clashes:
            _fail(
                f"{owner}: meta-features {clashes} clash with autometa's own names; prefix "
                "yours with your plugin's name."
            )
        again = _check_feature_mapping(owner, compute(task), task)
        if again.keys() != values.keys() or not all(
            _same_number(values[k], again[k]) for k in values
        ):
            _fail(
                f"{owner}: two calls on the same {task.kind} task gave different "
                "meta-features; seed any sampling so the values are reproducible."
            )
        if plugins is not None:
            name = plugins.names()[0]
            if name in own.groups:
                _fail(
                    f"{owner}: its name is one of autometa's meta-feature groups "
                    f"{sorted(own.groups)}; register it under another name."
                )
            try:
                engine = compute_meta_features(task, extra_groups=plugins.meta_feature_groups(task))
            except Exception as exc:
                _fail(f"{owner}: the meta-feature engine failed: {type(exc).__name__}: {exc}")
            if engine.groups[name] != tuple(values):
                _fail(f"{owner}: the engine saw other names than the hook returned.")


def _through_hook(plugins: Plugins, name: str) -> Callable[[Task], object]:
    def compute(task: Task) -> object:
        return _call_hook(plugins, name, "autometa_meta_features", task=task)

    return compute


def _guarded(function: Callable[[Task], object], owner: str) -> Callable[[Task], object]:
    def compute(task: Task) -> object:
        try:
            return function(task)
        except Exception as exc:
            _fail(f"{owner} raised {type(exc).__name__}: {exc}")

    return compute


def _check_feature_mapping(owner: str, result: object, task: Task) -> dict[str, float]:
    if not isinstance(result, Mapping):
        _fail(
            f"{owner}: meta-features must be a mapping of name to float, got "
            f"{type(result).__name__} for a {task.kind} task."
        )
    values: dict[str, float] = {}
    for name, value in result.items():
        if not isinstance(name, str) or not name:
            _fail(f"{owner}: meta-feature names must be non-empty strings, got {name!r}.")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            _fail(
                f"{owner}: meta-feature {name!r} is {type(value).__name__} {value!r}; "
                "values must be real numbers (NaN where undefined)."
            )
        if math.isinf(float(value)):
            _fail(
                f"{owner}: meta-feature {name!r} is infinite on a {task.kind} task; use NaN "
                "where a value is undefined (knowledge bases refuse infinities)."
            )
        values[name] = float(value)
    return values
