"""Databases: a fresh migrated one per variant (SQLite file / PostgreSQL database), the
exact verification of what a variant left, and the row-by-row comparison of two variants.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any

from bench import workload as w

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
