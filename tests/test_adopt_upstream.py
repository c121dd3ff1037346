"""Databases written by dendrux 0.4.1 itself (issue 14, item 4).

Each dialect's source database is made once per session by the published package in
the oracle venv (`compat/upstream_fill.py`: every differential scenario applied to one
database), then copied per test. Ours must read it as it is (every RunStore and
StateStore read equal to 0.4.1's own, but for the differences docs/compat.md lists),
leave it untouched, refuse to migrate it by default, and adopt it on request: exactly
our schema afterwards, same reads, writable by our recorder, all or nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from compat.compare import differences
from compat.driver import OursSide
from compat.known_differences import KNOWN
from compat.oracle import OracleBuildError, ensure_oracle
from compat.upstream_fill import read_all
from conftest import CI, _admin, _create_database, _drop_database, _run_async
from test_upstream_compat import snapshot

import dendrux.db
from dendrux.db.adopt import adopt_url
from dendrux.errors import SchemaError
from dendrux.state import StateStore
from dendrux.store import RunStore

FILL = Path(__file__).resolve().parent / "compat" / "upstream_fill.py"
PG_SOURCE = "adopt_upstream_0_4_1_source"
_names = itertools.count(1)


def _oracle_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def _oracle(python: Path, mode: str, url: str, stdin: Any = None) -> Any:
    done = subprocess.run(
        [str(python), "-I", str(FILL), mode, url],
        input=None if stdin is None else json.dumps(stdin),
        env=_oracle_env(),
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"dendrux 0.4.1 ({mode}) failed:\n{done.stderr[-6000:]}")
    return json.loads(done.stdout)


@pytest.fixture(scope="session")
def oracle(request: pytest.FixtureRequest) -> Path:
    try:
        python, _, _ = ensure_oracle()
    except (OracleBuildError, OSError, TimeoutError) as exc:
        if CI:
            pytest.fail(f"CI=true and the dendrux 0.4.1 oracle could not be built:\n{exc}")
        pytest.skip(f"dendrux 0.4.1 oracle unavailable: {exc}")
    return python


@pytest.fixture(scope="session")
def sqlite_source(oracle: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A SQLite file 0.4.1 created and filled, and its runs per scenario."""
    path = tmp_path_factory.mktemp("upstream") / "source.db"
    runs = _oracle(oracle, "fill", f"sqlite+aiosqlite:///{path}")
    return path, runs


@pytest.fixture(scope="session")
def pg_source(oracle: Path, pg_cluster: Any) -> tuple[str, Any]:
    """A PostgreSQL database 0.4.1 migrated (its Alembic chain) and filled: a template."""
    assert pg_cluster is not None
    pg_cluster.ensure_running()
    _run_async(lambda: _admin(pg_cluster, f"CREATE DATABASE {PG_SOURCE} TEMPLATE template0"))
    url = pg_cluster.dsn(PG_SOURCE).replace("postgresql://", "postgresql+asyncpg://", 1)
    migrated = subprocess.run(
        [str(oracle), "-I", "-c", "from dendrux.cli.main import app; app(['db', 'migrate'])"],
        env={**_oracle_env(), "DENDRUX_DATABASE_URL": url},
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    runs = _oracle(oracle, "fill", url)
    _run_async(
        lambda: _admin(
            pg_cluster,
            f"ALTER DATABASE {PG_SOURCE} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{PG_SOURCE}' AND pid <> pg_backend_pid()",
        )
    )
    return PG_SOURCE, runs


def _copy(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, Any]:
    """A fresh copy of the dialect's source database: (our URL, runs)."""
    if dialect == "sqlite":
        source, runs = request.getfixturevalue("sqlite_source")
        path = tmp_path / f"upstream-{next(_names)}.db"
        shutil.copyfile(source, path)
        return f"sqlite+aiosqlite:///{path}", runs
    template, runs = request.getfixturevalue("pg_source")
    cluster = request.getfixturevalue("pg_cluster")
    strategy = request.getfixturevalue("_pg_supports_strategy")
    cluster.ensure_running()
    name = f"adopt_{next(_names)}"
    _create_database(cluster, name, template, strategy)
    request.addfinalizer(lambda: _drop_database(cluster, name))
    return cluster.dsn(name), runs


@pytest.fixture
def upstream(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, Any]:
    return _copy(dialect, tmp_path, request)


def _oracle_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


def _file(url: str) -> Path:
    return Path(url.split("///", 1)[1])


def _digest(url: str) -> str:
    path = _file(url)
    side = [p.name for p in path.parent.iterdir() if p.name.startswith(path.name + "-")]
    assert side == [], f"journal files left behind: {side}"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _unexplained(dialect: str, upstream: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    found = []
    for name in upstream:
        found += differences(name, upstream[name], ours[name])
    return [str(d) for d in found if not any(k.matches(dialect, d) for k in KNOWN)]


# -- read as it is ------------------------------------------------------------------------


async def test_reads_match_upstream_and_change_nothing(
    dialect: str, upstream: tuple[str, Any], oracle: Path, tmp_path: Path
) -> None:
    url, runs = upstream
    before = await snapshot(dialect, url)
    digest = _digest(url) if dialect == "sqlite" else None
    ours = await read_all(OursSide(), url, runs)
    assert await snapshot(dialect, url) == before
    if digest is not None:
        assert _digest(url) == digest, "reading changed the SQLite file"
    # 0.4.1 reads its own database (a copy: its SQLite engine may sync the schema).
    if dialect == "sqlite":
        theirs_path = tmp_path / "theirs.db"
        shutil.copyfile(_file(url), theirs_path)
        theirs_url = f"sqlite+aiosqlite:///{theirs_path}"
    else:
        theirs_url = _oracle_url(url)
    theirs = _oracle(oracle, "read", theirs_url, runs)
    assert _unexplained(dialect, theirs, ours) == []


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dendrux", *args, "--database-url", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_reads_it_unchanged(dialect: str, upstream: tuple[str, Any]) -> None:
    url, runs = upstream
    before = await snapshot(dialect, url)
    digest = _digest(url) if dialect == "sqlite" else None
    run_id = runs["tools"]["A"]
    listed = _cli(url, "runs")
    assert listed.returncode == 0, listed.stderr
    assert run_id in listed.stdout
    for args in (("show", run_id), ("events", run_id)):
        done = _cli(url, *args)
        assert done.returncode == 0, done.stderr
        assert run_id in done.stdout or done.stdout.strip(), args
    status = _cli(url, "db", "status", "--json")
    assert status.returncode == 1
    assert json.loads(status.stdout)["upstream"] is True
    assert await snapshot(dialect, url) == before
    if digest is not None:
        assert _digest(url) == digest


# -- upgrade refuses, adoption converts -----------------------------------------------------


async def test_upgrade_refuses_by_default(dialect: str, upstream: tuple[str, Any]) -> None:
    url, _ = upstream
    before = await snapshot(dialect, url)
    with pytest.raises(SchemaError, match=r"dendrux 0\.4\.1") as raised:
        await dendrux.db.upgrade(url)
    assert "--adopt-upstream" in str(raised.value)
    assert "pre-adopt" in str(raised.value) or "pg_dump" in str(raised.value)
    done = _cli(url, "db", "upgrade")
    assert done.returncode != 0
    assert "--adopt-upstream" in done.stderr
    assert await snapshot(dialect, url) == before
    if dialect == "sqlite":
        assert not list(_file(url).parent.glob("*.pre-adopt-*"))


async def _schema(dialect: str, url: str) -> dict[str, Any]:
    """Our tables' definition: what a fresh database of ours must match."""
    snap = await snapshot(dialect, url)
    if dialect == "sqlite":
        raw = sqlite3.connect(_file(url))
        try:
            versions = raw.execute("SELECT version, name, checksum FROM dendrux_schema_version")
            applied = versions.fetchall()
        finally:
            raw.close()
        ours = [o for o in snap["objects"] if not str(o[2]).startswith(("dendrux_blob", "alembic"))]
        return {"objects": ours, "versions": applied}
    conn = await asyncpg.connect(url)
    try:
        constraints = await conn.fetch(
            "SELECT c.conrelid::regclass::text AS t, c.conname, pg_get_constraintdef(c.oid) AS d "
            "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE n.nspname = 'public' AND c.conrelid::regclass::text NOT LIKE 'dendrux_blob%' "
            "AND c.conrelid::regclass::text <> 'alembic_version' "
            "ORDER BY 1, 2"
        )
        applied = await conn.fetch("SELECT version, name, checksum FROM dendrux_schema_version")
    finally:
        await conn.close()
    keep = [c for c in snap["columns"] if not str(c[1]).startswith(("dendrux_blob", "alembic"))]
    indexes = [i for i in snap["indexes"] if "dendrux_blob" not in i[2] and "alembic" not in i[2]]
    return {
        "columns": keep,
        "indexes": indexes,
        "constraints": [tuple(c) for c in constraints],
        "triggers": snap["triggers"],
        "versions": sorted(tuple(v) for v in applied),
    }


async def test_adopt_converts_in_place(
    dialect: str, upstream: tuple[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url, runs = upstream
    pristine = await snapshot(dialect, url)
    before = await read_all(OursSide(), url, runs)
    result = await adopt_url(url)
    assert result.adopted and result.applied == [1, 2, 3, 4, 5, 6, 7]
    after = await read_all(OursSide(), url, runs)
    assert _unexplained(dialect, before, after) == [] and before == after

    # Exactly a database of ours: same tables, columns, types, constraints, indexes.
    if dialect == "sqlite":
        fresh = f"sqlite+aiosqlite:///{tmp_path}/fresh.db"
    else:
        cluster = request.getfixturevalue("pg_cluster")
        _create_database(cluster, "adopt_fresh", "template0", False)
        request.addfinalizer(lambda: _drop_database(cluster, "adopt_fresh"))
        fresh = cluster.dsn("adopt_fresh")
    await dendrux.db.upgrade(fresh)
    assert await _schema(dialect, url) == await _schema(dialect, fresh)
    assert {"alembic_version", "dendrux_blobs", "dendrux_blob_refs"} <= {
        t.rsplit(".", 1)[-1] for t in (await snapshot(dialect, url))["tables"]
    } or dialect == "sqlite"  # 0.4.1's SQLite files have no alembic_version
    if dialect == "sqlite":
        assert result.backup is not None and Path(result.backup).is_file()
        # The backup is the database as it was: restore it and it is 0.4.1's again.
        restored = tmp_path / "restored.db"
        shutil.copyfile(result.backup, restored)
        snap = await snapshot(dialect, f"sqlite+aiosqlite:///{restored}")
        assert snap == pristine

    # Our recorder and StateStore write into it; RunStore reads it back.
    async with StateStore.from_database_url(url) as state:
        await state.create_run("01NEWRUN000000000000000000", "after_adoption", tenant_id="t1")
        await state.save_run_event(
            "01NEWRUN000000000000000000", event_type="run.started", sequence_index=0
        )
        await state.finalize_run("01NEWRUN000000000000000000", status="success")
    async with RunStore.from_database_url(url) as store:
        run = await store.get_run("01NEWRUN000000000000000000")
        assert run is not None and run.status == "success"
        assert [e.event_type for e in await store.get_events(run.run_id)] == ["run.started"]
        assert await store.count_runs(metadata_filter={"thread_id": "t-1"}) >= 1

    # Adopting again, or upgrading, is a no-op.
    again = await adopt_url(url)
    assert not again.adopted and again.applied == [] and again.backup is None
    assert await dendrux.db.upgrade(url) == []


async def test_concurrent_adoptions_convert_once(dialect: str, upstream: tuple[str, Any]) -> None:
    url, runs = upstream
    before = await read_all(OursSide(), url, runs)
    first, second, plain = await asyncio.gather(
        adopt_url(url), adopt_url(url), dendrux.db.upgrade(url), return_exceptions=True
    )
    assert sorted([first.adopted, second.adopted]) == [False, True]  # type: ignore[union-attr]
    # A plain upgrade waits for the lock: before adoption it refuses, after it has nothing to do.
    assert plain == [] or (isinstance(plain, SchemaError) and "--adopt-upstream" in str(plain))
    assert await read_all(OursSide(), url, runs) == before


async def test_duplicate_slots_refused_nothing_changed(
    dialect: str, upstream: tuple[str, Any], oracle: Path
) -> None:
    url, _ = upstream
    run_id = _oracle(oracle, "dups", _oracle_url(url))
    before = await snapshot(dialect, url)
    with pytest.raises(SchemaError, match="nothing was changed") as raised:
        await adopt_url(url)
    assert run_id in str(raised.value) and "run_events" in str(raised.value)
    assert await snapshot(dialect, url) == before
    if dialect == "sqlite":
        assert not list(_file(url).parent.glob("*.pre-adopt-*"))


async def test_a_failure_mid_adoption_changes_nothing(
    dialect: str, upstream: tuple[str, Any]
) -> None:
    """A row the copy cannot take, found after 0.4.1's tables were moved aside and ours
    created: the whole adoption rolls back."""
    url, _ = upstream
    if dialect == "sqlite":  # an orphan (0.4.1's SQLite engine leaves foreign keys off)
        raw = sqlite3.connect(_file(url))
        with raw:
            raw.execute(
                "INSERT INTO run_events (id, agent_run_id, event_type, sequence_index, "
                "iteration_index, created_at) VALUES ('01ORPHAN00000000000000000E', "
                "'01MISSINGRUN00000000000000', 'run.started', 0, 0, '2026-01-01 00:00:00.000000')"
            )
        raw.close()
    else:  # JSON that JSONB refuses (a NUL character)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                'UPDATE agent_runs SET meta = \'{"k": "a\\u0000b"}\'::json '
                "WHERE id = (SELECT min(id) FROM agent_runs)"
            )
        finally:
            await conn.close()
    before = await snapshot(dialect, url)
    with pytest.raises(SchemaError, match="nothing was changed"):
        await adopt_url(url)
    assert await snapshot(dialect, url) == before


async def test_older_upstream_schema_is_refused(dialect: str, raw_database_url: str) -> None:
    """The hand-written upstream fixture, without what 0.4.0 added (the pause request
    flag), is an upstream schema older than 0.4.1."""
    from test_upstream_compat import _load_fixture, _sqlite_path

    await _load_fixture(dialect, raw_database_url)
    older = "ALTER TABLE agent_runs DROP COLUMN pause_requested"
    if dialect == "sqlite":
        with sqlite3.connect(_sqlite_path(raw_database_url)) as raw:
            raw.execute(older)
        raw.close()
    else:
        conn = await asyncpg.connect(raw_database_url)
        try:
            await conn.execute(older)
        finally:
            await conn.close()
    before = await snapshot(dialect, raw_database_url)
    with pytest.raises(SchemaError, match=r"older than dendrux 0\.4\.1"):
        await adopt_url(raw_database_url)
    assert await snapshot(dialect, raw_database_url) == before


def test_adopt_needs_a_url() -> None:
    from dendrux.errors import InvalidArgumentTypeError

    with pytest.raises(InvalidArgumentTypeError, match="URL"):
        asyncio.run(adopt_url(object()))
