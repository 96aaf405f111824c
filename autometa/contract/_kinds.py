"""The three task kinds: the one fact both a task and the types around it need.

Kept apart so that :mod:`._task` (which validates data into a task of a kind) and
:mod:`._types` (whose :class:`~autometa.contract.Algorithm` names a task in its factory's
signature) import it without importing each other.
"""

from __future__ import annotations

from typing import Literal

TaskKind = Literal["binary", "multiclass", "regression"]
TASK_KINDS: tuple[TaskKind, ...] = ("binary", "multiclass", "regression")
