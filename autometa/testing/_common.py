"""Constants and helpers every conformance check shares."""

from __future__ import annotations

import inspect
import math
from typing import Any, NoReturn

from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from autometa._plugins import PluginError, Plugins, build_plugin_manager
from autometa.contract import hookspecs

HOOK_NAMES: tuple[str, ...] = tuple(
    name
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(function, f"{hookspecs.PROJECT_NAME}_spec")
)
"""Every hook of the contract, read from the markers of :mod:`autometa.contract.hookspecs`."""

SUPPORTED_DISTRIBUTIONS = (FloatDistribution, IntDistribution, CategoricalDistribution)
"""The Optuna distributions the search can suggest (see :func:`autometa.search._space.suggest`)."""

PROBABILITY_TOLERANCE = 1e-6
"""How far a row of ``predict_proba`` may sum from 1."""

_SEED = 0


def _fail(message: str) -> NoReturn:
    raise AssertionError(message)


def _registered(plugin: object) -> tuple[Plugins, str]:
    """``plugin`` alone in a real plugin manager, and the name it is registered under."""
    try:
        plugins = build_plugin_manager([plugin], autoload=False, builtins=False)
    except PluginError as exc:
        _fail(f"Plugin {_label(plugin)!r} cannot be registered (unknown hook?): {exc}")
    names = plugins.names()
    if len(names) != 1:
        _fail(f"Plugin {_label(plugin)!r} was not registered (blocked by its name?).")
    return plugins, names[0]


def _label(plugin: object) -> str:
    explicit = getattr(plugin, "autometa_plugin_name", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    return str(getattr(plugin, "__name__", None) or type(plugin).__name__)


def _call_hook(plugins: Plugins, plugin_name: str, hook: str, **kwargs: Any) -> Any:
    """Call ``hook`` through pluggy (which passes each implementation only what it names)."""
    caller = getattr(plugins.plugin_manager.hook, hook)
    try:
        result = caller(**kwargs)
    except Exception as exc:
        _fail(f"Plugin {plugin_name!r} raised in {hook}: {type(exc).__name__}: {exc}")
    if caller.spec is not None and caller.spec.opts.get("firstresult"):
        return result
    if len(result) != 1:  # None results are dropped by pluggy
        return None
    return result[0]


def _same_number(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))
