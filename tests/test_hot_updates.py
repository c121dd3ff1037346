"""Progress stamps without index churn (issue 18, migration 0005).

Every recorder hook that moves a run forward stamps ``agent_runs.last_progress_at``.
While that column sat in an index, no stamp could be a HOT update on PostgreSQL: each
one wrote a new entry into every index of the table (the GIN on ``meta`` included).
Checked here: the stamps of a recorded run are HOT on PostgreSQL; migration 0005
applies to a populated database on both dialects; and the sweep, which used that
index, finds stale runs through the status index instead (its plans over a large
table read no more than the live runs) and still sweeps exactly the stale ones.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from test_metadata_page_order import undo_0006
from test_toast_compression import undo_0007_postgres

from dendrux.db import upgrade
from dendrux.db.queries import load_migrations, load_queries
from dendrux.db.sqlite.dialect import sqlite_timestamp
from dendrux.recorder import EventSequencer, PersistenceRecorder
from dendrux.state import StateStore
from dendrux.types import LLMResponse, Message, Role, ToolCall, ToolResult, UsageStats

HOOKS = 12  # LLM calls and tool results: each stamps progress once
PROGRESS_INDEX = "ix_agent_runs_status_progress"


def _pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _sqlite_path(url: str) -> str:
    return url.split("///", 1)[1]


async def _record(store: StateStore, run_id: str) -> None:
    """A run of ``HOOKS`` LLM calls and ``HOOKS`` tool results, then its finalize."""
    await store.create_run(run_id, "agent", meta={"thread_id": "t1", "user_id": "u1"})
    recorder = PersistenceRecorder(store, run_id, event_sequencer=EventSequencer(0))
    for i in range(HOOKS):
        call = ToolCall(name="lookup", params={"q": i}, id=f"c{i}")
        response = LLMResponse(text=None, tool_calls=[call], usage=UsageStats(10, 5))
        await recorder.on_llm_call_completed(response, i, semantic_messages=[])
        await recorder.on_message_appended(Message(Role.ASSISTANT, "", tool_calls=[call]), i)
        await recorder.on_tool_completed(call, ToolResult("lookup", f"c{i}", '{"ok": 1}'), i)
    assert await store.finalize_run(run_id, status="success", expected_current_status="running")


async def _table_updates(dsn: str, expected: int) -> tuple[int, int]:
    """(n_tup_upd, n_tup_hot_upd) of agent_runs once ``expected`` updates are counted:
    a backend reports its counters when it exits (the engine was disposed) or idles."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + 15
        while True:
            row = await conn.fetchrow(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                "WHERE relname = 'agent_runs'"
            )
            assert row is not None
            if row["n_tup_upd"] >= expected or time.monotonic() > deadline:
                return int(row["n_tup_upd"]), int(row["n_tup_hot_upd"])
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


@pytest.mark.parametrize("dialect", ["postgres"])  # HOT is PostgreSQL's; SQLite: the plan tests
async def test_progress_stamps_are_hot_updates(database_url: str, dialect: str) -> None:
    """Nine in ten updates of a recorded run's row are HOT (before 0005: none were)."""
    runs = 4
    store = StateStore.from_database_url(database_url)
    try:
        await asyncio.gather(*(_record(store, f"run{n}") for n in range(runs)))
    finally:
        await store.close()  # its backends exit and report their counters
    # Per run: a stamp per LLM call and per tool result, and the finalize.
    expected = runs * (2 * HOOKS + 1)
    updates, hot = await _table_updates(_pg_dsn(database_url), expected)
    assert updates == expected
    assert hot / updates >= 0.9, (hot, updates)


async def _index_names(url: str, dialect: str) -> set[str]:
    if dialect == "sqlite":
        with sqlite3.connect(_sqlite_path(url)) as raw:
            return {
                r[0]
                for r in raw.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' "
                    "AND tbl_name = 'agent_runs'"
                )
            }
    import asyncpg

    conn = await asyncpg.connect(_pg_dsn(url))
    try:
        rows = await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'agent_runs'")
        return {r["indexname"] for r in rows}
    finally:
        await conn.close()


async def _pg_reloptions(url: str) -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(_pg_dsn(url))
    try:
        options = await conn.fetchval(
            "SELECT reloptions FROM pg_class WHERE relname = 'agent_runs'"
        )
        return list(options or [])
    finally:
        await conn.close()


async def _back_to_version_4(url: str, dialect: str) -> None:
    """What a database at schema version 4 looks like: the progress index, no fillfactor
    (and, on SQLite, none of 0006; on PostgreSQL, none of 0007)."""
    index = f"CREATE INDEX {PROGRESS_INDEX} ON agent_runs (status, last_progress_at)"
    forget = "DELETE FROM dendrux_schema_version WHERE version >= 5"
    if dialect == "sqlite":
        with sqlite3.connect(_sqlite_path(url)) as raw:
            raw.executescript(f"{undo_0006()}; {index}; {forget};")
        return
    import asyncpg

    conn = await asyncpg.connect(_pg_dsn(url))
    try:
        for statement in undo_0007_postgres():
            await conn.execute(statement)
        await conn.execute(index)
        await conn.execute("ALTER TABLE agent_runs RESET (fillfactor)")
        await conn.execute(forget)
    finally:
        await conn.close()


async def test_migration_0005_applies_to_a_populated_database(
    database_url: str, dialect: str
) -> None:
    """A version-4 database with runs in it loses the index (and gets its fillfactor), its
    rows untouched, and its stale runs are still swept."""
    assert [m.name for m in load_migrations(dialect)][4] == "hot_progress"
    async with StateStore.from_database_url(database_url) as store:
        await _record(store, "done")
        await store.create_run("stuck", "agent")
    await _back_to_version_4(database_url, dialect)
    assert PROGRESS_INDEX in await _index_names(database_url, dialect)

    await upgrade(database_url)

    assert PROGRESS_INDEX not in await _index_names(database_url, dialect)
    if dialect == "postgres":
        assert "fillfactor=90" in await _pg_reloptions(database_url)
    async with StateStore.from_database_url(database_url) as store:
        done = await store.get_run("done")
        assert done is not None and done.status == "success"
        assert len(await store.get_run_events("done")) == 2 * HOOKS
        await asyncio.sleep(0.05)
        swept = await store.sweep_stale_runs(older_than=timedelta(milliseconds=20))
        assert [s.run_id for s in swept] == ["stuck"]
        stuck = await store.get_run("stuck")
        assert stuck is not None and stuck.status == "error"


# -- the sweep over a large table: the status index, never the whole table ----------------

LARGE = 20_000
LIVE_EVERY = 400  # one run in 400 is still running (50 of 20,000)


def _large_rows(now: datetime) -> list[tuple[Any, ...]]:
    """(id, status, created_at, updated_at, last_progress_at): finished runs, and a few
    running ones, of which every other one went quiet an hour ago."""
    rows = []
    for n in range(LARGE):
        created = now - timedelta(days=30) + timedelta(seconds=100 * n)
        live = n % LIVE_EVERY == 0
        quiet = live and (n // LIVE_EVERY) % 2 == 0
        progress = now - timedelta(hours=1) if quiet else now
        rows.append((f"r{n:06d}", "running" if live else "success", created, created, progress))
    return rows


async def _load_large(url: str, dialect: str, now: datetime) -> None:
    insert = (
        "INSERT INTO agent_runs (id, agent_name, status, created_at, updated_at, "
        "last_progress_at) VALUES ({})"
    )
    if dialect == "sqlite":
        with sqlite3.connect(_sqlite_path(url)) as raw:
            raw.executemany(
                insert.format("?, 'agent', ?, ?, ?, ?"),
                [(i, s, *(sqlite_timestamp(t) for t in ts)) for i, s, *ts in _large_rows(now)],
            )
            raw.execute("ANALYZE")
        return
    import asyncpg

    conn = await asyncpg.connect(_pg_dsn(url))
    try:
        await conn.executemany(insert.format("$1, 'agent', $2, $3, $4, $5"), _large_rows(now))
        await conn.execute("VACUUM ANALYZE agent_runs")
    finally:
        await conn.close()


async def _pg_plan(url: str, name: str, types: str, args: str, *, generic: bool) -> list[str]:
    """EXPLAIN ANALYZE of the named query, as a prepared statement (``generic``: the plan
    a reused prepared statement settles on, parameters unknown)."""
    import asyncpg

    sql = load_queries("postgres")[name].strip().rstrip(";")
    conn = await asyncpg.connect(_pg_dsn(url))
    try:
        mode = "force_generic_plan" if generic else "force_custom_plan"
        await conn.execute(f"SET plan_cache_mode = {mode}")
        await conn.execute(f"PREPARE q ({types}) AS {sql}")
        tx = conn.transaction()
        await tx.start()
        try:
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) EXECUTE q({args})")
        finally:
            await tx.rollback()  # the UPDATE's effect undone
        return [r[0] for r in rows]
    finally:
        await conn.close()


def _rows_read(plan: list[str]) -> int:
    """The most rows any node of an EXPLAIN ANALYZE plan produced or filtered out."""
    import re

    seen = [0]
    for line in plan:
        seen += [int(n) for n in re.findall(r"(?:rows=|Rows Removed by Filter: )(\d+)", line)]
    return max(seen)


@pytest.mark.parametrize(
    ("dialect", "generic"),
    [("sqlite", False), ("postgres", False), ("postgres", True)],
    ids=["sqlite", "postgres-custom", "postgres-generic"],  # SQLite always knows its parameters
)
async def test_stale_candidates_seek_the_status_index(
    database_url: str, dialect: str, generic: bool
) -> None:
    """Over 20,000 runs of which 50 are live, the candidate queries and the CAS update read
    the live runs through an index (SQLite, before its queries named their index: every
    run, in created_at order); then the sweep takes exactly the quiet ones."""
    now = datetime.now(UTC)
    await _load_large(database_url, dialect, now)
    cutoff = now - timedelta(minutes=5)
    if dialect == "sqlite":
        with sqlite3.connect(_sqlite_path(database_url)) as raw:
            queries = load_queries("sqlite")
            for name, args in (
                ("stale_run_candidates", [sqlite_timestamp(cutoff)]),
                ("abandoned_run_candidates", [sqlite_timestamp(cutoff)]),
                ("sweep_stale_run", ["r000000", "running", "x", "x", "x", "x"]),
            ):
                plan = [r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + queries[name], args)]
                assert not any(p.startswith("SCAN r") or p == "SCAN agent_runs" for p in plan), (
                    name,
                    plan,
                )
                assert any("USING INDEX" in p or "PRIMARY KEY" in p for p in plan), (name, plan)
    else:
        candidates = await _pg_plan(
            database_url,
            "stale_run_candidates",
            "timestamptz",
            f"'{cutoff.isoformat()}'",
            generic=generic,
        )
        assert not any("Seq Scan on agent_runs" in line for line in candidates), candidates
        assert any("ix_agent_runs_status" in line for line in candidates), candidates
        # The live runs and no more: never the 20,000 finished ones.
        assert _rows_read(candidates) <= 2 * LARGE // LIVE_EVERY, candidates
        waiting = await _pg_plan(
            database_url,
            "abandoned_run_candidates",
            "timestamptz",
            f"'{cutoff.isoformat()}'",
            generic=generic,
        )
        assert not any("Seq Scan on agent_runs" in line for line in waiting), waiting
        assert _rows_read(waiting) <= 2 * LARGE // LIVE_EVERY, waiting
        sweep = await _pg_plan(
            database_url,
            "sweep_stale_run",
            "text, text, text, text, timestamptz, timestamptz",
            f"'r000000', 'running', 'x', 'x', '{now.isoformat()}', '{cutoff.isoformat()}'",
            generic=generic,
        )
        assert not any("Seq Scan on agent_runs" in line for line in sweep), sweep
        assert any("agent_runs_pkey" in line for line in sweep), sweep

    async with StateStore.from_database_url(database_url) as store:
        swept = await store.sweep_stale_runs(older_than=timedelta(minutes=5))
    quiet = [f"r{n:06d}" for n in range(0, LARGE, 2 * LIVE_EVERY)]
    assert sorted(s.run_id for s in swept) == quiet
    assert {s.failure_reason for s in swept} == {"never_started"}
