"""What a command group module gives the parser, and what its commands share.

Each group module has ``register(commands, common)``: it adds its subcommands
and sets ``action`` (an `Action`) on each, plus ``existing_database=True`` on
those that must never create a SQLite file. Reading commands open a
`RunStore` only; writing ones (sweep, purge, demo, db upgrade) the write side.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeAlias

from dendrux.cli.style import Style

if TYPE_CHECKING:
    from dendrux.store import RunStore

    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
    """Where a group module adds its subcommands."""

Action = Callable[[argparse.Namespace, str, Style], Coroutine[Any, Any, int]]
"""A command: (parsed arguments, database URL, output style) -> exit code."""


def json_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """``--json``: machine-readable output."""
    parser.add_argument("--json", action="store_true", help=f"print {what} (for scripts)")


def open_reader(url: str) -> RunStore:
    """The read facade over ``url``; it never creates, migrates or writes the database."""
    from dendrux.store import RunStore

    return RunStore.from_database_url(url)
