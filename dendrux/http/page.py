"""The dashboard's files: the page at the router's root and its assets under ``/ui/``.

The page is plain HTML, CSS and JavaScript modules shipped as package data in
``dendrux/http/dashboard/`` (no build step, nothing fetched at run time). It holds
no data: everything it shows comes from the router's JSON and SSE routes, which
call ``authorize`` as always, so the files themselves are served without it. The
files are read once, when the router is made, and served from memory with a
strict Content-Security-Policy (``default-src 'self'``, no inline script), so
even a stored string that slipped into the DOM as markup could not run.

One asset is made rather than read: ``event-types.js``, the run-event vocabulary
(`dendrux.events.EVENT_TYPES`) as a JavaScript module, so the page colours, labels
and ends a timeline with the same table as the command line and the README.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from urllib.parse import quote

from dendrux.events import EVENT_TYPES
from dendrux.http.responses import HTTPError, Scope, Send

ASSET_PREFIX = "/ui/"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.(?:js|css|svg|html)")
_TYPES = {
    "js": b"text/javascript; charset=utf-8",
    "css": b"text/css; charset=utf-8",
    "svg": b"image/svg+xml",
    "html": b"text/html; charset=utf-8",
}
_COMMON_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: bytes
    etag: bytes


def _asset(name: str, body: bytes) -> Asset:
    digest = hashlib.sha256(body).hexdigest()[:20]
    return Asset(body, _TYPES[name.rsplit(".", 1)[1]], f'"{digest}"'.encode())


def load_assets() -> dict[str, Asset]:
    """Every file of the page, by name; ``index.html`` is the page itself."""
    folder = resources.files("dendrux.http").joinpath("dashboard")
    assets: dict[str, Asset] = {}
    for entry in folder.iterdir():
        if entry.is_file() and _ASSET_NAME.fullmatch(entry.name):
            assets[entry.name] = _asset(entry.name, entry.read_bytes())
    if "index.html" not in assets:
        raise RuntimeError("the dashboard's index.html is missing from the dendrux package")
    return assets


VOCABULARY_ASSET = "event-types.js"


def vocabulary_asset() -> Asset:
    """`EVENT_TYPES` as the module ``event-types.js``: ``export const EVENT_TYPES =
    {name: {family, meaning, data, terminal}}``, in the vocabulary's order."""
    table = {
        e.name: {"family": e.family, "meaning": e.meaning, "data": e.data, "terminal": e.terminal}
        for e in EVENT_TYPES
    }
    body = (
        "// Made by dendrux.http.page from dendrux.events.EVENT_TYPES (README: Events).\n"
        f"export const EVENT_TYPES = {json.dumps(table, indent=1)};\n"
    )
    return _asset(VOCABULARY_ASSET, body.encode())


def _full_path(scope: Scope) -> str:
    """The path the browser asked for, under either ``root_path`` convention."""
    path: str = scope.get("path", "/")  # "" (a mount point asked without its slash) stays ""
    root: str = (scope.get("root_path") or "").rstrip("/")
    if root and not (path == root or path.startswith(root + "/")):
        path = root + path
    return path


class Page:
    """Serves the dashboard's files; `match` says whether a path is one of them."""

    def __init__(self) -> None:
        self._assets = load_assets()
        self._assets[VOCABULARY_ASSET] = vocabulary_asset()

    @staticmethod
    def match(path: str) -> str | None:
        """The file a relative path names (``index.html`` for the root), or None."""
        if path in ("", "/"):
            return "index.html"
        if path.startswith(ASSET_PREFIX):
            name = path[len(ASSET_PREFIX) :]
            return None if name == "index.html" else name
        return None

    async def serve(self, name: str, scope: Scope, send: Send, head: bool) -> None:
        if name == "index.html":
            full = _full_path(scope)
            if not full.endswith("/"):
                # The page's assets and API calls are relative to its folder.
                await self._redirect(send, full + "/", scope.get("query_string") or b"")
                return
        asset = self._assets.get(name)
        if asset is None:
            raise HTTPError(404, "not_found", "no such route")
        headers = [(b"content-type", asset.content_type), (b"etag", asset.etag), *_COMMON_HEADERS]
        if _header(scope, b"if-none-match") == asset.etag:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers.append((b"content-length", str(len(asset.body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else asset.body})

    @staticmethod
    async def _redirect(send: Send, location: str, query: bytes) -> None:
        target = quote(location, safe="/:@!$&'()*+,;=-._~").encode("ascii")
        if query:
            target += b"?" + query
        headers = [(b"location", target), (b"content-length", b"0"), *_COMMON_HEADERS]
        await send({"type": "http.response.start", "status": 308, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value)
    return None
