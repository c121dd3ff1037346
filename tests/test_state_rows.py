"""Per-run rows on both dialects: traces, tool calls, usage, LLM interactions,
events; their reads; exactly-once inserts and slot conflicts."""

from __future__ import annotations

import pytest

from dendrux.db.engine import Engine
from dendrux.errors import IntegrityError, SlotTakenError
from dendrux.state import StateStore, rows
from dendrux.types import UsageStats
from dendrux.ulid import new_ulid


@pytest.fixture
async def run(state_store: StateStore) -> str:
    await state_store.create_run("r1", "agent")
    return "r1"


async def test_traces_in_order_with_paging(state_store: StateStore, run: str) -> None:
    for i, role in enumerate(["user", "assistant", "tool", "assistant"]):
        await state_store.save_trace(run, role, f"m{i}", order_index=i, meta={"iteration": i})
    traces = await state_store.get_traces(run)
    assert [(t.order_index, t.role, t.content, t.meta) for t in traces] == [
        (0, "user", "m0", {"iteration": 0}),
        (1, "assistant", "m1", {"iteration": 1}),
        (2, "tool", "m2", {"iteration": 2}),
        (3, "assistant", "m3", {"iteration": 3}),
    ]
    assert len({t.id for t in traces}) == 4 and all(len(t.id) == 26 for t in traces)
    page = await state_store.get_traces(run, limit=2, offset=1)
    assert [t.order_index for t in page] == [1, 2]
    assert await state_store.get_traces("other") == []


async def test_trace_slot_taken_by_a_different_row(state_store: StateStore, run: str) -> None:
    await state_store.save_trace(run, "user", "first", order_index=0)
    with pytest.raises(SlotTakenError) as caught:
        await state_store.save_trace(run, "user", "second", order_index=0)
    assert caught.value.table == "react_traces" and caught.value.value == 0
    assert [t.content for t in await state_store.get_traces(run)] == ["first"]


async def test_retried_insert_with_the_same_row_id_is_a_no_op(engine: Engine) -> None:
    from dendrux.state import runs

    await runs.create_run(engine, "r1", "a")
    trace_id, event_id, call_id = new_ulid(), new_ulid(), new_ulid()
    for _ in range(2):  # the second round is a retry whose first commit did land
        await rows.save_trace(engine, "r1", "user", "hi", order_index=0, row_id=trace_id)
        await rows.save_run_event(
            engine, "r1", event_type="run.started", sequence_index=0, row_id=event_id
        )
        await rows.save_tool_call(
            engine,
            "r1",
            tool_call_id="tc1",
            provider_tool_call_id=None,
            tool_name="t",
            target="server",
            params=None,
            result_payload="{}",
            success=True,
            duration_ms=1,
            iteration_index=1,
            row_id=call_id,
        )
        await rows.save_usage(
            engine,
            "r1",
            iteration_index=1,
            usage=UsageStats(input_tokens=1, output_tokens=1),
            row_id=trace_id,
        )
        await rows.save_llm_interaction(
            engine,
            "r1",
            iteration_index=1,
            usage=UsageStats(input_tokens=1, output_tokens=1),
            interaction_id=event_id,
        )
    assert [t.id for t in await rows.get_traces(engine, "r1")] == [trace_id]
    assert [e.id for e in await rows.get_run_events(engine, "r1")] == [event_id]
    assert [c.id for c in await rows.get_tool_calls(engine, "r1")] == [call_id]
    assert [i.id for i in await rows.get_llm_interactions(engine, "r1")] == [event_id]


async def test_tool_calls(state_store: StateStore, run: str) -> None:
    await state_store.save_tool_call(
        run,
        tool_call_id="tc1",
        provider_tool_call_id="toolu_01ABC",
        tool_name="refund",
        target="human",
        params={"order": 7, "amount": 12.5},
        result_payload='{"refunded": true}',
        success=True,
        duration_ms=12,
        iteration_index=1,
        meta={"approval": "granted"},
    )
    await state_store.save_tool_call(
        run,
        tool_call_id="tc2",
        provider_tool_call_id=None,
        tool_name="lookup",
        target="server",
        params=None,
        result_payload="not json at all",
        success=False,
        duration_ms=None,
        iteration_index=2,
        error_message="timeout",
    )
    calls = await state_store.get_tool_calls(run)
    assert [(c.tool_call_id, c.tool_name, c.target, c.success) for c in calls] == [
        ("tc1", "refund", "human", True),
        ("tc2", "lookup", "server", False),
    ]
    first, second = calls
    assert first.provider_tool_call_id == "toolu_01ABC"
    assert first.params == {"order": 7, "amount": 12.5}
    assert first.result == {"refunded": True}
    assert (first.duration_ms, first.iteration_index) == (12, 1)
    assert second.params is None and second.result == {"raw": "not json at all"}
    assert second.error_message == "timeout" and second.duration_ms is None
    assert [c.tool_call_id for c in await state_store.get_tool_calls(run, iteration_index=2)] == [
        "tc2"
    ]
    assert [c.tool_call_id for c in await state_store.get_tool_calls(run, limit=1, offset=1)] == [
        "tc2"
    ]
    with pytest.raises(SlotTakenError, match="tc1"):
        await state_store.save_tool_call(
            run,
            tool_call_id="tc1",
            provider_tool_call_id=None,
            tool_name="refund",
            target="server",
            params=None,
            result_payload="{}",
            success=True,
            duration_ms=1,
            iteration_index=1,
        )


async def test_usage_and_llm_interactions(state_store: StateStore, run: str) -> None:
    usage = UsageStats(
        input_tokens=594,
        output_tokens=55,
        cost_usd=0.0012,
        cache_read_input_tokens=100,
        cache_creation_input_tokens=None,
        reasoning_tokens=0,
    )
    await state_store.save_usage(
        run, iteration_index=1, usage=usage, model="m", provider="P", duration_ms=800
    )
    await state_store.save_llm_interaction(
        run,
        iteration_index=1,
        usage=usage,
        model="m",
        provider="P",
        duration_ms=800,
        semantic_request={"messages": [{"role": "user", "content": "hi"}]},
        semantic_response={"text": "hello"},
        provider_request={"model": "m"},
        provider_response={"id": "msg_1"},
        guardrail_findings=[{"kind": "pii", "count": 1}],
        interaction_id="01INTERACTION0000000000000",
    )
    (record,) = await state_store.get_llm_interactions(run)
    assert record.id == "01INTERACTION0000000000000"
    assert (record.input_tokens, record.output_tokens, record.cost_usd) == (594, 55, 0.0012)
    assert record.cache_read_input_tokens == 100
    assert record.cache_creation_input_tokens is None
    assert record.reasoning_tokens == 0
    assert record.duration_ms == 800
    assert record.semantic_request == {"messages": [{"role": "user", "content": "hi"}]}
    assert record.semantic_response == {"text": "hello"}
    assert record.provider_request == {"model": "m"}
    assert record.provider_response == {"id": "msg_1"}
    assert await state_store.get_llm_interactions(run, iteration_index=2) == []


async def test_rows_of_a_missing_run_are_refused(state_store: StateStore) -> None:
    with pytest.raises(IntegrityError):
        await state_store.save_trace("nope", "user", "x", order_index=0)
    with pytest.raises(IntegrityError):
        await state_store.save_run_event("nope", event_type="run.started")
    with pytest.raises(IntegrityError):
        await state_store.save_usage("nope", iteration_index=0, usage=UsageStats())


async def test_run_events(state_store: StateStore, run: str) -> None:
    types = ["run.started", "llm.completed", "approval.requested", "run.paused", "run.resumed"]
    for seq, event_type in enumerate(types):
        await state_store.save_run_event(
            run,
            event_type=event_type,
            sequence_index=seq,
            iteration_index=1 if seq else 0,
            correlation_id="c1" if seq == 2 else None,
            data={"seq": seq},
        )
    assert await state_store.get_next_event_sequence(run) == 5
    assert await state_store.get_next_event_sequence("other") == 0
    events = await state_store.get_run_events(run)
    assert [e.event_type for e in events] == types
    assert events[2].correlation_id == "c1" and events[2].data == {"seq": 2}
    after = await state_store.get_run_events(run, after_sequence_index=2)
    assert [e.sequence_index for e in after] == [3, 4]
    assert [e.sequence_index for e in await state_store.get_run_events(run, limit=2)] == [0, 1]
    picked = await state_store.get_run_events(run, event_types=["run.paused", "run.resumed"])
    assert [e.event_type for e in picked] == ["run.paused", "run.resumed"]
    assert await state_store.get_run_events(run, event_types=[]) == []
    with pytest.raises(SlotTakenError, match="sequence_index=3"):
        await state_store.save_run_event(run, event_type="run.completed", sequence_index=3)


async def test_save_run_event_defaults(state_store: StateStore, run: str) -> None:
    await state_store.save_run_event(run, event_type="guardrail.pii_detected")
    (event,) = await state_store.get_run_events(run)
    assert (event.sequence_index, event.iteration_index) == (0, 0)
    assert event.correlation_id is None and event.data is None
