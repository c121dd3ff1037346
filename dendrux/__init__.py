"""dendrux: the audit store for AI-agent runs.

Importing this package must stay cheap and side-effect free: no driver
imports, no I/O, no globals that hold connections. Submodules are imported
by name (``dendrux.db``, ``dendrux.state``, ...). The persistence names that
dendrux 0.4.1 exports from its top level, where this library has them, load
on first use (``from dendrux import RunNotFoundError`` imports only the errors).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.5.0"

_EXPORTS = {
    "CreateRunResult": "dendrux.types",
    "GovernanceEventType": "dendrux.types",
    "StopReason": "dendrux.types",
    "IdempotencyConflictError": "dendrux.errors",
    "RunAlreadyActiveError": "dendrux.errors",
    "RunNotFoundError": "dendrux.errors",
    "SchemaNotInitializedError": "dendrux.errors",
    "SchemaOutOfDateError": "dendrux.errors",
}

__all__ = [
    "CreateRunResult",
    "GovernanceEventType",
    "IdempotencyConflictError",
    "RunAlreadyActiveError",
    "RunNotFoundError",
    "SchemaNotInitializedError",
    "SchemaOutOfDateError",
    "StopReason",
    "__version__",
]

if TYPE_CHECKING:
    from dendrux.errors import (
        IdempotencyConflictError,
        RunAlreadyActiveError,
        RunNotFoundError,
        SchemaNotInitializedError,
        SchemaOutOfDateError,
    )
    from dendrux.types import CreateRunResult, GovernanceEventType, StopReason


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dendrux' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
