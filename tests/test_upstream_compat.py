"""RunStore on a database made by the upstream SQLAlchemy/Alembic schema (SPEC 6).

tests/fixtures/upstream_<dialect>.sql hand-write what the upstream schema
leaves behind: the same six tables and column names, but JSON instead of
JSONB and no GIN index on PostgreSQL, naive 'YYYY-MM-DD HH:MM:SS[.ffffff]'
text timestamps, JSON text and 0/1 booleans on SQLite, an ``alembic_version``
table and no ``dendrux_schema_version`` table. Both fixtures hold the same
data; the expected values below are shared by both dialects.

The reader must return exactly that data, with aware-UTC datetimes equal to
the stored naive values read as UTC, and must neither migrate nor alter the
database; ``dendrux.db.upgrade`` must refuse it with a `SchemaError`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import dendrux.db
from dendrux.errors import SchemaError
from dendrux.store import (
    LLMCall,
    PausePair,
    RunDetail,
    RunStore,
    RunSummary,
    StoredEvent,
    ToolInvocation,
    TraceEntry,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"

P = "01JPZ8K3V2M4N6Q8R0S2T4W6X8"  # success; paused for approval, resumed; PII mapping
C = "01JPZ8MXQ7H5D3B1A9Z7Y5X3W1"  # child of P
W = "01JPZB0000W1A2B3C4D5E6F7G8"  # waiting_human_input: an active pause
E = "01JPZC9R3T5V7X9Z1B3D5F7H9K"  # error, no tenant, no meta
R = "01JPZC9R3T0A0A0A0A0A0A0A0A"  # retry of E, created in the same second as E
TC1 = "01JPZ8KTC1000000000000000A"
TC2 = "01JPZ8KTC2000000000000000B"
L1 = "01JPZ8KLL1000000000000000A"
L2 = "01JPZ8KLL2000000000000000B"
LW = "01JPZB0LL1000000000000000C"
ALL_NEWEST_FIRST = [E, R, W, C, P]  # E and R tie on created_at: id descending


def ts(naive: str) -> datetime:
    """A stored naive timestamp, read as UTC."""
    value = datetime.fromisoformat(naive)
    assert value.tzinfo is None
    return value.replace(tzinfo=UTC)


# -- expected records ------------------------------------------------------------------

SUMMARIES = {
    P: RunSummary(
        run_id=P,
        agent_name="research_agent",
        status="success",
        created_at=ts("2026-03-20 09:15:02.123456"),
        updated_at=ts("2026-03-20 09:16:40.654321"),
        iteration_count=2,
        total_input_tokens=1840,
        total_output_tokens=312,
        total_cache_read_tokens=512,
        total_cache_creation_tokens=128,
        total_cost_usd=0.010236,
        model="claude-sonnet-4",
        parent_run_id=None,
        delegation_level=0,
        tenant_id="acme",
        total_reasoning_tokens=0,
        meta={"thread_id": "th-42", "user-id": "u-7", "priority": 2},
    ),
    C: RunSummary(
        run_id=C,
        agent_name="search_agent",
        status="success",
        created_at=ts("2026-03-20 09:15:30"),
        updated_at=ts("2026-03-20 09:15:41"),
        iteration_count=1,
        total_input_tokens=300,
        total_output_tokens=40,
        total_cache_read_tokens=0,
        total_cache_creation_tokens=0,
        total_cost_usd=0.0005,
        model="claude-haiku-4",
        parent_run_id=P,
        delegation_level=1,
        tenant_id="acme",
        total_reasoning_tokens=0,
        meta={"thread_id": "th-42"},
    ),
    W: RunSummary(
        run_id=W,
        agent_name="research_agent",
        status="waiting_human_input",
        created_at=ts("2026-03-20 10:00:00"),
        updated_at=ts("2026-03-20 10:00:05.500000"),
        iteration_count=1,
        total_input_tokens=400,
        total_output_tokens=50,
        total_cache_read_tokens=0,
        total_cache_creation_tokens=0,
        total_cost_usd=0.00195,
        model="claude-sonnet-4",
        parent_run_id=None,
        delegation_level=0,
        tenant_id="globex",
        total_reasoning_tokens=0,
        meta={"thread_id": "th-99", "priority": 1},
    ),
    E: RunSummary(
        run_id=E,
        agent_name="research_agent",
        status="error",
        created_at=ts("2026-03-20 10:30:00"),
        updated_at=ts("2026-03-20 10:30:07.250000"),
        iteration_count=0,
        total_input_tokens=0,
        total_output_tokens=0,
        total_cache_read_tokens=0,
        total_cache_creation_tokens=0,
        total_cost_usd=None,
        model="claude-sonnet-4",
        parent_run_id=None,
        delegation_level=0,
        tenant_id=None,
        total_reasoning_tokens=0,
        meta=None,
    ),
    R: RunSummary(
        run_id=R,
        agent_name="research_agent",
        status="success",
        created_at=ts("2026-03-20 10:30:00"),
        updated_at=ts("2026-03-20 10:31:12.000100"),
        iteration_count=1,
        total_input_tokens=150,
        total_output_tokens=20,
        total_cache_read_tokens=0,
        total_cache_creation_tokens=0,
        total_cost_usd=0.00075,
        model="claude-sonnet-4",
        parent_run_id=None,
        delegation_level=0,
        tenant_id=None,
        total_reasoning_tokens=64,
        meta={"thread_id": "th-7", "retry": True},
    ),
}

DETAIL_EXTRAS: dict[str, dict[str, Any]] = {
    P: {
        "strategy": "react",
        "input_data": {"input": "Summarise Q1 revenue for <<EMAIL_1>>"},
        "answer": "Revenue grew 12% to $4.2M (≈ €3.9M).",
        "error": None,
        "failure_reason": None,
    },
    C: {
        "strategy": "react",
        "input_data": {"input": "Q1 revenue"},
        "answer": "Q1 revenue: $4.2M",
        "error": None,
        "failure_reason": None,
    },
    W: {
        "strategy": "react",
        "input_data": {"input": "Compare regions"},
        "answer": None,
        "error": None,
        "failure_reason": None,
        "cancel_requested": True,  # as the fixture stores it (RunDetail shows it since 0.4.1)
    },
    E: {
        "strategy": "react",
        "input_data": {"input": "Forecast Q2"},
        "answer": None,
        "error": "RateLimitError: 429 Too Many Requests",
        "failure_reason": "provider_error",
    },
    R: {
        "strategy": "react",
        "input_data": {"input": "Forecast Q2"},
        "answer": "Q2 looks flat.",
        "error": None,
        "failure_reason": None,
        "retry_of_run_id": E,  # RunDetail shows its retry lineage since issue 16
    },
}


def detail(run_id: str) -> RunDetail:
    summary = dataclasses.asdict(SUMMARIES[run_id])
    return RunDetail(**summary, **DETAIL_EXTRAS[run_id])


PENDING = [{"id": TC1, "name": "delegate_search", "params": {"query": "Q1 revenue"}}]
SUBMITTED = [{"call_id": TC1, "approved": True}]

EVENTS = {
    P: [
        StoredEvent(
            0,
            0,
            "run.started",
            None,
            {"agent_name": "research_agent", "model": "claude-sonnet-4"},
            ts("2026-03-20 09:15:02.200000"),
        ),
        StoredEvent(
            1,
            1,
            "llm.completed",
            L1,
            {"input_tokens": 820, "output_tokens": 96, "cost_usd": 0.0039},
            ts("2026-03-20 09:15:05.812000"),
        ),
        StoredEvent(
            2,
            1,
            "tool.completed",
            TC2,
            {"tool_name": "calculator", "success": False},
            ts("2026-03-20 09:15:05.900000"),
        ),
        StoredEvent(
            3,
            1,
            "run.paused",
            None,
            {"status": "waiting_approval", "pending_tool_calls": PENDING},
            ts("2026-03-20 09:15:06"),
        ),
        StoredEvent(
            4,
            1,
            "run.resumed",
            None,
            {"submitted_results": SUBMITTED, "user_input": "approved by ops"},
            ts("2026-03-20 09:15:29.004000"),
        ),
        StoredEvent(
            5,
            1,
            "tool.completed",
            TC1,
            {"tool_name": "delegate_search", "success": True, "duration_ms": 12050},
            ts("2026-03-20 09:15:42.100000"),
        ),
        StoredEvent(
            6,
            2,
            "llm.completed",
            L2,
            {"input_tokens": 1020, "output_tokens": 216, "cost_usd": 0.006336},
            ts("2026-03-20 09:16:39"),
        ),
        StoredEvent(
            7, 2, "run.completed", None, {"status": "success"}, ts("2026-03-20 09:16:40.654321")
        ),
    ],
    C: [
        StoredEvent(
            0,
            0,
            "run.started",
            None,
            {"agent_name": "search_agent", "parent_run_id": P},
            ts("2026-03-20 09:15:30"),
        ),
        StoredEvent(1, 1, "run.completed", None, {"status": "success"}, ts("2026-03-20 09:15:41")),
    ],
    W: [
        StoredEvent(
            0,
            0,
            "run.started",
            None,
            {"agent_name": "research_agent"},
            ts("2026-03-20 10:00:00.100000"),
        ),
        StoredEvent(
            1,
            1,
            "llm.completed",
            LW,
            {"input_tokens": 400, "output_tokens": 50},
            ts("2026-03-20 10:00:04"),
        ),
        StoredEvent(
            2,
            1,
            "run.paused",
            None,
            {"status": "waiting_human_input", "pending_tool_calls": [], "prompt": "Which regions?"},
            ts("2026-03-20 10:00:05.500000"),
        ),
    ],
    E: [
        StoredEvent(
            0, 0, "run.started", None, {"agent_name": "research_agent"}, ts("2026-03-20 10:30:00")
        ),
        StoredEvent(
            1,
            1,
            "run.error",
            None,
            {"error": "RateLimitError: 429 Too Many Requests"},
            ts("2026-03-20 10:30:07.250000"),
        ),
    ],
    R: [
        StoredEvent(
            0,
            0,
            "run.started",
            None,
            {"agent_name": "research_agent", "retry_of_run_id": E},
            ts("2026-03-20 10:30:00.500000"),
        ),
        StoredEvent(
            1, 1, "run.completed", None, {"status": "success"}, ts("2026-03-20 10:31:12.000100")
        ),
    ],
}

LLM_CALLS = {
    P: [
        LLMCall(
            iteration=1,
            provider="anthropic",
            model="claude-sonnet-4",
            input_tokens=820,
            output_tokens=96,
            total_tokens=916,
            cache_read_input_tokens=512,
            cache_creation_input_tokens=128,
            cost_usd=0.0039,
            duration_ms=3550,
            provider_request={
                "model": "claude-sonnet-4",
                "max_tokens": 1024,
                "messages": [{"role": "user", "content": "Summarise Q1 revenue for <<EMAIL_1>>"}],
            },
            provider_response={
                "id": "msg_01",
                "stop_reason": "tool_use",
                "usage": {"input_tokens": 820, "output_tokens": 96},
            },
            created_at=ts("2026-03-20 09:15:05.812000"),
            id=L1,
            reasoning_tokens=0,  # stored as 0 by the fixture: read as stored, as 0.4.1 does
        ),
        LLMCall(
            iteration=2,
            provider="anthropic",
            model="claude-sonnet-4",
            input_tokens=1020,
            output_tokens=216,
            total_tokens=1236,
            cache_read_input_tokens=None,
            cache_creation_input_tokens=None,
            cost_usd=0.006336,
            duration_ms=5200,
            provider_request={"model": "claude-sonnet-4", "max_tokens": 1024},
            provider_response={"id": "msg_02", "stop_reason": "end_turn"},
            created_at=ts("2026-03-20 09:16:39"),
            id=L2,
        ),
    ],
    W: [
        LLMCall(
            iteration=1,
            provider="anthropic",
            model="claude-sonnet-4",
            input_tokens=400,
            output_tokens=50,
            total_tokens=450,
            cache_read_input_tokens=0,
            cache_creation_input_tokens=0,
            cost_usd=0.00195,
            duration_ms=1500,
            provider_request={"model": "claude-sonnet-4"},
            provider_response={"id": "msg_03", "stop_reason": "end_turn"},
            created_at=ts("2026-03-20 10:00:04"),
            id=LW,
            reasoning_tokens=0,  # stored as 0 by the fixture: read as stored, as 0.4.1 does
        ),
    ],
}

TOOL_INVOCATIONS = {
    P: [  # by iteration, then time: the failed calculator came first
        ToolInvocation(
            iteration=1,
            tool_name="calculator",
            tool_call_id=TC2,
            provider_tool_call_id="toolu_04C5D6",
            target="server",
            params={"expression": "4.2/3.75 -"},
            result=None,
            success=False,
            error="SyntaxError: unexpected EOF",
            duration_ms=3,
            created_at=ts("2026-03-20 09:15:05.900000"),
        ),
        ToolInvocation(
            iteration=1,
            tool_name="delegate_search",
            tool_call_id=TC1,
            provider_tool_call_id="toolu_01A2B3",
            target="agent",
            params={"query": "Q1 revenue"},
            result={"child_run_id": C, "answer": "Q1 revenue: $4.2M"},
            success=True,
            error=None,
            duration_ms=12050,
            created_at=ts("2026-03-20 09:15:42.100000"),
        ),
    ],
}

TRACES = {
    P: [
        TraceEntry(
            "user",
            "Summarise Q1 revenue for <<EMAIL_1>>",
            0,
            None,
            ts("2026-03-20 09:15:02.210000"),
        ),
        TraceEntry(
            "assistant",
            "I will check the growth and ask the search agent.",
            1,
            {
                "tool_calls": [
                    {"id": TC2, "name": "calculator"},
                    {"id": TC1, "name": "delegate_search"},
                ]
            },
            ts("2026-03-20 09:15:05.815000"),
        ),
        TraceEntry(
            "tool",
            "SyntaxError: unexpected EOF",
            2,
            {"tool_call_id": TC2, "tool_name": "calculator"},
            ts("2026-03-20 09:15:05.900000"),
        ),
        TraceEntry(
            "tool",
            "Q1 revenue: $4.2M",
            3,
            {"tool_call_id": TC1, "tool_name": "delegate_search"},
            ts("2026-03-20 09:15:42"),
        ),
        TraceEntry(
            "assistant",
            "Revenue grew 12% to $4.2M (≈ €3.9M).",
            4,
            None,
            ts("2026-03-20 09:16:39.500000"),
        ),
    ],
}

PAUSES = {
    P: [
        PausePair(
            3,
            ts("2026-03-20 09:15:06"),
            4,
            ts("2026-03-20 09:15:29.004000"),
            "waiting_approval",
            PENDING,
            SUBMITTED,
            "approved by ops",
        )
    ],
    W: [
        PausePair(
            2, ts("2026-03-20 10:00:05.500000"), None, None, "waiting_human_input", [], [], None
        )
    ],
}

PII = {P: {"<<EMAIL_1>>": "ada@example.com"}}


# -- strict comparison ------------------------------------------------------------------


def mismatches(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Differences, with exact types (True is not 1, 1.0 is not 1) and aware-UTC datetimes."""
    if isinstance(expected, datetime):
        problems = []
        if not isinstance(actual, datetime):
            return [f"{path}: {actual!r} is not a datetime"]
        if actual.tzinfo is None or actual.utcoffset() != timedelta(0):
            problems.append(f"{path}: {actual!r} is not aware UTC")
        if actual != expected:
            problems.append(f"{path}: {actual!r} != {expected!r}")
        return problems
    if type(actual) is not type(expected):
        return [
            f"{path}: {type(actual).__name__} {actual!r} != {type(expected).__name__} {expected!r}"
        ]
    if dataclasses.is_dataclass(expected):
        return [
            problem
            for field in dataclasses.fields(expected)
            for problem in mismatches(
                getattr(actual, field.name), getattr(expected, field.name), f"{path}.{field.name}"
            )
        ]
    if isinstance(expected, dict):
        if set(actual) != set(expected):
            return [f"{path}: keys {sorted(actual)} != {sorted(expected)}"]
        return [p for k in expected for p in mismatches(actual[k], expected[k], f"{path}[{k!r}]")]
    if isinstance(expected, list):
        if len(actual) != len(expected):
            return [f"{path}: {len(actual)} items != {len(expected)}: {actual!r}"]
        return [
            p
            for i, (a, e) in enumerate(zip(actual, expected, strict=True))
            for p in mismatches(a, e, f"{path}[{i}]")
        ]
    return [] if actual == expected else [f"{path}: {actual!r} != {expected!r}"]


def assert_same(actual: Any, expected: Any, what: str) -> None:
    problems = mismatches(actual, expected, what)
    assert not problems, "\n".join(problems)


# -- the upstream database ---------------------------------------------------------------


def _sqlite_path(url: str) -> str:
    return url.split("///", 1)[1]


async def _load_fixture(dialect: str, url: str) -> None:
    script = (FIXTURES / f"upstream_{dialect}.sql").read_text(encoding="utf-8")
    if dialect == "sqlite":
        raw = sqlite3.connect(_sqlite_path(url))
        try:
            raw.executescript(script)
        finally:
            raw.close()
        return
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(script)
    finally:
        await conn.close()


async def snapshot(dialect: str, url: str) -> dict[str, Any]:
    """Every schema object and every row, to prove nothing was migrated or altered."""
    if dialect == "sqlite":
        raw = sqlite3.connect(_sqlite_path(url))
        try:
            objects = raw.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
            ).fetchall()
            tables = [name for kind, name, _, _ in objects if kind == "table"]
            # Sorted by value: WITHOUT ROWID tables have no rowid, and VACUUM may renumber.
            rows = {
                t: sorted(raw.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables
            }
            return {
                "tables": tables,
                "objects": objects,
                "rows": rows,
                "user_version": raw.execute("PRAGMA user_version").fetchone(),
            }
        finally:
            raw.close()
    conn = await asyncpg.connect(url)
    try:
        tables = [
            r["name"]
            for r in await conn.fetch(
                "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
            )
        ]
        columns = [
            tuple(r)
            for r in await conn.fetch(
                "SELECT table_schema, table_name, column_name, data_type, is_nullable, "
                "column_default, ordinal_position FROM information_schema.columns "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 7"
            )
        ]
        indexes = [
            tuple(r)
            for r in await conn.fetch(
                "SELECT schemaname, indexname, indexdef FROM pg_indexes "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
            )
        ]
        triggers = [
            tuple(r)
            for r in await conn.fetch(
                "SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
                "WHERE NOT tgisinternal ORDER BY 1, 2"
            )
        ]
        functions = [
            tuple(r)
            for r in await conn.fetch(
                "SELECT n.nspname, p.proname FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
            )
        ]
        schemas = [r[0] for r in await conn.fetch("SELECT nspname FROM pg_namespace ORDER BY 1")]
        rows = {}
        for name in tables:
            schema, table = name.split(".", 1)
            rows[name] = [
                r[0]
                for r in await conn.fetch(f'SELECT t::text FROM "{schema}"."{table}" t ORDER BY 1')
            ]
        return {
            "tables": tables,
            "columns": columns,
            "indexes": indexes,
            "triggers": triggers,
            "functions": functions,
            "schemas": schemas,
            "rows": rows,
        }
    finally:
        await conn.close()


def _table_names(snap: dict[str, Any]) -> set[str]:
    return {name.rsplit(".", 1)[-1] for name in snap["tables"]}


@pytest.fixture
async def upstream_url(dialect: str, raw_database_url: str) -> str:
    await _load_fixture(dialect, raw_database_url)
    return raw_database_url


@pytest.fixture
async def pristine(dialect: str, upstream_url: str) -> dict[str, Any]:
    """The snapshot of the freshly loaded upstream database."""
    snap = await snapshot(dialect, upstream_url)
    assert _table_names(snap) == {
        "alembic_version",
        "agent_runs",
        "react_traces",
        "tool_calls",
        "token_usage",
        "llm_interactions",
        "run_events",
        "run_inbox",  # 0.4.0's notes inbox
    }
    return snap


async def assert_untouched(dialect: str, url: str, before: dict[str, Any]) -> None:
    after = await snapshot(dialect, url)
    assert "dendrux_schema_version" not in _table_names(after)
    assert after["tables"] == before["tables"]
    assert after == before, "the upstream database was altered"


# -- reads --------------------------------------------------------------------------------


async def test_reads_every_record_type(
    dialect: str, upstream_url: str, pristine: dict[str, Any]
) -> None:
    async with RunStore.from_database_url(upstream_url) as store:
        assert_same(await store.list_runs(), [SUMMARIES[r] for r in ALL_NEWEST_FIRST], "list_runs")
        assert await store.count_runs() == 5

        for run_id in ALL_NEWEST_FIRST:
            got = await store.get_run(run_id)
            assert_same(got, detail(run_id), f"get_run({run_id})")
            assert "SECRET-PAUSE-STATE" not in repr(got)  # pause_data is never exposed
        assert await store.get_run("no-such-run") is None

        for run_id in ALL_NEWEST_FIRST:
            assert_same(await store.get_events(run_id), EVENTS[run_id], f"get_events({run_id})")
            assert_same(
                await store.get_llm_calls(run_id),
                LLM_CALLS.get(run_id, []),
                f"get_llm_calls({run_id})",
            )
            assert_same(
                await store.get_tool_invocations(run_id),
                TOOL_INVOCATIONS.get(run_id, []),
                f"get_tool_invocations({run_id})",
            )
            assert_same(
                await store.get_traces(run_id), TRACES.get(run_id, []), f"get_traces({run_id})"
            )
            assert_same(
                await store.get_pauses(run_id), PAUSES.get(run_id, []), f"get_pauses({run_id})"
            )
            assert_same(
                await store.get_pii_mapping(run_id),
                PII.get(run_id, {}),
                f"get_pii_mapping({run_id})",
            )

        # Cursors, pages and per-iteration reads.
        assert_same(await store.get_events(P, after_sequence_index=4), EVENTS[P][5:], "after 4")
        assert_same(await store.get_events(P, after_sequence_index=-1), EVENTS[P], "after -1")
        assert_same(await store.get_events(P, after_sequence_index=7), [], "after 7")
        assert_same(
            await store.get_events(P, after_sequence_index=1, limit=2),
            EVENTS[P][2:4],
            "after 1, limit 2",
        )
        assert_same(await store.get_llm_calls(P, iteration=2), LLM_CALLS[P][1:], "iteration 2")
        assert_same(await store.get_llm_calls(P, limit=1), LLM_CALLS[P][:1], "llm limit 1")
        assert_same(await store.get_llm_calls(P, offset=1), LLM_CALLS[P][1:], "llm offset 1")
        assert_same(await store.get_tool_invocations(P, iteration=1), TOOL_INVOCATIONS[P], "it 1")
        assert_same(await store.get_tool_invocations(P, iteration=2), [], "tools iteration 2")
        assert_same(await store.get_traces(P, limit=2, offset=2), TRACES[P][2:4], "traces page")
        assert await store.get_events("no-such-run") == []
        assert await store.get_pii_mapping("no-such-run") == {}
        assert await store.get_pauses("no-such-run") == []

        # A live reader also works: the stored events arrive in order, once.
        streamed: list[StoredEvent] = []
        stream = store.stream_events(P, after_sequence_index=2, poll_interval_s=0.05)
        try:
            async with asyncio.timeout(10):
                async for event in stream:
                    streamed.append(event)
                    if len(streamed) == 5:
                        break
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        assert_same(streamed, EVENTS[P][3:], "stream_events")

    await assert_untouched(dialect, upstream_url, pristine)


UTC_PLUS_2 = timezone(timedelta(hours=2))
UTC_MINUS_5 = timezone(timedelta(hours=-5))

FILTER_CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({}, ALL_NEWEST_FIRST),
    ({"status": "success"}, [R, C, P]),
    ({"status": ["error", "waiting_human_input"]}, [E, W]),
    ({"status": []}, []),
    ({"status": "cancelled"}, []),
    ({"agent_name": "research_agent"}, [E, R, W, P]),
    ({"agent_name": "search_agent"}, [C]),
    ({"tenant_id": "acme"}, [C, P]),
    ({"tenant_id": "globex"}, [W]),
    ({"tenant_id": "initech"}, []),
    ({"parent_run_id": P}, [C]),
    ({"parent_run_id": C}, []),
    ({"metadata_filter": {"thread_id": "th-42"}}, [C, P]),
    ({"metadata_filter": {"thread_id": "th-42", "user-id": "u-7"}}, [P]),
    ({"metadata_filter": {"thread_id": "th-99"}}, [W]),
    ({"metadata_filter": {"priority": 2}}, [P]),
    ({"metadata_filter": {"priority": 2.0}}, [P]),
    ({"metadata_filter": {"priority": "2"}}, []),
    ({"metadata_filter": {"retry": True}}, [R]),
    ({"metadata_filter": {"retry": 1}}, []),
    ({"metadata_filter": {"thread_id": None}}, []),
    # Aware bounds that fall between the stored naive timestamps.
    ({"started_after": datetime(2026, 3, 20, 9, 15, 10, tzinfo=UTC)}, [E, R, W, C]),
    ({"started_after": datetime(2026, 3, 20, 11, 15, 10, tzinfo=UTC_PLUS_2)}, [E, R, W, C]),
    ({"started_before": datetime(2026, 3, 20, 10, 0, 0, 500000, tzinfo=UTC)}, [W, C, P]),
    (
        {
            "started_after": datetime(2026, 3, 20, 9, 15, 10, tzinfo=UTC),
            "started_before": datetime(2026, 3, 20, 10, 0, 0, 500000, tzinfo=UTC),
        },
        [W, C],
    ),
    ({"started_after": datetime(2026, 3, 20, 10, 29, 59, 999999, tzinfo=UTC)}, [E, R]),
    ({"started_before": datetime(2026, 3, 20, 5, 30, 0, 1, tzinfo=UTC_MINUS_5)}, ALL_NEWEST_FIRST),
    ({"started_after": datetime(2026, 3, 20, 9, 15, 2, 123457, tzinfo=UTC)}, [E, R, W, C]),
    ({"started_after": datetime(2026, 3, 20, 9, 15, 2, 123456, tzinfo=UTC)}, ALL_NEWEST_FIRST),
    ({"started_before": datetime(2026, 3, 20, 9, 15, 2, 123456, tzinfo=UTC)}, []),
    ({"started_before": datetime(2026, 3, 20, 9, 15, 29, 999999, tzinfo=UTC)}, [P]),
    ({"started_after": datetime(2026, 3, 21, tzinfo=UTC)}, []),
    # Filters AND together.
    ({"status": "success", "tenant_id": "acme", "metadata_filter": {"thread_id": "th-42"}}, [C, P]),
    (
        {
            "agent_name": "research_agent",
            "status": "success",
            "started_after": datetime(2026, 3, 20, 9, 15, 10, tzinfo=UTC),
        },
        [R],
    ),
    ({"tenant_id": "acme", "parent_run_id": P, "metadata_filter": {"thread_id": "th-99"}}, []),
]


async def test_list_and_count_filters(
    dialect: str, upstream_url: str, pristine: dict[str, Any]
) -> None:
    failures = []
    async with RunStore.from_database_url(upstream_url) as store:
        for filters, expected in FILTER_CASES:
            got = [s.run_id for s in await store.list_runs(**filters)]
            count = await store.count_runs(**filters)
            if got != expected or count != len(expected):
                failures.append(f"{filters!r}: got {got} (count {count}), want {expected}")
        # Paging walks the same order.
        for limit, offset in [(2, 0), (2, 1), (2, 3), (2, 4), (1, 5), (1000, 0)]:
            got = [s.run_id for s in await store.list_runs(limit=limit, offset=offset)]
            if got != ALL_NEWEST_FIRST[offset : offset + limit]:
                failures.append(f"limit={limit} offset={offset}: got {got}")
    assert not failures, "\n".join(failures)
    await assert_untouched(dialect, upstream_url, pristine)


BOUNDARY_CASES: list[tuple[dict[str, Any], list[str]]] = [
    # Bounds exactly on a stored whole-second timestamp ('... 10:00:00', no fraction):
    # started_after is inclusive (>=), started_before exclusive (<), as on PostgreSQL.
    ({"started_after": datetime(2026, 3, 20, 10, 0, 0, tzinfo=UTC)}, [E, R, W]),
    ({"started_before": datetime(2026, 3, 20, 10, 0, 0, tzinfo=UTC)}, [C, P]),
    ({"started_after": datetime(2026, 3, 20, 10, 30, 0, tzinfo=UTC)}, [E, R]),
    ({"started_before": datetime(2026, 3, 20, 10, 30, 0, tzinfo=UTC)}, [W, C, P]),
    (
        {
            "started_after": datetime(2026, 3, 20, 9, 15, 30, tzinfo=UTC),
            "started_before": datetime(2026, 3, 20, 10, 0, 0, tzinfo=UTC),
        },
        [C],
    ),
    ({"started_after": datetime(2026, 3, 20, 12, 0, 0, tzinfo=UTC_PLUS_2)}, [E, R, W]),
]


async def test_time_bounds_on_whole_second_timestamps(
    dialect: str, upstream_url: str, pristine: dict[str, Any]
) -> None:
    failures = []
    async with RunStore.from_database_url(upstream_url) as store:
        for filters, expected in BOUNDARY_CASES:
            got = [s.run_id for s in await store.list_runs(**filters)]
            count = await store.count_runs(**filters)
            if got != expected or count != len(expected):
                failures.append(f"{filters!r}: got {got} (count {count}), want {expected}")
    assert not failures, "\n".join(failures)
    await assert_untouched(dialect, upstream_url, pristine)


async def test_upgrade_refuses_the_upstream_schema(
    dialect: str, upstream_url: str, pristine: dict[str, Any]
) -> None:
    with pytest.raises(SchemaError, match=r"dendrux 0\.4\.1") as raised:
        await dendrux.db.upgrade(upstream_url)
    assert "--adopt-upstream" in str(raised.value)
    await assert_untouched(dialect, upstream_url, pristine)
    # And it stays readable.
    async with RunStore.from_database_url(upstream_url) as store:
        assert await store.count_runs() == 5
    await assert_untouched(dialect, upstream_url, pristine)


def test_fixtures_hold_the_same_data() -> None:
    """The two hand-written fixtures differ only where the dialects must."""
    sqlite_sql = (FIXTURES / "upstream_sqlite.sql").read_text(encoding="utf-8")
    pg_sql = (FIXTURES / "upstream_postgres.sql").read_text(encoding="utf-8")
    for run_id in (P, C, W, E, R, TC1, TC2, L1, L2, LW):
        assert sqlite_sql.count(run_id) == pg_sql.count(run_id), run_id
    pg_code = "\n".join(line for line in pg_sql.splitlines() if not line.startswith("--"))
    assert "JSONB" not in pg_code.upper()
    assert " JSON," in pg_code
    assert "TIMESTAMP WITH TIME ZONE" in pg_code
    for sql in (sqlite_sql, pg_sql):
        assert "CREATE TABLE dendrux_schema_version" not in sql
        assert "CREATE TABLE alembic_version" in sql
