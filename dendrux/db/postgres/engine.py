"""The PostgreSQL engine over an asyncpg pool.

JSON travels as text into ``$n::jsonb`` parameters; our own pool decodes
json/jsonb in the driver (codecs set on every new connection), a caller's
pool is decoded in `Dialect.read_json`. Optional: a schema (namespace) for
the tables, pinned per connection with ``search_path``; a pooler-friendly
mode without prepared statements.

Fewer round trips and commits than writes: a write unit with a one-statement
form (a data-modifying CTE writing all of a hook's rows, ``hooks.sql``) is
sent as that one prepared statement, and the units of concurrent callers that
share a form are group-committed: one pipelined ``executemany``, one round
trip, one commit for all of them (any failure rolls it back whole, and each
unit then runs alone, so one member's conflict is never another's). Our pool
hands connections back without asyncpg's reset query (this library leaves no
session state behind: no SET, no session advisory locks, no LISTEN on pooled
connections).

Streaming readers of a run are woken after its events committed, by one
``wake_run_event_readers`` statement for every run whose events committed
meanwhile, sent by a background task and committed without waiting for its
WAL flush: a NOTIFY inside the events' own transactions would hold the
server's notification lock through each commit's fsync, queueing every
writer behind it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any
from urllib.parse import urlencode

import asyncpg

from dendrux.db.engine import Connection, Engine, RunEventWakeups
from dendrux.db.group import GroupCommit
from dendrux.db.jsoncodec import decode_json
from dendrux.db.options import bool_option, int_option, seconds_option
from dendrux.db.postgres.connection import (
    Lease,
    Pooled,
    PostgresConnection,
    keep_session,
    passthrough,
)
from dendrux.db.postgres.dialect import (
    WAKING_QUERIES,
    PostgresDialect,
    connect_error,
    connection_is_gone,
    wrap_pg_error,
)
from dendrux.db.postgres.notifications import EventNotifications
from dendrux.db.units import drive_unit
from dendrux.db.urls import DatabaseURL
from dendrux.db.writes import Outcome, UnitResult, WriteUnit, is_refusal
from dendrux.errors import InvalidArgumentError, ReadOnlyDatabaseError

logger = logging.getLogger(__name__)

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_MAX_QUERIES = 10_000_000
"""Statements a pooled connection serves before asyncpg replaces it (its default,
50,000, would reconnect and re-prepare every statement every minute or so under load)."""
_LISTEN_RETRY_S = 60.0
"""After a server refused LISTEN (a hot standby), readers poll; LISTEN is tried again
after this long, so a standby promoted meanwhile wakes its readers again."""
_OWN_OPTIONS = frozenset(
    {
        "schema",
        "prepared_statements",
        "listen",
        "pool_min_size",
        "pool_max_size",
        "connect_timeout",
        "create",
    }
)


class PostgresEngine(Engine):
    """An engine over an asyncpg pool (its own, or one the caller owns).

    Options (keyword arguments or URL query parameters): ``schema`` (a
    namespace for the tables), ``prepared_statements`` (False for
    PgBouncer-style transaction poolers), ``listen`` (False: no LISTEN connection,
    streaming readers poll; a transaction pooler cannot carry LISTEN), ``pool_min_size`` (1),
    ``pool_max_size`` (10), ``connect_timeout`` (seconds, 10), ``create``
    (accepted for symmetry with SQLite; a server database is never created).
    Other URL query parameters (``sslmode``...) go to asyncpg unchanged.

    The user and password are handed to asyncpg as keyword arguments, never
    inside the DSN string, so no driver message can echo the password.
    """

    dialect: PostgresDialect

    def __init__(
        self, url: DatabaseURL | None, *, pool: asyncpg.Pool | None = None, **options: Any
    ) -> None:
        url_options = dict(url.options) if url else {}
        passthrough = {k: v for k, v in url_options.items() if k not in _OWN_OPTIONS}
        merged = {k: v for k, v in url_options.items() if k in _OWN_OPTIONS}
        merged.update(options)
        unknown = set(merged) - _OWN_OPTIONS
        if unknown:
            raise InvalidArgumentError(
                f"unknown PostgreSQL option(s) {sorted(unknown)}; accepted: "
                f"{', '.join(sorted(_OWN_OPTIONS))}"
            )
        schema = merged.get("schema")
        if schema is not None and (
            not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema)
        ):
            raise InvalidArgumentError(
                f"option schema must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*), got {schema!r}"
            )
        if pool is not None and schema is not None:
            raise InvalidArgumentError(
                "option schema cannot be applied to a pool you own; set search_path in its "
                "server_settings instead"
            )
        self.schema: str | None = schema
        self._prepared = bool_option("prepared_statements", merged.get("prepared_statements", True))
        self._listen = bool_option("listen", merged.get("listen", True))
        self._min_size = int_option("pool_min_size", merged.get("pool_min_size", 1), minimum=0)
        self._max_size = int_option("pool_max_size", merged.get("pool_max_size", 10), minimum=1)
        self._connect_timeout = seconds_option(
            "connect_timeout", merged.get("connect_timeout", 10.0)
        )
        bool_option("create", merged.get("create", True))  # validated; nothing to create
        if self._min_size > self._max_size:
            raise InvalidArgumentError("option pool_min_size must be <= pool_max_size")
        if url is not None:
            self.url = url.masked
            dsn = url.postgres_dsn or ""
            self._dsn = dsn + (f"?{urlencode(passthrough)}" if passthrough else "")
            self._auth = {
                k: v
                for k, v in (("user", url.postgres_user), ("password", url.postgres_password))
                if v is not None
            }
        else:
            self.url = "postgresql://(caller-owned pool)"
            self._dsn = ""
            self._auth = {}
        self.dialect = PostgresDialect(json_decoded_by_driver=pool is None)
        self._pool: asyncpg.Pool | None = pool
        self._owns_pool = pool is None
        self._pool_lock = asyncio.Lock()
        self._schema_checked = False
        self._wakeups: EventNotifications | None = None
        self._listen_refused_at: float | None = None
        self._wakeups_lock = asyncio.Lock()
        slots = pool.get_max_size() if pool is not None else self._max_size
        self._group = GroupCommit(self._commit_group, name=self.url, slots=slots)
        self._wakes: set[str] = set()  # runs whose readers the next wake-up wakes
        self._waker: asyncio.Task[None] | None = None
        self._closed = False

    async def _init_connection(self, raw: Any) -> None:
        for type_name in ("json", "jsonb"):
            await raw.set_type_codec(
                type_name,
                schema="pg_catalog",
                encoder=passthrough,
                decoder=decode_json,
                format="text",
            )

    async def _get_pool(self) -> asyncpg.Pool:
        self._check_open()
        if self._pool is not None:
            return self._pool
        async with self._pool_lock:
            self._check_open()
            if self._pool is None:
                settings = {"application_name": "dendrux"}
                if self.schema is not None:
                    settings["search_path"] = f'"{self.schema}"'
                try:
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        **self._auth,
                        min_size=self._min_size,
                        max_size=self._max_size,
                        statement_cache_size=100 if self._prepared else 0,
                        max_queries=_MAX_QUERIES,
                        server_settings=settings,
                        init=self._init_connection,
                        reset=keep_session,
                        timeout=self._connect_timeout,
                    )
                except Exception as exc:
                    raise connect_error(exc, self.url) from exc
            return self._pool

    def _acquire(self) -> Lease:
        """``async with self._acquire() as raw``: a raw pooled connection; refused once
        the engine is disposed."""
        return Lease(self)

    async def _ensure_schema(self) -> None:
        if self._schema_checked:
            return
        from dendrux.db.migrate import check_schema

        async with self._acquire() as raw:
            await check_schema(PostgresConnection(raw, self.dialect, self.url), self.url)
        self._schema_checked = True

    @asynccontextmanager
    async def _transaction(self, wakes: set[str] | None = None) -> AsyncIterator[Connection]:
        async with self._acquire() as raw:
            try:
                tx = raw.transaction()
                await tx.start()
            except Exception as exc:
                raise wrap_pg_error(exc, self.url, raw) from exc
            try:
                yield PostgresConnection(raw, self.dialect, self.url, wakes)
            except BaseException:
                if not connection_is_gone(raw):
                    # If the connection dies now, the server rolls back on its own.
                    with suppress(Exception):
                        await tx.rollback()
                raise
            try:
                await tx.commit()
            except Exception as exc:
                raise wrap_pg_error(exc, self.url, raw) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        await self._ensure_schema()
        wakes: set[str] = set()
        async with self._transaction(wakes) as conn:
            yield conn
        if wakes:  # committed
            self.wake_readers(wakes)

    @asynccontextmanager
    async def _unit_transaction(self) -> AsyncIterator[Connection]:
        """A write unit's block: its readers are woken by `write`, once per unit."""
        await self._ensure_schema()
        async with self._transaction() as conn:
            yield conn

    def autocommit(self) -> AbstractAsyncContextManager[Connection]:
        # PostgreSQL runs a statement outside a transaction block atomically on its own.
        self._check_open()
        return Pooled(self, waking=True)

    @asynccontextmanager
    async def migration_transaction(self) -> AsyncIterator[Connection]:
        async with self._transaction() as conn:
            yield conn

    async def write(self, unit: WriteUnit) -> UnitResult:
        """Group-committed when the unit has a one-statement form, else alone; once
        it committed, the readers of the runs it added events to are woken."""
        self._check_open()
        query = unit.one_statement
        if query is not None and query in self.dialect.queries:
            result = await self._group.submit(unit)
        else:
            result = await self._write_alone(unit)
        for write in unit.writes:
            at = WAKING_QUERIES.get(write.query)
            if at is not None:
                self.wake_readers((write.args[at],))
        return result

    def wake_readers(self, run_ids: Iterable[str]) -> None:
        """Wake the streaming readers of these runs (whose new events committed), soon:
        the wake-up is sent by a background task, with every run that committed events
        while the previous one was on its way."""
        self._wakes.update(run_ids)
        if self._waker is None and self._wakes:
            self._waker = asyncio.get_running_loop().create_task(self._send_wakes())

    async def _send_wakes(self) -> None:
        """One ``wake_run_event_readers`` at a time until none is owed. A failed one is
        not retried: a reader that misses it re-reads at its next poll."""
        try:
            while self._wakes:
                run_ids = sorted(self._wakes)
                self._wakes.clear()
                try:
                    async with Pooled(self) as conn:
                        await conn.execute("wake_run_event_readers", run_ids)
                except Exception as exc:
                    logger.debug("waking the readers of %d run(s) failed: %s", len(run_ids), exc)
        finally:
            self._waker = None

    async def _commit_group(self, units: list[WriteUnit]) -> list[Outcome]:
        """Units sharing a one-statement form go as one pipelined ``executemany``
        (atomic: one implicit transaction), the forms side by side on their own
        connections; a lone unit, or every member of a batch that failed for a
        logical reason, runs alone, in queue order."""
        if len(units) == 1:  # the common case below saturation: a unit on its own
            try:
                return [await self._write_alone(units[0])]
            except Exception as exc:
                return [exc]
        outcomes: list[Outcome | None] = [None] * len(units)
        by_query: dict[str, list[int]] = {}
        for i, unit in enumerate(units):
            by_query.setdefault(unit.one_statement or "", []).append(i)

        async def commit(query: str, members: list[int]) -> None:
            if len(members) > 1:
                try:
                    async with Pooled(self) as conn:
                        await conn.execute_many(query, [units[i].joined_args() for i in members])
                except Exception as exc:
                    if not is_refusal(exc):  # lost connection, closed engine...: the same for all
                        for i in members:
                            outcomes[i] = exc
                        return
                else:
                    for i in members:
                        outcomes[i] = UnitResult(units[i].stored_ids())
                    return
            for i in members:
                try:
                    outcomes[i] = await self._write_alone(units[i])
                except Exception as exc:
                    outcomes[i] = exc

        await asyncio.gather(*(commit(query, members) for query, members in by_query.items()))
        return outcomes  # type: ignore[return-value]

    async def _write_alone(self, unit: WriteUnit) -> UnitResult:
        """The unit's one statement when the dialect has it, else the unit policy
        (`dendrux.db.units`) write by write.

        The one statement has no ON CONFLICT clauses: a conflict (a retry
        whose first attempt landed, another row in a slot) or a refused
        best-effort row fails it whole, having written nothing, and the
        write-by-write path then sorts out which is which.
        """
        query = unit.one_statement
        if query is not None and query in self.dialect.queries:
            try:
                async with Pooled(self) as conn:
                    row = await conn.fetch_one(query, *unit.joined_args())
            except ReadOnlyDatabaseError:
                raise  # a standby: writing the unit row by row would only be refused again
            except Exception as exc:
                if not is_refusal(exc):
                    raise
            else:
                n = len(unit.writes)
                return UnitResult(tuple(row.values())[:n] if row is not None else (None,) * n)
        return await drive_unit(unit, alone=self._pooled, together=self._unit_transaction)

    def _pooled(self) -> Pooled:
        return Pooled(self)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        await self._ensure_schema()
        wakes: set[str] = set()
        try:
            async with self._acquire() as raw:
                yield PostgresConnection(raw, self.dialect, self.url, wakes)
        finally:
            if wakes:  # autocommitted (a needless wake-up only re-reads)
                self.wake_readers(wakes)

    async def run_event_wakeups(self) -> RunEventWakeups | None:
        """One LISTEN connection per engine, shared by every streaming reader; None (the
        readers poll) with ``listen=False`` (a transaction pooler: LISTEN passes but its
        notifications never arrive) and on a hot standby, which refuses LISTEN during
        recovery and has no notifications to give (a NOTIFY is not replicated)."""
        self._check_open()
        if not self._listen:
            return None
        if self._wakeups is None or not self._wakeups.alive:
            refused = self._listen_refused_at
            if refused is not None and time.monotonic() - refused < _LISTEN_RETRY_S:
                return None
            # Its own lock: starting a listener may create the pool, under _pool_lock.
            async with self._wakeups_lock:
                if self._wakeups is None or not self._wakeups.alive:
                    await self._ensure_schema()
                    listener = EventNotifications(self)
                    try:
                        await listener.start()
                    except ReadOnlyDatabaseError:
                        self._listen_refused_at = time.monotonic()
                        return None
                    self._listen_refused_at = None
                    self._wakeups = listener
        return self._wakeups

    def forget_schema_check(self) -> None:
        """Check the schema version again on next use (after `upgrade`)."""
        self._schema_checked = False

    async def dispose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._group.drain()
        if self._waker is not None:
            await self._waker  # the wake-ups owed for what the drained groups wrote
        if self._wakeups is not None:
            await self._wakeups.stop()
            self._wakeups = None
        if self._pool is not None and self._owns_pool:
            pool, self._pool = self._pool, None
            await pool.close()
