"""Write units (`dendrux.db.writes`): SQLite's group commit and PostgreSQL's
one-statement hooks keep the meaning of a unit exactly.

Group membership on SQLite is made deterministic by holding the writer in a
transaction while units queue up behind it: when it commits, the queued units
run as one group. Statements are observed with SQLite's own trace callback
and, on PostgreSQL, through the server (transaction ids handed out).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import pytest
from dbcheck import fetch_rows

from dendrux.db import create_engine
from dendrux.db.engine import Engine
from dendrux.db.queries import load_queries
from dendrux.db.sqlite import SqliteEngine, in_connection_thread
from dendrux.db.writes import Write, WriteUnit
from dendrux.errors import DatabaseError, SlotTakenError, StoreClosedError
from dendrux.recorder import EventSequencer, PersistenceRecorder
from dendrux.state import StateStore, rows, runs
from dendrux.types import LLMResponse, Message, Role, ToolCall, ToolResult, UsageStats

RUNS = [f"r{i}" for i in range(8)]


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[StateStore]:
    store = StateStore.from_database_url(f"sqlite+aiosqlite:///{tmp_path}/app.db")
    try:
        for run_id in RUNS:
            await store.create_run(run_id, "agent")
        yield store
    finally:
        await store.close()


def sqlite_path(store: StateStore) -> str:
    url = store.engine.url
    return url.split(":///", 1)[1]


async def trace_statements(engine: Engine) -> list[str]:
    """Every statement the SQLite writer runs from now on (SQLite's trace callback)."""
    assert isinstance(engine, SqliteEngine)
    log: list[str] = []
    assert engine._writer is not None
    await engine._writer.set_trace_callback(log.append)
    return log


async def queued_behind_the_writer(
    engine: Engine, calls: list[Callable[[], Awaitable[Any]]]
) -> list[Any]:
    """Start ``calls`` while the writer is held, so they queue up and then run as one group."""
    async with engine.transaction():
        tasks = [asyncio.create_task(call()) for call in calls]
        await asyncio.sleep(0.05)
        assert not any(t.done() for t in tasks)  # all waiting for the writer
    return list(await asyncio.gather(*tasks, return_exceptions=True))


def commits(log: list[str]) -> int:
    return sum(1 for sql in log if sql.strip().upper() == "COMMIT")


# -- the unit itself ----------------------------------------------------------------


def test_a_unit_needs_writes_and_contiguous_fail_closed_ones() -> None:
    closed = Write("insert_trace", ("id", "r1"), "save_trace")
    loose = Write("touch_progress", ("r1", None), "touch_progress", best_effort=True)
    with pytest.raises(ValueError, match="at least one"):
        WriteUnit(())
    with pytest.raises(ValueError, match="contiguous"):
        WriteUnit((closed, loose, closed))
    unit = WriteUnit((loose, closed, closed, loose))
    assert unit.required == range(1, 3)
    assert unit.label == "save_trace"
    assert unit.joined_args() == ("r1", None, "id", "r1", "id", "r1", "r1", None)
    assert WriteUnit((loose,)).label == "touch_progress" and not WriteUnit((loose,)).required


async def test_aiosqlite_still_offers_the_thread_hook(tmp_path: Path) -> None:
    """Group commit runs a whole group in one hop on aiosqlite's thread through
    ``Connection._execute`` and ``_conn``; an aiosqlite without them must fail here."""
    async with aiosqlite.connect(tmp_path / "x.db") as raw:
        assert callable(raw._execute)
        thread_id = await in_connection_thread(
            raw, lambda conn: conn.execute("SELECT 1").fetchone()
        )
        assert tuple(thread_id) == (1,)


# -- SQLite group commit ------------------------------------------------------------


async def test_queued_units_share_one_commit_and_each_caller_sees_its_own(
    sqlite_store: StateStore,
) -> None:
    engine = sqlite_store.engine
    log = await trace_statements(engine)
    path = sqlite_path(sqlite_store)
    visible_on_return: list[bool] = []

    def call(run_id: str) -> Callable[[], Awaitable[None]]:
        async def save() -> None:
            await rows.save_trace(engine, run_id, "user", f"hello {run_id}", order_index=0)
            # Back from the await: the row is committed, so another connection sees it.
            other = sqlite3.connect(path)
            try:
                found = other.execute(
                    "SELECT count(*) FROM react_traces WHERE agent_run_id = ?", (run_id,)
                ).fetchone()[0]
            finally:
                other.close()
            visible_on_return.append(found == 1)

        return save

    log.clear()
    results = await queued_behind_the_writer(engine, [call(r) for r in RUNS])
    assert results == [None] * len(RUNS)
    assert visible_on_return == [True] * len(RUNS)
    # The held transaction's COMMIT, then one group: BEGIN, the 8 inserts, one COMMIT.
    group = log[log.index("COMMIT") + 1 :]
    assert group[0].startswith("BEGIN IMMEDIATE") and group[-1] == "COMMIT", log
    assert [s.split(" ", 3)[:3] for s in group[1:-1]] == [["INSERT", "INTO", "react_traces"]] * 8


async def test_a_lone_one_statement_unit_autocommits(sqlite_store: StateStore) -> None:
    log = await trace_statements(sqlite_store.engine)
    log.clear()
    await sqlite_store.save_trace("r1", "user", "alone", order_index=0)
    assert [s.split(" ", 3)[:3] for s in log] == [["INSERT", "INTO", "react_traces"]]


async def test_a_cancelled_caller_queued_for_a_group_writes_nothing(
    sqlite_store: StateStore,
) -> None:
    engine = sqlite_store.engine
    async with engine.transaction():
        tasks = [
            asyncio.create_task(rows.save_trace(engine, r, "user", "x", order_index=0))
            for r in RUNS[:3]
        ]
        await asyncio.sleep(0.05)
        tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert done[0] is None and done[2] is None
    assert isinstance(done[1], asyncio.CancelledError)
    written = {
        t["agent_run_id"]
        for t in await fetch_rows(f"sqlite:///{sqlite_path(sqlite_store)}", "react_traces")
    }
    assert written == {RUNS[0], RUNS[2]}


async def test_dispose_commits_what_was_queued_then_refuses(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/app.db"
    engine = create_engine(url)
    for run_id in RUNS:
        await runs.create_run(engine, run_id, "agent")
    async with engine.transaction():
        tasks = [
            asyncio.create_task(rows.save_trace(engine, r, "user", "x", order_index=0))
            for r in RUNS
        ]
        await asyncio.sleep(0.05)
    await engine.dispose()
    assert await asyncio.gather(*tasks) == [None] * len(RUNS)
    assert len(await fetch_rows(url, "react_traces")) == len(RUNS)
    with pytest.raises(StoreClosedError):
        await rows.save_trace(engine, "r1", "user", "late", order_index=1)


async def test_a_member_that_ends_the_whole_transaction_fails_alone(
    sqlite_store: StateStore,
) -> None:
    """RAISE(ROLLBACK) in a trigger ends the group's transaction, taking the
    earlier members' writes with it: they run again, and only the member that
    caused it fails."""
    path = sqlite_path(sqlite_store)
    other = sqlite3.connect(path)
    other.execute(
        "CREATE TRIGGER end_it BEFORE INSERT ON run_events WHEN NEW.event_type = 'policy.denied' "
        "BEGIN SELECT RAISE(ROLLBACK, 'rolled back by test'); END"
    )
    other.close()
    engine = sqlite_store.engine
    kinds = ["approval.requested"] * 3 + ["policy.denied"] + ["approval.decided"] * 4

    def call(run_id: str, kind: str) -> Callable[[], Awaitable[None]]:
        return lambda: rows.save_run_event(engine, run_id, event_type=kind, sequence_index=0)

    results = await queued_behind_the_writer(
        engine, [call(r, k) for r, k in zip(RUNS, kinds, strict=True)]
    )
    (failed,) = [r for r in results if r is not None]
    assert isinstance(failed, DatabaseError) and "rolled back by test" in str(failed)
    assert results.index(failed) == 3
    assert isinstance(failed.__cause__, sqlite3.Error)
    events = await fetch_rows(f"sqlite:///{path}", "run_events")
    assert sorted(e["agent_run_id"] for e in events) == sorted(RUNS[:3] + RUNS[4:])


async def test_an_immediate_transaction_refused_by_another_process_fails_every_member(
    sqlite_store: StateStore, tmp_path: Path
) -> None:
    """Transient for all (the callers' retry_critical runs their units again)."""
    path = sqlite_path(sqlite_store)
    engine = create_engine(f"sqlite+aiosqlite:///{path}", busy_timeout=0.05)
    try:
        await runs.get_run(engine, "r1")
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            results = await asyncio.gather(
                *(rows.save_run_event(engine, r, event_type="x.y", sequence_index=0) for r in RUNS),
                return_exceptions=True,
            )
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert all(isinstance(r, DatabaseError) and r.transient for r in results), results
        assert await fetch_rows(f"sqlite:///{path}", "run_events") == []
    finally:
        await engine.dispose()


# -- both dialects: one member's failure is its own ---------------------------------


async def _recorders(store: StateStore) -> list[PersistenceRecorder]:
    return [PersistenceRecorder(store, r, event_sequencer=EventSequencer(0)) for r in RUNS]


def _tool(n: int) -> tuple[ToolCall, ToolResult]:
    call = ToolCall("search", {"n": n}, id=f"tc{n}")
    return call, ToolResult("search", call.id, '{"ok": true}', duration_ms=n)


async def test_a_taken_slot_fails_only_its_own_hook_and_leaves_no_half(
    database_url: str, dialect: str
) -> None:
    async with StateStore.from_database_url(database_url) as store:
        for run_id in RUNS:
            await store.create_run(run_id, "agent")
        # Another writer already put an event at sequence 0 of r3.
        await store.save_run_event("r3", event_type="approval.requested", sequence_index=0)
        recorders = await _recorders(store)
        log = await trace_statements(store.engine) if dialect == "sqlite" else []

        def hook(n: int) -> Callable[[], Awaitable[None]]:
            return lambda: recorders[n].on_tool_completed(*_tool(n), 1)

        calls = [hook(n) for n in range(len(RUNS))]
        if dialect == "sqlite":
            log.clear()
            results = await queued_behind_the_writer(store.engine, calls)
        else:
            results = await asyncio.gather(*(c() for c in calls), return_exceptions=True)

    (failed,) = [r for r in results if r is not None]
    assert results.index(failed) == 3 and isinstance(failed, SlotTakenError)
    assert (failed.table, failed.column, failed.value) == ("run_events", "sequence_index", 0)
    tool_calls = await fetch_rows(database_url, "tool_calls")
    # r3's tool call was inserted before its event hit the taken slot, then rolled back.
    assert sorted(c["agent_run_id"] for c in tool_calls) == sorted(set(RUNS) - {"r3"})
    events = {
        (e["agent_run_id"], e["event_type"]) for e in await fetch_rows(database_url, "run_events")
    }
    assert ("r3", "tool.completed") not in events
    assert all((r, "tool.completed") in events for r in RUNS if r != "r3")
    if dialect == "sqlite":
        # One group for all eight: the failed member rolled back to its savepoint.
        assert commits(log) == 2
        assert sum(s.startswith("ROLLBACK TO") for s in log) == 1


async def _refuse_interactions_of(database_url: str, dialect: str, run_id: str) -> None:
    if dialect == "sqlite":
        conn = sqlite3.connect(database_url.split(":///", 1)[1])
        conn.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON llm_interactions "
            f"WHEN NEW.agent_run_id = '{run_id}' BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
        )
        conn.commit()
        conn.close()
        return
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.agent_run_id = '{run_id}' THEN RAISE EXCEPTION 'refused by test'; END IF; "
            "RETURN NEW; END $$"
        )
        await conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON llm_interactions "
            "FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
    finally:
        await conn.close()


async def test_a_refused_best_effort_row_is_skipped_for_its_own_hook_only(
    database_url: str, dialect: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dendrux.durability")
    await _refuse_interactions_of(database_url, dialect, "r5")
    async with StateStore.from_database_url(database_url) as store:
        for run_id in RUNS:
            await store.create_run(run_id, "agent")
        recorders = await _recorders(store)

        def hook(n: int) -> Callable[[], Awaitable[None]]:
            response = LLMResponse(
                text=f"answer {n}",
                usage=UsageStats(input_tokens=100 + n, output_tokens=5, cost_usd=0.01),
            )
            return lambda: recorders[n].on_llm_call_completed(
                response, 1, semantic_messages=[Message(Role.USER, "q")], duration_ms=n
            )

        calls = [hook(n) for n in range(len(RUNS))]
        if dialect == "sqlite":
            results = await queued_behind_the_writer(store.engine, calls)
        else:
            results = await asyncio.gather(*(c() for c in calls))
    assert list(results) == [None] * len(RUNS)

    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("best-effort")]
    assert len(skipped) == 1
    assert "save_llm_interaction for run r5" in skipped[0] and "refused by test" in skipped[0]
    interactions = await fetch_rows(database_url, "llm_interactions")
    assert sorted(i["agent_run_id"] for i in interactions) == sorted(set(RUNS) - {"r5"})
    for table in ("token_usage", "run_events"):
        assert sorted(x["agent_run_id"] for x in await fetch_rows(database_url, table)) == RUNS
    progressed = await fetch_rows(database_url, "agent_runs")
    assert all(run["last_progress_at"] is not None for run in progressed)


# -- PostgreSQL: one statement, one transaction per hook ------------------------------


async def test_postgres_sends_each_hook_as_one_statement_in_one_transaction(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await asyncpg.connect(postgres_url)

    async def next_xid() -> int:
        # The next transaction id to be handed out; reading it hands out none.
        return int(await admin.fetchval("SELECT pg_snapshot_xmax(pg_current_snapshot())::text"))

    sent: list[str] = []
    for name in ("execute", "fetch", "fetchval", "fetchrow", "executemany"):
        original = getattr(asyncpg.connection.Connection, name)

        def counted(self: Any, query: str, *args: Any, _original: Any = original, **kw: Any) -> Any:
            sent.append(query)
            return _original(self, query, *args, **kw)

        monkeypatch.setattr(asyncpg.connection.Connection, name, counted)
    try:
        async with StateStore.from_database_url(postgres_url) as store:
            await store.create_run("r1", "agent")
            recorder = PersistenceRecorder(store, "r1", model="m")
            before_xid, sent[:] = await next_xid(), []
            await recorder.on_message_appended(Message(Role.USER, "hi"), 0)
            await recorder.on_llm_call_completed(
                LLMResponse(
                    text="ok", usage=UsageStats(input_tokens=3, output_tokens=4, cost_usd=0.1)
                ),
                1,
                semantic_messages=[Message(Role.USER, "hi")],
            )
            await recorder.on_tool_completed(*_tool(1), 1)
            await recorder.on_governance_event("approval.decided", 1, {"ok": True})
        # Closed: the readers' wake-ups owed were sent (each its own transaction).
        wake = load_queries("postgres")["wake_run_event_readers"]
        wakes = [q for q in sent if q == wake]
        statements = [q.split(None, 1)[0] for q in sent if q != wake]
        assert 1 <= len(wakes) <= 3  # llm, tool and event wake r1; concurrent ones coalesce
        assert await next_xid() - before_xid == 4 + len(wakes)
    finally:
        await admin.close()
    assert statements == ["INSERT", "WITH", "WITH", "INSERT"]  # trace; llm; tool; event
    # No NOTIFY inside a hook's own transaction: it would hold the server's notification
    # lock through the commit's fsync and queue every other writer's commit behind it.
    assert not any("pg_notify" in q for q in sent if q != wake)
    landed = {
        t: len(await fetch_rows(postgres_url, t, "r1"))
        for t in ("react_traces", "llm_interactions", "token_usage", "tool_calls", "run_events")
    }
    assert landed == {
        "react_traces": 1,
        "llm_interactions": 1,
        "token_usage": 1,
        "tool_calls": 1,
        "run_events": 3,
    }


async def test_postgres_group_commits_concurrent_hooks_and_still_notifies(
    postgres_url: str,
) -> None:
    """Hooks that arrive while every pooled connection is busy go as one
    pipelined batch when one frees: with a pool of one, the first of eight
    concurrent events commits alone and the other seven together, each
    event's notification delivered."""
    admin = await asyncpg.connect(postgres_url)
    heard: list[str] = []
    await admin.add_listener("dendrux_run_events", lambda *args: heard.append(args[3]))
    try:
        async with StateStore.from_database_url(postgres_url, pool_max_size=1) as store:
            for run_id in RUNS:
                await store.create_run(run_id, "agent")
            recorders = await _recorders(store)
            await asyncio.gather(
                *(rec.on_governance_event("approval.decided", 1, {"n": 1}) for rec in recorders)
            )
        for _ in range(100):
            if len(heard) == len(RUNS):
                break
            await asyncio.sleep(0.01)
        # The transactions that wrote the eight events (the wake-ups commit apart).
        writers = await admin.fetchval("SELECT count(DISTINCT xmin::text) FROM run_events")
    finally:
        await admin.close()
    assert writers == 2  # two transactions for the eight events
    assert sorted(heard) == RUNS
    events = await fetch_rows(postgres_url, "run_events")
    assert sorted(e["agent_run_id"] for e in events) == RUNS
