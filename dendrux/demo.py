"""A realistic sample run: a tiny scripted agent loop driving the recorder.

A refund agent gets a question, calls the LLM (scripted here, no network),
asks a human to approve the refund tool (the run pauses and resumes),
runs the tool, delegates the customer note to a child run, and answers.
`dendrux.recording.recording` carries the lifecycle (started, paused,
resumed, completed, the iteration count and the usage totals); every other
row comes from the recorder's four hooks.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from dendrux.db.urls import pasteable_url_option
from dendrux.recording import recording
from dendrux.state import StateStore
from dendrux.types import LLMResponse, Message, Role, ToolCall, ToolResult, UsageStats

MODEL = "claude-haiku-4-5"
PROVIDER = "AnthropicProvider"


class _Tool:
    """A tool definition as a loop would describe it to the LLM."""

    def __init__(self, name: str, description: str, target: str = "server") -> None:
        self.name = name
        self.description = description
        self.parameters = {"type": "object", "properties": {"order": {"type": "integer"}}}
        self.target = target
        self.meta = {"requires_approval": name == "refund"}


async def _child_run(store: StateStore, parent_id: str) -> str:
    """A delegated run that writes the customer note."""
    async with recording(
        store,
        None,
        "note-writer",
        model=MODEL,
        provider_name=PROVIDER,
        strategy="react",
        parent_run_id=parent_id,
        delegation_level=1,
        tenant_id="demo",
    ) as rec:
        await rec.on_message_appended(Message(Role.USER, "Write the refund note."), 0)
        note = "Refund of $49.99 issued for order #8812."
        usage = UsageStats(input_tokens=210, output_tokens=18, total_tokens=228, cost_usd=0.00025)
        response = LLMResponse(text=note, usage=usage, model=MODEL, stop_reason="end_turn")
        await rec.on_llm_call_completed(response, 1, duration_ms=420)
        await rec.on_message_appended(Message(Role.ASSISTANT, note), 1)
        rec.finish(note, stop_reason="end_turn")
    return rec.run_id


async def record_sample_run(store: StateStore) -> str:
    """Record the sample run through `recording`; returns its id."""
    question = "Please refund order #8812, the blender arrived broken."
    tools = [_Tool("refund", "Refund an order"), _Tool("lookup_order", "Find an order")]
    async with recording(
        store,
        None,
        "refund-agent",
        input_data={"input": question},
        model=MODEL,
        provider_name=PROVIDER,
        strategy="react",
        tenant_id="demo",
        meta={"thread_id": "thread_demo", "user_id": "u_123"},
        target_lookup={"refund": "server"},
    ) as rec:
        conversation = [Message(Role.USER, question)]
        await rec.on_message_appended(conversation[0], 0)

        # Iteration 1: the model wants to refund.
        refund = ToolCall("refund", {"order": 8812}, provider_tool_call_id="toolu_demo_01")
        first = LLMResponse(
            text="I'll refund that order.",
            tool_calls=[refund],
            usage=UsageStats(
                input_tokens=594,
                output_tokens=55,
                total_tokens=649,
                cost_usd=0.00081,
                cache_read_input_tokens=0,
                reasoning_tokens=0,
            ),
            provider_request={"model": MODEL, "max_tokens": 1024},
            provider_response={"id": "msg_demo_1", "stop_reason": "tool_use"},
            model=MODEL,
            stop_reason="tool_use",
        )
        await rec.on_llm_call_completed(
            first, 1, semantic_messages=conversation, semantic_tools=tools, duration_ms=812
        )
        assistant = Message(Role.ASSISTANT, first.text or "", tool_calls=[refund])
        conversation.append(assistant)
        await rec.on_message_appended(assistant, 1)
        await rec.on_governance_event(
            "approval.requested",
            1,
            {"tool_name": "refund", "call_id": refund.id, "reason": "requires_approval"},
            refund.id,
        )

        # The refund needs a human: the run pauses; a supervisor approves.
        await rec.pause("waiting_approval", pending_tool_calls=[refund])
        await rec.resume(
            user_input="approved by supervisor", submitted_data={"approved": [refund.id]}
        )
        await rec.on_governance_event(
            "approval.decided",
            1,
            {
                "decision": "approved",
                "run_id": rec.run_id,
                "decisions": [
                    {"call_id": refund.id, "tool_name": "refund", "decision": "approved",
                     "reason": None}
                ],
                "by": "supervisor",
            },
            refund.id,
        )  # fmt: skip

        result = ToolResult(
            "refund",
            refund.id,
            json.dumps({"refunded": True, "amount_usd": 49.99}),
            duration_ms=143,
        )
        await rec.on_tool_completed(refund, result, 1)
        tool_message = Message(Role.TOOL, result.payload, call_id=refund.id, name="refund")
        conversation.append(tool_message)
        await rec.on_message_appended(tool_message, 1)

        await _child_run(store, rec.run_id)

        # Iteration 2: the final answer.
        answer = "Done: $49.99 refunded for order #8812."
        second = LLMResponse(
            text=answer,
            usage=UsageStats(
                input_tokens=668, output_tokens=27, total_tokens=695, cost_usd=0.00078
            ),
            model=MODEL,
            stop_reason="end_turn",
        )
        await rec.on_llm_call_completed(
            second, 2, semantic_messages=conversation, semantic_tools=tools, duration_ms=640
        )
        await rec.on_message_appended(Message(Role.ASSISTANT, answer), 2)
        rec.finish(answer, stop_reason="end_turn")
    return rec.run_id


async def describe_run(store: StateStore, run_id: str, *, width: int = 100) -> str:
    """A stored run as ``dendrux show`` prints it (no colour), read back from the
    database: header, timeline with tool parameters and results, and delegated runs."""
    from dendrux.cli.show import render_run
    from dendrux.cli.style import Style
    from dendrux.store import RunStore

    return await render_run(RunStore(store), run_id, Style(False), width=width)


DASHBOARD_ORIGIN = "http://127.0.0.1:8001"
"""Where ``dendrux dashboard`` serves by default."""


def _dendrux_program() -> str:
    """The ``dendrux`` script beside this interpreter (``.venv/bin/dendrux`` after
    ``make install``), relative to the working directory when below it; else the name."""
    script = Path(sys.executable).parent / "dendrux"
    if not script.is_file():
        return "dendrux"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def dashboard_hint(database_url: str, run_id: str) -> str:
    """How to look at the run in a browser: the command to paste, and the run's page."""
    program = shlex.quote(_dendrux_program())
    option = pasteable_url_option(database_url)  # never a password, masked or not
    return (
        "look at it in the dashboard:\n"
        f"  {program} dashboard{option} --open --run {run_id}\n"
        f"  (the run's page: {DASHBOARD_ORIGIN}/#/runs/{run_id})"
    )
