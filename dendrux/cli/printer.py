"""The text renderers of ``show`` (a run's header and timeline) and ``events`` (one
line per event)."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dendrux.cli.render import (
    clock,
    dumps,
    format_ago,
    format_cost,
    format_duration,
    pairs,
    run_seconds,
    scalar,
    since_start,
    tokens,
    truncate,
)
from dendrux.cli.style import Style
from dendrux.cli.timeline import Child, Timeline, wait_seconds
from dendrux.status import TERMINAL_STATUS_VALUES

if TYPE_CHECKING:
    from dendrux.store import StoredEvent


class TimelinePrinter:
    """The text form of ``show``: header, timeline (children where they started), calls
    no event points at, and the conversation."""

    def __init__(self, t: Timeline, style: Style, *, full: bool, now: datetime) -> None:
        self.t = t
        self.s = style
        self.full = full
        self.now = now
        self.llm_by_id = {c.id: c for c in t.llm_calls if c.id}
        self.tool_by_id = {c.tool_call_id: c for c in t.tools}
        self.pause_at = {p.pause_sequence_index: p for p in t.pauses}
        self.resume_at = {
            p.resume_sequence_index: p for p in t.pauses if p.resume_sequence_index is not None
        }

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

    def event_detail(self, event: StoredEvent) -> str:
        """An event's line joined to the call or pause its correlation id names."""
        corr, data, s = event.correlation_id, event.data or {}, self.s
        kind = event.event_type
        if kind == "llm.completed" and corr in self.llm_by_id:
            call = self.llm_by_id[corr]
            parts = [
                call.model or "-",
                tokens(call.input_tokens, call.output_tokens),
                format_cost(call.cost_usd),
            ]
            if call.cache_read_input_tokens:
                parts.append(f"cache read {call.cache_read_input_tokens:,}")
            if call.duration_ms is not None:
                parts.append(format_duration(call.duration_ms / 1000))
            if data.get("has_tool_calls"):
                parts.append("-> tool calls")
            return "  ".join(parts)
        if kind == "tool.completed" and corr in self.tool_by_id:
            tool = self.tool_by_id[corr]
            ok = s.paint("ok", "green") if tool.success else s.paint("FAILED", "red")
            parts = [f"{s.paint(tool.tool_name, 'bold')} ({tool.target})", ok]
            if tool.duration_ms is not None:
                parts.append(format_duration(tool.duration_ms / 1000))
            if tool.success:
                parts.append("-> " + truncate(dumps(tool.result), self.full, 80))
            elif tool.error:
                parts.append(s.paint(truncate(tool.error, self.full, 80), "red"))
            return "  ".join(parts)
        if kind == "run.paused" and event.sequence_index in self.pause_at:
            pause = self.pause_at[event.sequence_index]
            parts = [s.status(pause.reason or "paused")]
            pending = pause.pending_tool_calls
            if isinstance(pending, list) and pending:
                names = [str(p.get("name", "?")) if isinstance(p, dict) else "?" for p in pending]
                parts.append("pending: " + ", ".join(names))
            seconds = wait_seconds(pause, self.now)
            if pause.resume_sequence_index is None:
                waited = f"still waiting ({format_duration(seconds)})" if seconds else "waiting"
                parts.append(s.paint(waited, "yellow"))
            elif seconds is not None:
                parts.append(
                    f"waited {format_duration(seconds)} (resumed #{pause.resume_sequence_index})"
                )
            return "  ".join(parts)
        if kind == "run.resumed" and event.sequence_index in self.resume_at:
            pause = self.resume_at[event.sequence_index]
            seconds = wait_seconds(pause, self.now)
            parts = [f"after {format_duration(seconds)} waiting" if seconds is not None else ""]
            if pause.user_input is not None:
                parts.append(f"user input: {scalar(pause.user_input)}")
            if pause.submitted_results is not None:
                parts.append(f"submitted: {dumps(pause.submitted_results)}")
            rest = pairs(data, skip=("user_input", "submitted_results"))
            return truncate("  ".join(p for p in (*parts, rest) if p), self.full)
        detail = pairs(data)
        related = self.tool_by_id.get(corr) if corr else None
        if related is not None and "tool_name" not in data:
            detail = f"tool {related.tool_name}  {detail}".rstrip()
        if kind.endswith((".failed", ".error", ".interrupted", ".abandoned", ".cancelled")):
            return s.paint(truncate(detail, self.full), "red")
        return truncate(detail, self.full)

    def timeline(self) -> list[str]:
        """Events in order, each delegated run placed where it started."""
        events, s = self.t.events, self.s
        start = self.t.run.created_at
        seq_width = max((len(str(e.sequence_index)) for e in events), default=1)
        it_width = max((len(str(e.iteration_index)) for e in events), default=1)
        type_width = max((len(e.event_type) for e in events), default=10)
        lead = " " * (seq_width + it_width + 12)  # under "  #N  iter N  "
        lines = [
            s.paint(f"timeline ({len(events)} event{'s' if len(events) != 1 else ''})", "bold")
        ]
        # Children go where they started: after the last event that landed before them.
        times = [e.created_at or datetime.min.replace(tzinfo=UTC) for e in events]
        placed: dict[int, list[Child]] = {}
        for child in self.t.children:
            at = child.detail.created_at if child.detail else None
            slot = len(events) if at is None else bisect.bisect_right(times, at)
            placed.setdefault(slot, []).append(child)
        for i, event in enumerate([*events, None]):
            for child in placed.get(i, []):
                lines += self.child_lines(child, lead, 0)
            if event is None:
                break
            when = since_start(start, event.created_at)
            kind = event.event_type.ljust(type_width)
            lines.append(
                f"  #{str(event.sequence_index).ljust(seq_width)}  "
                f"iter {str(event.iteration_index).ljust(it_width)}  "
                f"{s.paint(when.rjust(8), 'dim')}  {s.paint(kind, 'cyan')}  "
                f"{self.event_detail(event)}".rstrip()
            )
        return lines

    def child_lines(self, child: Child, lead: str, level: int) -> list[str]:
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
        lines = [f"{lead}{s.paint(when.rjust(8), 'dim')}  {branch}{'  '.join(parts)}"]
        for grandchild in child.children:
            lines += self.child_lines(grandchild, lead, level + 1)
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


def event_line(event: StoredEvent, start: datetime | None, style: Style) -> str:
    """``12:00:01.250  #3   iter 1      +1.2s  tool.completed  {...}  [call id]``."""
    at = event.created_at.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3] if event.created_at else "-"
    when = since_start(start, event.created_at)
    data = dumps(event.data) if event.data else ""
    corr = f"  [{event.correlation_id}]" if event.correlation_id else ""
    return (
        f"{style.paint(at, 'dim')}  #{event.sequence_index:<3} iter {event.iteration_index:<2} "
        f"{style.paint(when.rjust(8), 'dim')}  {style.paint(event.event_type.ljust(18), 'cyan')}  "
        f"{data}{style.paint(corr, 'dim')}"
    ).rstrip()
