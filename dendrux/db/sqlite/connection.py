"""Named queries on one aiosqlite connection, and the two places this package
reaches into aiosqlite beyond its public API (each measured or needed, each with
a canary in tests/test_private_apis.py; read from aiosqlite 0.22.1)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import aiosqlite

from dendrux.db.engine import Dialect, Row
from dendrux.db.sqlite.dialect import SqliteDialect, wrap_sqlite_error

T = TypeVar("T")


async def in_connection_thread(raw: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """``fn(sqlite3_connection, *args)`` on the connection's own thread, in one hop.

    aiosqlite has no public call for this; ``_execute`` and ``_conn`` have been
    its queueing primitive since its first releases (read from aiosqlite 0.22.1).
    Kept because a group commit runs a whole group of units in one hop instead of
    one hop per statement, which measured as most of SQLite's recorder throughput
    under concurrency; tests/test_private_apis.py fails loudly without them.
    """
    return await raw._execute(fn, raw._conn, *args)  # type: ignore[no-untyped-call,no-any-return]


class SqliteConnection:
    """Runs named queries on one aiosqlite connection."""

    __slots__ = ("_dialect", "_path", "_raw", "_url")

    def __init__(
        self,
        raw: aiosqlite.Connection,
        dialect: SqliteDialect,
        url: str,
        path: str | None = None,
    ) -> None:
        self._raw = raw
        self._dialect = dialect
        self._url = url
        self._path = path

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    async def execute(self, query: str, *args: Any) -> None:
        try:
            # One hop to the connection's thread; the statement runs to completion there.
            await self._raw.execute_fetchall(self._dialect.sql(query), self._dialect.bind(args))
        except Exception as exc:
            raise wrap_sqlite_error(exc, self._url, self._path) from exc

    async def fetch_all(self, query: str, *args: Any) -> list[Row]:
        dialect = self._dialect
        try:
            rows = await self._raw.execute_fetchall(dialect.sql(query), dialect.bind(args))
        except Exception as exc:
            raise wrap_sqlite_error(exc, self._url, self._path) from exc
        # aiosqlite hands back cursor.fetchall()'s list: no copy needed.
        return rows if rows.__class__ is list else list(rows)  # type: ignore[arg-type]

    # fetch_one / fetch_value run the statement themselves rather than through
    # fetch_all: a coroutine layer per call is measurable on one-row reads.
    async def fetch_one(self, query: str, *args: Any) -> Row | None:
        dialect = self._dialect
        try:
            rows = await self._raw.execute_fetchall(dialect.sql(query), dialect.bind(args))
        except Exception as exc:
            raise wrap_sqlite_error(exc, self._url, self._path) from exc
        return rows[0] if rows else None  # type: ignore[index]

    async def fetch_value(self, query: str, *args: Any) -> Any:
        dialect = self._dialect
        try:
            rows = await self._raw.execute_fetchall(dialect.sql(query), dialect.bind(args))
        except Exception as exc:
            raise wrap_sqlite_error(exc, self._url, self._path) from exc
        return rows[0][0] if rows else None  # type: ignore[index]

    async def execute_many(self, query: str, args: Sequence[Sequence[Any]]) -> None:
        try:
            await self._raw.executemany(
                self._dialect.sql(query), [self._dialect.bind(a) for a in args]
            )
        except Exception as exc:
            raise wrap_sqlite_error(exc, self._url, self._path) from exc

    async def execute_script(self, script: str) -> None:
        # executescript() would COMMIT first; split and run inside our transaction instead.
        for statement in split_sqlite_script(script):
            try:
                await self._raw.execute_fetchall(statement)
            except Exception as exc:
                raise wrap_sqlite_error(exc, self._url, self._path) from exc


def split_sqlite_script(script: str) -> list[str]:
    """Complete statements of a script, using SQLite's own notion of completeness."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if any(
                part.strip() and not part.strip().startswith("--") for part in buffer.splitlines()
            ):
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and any(
        part.strip() and not part.strip().startswith("--") for part in buffer.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement at the end of a script: {buffer.strip()[:80]}")
    return statements


async def worker_stopped(pending: aiosqlite.Connection) -> None:
    """After a failed connect aiosqlite stops its worker thread without waiting for it;
    a thread still running when the event loop closes dies with a traceback on
    stderr. It ends within microseconds: wait for that (bounded) before raising.

    ``_thread`` is private (aiosqlite 0.22.1; before 0.20 the connection was the
    thread itself); tests/test_private_apis.py fails loudly when it goes."""
    thread = pending._thread
    deadline = time.monotonic() + 2.0
    while thread is not None and thread.is_alive() and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
