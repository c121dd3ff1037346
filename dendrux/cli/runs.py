"""``dendrux runs``: list runs newest first, with the filters of `RunStore.list_runs`
under the names HTTP gives them (``--agent-name``, ``--started-after`` ...)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dendrux.cli.command import json_flag, open_reader
from dendrux.cli.render import (
    dumps,
    format_ago,
    format_cost,
    format_duration,
    record,
    run_seconds,
    table,
)
from dendrux.cli.style import Style
from dendrux.cli.values import MetaAction, StatusAction, arg_type, parse_instant, parse_meta, whole
from dendrux.status import TERMINAL_STATUS_VALUES, RunStatus

if TYPE_CHECKING:
    from dendrux.cli.command import Commands

_HEADERS = ["RUN ID", "AGENT", "STATUS", "STARTED", "DURATION", "ITER", "TOKENS IN/OUT", "COST"]


def run_filters(args: argparse.Namespace) -> dict[str, Any]:
    """The options as `RunStore.list_runs` / `count_runs` keywords."""
    return {
        "status": args.status or None,
        "agent_name": args.agent_name,
        "parent_run_id": args.parent_run_id,
        "tenant_id": args.tenant_id,
        "started_after": args.started_after,
        "started_before": args.started_before,
        "metadata_filter": dict(args.meta) if args.meta else None,
    }


async def runs(args: argparse.Namespace, url: str, style: Style) -> int:
    """A page of runs as a table (with the total) or as a JSON array."""
    filters = run_filters(args)
    async with open_reader(url) as store:
        found = await store.list_runs(**filters, limit=args.limit, offset=args.offset)
        if args.json:
            print(dumps([record(r) for r in found], indent=2))
            return 0
        total = await store.count_runs(**filters)
    if not found:
        print("no runs match" if total == 0 else f"no runs at offset {args.offset} ({total} match)")
        return 0
    now = datetime.now(UTC)
    rows = []
    for run in found:
        agent = "  " * min(run.delegation_level, 4) + style.branch if run.parent_run_id else ""
        seconds = run_seconds(run, now) if run.status in TERMINAL_STATUS_VALUES else None
        rows.append(
            [
                (run.run_id, style.paint(run.run_id, "dim")),
                (agent + run.agent_name, agent + run.agent_name),
                (run.status, style.status(run.status)),
                (format_ago(run.created_at, now),) * 2,
                ((format_duration(seconds) if seconds is not None else "-"),) * 2,
                (str(run.iteration_count),) * 2,
                (f"{run.total_input_tokens:,}/{run.total_output_tokens:,}",) * 2,
                (format_cost(run.total_cost_usd),) * 2,
            ]
        )
    print(table(_HEADERS, rows, right={4, 5, 6, 7}))
    shown = f"{len(found)} run{'s' if len(found) != 1 else ''}"
    if total > len(found):
        shown = f"{shown} of {total} (page with --limit / --offset)"
    print(style.paint(shown, "dim"))
    return 0


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """``runs``; the older short option names stay as aliases."""
    parser = commands.add_parser(
        "runs", help="list runs, newest first", parents=[common], description="List runs."
    )
    statuses = ", ".join(s.value for s in RunStatus)
    parser.add_argument(
        "--status",
        action=StatusAction,
        default=[],
        metavar="STATUS",
        help=f"only these statuses; repeat or comma-separate ({statuses})",
    )
    parser.add_argument(
        "--agent-name", "--agent", dest="agent_name", metavar="NAME", help="only this agent's runs"
    )
    parser.add_argument(
        "--tenant-id", "--tenant", dest="tenant_id", metavar="ID", help="only this tenant's runs"
    )
    parser.add_argument(
        "--parent-run-id",
        "--parent",
        dest="parent_run_id",
        metavar="RUN_ID",
        help="only runs delegated by this run",
    )
    parser.add_argument(
        "--meta",
        action=MetaAction,
        type=arg_type(parse_meta, "key=value"),
        metavar="KEY=VALUE",
        help="only runs whose meta[KEY] equals VALUE, read as HTTP reads ?meta.KEY=VALUE: "
        'a JSON scalar (5, true, null, "5") or else the text itself; repeat to AND keys',
    )
    when = arg_type(parse_instant, "time")
    parser.add_argument(
        "--started-after",
        "--since",
        dest="started_after",
        type=when,
        metavar="WHEN",
        help="started after WHEN: a duration (30m, 7d: that long ago), a date (midnight UTC) "
        "or an ISO-8601 datetime with Z or an offset",
    )
    parser.add_argument(
        "--started-before",
        "--until",
        dest="started_before",
        type=when,
        metavar="WHEN",
        help="started before WHEN (as for --started-after)",
    )
    parser.add_argument(
        "--limit", type=whole(1), default=50, metavar="N", help="at most N runs (50)"
    )
    parser.add_argument("--offset", type=whole(0), default=0, metavar="N", help="skip N runs")
    json_flag(parser, "a JSON array of runs")
    parser.set_defaults(action=runs, existing_database=True)
