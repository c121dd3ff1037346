"""Recorder benchmark: PersistenceRecorder against the same transactions on the bare driver.

    python -m bench recorder [--runs 200] [--concurrency 8] [--dialect both]
                             [--repeat 3] [--json PATH] [--profile]

For each dialect and repeat, two variants run the same pre-generated
workload (see `bench.workload`) into a fresh, migrated database:

* ``library``: `StateStore.create_run`, the four `PersistenceRecorder`
  hooks, `StateStore.finalize_run`;
* ``bare``: the same statements, transactions and stored content written by
  hand on aiosqlite / asyncpg (see `bench.bare`).

The ratio is library wall time / bare wall time for the same repeat (lower is
better; 1.0 means the library costs nothing beyond the driver). Every variant
is verified afterwards (exact row counts, gap-free per-run sequences,
correlation ids that join), and the two variants' stored content is compared
row by row (ids and timestamps aside).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import math
import os
import platform
import pstats
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import workload as w
from bench.bare import BareRecorder, BareStore, PostgresBackend, SqliteBackend
from bench.pg import run_with_cluster

TARGET_RATIO = 1.5
REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------
# driving one variant
# ---------------------------------------------------------------------------


@dataclass
class Timing:
    wall_s: float
    latencies: dict[str, list[float]]
    loop_cpu_s: float = 0.0  # CPU time of the event-loop thread (all Python work on the loop)
    process_cpu_s: float = 0.0  # CPU time of the whole process (adds aiosqlite's thread)


async def drive(
    specs: list[w.RunSpec],
    store: Any,
    make_recorder: Callable[[str], Any],
    concurrency: int,
) -> Timing:
    """Record every run (``concurrency`` at a time); time the whole and each hook await."""
    lat: dict[str, list[float]] = {k: [] for k in (*w.HOOK_KINDS, *w.OTHER_KINDS)}
    msg, llm, tool, gov = (lat[k] for k in w.HOOK_KINDS)
    created, finalized = lat["create_run"], lat["finalize_run"]
    clock = time.perf_counter
    gate = asyncio.Semaphore(concurrency)

    async def one(spec: w.RunSpec) -> None:
        async with gate:
            t = clock()
            await store.create_run(
                spec.run_id,
                w.AGENT_NAME,
                input_data=spec.input_data,
                model=w.MODEL,
                strategy="react",
                tenant_id=w.TENANT,
                meta=spec.meta,
            )
            created.append(clock() - t)
            rec = make_recorder(spec.run_id)
            t = clock()
            await rec.on_message_appended(spec.user, 0)
            msg.append(clock() - t)
            for i, it in enumerate(spec.iterations, 1):
                t = clock()
                await rec.on_llm_call_completed(
                    it.response,
                    i,
                    semantic_messages=it.semantic_messages,
                    semantic_tools=w.TOOLS,
                    duration_ms=it.duration_ms,
                )
                llm.append(clock() - t)
                t = clock()
                await rec.on_message_appended(it.assistant, i)
                msg.append(clock() - t)
                t = clock()
                await rec.on_tool_completed(it.call, it.result, i)
                tool.append(clock() - t)
                t = clock()
                await rec.on_message_appended(it.tool_message, i)
                msg.append(clock() - t)
            event_type, data, correlation = spec.governance
            t = clock()
            await rec.on_governance_event(event_type, w.ITERATIONS, data, correlation)
            gov.append(clock() - t)
            t = clock()
            await rec.on_message_appended(spec.final, w.ITERATIONS)
            msg.append(clock() - t)
            t = clock()
            done = await store.finalize_run(
                spec.run_id,
                status="success",
                answer=spec.answer,
                iteration_count=w.ITERATIONS,
                total_usage=spec.total_usage,
                expected_current_status="running",
            )
            finalized.append(clock() - t)
            if not done:
                raise AssertionError(f"finalize_run refused run {spec.run_id}")

    cpu, loop_cpu = time.process_time(), time.thread_time()
    start = clock()
    await asyncio.gather(*(one(spec) for spec in specs))
    wall = clock() - start
    return Timing(wall, lat, time.thread_time() - loop_cpu, time.process_time() - cpu)


async def run_library(url: str, specs: list[w.RunSpec], concurrency: int) -> Timing:
    from dendrux.state import StateStore

    store = StateStore.from_database_url(url)
    try:
        async with store.engine.connect():  # warm: open the writer / pool, check the schema
            pass
        return await drive(specs, store, _make_recorder(store), concurrency)
    finally:
        await store.close()


def _bare_backend(dialect: str, location: str) -> SqliteBackend | PostgresBackend:
    return SqliteBackend(location) if dialect == "sqlite" else PostgresBackend(location)


async def run_bare(
    dialect: str, location: str, specs: list[w.RunSpec], concurrency: int
) -> tuple[Timing, int]:
    backend = _bare_backend(dialect, location)
    await backend.open()
    try:
        store = BareStore(backend)

        def make(run_id: str) -> BareRecorder:
            return BareRecorder(
                backend,
                run_id,
                model=w.MODEL,
                provider_name=w.PROVIDER,
                target_lookup=w.TARGETS,
            )

        timing = await drive(specs, store, make, concurrency)
        return timing, backend.units
    finally:
        await backend.close()


# ---------------------------------------------------------------------------
# databases: fresh per variant, verified and compared afterwards
# ---------------------------------------------------------------------------

_SNAPSHOT = {
    "agent_runs": "SELECT id, tenant_id, agent_name, status, input_data, output_data, "
    "iteration_count, model, strategy, total_input_tokens, total_output_tokens, total_cost_usd, "
    "total_cache_read_tokens, total_cache_creation_tokens, total_reasoning_tokens, meta, "
    "pause_data, cancel_requested FROM agent_runs ORDER BY id",
    "react_traces": "SELECT agent_run_id, order_index, role, content, meta FROM react_traces "
    "ORDER BY agent_run_id, order_index",
    "tool_calls": "SELECT agent_run_id, tool_call_id, provider_tool_call_id, tool_name, target, "
    "params, result, success, duration_ms, iteration_index, error_message, meta FROM tool_calls "
    "ORDER BY agent_run_id, tool_call_id",
    # llm.completed carries a freshly minted interaction id: checked by join instead.
    "run_events": "SELECT agent_run_id, sequence_index, event_type, iteration_index, "
    "CASE WHEN event_type = 'llm.completed' THEN NULL ELSE correlation_id END, data "
    "FROM run_events ORDER BY agent_run_id, sequence_index",
    "llm_interactions": "SELECT agent_run_id, iteration_index, model, provider, "
    "semantic_request, semantic_response, provider_request, provider_response, input_tokens, "
    "output_tokens, cost_usd, duration_ms, cache_read_input_tokens, "
    "cache_creation_input_tokens, reasoning_tokens, guardrail_findings FROM llm_interactions "
    "ORDER BY agent_run_id, iteration_index",
    "token_usage": "SELECT agent_run_id, iteration_index, model, provider, input_tokens, "
    "output_tokens, cost_usd, duration_ms, cache_read_input_tokens, "
    "cache_creation_input_tokens, reasoning_tokens, meta FROM token_usage "
    "ORDER BY agent_run_id, iteration_index",
}


def _checks(runs: int) -> list[tuple[str, str, int]]:
    """(what, SQL returning one count, expected) for a finished variant."""
    it = w.ITERATIONS
    checks = [
        (f"rows in {table}", f"SELECT count(*) FROM {table}", per_run * runs)
        for table, per_run in w.ROWS_PER_RUN.items()
    ]
    events, traces = w.ROWS_PER_RUN["run_events"], w.ROWS_PER_RUN["react_traces"]
    checks += [
        (
            "runs finalized (success, iteration_count, progress stamped)",
            f"SELECT count(*) FROM agent_runs WHERE status = 'success' AND iteration_count = {it} "
            "AND last_progress_at IS NOT NULL AND output_data IS NOT NULL",
            runs,
        ),
        (
            f"runs with events 0..{events - 1}, no gap",
            "SELECT count(*) FROM (SELECT agent_run_id FROM run_events GROUP BY agent_run_id "
            f"HAVING count(*) = {events} AND min(sequence_index) = 0 "
            f"AND max(sequence_index) = {events - 1}) t",
            runs,
        ),
        (
            f"runs with traces 0..{traces - 1}, no gap",
            "SELECT count(*) FROM (SELECT agent_run_id FROM react_traces GROUP BY agent_run_id "
            f"HAVING count(*) = {traces} AND min(order_index) = 0 "
            f"AND max(order_index) = {traces - 1}) t",
            runs,
        ),
        (
            "llm.completed events joining their llm_interactions row",
            "SELECT count(*) FROM run_events e JOIN llm_interactions l "
            "ON l.id = e.correlation_id AND l.agent_run_id = e.agent_run_id "
            "WHERE e.event_type = 'llm.completed'",
            it * runs,
        ),
        (
            "tool.completed events joining their tool_calls row",
            "SELECT count(*) FROM run_events e JOIN tool_calls c "
            "ON c.tool_call_id = e.correlation_id AND c.agent_run_id = e.agent_run_id "
            "WHERE e.event_type = 'tool.completed'",
            it * runs,
        ),
    ]
    return checks


class SqliteDatabases:
    dialect = "sqlite"

    def __init__(self, directory: str) -> None:
        self.dir = Path(directory)

    async def fresh(self, name: str) -> tuple[str, str]:
        """(url for the library, location for the bare backend), migrated."""
        from dendrux.db import upgrade

        path = self.dir / f"{name}.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade(url)
        return url, str(path)

    async def query(self, location: str, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(location)
        try:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
        finally:
            conn.close()

    async def drop(self, location: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(location + suffix)

    async def before_variant(self) -> None:
        return None


class PostgresDatabases:
    dialect = "postgres"

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster

    async def _admin(self, *statements: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.cluster.dsn("postgres"))
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def fresh(self, name: str) -> tuple[str, str]:
        from dendrux.db import upgrade

        await self._admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        dsn = self.cluster.dsn(name)
        await upgrade(dsn)
        return dsn, dsn

    async def query(self, location: str, sql: str) -> list[tuple[Any, ...]]:
        import asyncpg

        conn = await asyncpg.connect(location)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    async def drop(self, location: str) -> None:
        name = location.rsplit("/", 1)[1]
        await self._admin(f'DROP DATABASE IF EXISTS "{name}"')

    async def before_variant(self) -> None:
        # Start every variant from a clean checkpoint, so neither pays for the other's WAL.
        await self._admin("CHECKPOINT")


Databases = SqliteDatabases | PostgresDatabases


async def verify(dbs: Databases, location: str, runs: int) -> list[str]:
    """Failed checks (empty when the variant left exactly what it should)."""
    failures = []
    for what, sql, expected in _checks(runs):
        got = (await dbs.query(location, sql))[0][0]
        if got != expected:
            failures.append(f"{what}: expected {expected}, found {got}")
    return failures


async def compare(dbs: Databases, lib: str, bare: str) -> list[str]:
    """Tables whose content differs between the two variants (ids and timestamps aside)."""
    failures = []
    for table, sql in _SNAPSHOT.items():
        a, b = await dbs.query(lib, sql), await dbs.query(bare, sql)
        if a == b:
            continue
        if len(a) != len(b):
            failures.append(f"{table}: library {len(a)} rows, bare {len(b)} rows")
            continue
        for row_a, row_b in zip(a, b, strict=True):
            if row_a != row_b:
                failures.append(
                    f"{table}: first difference\n  library {str(row_a)[:400]}\n"
                    f"  bare    {str(row_b)[:400]}"
                )
                break
    return failures


# ---------------------------------------------------------------------------
# statement audit: the exact SQL each variant sends for one run
# ---------------------------------------------------------------------------


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


def _make_recorder(store: Any) -> Callable[[str], Any]:
    from dendrux.recorder import EventSequencer, PersistenceRecorder

    def make(run_id: str) -> PersistenceRecorder:
        return PersistenceRecorder(
            store,
            run_id,
            model=w.MODEL,
            provider_name=w.PROVIDER,
            target_lookup=w.TARGETS,
            event_sequencer=EventSequencer(0),
        )

    return make


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

    counted = {k: [s for s in v if not is_reset(s)] for k, v in logs.items()}
    result: dict[str, Any] = {
        "library_statements": len(counted["library"]),
        "bare_statements": len(counted["bare"]),
        "pool_reset_queries": {k: len(v) - len(counted[k]) for k, v in logs.items()},
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
    commits = _transactions(log)
    result["group_commit"] = {
        "runs": len(sample),
        "concurrency": concurrency,
        "units": len(sample) * w.UNITS_PER_RUN,
        "commits": commits,
        "units_per_commit": len(sample) * w.UNITS_PER_RUN / commits,
    }
    return result


# ---------------------------------------------------------------------------
# one dialect: audit, then repeats of (library, bare) in alternating order
# ---------------------------------------------------------------------------


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def _variant_summary(t: Timing, runs: int) -> dict[str, Any]:
    hooks = runs * w.HOOK_CALLS_PER_RUN
    return {
        "wall_s": t.wall_s,
        "hook_calls": hooks,
        "hook_calls_per_s": hooks / t.wall_s,
        "loop_thread_cpu_s": t.loop_cpu_s,
        "process_cpu_s": t.process_cpu_s,
        "latency_ms": {
            kind: {
                "n": len(v),
                "p50": _pct(v, 0.50) * 1e3,
                "p99": _pct(v, 0.99) * 1e3,
                "mean": statistics.fmean(v) * 1e3,
            }
            for kind, v in t.latencies.items()
        },
    }


async def bench_dialect(
    dbs: Databases, specs: list[w.RunSpec], args: argparse.Namespace, out: Callable[[str], None]
) -> dict[str, Any]:
    runs = len(specs)
    audit_result = await audit(dbs, specs, args.concurrency)
    repeats: list[dict[str, Any]] = []
    failures: list[str] = []
    for r in range(1, args.repeat + 1):
        order = ("library", "bare") if r % 2 else ("bare", "library")
        result: dict[str, Any] = {"repeat": r, "order": list(order)}
        where: dict[str, str] = {}
        for variant in order:
            url, location = await dbs.fresh(f"bench_{variant}_{r}")
            where[variant] = location
            await dbs.before_variant()
            if variant == "library":
                timing = await run_library(url, specs, args.concurrency)
                statements = None
            else:
                timing, statements = await run_bare(dbs.dialect, location, specs, args.concurrency)
            summary = _variant_summary(timing, runs)
            summary["bare_units_sent"] = statements
            problems = await verify(dbs, location, runs)
            summary["verified"] = not problems
            failures += [f"repeat {r} {variant}: {p}" for p in problems]
            result[variant] = summary
            out(
                f"  repeat {r} {variant:<7} {timing.wall_s:8.2f} s  "
                f"{summary['hook_calls_per_s']:8.1f} hook calls/s  "
                f"{'verified' if not problems else 'VERIFICATION FAILED'}"
            )
        mismatch = await compare(dbs, where["library"], where["bare"])
        result["same_content"] = not mismatch
        failures += [f"repeat {r} content: {m}" for m in mismatch]
        result["ratio"] = result["library"]["wall_s"] / result["bare"]["wall_s"]
        repeats.append(result)
        for location in where.values():
            await dbs.drop(location)
    ratios = [x["ratio"] for x in repeats]
    return {
        "audit": audit_result,
        "repeats": repeats,
        "median": {
            "ratio": statistics.median(ratios),
            "library_hook_calls_per_s": statistics.median(
                x["library"]["hook_calls_per_s"] for x in repeats
            ),
            "bare_hook_calls_per_s": statistics.median(
                x["bare"]["hook_calls_per_s"] for x in repeats
            ),
            "library_wall_s": statistics.median(x["library"]["wall_s"] for x in repeats),
            "bare_wall_s": statistics.median(x["bare"]["wall_s"] for x in repeats),
        },
        "failures": failures,
    }


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        nproc = os.cpu_count() or 0
    commit = "unknown"
    with contextlib.suppress(Exception):
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "dendrux", "sql"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if dirty:
            commit += " (+ uncommitted changes in dendrux/ or sql/)"
    return {
        "nproc": nproc,
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "aiosqlite": metadata.version("aiosqlite"),
        "asyncpg": metadata.version("asyncpg"),
        "dendrux_commit": commit,
        "tmpdir": tempfile.gettempdir(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _fmt_ratio(x: float) -> str:
    return f"{x:.2f}x"


def report_dialect(
    dialect: str, settings: str, res: dict[str, Any], runs: int, args: argparse.Namespace
) -> list[str]:
    reps = res["repeats"]
    n = len(reps)
    lines = [
        "",
        f"== {dialect}: {settings}",
        f"   runs={runs} concurrency={args.concurrency} repeats={n}; per variant: "
        f"{runs * w.HOOK_CALLS_PER_RUN} hook calls, "
        f"{runs * sum(w.ROWS_PER_RUN.values())} rows inserted "
        f"({', '.join(f'{t} {runs * k}' for t, k in w.ROWS_PER_RUN.items())}), "
        f"{runs * w.UPDATES_PER_RUN} rows updated, {runs * w.UNITS_PER_RUN} write units "
        f"({'group-committed' if dialect == 'sqlite' else 'one statement and commit each'})",
    ]
    head = "".join(f"{'repeat ' + str(x['repeat']):>22}" for x in reps) + f"{'median':>22}"
    lines.append(f"   {'':<18}{head}")
    for variant in ("library", "bare"):
        cells = "".join(
            f"{x[variant]['wall_s']:8.2f} s {x[variant]['hook_calls_per_s']:7.0f}/s".rjust(22)
            for x in reps
        )
        med = res["median"]
        cells += (
            f"{med[variant + '_wall_s']:8.2f} s {med[variant + '_hook_calls_per_s']:7.0f}/s"
        ).rjust(22)
        lines.append(f"   {variant:<18}{cells}")
    for variant in ("library", "bare"):
        cells = "".join(
            f"{x[variant]['loop_thread_cpu_s']:6.2f} / {x[variant]['process_cpu_s']:5.2f} s".rjust(
                22
            )
            for x in reps
        )
        mloop = statistics.median(x[variant]["loop_thread_cpu_s"] for x in reps)
        mproc = statistics.median(x[variant]["process_cpu_s"] for x in reps)
        cells += f"{mloop:6.2f} / {mproc:5.2f} s".rjust(22)
        lines.append(f"   {variant + ' cpu':<18}{cells}")
    ratio_cells = "".join(_fmt_ratio(x["ratio"]).rjust(22) for x in reps)
    ratio_cells += _fmt_ratio(res["median"]["ratio"]).rjust(22)
    lines.append(f"   {'ratio lib/bare':<18}{ratio_cells}")
    med_ratio = res["median"]["ratio"]
    verdict = "met" if med_ratio <= TARGET_RATIO else "NOT met"
    cpu_ratios = [x["library"]["loop_thread_cpu_s"] / x["bare"]["loop_thread_cpu_s"] for x in reps]
    lines.append(
        f"   {'loop cpu lib/bare':<18}"
        + "".join(_fmt_ratio(c).rjust(22) for c in cpu_ratios)
        + _fmt_ratio(statistics.median(cpu_ratios)).rjust(22)
    )
    lines.append(
        "   (cpu: CPU seconds of the event-loop thread / of the whole process, during the run;"
        " the loop cpu ratio is the library's extra Python work, insensitive to disk noise)"
    )
    lines.append(
        f"   time ratio library/bare (lower is better): median {_fmt_ratio(med_ratio)}; "
        f"target <= {TARGET_RATIO:.1f}x {verdict}"
    )
    lines.append("")
    lines.append("   latency per call, ms (median over repeats of each repeat's p50 / p99)")
    lines.append(
        f"   {'kind':<28}{'calls/run':>10}{'lib p50':>10}{'lib p99':>10}"
        f"{'bare p50':>10}{'bare p99':>10}{'p50 ratio':>11}"
    )
    per_run = {**w.HOOKS_PER_RUN, "create_run": 1, "finalize_run": 1}
    for kind in (*w.HOOK_KINDS, *w.OTHER_KINDS):

        def med(variant: str, p: str, kind: str = kind) -> float:
            return statistics.median(x[variant]["latency_ms"][kind][p] for x in reps)

        label = kind if kind in w.HOOK_KINDS else f"{kind} (not a hook)"
        lp50, lp99, bp50, bp99 = (
            med("library", "p50"),
            med("library", "p99"),
            med("bare", "p50"),
            med("bare", "p99"),
        )
        lines.append(
            f"   {label:<28}{per_run[kind]:>10}{lp50:>10.2f}{lp99:>10.2f}{bp50:>10.2f}"
            f"{bp99:>10.2f}{_fmt_ratio(lp50 / bp50):>11}"
        )
    a = res["audit"]
    lines.append("")
    lines.append(
        f"   statement audit (1 run, concurrency 1): library {a['library_statements']} "
        f"statements, bare {a['bare_statements']} (expected {a['expected_statements']}); "
        f"identical SQL sequence: {'yes' if a['identical_sql_sequence'] else 'NO'}"
        + (
            f"; pool reset queries library {a['pool_reset_queries']['library']} / bare "
            f"{a['pool_reset_queries']['bare']}"
            if dialect == "postgres"
            else ""
        )
    )
    if a["first_difference"]:
        lines.append(f"     first difference: {a['first_difference']}")
    if "group_commit" in a:
        g = a["group_commit"]
        lines.append(
            f"   group commit (library, {g['runs']} runs at concurrency {g['concurrency']}): "
            f"{g['units']} write units in {g['commits']} commits = "
            f"{g['units_per_commit']:.1f} units per commit (one fsync each)"
        )
    ok = all(x["library"]["verified"] and x["bare"]["verified"] for x in reps)
    same = all(x["same_content"] for x in reps)
    lines.append(
        f"   verified after every variant: exact row counts, gap-free sequences, correlations "
        f"join: {'yes' if ok else 'NO'}; library rows == bare rows (content): "
        f"{'yes' if same else 'NO'}"
    )
    for failure in res["failures"]:
        lines.append(f"   FAILURE {failure}")
    return lines


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="python -m bench recorder")
    p.description = "PersistenceRecorder hook throughput against the bare driver."
    p.add_argument("--runs", type=int, default=200, help="agent runs per variant (200)")
    p.add_argument("--concurrency", type=int, default=8, help="runs in flight at once (8)")
    p.add_argument(
        "--dialect", choices=("sqlite", "postgres", "both"), default="both", help="(both)"
    )
    p.add_argument("--repeat", type=int, default=3, help="repeats per dialect (3)")
    p.add_argument("--json", metavar="PATH", help="write the JSON result here instead of stdout")
    p.add_argument(
        "--pg-settings",
        choices=("durable", "test"),
        default="durable",
        help="durable: fsync=on, synchronous_commit=on (default); test: the test suite's "
        "fsync=off, synchronous_commit=off",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="afterwards, run the library variant once more per dialect under cProfile and "
        "print the top functions (not part of the timings)",
    )
    p.add_argument("--seed", type=int, default=20240601, help=argparse.SUPPRESS)
    return p


async def _profile(dbs: Databases, specs: list[w.RunSpec], concurrency: int) -> str:
    url, location = await dbs.fresh("bench_profile")
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        await run_library(url, specs, concurrency)
    finally:
        profiler.disable()
        await dbs.drop(location)
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    return buffer.getvalue()


async def _main_async(
    args: argparse.Namespace, dialects: list[str], cluster: Any, tmp: str
) -> tuple[dict[str, Any], bool]:
    def out(line: str) -> None:
        print(line, flush=True)

    # SIGTERM cancels the benchmark cooperatively (a KeyboardInterrupt raised at an
    # arbitrary bytecode can land inside a driver's protocol code); SIGINT is asyncio.run's.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)

    specs = w.make_runs(args.runs, args.seed)
    machine = machine_info()
    result: dict[str, Any] = {
        "benchmark": "recorder",
        "params": {
            "runs": args.runs,
            "concurrency": args.concurrency,
            "repeat": args.repeat,
            "hook_calls_per_run": w.HOOK_CALLS_PER_RUN,
            "units_per_run": w.UNITS_PER_RUN,
            "statements_per_run_alone": w.STATEMENTS_PER_RUN,
            "payload_bytes_first_llm_call": w.payload_sizes(specs[0]),
        },
        "machine": machine,
        "dialects": {},
    }
    out(
        f"machine: nproc={machine['nproc']} cpu={machine['cpu']!r} kernel={machine['kernel']} "
        f"python={machine['python']} sqlite={machine['sqlite']} aiosqlite={machine['aiosqlite']} "
        f"asyncpg={machine['asyncpg']} dendrux={machine['dendrux_commit']} "
        f"loadavg={machine['loadavg_at_start']}"
    )
    sizes = result["params"]["payload_bytes_first_llm_call"]
    out(
        "workload per run: create_run, 23 hooks (12 message_appended, 5 llm_call_completed, "
        "5 tool_completed, 1 governance_event), finalize_run; payload bytes of one LLM call: "
        + ", ".join(f"{k} {v}" for k, v in sizes.items())
    )
    ok = True
    report: list[str] = []
    profiles: dict[str, str] = {}
    for dialect in dialects:
        dbs: Databases
        if dialect == "sqlite":
            dbs = SqliteDatabases(tmp)
            settings = f"one writer connection, journal_mode=WAL, synchronous=FULL, files in {tmp}"
            settings_data: dict[str, Any] = {
                "journal_mode": "WAL",
                "synchronous": "FULL",
                "dir": tmp,
            }
        else:
            from bench.pg import server_settings

            dbs = PostgresDatabases(cluster)
            settings_data = await server_settings(cluster.dsn("postgres"))
            settings_data["data_dir"] = str(cluster.data_dir)
            settings = (
                f"PostgreSQL {settings_data['server_version']} throwaway cluster "
                f"(fsync={settings_data['fsync']}, "
                f"synchronous_commit={settings_data['synchronous_commit']}, "
                f"full_page_writes={settings_data['full_page_writes']}, "
                f"wal_sync_method={settings_data['wal_sync_method']}, "
                f"shared_buffers={settings_data['shared_buffers']}), 127.0.0.1 TCP; "
                "asyncpg pool min 1 / max 10 in both variants"
            )
        out(f"\n[{dialect}] {settings}")
        res = await bench_dialect(dbs, specs, args, out)
        res["settings"] = settings_data
        result["dialects"][dialect] = res
        ok = ok and not res["failures"] and res["audit"]["identical_sql_sequence"]
        report += report_dialect(dialect, settings, res, args.runs, args)
        if args.profile:
            out(f"  profiling the library variant on {dialect} ...")
            profiles[dialect] = await _profile(dbs, specs, args.concurrency)
    for line in report:
        out(line)
    for dialect, text in profiles.items():
        out(f"\n== cProfile, library variant, {dialect} (event-loop thread only)\n{text}")
    result["ok"] = ok
    return result, ok


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.runs < 1 or args.concurrency < 1 or args.repeat < 1:
        print("--runs, --concurrency and --repeat must be >= 1", file=sys.stderr)
        return 2

    async def measure(dialects: list[str], cluster: Any, tmp: str) -> dict[str, Any]:
        result, _ok = await _main_async(args, dialects, cluster, tmp)
        return result

    return run_with_cluster(args, temp_prefix="dendrux-bench-", measure=measure, name="recorder")
