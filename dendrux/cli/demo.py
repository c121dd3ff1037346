"""``dendrux demo``: record a realistic sample run (into the default SQLite database
unless told otherwise) and show it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dendrux.cli.style import Style
from dendrux.db.urls import mask_url

if TYPE_CHECKING:
    from dendrux.cli.command import Commands


async def demo(args: argparse.Namespace, url: str, style: Style) -> int:
    """A write command: it goes through the write facade, which creates the database."""
    from dendrux.demo import dashboard_hint, describe_run, record_sample_run
    from dendrux.state import StateStore

    async with StateStore.from_database_url(url) as store:
        run_id = await record_sample_run(store)
        print(f"recorded a sample run into {mask_url(url)}\n")
        print(await describe_run(store, run_id))
    print(f"\n{dashboard_hint(url, run_id)}")
    return 0


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """``demo``."""
    commands.add_parser(
        "demo", help="record a realistic sample run and show it", parents=[common]
    ).set_defaults(action=demo)
