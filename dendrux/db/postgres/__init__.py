"""PostgreSQL through asyncpg: dialect, connection and pool leases, LISTEN/NOTIFY
wake-ups, engine.

This package must never be imported unless a PostgreSQL URL (or an
``asyncpg.Pool``) is used: it imports asyncpg.
"""

from dendrux.db.postgres.connection import PostgresConnection
from dendrux.db.postgres.dialect import (
    PostgresDialect,
    connection_is_gone,
    is_transient_pg_error,
    read_pg_timestamp,
    wrap_pg_error,
)
from dendrux.db.postgres.engine import PostgresEngine
from dendrux.db.postgres.notifications import EventNotifications

__all__ = [
    "EventNotifications",
    "PostgresConnection",
    "PostgresDialect",
    "PostgresEngine",
    "connection_is_gone",
    "is_transient_pg_error",
    "read_pg_timestamp",
    "wrap_pg_error",
]
