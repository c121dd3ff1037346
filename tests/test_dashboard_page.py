"""The dashboard's files: served at the router's root with a strict CSP, and the page
boots in a real Chromium on both dialects (the views have their own tests)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from browser_support import DashboardServer, start_dashboard
from http_support import asgi_request

from dendrux.cli.dashboard import page_url
from dendrux.http import make_read_router
from dendrux.http.page import CONTENT_SECURITY_POLICY
from dendrux.store import RunStore


def allow_all(scope: Any) -> None:
    return None


async def test_the_page_and_its_files_are_served_only_with_dashboard_true(
    database_url: str,
) -> None:
    async with RunStore.from_database_url(database_url) as store:
        plain = make_read_router(store=store, authorize=allow_all)
        assert (await asgi_request(plain, "/")).status == 404
        assert (await asgi_request(plain, "/ui/app.js")).status == 404

        refuse = make_read_router(store=store, authorize=_refuse, dashboard=True)
        page = await asgi_request(refuse, "/")
        assert page.status == 200
        assert page.content_type == "text/html; charset=utf-8"
        assert page.headers[b"content-security-policy"].decode() == CONTENT_SECURITY_POLICY
        assert b"default-src 'self'" in page.headers[b"content-security-policy"]
        assert page.headers[b"x-content-type-options"] == b"nosniff"
        assert b'<script type="module" src="ui/app.js">' in page.body
        assert b"<script>" not in page.body  # no inline script anywhere

        script = await asgi_request(refuse, "/ui/app.js")
        assert script.status == 200
        assert script.content_type == "text/javascript; charset=utf-8"
        again = await asgi_request(
            refuse, "/ui/app.js", headers=[(b"if-none-match", script.headers[b"etag"])]
        )
        assert again.status == 304 and again.body == b""
        css = await asgi_request(refuse, "/ui/style.css")
        assert css.status == 200 and css.content_type.startswith("text/css")

        # The JSON routes still ask authorize (the files hold no data, the routes do).
        assert (await asgi_request(refuse, "/runs")).status == 401
        for missing in ("/ui/nope.js", "/ui/../store.py", "/ui/index.html", "/ui/"):
            assert (await asgi_request(refuse, missing)).status == 404, missing
        assert (await asgi_request(refuse, "/", method="POST")).status == 405


async def _refuse(scope: Any) -> None:
    raise LookupError("no token")


async def test_a_mounted_page_without_its_trailing_slash_is_redirected(database_url: str) -> None:
    async with RunStore.from_database_url(database_url) as store:
        app = make_read_router(store=store, authorize=allow_all, dashboard=True)
        # uvicorn --root-path: the full path arrives, root_path names the prefix.
        scope_path = "/audit"
        reply = await _with_root(app, scope_path, "/audit")
        assert reply.status == 308
        assert reply.headers[b"location"] == b"/audit/"
        assert (await _with_root(app, "/audit/", "/audit")).status == 200
        assert (await _with_root(app, "/audit/ui/app.js", "/audit")).status == 200
        # A path already relative to the mount point (the older convention).
        reply = await _with_root(app, "", "/audit")
        assert reply.status == 308 and reply.headers[b"location"] == b"/audit/"


async def _with_root(app: Any, path: str, root: str) -> Any:
    scope_app = _RootPath(app, root)
    return await asgi_request(scope_app, path)


class _RootPath:
    """Sets ``root_path`` the way a server or framework mounting the router does."""

    def __init__(self, app: Any, root: str) -> None:
        self.app, self.root = app, root

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app({**scope, "root_path": self.root}, receive, send)


def test_make_read_router_refuses_a_non_bool_dashboard() -> None:
    store = RunStore.from_database_url("sqlite+aiosqlite:///:memory:")
    with pytest.raises(TypeError, match="dashboard"):
        make_read_router(store=store, authorize=allow_all, dashboard="yes")  # type: ignore[arg-type]


# -- in the browser ----------------------------------------------------------------------


def test_the_page_boots_in_chromium(dashboard: DashboardServer, browser_page: Any) -> None:
    page = browser_page
    response = page.goto(dashboard.url)
    assert response.status == 200
    page.wait_for_selector("nav.tabs a[aria-current='page']")
    assert page.title() == "dendrux"
    assert page.locator("nav.tabs a[aria-current='page']").inner_text() == "Runs"
    page.click("nav.tabs a[data-tab='overview']")
    page.wait_for_function("location.hash.startsWith('#/overview')")
    page.wait_for_selector("nav.tabs a[data-tab='overview'][aria-current='page']")
    page.go_back()
    page.wait_for_selector("nav.tabs a[data-tab='runs'][aria-current='page']")


def test_the_page_works_under_a_root_path(database_url: str, browser_page: Any) -> None:
    with start_dashboard(database_url, root_path="/audit") as server:
        page = browser_page
        page.goto(server.url.rstrip("/"))  # redirected to /audit/
        page.wait_for_selector("nav.tabs a[aria-current='page']")
        assert page.url.endswith("/audit/#/runs") or page.url.endswith("/audit/")
        status = page.evaluate("async () => (await fetch(new URL('runs', location.href))).status")
        assert status == 200


def test_a_token_from_the_fragment_is_kept_and_sent(database_url: str, browser_page: Any) -> None:
    with start_dashboard(database_url, tokens=["s3cret"]) as server:
        page = browser_page
        assert server.get("runs")[0] == 401
        assert server.get("runs", token="s3cret")[0] == 200
        page.goto(server.url + "#token=s3cret")
        page.wait_for_function("location.hash === '#/runs'")  # the token left the address bar
        assert page.evaluate("sessionStorage.getItem('dendrux.token')") == "s3cret"
        status = page.evaluate(
            "async () => (await import('./ui/api.js'))"
            ".getJSON('runs').then(() => 200, e => e.status)"
        )
        assert status == 200
        # `dendrux dashboard --run RUN` prints the token and the run's page in one fragment.
        url = page_url("127.0.0.1", server.port, "s3cret", "run-7")
        assert url.endswith("/#token=s3cret&next=/runs/run-7")
        page.evaluate("sessionStorage.clear()")
        page.goto("about:blank")  # a fresh load, as when the printed URL is opened
        page.goto(url)
        page.wait_for_function("() => location.hash === '#/runs/run-7'")
        assert page.evaluate("sessionStorage.getItem('dendrux.token')") == "s3cret"
        # The run view's module is still loading: let it finish before the server stops
        # (a fetch cut by the stop would be reported as a page error).
        page.wait_for_load_state("networkidle")
    assert page_url("127.0.0.1", 8001, None, "run-7") == "http://127.0.0.1:8001/#/runs/run-7"


# -- what the page's code may not do -----------------------------------------------------

DASHBOARD = Path(__file__).resolve().parent.parent / "dendrux" / "http" / "dashboard"
# Each of these turns text into markup or code; the page builds every node with
# dom.js's h()/svg(), which append stored strings as Text nodes only.
FORBIDDEN_JS = re.compile(
    r"\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\s*\("
    r"|new\s+Function\b|createContextualFragment|DOMParser|srcdoc|setAttribute\(\s*[\"']on"
    r"|setAttribute\(\s*[\"']style"
)
REMOTE = re.compile(r"(?:https?:)?//(?!www\.w3\.org/2000/svg)[a-z0-9.-]+\.[a-z]{2,}", re.I)


def test_the_page_never_turns_text_into_markup_or_fetches_elsewhere() -> None:
    scripts = sorted(DASHBOARD.glob("*.js"))
    assert scripts
    for script in scripts:
        for number, line in enumerate(script.read_text().splitlines(), 1):
            code = line.split("//", 1)[0] if not line.lstrip().startswith("*") else ""
            assert not FORBIDDEN_JS.search(code), f"{script.name}:{number}: {line.strip()}"
    for asset in sorted(DASHBOARD.iterdir()):
        text = asset.read_text()
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(("//", "*", "/*")):
                continue  # comments may name sites; code may not load from them
            assert not REMOTE.search(line), f"{asset.name}:{number}: {stripped}"
    html = (DASHBOARD / "index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="ui/app.js">']
    assert " style=" not in html and "<style" not in html
    assert not re.search(r"\son[a-z]+\s*=", html)
