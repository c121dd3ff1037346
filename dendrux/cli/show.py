"""``dendrux show RUN`` and ``dendrux events RUN [--follow]``: one run, read through
`RunStore` only (its delegation read included), never through the write facade.
``--follow`` exits 0 after the run's terminal event, as the SSE route closes."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dendrux.cli.command import follow_warnings, json_flag, open_reader
from dendrux.cli.event_text import EventText
from dendrux.cli.printer import TimelinePrinter, event_line
from dendrux.cli.render import clock, dumps, emit, fit, live_usage, record, terminal_width, truncate
from dendrux.cli.run_ref import resolve_run_id
from dendrux.cli.style import Style
from dendrux.cli.timeline import Timeline, all_events, read_timeline, timeline_json
from dendrux.cli.values import arg_type, positive_seconds, whole
from dendrux.errors import RunNotFoundError
from dendrux.status import TERMINAL_STATUS_VALUES
from dendrux.validation import INT64_MAX

if TYPE_CHECKING:
    from dendrux.cli.command import Commands
    from dendrux.cli.timeline import Timeline
    from dendrux.store import RunStore, RunSubtree, StoredEvent


async def show(args: argparse.Namespace, url: str, style: Style) -> int:
    """The run's header, timeline and (optionally) conversation, or one JSON document."""
    async with open_reader(url) as reader:
        run_id = await resolve_run_id(reader, args.run_id)
        if not args.json:
            text = await render_run(
                reader,
                run_id,
                style,
                full=args.full,
                tail=args.tail,
                conversation=args.conversation,
            )
            print(text)
            return 0
        timeline = await read_timeline(reader, run_id)
        subtree = await read_live_usage(reader, timeline)
    doc = {**timeline_json(timeline, datetime.now(UTC)), "live_usage": live_usage_json(subtree)}
    print(dumps(doc, indent=2))
    return 0


async def render_run(
    reader: RunStore,
    run_id: str,
    style: Style,
    *,
    full: bool = False,
    tail: int | None = None,
    conversation: bool = False,
    width: int | None = None,
) -> str:
    """``show``'s text for a run (also what ``demo`` prints): every line cut to ``width``
    (the terminal's by default) unless ``full``."""
    timeline = await read_timeline(reader, run_id)
    subtree = await read_live_usage(reader, timeline)
    now = datetime.now(UTC)
    printer = TimelinePrinter(timeline, style, full=full, now=now, tail=tail)
    sections = [
        printer.header(),
        control_lines(timeline, style),
        live_usage_lines(subtree, style),
        printer.timeline(),
        printer.uncorrelated(),
        note_lines(timeline, style, full=full),
    ]
    if conversation:
        sections.append(printer.conversation())
    if not full:  # every line fits the terminal; --full prints values whole
        cut = width or terminal_width()
        sections = [[fit(line, cut, style.ellipsis) for line in lines] for lines in sections]
    return "\n\n".join("\n".join(lines) for lines in sections if lines)


# -- live usage ---------------------------------------------------------------------------
# Summed from the LLM calls at read time: a run still going (or paused) shows what it
# has spent so far, and a run with delegated runs what its whole tree has.


async def read_live_usage(reader: RunStore, timeline: Timeline) -> RunSubtree | None:
    """The run's subtree with live usage, when ``show`` prints it: for a run not finished
    yet or one with delegated runs (None otherwise, or when the run is gone meanwhile)."""
    run = timeline.run
    if run.status in TERMINAL_STATUS_VALUES and not timeline.children:
        return None
    try:
        return await reader.get_subtree(run.run_id)
    except RunNotFoundError:
        return None


def live_usage_lines(subtree: RunSubtree | None, style: Style) -> list[str]:
    """The live usage section: the run's own while it is not finished, the roll-up over
    the subtree when it has delegated runs."""
    if subtree is None:
        return []
    rows = []
    if subtree.root.run.status not in TERMINAL_STATUS_VALUES:
        rows.append(("this run", live_usage(subtree.root.usage)))
    below = len(subtree.nodes) - 1
    if below:
        label = f"with {below} delegated run{'s' if below != 1 else ''}"
        rows.append((label, live_usage(subtree.usage)))
    if not rows:
        return []
    width = max(len(k) for k, _ in rows)
    lines = [style.paint("live usage", "bold")]
    lines += [f"  {style.paint(k.ljust(width), 'dim')}  {v}" for k, v in rows]
    return lines


def live_usage_json(subtree: RunSubtree | None) -> dict[str, Any] | None:
    """``show --json``'s ``live_usage``: the run's own and the subtree's usage, with
    each node's depth and usage."""
    if subtree is None:
        return None
    return {
        "run": record(subtree.root.usage),
        "subtree": record(subtree.usage),
        "nodes": [
            {"run_id": n.run.run_id, "depth": n.depth, "usage": record(n.usage)}
            for n in subtree.nodes
        ],
    }


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
        run_id = await resolve_run_id(store, args.run_id)
        run = await store.get_run(run_id)
        if run is None:
            raise RunNotFoundError(run_id)
        width = terminal_width()
        text = EventText(style, full=False, now=datetime.now(UTC), run_model=run.model)

        def put(event: StoredEvent) -> None:
            if args.json:
                emit(dumps({"run_id": run.run_id, **record(event)}), flush=args.follow)
            else:
                line = event_line(event, run.created_at, style, text)
                emit(fit(line, width, style.ellipsis), flush=args.follow)

        if not args.follow:
            for event in await all_events(store, run.run_id, args.after):
                put(event)
            return 0
        stream = store.stream_events(
            run.run_id,
            after_sequence_index=args.after,
            poll_interval_s=args.poll_interval,
            until_terminal=True,
        )
        with follow_warnings():
            async for event in stream:
                put(event)
    return 0  # after the run's terminal event


_RUN_HELP = "the run's id, or a unique beginning of it in any case (01jx for 01JX...)"


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """``show`` and ``events``."""
    parser = commands.add_parser(
        "show",
        help="a run's header and timeline",
        parents=[common],
        description="A run's status, tokens, cost and its timeline of events, with the "
        "LLM and tool calls, pauses and delegated child runs.",
    )
    parser.add_argument("run_id", metavar="RUN_ID", help=_RUN_HELP)
    parser.add_argument(
        "--full",
        action="store_true",
        help="print every value whole (tool parameters and results as indented JSON), however wide",
    )
    parser.add_argument(
        "--tail",
        type=whole(1),
        metavar="N",
        help="only the last N timeline entries (the header and sections stay whole)",
    )
    parser.add_argument("--conversation", action="store_true", help="also print the messages")
    json_flag(parser, "the run, timeline, calls, pauses and children as one JSON document")
    parser.set_defaults(action=show, existing_database=True)

    parser = commands.add_parser(
        "events",
        help="print a run's events (--follow: as they land)",
        parents=[common],
        description="One line per event, read as `show` reads it and cut to the terminal's "
        "width; --json prints each event whole.",
    )
    parser.add_argument("run_id", metavar="RUN_ID", help=_RUN_HELP)
    parser.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing new events until the run's terminal event (or Ctrl-C)",
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
    json_flag(parser, "one JSON object per event and line, the event whole")
    parser.set_defaults(action=events, existing_database=True)
