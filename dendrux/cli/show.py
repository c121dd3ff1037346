"""``dendrux show RUN`` and ``dendrux events RUN [--follow]``: one run, read through
`RunStore` only (its delegation read included), never through the write facade."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dendrux.cli.command import json_flag, open_reader
from dendrux.cli.printer import TimelinePrinter, event_line
from dendrux.cli.render import clock, dumps, emit, record, truncate
from dendrux.cli.style import Style
from dendrux.cli.timeline import Timeline, all_events, read_timeline, timeline_json
from dendrux.cli.values import arg_type, positive_seconds, whole
from dendrux.errors import RunNotFoundError
from dendrux.validation import INT64_MAX

if TYPE_CHECKING:
    from dendrux.cli.command import Commands
    from dendrux.store import StoredEvent


async def show(args: argparse.Namespace, url: str, style: Style) -> int:
    """The run's header, timeline and (optionally) conversation, or one JSON document."""
    async with open_reader(url) as reader:
        timeline = await read_timeline(reader, args.run_id)
    now = datetime.now(UTC)
    if args.json:
        print(dumps(timeline_json(timeline, now), indent=2))
        return 0
    printer = TimelinePrinter(timeline, style, full=args.full, now=now)
    sections = [printer.header(), control_lines(timeline, style), printer.timeline()]
    sections += [printer.uncorrelated(), note_lines(timeline, style, full=args.full)]
    if args.conversation:
        sections.append(printer.conversation())
    print("\n\n".join("\n".join(lines) for lines in sections if lines))
    return 0


def control_lines(timeline: Timeline, style: Style) -> list[str]:
    """A pending pause request (with its reason) and a pending cancel request."""
    from dendrux.types import PAUSE_REQUEST_META_KEY

    run, lines = timeline.run, []
    if run.pause_requested:
        request = (run.meta or {}).get(PAUSE_REQUEST_META_KEY)
        reason = request.get("reason") if isinstance(request, dict) else None
        text = "pause requested" + (f": {reason}" if reason else "")
        lines.append(style.paint(text, "yellow"))
    if run.cancel_requested:
        lines.append(style.paint("cancel requested", "yellow"))
    return lines


def note_lines(timeline: Timeline, style: Style, *, full: bool) -> list[str]:
    """The run's inbox notes in delivery order, each delivered (at an iteration) or pending."""
    if not timeline.notes:
        return []
    lines = [style.paint(f"notes ({len(timeline.notes)})", "bold")]
    for note in timeline.notes:
        if note.delivered_at is None:
            state = style.paint("pending", "yellow")
        else:
            state = style.paint(f"delivered at iteration {note.delivered_iteration}", "dim")
        lines.append(f"  {clock(note.created_at)}  {state}  {truncate(note.text, full)}")
    return lines


async def events(args: argparse.Namespace, url: str, style: Style) -> int:
    """Every event after ``--after``; with ``--follow``, then each new one as it lands."""
    async with open_reader(url) as store:
        run = await store.get_run(args.run_id)
        if run is None:
            raise RunNotFoundError(args.run_id)

        def put(event: StoredEvent) -> None:
            if args.json:
                emit(dumps({"run_id": run.run_id, **record(event)}), flush=args.follow)
            else:
                emit(event_line(event, run.created_at, style), flush=args.follow)

        if not args.follow:
            for event in await all_events(store, run.run_id, args.after):
                put(event)
            return 0
        stream = store.stream_events(
            run.run_id, after_sequence_index=args.after, poll_interval_s=args.poll_interval
        )
        async for event in stream:
            put(event)
    return 0  # pragma: no cover - the stream never ends on its own


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """``show`` and ``events``."""
    parser = commands.add_parser(
        "show",
        help="a run's header and timeline",
        parents=[common],
        description="A run's status, tokens, cost and its timeline of events, with the "
        "LLM and tool calls, pauses and delegated child runs.",
    )
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument("--full", action="store_true", help="do not shorten long values")
    parser.add_argument("--conversation", action="store_true", help="also print the messages")
    json_flag(parser, "the run, timeline, calls, pauses and children as one JSON document")
    parser.set_defaults(action=show, existing_database=True)

    parser = commands.add_parser(
        "events", help="print a run's events (--follow: as they land)", parents=[common]
    )
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new events until Ctrl-C"
    )
    parser.add_argument(
        "--after",
        type=whole(-INT64_MAX - 1),
        metavar="N",
        help="only events with a sequence index above N",
    )
    parser.add_argument(
        "--poll-interval",
        type=arg_type(positive_seconds, "seconds"),
        default=0.5,
        metavar="SECONDS",
        help="how often --follow polls (PostgreSQL also wakes on NOTIFY) (0.5)",
    )
    json_flag(parser, "one JSON object per event and line")
    parser.set_defaults(action=events, existing_database=True)
