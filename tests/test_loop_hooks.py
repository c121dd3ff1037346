"""0.4.1's ten-hook, run_id-first recorder surface (`dendrux.loops`) on both dialects:
the protocol and no-op base, what each hook writes (the same rows as the seed's
four-hook recorder), one adapter serving several runs, a resumed run, and a loop
written against 0.4.1's hook signatures pointed at our store unchanged."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from dbcheck import fetch_rows

from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.loops import BaseRecorder, LoopRecorder, PersistenceRecorder
from dendrux.recorder import EventSequencer
from dendrux.recorder import LoopRecorder as FourHooks
from dendrux.recorder import PersistenceRecorder as FourHookRecorder
from dendrux.state import StateStore
from dendrux.store import RunStore
from dendrux.types import LLMResponse, Message, Role, ToolCall, ToolResult, UsageStats

# 0.4.1's hook signatures (dendrux.loops.base.LoopRecorder), parameter by parameter.
P, K = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY
HOOKS: dict[str, list[tuple[str, Any, Any]]] = {
    "on_run_started": [("run_id", P, None), ("agent_name", K, None), ("agent_model", K, None)],
    "on_run_finished": [("run_id", P, None), ("result", P, None)],
    "on_run_failed": [("run_id", P, None), ("error", P, None), ("iteration", K, None)],
    "on_message_appended": [("run_id", P, None), ("message", P, None), ("iteration", P, None)],
    "on_llm_call_started": [
        ("run_id", P, None),
        ("iteration", P, None),
        ("semantic_messages", K, None),
        ("semantic_tools", K, None),
    ],
    "on_llm_call_completed": [
        ("run_id", P, None),
        ("response", P, None),
        ("iteration", P, None),
        ("semantic_messages", K, None),
        ("semantic_tools", K, None),
        ("duration_ms", K, None),
        ("guardrail_findings", K, None),
    ],
    "on_llm_call_failed": [
        ("run_id", P, None),
        ("iteration", P, None),
        ("error", P, None),
        ("duration_ms", K, None),
    ],
    "on_tool_started": [("run_id", P, None), ("tool_call", P, None), ("iteration", P, None)],
    "on_tool_completed": [
        ("run_id", P, None),
        ("tool_call", P, None),
        ("tool_result", P, None),
        ("iteration", P, None),
    ],
    "on_governance_event": [
        ("run_id", P, None),
        ("event_type", P, None),
        ("iteration", P, None),
        ("data", P, None),
        ("correlation_id", K, None),
    ],
}
NOTHING = inspect.Parameter.empty
TABLES = ("react_traces", "tool_calls", "run_events", "llm_interactions", "token_usage")


def _signature(fn: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    params = list(inspect.signature(fn).parameters.values())[1:]  # without self
    return [(p.name, p.kind, None if p.default is NOTHING else p.default) for p in params]


def _no_default(fn: Callable[..., Any]) -> list[str]:
    return [
        p.name for p in list(inspect.signature(fn).parameters.values())[1:] if p.default is NOTHING
    ]


@pytest.mark.parametrize("cls", [LoopRecorder, BaseRecorder, PersistenceRecorder])
def test_the_ten_hooks_have_0_4_1_signatures(cls: type) -> None:
    hooks = {
        name
        for name, member in inspect.getmembers(cls)
        if name.startswith("on_") and inspect.iscoroutinefunction(member)
    }
    assert hooks == set(HOOKS)
    for name, expected in HOOKS.items():
        assert _signature(getattr(cls, name)) == expected, name
        required = [n for n, kind, _ in expected if kind is P]
        assert _no_default(getattr(cls, name)) == required, name


def test_the_seed_protocol_keeps_its_four_hooks() -> None:
    hooks = {n for n, m in inspect.getmembers(FourHooks) if inspect.iscoroutinefunction(m)}
    assert hooks == {
        "on_message_appended",
        "on_llm_call_completed",
        "on_tool_completed",
        "on_governance_event",
    }
    assert _signature(FourHooks.on_message_appended) == [
        ("message", P, None),
        ("iteration", P, None),
    ]


# -- a script of hook calls, the same through both surfaces ------------------------


def _usage(n: int) -> UsageStats:
    return UsageStats(
        input_tokens=10 * n,
        output_tokens=n,
        total_tokens=11 * n + 1,  # as reported, not a sum
        cost_usd=0.001 * n,
        reasoning_tokens=n,
        cost_source="provider",
    )


def _script(tag: str) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """(hook, positional arguments after run_id, keywords) of a two-iteration run with a
    tool that works, one that fails, and a governance event."""
    ok = ToolCall("add", {"a": 1}, id=f"{tag}-c1", provider_tool_call_id="toolu_1")
    bad = ToolCall("lookup", {}, id=f"{tag}-c2", raw_arguments="{oops", parse_error="bad json")
    user = Message(Role.USER, "add one")
    return [
        ("on_message_appended", (Message(Role.SYSTEM, "Be brief."), 0), {}),
        ("on_message_appended", (user, 0), {}),
        (
            "on_llm_call_completed",
            (
                LLMResponse(
                    tool_calls=[ok, bad],
                    usage=_usage(1),
                    model="m-2",
                    reasoning="think",
                    stop_reason="tool_use",
                ),
                1,
            ),
            {"semantic_messages": [user], "duration_ms": 40, "guardrail_findings": {"pii": 0}},
        ),
        (
            "on_message_appended",
            (
                Message(Role.ASSISTANT, "", tool_calls=[ok, bad], reasoning_blocks=[{"sig": "x"}]),
                1,
            ),
            {},
        ),
        ("on_tool_completed", (ok, ToolResult("add", ok.id, "2", duration_ms=3), 1), {}),
        ("on_message_appended", (Message(Role.TOOL, "2", call_id=ok.id, name="add"), 1), {}),
        (
            "on_tool_completed",
            (
                bad,
                ToolResult("lookup", bad.id, "{}", success=False, error="boom", meta={"retry": 1}),
                1,
            ),
            {},
        ),
        ("on_governance_event", ("policy.denied", 1, {"tool_name": "rm"}), {"correlation_id": "k"}),
        ("on_llm_call_completed", (LLMResponse(text="2", usage=_usage(2)), 2), {}),
        ("on_message_appended", (Message(Role.ASSISTANT, "2"), 2), {}),
    ]


def _normalised(rows: list[dict[str, Any]], run_id: str, tag: str) -> list[dict[str, Any]]:
    """Rows without what differs between two runs: ids, run id, times, minted joins."""

    def norm(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return "<ts>"
        if isinstance(value, str):
            return value.replace(run_id, "<run>").replace(tag, "<tag>")
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return value

    out = []
    for row in rows:
        row = {
            k: "<ts>" if k.endswith("_at") and v is not None else norm(v)
            for k, v in row.items()
            if k not in ("id", "agent_run_id")
        }
        if row.get("event_type") == "llm.completed":
            row["correlation_id"] = "<interaction>"
        out.append(row)
    return sorted(out, key=repr)


async def _rows(database_url: str, run_id: str, tag: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        t: _normalised(await fetch_rows(database_url, t, run_id), run_id, tag) for t in TABLES
    }
    (run,) = await fetch_rows(database_url, "agent_runs", run_id)
    out["progress"] = run["last_progress_at"] is not None
    return out


async def test_rows_equal_the_four_hook_recorders(
    state_store: StateStore, database_url: str
) -> None:
    await state_store.create_run("four", "agent")
    await state_store.create_run("ten", "agent")
    four = FourHookRecorder(
        state_store, "four", model="m-1", provider_name="p", target_lookup={"add": "client"}
    )
    for hook, args, kwargs in _script("four"):
        await getattr(four, hook)(*args, **kwargs)
    ten = PersistenceRecorder(
        state_store, model="m-1", provider_name="p", target_lookup={"add": "client"}
    )
    for hook, args, kwargs in _script("ten"):
        await getattr(ten, hook)("ten", *args, **kwargs)
    ours, theirs = (
        await _rows(database_url, "ten", "ten"),
        await _rows(database_url, "four", "four"),
    )
    assert ours == theirs
    assert len(ours["react_traces"]) == 5 and len(ours["run_events"]) == 5
    assert len(ours["llm_interactions"]) == 2 and len(ours["token_usage"]) == 2


async def test_every_hook_writes_what_0_4_1s_recorder_writes(
    state_store: StateStore, database_url: str
) -> None:
    await state_store.create_run("r1", "agent")
    recorder = PersistenceRecorder(state_store)
    call = ToolCall("add", {"a": 1}, id="c1")

    async def counts() -> list[int]:
        return [len(await fetch_rows(database_url, t, "r1")) for t in TABLES]

    async def progress() -> Any:
        (run,) = await fetch_rows(database_url, "agent_runs", "r1")
        return run["last_progress_at"]

    # The hooks 0.4.1's recorder leaves to the runner write nothing.
    created = await progress()
    await recorder.on_run_started("r1", agent_name="agent", agent_model="m")
    await recorder.on_llm_call_started("r1", 1, semantic_messages=[], semantic_tools=[])
    await recorder.on_llm_call_failed("r1", 1, RuntimeError("rate limited"), duration_ms=5)
    assert await counts() == [0, 0, 0, 0, 0] and await progress() == created
    # on_tool_started touches progress, and only that.
    await recorder.on_tool_started("r1", call, 1)
    first = await progress()
    assert first != created and await counts() == [0, 0, 0, 0, 0]
    await recorder.on_message_appended("r1", Message(Role.USER, "hi"), 0)
    assert await counts() == [1, 0, 0, 0, 0]
    await recorder.on_llm_call_completed("r1", LLMResponse(text="ok", usage=_usage(1)), 1)
    assert await counts() == [1, 0, 1, 1, 1]
    await recorder.on_tool_completed("r1", call, ToolResult("add", "c1", "2"), 1)
    assert await counts() == [1, 1, 2, 1, 1]
    await recorder.on_governance_event("r1", "approval.requested", 1, {"tool_name": "add"})
    assert await counts() == [1, 1, 3, 1, 1]
    events = await state_store.get_run_events("r1")
    assert [(e.event_type, e.sequence_index) for e in events] == [
        ("llm.completed", 0),
        ("tool.completed", 1),
        ("approval.requested", 2),
    ]
    assert events[2].correlation_id is None
    assert recorder.runs == {"r1"}
    await recorder.on_run_finished("r1", None)
    assert recorder.runs == frozenset() and await counts() == [1, 1, 3, 1, 1]
    await recorder.on_governance_event("r1", "x", 1, None, correlation_id="k")
    await recorder.on_run_failed("r1", RuntimeError("boom"), iteration=2)
    assert recorder.runs == frozenset()
    assert [e.sequence_index for e in await state_store.get_run_events("r1")] == [0, 1, 2, 3]


async def test_one_adapter_serves_concurrent_runs(state_store: StateStore) -> None:
    names = [f"run-{i}" for i in range(4)]
    for name in names:
        await state_store.create_run(name, "agent")
    recorder = PersistenceRecorder(state_store, model="m")

    async def loop(run_id: str) -> None:
        for it in range(3):
            await recorder.on_message_appended(run_id, Message(Role.USER, f"{run_id}/{it}"), it)
            await asyncio.sleep(0)
            await recorder.on_llm_call_completed(
                run_id, LLMResponse(text=f"{run_id}/{it}", usage=_usage(1)), it
            )
            await recorder.on_governance_event(run_id, "guardrail.checked", it, {"n": it})

    await asyncio.gather(*(loop(name) for name in names))
    assert recorder.runs == set(names)
    for name in names:
        traces = await state_store.get_traces(name)
        assert [(t.order_index, t.content) for t in traces] == [
            (i, f"{name}/{i}") for i in range(3)
        ]
        events = await state_store.get_run_events(name)
        assert [e.sequence_index for e in events] == list(range(6))
        assert {(e.data or {})["n"] for e in events if e.event_type == "guardrail.checked"} == {
            0,
            1,
            2,
        }


async def test_a_fresh_adapter_continues_a_resumed_run(state_store: StateStore) -> None:
    await state_store.create_run("r1", "agent")
    first = PersistenceRecorder(state_store)
    await first.on_message_appended("r1", Message(Role.USER, "go"), 0)
    await first.on_llm_call_completed("r1", LLMResponse(text="wait", usage=_usage(1)), 1)
    await first.on_message_appended("r1", Message(Role.ASSISTANT, "wait"), 1)
    await state_store.pause_run("r1", status="waiting_human_input", pause_data={"q": "ok?"})
    await state_store.save_run_event("r1", event_type="run.paused", sequence_index=1)
    await first.on_run_finished("r1", None)
    await state_store.submit_and_claim(
        "r1", expected_status="waiting_human_input", submitted_data={"user_input": "yes"}
    )
    # A new process after the resume: nothing is known but the run id.
    second = PersistenceRecorder(state_store, "r1")
    await second.on_message_appended("r1", Message(Role.USER, "yes"), 1)
    await second.on_governance_event("r1", "approval.decided", 1, {"approved": True})
    traces = await state_store.get_traces("r1")
    assert [(t.order_index, t.content) for t in traces] == [(0, "go"), (1, "wait"), (2, "yes")]
    events = await state_store.get_run_events("r1")
    assert [(e.sequence_index, e.event_type) for e in events] == [
        (0, "llm.completed"),
        (1, "run.paused"),
        (2, "approval.decided"),
    ]


async def test_given_slots_are_used_without_reading(state_store: StateStore) -> None:
    await state_store.create_run("r1", "agent")
    sequencer = EventSequencer(7)
    recorder = PersistenceRecorder(
        state_store, "r1", initial_order_index=4, event_sequencer=sequencer
    )
    await recorder.on_message_appended("r1", Message(Role.USER, "hi"), 0)
    await recorder.on_governance_event("r1", "policy.allowed", 0, None)
    assert sequencer.next() == 8  # the runner's sequencer is the recorder's
    (trace,) = await state_store.get_traces("r1")
    assert trace.order_index == 4
    recorder.attach("r2", initial_order_index=2)
    await state_store.create_run("r2", "agent")
    await recorder.on_message_appended("r2", Message(Role.USER, "x"), 0)
    await recorder.on_governance_event("r2", "policy.allowed", 0, None)
    assert [t.order_index for t in await state_store.get_traces("r2")] == [2]
    assert [e.sequence_index for e in await state_store.get_run_events("r2")] == [0]


async def test_bad_arguments_are_refused_before_sql(state_store: StateStore) -> None:
    with pytest.raises(InvalidArgumentTypeError, match="state_store"):
        PersistenceRecorder("sqlite:///x.db")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="run_id"):
        PersistenceRecorder(state_store, event_sequencer=EventSequencer())
    with pytest.raises(InvalidArgumentError, match="initial_order_index"):
        PersistenceRecorder(state_store, "r1", initial_order_index=-1)
    with pytest.raises(InvalidArgumentTypeError, match="event_sequencer"):
        PersistenceRecorder(state_store, "r1", event_sequencer=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentTypeError, match="tenant_scope"):
        PersistenceRecorder(state_store, tenant_scope=5)  # type: ignore[arg-type]
    recorder = PersistenceRecorder(state_store)
    with pytest.raises(InvalidArgumentError, match="run_id"):
        await recorder.on_message_appended("", Message(Role.USER, "hi"), 0)
    with pytest.raises(InvalidArgumentTypeError, match="run_id"):
        await recorder.on_tool_started(None, ToolCall("t"), 0)  # type: ignore[arg-type]
    assert recorder.runs == frozenset()


async def test_a_base_recorder_subclass_overrides_one_hook(state_store: StateStore) -> None:
    seen: list[tuple[str, str]] = []

    class Printer(BaseRecorder):
        async def on_tool_started(self, run_id: str, tool_call: Any, iteration: int) -> None:
            seen.append((run_id, tool_call.name))

    printer = Printer()
    assert isinstance(printer, LoopRecorder)
    assert isinstance(PersistenceRecorder(state_store), LoopRecorder)
    result = await _legacy_loop(printer, "r9", reply="done")
    assert result == "done" and seen == [("r9", "add")]


# -- a loop written for 0.4.1, unchanged but for the import path -----------------------


async def _legacy_loop(recorder: Any, run_id: str, *, reply: str) -> str:
    """Hook calls in the order and shape 0.4.1's ReAct loop and runner make them."""
    await recorder.on_run_started(run_id, agent_name="calc", agent_model="claude-x")
    user = Message(Role.USER, "add 1 and 1")
    await recorder.on_message_appended(run_id, user, 0)
    await recorder.on_llm_call_started(run_id, 1, semantic_messages=[user], semantic_tools=None)
    call = ToolCall("add", {"a": 1, "b": 1})
    response = LLMResponse(
        None, [call], None, UsageStats(12, 3, 15, 0.0002), model="claude-x", stop_reason="tool_use"
    )
    await recorder.on_llm_call_completed(
        run_id, response, 1, semantic_messages=[user], semantic_tools=None, duration_ms=20
    )
    await recorder.on_message_appended(run_id, Message(Role.ASSISTANT, "", tool_calls=[call]), 1)
    await recorder.on_tool_started(run_id, call, 1)
    result = ToolResult("add", call.id, "2", True, None, 4)
    await recorder.on_tool_completed(run_id, call, result, 1)
    await recorder.on_message_appended(run_id, Message(Role.TOOL, "2", "add", call_id=call.id), 1)
    await recorder.on_llm_call_started(run_id, 2)
    await recorder.on_llm_call_failed(run_id, 2, TimeoutError("slow"), duration_ms=30000)
    await recorder.on_llm_call_started(run_id, 2)
    final = LLMResponse(reply, usage=UsageStats(20, 2, 22, 0.0003), stop_reason="end_turn")
    await recorder.on_llm_call_completed(run_id, final, 2, duration_ms=15)
    await recorder.on_message_appended(run_id, Message(Role.ASSISTANT, reply), 2)
    await recorder.on_governance_event(
        run_id, "guardrail.checked", 2, {"findings": 0}, correlation_id=None
    )
    await recorder.on_run_finished(run_id, None)
    return reply


async def test_a_0_4_1_loop_runs_against_our_store(state_store: StateStore) -> None:
    # What 0.4.1's runner does around its loop, with its constructor call as written there.
    await state_store.create_run("run-1", "calc", model="claude-x")
    sequencer = EventSequencer()
    await state_store.save_run_event(
        "run-1", event_type="run.started", sequence_index=sequencer.next(), data={}
    )
    recorder = PersistenceRecorder(
        state_store,
        "run-1",
        model="claude-x",
        provider_name="AnthropicProvider",
        target_lookup={"add": "server"},
        initial_order_index=0,
        event_sequencer=sequencer,
        tenant_scope=None,
        provider=None,
    )
    answer = await _legacy_loop(recorder, "run-1", reply="2")
    await state_store.finalize_run("run-1", status="success", answer=answer, iteration_count=2)
    await state_store.save_run_event(
        "run-1", event_type="run.completed", sequence_index=sequencer.next(), iteration_index=2
    )
    reader = RunStore(state_store)
    run = await reader.get_run("run-1")
    assert run is not None and (run.status, run.answer) == ("success", "2")
    events = await reader.get_events("run-1")
    assert [(e.sequence_index, e.event_type) for e in events] == [
        (0, "run.started"),
        (1, "llm.completed"),
        (2, "tool.completed"),
        (3, "llm.completed"),
        (4, "guardrail.checked"),
        (5, "run.completed"),
    ]
    traces = await reader.get_traces("run-1")
    assert [(t.order_index, t.role) for t in traces] == [
        (0, "user"),
        (1, "assistant"),
        (2, "tool"),
        (3, "assistant"),
    ]
    calls = await reader.get_llm_calls("run-1")
    assert [(c.iteration, c.total_tokens, c.model) for c in calls] == [
        (1, 15, "claude-x"),
        (2, 22, "claude-x"),
    ]
    (tool,) = await reader.get_tool_invocations("run-1")
    assert (tool.tool_name, tool.success, tool.duration_ms) == ("add", True, 4)
