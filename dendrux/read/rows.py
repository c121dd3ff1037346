"""Reads of a run's rows: events (and following them live), pauses, LLM calls, tool
invocations and traces, as the public records of `dendrux.read.records`.

Plain functions over a connection (the stream loop: over an engine, one
connection per page), taking arguments already checked by the facade.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import suppress
from datetime import datetime

from dendrux.db.engine import Connection, Engine, Row
from dendrux.read.filters import STREAM_PAGE
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


async def follow_events(
    engine_of: Callable[[], Engine], run_id: str, cursor: int | None, interval: float
) -> AsyncGenerator[StoredEvent, None]:
    """Every event of a run after ``cursor``, once and in order, as it lands; never
    ends on its own. Reads go page by page, each on a connection returned at once;
    between pages it waits for the engine's wake-up (PostgreSQL LISTEN/NOTIFY) or,
    without one, polls every ``interval`` seconds (the wake-up's fallback too).
    ``engine_of`` is asked for the engine before every page, so a facade closed
    meanwhile stops the loop with its own error."""
    # Here, not at module level: `import dendrux.store` stays light for code that
    # only builds or reads records (the engine's driver has loaded asyncio by now).
    import asyncio

    wakeups = await engine_of().run_event_wakeups()
    wakeup = wakeups.subscribe(run_id) if wakeups is not None else None
    try:
        while True:
            if wakeup is not None:
                wakeup.clear()  # before reading: a commit after the read sets it again
            async with engine_of().connect() as conn:
                page = await get_events(conn, run_id, cursor, STREAM_PAGE)
            for event in page:
                cursor = event.sequence_index
                yield event
            if len(page) == STREAM_PAGE:
                continue
            if wakeup is None:
                await asyncio.sleep(interval)
                continue
            with suppress(TimeoutError):  # the poll fallback
                await asyncio.wait_for(wakeup.wait(), interval)
    finally:
        if wakeups is not None and wakeup is not None:
            wakeups.unsubscribe(run_id, wakeup)
