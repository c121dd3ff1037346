"""Store functions for the per-run tables: traces, tool calls, token usage,
LLM interactions and run events, and their reads.

Every write is first *prepared*: validated and encoded into a `Write` (a
named statement and its parameters) before any connection is taken, so the
recorder can hand several of them to the engine as one unit. Inserts are
exactly-once under retries: row ids are minted by the client (pass
``row_id`` to keep the same id across your own retries), an insert that
finds its own id already stored is a success, and a *different* row
already holding the same ``(run, order_index)`` / ``(run, sequence_index)``
/ ``(run, tool_call_id)`` is a `SlotTakenError`, never a silent drop.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import Any, NamedTuple

from dendrux.db.writes import Slot, Write, single
from dendrux.errors import InvalidArgumentError
from dendrux.state._executor import Executor, reading, write_unit
from dendrux.state.rowmap import (
    llm_interaction_record,
    run_event_record,
    tool_call_record,
    trace_record,
)
from dendrux.types import LLMInteractionRecord, RunEventRecord, ToolCallReadRecord, TraceRecord
from dendrux.ulid import new_ulid
from dendrux.validation import (
    MAX_JSON_DEPTH,
    check_aware,
    check_bool,
    check_event_type,
    check_event_types,
    check_id,
    check_index,
    check_index_filter,
    check_limit,
    check_page,
    check_required_id,
    check_required_index,
    check_required_text,
    check_text,
    check_usage,
    clamp_cursor,
    encode_json,
    encode_json_object,
    json_too_deep,
)

logger = logging.getLogger("dendrux.state")

TOOL_TARGETS = frozenset({"server", "client", "human", "agent"})
_NOT_JSON = object()


def _now() -> datetime:
    return datetime.now(UTC)


def _row_id(row_id: object, name: str = "row_id") -> str:
    return check_id(name, row_id, optional=True) or new_ulid()


# ---------------------------------------------------------------------------
# writes: one row spec per table, its fields declared once
# ---------------------------------------------------------------------------
#
# A spec is a named tuple (cheap to build on the recorder's path) whose
# `to_write()` validates and encodes it into a `Write`; the store functions
# below take the spec's fields as keywords, and only `StateStore` repeats them
# (upstream's signatures). Columns go out in each single-row query's parameter
# order, which is also the order `WriteUnit.joined_args` lays them out in for
# the one-statement hooks of sql/postgres/hooks.sql.


class TraceRow(NamedTuple):
    """One ``react_traces`` row: a message of the conversation at ``order_index``."""

    run_id: str
    role: str
    content: str
    order_index: int
    meta: dict[str, Any] | None = None
    row_id: str | None = None

    def to_write(self) -> Write:
        """Validated and encoded (an exactly-once insert: its id claims the slot)."""
        run_id, role, content, order_index, meta, row_id = self
        order = check_required_index("order_index", order_index)
        row_id = _row_id(row_id)
        run_id = check_required_id("run_id", run_id)
        args = (
            row_id,
            run_id,
            check_required_text("role", role),
            check_required_text("content", content),
            order,
            encode_json_object("meta", meta),
            _now(),
        )
        slot = Slot("react_traces", "order_index", order, run_id)
        return Write("insert_trace", args, "save_trace", False, "trace_exists", row_id, slot)


class ToolCallRow(NamedTuple):
    """One ``tool_calls`` row: the proof of one tool execution."""

    run_id: str
    tool_call_id: str
    provider_tool_call_id: str | None
    tool_name: str
    target: str
    params: dict[str, Any] | None
    result_payload: str | None
    success: bool
    duration_ms: int | None
    iteration_index: int
    error_message: str | None = None
    meta: dict[str, Any] | None = None
    row_id: str | None = None

    def to_write(self) -> Write:
        """Validated and encoded (an exactly-once insert: its id claims ``tool_call_id``)."""
        (
            run_id,
            tool_call_id,
            provider_tool_call_id,
            tool_name,
            target,
            params,
            result_payload,
            success,
            duration_ms,
            iteration_index,
            error_message,
            meta,
            row_id,
        ) = self
        run_id = check_required_id("run_id", run_id)
        tool_call_id = check_required_id("tool_call_id", tool_call_id)
        tool_name = check_required_text("tool_name", tool_name)
        target = check_required_text("target", target)
        if target not in TOOL_TARGETS:
            raise InvalidArgumentError(
                f"target must be one of {sorted(TOOL_TARGETS)}, got {target!r}"
            )
        row_id = _row_id(row_id)
        args = (
            row_id,
            run_id,
            tool_call_id,
            check_text("provider_tool_call_id", provider_tool_call_id, optional=True),
            tool_name,
            target,
            encode_json_object("params", params),
            encode_json("result_payload", parse_tool_result(run_id, tool_name, result_payload)),
            check_bool("success", success),
            check_index("duration_ms", duration_ms, optional=True),
            check_required_index("iteration_index", iteration_index),
            check_text("error_message", error_message, optional=True),
            encode_json_object("meta", meta),
            _now(),
        )
        slot = Slot("tool_calls", "tool_call_id", tool_call_id, run_id)
        return Write(
            "insert_tool_call", args, "save_tool_call", False, "tool_call_exists", row_id, slot
        )


class UsageRow(NamedTuple):
    """One ``token_usage`` row: the token and cost figures of one LLM call."""

    run_id: str
    iteration_index: int
    usage: object
    model: str | None = None
    provider: str | None = None
    duration_ms: int | None = None
    meta: dict[str, Any] | None = None
    row_id: str | None = None

    def to_write(self) -> Write:
        """Validated and encoded (its id is minted here, so a retry stores it once)."""
        run_id, iteration_index, usage, model, provider, duration_ms, meta, row_id = self
        args = (
            *_call_head(_row_id(row_id), run_id, iteration_index, model, provider),
            *_call_figures(usage, duration_ms),
            encode_json_object("meta", meta),
            _now(),
        )
        return Write("insert_usage", args, "save_usage")


class LLMInteractionRow(NamedTuple):
    """One ``llm_interactions`` row: the full forensics of one LLM call
    (``interaction_id`` is its id, the ``llm.completed`` event's correlation id)."""

    run_id: str
    iteration_index: int
    usage: object
    model: str | None = None
    provider: str | None = None
    duration_ms: int | None = None
    semantic_request: dict[str, Any] | None = None
    semantic_response: dict[str, Any] | None = None
    provider_request: dict[str, Any] | None = None
    provider_response: dict[str, Any] | None = None
    guardrail_findings: Any = None
    interaction_id: str | None = None

    def to_write(self) -> Write:
        """Validated and encoded."""
        (
            run_id,
            iteration_index,
            usage,
            model,
            provider,
            duration_ms,
            semantic_request,
            semantic_response,
            provider_request,
            provider_response,
            guardrail_findings,
            interaction_id,
        ) = self
        row_id = _row_id(interaction_id, "interaction_id")
        args = (
            *_call_head(row_id, run_id, iteration_index, model, provider),
            encode_json("semantic_request", semantic_request),
            encode_json("semantic_response", semantic_response),
            encode_json("provider_request", provider_request),
            encode_json("provider_response", provider_response),
            *_call_figures(usage, duration_ms),
            encode_json("guardrail_findings", guardrail_findings),
            _now(),
        )
        return Write("insert_llm_interaction", args, "save_llm_interaction")


class RunEventRow(NamedTuple):
    """One ``run_events`` row: a timeline event at ``sequence_index``."""

    run_id: str
    event_type: str
    sequence_index: int = 0
    iteration_index: int = 0
    correlation_id: str | None = None
    data: dict[str, Any] | None = None
    row_id: str | None = None

    def to_write(self) -> Write:
        """Validated and encoded (an exactly-once insert: its id claims the slot)."""
        run_id, event_type, sequence_index, iteration_index, correlation_id, data, row_id = self
        run_id = check_required_id("run_id", run_id)
        sequence = check_required_index("sequence_index", sequence_index)
        row_id = _row_id(row_id)
        event_type = check_event_type("event_type", event_type)
        args = (
            row_id,
            run_id,
            event_type,
            sequence,
            check_required_index("iteration_index", iteration_index),
            check_text("correlation_id", correlation_id, optional=True),
            encode_json_object("data", data),
            _now(),
        )
        slot = Slot("run_events", "sequence_index", sequence, run_id)
        label = f"save_run_event {event_type}"
        return Write("insert_run_event", args, label, False, "run_event_exists", row_id, slot)


async def save_trace(db: Executor, run_id: str, role: str, content: str, **fields: Any) -> None:
    """Store one message of the conversation (fields: `TraceRow`)."""
    await write_unit(db, single(TraceRow(run_id, role, content, **fields).to_write()))


async def save_tool_call(db: Executor, run_id: str, **fields: Any) -> None:
    """Store proof of one tool execution (fields: `ToolCallRow`)."""
    await write_unit(db, single(ToolCallRow(run_id, **fields).to_write()))


async def save_usage(db: Executor, run_id: str, **fields: Any) -> None:
    """Store the token and cost figures of one LLM call (fields: `UsageRow`)."""
    await write_unit(db, single(UsageRow(run_id, **fields).to_write()))


async def save_llm_interaction(db: Executor, run_id: str, **fields: Any) -> None:
    """Store the full forensics of one LLM call (fields: `LLMInteractionRow`)."""
    await write_unit(db, single(LLMInteractionRow(run_id, **fields).to_write()))


async def save_run_event(db: Executor, run_id: str, **fields: Any) -> None:
    """Append one timeline event (fields: `RunEventRow`)."""
    await write_unit(db, single(RunEventRow(run_id, **fields).to_write()))


def parse_tool_result(run_id: str, tool_name: str, payload: object) -> Any:
    """A tool's JSON result; text that is not strict JSON, or nests deeper than
    `MAX_JSON_DEPTH`, is kept as ``{"raw": text}`` (the proof of a side effect is
    stored, not refused)."""
    if payload is None:
        return None
    text = check_required_text("result_payload", payload)

    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    def finite(literal: str) -> float:
        number = float(literal)
        if not math.isfinite(number):  # e.g. 1e400: valid JSON text, not a storable number
            raise ValueError(literal)
        return number

    try:
        value = json.loads(text, parse_constant=refuse, parse_float=finite)
    except (ValueError, RecursionError):  # RecursionError: nested thousands deep
        value = _NOT_JSON
    if value is _NOT_JSON or (
        text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_too_deep(value)
    ):
        logger.warning(
            "tool result is not storable JSON (invalid, or nested deeper than %d levels); "
            "stored as raw text (run=%s tool=%s length=%d)",
            MAX_JSON_DEPTH,
            run_id,
            tool_name,
            len(text),
        )
        return {"raw": text}
    return value


def _call_head(
    row_id: str, run_id: object, iteration_index: object, model: object, provider: object
) -> tuple[str, str, int, str | None, str | None]:
    """The first columns of a per-LLM-call row: id, run, iteration, model, provider."""
    return (
        row_id,
        check_required_id("run_id", run_id),
        check_required_index("iteration_index", iteration_index),
        check_text("model", model, optional=True),
        check_text("provider", provider, optional=True),
    )


def _call_figures(usage: object, duration_ms: object) -> tuple[Any, ...]:
    """Input, output, cost, duration, cache read, cache creation and reasoning figures of
    one LLM call, in the column order both per-call tables share. "Unknown" (None) stays
    apart from zero for the three optional token counts."""
    tokens_in, tokens_out, cost, cache_read, cache_creation, reasoning = check_usage("usage", usage)
    return (
        tokens_in,
        tokens_out,
        cost,
        check_index("duration_ms", duration_ms, optional=True),
        None if getattr(usage, "cache_read_input_tokens", None) is None else cache_read,
        None if getattr(usage, "cache_creation_input_tokens", None) is None else cache_creation,
        None if getattr(usage, "reasoning_tokens", None) is None else reasoning,
    )


async def get_next_event_sequence(db: Executor, run_id: str) -> int:
    """``max(sequence_index) + 1`` of a run's events (0 when it has none)."""
    run_id = check_required_id("run_id", run_id)
    async with reading(db) as conn:
        return int(await conn.fetch_value("next_event_sequence", run_id))


# ---------------------------------------------------------------------------
# reads
# ---------------------------------------------------------------------------


async def get_traces(
    db: Executor, run_id: str, *, limit: int | None = None, offset: int = 0
) -> list[TraceRecord]:
    """A run's conversation in ``order_index`` order."""
    run_id = check_required_id("run_id", run_id)
    page, skip = check_page(limit, offset)
    async with reading(db) as conn:
        rows = await conn.fetch_all("get_traces", run_id, page, skip)
        return [trace_record(row, conn.dialect) for row in rows]


async def get_tool_calls(
    db: Executor,
    run_id: str,
    *,
    iteration_index: int | None = None,
    limit: int | None = None,
    offset: int = 0,
    before: datetime | None = None,
) -> list[ToolCallReadRecord]:
    """A run's tool executions by iteration, then time; ``before`` (aware) keeps only
    those created strictly earlier."""
    run_id = check_required_id("run_id", run_id)
    iteration, storable = check_index_filter("iteration_index", iteration_index)
    page, skip = check_page(limit, offset)
    until = check_aware("before", before)
    if not storable:  # past the INTEGER column's range: no row can match
        return []
    async with reading(db) as conn:
        if until is None:
            rows = await conn.fetch_all("get_tool_calls", run_id, iteration, page, skip)
        else:
            rows = await conn.fetch_all(
                "get_tool_calls_before", run_id, iteration, page, skip, until
            )
        return [tool_call_record(row, conn.dialect) for row in rows]


async def get_llm_interactions(
    db: Executor,
    run_id: str,
    *,
    iteration_index: int | None = None,
    limit: int | None = None,
    offset: int = 0,
    before: datetime | None = None,
) -> list[LLMInteractionRecord]:
    """A run's LLM calls by iteration, then time; ``before`` (aware) keeps only those
    created strictly earlier."""
    run_id = check_required_id("run_id", run_id)
    iteration, storable = check_index_filter("iteration_index", iteration_index)
    page, skip = check_page(limit, offset)
    until = check_aware("before", before)
    if not storable:  # past the INTEGER column's range: no row can match
        return []
    async with reading(db) as conn:
        if until is None:
            rows = await conn.fetch_all("get_llm_interactions", run_id, iteration, page, skip)
        else:
            rows = await conn.fetch_all(
                "get_llm_interactions_before", run_id, iteration, page, skip, until
            )
        return [llm_interaction_record(row, conn.dialect) for row in rows]


async def get_run_events(
    db: Executor,
    run_id: str,
    *,
    after_sequence_index: int | None = None,
    limit: int | None = None,
    event_types: list[str] | None = None,
    before: datetime | None = None,
) -> list[RunEventRecord]:
    """A run's events in sequence order after a strict ``>`` cursor.

    ``limit`` is clamped to 1..1000; ``event_types=[]`` matches nothing; ``before``
    (aware) keeps only events created strictly earlier.
    """
    run_id = check_required_id("run_id", run_id)
    after = clamp_cursor("after_sequence_index", after_sequence_index)
    page = check_limit("limit", limit)
    types = check_event_types("event_types", event_types)
    until = check_aware("before", before)
    async with reading(db) as conn:
        types_param = conn.dialect.text_list(types)
        if until is None:
            rows = await conn.fetch_all("get_run_events", run_id, after, types_param, page)
        else:
            rows = await conn.fetch_all(
                "get_run_events_before", run_id, after, types_param, page, until
            )
        return [run_event_record(row, conn.dialect) for row in rows]
