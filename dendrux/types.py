"""Plain dataclasses shared by every layer: what an agent loop hands the
recorder (messages, tool calls, LLM responses, usage) and the read records
the state layer returns.

Nothing here touches a database. The loop-side types take dendrux 0.4.1's
fields in 0.4.1's positional order with its defaults, so a loop written for
that release builds them unchanged; the recorder still duck-types them (any
object with the same attributes works). `RunStatus` and the status sets live
in `dendrux.status` (import-light), the delegation records in
`dendrux.read.delegation` (with the read that builds them); both are
re-exported here, as are the errors 0.4.1 exports from this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, TypeAlias

from dendrux.errors import IdempotencyConflictError as IdempotencyConflictError
from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.errors import RunAlreadyActiveError as RunAlreadyActiveError
from dendrux.read.delegation import DelegationInfo as DelegationInfo
from dendrux.read.delegation import ParentRef as ParentRef
from dendrux.read.delegation import RunBrief as RunBrief
from dendrux.read.delegation import SubtreeSummary as SubtreeSummary
from dendrux.read.records import REPLAY_META_KEY as REPLAY_META_KEY
from dendrux.read.records import ReplaySummary as ReplaySummary
from dendrux.scope import UNSCOPED as UNSCOPED
from dendrux.scope import TenantScope as TenantScope
from dendrux.scope import Unscoped as Unscoped
from dendrux.status import PAUSE_STATUS_VALUES as PAUSE_STATUS_VALUES
from dendrux.status import PAUSE_STATUSES as PAUSE_STATUSES
from dendrux.status import STATUS_VALUES as STATUS_VALUES
from dendrux.status import TERMINAL_EVENT_TYPES as TERMINAL_EVENT_TYPES
from dendrux.status import TERMINAL_STATUS_VALUES as TERMINAL_STATUS_VALUES
from dendrux.status import TERMINAL_STATUSES as TERMINAL_STATUSES
from dendrux.status import WAITING_STATUS_VALUES as WAITING_STATUS_VALUES
from dendrux.status import WAITING_STATUSES as WAITING_STATUSES
from dendrux.status import RunStatus as RunStatus
from dendrux.ulid import new_ulid

generate_ulid = new_ulid
"""0.4.1's name for minting a ULID (the same function as `dendrux.ulid.new_ulid`)."""


class Role(StrEnum):
    """Who produced a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class ToolTarget(StrEnum):
    """Where a tool runs: what ``target_lookup`` maps tool names to (``server`` when absent)."""

    SERVER = "server"
    CLIENT = "client"
    HUMAN = "human"
    AGENT = "agent"


PAUSE_REQUEST_META_KEY = "dendrux.pause_request"
"""``agent_runs.meta`` key holding the latest ``request_pause`` reason (0.4.1's key)."""


class GovernanceEventType(StrEnum):
    """The governance event types 0.4.1 emits (a `str` enum, so equal to its value).

    The store takes any event type made of ``[a-z0-9_.]``; these are the named ones,
    for autocompletion and typo-free comparisons.
    """

    POLICY_DENIED = "policy.denied"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_DECIDED = "approval.decided"
    POLICY_SUBSTITUTED = "policy.substituted"
    POLICY_HOOK_ERROR = "policy.hook_error"
    POLICY_HOOK_WARNING = "policy.hook_warning"
    BUDGET_THRESHOLD = "budget.threshold"
    BUDGET_EXCEEDED = "budget.exceeded"
    BUDGET_UNPRICED = "budget.unpriced"
    GUARDRAIL_DETECTED = "guardrail.detected"
    GUARDRAIL_REDACTED = "guardrail.redacted"
    GUARDRAIL_BLOCKED = "guardrail.blocked"
    GUARDRAIL_UNMAPPED_PLACEHOLDER = "guardrail.unmapped_placeholder"
    SKILL_CATALOG_RESOLVED = "skill.catalog_resolved"
    SKILL_ACTIVATED = "skill.activated"
    SKILL_ACTIVATION_FAILED = "skill.activation_failed"
    SKILL_RESOURCE_READ = "skill.resource_read"
    SKILL_SCRIPT_REQUESTED = "skill.script_requested"
    SKILL_SCRIPT_COMPLETED = "skill.script_completed"
    SKILL_SCRIPT_FAILED = "skill.script_failed"
    MCP_CONNECTED = "mcp.connected"
    MCP_ERROR = "mcp.error"
    MCP_TOOLS_SKIPPED = "mcp.tools_skipped"
    PROVIDER_RETRY = "provider.retry"
    INBOX_DELIVERED = "inbox.delivered"
    IMAGE_REJECTED = "image.rejected"
    IMAGE_STATE = "image.state"
    IMAGE_VIEW_CHANGED = "image.view_changed"
    IMAGE_DEGRADED = "image.degraded"
    IMAGE_WARNING = "image.warning"
    GUARDRAIL_IMAGE_UNSCANNED = "guardrail.image_unscanned"


StopReason: TypeAlias = Literal[
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "content_filter",
    "refusal",
    "pause_turn",
    "other",
]
"""Why an LLM call stopped, normalised across providers (None: not reported)."""


@dataclass(frozen=True)
class ToolCall:
    """A tool call the LLM asked for; ``id`` is ours, the provider's id is kept apart.

    When the model's arguments did not parse, ``params`` is empty, ``parse_error``
    says why and ``raw_arguments`` holds the text. The recorder stores the error
    and the text's length, never the text itself.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_ulid)
    provider_tool_call_id: str | None = None
    raw_arguments: str | None = field(default=None, repr=False)
    parse_error: str | None = None


@dataclass(frozen=True)
class ToolResult:
    """What running a tool produced; ``payload`` is a JSON string.

    ``meta`` lands on the ``tool_calls`` row. ``images`` and ``notes`` are carried
    for 0.4.1 loops; images are not stored by this library.
    """

    name: str
    call_id: str
    payload: str
    success: bool = True
    error: str | None = None
    duration_ms: int = 0
    meta: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    images: tuple[Any, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        # Any sequence is accepted, kept as a tuple so the result stays hashable.
        for name in ("images", "notes"):
            value = getattr(self, name)
            if value.__class__ is not tuple:
                if isinstance(value, str | bytes | bytearray) or not hasattr(value, "__iter__"):
                    raise InvalidArgumentTypeError(
                        f"ToolResult.{name} must be a sequence, got {type(value).__name__}"
                    )
                object.__setattr__(self, name, tuple(value))


_PLACEMENTS = ("dynamic", "stable")


@dataclass(frozen=True)
class Message:
    """One message of the conversation the agent sees.

    ``role`` is a `Role` (its string values are accepted and converted). Which of
    ``name``, ``call_id`` and ``tool_calls`` a message may carry depends on it: a
    tool message needs ``name`` and ``call_id``; only an assistant message has
    ``tool_calls``. ``kind`` defaults from the role (``tool_result``, ``system``,
    else ``chat``); ``placement`` is ``dynamic`` or ``stable``. ``parts`` (user
    and tool messages) is carried for 0.4.1 loops, not interpreted here.
    """

    role: Role
    content: str
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    call_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    kind: str = "chat"
    placement: str = "dynamic"
    source: str | None = None
    reasoning: str | None = None
    reasoning_blocks: list[Any] | None = None
    parts: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        role = self.role
        if role.__class__ is not Role:
            if not isinstance(role, str):
                raise InvalidArgumentTypeError(
                    f"Message.role must be a Role, got {type(role).__name__}"
                )
            try:
                role = Role(role)
            except ValueError:
                raise InvalidArgumentError(
                    f"Message.role {role!r} is not a role; expected one of "
                    f"{[r.value for r in Role]}"
                ) from None
            object.__setattr__(self, "role", role)
        if self.placement not in _PLACEMENTS:
            raise InvalidArgumentError(
                f"Message.placement must be 'stable' or 'dynamic', got {self.placement!r}"
            )
        if self.kind == "chat" and role in (Role.TOOL, Role.SYSTEM):
            object.__setattr__(self, "kind", "tool_result" if role is Role.TOOL else "system")
        label = role.value.upper()
        if role is Role.TOOL:
            if not self.name or not self.call_id:
                raise InvalidArgumentError("TOOL messages require name and call_id")
        elif self.name is not None or self.call_id is not None:
            raise InvalidArgumentError(f"{label} messages cannot have name or call_id")
        if self.tool_calls is not None and role is not Role.ASSISTANT:
            raise InvalidArgumentError(f"{label} messages cannot have tool_calls")
        if self.parts is not None:
            if role is not Role.USER and role is not Role.TOOL:
                raise InvalidArgumentError(f"{label} messages cannot have parts")
            if self.parts.__class__ is not tuple:
                if isinstance(self.parts, str | bytes) or not hasattr(self.parts, "__iter__"):
                    raise InvalidArgumentTypeError("Message.parts must be a sequence of parts")
                object.__setattr__(self, "parts", tuple(self.parts))


@dataclass
class UsageStats:
    """Token and cost figures of one LLM call or of a whole run.

    ``total_tokens`` is what the provider reported (0 when it did not), never
    computed. ``cost_usd`` None means unpriced; ``cost_source`` says where a cost
    came from (``provider``, ``table``, ``mixed``). ``usage_reported`` False marks
    counts the provider did not send; ``cost_unknown`` an aggregate with an
    unpriced call in it.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_source: str | None = None
    usage_reported: bool = True
    cost_unknown: bool = False


def _unreported_usage() -> UsageStats:
    return UsageStats(usage_reported=False)


@dataclass
class LLMResponse:
    """An LLM call's normalised answer plus the raw provider payloads.

    ``model`` is the model that served this call (the recorder stores it over its
    run-level default); ``stop_reason`` is normalised, ``raw_stop_reason`` the
    provider's own word; ``reasoning_blocks`` are opaque provider artifacts.
    """

    text: str | None = None
    tool_calls: list[ToolCall] | None = None
    raw: Any = None
    usage: UsageStats = field(default_factory=_unreported_usage)
    provider_request: dict[str, Any] | None = None
    provider_response: dict[str, Any] | None = None
    model: str | None = None
    reasoning: str | None = None
    reasoning_blocks: list[Any] | None = None
    stop_reason: StopReason | None = None
    raw_stop_reason: str | None = None


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
    pause_requested: bool = False


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


@dataclass(frozen=True, slots=True, init=False)
class CreateRunResult:
    """What ``create_run`` did: created a run, or found the idempotent original.

    ``status`` is a `RunStatus` (a `str` enum: it equals its string value); a
    status string given to the constructor is converted.
    """

    run_id: str
    outcome: CreateOutcome
    status: RunStatus

    def __init__(self, run_id: str, outcome: CreateOutcome, status: RunStatus | str) -> None:
        object.__setattr__(self, "run_id", run_id)
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "status", RunStatus(status))


@dataclass(frozen=True, slots=True)
class SweptRun:
    """A run a sweep finished, with why and when: ``status`` is ``error``, or
    ``cancelled`` for a stale run whose cancellation was requested (0.4.1)."""

    run_id: str
    agent_name: str
    previous_status: str
    failure_reason: str
    last_progress_at: datetime | None
    swept_at: datetime
    status: str = "error"


# ---------------------------------------------------------------------------
# Cooperative control and the notes inbox (0.4.1's runtime read models).
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunControl:
    """What a runner checks at each checkpoint, read in one statement; a missing run
    reads as all False (nothing to act on)."""

    cancel_requested: bool = False
    pause_requested: bool = False
    has_pending_notes: bool = False


@dataclass(frozen=True, slots=True)
class NoteRecord:
    """One ``run_inbox`` row as the runtime sees it; the delivery fields stay None
    until the runner handed the note to the model."""

    id: str
    run_id: str
    text: str
    metadata: Any = None
    created_at: datetime | None = None
    delivered_at: datetime | None = None
    delivered_iteration: int | None = None
