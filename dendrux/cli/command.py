"""What a command group module gives the parser, and what its commands share.

Each group module has ``register(commands, common)``: it adds its subcommands
and sets ``action`` (an `Action`) on each, plus ``existing_database=True`` on
those that must never create a SQLite file. Reading commands open a
`RunStore` only; writing ones (sweep, purge, demo, db upgrade) the write side.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager
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
    """The read facade over ``url``; it never creates, migrates or writes the database.
    On PostgreSQL its pool keeps no idle connection (``pool_min_size=0``): while a
    followed server is down, asyncpg would otherwise log a traceback each time it fails
    to keep one open."""
    from dendrux.db.urls import parse_database_url
    from dendrux.store import RunStore

    if parse_database_url(url).dialect == "postgres":
        return RunStore.from_database_url(url, pool_min_size=0)
    return RunStore.from_database_url(url)


@contextmanager
def log_to_stderr(logger: str, line_format: str) -> Iterator[None]:
    """While inside: ``logger``'s warnings and errors as lines on stderr (the CLI
    silences the library otherwise)."""
    log = logging.getLogger(logger)
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter(line_format))
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)


def follow_warnings() -> AbstractContextManager[None]:
    """While following: the stream's warnings (a lost server, a hole given up on) as
    ``dendrux: warning: ...`` lines on stderr."""
    return log_to_stderr("dendrux.read.stream", "dendrux: warning: %(message)s")
