"""The ASGI application: lifespan, and one HTTP request from path to response.

A request goes: route table (`routes.match`), method check, ``authorize`` and
its tenant (`principals`), query parameters (`params.Query`), then the route's
handler (`routes.JSON_ROUTES`, or `sse.EventStreams` for the event streams),
which reads through `RunStore` only. Errors become JSON error responses here.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError, TransientDatabaseError
from dendrux.http.page import Page
from dendrux.http.params import Query
from dendrux.http.principals import Authorize, request_tenant
from dendrux.http.responses import (
    ALLOW,
    HTTPError,
    Message,
    Receive,
    Scope,
    Send,
    error_body,
    run_not_found,
    send_json,
)
from dendrux.http.routes import JSON_ROUTES, Request, match
from dendrux.http.sse import EventStreams
from dendrux.read.jsonable import dumps_bytes
from dendrux.store import RunStore
from dendrux.validation import check_required_id

logger = logging.getLogger("dendrux.http")
_HEALTHY = dumps_bytes({"status": "ok"})
_ROUTER_HABITS = frozenset({"routes", "_contains_router"})
"""What FastAPI's ``include_router`` reads first (``routes`` in older releases,
``_contains_router`` in newer ones): asked for, they raise with `_MOUNT_IT`."""
_MOUNT_IT = (
    "ReadRouter is a plain ASGI application, not a FastAPI APIRouter: "
    "mount it instead of include_router, e.g. app.mount('/audit', router)"
)


def _seconds(name: str, value: object) -> float:
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
    dashboard: bool = False,
) -> ReadRouter:
    """The read router as an ASGI 3 application (see `dendrux.http`).

    ``heartbeat_s``: silence on an event stream before a ``: keep-alive``
    comment. ``poll_interval_s``: how often a stream re-reads on SQLite (the
    fallback on PostgreSQL, which wakes on LISTEN/NOTIFY). ``terminal_grace_s``:
    how long a stream waits for more events once its run has a terminal
    status but no terminal event has been sent. ``dashboard``: also serve the
    dashboard page at the root (``/``) and its files under ``/ui/`` (`dendrux.http.page`).
    """
    if not isinstance(store, RunStore):
        raise InvalidArgumentTypeError(f"store must be a RunStore, got {type(store).__name__}")
    if not callable(authorize):
        raise InvalidArgumentTypeError("authorize must be a callable taking the ASGI scope")
    if not isinstance(dashboard, bool):
        raise InvalidArgumentTypeError("dashboard must be a bool")
    return ReadRouter(
        store,
        authorize,
        heartbeat_s=_seconds("heartbeat_s", heartbeat_s),
        poll_interval_s=_seconds("poll_interval_s", poll_interval_s),
        terminal_grace_s=_seconds("terminal_grace_s", terminal_grace_s),
        page=Page() if dashboard else None,
    )


def _relative_path(scope: Scope) -> str:
    """The path below the mount point, under either root_path convention."""
    path: str = scope.get("path") or "/"
    root: str = (scope.get("root_path") or "").rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :] or "/"
    return path


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
        page: Page | None = None,
    ) -> None:
        self._store = store
        self._page = page
        self._authorize = authorize
        self._streams = EventStreams(
            store,
            heartbeat_s=heartbeat_s,
            poll_interval_s=poll_interval_s,
            grace_s=terminal_grace_s,
        )

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
        self._streams.close_all()

    @property
    def open_streams(self) -> int:
        """Event streams being served now (for a server's shutdown logic, and tests)."""
        return self._streams.open

    if not TYPE_CHECKING:  # a type checker keeps reporting a misspelt attribute

        def __getattr__(self, name: str) -> object:
            """Only for attributes that do not exist: the framework habit gets a hint.

            Still an AttributeError, so ``getattr(router, "routes", [])`` (Starlette's
            Mount) and ``hasattr`` behave as before; nothing found is ever slower.
            """
            if name in _ROUTER_HABITS:
                raise AttributeError(f"{_MOUNT_IT} (no attribute {name!r})", name=name, obj=self)
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
            )

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        method = scope.get("method", "GET")
        head = method == "HEAD"
        try:
            await self._respond(scope, receive, tracked_send, method, head)
        except HTTPError as exc:
            if started:
                raise
            await send_json(
                tracked_send, exc.status, error_body(exc.code, exc.message), head, exc.headers
            )
        except (InvalidArgumentError, InvalidArgumentTypeError) as exc:
            # Query parameters and the store's own checks name what they refuse.
            if started:
                raise
            await send_json(tracked_send, 400, error_body("bad_request", str(exc)), head)
        except Exception as exc:
            logger.exception("dendrux.http: error serving %s %s", method, scope.get("path", "?"))
            if started:
                return  # the response is under way: nothing more can be said
            if isinstance(exc, TransientDatabaseError):
                status, code, message = 503, "unavailable", "the database is unavailable; retry"
            else:
                status, code, message = 500, "internal_error", "internal server error"
            await send_json(tracked_send, status, error_body(code, message), head)

    async def _respond(
        self, scope: Scope, receive: Receive, send: Send, method: str, head: bool
    ) -> None:
        path = _relative_path(scope)
        asset = None if self._page is None else self._page.match(path)
        route, run_id = ("page", None) if asset is not None else match(path)
        if method not in ("GET", "HEAD"):
            raise HTTPError(
                405,
                "method_not_allowed",
                f"method {method} is not allowed; use GET",
                [(b"allow", ALLOW)],
            )
        if asset is not None and self._page is not None:
            await self._page.serve(asset, scope, send, head)
            return
        if route == "health":
            await send_json(send, 200, _HEALTHY, head)
            return
        tenant = await request_tenant(self._authorize, scope)
        if run_id is not None:
            try:
                run_id = check_required_id("run_id", run_id)
            except (InvalidArgumentError, InvalidArgumentTypeError):
                raise run_not_found() from None  # no run can have this id
        req = Request(self._store, Query(scope.get("query_string", b"")), tenant, run_id or "")
        if route == "stream":
            await self._streams.serve(req, scope, receive, send, head)
            return
        if route == "firehose":
            await self._streams.serve_all(req, scope, receive, send, head)
            return
        body = await JSON_ROUTES[route](req)
        await send_json(send, 200, dumps_bytes(body), head)
