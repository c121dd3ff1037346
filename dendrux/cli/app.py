"""The parser assembled from the command group modules, and the entry point."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from dendrux import __version__
from dendrux.cli import dashboard, db, demo, maintenance, runs, show, stats, tail, transfer
from dendrux.cli.command import Action
from dendrux.cli.exits import Parser, run_command
from dendrux.cli.style import Style
from dendrux.db.urls import default_database_url

GROUPS = (db, runs, show, tail, stats, maintenance, transfer, demo, dashboard)
"""Each adds its commands with ``register(commands, common)``, in help order."""

_COLOR = ["auto", "always", "never"]
_COLOR_HELP = "colour output (auto: on a terminal unless NO_COLOR is set)"


def _common() -> Parser:
    """Options every command also accepts after its name."""
    common = Parser(add_help=False)
    common.add_argument(
        "--database-url", default=argparse.SUPPRESS, help="database URL (overrides the default)"
    )
    common.add_argument("--color", choices=_COLOR, default=argparse.SUPPRESS, help=_COLOR_HELP)
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = Parser(
        prog="dendrux",
        description="The dendrux audit store: inspect, follow and maintain recorded agent runs.",
        epilog=(
            "Times: a duration (30s, 30m, 2h, 7d, 1h30m) means that long ago; a date "
            "(2026-01-31) is midnight UTC; a datetime needs Z or an offset "
            "(2026-01-31T12:00:00Z). Filters read values as the HTTP router's query "
            "parameters do. Exit codes: 0 ok, 1 error, 2 usage, 130 interrupted."
        ),
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="database URL (default: $DENDRUX_DATABASE_URL or ~/.dendrux/dendrux.db)",
    )
    parser.add_argument("--color", choices=_COLOR, default="auto", help=_COLOR_HELP)
    parser.add_argument("--version", action="version", version=f"dendrux {__version__}")
    common = _common()
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 error, 2 usage, 130 Ctrl-C)."""
    debug = bool(os.environ.get("DENDRUX_DEBUG"))
    # The library's own warnings (a retried write...) would add lines before the one-line
    # error; they are for applications that configure logging, and for DENDRUX_DEBUG.
    quiet = logging.NullHandler()
    library_log = logging.getLogger("dendrux")
    if not debug:
        library_log.addHandler(quiet)
    try:
        args = build_parser().parse_args(argv)
        url = args.database_url or default_database_url()
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="backslashreplace")  # odd names on a non-UTF-8 tty
        style = Style.for_stream(sys.stdout, args.color)
        action: Action = args.action
        return run_command(
            lambda: action(args, url, style),
            url,
            existing_database=getattr(args, "existing_database", False),
            debug=debug,
        )
    except KeyboardInterrupt:
        return 130
    finally:
        library_log.removeHandler(quiet)
