"""The SQLite engine: one writer connection, a few readers, WAL.

Writes are serialised in-process on the single writer connection and run
inside ``BEGIN IMMEDIATE`` (so another process's writer waits on the busy
timeout instead of failing half-way); write units are group-committed on the
writer's thread (`dendrux.db.sqlite.writer`). Readers use their own
connections (`dendrux.db.sqlite.readers`) and never block on the writer.
``synchronous=FULL`` is the default: an audit trail must survive power loss.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiosqlite

from dendrux.db.engine import Connection, Engine
from dendrux.db.group import GroupCommit
from dendrux.db.options import bool_option, int_option, seconds_option
from dendrux.db.sqlite.connection import SqliteConnection, in_connection_thread, worker_stopped
from dendrux.db.sqlite.dialect import (
    SqliteDialect,
    nearest_existing,
    sqlite_location_error,
    wrap_sqlite_error,
)
from dendrux.db.sqlite.readers import ReaderLease
from dendrux.db.sqlite.writer import commit_on_writer_thread
from dendrux.db.urls import DatabaseURL
from dendrux.db.writes import Outcome, UnitResult, WriteUnit
from dendrux.errors import (
    DatabaseError,
    DatabaseMissingError,
    DendruxError,
    InvalidArgumentError,
    StoreClosedError,
)

_SYNCHRONOUS = {
    "FULL": "synchronous_full",
    "NORMAL": "synchronous_normal",
    "OFF": "synchronous_off",
}


class SqliteEngine(Engine):
    """An engine over one SQLite file (or a private in-memory database).

    Given a caller's open connection instead, the engine uses it for reads and
    writes alike, sets ``row_factory = sqlite3.Row`` and ``foreign_keys=ON`` on
    it, and never closes it.

    Options (keyword arguments or URL query parameters): ``synchronous``
    (FULL, NORMAL or OFF; FULL by default), ``busy_timeout`` (seconds, 5),
    ``readers`` (reader connections, 4), ``mode`` (``ro`` opens read-only,
    ``rw`` never creates the file), ``create`` (False: open an existing file
    only, as ``mode=rw`` does; a missing one is `DatabaseMissingError`),
    ``auto_migrate`` (True: the schema is created/updated on first use), ``wal``
    (True: the file is switched to WAL on first use; False leaves its journal mode
    as it is, so a reader that also sets ``auto_migrate=False`` never writes).

    A path that cannot hold a database is a configuration error, never
    retried: `DatabaseLocationError` (missing directory that cannot be
    created, a parent that is a file, a path that is a directory) or
    `ReadOnlyDatabaseError` (an unwritable file or directory).
    """

    dialect: SqliteDialect

    def __init__(
        self,
        url: DatabaseURL,
        *,
        connection: aiosqlite.Connection | None = None,
        **options: Any,
    ) -> None:
        merged: dict[str, Any] = {**url.options, **options}
        unknown = set(merged) - {
            "synchronous",
            "busy_timeout",
            "readers",
            "mode",
            "create",
            "auto_migrate",
            "wal",
        }
        if unknown:
            raise InvalidArgumentError(
                f"unknown SQLite option(s) {sorted(unknown)}; accepted: synchronous, "
                "busy_timeout, readers, mode, create, auto_migrate, wal"
            )
        synchronous = str(merged.get("synchronous", "FULL")).upper()
        if synchronous not in _SYNCHRONOUS:
            raise InvalidArgumentError(
                f"option synchronous must be one of FULL, NORMAL, OFF, got {synchronous!r}"
            )
        create = bool_option("create", merged.get("create", True))
        mode = str(merged.get("mode", "rwc" if create else "rw"))
        if mode not in ("ro", "rw", "rwc"):
            raise InvalidArgumentError(f"option mode must be ro, rw or rwc, got {mode!r}")
        if not create and mode == "rwc":
            raise InvalidArgumentError("option create=False contradicts mode=rwc (which creates)")
        self.dialect = SqliteDialect()
        self.url = url.masked
        self._path = url.sqlite_path or ":memory:"
        self._synchronous = _SYNCHRONOUS[synchronous]
        self._busy_timeout = seconds_option("busy_timeout", merged.get("busy_timeout", 5.0))
        self._reader_count = int_option("readers", merged.get("readers", 4), minimum=1)
        self._mode = mode
        self._auto_migrate = bool_option("auto_migrate", merged.get("auto_migrate", True))
        self._wal = bool_option("wal", merged.get("wal", True))
        self._owns_connection = connection is None
        self._writer: aiosqlite.Connection | None = connection
        # A private in-memory database or a caller's connection: one connection for everything.
        self._single_connection = connection is not None or self._path == ":memory:"
        self._write_lock = asyncio.Lock()
        self._ready_lock = asyncio.Lock()
        self._ready = False
        self._idle_readers: list[aiosqlite.Connection] = []
        self._reader_slots = asyncio.Semaphore(self._reader_count)
        self._group = GroupCommit(self._commit_group, name=self.url, gate=self._write_lock)
        self._closed = False

    async def _open(self, *, reader: bool) -> aiosqlite.Connection:
        if self._path == ":memory:":
            target, uri = ":memory:", False
        else:
            path = Path(self._path)
            if path.is_dir():
                raise sqlite_location_error(self._path, self.url, "a directory")
            if self._mode == "rwc" and not reader:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise sqlite_location_error(self._path, self.url, exc) from exc
            mode = ("ro" if self._mode == "ro" else "rw") if reader else self._mode
            if mode != "rwc" and not path.exists():
                if not nearest_existing(path.parent).is_dir():  # a parent is a file
                    raise sqlite_location_error(self._path, self.url, "no such file")
                raise DatabaseMissingError(
                    f"SQLite database {self.url} does not exist: {self._path} is opened "
                    f"without creating it (mode={self._mode}); check the path, or create "
                    "it first (`dendrux db upgrade` or `await dendrux.db.upgrade(url)`)"
                )
            target, uri = f"file:{quote(str(path))}?mode={mode}", True
        pending = aiosqlite.connect(
            target, uri=uri, isolation_level=None, timeout=self._busy_timeout
        )
        # A store nobody closed must not keep the interpreter from exiting (aiosqlite's
        # worker is not a daemon). What was committed is on disk already; the file's
        # journal undoes a write cut short. ``_thread`` is private: see worker_stopped.
        pending._thread.daemon = True
        try:
            raw = await pending
        except Exception as exc:
            await worker_stopped(pending)
            raise wrap_sqlite_error(exc, self.url, self._path) from exc
        raw.row_factory = sqlite3.Row
        if reader:
            try:
                await SqliteConnection(raw, self.dialect, self.url, self._path).execute(
                    "query_only"
                )
            except BaseException:
                raw.stop()  # a cancelled open must not leave its connection and thread behind
                raise
        return raw

    async def _ensure_ready(self) -> None:
        self._check_open()
        if self._ready:
            return
        async with self._ready_lock:
            if self._ready:
                return
            if self._writer is None:
                self._writer = await self._open(reader=False)
            else:
                # A caller's connection: rows must be addressable by column name.
                self._writer.row_factory = sqlite3.Row
            conn = SqliteConnection(self._writer, self.dialect, self.url, self._path)
            from dendrux.db.migrate import apply_migrations, check_schema, is_upstream_schema

            # An upstream-schema file is read as it is: not even its journal mode changes.
            upstream = await is_upstream_schema(conn)
            writable = self._owns_connection and self._path != ":memory:" and self._mode != "ro"
            if writable and not upstream and self._wal:
                await conn.execute("enable_wal")
            await conn.execute("enable_foreign_keys")
            if self._owns_connection:
                await conn.execute(self._synchronous)
            if upstream:
                # Chosen once, before any connection is handed out; never changed after.
                self.dialect = SqliteDialect(naive_timestamps=True)
            elif self._auto_migrate and self._mode != "ro":
                async with self._locked_transaction() as tx:
                    await apply_migrations(tx, self.url)
            else:
                await check_schema(conn, self.url)
            self._ready = True

    def _live_writer(self) -> aiosqlite.Connection:
        """The writer connection; refused once the engine was disposed."""
        self._check_open()
        if self._writer is None:
            raise StoreClosedError(f"the engine for {self.url} was disposed")
        return self._writer

    @asynccontextmanager
    async def _locked_transaction(self) -> AsyncIterator[Connection]:
        async with self._write_lock:
            writer = self._live_writer()
            if writer.in_transaction:
                raise DatabaseError(
                    f"{self.url}: the connection already has an open transaction; commit it "
                    "before handing the connection to dendrux"
                )
            conn = SqliteConnection(writer, self.dialect, self.url, self._path)
            await conn.execute("begin_immediate")
            try:
                yield conn
            except BaseException:
                if writer.in_transaction:
                    with suppress(DendruxError):
                        await conn.execute("rollback")
                raise
            await conn.execute("commit")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        await self._ensure_ready()
        async with self._locked_transaction() as conn:
            yield conn

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Connection]:
        await self._ensure_ready()
        async with self._write_lock:
            yield SqliteConnection(self._live_writer(), self.dialect, self.url, self._path)

    def write(self, unit: WriteUnit) -> Coroutine[Any, Any, UnitResult]:
        """Queue the unit for the next group commit (`dendrux.db.sqlite.writer`) and
        wait for that commit. A plain function handing back the queue's coroutine once
        the engine is ready: one coroutine less per hook on the recorder's path."""
        if self._ready and not self._closed:
            return self._group.submit(unit)
        return self._write_when_ready(unit)

    async def _write_when_ready(self, unit: WriteUnit) -> UnitResult:
        await self._ensure_ready()
        self._check_open()
        return await self._group.submit(unit)

    async def _commit_group(self, units: list[WriteUnit]) -> list[Outcome]:
        """One group, one transaction, one hop to the writer's thread; runs holding
        the write lock (the group's gate). Units queued before dispose() still land."""
        writer = self._writer
        if writer is None:
            raise StoreClosedError(f"the engine for {self.url} was disposed")
        return await in_connection_thread(
            writer, commit_on_writer_thread, self.dialect, units, self.url
        )

    @asynccontextmanager
    async def migration_transaction(self) -> AsyncIterator[Connection]:
        self._check_open()
        async with self._ready_lock:
            if self._writer is None:
                self._writer = await self._open(reader=False)
            self._writer.row_factory = sqlite3.Row
        async with self._locked_transaction() as conn:
            yield conn

    def connect(self) -> AbstractAsyncContextManager[Connection]:
        return ReaderLease(self)

    async def dispose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Queued units still commit (or fail) before the writer goes.
        await self._group.drain()
        async with self._write_lock:
            readers, self._idle_readers = self._idle_readers, []
            for raw in readers:
                await raw.close()
            if self._writer is not None and self._owns_connection:
                await self._writer.close()
            self._writer = None
