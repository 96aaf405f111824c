"""What the command line's commands share: exit codes, failing, common options."""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from autometa.knowledge import KnowledgeBase

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

JSON_REPORT_OPTION = click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the full report (per task) as JSON.",
)


def read_knowledge(location: str | None) -> KnowledgeBase:
    """The knowledge base at ``location``, opened only to read (it must exist), or the
    shipped one."""
    from autometa.knowledge._base import KnowledgeBase

    if location:
        return KnowledgeBase.open(location, read_only=True, create=False)
    return KnowledgeBase.default()


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


BAD_INPUT = (ValueError, OSError, RecursionError)
"""What reading the files and locations a command is given raises when they are wrong:
a ValueError (autometa's own checks, a table or export that cannot be read), an OSError
(a missing path, a directory, no permission) or a RecursionError (values nested deeper
than Python's recursion limit). :func:`fail_input` turns each into one line."""

_MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.ENOMEM})
"""OSErrors that are the machine's fault, not the input's: a failed run (exit 1)."""

_PATH_FIXES = {
    FileNotFoundError: "Check the path (a file is created only in an existing directory).",
    IsADirectoryError: "Name a file, not a directory.",
    NotADirectoryError: "A part of the path is a file, not a directory; check the path.",
    PermissionError: "Check the permissions, or choose another path.",
}


def fail_input(exc: BaseException, source: str = "the input") -> NoReturn:
    """Fail with one line (no traceback) for an error of :data:`BAD_INPUT`: exit 2 with
    what is wrong and how to fix it, or exit 1 for a full disk and the like. ``source``
    names what was read, for errors that do not name it themselves."""
    if isinstance(exc, RecursionError):
        fail(
            f"{source} is nested too deeply to read (past Python's recursion limit). "
            "Flatten its nested values: a parameter of an autometa export holds a value or "
            "a list of values."
        )
    if isinstance(exc, OSError) and exc.errno in _MACHINE_ERRNOS:
        fail(str(exc), EXIT_FAILED)
    if isinstance(exc, OSError) and exc.strerror and exc.filename:  # the OS's own error
        fix = next((f for kind, f in _PATH_FIXES.items() if isinstance(exc, kind)), "")
        fail(f"{exc.filename}: {exc.strerror}. {fix or 'Check the path.'}")
    fail(str(exc))
