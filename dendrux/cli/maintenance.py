"""``dendrux sweep`` and ``dendrux purge``: retention writes, through the write facade.

Both have a ``--dry-run`` that lists the runs they would change, chosen by the very
queries the real command runs, and writes nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dendrux.cli.command import json_flag
from dendrux.cli.render import clock, dumps, format_ago, format_duration, record, table
from dendrux.cli.style import Style
from dendrux.cli.values import StatusAction, arg_type, parse_age, parse_instant, whole
from dendrux.read.text import shown
from dendrux.status import TERMINAL_STATUS_VALUES

if TYPE_CHECKING:
    from dendrux.cli.command import Commands
    from dendrux.state.retention import PurgeableRun, PurgeResult
    from dendrux.state.sweeps import SweepCandidate

LISTED = 200
"""Runs a dry run lists as text before it says how many more there are (--json: all)."""


def parse_cutoff(text: str) -> datetime:
    """``--before``: an instant strictly in the past (a cut-off of now or later would
    take runs as they finish)."""
    when = parse_instant(text)
    if when >= datetime.now(UTC):
        raise ValueError(
            f"{shown(text)} is not in the past; --before takes a time before now "
            "(e.g. 90d, 2026-01-01)"
        )
    return when


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


async def sweep(args: argparse.Namespace, url: str, style: Style) -> int:
    """Mark runs idle for longer than ``--older-than`` as error (``--dry-run``: list them)."""
    from dendrux.state import StateStore

    async with StateStore.from_database_url(url) as store:
        if args.dry_run:
            found = await store.find_stale_runs(args.older_than)
            found += await store.find_abandoned_runs(args.older_than)
            return _sweep_preview(found, args, style)
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
    print(f"swept {_plural(len(swept), 'run')} idle for more than {limit} (now status error):")
    print(table(["RUN ID", "AGENT", "WAS", "REASON", "LAST PROGRESS"], rows, right=set()))
    return 0


def _candidate_json(found: SweepCandidate) -> dict[str, Any]:
    document = record(found, omit=frozenset({"idle_for"}))
    document["idle_seconds"] = None if found.idle_for is None else found.idle_for.total_seconds()
    return document


def _sweep_preview(found: Sequence[SweepCandidate], args: argparse.Namespace, style: Style) -> int:
    if args.json:
        print(dumps([_candidate_json(c) for c in found], indent=2))
        return 0
    limit = format_duration(args.older_than.total_seconds())
    if not found:
        print(f"dry run: nothing to sweep: no live run has been idle for more than {limit}")
        return 0
    now = datetime.now(UTC)
    rows = [
        [
            (c.run_id, style.paint(c.run_id, "dim")),
            (c.agent_name,) * 2,
            (c.status, style.status(c.status)),
            (c.new_status, style.status(c.new_status)),
            (c.failure_reason, style.paint(c.failure_reason, "red")),
            (format_ago(c.last_progress_at, now),) * 2,
            ("-" if c.idle_for is None else format_duration(c.idle_for.total_seconds()),) * 2,
        ]
        for c in found[:LISTED]
    ]
    print(
        f"dry run: would sweep {_plural(len(found), 'run')} idle for more than {limit} "
        "(nothing changed):"
    )
    headers = ["RUN ID", "AGENT", "STATUS", "WOULD BE", "REASON", "LAST PROGRESS", "IDLE FOR"]
    print(table(headers, rows, right={6}))
    if len(found) > LISTED:
        print(f"... and {len(found) - LISTED:,} more (--json lists every one)")
    return 0


def _which(args: argparse.Namespace) -> str:
    """``finished runs (error) of agent a for tenant t``: the purge's filters, in words."""
    text = "finished runs"
    if args.status:
        text += f" ({', '.join(args.status)})"
    if args.agent is not None:
        text += f" of agent {args.agent}"
    if args.tenant is not None:
        text += f" for tenant {args.tenant}"
    return text


def _purgeable_rows(runs: Sequence[PurgeableRun], style: Style) -> list[list[tuple[str, str]]]:
    return [
        [
            (r.run_id, style.paint(r.run_id, "dim")),
            (r.agent_name,) * 2,
            (r.tenant_id or "-",) * 2,
            (r.status, style.status(r.status)),
            (clock(r.updated_at),) * 2,
        ]
        for r in runs
    ]


async def purge(args: argparse.Namespace, url: str, style: Style) -> int:
    """Delete finished runs (and, cascading, their rows) last updated before ``--before``."""
    from dendrux.state import StateStore

    async with StateStore.from_database_url(url) as store:
        result: PurgeResult = await store.purge_runs(
            before=args.before,
            status=args.status or None,
            batch_size=args.batch_size,
            dry_run=args.dry_run,
            agent_name=args.agent,
            tenant_id=args.tenant,
        )
    counts = result.as_dict()
    if args.json:
        document: dict[str, Any] = {
            "dry_run": result.dry_run,
            "before": args.before,
            "status": args.status or None,
            "agent": args.agent,
            "tenant": args.tenant,
        }
        if result.dry_run:
            document["runs"] = [record(r) for r in result.runs]
        document.update(counts=counts, total=sum(counts.values()))
        print(dumps(document, indent=2))
        return 0
    head = f"{_which(args)} last updated before {clock(args.before)}"
    if result.dry_run:
        print(f"dry run: would delete {_plural(len(result.runs), 'run')}: {head}:")
        if result.runs:
            headers = ["RUN ID", "AGENT", "TENANT", "STATUS", "LAST UPDATED"]
            print(table(headers, _purgeable_rows(result.runs[:LISTED], style), right=set()))
            if len(result.runs) > LISTED:
                print(f"... and {len(result.runs) - LISTED:,} more (--json lists every one)")
        print("rows that would go, per table:")
    else:
        print(f"deleted {head}:")
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
        "abandoned_waiting). Try --dry-run first: it lists them and changes nothing.",
    )
    parser.add_argument(
        "--older-than",
        type=arg_type(parse_age, "duration"),
        required=True,
        metavar="DURATION",
        help="idle for longer than this: 30m, 2h, 7d",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the runs that would be swept, change nothing"
    )
    json_flag(parser, "a JSON array of swept runs (with --dry-run: of the runs it would sweep)")
    parser.set_defaults(action=sweep, existing_database=True)

    parser = commands.add_parser(
        "purge",
        help="delete finished runs and their rows",
        parents=[common],
        description="Delete finished runs last updated before --before, with their traces, "
        "tool calls, usage, LLM interactions and events. Try --dry-run first: it lists "
        "the runs and counts their rows, and deletes nothing.",
    )
    parser.add_argument(
        "--before",
        type=arg_type(parse_cutoff, "time"),
        required=True,
        metavar="WHEN",
        help="a time in the past: a duration like 90d (that long ago), a date (midnight "
        "UTC) or an ISO-8601 datetime with Z or an offset",
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
    parser.add_argument("--agent", metavar="NAME", help="only runs of this agent")
    parser.add_argument("--tenant", metavar="TENANT", help="only runs of this tenant")
    parser.add_argument(
        "--dry-run", action="store_true", help="list the runs and count their rows, delete nothing"
    )
    parser.add_argument(
        "--batch-size",
        type=whole(1),
        default=500,
        metavar="N",
        help="runs deleted per transaction (500)",
    )
    json_flag(parser, "the counts (and, with --dry-run, the runs) as JSON")
    parser.set_defaults(action=purge, existing_database=True)
