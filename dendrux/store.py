"""`RunStore`: the read-only facade over the six tables.

What dashboards, HTTP routes and admin scripts use to look at runs, live and
afterwards. It never writes, never exposes ``pause_data``, and works on a
database made by the upstream SQLAlchemy/Alembic schema as well as on ours.
Records are frozen, slotted dataclasses with aware-UTC datetimes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass, fields, make_dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from dendrux.db import create_engine, parse_database_url
from dendrux.db.engine import Connection, Dialect
from dendrux.db.holder import EngineHolder
from dendrux.errors import RunNotFoundError
from dendrux.state.filters import RunFilters
from dendrux.validation import (
    check_event_types,
    check_index_filter,
    check_int,
    check_offset,
    check_page,
    check_required_id,
    check_seconds,
    check_text,
    clamp_cursor,
    clamp_limit,
)

if TYPE_CHECKING:
    from dendrux.types import DelegationInfo

__all__ = [
    "LLMCall",
    "PausePair",
    "RunDetail",
    "RunNotFoundError",
    "RunStore",
    "RunSummary",
    "StoredEvent",
    "ToolInvocation",
    "TraceEntry",
]

STREAM_PAGE = 500
"""Events read per query while streaming: memory stays bounded by one page."""


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One run in a listing."""

    run_id: str
    agent_name: str
    status: str
    created_at: datetime | None
    updated_at: datetime | None
    iteration_count: int
    total_input_tokens: int
    total_output_tokens: int
    total_cache_read_tokens: int
    total_cache_creation_tokens: int
    total_cost_usd: float | None
    model: str | None
    parent_run_id: str | None
    delegation_level: int
    tenant_id: str | None = None
    total_reasoning_tokens: int = 0
    meta: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RunDetail(RunSummary):
    """One run's full anchor row (never its pause data or PII mapping)."""

    strategy: str | None = None
    input_data: Any = None
    answer: Any = None
    error: str | None = None
    failure_reason: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One timeline event."""

    sequence_index: int
    iteration_index: int
    event_type: str
    correlation_id: str | None
    data: dict[str, Any] | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class LLMCall:
    """One LLM call: usage, cache, cost and the raw provider payloads."""

    iteration: int
    provider: str | None
    model: str | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cache_read_input_tokens: int | None
    cache_creation_input_tokens: int | None
    cost_usd: float | None
    duration_ms: int | None
    provider_request: Any
    provider_response: Any
    created_at: datetime | None
    id: str | None = None
    """The interaction id: the ``correlation_id`` of its ``llm.completed`` event."""


@dataclass(frozen=True, slots=True)
class ToolInvocation:
    """One tool execution."""

    iteration: int | None
    tool_name: str
    tool_call_id: str
    provider_tool_call_id: str | None
    target: str
    params: dict[str, Any] | None
    result: Any
    success: bool
    error: str | None
    duration_ms: int | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One message of the conversation."""

    role: str
    content: str
    order_index: int
    meta: dict[str, Any] | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class PausePair:
    """A ``run.paused`` event and the ``run.resumed`` that ended it (None while active)."""

    pause_sequence_index: int
    pause_at: datetime | None
    resume_sequence_index: int | None
    resume_at: datetime | None
    reason: str | None
    pending_tool_calls: Any
    submitted_results: Any
    user_input: Any


# -- building records ---------------------------------------------------------------
#
# Reads build records by column position, from rows whose SELECT lists put the
# record's fields first and in order (`READ_COLUMNS`; a test checks both
# dialects' queries against it). The SQL already turns NULL counters into 0 and
# costs into floats; Python decodes only timestamps and JSON, with the dialect's
# per-value readers looked up once per call.

_SUMMARY_COLUMNS = (
    "id", "agent_name", "status", "created_at", "updated_at", "iteration_count",
    "total_input_tokens", "total_output_tokens", "total_cache_read_tokens",
    "total_cache_creation_tokens", "total_cost_usd", "model", "parent_run_id",
    "delegation_level", "tenant_id", "total_reasoning_tokens", "meta",
)  # fmt: skip
READ_COLUMNS: dict[str, tuple[str, ...]] = {
    "list_run_summaries": _SUMMARY_COLUMNS,
    "list_run_summaries_by_meta": _SUMMARY_COLUMNS,
    "get_run": (
        *_SUMMARY_COLUMNS, "strategy", "input_data", "output_data", "error", "failure_reason",
    ),
    "get_run_events": (
        "sequence_index", "iteration_index", "event_type", "correlation_id", "data",
        "created_at",
    ),
    "get_traces": ("role", "content", "order_index", "meta", "created_at"),
    "get_tool_calls": (
        "iteration_index", "tool_name", "tool_call_id", "provider_tool_call_id", "target",
        "params", "result", "success", "error_message", "duration_ms", "created_at",
    ),
    "get_llm_calls": (
        "iteration_index", "provider", "model", "input_tokens", "output_tokens", "total_tokens",
        "cache_read_input_tokens", "cache_creation_input_tokens", "cost_usd", "duration_ms",
        "provider_request", "provider_response", "created_at", "id",
    ),
}  # fmt: skip
"""The leading columns each reader query returns, by position, as the builders read them."""


@cache
def _twin(cls: type) -> Callable[..., Any]:
    """A mutable slotted twin of a frozen, slotted record class: same slots, so the
    same memory layout, so a twin instance becomes a ``cls`` instance by
    ``__class__`` assignment.

    A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__``,
    ~3-5x the cost of the plain slot stores of the twin's ``__init__``; with
    hundreds of rows per call that was most of the library's time. The result of
    twin-then-assign is an ordinary frozen ``cls`` instance. Built on first use.
    """
    twin = make_dataclass(
        f"_{cls.__name__}Twin",
        [f.name for f in fields(cls)],
        slots=True,
        repr=False,
        eq=False,
        match_args=False,
    )
    if getattr(twin, "__slots__", ()) != getattr(cls, "__slots__", None):  # inherited fields?
        raise TypeError(f"{cls.__name__} is not a flat slotted dataclass")
    return twin


def _summary_list(rows: list[Any], d: Dialect) -> list[RunSummary]:
    cls, ts, js = RunSummary, d.read_ts, d.read_json
    make = _twin(cls)
    out = []
    for r in rows:
        summary = make(
            r[0], r[1], r[2], ts(r[3]), ts(r[4]), r[5], r[6], r[7], r[8], r[9], r[10], r[11],
            r[12], r[13], r[14], r[15], js(r[16]),
        )  # fmt: skip
        summary.__class__ = cls
        out.append(summary)
    return out


def _detail(r: Any, d: Dialect) -> RunDetail:
    ts, js = d.read_ts, d.read_json
    output = js(r[19])
    return RunDetail(
        r[0], r[1], r[2], ts(r[3]), ts(r[4]), r[5], r[6], r[7], r[8], r[9], r[10], r[11],
        r[12], r[13], r[14], r[15], js(r[16]), r[17], js(r[18]),
        output.get("answer") if isinstance(output, dict) else None, r[20], r[21],
    )  # fmt: skip


def _event_list(rows: list[Any], d: Dialect) -> list[StoredEvent]:
    cls, ts, js = StoredEvent, d.read_ts, d.read_json
    make = _twin(cls)
    out = []
    for r in rows:
        event = make(r[0], r[1], r[2], r[3], js(r[4]), ts(r[5]))
        event.__class__ = cls
        out.append(event)
    return out


def _trace_list(rows: list[Any], d: Dialect) -> list[TraceEntry]:
    cls, ts, js = TraceEntry, d.read_ts, d.read_json
    make = _twin(cls)
    out = []
    for r in rows:
        entry = make(r[0], r[1], r[2], js(r[3]), ts(r[4]))
        entry.__class__ = cls
        out.append(entry)
    return out


def _tool_list(rows: list[Any], d: Dialect) -> list[ToolInvocation]:
    cls, ts, js, flag = ToolInvocation, d.read_ts, d.read_json, d.read_bool
    make = _twin(cls)
    out = []
    for r in rows:
        tool = make(
            r[0], r[1], r[2], r[3], r[4], js(r[5]), js(r[6]), flag(r[7]), r[8], r[9], ts(r[10])
        )
        tool.__class__ = cls
        out.append(tool)
    return out


def _llm_call_list(rows: list[Any], d: Dialect) -> list[LLMCall]:
    cls, ts, js = LLMCall, d.read_ts, d.read_json
    make = _twin(cls)
    out = []
    for r in rows:
        call = make(
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], js(r[10]), js(r[11]),
            ts(r[12]), r[13],
        )  # fmt: skip
        call.__class__ = cls
        out.append(call)
    return out


class RunStore(EngineHolder):
    """Read-only access to everything dendrux persisted about runs."""

    @classmethod
    def from_database_url(cls, database_url: str) -> RunStore:
        """A store owning a new engine; ``close()`` disposes it. A reader never
        creates a SQLite file: a missing one is an error (unless the URL sets ``mode``)."""
        parsed = parse_database_url(database_url)
        if parsed.dialect == "sqlite" and not parsed.is_memory and "mode" not in parsed.options:
            return cls(create_engine(database_url, mode="rw"), owns_engine=True)
        return cls(create_engine(database_url), owns_engine=True)

    # -- runs -------------------------------------------------------------------------

    async def list_runs(
        self,
        *,
        status: str | list[str] | None = None,
        agent_name: str | None = None,
        parent_run_id: str | None = None,
        tenant_id: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        metadata_filter: dict[str, Any] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunSummary]:
        """Runs newest first (ties by id); filters AND together; limit clamped to 1..1000."""
        filters = RunFilters.check(
            status=status,
            agent_name=agent_name,
            parent_run_id=parent_run_id,
            tenant_id=tenant_id,
            started_after=started_after,
            started_before=started_before,
            metadata_filter=metadata_filter,
        )
        page, skip = clamp_limit("limit", limit), check_offset("offset", offset)
        async with self._db().connect() as conn:
            d = conn.dialect
            query = "list_run_summaries_by_meta" if filters.by_meta(d) else "list_run_summaries"
            rows = await conn.fetch_all(query, *filters.bind(d), page, skip)
            return _summary_list(rows, d)

    async def count_runs(
        self,
        *,
        status: str | list[str] | None = None,
        agent_name: str | None = None,
        parent_run_id: str | None = None,
        tenant_id: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> int:
        """How many runs `list_runs` pages through with the same filters."""
        filters = RunFilters.check(
            status=status,
            agent_name=agent_name,
            parent_run_id=parent_run_id,
            tenant_id=tenant_id,
            started_after=started_after,
            started_before=started_before,
            metadata_filter=metadata_filter,
        )
        async with self._db().connect() as conn:
            return await filters.count(conn)

    async def get_run(self, run_id: str) -> RunDetail | None:
        """One run's anchor row, or None."""
        run_id = check_required_id("run_id", run_id)
        async with self._db().connect() as conn:
            row = await conn.fetch_one("get_run", run_id)
            return None if row is None else _detail(row, conn.dialect)

    # -- events -----------------------------------------------------------------------

    async def get_events(
        self,
        run_id: str,
        *,
        after_sequence_index: int | None = None,
        limit: int | None = None,
        event_types: list[str] | None = None,
    ) -> list[StoredEvent]:
        """A run's events in sequence order after a strict ``>`` cursor, optionally
        only those of the given types (``[]`` matches nothing)."""
        run_id = check_required_id("run_id", run_id)
        after = clamp_cursor("after_sequence_index", after_sequence_index)
        page = check_int("limit", limit, optional=True, minimum=1)
        types = check_event_types("event_types", event_types)
        async with self._db().connect() as conn:
            return await self._events(conn, run_id, after, page, types)

    async def _events(
        self,
        conn: Connection,
        run_id: str,
        after: int | None,
        page: int | None,
        types: list[str] | None = None,
    ) -> list[StoredEvent]:
        types_param = None if types is None else conn.dialect.text_list(types)
        rows = await conn.fetch_all("get_run_events", run_id, after, types_param, page)
        return _event_list(rows, conn.dialect)

    async def get_run_status(self, run_id: str, *, tenant_id: str | None = None) -> str | None:
        """A run's status; None when it does not exist or (``tenant_id`` given) belongs
        to another tenant, so a caller cannot tell the two apart."""
        run_id = check_required_id("run_id", run_id)
        tenant = check_text("tenant_id", tenant_id, optional=True)
        async with self._db().connect() as conn:
            return await conn.fetch_value("run_status", run_id, tenant)  # type: ignore[no-any-return]

    async def get_delegation_info(self, run_id: str) -> DelegationInfo | None:
        """Parent, children, ancestry (root first) and subtree totals; None if missing."""
        from dendrux.state.runs import get_delegation_info

        return await get_delegation_info(self._db(), run_id)

    async def _exists(self, run_id: str) -> bool:
        async with self._db().connect() as conn:
            return bool(await conn.fetch_value("run_exists", run_id, None))

    async def stream_events(
        self,
        run_id: str,
        *,
        after_sequence_index: int | None = None,
        poll_interval_s: float = 0.5,
    ) -> AsyncIterator[StoredEvent]:
        """Every event of a run, once and in order, as it lands; never ends on its own.

        Raises `RunNotFoundError` before the first item for an unknown run. On
        PostgreSQL a LISTEN/NOTIFY wake-up delivers a new event in milliseconds
        (polling every ``poll_interval_s`` stays as the fallback); on SQLite it
        polls. Reads go page by page, each on a connection returned at once.
        """
        run_id = check_required_id("run_id", run_id)
        cursor = clamp_cursor("after_sequence_index", after_sequence_index)
        interval = check_seconds("poll_interval_s", poll_interval_s)
        if not await self._exists(run_id):
            raise RunNotFoundError(run_id)
        # Here, not at module level: `import dendrux.store` stays light for code that
        # only builds or reads records (the engine's driver has loaded asyncio by now).
        import asyncio

        engine = self._db()
        wakeups = await engine.run_event_wakeups()
        wakeup = wakeups.subscribe(run_id) if wakeups is not None else None
        try:
            while True:
                if wakeup is not None:
                    wakeup.clear()  # before reading: a commit after the read sets it again
                async with self._db().connect() as conn:
                    page = await self._events(conn, run_id, cursor, STREAM_PAGE)
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

    # -- per-run rows -------------------------------------------------------------------

    async def get_llm_calls(
        self,
        run_id: str,
        *,
        iteration: int | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[LLMCall]:
        """A run's LLM calls by iteration, then time."""
        run_id = check_required_id("run_id", run_id)
        it, storable = check_index_filter("iteration", iteration)
        page, skip = check_page(limit, offset)
        db = self._db()
        if not storable:  # past the INTEGER column's range: no row can match
            return []
        async with db.connect() as conn:
            rows = await conn.fetch_all("get_llm_calls", run_id, it, page, skip)
            return _llm_call_list(rows, conn.dialect)

    async def get_tool_invocations(
        self,
        run_id: str,
        *,
        iteration: int | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ToolInvocation]:
        """A run's tool executions by iteration, then time."""
        run_id = check_required_id("run_id", run_id)
        it, storable = check_index_filter("iteration", iteration)
        page, skip = check_page(limit, offset)
        db = self._db()
        if not storable:  # past the INTEGER column's range: no row can match
            return []
        async with db.connect() as conn:
            rows = await conn.fetch_all("get_tool_calls", run_id, it, page, skip)
            return _tool_list(rows, conn.dialect)

    async def get_traces(
        self, run_id: str, *, limit: int | None = None, offset: int = 0
    ) -> list[TraceEntry]:
        """A run's conversation in order."""
        run_id = check_required_id("run_id", run_id)
        page, skip = check_page(limit, offset)
        async with self._db().connect() as conn:
            rows = await conn.fetch_all("get_traces", run_id, page, skip)
            return _trace_list(rows, conn.dialect)

    async def get_pauses(self, run_id: str) -> list[PausePair]:
        """Each ``run.paused`` paired with the next ``run.resumed``, from events only;
        an unpaired pause at the end is the active pause."""
        run_id = check_required_id("run_id", run_id)
        async with self._db().connect() as conn:
            types = conn.dialect.text_list(["run.paused", "run.resumed"])
            rows = await conn.fetch_all("get_run_events", run_id, None, types, None)
            return _pause_pairs(rows, conn.dialect)

    async def get_pii_mapping(self, run_id: str) -> dict[str, str]:
        """Placeholder -> real value of a run; ``{}`` when there is none or no such run."""
        run_id = check_required_id("run_id", run_id)
        async with self._db().connect() as conn:
            value = conn.dialect.read_json(await conn.fetch_value("get_pii_mapping", run_id))
        return dict(value) if isinstance(value, dict) else {}


def _pause_pairs(rows: list[Any], d: Dialect) -> list[PausePair]:
    """Pause and resume events (``get_run_events`` rows, in order) as pairs; each
    event is decoded once, straight from its row (no `StoredEvent` in between)."""
    ts, js = d.read_ts, d.read_json
    make = _twin(PausePair)
    pairs: list[PausePair] = []

    def close(pause: tuple[Any, ...], resume: tuple[Any, ...] | None) -> None:
        paused = pause[2] or {}
        resumed = (resume[2] or {}) if resume is not None else {}
        pair = make(
            pause[0], pause[1],
            resume[0] if resume is not None else None, resume[1] if resume is not None else None,
            paused.get("status"), paused.get("pending_tool_calls"),
            resumed.get("submitted_results"), resumed.get("user_input"),
        )  # fmt: skip
        pair.__class__ = PausePair
        pairs.append(pair)

    open_pause: tuple[Any, ...] | None = None
    for r in rows:  # sequence_index, iteration_index, event_type, correlation_id, data, created_at
        event = (r[0], ts(r[5]), js(r[4]))
        if r[2] == "run.paused":
            if open_pause is not None:  # paused twice without a resume in between
                close(open_pause, None)
            open_pause = event
        elif open_pause is not None:
            close(open_pause, event)
            open_pause = None
    if open_pause is not None:
        close(open_pause, None)
    return pairs
