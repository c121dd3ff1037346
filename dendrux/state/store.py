"""`StateStore`: the store functions bound to one engine, with the upstream
dendrux ``StateStore`` method names and keyword arguments, so it can be
handed to a dendrux-style runtime unchanged. 0.4.1's cooperative control, notes
inbox and live usage methods come from `RunControlMethods` (`store_control`).

Every method is written out (no generated methods) so type checkers and
readers see exactly what exists. The store never reconnects after close().
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dendrux.db import create_engine
from dendrux.state import retention, rows, run_reads, runs, sweeps
from dendrux.state.retention import PurgeResult
from dendrux.state.store_control import RunControlMethods
from dendrux.state.sweeps import SweepCandidate
from dendrux.types import (
    CreateRunResult,
    DelegationInfo,
    LLMInteractionRecord,
    RunEventRecord,
    RunRecord,
    SweptRun,
    ToolCallReadRecord,
    TraceRecord,
)


class StateStore(RunControlMethods):
    """Write side (and the runtime's internal reads) of the audit store."""

    @classmethod
    def from_database_url(cls, database_url: str, **options: Any) -> StateStore:
        """A store owning a new engine for ``database_url``; close() disposes it."""
        return cls(create_engine(database_url, **options), owns_engine=True)

    # -- runs ---------------------------------------------------------------

    async def create_run(
        self,
        run_id: str,
        agent_name: str,
        *,
        input_data: dict[str, Any] | None = None,
        model: str | None = None,
        strategy: str | None = None,
        parent_run_id: str | None = None,
        delegation_level: int = 0,
        tenant_id: str | None = None,
        meta: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        idempotency_fingerprint: str | None = None,
        retry_of_run_id: str | None = None,
    ) -> CreateRunResult:
        """See `dendrux.state.runs.create_run`."""
        return await runs.create_run(
            self._db(),
            run_id,
            agent_name,
            input_data=input_data,
            model=model,
            strategy=strategy,
            parent_run_id=parent_run_id,
            delegation_level=delegation_level,
            tenant_id=tenant_id,
            meta=meta,
            idempotency_key=idempotency_key,
            idempotency_fingerprint=idempotency_fingerprint,
            retry_of_run_id=retry_of_run_id,
        )

    async def finalize_run(
        self,
        run_id: str,
        *,
        status: str,
        answer: str | None = None,
        error: str | None = None,
        iteration_count: int | None = None,
        total_usage: object | None = None,
        expected_current_status: str | None = None,
        pii_mapping: dict[str, str] | None = None,
    ) -> bool:
        """See `dendrux.state.runs.finalize_run`."""
        return await runs.finalize_run(
            self._db(),
            run_id,
            status=status,
            answer=answer,
            error=error,
            iteration_count=iteration_count,
            total_usage=total_usage,
            expected_current_status=expected_current_status,
            pii_mapping=pii_mapping,
        )

    async def finalize_run_if_status_in(
        self,
        run_id: str,
        *,
        status: str,
        allowed_current_statuses: list[str],
        answer: str | None = None,
        error: str | None = None,
        iteration_count: int | None = None,
        total_usage: object | None = None,
        pii_mapping: dict[str, str] | None = None,
    ) -> bool:
        """See `dendrux.state.runs.finalize_run_if_status_in`."""
        return await runs.finalize_run_if_status_in(
            self._db(),
            run_id,
            status=status,
            allowed_current_statuses=allowed_current_statuses,
            answer=answer,
            error=error,
            iteration_count=iteration_count,
            total_usage=total_usage,
            pii_mapping=pii_mapping,
        )

    async def pause_run(
        self,
        run_id: str,
        *,
        status: str,
        pause_data: dict[str, Any],
        iteration_count: int | None = None,
        pii_mapping: dict[str, str] | None = None,
        total_usage: object | None = None,
    ) -> None:
        """See `dendrux.state.runs.pause_run` (None, as 0.4.1's; a terminal or missing
        run is left as it was)."""
        await runs.pause_run(
            self._db(),
            run_id,
            status=status,
            pause_data=pause_data,
            iteration_count=iteration_count,
            pii_mapping=pii_mapping,
            total_usage=total_usage,
        )

    async def get_pause_state(self, run_id: str) -> dict[str, Any] | None:
        """See `dendrux.state.runs.get_pause_state`."""
        return await runs.get_pause_state(self._db(), run_id)

    async def get_pii_mapping(self, run_id: str) -> dict[str, str] | None:
        """See `dendrux.state.runs.get_pii_mapping`."""
        return await runs.get_pii_mapping(self._db(), run_id)

    async def claim_paused_run(self, run_id: str, *, expected_status: str) -> bool:
        """See `dendrux.state.runs.claim_paused_run`."""
        return await runs.claim_paused_run(self._db(), run_id, expected_status=expected_status)

    async def submit_and_claim(
        self, run_id: str, *, expected_status: str, submitted_data: dict[str, Any]
    ) -> bool:
        """See `dendrux.state.runs.submit_and_claim`."""
        return await runs.submit_and_claim(
            self._db(), run_id, expected_status=expected_status, submitted_data=submitted_data
        )

    async def request_cancel(self, run_id: str) -> bool:
        """See `dendrux.state.runs.request_cancel`."""
        return await runs.request_cancel(self._db(), run_id)

    async def cancel_run(
        self,
        run_id: str,
        *,
        sequence_index: int | None = None,
        iteration_index: int = 0,
        reason: str | None = None,
    ) -> bool:
        """See `dendrux.state.runs.cancel_run`."""
        return await runs.cancel_run(
            self._db(),
            run_id,
            sequence_index=sequence_index,
            iteration_index=iteration_index,
            reason=reason,
        )

    async def purge_runs(
        self,
        *,
        before: datetime,
        status: str | list[str] | None = None,
        batch_size: int = 500,
        dry_run: bool = False,
        agent_name: str | None = None,
        tenant_id: str | None = None,
    ) -> PurgeResult:
        """See `dendrux.state.retention.purge_runs`."""
        return await retention.purge_runs(
            self._db(),
            before=before,
            status=status,
            batch_size=batch_size,
            dry_run=dry_run,
            agent_name=agent_name,
            tenant_id=tenant_id,
        )

    async def is_cancel_requested(self, run_id: str) -> bool:
        """See `dendrux.state.runs.is_cancel_requested`."""
        return await runs.is_cancel_requested(self._db(), run_id)

    async def touch_progress(self, run_id: str) -> None:
        """See `dendrux.state.runs.touch_progress`."""
        await runs.touch_progress(self._db(), run_id)

    async def get_run(self, run_id: str) -> RunRecord | None:
        """See `dendrux.state.run_reads.get_run`."""
        return await run_reads.get_run(self._db(), run_id)

    async def list_runs(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        tenant_id: str | None = None,
        status: str | list[str] | None = None,
        agent_name: str | None = None,
        parent_run_id: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> list[RunRecord]:
        """See `dendrux.state.run_reads.list_runs`."""
        return await run_reads.list_runs(
            self._db(),
            limit=limit,
            offset=offset,
            tenant_id=tenant_id,
            status=status,
            agent_name=agent_name,
            parent_run_id=parent_run_id,
            started_after=started_after,
            started_before=started_before,
            metadata_filter=metadata_filter,
        )

    async def count_runs(
        self,
        *,
        tenant_id: str | None = None,
        status: str | list[str] | None = None,
        agent_name: str | None = None,
        parent_run_id: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> int:
        """See `dendrux.state.run_reads.count_runs`."""
        return await run_reads.count_runs(
            self._db(),
            tenant_id=tenant_id,
            status=status,
            agent_name=agent_name,
            parent_run_id=parent_run_id,
            started_after=started_after,
            started_before=started_before,
            metadata_filter=metadata_filter,
        )

    async def sweep_stale_runs(self, older_than: timedelta) -> list[SweptRun]:
        """See `dendrux.state.sweeps.sweep_stale_runs`."""
        return await sweeps.sweep_stale_runs(self._db(), older_than)

    async def sweep_abandoned_runs(self, older_than: timedelta) -> list[SweptRun]:
        """See `dendrux.state.sweeps.sweep_abandoned_runs`."""
        return await sweeps.sweep_abandoned_runs(self._db(), older_than)

    async def find_stale_runs(self, older_than: timedelta) -> list[SweepCandidate]:
        """See `dendrux.state.sweeps.find_stale_runs` (the dry run of `sweep_stale_runs`)."""
        return await sweeps.find_stale_runs(self._db(), older_than)

    async def find_abandoned_runs(self, older_than: timedelta) -> list[SweepCandidate]:
        """See `dendrux.state.sweeps.find_abandoned_runs` (the dry run of
        `sweep_abandoned_runs`)."""
        return await sweeps.find_abandoned_runs(self._db(), older_than)

    async def get_delegation_info(self, run_id: str) -> DelegationInfo | None:
        """See `dendrux.state.run_reads.get_delegation_info`."""
        return await run_reads.get_delegation_info(self._db(), run_id)

    # -- per-run rows ---------------------------------------------------------

    async def save_trace(
        self,
        run_id: str,
        role: str,
        content: str,
        *,
        order_index: int,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """See `dendrux.state.rows.save_trace`."""
        await rows.save_trace(self._db(), run_id, role, content, order_index=order_index, meta=meta)

    async def save_tool_call(
        self,
        run_id: str,
        *,
        tool_call_id: str,
        provider_tool_call_id: str | None,
        tool_name: str,
        target: str,
        params: dict[str, Any] | None,
        result_payload: str | None,
        success: bool,
        duration_ms: int | None,
        iteration_index: int,
        error_message: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """See `dendrux.state.rows.save_tool_call`."""
        await rows.save_tool_call(
            self._db(),
            run_id,
            tool_call_id=tool_call_id,
            provider_tool_call_id=provider_tool_call_id,
            tool_name=tool_name,
            target=target,
            params=params,
            result_payload=result_payload,
            success=success,
            duration_ms=duration_ms,
            iteration_index=iteration_index,
            error_message=error_message,
            meta=meta,
        )

    async def save_usage(
        self,
        run_id: str,
        *,
        iteration_index: int,
        usage: object,
        model: str | None = None,
        provider: str | None = None,
        duration_ms: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """See `dendrux.state.rows.save_usage`."""
        await rows.save_usage(
            self._db(),
            run_id,
            iteration_index=iteration_index,
            usage=usage,
            model=model,
            provider=provider,
            duration_ms=duration_ms,
            meta=meta,
        )

    async def save_llm_interaction(
        self,
        run_id: str,
        *,
        iteration_index: int,
        usage: object,
        model: str | None = None,
        provider: str | None = None,
        duration_ms: int | None = None,
        semantic_request: dict[str, Any] | None = None,
        semantic_response: dict[str, Any] | None = None,
        provider_request: dict[str, Any] | None = None,
        provider_response: dict[str, Any] | None = None,
        guardrail_findings: Any = None,
        interaction_id: str | None = None,
    ) -> None:
        """See `dendrux.state.rows.save_llm_interaction`."""
        await rows.save_llm_interaction(
            self._db(),
            run_id,
            iteration_index=iteration_index,
            usage=usage,
            model=model,
            provider=provider,
            duration_ms=duration_ms,
            semantic_request=semantic_request,
            semantic_response=semantic_response,
            provider_request=provider_request,
            provider_response=provider_response,
            guardrail_findings=guardrail_findings,
            interaction_id=interaction_id,
        )

    async def save_run_event(
        self,
        run_id: str,
        *,
        event_type: str,
        sequence_index: int = 0,
        iteration_index: int = 0,
        correlation_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """See `dendrux.state.rows.save_run_event`."""
        await rows.save_run_event(
            self._db(),
            run_id,
            event_type=event_type,
            sequence_index=sequence_index,
            iteration_index=iteration_index,
            correlation_id=correlation_id,
            data=data,
        )

    async def get_next_event_sequence(self, run_id: str) -> int:
        """See `dendrux.state.rows.get_next_event_sequence`."""
        return await rows.get_next_event_sequence(self._db(), run_id)

    async def get_traces(
        self, run_id: str, *, limit: int | None = None, offset: int = 0
    ) -> list[TraceRecord]:
        """See `dendrux.state.rows.get_traces`."""
        return await rows.get_traces(self._db(), run_id, limit=limit, offset=offset)

    async def get_tool_calls(
        self,
        run_id: str,
        *,
        iteration_index: int | None = None,
        limit: int | None = None,
        offset: int = 0,
        before: datetime | None = None,
    ) -> list[ToolCallReadRecord]:
        """See `dendrux.state.rows.get_tool_calls`."""
        return await rows.get_tool_calls(
            self._db(),
            run_id,
            iteration_index=iteration_index,
            limit=limit,
            offset=offset,
            before=before,
        )

    async def get_llm_interactions(
        self,
        run_id: str,
        *,
        iteration_index: int | None = None,
        limit: int | None = None,
        offset: int = 0,
        before: datetime | None = None,
    ) -> list[LLMInteractionRecord]:
        """See `dendrux.state.rows.get_llm_interactions`."""
        return await rows.get_llm_interactions(
            self._db(),
            run_id,
            iteration_index=iteration_index,
            limit=limit,
            offset=offset,
            before=before,
        )

    async def get_run_events(
        self,
        run_id: str,
        *,
        after_sequence_index: int | None = None,
        limit: int | None = None,
        event_types: list[str] | None = None,
        before: datetime | None = None,
    ) -> list[RunEventRecord]:
        """See `dendrux.state.rows.get_run_events`."""
        return await rows.get_run_events(
            self._db(),
            run_id,
            after_sequence_index=after_sequence_index,
            limit=limit,
            event_types=event_types,
            before=before,
        )
