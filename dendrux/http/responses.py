"""Responses: the error type routes raise, JSON bodies, and the headers every reply carries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from dendrux.read.jsonable import dumps_bytes, record

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ALLOW = b"GET, HEAD"
JSON_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]
NEVER_SERVED = frozenset({"pause_data", "pii_mapping"})
"""Fields no route serves, whatever record carries them."""


class HTTPError(Exception):
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


def run_not_found() -> HTTPError:
    """The one answer for a missing run and another tenant's run: they look the same."""
    return HTTPError(404, "not_found", "run not found")


def served(obj: object) -> dict[str, Any]:
    """A record as the routes serve it (datetimes become ISO-8601 UTC when encoded)."""
    return record(obj, omit=NEVER_SERVED)


def error_body(code: str, message: str) -> bytes:
    return dumps_bytes({"error": {"code": code, "message": message}})


async def send_json(
    send: Send,
    status: int,
    body: bytes,
    head: bool,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """A whole JSON response; ``head``: the same headers, no body."""
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_no_content(send: Send) -> None:
    await send({"type": "http.response.start", "status": 204})
    await send({"type": "http.response.body", "body": b""})
