"""SQLite files as an older dendrux left them, for tests that a reader leaves them alone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dendrux.db.queries import load_migrations, load_queries

OLD_TIME = "2026-01-01T00:00:00.000000+00:00"


def schema_one_file(path: Path, *, journal: str = "wal") -> None:
    """What a writer at schema version 1 (migration 0001 only) leaves, in the given
    journal mode, with no rows: later migrations can only be missing, never undone."""
    first = load_migrations("sqlite")[0]
    assert first.version == 1
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA journal_mode = {journal}")
        raw.executescript(first.sql)
        raw.execute(load_queries("sqlite")["create_version_table"])
        raw.execute(
            "INSERT INTO dendrux_schema_version (version, name, checksum, applied_at) "
            "VALUES (1, ?, ?, ?)",
            (first.name, first.checksum, OLD_TIME),
        )
    raw.close()
