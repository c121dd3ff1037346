"""Store functions for cooperative run control (0.4.1): a pause request, a pause that a
pending cancel beats, the pause and finalize transitions that write their lifecycle
event in the same transaction, and the one read a runner makes at each checkpoint.

Each compare-and-set is one statement; the two ``*_with_event`` functions allocate the
event's index only after their compare-and-set took the row, so no reader sees the new
status before its event, and a lost compare-and-set writes nothing.
"""

from __future__ import annotations

from typing import Any

from dendrux.db.engine import Connection
from dendrux.db.writes import Write, single
from dendrux.state._executor import (
    Executor,
    dialect_of,
    lifecycle_unit,
    lifecycle_write,
    reading,
)
from dendrux.state.appended import AppendedEvent, append_event, now_utc
from dendrux.state.runs import PauseArgs, finalize_args, pause_args
from dendrux.types import PAUSE_REQUEST_META_KEY, RunControl
from dendrux.ulid import new_ulid
from dendrux.validation import (
    check_event_type,
    check_required_id,
    check_statuses,
    check_text,
    encode_json,
)


async def request_pause(db: Executor, run_id: str, *, reason: str | None = None) -> bool:
    """Ask a running run to pause at its next checkpoint; False for any other status or
    a missing run (a request never latches on a run that is not running). ``reason`` is
    kept under ``meta["dendrux.pause_request"]`` for the runner to copy into the pause."""
    run_id = check_required_id("run_id", run_id)
    args = (run_id, check_text("reason", reason, optional=True), PAUSE_REQUEST_META_KEY, now_utc())
    result = await lifecycle_unit(
        db, "request_pause", run_id, single(Write("request_pause", args, "request_pause"))
    )
    return result.values[0] is not None


async def try_pause_run(
    db: Executor,
    run_id: str,
    *,
    status: str,
    pause_data: dict[str, Any],
    iteration_count: int | None = None,
    pii_mapping: dict[str, str] | None = None,
    total_usage: object | None = None,
) -> bool:
    """Pause a running run with no pending cancel, by compare-and-set; False when it lost
    (the caller reloads and honours the winner: a cancel beats a pause). Clears a pause
    request; ``total_usage`` writes the running totals."""
    args = pause_args(run_id, status, pause_data, iteration_count, pii_mapping, total_usage)
    result = await lifecycle_unit(
        db, "try_pause_run", args.run_id, single(Write("try_pause_run", args, "try_pause_run"))
    )
    return result.values[0] is not None


async def pause_with_event(
    db: Executor,
    run_id: str,
    *,
    status: str,
    pause_data: dict[str, Any],
    event_data: dict[str, Any] | None = None,
    iteration_count: int | None = None,
    pii_mapping: dict[str, str] | None = None,
    total_usage: object | None = None,
) -> int | None:
    """`try_pause_run` and its ``run.paused`` event (at the run's next index, iteration
    ``iteration_count`` or 0) in one transaction: the event's index, or None when the
    compare-and-set lost (nothing written)."""
    args = pause_args(run_id, status, pause_data, iteration_count, pii_mapping, total_usage)
    event = AppendedEvent(
        new_ulid(),
        args.run_id,
        "run.paused",
        args.iteration_count or 0,
        encode_json("event_data", event_data),
        args.now,
    )
    return await _transition(db, "pause_with_event", "try_pause_run", args, event)


async def finalize_with_event(
    db: Executor,
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
    """``finalize_run_if_status_in`` and its lifecycle event (at the run's next index,
    iteration 0) in one transaction: the event's index, or None when the
    compare-and-set lost (nothing written). ``failure_reason`` is stored when given."""
    args = finalize_args(
        run_id, status, answer, error, iteration_count, total_usage, pii_mapping, failure_reason
    )
    allowed = check_statuses("allowed_current_statuses", allowed_current_statuses)
    args = args._replace(guard=dialect_of(db).text_list(allowed))
    event = AppendedEvent(
        new_ulid(),
        args.run_id,
        check_event_type("event_type", event_type),
        0,
        encode_json("event_data", event_data),
        args.now,
    )
    return await _transition(db, "finalize_with_event", "finalize_run_if_status_in", args, event)


async def _transition(
    db: Executor, label: str, query: str, args: tuple[Any, ...], event: AppendedEvent
) -> int | None:
    """One compare-and-set ``query`` and, when it took the row, ``event``: one transaction."""

    async def work(conn: Connection) -> int | None:
        if await conn.fetch_value(query, *args) is None:
            return None
        return await append_event(conn, event)

    return await lifecycle_write(db, label, event.run_id, work, atomic=True)


async def get_run_control(db: Executor, run_id: str) -> RunControl:
    """The cancel and pause flags and whether undelivered notes wait, in one read; a
    missing run reads as all False."""
    run_id = check_required_id("run_id", run_id)
    async with reading(db) as conn:
        row = await conn.fetch_one("get_run_control", run_id)
        if row is None:
            return RunControl()
        flag = conn.dialect.read_bool
        r: Any = row  # rows index by position
        return RunControl(flag(r[0]), flag(r[1]), flag(r[2]))


__all__ = [
    "PauseArgs",
    "finalize_with_event",
    "get_run_control",
    "pause_with_event",
    "request_pause",
    "try_pause_run",
]
