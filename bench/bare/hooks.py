"""The store calls (``create_run`` / ``finalize_run``) and the four recorder hooks, by hand:
the statements and stored content of `PersistenceRecorder`, sent through a backend.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bench.bare.backends import Backend, SlotTaken, Statement
from dendrux.ulid import new_ulid

_dumps_raw = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def dumps(value: Any) -> str | None:
    return None if value is None else _dumps_raw(value)


def _parse_failure(call: Any) -> dict[str, Any] | None:
    if call.parse_error is None:
        return None
    raw = call.raw_arguments
    return {"parse_error": call.parse_error, "raw_length": len(raw) if raw is not None else None}


def _brief(call: Any) -> dict[str, Any]:
    brief = {
        "id": call.id,
        "provider_tool_call_id": call.provider_tool_call_id,
        "name": call.name,
        "params": call.params,
    }
    failure = _parse_failure(call)
    if failure is not None:
        brief.update(failure)
    return brief


def _semantic_request(messages: list[Any], tools: list[Any] | None) -> dict[str, Any]:
    entries = []
    for m in messages:
        entry: dict[str, Any] = {"role": m.role.value, "content": m.content}
        if m.tool_calls is not None:
            entry["tool_calls"] = [_brief(c) for c in m.tool_calls]
        if m.call_id is not None:
            entry["call_id"] = m.call_id
        if m.name is not None:
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
                "meta": t.meta or None,
            }
            for t in tools
        ]
    return request


def _usage(u: Any) -> dict[str, Any]:
    return {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
        "cost_usd": u.cost_usd,
        "cost_source": u.cost_source,
        "usage_reported": u.usage_reported,
        "cache_read_input_tokens": u.cache_read_input_tokens,
        "cache_creation_input_tokens": u.cache_creation_input_tokens,
        "reasoning_tokens": u.reasoning_tokens,
    }


def _semantic_response(r: Any) -> dict[str, Any] | None:
    if r.text is None and r.tool_calls is None and r.reasoning is None and r.stop_reason is None:
        return None
    result: dict[str, Any] = {}
    if r.reasoning is not None:
        result["reasoning"] = r.reasoning
    if r.text is not None:
        result["text"] = r.text
    if r.tool_calls is not None:
        result["tool_calls"] = [_brief(c) for c in r.tool_calls]
    result["usage"] = _usage(r.usage)
    result["stop_reason"] = r.stop_reason
    return result


def _run_total(u: Any) -> dict[str, Any]:
    """The run total as finalize_run keeps it in output_data (dendrux 0.4.1's shape)."""
    return {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "total_tokens": getattr(u, "total_tokens", 0),
        "cost_usd": u.cost_usd,
        "cache_read_input_tokens": u.cache_read_input_tokens,
        "cache_creation_input_tokens": u.cache_creation_input_tokens,
        "cost_source": getattr(u, "cost_source", None),
        "reasoning_tokens": u.reasoning_tokens,
        "usage_reported": getattr(u, "usage_reported", True),
        "cost_unknown": getattr(u, "cost_unknown", False),
    }


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
        output = {"answer": answer, "usage": _run_total(u)}
        args = (
            run_id, status, dumps(output), None, iteration_count,
            u.input_tokens, u.output_tokens, u.cost_usd, u.cache_read_input_tokens or 0,
            u.cache_creation_input_tokens or 0, u.reasoning_tokens or 0, None, self.b.now(),
            expected_current_status, True, None,  # no failure_reason
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
        if message.reasoning_blocks:
            meta["reasoning_blocks"] = message.reasoning_blocks
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
        run_id, model, provider = self.run_id, response.model or self.model, self.provider
        meta = {"cost_source": u.cost_source} if u.cost_source is not None else None
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
            u.cache_creation_input_tokens, u.reasoning_tokens, dumps(meta), self.now(),
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
                "cost_source": u.cost_source,
                "usage_reported": u.usage_reported,
                "model": model,
                "has_tool_calls": bool(response.tool_calls),
                "phase": "commentary" if response.tool_calls else "final_answer",
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
        meta = tool_result.meta
        if tool_result.notes:
            meta = {**(meta or {}), "dendrux.image_notes": list(tool_result.notes)}
        call = (
            new_ulid(), run_id, tool_call.id, tool_call.provider_tool_call_id,
            tool_call.name, target, dumps(tool_call.params or None),
            tool_result.payload, tool_result.success, tool_result.duration_ms,
            iteration, tool_result.error, dumps(meta or None), self.now(),
        )  # fmt: skip
        data = {
            "tool_name": tool_call.name,
            "target": target,
            "success": tool_result.success,
            "duration_ms": tool_result.duration_ms,
        }
        failure = _parse_failure(tool_call)
        if failure is not None:
            data.update(failure)
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
