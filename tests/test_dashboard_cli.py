"""``dendrux dashboard`` and the bearer-token ``authorize`` it uses, on both dialects.

The authorizer goes through the real router in-process (`http_support.asgi_request`);
the command runs as a real subprocess listening on a free port (``--port 0``, the URL
read from what it prints), reached over HTTP with the standard library.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import shlex
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from http_support import asgi_request

from dendrux.demo import record_sample_run
from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.http import BearerTokenRejected, bearer_authorizer, make_read_router
from dendrux.state import StateStore
from dendrux.store import RunStore

MISSING_UVICORN = "dendrux dashboard needs uvicorn: pip install 'dendrux[dashboard]'"
UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "authentication required"}}


# -- bearer_authorizer through the real router ----------------------------------------


@dataclass
class Tenanted:
    store: RunStore
    demo_run: str  # tenant "demo"
    other_run: str  # tenant "other"


@pytest.fixture
async def tenanted(database_url: str) -> AsyncIterator[Tenanted]:
    async with StateStore.from_database_url(database_url) as writer:
        demo_run = await record_sample_run(writer)
        await writer.create_run("other-1", "other-agent", tenant_id="other")
    async with RunStore.from_database_url(database_url) as store:
        yield Tenanted(store, demo_run, "other-1")


def _bearer(token: str, scheme: str = "Bearer") -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"{scheme} {token}".encode())]


async def test_bearer_refuses_what_is_not_the_token(tenanted: Tenanted) -> None:
    app = make_read_router(store=tenanted.store, authorize=bearer_authorizer("s3cret-token"))
    refused = [
        [],  # no header
        _bearer("s3cret-token", "Basic"),
        _bearer("s3cret-tokem"),
        _bearer("s3cret-token-and-more"),
        _bearer(""),
        [(b"authorization", b"s3cret-token")],  # no scheme
        _bearer("s3cret-token") + _bearer("s3cret-token"),  # two headers: ambiguous
    ]
    for headers in refused:
        for path in ("/runs", f"/runs/{tenanted.demo_run}", f"/runs/{tenanted.demo_run}/events"):
            reply = await asgi_request(app, path, headers=headers)
            assert reply.status == 401, (headers, path, reply.status)
            assert reply.json() == UNAUTHORIZED  # nothing about the token or the reason
        stream = await asgi_request(
            app, f"/runs/{tenanted.demo_run}/events/stream", headers=headers, hang_up_after_s=2
        )
        assert stream.status == 401 and stream.json() == UNAUTHORIZED
    health = await asgi_request(app, "/health")
    assert health.status == 200


async def test_bearer_accepts_the_token_unscoped(tenanted: Tenanted) -> None:
    app = make_read_router(store=tenanted.store, authorize=bearer_authorizer("s3cret-token"))
    for scheme in ("Bearer", "bearer", "BEARER"):
        reply = await asgi_request(app, "/runs", headers=_bearer("s3cret-token", scheme))
        assert reply.status == 200, scheme
        ids = {run["run_id"] for run in reply.json()["runs"]}
        assert {tenanted.demo_run, tenanted.other_run} <= ids  # every tenant
    other = await asgi_request(app, f"/runs/{tenanted.other_run}", headers=_bearer("s3cret-token"))
    assert other.status == 200


async def test_bearer_tenant_tokens_scope_to_their_tenant(tenanted: Tenanted) -> None:
    authorize = bearer_authorizer(
        "admin-token", tenants={"demo-token": "demo", "other-token": "other"}
    )
    app = make_read_router(store=tenanted.store, authorize=authorize)

    async def runs(token: str) -> set[str]:
        reply = await asgi_request(app, "/runs", headers=_bearer(token))
        assert reply.status == 200
        return {run["run_id"] for run in reply.json()["runs"]}

    demo_ids = await runs("demo-token")
    assert tenanted.demo_run in demo_ids and tenanted.other_run not in demo_ids
    assert await runs("other-token") == {tenanted.other_run}
    assert {tenanted.demo_run, tenanted.other_run} <= await runs("admin-token")
    # another tenant's run is not there at all, as on every route
    hidden = await asgi_request(app, f"/runs/{tenanted.other_run}", headers=_bearer("demo-token"))
    assert hidden.status == 404
    stream = await asgi_request(
        app, f"/runs/{tenanted.other_run}/events/stream", headers=_bearer("demo-token")
    )
    assert stream.status == 404
    wrong = await asgi_request(app, "/runs", headers=_bearer("third-token"))
    assert wrong.status == 401


def test_bearer_authorizer_principals_and_errors() -> None:
    authorize = bearer_authorizer("admin", tenants={"t-token": "t1", "admin": "t0"})

    def scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
        return {"type": "http", "headers": list(headers)}

    assert authorize(scope((b"authorization", b"Bearer t-token"))) == {"tenant_id": "t1"}
    assert authorize(scope((b"authorization", b"Bearer admin"))) == {"tenant_id": "t0"}
    assert bearer_authorizer("x")(scope((b"authorization", b"Bearer x"))) is None
    with pytest.raises(BearerTokenRejected) as refused:
        authorize(scope())
    assert not isinstance(refused.value, PermissionError)  # a 401, not a 403
    for bad in ("", "two words", "caf\u00e9", "tab\there"):
        with pytest.raises(InvalidArgumentError, match="token"):
            bearer_authorizer(bad)
    with pytest.raises(InvalidArgumentTypeError, match="token"):
        bearer_authorizer(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentTypeError, match="tenants"):
        bearer_authorizer("x", tenants=[("a", "b")])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="tenants token"):
        bearer_authorizer("x", tenants={"": "t"})
    with pytest.raises(InvalidArgumentTypeError, match="tenants tenant id"):
        bearer_authorizer("x", tenants={"y": 5})  # type: ignore[dict-item]


# -- the command, as a subprocess --------------------------------------------------------


def _env(home: Path, **extra: str) -> dict[str, str]:
    drop = ("DENDRUX_DATABASE_URL", "DENDRUX_DASHBOARD_TOKEN", "BROWSER", "DENDRUX_DEBUG")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["HOME"] = str(home)
    env.update(extra)
    return env


def _dendrux(
    *args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dendrux", *args],
        capture_output=True,
        text=True,
        env=env or _env(home),
        timeout=timeout,
    )


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str  # as printed: http://127.0.0.1:PORT/ (#token=... with a token)
    origin: str  # http://127.0.0.1:PORT

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(self.origin + path)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def interrupt(self, within_s: float) -> tuple[int, str, float]:
        """SIGINT; the exit code, stderr, and how long it took to exit."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=within_s + 10)
        took = time.monotonic() - started
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read(), took


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """Its stdout, line by line ("" at the end), from a reader thread."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=read, daemon=True).start()
    return lines


@contextmanager
def dashboard(*args: str, home: Path, env: dict[str, str] | None = None) -> Iterator[Served]:
    """``dendrux dashboard --port 0 ARGS`` until its URL is printed; stopped after."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dendrux", "dashboard", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or _env(home),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        lines = _lines(proc)
        printed = ""
        while True:
            try:
                line = lines.get(timeout=30)
            except queue.Empty:
                break
            if not line:
                break
            printed += line
            if line.startswith("open "):
                url = line.split()[1]
                origin = re.match(r"http://[^/]+", url)
                assert origin is not None, line
                yield Served(proc, url, origin.group(0))
                return
        proc.kill()
        proc.wait(timeout=10)
        stderr = proc.stderr.read() if proc.stderr is not None else ""
        raise AssertionError(f"dashboard did not start: {printed!r} {stderr!r}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def demo_db(database_url: str, tmp_path: Path) -> tuple[str, str]:
    """(database URL, demo run id), recorded by ``dendrux demo``."""
    demo = _dendrux("--database-url", database_url, "demo", home=tmp_path)
    assert demo.returncode == 0, demo.stderr
    run = re.search(r"^run (\w+)$", demo.stdout, re.M)
    assert run is not None, demo.stdout
    return database_url, run.group(1)


def test_serves_the_json_routes_on_loopback(demo_db: tuple[str, str], tmp_path: Path) -> None:
    url, run_id = demo_db
    with dashboard("--database-url", url, home=tmp_path) as served:
        assert served.url == f"{served.origin}/" and served.origin.startswith("http://127.0.0.1:")
        assert served.get("/health") == (200, {"status": "ok"})
        status, body = served.get("/runs")
        assert status == 200 and run_id in {run["run_id"] for run in body["runs"]}
        status, detail = served.get(f"/runs/{run_id}")
        assert status == 200 and detail["agent_name"] == "refund-agent"
        assert "pause_data" not in detail and "pii_mapping" not in detail
        code, stderr, _ = served.interrupt(within_s=5)
    assert code == 0 and stderr == "", (code, stderr)


def test_a_token_guards_every_data_request(demo_db: tuple[str, str], tmp_path: Path) -> None:
    url, run_id = demo_db
    token = "tok/en+=1"
    with dashboard("--database-url", url, "--auth-token", token, home=tmp_path) as served:
        assert served.url == f"{served.origin}/#token=tok%2Fen%2B%3D1"
        assert served.get("/health") == (200, {"status": "ok"})
        for path in ("/runs", f"/runs/{run_id}", f"/runs/{run_id}/events"):
            assert served.get(path) == (401, UNAUTHORIZED)
            assert served.get(path, "wrong")[0] == 401
            assert served.get(path, token)[0] == 200
        stream = urllib.request.Request(served.origin + f"/runs/{run_id}/events/stream")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(stream, timeout=10)
        assert refused.value.code == 401
        # the page holds no data: it loads without the token (and then asks for it)
        with urllib.request.urlopen(served.origin + "/", timeout=10) as page:
            assert page.status == 200
            assert page.headers["content-type"].startswith("text/html")
            assert "default-src 'self'" in page.headers["content-security-policy"]
            assert b"<html" in page.read().lower()


def test_the_token_from_the_environment(demo_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = demo_db
    env = _env(tmp_path, DENDRUX_DASHBOARD_TOKEN="from-env")
    with dashboard("--database-url", url, "--host", "0.0.0.0", home=tmp_path, env=env) as served:
        assert served.url.endswith("/#token=from-env")
        assert served.get("/runs")[0] == 401
        assert served.get("/runs", "from-env")[0] == 200
    help_text = _dendrux("dashboard", "--help", home=tmp_path).stdout
    assert "DENDRUX_DASHBOARD_TOKEN" in help_text and "ps" in help_text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.com", ""])
def test_non_loopback_without_a_token_is_refused(host: str, tmp_path: Path) -> None:
    db = tmp_path / "absent.db"  # refused before the database is even looked at
    port = _free_port()
    result = _dendrux(
        "dashboard", "--database-url", f"sqlite:///{db}", "--host", host, "--port", str(port),
        home=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert result.stderr.startswith("dendrux: error: --host ")
    assert "not a loopback address" in result.stderr and "--auth-token" in result.stderr
    assert not db.exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost"])
def test_loopback_needs_no_token(host: str, demo_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = demo_db
    with dashboard("--database-url", url, "--host", host, home=tmp_path) as served:
        assert served.get("/runs")[0] == 200


def test_any_address_with_a_token_starts(demo_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = demo_db
    args = ("--database-url", url, "--host", "0.0.0.0", "--auth-token", "x")
    with dashboard(*args, home=tmp_path) as served:
        assert served.url.startswith("http://127.0.0.1:") and served.url.endswith("/#token=x")
        assert served.get("/runs")[0] == 401 and served.get("/runs", "x")[0] == 200


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_without_uvicorn_it_says_what_to_install(database_url: str, tmp_path: Path) -> None:
    blocked = (
        "import sys; sys.modules['uvicorn'] = None; from dendrux.cli import main; sys.exit(main())"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocked, "dashboard", "--database-url", database_url],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=60,
    )
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert result.stderr == f"dendrux: error: {MISSING_UVICORN}\n"
    assert result.stdout == ""


def test_ctrl_c_with_an_event_stream_open_exits_0_at_once(
    demo_db: tuple[str, str], tmp_path: Path
) -> None:
    url, _ = demo_db
    with dashboard("--database-url", url, home=tmp_path) as served:
        host, _, port = served.origin.removeprefix("http://").rpartition(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=20)
        connection.request("GET", "/events/stream")  # the firehose never ends by itself
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("content-type", "").startswith("text/event-stream")
        ended = threading.Event()

        def read_to_the_end() -> None:
            response.read()
            ended.set()

        reader = threading.Thread(target=read_to_the_end, daemon=True)
        reader.start()
        code, stderr, took = served.interrupt(within_s=5)
        assert code == 0 and stderr == "", (code, stderr)
        assert took < 2.0, f"Ctrl-C took {took:.2f} s with a stream open"
        assert ended.wait(5), "the stream was not ended"
        connection.close()


def test_listening_failures_are_one_line(demo_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = demo_db
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = _dendrux("dashboard", "--database-url", url, "--port", port, home=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"dendrux: error: cannot listen on 127.0.0.1 port {port}")
    assert result.stderr.count("\n") == 1
    bad_token = _dendrux("dashboard", "--database-url", url, "--auth-token", "a b", home=tmp_path)
    assert bad_token.returncode == 2 and "--auth-token" in bad_token.stderr
    bad_port = _dendrux("dashboard", "--database-url", url, "--port", "70000", home=tmp_path)
    assert bad_port.returncode == 2 and "port" in bad_port.stderr
    bad_run = _dendrux("dashboard", "--database-url", url, "--run", "x" * 27, home=tmp_path)
    assert bad_run.returncode == 2 and "--run" in bad_run.stderr


def test_no_database_is_the_usual_error(tmp_path: Path) -> None:
    result = _dendrux("dashboard", home=tmp_path)  # ~/.dendrux/dendrux.db is not there
    assert result.returncode == 1 and result.stdout == ""
    assert "no dendrux database at" in result.stderr and "dendrux demo" in result.stderr
    assert not (tmp_path / ".dendrux" / "dendrux.db").exists()


@pytest.mark.parametrize("dialect", ["postgres"])
def test_an_unmigrated_postgres_fails_before_listening(
    raw_database_url: str, tmp_path: Path
) -> None:
    result = _dendrux("dashboard", "--database-url", raw_database_url, home=tmp_path)
    assert result.returncode == 1 and result.stdout == "", (result.stdout, result.stderr)
    assert result.stderr.startswith("dendrux: error: ") and result.stderr.count("\n") == 1
    assert "db upgrade" in result.stderr


# -- the demo says how to look at its run ------------------------------------------------


def _browser_script(tmp_path: Path) -> tuple[Path, Path]:
    """A ``$BROWSER`` that writes the URL it is given to a file."""
    opened = tmp_path / "opened.txt"
    script = tmp_path / "browser.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, opened


def test_the_demo_prints_the_command_that_opens_its_run(database_url: str, tmp_path: Path) -> None:
    demo = _dendrux("--database-url", database_url, "demo", home=tmp_path)
    assert demo.returncode == 0, demo.stderr
    run_id = re.search(r"^run (\w+)$", demo.stdout, re.M)
    assert run_id is not None
    tail = demo.stdout.rstrip("\n").splitlines()[-3:]
    assert tail[0] == "look at it in the dashboard:"
    command = shlex.split(tail[1])
    program = Path(sys.executable).parent / "dendrux"
    assert Path(command[0]).resolve() == program.resolve()
    assert command[1:] == [
        "dashboard", "--database-url", database_url, "--open", "--run", run_id.group(1)
    ]  # fmt: skip
    assert tail[2] == f"  (the run's page: http://127.0.0.1:8001/#/runs/{run_id.group(1)})"
    # The printed command works (on a free port instead of 8001) and opens the page.
    browser, opened = _browser_script(tmp_path)
    env = _env(tmp_path, BROWSER=str(browser))
    with dashboard(*command[2:], home=tmp_path, env=env) as served:
        deadline = time.monotonic() + 10
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert opened.read_text() == served.url  # the run's page on the real port
        assert served.url.endswith(f"/#/runs/{run_id.group(1)}")
        status, detail = served.get(f"/runs/{run_id.group(1)}")
        assert status == 200 and detail["status"] == "success"


def test_make_demo_prints_the_next_commands(tmp_path: Path) -> None:
    """``make demo`` runs ``dendrux demo`` on the default database: it ends with the show
    and dashboard commands, neither needing ``--database-url``, and both work as printed."""
    repo = Path(__file__).resolve().parent.parent
    assert "\t$(BIN)/dendrux demo\n" in (repo / "Makefile").read_text()
    env = _env(tmp_path)  # HOME there, no DENDRUX_DATABASE_URL: the default database
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dendrux"), "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=repo,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    show = re.search(r"^  (\S+) show (\w{26})$", result.stdout, re.M)
    assert show is not None, result.stdout[-600:]
    assert re.search(f"dashboard --open --run {show[2]}\n", result.stdout)
    assert re.search(r"run's page: http://127\.0\.0\.1:8001/#/runs/\w{26}\)\n", result.stdout)
    again = subprocess.run(
        [*shlex.split(show[1]), "show", show[2]],
        capture_output=True,
        text=True,
        env=env,
        cwd=repo,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    assert f"run {show[2]}" in again.stdout and "1,262 in / 82 out" in again.stdout


@pytest.mark.parametrize("dialect", ["postgres"])
def test_the_demo_hint_never_prints_a_password(raw_database_url: str, tmp_path: Path) -> None:
    scheme, _, rest = raw_database_url.partition("://")
    user, _, host = rest.partition("@")
    url = f"{scheme}://{user}:Sw0rdfish-42@{host}"  # trust authentication: accepted
    subprocess.run(
        [sys.executable, "-m", "dendrux", "db", "upgrade"],
        env=_env(tmp_path, DENDRUX_DATABASE_URL=url),
        check=True,
        capture_output=True,
        timeout=60,
    )
    demo = _dendrux("demo", home=tmp_path, env=_env(tmp_path, DENDRUX_DATABASE_URL=url))
    assert demo.returncode == 0, demo.stderr
    assert "Sw0rdfish" not in demo.stdout
    assert 'dashboard --database-url "$DENDRUX_DATABASE_URL" --open --run' in demo.stdout
