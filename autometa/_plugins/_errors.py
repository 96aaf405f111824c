"""What goes wrong with plugins: the error and the two warnings."""

from __future__ import annotations


class PluginError(RuntimeError):
    """A plugin raised, returned the wrong type, or clashed with another plugin."""


class PluginLoadWarning(UserWarning):
    """An installed plugin could not be imported; the others still load."""


class ObserverWarning(UserWarning):
    """An observer hook (``autometa_trial_completed``) raised; the fit goes on."""
