"""Store functions that sweep runs nobody will finish: stale running ones and
abandoned waiting ones are marked ``error`` (a stale one whose cancellation was
requested: ``cancelled``) with a ``failure_reason`` and an event, by
compare-and-set, so a run that just finished is never swept.

``find_stale_runs`` and ``find_abandoned_runs`` are the dry runs: the sweeps'
own candidate queries, classified the same way, with nothing written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dendrux.db.engine import Connection, Dialect, Row
from dendrux.state._executor import Executor, lifecycle_write, reading
from dendrux.state.appended import AppendedEvent, append_event, now_utc
from dendrux.types import SweptRun
from dendrux.ulid import new_ulid
from dendrux.validation import encode_json, shift_back


@dataclass(frozen=True, slots=True)
class SweepCandidate:
    """A run a sweep would finish now: what it is, and what it would become."""

    run_id: str
    agent_name: str
    tenant_id: str | None
    status: str
    failure_reason: str
    new_status: str
    last_progress_at: datetime | None
    idle_since: datetime | None
    idle_for: timedelta | None
    checked_at: datetime


def _stale_reason(row: Row) -> str:
    return "stale_running" if row["started"] and row["status"] == "running" else "never_started"


def _abandoned_reason(row: Row) -> str:
    return "abandoned_waiting"


async def _candidates(
    db: Executor, query: str, older_than: timedelta, now: datetime
) -> tuple[list[Row], Dialect, datetime]:
    """The candidate rows of one sweep kind (the shared selection), with the cut-off."""
    cutoff = shift_back("older_than", now, older_than)
    async with reading(db) as conn:
        return await conn.fetch_all(query, cutoff), conn.dialect, cutoff


async def _find(
    db: Executor, query: str, older_than: timedelta, classify: Callable[[Row], str]
) -> list[SweepCandidate]:
    now = now_utc()
    rows, dialect, _ = await _candidates(db, query, older_than, now)
    found = []
    for row in rows:
        idle_since = dialect.read_ts(row["idle_since"])
        found.append(
            SweepCandidate(
                run_id=row["id"],
                agent_name=row["agent_name"],
                tenant_id=row["tenant_id"],
                status=row["status"],
                failure_reason=classify(row),
                new_status="cancelled" if row["cancel_requested"] else "error",
                last_progress_at=dialect.read_ts(row["last_progress_at"]),
                idle_since=idle_since,
                idle_for=None if idle_since is None else now - idle_since,
                checked_at=now,
            )
        )
    return found


async def find_stale_runs(db: Executor, older_than: timedelta) -> list[SweepCandidate]:
    """What `sweep_stale_runs` would sweep now (its own selection), writing nothing."""
    return await _find(db, "stale_run_candidates", older_than, _stale_reason)


async def find_abandoned_runs(db: Executor, older_than: timedelta) -> list[SweepCandidate]:
    """What `sweep_abandoned_runs` would sweep now (its own selection), writing nothing."""
    return await _find(db, "abandoned_run_candidates", older_than, _abandoned_reason)


async def _sweep(
    db: Executor,
    *,
    candidates_query: str,
    sweep_query: str,
    older_than: timedelta,
    classify: Callable[[Row], str],
    stale: bool,
) -> list[SweptRun]:
    now = now_utc()
    candidates, dialect, cutoff = await _candidates(db, candidates_query, older_than, now)
    # SweptRun.status (0.4.1) where the record has it: computed once, not per run.
    has_status = "status" in getattr(SweptRun, "__dataclass_fields__", {})
    swept: list[SweptRun] = []
    for row in candidates:
        reason = classify(row)
        previous = row["status"]
        args: tuple[Any, ...]
        if stale:
            args = (row["id"], previous, reason, f"Run swept as {reason}", now, cutoff)
        else:
            args = (row["id"], previous, reason, now, cutoff)
        # As 0.4.1: a stale run's event is at its iteration, an abandoned run's at 0.
        iteration = (row["iteration_count"] or 0) if stale else 0
        event_id = new_ulid()

        async def work(
            conn: Connection,
            args: tuple[Any, ...] = args,
            reason: str = reason,
            run_id: str = row["id"],
            iteration: int = iteration,
            event_id: str = event_id,
        ) -> str | None:
            status = await conn.fetch_value(sweep_query, *args)
            if status is None:
                return None  # finished, resumed or progressed meanwhile: leave it alone
            if status == "cancelled":  # a stale run whose cancellation was requested
                event_type = "run.cancelled"
                data = {"reason": "cancel_requested", "failure_reason": reason}
            else:
                event_type = "run.interrupted" if stale else "run.abandoned"
                data = {"failure_reason": reason}
            encoded = encode_json("data", data)
            await append_event(
                conn, AppendedEvent(event_id, run_id, event_type, iteration, encoded, now)
            )
            return str(status)

        status = await lifecycle_write(db, "sweep", row["id"], work, atomic=True)
        if status is not None:
            extra: dict[str, Any] = {"status": status} if has_status else {}
            swept.append(
                SweptRun(
                    run_id=row["id"],
                    agent_name=row["agent_name"],
                    previous_status=previous,
                    failure_reason=reason,
                    last_progress_at=dialect.read_ts(row["last_progress_at"]),
                    swept_at=now,
                    **extra,
                )
            )
    return swept


async def sweep_stale_runs(db: Executor, older_than: timedelta) -> list[SweptRun]:
    """Mark running/pending runs without progress for ``older_than`` as error.

    ``failure_reason`` is ``stale_running`` when ``run.started`` was recorded,
    ``never_started`` otherwise; a ``run.interrupted`` event is appended at the
    run's next sequence index. A run whose cancellation was requested becomes
    ``cancelled`` instead, with a ``run.cancelled`` event (``reason``
    ``cancel_requested``), as 0.4.1 does. A run that finishes or progresses
    meanwhile is left alone (compare-and-set), so concurrent sweepers sweep each
    run once.
    """
    return await _sweep(
        db,
        candidates_query="stale_run_candidates",
        sweep_query="sweep_stale_run",
        older_than=older_than,
        classify=_stale_reason,
        stale=True,
    )


async def sweep_abandoned_runs(db: Executor, older_than: timedelta) -> list[SweptRun]:
    """Mark runs waiting (for a client tool, a human, an approval) or paused longer
    than ``older_than`` as error with ``abandoned_waiting`` and a ``run.abandoned``
    event; their error text is left as it was (0.4.1)."""
    return await _sweep(
        db,
        candidates_query="abandoned_run_candidates",
        sweep_query="sweep_abandoned_run",
        older_than=older_than,
        classify=_abandoned_reason,
        stale=False,
    )
