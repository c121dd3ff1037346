"""``dendrux tail``: every new event of every run, as it lands (the whole store followed,
`RunStore.stream_all_events`); per run once and in index order. Until Ctrl-C."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dendrux.cli.command import follow_warnings, json_flag, open_reader
from dendrux.cli.printer import event_line
from dendrux.cli.render import dumps, emit, fit, record, terminal_width
from dendrux.cli.style import Style
from dendrux.cli.values import arg_type, parse_instant, positive_seconds
from dendrux.scope import UNSCOPED

if TYPE_CHECKING:
    from dendrux.cli.command import Commands


async def tail(args: argparse.Namespace, url: str, style: Style) -> int:
    """Print each new event with its run id: one line, or one JSON object per line."""
    tenant = UNSCOPED if args.tenant is None else args.tenant
    width = terminal_width()
    async with open_reader(url) as store:
        stream = store.stream_all_events(
            since=args.since, tenant_id=tenant, poll_interval_s=args.poll_interval
        )
        with follow_warnings():
            async for run_id, event in stream:
                if args.json:
                    emit(dumps({"run_id": run_id, **record(event)}), flush=True)
                else:
                    line = f"{style.paint(run_id, 'bold')}  {event_line(event, None, style)}"
                    emit(fit(line, width, style.ellipsis), flush=True)
    return 0  # pragma: no cover - following never ends on its own


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """``tail``."""
    parser = commands.add_parser(
        "tail",
        help="print every new event of every run as it lands (until Ctrl-C)",
        parents=[common],
        description="Follow the whole store: each new event of every run, with its run "
        "id; per run once and in index order.",
    )
    parser.add_argument(
        "--since",
        type=arg_type(parse_instant, "time"),
        metavar="TIME",
        help="start with the events created after TIME (a duration ago, or a date); "
        "default: from now",
    )
    parser.add_argument("--tenant", metavar="TENANT", help="only this tenant's runs")
    parser.add_argument(
        "--poll-interval",
        type=arg_type(positive_seconds, "seconds"),
        default=0.5,
        metavar="SECONDS",
        help="how often to look for new events (0.5)",
    )
    json_flag(parser, "one JSON object per event and line, with its run_id")
    parser.set_defaults(action=tail, existing_database=True)
