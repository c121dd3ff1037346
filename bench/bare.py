"""The denominator: the recorder's database work written by hand on the bare drivers.

Same SQL text (loaded from the library's named queries, byte-identical), same
statements, same transactions and the same stored content as
`dendrux.recorder.PersistenceRecorder` issues for this workload. Each hook is
one *unit* of writes, as in the library (`dendrux.db.writes`):

=====================  ==========================================================
hook                   writes of its unit
=====================  ==========================================================
message_appended       insert_trace (RETURNING id)
llm_call_completed     insert_llm_interaction; insert_usage; insert_run_event;
                       touch_progress
tool_completed         insert_tool_call + insert_run_event (atomic); touch_progress
governance_event       insert_run_event (RETURNING id)
=====================  ==========================================================

PostgreSQL: every hook's unit is one statement, its one-statement form in
``sql/postgres/hooks.sql`` (``record_trace``, ``record_llm_call``,
``record_tool_call``, ``record_run_event``), group-committed by hand as the
library does: a hook that finds one of the pool's ten slots free goes at
once (``fetchrow``); hooks arriving while all are busy queue and leave
together, one ``executemany`` per form (one round trip, one commit).
``create_run`` / ``finalize_run`` are one statement each. An asyncpg pool of
1..10 that, like the library's, hands connections back without a reset
query.

SQLite: group commit, written by hand: units queued while a group commits
run together in one thread hop on one WAL connection (``synchronous=FULL``)
inside ``BEGIN IMMEDIATE`` ... ``COMMIT``, a tool unit's two fail-closed
inserts inside a savepoint; a lone unit of one statement autocommits.

Ids are minted client-side with the same ULID function, JSON is
``json.dumps`` with the library's separators, timestamps are ISO text on
SQLite and aware datetimes on PostgreSQL. What the bare code does *not* do:
argument validation, the NUL/big-float/UTF-8 scans of encoded JSON, retry
and best-effort handling (its units never fail here; it raises if one
does), the re-parse of the tool result text (stored as given: already
JSON), and the "is this my own row?" probe (it only runs after a conflict,
which this workload never produces).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import aiosqlite
import asyncpg

from dendrux.db.queries import load_queries
from dendrux.ulid import new_ulid

Statement = tuple[str, tuple[Any, ...]]
GROUP_LIMIT = 256  # units per group commit at most, as in the library

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
# backends: how one unit reaches the database
# ---------------------------------------------------------------------------


def _first(rows: list[Any]) -> Any:
    return rows[0][0] if rows else None


def _commit_group(
    conn: sqlite3.Connection, q: Any, units: list[tuple[list[Statement], range]]
) -> list[list[Any]]:
    """On the connection's thread: a group of units, one transaction (a lone
    one-statement unit autocommits); ``guard`` statements of a unit in a savepoint."""
    if len(units) == 1 and len(units[0][0]) == 1:
        return [[_first(conn.execute(sql, args).fetchall()) for sql, args in units[0][0]]]
    conn.execute(q["begin_immediate"])
    try:
        out = []
        for statements, guard in units:
            values = []
            for i, (sql, args) in enumerate(statements):
                if len(guard) > 1 and i == guard.start:
                    conn.execute(q["savepoint"])
                values.append(_first(conn.execute(sql, args).fetchall()))
                if len(guard) > 1 and i == guard.stop - 1:
                    conn.execute(q["release_savepoint"])
            out.append(values)
    except BaseException:
        conn.execute(q["rollback"])
        raise
    conn.execute(q["commit"])
    return out


class SqliteBackend:
    """One aiosqlite connection (WAL, synchronous=FULL, foreign keys on) and a
    hand-written group commit: one thread hop and one transaction per group."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.q = load_queries("sqlite")
        self.db: aiosqlite.Connection | None = None
        self.queue: list[tuple[list[Statement], range, asyncio.Future[list[Any]]]] = []
        self.committer: asyncio.Task[None] | None = None
        self.units = 0

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

    async def unit(
        self,
        statements: list[Statement],
        *,
        checked: tuple[int, ...] = (),
        guard: range = range(0),
        combined: str = "",
    ) -> list[Any]:
        """Queue one unit for the next group commit; each statement's first value.
        A ``checked`` insert that returned no row found its slot taken."""
        done: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.queue.append((statements, guard, done))
        if self.committer is None:
            self.committer = asyncio.create_task(self._commit_queued())
        self.units += 1
        values = await done
        if any(values[i] is None for i in checked):
            raise SlotTaken(statements[checked[0]][0][:40])
        return values

    async def _commit_queued(self) -> None:
        db = self.db
        assert db is not None
        try:
            while self.queue:
                group, self.queue = self.queue[:GROUP_LIMIT], self.queue[GROUP_LIMIT:]
                work = [(statements, guard) for statements, guard, _ in group]
                try:
                    results = await db._execute(_commit_group, db._conn, self.q, work)
                except Exception as exc:
                    for _, _, done in group:
                        done.set_exception(exc)
                    continue
                for (_, _, done), values in zip(group, results, strict=True):
                    done.set_result(values)
        finally:
            self.committer = None


async def _keep_session(_conn: Any) -> None:
    """No reset query on release, as in the library's pool."""


class PostgresBackend:
    """An asyncpg pool (min 1, max 10, no reset query on release: the library's
    settings) and the library's group commit by hand: a hook that finds a
    connection slot free goes at once as one ``fetchrow``; hooks that arrive
    while all ten are busy queue and leave together when one frees, one
    ``executemany`` per one-statement form (one round trip, one commit)."""

    dialect = "postgres"

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.q = load_queries("postgres")
        self.pool: asyncpg.Pool | None = None
        self.queue: list[tuple[str, tuple[Any, ...], asyncio.Future[None]]] = []
        self.busy = 0
        self.units = 0

    @staticmethod
    def now() -> Any:
        return datetime.now(UTC)

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.dsn,
            min_size=self.min_size,
            max_size=self.max_size,
            max_queries=10_000_000,
            reset=_keep_session,
        )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def unit(
        self,
        statements: list[Statement],
        *,
        checked: tuple[int, ...] = (),
        guard: range = range(0),
        combined: str = "",
    ) -> list[Any]:
        """A unit with a one-statement form (``combined``, taking every statement's
        parameters in order; it has no ON CONFLICT, so a taken slot raises and
        ``checked`` needs no look) is group-committed; any other runs its only
        statement and returns its first value."""
        self.units += 1
        if not combined:
            ((sql, args),) = statements
            return await self._fetch(sql, args)
        args = tuple(chain.from_iterable(a for _, a in statements))
        if self.busy < self.max_size and not self.queue:
            self.busy += 1
            try:
                await self._fetch(self.q[combined], args)
            finally:
                self.busy -= 1
                self._lead()
            return []
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.append((combined, args, done))
        self._lead()
        await done
        return []

    async def _fetch(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        async with self.pool.acquire() as conn:  # type: ignore[union-attr]
            row = await conn.fetchrow(sql, *args)
        return [row[0] if row is not None else None]

    def _lead(self) -> None:
        if self.queue and self.busy < self.max_size:
            self.busy += 1
            group, self.queue = self.queue[:GROUP_LIMIT], self.queue[GROUP_LIMIT:]
            asyncio.get_running_loop().create_task(self._commit(group))

    async def _commit(self, group: list[Any]) -> None:
        by_query: dict[str, list[Any]] = {}
        for item in group:
            by_query.setdefault(item[0], []).append(item)
        try:
            await asyncio.gather(*(self._batch(name, items) for name, items in by_query.items()))
        finally:
            self.busy -= 1
            self._lead()

    async def _batch(self, name: str, items: list[Any]) -> None:
        try:
            if len(items) == 1:
                await self._fetch(self.q[name], items[0][1])
            else:
                async with self.pool.acquire() as conn:  # type: ignore[union-attr]
                    await conn.executemany(self.q[name], [args for _, args, _ in items])
        except Exception as exc:
            for *_, done in items:
                done.set_exception(exc)
            return
        for *_, done in items:
            done.set_result(None)  # every row landed: a conflict would have raised


Backend = SqliteBackend | PostgresBackend


# ---------------------------------------------------------------------------
# the store calls and the four hooks, by hand
# ---------------------------------------------------------------------------


class BareStore:
    """``create_run`` / ``finalize_run`` as one unit of one statement each."""

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
        if (await self.b.unit([(self.insert_run, args)]))[0] is None:
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
        return (await self.b.unit([(self.finalize, args)]))[0] is not None


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

    def _event(
        self, event_type: str, iteration: int, data: Any, correlation_id: str | None
    ) -> Statement:
        sequence = self.sequence
        self.sequence += 1
        args = (
            new_ulid(), self.run_id, event_type, sequence, iteration, correlation_id,
            dumps(data), self.now(),
        )  # fmt: skip
        return self.q_event, args

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
        await self.b.unit([(self.q_trace, args)], checked=(0,), combined="record_trace")
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
        interaction = (
            interaction_id, run_id, iteration, model, provider,
            dumps(_semantic_request(semantic_messages, semantic_tools)),
            dumps(_semantic_response(response)),
            dumps(response.provider_request), dumps(response.provider_response),
            u.input_tokens, u.output_tokens, u.cost_usd, duration_ms,
            u.cache_read_input_tokens, u.cache_creation_input_tokens, u.reasoning_tokens,
            dumps(guardrail_findings), self.now(),
        )  # fmt: skip
        usage = (
            new_ulid(), run_id, iteration, model, provider, u.input_tokens,
            u.output_tokens, u.cost_usd, duration_ms, u.cache_read_input_tokens,
            u.cache_creation_input_tokens, u.reasoning_tokens, None, self.now(),
        )  # fmt: skip
        event = self._event(
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
        await self.b.unit(
            [
                (self.q_interaction, interaction),
                (self.q_usage, usage),
                event,
                (self.q_touch, (run_id, self.now())),
            ],
            checked=(2,),
            combined="record_llm_call",
        )

    async def on_tool_completed(self, tool_call: Any, tool_result: Any, iteration: int) -> None:
        target = self.targets.get(tool_call.name, "server")
        run_id = self.run_id
        call = (
            new_ulid(), run_id, tool_call.id, tool_call.provider_tool_call_id,
            tool_call.name, target, dumps(tool_call.params or None),
            tool_result.payload, tool_result.success, tool_result.duration_ms,
            iteration, tool_result.error, None, self.now(),
        )  # fmt: skip
        data = {
            "tool_name": tool_call.name,
            "target": target,
            "success": tool_result.success,
            "duration_ms": tool_result.duration_ms,
        }
        event = self._event("tool.completed", iteration, data, tool_call.id)
        await self.b.unit(
            [(self.q_tool, call), event, (self.q_touch, (run_id, self.now()))],
            checked=(0, 1),
            guard=range(0, 2),
            combined="record_tool_call",
        )

    async def on_governance_event(
        self,
        event_type: str,
        iteration: int,
        data: dict[str, Any] | None,
        correlation_id: str | None = None,
    ) -> None:
        event = self._event(event_type, iteration, data, correlation_id)
        await self.b.unit([event], checked=(0,), combined="record_run_event")
