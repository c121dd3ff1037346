"""Backends: how one unit of writes reaches the database, group-committed by hand
(SQLite: one aiosqlite connection, one thread hop and one transaction per group;
PostgreSQL: an asyncpg pool, one ``executemany`` per one-statement form).
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import aiosqlite
import asyncpg

from dendrux.db.queries import load_queries

Statement = tuple[str, tuple[Any, ...]]


GROUP_LIMIT = 256  # units per group commit at most, as in the library


class SlotTaken(RuntimeError):
    """An insert found its slot taken (never happens in this workload)."""


def _first(rows: list[Any]) -> Any:
    return rows[0][0] if rows else None


def _commit_group(
    conn: sqlite3.Connection, q: Any, units: list[tuple[list[Statement], range]]
) -> list[list[Any]]:
    """On the connection's thread: a group of units, one transaction (a lone
    one-statement unit autocommits); ``guard`` statements of a unit in a savepoint."""
    if len(units) == 1 and len(units[0][0]) == 1:
        return [[_first(conn.execute(sql, args).fetchall()) for sql, args in units[0][0]]]
    conn.execute(q["begin_immediate"])
    try:
        out = []
        for statements, guard in units:
            values = []
            for i, (sql, args) in enumerate(statements):
                if len(guard) > 1 and i == guard.start:
                    conn.execute(q["savepoint"])
                values.append(_first(conn.execute(sql, args).fetchall()))
                if len(guard) > 1 and i == guard.stop - 1:
                    conn.execute(q["release_savepoint"])
            out.append(values)
    except BaseException:
        conn.execute(q["rollback"])
        raise
    conn.execute(q["commit"])
    return out


class SqliteBackend:
    """One aiosqlite connection (WAL, synchronous=FULL, foreign keys on) and a
    hand-written group commit: one thread hop and one transaction per group."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.q = load_queries("sqlite")
        self.db: aiosqlite.Connection | None = None
        self.queue: list[tuple[list[Statement], range, asyncio.Future[list[Any]]]] = []
        self.committer: asyncio.Task[None] | None = None
        self.units = 0

    @staticmethod
    def now() -> Any:
        return datetime.now(UTC).isoformat(timespec="microseconds")

    async def open(self) -> None:
        self.db = await aiosqlite.connect(self.path, isolation_level=None, timeout=5.0)
        for pragma in ("enable_wal", "enable_foreign_keys", "synchronous_full"):
            await self.db.execute_fetchall(self.q[pragma])

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()
            self.db = None

    async def unit(
        self,
        statements: list[Statement],
        *,
        checked: tuple[int, ...] = (),
        guard: range = range(0),
        combined: str = "",
    ) -> list[Any]:
        """Queue one unit for the next group commit; each statement's first value.
        A ``checked`` insert that returned no row found its slot taken."""
        done: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.queue.append((statements, guard, done))
        if self.committer is None:
            self.committer = asyncio.create_task(self._commit_queued())
        self.units += 1
        values = await done
        if any(values[i] is None for i in checked):
            raise SlotTaken(statements[checked[0]][0][:40])
        return values

    async def _commit_queued(self) -> None:
        db = self.db
        assert db is not None
        try:
            while self.queue:
                group, self.queue = self.queue[:GROUP_LIMIT], self.queue[GROUP_LIMIT:]
                work = [(statements, guard) for statements, guard, _ in group]
                try:
                    results = await db._execute(_commit_group, db._conn, self.q, work)
                except Exception as exc:
                    for _, _, done in group:
                        done.set_exception(exc)
                    continue
                for (_, _, done), values in zip(group, results, strict=True):
                    done.set_result(values)
        finally:
            self.committer = None


async def _keep_session(_conn: Any) -> None:
    """No reset query on release, as in the library's pool."""


class PostgresBackend:
    """An asyncpg pool (min 1, max 10, no reset query on release: the library's
    settings) and the library's group commit by hand: a hook that finds a
    connection slot free goes at once as one ``fetchrow``; hooks that arrive
    while all ten are busy queue and leave together when one frees, one
    ``executemany`` per one-statement form (one round trip, one commit). Like
    the library, once a unit with an event committed, its run's readers are woken
    by ``wake_run_event_readers`` from a background task, one at a time, each
    carrying every run owed one."""

    dialect = "postgres"

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.q = load_queries("postgres")
        self.pool: asyncpg.Pool | None = None
        self.queue: list[tuple[str, tuple[Any, ...], asyncio.Future[None]]] = []
        self.busy = 0
        self.units = 0
        self.wakes: set[str] = set()
        self.waker: asyncio.Task[None] | None = None

    @staticmethod
    def now() -> Any:
        return datetime.now(UTC)

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.dsn,
            min_size=self.min_size,
            max_size=self.max_size,
            max_queries=10_000_000,
            reset=_keep_session,
        )

    async def close(self) -> None:
        if self.waker is not None:
            await self.waker
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def unit(
        self,
        statements: list[Statement],
        *,
        checked: tuple[int, ...] = (),
        guard: range = range(0),
        combined: str = "",
    ) -> list[Any]:
        """A unit with a one-statement form (``combined``, taking every statement's
        parameters in order; it has no ON CONFLICT, so a taken slot raises and
        ``checked`` needs no look) is group-committed; any other runs its only
        statement and returns its first value."""
        self.units += 1
        if not combined:
            ((sql, args),) = statements
            return await self._fetch(sql, args)
        args = tuple(chain.from_iterable(a for _, a in statements))
        if self.busy < self.max_size and not self.queue:
            self.busy += 1
            try:
                await self._fetch(self.q[combined], args)
            finally:
                self.busy -= 1
                self._lead()
        else:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.queue.append((combined, args, done))
            self._lead()
            await done
        event = self.q["insert_run_event"]
        for sql, event_args in statements:
            if sql == event:
                self.wakes.add(event_args[1])
                if self.waker is None:
                    self.waker = asyncio.get_running_loop().create_task(self._wake())
        return []

    async def _wake(self) -> None:
        try:
            while self.wakes:
                run_ids = sorted(self.wakes)
                self.wakes.clear()
                async with self.pool.acquire() as conn:  # type: ignore[union-attr]
                    await conn.execute(self.q["wake_run_event_readers"], run_ids)
        finally:
            self.waker = None

    async def _fetch(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        async with self.pool.acquire() as conn:  # type: ignore[union-attr]
            row = await conn.fetchrow(sql, *args)
        return [row[0] if row is not None else None]

    def _lead(self) -> None:
        if self.queue and self.busy < self.max_size:
            self.busy += 1
            group, self.queue = self.queue[:GROUP_LIMIT], self.queue[GROUP_LIMIT:]
            asyncio.get_running_loop().create_task(self._commit(group))

    async def _commit(self, group: list[Any]) -> None:
        by_query: dict[str, list[Any]] = {}
        for item in group:
            by_query.setdefault(item[0], []).append(item)
        try:
            await asyncio.gather(*(self._batch(name, items) for name, items in by_query.items()))
        finally:
            self.busy -= 1
            self._lead()

    async def _batch(self, name: str, items: list[Any]) -> None:
        try:
            if len(items) == 1:
                await self._fetch(self.q[name], items[0][1])
            else:
                async with self.pool.acquire() as conn:  # type: ignore[union-attr]
                    await conn.executemany(self.q[name], [args for _, args, _ in items])
        except Exception as exc:
            for *_, done in items:
                done.set_exception(exc)
            return
        for *_, done in items:
            done.set_result(None)  # every row landed: a conflict would have raised


Backend = SqliteBackend | PostgresBackend
