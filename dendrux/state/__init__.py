"""The write side: store functions (`dendrux.state.runs`, `dendrux.state.rows`)
and `StateStore`, which binds them to one engine with the upstream names."""

from dendrux.errors import IdempotencyConflictError
from dendrux.state.retention import PurgeResult
from dendrux.state.store import StateStore
from dendrux.types import (
    CreateRunResult,
    DelegationInfo,
    LLMInteractionRecord,
    ParentRef,
    RunBrief,
    RunEventRecord,
    RunRecord,
    SubtreeSummary,
    SweptRun,
    ToolCallReadRecord,
    TraceRecord,
)

__all__ = [
    "CreateRunResult",
    "DelegationInfo",
    "IdempotencyConflictError",
    "LLMInteractionRecord",
    "ParentRef",
    "PurgeResult",
    "RunBrief",
    "RunEventRecord",
    "RunRecord",
    "StateStore",
    "SubtreeSummary",
    "SweptRun",
    "ToolCallReadRecord",
    "TraceRecord",
]
