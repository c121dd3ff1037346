"""Browser tests: Debian's chromium driven by Playwright, against the router under uvicorn.

Fixtures (a pytest plugin loaded by ``conftest.py``)
--------
browser         (module) a headless Chromium: the system's ``/usr/bin/chromium`` (or
                ``$DENDRUX_CHROMIUM``) launched by Playwright's ``executable_path``;
                Playwright never downloads a browser here. Missing: skip, or fail
                under ``CI=true``.
browser_page    (function) a fresh context and page (1280x860); after the test, an
                uncaught page error or a Content-Security-Policy violation fails it.
                ``browser_page.problems`` lists what was seen so far.
dashboard       (function) `DashboardServer` over the clean, migrated ``database_url``
                (both dialects), no token.

`start_dashboard` starts another one (tokens, tenants, mounted under a prefix); `run_async` runs
a coroutine in a private loop (the browser tests are plain functions: Playwright's
sync API must not run inside an event loop).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
CI = os.environ.get("CI", "").strip().lower() == "true"
SERVER_SCRIPT = Path(__file__).resolve().parent / "fixtures" / "dashboard_server.py"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _unavailable(reason: str) -> None:
    if CI:
        pytest.fail(f"CI=true but the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"browser unavailable: {reason}")


def find_chromium() -> str | None:
    """The system Chromium: $DENDRUX_CHROMIUM, /usr/bin/chromium, or on PATH."""
    candidates = [os.environ.get("DENDRUX_CHROMIUM", ""), "/usr/bin/chromium"]
    candidates += [shutil.which(n) or "" for n in ("chromium", "chromium-browser")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def run_async(fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn()`` to completion in a fresh event loop on a private thread."""
    from conftest import _run_async

    return _run_async(fn)


# -- the server --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DashboardServer:
    """The router with ``dashboard=True`` under uvicorn in its own process."""

    database_url: str
    port: int
    process: subprocess.Popen[str]
    root_path: str = ""

    @property
    def url(self) -> str:
        """The page's URL (with the trailing slash the page's relative links need)."""
        return f"http://127.0.0.1:{self.port}{self.root_path}/"

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        """A plain HTTP GET below the page's URL: (status, body)."""
        request = urllib.request.Request(self.url + path.lstrip("/"))
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def start_dashboard(
    database_url: str, *, tokens: Iterable[str] = (), root_path: str = ""
) -> Iterator[DashboardServer]:
    """Serve ``database_url``; ``tokens`` as ``TOKEN`` or ``TOKEN=TENANT``."""
    port = _free_port()
    command = [sys.executable, str(SERVER_SCRIPT), "--database-url", database_url]
    command += ["--port", str(port), "--mount", root_path]
    for token in tokens:
        command += ["--token", token]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=None, text=True)
    server = DashboardServer(database_url, port, process, root_path)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise AssertionError(f"the dashboard server did not start (exit {process.wait()})")
        yield server
    finally:
        server.stop()


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = find_chromium()
    if executable is None:
        _unavailable("no chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    def on_console(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(f"CSP violation: {message.text}")

    page.on("console", on_console)
    page.problems = problems
    try:
        yield page
    finally:
        context.close()
    assert not problems, "the page reported problems:\n" + "\n".join(problems)


@pytest.fixture
def dashboard(database_url: str) -> Iterator[DashboardServer]:
    with start_dashboard(database_url) as server:
        yield server
