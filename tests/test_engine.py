"""Engines: URL forms, SQLite settings and reader/writer split, caller-owned
connections and pools, PostgreSQL schema and pooler options, lifecycle."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite
import asyncpg
import pytest
from dbcheck import empty_postgres_database

from dendrux.db import create_engine, default_database_url, parse_database_url, upgrade
from dendrux.db.engine import Engine
from dendrux.errors import InvalidArgumentError, StoreClosedError
from dendrux.state import StateStore, rows, runs


@pytest.mark.parametrize(
    ("url", "dialect", "target"),
    [
        ("sqlite+aiosqlite:///relative/app.db", "sqlite", "relative/app.db"),
        ("sqlite+aiosqlite:////abs/app.db", "sqlite", "/abs/app.db"),
        ("sqlite:///app.db", "sqlite", "app.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite", ":memory:"),
        # The user and password travel apart from the DSN (see DatabaseURL).
        ("postgresql://u:pw@h:5433/db", "postgres", "postgresql://h:5433/db"),
        ("postgresql+asyncpg://u@h/db", "postgres", "postgresql://h/db"),
        ("postgres://h/db", "postgres", "postgresql://h/db"),
    ],
)
def test_accepted_urls(url: str, dialect: str, target: str) -> None:
    parsed = parse_database_url(url)
    assert parsed.dialect == dialect
    assert (parsed.sqlite_path or parsed.postgres_dsn) == target


def test_password_is_masked_and_options_are_kept() -> None:
    parsed = parse_database_url("postgresql://app:s3cret@db:5432/x?sslmode=disable&schema=audit")
    assert "s3cret" not in parsed.masked and "***" in parsed.masked
    assert parsed.options == {"sslmode": "disable", "schema": "audit"}


def test_unknown_options_are_refused_before_any_io() -> None:
    with pytest.raises(InvalidArgumentError, match="bogus"):
        create_engine("sqlite+aiosqlite:///:memory:", bogus=1)
    with pytest.raises(InvalidArgumentError, match="synchronous"):
        create_engine("sqlite+aiosqlite:///:memory:?synchronous=sometimes")
    with pytest.raises(InvalidArgumentError, match="bogus"):
        create_engine("postgresql://h/db", bogus=True)
    with pytest.raises(InvalidArgumentError, match="schema"):
        create_engine("postgresql://h/db", schema="bad;name")


def test_default_database_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DENDRUX_DATABASE_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_database_url() == f"sqlite+aiosqlite:///{tmp_path}/.dendrux/dendrux.db"
    monkeypatch.setenv("DENDRUX_DATABASE_URL", "postgresql://h/db")
    assert default_database_url() == "postgresql://h/db"


async def test_sqlite_default_settings(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "app.db"  # parent folders are created on first use
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await runs.create_run(engine, "r1", "a")
        raw = await aiosqlite.connect(path)
        try:
            assert (await (await raw.execute("PRAGMA journal_mode")).fetchone()) == ("wal",)
        finally:
            await raw.close()
        writer = engine._writer  # type: ignore[attr-defined]
        assert tuple(await (await writer.execute("PRAGMA synchronous")).fetchone()) == (2,)  # FULL
        assert tuple(await (await writer.execute("PRAGMA foreign_keys")).fetchone()) == (1,)
    finally:
        await engine.dispose()
    relaxed = create_engine(f"sqlite+aiosqlite:///{path}?synchronous=normal")
    try:
        await runs.get_run(relaxed, "r1")
        writer = relaxed._writer  # type: ignore[attr-defined]
        assert tuple(await (await writer.execute("PRAGMA synchronous")).fetchone()) == (1,)
    finally:
        await relaxed.dispose()


async def test_sqlite_readers_do_not_wait_for_the_writer(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/app.db")
    try:
        await runs.create_run(engine, "r1", "a")
        in_write = asyncio.Event()
        release = asyncio.Event()

        async def slow_writer() -> None:
            async with engine.transaction() as conn:
                await rows.save_trace(conn, "r1", "user", "uncommitted", order_index=0)
                in_write.set()
                await release.wait()

        writer = asyncio.create_task(slow_writer())
        await in_write.wait()
        # The write transaction is open; a read completes and sees only committed data.
        traces = await asyncio.wait_for(rows.get_traces(engine, "r1"), timeout=2)
        assert traces == []
        release.set()
        await writer
        assert [t.content for t in await rows.get_traces(engine, "r1")] == ["uncommitted"]
    finally:
        await engine.dispose()


async def test_in_memory_database_works_end_to_end() -> None:
    async with StateStore.from_database_url("sqlite+aiosqlite:///:memory:") as store:
        await store.create_run("r1", "a")
        await store.save_trace("r1", "user", "hi", order_index=0)
        assert [t.content for t in await store.get_traces("r1")] == ["hi"]
        assert (await store.get_run("r1")) is not None


async def test_failed_transaction_rolls_back(engine: Engine) -> None:
    await runs.create_run(engine, "r1", "a")
    with pytest.raises(RuntimeError):
        async with engine.transaction() as conn:
            await rows.save_trace(conn, "r1", "user", "one", order_index=0)
            await rows.save_run_event(conn, "r1", event_type="run.started")
            raise RuntimeError("the hook failed half-way")
    assert await rows.get_traces(engine, "r1") == []
    assert await rows.get_run_events(engine, "r1") == []


async def test_disposed_engine_refuses_work(database_url: str) -> None:
    engine = create_engine(database_url)
    await runs.create_run(engine, "r1", "a")
    await engine.dispose()
    assert engine.closed
    with pytest.raises(StoreClosedError):
        await runs.get_run(engine, "r1")
    with pytest.raises(StoreClosedError):
        await runs.create_run(engine, "r2", "a")


async def test_store_from_caller_owned_aiosqlite_connection(tmp_path: Path) -> None:
    path = tmp_path / "owned.db"
    await upgrade(f"sqlite+aiosqlite:///{path}")
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        store = StateStore.from_engine(conn)
        await store.create_run("r1", "a")
        await store.save_trace("r1", "user", "hi", order_index=0)
        assert [t.content for t in await store.get_traces("r1")] == ["hi"]
        await store.close()
        with pytest.raises(StoreClosedError):
            await store.get_run("r1")
        # The caller's connection is still open and sees the rows.
        async with conn.execute("SELECT count(*) FROM react_traces") as cursor:
            assert tuple(await cursor.fetchone()) == (1,)
    finally:
        await conn.close()


async def test_store_from_caller_owned_asyncpg_pool(pg_server) -> None:  # type: ignore[no-untyped-def]
    dsn = await empty_postgres_database(pg_server, "owned_pool")
    await upgrade(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        store = StateStore.from_engine(pool)
        await store.create_run("r1", "a", meta={"k": [1, 2]}, input_data={"q": "x"})
        run = await store.get_run("r1")
        assert run is not None and run.meta == {"k": [1, 2]} and run.input_data == {"q": "x"}
        await store.close()
        assert await pool.fetchval("SELECT count(*) FROM agent_runs") == 1  # pool still open
    finally:
        await pool.close()


async def test_postgres_schema_option(pg_server) -> None:  # type: ignore[no-untyped-def]
    dsn = await empty_postgres_database(pg_server, "with_schema")
    engine = create_engine(dsn, schema="Audit_Trail")
    try:
        assert await upgrade(engine) == [1, 2, 3, 4, 5, 6, 7]
        assert await upgrade(engine) == []
        await runs.create_run(engine, "r1", "a")
        assert (await runs.get_run(engine, "r1")) is not None
    finally:
        await engine.dispose()
    raw = await asyncpg.connect(dsn)
    try:
        assert await raw.fetchval('SELECT count(*) FROM "Audit_Trail".agent_runs') == 1
        assert await raw.fetchval("SELECT to_regclass('public.agent_runs')") is None
    finally:
        await raw.close()
    # The default schema of the same database is still unmigrated, and says so.
    from dendrux.errors import SchemaNotMigratedError

    plain = create_engine(dsn)
    try:
        with pytest.raises(SchemaNotMigratedError, match="dendrux db upgrade"):
            await runs.get_run(plain, "r1")
    finally:
        await plain.dispose()


async def test_postgres_without_prepared_statements(postgres_url: str) -> None:
    database_url = postgres_url
    engine = create_engine(database_url, prepared_statements=False)
    try:
        for i in range(3):
            await runs.create_run(engine, f"r{i}", "a")
            await runs.get_run(engine, f"r{i}")
        async with engine.connect() as conn:
            raw = conn._raw  # type: ignore[attr-defined]
            assert await raw.fetchval("SELECT count(*) FROM pg_prepared_statements") == 0
    finally:
        await engine.dispose()
    cached = create_engine(database_url)
    try:
        await runs.get_run(cached, "r1")
        async with cached.connect() as conn:
            raw = conn._raw  # type: ignore[attr-defined]
            assert await raw.fetchval("SELECT count(*) FROM pg_prepared_statements") > 0
    finally:
        await cached.dispose()


async def test_upgrade_is_idempotent(raw_database_url: str) -> None:
    assert await upgrade(raw_database_url) == [1, 2, 3, 4, 5, 6, 7]
    assert await upgrade(raw_database_url) == []
    from dendrux.db import schema_status

    status = await schema_status(raw_database_url)
    assert (status.current_version, status.newest_version, status.up_to_date) == (7, 7, True)
