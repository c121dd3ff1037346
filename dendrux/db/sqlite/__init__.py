"""SQLite through aiosqlite: dialect, connection, readers, writer, engine.

This package must never be imported unless a SQLite URL (or an aiosqlite
connection) is used: it imports aiosqlite.
"""

from dendrux.db.sqlite.connection import (
    SqliteConnection,
    in_connection_thread,
    split_sqlite_script,
)
from dendrux.db.sqlite.dialect import (
    SqliteDialect,
    read_sqlite_json,
    read_sqlite_timestamp,
    sqlite_location_error,
    sqlite_timestamp,
    wrap_sqlite_error,
)
from dendrux.db.sqlite.engine import SqliteEngine

__all__ = [
    "SqliteConnection",
    "SqliteDialect",
    "SqliteEngine",
    "in_connection_thread",
    "read_sqlite_json",
    "read_sqlite_timestamp",
    "split_sqlite_script",
    "sqlite_location_error",
    "sqlite_timestamp",
    "wrap_sqlite_error",
]
