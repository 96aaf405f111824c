"""Building the plugin manager: built-ins, entry points and the user's own objects."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
import warnings
from collections.abc import Callable, Iterable

import pluggy

from autometa._plugins._calls import Plugins
from autometa._plugins._errors import PluginError, PluginLoadWarning
from autometa._version import __version__
from autometa.contract import hookspecs

ENTRY_POINT_GROUP = "autometa"
DISABLE_AUTOLOAD_ENV = "AUTOMETA_DISABLE_PLUGIN_AUTOLOAD"
BUILTIN_DISTRIBUTION = "autometa-ml"

BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("learners", "autometa_learners"),
    ("multitask", "autometa_multitask"),
    ("selectors", "autometa_selectors"),
    ("sklearn", "autometa_sklearn"),
)
"""The first-party plugins, ``(plugin name, module)``, registered in this order before any
entry point; block one by its name (``blocked=["selectors"]``)."""


def build_plugin_manager(
    plugins: Iterable[object] = (),
    *,
    blocked: Iterable[str] = (),
    allowed: Iterable[str] | None = None,
    autoload: bool | None = None,
    builtins: bool = True,
) -> Plugins:
    """Create the plugin manager for one fit.

    Registration order (later ones are asked first by firstresult hooks): the built-ins
    (:data:`BUILTIN_PLUGINS`), the installed entry points, then ``plugins``.

    :param plugins: plugin objects (modules, classes or instances with hookimpls) to
        register after the installed ones, so they are asked first by firstresult hooks.
    :param blocked: plugin names (built-in names, entry-point names, or the names of
        passed objects) to leave out.
    :param allowed: if given, only built-ins and entry points with these names are loaded.
    :param autoload: load third-party entry points; None reads the environment variable
        ``AUTOMETA_DISABLE_PLUGIN_AUTOLOAD`` (autoload unless it is set to 1/true). The
        built-ins do not depend on it.
    :param builtins: load the first-party plugins; False leaves only entry points and
        ``plugins`` (what :mod:`autometa.testing` uses to check one plugin alone).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    blocked = set(blocked)
    for name in blocked:
        pm.set_blocked(name)
    if autoload is None:
        autoload = os.environ.get(DISABLE_AUTOLOAD_ENV, "").lower() not in ("1", "true", "yes")
    allowed_names = set(allowed) if allowed is not None else None
    distributions: dict[str, tuple[str, str]] = {}
    if builtins:
        version = _builtin_version()
        for name, module in BUILTIN_PLUGINS:
            if name in blocked or (allowed_names is not None and name not in allowed_names):
                continue
            if _load(pm, name, functools.partial(importlib.import_module, module), module):
                distributions[name] = (BUILTIN_DISTRIBUTION, version)
    if autoload:
        for entry_point in sorted(
            importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name
        ):
            if entry_point.name in blocked or pm.has_plugin(entry_point.name):
                continue
            if allowed_names is not None and entry_point.name not in allowed_names:
                continue
            dist = entry_point.dist
            dist_name = dist.metadata["Name"] if dist is not None else "unknown distribution"
            origin = f"distribution {dist_name!r} ({entry_point.value})"
            if _load(pm, entry_point.name, entry_point.load, origin):
                distributions[entry_point.name] = (
                    dist_name,
                    dist.version if dist is not None else "",
                )
    for plugin in plugins:
        name = _plugin_name(plugin)
        if name in blocked:
            continue
        _register(pm, plugin, name)
    return Plugins(pm, distributions)


def _builtin_version() -> str:
    """The built-in plugins ship with autometa: its version."""
    return __version__


def _load(pm: pluggy.PluginManager, name: str, load: Callable[[], object], origin: str) -> bool:
    """Import one installed plugin and register it; a failed import warns and skips it."""
    try:
        plugin = load()
    except Exception as exc:  # a broken package must not take the others down
        warnings.warn(
            f"Could not load autometa plugin {name!r} from {origin}: "
            f"{type(exc).__name__}: {exc}. It is skipped; block it with "
            f"blocked=[{name!r}] to silence this.",
            PluginLoadWarning,
            stacklevel=3,
        )
        return False
    _register(pm, plugin, name)
    return True


def _plugin_name(plugin: object) -> str:
    explicit = getattr(plugin, "autometa_plugin_name", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    name = getattr(plugin, "__name__", None) or type(plugin).__name__
    return str(name)


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    if pm.has_plugin(name) or pm.is_registered(plugin):
        raise PluginError(
            f"A plugin named {name!r} is already registered; give the new one another name "
            "(set an `autometa_plugin_name` attribute) or block the installed one."
        )
    try:
        pm.register(plugin, name=name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        if pm.is_registered(plugin):
            pm.unregister(plugin)
        raise PluginError(
            f"Plugin {name!r} is invalid: {exc}. Known hooks: "
            f"{sorted(h for h in dir(hookspecs) if h.startswith('autometa_'))}."
        ) from exc
    wrappers = sorted(
        impl.function.__name__
        for caller in pm.get_hookcallers(plugin) or []
        for impl in caller.get_hookimpls()
        if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper)
    )
    if wrappers:
        pm.unregister(plugin)
        raise PluginError(
            f"Plugin {name!r} implements {wrappers} as hook wrappers (hookwrapper=True or "
            "wrapper=True), which autometa does not run: it calls each implementation on "
            "its own so that errors name their plugin. Implement the hook plainly (drop "
            "the wrapper flag and return the result), or post-process in your own code."
        )
