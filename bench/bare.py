"""The denominator: the recorder's database work written by hand on the bare drivers.

Same SQL text (loaded from the library's named queries, byte-identical), same
statements, same transaction boundaries and the same stored content as
`dendrux.recorder.PersistenceRecorder` issues for this workload:

=====================  ==========================================================
hook                   statements (each line is its own commit unless bracketed)
=====================  ==========================================================
message_appended       insert_trace (RETURNING id)
llm_call_completed     insert_llm_interaction; insert_usage;
                       insert_run_event (RETURNING id); touch_progress
tool_completed         [BEGIN; insert_tool_call; insert_run_event; COMMIT];
                       touch_progress
governance_event       insert_run_event (RETURNING id)
=====================  ==========================================================

One-statement writes run without BEGIN/COMMIT (autocommit), as the library
does; only the tool write is an explicit transaction (``BEGIN IMMEDIATE`` on
SQLite, ``conn.transaction()`` on PostgreSQL). Ids are minted client-side
with the same ULID function, JSON is ``json.dumps`` with the library's
separators, timestamps are ISO text on SQLite and aware datetimes on
PostgreSQL. What the bare code does *not* do: argument validation, the
NUL/big-float/UTF-8 scans of encoded JSON, retry/best-effort wrappers, the
re-parse of the tool result text (it is stored as given: already JSON), and
the "is this my own row?" probe (it only runs after a conflict, which this
workload never produces; the bare code raises instead).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import asyncpg

from dendrux.db.queries import load_queries
from dendrux.ulid import new_ulid

_dumps_raw = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def dumps(value: Any) -> str | None:
    return None if value is None else _dumps_raw(value)


def _brief(call: Any) -> dict[str, Any]:
    return {
        "id": call.id,
        "provider_tool_call_id": call.provider_tool_call_id,
        "name": call.name,
        "params": call.params,
    }


def _semantic_request(messages: list[Any], tools: list[Any] | None) -> dict[str, Any]:
    entries = []
    for m in messages:
        entry: dict[str, Any] = {"role": m.role.value, "content": m.content}
        if m.tool_calls:
            entry["tool_calls"] = [_brief(c) for c in m.tool_calls]
        if m.call_id:
            entry["call_id"] = m.call_id
        if m.name:
            entry["name"] = m.name
        if m.meta:
            entry["meta"] = m.meta
        entries.append(entry)
    request: dict[str, Any] = {"messages": entries}
    if tools is not None:
        request["tools"] = [
            {
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
                "target": t.target or "server",
                "meta": t.meta,
            }
            for t in tools
        ]
    return request


def _usage(u: Any) -> dict[str, Any]:
    return {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "cost_usd": u.cost_usd,
        "cache_read_input_tokens": u.cache_read_input_tokens,
        "cache_creation_input_tokens": u.cache_creation_input_tokens,
        "reasoning_tokens": u.reasoning_tokens,
    }


def _semantic_response(r: Any) -> dict[str, Any] | None:
    if not (r.text or r.tool_calls or r.reasoning):
        return None
    result: dict[str, Any] = {}
    if r.reasoning:
        result["reasoning"] = r.reasoning
    if r.text:
        result["text"] = r.text
    if r.tool_calls:
        result["tool_calls"] = [_brief(c) for c in r.tool_calls]
    result["usage"] = _usage(r.usage)
    return result


class SlotTaken(RuntimeError):
    """An insert found its slot taken (never happens in this workload)."""


# ---------------------------------------------------------------------------
# backends: how one statement / one transaction reaches the database
# ---------------------------------------------------------------------------


class SqliteBackend:
    """One aiosqlite connection (WAL, synchronous=FULL, foreign keys on); an
    asyncio.Lock serialises writes; one thread hop per statement."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.q = load_queries("sqlite")
        self.lock = asyncio.Lock()
        self.db: aiosqlite.Connection | None = None
        self.statements = 0

    @staticmethod
    def now() -> Any:
        return datetime.now(UTC).isoformat(timespec="microseconds")

    async def open(self) -> None:
        self.db = await aiosqlite.connect(self.path, isolation_level=None, timeout=5.0)
        for pragma in ("enable_wal", "enable_foreign_keys", "synchronous_full"):
            await self.db.execute_fetchall(self.q[pragma])

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()
            self.db = None

    async def value(self, sql: str, args: tuple[Any, ...]) -> Any:
        """One autocommit statement; the first column of its first row (or None)."""
        async with self.lock:
            rows = await self.db.execute_fetchall(sql, args)  # type: ignore[union-attr]
        self.statements += 1
        return rows[0][0] if rows else None

    async def run(self, sql: str, args: tuple[Any, ...]) -> None:
        """One autocommit statement, result ignored."""
        async with self.lock:
            await self.db.execute_fetchall(sql, args)  # type: ignore[union-attr]
        self.statements += 1

    async def transaction_values(self, work: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """BEGIN IMMEDIATE; the statements; COMMIT (ROLLBACK on error)."""
        db = self.db
        assert db is not None
        out = []
        async with self.lock:
            await db.execute_fetchall(self.q["begin_immediate"])
            try:
                for sql, args in work:
                    rows = await db.execute_fetchall(sql, args)
                    out.append(rows[0][0] if rows else None)
            except BaseException:
                if db.in_transaction:
                    await db.execute_fetchall(self.q["rollback"])
                raise
            await db.execute_fetchall(self.q["commit"])
        self.statements += len(work) + 2
        return out


class PostgresBackend:
    """An asyncpg pool (min 1, max 10: the library's defaults); one statement per
    acquire for autocommit writes, ``conn.transaction()`` for the tool write."""

    dialect = "postgres"

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.q = load_queries("postgres")
        self.pool: asyncpg.Pool | None = None
        self.statements = 0

    @staticmethod
    def now() -> Any:
        return datetime.now(UTC)

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=self.min_size, max_size=self.max_size
        )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def value(self, sql: str, args: tuple[Any, ...]) -> Any:
        async with self.pool.acquire() as conn:  # type: ignore[union-attr]
            result = await conn.fetchval(sql, *args)
        self.statements += 1
        return result

    async def run(self, sql: str, args: tuple[Any, ...]) -> None:
        async with self.pool.acquire() as conn:  # type: ignore[union-attr]
            await conn.execute(sql, *args)
        self.statements += 1

    async def transaction_values(self, work: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        out = []
        async with self.pool.acquire() as conn, conn.transaction():  # type: ignore[union-attr]
            for sql, args in work:
                out.append(await conn.fetchval(sql, *args))
        self.statements += len(work) + 2
        return out


Backend = SqliteBackend | PostgresBackend


# ---------------------------------------------------------------------------
# the store calls and the four hooks, by hand
# ---------------------------------------------------------------------------


class BareStore:
    """``create_run`` / ``finalize_run`` as one autocommit statement each."""

    def __init__(self, backend: Backend) -> None:
        self.b = backend
        q = backend.q
        self.insert_run = q["insert_run"]
        self.finalize = q["finalize_run"]

    async def create_run(
        self,
        run_id: str,
        agent_name: str,
        *,
        input_data: dict[str, Any] | None,
        model: str | None,
        strategy: str | None,
        tenant_id: str | None,
        meta: dict[str, Any] | None,
    ) -> None:
        args = (
            run_id, tenant_id, agent_name, "running", dumps(input_data), model, strategy,
            None, 0, None, dumps(meta), None, None, self.b.now(),
        )  # fmt: skip
        if await self.b.value(self.insert_run, args) is None:
            raise SlotTaken(f"run {run_id} exists")

    async def finalize_run(
        self,
        run_id: str,
        *,
        status: str,
        answer: str,
        iteration_count: int,
        total_usage: Any,
        expected_current_status: str,
    ) -> bool:
        u = total_usage
        args = (
            run_id, status, dumps({"answer": answer}), None, iteration_count,
            u.input_tokens, u.output_tokens, u.cost_usd, u.cache_read_input_tokens or 0,
            u.cache_creation_input_tokens or 0, u.reasoning_tokens or 0, None, self.b.now(),
            expected_current_status, True,
        )  # fmt: skip
        return await self.b.value(self.finalize, args) is not None


class BareRecorder:
    """The four hooks for one run, written against a backend."""

    def __init__(
        self,
        backend: Backend,
        run_id: str,
        *,
        model: str | None,
        provider_name: str | None,
        target_lookup: dict[str, str],
    ) -> None:
        self.b = backend
        self.run_id = run_id
        self.model = model
        self.provider = provider_name
        self.targets = target_lookup
        self.order = 0
        self.sequence = 0
        q = backend.q
        self.q_trace = q["insert_trace"]
        self.q_interaction = q["insert_llm_interaction"]
        self.q_usage = q["insert_usage"]
        self.q_event = q["insert_run_event"]
        self.q_touch = q["touch_progress"]
        self.q_tool = q["insert_tool_call"]
        self.now: Callable[[], Any] = backend.now

    async def _event(
        self, event_type: str, iteration: int, data: Any, correlation_id: str | None
    ) -> None:
        sequence = self.sequence
        self.sequence += 1
        args = (
            new_ulid(), self.run_id, event_type, sequence, iteration, correlation_id,
            dumps(data), self.now(),
        )  # fmt: skip
        if await self.b.value(self.q_event, args) is None:
            raise SlotTaken(f"event {sequence}")

    async def on_message_appended(self, message: Any, iteration: int) -> None:
        meta = dict(message.meta)
        meta["iteration"] = iteration
        role = message.role.value
        if role == "assistant" and message.tool_calls:
            meta["tool_calls"] = [_brief(c) for c in message.tool_calls]
        if role == "tool":
            meta["call_id"] = message.call_id
            meta["tool_name"] = message.name
        args = (
            new_ulid(), self.run_id, role, message.content, self.order, dumps(meta), self.now(),
        )  # fmt: skip
        if await self.b.value(self.q_trace, args) is None:
            raise SlotTaken(f"trace {self.order}")
        self.order += 1

    async def on_llm_call_completed(
        self,
        response: Any,
        iteration: int,
        *,
        semantic_messages: Any = None,
        semantic_tools: Any = None,
        duration_ms: int | None = None,
        guardrail_findings: Any = None,
    ) -> None:
        interaction_id = new_ulid()
        u = response.usage
        run_id, model, provider = self.run_id, self.model, self.provider
        await self.b.run(
            self.q_interaction,
            (
                interaction_id, run_id, iteration, model, provider,
                dumps(_semantic_request(semantic_messages, semantic_tools)),
                dumps(_semantic_response(response)),
                dumps(response.provider_request), dumps(response.provider_response),
                u.input_tokens, u.output_tokens, u.cost_usd, duration_ms,
                u.cache_read_input_tokens, u.cache_creation_input_tokens, u.reasoning_tokens,
                dumps(guardrail_findings), self.now(),
            ),
        )  # fmt: skip
        await self.b.run(
            self.q_usage,
            (
                new_ulid(), run_id, iteration, model, provider, u.input_tokens,
                u.output_tokens, u.cost_usd, duration_ms, u.cache_read_input_tokens,
                u.cache_creation_input_tokens, u.reasoning_tokens, None, self.now(),
            ),
        )  # fmt: skip
        await self._event(
            "llm.completed",
            iteration,
            {
                "input_tokens": u.input_tokens,
                "output_tokens": u.output_tokens,
                "cache_read_input_tokens": u.cache_read_input_tokens,
                "cache_creation_input_tokens": u.cache_creation_input_tokens,
                "reasoning_tokens": u.reasoning_tokens,
                "cost_usd": u.cost_usd,
                "model": model,
                "has_tool_calls": bool(response.tool_calls),
            },
            interaction_id,
        )
        await self.b.run(self.q_touch, (run_id, self.now()))

    async def on_tool_completed(self, tool_call: Any, tool_result: Any, iteration: int) -> None:
        target = self.targets.get(tool_call.name, "server")
        sequence = self.sequence
        self.sequence += 1
        now = self.now()
        run_id = self.run_id
        data = {
            "tool_name": tool_call.name,
            "target": target,
            "success": tool_result.success,
            "duration_ms": tool_result.duration_ms,
        }
        ids = await self.b.transaction_values(
            [
                (
                    self.q_tool,
                    (
                        new_ulid(), run_id, tool_call.id, tool_call.provider_tool_call_id,
                        tool_call.name, target, dumps(tool_call.params or None),
                        tool_result.payload, tool_result.success, tool_result.duration_ms,
                        iteration, tool_result.error, None, now,
                    ),
                ),
                (
                    self.q_event,
                    (
                        new_ulid(), run_id, "tool.completed", sequence, iteration,
                        tool_call.id, dumps(data), self.now(),
                    ),
                ),
            ]
        )  # fmt: skip
        if ids[0] is None or ids[1] is None:
            raise SlotTaken(f"tool call {tool_call.id}")
        await self.b.run(self.q_touch, (run_id, self.now()))

    async def on_governance_event(
        self,
        event_type: str,
        iteration: int,
        data: dict[str, Any] | None,
        correlation_id: str | None = None,
    ) -> None:
        await self._event(event_type, iteration, data, correlation_id)
