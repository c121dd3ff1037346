"""How one event reads on a terminal, for ``show``, ``events`` and ``tail`` alike.

An event is read from its own ``data`` (the vocabulary of `dendrux.events` says what
each type carries), so a followed event reads the same as a stored one; ``show``
adds what the run's other rows know (an LLM call's duration, a tool call's
parameters and result, how long a pause waited).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from dendrux.cli.render import dumps, format_cost, format_duration, pairs, scalar, tokens
from dendrux.cli.style import Style
from dendrux.cli.timeline import wait_seconds
from dendrux.events import describe

if TYPE_CHECKING:
    from dendrux.cli.timeline import Timeline
    from dendrux.store import StoredEvent

_FAILING = (".failed", ".error", ".interrupted", ".abandoned", ".blocked", ".denied")


def _count(value: object) -> int:
    """A token count from an event's data (anything else counts as 0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _plain(value: object) -> str:
    """A message as it reads: text as it is, anything else as JSON."""
    return value if isinstance(value, str) else dumps(value)


def _cost(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class EventText:
    """One event's detail (after its type) and the lines below it."""

    def __init__(
        self,
        style: Style,
        *,
        full: bool,
        now: datetime,
        timeline: Timeline | None = None,
        run_model: str | None = None,
    ) -> None:
        self.s = style
        self.full = full
        self.now = now
        t = timeline
        self.run_model = t.run.model if t is not None else run_model
        """An LLM call's model is shown only when it is not the run's."""
        self.llm_by_id = {c.id: c for c in t.llm_calls if c.id} if t is not None else {}
        self.tool_by_id = {c.tool_call_id: c for c in t.tools} if t is not None else {}
        pauses = t.pauses if t is not None else []
        self.pause_at = {p.pause_sequence_index: p for p in pauses}
        self.resume_at = {
            p.resume_sequence_index: p for p in pauses if p.resume_sequence_index is not None
        }

    # -- the detail after the event type ------------------------------------------------

    def detail(self, event: StoredEvent) -> str:
        """The event's payload, readably: tokens and cost of an LLM call, a tool's
        outcome, what a pause waits for, what a resume brought, how the run ended."""
        data = event.data if isinstance(event.data, dict) else {}
        render = _DETAILS.get(event.event_type)
        if render is not None:
            return render(self, event, data)
        detail = pairs(data) if data or event.data is None else dumps(event.data)
        related = self.tool_by_id.get(event.correlation_id) if event.correlation_id else None
        if related is not None and "tool_name" not in data:
            detail = f"tool {related.tool_name}  {detail}".rstrip()
        if event.event_type.endswith(_FAILING) or describe(event.event_type).terminal:
            return self.s.paint(detail, "red")
        return detail

    def _llm(self, event: StoredEvent, data: dict[str, Any]) -> str:
        call = self.llm_by_id.get(event.correlation_id or "")
        if call is not None:
            used = tokens(call.input_tokens, call.output_tokens)
            cost, model, cache = call.cost_usd, call.model, call.cache_read_input_tokens
            ms = call.duration_ms
        else:
            used = tokens(_count(data.get("input_tokens")), _count(data.get("output_tokens")))
            cost, model = _cost(data.get("cost_usd")), data.get("model")
            cache, ms = _count(data.get("cache_read_input_tokens")), None
        parts = [used, format_cost(cost)]
        if cache:
            parts.append(f"cache read {cache:,}")
        if ms is not None:
            parts.append(format_duration(ms / 1000))
        if model and model != self.run_model:
            parts.append(str(model))
        if data.get("has_tool_calls"):
            parts.append("-> tool calls")
        return "  ".join(parts)

    def _tool(self, event: StoredEvent, data: dict[str, Any]) -> str:
        s = self.s
        tool = self.tool_by_id.get(event.correlation_id or "")
        name: object
        target: object
        success: object
        ms: object
        if tool is not None:
            name, target, success = tool.tool_name, tool.target, tool.success
            ms = tool.duration_ms
        else:
            name, target = data.get("tool_name"), data.get("target")
            success, ms = data.get("success"), data.get("duration_ms")
        parts = []
        if name is not None:
            parts.append(s.paint(str(name), "bold") + (f" ({target})" if target else ""))
        if success is not None:
            parts.append(s.paint("ok", "green") if success else s.paint("FAILED", "red"))
        if isinstance(ms, int | float) and not isinstance(ms, bool):
            parts.append(format_duration(ms / 1000))
        parts.append(pairs(data, skip=("tool_name", "target", "success", "duration_ms")))
        return "  ".join(p for p in parts if p)

    def _paused(self, event: StoredEvent, data: dict[str, Any]) -> str:
        s = self.s
        pause = self.pause_at.get(event.sequence_index)
        status = (pause.reason if pause else None) or data.get("status") or "paused"
        parts = [s.status(str(status))]
        pending = pause.pending_tool_calls if pause else data.get("pending_tool_calls")
        if isinstance(pending, list) and pending:
            names = [str(p.get("name", "?")) if isinstance(p, dict) else "?" for p in pending]
            parts.append("pending: " + ", ".join(names))
        for key in ("reason", "message"):
            if data.get(key):
                parts.append(f"{key}: {_plain(data[key])}")
        if pause is not None:
            seconds = wait_seconds(pause, self.now)
            if pause.resume_sequence_index is None:
                waited = f"still waiting ({format_duration(seconds)})" if seconds else "waiting"
                parts.append(s.paint(waited, "yellow"))
            elif seconds is not None:
                parts.append(
                    f"waited {format_duration(seconds)} (resumed #{pause.resume_sequence_index})"
                )
        return "  ".join(parts)

    def _resumed(self, event: StoredEvent, data: dict[str, Any]) -> str:
        pause = self.resume_at.get(event.sequence_index)
        parts = []
        if pause is not None:
            seconds = wait_seconds(pause, self.now)
            if seconds is not None:
                parts.append(f"after {format_duration(seconds)} waiting")
        if data.get("resumed_from"):
            parts.append(f"from {scalar(data['resumed_from'])}")
        user_input = pause.user_input if pause else data.get("user_input")
        submitted = pause.submitted_results if pause else data.get("submitted_results")
        if user_input is not None:
            parts.append(f"user input: {scalar(user_input)}")
        if isinstance(submitted, list) and submitted:
            parts.append("submitted: " + ", ".join(self._submitted(r) for r in submitted))
        elif submitted:
            parts.append(f"submitted: {dumps(submitted)}")
        parts.append(pairs(data, skip=("user_input", "submitted_results", "resumed_from")))
        return "  ".join(p for p in parts if p)

    def _submitted(self, result: object) -> str:
        if not isinstance(result, dict):
            return dumps(result)
        name = str(result.get("name") or result.get("call_id") or "?")
        if result.get("success") is False:
            return f"{name} {self.s.paint('FAILED', 'red')}"
        return f"{name} ok" if result.get("success") else name

    def _completed(self, event: StoredEvent, data: dict[str, Any]) -> str:
        parts = [self.s.status(str(data.get("status") or "completed"))]
        if data.get("stop_reason"):
            parts.append(f"stop reason: {_plain(data['stop_reason'])}")
        if data.get("truncated"):
            parts.append(self.s.paint("truncated", "yellow"))
        parts.append(pairs(data, skip=("status", "stop_reason", "truncated")))
        return "  ".join(p for p in parts if p)

    def _ended(self, event: StoredEvent, data: dict[str, Any]) -> str:
        """run.error, run.cancelled, run.interrupted, run.abandoned: why."""
        key = next((k for k in ("error", "reason", "failure_reason") if data.get(k)), None)
        parts = [f"{key}: {_plain(data[key])}"] if key else []
        parts.append(pairs(data, skip=(key,) if key else ()))
        colour = "yellow" if event.event_type == "run.cancelled" else "red"
        return self.s.paint("  ".join(p for p in parts if p), colour)

    # -- the lines below an event (show only) ---------------------------------------------

    def below(self, event: StoredEvent, indent: str) -> list[str]:
        """A tool call's parameters and its result (or error); a pause's pending tool
        calls with their parameters: compact JSON on one line each, or with ``full``
        indented JSON."""
        s = self.s
        rows: list[tuple[str, object, str]] = []
        if event.event_type == "tool.completed":
            tool = self.tool_by_id.get(event.correlation_id or "")
            if tool is None:
                return []
            if tool.params is not None:
                rows.append(("params", tool.params, ""))
            if tool.success:
                rows.append(("result", tool.result, ""))
            else:
                rows.append(("error", tool.error if tool.error is not None else tool.result, "red"))
        elif event.event_type == "run.paused":
            pause = self.pause_at.get(event.sequence_index)
            data = event.data if isinstance(event.data, dict) else {}
            pending = pause.pending_tool_calls if pause else data.get("pending_tool_calls")
            for call in pending if isinstance(pending, list) else []:
                if isinstance(call, dict) and "params" in call:
                    rows.append((f"pending {call.get('name', '?')}", call.get("params"), ""))
        lines = []
        width = max((len(label) for label, _, _ in rows), default=0)
        for label, value, colour in rows:
            indent_json = 2 if self.full else None
            text = value if isinstance(value, str) else dumps(value, indent=indent_json)
            if not self.full:
                text = " ".join(text.split()) if "\n" in text else text
            head = f"{indent}{s.paint(label.ljust(width), 'dim')}  "
            pad = " " * (len(indent) + width + 2)
            for i, part in enumerate(text.split("\n")):
                painted = s.paint(part, colour) if colour else part
                lines.append((head if i == 0 else pad) + painted)
        return lines


_DETAILS = {
    "llm.completed": EventText._llm,
    "tool.completed": EventText._tool,
    "run.paused": EventText._paused,
    "run.resumed": EventText._resumed,
    "run.completed": EventText._completed,
    "run.error": EventText._ended,
    "run.cancelled": EventText._ended,
    "run.interrupted": EventText._ended,
    "run.abandoned": EventText._ended,
}
"""The event types read by their own rule; every other one is its ``key=value`` pairs."""
