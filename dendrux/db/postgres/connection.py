"""Named queries on one asyncpg connection, and the leases that take one from
the engine's pool for one piece of work (public pool API only:
``await pool.acquire()`` / ``await pool.release(connection)``)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import asyncpg

from dendrux.db.engine import Connection, Dialect, Row
from dendrux.db.postgres.dialect import (
    WAKING_QUERIES,
    PostgresDialect,
    connect_error,
    connection_is_gone,
    wrap_pg_error,
)
from dendrux.errors import TransientDatabaseError

if TYPE_CHECKING:
    from dendrux.db.postgres.engine import PostgresEngine


class PostgresConnection:
    """Runs named queries on one asyncpg connection.

    With a ``wakes`` set it notes the run of every event it inserts (`WAKING_QUERIES`),
    for whoever owns the connection's commit to wake that run's readers after it."""

    __slots__ = ("_dialect", "_raw", "_url", "wakes")

    def __init__(
        self, raw: Any, dialect: PostgresDialect, url: str, wakes: set[str] | None = None
    ) -> None:
        self._raw = raw
        self._dialect = dialect
        self._url = url
        self.wakes = wakes

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    def _note(self, query: str, args: Sequence[Any]) -> None:
        at = WAKING_QUERIES.get(query)
        if at is not None and self.wakes is not None:
            self.wakes.add(args[at])

    async def execute(self, query: str, *args: Any) -> None:
        self._note(query, args)
        try:
            await self._raw.execute(self._dialect.sql(query), *args)
        except Exception as exc:
            raise wrap_pg_error(exc, self._url, self._raw) from exc

    async def fetch_all(self, query: str, *args: Any) -> list[Row]:
        self._note(query, args)
        try:
            return list(await self._raw.fetch(self._dialect.sql(query), *args))
        except Exception as exc:
            raise wrap_pg_error(exc, self._url, self._raw) from exc

    async def fetch_one(self, query: str, *args: Any) -> Row | None:
        self._note(query, args)
        try:
            row: Row | None = await self._raw.fetchrow(self._dialect.sql(query), *args)
        except Exception as exc:
            raise wrap_pg_error(exc, self._url, self._raw) from exc
        return row

    async def fetch_value(self, query: str, *args: Any) -> Any:
        self._note(query, args)
        try:
            return await self._raw.fetchval(self._dialect.sql(query), *args)
        except Exception as exc:
            raise wrap_pg_error(exc, self._url, self._raw) from exc

    async def execute_many(self, query: str, args: Sequence[Sequence[Any]]) -> None:
        for one in args:
            self._note(query, one)
        try:
            await self._raw.executemany(self._dialect.sql(query), args)
        except Exception as exc:
            raise wrap_pg_error(exc, self._url, self._raw) from exc

    async def execute_script(self, script: str) -> None:
        try:
            await self._raw.execute(script)
        except Exception as exc:
            raise wrap_pg_error(exc, self._url, self._raw) from exc


def passthrough(value: str) -> str:
    return value


async def keep_session(_conn: Any) -> None:
    """Pool release without a reset query: asyncpg still rolls back an open
    transaction and drops listeners; nothing else of ours outlives a statement."""


class Lease:
    """``async with _Lease(engine) as raw``: a raw asyncpg connection from the engine's
    pool for one piece of work, as a plain class (no generator-based context manager
    on every statement's path). A connection whose work failed at the protocol level
    is terminated, never handed back to the pool."""

    __slots__ = ("_engine", "_pool", "_raw")

    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine
        self._pool: Any = None
        self._raw: Any = None

    async def __aenter__(self) -> Any:
        return await self._take(await self._engine._get_pool())

    async def _take(self, pool: asyncpg.Pool) -> Any:
        try:
            # Waiting for a busy pool has no timeout (asyncpg would pay a wait_for task on
            # every acquire); making a new connection is bounded by the connect timeout.
            self._raw = await pool.acquire()
        except Exception as exc:
            raise connect_error(exc, self._engine.url) from exc
        self._pool = pool
        return self._raw

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, TransientDatabaseError) and not connection_is_gone(self._raw):
            self._raw.terminate()
        # If the connection dies while it is released, asyncpg discards it; the work is done.
        with suppress(Exception):
            await self._pool.release(self._raw)


class Pooled(Lease):
    """``async with _Pooled(engine) as conn``: a `Lease` as a `Connection`, once the
    schema was checked. It does not refuse a disposed engine: its callers check
    that, so that work queued before dispose() still runs.

    Each statement on it commits on its own. The engine's write paths wake readers
    per write unit; a `Pooled` handed to other code (``waking=True``) wakes the
    readers of the events its statements inserted when it is left."""

    __slots__ = ("_conn", "_waking")

    def __init__(self, engine: PostgresEngine, *, waking: bool = False) -> None:
        super().__init__(engine)
        self._waking = waking
        self._conn: PostgresConnection | None = None

    async def __aenter__(self) -> Connection:
        engine = self._engine
        if not engine._schema_checked:
            await engine._ensure_schema()
        pool = engine._pool
        raw = await self._take(pool if pool is not None else await engine._get_pool())
        conn = PostgresConnection(raw, engine.dialect, engine.url, set() if self._waking else None)
        self._conn = conn
        return conn

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        await super().__aexit__(exc_type, exc, tb)
        conn = self._conn
        if conn is not None and conn.wakes:
            # Statements before a failure committed too: a needless wake-up only re-reads.
            self._engine.wake_readers(conn.wakes)
