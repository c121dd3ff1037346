"""What `StateStore` and `RunStore` share: an engine they may own, and a
``close()`` after which they refuse work instead of reconnecting."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from dendrux.db import engine_from_connection
from dendrux.db.engine import Engine
from dendrux.errors import StoreClosedError


class EngineHolder:
    """Holds an engine; disposes it on close only when it owns it."""

    def __init__(self, engine: Engine, *, owns_engine: bool) -> None:
        self._engine = engine
        self._owns_engine = owns_engine
        self._closed = False

    @classmethod
    def from_engine(cls, engine: object) -> Self:
        """Over what the caller owns: a dendrux `Engine`, an ``asyncpg.Pool`` or an
        open ``aiosqlite.Connection``. ``close()`` leaves it open."""
        if not isinstance(engine, Engine):
            engine = engine_from_connection(engine)
        return cls(engine, owns_engine=False)

    @property
    def engine(self) -> Engine:
        """The engine this object works through."""
        return self._db()

    def _db(self) -> Engine:
        if self._closed:
            raise StoreClosedError(f"this {type(self).__name__} was closed; create a new one")
        return self._engine

    async def close(self) -> None:
        """Dispose the engine if owned; every later call raises StoreClosedError."""
        if self._closed:
            return
        self._closed = True
        if self._owns_engine:
            await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
