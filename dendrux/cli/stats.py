"""``dendrux stats``: runs, error rate, tokens, cost and p50/p95 duration over a time window,
in total and by day, agent, model or tenant (`RunStore.get_stats`, the figures ``GET
/stats`` serves; ``--json`` prints the route's body)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from dendrux.cli.command import json_flag, open_reader
from dendrux.cli.render import clock, dumps, format_cost, format_duration, record, table
from dendrux.cli.style import Style
from dendrux.cli.values import arg_type, parse_instant

if TYPE_CHECKING:
    from dendrux.cli.command import Commands
    from dendrux.read.stats import RunStats, StatsRow

DEFAULT_WINDOW = timedelta(days=30)
_HEADERS = ["RUNS", "FINISHED", "ERRORS", "ERROR RATE", "TOKENS IN/OUT", "COST", "P50", "P95"]
_KEY_HEADERS = {"day": "DAY", "agent": "AGENT", "model": "MODEL", "tenant": "TENANT"}
_NO_KEY = {"day": "-", "agent": "-", "model": "(no model)", "tenant": "(no tenant)"}


async def stats(args: argparse.Namespace, url: str, style: Style) -> int:
    """The window's figures as a table (one line per group, then the total) or as JSON."""
    since = args.since if args.since is not None else datetime.now(UTC) - DEFAULT_WINDOW
    async with open_reader(url) as store:
        found = await store.get_stats(
            started_after=since,
            started_before=args.until,
            group_by=args.by,
            agent_name=args.agent_name,
            tenant_id=args.tenant_id,
        )
    if args.json:
        print(dumps(record(found), indent=2))
        return 0
    print(render(found, style))
    return 0


def _cells(row: StatsRow) -> list[str]:
    rate = "-" if row.error_rate is None else f"{row.error_rate * 100:.1f}%"
    cost = format_cost(row.cost_usd)
    if row.unpriced_runs:
        cost = f"{cost} (+{row.unpriced_runs:,} unpriced)"
    return [
        f"{row.runs:,}",
        f"{row.finished:,}",
        f"{row.errors:,}",
        rate,
        f"{row.input_tokens:,}/{row.output_tokens:,}",
        cost,
        "-" if row.p50_duration_ms is None else format_duration(row.p50_duration_ms / 1000),
        "-" if row.p95_duration_ms is None else format_duration(row.p95_duration_ms / 1000),
    ]


def render(found: RunStats, style: Style) -> str:
    """The table: a line per group, then the total in bold, then the window."""
    until = "now" if found.started_before is None else clock(found.started_before)
    window = f"runs created from {clock(found.started_after)} to {until}"
    if found.total.runs == 0:
        return f"no runs ({window})"
    headers = [_KEY_HEADERS[found.group_by], *_HEADERS]
    rows = []
    for group in found.groups:
        key = _NO_KEY[found.group_by] if group.key is None else group.key
        rows.append([(key, key), *((c, c) for c in _cells(group))])
    rows.append([("TOTAL", style.paint("TOTAL", "bold")), *((c, c) for c in _cells(found.total))])
    lines = [table(headers, rows, right=set(range(1, len(headers)))), style.paint(window, "dim")]
    shown = len(found.groups)
    if found.total.runs > sum(g.runs for g in found.groups):  # more groups than are listed
        which = f"latest {shown} days" if found.group_by == "day" else f"{shown} largest groups"
        lines.append(style.paint(f"(the {which}; the total counts every run)", "dim"))
    return "\n".join(lines)


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """``stats``."""
    parser = commands.add_parser(
        "stats",
        help="runs, errors, tokens, cost and durations over a time window",
        parents=[common],
        description="Runs, error rate, tokens, cost and p50/p95 duration of the runs created "
        "in a time window, in total and by day, agent, model or tenant (as GET /stats).",
    )
    when = arg_type(parse_instant, "time")
    parser.add_argument(
        "--since",
        "--started-after",
        dest="since",
        type=when,
        metavar="WHEN",
        help="runs created at or after WHEN: a duration (30d, 7d, 24h: that long ago), a date "
        "(midnight UTC) or an ISO-8601 datetime with Z or an offset (default: 30d)",
    )
    parser.add_argument(
        "--until",
        "--started-before",
        dest="until",
        type=when,
        metavar="WHEN",
        help="runs created before WHEN (as for --since; default: no end)",
    )
    parser.add_argument(
        "--by",
        "--group-by",
        dest="by",
        choices=list(_KEY_HEADERS),
        default="day",
        help="one line per day (UTC; the default), agent, model or tenant",
    )
    parser.add_argument(
        "--agent-name", "--agent", dest="agent_name", metavar="NAME", help="only this agent's runs"
    )
    parser.add_argument(
        "--tenant-id", "--tenant", dest="tenant_id", metavar="ID", help="only this tenant's runs"
    )
    json_flag(parser, "the figures as JSON, as GET /stats answers")
    parser.set_defaults(action=stats, existing_database=True)
