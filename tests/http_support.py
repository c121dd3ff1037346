"""Calling an ASGI application in-process: no server, no sockets, the real router.

`asgi_request` builds an HTTP scope the way uvicorn does (raw query bytes,
lower-cased header names), feeds the request, collects what the application
sends, and plays the client hanging up when asked to (after the first SSE
frame, or after a time limit), so a stream over a live run also ends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """What the application sent: status, headers, the body's chunks joined."""

    status: int
    headers: dict[bytes, bytes]
    body: bytes
    chunks: list[bytes] = field(default_factory=list)
    hung_up: bool = False  # the client went away before the response ended

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get(b"content-type", b"").decode("latin-1")


async def asgi_request(
    app: Any,
    path: str,
    query: bytes = b"",
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    method: str = "GET",
    hang_up_after_frame: bool = False,
    hang_up_after_s: float = 5.0,
) -> Reply:
    """One request to ``app``; the client disconnects after ``hang_up_after_s`` at most."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver"), *((k.lower(), v) for k, v in headers)],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    gone = asyncio.Event()
    requested = False
    status: int | None = None
    reply_headers: dict[bytes, bytes] = {}
    chunks: list[bytes] = []
    ended = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, ended
        if gone.is_set():
            raise OSError("client disconnected")
        if message["type"] == "http.response.start":
            assert status is None, "response started twice"
            status = message["status"]
            reply_headers.update(dict(message.get("headers", [])))
        elif message["type"] == "http.response.body":
            assert status is not None, "body before the response started"
            assert not ended, "body after the response ended"
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                ended = True
            elif hang_up_after_frame and b"\n\n" in b"".join(chunks):
                gone.set()

    task = asyncio.ensure_future(app(scope, receive, send))
    done, _ = await asyncio.wait({task}, timeout=hang_up_after_s)
    if not done:
        gone.set()
        await asyncio.wait_for(task, timeout=5)
    task.result()
    assert status is not None, f"no response for {path}?{query!r}"
    return Reply(status, reply_headers, b"".join(chunks), chunks, hung_up=not ended)


def sse_ids(body: bytes) -> list[int]:
    """The ``id:`` of every frame of an event-stream body (comments skipped)."""
    ids: list[int] = []
    text = body.decode("utf-8")
    for block in text.split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("id: "):
                ids.append(int(line[4:]))
    return ids


def sse_frames_are_valid(body: bytes) -> bool:
    """Every block is a ``: comment`` or an ``id``/``event``/``data`` frame with JSON data."""
    text = body.decode("utf-8")
    blocks = text.split("\n\n")
    if blocks and blocks[-1] == "":
        blocks.pop()
    for block in blocks:
        lines = block.split("\n")
        if all(line.startswith(":") for line in lines):
            continue
        names = [line.partition(":")[0] for line in lines]
        if names[0] != "id" or names[-1] != "data" or not set(names) <= {"id", "event", "data"}:
            return False
        json.loads(lines[-1][len("data: ") :])
    return True
