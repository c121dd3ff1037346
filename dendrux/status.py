"""Run statuses: the enum, and the terminal, waiting and pause sets as members and as
plain strings (as rows and arguments carry them); and, from `dendrux.events`, the
event types that end or pause a run. The one home of each set: the read side, HTTP
and the CLI import them here.

``paused`` (0.4.1's cooperative pause) is neither terminal nor waiting: nothing
outside the run is awaited, a resume call continues it. It is a pause status, with
the three waiting ones: a run parked with its resume state.

Kept apart from `dendrux.types` so that argument checks and the read side can use
it without creating that module's dataclasses (import time). `dendrux.types`
re-exports every name here.
"""

from __future__ import annotations

from enum import StrEnum

from dendrux.events import PAUSE_EVENT_TYPES as PAUSE_EVENT_TYPES
from dendrux.events import TERMINAL_EVENT_TYPES as TERMINAL_EVENT_TYPES


class RunStatus(StrEnum):
    """Lifecycle status of a run (0.4.1's members, in its order); the last four are terminal."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING_CLIENT_TOOL = "waiting_client_tool"
    WAITING_HUMAN_INPUT = "waiting_human_input"
    WAITING_APPROVAL = "waiting_approval"
    PAUSED = "paused"
    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"
    MAX_ITERATIONS = "max_iterations"

    @property
    def is_terminal(self) -> bool:
        """True for statuses a run never leaves."""
        return self in TERMINAL_STATUSES

    @property
    def is_waiting(self) -> bool:
        """True while the run waits for a client tool, a human or an approval."""
        return self in WAITING_STATUSES

    @property
    def is_paused(self) -> bool:
        """True for a run parked with its resume state (waiting, or cooperatively paused)."""
        return self in PAUSE_STATUSES


TERMINAL_STATUSES = frozenset(
    {RunStatus.SUCCESS, RunStatus.ERROR, RunStatus.CANCELLED, RunStatus.MAX_ITERATIONS}
)
WAITING_STATUSES = frozenset(
    {RunStatus.WAITING_CLIENT_TOOL, RunStatus.WAITING_HUMAN_INPUT, RunStatus.WAITING_APPROVAL}
)
PAUSE_STATUSES = WAITING_STATUSES | {RunStatus.PAUSED}
"""Every status a run is parked in with its resume state (``pause_run`` takes these)."""
STATUS_VALUES = frozenset(s.value for s in RunStatus)
"""Every status as a plain string."""
TERMINAL_STATUS_VALUES = frozenset(s.value for s in TERMINAL_STATUSES)
"""The terminal statuses as plain strings, as rows and arguments carry them."""
WAITING_STATUS_VALUES = frozenset(s.value for s in WAITING_STATUSES)
"""The waiting statuses as plain strings."""
PAUSE_STATUS_VALUES = frozenset(s.value for s in PAUSE_STATUSES)
"""The pause statuses (waiting, and ``paused``) as plain strings."""
