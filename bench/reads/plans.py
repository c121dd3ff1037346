"""Query plans: PostgreSQL ``EXPLAIN (ANALYZE, BUFFERS)`` of the prepared statement,
SQLite ``EXPLAIN QUERY PLAN``; full scans, filtered walks and unbound cursors flagged.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from bench.reads.calls import (
    Call,
)
from dendrux.db.queries import load_queries

BIG_TABLES = ("agent_runs", "run_events", "react_traces", "agent_run_meta")

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
