"""``dendrux demo``: record a realistic sample run (into the default SQLite database
unless told otherwise), show it as ``dendrux show`` does, and print the commands to
look at it again."""

from __future__ import annotations

import argparse
import os
import shlex
from typing import TYPE_CHECKING

from dendrux.cli.style import Style
from dendrux.db.urls import default_database_url, mask_url

if TYPE_CHECKING:
    from dendrux.cli.command import Commands

URL_ENV = "DENDRUX_DATABASE_URL"


def url_option(url: str) -> str:
    """`` --database-url ...`` for a command to paste: nothing for the default file, the
    URL itself, or for a URL with a password the variable (a password is never printed,
    masked or not), as `dendrux.demo.dashboard_hint` does."""
    if mask_url(url) != url:
        return f' --database-url "${URL_ENV}"'
    if url == default_database_url() and os.environ.get(URL_ENV) != url:
        return ""
    return f" --database-url {shlex.quote(url)}"


def next_commands(url: str, run_id: str) -> str:
    """The exact commands to look at the run again: in the terminal, then in a browser."""
    from dendrux.demo import _dendrux_program, dashboard_hint

    program = shlex.quote(_dendrux_program())
    lines = ["look at it again:", f"  {program} show {run_id}{url_option(url)}"]
    if mask_url(url) != url and os.environ.get(URL_ENV) != url:
        lines.append(f"  (with {URL_ENV} set to the URL you gave: its password is not printed)")
    return "\n".join(lines) + "\n" + dashboard_hint(url, run_id)


async def demo(args: argparse.Namespace, url: str, style: Style) -> int:
    """A write command: it goes through the write facade, which creates the database."""
    from dendrux.cli.show import render_run
    from dendrux.demo import record_sample_run
    from dendrux.state import StateStore
    from dendrux.store import RunStore

    async with StateStore.from_database_url(url) as store:
        run_id = await record_sample_run(store)
        print(f"recorded a sample run into {mask_url(url)}\n")
        print(await render_run(RunStore(store), run_id, style))
    print(f"\n{next_commands(url, run_id)}")
    return 0


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """``demo``."""
    commands.add_parser(
        "demo", help="record a realistic sample run and show it", parents=[common]
    ).set_defaults(action=demo)
