"""The recording workload: what one agent run hands to the recorder.

Inputs are generated up front (seeded, so every variant and repeat writes the
same content) and shared by the library variant and the bare-driver variant:
building them is not part of what is measured.

Per run: ``create_run``; 1 user message; 5 iterations of (LLM call with
~2 KB semantic request and provider payloads, assistant message with one
tool call, tool completed, tool message); 1 governance event; 1 final
assistant message; ``finalize_run``. That is 23 hook calls per run.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from dendrux.types import LLMResponse, Message, Role, ToolCall, ToolResult, UsageStats
from dendrux.ulid import new_ulid

ITERATIONS = 5
AGENT_NAME = "bench-agent"
MODEL = "claude-sonnet-4-5"
PROVIDER = "AnthropicProvider"
TENANT = "bench"

HOOK_KINDS = ("message_appended", "llm_call_completed", "tool_completed", "governance_event")
OTHER_KINDS = ("create_run", "finalize_run")

# Hook calls per run, by kind: 1 user + 5 x (assistant + tool message) + final.
HOOKS_PER_RUN = {
    "message_appended": 1 + 2 * ITERATIONS + 1,
    "llm_call_completed": ITERATIONS,
    "tool_completed": ITERATIONS,
    "governance_event": 1,
}
HOOK_CALLS_PER_RUN = sum(HOOKS_PER_RUN.values())  # 23

# Rows each run must leave behind.
ROWS_PER_RUN = {
    "agent_runs": 1,
    "react_traces": HOOKS_PER_RUN["message_appended"],  # 12
    "tool_calls": ITERATIONS,  # 5
    "run_events": 2 * ITERATIONS + 1,  # llm.completed + tool.completed + governance = 11
    "llm_interactions": ITERATIONS,  # 5
    "token_usage": ITERATIONS,  # 5
}
# Updates: touch_progress after each LLM call and each tool call, plus finalize_run.
UPDATES_PER_RUN = 2 * ITERATIONS + 1
# Write units per run, as the library hands them to the engine (see dendrux.db.writes):
#   create_run 1; 23 hooks, one unit each (an LLM call's interaction, usage, llm.completed
#   event and progress stamp are one unit; a tool call, its tool.completed event and the
#   progress stamp another); finalize_run 1.
UNITS_PER_RUN = 1 + HOOK_CALLS_PER_RUN + 1  # 25
# Statements one run sends when it is recorded alone (concurrency 1, so no group shares a
# commit). PostgreSQL: one statement (and one commit) per unit, each hook's its one-statement
# form (record_trace, record_llm_call, record_tool_call, record_run_event). SQLite: a unit of one
# statement autocommits; an LLM unit is BEGIN IMMEDIATE, 4 statements, COMMIT; a tool
# unit is BEGIN IMMEDIATE, SAVEPOINT, 2 inserts, RELEASE, the progress stamp, COMMIT.
STATEMENTS_PER_RUN = {
    "postgres": UNITS_PER_RUN,
    "sqlite": (UNITS_PER_RUN - 2 * ITERATIONS) + ITERATIONS * 6 + ITERATIONS * 7,  # 80
}

_TEXT = (
    "order refund customer invoice shipment warehouse account balance policy ticket "
    "escalation priority region currency payment carrier tracking delivery return "
    "approval threshold merchant subscription renewal discount voucher ledger entry "
    "status pending settled disputed verified address postcode inventory quantity"
)
_WORDS = _TEXT.split(" ")


class ToolDef:
    """A tool definition as a loop describes it to the LLM (duck-typed by the recorder)."""

    def __init__(self, name: str, description: str, target: str = "server") -> None:
        self.name = name
        self.description = description
        self.parameters = {
            "type": "object",
            "properties": {
                "order_id": {"type": "string", "description": "The order identifier"},
                "amount_usd": {"type": "number", "description": "Amount in US dollars"},
                "reason": {"type": "string", "description": "Why the action is taken"},
            },
            "required": ["order_id"],
        }
        self.target = target
        self.meta = {"requires_approval": name == "issue_refund", "timeout_s": 30}


TOOLS = [
    ToolDef("lookup_order", "Find an order by id and return its lines, status and history."),
    ToolDef("issue_refund", "Refund all or part of an order to the original payment method."),
    ToolDef("send_note", "Send a short note to the customer by e-mail.", target="client"),
]
TARGETS = {tool.name: tool.target for tool in TOOLS}


def _text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(_WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words).capitalize() + "."


def _compact(value: Any) -> str:
    # The canonical form both variants store (a tool's result payload is JSON text).
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(slots=True)
class Iteration:
    response: LLMResponse
    semantic_messages: list[Message]
    duration_ms: int
    assistant: Message
    call: ToolCall
    result: ToolResult
    tool_message: Message


@dataclass(slots=True)
class RunSpec:
    run_id: str
    input_data: dict[str, Any]
    meta: dict[str, Any]
    user: Message
    iterations: list[Iteration]
    governance: tuple[str, dict[str, Any], str | None]
    final: Message
    answer: str
    total_usage: UsageStats


def make_run(rng: random.Random) -> RunSpec:
    """One run's inputs (~2 KB semantic request, provider request and provider response)."""
    run_id = new_ulid()
    system = Message(Role.SYSTEM, _text(rng, 700), meta={"prompt_version": "v7"})
    question = _text(rng, 260)
    user = Message(Role.USER, question)
    window: list[Message] = [system, user]
    iterations: list[Iteration] = []
    total_in = total_out = 0
    total_cost = 0.0
    for i in range(1, ITERATIONS + 1):
        tool = TOOLS[(i - 1) % len(TOOLS)]
        call = ToolCall(
            tool.name,
            {"order_id": f"ord_{rng.randrange(10**8):08d}", "reason": _text(rng, 60)},
            provider_tool_call_id=f"toolu_{rng.randrange(16**20):020x}",
        )
        text = _text(rng, 180)
        usage = UsageStats(
            input_tokens=rng.randrange(1500, 4000),
            output_tokens=rng.randrange(80, 400),
            cost_usd=round(rng.uniform(0.002, 0.02), 6),
            cache_read_input_tokens=rng.randrange(0, 1200),
            cache_creation_input_tokens=0,
            reasoning_tokens=None,
        )
        total_in += usage.input_tokens
        total_out += usage.output_tokens
        total_cost += usage.cost_usd or 0.0
        provider_request = {
            "model": MODEL,
            "max_tokens": 4096,
            "temperature": 0.2,
            "system": system.content,
            "messages": [{"role": m.role.value, "content": m.content} for m in window[1:]],
            "tools": [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in TOOLS
            ],
        }
        provider_response = {
            "id": f"msg_{rng.randrange(16**24):024x}",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [
                {"type": "text", "text": text},
                {
                    "type": "tool_use",
                    "id": call.provider_tool_call_id,
                    "name": call.name,
                    "input": call.params,
                },
            ],
            "stop_reason": "tool_use",
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_read_input_tokens": usage.cache_read_input_tokens,
                "cache_creation_input_tokens": 0,
            },
            "debug": {"trace": _text(rng, 1100)},
        }
        response = LLMResponse(
            text=text,
            tool_calls=[call],
            usage=usage,
            provider_request=provider_request,
            provider_response=provider_response,
        )
        assistant = Message(Role.ASSISTANT, text, tool_calls=[call])
        payload = _compact(
            {
                "ok": True,
                "order_id": call.params["order_id"],
                "lines": [
                    {
                        "sku": f"SKU-{rng.randrange(10**6):06d}",
                        "qty": rng.randrange(1, 4),
                        "price_usd": round(rng.uniform(5, 200), 2),
                    }
                    for _ in range(4)
                ],
                "notes": _text(rng, 250),
            }
        )
        result = ToolResult(call.name, call.id, payload, duration_ms=rng.randrange(20, 900))
        tool_message = Message(Role.TOOL, payload, call_id=call.id, name=call.name)
        iterations.append(
            Iteration(
                response=response,
                # the request the LLM saw: system, question, and the latest exchange
                semantic_messages=list(window),
                duration_ms=rng.randrange(400, 4000),
                assistant=assistant,
                call=call,
                result=result,
                tool_message=tool_message,
            )
        )
        window = [system, user, assistant, tool_message]
    answer = _text(rng, 300)
    return RunSpec(
        run_id=run_id,
        input_data={"input": question, "channel": "chat"},
        meta={"thread_id": f"thread_{rng.randrange(10**6)}", "user_id": "u_bench"},
        user=user,
        iterations=iterations,
        governance=(
            "guardrail.checked",
            {"policy": "refund_limit", "decision": "allow", "score": 0.12},
            iterations[-1].call.id,
        ),
        final=Message(Role.ASSISTANT, answer),
        answer=answer,
        total_usage=UsageStats(
            input_tokens=total_in, output_tokens=total_out, cost_usd=round(total_cost, 6)
        ),
    )


def make_runs(count: int, seed: int = 20240601) -> list[RunSpec]:
    """``count`` runs of inputs, reproducible for one seed (run and call ids are fresh ULIDs)."""
    rng = random.Random(seed)
    return [make_run(rng) for _ in range(count)]


def payload_sizes(spec: RunSpec) -> dict[str, int]:
    """Bytes of the JSON the first LLM call stores (for the report)."""
    from dendrux.recorder import semantic_request, semantic_response

    first = spec.iterations[0]
    return {
        "semantic_request": len(
            _compact(semantic_request(first.semantic_messages, TOOLS)).encode()
        ),
        "semantic_response": len(_compact(semantic_response(first.response)).encode()),
        "provider_request": len(_compact(first.response.provider_request).encode()),
        "provider_response": len(_compact(first.response.provider_response).encode()),
        "tool_result": len(first.result.payload.encode()),
    }
