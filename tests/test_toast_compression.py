"""Migration 0007: the big payload columns ask PostgreSQL for lz4 (issue 18).

The recorder's LLM-call row carries kilobytes of JSON; PostgreSQL compresses values
that large when it stores them, and its default method (pglz) was about a third of
that statement's execution. 0007 sets lz4 on the payload columns where the server
has it (14+, built with lz4; the suite's PostgreSQL does, and under CI=true one that
does not fails these tests). Checked here: the catalog after upgrade, a recorded call
stored lz4-compressed and read back equal, the engine's ``schema`` option, a populated
database (old values keep their compression) and SQLite's empty twin.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
from conftest import _unavailable
from dbcheck import empty_postgres_database

from dendrux.db import create_engine, upgrade
from dendrux.db.queries import load_migrations
from dendrux.recorder import EventSequencer, PersistenceRecorder
from dendrux.state import StateStore
from dendrux.store import RunStore
from dendrux.types import LLMResponse, ToolCall, ToolResult, UsageStats

LZ4_COLUMNS: dict[str, tuple[str, ...]] = {
    "llm_interactions": (
        "semantic_request",
        "semantic_response",
        "provider_request",
        "provider_response",
        "guardrail_findings",
    ),
    "tool_calls": ("params", "result"),
    "react_traces": ("content",),
    "run_events": ("data",),
    "agent_runs": ("input_data", "output_data", "pause_data"),
}

COMPRESSION_SQL = (
    "SELECT c.relname, a.attname, a.attcompression::text AS method "
    "FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid "
    "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
    "WHERE n.nspname = $1 AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped "
    "AND c.relname = ANY($2::text[])"
)


def undo_0007_postgres() -> list[str]:
    """Statements taking a PostgreSQL database back to what version 6 left: the server's
    default compression on every column 0007 touched, and no version-7 row."""
    statements = [
        f"ALTER TABLE {table} "
        + ", ".join(f"ALTER COLUMN {column} SET COMPRESSION default" for column in columns)
        for table, columns in LZ4_COLUMNS.items()
    ]
    return [*statements, "DELETE FROM dendrux_schema_version WHERE version >= 7"]


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _require_lz4(conn: asyncpg.Connection) -> None:
    """Skip (fail under CI=true) on a server where 0007 rightly does nothing."""
    version = int(await conn.fetchval("SHOW server_version_num"))
    methods = await conn.fetchval(
        "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    if version < 140000 or "lz4" not in (methods or []):
        _unavailable(f"PostgreSQL {version} without lz4: migration 0007 leaves pglz")


async def _methods(conn: asyncpg.Connection, schema: str = "public") -> dict[tuple[str, str], str]:
    """(table, column) -> attcompression ('l' lz4, 'p' pglz, '' the server default)."""
    rows = await conn.fetch(COMPRESSION_SQL, schema, list(LZ4_COLUMNS))
    return {(r["relname"], r["attname"]): r["method"] for r in rows}


def _expected(methods: dict[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    """lz4 on the listed columns, every other column left as the server default."""
    listed = {(t, c) for t, cols in LZ4_COLUMNS.items() for c in cols}
    return {key: "l" if key in listed else "" for key in methods}


def _big_payload(tag: str) -> dict[str, Any]:
    """Well over 8 KB of JSON, repetitive like a real conversation (so it compresses)."""
    turns = [
        {"role": "user" if n % 2 else "assistant", "content": f"{tag} step {n}: " + "lorem " * 30}
        for n in range(40)
    ]
    return {"model": "m-large", "messages": turns, "temperature": 0.2, "tag": tag}


async def _record_big_call(store: StateStore, run_id: str) -> tuple[dict[str, Any], ...]:
    """One run with big input, a big LLM call and big tool params; returns the call's payloads."""
    request, response = _big_payload(f"{run_id}-req"), _big_payload(f"{run_id}-resp")
    assert len(json.dumps(request)) > 8192
    await store.create_run(run_id, "agent", input_data=_big_payload(f"{run_id}-in"))
    recorder = PersistenceRecorder(store, run_id, event_sequencer=EventSequencer(0))
    call = ToolCall(name="lookup", params=_big_payload(f"{run_id}-params"), id="c1")
    llm = LLMResponse(
        text="ok",
        tool_calls=[call],
        usage=UsageStats(10, 5),
        provider_request=request,
        provider_response=response,
    )
    await recorder.on_llm_call_completed(llm, 1, semantic_messages=[])
    await recorder.on_tool_completed(call, ToolResult("lookup", "c1", "ok"), 1)
    return request, response


async def _stored_methods(conn: asyncpg.Connection, run_id: str) -> dict[str, str | None]:
    """pg_column_compression of the run's big values, as stored."""
    row = await conn.fetchrow(
        "SELECT pg_column_compression(i.provider_request) AS provider_request, "
        "pg_column_compression(i.provider_response) AS provider_response, "
        "pg_column_compression(r.input_data) AS input_data, "
        "(SELECT pg_column_compression(t.params) FROM tool_calls AS t "
        " WHERE t.agent_run_id = r.id) AS params "
        "FROM llm_interactions AS i JOIN agent_runs AS r ON r.id = i.agent_run_id "
        "WHERE r.id = $1",
        run_id,
    )
    assert row is not None
    return dict(row)


async def _reads_back(url: str, run_id: str, payloads: tuple[dict[str, Any], ...]) -> None:
    async with RunStore.from_database_url(url) as store:
        (call,) = await store.get_llm_calls(run_id)
        run = await store.get_run(run_id)
    assert (call.provider_request, call.provider_response) == payloads
    assert run is not None and run.input_data == _big_payload(f"{run_id}-in")


async def test_payload_columns_ask_for_lz4(postgres_url: str) -> None:
    conn = await asyncpg.connect(_dsn(postgres_url))
    try:
        await _require_lz4(conn)
        methods = await _methods(conn)
    finally:
        await conn.close()
    assert len(methods) > sum(map(len, LZ4_COLUMNS.values()))  # the other columns too
    assert methods == _expected(methods)


async def test_a_big_llm_call_is_stored_lz4_and_reads_back(postgres_url: str) -> None:
    async with StateStore.from_database_url(postgres_url) as store:
        payloads = await _record_big_call(store, "big")
    conn = await asyncpg.connect(_dsn(postgres_url))
    try:
        await _require_lz4(conn)
        stored = await _stored_methods(conn, "big")
    finally:
        await conn.close()
    assert set(stored.values()) == {"lz4"}, stored
    await _reads_back(postgres_url, "big", payloads)


async def test_the_schema_option(pg_server: Any) -> None:
    """With ``schema=``, 0007 alters the tables in that namespace (search_path pinned)."""
    dsn = await empty_postgres_database(pg_server, "lz4_schema")
    engine = create_engine(dsn, schema="Audit_Trail")
    try:
        assert await upgrade(engine) == [1, 2, 3, 4, 5, 6, 7]
    finally:
        await engine.dispose()
    async with StateStore.from_database_url(dsn, schema="Audit_Trail") as store:
        payloads = await _record_big_call(store, "scoped")
    conn = await asyncpg.connect(dsn)
    try:
        await _require_lz4(conn)
        methods = await _methods(conn, "Audit_Trail")
        assert methods and methods == _expected(methods)
        await conn.execute('SET search_path TO "Audit_Trail"')
        assert set((await _stored_methods(conn, "scoped")).values()) == {"lz4"}
    finally:
        await conn.close()
    async with RunStore.from_database_url(dsn, schema="Audit_Trail") as reader:
        (call,) = await reader.get_llm_calls("scoped")
    assert (call.provider_request, call.provider_response) == payloads


async def test_0007_on_a_populated_database(postgres_url: str) -> None:
    """A database at version 6 with a big call in it: after 0007 that value stays pglz
    (nothing is rewritten) and reads back equal; values written afterwards are lz4."""
    dsn = _dsn(postgres_url)
    *back_to_6, forget_7 = undo_0007_postgres()
    conn = await asyncpg.connect(dsn)
    try:
        await _require_lz4(conn)
        for statement in back_to_6:
            await conn.execute(statement)
        assert set((await _methods(conn)).values()) == {""}
        # Values written before 0007 get the database's default: pin it to pglz here.
        name = await conn.fetchval("SELECT quote_ident(current_database())")
        await conn.execute(f"ALTER DATABASE {name} SET default_toast_compression = pglz")
    finally:
        await conn.close()
    async with StateStore.from_database_url(postgres_url) as store:
        old = await _record_big_call(store, "old")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(forget_7)  # the writes above needed the newest version recorded
    finally:
        await conn.close()
    assert await upgrade(postgres_url) == [7]
    async with StateStore.from_database_url(postgres_url) as store:
        new = await _record_big_call(store, "new")
    conn = await asyncpg.connect(dsn)
    try:
        assert set((await _methods(conn)).values()) == {"l", ""}
        assert set((await _stored_methods(conn, "old")).values()) == {"pglz"}
        assert set((await _stored_methods(conn, "new")).values()) == {"lz4"}
    finally:
        await conn.close()
    await _reads_back(postgres_url, "old", old)
    await _reads_back(postgres_url, "new", new)


async def test_sqlite_0007_is_empty(tmp_path: Path) -> None:
    """SQLite's 0007 is a commented file: version 7 recorded, the schema as 6 left it."""
    path = str(tmp_path / "seven.db")
    sqlite_url = f"sqlite+aiosqlite:///{path}"
    before_7 = load_migrations("sqlite")[:6]
    assert await upgrade(sqlite_url) == [1, 2, 3, 4, 5, 6, 7]
    with sqlite3.connect(path) as raw:
        schema = raw.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        versions = raw.execute("SELECT version FROM dendrux_schema_version").fetchall()
    raw.close()
    assert [v for (v,) in versions] == [m.version for m in before_7] + [7]
    fresh = path + ".six"
    with sqlite3.connect(fresh) as raw:
        for migration in before_7:
            raw.executescript(migration.sql)
        raw.execute("CREATE TABLE dendrux_schema_version (x)")  # listed by name only
        six = raw.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    raw.close()
    assert [r for r in schema if r[1] != "dendrux_schema_version"] == [
        r for r in six if r[1] != "dendrux_schema_version"
    ]
