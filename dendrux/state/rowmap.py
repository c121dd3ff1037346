"""Rows to read records: the one place stored values are decoded.

Timestamps come back aware UTC and JSON columns as Python values whatever
the dialect (and whether the schema is ours or the upstream one).
"""

from __future__ import annotations

from typing import Any

from dendrux.db.engine import Dialect, Row
from dendrux.types import (
    LLMInteractionRecord,
    RunEventRecord,
    RunRecord,
    ToolCallReadRecord,
    TraceRecord,
)


def optional_float(value: Any) -> float | None:
    """A numeric column (NUMERIC on older schemas) as a float, NULL as None."""
    return None if value is None else float(value)


def run_record(row: Row, d: Dialect) -> RunRecord:
    """An ``agent_runs`` row (``get_run`` / ``list_runs`` column list)."""
    output = d.read_json(row["output_data"])
    return RunRecord(
        id=row["id"],
        agent_name=row["agent_name"],
        status=row["status"],
        input_data=d.read_json(row["input_data"]),
        output_data=output,
        answer=output.get("answer") if isinstance(output, dict) else None,
        error=row["error"],
        iteration_count=row["iteration_count"] or 0,
        model=row["model"],
        strategy=row["strategy"],
        parent_run_id=row["parent_run_id"],
        delegation_level=row["delegation_level"] or 0,
        total_input_tokens=row["total_input_tokens"] or 0,
        total_output_tokens=row["total_output_tokens"] or 0,
        total_cost_usd=optional_float(row["total_cost_usd"]),
        total_cache_read_tokens=row["total_cache_read_tokens"] or 0,
        total_cache_creation_tokens=row["total_cache_creation_tokens"] or 0,
        total_reasoning_tokens=row["total_reasoning_tokens"] or 0,
        meta=d.read_json(row["meta"]),
        last_progress_at=d.read_ts(row["last_progress_at"]),
        failure_reason=row["failure_reason"],
        retry_of_run_id=row["retry_of_run_id"],
        cancel_requested=d.read_bool(row["cancel_requested"]),
        created_at=d.read_ts(row["created_at"]),
        updated_at=d.read_ts(row["updated_at"]),
        tenant_id=row["tenant_id"],
    )


def trace_record(row: Row, d: Dialect) -> TraceRecord:
    """A ``react_traces`` row."""
    return TraceRecord(
        id=row["id"],
        role=row["role"],
        content=row["content"],
        order_index=row["order_index"],
        meta=d.read_json(row["meta"]),
        created_at=d.read_ts(row["created_at"]),
    )


def tool_call_record(row: Row, d: Dialect) -> ToolCallReadRecord:
    """A ``tool_calls`` row."""
    return ToolCallReadRecord(
        id=row["id"],
        tool_call_id=row["tool_call_id"],
        provider_tool_call_id=row["provider_tool_call_id"],
        tool_name=row["tool_name"],
        target=row["target"],
        params=d.read_json(row["params"]),
        result=d.read_json(row["result"]),
        success=d.read_bool(row["success"]),
        duration_ms=row["duration_ms"],
        iteration_index=row["iteration_index"],
        error_message=row["error_message"],
        created_at=d.read_ts(row["created_at"]),
    )


def llm_interaction_record(row: Row, d: Dialect) -> LLMInteractionRecord:
    """An ``llm_interactions`` row."""
    return LLMInteractionRecord(
        id=row["id"],
        iteration_index=row["iteration_index"],
        model=row["model"],
        provider=row["provider"],
        semantic_request=d.read_json(row["semantic_request"]),
        semantic_response=d.read_json(row["semantic_response"]),
        provider_request=d.read_json(row["provider_request"]),
        provider_response=d.read_json(row["provider_response"]),
        input_tokens=row["input_tokens"] or 0,
        output_tokens=row["output_tokens"] or 0,
        cost_usd=optional_float(row["cost_usd"]),
        duration_ms=row["duration_ms"],
        cache_read_input_tokens=row["cache_read_input_tokens"],
        cache_creation_input_tokens=row["cache_creation_input_tokens"],
        reasoning_tokens=row["reasoning_tokens"],
        created_at=d.read_ts(row["created_at"]),
    )


def run_event_record(row: Row, d: Dialect) -> RunEventRecord:
    """A ``run_events`` row."""
    return RunEventRecord(
        id=row["id"],
        event_type=row["event_type"],
        sequence_index=row["sequence_index"],
        iteration_index=row["iteration_index"],
        correlation_id=row["correlation_id"],
        data=d.read_json(row["data"]),
        created_at=d.read_ts(row["created_at"]),
    )
