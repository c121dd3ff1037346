"""The run-event vocabulary: every event type this library writes or names, with what
it means and what its ``data`` holds. One table, so the router, the command line, the
dashboard and the README's table cannot drift apart (a test holds the README to it).

The store accepts any event type made of ``[a-z0-9_.]``; a type not listed here is
shown with its family guessed from the part before the first dot. Names, payload keys
and who writes each lifecycle event follow dendrux 0.4.1's runner, so a timeline
written by either reads the same.

Import-light on purpose (no dataclass machinery beyond one frozen class, no other
dendrux module): `dendrux.status` derives the terminal and pause sets from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, TypeAlias

EventFamily: TypeAlias = Literal[
    "lifecycle", "recorder", "approval", "policy", "budget", "guardrail", "skill",
    "mcp", "provider", "inbox", "image", "other",
]  # fmt: skip
"""How an event is grouped and coloured on every surface."""


@dataclass(frozen=True, slots=True)
class EventType:
    """One entry of the vocabulary."""

    name: str
    family: EventFamily
    meaning: str
    data: str
    """The keys of the event's ``data``, as prose (``-`` when it carries none)."""
    terminal: bool = False
    """A run's timeline ends with it (a follower may stop after one)."""


_L: EventFamily = "lifecycle"
EVENT_TYPES: tuple[EventType, ...] = (
    EventType("run.started", _L, "the run began", "agent_name, system_prompt (when known)"),
    EventType(
        "run.paused",
        _L,
        "the run parked, waiting for a client tool, a human, an approval or a resume",
        "status, pending_tool_calls [{id, name, target, params}], reason, message, "
        "exceeded (when a budget paused it)",
    ),
    EventType(
        "run.resumed",
        _L,
        "the run continued after a pause",
        "resumed_from, submitted_results [{call_id, name, success}] or user_input",
    ),
    EventType(
        "run.completed",
        _L,
        "the run finished (success or max_iterations)",
        "status, stop_reason, truncated",
        terminal=True,
    ),
    EventType("run.error", _L, "the run failed", "error (first 500 characters)", terminal=True),
    EventType(
        "run.cancelled",
        _L,
        "the run was cancelled",
        "reason (cancel_requested, task_cancelled, budget_exceeded, or the caller's), "
        "exceeded, interrupted, partial_output (when they apply)",
        terminal=True,
    ),
    EventType(
        "run.interrupted",
        _L,
        "a sweep marked a running run that stopped making progress as error",
        "failure_reason (stale_running, never_started)",
        terminal=True,
    ),
    EventType(
        "run.abandoned",
        _L,
        "a sweep marked a run left waiting for input as error",
        "failure_reason (abandoned_waiting)",
        terminal=True,
    ),
    EventType(
        "llm.completed",
        "recorder",
        "an LLM call returned (its correlation id is the llm_interactions row id)",
        "input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens, "
        "reasoning_tokens, cost_usd, model, has_tool_calls",
    ),
    EventType(
        "tool.completed",
        "recorder",
        "a tool call finished (its correlation id is the tool call id)",
        "tool_name, target, success, duration_ms",
    ),
    EventType(
        "approval.requested",
        "approval",
        "a tool call waits for approval (correlation id: the tool call id)",
        "tool_name, call_id, reason, source (hook, when a policy hook asked)",
    ),
    EventType(
        "approval.decided",
        "approval",
        "approvals were granted or denied",
        "decision (approved, rejected, mixed), run_id, "
        "decisions [{call_id, tool_name, decision, reason}]",
    ),
    EventType(
        "policy.denied",
        "policy",
        "a policy refused a tool call",
        "tool_name, call_id, reason, source (hook, when a policy hook denied)",
    ),
    EventType(
        "policy.substituted",
        "policy",
        "a policy hook supplied a tool call's result",
        "tool_name, call_id",
    ),
    EventType(
        "policy.hook_error",
        "policy",
        "a policy hook raised (the call is denied)",
        "tool_name, call_id, error_type",
    ),
    EventType(
        "policy.hook_warning",
        "policy",
        "a policy hook's decision was not applied",
        "tool_name, call_id, warning",
    ),
    EventType(
        "budget.threshold",
        "budget",
        "spend crossed a budget warning threshold",
        "metric (tokens, cost_usd), fraction, used, max, reason",
    ),
    EventType(
        "budget.exceeded",
        "budget",
        "spend reached the budget",
        "metric, used, max, reason, action (warn, pause, cancel)",
    ),
    EventType(
        "budget.unpriced",
        "budget",
        "a cost budget met a call with no price",
        "metric, used, max, unpriced_calls, known_cost_usd",
    ),
    EventType(
        "guardrail.detected",
        "guardrail",
        "a guardrail found something",
        "direction, findings_count, entities",
    ),
    EventType(
        "guardrail.redacted", "guardrail", "a guardrail redacted text", "direction, entities"
    ),
    EventType("guardrail.blocked", "guardrail", "a guardrail blocked the call", "direction, error"),
    EventType(
        "guardrail.unmapped_placeholder",
        "guardrail",
        "the answer holds PII placeholders with no mapping",
        "placeholders",
    ),
    EventType(
        "guardrail.image_unscanned", "guardrail", "images went to the model unscanned", "count"
    ),
    EventType(
        "skill.catalog_resolved",
        "skill",
        "the skill catalog was resolved",
        "delivery, skills, denied",
    ),
    EventType("skill.activated", "skill", "a skill was activated", "name, digest, origin"),
    EventType(
        "skill.activation_failed",
        "skill",
        "a skill failed to activate",
        "name, reason (denied, not_found)",
    ),
    EventType(
        "skill.resource_read",
        "skill",
        "a skill's resource was read",
        "name, path, chars, truncated",
    ),
    EventType(
        "skill.script_requested", "skill", "a skill's script was asked for", "name, path, argc"
    ),
    EventType(
        "skill.script_completed",
        "skill",
        "a skill's script finished",
        "name, path, exit_code, duration_ms, stdout_chars, stderr_chars, truncated",
    ),
    EventType("skill.script_failed", "skill", "a skill's script failed", "name, path, error_type"),
    EventType(
        "mcp.connected",
        "mcp",
        "an MCP server connected",
        "source_name, namespace, tool_count, tool_names",
    ),
    EventType(
        "mcp.error",
        "mcp",
        "an MCP server failed",
        "source_name, namespace, error, error_type, code, failure_mode, reason (when known)",
    ),
    EventType("mcp.tools_skipped", "mcp", "MCP tools were skipped", "skipped"),
    EventType(
        "provider.retry",
        "provider",
        "the LLM provider call was retried",
        "status_code, endpoint, attempt, retry_after",
    ),
    EventType(
        "inbox.delivered",
        "inbox",
        "a note from the inbox reached the model (correlation id: the note id)",
        "note_id",
    ),
    EventType(
        "image.rejected",
        "image",
        "the provider rejected an image",
        "image_id, sha256, tenant_scope, provider, model, status_code, located, retried",
    ),
    EventType(
        "image.state",
        "image",
        "image descriptions, verdicts and placeholders were recorded",
        "tenant_scope, described, guardrail_verdicts, placeholders",
    ),
    EventType(
        "image.view_changed",
        "image",
        "older images left the model's view",
        "epoch, dropped_through, visible",
    ),
    EventType(
        "image.degraded", "image", "images were replaced by placeholders", "reason, count, slots"
    ),
    EventType("image.warning", "image", "an image warning", "warning"),
)
"""Every named event type, lifecycle first, in the order the README's table lists them."""

EVENT_VOCABULARY = MappingProxyType({entry.name: entry for entry in EVENT_TYPES})
"""Event type name -> its entry."""

_FAMILIES: frozenset[str] = frozenset(EventFamily.__args__)  # type: ignore[attr-defined]


def describe(event_type: str) -> EventType:
    """The entry for a type; for one not in the vocabulary, an entry whose family is the
    part before the first dot when that names a family (``guardrail.custom``), else
    ``other``."""
    known = EVENT_VOCABULARY.get(event_type)
    if known is not None:
        return known
    prefix = event_type.split(".", 1)[0]
    family: EventFamily = prefix if prefix in _FAMILIES else "other"  # type: ignore[assignment]
    return EventType(event_type, family, "", "")


RUN_STARTED = "run.started"
RUN_PAUSED = "run.paused"
RUN_RESUMED = "run.resumed"
RUN_COMPLETED = "run.completed"
RUN_ERROR = "run.error"
RUN_CANCELLED = "run.cancelled"
RUN_INTERRUPTED = "run.interrupted"
RUN_ABANDONED = "run.abandoned"
LLM_COMPLETED = "llm.completed"
TOOL_COMPLETED = "tool.completed"

TERMINAL_EVENT_TYPES = frozenset(entry.name for entry in EVENT_TYPES if entry.terminal)
"""The event types that end a run's timeline (a follower may stop after one)."""
PAUSE_EVENT_TYPES = (RUN_PAUSED, RUN_RESUMED)
"""The events `RunStore.get_pauses` pairs up."""
