"""Reader connections of the SQLite engine: a small idle list, leased per read."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiosqlite

from dendrux.db.engine import Connection
from dendrux.db.sqlite.connection import SqliteConnection
from dendrux.errors import StoreClosedError

if TYPE_CHECKING:
    from dendrux.db.sqlite.engine import SqliteEngine


class ReaderLease:
    """What `SqliteEngine.connect()` returns: a reader connection from the idle list
    for the ``async with`` block (the writer's, behind the write lock, when there is
    only one connection). A class rather than a generator: it runs on every read."""

    __slots__ = ("_engine", "_locked", "_raw")

    def __init__(self, engine: SqliteEngine) -> None:
        self._engine = engine
        self._raw: aiosqlite.Connection | None = None
        self._locked = False

    async def __aenter__(self) -> Connection:
        engine = self._engine
        if not engine._ready:
            await engine._ensure_ready()
        if engine._single_connection:
            await engine._write_lock.acquire()
            if engine._closed or engine._writer is None:
                engine._write_lock.release()
                engine._check_open()
                raise StoreClosedError(f"the engine for {engine.url} was disposed")
            self._locked = True
            return SqliteConnection(engine._writer, engine.dialect, engine.url, engine._path)
        await engine._reader_slots.acquire()
        try:
            engine._check_open()
            idle = engine._idle_readers
            self._raw = idle.pop() if idle else await engine._open(reader=True)
        except BaseException:
            engine._reader_slots.release()
            raise
        return SqliteConnection(self._raw, engine.dialect, engine.url, engine._path)

    async def __aexit__(self, *exc_info: object) -> None:
        engine = self._engine
        if self._locked:
            engine._write_lock.release()
            return
        raw, self._raw = self._raw, None
        try:
            if raw is not None:
                if engine._closed:
                    await raw.close()
                else:
                    engine._idle_readers.append(raw)
        finally:
            engine._reader_slots.release()
