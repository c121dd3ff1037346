"""``dendrux runs``: list runs newest first, with the filters of `RunStore.list_runs`
under the names HTTP gives them (``--agent-name``, ``--started-after`` ...)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dendrux.cli.command import json_flag, open_reader
from dendrux.cli.render import (
    dumps,
    fit,
    format_ago,
    format_cost,
    format_duration,
    record,
    run_seconds,
    table,
    terminal_width,
)
from dendrux.cli.run_ref import resolve_run_id
from dendrux.cli.style import Style
from dendrux.cli.values import MetaAction, StatusAction, arg_type, parse_instant, parse_meta, whole
from dendrux.status import TERMINAL_STATUS_VALUES, RunStatus

if TYPE_CHECKING:
    from dendrux.cli.command import Commands
    from dendrux.store import RunSummary

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
        if filters["parent_run_id"] is not None:  # a unique beginning of the id will do
            filters["parent_run_id"] = await resolve_run_id(store, filters["parent_run_id"])
        found = await store.list_runs(**filters, limit=args.limit, offset=args.offset)
        if args.json:
            print(dumps([record(r) for r in found], indent=2))
            return 0
        total = await store.count_runs(**filters)
    if not found:
        print("no runs match" if total == 0 else f"no runs at offset {args.offset} ({total} match)")
        return 0
    width = terminal_width()
    print(runs_table(found, style, datetime.now(UTC), width))
    shown = f"{len(found)} run{'s' if len(found) != 1 else ''}"
    if total > len(found):
        shown = f"{shown} of {total} (page with --limit / --offset)"
    print(fit(style.paint(shown, "dim"), width, style.ellipsis))
    return 0


def tree_order(found: list[RunSummary]) -> list[tuple[RunSummary, int]]:
    """The page with each run whose parent is on it placed under that parent (siblings
    in page order), as (run, depth below a run of the page)."""
    on_page = {run.run_id for run in found}
    children: dict[str, list[RunSummary]] = {}
    roots = []
    for run in found:
        parent = run.parent_run_id
        if parent is not None and parent in on_page and parent != run.run_id:
            children.setdefault(parent, []).append(run)
        else:
            roots.append(run)
    ordered: list[tuple[RunSummary, int]] = []
    seen: set[str] = set()

    def place(run: RunSummary, depth: int) -> None:
        if run.run_id in seen:  # a cycle in parent links: each run once
            return
        seen.add(run.run_id)
        ordered.append((run, depth))
        for child in children.get(run.run_id, []):
            place(child, depth + 1)

    for run in roots:
        place(run, 0)
    for run in found:  # runs only reachable through a cycle
        place(run, 0)
    return ordered


Cell = tuple[str, str]
"""(plain text, painted text)."""
_SHORT_ID = 12
_AGENT_STEPS = (24, 16, 10)
"""The agent column's widths, tried in turn while the table is too wide."""
_DROP_ORDER = ("ITER", "DURATION", "TOKENS IN/OUT", "STARTED", "COST")
"""The least important columns first."""


def runs_table(found: list[RunSummary], style: Style, now: datetime, width: int) -> str:
    """The runs as aligned columns that fit ``width``: children under their parent
    (a tree marker), a PARENT column when a parent is not on the page, and, while too
    wide, the agent name shortened and the least important columns dropped."""
    ordered = tree_order(found)
    on_page = {run.run_id for run in found}
    orphans = any(r.parent_run_id and r.parent_run_id not in on_page for r in found)
    ellipsis = style.ellipsis
    columns: dict[str, list[Cell]] = {name: [] for name in _HEADERS}
    parents: list[str] = []
    for run, depth in ordered:
        seconds = run_seconds(run, now) if run.status in TERMINAL_STATUS_VALUES else None
        marker = "  " * (depth - 1) + style.branch if depth else ""
        columns["RUN ID"].append((run.run_id, style.paint(run.run_id, "dim")))
        columns["AGENT"].append((marker + run.agent_name, marker + run.agent_name))
        columns["STATUS"].append((run.status, style.status(run.status)))
        columns["STARTED"].append((format_ago(run.created_at, now),) * 2)
        duration = format_duration(seconds) if seconds is not None else "-"
        columns["DURATION"].append((duration, duration))
        columns["ITER"].append((str(run.iteration_count),) * 2)
        used = f"{run.total_input_tokens:,}/{run.total_output_tokens:,}"
        columns["TOKENS IN/OUT"].append((used, used))
        columns["COST"].append((format_cost(run.total_cost_usd),) * 2)
        parent = run.parent_run_id if depth == 0 and run.parent_run_id else "-"
        parents.append(parent)
    if orphans:
        columns["PARENT"] = [(p, style.paint(p, "dim")) for p in parents]
    names = list(columns)

    def total() -> int:
        widths = [max(len(n), *(len(c[0]) for c in columns[n])) for n in names]
        return sum(widths) + 2 * (len(widths) - 1)

    def shorten(name: str, size: int) -> None:
        cells = []
        for plain, painted in columns[name]:
            if len(plain) > size:
                cut = plain[: size - len(ellipsis)] + ellipsis
                cells.append((cut, style.paint(cut, "dim") if name == "PARENT" else cut))
            else:
                cells.append((plain, painted))
        columns[name] = cells

    steps: list[tuple[str, str | int]] = [("PARENT", _SHORT_ID)] if orphans else []
    steps += [("AGENT", _AGENT_STEPS[0]), ("drop", "ITER"), ("drop", "DURATION")]
    steps += [("AGENT", _AGENT_STEPS[1]), ("drop", "TOKENS IN/OUT"), ("drop", "STARTED")]
    steps += [("AGENT", _AGENT_STEPS[2]), ("drop", "COST"), ("RUN ID", _SHORT_ID + 2)]
    for what, arg in steps:
        if total() <= width:
            break
        if what == "drop":
            names.remove(str(arg))
        else:
            shorten(what, int(arg))
    right = {i for i, n in enumerate(names) if n in ("DURATION", "ITER", "TOKENS IN/OUT", "COST")}
    rows = [[columns[n][k] for n in names] for k in range(len(ordered))]
    text = table(names, rows, right)
    return "\n".join(fit(line, width, ellipsis) for line in text.split("\n"))


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """``runs``; the older short option names stay as aliases."""
    parser = commands.add_parser(
        "runs",
        help="list runs, newest first",
        parents=[common],
        description="List runs, newest first: a delegated run under its parent when both "
        "are on the page (else a PARENT column), the columns fitted to the terminal.",
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
        help="only runs delegated by this run (a unique beginning of its id will do)",
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
