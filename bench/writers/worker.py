"""One writer process: ``python -m bench.writers.worker`` records its own runs of the
recorder workload into the shared database, starting when the parent says so.

Protocol (one JSON object per stdout line): after opening its store (the library's
`StateStore`, or the bare driver's backend) and generating its inputs, the child prints
``{"ready": true}`` and waits for one line on stdin; then it records, and prints its
result. Nothing escapes as a traceback: an error reaching the caller is reported in the
result (``error``), which is what the parent checks for ``SQLITE_BUSY`` / locked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import sys
import time
from typing import Any

from bench import workload as w
from bench.bare import BareRecorder, BareStore
from bench.recorder.variants import _bare_backend, _make_recorder, drive


class _RetryCounter(logging.Handler):
    """Counts the durability wrappers' log lines: a retried transient failure, a skipped
    best-effort write (either would show a lock or a lost row that the caller never saw)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retries = 0
        self.skipped = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("retrying"):
            self.retries += 1
        elif message.startswith("best-effort"):
            self.skipped += 1
        self.first = self.first or message[:300]


class _TimedSqlite:
    """The writer's sqlite3 connection with its lock waits timed: ``BEGIN IMMEDIATE`` (a
    group's transaction takes the file's write lock there, waiting on the busy timeout
    while another process holds it) and a statement run outside a transaction (it takes
    the lock itself); ``COMMIT`` is timed apart (the WAL append and its fsync)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.lock_wait_s = 0.0
        self.commit_s = 0.0
        self.commits = 0

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.startswith("COMMIT"):
            t = time.perf_counter()
            cursor = self._conn.execute(sql, *args)
            self.commit_s += time.perf_counter() - t
            self.commits += 1
            return cursor
        if sql.startswith("BEGIN") or not self._conn.in_transaction:
            t = time.perf_counter()
            cursor = self._conn.execute(sql, *args)
            self.lock_wait_s += time.perf_counter() - t
            self.commits += not sql.startswith("BEGIN")  # it autocommits
            return cursor
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _timed(writer: Any) -> _TimedSqlite:
    """Swap the aiosqlite connection's sqlite3 connection for the timed one (as the
    recorder benchmark's statement audit does with its logging one)."""
    timed = _TimedSqlite(writer._connection)
    writer._connection = timed
    return timed


async def record(args: argparse.Namespace) -> dict[str, Any]:
    specs = w.make_runs(args.runs, args.seed + 7919 * args.index)
    counter = _RetryCounter()
    logging.getLogger("dendrux").addHandler(counter)
    timed: _TimedSqlite | None = None
    if args.variant == "library":
        from dendrux.state import StateStore

        store: Any = StateStore.from_database_url(args.url)
        async with store.engine.connect():  # warm: the writer / pool is open before the start
            pass
        if args.dialect == "sqlite":
            timed = _timed(store.engine._writer)
        make = _make_recorder(store)
        close = store.close
    else:
        backend = _bare_backend(args.dialect, args.location)
        await backend.open()
        if args.dialect == "sqlite":
            timed = _timed(backend.db)
        store = BareStore(backend)

        def make(run_id: str) -> BareRecorder:
            return BareRecorder(
                backend, run_id, model=w.MODEL, provider_name=w.PROVIDER, target_lookup=w.TARGETS
            )

        close = backend.close
    result: dict[str, Any] = {"index": args.index, "run_ids": [s.run_id for s in specs]}
    try:
        print(json.dumps({"ready": True}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        result["start"] = time.monotonic()
        cpu = time.process_time()
        try:
            timing = await drive(specs, store, make, args.concurrency)
        except Exception as exc:  # what reached the caller: the point fails on it
            result["error"] = f"{type(exc).__name__}: {exc}"[:500]
            result["error_is_lock"] = any(
                word in str(exc).lower() for word in ("locked", "busy", "sqlite_busy")
            )
        else:
            result["wall_s"] = timing.wall_s
        result["end"] = time.monotonic()
        result["cpu_s"] = time.process_time() - cpu
    finally:
        await close()
    result["hook_calls"] = len(specs) * w.HOOK_CALLS_PER_RUN if "wall_s" in result else 0
    result["retries"], result["skipped"] = counter.retries, counter.skipped
    result["first_log_line"] = counter.first
    if timed is not None:
        result["lock_wait_s"], result["commit_s"] = timed.lock_wait_s, timed.commit_s
        result["commits"] = timed.commits
    return result


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.writers.worker")
    p.add_argument("--dialect", choices=("sqlite", "postgres"), required=True)
    p.add_argument("--variant", choices=("library", "bare"), required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--location", required=True)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--seed", type=int, default=20240601)
    args = p.parse_args(argv)
    result = asyncio.run(record(args))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
