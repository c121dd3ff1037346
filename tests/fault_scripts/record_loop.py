"""Record hooks forever, for the SIGKILL test in tests/test_recorder_faults.py.

    python record_loop.py DATABASE_URL RUN_ID

Creates the run, then calls the four recorder hooks in a cycle (message, llm,
tool, governance) with no pauses, and prints one line per hook that
*returned*, flushed at once:

    <n> message <order_index>
    <n> llm <sequence_index of its llm.completed event>
    <n> tool <tool_call_id>
    <n> governance <sequence_index>

A line is printed only after the hook's awaited call came back, so every line
the parent reads is a write the recorder reported as done. The parent kills
this process with SIGKILL at an arbitrary point and checks the database.
"""

from __future__ import annotations

import asyncio
import sys

from dendrux.recorder import EventSequencer, PersistenceRecorder
from dendrux.state import StateStore
from dendrux.types import LLMResponse, Message, Role, ToolCall, ToolResult, UsageStats


def report(n: int, kind: str, key: object) -> None:
    sys.stdout.write(f"{n} {kind} {key}\n")
    sys.stdout.flush()


async def main(url: str, run_id: str) -> None:
    store = StateStore.from_database_url(url)
    await store.create_run(run_id, "killed-agent", model="m-1")
    sequencer = EventSequencer(0)
    recorder = PersistenceRecorder(
        store, run_id, model="m-1", provider_name="p", event_sequencer=sequencer
    )
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    n = 0
    while True:
        kind = ("message", "llm", "tool", "governance")[n % 4]
        iteration = n // 4
        if kind == "message":
            order_index = recorder.next_order_index
            await recorder.on_message_appended(Message(Role.USER, f"message {n}"), iteration)
            report(n, kind, order_index)
        elif kind == "llm":
            response = LLMResponse(
                text=f"answer {n}",
                usage=UsageStats(input_tokens=10 + n, output_tokens=5, cost_usd=0.001),
            )
            await recorder.on_llm_call_completed(
                response,
                iteration,
                semantic_messages=[Message(Role.USER, f"message {n - 1}")],
                duration_ms=n,
            )
            report(n, kind, sequencer.last)
        elif kind == "tool":
            call_id = f"tc{n}"
            await recorder.on_tool_completed(
                ToolCall("search", {"n": n}, id=call_id),
                ToolResult("search", call_id, f'{{"n": {n}}}', duration_ms=n),
                iteration,
            )
            report(n, kind, call_id)
        else:
            await recorder.on_governance_event(
                "policy.denied", iteration, {"n": n}, correlation_id=f"g{n}"
            )
            report(n, kind, sequencer.last)
        n += 1


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
