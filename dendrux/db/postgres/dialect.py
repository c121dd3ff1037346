"""The PostgreSQL dialect: how values are read back, and how asyncpg's errors
become dendrux errors (transient ones retried, each other cause its own type)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from dendrux.db.engine import Dialect, utc_from_naive_or_aware
from dendrux.db.transient import sqlstate_of, transient_sqlstate
from dendrux.errors import (
    AuthenticationFailedError,
    ConnectionFailedError,
    DatabaseError,
    DatabaseMissingError,
    DendruxError,
    IntegrityError,
    ReadOnlyDatabaseError,
    TransientDatabaseError,
)

_sqlstate = sqlstate_of

WAKING_QUERIES: dict[str, int] = {"insert_run_event": 1, "append_run_event": 1}
"""The named queries that add a timeline event, and the position of their run id among
their parameters: once such a statement committed, the engine wakes that run's streaming
readers (``wake_run_event_readers``); the statement itself sends no NOTIFY."""


def is_transient_pg_error(exc: BaseException) -> bool:
    """Lost connections, timeouts, shutdowns, serialization failures and deadlocks."""
    state = _sqlstate(exc)
    if state:
        return transient_sqlstate(state)
    # InternalClientError: asyncpg's state after the server ended an idle connection
    # (MagicStack/asyncpg#1069); the connection is discarded and the retry gets a new one.
    lost = asyncpg.exceptions.ConnectionDoesNotExistError | asyncpg.InternalClientError
    return isinstance(exc, OSError | TimeoutError | asyncio.TimeoutError | lost)


def is_transient_raw_pg_error(exc: BaseException) -> bool:
    """`is_transient_pg_error` for an exception out of the caller's own asyncpg code,
    which has no connection to ask: a call on a connection the server already ended
    (asyncpg says "connection is closed") is a lost connection too."""
    if is_transient_pg_error(exc):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and str(exc).endswith("connection is closed")


def connection_is_gone(raw: Any) -> bool:
    """True for a closed connection, or a pool proxy asyncpg already detached
    after seeing its connection die (whose methods then raise InterfaceError)."""
    try:
        return bool(raw.is_closed())
    except asyncpg.InterfaceError:  # a detached proxy: its connection is gone
        return True


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
        return read_only_error(url, exc)
    if is_transient_pg_error(exc) or (
        isinstance(exc, asyncpg.InterfaceError) and raw is not None and connection_is_gone(raw)
    ):
        return TransientDatabaseError(f"{url}: {type(exc).__name__}: {exc}")
    return DatabaseError(f"{url}: {type(exc).__name__}: {exc}")


def read_only_error(url: str, exc: BaseException) -> ReadOnlyDatabaseError:
    """SQLSTATE 25006: a hot standby in recovery (or a read-only session) refused a write.
    Never transient: retrying cannot make a standby writable, so it fails at once."""
    return ReadOnlyDatabaseError(
        f"{url} accepts no writes: it is a read-only server, such as a hot standby ({exc}); "
        "point the write side (StateStore, the recorder, `dendrux db upgrade`) at the primary "
        "and keep the standby for readers (RunStore, the HTTP router, the CLI's reads)"
    )


def connect_error(exc: BaseException, url: str) -> DendruxError:
    wrapped = wrap_pg_error(exc, url)
    if type(wrapped) in (TransientDatabaseError, DatabaseError) and not _sqlstate(exc):
        return ConnectionFailedError(
            f"cannot connect to {url} ({type(exc).__name__}: {exc}); check that the server is "
            "running and reachable and that host and port are right"
        )
    return wrapped
