"""Reads of ``agent_runs`` as the upstream-named records `StateStore` returns: thin
adapters over `dendrux.read` (one read model, one decoder per statement)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dendrux.read import runs as read_runs
from dendrux.read.delegation import read_delegation_info
from dendrux.read.filters import RunFilters, runs_page
from dendrux.state._executor import Executor, reading
from dendrux.state.rowmap import run_record
from dendrux.types import DelegationInfo, RunRecord
from dendrux.validation import check_required_id


async def get_run(db: Executor, run_id: str) -> RunRecord | None:
    """One run, or None."""
    run_id = check_required_id("run_id", run_id)
    async with reading(db) as conn:
        row = await read_runs.get_run_row(conn, run_id)
        return None if row is None else run_record(row, conn.dialect)


async def next_run_slots(db: Executor, run_id: str) -> tuple[int, int]:
    """Where a run picked up again continues: its next trace order index and next event
    sequence index (one after what the database holds, 0 for none)."""
    async with reading(db) as conn:
        row = await conn.fetch_one("next_run_slots", run_id)
    assert row is not None  # an aggregate always returns its row
    return int(row["next_order_index"]), int(row["next_sequence_index"])


async def list_runs(
    db: Executor,
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
    """Runs newest first (ties by id); filters AND together; limit clamped to 1..1000."""
    filters = RunFilters.check(
        status=status,
        agent_name=agent_name,
        parent_run_id=parent_run_id,
        tenant_id=tenant_id,
        started_after=started_after,
        started_before=started_before,
        metadata_filter=metadata_filter,
    )
    page, skip = runs_page(limit, offset)
    async with reading(db) as conn:
        rows_ = await read_runs.list_run_rows(conn, filters, page, skip)
        return [run_record(row, conn.dialect) for row in rows_]


async def count_runs(
    db: Executor,
    *,
    tenant_id: str | None = None,
    status: str | list[str] | None = None,
    agent_name: str | None = None,
    parent_run_id: str | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
    metadata_filter: dict[str, Any] | None = None,
) -> int:
    """How many runs match the same filters as `list_runs`."""
    filters = RunFilters.check(
        status=status,
        agent_name=agent_name,
        parent_run_id=parent_run_id,
        tenant_id=tenant_id,
        started_after=started_after,
        started_before=started_before,
        metadata_filter=metadata_filter,
    )
    async with reading(db) as conn:
        return await read_runs.count_runs(conn, filters)


async def get_delegation_info(db: Executor, run_id: str) -> DelegationInfo | None:
    """Parent, children, ancestry (root first) and subtree totals of a run; None if missing.

    See `dendrux.read.delegation.read_delegation_info`.
    """
    run_id = check_required_id("run_id", run_id)
    async with reading(db) as conn:
        return await read_delegation_info(conn, run_id)
