"""Calibration: the bare-driver figures the performance issue quotes, on this machine.

    python -m bench calibrate [--transactions 4000] [--repeat 3] [--dialect both] [--json PATH]

The issue's targets were set on a reference machine where bare asyncpg does ~4,500
two-insert transactions/s at 8 connections and bare aiosqlite (WAL, synchronous=FULL)
~1,500 one-insert transactions/s one at a time and ~13,000 rows/s when 8 writes share a
commit. The same loops here say how this machine compares, so a figure that misses its
target can be read against what the drivers themselves manage (``factor`` = measured /
reference). No dendrux code runs: plain tables, plain SQL, the drivers alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import add_common_options, begin, finish, out, run, table

# The reference machine's figures (the issue's), by measurement.
REFERENCE = {
    "postgres_two_insert_tx_per_s": 4500.0,
    "sqlite_tx_per_s": 1500.0,
    "sqlite_grouped_rows_per_s": 13000.0,
}
LABELS = {
    "postgres_two_insert_tx_per_s": "bare asyncpg, two-insert transactions/s at 8 connections",
    "sqlite_tx_per_s": "bare aiosqlite (FULL), one-insert transactions/s one at a time",
    "sqlite_grouped_rows_per_s": "bare aiosqlite (FULL), rows/s with 8 writes per commit",
}
CONNECTIONS = 8
GROUP = 8
PAYLOAD = json.dumps({"role": "assistant", "content": "x" * 400})


async def postgres_two_insert(dsn: str, transactions: int) -> float:
    """Two-insert transactions/s, ``CONNECTIONS`` workers each on its own pooled connection."""
    import asyncpg

    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(
            "DROP TABLE IF EXISTS calib_a, calib_b; "
            "CREATE TABLE calib_a (id bigserial PRIMARY KEY, v jsonb); "
            "CREATE TABLE calib_b (id bigserial PRIMARY KEY, v jsonb)"
        )
    finally:
        await admin.close()
    pool = await asyncpg.create_pool(dsn, min_size=CONNECTIONS, max_size=CONNECTIONS)
    try:

        async def worker(count: int) -> None:
            for _ in range(count):
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute("INSERT INTO calib_a (v) VALUES ($1::jsonb)", PAYLOAD)
                    await conn.execute("INSERT INTO calib_b (v) VALUES ($1::jsonb)", PAYLOAD)

        per_worker = max(1, transactions // CONNECTIONS)
        await worker(max(1, per_worker // 4))  # warm-up: prepared statements, caches
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(per_worker) for _ in range(CONNECTIONS)))
        return per_worker * CONNECTIONS / (time.perf_counter() - t0)
    finally:
        await pool.close()


async def sqlite_transactions(path: Path, transactions: int) -> tuple[float, float]:
    """(one-insert transactions/s one at a time, rows/s with ``GROUP`` inserts per commit)."""
    import aiosqlite

    db = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        for statement in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "CREATE TABLE calib (id INTEGER PRIMARY KEY, v TEXT)",
        ):
            await db.execute(statement)
        t0 = time.perf_counter()
        for _ in range(transactions):
            await db.execute("BEGIN IMMEDIATE")
            await db.execute("INSERT INTO calib (v) VALUES (?)", (PAYLOAD,))
            await db.execute("COMMIT")
        one_at_a_time = transactions / (time.perf_counter() - t0)
        groups = max(1, transactions // GROUP)
        t0 = time.perf_counter()
        for _ in range(groups):
            await db.execute("BEGIN IMMEDIATE")
            await db.executemany("INSERT INTO calib (v) VALUES (?)", [(PAYLOAD,)] * GROUP)
            await db.execute("COMMIT")
        grouped = groups * GROUP / (time.perf_counter() - t0)
        return one_at_a_time, grouped
    finally:
        await db.close()


async def _measure(
    args: argparse.Namespace, dialects: list[str], cluster: Any, tmp: str
) -> dict[str, Any]:
    result = begin("calibrate", args)
    samples: dict[str, list[float]] = {}
    for repeat in range(1, args.repeat + 1):
        if "postgres" in dialects:
            tx = await postgres_two_insert(cluster.dsn("postgres"), args.transactions)
            samples.setdefault("postgres_two_insert_tx_per_s", []).append(tx)
            out(f"  repeat {repeat} postgres  {tx:9,.0f} two-insert transactions/s")
        if "sqlite" in dialects:
            path = Path(tmp) / f"calibrate-{repeat}.db"
            one, grouped = await sqlite_transactions(path, args.transactions // 2)
            samples.setdefault("sqlite_tx_per_s", []).append(one)
            samples.setdefault("sqlite_grouped_rows_per_s", []).append(grouped)
            out(f"  repeat {repeat} sqlite    {one:9,.0f} transactions/s, {grouped:,.0f} rows/s")
    figures = []
    for key, values in samples.items():
        median = statistics.median(values)
        figures.append(
            {
                "figure": key,
                "label": LABELS[key],
                "samples": values,
                "median": median,
                "reference": REFERENCE[key],
                "factor": median / REFERENCE[key],
            }
        )
    result["figures"] = figures
    report = [
        "",
        "== calibration: the issue's bare-driver reference figures, on this machine",
        table(
            ("figure", "median", "reference", "factor"),
            [
                (f["label"], f"{f['median']:,.0f}", f"{f['reference']:,.0f}", f"{f['factor']:.2f}x")
                for f in figures
            ],
        ),
        "   factor = this machine / the reference machine; a target set there scales by it",
    ]
    failures = [f"{f['figure']}: no positive figure" for f in figures if f["median"] <= 0]
    return finish(result, report, failures)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench calibrate", allow_abbrev=False)
    p.description = "The issue's bare-driver reference figures measured on this machine."
    p.add_argument(
        "--transactions",
        type=int,
        default=4000,
        help="PostgreSQL transactions per repeat; SQLite runs half as many (4000)",
    )
    p.add_argument("--repeat", type=int, default=3, help="repeats; the median is reported (3)")
    add_common_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.transactions < 2 * GROUP or args.repeat < 1:
        print(f"--transactions must be >= {2 * GROUP} and --repeat >= 1", file=sys.stderr)
        return 2
    return run(args, "calibrate", _measure)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
