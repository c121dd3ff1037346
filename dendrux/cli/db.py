"""``dendrux db upgrade`` and ``dendrux db status``: the schema version of a database."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dendrux.cli.command import json_flag
from dendrux.cli.render import dumps
from dendrux.cli.style import Style
from dendrux.db.urls import mask_url, pasteable_url_note, pasteable_url_option

if TYPE_CHECKING:
    from dendrux.cli.command import Commands


async def db_upgrade(args: argparse.Namespace, url: str, style: Style) -> int:
    """Apply pending migrations (creates a missing SQLite file: the one way to get an
    empty database besides ``demo``)."""
    from dendrux.db import upgrade

    if args.adopt_upstream:
        from dendrux.db.adopt import adopt_url

        result = await adopt_url(url)
        if result.backup is not None:
            print(f"{mask_url(url)}: backup written to {result.backup}")
        if result.adopted:
            print(
                f"{mask_url(url)}: adopted the dendrux 0.4.1 database; now at schema version "
                f"{max(result.applied, default=0)}"
            )
            return 0
        applied = result.applied
    else:
        applied = await upgrade(url)
    if applied:
        print(f"{mask_url(url)}: applied migration(s) {', '.join(map(str, applied))}")
    else:
        print(f"{mask_url(url)}: already up to date")
    return 0


async def db_status(args: argparse.Namespace, url: str, style: Style) -> int:
    """Report the schema version without changing anything; exit 1 when behind."""
    from dendrux.db import schema_status

    found = await schema_status(url)
    if args.json:
        document = {
            "database_url": mask_url(url),
            "dialect": found.dialect,
            "current_version": found.current_version,
            "newest_version": found.newest_version,
            "up_to_date": found.up_to_date,
            "upstream": found.upstream,
        }
        print(dumps(document))
    else:
        option = pasteable_url_option(url)
        state = "up to date" if found.up_to_date else f"needs `dendrux db upgrade{option}`"
        if found.upstream:
            state = (
                "written by dendrux 0.4.1 (read as it is; `dendrux db upgrade --adopt-upstream"
                f"{option}` converts it, see docs/adopting-0.4.1.md)"
            )
        note = pasteable_url_note(url) if not found.up_to_date or found.upstream else ""
        print(
            f"{mask_url(url)} ({found.dialect}): schema version {found.current_version} "
            f"of {found.newest_version}, {state}" + (f"; {note}" if note else "")
        )
    return 0 if found.up_to_date else 1


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """``db upgrade`` and ``db status``."""
    db = commands.add_parser("db", help="schema management", parents=[common])
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    upgrade = db_commands.add_parser(
        "upgrade", help="migrate the database to the newest schema", parents=[common]
    )
    upgrade.add_argument(
        "--adopt-upstream",
        action="store_true",
        help="convert a database written by dendrux 0.4.1 in place to this schema "
        "(SQLite: a backup copy is written first; see docs/adopting-0.4.1.md)",
    )
    upgrade.set_defaults(action=db_upgrade)
    show = db_commands.add_parser(
        "status", help="show the current and newest schema version", parents=[common]
    )
    json_flag(show, "the schema status as JSON")
    show.set_defaults(action=db_status, existing_database=True)
