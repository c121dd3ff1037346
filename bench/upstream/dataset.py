"""The issue's read dataset, generated once and loaded twice per dialect: into a database
migrated by ours (`bench.reads` loaders) and into one with 0.4.1's own schema, the same
rows, so each side reads its own schema (indexes included) with identical content.

20,000 runs (newest first by ``created_at``, distinct microsecond timestamps), statuses
from the reads benchmark's mix (~5 % error), ``meta = {"thread_id", "user_id"}`` with one
thread on 2 % of the runs (``thread_hot``) and 100 users (1 % each); every run two events
and two traces; one big run (three quarters of the way through) with 2,000 events and
500 traces.
"""

from __future__ import annotations

import bisect
import random
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.reads.dataset import (
    _STATUS_CUM,
    AGENTS,
    BASE,
    BASE_MS,
    ERRORS,
    MODELS,
    SPAN_US,
    STATUS_MIX,
    TABLES,
    TENANTS,
    WORDS,
    Dataset,
    dumps,
    ulid,
)

HOT_THREAD = "thread_hot"
HOT_EVERY = 50  # 2 % of runs
USERS = 100
COUNT_USER = "u_7"
BIG_EVENTS = 2_000
BIG_TRACES = 500
EVENT_KINDS = ("llm.completed", "tool.completed", "tool.completed", "approval.requested")


@dataclass
class ReadData:
    runs: int
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    big_run: str = ""
    run_ids: list[str] = field(default_factory=list)  # get_run cycles over these

    def params(self) -> dict[str, Any]:
        """What both sides' read calls take (see `shared.read_call`)."""
        return {"big_run": self.big_run, "thread": HOT_THREAD, "user": COUNT_USER,
                "run_ids": self.run_ids}  # fmt: skip

    def counts(self) -> dict[str, int]:
        return {table: len(rows) for table, rows in self.rows.items()}


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, k=words))


def generate(runs: int, seed: int) -> ReadData:
    rng = random.Random(seed)
    data = ReadData(runs)
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}
    step = max(1, SPAN_US // runs)
    big = runs - runs // 4 - 1 if runs > 1 else 0
    us = timedelta(microseconds=1)
    ids = []
    for n in range(runs):
        offset = n * step + rng.randrange(step)
        created = BASE + offset * us
        ms = BASE_MS + offset // 1000
        run_id = ulid(ms, rng.getrandbits(80))
        ids.append(run_id)
        status = "success" if n == big else STATUS_MIX[bisect.bisect(_STATUS_CUM, rng.random())][0]
        t_in, t_out = 500 + rng.randrange(60_000), 100 + rng.randrange(6_000)
        updated = created + (2_000_000 + rng.randrange(170_000_000)) * us
        thread = HOT_THREAD if n % HOT_EVERY == 0 else f"thread_{n}"
        rows["agent_runs"].append(
            (run_id, TENANTS[n % 4], AGENTS[n % 4], status,
             dumps({"input": f"Request {n}: {_text(rng, 8)}"}),
             dumps({"answer": f"Done: {_text(rng, 10)}"}) if status == "success" else None,
             1 + n % 9, MODELS[n % 3], "react", t_in, t_out,
             round(t_in * 3e-6 + t_out * 15e-6, 6), rng.randrange(t_in), 0, 0,
             dumps({"thread_id": thread, "user_id": f"u_{n % USERS}"}),
             ERRORS[n % len(ERRORS)] if status == "error" else None, updated,
             "tool_error" if status == "error" else None, created, updated)
        )  # fmt: skip
        events, traces = (BIG_EVENTS, BIG_TRACES) if n == big else (2, 2)
        for seq in range(events):
            kind = "run.started" if seq == 0 else EVENT_KINDS[seq % len(EVENT_KINDS)]
            at = created + (seq + 1) * 1000 * us
            rows["run_events"].append(
                (ulid(ms + seq // 50, rng.getrandbits(80)), run_id, kind, seq, seq // 10,
                 ulid(ms, rng.getrandbits(80)) if kind != "run.started" else None,
                 dumps({"iteration": seq // 10, "note": _text(rng, 6)}), at)
            )  # fmt: skip
        for k in range(traces):
            at = created + (k + 1) * 1500 * us
            rows["react_traces"].append(
                (ulid(ms + k // 50, rng.getrandbits(80)), run_id,
                 "user" if k == 0 else ("assistant", "tool")[k % 2], _text(rng, 12 + k % 40), k,
                 dumps({"iteration": k // 10}) if k % 2 else None, at, at)
            )  # fmt: skip
    data.rows = rows
    data.big_run = ids[big]
    sample = random.Random(seed + 1)
    data.run_ids = [ids[sample.randrange(runs)] for _ in range(64)]
    return data


def as_dataset(data: ReadData) -> Dataset:
    """The rows in the shape `bench.reads.load_sqlite` / `load_postgres` take."""
    rows = {table: data.rows.get(table, []) for table in TABLES}
    return Dataset(data.runs, 0, rows=rows)


# -- loading into 0.4.1's schema ------------------------------------------------------------


def _naive(value: datetime) -> str:
    """0.4.1's SQLite timestamps: SQLAlchemy's DATETIME text, naive UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _filler(type_name: str, created: Any) -> Any:
    t = type_name.lower()
    if "time" in t:
        return created
    if "bool" in t:
        return False
    if any(k in t for k in ("int", "bool", "numeric", "real", "double")):
        return 0
    return ""


def load_upstream_sqlite(path: str, data: ReadData) -> None:
    """The same rows into a 0.4.1 SQLite file; NOT NULL columns 0.4.1 fills from Python
    defaults (not in our column lists) get the value its default would give."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")  # loading only
        conn.execute("BEGIN")
        for table, cols in TABLES.items():
            info = conn.execute(f"PRAGMA table_info({table})").fetchall()
            extra = [(name, typ) for _, name, typ, notnull, default, pk in info
                     if notnull and default is None and not pk and name not in cols]  # fmt: skip
            names = [*cols, *(name for name, _ in extra)]
            created = cols.index("created_at")

            def convert(row: tuple[Any, ...], extra: Any = extra, created: int = created) -> Any:
                out = [
                    _naive(v) if isinstance(v, datetime) else int(v) if isinstance(v, bool) else v
                    for v in row
                ]
                return [*out, *(_filler(typ, out[created]) for _, typ in extra)]

            sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            conn.executemany(sql, (convert(r) for r in data.rows.get(table, [])))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()


async def load_upstream_postgres(dsn: str, data: ReadData) -> None:
    """The same rows into a 0.4.1 PostgreSQL database (COPY), then VACUUM (ANALYZE)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET session_replication_role = replica")
        for table, cols in TABLES.items():
            info = await conn.fetch(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = $1 "
                "AND is_nullable = 'NO' AND column_default IS NULL",
                table,
            )
            extra = [(r["column_name"], r["data_type"]) for r in info
                     if r["column_name"] not in cols and r["column_name"] != "id"]  # fmt: skip
            types = dict(
                await conn.fetch(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = $1",
                    table,
                )
            )
            numeric = [i for i, c in enumerate(cols) if types.get(c) == "numeric"]
            created = cols.index("created_at")

            def convert(
                row: tuple[Any, ...], extra: Any = extra, numeric: Any = numeric, at: int = created
            ) -> Any:
                out = list(row)
                for i in numeric:
                    out[i] = None if out[i] is None else Decimal(str(out[i]))
                return (*out, *(_filler(typ, out[at]) for _, typ in extra))

            await conn.copy_records_to_table(
                table,
                records=[convert(r) for r in data.rows.get(table, [])],
                columns=[*cols, *(name for name, _ in extra)],
            )
        await conn.execute("SET session_replication_role = DEFAULT")
        await conn.execute("VACUUM (ANALYZE)")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
