"""Reads of a run's rows: events, pauses, LLM calls, tool invocations and traces, as
the public records of `dendrux.read.records` (following events live: `dendrux.read.stream`).

Plain functions over a connection, taking arguments already checked by the facade.
"""

from __future__ import annotations

from datetime import datetime

from dendrux.db.engine import Connection, Row
from dendrux.read.records import LLMCall, PausePair, StoredEvent, ToolInvocation, TraceEntry
from dendrux.status import PAUSE_EVENT_TYPES


async def get_event_rows(
    conn: Connection,
    run_id: str,
    after: int | None,
    page: int | None,
    types: list[str] | None,
    before: datetime | None = None,
) -> list[Row]:
    """``get_run_events`` rows (``EVENT_COLUMNS``) after a strict ``>`` cursor, optionally
    only those of the given types (``[]`` matches nothing) and only those created
    strictly before ``before`` (its own query: the common read keeps its plan)."""
    types_param = None if types is None else conn.dialect.text_list(types)
    if before is None:
        return await conn.fetch_all("get_run_events", run_id, after, types_param, page)
    return await conn.fetch_all("get_run_events_before", run_id, after, types_param, page, before)


async def get_events(
    conn: Connection,
    run_id: str,
    after: int | None = None,
    page: int | None = None,
    types: list[str] | None = None,
    before: datetime | None = None,
) -> list[StoredEvent]:
    """A run's events in sequence order (see `get_event_rows`)."""
    rows = await get_event_rows(conn, run_id, after, page, types, before)
    return StoredEvent.from_rows(rows, conn.dialect)


async def get_pauses(conn: Connection, run_id: str) -> list[PausePair]:
    """Each ``run.paused`` paired with the next ``run.resumed``, from events only."""
    rows = await get_event_rows(conn, run_id, None, None, list(PAUSE_EVENT_TYPES))
    return PausePair.from_rows(rows, conn.dialect)


async def get_llm_calls(
    conn: Connection,
    run_id: str,
    iteration: int | None,
    page: int | None,
    skip: int,
    before: datetime | None = None,
) -> list[LLMCall]:
    """A run's LLM calls by iteration, then time; only those created strictly before
    ``before`` when given (its own query: the common read keeps its plan)."""
    if before is None:
        rows = await conn.fetch_all("get_llm_calls", run_id, iteration, page, skip)
    else:
        rows = await conn.fetch_all("get_llm_calls_before", run_id, iteration, page, skip, before)
    return LLMCall.from_rows(rows, conn.dialect)


async def get_tool_invocations(
    conn: Connection,
    run_id: str,
    iteration: int | None,
    page: int | None,
    skip: int,
    before: datetime | None = None,
) -> list[ToolInvocation]:
    """A run's tool executions by iteration, then time (a NULL iteration reads as 0); only
    those created strictly before ``before`` when given."""
    if before is None:
        rows = await conn.fetch_all("get_tool_invocations", run_id, iteration, page, skip)
    else:
        rows = await conn.fetch_all(
            "get_tool_invocations_before", run_id, iteration, page, skip, before
        )
    return ToolInvocation.from_rows(rows, conn.dialect)


async def get_traces(
    conn: Connection, run_id: str, page: int | None, skip: int
) -> list[TraceEntry]:
    """A run's conversation in order."""
    rows = await conn.fetch_all("get_traces", run_id, page, skip)
    return TraceEntry.from_rows(rows, conn.dialect)
