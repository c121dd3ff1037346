"""``dendrux sweep`` and ``dendrux purge``: retention writes, through the write facade."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dendrux.cli.command import json_flag
from dendrux.cli.render import clock, dumps, format_ago, format_duration, record, table
from dendrux.cli.style import Style
from dendrux.cli.values import StatusAction, arg_type, parse_age, parse_instant, whole
from dendrux.status import TERMINAL_STATUS_VALUES

if TYPE_CHECKING:
    from dendrux.cli.command import Commands


async def sweep(args: argparse.Namespace, url: str, style: Style) -> int:
    """Mark runs idle for longer than ``--older-than`` as error."""
    from dendrux.state import StateStore

    async with StateStore.from_database_url(url) as store:
        swept = await store.sweep_stale_runs(args.older_than)
        swept += await store.sweep_abandoned_runs(args.older_than)
    if args.json:
        print(dumps([record(r) for r in swept], indent=2))
        return 0
    limit = format_duration(args.older_than.total_seconds())
    if not swept:
        print(f"nothing to sweep: no live run has been idle for more than {limit}")
        return 0
    now = datetime.now(UTC)
    rows = [
        [
            (r.run_id, style.paint(r.run_id, "dim")),
            (r.agent_name,) * 2,
            (r.previous_status, style.status(r.previous_status)),
            (r.failure_reason, style.paint(r.failure_reason, "red")),
            (format_ago(r.last_progress_at, now),) * 2,
        ]
        for r in swept
    ]
    plural = "s" if len(swept) != 1 else ""
    print(f"swept {len(swept)} run{plural} idle for more than {limit} (now status error):")
    print(table(["RUN ID", "AGENT", "WAS", "REASON", "LAST PROGRESS"], rows, right=set()))
    return 0


async def purge(args: argparse.Namespace, url: str, style: Style) -> int:
    """Delete finished runs (and, cascading, their rows) last updated before ``--before``."""
    from dendrux.state import StateStore

    async with StateStore.from_database_url(url) as store:
        result = await store.purge_runs(
            before=args.before,
            status=args.status or None,
            batch_size=args.batch_size,
            dry_run=args.dry_run,
        )
    counts = result.as_dict()
    if args.json:
        document = {
            "dry_run": result.dry_run,
            "before": args.before,
            "status": args.status or None,
            "counts": counts,
            "total": sum(counts.values()),
        }
        print(dumps(document, indent=2))
        return 0
    which = f" ({', '.join(args.status)})" if args.status else ""
    verb = "would delete" if result.dry_run else "deleted"
    head = f"finished runs{which} last updated before {clock(args.before)}"
    print(f"dry run: {verb} {head}:" if result.dry_run else f"{verb} {head}:")
    width = max(len(name) for name in counts)
    for name, count in counts.items():
        print(f"  {name.ljust(width)}  {count:>8,}")
    print(f"  {'total'.ljust(width)}  {sum(counts.values()):>8,}")
    return 0


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """``sweep`` and ``purge``."""
    parser = commands.add_parser(
        "sweep",
        help="mark stuck runs as error",
        parents=[common],
        description="Mark running/pending runs without progress, and runs waiting for "
        "input, for longer than --older-than as error (stale_running, never_started, "
        "abandoned_waiting).",
    )
    parser.add_argument(
        "--older-than",
        type=arg_type(parse_age, "duration"),
        required=True,
        metavar="DURATION",
        help="idle for longer than this: 30m, 2h, 7d",
    )
    json_flag(parser, "a JSON array of swept runs")
    parser.set_defaults(action=sweep, existing_database=True)

    parser = commands.add_parser(
        "purge",
        help="delete finished runs and their rows",
        parents=[common],
        description="Delete finished runs last updated before --before, with their traces, "
        "tool calls, usage, LLM interactions and events.",
    )
    parser.add_argument(
        "--before",
        type=arg_type(parse_instant, "time"),
        required=True,
        metavar="WHEN",
        help="a duration like 90d (that long ago), a date (midnight UTC) or an ISO-8601 "
        "datetime with Z or an offset",
    )
    parser.add_argument(
        "--status",
        action=StatusAction,
        terminal_only=True,
        default=[],
        metavar="STATUS",
        help="only these finished statuses; repeat or comma-separate "
        f"({', '.join(sorted(TERMINAL_STATUS_VALUES))})",
    )
    parser.add_argument("--dry-run", action="store_true", help="count, do not delete")
    parser.add_argument(
        "--batch-size",
        type=whole(1),
        default=500,
        metavar="N",
        help="runs deleted per transaction (500)",
    )
    json_flag(parser, "the counts as JSON")
    parser.set_defaults(action=purge, existing_database=True)
