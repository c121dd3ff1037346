"""The text renderers of ``show`` (a run's header and timeline) and ``events`` (one
line per event)."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dendrux.cli.event_text import EventText
from dendrux.cli.render import (
    clock,
    dumps,
    format_ago,
    format_cost,
    format_duration,
    pairs,
    run_seconds,
    since_start,
    tokens,
    truncate,
)
from dendrux.cli.style import Style
from dendrux.cli.timeline import Child, Timeline
from dendrux.status import TERMINAL_STATUS_VALUES

if TYPE_CHECKING:
    from dendrux.store import StoredEvent


class TimelinePrinter:
    """The text form of ``show``: header, timeline (children where they started), calls
    no event points at, and the conversation."""

    def __init__(
        self, t: Timeline, style: Style, *, full: bool, now: datetime, tail: int | None = None
    ) -> None:
        self.t = t
        self.s = style
        self.full = full
        self.now = now
        self.tail = tail
        self.text = EventText(style, full=full, now=now, timeline=t)

    def header(self) -> list[str]:
        """Who, status, model, time, tokens, cost, delegation, meta and answer."""
        run, s = self.t.run, self.s
        rows: list[tuple[str, str]] = [
            ("agent", s.paint(run.agent_name, "bold")),
            ("status", s.status(run.status)),
        ]
        if run.failure_reason or run.error:
            reason = " ".join(x for x in (run.failure_reason, run.error) if x)
            rows.append(("error", s.paint(truncate(reason, self.full), "red")))
        model = run.model or "-"
        if run.strategy:
            model += f" ({run.strategy})"
        rows.append(("model", model))
        if run.tenant_id is not None:
            rows.append(("tenant", run.tenant_id))
        rows.append(
            ("started", f"{clock(run.created_at)} ({format_ago(run.created_at, self.now)})")
        )
        seconds = run_seconds(run, self.now)
        if seconds is not None:
            label = "duration" if run.status in TERMINAL_STATUS_VALUES else "elapsed"
            rows.append((label, format_duration(seconds)))
        rows.append(("iterations", str(run.iteration_count)))
        used = tokens(run.total_input_tokens, run.total_output_tokens)
        extra = [
            f"cache read {run.total_cache_read_tokens:,}" if run.total_cache_read_tokens else "",
            f"cache write {run.total_cache_creation_tokens:,}"
            if run.total_cache_creation_tokens
            else "",
            f"reasoning {run.total_reasoning_tokens:,}" if run.total_reasoning_tokens else "",
        ]
        if any(extra):
            used += f" ({', '.join(x for x in extra if x)})"
        rows.append(("tokens", used))
        rows.append(("cost", format_cost(run.total_cost_usd)))
        sub = self.t.subtree
        if sub is not None and sub.descendant_count:  # subtree totals include this run
            plural = "s" if sub.descendant_count != 1 else ""
            text = (
                f"{sub.descendant_count} delegated run{plural}; in total "
                f"{tokens(sub.subtree_input_tokens, sub.subtree_output_tokens)}, "
                f"{format_cost(sub.subtree_cost_usd)}"
            )
            if sub.unknown_cost_count:
                text += f" ({sub.unknown_cost_count} without a cost)"
            rows.append(("with children", text))
        parent = self.t.parent
        if parent is not None:
            text = parent.run_id
            if parent.resolved:
                text += f" ({parent.agent_name}, {s.status(parent.status or '')})"
            else:
                text += " (deleted)"
            rows.append(("parent", text))
        if run.meta:
            rows.append(("meta", truncate(pairs(run.meta), self.full)))
        if run.answer is not None:
            answer = run.answer if isinstance(run.answer, str) else dumps(run.answer)
            rows.append(("answer", truncate(answer, self.full)))
        width = max(len(k) for k, _ in rows)
        lines = [s.paint(f"run {run.run_id}", "bold")]
        lines += [f"  {s.paint(k.ljust(width), 'dim')}  {v}" for k, v in rows]
        return lines

    def timeline(self) -> list[str]:
        """Events in order, each delegated run placed where it started, each tool call's
        parameters and result below it; with ``tail``, only the last ``tail`` entries."""
        events, s = self.t.events, self.s
        start = self.t.run.created_at
        # Children go where they started: after the last event that landed before them.
        times = [e.created_at or datetime.min.replace(tzinfo=UTC) for e in events]
        placed: dict[int, list[Child]] = {}
        for child in self.t.children:
            at = child.detail.created_at if child.detail else None
            slot = len(events) if at is None else bisect.bisect_right(times, at)
            placed.setdefault(slot, []).append(child)
        first = 0 if self.tail is None else max(len(events) - self.tail, 0)
        shown = events[first:]
        skipped_children = sum(len(placed.get(i, [])) for i in range(first))
        # Widths over every event: a line reads the same with --tail as without.
        whens = [since_start(start, e.created_at) for e in events]
        seq_width = max((len(str(e.sequence_index)) for e in events), default=1)
        it_width = max((len(str(e.iteration_index)) for e in events), default=1)
        when_width = max((len(w) for w in whens), default=1)
        type_width = max((len(e.event_type) for e in events), default=10)
        lead = " " * (seq_width + it_width + 12)  # under "  #N  iter N  "
        below = " " * (len(lead) + when_width + 2)  # under the event type
        count = f"{len(events)} event{'s' if len(events) != 1 else ''}"
        if first:
            more = f" and {skipped_children} delegated run" if skipped_children else ""
            plural = "s" if skipped_children > 1 else ""
            title = f"timeline ({count}; the last {len(shown)} shown, {first} earlier{more}{plural}"
            title += " skipped)"
        else:
            title = f"timeline ({count})"
        lines = [s.paint(title, "bold")]
        for i in range(first, len(events) + 1):
            for child in placed.get(i, []):
                lines += self.child_lines(child, lead, when_width, 0)
            if i == len(events):
                break
            event = events[i]
            kind = s.event(event.event_type, event.event_type.ljust(type_width))
            lines.append(
                f"  #{str(event.sequence_index).ljust(seq_width)}  "
                f"iter {str(event.iteration_index).ljust(it_width)}  "
                f"{s.paint(whens[i].rjust(when_width), 'dim')}  {kind}  "
                f"{self.text.detail(event)}".rstrip()
            )
            lines += self.text.below(event, below)
        return lines

    def child_lines(self, child: Child, lead: str, when_width: int, level: int) -> list[str]:
        """A delegated run and, indented below it, its own children."""
        s, d = self.s, child.detail
        when = since_start(self.t.run.created_at, d.created_at if d else None)
        parts = [
            "child run",
            s.paint(child.run_id, "dim"),
            s.paint(child.agent_name, "bold"),
            s.status(child.status),
        ]
        if d is not None:
            parts.append(tokens(d.total_input_tokens, d.total_output_tokens))
            parts.append(format_cost(d.total_cost_usd))
            seconds = run_seconds(d, self.now)
            if seconds is not None:
                parts.append(format_duration(seconds))
        branch = "   " * level + s.branch
        lines = [f"{lead}{s.paint(when.rjust(when_width), 'dim')}  {branch}{'  '.join(parts)}"]
        for grandchild in child.children:
            lines += self.child_lines(grandchild, lead, when_width, level + 1)
        return lines

    def uncorrelated(self) -> list[str]:
        """LLM and tool calls no event points at (written without events)."""
        used = {e.correlation_id for e in self.t.events if e.correlation_id}
        lines = []
        for call in self.t.llm_calls:
            if call.id not in used:
                used_tokens = tokens(call.input_tokens, call.output_tokens)
                lines.append(
                    f"  llm call  iter {call.iteration}  {call.model or '-'}  "
                    f"{used_tokens}  {format_cost(call.cost_usd)}"
                )
        for tool in self.t.tools:
            if tool.tool_call_id not in used:
                ok = "ok" if tool.success else "FAILED"
                lines.append(f"  tool call iter {tool.iteration}  {tool.tool_name}  {ok}")
        if lines:
            lines.insert(0, self.s.paint("calls without a timeline event", "bold"))
        return lines

    def conversation(self) -> list[str]:
        """The recorded messages, in order."""
        lines = [self.s.paint("conversation", "bold")]
        for trace in self.t.traces:
            text = truncate(trace.content, self.full)
            lines.append(f"  [{trace.order_index}] {trace.role.ljust(9)} {text}")
        return lines


def event_line(
    event: StoredEvent, start: datetime | None, style: Style, text: EventText | None = None
) -> str:
    """``12:00:01.250  #3  iter 1  +1.2s  tool.completed  refund (server)  ok  143ms
    correlation=...``: the event read as ``show`` reads it, on one line."""
    at = event.created_at.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3] if event.created_at else "-"
    when = since_start(start, event.created_at)
    if text is None:
        text = EventText(style, full=False, now=datetime.now(UTC))
    corr = f"correlation={event.correlation_id}" if event.correlation_id else ""
    return (
        f"{style.paint(at, 'dim')}  #{event.sequence_index:<3} iter {event.iteration_index:<2} "
        f"{style.paint(when.rjust(7), 'dim')}  {style.event(event.event_type)}  "
        f"{text.detail(event)}  {style.paint(corr, 'dim')}"
    ).rstrip()
