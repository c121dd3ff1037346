"""``python -m bench stats``: options, one dialect's load and timings, the report and the
JSON result."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import timedelta
from typing import Any

from bench.common import add_common_options, begin, databases, finish, out, run, table
from bench.reads.bare import BarePostgres, BareSqlite
from bench.reads.measure import measure
from bench.stats.dataset import NEWEST, generate, load_postgres, load_sqlite

GROUP_BY = ("day", "agent", "model", "tenant")
WINDOW = timedelta(days=30)
TARGET_PG_P50_MS = 200.0
SIZE_SQL = {
    "sqlite": "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
    "postgres": "SELECT pg_database_size(current_database())",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench stats")
    p.description = (
        "RunStore.get_stats over a 30-day window of a million runs, against the bare driver."
    )
    p.add_argument("--runs", type=int, default=1_000_000, help="runs in the store (1000000)")
    p.add_argument("--iterations", type=int, default=30, help="timed calls per side (30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per side (3)")
    p.add_argument(
        "--budget", type=float, default=30.0, help="seconds per group_by, then fewer calls (30)"
    )
    p.add_argument("--chunk", type=int, default=50_000, help=argparse.SUPPRESS)
    add_common_options(p)
    return p


def _figures(stats: Any) -> list[tuple[Any, ...]]:
    """What must agree: per row, the key and every figure."""
    rows = [stats.total, *stats.groups]
    return [tuple(getattr(r, f) for f in r.__dataclass_fields__) for r in rows]


async def bench_dialect(
    dialect: str, cluster: Any, tmp: str, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Load the dataset, time every group_by; (this dialect's result, its figures per
    group_by for the cross-dialect check, failures)."""
    from dendrux.db.sqlite import sqlite_timestamp
    from dendrux.read.stats import MAX_GROUPS, RunStats, StatsRow
    from dendrux.store import RunStore

    dbs = databases(dialect, cluster, tmp)
    url, location = await dbs.fresh("bench_stats")
    t0 = time.perf_counter()
    chunks = generate(args.runs, args.seed, args.chunk)
    if dialect == "sqlite":
        loaded = await asyncio.to_thread(load_sqlite, location, chunks)
    else:
        loaded = await load_postgres(url, chunks)
    load_s = time.perf_counter() - t0
    size_mb = (await dbs.query(location, SIZE_SQL[dialect]))[0][0] / 1e6
    out(f"{dialect}: {loaded:,} runs generated and loaded in {load_s:.1f} s ({size_mb:,.0f} MB)")
    after = NEWEST - WINDOW
    store = RunStore.from_database_url(url)
    bare: BareSqlite | BarePostgres = (
        BareSqlite(location) if dialect == "sqlite" else BarePostgres(location)
    )
    await bare.open()
    failures: list[str] = []
    timings: dict[str, Any] = {}
    figures: dict[str, Any] = {}
    bound = sqlite_timestamp(after) if dialect == "sqlite" else after
    try:
        for group_by in GROUP_BY:
            params = [group_by, bound, None, None, None, MAX_GROUPS + 1]

            async def lib(i: int, group_by: str = group_by) -> Any:
                return await store.get_stats(started_after=after, group_by=group_by)

            async def raw(i: int, params: list[Any] = params) -> Any:
                return await bare.fetch_all("run_stats", params, [])

            got: RunStats = await lib(0)
            rows = await raw(0)
            expected = [StatsRow.from_row(r) for r in rows]
            if group_by == "day":
                expected = [expected[0], *reversed(expected[1:])]
            if _figures(got) != [
                tuple(getattr(r, f) for f in r.__dataclass_fields__) for r in expected
            ]:
                failures.append(f"stats {dialect} {group_by}: library and bare figures differ")
            figures[group_by] = _figures(got)
            timed = await measure(lib, raw, args.iterations, args.warmup, args.budget)
            timed["window_runs"] = got.total.runs
            timed["groups"] = len(got.groups)
            timings[group_by] = timed
            out(
                f"  group_by={group_by}: library p50 {timed['library']['p50']:.1f} ms "
                f"(p99 {timed['library']['p99']:.1f}), bare p50 {timed['bare']['p50']:.1f} ms, "
                f"{got.total.runs:,} runs in the window, {len(got.groups)} groups"
            )
    finally:
        await store.close()
        await bare.close()
        await dbs.drop(location)
    result = {"runs": loaded, "load_s": load_s, "size_mb": size_mb, "timings": timings}
    return result, figures, failures


def report(result: dict[str, Any]) -> list[str]:
    rows = []
    for dialect, d in result["dialects"].items():
        for group_by, t in d["timings"].items():
            lib, bare = t["library"], t["bare"]
            target = ""
            if dialect == "postgres":
                met = lib["p50"] < TARGET_PG_P50_MS
                target = f"< {TARGET_PG_P50_MS:.0f} ms: {'met' if met else 'NOT met'}"
            rows.append(
                [dialect, group_by, f"{t['window_runs']:,}", f"{lib['p50']:.1f}",
                 f"{lib['p99']:.1f}", f"{bare['p50']:.1f}", f"{lib['p50'] / bare['p50']:.2f}",
                 target]
            )  # fmt: skip
    head = ["dialect", "group_by", "runs in window", "lib p50 ms", "lib p99 ms", "bare p50 ms",
            "ratio", "target (PostgreSQL p50)"]  # fmt: skip
    return ["", f"get_stats, 30-day window, {result['params']['runs']:,} runs in the store:",
            table(head, rows, align="ll" + "r" * 5 + "l")]  # fmt: skip


async def measure_all(
    args: argparse.Namespace, dialects: list[str], cluster: Any, tmp: str
) -> dict[str, Any]:
    result = begin("stats", args)
    result["dialects"] = {}
    failures: list[str] = []
    figures: dict[str, Any] = {}
    for dialect in dialects:
        result["dialects"][dialect], figures[dialect], problems = await bench_dialect(
            dialect, cluster, tmp, args
        )
        failures += problems
    if len(figures) == 2 and figures["sqlite"] != figures["postgres"]:
        failures.append("stats: SQLite and PostgreSQL give different figures for the same rows")
    elif len(figures) == 2:
        out("both dialects give the same figures for every group_by")
    pg = result["dialects"].get("postgres")
    if pg is not None:
        result["target_pg_p50_ms"] = TARGET_PG_P50_MS
        result["target_met"] = all(
            t["library"]["p50"] < TARGET_PG_P50_MS for t in pg["timings"].values()
        )
    return finish(result, report(result), failures)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return run(args, "stats", measure_all)
