"""Retention: delete finished runs and, by cascade, every row they own.

Deletes go in batches, each its own short transaction, so a purge of a big
database never holds the write lock (SQLite) or many row locks (PostgreSQL)
for long, and live runs keep recording while it works.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from dendrux.db.engine import Engine
from dendrux.errors import InvalidArgumentError
from dendrux.state._executor import reading, writing
from dendrux.state.appended import now_utc
from dendrux.types import TERMINAL_STATUS_VALUES
from dendrux.validation import (
    check_aware,
    check_bool,
    check_required_int,
    check_status_filter,
    check_text,
)


@dataclass(frozen=True, slots=True)
class PurgeableRun:
    """A run a purge deletes (or, on a dry run, would)."""

    run_id: str
    agent_name: str
    tenant_id: str | None
    status: str
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """Rows deleted per table (or that would be, on a dry run); a dry run also lists
    the runs, oldest first, in ``runs``."""

    agent_runs: int = 0
    react_traces: int = 0
    tool_calls: int = 0
    token_usage: int = 0
    llm_interactions: int = 0
    run_events: int = 0
    dry_run: bool = False
    runs: tuple[PurgeableRun, ...] = ()

    def as_dict(self) -> dict[str, int]:
        """Counts by table name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_COUNTS}

    def plus(self, row: Any) -> PurgeResult:
        """These counts plus one batch's (a ``count_rows_of_runs`` row)."""
        counts = {name: value + int(row[name]) for name, value in self.as_dict().items()}
        return PurgeResult(**counts, dry_run=self.dry_run, runs=self.runs)


_NOT_COUNTS = frozenset({"dry_run", "runs"})


async def purge_runs(
    db: Engine,
    *,
    before: datetime,
    status: str | list[str] | None = None,
    batch_size: int = 500,
    dry_run: bool = False,
    agent_name: str | None = None,
    tenant_id: str | None = None,
) -> PurgeResult:
    """Delete finished runs last updated before ``before`` (optionally only some
    terminal statuses, one agent, one tenant), with their traces, tool calls, usage,
    interactions and events. Child runs of a purged run keep their rows; their parent
    link is cleared. Returns the rows deleted per table; a dry run deletes nothing and
    lists the runs. ``before`` must be in the past: a cut-off of now or later would
    take runs as they finish."""
    cutoff = check_aware("before", before, optional=False)
    statuses = check_status_filter("status", status)
    if statuses is not None and not set(statuses) <= TERMINAL_STATUS_VALUES:
        raise InvalidArgumentError(
            "status must name finished statuses only "
            f"({sorted(TERMINAL_STATUS_VALUES)}), got {statuses}"
        )
    batch = check_required_int("batch_size", batch_size, minimum=1)
    result = PurgeResult(dry_run=check_bool("dry_run", dry_run))
    agent = check_text("agent_name", agent_name, optional=True)
    tenant = check_text("tenant_id", tenant_id, optional=True)
    now = now_utc()
    if cutoff is None or cutoff >= now:
        raise InvalidArgumentError(
            f"before must be in the past, got {before.isoformat()} (now is "
            f"{now.isoformat(timespec='seconds')}): a purge up to now or later would take "
            "runs as they finish"
        )
    if dry_run:
        async with reading(db) as conn:
            args = (cutoff, conn.dialect.text_list(statuses), agent, tenant)
            read_ts = conn.dialect.read_ts
            runs = tuple(
                PurgeableRun(
                    run_id=row["id"],
                    agent_name=row["agent_name"],
                    tenant_id=row["tenant_id"],
                    status=row["status"],
                    updated_at=read_ts(row["updated_at"]),
                )
                for row in await conn.fetch_all("purgeable_runs", *args)
            )
            # Counted as the real purge counts its batches (and faster than one query
            # over the selection, which SQLite would evaluate once per table).
            result = PurgeResult(runs=runs, dry_run=True)
            for start in range(0, len(runs), batch):
                chunk = conn.dialect.text_list([r.run_id for r in runs[start : start + batch]])
                result = result.plus(await conn.fetch_one("count_rows_of_runs", chunk))
        return result
    while True:
        async with writing(db, atomic=True) as conn:
            selection = (cutoff, conn.dialect.text_list(statuses), agent, tenant)
            ids = [row["id"] for row in await conn.fetch_all("purge_batch", *selection, batch)]
            if not ids:
                return result
            ids_param = conn.dialect.text_list(ids)
            result = result.plus(await conn.fetch_one("count_rows_of_runs", ids_param))
            if not await conn.fetch_all("delete_finished_runs", ids_param):
                return result  # nothing left to take (never loop on the same batch)
