"""Events a lifecycle operation appends at a run's next sequence index (``cancel_run``
and the sweeps): the index is taken by the statement itself, in the caller's
transaction, so no sequencer is needed and no index is taken twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from dendrux.db.engine import Connection
from dendrux.errors import InvalidArgumentError
from dendrux.validation import INT32_MAX


def now_utc() -> datetime:
    """The time every row of one operation is stamped with."""
    return datetime.now(UTC)


class AppendedEvent(NamedTuple):
    """The parameters of ``append_run_event`` (an event at the run's next index)."""

    row_id: str
    run_id: str
    event_type: str
    iteration_index: int
    data: str | None
    created_at: datetime


async def append_event(conn: Connection, event: AppendedEvent) -> int:
    """``append_run_event``; returns the index it took. Refused, rolling back the
    caller's transaction, when the run's indexes already reach the INTEGER maximum:
    the next one would not fit either dialect's range."""
    index = await conn.fetch_value("append_run_event", *event)
    if index is None:
        raise InvalidArgumentError(
            f"run_id {event.run_id!r}: its events already reach sequence_index {INT32_MAX}, "
            "the largest an INTEGER column holds; no event can follow"
        )
    return int(index)
