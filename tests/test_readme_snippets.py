"""The documentation's code runs as written (issue 17).

Every ```python block of README.md, then of docs/*.md (by file name), is saved as a
file and run with this interpreter (``python block.py``), in order, in one fresh
working directory per dialect: on SQLite with its URLs as written, and on the suite's
PostgreSQL (a fresh migrated database) with ``sqlite+aiosqlite:///app.db`` and
``postgresql://app@db/agents`` replaced by that database's URL (on SQLite the
PostgreSQL placeholder becomes the SQLite URL, so a block may show either). Later
blocks read what earlier ones recorded (run ``r1``). A block whose first line is
``# serves until Ctrl-C`` is started with its ``port=8000`` moved to a free port,
asked for its routes over HTTP (under ``/audit`` when it mounts the router there),
then stopped with SIGINT: it must exit 0 at once, logging no error; a block that
closes the streams first does so with the whole store's event stream still open,
which it must end cleanly.

The README's ```sh lines that run ``dendrux`` must parse with the CLI's own parser,
and the "Coming from dendrux 0.4.1" section's table, links and version are checked
(what tests/test_readme_coming_from.py did before the blocks became scripts).
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

import dendrux

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
SQLITE_URL = "sqlite+aiosqlite:///app.db"
POSTGRES_URL = "postgresql://app@db/agents"
SERVER_MARK = "# serves until Ctrl-C"
BLOCK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    code: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    @property
    def serves(self) -> bool:
        return self.code.startswith(SERVER_MARK)

    @property
    def prefix(self) -> str:
        """The mount point a serving block puts the router under ("" for the root)."""
        found = re.search(r"""[Mm]ount\(\s*["'](/[^"']*)["']""", self.code)
        return found.group(1).rstrip("/") if found else ""


def _blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [
        Block(page, text.count("\n", 0, m.start()) + 2, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)
    ]


BLOCKS = [block for page in PAGES for block in _blocks(page)]


def _is_script(code: str) -> bool:
    try:
        compile(code, "block", "exec")
    except SyntaxError:
        return False
    return True


def _script(block: Block, url: str, port: int) -> str:
    code = block.code.replace(SQLITE_URL, url).replace(POSTGRES_URL, url)
    code = code.replace("port=8000", f"port={port}")
    return code


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _output(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


# -- static checks -------------------------------------------------------------------------


def test_the_pages_have_their_blocks() -> None:
    names = [block.page.name for block in BLOCKS]
    assert names.count("README.md") >= 5, "recording, reading, serving, mounting, 0.4.1"
    assert "mounting.md" in names
    assert sum(block.serves for block in BLOCKS) >= 3
    assert any(block.prefix == "/audit" for block in BLOCKS if block.page == README)
    prompt = [block for block in BLOCKS if block.serves and "close_streams()" in block.code]
    assert [block.page.name for block in prompt] == ["mounting.md"], "its prompt shutdown"


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_every_block_is_a_complete_script(block: Block) -> None:
    assert _is_script(block.code), "top-level await: wrap it in async def main()"
    tree = ast.parse(block.code)
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert "dendrux" in imported
    if "asyncio" in imported or not block.serves:
        assert "asyncio.run(" in block.code, "the coroutine must be run: asyncio.run(main())"
    if block.serves:
        assert "port=8000" in block.code and "timeout_graceful_shutdown=" in block.code
    urls = re.findall(r"""["']((?:sqlite|postgres)[^"']*)["']""", block.code)
    assert set(urls) <= {SQLITE_URL, POSTGRES_URL}, "use the two placeholder URLs"


MYPY_CONFIG = """\
[mypy]
strict = True
[mypy-dendrux.*]
follow_imports = silent
[mypy-asyncpg.*]
ignore_missing_imports = True
"""


def test_blocks_pass_the_projects_linters(tmp_path: Path) -> None:
    """What a user pastes is lint-clean and type-checks under ``mypy --strict`` (with
    dendrux's own annotations, from this checkout)."""
    pytest.importorskip("mypy")
    pytest.importorskip("ruff")
    files = []
    for number, block in enumerate(BLOCKS):
        files.append(tmp_path / f"block{number}.py")
        files[-1].write_text(block.code)
    config = str(REPO / "pyproject.toml")
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        ruff = [sys.executable, "-m", "ruff", *command, "--config", config, *map(str, files)]
        proc = subprocess.run(ruff, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    (tmp_path / "mypy.ini").write_text(MYPY_CONFIG)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--no-incremental",
         *(file.name for file in files)],
        cwd=tmp_path, env={**os.environ, "MYPYPATH": str(REPO)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _cli_lines() -> list[str]:
    lines = []
    text = README.read_text()
    for body in re.findall(r"^```sh\n(.*?)^```$", text, re.DOTALL | re.MULTILINE):
        for line in body.splitlines():
            command = line.split("#", 1)[0].strip()
            if re.match(r"(\S*/)?dendrux\s", command):
                lines.append(command)
    return lines


def test_readme_commands_parse() -> None:
    from dendrux.cli.app import build_parser

    lines = _cli_lines()
    assert lines, "the README shows no dendrux command"
    for line in lines:
        argv = shlex.split(line)[1:]
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:  # argparse's refusal
            pytest.fail(f"{line!r} does not parse (exit {exc.code})")


def test_include_router_is_told_to_mount() -> None:
    """FastAPI's habit gets a hint; getattr/hasattr (Starlette's Mount) behave as before."""
    fastapi = pytest.importorskip("fastapi")
    from dendrux.http import make_read_router
    from dendrux.store import RunStore

    router = make_read_router(
        store=RunStore.from_database_url(SQLITE_URL), authorize=lambda scope: None
    )
    with pytest.raises(AttributeError, match=r"mount it .*app\.mount\('/audit', router\)"):
        fastapi.FastAPI().include_router(router)
    with pytest.raises(AttributeError, match=r"mount it"):
        router.routes  # noqa: B018  (older FastAPI reads it first)
    assert getattr(router, "routes", []) == [] and not hasattr(router, "routes")
    with pytest.raises(AttributeError, match=r"^'ReadRouter' object has no attribute 'rotes'$"):
        router.rotes  # noqa: B018


# -- running them ------------------------------------------------------------------------------


def _run(block: Block, script: Path, cwd: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"{block.name} exited {proc.returncode}:\n{proc.stderr[-4000:]}"


def _get(base: str, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as answer:
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _open_stream(port: int, path: str) -> socket.socket:
    """The whole store's event stream, open (headers read): a response that only
    ends when the server ends it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "the stream closed before its headers"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return sock


def _ended_cleanly(sock: socket.socket) -> bool:
    """True when the server finished the chunked response (rather than dropping it)."""
    body = b""
    sock.settimeout(5)
    try:
        while chunk := sock.recv(4096):
            body += chunk
    except OSError:
        return False
    return body.endswith(b"0\r\n\r\n")


def _serve(block: Block, script: Path, cwd: Path, port: int) -> None:
    log = cwd / f"{script.stem}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(script)], cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        base, prefix = f"http://127.0.0.1:{port}", block.prefix
        deadline = time.monotonic() + BLOCK_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"{block.name} exited early:\n{_output(log)}"
            assert time.monotonic() < deadline, f"{block.name} never served:\n{_output(log)}"
            try:
                if _get(base, prefix + "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        status, body = _get(base, prefix + "/runs")
        assert status == 200, (block.name, body[:300])
        assert "r1" in [run["run_id"] for run in json.loads(body)["runs"]]
        status, body = _get(base, prefix + "/runs/r1/events")
        assert status == 200 and json.loads(body)["events"], (block.name, body[:300])
        if prefix:
            assert _get(base, "/runs")[0] == 404  # under the prefix only
        stream = _open_stream(port, prefix + "/events/stream")
        prompt = "close_streams()" in block.code
        if not prompt:  # its open stream would hold the shutdown for the graceful timeout
            stream.close()
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        with stream:
            ended = prompt and _ended_cleanly(stream)
            proc.wait(timeout=BLOCK_TIMEOUT_S)
        took = time.monotonic() - started
        output = _output(log)
        assert proc.returncode == 0, f"{block.name} exited {proc.returncode}:\n{output}"
        assert "Traceback" not in output and "ERROR" not in output, output
        assert took < 4.0, f"{block.name} took {took:.1f} s to stop (graceful timeout: 5 s)"
        assert ended or not prompt, f"{block.name}: the open stream was dropped, not ended"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_every_block_runs_in_order(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")
    url = SQLITE_URL if dialect == "sqlite" else request.getfixturevalue("postgres_url")
    for number, block in enumerate(BLOCKS):
        port = _free_port()
        script = tmp_path / f"block{number}.py"
        script.write_text(_script(block, url, port))
        if block.serves:
            _serve(block, script, tmp_path, port)
        else:
            _run(block, script, tmp_path)
    if dialect == "sqlite":
        assert (tmp_path / "app.db").exists()  # the relative URL, as written


# -- "Coming from dendrux 0.4.1" ---------------------------------------------------------------

SECTION = README.read_text().split("## Coming from dendrux 0.4.1", 1)[1].split("\n## ", 1)[0]


def test_every_import_path_of_ours_exists() -> None:
    ours = [
        row.split("|")[2]
        for row in SECTION.splitlines()
        if row.startswith("| `") and "dendrux 0.4.1" not in row
    ]
    modules = {m for cell in ours for m in re.findall(r"`(dendrux(?:\.[a-z_]+)*)`", cell)}
    assert {"dendrux.state", "dendrux.loops", "dendrux.recorder", "dendrux.db"} <= modules
    for module in modules:
        importlib.import_module(module)
    from dendrux.loops.base import BaseRecorder, LoopRecorder

    assert importlib.import_module("dendrux.loops").LoopRecorder is LoopRecorder
    assert importlib.import_module("dendrux.loops").BaseRecorder is BaseRecorder
    recorder = importlib.import_module("dendrux.recorder")
    for name in ("EventSequencer", "retry_critical", "best_effort", "PersistenceRecorder"):
        assert hasattr(recorder, name), name


def test_the_section_has_its_block() -> None:
    assert re.search(r"^```python\n", SECTION, re.MULTILINE), "the section lost its block"


def test_links_resolve() -> None:
    text = "\n".join(page.read_text() for page in PAGES)
    links = {link for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text) if "://" not in link}
    assert {"docs/compat.md", "docs/adopting-0.4.1.md", "docs/mounting.md"} <= links
    for link in links:
        assert (REPO / link).exists() or (REPO / "docs" / link).exists(), link


def test_one_version_everywhere() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert dendrux.__version__ == project["version"] == "0.5.0"
    assert "version 0.5.0" in SECTION
