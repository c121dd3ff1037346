"""A realistic sample run, recorded through `StateStore` and read back.

What a refund-approval agent would leave behind: a user question, two LLM
calls with token usage, a tool call that needed human approval (pause and
resume), a delegated child run, and the final answer.
"""

from __future__ import annotations

import json
from typing import Any

from dendrux.state import StateStore
from dendrux.types import UsageStats
from dendrux.ulid import new_ulid


async def record_sample_run(store: StateStore) -> str:
    """Record the sample run; returns its id."""
    run_id = new_ulid()
    seq = 0

    async def event(event_type: str, iteration: int, data: Any = None, corr: Any = None) -> None:
        nonlocal seq
        await store.save_run_event(
            run_id,
            event_type=event_type,
            sequence_index=seq,
            iteration_index=iteration,
            correlation_id=corr,
            data=data,
        )
        seq += 1

    question = "Please refund order #8812, the blender arrived broken."
    await store.create_run(
        run_id,
        "refund-agent",
        input_data={"input": question},
        model="claude-haiku-4-5",
        strategy="react",
        tenant_id="demo",
        meta={"thread_id": "thread_demo", "user_id": "u_123"},
    )
    await event("run.started", 0, {"agent_name": "refund-agent"})
    await store.save_trace(run_id, "user", question, order_index=0, meta={"iteration": 0})

    # Iteration 1: the model asks for the refund tool.
    tool_call_id = new_ulid()
    first = UsageStats(594, 55, 0.00081, cache_read_input_tokens=0, reasoning_tokens=0)
    interaction = new_ulid()
    await store.save_llm_interaction(
        run_id,
        iteration_index=1,
        usage=first,
        model="claude-haiku-4-5",
        provider="AnthropicProvider",
        duration_ms=812,
        semantic_request={"messages": [{"role": "user", "content": question}]},
        semantic_response={
            "text": "I'll refund that order.",
            "tool_calls": [{"id": tool_call_id, "name": "refund", "params": {"order": 8812}}],
        },
        provider_request={"model": "claude-haiku-4-5", "max_tokens": 1024},
        provider_response={"id": "msg_demo_1", "stop_reason": "tool_use"},
        interaction_id=interaction,
    )
    await store.save_usage(
        run_id, iteration_index=1, usage=first, model="claude-haiku-4-5", duration_ms=812
    )
    await event("llm.completed", 1, {"input_tokens": 594, "output_tokens": 55}, interaction)
    await store.save_trace(
        run_id,
        "assistant",
        "I'll refund that order.",
        order_index=1,
        meta={"iteration": 1, "tool_calls": [{"id": tool_call_id, "name": "refund"}]},
    )
    await event("approval.requested", 1, {"tool_name": "refund"}, tool_call_id)

    # The refund needs a human: pause, then a supervisor approves.
    pending = [{"id": tool_call_id, "name": "refund", "params": {"order": 8812}}]
    await store.pause_run(
        run_id,
        status="waiting_approval",
        pause_data={"pending_tool_calls": pending},
        iteration_count=1,
    )
    await event("run.paused", 0, {"status": "waiting_approval", "pending_tool_calls": pending})
    await store.submit_and_claim(
        run_id, expected_status="waiting_approval", submitted_data={"approved": [tool_call_id]}
    )
    await event("run.resumed", 0, {"user_input": "approved by supervisor"})

    await store.save_tool_call(
        run_id,
        tool_call_id=tool_call_id,
        provider_tool_call_id="toolu_demo_01",
        tool_name="refund",
        target="server",
        params={"order": 8812},
        result_payload=json.dumps({"refunded": True, "amount_usd": 49.99}),
        success=True,
        duration_ms=143,
        iteration_index=1,
    )
    await event(
        "tool.completed",
        1,
        {"tool_name": "refund", "target": "server", "success": True, "duration_ms": 143},
        tool_call_id,
    )
    await store.save_trace(
        run_id,
        "tool",
        '{"refunded": true, "amount_usd": 49.99}',
        order_index=2,
        meta={"iteration": 1, "call_id": tool_call_id, "tool_name": "refund"},
    )
    await event("approval.decided", 1, {"decision": "approved"}, tool_call_id)

    # A delegated child run writes the customer note.
    child_id = new_ulid()
    await store.create_run(
        child_id, "note-writer", parent_run_id=run_id, delegation_level=1, tenant_id="demo"
    )
    await store.finalize_run(
        child_id,
        status="success",
        answer="Refund of $49.99 issued for order #8812.",
        iteration_count=1,
        total_usage=UsageStats(210, 18, 0.00025),
    )

    # Iteration 2: the final answer.
    second = UsageStats(668, 27, 0.00078)
    interaction = new_ulid()
    await store.save_llm_interaction(
        run_id,
        iteration_index=2,
        usage=second,
        model="claude-haiku-4-5",
        provider="AnthropicProvider",
        duration_ms=640,
        semantic_response={"text": "Done: $49.99 refunded for order #8812."},
        interaction_id=interaction,
    )
    await store.save_usage(
        run_id, iteration_index=2, usage=second, model="claude-haiku-4-5", duration_ms=640
    )
    await event("llm.completed", 2, {"input_tokens": 668, "output_tokens": 27}, interaction)
    answer = "Done: $49.99 refunded for order #8812."
    await store.save_trace(run_id, "assistant", answer, order_index=3, meta={"iteration": 2})
    await store.finalize_run(
        run_id,
        status="success",
        answer=answer,
        iteration_count=2,
        total_usage=UsageStats(1262, 82, 0.00159),
        expected_current_status="running",
    )
    await event("run.completed", 2, {"status": "success"})
    return run_id


async def describe_run(store: StateStore, run_id: str) -> str:
    """A plain-text summary of a stored run, read back from the database."""
    run = await store.get_run(run_id)
    if run is None:
        return f"run {run_id} not found"
    lines = [
        f"run {run.id}  {run.agent_name}  status={run.status}  model={run.model}",
        f"  tokens in/out: {run.total_input_tokens}/{run.total_output_tokens}  "
        f"cost: ${run.total_cost_usd or 0:.5f}  iterations: {run.iteration_count}",
        f"  answer: {run.answer}",
        "  timeline:",
    ]
    start = run.created_at
    for event in await store.get_run_events(run_id):
        offset = (
            (event.created_at - start).total_seconds() * 1000 if start and event.created_at else 0
        )
        lines.append(
            f"    #{event.sequence_index:<2} +{offset:7.1f} ms  iter {event.iteration_index}  "
            f"{event.event_type:<20} {json.dumps(event.data) if event.data else ''}"
        )
    lines.append("  conversation:")
    for trace in await store.get_traces(run_id):
        lines.append(f"    [{trace.order_index}] {trace.role:<9} {trace.content}")
    for call in await store.get_tool_calls(run_id):
        lines.append(
            f"  tool {call.tool_name} ({call.target}) success={call.success} "
            f"{call.duration_ms} ms -> {json.dumps(call.result)}"
        )
    delegation = await store.get_delegation_info(run_id)
    if delegation is not None:
        for child in delegation.children:
            lines.append(f"  child run {child.run_id}  {child.agent_name}  {child.status}")
    return "\n".join(lines)
