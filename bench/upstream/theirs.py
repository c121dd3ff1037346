"""The upstream side, run INSIDE the oracle venv (``python -I theirs.py``): dendrux 0.4.1,
the standard library and 0.4.1's own dependencies only (SQLAlchemy, its drivers).

A small command loop: one JSON command per stdin line, one ``@@ {json}`` answer per
stdout line (anything else on stdout is 0.4.1's own output and ignored by the caller).
The process lives for the whole benchmark, so its reads are timed warm, like ours.

Commands (``op``): ``sqlite_schema`` (0.4.1's own schema creation, what its
``get_engine`` does for SQLite), ``record`` (the recorder workload through 0.4.1's
``PersistenceRecorder`` + ``SQLAlchemyStateStore``, timed), ``open`` / ``rows`` /
``time`` / ``close`` (0.4.1's ``RunStore`` reads), ``quit``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared import READS, normalise, read_call, time_calls


def _engine(url: str, synchronous: str | None = None) -> Any:
    """An engine as 0.4.1's ``get_engine`` builds it; on SQLite ``PRAGMA synchronous``
    set on every new connection by a SQLAlchemy ``connect`` listener (0.4.1 sets no
    pragma: its journal stays SQLite's default rollback journal)."""
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import create_async_engine

    if not url.startswith("sqlite"):
        return create_async_engine(url, echo=False)
    engine = create_async_engine(url, echo=False, connect_args={"check_same_thread": False})
    if synchronous:

        @event.listens_for(engine.sync_engine, "connect")
        def _pragma(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.close()

    return engine


async def _pragmas(engine: Any) -> dict[str, Any]:
    from sqlalchemy import text

    if engine.dialect.name != "sqlite":
        async with engine.connect() as conn:
            return {
                name: (await conn.execute(text(f"SHOW {name}"))).scalar()
                for name in ("fsync", "synchronous_commit")
            }
    async with engine.connect() as conn:
        return {
            name: (await conn.execute(text(f"PRAGMA {name}"))).scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys")
        }


# -- the recorder workload --------------------------------------------------------------


class _Counted(logging.Handler):
    """0.4.1's warnings while recording (a swallowed best-effort write, a retry), counted
    instead of printed: the result says how many writes it dropped or retried."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().split(" for run ")[0]
        cause = record.exc_info[1] if record.exc_info else None
        key = f"{text}: {type(cause).__name__}: {str(cause)[:60]}" if cause else text
        self.messages[key] = self.messages.get(key, 0) + 1


class _Tool:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.name = spec["name"]
        self.description = spec["description"]
        self.parameters = spec["parameters"]
        self.target = spec["target"]
        self.meta = spec["meta"]


def _build(workload: dict[str, Any]) -> tuple[list[dict[str, Any]], list[_Tool]]:
    """0.4.1's types from the workload's JSON form (built before timing, like ours)."""
    from dendrux.types import LLMResponse, Message, Role, ToolCall, ToolResult, UsageStats

    calls: dict[str, Any] = {}

    def call(c: dict[str, Any]) -> Any:
        if c["id"] not in calls:
            calls[c["id"]] = ToolCall(
                name=c["name"], params=c["params"], id=c["id"],
                provider_tool_call_id=c["provider_tool_call_id"],
            )  # fmt: skip
        return calls[c["id"]]

    def message(m: dict[str, Any]) -> Any:
        kwargs: dict[str, Any] = {"role": Role(m["role"]), "content": m["content"]}
        if m["tool_calls"] is not None:
            kwargs["tool_calls"] = [call(c) for c in m["tool_calls"]]
        for key in ("call_id", "name"):
            if m[key] is not None:
                kwargs[key] = m[key]
        if m["meta"]:
            kwargs["meta"] = m["meta"]
        return Message(**kwargs)

    def usage(u: dict[str, Any]) -> Any:
        return UsageStats(**u)

    runs = []
    for r in workload["runs"]:
        iterations = []
        for it in r["iterations"]:
            resp = it["response"]
            iterations.append(
                {
                    "response": LLMResponse(
                        text=resp["text"],
                        tool_calls=[call(c) for c in resp["tool_calls"]],
                        usage=usage(resp["usage"]),
                        provider_request=resp["provider_request"],
                        provider_response=resp["provider_response"],
                    ),
                    "semantic_messages": [message(m) for m in it["semantic_messages"]],
                    "duration_ms": it["duration_ms"],
                    "assistant": message(it["assistant"]),
                    "call": call(it["call"]),
                    "result": ToolResult(**it["result"]),
                    "tool_message": message(it["tool_message"]),
                }
            )
        runs.append(
            {**r, "user": message(r["user"]), "final": message(r["final"]),
             "iterations": iterations, "total_usage": usage(r["total_usage"])}
        )  # fmt: skip
    return runs, [_Tool(t) for t in workload["tools"]]


async def record(cmd: dict[str, Any]) -> dict[str, Any]:
    from dendrux.runtime.persistence import PersistenceRecorder
    from dendrux.runtime.runner import EventSequencer
    from dendrux.runtime.state import SQLAlchemyStateStore

    workload = json.loads(Path(cmd["workload"]).read_text())
    runs, tools = _build(workload)
    c = workload["constants"]
    engine = _engine(cmd["url"], cmd.get("synchronous"))
    counted = _Counted()
    logging.getLogger().addHandler(counted)
    try:
        pragmas = await _pragmas(engine)  # also opens the pool, as ours is warmed
        store = SQLAlchemyStateStore(engine)
        kinds = ("message_appended", "llm_call_completed", "tool_completed", "governance_event",
                 "create_run", "finalize_run")  # fmt: skip
        lat: dict[str, list[float]] = {k: [] for k in kinds}
        msg, llm, tool, gov, created, finalized = (lat[k] for k in kinds)
        clock = time.perf_counter
        gate = asyncio.Semaphore(cmd["concurrency"])

        async def one(spec: dict[str, Any]) -> None:
            run_id = spec["run_id"]
            async with gate:
                t = clock()
                await store.create_run(
                    run_id, c["agent_name"], input_data=spec["input_data"], model=c["model"],
                    strategy="react", tenant_id=c["tenant"], meta=spec["meta"],
                )  # fmt: skip
                created.append(clock() - t)
                rec = PersistenceRecorder(
                    store, run_id, model=c["model"], provider_name=c["provider"],
                    target_lookup=c["targets"], event_sequencer=EventSequencer(0),
                )  # fmt: skip
                t = clock()
                await rec.on_message_appended(run_id, spec["user"], 0)
                msg.append(clock() - t)
                for i, it in enumerate(spec["iterations"], 1):
                    t = clock()
                    await rec.on_llm_call_completed(
                        run_id, it["response"], i, semantic_messages=it["semantic_messages"],
                        semantic_tools=tools, duration_ms=it["duration_ms"],
                    )  # fmt: skip
                    llm.append(clock() - t)
                    t = clock()
                    await rec.on_message_appended(run_id, it["assistant"], i)
                    msg.append(clock() - t)
                    t = clock()
                    await rec.on_tool_completed(run_id, it["call"], it["result"], i)
                    tool.append(clock() - t)
                    t = clock()
                    await rec.on_message_appended(run_id, it["tool_message"], i)
                    msg.append(clock() - t)
                event_type, data, correlation = spec["governance"]
                last = len(spec["iterations"])
                t = clock()
                await rec.on_governance_event(
                    run_id, event_type, last, data, correlation_id=correlation
                )
                gov.append(clock() - t)
                t = clock()
                await rec.on_message_appended(run_id, spec["final"], last)
                msg.append(clock() - t)
                t = clock()
                done = await store.finalize_run(
                    run_id, status="success", answer=spec["answer"], iteration_count=last,
                    total_usage=spec["total_usage"], expected_current_status="running",
                )  # fmt: skip
                finalized.append(clock() - t)
                if not done:
                    raise AssertionError(f"finalize_run refused run {run_id}")

        cpu, loop_cpu = time.process_time(), time.thread_time()
        start = clock()
        await asyncio.gather(*(one(spec) for spec in runs))
        wall = clock() - start
        return {
            "wall_s": wall,
            "loop_cpu_s": time.thread_time() - loop_cpu,
            "process_cpu_s": time.process_time() - cpu,
            "latencies": lat,
            "pragmas": pragmas,
            "warnings": counted.messages,
        }
    finally:
        logging.getLogger().removeHandler(counted)
        await engine.dispose()


# -- reads ------------------------------------------------------------------------------


class Reader:
    def __init__(self) -> None:
        self.store: Any = None
        self.params: dict[str, Any] = {}

    async def open(self, cmd: dict[str, Any]) -> dict[str, Any]:
        from dendrux.store import RunStore

        self.store = RunStore.from_database_url(cmd["url"])
        self.params = cmd["params"]
        return {"opened": True}

    async def rows(self) -> dict[str, Any]:
        return {key: normalise(key, await read_call(self.store, key, self.params, 0))
                for key, _ in READS}  # fmt: skip

    async def time(self, cmd: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key, _ in READS:

            def side(i: int, key: str = key) -> Any:
                return read_call(self.store, key, self.params, i)

            (out[key],) = await time_calls([side], cmd["iterations"], cmd["warmup"])
        return out

    async def close(self) -> dict[str, Any]:
        if self.store is not None:
            await self.store.close()
            self.store = None
        return {"closed": True}


async def sqlite_schema(cmd: dict[str, Any]) -> dict[str, Any]:
    from dendrux.db._sqlite_sync import create_sqlite_schema

    engine = _engine(cmd["url"])
    try:
        await create_sqlite_schema(engine)
        return {"pragmas": await _pragmas(engine)}
    finally:
        await engine.dispose()


async def serve() -> None:
    import importlib.metadata

    reader = Reader()
    loop = asyncio.get_running_loop()
    version = importlib.metadata.version("dendrux")
    print("@@ " + json.dumps({"ready": True, "dendrux": version}), flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            if op == "quit":
                await reader.close()
                print("@@ " + json.dumps({"bye": True}), flush=True)
                return
            if op == "sqlite_schema":
                answer = await sqlite_schema(cmd)
            elif op == "record":
                answer = await record(cmd)
            elif op == "open":
                answer = await reader.open(cmd)
            elif op == "rows":
                answer = await reader.rows()
            elif op == "time":
                answer = await reader.time(cmd)
            elif op == "close":
                answer = await reader.close()
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception:
            answer = {"error": traceback.format_exc()}
        print("@@ " + json.dumps(answer, default=str), flush=True)


if __name__ == "__main__":
    asyncio.run(serve())
