"""What the command line's commands share: exit codes, failing, common options."""

from __future__ import annotations

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
