"""The recorder on both dialects: what each hook writes, exactly, and how
ordering, correlation and the one-transaction tool write behave."""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

import pytest
from dbcheck import fetch_rows

from dendrux.errors import SlotTakenError
from dendrux.recorder import (
    EventSequencer,
    LoopRecorder,
    PersistenceRecorder,
    resume_event_sequencer,
)
from dendrux.state import StateStore
from dendrux.types import LLMResponse, Message, Role, ToolCall, ToolResult, UsageStats


@pytest.fixture
async def run_id(state_store: StateStore) -> str:
    await state_store.create_run("r1", "agent", model="m-1")
    return "r1"


def test_loop_recorder_protocol_has_exactly_four_hooks() -> None:
    hooks = {
        name
        for name, member in inspect.getmembers(LoopRecorder)
        if not name.startswith("_") and inspect.iscoroutinefunction(member)
    }
    assert hooks == {
        "on_message_appended",
        "on_llm_call_completed",
        "on_tool_completed",
        "on_governance_event",
    }
    llm = inspect.signature(PersistenceRecorder.on_llm_call_completed).parameters
    for name in ("semantic_messages", "semantic_tools", "duration_ms", "guardrail_findings"):
        assert llm[name].kind is inspect.Parameter.KEYWORD_ONLY and llm[name].default is None
    governance = inspect.signature(PersistenceRecorder.on_governance_event).parameters
    assert governance["correlation_id"].default is None


async def test_persistence_recorder_is_a_loop_recorder(
    state_store: StateStore, run_id: str
) -> None:
    assert isinstance(PersistenceRecorder(state_store, run_id), LoopRecorder)


async def test_message_traces_and_their_meta(
    state_store: StateStore, run_id: str, database_url: str
) -> None:
    recorder = PersistenceRecorder(state_store, run_id, initial_order_index=3)
    call = ToolCall("search", {"q": "x"}, id="tc1", provider_tool_call_id="toolu_1")
    await recorder.on_message_appended(Message(Role.USER, "hi", meta={"lang": "en"}), 0)
    await recorder.on_message_appended(Message(Role.ASSISTANT, "looking", tool_calls=[call]), 1)
    await recorder.on_message_appended(
        Message(Role.TOOL, '{"hits": 1}', call_id="tc1", name="search"), 1
    )
    await recorder.on_message_appended(SimpleNamespace(role="assistant", content="done"), 2)
    assert recorder.next_order_index == 7
    traces = await state_store.get_traces(run_id)
    assert [(t.order_index, t.role, t.content) for t in traces] == [
        (3, "user", "hi"),
        (4, "assistant", "looking"),
        (5, "tool", '{"hits": 1}'),
        (6, "assistant", "done"),
    ]
    assert traces[0].meta == {"lang": "en", "iteration": 0}
    assert traces[1].meta == {
        "iteration": 1,
        "tool_calls": [
            {
                "id": "tc1",
                "provider_tool_call_id": "toolu_1",
                "name": "search",
                "params": {"q": "x"},
            }
        ],
    }
    assert traces[2].meta == {"iteration": 1, "call_id": "tc1", "tool_name": "search"}
    assert traces[3].meta == {"iteration": 2}
    assert len(await fetch_rows(database_url, "react_traces", run_id)) == 4


async def test_llm_call_writes_interaction_usage_event_and_progress(
    state_store: StateStore, run_id: str, database_url: str
) -> None:
    sequencer = EventSequencer(5)
    recorder = PersistenceRecorder(
        state_store,
        run_id,
        model="m-1",
        provider_name="AnthropicProvider",
        event_sequencer=sequencer,
    )
    before = await state_store.get_run(run_id)
    call = ToolCall("refund", {"order": 7}, id="tc9")
    response = LLMResponse(
        text="refunding",
        tool_calls=[call],
        reasoning="the user asked",
        usage=UsageStats(
            input_tokens=100,
            output_tokens=20,
            total_tokens=120,
            cost_usd=0.5,
            cache_read_input_tokens=4,
            reasoning_tokens=2,
        ),
        provider_request={"model": "m-1", "messages": []},
        provider_response={"id": "msg_1"},
    )
    tool = SimpleNamespace(
        name="refund", description="Refund", parameters={"type": "object"}, meta={"x": 1}
    )
    messages = [
        Message(Role.SYSTEM, "be nice"),
        Message(Role.USER, "refund", meta={"channel": "web"}),
        Message(Role.TOOL, "{}", call_id="tc0", name="lookup"),
    ]
    await recorder.on_llm_call_completed(
        response,
        1,
        semantic_messages=messages,
        semantic_tools=[tool],
        duration_ms=900,
        guardrail_findings=[{"kind": "pii"}],
    )
    (interaction,) = await state_store.get_llm_interactions(run_id)
    assert (interaction.model, interaction.provider, interaction.duration_ms) == (
        "m-1",
        "AnthropicProvider",
        900,
    )
    assert interaction.semantic_request == {
        "messages": [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": "refund", "meta": {"channel": "web"}},
            {"role": "tool", "content": "{}", "call_id": "tc0", "name": "lookup"},
        ],
        "tools": [
            {
                "name": "refund",
                "description": "Refund",
                "parameters": {"type": "object"},
                "target": "server",
                "meta": {"x": 1},
            }
        ],
    }
    assert interaction.semantic_response == {
        "reasoning": "the user asked",
        "text": "refunding",
        "tool_calls": [
            {"id": "tc9", "provider_tool_call_id": None, "name": "refund", "params": {"order": 7}}
        ],
        "usage": {
            "input_tokens": 100,
            "output_tokens": 20,
            "total_tokens": 120,
            "cost_usd": 0.5,
            "cost_source": None,
            "usage_reported": True,
            "cache_read_input_tokens": 4,
            "cache_creation_input_tokens": None,
            "reasoning_tokens": 2,
        },
        "stop_reason": None,
    }
    assert interaction.provider_request == {"model": "m-1", "messages": []}
    assert interaction.provider_response == {"id": "msg_1"}
    (raw,) = await fetch_rows(database_url, "llm_interactions", run_id)
    assert raw["guardrail_findings"] == [{"kind": "pii"}]

    (usage,) = await fetch_rows(database_url, "token_usage", run_id)
    assert (usage["input_tokens"], usage["output_tokens"], usage["cost_usd"]) == (100, 20, 0.5)
    assert (usage["model"], usage["provider"], usage["iteration_index"]) == (
        "m-1",
        "AnthropicProvider",
        1,
    )
    assert usage["cache_read_input_tokens"] == 4 and usage["reasoning_tokens"] == 2

    (event,) = await state_store.get_run_events(run_id)
    assert (event.event_type, event.sequence_index, event.iteration_index) == (
        "llm.completed",
        5,
        1,
    )
    assert event.correlation_id == interaction.id
    assert event.data == {
        "input_tokens": 100,
        "output_tokens": 20,
        "cache_read_input_tokens": 4,
        "cache_creation_input_tokens": None,
        "reasoning_tokens": 2,
        "cost_usd": 0.5,
        "cost_source": None,
        "usage_reported": True,
        "model": "m-1",
        "has_tool_calls": True,
        "phase": "commentary",
    }
    after = await state_store.get_run(run_id)
    assert before is not None and after is not None
    assert after.last_progress_at is not None and before.last_progress_at is not None
    assert after.last_progress_at > before.last_progress_at


async def test_llm_call_without_semantics_or_text(state_store: StateStore, run_id: str) -> None:
    recorder = PersistenceRecorder(state_store, run_id, model="m-default")
    await recorder.on_llm_call_completed(
        SimpleNamespace(usage=UsageStats(input_tokens=3, output_tokens=0)), 0
    )
    (interaction,) = await state_store.get_llm_interactions(run_id)
    assert interaction.semantic_request is None
    assert interaction.semantic_response is None
    assert interaction.model == "m-default"
    (event,) = await state_store.get_run_events(run_id)
    assert event.data is not None and event.data["has_tool_calls"] is False
    assert event.data["cost_usd"] is None


async def test_tool_completed_writes_call_and_event(state_store: StateStore, run_id: str) -> None:
    recorder = PersistenceRecorder(state_store, run_id, target_lookup={"ask_user": "human"})
    ask = ToolCall("ask_user", {}, id="tc1", provider_tool_call_id="toolu_x")
    await recorder.on_tool_completed(ask, ToolResult("ask_user", "tc1", '"yes"', duration_ms=5), 2)
    fail = ToolCall("lookup", {"id": 3}, id="tc2")
    result = ToolResult("lookup", "tc2", "boom", success=False, error="timeout", duration_ms=30)
    await recorder.on_tool_completed(fail, result, 2)

    first, second = await state_store.get_tool_calls(run_id)
    assert (first.tool_call_id, first.target, first.params, first.result) == (
        "tc1",
        "human",
        None,
        "yes",
    )
    assert first.provider_tool_call_id == "toolu_x" and first.success
    assert (second.target, second.params, second.result, second.success) == (
        "server",
        {"id": 3},
        {"raw": "boom"},
        False,
    )
    assert second.error_message == "timeout" and second.duration_ms == 30
    events = await state_store.get_run_events(run_id)
    assert [(e.sequence_index, e.event_type, e.correlation_id) for e in events] == [
        (0, "tool.completed", "tc1"),
        (1, "tool.completed", "tc2"),
    ]
    assert events[1].data == {
        "tool_name": "lookup",
        "target": "server",
        "success": False,
        "duration_ms": 30,
    }


async def test_tool_call_and_its_event_land_together_or_not_at_all(
    state_store: StateStore, run_id: str
) -> None:
    # Another writer already took sequence index 0: the event insert fails, and the
    # tool call row of the same hook must not be left behind.
    await state_store.save_run_event(run_id, event_type="run.started", sequence_index=0)
    recorder = PersistenceRecorder(state_store, run_id, event_sequencer=EventSequencer(0))
    call = ToolCall("refund", {"order": 1}, id="tc1")
    with pytest.raises(SlotTakenError):
        await recorder.on_tool_completed(call, ToolResult("refund", "tc1", "{}"), 1)
    assert await state_store.get_tool_calls(run_id) == []
    assert [e.event_type for e in await state_store.get_run_events(run_id)] == ["run.started"]


async def test_governance_events_and_shared_sequencer(state_store: StateStore, run_id: str) -> None:
    sequencer = EventSequencer(0)
    recorder = PersistenceRecorder(state_store, run_id, event_sequencer=sequencer)
    # The runner and the recorder draw from the same sequencer.
    await state_store.save_run_event(
        run_id, event_type="run.started", sequence_index=sequencer.next()
    )
    await recorder.on_governance_event("approval.requested", 1, {"tool": "refund"}, "tc1")
    await recorder.on_governance_event("guardrail.pii_detected", 1, None)
    await state_store.save_run_event(
        run_id, event_type="run.paused", sequence_index=sequencer.next()
    )
    events = await state_store.get_run_events(run_id)
    assert [(e.sequence_index, e.event_type, e.correlation_id) for e in events] == [
        (0, "run.started", None),
        (1, "approval.requested", "tc1"),
        (2, "guardrail.pii_detected", None),
        (3, "run.paused", None),
    ]
    assert events[1].data == {"tool": "refund"}

    resumed = await resume_event_sequencer(state_store, run_id)
    assert resumed.next() == 4
    second = PersistenceRecorder(state_store, run_id, event_sequencer=resumed)
    await second.on_governance_event("approval.decided", 1, {"ok": True})
    assert [e.sequence_index for e in await state_store.get_run_events(run_id)] == [0, 1, 2, 3, 5]


async def test_two_independent_numberings_are_an_error_not_a_drop(
    state_store: StateStore, run_id: str
) -> None:
    first = PersistenceRecorder(state_store, run_id, event_sequencer=EventSequencer(0))
    second = PersistenceRecorder(state_store, run_id, event_sequencer=EventSequencer(0))
    await first.on_governance_event("policy.denied", 1, {"who": "first"})
    with pytest.raises(SlotTakenError):
        await second.on_governance_event("policy.denied", 1, {"who": "second"})
    (event,) = await state_store.get_run_events(run_id)
    assert event.data == {"who": "first"}
    await PersistenceRecorder(state_store, run_id).on_message_appended(Message(Role.USER, "a"), 0)
    with pytest.raises(SlotTakenError):
        await PersistenceRecorder(state_store, run_id).on_message_appended(
            Message(Role.USER, "b"), 0
        )
    assert [t.content for t in await state_store.get_traces(run_id)] == ["a"]


def test_event_sequencer() -> None:
    sequencer = EventSequencer(7)
    assert sequencer.last == 6
    assert [sequencer.next() for _ in range(3)] == [7, 8, 9]
    assert sequencer.last == 9
    assert EventSequencer().next() == 0


async def test_recorder_accepts_duck_typed_objects(state_store: StateStore, run_id: str) -> None:
    recorder = PersistenceRecorder(state_store.engine, run_id)
    call: Any = SimpleNamespace(id="c1", name="t", params={"a": 1})
    await recorder.on_message_appended(
        SimpleNamespace(role=SimpleNamespace(value="assistant"), content="x", tool_calls=[call]), 0
    )
    await recorder.on_tool_completed(
        call, SimpleNamespace(payload="[1, 2]", success=True, duration_ms=1), 0
    )
    (trace,) = await state_store.get_traces(run_id)
    assert trace.meta is not None
    assert trace.meta["tool_calls"] == [
        {"id": "c1", "provider_tool_call_id": None, "name": "t", "params": {"a": 1}}
    ]
    (tool,) = await state_store.get_tool_calls(run_id)
    assert tool.result == [1, 2] and tool.error_message is None
