"""The SQLite dialect: how values are bound and read back, and how sqlite3's
errors become dendrux errors (each cause its own type, with its fix)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import Any

from dendrux.db.engine import Dialect, decode_json, utc_from_naive_or_aware
from dendrux.db.transient import sqlite_error_is_transient, sqlite_primary_code
from dendrux.errors import (
    DatabaseError,
    DatabaseLocationError,
    DendruxError,
    IntegrityError,
    ReadOnlyDatabaseError,
    TransientDatabaseError,
)

_SQLITE_READONLY = 8
_SQLITE_CANTOPEN = 14
_SQLITE_CONSTRAINT = 19
_parse_iso = datetime.fromisoformat
_loads = decode_json


def read_sqlite_timestamp(value: Any) -> datetime | None:
    """A stored timestamp as an aware UTC datetime: our aware UTC text parses to the UTC
    singleton in one C call; naive (upstream) text is UTC by convention."""
    if value.__class__ is str:
        parsed = _parse_iso(value)
        return parsed if parsed.tzinfo is UTC else utc_from_naive_or_aware(parsed)
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc_from_naive_or_aware(value)
    return utc_from_naive_or_aware(_parse_iso(value))


def read_sqlite_json(value: Any) -> Any:
    """A stored JSON column: text on our schema; the upstream schema's NUMERIC-affinity
    JSON columns may hand back numbers, which are the values themselves."""
    if value.__class__ is str:
        return _loads(value)
    if value is None or not isinstance(value, bytes):
        return value
    return _loads(value)


class SqliteDialect(Dialect):
    """SQLite: timestamps as ISO-8601 text, lists as JSON arrays.

    ``naive_timestamps``: the database stores naive UTC ``YYYY-MM-DD
    HH:MM:SS.ffffff`` text (the upstream schema), so bound datetimes are
    written that way too and text comparisons stay correct. Fixed at
    construction: an engine that finds an upstream file makes a new dialect.
    """

    name = "sqlite"

    def __init__(self, *, naive_timestamps: bool = False) -> None:
        super().__init__()
        self.naive_timestamps = naive_timestamps

    def bind(self, args: Sequence[Any]) -> tuple[Any, ...]:
        """Parameters as sqlite3 takes them: datetimes become the database's text form.

        Runs once per statement on the writer thread, whose Python time the event
        loop waits for: the scans are C loops (``map(isinstance, ...)``), and a
        row's one timestamp, last as every insert of ``dendrux.state.rows`` puts it,
        is converted without a Python loop over the row."""
        if args and isinstance(args[-1], datetime):
            head = args[:-1]
            if not any(map(isinstance, head, repeat(datetime))):
                text = _naive_text if self.naive_timestamps else sqlite_timestamp
                return (*head, text(args[-1]))
        elif not any(map(isinstance, args, repeat(datetime))):
            return args if args.__class__ is tuple else tuple(args)
        text = _naive_text if self.naive_timestamps else sqlite_timestamp
        return tuple([text(a) if isinstance(a, datetime) else a for a in args])

    def text_list(self, values: Sequence[str] | None) -> Any:
        return None if values is None else json.dumps(list(values))

    @property
    def metadata_index(self) -> bool:
        # An upstream-schema database (read as it is) has no agent_run_meta table.
        return not self.naive_timestamps

    # Both readers run once per value of every row read, so they are plain functions
    # (no method binding per call) with the common case first.
    read_ts = staticmethod(read_sqlite_timestamp)
    read_json = staticmethod(read_sqlite_json)


def _naive_text(value: datetime) -> str:
    """Upstream form; whole seconds without a fraction, as that schema may store them,
    so text comparison orders ``10:00:00`` and ``10:00:00.500000`` correctly."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{value.microsecond:06d}" if value.microsecond else text


def sqlite_timestamp(value: datetime) -> str:
    """Fixed-width UTC text, so text order is time order."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def sqlite_location_error(path: str | None, url: str, detail: object) -> DatabaseError:
    """Why SQLite cannot open ``path``, read from the file system (each cause has its
    own fix). Never transient: a retry meets the same directory."""
    if path is None or path == ":memory:":
        return DatabaseLocationError(
            f"cannot open SQLite database {url} ({detail}); check that its directory "
            "exists and is writable"
        )
    target = Path(path)
    where = f"cannot use SQLite database {url}"
    try:
        if target.is_dir():
            return DatabaseLocationError(
                f"{where}: {path} is a directory; name a file inside it instead, "
                f"e.g. {target / 'dendrux.db'}"
            )
        ancestor = nearest_existing(target.parent)
        if not ancestor.is_dir():
            return DatabaseLocationError(
                f"{where}: {ancestor} is a file, not a directory; choose a path whose "
                "parents are directories"
            )
        if ancestor != target.parent:
            return DatabaseLocationError(
                f"{where}: its directory {target.parent} does not exist and cannot be "
                f"created ({detail}); create it, or choose another location"
            )
    except OSError:  # an unreadable parent: the generic advice below still applies
        pass
    name = target.name
    return ReadOnlyDatabaseError(
        f"{where}: {path} cannot be opened for writing ({detail}); the file or its "
        f"directory {target.parent} is not writable (SQLite also keeps {name}-wal and "
        f"{name}-shm beside it): make them writable, or choose another location"
    )


def nearest_existing(path: Path) -> Path:
    """The closest ancestor of ``path`` (or itself) that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def wrap_sqlite_error(exc: Exception, url: str, path: str | None = None) -> DendruxError:
    """The dendrux error for a sqlite3/aiosqlite failure (the original is kept as cause);
    ``path``, when known, lets a file that cannot be opened say why."""
    if isinstance(exc, DendruxError):
        return exc
    primary = sqlite_primary_code(exc)
    if isinstance(exc, sqlite3.IntegrityError) or primary == _SQLITE_CONSTRAINT:
        return IntegrityError(f"{url}: constraint violated: {exc}")
    if sqlite_error_is_transient(exc):
        return TransientDatabaseError(
            f"{url}: database is locked by another writer beyond the busy timeout ({exc}); "
            "retry, or raise busy_timeout"
        )
    if primary == _SQLITE_READONLY:
        return ReadOnlyDatabaseError(
            f"{url} is read-only ({exc}); make the file and its directory writable, "
            "or open it for reading only"
        )
    if primary == _SQLITE_CANTOPEN:
        return sqlite_location_error(path, url, exc)
    return DatabaseError(f"{url}: {type(exc).__name__}: {exc}")
