"""The ``dendrux`` command line (standard library argparse only).

Every command takes ``--database-url`` (default: ``DENDRUX_DATABASE_URL`` or
``~/.dendrux/dendrux.db``). Errors are one readable line on stderr with the
password masked; exit code 1 for failures, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from dendrux.db.urls import default_database_url, mask_url
from dendrux.errors import DendruxError


async def _db_upgrade(url: str) -> int:
    from dendrux.db import upgrade

    applied = await upgrade(url)
    if applied:
        print(f"{mask_url(url)}: applied migration(s) {', '.join(map(str, applied))}")
    else:
        print(f"{mask_url(url)}: already up to date")
    return 0


async def _db_status(url: str) -> int:
    from dendrux.db import schema_status

    status = await schema_status(url)
    state = "up to date" if status.up_to_date else "needs `dendrux db upgrade`"
    print(
        f"{mask_url(url)} ({status.dialect}): schema version {status.current_version} "
        f"of {status.newest_version}, {state}"
    )
    return 0 if status.up_to_date else 1


async def _demo(url: str) -> int:
    from dendrux.demo import describe_run, record_sample_run
    from dendrux.state import StateStore

    async with StateStore.from_database_url(url) as store:
        run_id = await record_sample_run(store)
        print(f"recorded a sample run into {mask_url(url)}\n")
        print(await describe_run(store, run_id))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="dendrux", description="The dendrux audit store.")
    parser.add_argument(
        "--database-url",
        default=None,
        help="database URL (default: $DENDRUX_DATABASE_URL or ~/.dendrux/dendrux.db)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    db = commands.add_parser("db", help="schema management")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="migrate the database to the newest schema")
    db_commands.add_parser("status", help="show the current and newest schema version")
    commands.add_parser("demo", help="record a realistic sample run and show it")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    url = args.database_url or default_database_url()
    if args.command == "db":
        action = _db_upgrade if args.db_command == "upgrade" else _db_status
    else:
        action = _demo
    try:
        return asyncio.run(action(url))
    except DendruxError as exc:
        print(f"dendrux: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"dendrux: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
