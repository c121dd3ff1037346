"""Lifecycle writes retry transient failures (real lock contention on SQLite,
a real killed connection on PostgreSQL); logical failures are not retried."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
import threading
import time
from pathlib import Path

import asyncpg
import pytest

from dendrux.db import create_engine
from dendrux.durability import best_effort, retry_critical
from dendrux.errors import IntegrityError, TransientDatabaseError
from dendrux.state import runs
from dendrux.ulid import new_ulid


def _hold_write_lock(path: Path, seconds: float, locked: threading.Event) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    locked.set()
    time.sleep(seconds)
    other.execute("ROLLBACK")
    other.close()


async def _locked_for(path: Path, seconds: float) -> threading.Thread:
    locked = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, seconds, locked))
    holder.start()
    while not locked.is_set():
        await asyncio.sleep(0.005)
    return holder


async def test_sqlite_busy_is_retried_until_the_lock_goes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "app.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", busy_timeout=0.05)
    try:
        await runs.create_run(engine, "r1", "a")
        holder = await _locked_for(path, 0.25)
        with caplog.at_level(logging.WARNING, logger="dendrux.durability"):
            assert await runs.finalize_run(engine, "r1", status="success")
        holder.join()
        assert "retrying finalize_run for run r1" in caplog.text
        run = await runs.get_run(engine, "r1")
        assert run is not None and run.status == "success"
    finally:
        await engine.dispose()


async def test_sqlite_busy_beyond_the_retry_budget_raises(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", busy_timeout=0.05)
    try:
        await runs.create_run(engine, "r1", "a")
        holder = await _locked_for(path, 1.5)
        with pytest.raises(TransientDatabaseError, match="locked"):
            await runs.finalize_run(engine, "r1", status="success")
        holder.join()
        run = await runs.get_run(engine, "r1")
        assert run is not None and run.status == "running"  # nothing half-written
    finally:
        await engine.dispose()


async def test_killed_postgres_connection_is_retried(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_min_size=1, pool_max_size=1)
    try:
        await runs.create_run(engine, "r1", "a")
        admin = await asyncpg.connect(postgres_url)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'dendrux' AND datname = current_database()"
            )
        finally:
            await admin.close()
        assert killed == 1
        # The pooled connection is dead; the next lifecycle write retries on a new one.
        assert await runs.finalize_run(engine, "r1", status="success")
        run = await runs.get_run(engine, "r1")
        assert run is not None and run.status == "success"
    finally:
        await engine.dispose()


async def test_logical_failures_are_not_retried() -> None:
    calls = 0

    async def bad() -> None:
        nonlocal calls
        calls += 1
        raise IntegrityError("duplicate key")

    started = time.monotonic()
    with pytest.raises(IntegrityError):
        await retry_critical(bad, label="x", run_id="r")
    assert calls == 1 and time.monotonic() - started < 0.05


async def test_retry_budget_is_three_retries_with_backoff() -> None:
    stamps: list[float] = []

    async def flaky() -> None:
        stamps.append(time.monotonic())
        raise TransientDatabaseError("connection lost")

    with pytest.raises(TransientDatabaseError):
        await retry_critical(flaky, label="x", run_id="r")
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(stamps)]
    assert gaps == [0.1, 0.2, 0.4]


async def test_best_effort_swallows_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise IntegrityError("nope")

    with caplog.at_level(logging.WARNING, logger="dendrux.durability"):
        assert await best_effort(broken, label="save_usage", run_id="r9") is False
    assert "save_usage" in caplog.text and "r9" in caplog.text


def test_ulids_are_sortable_and_well_formed() -> None:
    ids = [new_ulid() for _ in range(2000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    alphabet = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert all(len(i) == 26 and set(i) <= alphabet for i in ids)
