"""The bare side: the same statement text and parameters on the raw driver, JSON
decoded with ``json.loads`` (the least a caller does).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from dendrux.db.queries import load_queries

# ---------------------------------------------------------------------------
# the bare side: the same statement text and parameters on the raw driver
# ---------------------------------------------------------------------------


async def _json_codecs(raw: Any) -> None:
    """The library pool's codecs: json/jsonb decoded by json.loads in the driver."""
    for type_name in ("json", "jsonb"):
        await raw.set_type_codec(
            type_name, schema="pg_catalog", encoder=lambda v: v, decoder=json.loads, format="text"
        )


class BareSqlite:
    """One aiosqlite reader connection opened like the library's readers (mode=ro,
    query_only, sqlite3.Row); JSON columns decoded with json.loads."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.q = load_queries("sqlite")
        self.db: Any = None

    async def open(self) -> None:
        import aiosqlite

        self.db = await aiosqlite.connect(
            f"file:{quote(self.path)}?mode=ro", uri=True, isolation_level=None, timeout=5.0
        )
        self.db.row_factory = sqlite3.Row
        await self.db.execute_fetchall(self.q["query_only"])

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()
            self.db = None

    async def fetch_all(self, name: str, args: Sequence[Any], json_cols: Sequence[str]) -> Any:
        rows = await self.db.execute_fetchall(self.q[name], tuple(args))
        if not json_cols or not rows:
            return rows
        # The least a caller does to get the JSON decoded: json.loads per value, by
        # position (a per-row inner loop or access by name would be bare-side overhead).
        loads = json.loads
        keys = rows[0].keys()
        pos = [keys.index(c) for c in json_cols]
        if len(pos) == 1:
            (a,) = pos
            return [(row, (None if row[a] is None else loads(row[a]),)) for row in rows]
        if len(pos) == 2:
            a, b = pos
            return [
                (
                    row,
                    (
                        None if row[a] is None else loads(row[a]),
                        None if row[b] is None else loads(row[b]),
                    ),
                )
                for row in rows
            ]
        return [(row, [None if row[i] is None else loads(row[i]) for i in pos]) for row in rows]

    async def fetch_row(self, name: str, args: Sequence[Any], json_cols: Sequence[str]) -> Any:
        rows = await self.fetch_all(name, args, json_cols)
        return rows[0] if rows else None

    async def fetch_value(self, name: str, args: Sequence[Any]) -> Any:
        rows = await self.db.execute_fetchall(self.q[name], tuple(args))
        return rows[0][0] if rows else None

    def as_dicts(self, result: Any, json_cols: Sequence[str]) -> list[dict[str, Any]]:
        out = []
        for item in result if isinstance(result, list) else [result]:
            row, decoded = item if json_cols else (item, [])
            d = dict(zip(row.keys(), tuple(row), strict=True))
            d.update(zip(json_cols, decoded, strict=True))
            out.append(d)
        return out


class BarePostgres:
    """An asyncpg pool like the library's (min 1, max 10, statement cache 100, json/jsonb
    decoded by json.loads codecs); one acquire per statement, as the library does."""

    dialect = "postgres"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.q = load_queries("postgres")
        self.pool: Any = None

    async def open(self) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=1, max_size=10, statement_cache_size=100, init=_json_codecs
        )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def fetch_all(self, name: str, args: Sequence[Any], json_cols: Sequence[str]) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetch(self.q[name], *args)

    async def fetch_row(self, name: str, args: Sequence[Any], json_cols: Sequence[str]) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetchrow(self.q[name], *args)

    async def fetch_value(self, name: str, args: Sequence[Any]) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetchval(self.q[name], *args)

    def as_dicts(self, result: Any, json_cols: Sequence[str]) -> list[dict[str, Any]]:
        return [dict(r) for r in (result if isinstance(result, list) else [result])]


Bare = BareSqlite | BarePostgres
