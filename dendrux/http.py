"""A read-only HTTP router over `RunStore`, as a plain ASGI 3 application.

    from dendrux.http import make_read_router

    app = make_read_router(store=RunStore.from_database_url(url), authorize=check_token)

The application is written against the ASGI specification alone (no web
framework at run time), so any ASGI server can run it and any framework can
mount it under a prefix. Routes (``GET``; ``HEAD`` answers the same headers
without a body):

``/health``
    ``{"status": "ok"}``; no authorization.
``/runs``
    ``{"runs": [RunSummary...], "total": N, "limit": L, "offset": O}``, newest
    first. Query parameters: ``status`` (repeatable and/or comma-separated),
    ``agent_name``, ``parent_run_id``, ``tenant_id``, ``started_after``,
    ``started_before`` (ISO-8601 with ``Z`` or an offset; naive is a 400),
    ``limit`` (1.., default 50, larger values clamped to 1000), ``offset``, and
    ``meta.<key>=<value>`` (top-level equality on the run's ``meta``; the
    value is a JSON ``true``/``false``/``null``/number when it is written as
    one, a string otherwise). ``total`` counts every run the filters select.
``/runs/{id}``
    The `RunDetail` (never ``pause_data`` or ``pii_mapping``).
``/runs/{id}/events``
    ``{"events": [...], "after": A, "limit": L}``; ``?after=`` (strict ``>``
    cursor on ``sequence_index``), ``?limit=``.
``/runs/{id}/events/stream``
    Server-Sent Events: one frame per event (``id:`` the sequence index,
    ``event:`` the event type, ``data:`` the event as JSON), resuming after
    the ``Last-Event-ID`` header (or ``?after=`` when the header is absent or
    malformed), a ``: keep-alive`` comment after ``heartbeat_s`` of silence,
    closed after a terminal event (``run.completed``, ``run.error``,
    ``run.cancelled``, ``run.interrupted``, ``run.abandoned``) or once the
    run has had a terminal status for ``terminal_grace_s`` without new events.
    Resuming at or after a run's last event, when that is a terminal event,
    is a ``204 No Content`` (which makes a browser ``EventSource`` stop
    reconnecting). A ``Last-Event-ID`` outside the index range (below) also
    falls back to ``?after=``; an ``?after=`` above it is a 204 once the run
    has a terminal status and, until then, a stream of heartbeats only.
``/runs/{id}/llm-calls``, ``/runs/{id}/tool-calls``
    ``{"llm_calls" | "tool_calls": [...], "limit": L, "offset": O}``;
    ``?iteration=&limit=&offset=``.
``/runs/{id}/traces``, ``/runs/{id}/pauses``
    ``{"traces" | "pauses": [...], "limit": L, "offset": O}``; ``?limit=&offset=``.

Drill-down ``limit`` defaults to 100; values above 1000 are clamped to 1000.
Unknown query parameters, a parameter given twice (other than ``status``),
a malformed ``%``-escape or non-UTF-8 text, and bad values are a 400 naming
the parameter; an empty value counts as absent (except for ``meta.<key>``,
where it is the empty string). Records are serialised field by field,
datetimes as ISO-8601 UTC strings.

Integers: every integer parameter is a 64-bit decimal (longer or larger is a
400, checked before it is converted). Sequence and iteration indexes are
PostgreSQL ``INTEGER`` on both dialects (``INT32_MIN..INT32_MAX`` in
`dendrux.validation`): an ``after`` cursor above that range selects nothing
and one below it everything, an ``iteration`` above it selects nothing; the
store never receives a value outside the range. Datetimes must stay within
``datetime``'s range once converted to UTC.

Authorization: ``authorize(scope)`` (sync or async; it gets the ASGI scope,
headers included) runs on every route but ``/health``. It rejects by
raising: `PermissionError` gives 403, any other exception 401; neither
echoes the exception. It returns the principal, which must be one of:

- ``None``: explicitly unscoped, every tenant's runs;
- a mapping with a ``tenant_id`` key, or an object whose ``tenant_id``
  attribute reads, either one a str (that tenant) or None (every tenant).

A ``tenant_id`` str scopes every query: ``/runs`` lists that tenant's runs
only (a different ``tenant_id`` query parameter selects nothing) and another
tenant's run is a 404 on every ``/runs/{id}...`` route, exactly like a run
that does not exist. Anything else fails closed, never wider: a plain
string, list, number or bool, a mapping without the key (``{"tenant": ...}``),
an object without the attribute (ambiguous, so refused) or whose property
raises, a ``tenant_id`` of another type or one that cannot be stored (NUL
characters) is a 500 ``principal_invalid`` and one error log line naming
the problem.

Errors are JSON ``{"error": {"code": ..., "message": ...}}``: 400
``bad_request``, 401 ``unauthorized``, 403 ``forbidden``, 404 ``not_found``,
405 ``method_not_allowed`` (with ``Allow``), 503 ``unavailable`` (the database
cannot be reached; logged), 500 ``principal_invalid`` (see above) and 500
``internal_error`` (logged, no details).

Mounting: when the server passes the full path (the current ASGI convention,
uvicorn's ``--root-path``), ``scope["root_path"]`` is stripped from
``scope["path"]``; a path already relative to the mount point is used as is.
Servers wait for open responses before shutting down: an idle event stream
only ends when its run does, so give the server a graceful-shutdown timeout
(uvicorn: ``timeout_graceful_shutdown``). A ``lifespan.shutdown`` message
ends every open stream.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import re
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    MutableMapping,
    Sequence,
)
from contextlib import suppress
from dataclasses import fields
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from operator import attrgetter
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from dendrux.errors import (
    InvalidArgumentError,
    InvalidArgumentTypeError,
    RunNotFoundError,
    TransientDatabaseError,
)
from dendrux.status import TERMINAL_STATUS_VALUES, RunStatus
from dendrux.store import RunStore, StoredEvent
from dendrux.validation import INT32_MAX, INT32_MIN, INT64_MAX, check_required_id, check_text

__all__ = ["ReadRouter", "make_read_router"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Authorize = Callable[[Scope], object]
"""Returns a principal (or an awaitable of one); raises to reject."""

logger = logging.getLogger("dendrux.http")
T = TypeVar("T")

TERMINAL_EVENT_TYPES = frozenset(
    {"run.completed", "run.error", "run.cancelled", "run.interrupted", "run.abandoned"}
)
"""After one of these the event stream closes."""

MAX_LIMIT = 1000
RUNS_DEFAULT_LIMIT = 50
DRILL_DEFAULT_LIMIT = 100
_STATUS_VALUES = frozenset(s.value for s in RunStatus)
_NEVER_SERVED = frozenset({"pause_data", "pii_mapping"})
_INT = re.compile(r"-?[0-9]+")
MAX_DIGITS = 30
"""Longer integers are a 400 before ``int()`` runs (Python refuses over 4,300 digits)."""
MAX_DATETIME_LENGTH = 64
MAX_QUERY_FIELDS = 200
_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_META_KEY = re.compile(r"[A-Za-z0-9_-]+")
# "...T12:00:00 02:00": a "+" the client did not percent-encode became a space.
_SPACE_OFFSET = re.compile(r"(.*[0-9]) ([0-9]{2}(?::?[0-9]{2})?)")
_SSE_EVENT_NAME = re.compile(r"[^\r\n]+")
_DRILL_DOWNS = frozenset({"events", "llm-calls", "tool-calls", "traces", "pauses"})
_ALLOW = b"GET, HEAD"
_JSON_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
    (b"x-content-type-options", b"nosniff"),
]
_HEARTBEAT = b": keep-alive\n\n"


# ---------------------------------------------------------------------------
# errors and serialisation
# ---------------------------------------------------------------------------


class _HTTPError(Exception):
    """An error response: status, stable code, a message safe to show."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = list(headers)


def _bad(message: str) -> _HTTPError:
    return _HTTPError(400, "bad_request", message)


def _run_not_found() -> _HTTPError:
    return _HTTPError(404, "not_found", "run not found")


_SHAPES: dict[type, tuple[tuple[str, ...], Callable[[Any], Any], tuple[str, ...]]] = {}


def _shape(cls: type) -> tuple[tuple[str, ...], Callable[[Any], Any], tuple[str, ...]]:
    """(served field names, their getter, the datetime-typed ones) of a record class."""
    served = [f for f in fields(cls) if f.name not in _NEVER_SERVED]
    names = tuple(f.name for f in served)
    stamps = tuple(f.name for f in served if "datetime" in str(f.type))
    shape = (names, attrgetter(*names), stamps)
    _SHAPES[cls] = shape
    return shape


def _record(obj: object) -> dict[str, Any]:
    """A record as a JSON-ready dict, field by field; datetimes as ISO-8601 UTC.

    (A datetime in a field not typed as one is still converted, by the JSON encoder.)
    """
    names, getter, stamps = _SHAPES.get(type(obj)) or _shape(type(obj))
    values = getter(obj)
    out = dict(zip(names, values if len(names) > 1 else (values,), strict=True))
    for name in stamps:
        value = out[name]
        if value is not None:
            out[name] = _iso(value)
    return out


def _iso(value: datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat()


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _finite(value: Any) -> Any:
    """NaN/Infinity (possible in rows written by other tools) become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _dumps(value: object) -> bytes:
    try:
        text = json.dumps(
            value,
            ensure_ascii=False,
            separators=(",", ":"),
            allow_nan=False,
            default=_json_default,
        )
    except ValueError:
        text = json.dumps(
            _finite(value), ensure_ascii=False, separators=(",", ":"), default=_json_default
        )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in stored text: escape it
        return json.dumps(
            json.loads(text), ensure_ascii=True, separators=(",", ":"), default=_json_default
        ).encode("ascii")


def _error_body(code: str, message: str) -> bytes:
    return _dumps({"error": {"code": code, "message": message}})


def _sse_frame(event: StoredEvent) -> bytes:
    head = b"id: %d\n" % event.sequence_index
    if _SSE_EVENT_NAME.fullmatch(event.event_type):
        head += b"event: " + event.event_type.encode("utf-8", "replace") + b"\n"
    return head + b"data: " + _dumps(_record(event)) + b"\n\n"


# ---------------------------------------------------------------------------
# query parameters
# ---------------------------------------------------------------------------


class _Query:
    """The query string, read parameter by parameter; unknown names are a 400."""

    def __init__(self, raw: bytes) -> None:
        self._values: dict[str, list[str]] = {}
        parts = [part for part in raw.split(b"&") if part]
        if len(parts) > MAX_QUERY_FIELDS:
            raise _bad(f"too many query parameters (at most {MAX_QUERY_FIELDS})")
        for part in parts:
            raw_name, _, raw_value = part.partition(b"=")
            name = _unquote(raw_name, "a parameter name")
            value = _unquote(raw_value, f"parameter {_name(name)}")
            self._values.setdefault(name, []).append(value)
        self._read: set[str] = set()

    def text(self, name: str) -> str | None:
        """A single-valued parameter; empty counts as absent."""
        self._read.add(name)
        values = self._values.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise _bad(f"{name} must be given at most once")
        return values[0] or None

    def integer(
        self,
        name: str,
        *,
        default: int | None,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        return _parse_int(name, self.text(name), default, minimum, maximum)

    def statuses(self) -> list[str] | None:
        self._read.add("status")
        values = self._values.get("status")
        if not values:
            return None
        statuses = [item.strip() for value in values for item in value.split(",")]
        statuses = [item for item in statuses if item]
        if not statuses:
            return None
        for item in statuses:
            if item not in _STATUS_VALUES:
                raise _bad(
                    f"status {_show(item)} is not a run status; expected one of "
                    f"{', '.join(sorted(_STATUS_VALUES))}"
                )
        return list(dict.fromkeys(statuses))

    def when(self, name: str) -> datetime | None:
        text = self.text(name)
        return None if text is None else _parse_datetime(name, text)

    def meta(self) -> dict[str, Any] | None:
        found: dict[str, Any] = {}
        for name, values in self._values.items():
            if not name.startswith("meta."):
                continue
            self._read.add(name)
            key = name[len("meta.") :]
            if not _META_KEY.fullmatch(key):
                raise _bad(
                    f"{_name(name)}: the key must match ^[A-Za-z0-9_-]+$ "
                    "(nested paths are not supported)"
                )
            if len(values) > 1:
                raise _bad(f"{name} must be given at most once")
            found[key] = _meta_value(name, values[0])
        return found or None

    def finish(self) -> None:
        """Reject parameters no reader asked for (a typo would otherwise select everything)."""
        for name in self._values:
            if name not in self._read:
                raise _bad(f"unknown query parameter {_show(name)}")


def _parse_int(
    name: str,
    text: str | None,
    default: int | None,
    minimum: int | None,
    maximum: int | None,
) -> int | None:
    """A 64-bit decimal integer (at least ``minimum``); above ``maximum`` it is clamped."""
    if text is None:
        return default
    value = _bounded_int(text)
    if value is None and not _INT.fullmatch(text):
        raise _bad(f"{name} must be an integer, got {_show(text)}")
    if value is None or not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise _bad(f"{name} is outside the 64-bit integer range")
    if minimum is not None and value < minimum:
        raise _bad(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        value = maximum
    return value


def _bounded_int(text: str) -> int | None:
    """``int(text)`` for ``-?[0-9]+`` of at most `MAX_DIGITS` digits, else None (never raises)."""
    if len(text) > MAX_DIGITS + 1 or not _INT.fullmatch(text):
        return None
    if len(text) > MAX_DIGITS and text[0] != "-":
        return None
    return int(text)


def _show(text: str) -> str:
    """A client's value for a message: quoted, cut short."""
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "..."


def _name(name: str) -> str:
    """A client's parameter name for a message."""
    return name if len(name) <= 60 and name.isprintable() else _show(name)


def _unquote(raw: bytes, what: str) -> str:
    """Form-style percent-decoding (``+`` is a space) of UTF-8, or a 400 naming ``what``."""
    if _PERCENT.search(raw):
        raise _bad(f"the query string has a malformed %-escape in {what}")
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(f"the query string is not valid UTF-8 in {what}") from None


def _parse_datetime(name: str, text: str) -> datetime:
    if len(text) > MAX_DATETIME_LENGTH:
        raise _bad(f"{name} must be an ISO-8601 datetime such as 2025-01-31T12:00:00Z")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        match = _SPACE_OFFSET.fullmatch(text)
        try:
            if match is None:
                raise
            value = datetime.fromisoformat(f"{match[1]}+{match[2]}")
        except ValueError:
            raise _bad(
                f"{name} must be an ISO-8601 datetime such as 2025-01-31T12:00:00Z, "
                f"got {_show(text)}"
            ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise _bad(f"{name} must be timezone-aware: end it in Z or an offset such as +00:00")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the last UTC datetime
        raise _bad(f"{name} is outside the range of datetimes once converted to UTC") from None


def _meta_value(name: str, text: str) -> Any:
    """true/false/null and JSON numbers are typed; anything else is the string itself."""
    if text == "true":
        return True
    if text == "false":
        return False
    if text == "null":
        return None
    match = _JSON_NUMBER.fullmatch(text)
    if match is None:
        return text
    if match[1] is None and match[2] is None:
        number = _bounded_int(text)
        if number is None or not -INT64_MAX - 1 <= number <= INT64_MAX:
            raise _bad(f"{name} is outside the 64-bit integer range")
        return number
    real = float(text)
    return real if math.isfinite(real) else text


# ---------------------------------------------------------------------------
# the application
# ---------------------------------------------------------------------------


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentTypeError(f"{name} must be a number of seconds")
    if not (math.isfinite(value) and value > 0):
        raise InvalidArgumentError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def make_read_router(
    *,
    store: RunStore,
    authorize: Authorize,
    heartbeat_s: float = 15.0,
    poll_interval_s: float = 0.5,
    terminal_grace_s: float = 2.0,
) -> ReadRouter:
    """The read router as an ASGI 3 application (see the module docstring).

    ``heartbeat_s``: silence on an event stream before a ``: keep-alive``
    comment. ``poll_interval_s``: how often a stream re-reads on SQLite (the
    fallback on PostgreSQL, which wakes on LISTEN/NOTIFY). ``terminal_grace_s``:
    how long a stream waits for more events once its run has a terminal
    status but no terminal event has been sent.
    """
    if not isinstance(store, RunStore):
        raise InvalidArgumentTypeError(f"store must be a RunStore, got {type(store).__name__}")
    if not callable(authorize):
        raise InvalidArgumentTypeError("authorize must be a callable taking the ASGI scope")
    return ReadRouter(
        store,
        authorize,
        heartbeat_s=_number("heartbeat_s", heartbeat_s),
        poll_interval_s=_number("poll_interval_s", poll_interval_s),
        terminal_grace_s=_number("terminal_grace_s", terminal_grace_s),
    )


class ReadRouter:
    """The ASGI application `make_read_router` returns."""

    def __init__(
        self,
        store: RunStore,
        authorize: Authorize,
        *,
        heartbeat_s: float,
        poll_interval_s: float,
        terminal_grace_s: float,
    ) -> None:
        self._store = store
        self._authorize = authorize
        self._heartbeat_s = heartbeat_s
        self._poll_interval_s = poll_interval_s
        self._terminal_grace_s = terminal_grace_s
        self._streams: set[asyncio.Future[str]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1008})
        else:
            raise ValueError(f"unsupported ASGI scope type {kind!r}")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close_streams()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def close_streams(self) -> None:
        """End every open event stream (each closes its response cleanly)."""
        for stop in list(self._streams):
            if not stop.done():
                stop.set_result("shutdown")

    # -- HTTP ---------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        method = scope.get("method", "GET")
        head = method == "HEAD"
        try:
            route, run_id, rest = _match(_relative_path(scope))
            if method not in ("GET", "HEAD"):
                raise _HTTPError(
                    405,
                    "method_not_allowed",
                    f"method {method} is not allowed; use GET",
                    [(b"allow", _ALLOW)],
                )
            if route == "health":
                await _send_json(tracked_send, 200, _dumps({"status": "ok"}), head)
                return
            principal = await self._principal(scope)
            try:
                tenant = _tenant_of(principal)
            except _PrincipalError as exc:
                # Fail closed, and say why once: never fall back to "every tenant".
                logger.error("dendrux.http: refused %s %r: %s", method, scope.get("path"), exc)
                raise _HTTPError(
                    500,
                    "principal_invalid",
                    "the server cannot tell which runs this request may read",
                ) from None
            if run_id is not None:
                try:
                    run_id = check_required_id("run_id", run_id)
                except (InvalidArgumentError, InvalidArgumentTypeError):
                    raise _run_not_found() from None  # no run can have this id
            query = _Query(scope.get("query_string", b""))
            if route == "stream":
                assert run_id is not None
                after = _last_event_id(scope)  # the header wins over ?after=
                if after is None:
                    after = query.integer("after", default=None)
                else:
                    query.text("after")
                query.finish()
                await self._require_run(run_id, tenant)
                if after is not None and after < INT32_MIN:
                    after = None  # before every index: from the start
                beyond = after is not None and after > INT32_MAX  # no event can follow it
                if after is not None and (
                    await self._status(run_id) in TERMINAL_STATUS_VALUES
                    if beyond
                    else await self._ended_at(run_id, after)
                ):
                    # Nothing more will come: 204 tells an EventSource to stop reconnecting.
                    await tracked_send({"type": "http.response.start", "status": 204})
                    await tracked_send({"type": "http.response.body", "body": b""})
                    return
                await self._stream(
                    receive, tracked_send, run_id, None if beyond else after, head, beyond=beyond
                )
                return
            body = await self._dispatch(route, run_id, rest, query, tenant)
            await _send_json(tracked_send, 200, _dumps(body), head)
        except _HTTPError as exc:
            if started:
                raise
            await _send_json(
                tracked_send, exc.status, _error_body(exc.code, exc.message), head, exc.headers
            )
        except (InvalidArgumentError, InvalidArgumentTypeError) as exc:
            # The store's own argument checks name the parameter they refuse.
            if started:
                raise
            await _send_json(tracked_send, 400, _error_body("bad_request", str(exc)), head)
        except Exception as exc:
            logger.exception("dendrux.http: error serving %s %s", method, scope.get("path", "?"))
            if started:
                return  # the response is under way: nothing more can be said
            if isinstance(exc, TransientDatabaseError):
                status, code, message = 503, "unavailable", "the database is unavailable; retry"
            else:
                status, code, message = 500, "internal_error", "internal server error"
            await _send_json(tracked_send, status, _error_body(code, message), head)

    async def _principal(self, scope: Scope) -> object:
        try:
            principal = self._authorize(scope)
            if inspect.isawaitable(principal):
                principal = await principal
        except PermissionError:
            raise _HTTPError(403, "forbidden", "not allowed to read this resource") from None
        except Exception as exc:
            logger.debug("dendrux.http: authorize rejected the request: %s", type(exc).__name__)
            raise _HTTPError(401, "unauthorized", "authentication required") from None
        return principal

    async def _scoped(
        self, run_id: str, tenant: str | None, fetch: Callable[[], Awaitable[Sequence[T]]]
    ) -> Sequence[T]:
        """A run's rows, or a 404 for a run that does not exist or is another tenant's.

        Unscoped, rows prove the run exists (they reference it), so only an empty
        answer pays for the existence check; scoped, the check always comes first.
        """
        if tenant is not None:
            await self._require_run(run_id, tenant)
        rows = await fetch()
        if not rows and tenant is None:
            await self._require_run(run_id, None)
        return rows

    async def _require_run(self, run_id: str, tenant: str | None) -> None:
        """404 unless the run exists and (when scoped) belongs to the tenant."""
        async with self._store.engine.connect() as conn:
            if not await conn.fetch_value("run_exists", run_id, tenant):
                raise _run_not_found()

    async def _dispatch(
        self,
        route: str,
        run_id: str | None,
        rest: str | None,
        query: _Query,
        tenant: str | None,
    ) -> object:
        store = self._store
        if route == "runs":
            return await self._list_runs(query, tenant)
        assert run_id is not None
        if route == "run":
            query.finish()
            detail = await store.get_run(run_id)
            if detail is None or (tenant is not None and detail.tenant_id != tenant):
                raise _run_not_found()
            return _record(detail)
        fetch: Callable[[], Awaitable[Sequence[object]]]
        if rest == "events":
            after = query.integer("after", default=None)
            limit = query.integer(
                "limit", default=DRILL_DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT
            )
            query.finish()
            # Indexes are INT32 on both dialects: past the top nothing follows, below the
            # bottom everything does; the store never sees a cursor outside the range.
            if after is not None and after > INT32_MAX:
                fetch = _nothing
            else:
                cursor = None if after is None or after < INT32_MIN else after
                fetch = partial(store.get_events, run_id, after_sequence_index=cursor, limit=limit)
            events = await self._scoped(run_id, tenant, fetch)
            return {"events": [_record(e) for e in events], "after": after, "limit": limit}
        iteration = None
        if rest in ("llm-calls", "tool-calls"):
            iteration = query.integer("iteration", default=None, minimum=0)
        limit = query.integer("limit", default=DRILL_DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        offset = query.integer("offset", default=0, minimum=0)
        assert limit is not None and offset is not None
        query.finish()
        key = {"llm-calls": "llm_calls", "tool-calls": "tool_calls"}.get(rest or "", rest or "")
        if iteration is not None and iteration > INT32_MAX:
            fetch = _nothing  # no row has an iteration index past the INT32 range
        elif rest == "llm-calls":
            fetch = partial(
                store.get_llm_calls, run_id, iteration=iteration, limit=limit, offset=offset
            )
        elif rest == "tool-calls":
            fetch = partial(
                store.get_tool_invocations, run_id, iteration=iteration, limit=limit, offset=offset
            )
        elif rest == "traces":
            fetch = partial(store.get_traces, run_id, limit=limit, offset=offset)
        else:
            fetch = partial(store.get_pauses, run_id)
        rows = await self._scoped(run_id, tenant, fetch)
        if key == "pauses":
            rows = rows[offset : offset + limit]
        return {key: [_record(row) for row in rows], "limit": limit, "offset": offset}

    async def _list_runs(self, query: _Query, tenant: str | None) -> object:
        filters: dict[str, Any] = {
            "status": query.statuses(),
            "agent_name": query.text("agent_name"),
            "parent_run_id": query.text("parent_run_id"),
            "tenant_id": query.text("tenant_id"),
            "started_after": query.when("started_after"),
            "started_before": query.when("started_before"),
            "metadata_filter": query.meta(),
        }
        limit = query.integer("limit", default=RUNS_DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        offset = query.integer("offset", default=0, minimum=0)
        assert limit is not None and offset is not None
        query.finish()
        page: dict[str, Any] = {"runs": [], "total": 0, "limit": limit, "offset": offset}
        if tenant is not None:
            if filters["tenant_id"] not in (None, tenant):
                return page  # another tenant's runs: nothing, not an error
            filters["tenant_id"] = tenant
        runs = await self._store.list_runs(**filters, limit=limit, offset=offset)
        total = await self._store.count_runs(**filters)
        page["runs"] = [_record(run) for run in runs]
        page["total"] = total
        return page

    # -- Server-Sent Events -------------------------------------------------------------

    async def _stream(
        self,
        receive: Receive,
        send: Send,
        run_id: str,
        after: int | None,
        head: bool,
        *,
        beyond: bool = False,
    ) -> None:
        """Stream events after ``after``; ``beyond``: the cursor is past every possible
        index, so only heartbeats are sent until the run ends."""
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        if head:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        loop = asyncio.get_running_loop()
        stop: asyncio.Future[str] = loop.create_future()
        self._streams.add(stop)
        watcher = asyncio.create_task(_watch_disconnect(receive, stop))
        events = (
            _never()
            if beyond
            else self._store.stream_events(
                run_id, after_sequence_index=after, poll_interval_s=self._poll_interval_s
            )
        )
        pending: list[asyncio.Task[StoredEvent]] = []
        try:
            await self._pump(send, run_id, events, stop, pending)
        except OSError:  # some servers report a vanished client by failing the send
            if not stop.done():
                stop.set_result("disconnect")
        except Exception:
            logger.exception("dendrux.http: event stream of run %r failed", run_id)
        finally:
            self._streams.discard(stop)
            tasks: list[asyncio.Task[Any]] = [watcher, *pending]
            for task in tasks:
                task.cancel()
            try:
                await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    with suppress(RuntimeError):  # still running: only if we were cancelled
                        await aclose()
        if stop.done() and stop.result() == "disconnect":
            return
        with suppress(OSError):  # end the response cleanly
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(
        self,
        send: Send,
        run_id: str,
        events: AsyncIterator[StoredEvent],
        stop: asyncio.Future[str],
        pending: list[asyncio.Task[StoredEvent]],
    ) -> None:
        """Send frames until a terminal event, a finished run, a disconnect or a stop."""
        loop = asyncio.get_running_loop()
        grace = self._terminal_grace_s
        last_write = loop.time()
        next_check = last_write + grace
        terminal_since: float | None = None
        while True:
            if not pending:
                pending.append(asyncio.create_task(_next(events)))
            deadline = min(last_write + self._heartbeat_s, next_check)
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
                await send(
                    {"type": "http.response.body", "body": _sse_frame(event), "more_body": True}
                )
                last_write = loop.time()
                next_check, terminal_since = last_write + grace, None
                if event.event_type in TERMINAL_EVENT_TYPES:
                    return
                continue
            now = loop.time()
            if now >= next_check:
                status = await self._status(run_id)
                if status is None:
                    return  # the run was deleted
                if status in TERMINAL_STATUS_VALUES:
                    if terminal_since is not None:
                        return  # terminal for a whole grace period, nothing new
                    terminal_since = now
                else:
                    terminal_since = None
                next_check = loop.time() + grace
            if loop.time() >= last_write + self._heartbeat_s:
                await send({"type": "http.response.body", "body": _HEARTBEAT, "more_body": True})
                last_write = loop.time()

    async def _ended_at(self, run_id: str, cursor: int) -> bool:
        """True when the client has everything there will be: nothing follows ``cursor``
        and the run's last event is a terminal event (at or before the cursor)."""
        if cursor < 0:
            return False
        store = self._store
        if await store.get_events(run_id, after_sequence_index=cursor, limit=1):
            return False
        async with store.engine.connect() as conn:
            types = conn.dialect.text_list(sorted(TERMINAL_EVENT_TYPES))
            rows = await conn.fetch_all("get_run_events", run_id, None, types, None)
        if not rows:
            return False
        # The last terminal event is at or before the cursor (nothing follows the
        # cursor); the run ended there unless events came after it (a resume).
        last_terminal = int(rows[-1]["sequence_index"])
        return not await store.get_events(run_id, after_sequence_index=last_terminal, limit=1)

    async def _status(self, run_id: str) -> str | None:
        async with self._store.engine.connect() as conn:
            row = await conn.fetch_one("run_identity", run_id)
        return None if row is None else str(row["status"])


async def _nothing() -> list[Any]:
    return []


async def _never() -> AsyncIterator[StoredEvent]:
    """An event source that never yields (a cursor no event can follow)."""
    await asyncio.get_running_loop().create_future()
    yield  # type: ignore[misc]  # unreachable: makes this an async generator


async def _next(events: AsyncIterator[StoredEvent]) -> StoredEvent:
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


# ---------------------------------------------------------------------------
# request helpers
# ---------------------------------------------------------------------------


def _relative_path(scope: Scope) -> str:
    """The path below the mount point, under either root_path convention."""
    path: str = scope.get("path") or "/"
    root: str = (scope.get("root_path") or "").rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :] or "/"
    return path


def _match(path: str) -> tuple[str, str | None, str | None]:
    """(route, run id, drill-down) for a path, or a 404."""
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    parts = path.split("/")
    if parts[0] == "":
        parts = parts[1:]
    if parts == ["health"]:
        return "health", None, None
    if parts == ["runs"]:
        return "runs", None, None
    if len(parts) >= 2 and parts[0] == "runs" and len(parts) <= 4:
        run_id = parts[1]
        shape = parts[2:]
        if shape == []:
            route: tuple[str, str | None] = ("run", None)
        elif len(shape) == 1 and shape[0] in _DRILL_DOWNS:
            route = ("drill", shape[0])
        elif shape == ["events", "stream"]:
            route = ("stream", None)
        else:
            raise _HTTPError(404, "not_found", "no such route")
        return route[0], run_id, route[1]
    raise _HTTPError(404, "not_found", "no such route")


class _PrincipalError(Exception):
    """``authorize`` returned something the router cannot read a tenant from."""


def _tenant_of(principal: object) -> str | None:
    """The tenant a principal is scoped to; None only for an explicit ``None``.

    Fails closed: anything but ``None``, a mapping with a ``tenant_id`` key, or an
    object whose ``tenant_id`` attribute reads, each giving a str or None, raises.
    """
    if principal is None:
        return None
    where = "the principal's tenant_id"
    try:
        if isinstance(principal, Mapping):
            if "tenant_id" not in principal:
                raise _PrincipalError(
                    f"authorize returned a {type(principal).__name__} without a 'tenant_id' key"
                )
            tenant = principal["tenant_id"]
        else:
            tenant = getattr(principal, "tenant_id")  # noqa: B009 - any failure is caught
    except _PrincipalError:
        raise
    except Exception as exc:
        raise _PrincipalError(
            f"authorize returned a {type(principal).__name__} whose tenant_id cannot be read "
            f"({type(exc).__name__}); return None, a mapping or an object with a tenant_id"
        ) from None
    if tenant is None:
        return None
    if not isinstance(tenant, str):
        raise _PrincipalError(
            f"{where} is of type {type(tenant).__name__}, not str or None "
            f"(authorize returned a {type(principal).__name__})"
        )
    try:
        return check_text("tenant_id", str.__str__(tenant))
    except (InvalidArgumentError, InvalidArgumentTypeError) as exc:
        raise _PrincipalError(f"{where} cannot be stored: {exc}") from None


def _last_event_id(scope: Scope) -> int | None:
    """The ``Last-Event-ID`` cursor; None when absent, malformed or outside the index range."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"last-event-id":
            number = _bounded_int(value.decode("latin-1").strip())
            if number is None or not INT32_MIN <= number <= INT32_MAX:
                return None  # fall back to ?after=
            return number
    return None


async def _send_json(
    send: Send,
    status: int,
    body: bytes,
    head: bool,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
