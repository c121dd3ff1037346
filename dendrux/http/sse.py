"""``/runs/{id}/events/stream``: Server-Sent Events over `RunStore.stream_events`.

The state machine, per stream: send each event as a frame; after
``heartbeat_s`` of silence send a ``: keep-alive`` comment; every
``terminal_grace_s`` re-read the run's status; stop after a terminal event,
once the run has had a terminal status for a whole grace period with nothing
new, when the run disappears, when the client goes away, or on shutdown.

``/events/stream`` (the firehose) follows every run the principal may see, with
heartbeats, until the client goes away or on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from typing import Any, TypeVar

from dendrux.errors import RunNotFoundError, TransientDatabaseError
from dendrux.http.params import bounded_int
from dendrux.http.responses import Receive, Scope, Send, send_no_content, served
from dendrux.http.routes import Request, require_run
from dendrux.read.jsonable import dumps_bytes, iso
from dendrux.read.text import parse_instant_text
from dendrux.scope import UNSCOPED
from dendrux.status import TERMINAL_EVENT_TYPES, TERMINAL_STATUS_VALUES
from dendrux.store import RunStore, StoredEvent
from dendrux.validation import INT32_MAX, INT32_MIN

logger = logging.getLogger("dendrux.http")

_TERMINAL_TYPES = sorted(TERMINAL_EVENT_TYPES)

SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
    (b"x-content-type-options", b"nosniff"),
]
HEARTBEAT = b": keep-alive\n\n"
_SSE_EVENT_NAME = re.compile(r"[^\r\n]+")


def frame(event: StoredEvent) -> bytes:
    """One event as an SSE frame: ``id:`` its index, ``event:`` its type, ``data:`` JSON."""
    head = b"id: %d\n" % event.sequence_index
    if _SSE_EVENT_NAME.fullmatch(event.event_type):
        head += b"event: " + event.event_type.encode("utf-8", "replace") + b"\n"
    return head + b"data: " + dumps_bytes(served(event)) + b"\n\n"


def last_event_id(scope: Scope) -> int | None:
    """The ``Last-Event-ID`` cursor; None when absent, malformed or outside the index range."""
    text = _last_event_id_text(scope)
    if text is None:
        return None
    # None (malformed, too long, outside the index range): fall back to ?after=
    return bounded_int(text, minimum=INT32_MIN, maximum=INT32_MAX)


class EventStreams:
    """The open event streams of one router, and how each one runs."""

    def __init__(
        self, store: RunStore, *, heartbeat_s: float, poll_interval_s: float, grace_s: float
    ) -> None:
        self._store = store
        self._heartbeat_s = heartbeat_s
        self._poll_interval_s = poll_interval_s
        self._grace_s = grace_s
        self._open: set[asyncio.Future[str]] = set()

    @property
    def open(self) -> int:
        """How many streams are being served."""
        return len(self._open)

    def close_all(self) -> None:
        """End every open event stream (each closes its response cleanly)."""
        for stop in list(self._open):
            if not stop.done():
                stop.set_result("shutdown")

    async def serve(
        self, req: Request, scope: Scope, receive: Receive, send: Send, head: bool
    ) -> None:
        """Answer a stream request: a 204 when nothing more will come, else the stream."""
        query = req.query
        after = last_event_id(scope)  # the header wins over ?after=
        if after is None:
            after = query.optional_integer("after")
        else:
            query.text("after")
        query.finish()
        status = await require_run(req)
        if after is not None and after < INT32_MIN:
            after = None  # before every index: from the start
        beyond = after is not None and after > INT32_MAX  # no event can follow it
        if after is not None and (
            status in TERMINAL_STATUS_VALUES if beyond else await self._ended_at(req, after)
        ):
            # Nothing more will come: 204 tells an EventSource to stop reconnecting.
            await send_no_content(send)
            return
        await self._stream(req, receive, send, None if beyond else after, head, beyond=beyond)

    async def _ended_at(self, req: Request, cursor: int) -> bool:
        """True when the client has everything there will be: nothing follows ``cursor``
        and the run's last event is a terminal event (at or before the cursor)."""
        if cursor < 0:
            return False
        store, run_id = self._store, req.run_id
        if await store.get_events(run_id, after_sequence_index=cursor, limit=1):
            return False
        terminal = await store.get_events(run_id, event_types=_TERMINAL_TYPES)
        if not terminal:
            return False
        # The last terminal event is at or before the cursor (nothing follows the
        # cursor); the run ended there unless events came after it (a resume).
        last_terminal = terminal[-1].sequence_index
        return not await store.get_events(run_id, after_sequence_index=last_terminal, limit=1)

    async def _stream(
        self,
        req: Request,
        receive: Receive,
        send: Send,
        after: int | None,
        head: bool,
        *,
        beyond: bool = False,
    ) -> None:
        """Stream events after ``after``; ``beyond``: the cursor is past every possible
        index, so only heartbeats are sent until the run ends."""
        events = (
            _never()
            if beyond
            else self._store.stream_events(
                req.run_id, after_sequence_index=after, poll_interval_s=self._poll_interval_s
            )
        )
        await self._respond(
            receive,
            send,
            head,
            events,
            lambda stop, pending: self._pump(req, send, events, stop, pending),
            f"event stream of run {req.run_id!r}",
        )

    async def _respond(
        self,
        receive: Receive,
        send: Send,
        head: bool,
        events: AsyncIterator[Any],
        pump: Callable[[asyncio.Future[str], list[asyncio.Task[Any]]], Awaitable[None]],
        what: str,
    ) -> None:
        """One SSE response around ``pump`` (a run's stream or the firehose): the start,
        HEAD, the disconnect watcher, the cleanup (the pump's pending read, the event
        source) and a clean end unless the client went away."""
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        if head:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        loop = asyncio.get_running_loop()
        stop: asyncio.Future[str] = loop.create_future()
        self._open.add(stop)
        watcher = asyncio.create_task(_watch_disconnect(receive, stop))
        pending: list[asyncio.Task[Any]] = []
        try:
            await pump(stop, pending)
        except OSError:  # some servers report a vanished client by failing the send
            if not stop.done():
                stop.set_result("disconnect")
        except Exception:
            logger.exception("dendrux.http: %s failed", what)
        finally:
            self._open.discard(stop)
            tasks: list[asyncio.Task[Any]] = [watcher, *pending]
            for task in tasks:
                task.cancel()
            try:
                await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                aclose = getattr(events, "aclose", None)  # an async generator's
                if aclose is not None:
                    with suppress(RuntimeError):  # still running: only if we were cancelled
                        await aclose()
        if stop.done() and stop.result() == "disconnect":
            return
        with suppress(OSError):  # end the response cleanly
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(
        self,
        req: Request,
        send: Send,
        events: AsyncIterator[StoredEvent],
        stop: asyncio.Future[str],
        pending: list[asyncio.Task[Any]],
    ) -> None:
        """Send frames until a terminal event, a finished run, a disconnect or a stop."""
        loop = asyncio.get_running_loop()
        grace, heartbeat = self._grace_s, self._heartbeat_s
        last_write = loop.time()
        next_check = last_write + grace
        terminal_since: float | None = None
        while True:
            if not pending:
                pending.append(asyncio.create_task(_next(events)))
            deadline = min(last_write + heartbeat, next_check)
            await asyncio.wait(
                (pending[0], stop),
                timeout=max(0.0, deadline - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if stop.done():
                return
            if pending[0].done():
                task = pending.pop()
                try:
                    event = task.result()
                except (StopAsyncIteration, RunNotFoundError):  # e.g. the run was purged
                    return
                await send({"type": "http.response.body", "body": frame(event), "more_body": True})
                last_write = loop.time()
                next_check, terminal_since = last_write + grace, None
                if event.event_type in TERMINAL_EVENT_TYPES:
                    return
                continue
            now = loop.time()
            if now >= next_check:
                try:
                    status = await self._store.get_run_status(req.run_id, tenant_id=req.tenant)
                except TransientDatabaseError:  # the stream itself rides the outage out
                    next_check = loop.time() + grace
                    continue
                if status is None:
                    return  # the run was deleted
                if status in TERMINAL_STATUS_VALUES:
                    if terminal_since is not None:
                        return  # terminal for a whole grace period, nothing new
                    terminal_since = now
                else:
                    terminal_since = None
                next_check = loop.time() + grace
            if loop.time() >= last_write + heartbeat:
                await send({"type": "http.response.body", "body": HEARTBEAT, "more_body": True})
                last_write = loop.time()

    # -- the firehose: every run's new events --------------------------------------------

    async def serve_all(
        self, req: Request, scope: Scope, receive: Receive, send: Send, head: bool
    ) -> None:
        """``/events/stream``: every new event of every run the principal may see (its
        tenant's only, when it has one), per run once and in index order. Each frame's
        ``id:`` is the event's ``created_at``; ``Last-Event-ID`` (or ``?since=``) resumes
        with the events created after that time."""
        query = req.query
        resume = _last_event_id_text(scope)
        since = (
            query.instant("since")
            if resume is None
            else parse_instant_text("Last-Event-ID", resume)
        )
        if resume is not None:
            query.text("since")
        query.finish()
        events = self._store.stream_all_events(
            since=since,
            tenant_id=UNSCOPED if req.tenant is None else req.tenant,
            poll_interval_s=self._poll_interval_s,
        )
        await self._respond(
            receive,
            send,
            head,
            events,
            lambda stop, pending: self._pump_all(send, events, stop, pending),
            "the event firehose",
        )

    async def _pump_all(
        self,
        send: Send,
        events: AsyncIterator[tuple[str, StoredEvent]],
        stop: asyncio.Future[str],
        pending: list[asyncio.Task[Any]],
    ) -> None:
        """Send frames (and heartbeats) until a disconnect or a stop."""
        loop = asyncio.get_running_loop()
        last_write = loop.time()
        while True:
            if not pending:
                pending.append(asyncio.create_task(_next(events)))
            await asyncio.wait(
                (pending[0], stop),
                timeout=max(0.0, last_write + self._heartbeat_s - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if stop.done():
                return
            if pending[0].done():
                run_id, event = pending.pop().result()
                body = firehose_frame(run_id, event)
            else:
                body = HEARTBEAT
            await send({"type": "http.response.body", "body": body, "more_body": True})
            last_write = loop.time()


def firehose_frame(run_id: str, event: StoredEvent) -> bytes:
    """One firehose frame: ``id:`` the event's ``created_at``, ``data:`` JSON with its run id."""
    head = b""
    if event.created_at is not None:
        head = b"id: " + iso(event.created_at).encode("ascii") + b"\n"
    if _SSE_EVENT_NAME.fullmatch(event.event_type):
        head += b"event: " + event.event_type.encode("utf-8", "replace") + b"\n"
    body = {"run_id": run_id, **served(event)}
    return head + b"data: " + dumps_bytes(body) + b"\n\n"


def _last_event_id_text(scope: Scope) -> str | None:
    """The ``Last-Event-ID`` header's text, stripped; None when absent or empty."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"last-event-id":
            text: str = value.decode("latin-1").strip()
            return text or None
    return None


async def _never() -> AsyncIterator[StoredEvent]:
    """An event source that never yields (a cursor no event can follow)."""
    await asyncio.get_running_loop().create_future()
    yield  # type: ignore[misc]  # unreachable: makes this an async generator


T = TypeVar("T")


async def _next(events: AsyncIterator[T]) -> T:
    return await events.__anext__()


async def _watch_disconnect(receive: Receive, stop: asyncio.Future[str]) -> None:
    """Resolve ``stop`` when the client goes away (or the receive channel breaks)."""
    with suppress(Exception):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
    if not stop.done():
        stop.set_result("disconnect")
