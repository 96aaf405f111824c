"""The user's own knowledge base, laid over the shipped one: every fit teaches the next.

A fit given no ``knowledge=`` learns from the shipped base with the user's own base
over it (:func:`~autometa.knowledge._layered.layered_knowledge`) and adds its task to
the user's base: the task's meta-features and the scores, times and statuses of the
configurations it tried. No row of the data is stored (meta-features are aggregates,
and configurations are hyperparameters).

Where the user's base lives:

- ``AUTOMETA_USER_KNOWLEDGE``: a file path or database URL; ``off`` (or ``0``,
  ``false``, ``no``, ``none``, empty) turns the layer off, so fits learn from the
  shipped base only and write nothing;
- otherwise ``knowledge.db`` in the platform's user data folder (``platformdirs``:
  ``~/.local/share/autometa`` on Linux, ``~/Library/Application Support/autometa`` on
  macOS, ``%LOCALAPPDATA%\\autometa`` on Windows).

A base that cannot be opened or created (a read-only home, a damaged file) is reported
with a warning and left as it is, and the fit learns from the shipped base alone: a
user's knowledge is worth keeping, never worth failing a fit for.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import platformdirs

from autometa.knowledge._base import KnowledgeBase
from autometa.knowledge._layered import layered_knowledge
from autometa.knowledge._urls import is_url

USER_KNOWLEDGE_ENV = "AUTOMETA_USER_KNOWLEDGE"
"""Environment variable naming the user's knowledge base, or ``off``."""

USER_KNOWLEDGE_FILE = "knowledge.db"
"""The user's base's file name in the user data folder."""

_OFF = frozenset({"", "0", "off", "false", "no", "none"})


def user_knowledge_location() -> str | None:
    """Where the user's knowledge base is (a path or URL), or None when it is turned off."""
    configured = os.environ.get(USER_KNOWLEDGE_ENV)
    if configured is not None:
        return None if configured.strip().lower() in _OFF else configured
    folder = platformdirs.user_data_path("autometa", appauthor=False)
    return str(Path(folder) / USER_KNOWLEDGE_FILE)


def open_user_knowledge() -> KnowledgeBase | None:
    """The user's own knowledge base, opened writable (created when missing), or None
    when it is turned off or cannot be opened (with a warning saying why and the fix)."""
    location = user_knowledge_location()
    if location is None:
        return None
    try:
        if not is_url(location):
            Path(location).parent.mkdir(parents=True, exist_ok=True)
        return KnowledgeBase.open(location)
    except Exception as exc:  # never fail a fit for the layer that only adds to it
        warnings.warn(
            f"autometa could not open your knowledge base {location} "
            f"({type(exc).__name__}: {exc}); this fit learns from the shipped knowledge "
            f"base only and teaches nothing. Fix or move the file, point "
            f"{USER_KNOWLEDGE_ENV} at another location, or set {USER_KNOWLEDGE_ENV}=off.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None


def default_knowledge() -> KnowledgeBase:
    """The knowledge base of a fit given none: the user's own over the shipped one, or
    the shipped one alone (read-only) when the user's is off or unavailable."""
    shipped = KnowledgeBase.default()
    user = open_user_knowledge()
    return shipped if user is None else layered_knowledge(shipped, user)


def default_layers_info() -> dict[str, Any]:
    """What ``autometa kb info`` shows of the default base without creating anything:
    each layer's location, counts and metadata (or why the user's is absent), and the
    counts of both together."""
    shipped = KnowledgeBase.default()
    layers = [_layer_info("shipped", shipped)]
    total = shipped.counts()
    location = user_knowledge_location()
    if location is None:
        layers.append({"layer": "user", "location": None, "state": f"{USER_KNOWLEDGE_ENV}=off"})
    elif not is_url(location) and not Path(location).exists():
        layers.append({"layer": "user", "location": location, "state": "not created yet"})
    else:
        user = KnowledgeBase.open(location, read_only=True, create=False)
        layers.append(_layer_info("user", user))
        total = layered_knowledge(shipped, user).counts()
    return {"counts": total, "layers": layers}


def _layer_info(name: str, knowledge: KnowledgeBase) -> dict[str, Any]:
    return {
        "layer": name,
        "location": knowledge.location,
        "counts": knowledge.counts(),
        "metadata": knowledge.metadata(),
    }


__all__ = [
    "USER_KNOWLEDGE_ENV",
    "default_knowledge",
    "default_layers_info",
    "open_user_knowledge",
    "user_knowledge_location",
]
