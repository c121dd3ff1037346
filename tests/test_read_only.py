"""Readers never write: `RunStore`, the HTTP router and the CLI's read commands leave
a database exactly as they found it, whatever its schema version.

A SQLite file at schema version 1 (only migration 0001 applied) stays byte-for-byte
the same, its version table unchanged, after a reader opened it: the reader
refuses it with an error naming ``dendrux db upgrade`` instead of migrating it
(which would lock out the older writer that owns it). One at a newer version
than this code knows is refused too. Engine options pass through to the engine.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dendrux.db import upgrade
from dendrux.errors import InvalidArgumentError, SchemaOutdatedError, SchemaTooNewError
from dendrux.http import make_read_router
from dendrux.state import StateStore
from dendrux.store import RunStore
from tests.http_support import asgi_request
from tests.schema_files import schema_one_file


def _allow(scope: Any) -> None:
    return None


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def _schema_one(path: Path, journal: str) -> None:
    """A file as migration 0001 alone leaves it, with one run in it, in the journal mode
    ``dendrux db upgrade`` (delete) or a writer (wal) leaves it in."""
    schema_one_file(path, journal=journal)
    with sqlite3.connect(path) as raw:
        raw.executescript(
            "INSERT INTO agent_runs (id, agent_name, status, created_at, updated_at) VALUES "
            "('r1', 'agent', 'success', '2026-01-01T00:00:00.000000+00:00', "
            "'2026-01-01T00:00:00.000000+00:00');"
        )
    raw.close()


def _fingerprint(path: Path) -> dict[str, str | None]:
    """The file and its WAL, hashed (None when absent), and the applied versions."""
    out: dict[str, str | None] = {}
    for suffix in ("", "-wal"):
        file = Path(f"{path}{suffix}")
        digest = hashlib.sha256(file.read_bytes()).hexdigest() if file.exists() else None
        out[suffix or "db"] = digest
    return out


def _versions(path: Path) -> list[int]:
    raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in raw.execute("SELECT version FROM dendrux_schema_version")]
    finally:
        raw.close()


@pytest.fixture(params=["delete", "wal"])
async def schema_one(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    path = tmp_path / "old.db"
    await _schema_one(path, request.param)
    return path


async def test_run_store_leaves_a_schema_one_file_as_it_is(schema_one: Path) -> None:
    before = _fingerprint(schema_one)
    async with RunStore.from_database_url(_url(schema_one)) as store:
        for read in (store.count_runs, store.list_runs, lambda: store.get_run("r1")):
            with pytest.raises(SchemaOutdatedError, match="dendrux db upgrade") as info:
                await read()
            assert "schema version 1" in str(info.value)
    assert _fingerprint(schema_one) == before
    assert _versions(schema_one) == [1]
    # After the upgrade its writer chose to run, the same reader reads it.
    assert await upgrade(_url(schema_one)) == [2, 3, 4, 5, 6, 7]
    async with RunStore.from_database_url(_url(schema_one)) as store:
        assert await store.count_runs() == 1
        assert [r.run_id for r in await store.list_runs()] == ["r1"]


async def test_the_router_leaves_a_schema_one_file_as_it_is(schema_one: Path) -> None:
    before = _fingerprint(schema_one)
    async with RunStore.from_database_url(_url(schema_one)) as store:
        app = make_read_router(store=store, authorize=_allow)
        for path in ("/runs", "/runs/r1", "/runs/r1/events", "/runs/r1/pauses"):
            reply = await asgi_request(app, path)
            assert reply.status >= 500, (path, reply.status)  # never a migrated answer
            assert "internal" in reply.body.decode() or "unavailable" in reply.body.decode()
    assert _fingerprint(schema_one) == before
    assert _versions(schema_one) == [1]


def test_cli_read_commands_leave_a_schema_one_file_as_it_is(
    schema_one: Path, tmp_path: Path
) -> None:
    before = _fingerprint(schema_one)
    env = {k: v for k, v in os.environ.items() if k != "DENDRUX_DATABASE_URL"}
    env |= {"HOME": str(tmp_path), "DENDRUX_DATABASE_URL": _url(schema_one)}
    for args in (["runs"], ["runs", "--json"], ["events", "r1"]):
        done = subprocess.run(
            [sys.executable, "-m", "dendrux", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "dendrux db upgrade" in done.stderr, (args, done.stderr)
    assert _fingerprint(schema_one) == before
    assert _versions(schema_one) == [1]


async def test_a_newer_schema_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    await upgrade(_url(path))
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO dendrux_schema_version (version, name, checksum, applied_at) "
            "VALUES (99, 'from_the_future', 'x', '2030-01-01T00:00:00+00:00')"
        )
    raw.close()
    before = _fingerprint(path)
    async with RunStore.from_database_url(_url(path)) as store:
        with pytest.raises(SchemaTooNewError, match="upgrade the dendrux package"):
            await store.count_runs()
    assert _fingerprint(path) == before


async def test_a_reader_never_migrates_even_when_asked(tmp_path: Path) -> None:
    url = _url(tmp_path / "x.db")
    for options in ({"auto_migrate": True}, {"auto_migrate": "on"}):
        with pytest.raises(InvalidArgumentError, match=r"auto_migrate.*dendrux db upgrade"):
            RunStore.from_database_url(url, **options)
    with pytest.raises(InvalidArgumentError, match="auto_migrate"):
        RunStore.from_database_url(url + "?auto_migrate=true")
    assert not (tmp_path / "x.db").exists()


async def test_engine_options_pass_through(dialect: str, database_url: str) -> None:
    options: dict[str, Any] = {"schema": "audit"} if dialect == "postgres" else {"readers": 1}
    await upgrade(database_url, **options)
    async with StateStore.from_database_url(database_url, **options) as writer:
        await writer.create_run("in-audit", "agent")
    async with RunStore.from_database_url(database_url, **options) as store:
        assert [r.run_id for r in await store.list_runs()] == ["in-audit"]
        assert await store.get_run_status("in-audit") == "running"
    if dialect == "postgres":  # the default schema does not hold it
        async with RunStore.from_database_url(database_url) as store:
            assert await store.count_runs() == 0
    with pytest.raises(InvalidArgumentError, match="unknown"):
        RunStore.from_database_url(database_url, no_such_option=1)
