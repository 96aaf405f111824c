"""Build the plugin manager and call hooks with typed, checked results.

Plugins come from three places only, as in pytest: the first-party plugins shipped with
autometa (:data:`BUILTIN_PLUGINS`, imported by their fixed module names), installed
packages that declare an entry point in the ``autometa`` group, and objects the user
passes explicitly. Nothing is imported by path or name from configuration, so the set of
code that runs is the set the user installed or handed over. ``blocked`` removes
plugins by name (built-ins included), ``allowed`` narrows built-ins and entry points to
a list, and the environment variable ``AUTOMETA_DISABLE_PLUGIN_AUTOLOAD=1`` skips
third-party entry points (the built-ins stay), as pytest does with its own variable.

Hook wrappers (``hookwrapper=True`` / ``wrapper=True``) are refused at registration
with an error naming the plugin: :class:`Plugins` calls each implementation on its own,
so that a failure or a wrong return type names its plugin, and a wrapper around one
implementation would wrap nothing. :func:`build_plugin_manager` (``_loading``) registers
the plugins; :class:`Plugins` (``_calls``) has one typed method per hook.
"""

from autometa._plugins._calls import PluginInfo, Plugins
from autometa._plugins._errors import ObserverWarning, PluginError, PluginLoadWarning
from autometa._plugins._loading import (
    BUILTIN_DISTRIBUTION,
    BUILTIN_PLUGINS,
    DISABLE_AUTOLOAD_ENV,
    ENTRY_POINT_GROUP,
    build_plugin_manager,
)

__all__ = [
    "BUILTIN_DISTRIBUTION",
    "BUILTIN_PLUGINS",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "ObserverWarning",
    "PluginError",
    "PluginInfo",
    "PluginLoadWarning",
    "Plugins",
    "build_plugin_manager",
]
