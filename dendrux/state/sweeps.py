"""Store functions that sweep runs nobody will finish: stale running ones and
abandoned waiting ones are marked ``error`` with a ``failure_reason`` and an
event, by compare-and-set, so a run that just finished is never swept."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dendrux.db.engine import Connection
from dendrux.state._executor import Executor, lifecycle_write, reading
from dendrux.state.appended import AppendedEvent, append_event, now_utc
from dendrux.types import SweptRun
from dendrux.ulid import new_ulid
from dendrux.validation import encode_json, shift_back


async def _sweep(
    db: Executor,
    *,
    candidates_query: str,
    sweep_query: str,
    older_than: timedelta,
    classify: Any,
    event_type: str,
) -> list[SweptRun]:
    now = now_utc()
    cutoff = shift_back("older_than", now, older_than)
    async with reading(db) as conn:
        candidates = await conn.fetch_all(candidates_query, cutoff)
        dialect = conn.dialect
    swept: list[SweptRun] = []
    for row in candidates:
        reason = classify(row)
        previous = row["status"]
        args = (row["id"], previous, reason, f"run swept as {reason}", now, cutoff)
        event = AppendedEvent(
            new_ulid(),
            row["id"],
            event_type,
            row["iteration_count"] or 0,
            encode_json("data", {"failure_reason": reason}),
            now,
        )

        async def work(conn: Connection, args: Any = args, event: Any = event) -> bool:
            if await conn.fetch_value(sweep_query, *args) is None:
                return False  # finished, resumed or progressed meanwhile: leave it alone
            await append_event(conn, event)
            return True

        if await lifecycle_write(db, "sweep", row["id"], work, atomic=True):
            swept.append(
                SweptRun(
                    run_id=row["id"],
                    agent_name=row["agent_name"],
                    previous_status=previous,
                    failure_reason=reason,
                    last_progress_at=dialect.read_ts(row["last_progress_at"]),
                    swept_at=now,
                )
            )
    return swept


async def sweep_stale_runs(db: Executor, older_than: timedelta) -> list[SweptRun]:
    """Mark running/pending runs without progress for ``older_than`` as error.

    ``failure_reason`` is ``stale_running`` when ``run.started`` was recorded,
    ``never_started`` otherwise; a ``run.interrupted`` event is appended at the
    run's next sequence index. A run that finishes or progresses meanwhile is
    left alone (compare-and-set), so concurrent sweepers sweep each run once.
    """

    def classify(row: Any) -> str:
        return "stale_running" if row["started"] and row["status"] == "running" else "never_started"

    return await _sweep(
        db,
        candidates_query="stale_run_candidates",
        sweep_query="sweep_stale_run",
        older_than=older_than,
        classify=classify,
        event_type="run.interrupted",
    )


async def sweep_abandoned_runs(db: Executor, older_than: timedelta) -> list[SweptRun]:
    """Mark runs waiting (for a client tool, a human, an approval) longer than
    ``older_than`` as error with ``abandoned_waiting`` and a ``run.abandoned`` event."""
    return await _sweep(
        db,
        candidates_query="abandoned_run_candidates",
        sweep_query="sweep_abandoned_run",
        older_than=older_than,
        classify=lambda row: "abandoned_waiting",
        event_type="run.abandoned",
    )
