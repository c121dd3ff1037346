"""Timing (library and bare interleaved) and one dialect's whole run: parity,
statement audit, timings, memory and plans.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.reads.bare import Bare, BarePostgres, BareSqlite
from bench.reads.calls import (
    STREAM_EVENTS,
    _drop_resets,
    bare_fn,
    bare_stream,
    build_calls,
    capture_statements,
    compare_results,
    lib_stream,
    peak_growth,
)
from bench.reads.dataset import (
    Dataset,
)
from bench.reads.plans import Plan, pg_plan, sqlite_plan
from dendrux.db.queries import load_queries

TARGET_P50_MS = 5.0  # PostgreSQL, every call but the unselective count_runs()
TARGET_RATIO = 1.3  # library p50 / bare p50

# ---------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


async def measure(
    lib: Callable[[int], Awaitable[Any]],
    bare: Callable[[int], Awaitable[Any]],
    iterations: int,
    warmup: int,
    budget_s: float,
) -> dict[str, Any]:
    """Warm up, then time ``iterations`` paired calls (order alternating); fewer when one
    pair takes so long that ``budget_s`` would be exceeded (at least 20)."""
    clock = time.perf_counter
    spent = []
    for i in range(warmup):
        t = clock()
        await lib(i)
        await bare(i)
        spent.append(clock() - t)
        if sum(spent) > budget_s / 5 and i >= 1:
            break
    per_pair = statistics.median(spent)
    n = iterations
    if per_pair * iterations > budget_s:
        n = max(20, int(budget_s / per_pair))
    gc.collect()
    lib_t, bare_t = [], []
    for i in range(n):
        if i % 2 == 0:
            t = clock()
            await lib(i)
            t1 = clock()
            await bare(i)
            t2 = clock()
            lib_t.append(t1 - t)
            bare_t.append(t2 - t1)
        else:
            t = clock()
            await bare(i)
            t1 = clock()
            await lib(i)
            t2 = clock()
            bare_t.append(t1 - t)
            lib_t.append(t2 - t1)
    return {
        "n": n,
        "library": {"p50": _pct(lib_t, 0.5) * 1e3, "p99": _pct(lib_t, 0.99) * 1e3,
                    "mean": statistics.fmean(lib_t) * 1e3},
        "bare": {"p50": _pct(bare_t, 0.5) * 1e3, "p99": _pct(bare_t, 0.99) * 1e3,
                 "mean": statistics.fmean(bare_t) * 1e3},
    }  # fmt: skip


# ---------------------------------------------------------------------------
# one dialect
# ---------------------------------------------------------------------------


async def bench_dialect(
    dialect: str,
    url: str,
    location: str,
    ds: Dataset,
    args: argparse.Namespace,
    out: Callable[[str], None],
) -> dict[str, Any]:
    from dendrux.store import RunStore

    result: dict[str, Any] = {}
    store = RunStore.from_database_url(url)
    bare: Bare = BareSqlite(location) if dialect == "sqlite" else BarePostgres(location)
    await bare.open()
    failures: list[str] = []
    try:
        calls = build_calls(store, dialect, ds)
        bare_fns = {c.key: bare_fn(bare, c) for c in calls}

        # Parity: both sides return the same rows (this also warms both up).
        parity: dict[str, Any] = {}
        for c in calls:
            parity[c.key] = await compare_results(c, bare, bare_fns[c.key])
            if not parity[c.key]["same"]:
                failures.append(f"parity {c.label}: library and bare results differ")
        streamed = await lib_stream(store, ds.big_run)
        bare_streamed = await bare_stream(bare, ds.big_run)
        if streamed != STREAM_EVENTS or bare_streamed != STREAM_EVENTS:
            failures.append(f"stream: library {streamed}, bare {bare_streamed} events")
        result["parity"] = parity
        out("  parity: " + ", ".join(
            f"{c.key} {parity[c.key]['rows'] if c.fetch != 'value' else parity[c.key]['value']}"
            f"{'' if parity[c.key]['same'] else ' DIFFERENT'}" for c in calls))  # fmt: skip

        # Statement audit: one call each, with the driver patched to log what is sent.
        audit: dict[str, Any] = {}
        for c in calls:
            logs: dict[str, list[tuple[str, tuple[Any, ...]]]] = {"library": [], "bare": []}
            with capture_statements(dialect, logs["library"]):
                await c.lib(1)
            with capture_statements(dialect, logs["bare"]):
                await bare_fns[c.key](1)
            lib_log, bare_log = _drop_resets(logs["library"]), _drop_resets(logs["bare"])
            expected = (bare.q)[c.query]
            identical = lib_log == bare_log and len(lib_log) == 1 and lib_log[0][0] == expected
            audit[c.key] = {"statements": len(lib_log), "identical": identical}
            if not identical:
                failures.append(
                    f"audit {c.label}: library sent {lib_log[:2]!r:.300}, "
                    f"bare {bare_log[:2]!r:.300}"
                )
        logs = {"library": [], "bare": []}
        with capture_statements(dialect, logs["library"]):
            await lib_stream(store, ds.big_run)
        with capture_statements(dialect, logs["bare"]):
            await bare_stream(bare, ds.big_run)
        lib_log, bare_log = _drop_resets(logs["library"]), _drop_resets(logs["bare"])
        audit["stream_events"] = {"statements": len(lib_log), "identical": lib_log == bare_log}
        if lib_log != bare_log:
            failures.append(
                f"audit stream_events: library {len(lib_log)} statements, bare {len(bare_log)}"
            )
        result["audit"] = audit
        out(
            f"  statement audit: {sum(a['identical'] for a in audit.values())}/{len(audit)} calls "
            "send byte-identical SQL with identical parameters "
            f"(stream_events: {audit['stream_events']['statements']} statements)"
        )

        # Timings.
        repeats = []
        for r in range(1, args.repeat + 1):
            rep: dict[str, Any] = {"repeat": r, "calls": {}}
            for c in calls:
                m = await measure(c.lib, bare_fns[c.key], args.iterations, args.warmup, args.budget)
                rep["calls"][c.key] = m
                out(
                    f"  repeat {r} {c.label:<58} n={m['n']:<4} "
                    f"lib p50 {m['library']['p50']:8.2f} ms"
                    f"  bare p50 {m['bare']['p50']:8.2f} ms"
                )
            lib_s, bare_s = [], []
            for i in range(6):
                first, second = ("lib", "bare") if i % 2 == 0 else ("bare", "lib")
                for side in (first, second):
                    gc.collect()
                    t = time.perf_counter()
                    if side == "lib":
                        await lib_stream(store, ds.big_run)
                        lib_s.append(time.perf_counter() - t)
                    else:
                        await bare_stream(bare, ds.big_run)
                        bare_s.append(time.perf_counter() - t)
            # the first pair is a warm-up
            rep["stream"] = {
                "library_ms": statistics.median(lib_s[1:]) * 1e3,
                "bare_ms": statistics.median(bare_s[1:]) * 1e3,
            }
            out(
                f"  repeat {r} stream_events({STREAM_EVENTS} events): lib "
                f"{rep['stream']['library_ms']:.1f} ms, bare {rep['stream']['bare_ms']:.1f} ms"
            )
            repeats.append(rep)
        result["repeats"] = repeats

        # Memory: stream (page by page) against reading the whole timeline at once.
        run = ds.big_run
        memory = {
            "stream_events_library": await peak_growth(lambda: lib_stream(store, run)),
            "stream_bare": await peak_growth(lambda: bare_stream(bare, run)),
            "get_events_all_library": await peak_growth(lambda: store.get_events(run)),
        }
        result["memory_peak_growth_bytes"] = memory

        # PostgreSQL: how the driver's own prepared statements were planned during the
        # timed loops (pg_prepared_statements of the bare pool's connection; asyncpg's pool
        # is LIFO, so sequential calls all ran on it; the library's pool behaves the same).
        driver_plans: dict[str, tuple[int, int]] = {}
        if isinstance(bare, BarePostgres):
            async with bare.pool.acquire() as conn:
                for r in await conn.fetch(
                    "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
                ):
                    driver_plans[r["statement"]] = (r["generic_plans"], r["custom_plans"])

        # Plans, with the values of iteration 0.
        plans: dict[str, Plan] = {}
        for c in calls:
            if dialect == "postgres":
                plans[c.key] = await pg_plan(location, c, c.args(0))
                counts = driver_plans.get(load_queries("postgres")[c.query])
                if counts is not None:
                    plans[c.key].notes.append(
                        f"the bare pool's asyncpg statement for {c.query} after the timed loops "
                        f"(all calls sharing that text): {counts[0]} generic, {counts[1]} custom "
                        "executions"
                    )
            else:
                plans[c.key] = sqlite_plan(location, c, c.args(0))
        result["plans"] = {k: vars(p) for k, p in plans.items()}
    finally:
        await store.close()
        await bare.close()

    calls_summary = {}
    for c in calls:

        def med(side: str, p: str, key: str = c.key) -> float:
            return float(statistics.median(rep["calls"][key][side][p] for rep in repeats))

        s = {
            "label": c.label,
            "query": c.query,
            "n": [rep["calls"][c.key]["n"] for rep in repeats],
            "rows": result["parity"][c.key]["rows"],
            "library_p50_ms": med("library", "p50"),
            "library_p99_ms": med("library", "p99"),
            "bare_p50_ms": med("bare", "p50"),
            "bare_p99_ms": med("bare", "p99"),
            "target": c.target,
        }
        s["ratio_p50"] = s["library_p50_ms"] / s["bare_p50_ms"]
        s["p50_target_met"] = s["library_p50_ms"] < TARGET_P50_MS if c.target else None
        s["ratio_target_met"] = s["ratio_p50"] <= TARGET_RATIO
        calls_summary[c.key] = s
    result["calls"] = calls_summary
    result["stream"] = {
        "events": STREAM_EVENTS,
        "library_ms": statistics.median(rep["stream"]["library_ms"] for rep in repeats),
        "bare_ms": statistics.median(rep["stream"]["bare_ms"] for rep in repeats),
    }
    result["stream"]["ratio"] = result["stream"]["library_ms"] / result["stream"]["bare_ms"]
    result["failures"] = failures
    return result
