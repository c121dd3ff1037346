"""The reads benchmark's dataset: seeded rows for every table, generated once (or
streamed in chunks) and bulk-loaded per dialect through the raw driver.
"""

from __future__ import annotations

import base64
import bisect
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

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
