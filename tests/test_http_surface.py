"""The router as one surface among others (issue 13).

- Filter text reads as the CLI reads it (`dendrux.read.text`): a quoted
  ``meta.k="x"`` is the string ``x``, ``"5"`` the string ``5``; a bare date is
  midnight UTC. The CLI and the router select the same runs for the same text.
- The router reaches the database only through `RunStore` (no SQL, no
  ``engine.connect()`` in ``dendrux/http/``), so a read on an older writer's
  SQLite file leaves the file as it was.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from http_support import asgi_request

from dendrux.http import make_read_router
from dendrux.state import StateStore
from dendrux.store import RunStore
from tests.schema_files import schema_one_file

HTTP_PACKAGE = Path(__file__).resolve().parent.parent / "dendrux" / "http"


@pytest.fixture
async def run_store(database_url: str) -> AsyncIterator[RunStore]:
    async with RunStore.from_database_url(database_url) as store:
        yield store


def allow_all(scope: Any) -> None:
    return None


async def _ids(app: Any, query: str) -> list[str]:
    reply = await asgi_request(app, "/runs", query.encode())
    assert reply.status == 200, (query, reply.body)
    return [run["run_id"] for run in reply.json()["runs"]]


META_RUNS: dict[str, dict[str, Any]] = {
    "m_str_x": {"k": "x"},
    "m_quoted_x": {"k": '"x"'},  # the quotes are part of the stored string
    "m_num_5": {"k": 5},
    "m_str_5": {"k": "5"},
    "m_str_007": {"k": "007"},
    "m_true": {"k": True},
    "m_str_true": {"k": "true"},
    "m_empty": {"k": ""},
}
# query value -> the runs it selects (a JSON scalar when written as one, else the text)
META_SELECTIONS = {
    "x": {"m_str_x"},
    '"x"': {"m_str_x"},
    '"\\"x\\""': {"m_quoted_x"},
    "5": {"m_num_5"},
    '"5"': {"m_str_5"},
    "007": {"m_str_007"},
    "true": {"m_true"},
    '"true"': {"m_str_true"},
    "": {"m_empty"},
    '""': {"m_empty"},
}


async def _seed_meta(state_store: StateStore) -> None:
    for run_id, meta in META_RUNS.items():
        await state_store.create_run(run_id, "agent", meta=meta)


async def test_quoted_meta_values_are_json_strings(
    state_store: StateStore, run_store: RunStore
) -> None:
    await _seed_meta(state_store)
    app = make_read_router(store=run_store, authorize=allow_all)
    for value, want in META_SELECTIONS.items():
        assert set(await _ids(app, f"meta.k={quote(value)}")) == want, value


async def test_a_bare_date_is_midnight_utc(state_store: StateStore, run_store: RunStore) -> None:
    await state_store.create_run("r1", "agent")
    app = make_read_router(store=run_store, authorize=allow_all)
    assert await _ids(app, "started_after=2000-01-01") == ["r1"]
    assert await _ids(app, "started_before=2000-01-01") == []
    assert await _ids(app, "started_before=9999-12-31") == ["r1"]
    # A datetime with a time but no offset stays refused (naive datetimes are ambiguous).
    reply = await asgi_request(app, "/runs", b"started_after=2000-01-01T00:00:00")
    assert reply.status == 400
    assert reply.json()["error"]["message"].startswith("started_after must say its time zone")


def _cli_runs(url: str, home: Path, *args: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if k != "DENDRUX_DATABASE_URL"}
    env.update(HOME=str(home), DENDRUX_DATABASE_URL=url)
    done = subprocess.run(
        [sys.executable, "-m", "dendrux", "runs", "--json", "--limit", "1000", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return {run["run_id"] for run in json.loads(done.stdout)}


async def _same_selection(
    database_url: str, state_store: StateStore, run_store: RunStore, tmp: Path, values: list[str]
) -> None:
    await _seed_meta(state_store)
    app = make_read_router(store=run_store, authorize=allow_all)
    for value in values:
        by_http = set(await _ids(app, f"meta.k={quote(value)}"))
        by_cli = await asyncio.to_thread(_cli_runs, database_url, tmp, "--meta", f"k={value}")
        assert by_http == by_cli == META_SELECTIONS[value], value


async def test_cli_and_http_select_the_same_runs_for_the_same_meta_text(
    database_url: str, state_store: StateStore, run_store: RunStore, tmp_path: Path
) -> None:
    values = ['"x"', "x", '"5"', "5", '"true"']
    await _same_selection(database_url, state_store, run_store, tmp_path, values)


async def test_cli_and_http_read_a_zero_padded_number_alike(
    database_url: str, state_store: StateStore, run_store: RunStore, tmp_path: Path
) -> None:
    # Not a JSON number, so the text itself (the CLI refused it as "too many digits").
    await _same_selection(database_url, state_store, run_store, tmp_path, ["007"])


def test_the_router_holds_no_sql() -> None:
    """Every read goes through `RunStore`: no named query, no engine, no connection."""
    needles = re.compile(r"\.engine\b|\.connect\(|fetch_(?:one|all|value)|_db\(|\bSELECT\b")
    for path in sorted(HTTP_PACKAGE.glob("*.py")):
        text = path.read_text("utf-8")
        assert not needles.search(text), (path.name, needles.search(text))


def _schema_1_file(tmp_path: Path) -> Path:
    """A SQLite file as a writer at schema version 1 left it, with one run."""
    path = tmp_path / "old.db"
    schema_one_file(path, journal="delete")
    with sqlite3.connect(path) as raw:
        raw.executescript(
            "INSERT INTO agent_runs (id, agent_name, status, created_at, updated_at) "
            "VALUES ('r1', 'agent', 'success', '2026-01-01T00:00:00.000000+00:00', "
            "'2026-01-01T00:00:00.000000+00:00');"
        )
    raw.close()
    return path


def test_the_router_leaves_a_schema_1_file_as_it_was(tmp_path: Path) -> None:
    path = _schema_1_file(tmp_path)
    before = path.read_bytes()

    async def read() -> list[int]:
        async with RunStore.from_database_url(f"sqlite+aiosqlite:///{path}") as store:
            app = make_read_router(store=store, authorize=allow_all)
            statuses = []
            for route in ("/runs", "/runs/r1", "/runs/r1/events", "/runs/missing"):
                statuses.append((await asgi_request(app, route)).status)
            return statuses

    statuses = asyncio.run(read())
    assert all(status in (200, 404, 500, 503) for status in statuses), statuses
    with sqlite3.connect(path) as raw:
        versions = [v for (v,) in raw.execute("SELECT version FROM dendrux_schema_version")]
    raw.close()
    assert versions == [1]
    assert path.read_bytes() == before
