"""Applies a scenario (see `scenarios.py`) to one package and dumps every read.

The same file runs in two interpreters: in the test process against our
``dendrux`` (`OursSide`) and, as ``python -I driver.py`` in the oracle venv,
against dendrux 0.4.1 (`UpstreamSide`; JSON jobs on stdin, dumps on stdout).
Stdlib only at import time; each side imports its package when opened.

A dump is plain JSON: ``runs`` (scenario letter -> id), ``ops`` (each
operation's result or exception type) and ``reads`` (every ``RunStore`` and
``StateStore`` read of the scenario's runs). An operation that raises is
recorded and the scenario goes on, so one missing name does not hide the rest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import json
import sys
from pathlib import Path
from typing import Any

if __package__:
    from .scenarios import SCENARIOS
else:  # the oracle interpreter runs this file as a script, in isolated mode
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scenarios import SCENARIOS

MISSING_RUN = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"


# -- JSON form of whatever a read returns ------------------------------------------


def jsonable(value: Any) -> Any:
    """Fields by name (order kept), enums by value, datetimes as presence markers."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, dt.datetime):
        return "<ts>" if value.tzinfo is not None else "<naive ts>"
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        cost = getattr(type(value), "cost_usd", None)
        if isinstance(cost, property):  # UsageRollup's derived total
            out["cost_usd"] = jsonable(value.cost_usd)  # type: ignore[attr-defined]
        return out
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return f"<{type(value).__name__}>"


def _error(exc: BaseException) -> dict[str, Any]:
    # Only the type is compared; the message (``~detail``) is for the reader.
    return {"error": type(exc).__name__, "~detail": str(exc)[:300]}


async def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        result = fn(*args, **kwargs)
        if asyncio.iscoroutine(result):
            result = await result
        return {"ok": jsonable(result)}
    except Exception as exc:
        return _error(exc)


# -- the two packages --------------------------------------------------------------


class Side:
    """What differs between the packages: construction, types and hook signatures."""

    name = "?"
    state: Any
    reader: Any

    async def open(self, url: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def new_id(self) -> str:
        raise NotImplementedError

    def sequencer(self, start: int) -> Any:
        raise NotImplementedError

    def recorder(self, run_id: str, sequencer: Any, order: int, spec: dict[str, Any]) -> Any:
        raise NotImplementedError

    async def hook(self, recorder: Any, name: str, run_id: str, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    # types: written as 0.4.1 code writes them (keywords, its field names)
    types: Any

    def usage(self, fields: dict[str, Any]) -> Any:
        return self.types.UsageStats(**fields)

    def tool_call(self, spec: dict[str, Any]) -> Any:
        kwargs = {k: v for k, v in spec.items() if k != "key"}
        return self.types.ToolCall(**kwargs)

    def message(self, spec: dict[str, Any], calls: dict[str, Any]) -> Any:
        kwargs: dict[str, Any] = {"role": self.types.Role(spec["role"]), "content": spec["content"]}
        if "tool_calls" in spec:
            kwargs["tool_calls"] = [calls[k] for k in spec["tool_calls"]]
        if "call_id" in spec:
            kwargs["call_id"] = calls[spec["call_id"]].id
        for key in ("name", "meta"):
            if key in spec:
                kwargs[key] = spec[key]
        return self.types.Message(**kwargs)

    def response(self, spec: dict[str, Any], calls: list[Any] | None) -> Any:
        kwargs: dict[str, Any] = {"usage": self.usage(spec["usage"])}
        if spec.get("text") is not None:
            kwargs["text"] = spec["text"]
        if calls is not None:
            kwargs["tool_calls"] = calls
        for key in ("model", "reasoning", "provider_request", "provider_response"):
            if key in spec:
                kwargs[key] = spec[key]
        return self.types.LLMResponse(**kwargs)

    def tool_result(self, spec: dict[str, Any], call: Any) -> Any:
        return self.types.ToolResult(
            name=call.name,
            call_id=call.id,
            payload=spec["payload"],
            success=spec["success"],
            error=spec.get("error"),
            duration_ms=spec["duration_ms"],
        )


class OursSide(Side):
    name = "ours"

    async def open(self, url: str) -> None:
        import dendrux.types
        from dendrux.state import StateStore
        from dendrux.store import RunStore

        self.types = dendrux.types
        self.state = StateStore.from_database_url(url)
        self.reader = RunStore.from_database_url(url)

    async def close(self) -> None:
        await self.reader.close()
        await self.state.close()

    def new_id(self) -> str:
        from dendrux.ulid import new_ulid

        return new_ulid()

    def sequencer(self, start: int) -> Any:
        from dendrux.recorder import EventSequencer

        return EventSequencer(start)

    def recorder(self, run_id: str, sequencer: Any, order: int, spec: dict[str, Any]) -> Any:
        from dendrux.recorder import PersistenceRecorder

        return PersistenceRecorder(
            self.state,
            run_id,
            model=spec.get("model"),
            provider_name=spec.get("provider"),
            target_lookup=spec.get("targets"),
            initial_order_index=order,
            event_sequencer=sequencer,
        )

    async def hook(self, recorder: Any, name: str, run_id: str, *args: Any, **kwargs: Any) -> None:
        # The seed's four hooks: the recorder holds the run id; a 0.4.1 loop's other
        # six hooks have no counterpart there.
        fn = getattr(recorder, name, None)
        if fn is not None:
            await fn(*args, **kwargs)


class OursTenHooksSide(OursSide):
    """Ours through 0.4.1's ten-hook surface (`dendrux.loops.PersistenceRecorder`):
    hooks take the run id first, and one adapter serves every run whose recorder
    settings are the same (a run after the first is attached to it)."""

    name = "ours-ten-hooks"

    async def open(self, url: str) -> None:
        await super().open(url)
        self._adapters: dict[str, Any] = {}

    def recorder(self, run_id: str, sequencer: Any, order: int, spec: dict[str, Any]) -> Any:
        from dendrux.loops import PersistenceRecorder

        key = json.dumps([spec.get("model"), spec.get("provider"), spec.get("targets")])
        adapter = self._adapters.get(key)
        if adapter is not None:
            adapter.attach(run_id, initial_order_index=order, event_sequencer=sequencer)
            return adapter
        adapter = self._adapters[key] = PersistenceRecorder(
            self.state,
            run_id,
            model=spec.get("model"),
            provider_name=spec.get("provider"),
            target_lookup=spec.get("targets"),
            initial_order_index=order,
            event_sequencer=sequencer,
        )
        return adapter

    async def hook(self, recorder: Any, name: str, run_id: str, *args: Any, **kwargs: Any) -> None:
        await getattr(recorder, name)(run_id, *args, **kwargs)


class UpstreamSide(Side):
    name = "upstream"

    async def open(self, url: str) -> None:
        from dendrux.runtime.state import SQLAlchemyStateStore
        from sqlalchemy.ext.asyncio import create_async_engine

        import dendrux.types
        from dendrux.store import RunStore

        self.types = dendrux.types
        if url.startswith("sqlite"):
            from dendrux.db._sqlite_sync import create_sqlite_schema

            # What 0.4.1's get_engine does for SQLite (its Alembic chain fails there).
            self._engine = create_async_engine(url, connect_args={"check_same_thread": False})
            await create_sqlite_schema(self._engine)
        else:
            self._engine = create_async_engine(url)
        self.state = SQLAlchemyStateStore(self._engine)
        self.reader = RunStore(self.state)

    async def close(self) -> None:
        await self._engine.dispose()

    def new_id(self) -> str:
        from dendrux.types import generate_ulid

        return str(generate_ulid())

    def sequencer(self, start: int) -> Any:
        from dendrux.runtime.runner import EventSequencer

        return EventSequencer(start)

    def recorder(self, run_id: str, sequencer: Any, order: int, spec: dict[str, Any]) -> Any:
        from dendrux.runtime.persistence import PersistenceRecorder

        return PersistenceRecorder(
            self.state,
            run_id,
            model=spec.get("model"),
            provider_name=spec.get("provider"),
            target_lookup=spec.get("targets"),
            initial_order_index=order,
            event_sequencer=sequencer,
        )

    async def hook(self, recorder: Any, name: str, run_id: str, *args: Any, **kwargs: Any) -> None:
        # 0.4.1's loops pass the run id first.
        await getattr(recorder, name)(run_id, *args, **kwargs)


# -- applying a scenario -----------------------------------------------------------


class Scenario:
    def __init__(self, side: Side, name: str) -> None:
        self.side = side
        self.name = name
        self.spec = SCENARIOS[name]
        self.runs: dict[str, str] = {}
        self.calls: dict[str, Any] = {}
        self.recorders: dict[str, Any] = {}
        self.sequencers: dict[str, Any] = {}
        self.order: dict[str, int] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "$run" in value:
            return self.runs[value["$run"]]
        if "$call" in value:
            return self.calls[value["$call"]].id
        if "$usage" in value:
            return self.side.usage(value["$usage"])
        if "$seconds" in value:
            return dt.timedelta(seconds=value["$seconds"])
        if "$ago" in value:
            return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=value["$ago"])
        return {k: self.resolve(v) for k, v in value.items()}

    async def _sequencer(self, key: str) -> Any:
        if key not in self.sequencers:
            start = await self.side.state.get_next_event_sequence(self.runs[key])
            self.sequencers[key] = self.side.sequencer(start)
        return self.sequencers[key]

    async def apply(self, op: dict[str, Any]) -> Any:
        side, kind = self.side, op["op"]
        if kind == "create":
            run_id = side.new_id()
            self.runs[op["run"]] = run_id
            kwargs = {
                k: op[k]
                for k in (
                    "input_data",
                    "model",
                    "strategy",
                    "delegation_level",
                    "tenant_id",
                    "meta",
                    "idempotency_key",
                    "idempotency_fingerprint",
                )
                if k in op
            }
            if "parent" in op:
                kwargs["parent_run_id"] = self.runs[op["parent"]]
            if "retry_of" in op:
                kwargs["retry_of_run_id"] = self.runs[op["retry_of"]]
            return await side.state.create_run(run_id, op["agent"], **kwargs)
        if kind == "store":
            method = getattr(side.state, op["method"])
            result = await method(*self.resolve(op["args"]), **self.resolve(op["kwargs"]))
            first = op["args"][0] if op["args"] else None
            finished = first.get("$run") if isinstance(first, dict) else None
            if op["method"] == "finalize_run" and finished in self.recorders:
                # 0.4.1's runner, once a run is over (its result is not persisted)
                await side.hook(
                    self.recorders[finished], "on_run_finished", self.runs[finished], None
                )
            return result
        if kind == "sleep":
            await asyncio.sleep(op["seconds"])
            return None
        key = op["run"]
        run_id = self.runs[key]
        if kind == "event":
            seq = (await self._sequencer(key)).next()
            return await side.state.save_run_event(
                run_id,
                event_type=op["event_type"],
                sequence_index=seq,
                iteration_index=op["iteration"],
                data=op["data"],
            )
        if kind == "recorder":
            self.recorders[key] = side.recorder(
                run_id, await self._sequencer(key), self.order.get(key, 0), op
            )
            # What 0.4.1's runner and loop call beyond the four hooks, as they call them.
            await side.hook(
                self.recorders[key],
                "on_run_started",
                run_id,
                agent_name=None,
                agent_model=op.get("model"),
            )
            return None
        recorder = self.recorders[key]
        if kind == "message":
            message = side.message(op, self.calls)
            await side.hook(recorder, "on_message_appended", run_id, message, op["iteration"])
            self.order[key] = self.order.get(key, 0) + 1
            return None
        if kind == "llm":
            calls = None
            if "tool_calls" in op:
                calls = []
                for spec in op["tool_calls"]:
                    self.calls[spec["key"]] = side.tool_call(spec)
                    calls.append(self.calls[spec["key"]])
            response = side.response(op, calls)
            kwargs: dict[str, Any] = {"duration_ms": op.get("duration_ms")}
            if op.get("semantic"):
                kwargs["semantic_messages"] = [
                    side.message({"role": "user", "content": "What is 2+2?"}, self.calls)
                ]
            await side.hook(
                recorder,
                "on_llm_call_started",
                run_id,
                op["iteration"],
                semantic_messages=kwargs.get("semantic_messages"),
            )
            await side.hook(
                recorder, "on_llm_call_completed", run_id, response, op["iteration"], **kwargs
            )
            return None
        if kind == "tool":
            call = self.calls[op["call"]]
            result = side.tool_result(op, call)
            await side.hook(recorder, "on_tool_started", run_id, call, op["iteration"])
            await side.hook(recorder, "on_tool_completed", run_id, call, result, op["iteration"])
            return None
        if kind == "governance":
            await side.hook(
                recorder,
                "on_governance_event",
                run_id,
                op["event_type"],
                op["iteration"],
                op["data"],
                correlation_id=self.resolve(op.get("correlation_id")),
            )
            return None
        raise ValueError(f"unknown op {kind!r}")

    async def run(self) -> dict[str, Any]:
        ops = []
        for op in self.spec["ops"]:
            try:
                ops.append({"ok": jsonable(await self.apply(op))})
            except Exception as exc:
                ops.append(_error(exc))
        return {"runs": dict(self.runs), "ops": ops, "reads": await self.reads()}

    async def reads(self) -> dict[str, Any]:
        reader, state = self.side.reader, self.side.state
        out: dict[str, Any] = {}
        for key, run_id in [*self.runs.items(), ("missing", MISSING_RUN)]:
            r: dict[str, Any] = {}
            r["RunStore.get_run"] = await _call(reader.get_run, run_id)
            r["RunStore.get_events"] = await _call(reader.get_events, run_id)
            r["RunStore.get_llm_calls"] = await _call(reader.get_llm_calls, run_id)
            r["RunStore.get_tool_invocations"] = await _call(reader.get_tool_invocations, run_id)
            r["RunStore.get_traces"] = await _call(reader.get_traces, run_id)
            r["RunStore.get_pauses"] = await _call(reader.get_pauses, run_id)
            r["RunStore.get_pii_mapping"] = await _call(reader.get_pii_mapping, run_id)
            r["RunStore.get_notes"] = await _call(getattr, reader, "get_notes")
            if "ok" in r["RunStore.get_notes"]:
                r["RunStore.get_notes"] = await _call(reader.get_notes, run_id)
                r["RunStore.get_notes(undelivered)"] = await _call(
                    reader.get_notes, run_id, undelivered_only=True
                )
                r["RunStore.get_notes(t1)"] = await _call(reader.get_notes, run_id, tenant_id="t1")
            r["RunStore.get_subtree"] = await _call(getattr, reader, "get_subtree")
            if "ok" in r["RunStore.get_subtree"]:
                r["RunStore.get_subtree"] = await _call(reader.get_subtree, run_id)
                r["RunStore.get_subtree(t1)"] = await _call(
                    reader.get_subtree, run_id, tenant_id="t1"
                )
            for name in (
                "get_run",
                "get_traces",
                "get_tool_calls",
                "get_llm_interactions",
                "get_run_events",
                "get_pause_state",
                "get_pii_mapping",
                "is_cancel_requested",
                "get_delegation_info",
                "get_next_event_sequence",
                "get_run_control",
                "get_notes",
                "run_usage",
                "subtree_usage",
                "get_subtree",
            ):
                fn = getattr(state, name, None)
                r[f"StateStore.{name}"] = (
                    {"error": "AttributeError", "~detail": f"no StateStore.{name}"}
                    if fn is None
                    else await _call(fn, run_id)
                )
            out[key] = r
        for i, query in enumerate(self.spec.get("queries", [])):
            q = self.resolve(query)
            counted = {k: v for k, v in q.items() if k not in ("limit", "offset")}
            out[f"query{i}"] = {
                "RunStore.list_runs": await _call(reader.list_runs, **q),
                "RunStore.count_runs": await _call(reader.count_runs, **counted),
                "StateStore.list_runs": await _call(state.list_runs, **q),
                "StateStore.count_runs": await _call(state.count_runs, **counted),
            }
        for i, cursor in enumerate(self.spec.get("event_reads", [])):
            run_id = self.runs["A"]
            out[f"events{i}"] = {
                "RunStore.get_events": await _call(reader.get_events, run_id, **cursor),
                "StateStore.get_run_events": await _call(state.get_run_events, run_id, **cursor),
            }
        return out


async def run_scenario(side: Side, name: str, url: str) -> dict[str, Any]:
    """Apply scenario ``name`` to a fresh database at ``url``; its JSON dump."""
    await side.open(url)
    try:
        return await Scenario(side, name).run()
    finally:
        await side.close()


async def _main() -> None:
    jobs = json.load(sys.stdin)
    results = {}
    for job in jobs:
        results[job["scenario"]] = await run_scenario(UpstreamSide(), job["scenario"], job["url"])
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    asyncio.run(_main())
