"""The stats benchmark's dataset: seeded ``agent_runs`` rows over a year, generated in
chunks (a million runs never sit in memory) and bulk-loaded through the raw drivers."""

from __future__ import annotations

import bisect
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.reads.dataset import STATUS_MIX, ulid

NEWEST = datetime(2026, 10, 1, tzinfo=UTC)
SPAN = timedelta(days=365)
AGENTS = ("support-triage", "research-assistant", "code-reviewer", "billing-bot",
          "sales-qualifier", "ops-runbook")  # fmt: skip
AGENT_WEIGHTS = (0.35, 0.60, 0.75, 0.87, 0.95, 1.0)  # cumulative
MODELS = ("claude-sonnet-4-5", "gpt-4.1", "claude-haiku-4-5", "gemini-2.5-pro", None)
TENANTS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell", None)
_STATUS_CUM = [sum(p for _, p in STATUS_MIX[: i + 1]) for i in range(len(STATUS_MIX))]
_LIVE = {"running", "pending", "waiting_human_input", "waiting_client_tool", "waiting_approval"}
COLUMNS = (
    "id", "tenant_id", "agent_name", "status", "model", "strategy", "iteration_count",
    "total_input_tokens", "total_output_tokens", "total_cache_read_tokens",
    "total_cache_creation_tokens", "total_reasoning_tokens", "total_cost_usd",
    "created_at", "updated_at", "last_progress_at",
)  # fmt: skip
_TIMESTAMPS = (13, 14, 15)


def generate(runs: int, seed: int, chunk: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    """``runs`` rows in ``COLUMNS`` order, oldest first, ``chunk`` at a time; the same rows
    for the same ``(runs, seed)`` whatever the chunking."""
    rng = random.Random(seed)
    start = NEWEST - SPAN
    step_us = max(1, int(SPAN.total_seconds() * 1_000_000) // runs)
    base_ms = int(start.timestamp() * 1000)
    rows: list[tuple[Any, ...]] = []
    for n in range(runs):
        offset = n * step_us + rng.randrange(step_us)  # strictly increasing
        created = start + timedelta(microseconds=offset)
        status = STATUS_MIX[bisect.bisect(_STATUS_CUM, rng.random() * _STATUS_CUM[-1])][0]
        live = status in _LIVE
        # finished: 2 s .. ~3 min, a long tail up to ~30 min; live: last touched lately
        duration = rng.randrange(2_000_000, 180_000_000)
        if not live and rng.random() < 0.03:
            duration *= 10
        t_in, t_out = 500 + rng.randrange(60_000), 100 + rng.randrange(6_000)
        priced = rng.random() >= 0.03
        updated = created + timedelta(microseconds=duration)
        rows.append(
            (
                ulid(base_ms + offset // 1000, rng.getrandbits(80)),
                TENANTS[rng.randrange(len(TENANTS))],
                AGENTS[bisect.bisect(AGENT_WEIGHTS, rng.random())],
                status,
                MODELS[rng.randrange(len(MODELS))] if rng.random() >= 0.05 else None,
                "react",
                1 + rng.randrange(12),
                t_in,
                t_out,
                rng.randrange(t_in),
                rng.randrange(200),
                rng.randrange(2_000),
                round(t_in * 3e-6 + t_out * 15e-6, 6) if priced else None,
                created,
                updated,
                updated,
            )
        )
        if len(rows) == chunk:
            yield rows
            rows = []
    if rows:
        yield rows


def load_sqlite(path: str, chunks: Iterator[list[tuple[Any, ...]]]) -> int:
    """Bulk insert through sqlite3 (one transaction per chunk), then ANALYZE."""
    from dendrux.db.sqlite import sqlite_timestamp

    conn = sqlite3.connect(path, isolation_level=None)
    total = 0
    try:
        conn.execute("PRAGMA synchronous = OFF")  # loading only; the benchmark reads
        sql = (
            f"INSERT INTO agent_runs ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(COLUMNS))})"
        )
        for rows in chunks:
            conn.execute("BEGIN")
            conn.executemany(
                sql,
                (r[:13] + tuple(sqlite_timestamp(r[i]) for i in _TIMESTAMPS) for r in rows),
            )
            conn.execute("COMMIT")
            total += len(rows)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return total


async def load_postgres(dsn: str, chunks: Iterator[list[tuple[Any, ...]]]) -> int:
    """Bulk COPY through asyncpg, then VACUUM (ANALYZE) and CHECKPOINT."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    total = 0
    try:
        for rows in chunks:
            await conn.copy_records_to_table("agent_runs", records=rows, columns=list(COLUMNS))
            total += len(rows)
        await conn.execute("VACUUM (ANALYZE)")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return total
