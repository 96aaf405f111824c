"""The one warning of study transfer, and how problems are gathered into it."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence

_MAX_LISTED = 8
"""Problems listed one by one in a warning; the rest are counted."""


class TransferWarning(UserWarning):
    """A source study or trial was skipped; the message names it and says why."""


def _warn(headline: str, problems: Sequence[str]) -> None:
    """One warning for a list of problems; the first few listed, the rest counted."""
    if not problems:
        return
    shown = "\n  ".join(problems[:_MAX_LISTED])
    more = len(problems) - _MAX_LISTED
    tail = f"\n  ... and {more} more" if more > 0 else ""
    warnings.warn(
        f"{headline}:\n  {shown}{tail}", TransferWarning, stacklevel=_outside_stacklevel()
    )


_PACKAGE = __name__.rpartition(".")[0] + "."
"""Frames of this package's modules are skipped: a warning points at the user's call."""


def _outside_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside this package."""
    frame = inspect.currentframe()
    frame = frame.f_back if frame is not None else None  # the caller of warnings.warn
    level = 1
    while frame is not None and str(frame.f_globals.get("__name__")).startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    return level
