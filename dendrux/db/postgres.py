"""PostgreSQL through an asyncpg pool.

JSON travels as text into ``$n::jsonb`` parameters; our own pool decodes
json/jsonb in the driver (codecs set on every new connection), a caller's
pool is decoded in `Dialect.read_json`. Optional: a schema (namespace) for
the tables, pinned per connection with ``search_path``; a pooler-friendly
mode without prepared statements.

Fewer round trips and commits than writes: a write unit with a one-statement
form (a data-modifying CTE writing all of a hook's rows) is sent as that one
prepared statement, and the units of concurrent callers that share a form
are group-committed: one pipelined ``executemany``, one round trip, one
commit for all of them (any failure rolls it back whole, and each unit then
runs alone, so one member's conflict is never another's). Our pool hands
connections back without asyncpg's reset query (this library leaves no
session state behind: no SET, no session advisory locks, no LISTEN on pooled
connections). This module must never be imported unless a PostgreSQL URL
(or pool) is used: it imports asyncpg.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import asyncpg

from dendrux.db.engine import (
    Connection,
    Dialect,
    Engine,
    Row,
    RunEventWakeups,
    decode_json,
    run_write,
    utc_from_naive_or_aware,
)
from dendrux.db.group import GroupCommit
from dendrux.db.options import bool_option, int_option, seconds_option
from dendrux.db.urls import DatabaseURL
from dendrux.db.writes import Outcome, UnitResult, WriteUnit, may_skip
from dendrux.errors import (
    AuthenticationFailedError,
    ConnectionFailedError,
    DatabaseError,
    DatabaseMissingError,
    DendruxError,
    IntegrityError,
    InvalidArgumentError,
    ReadOnlyDatabaseError,
    StoreClosedError,
    TransientDatabaseError,
)

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
_TRANSIENT_CLASSES = ("08", "53", "57P")
_MAX_QUERIES = 10_000_000
"""Statements a pooled connection serves before asyncpg replaces it (its default,
50,000, would reconnect and re-prepare every statement every minute or so under load)."""
_OWN_OPTIONS = frozenset(
    {
        "schema",
        "prepared_statements",
        "pool_min_size",
        "pool_max_size",
        "connect_timeout",
        "create",
    }
)


def _sqlstate(exc: BaseException) -> str:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else ""


def is_transient_pg_error(exc: BaseException) -> bool:
    """Lost connections, timeouts, shutdowns, serialization failures and deadlocks."""
    state = _sqlstate(exc)
    if state:
        return state in _TRANSIENT_SQLSTATES or state.startswith(_TRANSIENT_CLASSES)
    # InternalClientError: asyncpg's state after the server ended an idle connection
    # (MagicStack/asyncpg#1069); the connection is discarded and the retry gets a new one.
    lost = asyncpg.exceptions.ConnectionDoesNotExistError | asyncpg.InternalClientError
    return isinstance(exc, OSError | TimeoutError | asyncio.TimeoutError | lost)


def connection_is_gone(raw: Any) -> bool:
    """True for a closed connection, or a pool proxy asyncpg already detached
    after seeing its connection die (whose methods then raise InterfaceError)."""
    if getattr(raw, "_con", raw) is None:
        return True
    return bool(raw.is_closed())


def read_pg_timestamp(value: Any) -> datetime | None:
    """A stored timestamp as an aware UTC datetime; asyncpg already returns timestamptz
    values that way, so the common case is one test."""
    if value.__class__ is datetime and value.tzinfo is UTC:
        return value
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return utc_from_naive_or_aware(value)


class PostgresDialect(Dialect):
    """PostgreSQL: native timestamptz, ``text[]`` lists, JSONB."""

    name = "postgres"

    def __init__(self, *, json_decoded_by_driver: bool) -> None:
        super().__init__()
        self._json_decoded = json_decoded_by_driver

    def text_list(self, values: Sequence[str] | None) -> Any:
        return None if values is None else list(values)

    # Runs once per timestamp of every row read: a plain function, no method binding.
    read_ts = staticmethod(read_pg_timestamp)

    def read_json(self, value: Any) -> Any:
        if self._json_decoded:
            return value
        return super().read_json(value)


def wrap_pg_error(exc: BaseException, url: str, raw: Any = None) -> DendruxError:
    """The dendrux error for an asyncpg/socket failure (the original is kept as cause)."""
    if isinstance(exc, DendruxError):
        return exc
    state = _sqlstate(exc)
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError) or state.startswith("28"):
        return AuthenticationFailedError(
            f"{url}: the server refused the credentials ({exc}); check the user and password"
        )
    if state == "3D000":
        return DatabaseMissingError(f"{url}: {exc}; create the database first (createdb)")
    if state.startswith("23"):
        return IntegrityError(f"{url}: constraint violated: {exc}")
    if state == "25006":
        return ReadOnlyDatabaseError(f"{url} is read-only ({exc}); connect to a writable primary")
    if is_transient_pg_error(exc) or (
        isinstance(exc, asyncpg.InterfaceError) and raw is not None and connection_is_gone(raw)
    ):
        return TransientDatabaseError(f"{url}: {type(exc).__name__}: {exc}")
    return DatabaseError(f"{url}: {type(exc).__name__}: {exc}")


class PostgresConnection:
    """Runs named queries on one asyncpg connection."""

    __slots__ = ("_dialect", "_raw", "_url")

    def __init__(self, raw: Any, dialect: PostgresDialect, url: str) -> None:
        self._raw = raw
        self._dialect = dialect
        self._url = url

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    async def execute(self, query: str, *args: Any) -> None:
        try:
            await self._raw.execute(self._dialect.sql(query), *args)
        except Exception as exc:
            raise wrap_pg_error(exc, self._url, self._raw) from exc

    async def fetch_all(self, query: str, *args: Any) -> list[Row]:
        try:
            return list(await self._raw.fetch(self._dialect.sql(query), *args))
        except Exception as exc:
            raise wrap_pg_error(exc, self._url, self._raw) from exc

    async def fetch_one(self, query: str, *args: Any) -> Row | None:
        try:
            row: Row | None = await self._raw.fetchrow(self._dialect.sql(query), *args)
        except Exception as exc:
            raise wrap_pg_error(exc, self._url, self._raw) from exc
        return row

    async def fetch_value(self, query: str, *args: Any) -> Any:
        try:
            return await self._raw.fetchval(self._dialect.sql(query), *args)
        except Exception as exc:
            raise wrap_pg_error(exc, self._url, self._raw) from exc

    async def execute_many(self, query: str, args: Sequence[Sequence[Any]]) -> None:
        try:
            await self._raw.executemany(self._dialect.sql(query), args)
        except Exception as exc:
            raise wrap_pg_error(exc, self._url, self._raw) from exc

    async def execute_script(self, script: str) -> None:
        try:
            await self._raw.execute(script)
        except Exception as exc:
            raise wrap_pg_error(exc, self._url, self._raw) from exc


def _passthrough(value: str) -> str:
    return value


async def _keep_session(_conn: Any) -> None:
    """Pool release without a reset query: asyncpg still rolls back an open
    transaction and drops listeners; nothing else of ours outlives a statement."""


class PostgresEngine(Engine):
    """An engine over an asyncpg pool (its own, or one the caller owns).

    Options (keyword arguments or URL query parameters): ``schema`` (a
    namespace for the tables), ``prepared_statements`` (False for
    PgBouncer-style transaction poolers), ``pool_min_size`` (1),
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
            assert url.postgres_dsn is not None
            self._dsn = url.postgres_dsn + (f"?{urlencode(passthrough)}" if passthrough else "")
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
        slots = pool.get_max_size() if pool is not None else self._max_size
        self._group = GroupCommit(self._commit_group, name=self.url, slots=slots)
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"the engine for {self.url} was disposed")

    async def _init_connection(self, raw: Any) -> None:
        for type_name in ("json", "jsonb"):
            await raw.set_type_codec(
                type_name,
                schema="pg_catalog",
                encoder=_passthrough,
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
                        reset=_keep_session,
                        timeout=self._connect_timeout,
                    )
                except Exception as exc:
                    raise _connect_error(exc, self.url) from exc
            return self._pool

    def _acquire(self) -> _Lease:
        """``async with self._acquire() as raw``: a raw pooled connection; refused once
        the engine is disposed."""
        return _Lease(self)

    async def _ensure_schema(self) -> None:
        if self._schema_checked:
            return
        from dendrux.db.migrate import check_schema

        async with self._acquire() as raw:
            await check_schema(PostgresConnection(raw, self.dialect, self.url), self.url)
        self._schema_checked = True

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        async with self._acquire() as raw:
            try:
                tx = raw.transaction()
                await tx.start()
            except Exception as exc:
                raise wrap_pg_error(exc, self.url, raw) from exc
            try:
                yield PostgresConnection(raw, self.dialect, self.url)
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
        async with self._transaction() as conn:
            yield conn

    def autocommit(self) -> AbstractAsyncContextManager[Connection]:
        # PostgreSQL runs a statement outside a transaction block atomically on its own.
        self._check_open()
        return _Pooled(self)

    @asynccontextmanager
    async def migration_transaction(self) -> AsyncIterator[Connection]:
        async with self._transaction() as conn:
            yield conn

    async def write(self, unit: WriteUnit) -> UnitResult:
        """Group-committed when the unit has a one-statement form, else alone."""
        self._check_open()
        query = unit.one_statement
        if query is not None and query in self.dialect.queries:
            return await self._group.submit(unit)
        return await self._write_alone(unit)

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
                    async with _Pooled(self) as conn:
                        await conn.execute_many(query, [units[i].joined_args() for i in members])
                except Exception as exc:
                    if not may_skip(exc):  # lost connection, closed engine...: the same for all
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
        """The unit's one statement when the dialect has it, else write by write.

        The one statement has no ON CONFLICT clauses: a conflict (a retry
        whose first attempt landed, another row in a slot) or a refused
        best-effort row fails it whole, having written nothing, and the
        write-by-write path then sorts out which is which.
        """
        query = unit.one_statement
        if query is not None and query in self.dialect.queries:
            try:
                async with _Pooled(self) as conn:
                    row = await conn.fetch_one(query, *unit.joined_args())
            except Exception as exc:
                if not may_skip(exc):
                    raise
            else:
                n = len(unit.writes)
                return UnitResult(tuple(row.values())[:n] if row is not None else (None,) * n)
        if len(unit.writes) == 1:  # most units: one statement, sent as it is
            write = unit.writes[0]
            try:
                async with _Pooled(self) as conn:
                    return UnitResult((await run_write(conn, write),))
            except Exception as exc:
                if write.best_effort and may_skip(exc):
                    return UnitResult((None,), ((write.label, exc),))
                raise
        return await super().write(unit)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        await self._ensure_schema()
        async with self._acquire() as raw:
            yield PostgresConnection(raw, self.dialect, self.url)

    async def run_event_wakeups(self) -> RunEventWakeups | None:
        """One LISTEN connection per engine, shared by every streaming reader."""
        self._check_open()
        if self._wakeups is None or not self._wakeups.alive:
            async with self._pool_lock:
                if self._wakeups is None or not self._wakeups.alive:
                    await self._ensure_schema()
                    listener = EventNotifications(self)
                    await listener.start()
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
        if self._wakeups is not None:
            await self._wakeups.stop()
            self._wakeups = None
        if self._pool is not None and self._owns_pool:
            pool, self._pool = self._pool, None
            await pool.close()


class _Lease:
    """``async with _Lease(engine) as raw``: a raw asyncpg connection from the engine's
    pool for one piece of work, as a plain class (no generator-based context manager
    on every statement's path). A connection whose work failed at the protocol level
    is terminated, never handed back to the pool."""

    __slots__ = ("_engine", "_holder", "_raw")

    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine
        self._holder: Any = None
        self._raw: Any = None

    async def __aenter__(self) -> Any:
        return await self._take(await self._engine._get_pool())

    async def _take(self, pool: asyncpg.Pool) -> Any:
        try:
            # Waiting for a busy pool has no timeout (asyncpg would pay a wait_for task on
            # every acquire); making a new connection is bounded by the connect timeout.
            self._holder = pool.acquire()
            self._raw = await self._holder.__aenter__()
        except Exception as exc:
            raise _connect_error(exc, self._engine.url) from exc
        return self._raw

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, TransientDatabaseError) and not connection_is_gone(self._raw):
            self._raw.terminate()
        # If the connection dies while it is released, asyncpg discards it; the work is done.
        with suppress(Exception):
            await self._holder.__aexit__(None, None, None)


class _Pooled(_Lease):
    """``async with _Pooled(engine) as conn``: a `_Lease` as a `Connection`, once the
    schema was checked. It does not refuse a disposed engine: its callers check
    that, so that work queued before dispose() still runs."""

    __slots__ = ()

    async def __aenter__(self) -> Connection:
        engine = self._engine
        if not engine._schema_checked:
            await engine._ensure_schema()
        pool = engine._pool
        raw = await self._take(pool if pool is not None else await engine._get_pool())
        return PostgresConnection(raw, engine.dialect, engine.url)


def _connect_error(exc: BaseException, url: str) -> DendruxError:
    wrapped = wrap_pg_error(exc, url)
    if type(wrapped) in (TransientDatabaseError, DatabaseError) and not _sqlstate(exc):
        return ConnectionFailedError(
            f"cannot connect to {url} ({type(exc).__name__}: {exc}); check that the server is "
            "running and reachable and that host and port are right"
        )
    return wrapped


class EventNotifications:
    """Holds one pooled connection in ``LISTEN dendrux_run_events`` and sets the
    waiting readers' events when a run's notification (payload: the run id)
    arrives. If the connection dies every reader is woken (they re-read) and the
    next subscriber starts a new listener; readers fall back to polling meanwhile."""

    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._holder: Any = None
        self._raw: Any = None
        self.alive = False

    async def start(self) -> None:
        pool = await self._engine._get_pool()
        self._holder = pool.acquire()
        try:
            self._raw = await self._holder.__aenter__()
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
        raw, holder, self._raw, self._holder = self._raw, self._holder, None, None
        if raw is not None and not connection_is_gone(raw):
            with suppress(Exception):
                await raw.remove_listener("dendrux_run_events", self._notified)
        if holder is not None:
            with suppress(Exception):
                await holder.__aexit__(None, None, None)
