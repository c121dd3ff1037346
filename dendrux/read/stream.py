"""Following runs live: one run (`follow_events`) or every run (`follow_all_events`).

Why a follower can skip, and the rule that stops it. Indexes are taken before
their transaction commits (the recorder's `EventSequencer`, ``append_run_event``
in a sweep or another process), so two writers of one run can commit index 7
before index 6. A follower that advanced its cursor to 7 would never see 6. So a
follower delivers only the gap-free run of indexes after its cursor and holds
back everything past the first missing index (a *hole*). A hole is released when
it fills (the held rows follow at once, in order), or when it is known empty:

- it has been seen for at least ``grace`` seconds (1 s on PostgreSQL; 5 s on
  SQLite, the default busy timeout, as a writer waiting for the file's write lock
  is invisible), covering a writer that took its index but has not yet written it; and
- every writer that could still be mid-way has finished: on PostgreSQL, every
  transaction that held a transaction id when the hole was first seen has ended
  (``pg_locks``: each holds a lock on its own id; the snapshot's xmin/xmax miss a
  running id at or past xmax), and the hole is re-read after that; on SQLite the
  hole is re-read inside a write transaction, which no other writer (in any
  process) can be inside. (On a hot standby the primary's transactions are not
  listed: the grace alone applies there.)

A hole is released regardless after ``limit`` seconds (a writer stuck inside an
open transaction), with one warning; a rolled-back write (a hole that never
fills) therefore costs a follower ``grace`` seconds, at most ``limit``. An event
whose writer took longer than that lands in the table (every read shows it) but
is not delivered late to a live follower: order is never broken, nothing is
delivered twice. The common case costs one comparison per page, not per row.

A follower rides out a lost server: a transient failure logs one warning, the
read is retried with backoff (0.1 s doubling to 5 s) from the same cursor, and
the LISTEN wake-up is subscribed again once the server answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dendrux.db.engine import Connection, Engine, RunEventWakeups
from dendrux.errors import DendruxError, TransientDatabaseError
from dendrux.read.filters import STREAM_PAGE
from dendrux.read.records import StoredEvent
from dendrux.status import TERMINAL_EVENT_TYPES

logger = logging.getLogger("dendrux.read.stream")

GAP_GRACE_S = 1.0
"""How long a missing index is waited for once nothing older is in flight (PostgreSQL)."""
SQLITE_GAP_GRACE_S = 5.0
"""The same on SQLite, where a writer waiting for the file's write lock cannot be seen
from outside: the default busy timeout, after which such a writer has failed anyway."""
GAP_LIMIT_S = 30.0
"""How long a missing index is waited for at most (a writer stuck in a transaction)."""
GAP_RECHECK_S = 0.05
"""How often a held hole is re-read (wake-ups aside)."""
BACKOFF_S = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0)
"""Waits between reads while the database is unreachable (the last one repeats)."""
FIREHOSE_LOOKBACK_S = 60.0
"""How far behind the newest event the firehose looks for runs with new events: an
event committed later than this after its ``created_at`` is not found by it."""
_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ID_CLOCK_SLACK = timedelta(seconds=1)
"""An event's id (a ULID) and its ``created_at`` are minted by its writer moments apart."""


def ulid_floor(at: datetime) -> str:
    """The lowest ULID of ``at``'s millisecond: ids at or above it were minted then or later."""
    ms = max(0, int(at.timestamp() * 1000))
    head = "".join(_ULID_ALPHABET[(ms >> shift) & 31] for shift in range(45, -5, -5))
    return head + "0" * 16


FIREHOSE_COLUMNS = ("agent_run_id", "first_index", "last_index", "first_at")
"""``firehose_runs``: a run with events created after a time, its lowest and highest such
index, and the earliest such time."""


@dataclass(slots=True)
class _Hole:
    index: int
    seen: float
    fence: list[str] | None  # PostgreSQL: the transactions holding an id at first sight
    grace: float
    due: bool = False  # past its grace: `RunFollower.settle` decides


class RunFollower:
    """One run's cursor and held hole: `step` reads once and says what is safe to
    deliver; `settle`, when `due`, decides a hole past its grace (on its own
    connection: a single-connection engine's one lease is returned by then)."""

    __slots__ = ("cursor", "grace", "hole", "limit", "run_id")

    def __init__(self, run_id: str, cursor: int | None, grace: float | None, limit: float) -> None:
        self.run_id = run_id
        self.cursor = cursor
        self.grace = grace
        self.limit = limit
        self.hole: _Hole | None = None

    @property
    def due(self) -> bool:
        """A held hole is past its grace: call `settle` (outside any lease)."""
        return self.hole is not None and self.hole.due

    async def step(self, conn: Connection) -> tuple[list[StoredEvent], bool]:
        """(events to deliver now, in order; whether to read again at once)."""
        from dendrux.read.rows import get_events

        page = await get_events(conn, self.run_id, self.cursor, STREAM_PAGE)
        if not page:
            self.hole = None
            return page, False
        # Indexes start at 0: any cursor below it waits for index 0 first.
        expected = (-1 if self.cursor is None or self.cursor < -1 else self.cursor) + 1
        first, count = page[0].sequence_index, len(page)
        if first == expected and page[-1].sequence_index - first == count - 1:
            self.hole, self.cursor = None, page[-1].sequence_index  # the common case
            return page, count == STREAM_PAGE
        if first == expected:  # deliver up to the hole; the next read holds it
            low, high = 0, count - 1  # indexes rise strictly: find the first jump
            while low < high:
                mid = (low + high + 1) // 2
                if page[mid].sequence_index - first == mid:
                    low = mid
                else:
                    high = mid - 1
            self.hole, self.cursor = None, page[low].sequence_index
            return page[: low + 1], True
        return [], await self._hold(conn, expected, first)

    async def _hold(self, conn: Connection, expected: int, first: int) -> bool:
        """Hold the hole before ``first``; True once it is released (read again now)."""
        now = time.monotonic()
        hole = self.hole
        if hole is None or hole.index != expected:
            writers = await conn.fetch_value("stream_writers")
            fence = None if writers is None else list(writers)
            grace = self.grace
            if grace is None:
                grace = SQLITE_GAP_GRACE_S if fence is None else GAP_GRACE_S
            self.hole = _Hole(expected, now, fence, grace)
            return False
        waited = now - hole.seen
        if waited < self.limit:
            hole.due = waited >= hole.grace
            return False
        logger.warning(
            "run %s: event index %d still missing after %.0f s; following on past it",
            self.run_id,
            expected,
            waited,
        )
        self.hole, self.cursor = None, first - 1
        return True

    async def settle(self, engine: Engine) -> bool:
        """Release a due hole once no writer that could fill it is mid-way and a read
        after that still misses it (up to the next index present); True when released
        (read again now). A hole filled meanwhile is simply dropped: the next step
        delivers it."""
        from dendrux.read.rows import get_events

        hole = self.hole
        if hole is None or not hole.due:
            return False
        hole.due = False
        if hole.fence is not None:
            async with engine.connect() as conn:
                if hole.fence and await conn.fetch_value("stream_writers_running", hole.fence):
                    return False  # a transaction running at the first sight still runs
                after = await get_events(conn, self.run_id, self.cursor, 1)
        else:
            try:
                async with engine.transaction() as tx:  # waits out another writer
                    after = await get_events(tx, self.run_id, self.cursor, 1)
            except TransientDatabaseError:
                raise  # the follower's outage handling
            except DendruxError:  # a read-only file: the limit alone applies
                return False
        if not after or after[0].sequence_index == hole.index:
            self.hole = None
            return False
        self.hole, self.cursor = None, after[0].sequence_index - 1
        return True


class _Outage:
    """One warning per outage, and the backoff between reads meanwhile."""

    __slots__ = ("failures", "what")

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0

    async def failed(self, exc: TransientDatabaseError) -> None:
        if self.failures == 0:
            logger.warning("%s: database unreachable (%s); reconnecting", self.what, exc)
        await asyncio.sleep(BACKOFF_S[min(self.failures, len(BACKOFF_S) - 1)])
        self.failures += 1

    def recovered(self) -> bool:
        if self.failures == 0:
            return False
        logger.info("%s: database reachable again; resuming from the cursor", self.what)
        self.failures = 0
        return True


async def _subscribe(
    engine: Engine, key: str
) -> tuple[RunEventWakeups | None, asyncio.Event | None]:
    """The engine's wake-ups for ``key`` (None, None where readers poll or it is down)."""
    try:
        wakeups = await engine.run_event_wakeups()
    except TransientDatabaseError:
        return None, None
    return wakeups, (wakeups.subscribe(key) if wakeups is not None else None)


async def follow_events(
    engine_of: Callable[[], Engine],
    run_id: str,
    cursor: int | None,
    interval: float,
    *,
    until_terminal: bool = False,
    grace: float | None = None,
    limit: float | None = None,
) -> AsyncGenerator[StoredEvent, None]:
    """Every committed event of a run after ``cursor``, once and in index order (the
    hole rule above); never ends on its own unless ``until_terminal``, which ends
    after a terminal event. Between reads it waits for the engine's wake-up
    (PostgreSQL LISTEN/NOTIFY) or polls every ``interval`` seconds. ``engine_of`` is
    asked for the engine before every read, so a facade closed meanwhile stops the
    loop with its own error. ``grace``/``limit``: the hole rule's (module defaults)."""
    limit = GAP_LIMIT_S if limit is None else limit
    follower = RunFollower(run_id, cursor, grace, limit)
    outage = _Outage(f"following run {run_id}")
    wakeups, wakeup = await _subscribe(engine_of(), run_id)
    try:
        while True:
            if wakeup is not None:
                wakeup.clear()  # before reading: a commit after the read sets it again
            engine = engine_of()
            try:
                async with engine.connect() as conn:
                    events, again = await follower.step(conn)
                if follower.due:
                    again = await follower.settle(engine) or again
            except TransientDatabaseError as exc:
                await outage.failed(exc)
                continue
            if outage.recovered():
                if wakeups is not None and wakeup is not None:
                    wakeups.unsubscribe(run_id, wakeup)
                wakeups, wakeup = await _subscribe(engine, run_id)
            if until_terminal:
                for event in events:
                    yield event
                    if event.event_type in TERMINAL_EVENT_TYPES:
                        return
            else:
                for event in events:
                    yield event
            if again:
                continue
            wait = interval if follower.hole is None else min(interval, GAP_RECHECK_S)
            if wakeup is None:
                await asyncio.sleep(wait)
                continue
            with suppress(TimeoutError):  # the poll fallback
                await asyncio.wait_for(wakeup.wait(), wait)
    finally:
        if wakeups is not None and wakeup is not None:
            wakeups.unsubscribe(run_id, wakeup)


async def follow_all_events(
    engine_of: Callable[[], Engine],
    since: datetime | None,
    scope: tuple[bool, str | None],
    interval: float,
    *,
    grace: float | None = None,
    limit: float | None = None,
) -> AsyncGenerator[tuple[str, StoredEvent], None]:
    """Every event of every run created after ``since`` (None: from now on), as
    ``(run_id, event)``; per run once and in index order by the same hole rule
    (one `RunFollower` per run with recent events). Runs are found by their
    events' ids and ``created_at`` (the primary key's index: event ids are ULIDs
    minted at write time), looking ``FIREHOSE_LOOKBACK_S`` behind the
    newest one seen, so an event that commits late is still found. A run is first
    seen from the lowest index created after ``since``. ``scope`` is (scoped,
    tenant) as `dendrux.scope.check_scope` gives it."""
    limit = GAP_LIMIT_S if limit is None else limit
    start = since if since is not None else datetime.now(UTC)
    lookback = timedelta(seconds=FIREHOSE_LOOKBACK_S)
    watermark = start  # the newest first-event time seen; runs are looked up behind it
    followers: dict[str, RunFollower] = {}
    outage = _Outage("following every run")
    scoped, tenant = scope
    while True:
        engine = engine_of()
        delivered: list[tuple[str, StoredEvent]] = []
        busy = False
        try:
            async with engine.connect() as conn:
                horizon = max(start, watermark - lookback)
                floor = ulid_floor(horizon - _ID_CLOCK_SLACK)
                active = await conn.fetch_all(
                    "firehose_runs", horizon, tenant, scoped, STREAM_PAGE, floor
                )
                for row in active:
                    run = row["agent_run_id"]
                    follower = followers.get(run)
                    if follower is None:
                        follower = RunFollower(run, row["first_index"] - 1, grace, limit)
                        followers[run] = follower
                    at = conn.dialect.read_ts(row["first_at"])
                    if at is not None and at > watermark:
                        watermark = at
                    cursor = follower.cursor
                    if follower.hole is None and cursor is not None and cursor >= row["last_index"]:
                        continue  # nothing new for this run: no read
                    events, again = await follower.step(conn)
                    busy = busy or again or follower.hole is not None
                    delivered.extend((run, event) for event in events)
            for follower in list(followers.values()):
                if follower.due:
                    await follower.settle(engine)
        except TransientDatabaseError as exc:
            await outage.failed(exc)
            continue
        outage.recovered()
        for item in delivered:
            yield item
        if len(followers) > 4 * STREAM_PAGE and len(active) < STREAM_PAGE:
            # Runs with no event created after the horizon: when one is found again, it
            # is from events created after it, all past what was delivered.
            seen = {row["agent_run_id"] for row in active}
            for run in [r for r, f in followers.items() if r not in seen and f.hole is None]:
                del followers[run]
        if not busy:
            await asyncio.sleep(interval)
        elif not delivered:
            await asyncio.sleep(GAP_RECHECK_S)
