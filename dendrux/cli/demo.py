"""``dendrux demo``: record a realistic sample run (into the default SQLite database
unless told otherwise), show it as ``dendrux show`` does, and print the commands to
look at it again."""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING

from dendrux.cli.style import Style
from dendrux.db.urls import mask_url, pasteable_url_note, pasteable_url_option

if TYPE_CHECKING:
    from dendrux.cli.command import Commands


def next_commands(url: str, run_id: str) -> str:
    """The exact commands to look at the run again: in the terminal, then in a browser."""
    from dendrux.demo import _dendrux_program, dashboard_hint

    program = shlex.quote(_dendrux_program())
    lines = ["look at it again:", f"  {program} show {run_id}{pasteable_url_option(url)}"]
    note = pasteable_url_note(url)
    if note:
        lines.append(f"  ({note})")
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
