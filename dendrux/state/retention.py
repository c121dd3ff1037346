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
from dendrux.types import TERMINAL_STATUS_VALUES
from dendrux.validation import check_aware, check_bool, check_required_int, check_status_filter


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """Rows deleted per table (or that would be, on a dry run)."""

    agent_runs: int = 0
    react_traces: int = 0
    tool_calls: int = 0
    token_usage: int = 0
    llm_interactions: int = 0
    run_events: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, int]:
        """Counts by table name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "dry_run"}

    def plus(self, row: Any) -> PurgeResult:
        """These counts plus one batch's (a ``count_rows_of_runs`` row)."""
        counts = {name: value + int(row[name]) for name, value in self.as_dict().items()}
        return PurgeResult(**counts, dry_run=self.dry_run)


async def purge_runs(
    db: Engine,
    *,
    before: datetime,
    status: str | list[str] | None = None,
    batch_size: int = 500,
    dry_run: bool = False,
) -> PurgeResult:
    """Delete finished runs last updated before ``before`` (optionally only some
    terminal statuses), with their traces, tool calls, usage, interactions and
    events. Child runs of a purged run keep their rows; their parent link is
    cleared. Returns the rows deleted per table."""
    cutoff = check_aware("before", before, optional=False)
    statuses = check_status_filter("status", status)
    if statuses is not None and not set(statuses) <= TERMINAL_STATUS_VALUES:
        raise InvalidArgumentError(
            "status must name finished statuses only "
            f"({sorted(TERMINAL_STATUS_VALUES)}), got {statuses}"
        )
    batch = check_required_int("batch_size", batch_size, minimum=1)
    result = PurgeResult(dry_run=check_bool("dry_run", dry_run))
    offset = 0
    while True:
        if dry_run:
            async with reading(db) as conn:
                args = (cutoff, conn.dialect.text_list(statuses), batch, offset)
                ids = [row["id"] for row in await conn.fetch_all("purgeable_runs", *args)]
                if not ids:
                    return result
                ids_param = conn.dialect.text_list(ids)
                result = result.plus(await conn.fetch_one("count_rows_of_runs", ids_param))
            offset += len(ids)
            continue
        async with writing(db, atomic=True) as conn:
            args = (cutoff, conn.dialect.text_list(statuses), batch, 0)
            ids = [row["id"] for row in await conn.fetch_all("purgeable_runs", *args)]
            if not ids:
                return result
            ids_param = conn.dialect.text_list(ids)
            result = result.plus(await conn.fetch_one("count_rows_of_runs", ids_param))
            await conn.fetch_all("delete_finished_runs", ids_param)
