"""Statement audit: the exact SQL each variant sends for one run, and how many write
units share each commit.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from bench import workload as w
from bench.bare import BareRecorder, BareStore
from bench.recorder.databases import Databases
from bench.recorder.variants import _bare_backend, _make_recorder, drive
from dendrux.db.queries import load_queries


class _LoggedSqlite:
    """A sqlite3 connection that logs every statement it executes (the library and
    the bare code both run statements on the writer's thread, through ``execute``)."""

    def __init__(self, conn: sqlite3.Connection, log: list[str]) -> None:
        self._conn = conn
        self._log = log

    def execute(self, sql: str, *args: Any) -> Any:
        self._log.append(" ".join(sql.split()))
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@contextlib.contextmanager
def _record_sql(dialect: str, log: list[str], sqlite_writer: Any = None) -> Any:
    """Log every statement sent: on SQLite by the given aiosqlite connection (its
    sqlite3 connection is swapped for a logging one), on PostgreSQL by any asyncpg
    connection (the driver class is patched)."""
    if dialect == "sqlite":
        real = sqlite_writer._connection
        sqlite_writer._connection = _LoggedSqlite(real, log)
        try:
            yield
        finally:
            sqlite_writer._connection = real
        return
    import asyncpg.connection

    cls: Any = asyncpg.connection.Connection
    names = ["execute", "fetch", "fetchval", "fetchrow", "executemany"]
    originals = {name: getattr(cls, name) for name in names}

    def wrap(original: Any) -> Any:
        def recorded(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            log.append(" ".join(query.split()))
            return original(self, query, *args, **kwargs)

        return recorded

    for name, original in originals.items():
        setattr(cls, name, wrap(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(cls, name, original)


def _transactions(log: list[str]) -> int:
    """Commits in a statement log: every COMMIT, and every statement (or pipelined
    executemany, logged once) sent outside BEGIN ... COMMIT: it autocommitted."""
    count, inside = 0, False
    for sql in log:
        if sql.startswith("BEGIN"):
            inside = True
        elif sql in ("COMMIT", "ROLLBACK"):
            inside = False
            count += sql == "COMMIT"
        elif not inside:
            count += 1
    return count


async def _logged_library(
    dbs: Databases, specs: list[w.RunSpec], concurrency: int, name: str
) -> list[str]:
    """The statements the library sends to record ``specs``."""
    from dendrux.state import StateStore

    log: list[str] = []
    url, location = await dbs.fresh(name)
    store = StateStore.from_database_url(url)
    try:
        async with store.engine.connect():
            pass
        writer = getattr(store.engine, "_writer", None)
        with _record_sql(dbs.dialect, log, writer):
            await drive(specs, store, _make_recorder(store), concurrency)
    finally:
        await store.close()
    await dbs.drop(location)
    return log


async def audit(dbs: Databases, specs: list[w.RunSpec], concurrency: int) -> dict[str, Any]:
    """Send one run through each variant (concurrency 1) and compare the SQL sent;
    on SQLite also count how many units shared each commit at ``concurrency``."""
    logs: dict[str, list[str]] = {
        "library": await _logged_library(dbs, specs[:1], 1, "bench_audit_library")
    }
    logs["bare"] = []
    _, location = await dbs.fresh("bench_audit_bare")
    backend = _bare_backend(dbs.dialect, location)
    await backend.open()
    try:
        writer = getattr(backend, "db", None)
        with _record_sql(dbs.dialect, logs["bare"], writer):
            await drive(
                specs[:1],
                BareStore(backend),
                lambda run_id: BareRecorder(
                    backend,
                    run_id,
                    model=w.MODEL,
                    provider_name=w.PROVIDER,
                    target_lookup=w.TARGETS,
                ),
                1,
            )
    finally:
        await backend.close()
    await dbs.drop(location)

    def is_reset(sql: str) -> bool:  # asyncpg's default pool reset (neither variant sends it)
        return sql.startswith("SELECT pg_advisory_unlock_all()")

    # PostgreSQL's reader wake-ups go from a background task, several runs' at a time when
    # they pile up, so their number and place in the sequence depend on timing: counted apart.
    wake = " ".join(load_queries("postgres")["wake_run_event_readers"].split())
    counted = {k: [s for s in v if not is_reset(s) and s != wake] for k, v in logs.items()}
    result: dict[str, Any] = {
        "library_statements": len(counted["library"]),
        "bare_statements": len(counted["bare"]),
        "wake_ups": {k: sum(s == wake for s in v) for k, v in logs.items()},
        "pool_reset_queries": {k: sum(map(is_reset, v)) for k, v in logs.items()},
        "identical_sql_sequence": counted["library"] == counted["bare"],
        "expected_statements": w.STATEMENTS_PER_RUN[dbs.dialect],
        "first_difference": next(
            (
                {"index": i, "library": a[:120], "bare": b[:120]}
                for i, (a, b) in enumerate(zip(counted["library"], counted["bare"], strict=False))
                if a != b
            ),
            None,
        ),
    }
    # How many units shared each commit at the benchmark's concurrency.
    sample = specs[: 4 * concurrency]
    log = await _logged_library(dbs, sample, concurrency, "bench_audit_group")
    commits = _transactions([s for s in log if s != wake])
    result["group_commit"] = {
        "runs": len(sample),
        "concurrency": concurrency,
        "units": len(sample) * w.UNITS_PER_RUN,
        "commits": commits,
        "units_per_commit": len(sample) * w.UNITS_PER_RUN / commits,
        "wake_ups": sum(s == wake for s in log),  # committed apart, without waiting for fsync
    }
    return result
