"""Which raw driver failures are worth retrying, decided without importing a driver.

`retry_critical` also wraps the caller's own code, which raises the drivers'
exceptions unwrapped (a ``sqlite3.OperationalError`` for a locked file, an
asyncpg serialization failure...). Both dialect adapters classify their own
errors through the tables here, and `driver_error_is_transient` picks the
adapter from the exception's module: a driver that raised the exception is
loaded already, and one that did not is never imported to find out.
"""

from __future__ import annotations

PG_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
"""Serialization failure, deadlock, lock not available."""
PG_TRANSIENT_CLASSES = ("08", "53", "57P")
"""Connection exceptions, insufficient resources, operator intervention (shutdowns)."""

SQLITE_BUSY = 5
SQLITE_LOCKED = 6
_SQLITE_BUSY_TEXT = ("database is locked", "database table is locked", "database is busy")


def sqlstate_of(exc: BaseException) -> str:
    """The SQLSTATE a PostgreSQL driver attached to ``exc`` (``""`` when none)."""
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else ""


def transient_sqlstate(state: str) -> bool:
    """True for the SQLSTATEs a retry may get past."""
    return state in PG_TRANSIENT_SQLSTATES or state.startswith(PG_TRANSIENT_CLASSES)


def sqlite_primary_code(exc: BaseException) -> int | None:
    """The primary SQLite result code of a sqlite3 error (None when it has none)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def sqlite_error_is_transient(exc: BaseException) -> bool:
    """Busy or locked; an error built by hand without a result code is read by its
    message, which is SQLite's own text for those two codes."""
    primary = sqlite_primary_code(exc)
    if primary is not None:
        return primary in (SQLITE_BUSY, SQLITE_LOCKED)
    return type(exc).__name__ == "OperationalError" and str(exc).startswith(_SQLITE_BUSY_TEXT)


def driver_error_is_transient(exc: BaseException) -> bool:
    """A raw exception (not a dendrux error) classified by the adapter of the driver
    that raised it; lost connections and timeouts are transient whoever raised them."""
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    module = type(exc).__module__
    if module == "sqlite3" or module.startswith("sqlite3."):
        return sqlite_error_is_transient(exc)
    if module == "asyncpg" or module.startswith("asyncpg."):
        # asyncpg raised it, so it is loaded: its adapter adds its client-side errors.
        from dendrux.db.postgres.dialect import is_transient_raw_pg_error

        return is_transient_raw_pg_error(exc)
    # Another PostgreSQL driver names the cause the same way.
    state = sqlstate_of(exc)
    return bool(state) and transient_sqlstate(state)
