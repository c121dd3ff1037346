"""A follower rides out a PostgreSQL restart: it reconnects with backoff, resumes from its
cursor (nothing lost, nothing repeated), logs one warning line and no traceback. On a
private cluster, so the shared one is not disturbed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import _run_async, _unavailable
from pgcluster import PgCluster, PgClusterError, find_binaries

from dendrux.db import upgrade
from dendrux.state import StateStore
from dendrux.store import RunStore


@pytest.fixture(scope="module")
def restart_cluster() -> Iterator[PgCluster]:
    if find_binaries() is None:
        _unavailable("no initdb/pg_ctl/postgres under /usr/lib/postgresql/*/bin or on PATH")
    cluster = PgCluster()
    try:
        cluster.start()
    except PgClusterError as exc:
        pytest.fail(f"could not start the restart cluster:\n{exc}", pytrace=False)
    try:
        _run_async(lambda: upgrade(cluster.dsn("postgres")))
        yield cluster
    finally:
        cluster.stop()


async def _write(url: str, run_id: str, indexes: range, *, create: bool = False) -> None:
    async with StateStore.from_database_url(url) as writer:
        if create:
            await writer.create_run(run_id, "agent")
        for index in indexes:
            await writer.save_run_event(run_id, event_type="tick", sequence_index=index)


async def test_a_follower_rides_out_a_postgres_restart(
    restart_cluster: PgCluster, caplog: Any
) -> None:
    url = restart_cluster.dsn("postgres")
    await _write(url, "r1", range(5), create=True)
    got: list[int] = []
    loop = asyncio.get_running_loop()
    caplog.set_level(logging.INFO, logger="dendrux")
    # pool_min_size=0: asyncpg's pool would otherwise log its own traceback while it
    # fails to keep one connection open to the stopped server (as `dendrux` CLI readers do).
    async with RunStore.from_database_url(url, pool_min_size=0) as store:

        async def follow() -> None:
            async for event in store.stream_events("r1", poll_interval_s=0.05):
                got.append(event.sequence_index)
                if event.sequence_index == 14:
                    return

        follower = asyncio.create_task(follow())
        while len(got) < 5:
            await asyncio.sleep(0.02)
        await loop.run_in_executor(None, restart_cluster.stop_server)
        await asyncio.sleep(1.0)  # the follower keeps trying meanwhile
        assert not follower.done()
        await loop.run_in_executor(None, restart_cluster.start_server)
        await _write(url, "r1", range(5, 10))
        await asyncio.sleep(0.5)
        await _write(url, "r1", range(10, 15))
        await asyncio.wait_for(follower, timeout=30)
    assert got == list(range(15))
    stream_records = [r for r in caplog.records if r.name == "dendrux.read.stream"]
    warnings = [r for r in stream_records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "unreachable" in warnings[0].getMessage()
    assert warnings[0].exc_info is None and "\n" not in warnings[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)  # no traceback anywhere
    assert any("reachable again" in r.getMessage() for r in stream_records)
