"""The recorder: what an agent loop hands over, written with one durability policy.

The loop calls four hooks (`LoopRecorder`); `PersistenceRecorder` turns each
into rows. The policy, in one place, decided by one question: can a reader
tell what happened without this row?

=======================  ==============  ====================================
write                    policy          why
=======================  ==============  ====================================
react_traces             fail-closed     what the agent saw and said
tool_calls               fail-closed     proof of a side effect
run_events               fail-closed     the timeline; a gap cannot be rebuilt
llm_interactions         best-effort     forensics; traces hold the semantics
token_usage              best-effort     cost telemetry; providers can recount
touch_progress           best-effort     a liveness hint for sweepers
=======================  ==============  ====================================

Each hook prepares all its rows first (validated and encoded, ids minted)
and hands them to the engine as one write unit (`dendrux.db.writes`), marked
fail-closed or best-effort as above; the engine group-commits units on
SQLite and sends a hook's rows as one statement on PostgreSQL. A unit goes
through `retry_critical` (3 retries after 100/200/400 ms, transient failures
only) and then raises: the run stops rather than go on with a hole in its
record. A best-effort row that cannot be prepared or is refused by the
database is logged and skipped by the one rule of `best_effort`
(`dendrux.durability.swallowed`). Row ids are minted before the first try, so a retry
whose earlier commit did land finds its own row instead of writing a
second one; a *different* row in the same ``(run, order_index)`` or ``(run,
sequence_index)`` raises `SlotTakenError`. The recorder writes raw values:
it is the authoritative transcript (redaction happens upstream).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dendrux.db.engine import Engine
from dendrux.db.writes import Write, WriteUnit
from dendrux.durability import best_effort, retry_critical, skip_best_effort, skip_or_raise
from dendrux.state import rows, runs
from dendrux.state.store import StateStore
from dendrux.ulid import new_ulid
from dendrux.validation import check_required_id, check_required_index

if TYPE_CHECKING:
    from dendrux.recording import RunRecording as RunRecording
    from dendrux.recording import recording as recording
    from dendrux.recording import resuming as resuming

__all__ = [
    "EventSequencer",
    "LoopRecorder",
    "PersistenceRecorder",
    "RunRecording",
    "best_effort",
    "recording",
    "resume_event_sequencer",
    "resuming",
    "retry_critical",
]


@runtime_checkable
class LoopRecorder(Protocol):
    """The four hooks an agent loop calls. Exceptions propagate: if a
    fail-closed write cannot be made, the run stops."""

    async def on_message_appended(self, message: Any, iteration: int) -> None:
        """A message was added to the conversation."""

    async def on_llm_call_completed(
        self,
        response: Any,
        iteration: int,
        *,
        semantic_messages: Any = None,
        semantic_tools: Any = None,
        duration_ms: int | None = None,
        guardrail_findings: Any = None,
    ) -> None:
        """An LLM call returned."""

    async def on_tool_completed(self, tool_call: Any, tool_result: Any, iteration: int) -> None:
        """A tool ran (or failed)."""

    async def on_governance_event(
        self,
        event_type: str,
        iteration: int,
        data: dict[str, Any] | None,
        correlation_id: str | None = None,
    ) -> None:
        """An approval, a policy decision, a guardrail finding..."""


class EventSequencer:
    """Hands out a run's ``sequence_index`` values: strictly increasing, no gaps.

    One instance is shared by the runner (lifecycle events) and the recorder.
    """

    __slots__ = ("_counter", "_last")

    def __init__(self, initial: int = 0) -> None:
        start = check_required_index("initial", initial)
        self._counter = itertools.count(start)
        self._last = start - 1

    def next(self) -> int:
        """The next sequence index."""
        self._last = next(self._counter)
        return self._last

    @property
    def last(self) -> int:
        """The last index handed out (``initial - 1`` before the first)."""
        return self._last

    def advance_past(self, sequence_index: int) -> None:
        """Skip past an index a store function took in its own transaction (a pause or
        a finalize that appends its event), as 0.4.1's sequencer does."""
        if sequence_index > self._last:
            self._counter = itertools.count(sequence_index + 1)
            self._last = sequence_index


async def resume_event_sequencer(store: StateStore | Engine, run_id: str) -> EventSequencer:
    """A sequencer continuing a run's events at ``max(sequence_index) + 1``."""
    db = store.engine if isinstance(store, StateStore) else store
    return EventSequencer(await rows.get_next_event_sequence(db, run_id))


def __getattr__(name: str) -> Any:
    """``recording`` and ``resuming`` live in `dendrux.recording` (which imports this
    module); importable from here too, loaded on first use."""
    if name in ("recording", "resuming", "RunRecording"):
        from dendrux import recording as module

        return getattr(module, name)
    raise AttributeError(f"module 'dendrux.recorder' has no attribute {name!r}")


def _value(role: Any) -> Any:
    return getattr(role, "value", role)


def _hook_unit(writes: tuple[Write | None, ...], one_statement: str) -> WriteUnit:
    """A hook's unit: the rows that could be prepared (a best-effort one that could not
    is None), with the hook's one-statement form only when every row is there (the
    statement writes them all)."""
    present = tuple(w for w in writes if w is not None)
    return WriteUnit(present, one_statement if len(present) == len(writes) else None)


def _parse_failure(call: Any) -> dict[str, Any] | None:
    """A tool call's argument parse error and the raw text's length (never the text),
    or None when its arguments parsed."""
    error = getattr(call, "parse_error", None)
    if error is None:
        return None
    raw = getattr(call, "raw_arguments", None)
    return {"parse_error": error, "raw_length": len(raw) if raw is not None else None}


def _tool_call_brief(call: Any) -> dict[str, Any]:
    brief = {
        "id": call.id,
        "provider_tool_call_id": getattr(call, "provider_tool_call_id", None),
        "name": call.name,
        "params": getattr(call, "params", None),
    }
    failure = _parse_failure(call)
    if failure is not None:
        brief.update(failure)
    return brief


def _usage_dict(usage: Any) -> dict[str, Any]:
    input_tokens = getattr(usage, "input_tokens", 0) or 0
    output_tokens = getattr(usage, "output_tokens", 0) or 0
    total_tokens = getattr(usage, "total_tokens", None)
    if total_tokens is None:  # a usage object without the field: input plus output
        counts = input_tokens.__class__ is int and output_tokens.__class__ is int
        # Not a sum when a provider sent something else: the fail-closed event records
        # what it said; the best-effort rows refuse it by name (`check_usage`).
        total_tokens = input_tokens + output_tokens if counts else None
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": total_tokens,  # as the provider reported it
        "cost_usd": getattr(usage, "cost_usd", None),
        "cost_source": getattr(usage, "cost_source", None),
        "usage_reported": getattr(usage, "usage_reported", usage is not None),
        "cache_read_input_tokens": getattr(usage, "cache_read_input_tokens", None),
        "cache_creation_input_tokens": getattr(usage, "cache_creation_input_tokens", None),
        "reasoning_tokens": getattr(usage, "reasoning_tokens", None),
    }


def semantic_message(message: Any) -> dict[str, Any]:
    """A message as it appears in ``semantic_request.messages`` (optional keys only when set)."""
    entry: dict[str, Any] = {"role": _value(message.role), "content": message.content}
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls is not None:
        entry["tool_calls"] = [_tool_call_brief(call) for call in tool_calls]
    if getattr(message, "call_id", None) is not None:
        entry["call_id"] = message.call_id
    if getattr(message, "name", None) is not None:
        entry["name"] = message.name
    if getattr(message, "meta", None):
        entry["meta"] = dict(message.meta)
    return entry


def semantic_tool(tool: Any) -> dict[str, Any]:
    """A tool definition as it appears in ``semantic_request.tools``."""
    return {
        "name": tool.name,
        "description": getattr(tool, "description", None),
        "parameters": getattr(tool, "parameters", None),
        "target": _value(getattr(tool, "target", None)) or "server",
        "meta": getattr(tool, "meta", None) or None,
    }


def semantic_request(messages: Iterable[Any] | None, tools: Iterable[Any] | None) -> Any:
    """The normalised request of an LLM call, or None without messages."""
    if messages is None:
        return None
    request: dict[str, Any] = {"messages": [semantic_message(m) for m in messages]}
    if tools is not None:
        request["tools"] = [semantic_tool(t) for t in tools]
    return request


def semantic_response(response: Any) -> Any:
    """The normalised response of an LLM call, or None when it had no text, tool calls,
    reasoning or stop reason (as 0.4.1 decides it: each key when it is not None)."""
    text = getattr(response, "text", None)
    tool_calls = getattr(response, "tool_calls", None)
    reasoning = getattr(response, "reasoning", None)
    stop_reason = getattr(response, "stop_reason", None)
    if text is None and tool_calls is None and reasoning is None and stop_reason is None:
        return None
    result: dict[str, Any] = {}
    if reasoning is not None:
        result["reasoning"] = reasoning
    if text is not None:
        result["text"] = text
    if tool_calls is not None:
        result["tool_calls"] = [_tool_call_brief(call) for call in tool_calls]
    result["usage"] = _usage_dict(getattr(response, "usage", None))
    result["stop_reason"] = stop_reason
    return result


class PersistenceRecorder:
    """The `LoopRecorder` that writes a run's authoritative record.

    ``target_lookup`` maps tool names to where they run (server, client,
    human, agent; ``server`` when absent). ``initial_order_index`` continues a
    resumed run's traces; ``event_sequencer`` is shared with the runner.
    """

    def __init__(
        self,
        state_store: StateStore | Engine,
        run_id: str,
        *,
        model: str | None = None,
        provider_name: str | None = None,
        target_lookup: Mapping[str, str] | None = None,
        initial_order_index: int = 0,
        event_sequencer: EventSequencer | None = None,
    ) -> None:
        if isinstance(state_store, StateStore):
            self._engine = state_store.engine
        elif isinstance(state_store, Engine):
            self._engine = state_store
        else:
            from dendrux.errors import InvalidArgumentTypeError

            raise InvalidArgumentTypeError(
                f"state_store must be a StateStore or an Engine, got {type(state_store).__name__}"
            )
        self._run_id = check_required_id("run_id", run_id)
        self._model = model
        self._provider = provider_name
        self._targets = dict(target_lookup or {})
        self._order = check_required_index("initial_order_index", initial_order_index)
        self.event_sequencer = event_sequencer or EventSequencer(0)

    @property
    def run_id(self) -> str:
        """The run this recorder writes."""
        return self._run_id

    @property
    def next_order_index(self) -> int:
        """The ``order_index`` the next trace will get."""
        return self._order

    # -- the four hooks ---------------------------------------------------------

    async def on_message_appended(self, message: Any, iteration: int) -> None:
        """FAIL-CLOSED: one ``react_traces`` row."""
        meta: dict[str, Any] = dict(getattr(message, "meta", None) or {})
        meta["iteration"] = iteration
        role = _value(message.role)
        tool_calls = getattr(message, "tool_calls", None)
        if role == "assistant" and tool_calls:
            meta["tool_calls"] = [_tool_call_brief(call) for call in tool_calls]
        if role == "tool":
            meta["call_id"] = getattr(message, "call_id", None)
            meta["tool_name"] = getattr(message, "name", None)
        reasoning_blocks = getattr(message, "reasoning_blocks", None)
        if reasoning_blocks:  # opaque provider artifacts a resumed loop replays
            meta["reasoning_blocks"] = reasoning_blocks
        trace = rows.TraceRow(
            self._run_id,
            role,
            message.content if message.content is not None else "",
            order_index=self._order,
            meta=meta,
            row_id=new_ulid(),
        )
        await self._write(WriteUnit((trace.to_write(),), "record_trace"))
        self._order += 1

    async def on_llm_call_completed(
        self,
        response: Any,
        iteration: int,
        *,
        semantic_messages: Any = None,
        semantic_tools: Any = None,
        duration_ms: int | None = None,
        guardrail_findings: Any = None,
    ) -> None:
        """BEST-EFFORT interaction and usage rows, FAIL-CLOSED ``llm.completed``,
        BEST-EFFORT progress, in one unit. The interaction id is minted first, so
        the event's correlation id joins even when the interaction row was not written."""
        interaction_id = new_ulid()
        usage = getattr(response, "usage", None)
        model = getattr(response, "model", None) or self._model
        figures = _usage_dict(usage)
        cost_source = figures["cost_source"]
        tool_calls = getattr(response, "tool_calls", None)
        run_id = self._run_id
        interaction = self._best_effort(
            "save_llm_interaction",
            lambda: rows.LLMInteractionRow(
                run_id,
                iteration_index=iteration,
                usage=usage,
                model=model,
                provider=self._provider,
                duration_ms=duration_ms,
                semantic_request=semantic_request(semantic_messages, semantic_tools),
                semantic_response=semantic_response(response),
                provider_request=getattr(response, "provider_request", None),
                provider_response=getattr(response, "provider_response", None),
                guardrail_findings=guardrail_findings,
                interaction_id=interaction_id,
            ).to_write(),
        )
        usage_row = self._best_effort(
            "save_usage",
            lambda: rows.UsageRow(
                run_id,
                iteration_index=iteration,
                usage=usage,
                model=model,
                provider=self._provider,
                duration_ms=duration_ms,
                meta={"cost_source": cost_source} if cost_source is not None else None,
                row_id=new_ulid(),
            ).to_write(),
        )
        event = self._event(
            "llm.completed",
            iteration,
            {
                "input_tokens": figures["input_tokens"],
                "output_tokens": figures["output_tokens"],
                "cache_read_input_tokens": figures["cache_read_input_tokens"],
                "cache_creation_input_tokens": figures["cache_creation_input_tokens"],
                "reasoning_tokens": figures["reasoning_tokens"],
                "cost_usd": figures["cost_usd"],
                "cost_source": cost_source,
                "usage_reported": figures["usage_reported"],
                "model": model,
                "has_tool_calls": bool(tool_calls),
                "phase": "commentary" if tool_calls else "final_answer",
            },
            correlation_id=interaction_id,
        )
        await self._write(
            _hook_unit((interaction, usage_row, event, self._progress()), "record_llm_call")
        )

    async def on_tool_completed(self, tool_call: Any, tool_result: Any, iteration: int) -> None:
        """FAIL-CLOSED ``tool_calls`` row and ``tool.completed`` event, atomically,
        then BEST-EFFORT progress, in one unit."""
        params = tool_call.params if getattr(tool_call, "params", None) else None
        target = self._targets.get(tool_call.name, "server")
        duration_ms = getattr(tool_result, "duration_ms", None)
        success = bool(getattr(tool_result, "success", True))
        meta = getattr(tool_result, "meta", None)
        notes = getattr(tool_result, "notes", None)
        if notes:
            meta = {**(meta or {}), "dendrux.image_notes": list(notes)}
        call = rows.ToolCallRow(
            self._run_id,
            tool_call_id=tool_call.id,
            provider_tool_call_id=getattr(tool_call, "provider_tool_call_id", None),
            tool_name=tool_call.name,
            target=target,
            params=params,
            result_payload=getattr(tool_result, "payload", None),
            success=success,
            duration_ms=duration_ms,
            iteration_index=iteration,
            error_message=getattr(tool_result, "error", None),
            meta=meta or None,
            row_id=new_ulid(),
        ).to_write()
        data = {
            "tool_name": tool_call.name,
            "target": target,
            "success": success,
            "duration_ms": duration_ms,
        }
        failure = _parse_failure(tool_call)
        if failure is not None:
            data.update(failure)
        event = self._event("tool.completed", iteration, data, correlation_id=tool_call.id)
        await self._write(_hook_unit((call, event, self._progress()), "record_tool_call"))

    async def on_governance_event(
        self,
        event_type: str,
        iteration: int,
        data: dict[str, Any] | None,
        correlation_id: str | None = None,
    ) -> None:
        """FAIL-CLOSED: one governance event (approval, policy, guardrail...)."""
        event = self._event(event_type, iteration, data, correlation_id=correlation_id)
        await self._write(WriteUnit((event,), "record_run_event"))

    # -- helpers ------------------------------------------------------------------

    def _event(
        self,
        event_type: str,
        iteration: int,
        data: dict[str, Any] | None,
        *,
        correlation_id: str | None,
    ) -> Write:
        return rows.RunEventRow(
            self._run_id,
            event_type=event_type,
            sequence_index=self.event_sequencer.next(),
            iteration_index=iteration,
            correlation_id=correlation_id,
            data=data,
            row_id=new_ulid(),
        ).to_write()

    def _best_effort(self, label: str, prepare: Callable[[], Write]) -> Write | None:
        """A best-effort row, or None (logged, by the one swallow rule) when it cannot
        even be prepared."""
        try:
            return prepare().as_best_effort()
        except Exception as exc:
            skip_or_raise(label, self._run_id, exc)
            return None

    def _progress(self) -> Write | None:
        run_id = self._run_id
        return self._best_effort("touch_progress", lambda: runs.prepare_touch_progress(run_id))

    async def _write(self, unit: WriteUnit) -> None:
        """The unit through `retry_critical`; its skipped best-effort rows logged."""
        result = await retry_critical(
            lambda: self._engine.write(unit), label=unit.label, run_id=self._run_id
        )
        for label, error in result.skipped:
            skip_best_effort(label, self._run_id, error)
