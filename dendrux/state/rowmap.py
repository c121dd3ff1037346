"""The upstream-named read records (`dendrux.types`), adapted from the public ones.

`StateStore` returns ``RunRecord``, ``TraceRecord``, ``ToolCallReadRecord``,
``RunEventRecord`` and ``LLMInteractionRecord`` as upstream dendrux does. Each
statement is still decoded in one place: a row shared with `RunStore` is built
into its public record by `dendrux.read.records`, and the adapter here adds only
the columns that record does not carry (row ids, ``output_data``, progress,
retry lineage), read at the positions the same column tuples declare.
``get_llm_interactions`` is `StateStore`'s alone; its builder is the one below.
"""

from __future__ import annotations

from typing import Any

from dendrux.db.engine import Dialect, Row
from dendrux.read.records import (
    EVENT_COLUMNS,
    RUN_COLUMNS,
    RUN_OUTPUT_DATA,
    TOOL_COLUMNS,
    TRACE_COLUMNS,
    RunDetail,
    StoredEvent,
    ToolInvocation,
    TraceEntry,
)
from dendrux.types import (
    LLMInteractionRecord,
    RunEventRecord,
    RunRecord,
    ToolCallReadRecord,
    TraceRecord,
)

_RETRY_OF, _LAST_PROGRESS = (RUN_COLUMNS.index(c) for c in ("retry_of_run_id", "last_progress_at"))
_TRACE_ID = TRACE_COLUMNS.index("id")
_TOOL_ID = TOOL_COLUMNS.index("id")
_EVENT_ID = EVENT_COLUMNS.index("id")

LLM_INTERACTION_COLUMNS = (
    "id", "iteration_index", "model", "provider", "semantic_request", "semantic_response",
    "provider_request", "provider_response", "input_tokens", "output_tokens", "cost_usd",
    "duration_ms", "cache_read_input_tokens", "cache_creation_input_tokens", "reasoning_tokens",
    "created_at",
)  # fmt: skip
"""``get_llm_interactions``, in the order `llm_interaction_record` reads it."""


def optional_float(value: Any) -> float | None:
    """A numeric column (NUMERIC on older schemas) as a float, NULL as None."""
    return None if value is None else float(value)


def run_record(row: Row, d: Dialect) -> RunRecord:
    """A ``get_run`` / ``list_runs`` row (``RUN_COLUMNS``)."""
    r: Any = row  # rows index by position too
    output = d.read_json(r[RUN_OUTPUT_DATA])
    run = RunDetail.from_row(r, d, output)
    return RunRecord(
        id=run.run_id,
        agent_name=run.agent_name,
        status=run.status,
        input_data=run.input_data,
        output_data=output,
        answer=run.answer,
        error=run.error,
        iteration_count=run.iteration_count,
        model=run.model,
        strategy=run.strategy,
        parent_run_id=run.parent_run_id,
        delegation_level=run.delegation_level,
        total_input_tokens=run.total_input_tokens,
        total_output_tokens=run.total_output_tokens,
        total_cost_usd=run.total_cost_usd,
        total_cache_read_tokens=run.total_cache_read_tokens,
        total_cache_creation_tokens=run.total_cache_creation_tokens,
        total_reasoning_tokens=run.total_reasoning_tokens,
        meta=run.meta,
        last_progress_at=d.read_ts(r[_LAST_PROGRESS]),
        failure_reason=run.failure_reason,
        retry_of_run_id=r[_RETRY_OF],
        cancel_requested=run.cancel_requested,
        created_at=run.created_at,
        updated_at=run.updated_at,
        tenant_id=run.tenant_id,
        pause_requested=run.pause_requested,
    )


def trace_record(row: Row, d: Dialect) -> TraceRecord:
    """A ``get_traces`` row (``TRACE_COLUMNS``)."""
    r: Any = row  # rows index by position too
    entry = TraceEntry.from_row(r, d)
    return TraceRecord(
        id=r[_TRACE_ID],
        role=entry.role,
        content=entry.content,
        order_index=entry.order_index,
        meta=entry.meta,
        created_at=entry.created_at,
    )


def tool_call_record(row: Row, d: Dialect) -> ToolCallReadRecord:
    """A ``get_tool_calls`` row (``TOOL_COLUMNS``)."""
    r: Any = row
    tool = ToolInvocation.from_row(r, d)
    return ToolCallReadRecord(
        id=r[_TOOL_ID],
        tool_call_id=tool.tool_call_id,
        provider_tool_call_id=tool.provider_tool_call_id,
        tool_name=tool.tool_name,
        target=tool.target,
        params=tool.params,
        result=tool.result,
        success=tool.success,
        duration_ms=tool.duration_ms,
        iteration_index=tool.iteration,
        error_message=tool.error,
        created_at=tool.created_at,
    )


def run_event_record(row: Row, d: Dialect) -> RunEventRecord:
    """A ``get_run_events`` row (``EVENT_COLUMNS``)."""
    r: Any = row
    event = StoredEvent.from_row(r, d)
    return RunEventRecord(
        id=r[_EVENT_ID],
        event_type=event.event_type,
        sequence_index=event.sequence_index,
        iteration_index=event.iteration_index,
        correlation_id=event.correlation_id,
        data=event.data,
        created_at=event.created_at,
    )


def llm_interaction_record(row: Row, d: Dialect) -> LLMInteractionRecord:
    """A ``get_llm_interactions`` row (`LLM_INTERACTION_COLUMNS`)."""
    r: Any = row
    js, ts = d.read_json, d.read_ts
    return LLMInteractionRecord(
        id=r[0],
        iteration_index=r[1],
        model=r[2],
        provider=r[3],
        semantic_request=js(r[4]),
        semantic_response=js(r[5]),
        provider_request=js(r[6]),
        provider_response=js(r[7]),
        input_tokens=r[8] or 0,
        output_tokens=r[9] or 0,
        cost_usd=optional_float(r[10]),
        duration_ms=r[11],
        cache_read_input_tokens=r[12],
        cache_creation_input_tokens=r[13],
        reasoning_tokens=r[14],
        created_at=ts(r[15]),
    )
