"""The write side: store functions (`dendrux.state.runs`, `dendrux.state.rows`)
and `StateStore`, which binds them to one engine with the upstream names.

The names below load on first use (module ``__getattr__``), so importing one
submodule does not create every record class and store function of the write
side. The read functions behind both facades live in `dendrux.read`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dendrux.errors import IdempotencyConflictError
    from dendrux.scope import UNSCOPED
    from dendrux.state.retention import PurgeableRun, PurgeResult
    from dendrux.state.store import StateStore
    from dendrux.state.sweeps import SweepCandidate
    from dendrux.state.usage import SubtreeNodeRecord, SubtreeRecord, UsageRollup
    from dendrux.types import (
        CreateRunResult,
        DelegationInfo,
        LLMInteractionRecord,
        NoteRecord,
        ParentRef,
        RunBrief,
        RunControl,
        RunEventRecord,
        RunRecord,
        SubtreeSummary,
        SweptRun,
        ToolCallReadRecord,
        TraceRecord,
    )

_WHERE = {
    "IdempotencyConflictError": "dendrux.errors",
    "PurgeResult": "dendrux.state.retention",
    "PurgeableRun": "dendrux.state.retention",
    "SweepCandidate": "dendrux.state.sweeps",
    "StateStore": "dendrux.state.store",
    "CreateRunResult": "dendrux.types",
    "DelegationInfo": "dendrux.types",
    "LLMInteractionRecord": "dendrux.types",
    "NoteRecord": "dendrux.types",
    "RunControl": "dendrux.types",
    "UNSCOPED": "dendrux.scope",
    "ParentRef": "dendrux.types",
    "RunBrief": "dendrux.types",
    "RunEventRecord": "dendrux.types",
    "RunRecord": "dendrux.types",
    "SubtreeSummary": "dendrux.types",
    "SweptRun": "dendrux.types",
    "ToolCallReadRecord": "dendrux.types",
    "TraceRecord": "dendrux.types",
    "SubtreeNodeRecord": "dendrux.state.usage",
    "SubtreeRecord": "dendrux.state.usage",
    "UsageRollup": "dendrux.state.usage",
}

__all__ = [
    "UNSCOPED",
    "CreateRunResult",
    "DelegationInfo",
    "IdempotencyConflictError",
    "LLMInteractionRecord",
    "NoteRecord",
    "ParentRef",
    "PurgeResult",
    "PurgeableRun",
    "RunBrief",
    "RunControl",
    "RunEventRecord",
    "RunRecord",
    "StateStore",
    "SubtreeNodeRecord",
    "SubtreeRecord",
    "SubtreeSummary",
    "SweepCandidate",
    "SweptRun",
    "ToolCallReadRecord",
    "TraceRecord",
    "UsageRollup",
]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
