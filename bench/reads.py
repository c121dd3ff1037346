"""Reads benchmark: `RunStore` reads at scale against the bare driver running the same SQL.

    python -m bench reads [--dialect sqlite|postgres|both] [--runs 100000]
                          [--repeat 3] [--iterations 200] [--json PATH]

Per dialect: a seeded dataset (``--runs`` runs, one big run with 10,000
events and 2,000 traces, a few background rows per run) is bulk-loaded
through the raw driver into a database migrated with `dendrux.db.upgrade`,
then ANALYZEd. Each read call is timed ``--iterations`` times after a
warm-up, the library call and the bare call interleaved (their order
alternating), and reported as p50/p99 with the ratio library/bare. The bare
side sends the byte-identical statement (``load_queries(dialect)[name]``)
with the same parameters and decodes the JSON columns with ``json.loads``
(PostgreSQL: the same json/jsonb codecs in the driver as the library's pool).
A statement audit checks the SQL text and parameters sent are identical, and
a parity check that both sides return the same rows.

Afterwards the plan of every query is printed (PostgreSQL: ``EXPLAIN
(ANALYZE, BUFFERS)`` of a prepared statement with the real values, after
the plan cache settled; SQLite: ``EXPLAIN QUERY PLAN`` with the values
bound), and every full table scan of ``agent_runs`` / ``run_events`` /
``react_traces``, or index walk that filters instead of seeking, is flagged.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import contextlib
import gc
import json
import math
import os
import re
import signal
import sqlite3
import statistics
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.common import add_common_options
from bench.pg import run_with_cluster
from dendrux.db.queries import load_queries

TARGET_P50_MS = 5.0  # PostgreSQL, every call but the unselective count_runs()
TARGET_RATIO = 1.3  # library p50 / bare p50
BIG_TABLES = ("agent_runs", "run_events", "react_traces", "agent_run_meta")
STREAM_EVENTS = 10_000

# ---------------------------------------------------------------------------
# dataset: seeded, generated once, loaded per dialect through the raw driver
# ---------------------------------------------------------------------------

BASE = datetime(2026, 10, 1, tzinfo=UTC)
BASE_MS = int(BASE.timestamp()) * 1000
SPAN_US = 30 * 86_400 * 1_000_000  # created_at spread over 30 days
THREADS = 20_000
USERS = 5_000
BIG_EVENTS = 10_000
BIG_TRACES = 2_000
BIG_LLM_CALLS = 100
BIG_TOOL_CALLS = 200
AGENTS = ("support-triage", "research-assistant", "code-reviewer", "billing-bot")
AGENT_WEIGHTS = (0.45, 0.70, 0.90, 1.0)  # cumulative
TENANTS = ("acme", "globex", "initech", "umbrella")
MODELS = ("claude-sonnet-4-5", "gpt-4.1", "claude-haiku-4-5")
STATUS_MIX = (
    ("success", 0.86),
    ("error", 0.05),
    ("running", 0.03),
    ("waiting_human_input", 0.012),
    ("waiting_client_tool", 0.008),
    ("waiting_approval", 0.005),
    ("pending", 0.005),
    ("cancelled", 0.015),
    ("max_iterations", 0.015),
)
_STATUS_CUM = [sum(p for _, p in STATUS_MIX[: i + 1]) for i in range(len(STATUS_MIX))]
ERRORS = (
    "ToolExecutionError: search_orders timed out after 30s",
    "ProviderError: 529 overloaded",
    "ValidationError: tool params did not match the schema",
    "BudgetExceeded: token budget of 200000 exhausted",
)
_WORDS_TEXT = (
    "the order account ticket refund customer invoice shipping status agent tool result "
    "please check update policy escalate summary priority payment region database query "
    "latency error retry timeout approval review draft answer context window token cost"
)
WORDS = tuple(_WORDS_TEXT.split(" "))
TOOLS = ("search_orders", "lookup_customer", "issue_refund", "send_email", "query_db")

RUN_COLS = (
    "id", "tenant_id", "agent_name", "status", "input_data", "output_data", "iteration_count",
    "model", "strategy", "total_input_tokens", "total_output_tokens", "total_cost_usd",
    "total_cache_read_tokens", "total_cache_creation_tokens", "total_reasoning_tokens", "meta",
    "error", "last_progress_at", "failure_reason", "created_at", "updated_at",
)  # fmt: skip
EVENT_COLS = (
    "id", "agent_run_id", "event_type", "sequence_index", "iteration_index", "correlation_id",
    "data", "created_at",
)  # fmt: skip
TRACE_COLS = (
    "id", "agent_run_id", "role", "content", "order_index", "meta", "created_at", "updated_at",
)  # fmt: skip
LLM_COLS = (
    "id", "agent_run_id", "iteration_index", "model", "provider", "semantic_request",
    "semantic_response", "provider_request", "provider_response", "input_tokens",
    "output_tokens", "cost_usd", "duration_ms", "cache_read_input_tokens",
    "cache_creation_input_tokens", "reasoning_tokens", "guardrail_findings", "created_at",
)  # fmt: skip
TOOL_COLS = (
    "id", "agent_run_id", "tool_call_id", "provider_tool_call_id", "tool_name", "target",
    "params", "result", "success", "duration_ms", "iteration_index", "error_message", "meta",
    "created_at", "updated_at",
)  # fmt: skip
TABLES = {
    "agent_runs": RUN_COLS,
    "run_events": EVENT_COLS,
    "react_traces": TRACE_COLS,
    "llm_interactions": LLM_COLS,
    "tool_calls": TOOL_COLS,
}

# The library's JSON text: json.dumps, no ASCII escaping, compact separators.
dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def ulid(ms: int, rand80: int) -> str:
    """The same 26-character ULID as `dendrux.ulid.new_ulid`, from given parts (seeded)."""
    head = base64.b32encode((ms << 30).to_bytes(10, "big"))[:10]
    return (head + base64.b32encode(rand80.to_bytes(10, "big"))).decode().translate(_CROCKFORD)


Rows = dict[str, list[tuple[Any, ...]]]  # table -> rows, in TABLES order


@dataclass
class Dataset:
    runs: int
    seed: int
    rows: Rows = field(default_factory=dict)  # empty when the rows were streamed
    big_run: str = ""
    big_run_index: int = 0
    threads: list[str] = field(default_factory=list)  # existing thread_id values, in turn
    users: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    build_s: float = 0.0
    row_counts: Counter[str] = field(default_factory=Counter)

    def counts(self) -> dict[str, int]:
        return dict(self.row_counts)


def _text(rng: Any, words: int) -> str:
    return " ".join(rng.choices(WORDS, k=words))


def build_dataset(runs: int, seed: int) -> Dataset:
    """Seeded rows for every table, all in memory (see `generate_rows` to stream them)."""
    ds = Dataset(runs, seed)
    (ds.rows,) = generate_rows(ds)  # one chunk, and the generator runs to its end
    return ds


def generate_rows(ds: Dataset, chunk_runs: int | None = None) -> Iterator[Rows]:
    """Seeded rows for every table of ``ds.runs`` runs, ``chunk_runs`` runs at a time (all
    at once by default), so a dataset of millions of rows can be loaded without holding it
    in memory; the same rows whatever the chunking. Fills in ``ds`` (samples, statuses, row
    counts, generation time) once exhausted. Datetimes are aware UTC; JSON is
    library-format text."""
    import random

    runs, seed = ds.runs, ds.seed
    t0 = time.perf_counter()
    rng = random.Random(seed)
    step = max(1, SPAN_US // runs)
    big = runs - runs // 4 - 1 if runs > 1 else 0
    run_rows: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    traces: list[tuple[Any, ...]] = []
    llm: list[tuple[Any, ...]] = []
    tools: list[tuple[Any, ...]] = []
    statuses = ds.statuses
    run_ids: list[str] = []
    error_runs: list[int] = []
    rand = rng.getrandbits
    us = timedelta(microseconds=1)

    def chunk() -> Rows:
        rows = dict(zip(TABLES, (run_rows, events, traces, llm, tools), strict=True))
        ds.row_counts.update({table: len(r) for table, r in rows.items()})
        return rows

    for n in range(runs):
        if chunk_runs and n and n % chunk_runs == 0:
            ds.build_s += time.perf_counter() - t0
            yield chunk()
            t0 = time.perf_counter()
            run_rows, events, traces, llm, tools = [], [], [], [], []
        offset = n * step + rng.randrange(step)  # strictly increasing: distinct timestamps
        created = BASE + offset * us
        ms = BASE_MS + offset // 1000
        run_id = ulid(ms, rand(80))
        status = "success" if n == big else STATUS_MIX[bisect.bisect(_STATUS_CUM, rng.random())][0]
        statuses[status] += 1
        run_ids.append(run_id)
        if status == "error":
            error_runs.append(n)
        agent = AGENTS[bisect.bisect(AGENT_WEIGHTS, rng.random())]
        iterations = 100 if n == big else 1 + rng.randrange(12)
        t_in, t_out = 500 + rng.randrange(60_000), 100 + rng.randrange(6_000)
        running = status in ("running", "pending") or status.startswith("waiting")
        duration = (
            (1 + rng.randrange(90_000)) * 1000
            if running
            else 2_000_000 + rng.randrange(178_000_000)
        )
        if n == big:
            duration = BIG_EVENTS * 50_000
        updated = created + duration * us
        model = MODELS[n % 3]
        run_rows.append(
            (
                run_id,
                TENANTS[rng.randrange(4)],
                agent,
                status,
                dumps({"input": f"Request {n}: {_text(rng, 8)}", "channel": "web"}),
                dumps({"answer": f"Done: {_text(rng, 12)}"}) if status == "success" else None,
                iterations,
                model,
                "react",
                t_in,
                t_out,
                round(t_in * 3e-6 + t_out * 15e-6, 6),
                rng.randrange(t_in),
                0,
                0,
                dumps({"thread_id": f"thread_{n % THREADS}", "user_id": f"u_{n % USERS}"}),
                ERRORS[rng.randrange(len(ERRORS))] if status == "error" else None,
                updated,
                "tool_error" if status == "error" else None,
                created,
                updated,
            )
        )
        if n == big:
            _big_run(rng, run_id, ms, created, events, traces, llm, tools)
            continue
        # Background rows: a few events and two messages per run, every 10th run one
        # LLM interaction and one tool call (so the planner's statistics look like a
        # store where every run has a timeline, not one run among empty ones).
        interaction = ulid(ms + 1, rand(80))
        events.append(
            (ulid(ms, rand(80)), run_id, "run.started", 0, 0, None,
             dumps({"agent_name": agent, "model": model}), created + 1000 * us)
        )  # fmt: skip
        events.append(
            (ulid(ms + 1, rand(80)), run_id, "llm.completed", 1, 1, interaction,
             dumps({"model": model, "input_tokens": t_in, "output_tokens": t_out}),
             created + (duration // 2) * us)
        )  # fmt: skip
        if not running:
            events.append(
                (ulid(ms + 2, rand(80)), run_id, "run.completed", 2, iterations, None,
                 dumps({"status": status, "iteration_count": iterations}), updated)
            )  # fmt: skip
        elif status.startswith("waiting"):
            events.append(
                (ulid(ms + 2, rand(80)), run_id, "run.paused", 2, iterations, None,
                 dumps({"status": status, "pending_tool_calls": []}), updated)
            )  # fmt: skip
        traces.append(
            (ulid(ms, rand(80)), run_id, "user", f"Request {n}: {_text(rng, 10)}", 0, None,
             created, created)
        )  # fmt: skip
        traces.append(
            (ulid(ms + 1, rand(80)), run_id, "assistant", _text(rng, 20), 1, None,
             updated, updated)
        )  # fmt: skip
        if n % 10 == 0:
            llm.append(
                (interaction, run_id, 1, model, "anthropic", None, None,
                 dumps({"model": model, "messages": [{"role": "user", "content": _text(rng, 10)}]}),
                 dumps({"content": [{"type": "text", "text": _text(rng, 10)}]}),
                 t_in, t_out, round(t_in * 3e-6 + t_out * 15e-6, 6), 900, 0, 0, 0, None,
                 created + (duration // 2) * us)
            )  # fmt: skip
            tools.append(
                (ulid(ms + 1, rand(80)), run_id, ulid(ms + 1, rand(80)), f"toolu_{n:08d}",
                 TOOLS[n % 5], "server", dumps({"q": _text(rng, 3)}), dumps({"ok": True}), True,
                 40, 1, None, None, created + (duration // 2) * us, created + (duration // 2) * us)
            )  # fmt: skip

    sample = random.Random(seed + 1)
    ds.big_run, ds.big_run_index = run_ids[big], big
    ds.threads = [f"thread_{sample.randrange(min(runs, THREADS))}" for _ in range(64)]
    # users with at least one error run, so the count is not trivially 0
    ds.users = [
        f"u_{sample.choice(error_runs) % USERS}" if error_runs else "u_0" for _ in range(64)
    ]
    ds.run_ids = [run_ids[sample.randrange(runs)] for _ in range(64)]
    ds.build_s += time.perf_counter() - t0
    yield chunk()


CORRELATED = ("llm.completed", "tool.completed")
_BIG_PATTERN = (
    "llm.completed", "tool.completed", "tool.completed", "llm.completed", "tool.completed",
    "llm.completed", "tool.completed", "tool.completed", "tool.completed", "llm.completed",
    "approval.requested", "approval.decided", "llm.completed", "tool.completed",
    "llm.completed", "tool.completed", "run.paused", "run.resumed", "llm.completed",
    "tool.completed",
)  # fmt: skip


def _big_run(
    rng: Any,
    run_id: str,
    ms: int,
    created: datetime,
    events: list[tuple[Any, ...]],
    traces: list[tuple[Any, ...]],
    llm: list[tuple[Any, ...]],
    tools: list[tuple[Any, ...]],
) -> None:
    """The run every per-run call reads: 10,000 events, 2,000 traces, 100 LLM calls, 200 tools."""
    rand = rng.getrandbits
    us = timedelta(microseconds=1)
    for seq in range(BIG_EVENTS):
        if seq == 0:
            kind = "run.started"
        elif seq == BIG_EVENTS - 1:
            kind = "run.completed"
        else:
            kind = _BIG_PATTERN[seq % len(_BIG_PATTERN)]
        data: dict[str, Any] = {"iteration": seq // 100}
        if kind == "tool.completed":
            data.update(tool_name=TOOLS[seq % 5], params={"q": _text(rng, 4)},
                        result_preview=_text(rng, 12), success=True)  # fmt: skip
        elif kind == "llm.completed":
            data.update(model=MODELS[0], input_tokens=1000 + seq, output_tokens=200,
                        stop_reason="tool_use", text_preview=_text(rng, 10))  # fmt: skip
        else:
            data.update(status="waiting_approval", note=_text(rng, 6))
        events.append(
            (ulid(ms + seq // 20, rand(80)), run_id, kind, seq, seq // 100,
             ulid(ms + seq // 20, rand(80)) if kind in CORRELATED else None,
             dumps(data), created + seq * 50_000 * us)
        )  # fmt: skip
    roles = ("assistant", "tool")
    for k in range(BIG_TRACES):
        at = created + k * 250_000 * us
        traces.append(
            (ulid(ms + k // 4, rand(80)), run_id, "user" if k == 0 else roles[k % 2],
             _text(rng, 15 + rng.randrange(100)), k,
             dumps({"iteration": k // 20}) if k % 2 else None, at, at)
        )  # fmt: skip
    for k in range(BIG_LLM_CALLS):
        at = created + k * 5_000_000 * us
        messages = [
            {"role": "user" if i % 2 == 0 else "assistant", "content": _text(rng, 25)}
            for i in range(6)
        ]
        request = {
            "model": MODELS[0],
            "max_tokens": 4096,
            "messages": messages,
            "tools": [{"name": t, "description": _text(rng, 6)} for t in TOOLS],
        }  # fmt: skip
        response = {
            "id": f"msg_{k:06d}",
            "content": [{"type": "text", "text": _text(rng, 30)},
                        {"type": "tool_use", "name": TOOLS[k % 5], "input": {"q": _text(rng, 3)}}],
            "usage": {"input_tokens": 1000 + k, "output_tokens": 200},
            "stop_reason": "tool_use",
        }  # fmt: skip
        llm.append(
            (ulid(ms + k * 5000, rand(80)), run_id, k, MODELS[0], "anthropic",
             dumps({"messages": messages[-2:]}), dumps({"text": _text(rng, 10)}),
             dumps(request), dumps(response), 1000 + k, 200, 0.006, 800 + k, 512, 0, 0, None, at)
        )  # fmt: skip
    for k in range(BIG_TOOL_CALLS):
        at = created + k * 2_500_000 * us
        ok = k % 25 != 7
        tools.append(
            (ulid(ms + k * 2500, rand(80)), run_id, ulid(ms + k * 2500, rand(80)),
             f"toolu_big_{k:05d}", TOOLS[k % 5], "server", dumps({"q": _text(rng, 5), "limit": 20}),
             dumps({"rows": [{"id": i, "v": _text(rng, 3)} for i in range(5)]}) if ok else None,
             ok, 30 + k % 400, k // 2, None if ok else "tool timed out", None, at, at)
        )  # fmt: skip


def _timestamp_columns(cols: Sequence[str]) -> list[int]:
    return [i for i, c in enumerate(cols) if c in ("created_at", "updated_at", "last_progress_at")]


def load_sqlite(path: str, ds: Dataset, chunks: Iterable[Rows] | None = None) -> None:
    """Bulk insert through sqlite3 (executemany, one transaction per chunk; ``ds.rows`` as
    the one chunk by default), then ANALYZE."""
    from dendrux.db.sqlite import sqlite_timestamp

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")  # loading only; the benchmark reads
        for rows in [ds.rows] if chunks is None else chunks:
            conn.execute("BEGIN")
            for table, cols in TABLES.items():
                ts = _timestamp_columns(cols)
                bools = [i for i, c in enumerate(cols) if c == "success"]

                def convert(
                    row: tuple[Any, ...], ts: list[int] = ts, bools: list[int] = bools
                ) -> list[Any]:
                    out = list(row)
                    for i in ts:
                        out[i] = sqlite_timestamp(out[i])
                    for i in bools:
                        out[i] = int(out[i])
                    return out

                columns, marks = ", ".join(cols), ", ".join("?" * len(cols))
                sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
                conn.executemany(sql, (convert(r) for r in rows[table]))
            conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


async def load_postgres(dsn: str, ds: Dataset, chunks: Iterable[Rows] | None = None) -> None:
    """Bulk COPY through asyncpg (per chunk; ``ds.rows`` as the one chunk by default), then
    VACUUM (ANALYZE) and CHECKPOINT."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        # The rows are consistent by construction: skip the per-row FK triggers while copying.
        await conn.execute("SET session_replication_role = replica")
        for rows in [ds.rows] if chunks is None else chunks:
            for table, cols in TABLES.items():
                await conn.copy_records_to_table(table, records=rows[table], columns=list(cols))
        await conn.execute("SET session_replication_role = DEFAULT")
        await conn.execute("VACUUM (ANALYZE)")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


# ---------------------------------------------------------------------------
# the bare side: the same statement text and parameters on the raw driver
# ---------------------------------------------------------------------------


async def _json_codecs(raw: Any) -> None:
    """The library pool's codecs: json/jsonb decoded by json.loads in the driver."""
    for type_name in ("json", "jsonb"):
        await raw.set_type_codec(
            type_name, schema="pg_catalog", encoder=lambda v: v, decoder=json.loads, format="text"
        )


class BareSqlite:
    """One aiosqlite reader connection opened like the library's readers (mode=ro,
    query_only, sqlite3.Row); JSON columns decoded with json.loads."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.q = load_queries("sqlite")
        self.db: Any = None

    async def open(self) -> None:
        import aiosqlite

        self.db = await aiosqlite.connect(
            f"file:{quote(self.path)}?mode=ro", uri=True, isolation_level=None, timeout=5.0
        )
        self.db.row_factory = sqlite3.Row
        await self.db.execute_fetchall(self.q["query_only"])

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()
            self.db = None

    async def fetch_all(self, name: str, args: Sequence[Any], json_cols: Sequence[str]) -> Any:
        rows = await self.db.execute_fetchall(self.q[name], tuple(args))
        if not json_cols or not rows:
            return rows
        # The least a caller does to get the JSON decoded: json.loads per value, by
        # position (a per-row inner loop or access by name would be bare-side overhead).
        loads = json.loads
        keys = rows[0].keys()
        pos = [keys.index(c) for c in json_cols]
        if len(pos) == 1:
            (a,) = pos
            return [(row, (None if row[a] is None else loads(row[a]),)) for row in rows]
        if len(pos) == 2:
            a, b = pos
            return [
                (
                    row,
                    (
                        None if row[a] is None else loads(row[a]),
                        None if row[b] is None else loads(row[b]),
                    ),
                )
                for row in rows
            ]
        return [(row, [None if row[i] is None else loads(row[i]) for i in pos]) for row in rows]

    async def fetch_row(self, name: str, args: Sequence[Any], json_cols: Sequence[str]) -> Any:
        rows = await self.fetch_all(name, args, json_cols)
        return rows[0] if rows else None

    async def fetch_value(self, name: str, args: Sequence[Any]) -> Any:
        rows = await self.db.execute_fetchall(self.q[name], tuple(args))
        return rows[0][0] if rows else None

    def as_dicts(self, result: Any, json_cols: Sequence[str]) -> list[dict[str, Any]]:
        out = []
        for item in result if isinstance(result, list) else [result]:
            row, decoded = item if json_cols else (item, [])
            d = dict(zip(row.keys(), tuple(row), strict=True))
            d.update(zip(json_cols, decoded, strict=True))
            out.append(d)
        return out


class BarePostgres:
    """An asyncpg pool like the library's (min 1, max 10, statement cache 100, json/jsonb
    decoded by json.loads codecs); one acquire per statement, as the library does."""

    dialect = "postgres"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.q = load_queries("postgres")
        self.pool: Any = None

    async def open(self) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=1, max_size=10, statement_cache_size=100, init=_json_codecs
        )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def fetch_all(self, name: str, args: Sequence[Any], json_cols: Sequence[str]) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetch(self.q[name], *args)

    async def fetch_row(self, name: str, args: Sequence[Any], json_cols: Sequence[str]) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetchrow(self.q[name], *args)

    async def fetch_value(self, name: str, args: Sequence[Any]) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetchval(self.q[name], *args)

    def as_dicts(self, result: Any, json_cols: Sequence[str]) -> list[dict[str, Any]]:
        return [dict(r) for r in (result if isinstance(result, list) else [result])]


Bare = BareSqlite | BarePostgres


# ---------------------------------------------------------------------------
# the calls
# ---------------------------------------------------------------------------


@dataclass
class Call:
    key: str
    label: str
    query: str  # the named query both sides run
    fetch: str  # all | row | value
    json_cols: tuple[str, ...]
    lib: Callable[[int], Awaitable[Any]]
    args: Callable[[int], list[Any]]  # the bound parameters of iteration i
    lib_keys: Callable[[Any], Any]
    bare_keys: Callable[[list[dict[str, Any]]], Any]
    target: bool = True  # counts towards the targets
    filtered: bool = False  # has a selective filter: an index walk without seek is a finding
    cursor: str | None = None  # regex an index condition must contain (strict > cursor)


def _filter_args(
    dialect: str, statuses: list[str] | None, meta: dict[str, Any] | None
) -> list[Any]:
    """Parameters 1..7 of list_run_summaries/count_runs (and their *_by_meta twins, which a
    metadata filter selects), as `RunFilters.bind` builds them."""
    status_arg: Any = None
    if statuses is None:
        pass
    elif dialect == "postgres":
        status_arg = list(statuses)
    else:
        status_arg = json.dumps(list(statuses))
    return [status_arg, None, None, None, None, None, dumps(meta) if meta else None]


def build_calls(store: Any, dialect: str, ds: Dataset) -> list[Call]:
    run = ds.big_run
    th, us, ids = ds.threads, ds.users, ds.run_ids
    k = len(th)
    paused = ["run.paused", "run.resumed"]  # get_pauses' event types, bound as the dialect binds
    pause_types: Any = paused if dialect == "postgres" else json.dumps(paused)

    def runs_keys(result: list[Any]) -> Any:
        return [(r.run_id, r.meta, r.created_at) for r in result]

    def runs_bare(rows: list[dict[str, Any]]) -> Any:
        return [(r["id"], r["meta"], _aware(r["created_at"])) for r in rows]

    def events_keys(result: list[Any]) -> Any:
        return [(e.sequence_index, e.event_type, e.data) for e in result]

    def events_bare(rows: list[dict[str, Any]]) -> Any:
        return [(r["sequence_index"], r["event_type"], r["data"]) for r in rows]

    return [
        Call(
            "list_runs",
            "list_runs(limit=50)",
            "list_run_summaries",
            "all",
            ("meta",),
            lambda i: store.list_runs(limit=50),
            lambda i: [*_filter_args(dialect, None, None), 50, 0],
            runs_keys,
            runs_bare,
        ),
        Call(
            "list_runs_thread",
            "list_runs(metadata_filter={thread_id})",
            "list_run_summaries_by_meta",
            "all",
            ("meta",),
            lambda i: store.list_runs(metadata_filter={"thread_id": th[i % k]}),
            lambda i: [*_filter_args(dialect, None, {"thread_id": th[i % k]}), 50, 0],
            runs_keys,
            runs_bare,
            filtered=True,
        ),
        Call(
            "list_runs_error",
            "list_runs(status='error', limit=50)",
            "list_run_summaries",
            "all",
            ("meta",),
            lambda i: store.list_runs(status="error", limit=50),
            lambda i: [*_filter_args(dialect, ["error"], None), 50, 0],
            runs_keys,
            runs_bare,
            filtered=True,
        ),
        Call(
            "count_error_user",
            "count_runs(status='error', metadata_filter={user_id})",
            "count_runs_by_meta",
            "value",
            (),
            lambda i: store.count_runs(status="error", metadata_filter={"user_id": us[i % k]}),
            lambda i: _filter_args(dialect, ["error"], {"user_id": us[i % k]}),
            lambda v: v,
            lambda v: v,
            filtered=True,
        ),
        Call(
            "count_all",
            "count_runs()  (unselective, no target)",
            "count_runs",
            "value",
            (),
            lambda i: store.count_runs(),
            lambda i: _filter_args(dialect, None, None),
            lambda v: v,
            lambda v: v,
            target=False,
        ),
        Call(
            "events_start",
            "get_events(run, limit=500)",
            "get_run_events",
            "all",
            ("data",),
            lambda i: store.get_events(run, limit=500),
            lambda i: [run, None, None, 500],
            events_keys,
            events_bare,
        ),
        Call(
            "events_late",
            "get_events(run, after_sequence_index=9000, limit=500)",
            "get_run_events",
            "all",
            ("data",),
            lambda i: store.get_events(run, after_sequence_index=9000, limit=500),
            lambda i: [run, 9000, None, 500],
            events_keys,
            events_bare,
            cursor=r"sequence_index ?> ?",
        ),
        Call(
            "traces",
            "get_traces(run, limit=500)",
            "get_traces",
            "all",
            ("meta",),
            lambda i: store.get_traces(run, limit=500),
            lambda i: [run, 500, 0],
            lambda result: [(t.order_index, t.role, t.meta) for t in result],
            lambda rows: [(r["order_index"], r["role"], r["meta"]) for r in rows],
        ),
        Call(
            "get_run",
            "get_run(run_id)",
            "get_run",
            "row",
            ("input_data", "output_data", "meta"),
            lambda i: store.get_run(ids[i % k]),
            lambda i: [ids[i % k]],
            lambda d: [(d.run_id, d.input_data, d.meta, d.answer)],
            lambda rows: [
                (r["id"], r["input_data"], r["meta"], (r["output_data"] or {}).get("answer"))
                for r in rows
            ],
        ),
        Call(
            "llm_calls",
            f"get_llm_calls(run)  ({BIG_LLM_CALLS} rows)",
            "get_llm_calls",
            "all",
            ("provider_request", "provider_response"),
            lambda i: store.get_llm_calls(run),
            lambda i: [run, None, None, 0],
            lambda result: [(c.id, c.provider_request, c.provider_response) for c in result],
            lambda rows: [(r["id"], r["provider_request"], r["provider_response"]) for r in rows],
        ),
        Call(
            "tool_calls",
            f"get_tool_invocations(run)  ({BIG_TOOL_CALLS} rows)",
            "get_tool_calls",
            "all",
            ("params", "result"),
            lambda i: store.get_tool_invocations(run),
            lambda i: [run, None, None, 0],
            lambda result: [(t.tool_call_id, t.params, t.result) for t in result],
            lambda rows: [(r["tool_call_id"], r["params"], r["result"]) for r in rows],
        ),
        Call(
            "pauses",
            f"get_pauses(run)  ({BIG_EVENTS // len(_BIG_PATTERN)} pairs)",
            "get_run_events",
            "all",
            ("data",),
            lambda i: store.get_pauses(run),
            lambda i: [run, None, pause_types, None],
            lambda result: [
                s
                for p in result
                for s in (p.pause_sequence_index, p.resume_sequence_index)
                if s is not None
            ],
            lambda rows: [r["sequence_index"] for r in rows],
        ),
        Call(
            "pii_mapping",
            "get_pii_mapping(run_id)",
            "get_pii_mapping",
            "row",
            ("pii_mapping",),
            lambda i: store.get_pii_mapping(ids[i % k]),
            lambda i: [ids[i % k]],
            lambda mapping: [mapping],
            lambda rows: [r["pii_mapping"] or {} for r in rows],
        ),
    ]


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    aware: datetime = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware


async def compare_results(
    c: Call, bare: Bare, bare_call: Callable[[int], Awaitable[Any]]
) -> dict[str, Any]:
    """Run iteration 0 of a call on both sides: whether they return the same rows (by the
    call's keys), how many, and the value of a one-value call."""
    lib_result = await c.lib(0)
    bare_result = await bare_call(0)
    if c.fetch == "value":
        a, b = lib_result, bare_result
        rows = 1
    else:
        a = c.lib_keys(lib_result) if lib_result is not None else []
        b = c.bare_keys(bare.as_dicts(bare_result, c.json_cols)) if bare_result else []
        rows = len(a)
    return {"rows": rows, "value": a if c.fetch == "value" else None, "same": a == b}


def bare_fn(bare: Bare, call: Call) -> Callable[[int], Awaitable[Any]]:
    name, cols, args = call.query, call.json_cols, call.args
    if call.fetch == "value":
        fetch_value = bare.fetch_value
        return lambda i: fetch_value(name, args(i))
    fetch = bare.fetch_row if call.fetch == "row" else bare.fetch_all
    return lambda i: fetch(name, args(i), cols)


# ---------------------------------------------------------------------------
# statement audit: the SQL text and parameters each side sends, byte for byte
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def capture_statements(dialect: str, log: list[tuple[str, tuple[Any, ...]]]) -> Any:
    """Patch the driver class so every statement sent (text, parameters) is logged."""
    if dialect == "sqlite":
        import aiosqlite

        cls: Any = aiosqlite.Connection
        names = ["execute_fetchall", "execute", "executemany"]

        def unpack(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
            params = args[0] if args else kwargs.get("parameters", ())
            return tuple(params or ())
    else:
        import asyncpg.connection

        cls = asyncpg.connection.Connection
        names = ["execute", "fetch", "fetchval", "fetchrow", "executemany"]

        def unpack(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
            return tuple(args)

    originals = {name: getattr(cls, name) for name in names}

    def wrap(original: Any) -> Any:
        def recorded(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            log.append((query, unpack(args, kwargs)))
            return original(self, query, *args, **kwargs)

        return recorded

    for name, original in originals.items():
        setattr(cls, name, wrap(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(cls, name, original)


def _drop_resets(log: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[str, tuple[Any, ...]]]:
    # asyncpg's pool runs a reset query on every release (both sides alike).
    return [s for s in log if not s[0].startswith("SELECT pg_advisory_unlock_all()")]


# ---------------------------------------------------------------------------
# streaming
# ---------------------------------------------------------------------------


async def lib_stream(store: Any, run_id: str, total: int = STREAM_EVENTS) -> int:
    """Take ``total`` events from `RunStore.stream_events`, then close the generator."""
    n = 0
    async with contextlib.aclosing(store.stream_events(run_id)) as events:
        async for _event in events:
            n += 1
            if n == total:
                break
    return n


async def bare_stream(bare: Bare, run_id: str, total: int = STREAM_EVENTS, page: int = 500) -> int:
    """The same statements as stream_events: run_exists, then pages of get_run_events."""
    if not await bare.fetch_value("run_exists", [run_id, None]):
        raise LookupError(run_id)
    cursor, n = None, 0
    while n < total:
        rows = await bare.fetch_all("get_run_events", [run_id, cursor, None, page], ("data",))
        for item in rows:
            row = item[0] if isinstance(item, tuple) else item
            cursor = row["sequence_index"]
            n += 1
            if n == total:
                break
        if not rows:
            break
    return n


async def peak_growth(work: Callable[[], Awaitable[Any]]) -> int:
    """Peak traced memory above the starting point while ``work`` runs (bytes)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        await work()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - start


# ---------------------------------------------------------------------------
# plans
# ---------------------------------------------------------------------------


def pg_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(pg_literal(v) for v in value) + "]::text[]"
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class Plan:
    text: list[str]
    indexes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def uses_index(self) -> bool:
        return bool(self.indexes)


async def pg_plan(dsn: str, call: Call, args: list[Any]) -> Plan:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement prepared as asyncpg prepares it, with
    the real values, after 6 executions (the plan cache has then chosen custom vs generic,
    as on a pooled connection that ran the statement before)."""
    import asyncpg

    sql = load_queries("postgres")[call.query]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"PREPARE bench_q AS {sql}")
        execute = f"EXECUTE bench_q({', '.join(pg_literal(a) for a in args)})"
        for _ in range(6):
            await conn.execute(execute)
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {execute}")
        counts = await conn.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'bench_q'"
        )
        await conn.execute("DEALLOCATE bench_q")
    finally:
        await conn.close()
    text = [r[0] for r in rows]
    plan = Plan(text)
    generic = bool(re.search(r"\$\d+", "\n".join(text)))
    plan.notes.append(
        f"plan cache after 7 executions: {counts['custom_plans']} custom, "
        f"{counts['generic_plans']} generic; the plan shown is "
        + ("GENERIC (parameters not known to the planner)" if generic else "custom (re-planned "
           "with the values on every execution)")
    )  # fmt: skip
    rows_out = re.search(r"rows=(\d+) loops", text[0])
    returned = int(rows_out.group(1)) if rows_out else 0
    index_conds: list[str] = []
    for i, line in enumerate(text):
        if m := re.search(r"Seq Scan on (\w+)", line):
            table = m.group(1)
            if table in BIG_TABLES:
                plan.flags.append(f"FULL SCAN: Seq Scan on {table}")
            else:
                plan.notes.append(f"Seq Scan on {table} (small table)")
        if m := re.search(r"Index (?:Only )?Scan (?:Backward )?using (\w+) on (\w+)", line):
            plan.indexes.append(f"{m.group(1)} on {m.group(2)}")
        if m := re.search(r"Bitmap Index Scan on (\w+)", line):
            plan.indexes.append(m.group(1))
        if m := re.search(r"Index Cond: (.*)", line):
            index_conds.append(m.group(1))
        if m := re.search(r"Rows Removed by Filter: (\d+)", line):
            removed = int(m.group(1))
            if removed >= 1000 and removed > 10 * max(returned, 1):
                node = next(
                    (text[j].strip() for j in range(i - 1, -1, -1) if "->" in text[j] or j == 0),
                    "",
                )
                plan.flags.append(
                    f"FILTERED WALK: {removed} rows read and thrown away by a Filter (the "
                    f"predicate is not an index condition) in: {node.split('  (')[0]}"
                )
    if call.cursor and not any(re.search(call.cursor, c) for c in index_conds):
        plan.flags.append("CURSOR NOT AN INDEX BOUND: the rows before the cursor are read")
    if not plan.indexes:
        plan.flags.append("NO INDEX USED")
    return plan


def sqlite_plan(path: str, call: Call, args: list[Any]) -> Plan:
    """EXPLAIN QUERY PLAN of the byte-identical statement with the values bound."""
    sql = load_queries("sqlite")[call.query]
    conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)
    try:
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql, tuple(args)).fetchall()
    finally:
        conn.close()
    depth: dict[int, int] = {0: -1}
    text = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        text.append("  " * depth[node] + detail)
    plan = Plan(text)
    seek_conds = []
    for detail in (r[3] for r in rows):
        if m := re.match(r"SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?", detail):
            table, index = m.groups()
            if table in BIG_TABLES and index is None:
                plan.flags.append(f"FULL SCAN: {detail}")
            elif table in BIG_TABLES:
                plan.indexes.append(f"{index} on {table} (walk, no seek)")
                if call.filtered:
                    plan.flags.append(
                        f"INDEX WALK: {detail}: the filter is not an index bound, so the walk "
                        "reads rows in index order until LIMIT matches are found (a count, or "
                        "a filter with fewer matches than LIMIT, reads the whole table)"
                    )
        if m := re.match(
            r"SEARCH (\w+) USING (?:COVERING |INTEGER PRIMARY KEY )?(?:INDEX (\w+) )?\((.*)\)",
            detail,
        ):
            table, index, cond = m.groups()
            plan.indexes.append(f"{index or 'rowid'} on {table} ({cond})")
            seek_conds.append(cond)
        if detail.startswith("USE TEMP B-TREE FOR ORDER BY"):
            plan.notes.append("sorts the matching rows (no index order)")
    if call.cursor and not any(re.search(call.cursor, c) for c in seek_conds):
        plan.flags.append(
            "CURSOR NOT AN INDEX BOUND: the index entries before the cursor are stepped over"
        )
    if not plan.indexes:
        plan.flags.append("NO INDEX USED")
    return plan


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


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def _kib(n: int) -> str:
    return f"{n / 1024:,.0f} KiB" if n < 10 * 1024 * 1024 else f"{n / 1048576:,.1f} MiB"


def report_dialect(dialect: str, settings: str, res: dict[str, Any], ds: Dataset) -> list[str]:
    reps = len(res["repeats"])
    d = res["dataset"]
    lines = [
        "",
        f"== reads, {dialect}: {settings}",
        f"   dataset: {ds.runs} runs ("
        + ", ".join(f"{s} {n}" for s, n in ds.statuses.most_common())
        + f"), {len(AGENTS)} agents, {len(TENANTS)} tenants, created_at over 30 days; "
        f"meta thread_id = n % {THREADS}, user_id = n % {USERS}",
        "   rows: "
        + ", ".join(f"{t} {n}" for t, n in d["rows"].items())
        + f"; big run {ds.big_run}: {BIG_EVENTS} events, {BIG_TRACES} traces, "
        f"{BIG_LLM_CALLS} LLM calls, {BIG_TOOL_CALLS} tool calls; the rest: 2-3 events and 2 "
        "traces per run, 1 LLM call + 1 tool call every 10th run",
        f"   generated in {ds.build_s:.1f} s (seed {ds.seed}), loaded + analyzed in "
        f"{d['load_s']:.1f} s; database size {d['size_mb']:.0f} MB",
        "",
        f"   latency per call, ms (median over {reps} repeat(s) of each repeat's p50 / p99; "
        "n = timed iterations per side per repeat, library and bare interleaved)",
        f"   {'call':<56}{'n':>5}{'rows':>6}{'lib p50':>9}{'lib p99':>9}{'bare p50':>9}"
        f"{'bare p99':>9}{'ratio':>7}  target",
    ]
    for s in res["calls"].values():
        if dialect == "postgres":
            if s["target"]:
                target = (
                    f"p50<{TARGET_P50_MS:g}ms {'met' if s['p50_target_met'] else 'NOT met'}, "
                    f"ratio {'met' if s['ratio_target_met'] else 'NOT met'}"
                )
            else:
                target = f"(none) ratio {'met' if s['ratio_target_met'] else 'NOT met'}"
        else:
            target = f"ratio {'met' if s['ratio_target_met'] else 'NOT met'}"
        n = s["n"][0] if len(set(s["n"])) == 1 else f"{min(s['n'])}+"
        lines.append(
            f"   {s['label']:<56}{n:>5}{s['rows']:>6}{s['library_p50_ms']:>9.2f}"
            f"{s['library_p99_ms']:>9.2f}{s['bare_p50_ms']:>9.2f}{s['bare_p99_ms']:>9.2f}"
            f"{s['ratio_p50']:>6.2f}x  {target}"
        )
    st, mem = res["stream"], res["memory_peak_growth_bytes"]
    lines.append(
        f"   stream_events: take {st['events']} events then aclose: library "
        f"{st['library_ms']:.1f} ms ({st['events'] / st['library_ms'] * 1e3:,.0f} events/s), "
        f"bare pages {st['bare_ms']:.1f} ms, ratio {st['ratio']:.2f}x"
    )
    lines.append(
        f"   peak memory growth (tracemalloc): stream_events {_kib(mem['stream_events_library'])} "
        f"(bare paging {_kib(mem['stream_bare'])}) vs get_events(run) of all {BIG_EVENTS} at once "
        f"{_kib(mem['get_events_all_library'])}: the stream holds one page of 500, not the "
        "timeline"
    )
    a = res["audit"]
    lines.append(
        f"   statement audit: byte-identical SQL text and parameters on both sides for "
        f"{sum(x['identical'] for x in a.values())}/{len(a)} calls; parity (same rows): "
        f"{sum(x['same'] for x in res['parity'].values())}/{len(res['parity'])}"
    )
    if dialect == "postgres":
        targeted = [s for s in res["calls"].values() if s["target"]]
        slow = [s["label"] for s in targeted if not s["p50_target_met"]]
        far = [s["label"] for s in res["calls"].values() if not s["ratio_target_met"]]
        lines.append(
            f"   target p50 < {TARGET_P50_MS:g} ms (all calls but count_runs()): "
            + ("met" if not slow else "NOT met for " + "; ".join(slow))
        )
        lines.append(
            f"   target library within {TARGET_RATIO}x of bare (p50): "
            + ("met" if not far else "NOT met for " + "; ".join(far))
        )
    for failure in res["failures"]:
        lines.append(f"   FAILURE {failure}")
    lines.append("")
    lines.append(
        "   plans ("
        + (
            "EXPLAIN (ANALYZE, BUFFERS) EXECUTE of the prepared statement with the values of "
            "the first timed iteration, after 6 executions"
            if dialect == "postgres"
            else "EXPLAIN QUERY PLAN of the same text with the values of the first timed "
            "iteration bound"
        )
        + ")"
    )
    for key, p in res["plans"].items():
        s = res["calls"][key]
        lines.append(f"   -- {s['label']}  [{s['query']}]")
        for line in p["text"]:
            lines.append(f"        {line}")
        for note in p["notes"]:
            lines.append(f"      note: {note}")
        for flag in p["flags"]:
            lines.append(f"      FLAG {flag}")
    return lines


def closing_note(results: dict[str, Any]) -> list[str]:
    lines = ["", "== index use (every call; FLAG = full scan, filtered walk or unbound cursor)"]
    for dialect, res in results.items():
        for key, p in res["plans"].items():
            s = res["calls"][key]
            verdict = "index" if p["indexes"] and not p["flags"] else "FLAGGED"
            if not s["target"] and p["flags"]:
                verdict = "scan (unselective: ok)"
            lines.append(
                f"   {dialect:<9}{s['label']:<56}{verdict:<23}"
                + ("; ".join(p["indexes"]) or "-")
                + (
                    ""
                    if not p["flags"]
                    else "  <- " + " | ".join(f.split(":")[0] for f in p["flags"])
                )
            )
    return lines


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench reads")
    p.description = "RunStore reads at scale against the bare driver running the same SQL."
    p.add_argument("--runs", type=int, default=100_000, help="runs in the dataset (100000)")
    p.add_argument("--repeat", type=int, default=3, help="repeats of the timings (3)")
    p.add_argument("--iterations", type=int, default=200, help="timed calls per side (200)")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls per side first (20)")
    p.add_argument(
        "--budget",
        type=float,
        default=20.0,
        help="seconds per call and repeat; a call so slow that --iterations would exceed it "
        "is timed fewer times (at least 20) (20)",
    )
    add_common_options(p)
    return p


async def _main_async(
    args: argparse.Namespace, dialects: list[str], cluster: Any, tmp: str
) -> tuple[dict[str, Any], bool]:
    from bench.recorder import machine_info
    from dendrux.db import upgrade

    def out(line: str) -> None:
        print(line, flush=True)

    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)

    machine = machine_info()
    out(
        f"machine: nproc={machine['nproc']} cpu={machine['cpu']!r} kernel={machine['kernel']} "
        f"python={machine['python']} sqlite={machine['sqlite']} aiosqlite={machine['aiosqlite']} "
        f"asyncpg={machine['asyncpg']} dendrux={machine['dendrux_commit']} "
        f"loadavg={machine['loadavg_at_start']}"
    )
    out(f"generating the dataset ({args.runs} runs, seed {args.seed}) ...")
    ds = build_dataset(args.runs, args.seed)
    # The generated rows stay alive for loading: keep the collector from walking them
    # (a full collection over ~1M tuples is a ~30 ms pause that lands in some p99).
    gc.collect()
    gc.freeze()
    out(
        f"  generated in {ds.build_s:.1f} s: "
        + ", ".join(f"{t} {n}" for t, n in ds.counts().items())
    )
    result: dict[str, Any] = {
        "benchmark": "reads",
        "params": {
            "runs": args.runs,
            "repeat": args.repeat,
            "iterations": args.iterations,
            "warmup": args.warmup,
            "budget_s": args.budget,
            "seed": args.seed,
            "targets": {"postgres_p50_ms": TARGET_P50_MS, "ratio_p50": TARGET_RATIO},
        },
        "machine": machine,
        "dataset": {
            "rows": ds.counts(),
            "statuses": dict(ds.statuses),
            "big_run": ds.big_run,
            "generate_s": ds.build_s,
        },
        "dialects": {},
    }
    ok = True
    report: list[str] = []
    for dialect in dialects:
        t0 = time.perf_counter()
        if dialect == "sqlite":
            path = str(Path(tmp) / "reads.db")
            url = f"sqlite+aiosqlite:///{path}"
            await upgrade(url)
            out(f"\n[sqlite] loading into {path} ...")
            load_sqlite(path, ds)
            location = path
            size_mb = (
                sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))
                / 1e6
            )
            settings_data: dict[str, Any] = {"journal_mode": "WAL", "dir": tmp}
            settings = (
                "library: RunStore.from_database_url (reader connections mode=ro, query_only, "
                "WAL); bare: one aiosqlite connection opened the same way; "
                f"file in {tmp}"
            )
        else:
            import asyncpg

            from bench.pg import server_settings

            admin = await asyncpg.connect(cluster.dsn("postgres"))
            try:
                await admin.execute('DROP DATABASE IF EXISTS "bench_reads"')
                await admin.execute('CREATE DATABASE "bench_reads"')
            finally:
                await admin.close()
            url = location = cluster.dsn("bench_reads")
            await upgrade(url)
            out("\n[postgres] loading (COPY) ...")
            await load_postgres(url, ds)
            conn = await asyncpg.connect(url)
            try:
                size_mb = await conn.fetchval("SELECT pg_database_size(current_database())") / 1e6
            finally:
                await conn.close()
            settings_data = await server_settings(cluster.dsn("postgres"))
            settings = (
                f"PostgreSQL {settings_data['server_version']} throwaway cluster "
                f"(fsync={settings_data['fsync']}, "
                f"synchronous_commit={settings_data['synchronous_commit']}, "
                f"shared_buffers={settings_data['shared_buffers']}), 127.0.0.1 TCP; "
                "library: RunStore.from_database_url (asyncpg pool 1..10, json/jsonb decoded by "
                "json.loads codecs); bare: an asyncpg pool 1..10 with the same codecs"
            )
        load_s = time.perf_counter() - t0
        out(f"  loaded and analyzed in {load_s:.1f} s ({size_mb:.0f} MB)")
        res = await bench_dialect(dialect, url, location, ds, args, out)
        res["dataset"] = {"rows": ds.counts(), "load_s": load_s, "size_mb": size_mb}
        res["settings"] = settings_data
        result["dialects"][dialect] = res
        ok = ok and not res["failures"]
        report += report_dialect(dialect, settings, res, ds)
        if dialect == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(location + suffix)
    for line in report + closing_note(result["dialects"]):
        out(line)
    result["ok"] = ok
    return result, ok


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.runs < 2 or args.repeat < 1 or args.iterations < 1 or args.warmup < 1:
        print("--runs must be >= 2; --repeat, --iterations, --warmup >= 1", file=sys.stderr)
        return 2

    async def measure(dialects: list[str], cluster: Any, tmp: str) -> dict[str, Any]:
        result, _ok = await _main_async(args, dialects, cluster, tmp)
        return result

    return run_with_cluster(args, temp_prefix="dendrux-bench-reads-", measure=measure, name="reads")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
