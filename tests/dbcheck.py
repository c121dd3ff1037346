"""Read rows straight through the driver, for tests that check what landed
without going through the library's own readers; and make an empty PostgreSQL
database for a test that needs one of its own."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import aiosqlite
import asyncpg

TABLES = (
    "agent_runs",
    "react_traces",
    "tool_calls",
    "token_usage",
    "llm_interactions",
    "run_events",
)


async def fetch_rows(
    database_url: str, table: str, run_id: str | None = None
) -> list[dict[str, Any]]:
    """Every row of ``table`` (of one run, when given) as dicts; JSON columns decoded."""
    if table not in TABLES:
        raise ValueError(table)
    column = "id" if table == "agent_runs" else "agent_run_id"
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        sql = f"SELECT * FROM {table}" + (f" WHERE {column} = ?" if run_id else "")
        async with aiosqlite.connect(path) as conn:
            conn.row_factory = aiosqlite.Row
            rows = [dict(r) for r in await conn.execute_fetchall(sql, (run_id,) if run_id else ())]
    else:
        sql = f"SELECT * FROM {table}" + (f" WHERE {column} = $1" if run_id else "")
        conn = await asyncpg.connect(database_url)
        try:
            rows = [dict(r) for r in await conn.fetch(sql, *((run_id,) if run_id else ()))]
        finally:
            await conn.close()
    for row in rows:
        for key, value in row.items():
            if isinstance(value, str) and value[:1] in "{[" and key not in ("content",):
                with contextlib.suppress(ValueError):
                    row[key] = json.loads(value)
    return rows


async def empty_postgres_database(server: Any, name: str) -> str:
    """The DSN of a new, empty (unmigrated) database ``name`` on ``server`` (the suite's
    cluster), dropped first if a previous run left it."""
    admin = await asyncpg.connect(server.dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn: str = server.dsn(name)
    return dsn
