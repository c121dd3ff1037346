"""Plain dataclasses shared by every layer: what an agent loop hands the
recorder (messages, tool calls, LLM responses, usage) and the read records
the state layer returns.

Nothing here touches a database. The loop-side types are duck-typed by the
recorder: any object with the same attributes works. `RunStatus` and the status
sets live in `dendrux.status` (import-light), the delegation records in
`dendrux.read.delegation` (with the read that builds them); both are re-exported
here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from dendrux.read.delegation import DelegationInfo as DelegationInfo
from dendrux.read.delegation import ParentRef as ParentRef
from dendrux.read.delegation import RunBrief as RunBrief
from dendrux.read.delegation import SubtreeSummary as SubtreeSummary
from dendrux.status import STATUS_VALUES as STATUS_VALUES
from dendrux.status import TERMINAL_EVENT_TYPES as TERMINAL_EVENT_TYPES
from dendrux.status import TERMINAL_STATUS_VALUES as TERMINAL_STATUS_VALUES
from dendrux.status import TERMINAL_STATUSES as TERMINAL_STATUSES
from dendrux.status import WAITING_STATUS_VALUES as WAITING_STATUS_VALUES
from dendrux.status import WAITING_STATUSES as WAITING_STATUSES
from dendrux.status import RunStatus as RunStatus
from dendrux.ulid import new_ulid


class Role(StrEnum):
    """Who produced a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


@dataclass(slots=True)
class ToolCall:
    """A tool call the LLM asked for; ``id`` is ours, the provider's id is kept apart."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_ulid)
    provider_tool_call_id: str | None = None


@dataclass(slots=True)
class ToolResult:
    """What running a tool produced; ``payload`` is a JSON string."""

    name: str
    call_id: str
    payload: str
    success: bool = True
    error: str | None = None
    duration_ms: int = 0


@dataclass(slots=True)
class Message:
    """One message of the conversation the agent sees."""

    role: Role | str
    content: str
    tool_calls: list[ToolCall] | None = None
    call_id: str | None = None
    name: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class UsageStats:
    """Token and cost figures of one LLM call or of a whole run."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_tokens: int | None = None

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class LLMResponse:
    """An LLM call's normalised answer plus the raw provider payloads."""

    text: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning: str | None = None
    usage: UsageStats = field(default_factory=UsageStats)
    provider_request: dict[str, Any] | None = None
    provider_response: dict[str, Any] | None = None


# ---------------------------------------------------------------------------
# Read records returned by the state layer (dendrux.state re-exports them).
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class RunRecord:
    """One ``agent_runs`` row as the runtime sees it (no pause data, no PII)."""

    id: str
    agent_name: str
    status: str
    input_data: Any = None
    output_data: Any = None
    answer: Any = None
    error: str | None = None
    iteration_count: int = 0
    model: str | None = None
    strategy: str | None = None
    parent_run_id: str | None = None
    delegation_level: int = 0
    total_input_tokens: int = 0
    total_output_tokens: int = 0
    total_cost_usd: float | None = None
    total_cache_read_tokens: int = 0
    total_cache_creation_tokens: int = 0
    total_reasoning_tokens: int = 0
    meta: dict[str, Any] | None = None
    last_progress_at: datetime | None = None
    failure_reason: str | None = None
    retry_of_run_id: str | None = None
    cancel_requested: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    tenant_id: str | None = None


@dataclass(slots=True)
class TraceRecord:
    """One ``react_traces`` row."""

    id: str
    role: str
    content: str
    order_index: int
    meta: dict[str, Any] | None = None
    created_at: datetime | None = None


@dataclass(slots=True)
class ToolCallReadRecord:
    """One ``tool_calls`` row."""

    id: str
    tool_call_id: str
    provider_tool_call_id: str | None
    tool_name: str
    target: str
    params: dict[str, Any] | None
    result: Any
    success: bool
    duration_ms: int | None
    iteration_index: int | None
    error_message: str | None
    created_at: datetime | None = None


@dataclass(slots=True)
class RunEventRecord:
    """One ``run_events`` row."""

    id: str
    event_type: str
    sequence_index: int
    iteration_index: int
    correlation_id: str | None = None
    data: dict[str, Any] | None = None
    created_at: datetime | None = None


@dataclass(slots=True)
class LLMInteractionRecord:
    """One ``llm_interactions`` row."""

    id: str
    iteration_index: int
    model: str | None = None
    provider: str | None = None
    semantic_request: Any = None
    semantic_response: Any = None
    provider_request: Any = None
    provider_response: Any = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    duration_ms: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    created_at: datetime | None = None


CreateOutcome = Literal["created", "existing_active", "existing_terminal"]


@dataclass(frozen=True, slots=True)
class CreateRunResult:
    """What ``create_run`` did: created a run, or found the idempotent original."""

    run_id: str
    outcome: CreateOutcome
    status: str


@dataclass(frozen=True, slots=True)
class SweptRun:
    """A run a sweep marked as ``error``, with why and when."""

    run_id: str
    agent_name: str
    previous_status: str
    failure_reason: str
    last_progress_at: datetime | None
    swept_at: datetime
