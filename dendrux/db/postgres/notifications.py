"""LISTEN/NOTIFY wake-ups for streaming readers of a PostgreSQL engine."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from dendrux.db.postgres.dialect import connection_is_gone, wrap_pg_error

if TYPE_CHECKING:
    from dendrux.db.postgres.engine import PostgresEngine


class EventNotifications:
    """Holds one pooled connection in ``LISTEN dendrux_run_events`` and sets the
    waiting readers' events when a run's notification (payload: the run id)
    arrives. If the connection dies every reader is woken (they re-read) and the
    next subscriber starts a new listener; readers fall back to polling meanwhile."""

    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._pool: Any = None
        self._raw: Any = None
        self.alive = False

    async def start(self) -> None:
        pool = await self._engine._get_pool()
        try:
            self._raw = await pool.acquire()
            self._pool = pool
            await self._raw.add_listener("dendrux_run_events", self._notified)
            self._raw.add_termination_listener(self._terminated)
        except Exception as exc:
            await self.stop()
            raise wrap_pg_error(exc, self._engine.url, self._raw) from exc
        self.alive = True

    def _notified(self, _conn: Any, _pid: int, _channel: str, run_id: str) -> None:
        for wakeup in self._waiters.get(run_id, ()):
            wakeup.set()

    def _terminated(self, _conn: Any) -> None:
        self.alive = False
        for waiters in self._waiters.values():
            for wakeup in waiters:
                wakeup.set()

    def subscribe(self, run_id: str) -> asyncio.Event:
        wakeup = asyncio.Event()
        self._waiters.setdefault(run_id, set()).add(wakeup)
        return wakeup

    def unsubscribe(self, run_id: str, wakeup: asyncio.Event) -> None:
        waiters = self._waiters.get(run_id)
        if waiters is not None:
            waiters.discard(wakeup)
            if not waiters:
                del self._waiters[run_id]

    async def stop(self) -> None:
        self.alive = False
        raw, pool, self._raw, self._pool = self._raw, self._pool, None, None
        if raw is not None and not connection_is_gone(raw):
            with suppress(Exception):
                await raw.remove_listener("dendrux_run_events", self._notified)
        if raw is not None and pool is not None:
            with suppress(Exception):
                await pool.release(raw)
