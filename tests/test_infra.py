"""The test infrastructure itself: the throwaway PostgreSQL cluster.

Needs asyncpg only -- not dendrux.
"""

from __future__ import annotations

import asyncpg
import pytest
from pgcluster import PgCluster


async def test_cluster_answers(pg_server: PgCluster) -> None:
    conn = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        version = await conn.fetchval("SELECT version()")
        user = await conn.fetchval("SELECT current_user")
        encoding = await conn.fetchval("SHOW server_encoding")
    finally:
        await conn.close()
    assert version.startswith("PostgreSQL")
    assert user == "postgres"
    assert encoding == "UTF8"
    assert pg_server.host == "127.0.0.1"
    assert pg_server.dsn("x") == f"postgresql://postgres@127.0.0.1:{pg_server.port}/x"


async def test_stop_and_start_server(pg_server: PgCluster) -> None:
    dsn = pg_server.dsn("postgres")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS survives_restart (x int)")
    finally:
        await conn.close()

    pg_server.stop_server()
    try:
        with pytest.raises((OSError, asyncpg.exceptions.CannotConnectNowError)):
            await asyncpg.connect(dsn, timeout=5)
    finally:
        pg_server.start_server()

    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        # same data dir: the table is still there
        assert await conn.fetchval("SELECT to_regclass('survives_restart') IS NOT NULL")
        await conn.execute("DROP TABLE survives_restart")
    finally:
        await conn.close()
    assert pg_server.port == int(dsn.rsplit(":", 1)[1].split("/")[0])
