"""0.4.1's cooperative control, notes inbox and live usage as `StateStore` methods.

A part of `StateStore` kept in its own file (the class inherits it): each method is
the store function of the same name bound to the store's engine.
"""

from __future__ import annotations

from typing import Any

from dendrux.db.holder import EngineHolder
from dendrux.scope import UNSCOPED, TenantScope
from dendrux.state import control, notes, usage
from dendrux.state.usage import SubtreeRecord, UsageRollup
from dendrux.types import NoteRecord, RunControl


class RunControlMethods(EngineHolder):
    """The methods 0.4.1 added to its state store: pause requests and CAS pauses, the
    notes inbox, and live usage summed from the LLM calls."""

    async def request_pause(self, run_id: str, *, reason: str | None = None) -> bool:
        """See `dendrux.state.control.request_pause`."""
        return await control.request_pause(self._db(), run_id, reason=reason)

    async def try_pause_run(
        self,
        run_id: str,
        *,
        status: str,
        pause_data: dict[str, Any],
        iteration_count: int | None = None,
        pii_mapping: dict[str, str] | None = None,
        total_usage: object | None = None,
    ) -> bool:
        """See `dendrux.state.control.try_pause_run`."""
        return await control.try_pause_run(
            self._db(),
            run_id,
            status=status,
            pause_data=pause_data,
            iteration_count=iteration_count,
            pii_mapping=pii_mapping,
            total_usage=total_usage,
        )

    async def pause_with_event(
        self,
        run_id: str,
        *,
        status: str,
        pause_data: dict[str, Any],
        event_data: dict[str, Any] | None = None,
        iteration_count: int | None = None,
        pii_mapping: dict[str, str] | None = None,
        total_usage: object | None = None,
    ) -> int | None:
        """See `dendrux.state.control.pause_with_event`."""
        return await control.pause_with_event(
            self._db(),
            run_id,
            status=status,
            pause_data=pause_data,
            event_data=event_data,
            iteration_count=iteration_count,
            pii_mapping=pii_mapping,
            total_usage=total_usage,
        )

    async def finalize_with_event(
        self,
        run_id: str,
        *,
        status: str,
        allowed_current_statuses: list[str],
        event_type: str,
        event_data: dict[str, Any] | None = None,
        answer: str | None = None,
        error: str | None = None,
        iteration_count: int | None = None,
        total_usage: object | None = None,
        pii_mapping: dict[str, str] | None = None,
        failure_reason: str | None = None,
    ) -> int | None:
        """See `dendrux.state.control.finalize_with_event`."""
        return await control.finalize_with_event(
            self._db(),
            run_id,
            status=status,
            allowed_current_statuses=allowed_current_statuses,
            event_type=event_type,
            event_data=event_data,
            answer=answer,
            error=error,
            iteration_count=iteration_count,
            total_usage=total_usage,
            pii_mapping=pii_mapping,
            failure_reason=failure_reason,
        )

    async def get_run_control(self, run_id: str) -> RunControl:
        """See `dendrux.state.control.get_run_control`."""
        return await control.get_run_control(self._db(), run_id)

    async def add_note(
        self,
        run_id: str,
        *,
        note_id: str,
        text: str,
        metadata: Any = None,
        tenant_id: TenantScope = UNSCOPED,
    ) -> bool:
        """See `dendrux.state.notes.add_note`."""
        return await notes.add_note(
            self._db(), run_id, note_id=note_id, text=text, metadata=metadata, tenant_id=tenant_id
        )

    async def get_notes(
        self,
        run_id: str,
        *,
        undelivered_only: bool = False,
        tenant_id: TenantScope = UNSCOPED,
    ) -> list[NoteRecord]:
        """See `dendrux.state.notes.get_notes`."""
        return await notes.get_notes(
            self._db(), run_id, undelivered_only=undelivered_only, tenant_id=tenant_id
        )

    async def mark_notes_delivered(
        self, run_id: str, note_ids: list[str], *, iteration: int
    ) -> int:
        """See `dendrux.state.notes.mark_notes_delivered`."""
        return await notes.mark_notes_delivered(self._db(), run_id, note_ids, iteration=iteration)

    # -- live usage ------------------------------------------------------------------

    async def run_usage(self, run_id: str) -> UsageRollup:
        """See `dendrux.state.usage.run_usage`."""
        return await usage.run_usage(self._db(), run_id)

    async def subtree_usage(self, run_id: str) -> UsageRollup:
        """See `dendrux.state.usage.subtree_usage`."""
        return await usage.subtree_usage(self._db(), run_id)

    async def get_subtree(
        self, run_id: str, *, tenant_id: TenantScope = UNSCOPED
    ) -> SubtreeRecord | None:
        """See `dendrux.state.usage.get_subtree`."""
        return await usage.get_subtree(self._db(), run_id, tenant_id=tenant_id)
