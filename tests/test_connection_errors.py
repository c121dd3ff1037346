"""Faults users hit when connecting: one clear exception type per cause.

SPEC 10: "Unreachable database, wrong password, missing schema, read-only
file: one clear exception type per cause with the URL (password masked) and
the fix." SPEC 3: schema versions with checksums, safe when two processes
migrate at once; "using an unmigrated or too-old database fails with an
error that says how to fix it".

Every fault here is real: a port nothing listens on, a PostgreSQL cluster of
this module's own that checks passwords, databases that do not exist, edited
version tables, read-only SQLite connections, real concurrent processes. No
mocks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pgcluster import PgCluster, PgClusterError, find_binaries

import dendrux.db
from dendrux.db import create_engine, upgrade
from dendrux.errors import (
    AuthenticationFailedError,
    ConnectionFailedError,
    DatabaseError,
    DatabaseMissingError,
    MigrationChecksumError,
    ReadOnlyDatabaseError,
    SchemaNotMigratedError,
    SchemaOutdatedError,
    SchemaTooNewError,
)
from dendrux.state import StateStore

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").strip().lower() == "true"
VERSION_TABLE = "dendrux_schema_version"
SIX_TABLES = {
    "agent_runs",
    "react_traces",
    "tool_calls",
    "token_usage",
    "llm_interactions",
    "run_events",
}

APP_USER = "app"
APP_DB = "appdb"
RIGHT_PASSWORD = "R1ghtPw-x9k2"  # unusual strings, so a leak cannot hide in prose
WRONG_PASSWORD = "Wr0ngPw-q7z4"


# -- helpers ------------------------------------------------------------------------


def _run_async(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine in a private event loop on a worker thread (sync fixtures)."""

    async def main() -> T:
        return await fn()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _pg_execute(dsn: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=30)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


async def _pg_fetch(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=30)
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def _sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1].split("?", 1)[0]


async def _execute(dialect: str, url: str, sql: str) -> None:
    """Run one statement on the database behind ``url`` with the raw driver."""
    if dialect == "sqlite":
        with sqlite3.connect(_sqlite_path(url)) as conn:
            conn.execute(sql)
        return
    await _pg_execute(url, sql)


async def _fetch(dialect: str, url: str, sql: str) -> list[tuple[Any, ...]]:
    if dialect == "sqlite":
        with sqlite3.connect(_sqlite_path(url)) as conn:
            return [tuple(r) for r in conn.execute(sql)]
    return await _pg_fetch(url, sql)


async def _tables(dialect: str, url: str) -> set[str]:
    if dialect == "sqlite":
        rows = await _fetch(dialect, url, "SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = await _fetch(
            dialect, url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
    return {r[0] for r in rows}


async def _versions(dialect: str, url: str) -> list[int]:
    rows = await _fetch(dialect, url, f"SELECT version FROM {VERSION_TABLE} ORDER BY version")
    return [int(r[0]) for r in rows]


def _known_versions(dialect: str) -> list[int]:
    from dendrux.db.queries import load_migrations

    return [m.version for m in load_migrations(dialect)]  # type: ignore[arg-type]


def _assert_no_secret(exc: BaseException, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in str(exc), f"password leaked in str(exc): {exc}"
        assert secret not in repr(exc), f"password leaked in repr(exc): {exc!r}"
        assert secret not in "".join(str(a) for a in exc.args)


def _unavailable(reason: str) -> None:
    if CI:
        pytest.fail(f"CI=true but PostgreSQL is unavailable: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def _subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DENDRUX_DATABASE_URL", None)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
    )
    env.update(extra)
    return env


# -- unreachable server ----------------------------------------------------------------


def _unreachable_url(scheme: str = "postgresql") -> tuple[str, str]:
    port = _free_port()
    url = f"{scheme}://u:secret@127.0.0.1:{port}/db?connect_timeout=2"
    masked = f"{scheme}://u:***@127.0.0.1:{port}/db"
    return url, masked


@pytest.mark.parametrize("operation", ["get_run", "create_run", "upgrade", "schema_status"])
async def test_unreachable_postgres_raises_connection_failed(operation: str) -> None:
    url, masked = _unreachable_url()
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError) as info:
        if operation in ("upgrade", "schema_status"):
            await getattr(dendrux.db, operation)(url)
        else:
            store = StateStore.from_database_url(url)
            try:
                if operation == "get_run":
                    await store.get_run("run-1")
                else:
                    await store.create_run("run-1", "agent")
            finally:
                await store.close()
    assert time.monotonic() - started < 15, "a refused connection must fail quickly"
    exc = info.value
    assert masked in str(exc), str(exc)
    _assert_no_secret(exc, "secret")
    assert "check" in str(exc).lower(), f"no fix in the message: {exc}"
    assert exc.transient is True
    assert exc.__cause__ is not None, "the driver's error must be kept as __cause__"


@pytest.mark.parametrize("scheme", ["postgres", "postgresql+asyncpg"])
async def test_unreachable_postgres_masks_every_scheme(scheme: str) -> None:
    url, masked = _unreachable_url(scheme)
    store = StateStore.from_database_url(url)
    try:
        with pytest.raises(ConnectionFailedError) as info:
            await store.get_run("run-1")
    finally:
        await store.close()
    assert masked in str(info.value)
    _assert_no_secret(info.value, "secret")


async def test_unreachable_postgres_masks_percent_encoded_password() -> None:
    port = _free_port()
    url = f"postgresql://u:s%40cr%3At@127.0.0.1:{port}/db?connect_timeout=2"
    with pytest.raises(ConnectionFailedError) as info:
        await upgrade(url)
    assert f"postgresql://u:***@127.0.0.1:{port}/db" in str(info.value)
    _assert_no_secret(info.value, "s%40cr%3At", "s@cr:t", "cr%3At")


async def test_unreachable_postgres_masks_password_query_parameter() -> None:
    """libpq URLs may carry the password as ``?password=``; it is masked too."""
    port = _free_port()
    url = f"postgresql://u@127.0.0.1:{port}/db?password=qsecret9&connect_timeout=2"
    store = StateStore.from_database_url(url)
    try:
        with pytest.raises(ConnectionFailedError) as info:
            await store.get_run("run-1")
    finally:
        await store.close()
    assert f"127.0.0.1:{port}/db" in str(info.value)
    _assert_no_secret(info.value, "qsecret9")


async def test_store_keeps_working_after_a_failed_connect_once_the_server_is_up(
    pg_server: PgCluster,
) -> None:
    """A failed first connect is not cached: the same store connects once the server is back."""
    url = pg_server.dsn("postgres")  # migrated below into a fresh database
    name = f"conn_err_{os.getpid()}_{time.monotonic_ns()}"
    await _pg_execute(url, f'CREATE DATABASE "{name}"')
    db_url = pg_server.dsn(name)
    try:
        await upgrade(db_url)
        pg_server.stop_server()
        store = StateStore.from_database_url(db_url + "?connect_timeout=2")
        try:
            with pytest.raises(ConnectionFailedError) as info:
                await store.get_run("run-1")
            assert db_url in str(info.value)
            pg_server.start_server()
            assert await store.get_run("run-1") is None
        finally:
            await store.close()
    finally:
        pg_server.ensure_running()
        await _pg_execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- wrong password (a cluster of this module's own, with password auth) ---------------


def _write_as_server_user(path: Path, text: str) -> None:
    path.write_text(text)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, 0o600)


async def _wait_for_password_auth(cluster: PgCluster) -> None:
    """pg_reload_conf() is asynchronous: wait until a wrong password is refused."""
    import asyncpg

    dsn = f"postgresql://{APP_USER}:{WRONG_PASSWORD}@127.0.0.1:{cluster.port}/{APP_DB}"
    deadline = time.monotonic() + 15
    while True:
        try:
            conn = await asyncpg.connect(dsn, timeout=5)
        except asyncpg.InvalidPasswordError:
            return
        await conn.close()
        if time.monotonic() > deadline:
            raise PgClusterError("pg_hba.conf reload did not take effect")
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def auth_cluster() -> Iterator[PgCluster]:
    """A dedicated cluster: ``postgres`` trusted, everyone else needs a scram password."""
    if find_binaries() is None:
        _unavailable("no initdb/pg_ctl/postgres under /usr/lib/postgresql/*/bin or on PATH")
    cluster = PgCluster()
    try:
        cluster.start()
    except PgClusterError as exc:
        pytest.fail(f"could not start the password-auth cluster:\n{exc}", pytrace=False)
    try:
        admin = cluster.dsn("postgres")
        _run_async(
            lambda: _pg_execute(
                admin,
                "SET password_encryption = 'scram-sha-256'",
                f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{RIGHT_PASSWORD}'",
                f"CREATE DATABASE {APP_DB} OWNER {APP_USER}",
            )
        )
        _write_as_server_user(
            cluster.data_dir / "pg_hba.conf",
            "# written by tests/test_connection_errors.py\n"
            "local   all   all                       trust\n"
            "host    all   postgres   127.0.0.1/32   trust\n"
            "host    all   postgres   ::1/128        trust\n"
            "host    all   all        127.0.0.1/32   scram-sha-256\n"
            "host    all   all        ::1/128        scram-sha-256\n",
        )
        _run_async(lambda: _pg_execute(admin, "SELECT pg_reload_conf()"))
        _run_async(lambda: _wait_for_password_auth(cluster))
        yield cluster
    finally:
        cluster.stop()


def _app_url(cluster: PgCluster, password: str, db: str = APP_DB, user: str = APP_USER) -> str:
    return f"postgresql://{user}:{password}@127.0.0.1:{cluster.port}/{db}"


def _app_masked(cluster: PgCluster, db: str = APP_DB, user: str = APP_USER) -> str:
    return f"postgresql://{user}:***@127.0.0.1:{cluster.port}/{db}"


@pytest.mark.parametrize("operation", ["get_run", "upgrade"])
async def test_wrong_password_raises_authentication_failed(
    auth_cluster: PgCluster, operation: str
) -> None:
    url = _app_url(auth_cluster, WRONG_PASSWORD)
    with pytest.raises(AuthenticationFailedError) as info:
        if operation == "upgrade":
            await upgrade(url)
        else:
            store = StateStore.from_database_url(url)
            try:
                await store.get_run("run-1")
            finally:
                await store.close()
    exc = info.value
    assert _app_masked(auth_cluster) in str(exc), str(exc)
    _assert_no_secret(exc, WRONG_PASSWORD, RIGHT_PASSWORD)
    assert "password" in str(exc).lower(), f"no fix in the message: {exc}"
    assert not isinstance(exc, ConnectionFailedError), "a refused password is not 'unreachable'"
    assert exc.transient is False, "retrying a wrong password cannot help"
    assert exc.__cause__ is not None


async def test_unknown_user_raises_authentication_failed(auth_cluster: PgCluster) -> None:
    url = _app_url(auth_cluster, WRONG_PASSWORD, user="nobody")
    with pytest.raises(AuthenticationFailedError) as info:
        await upgrade(url)
    assert _app_masked(auth_cluster, user="nobody") in str(info.value)
    _assert_no_secret(info.value, WRONG_PASSWORD)


async def test_right_password_works(auth_cluster: PgCluster) -> None:
    url = _app_url(auth_cluster, RIGHT_PASSWORD)
    await upgrade(url)  # idempotent across parametrized reruns
    store = StateStore.from_database_url(url)
    try:
        assert await store.get_run("missing-run") is None
        result = await store.create_run(f"run-auth-{time.monotonic_ns()}", "agent")
        assert (await store.get_run(result.run_id)) is not None
    finally:
        await store.close()


async def test_missing_database_with_password_is_masked(auth_cluster: PgCluster) -> None:
    url = _app_url(auth_cluster, RIGHT_PASSWORD, db="no_such_db")
    store = StateStore.from_database_url(url)
    try:
        with pytest.raises(DatabaseMissingError) as info:
            await store.get_run("run-1")
    finally:
        await store.close()
    assert _app_masked(auth_cluster, db="no_such_db") in str(info.value)
    _assert_no_secret(info.value, RIGHT_PASSWORD)


SPECIAL_USER = "app_special"
SPECIAL_PASSWORD = "Sp3c/@:?#&=%zx"  # every reserved character, unencoded


@pytest.mark.parametrize("encoded", [False, True])
async def test_password_with_reserved_characters(auth_cluster: PgCluster, encoded: bool) -> None:
    """Issue 12: an unencoded ``/`` or ``@`` in the password leaked it into messages.
    The URL as users write it reaches the server with the password they meant, and
    a wrong one fails without the password anywhere in the cause chain."""
    import traceback
    from urllib.parse import quote

    await _pg_execute(
        auth_cluster.dsn("postgres"),
        "SET password_encryption = 'scram-sha-256'",
        f"DROP ROLE IF EXISTS {SPECIAL_USER}",
        f"CREATE ROLE {SPECIAL_USER} LOGIN SUPERUSER PASSWORD '{SPECIAL_PASSWORD}'",
    )

    def url(password: str) -> str:
        given = quote(password, safe="") if encoded else password
        return f"postgresql://{SPECIAL_USER}:{given}@127.0.0.1:{auth_cluster.port}/{APP_DB}"

    status = await dendrux.db.schema_status(url(SPECIAL_PASSWORD))
    assert status.dialect == "postgres"

    wrong = SPECIAL_PASSWORD + "Q"
    with pytest.raises(AuthenticationFailedError) as info:
        await dendrux.db.schema_status(url(wrong))
    chain = "".join(traceback.format_exception(info.value))
    for secret in (wrong, SPECIAL_PASSWORD, quote(wrong, safe="")):
        assert secret not in chain, chain
    assert f"postgresql://{SPECIAL_USER}:***@127.0.0.1:{auth_cluster.port}/{APP_DB}" in str(
        info.value
    )


# -- database missing -------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["get_run", "upgrade"])
async def test_missing_postgres_database(pg_server: PgCluster, operation: str) -> None:
    url = pg_server.dsn("dendrux_no_such_database")
    with pytest.raises(DatabaseMissingError) as info:
        if operation == "upgrade":
            await upgrade(url)
        else:
            store = StateStore.from_database_url(url)
            try:
                await store.get_run("run-1")
            finally:
                await store.close()
    message = str(info.value)
    assert url in message
    assert "create" in message.lower(), f"no fix in the message: {message}"
    assert not isinstance(info.value, ConnectionFailedError)


@pytest.mark.parametrize("how", ["mode=rw", "mode=ro", "create=false"])
async def test_missing_sqlite_file_opened_without_creating(tmp_path: Path, how: str) -> None:
    """``mode=rw``/``ro`` and ``create=False`` never create the file: a missing file is
    `DatabaseMissingError` (not a transient 'cannot connect'), raised at once."""
    path = tmp_path / "missing.db"
    url = f"sqlite+aiosqlite:///{path}?{how}"
    store = StateStore.from_database_url(url)
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseMissingError) as info:
            await store.create_run("run-1", "agent")
        assert time.monotonic() - started < 0.1, "a missing file must not be retried"
    finally:
        await store.close()
    assert url in str(info.value)
    assert info.value.transient is False
    assert not path.exists()


# -- schema missing / outdated / too new / edited ----------------------------------------


def _unmigrated_store_url(dialect: str, url: str) -> str:
    # SQLite creates and migrates on first use unless told not to (SPEC 3).
    return url + "?auto_migrate=false" if dialect == "sqlite" else url


async def test_unmigrated_database_says_how_to_fix(dialect: str, raw_database_url: str) -> None:
    url = _unmigrated_store_url(dialect, raw_database_url)
    store = StateStore.from_database_url(url)
    try:
        with pytest.raises(SchemaNotMigratedError) as info:
            await store.get_run("run-1")
        message = str(info.value)
        assert url in message
        assert "dendrux db upgrade" in message
        assert "upgrade(" in message
        # The refused database was left alone: no tables were created by the read.
        assert not (await _tables(dialect, raw_database_url)) & SIX_TABLES
        # Still refused on the next call (the failure is not cached as success).
        with pytest.raises(SchemaNotMigratedError):
            await store.create_run("run-1", "agent")

        assert await upgrade(raw_database_url) == _known_versions(dialect)
        assert await store.get_run("run-1") is None
        await store.create_run("run-1", "agent")
        assert (await store.get_run("run-1")) is not None
    finally:
        await store.close()


async def test_sqlite_creates_and_migrates_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "fresh.db"
    url = f"sqlite+aiosqlite:///{path}"
    store = StateStore.from_database_url(url)
    try:
        assert await store.get_run("run-1") is None
    finally:
        await store.close()
    assert await _tables("sqlite", url) >= SIX_TABLES
    assert await _versions("sqlite", url) == _known_versions("sqlite")


async def _first_use(url: str) -> None:
    store = StateStore.from_database_url(url)
    try:
        await store.get_run("run-1")
    finally:
        await store.close()


async def test_edited_migration_checksum(dialect: str, database_url: str) -> None:
    await _execute(
        dialect, database_url, f"UPDATE {VERSION_TABLE} SET checksum = 'edited' WHERE version = 1"
    )
    with pytest.raises(MigrationChecksumError) as info:
        await upgrade(database_url)
    message = str(info.value)
    assert "0001_" in message
    assert "restore" in message.lower(), f"no fix in the message: {message}"
    assert database_url in message, f"the URL is not named: {message}"

    with pytest.raises(MigrationChecksumError) as info:
        await _first_use(database_url)
    assert database_url in str(info.value), f"the URL is not named: {info.value}"
    # Nothing was "repaired" behind the user's back.
    rows = await _fetch(dialect, database_url, f"SELECT checksum FROM {VERSION_TABLE}")
    assert ("edited",) in rows


async def test_schema_newer_than_the_code(dialect: str, database_url: str) -> None:
    applied_at = "'2030-01-01T00:00:00+00:00'"
    await _execute(
        dialect,
        database_url,
        f"INSERT INTO {VERSION_TABLE} (version, name, checksum, applied_at) "
        f"VALUES (9999, 'future', 'abc', {applied_at})",
    )
    with pytest.raises(SchemaTooNewError) as info:
        await upgrade(database_url)
    message = str(info.value)
    assert "9999" in message
    assert "upgrade the dendrux package" in message
    assert database_url in message, f"the URL is not named: {message}"

    for _ in range(2):  # refused on every use, not just the first
        with pytest.raises(SchemaTooNewError) as info:
            await _first_use(database_url)
        assert "9999" in str(info.value)
        assert database_url in str(info.value), f"the URL is not named: {info.value}"
    with pytest.raises(SchemaTooNewError):
        await dendrux.db.schema_status(database_url)
    assert await _versions(dialect, database_url) == [*_known_versions(dialect), 9999]


# A newer dendrux (a vendored copy with one more migration) against a database the
# current code migrated: the database is "outdated" for it.

EXTRA_MIGRATION = (
    "-- a migration only the newer copy knows\nCREATE TABLE dendrux_test_extra (id INTEGER);\n"
)

OUTDATED_SNIPPET = r"""
import asyncio, json, sys
import dendrux, dendrux.db
from dendrux.state import StateStore

url, store_url = sys.argv[1], sys.argv[2]

async def main():
    out = {"file": dendrux.__file__}
    store = StateStore.from_database_url(store_url)
    try:
        try:
            await store.get_run("run-1")
            out["first_use"] = None
        except Exception as exc:
            out["first_use"] = [type(exc).__name__, str(exc)]
        out["applied"] = await dendrux.db.upgrade(url)
        out["after"] = repr(await store.get_run("run-1"))
    finally:
        await store.close()
    return out

print(json.dumps(asyncio.run(main())))
"""


def _newer_vendored_copy(tmp_path: Path) -> Path:
    vendor = tmp_path / "newer"
    shutil.copytree(
        REPO / "dendrux", vendor / "dendrux", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(REPO / "sql", vendor / "sql")
    for dialect in ("sqlite", "postgres"):
        migrations = vendor / "sql" / dialect / "migrations"
        number = len(list(migrations.glob("*.sql"))) + 1
        (migrations / f"{number:04d}_extra.sql").write_text(EXTRA_MIGRATION)
    return vendor


def _run_newer(vendor: Path, url: str, store_url: str, cwd: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", OUTDATED_SNIPPET, url, store_url],
        cwd=cwd,
        env=_subprocess_env(PYTHONPATH=str(vendor)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(result["file"]).resolve().is_relative_to(vendor.resolve())
    return result


async def test_outdated_schema_is_refused_with_the_fix(
    dialect: str, database_url: str, tmp_path: Path
) -> None:
    vendor = _newer_vendored_copy(tmp_path)
    newest = len(_known_versions(dialect)) + 1
    store_url = _unmigrated_store_url(dialect, database_url)
    result = _run_newer(vendor, database_url, store_url, tmp_path)

    assert result["first_use"] is not None, "an outdated database was used without complaint"
    kind, message = result["first_use"]
    assert kind == SchemaOutdatedError.__name__, message
    assert database_url in message
    assert "dendrux db upgrade" in message and "upgrade(" in message
    assert result["applied"] == [newest]
    assert result["after"] == "None"
    assert "dendrux_test_extra" in await _tables(dialect, database_url)

    # And now this (older) code meets a database migrated by a newer dendrux.
    with pytest.raises(SchemaTooNewError):
        await upgrade(database_url)
    with pytest.raises(SchemaTooNewError):
        await _first_use(database_url)


async def test_outdated_sqlite_is_migrated_on_first_use(tmp_path: Path) -> None:
    """SQLite (auto_migrate on, the default) brings an older file up to date by itself."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await upgrade(url)
    vendor = _newer_vendored_copy(tmp_path)
    result = _run_newer(vendor, url, url, tmp_path)
    assert result["first_use"] is None
    assert result["applied"] == []  # first use already applied it
    assert await _versions("sqlite", url) == [
        *_known_versions("sqlite"),
        len(_known_versions("sqlite")) + 1,
    ]


# -- read-only SQLite -------------------------------------------------------------------


@pytest.fixture
async def migrated_sqlite_with_a_run(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ro.db'}"
    store = StateStore.from_database_url(url)
    try:
        await store.create_run("run-1", "agent")
    finally:
        await store.close()
    return url


@pytest.mark.parametrize("how", ["url", "option"])
async def test_read_only_sqlite(migrated_sqlite_with_a_run: str, how: str) -> None:
    url = migrated_sqlite_with_a_run
    ro_url = url + "?mode=ro" if how == "url" else url
    engine = create_engine(ro_url) if how == "url" else create_engine(url, mode="ro")
    store = StateStore.from_engine(engine)
    try:
        record = await store.get_run("run-1")
        assert record is not None and record.agent_name == "agent"

        started = time.monotonic()
        with pytest.raises(ReadOnlyDatabaseError) as info:
            await store.create_run("run-2", "agent")
        assert time.monotonic() - started < 1.0, "a read-only refusal must not wait or retry"
        message = str(info.value)
        assert ro_url in message
        assert "writable" in message or "read" in message.lower()
        assert info.value.transient is False
        assert info.value.__cause__ is not None

        # Reads still work after the refused write, and nothing was written.
        assert (await store.get_run("run-1")) is not None
        assert await store.get_run("run-2") is None
    finally:
        await store.close()
        await engine.dispose()
    assert await _fetch("sqlite", url, "SELECT id FROM agent_runs ORDER BY id") == [("run-1",)]


async def test_read_only_sqlite_store_from_url(migrated_sqlite_with_a_run: str) -> None:
    ro_url = migrated_sqlite_with_a_run + "?mode=ro"
    store = StateStore.from_database_url(ro_url)
    try:
        assert (await store.get_run("run-1")) is not None
        with pytest.raises(ReadOnlyDatabaseError) as info:
            await store.create_run("run-3", "agent")
        assert ro_url in str(info.value)
    finally:
        await store.close()


@pytest.mark.parametrize("operation", ["get_run", "upgrade"])
async def test_sqlite_directory_that_cannot_be_created(operation: str) -> None:
    url = "sqlite+aiosqlite:////proc/nonexistent/x.db"
    try:
        if operation == "upgrade":
            await upgrade(url)
        else:
            await _first_use(url)
    except DatabaseError as exc:
        assert url in str(exc), f"the URL is not named: {exc}"
        assert "director" in str(exc).lower() or "path" in str(exc).lower(), str(exc)
    except Exception as exc:  # the point of the test: which type escapes
        pytest.fail(
            f"{type(exc).__module__}.{type(exc).__name__} escaped instead of "
            f"ConnectionFailedError / a dendrux DatabaseError naming {url}: {exc}"
        )
    else:
        pytest.fail("opening a SQLite file in an impossible directory succeeded")
    assert not Path("/proc/nonexistent").exists()


async def test_sqlite_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a SQLite database file, just text. " * 200)
    url = f"sqlite+aiosqlite:///{path}"
    with pytest.raises(DatabaseError) as info:
        await _first_use(url)
    assert url in str(info.value)
    assert info.value.__cause__ is not None


# -- bad URLs ------------------------------------------------------------------------------

BAD_URLS = [
    "mysql://u:secret@localhost/db",
    "mysql+aiomysql://u:secret@localhost:3306/db",
    "postgresql+psycopg2://u:secret@localhost/db",
    "sqlite:/x.db",
    "not a url",
    "",
    "http://u:secret@example.invalid/",
]


@pytest.mark.parametrize("via", ["create_engine", "StateStore", "upgrade", "schema_status"])
@pytest.mark.parametrize("url", BAD_URLS)
async def test_bad_url_scheme_names_the_accepted_ones(url: str, via: str) -> None:
    with pytest.raises(ValueError) as info:
        if via == "create_engine":
            create_engine(url)
        elif via == "StateStore":
            StateStore.from_database_url(url)
        else:
            await getattr(dendrux.db, via)(url)
    message = str(info.value)
    for scheme in ("sqlite+aiosqlite://", "postgresql://"):
        assert scheme in message, f"accepted scheme {scheme} not named: {message}"
    _assert_no_secret(info.value, "secret")


@pytest.mark.parametrize("url", ["sqlite://relative.db", "sqlite+aiosqlite://x.db"])
def test_sqlite_url_with_two_slashes_explains_the_forms(url: str) -> None:
    with pytest.raises(ValueError) as info:
        create_engine(url)
    assert "sqlite+aiosqlite:///" in str(info.value)


def test_non_string_url_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        create_engine(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        StateStore.from_database_url(b"sqlite+aiosqlite:///x.db")  # type: ignore[arg-type]


# -- several processes migrating at once ------------------------------------------------

CONCURRENT_SNIPPET = r"""
import asyncio, json, os, sys, time
ready, go, url = sys.argv[1:4]
import asyncpg, aiosqlite  # driver imports out of the timed window
import dendrux.db
open(ready, "w").close()
deadline = time.monotonic() + 60
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.001)
print(json.dumps(asyncio.run(dendrux.db.upgrade(url))))
"""


async def test_processes_migrating_at_once(
    dialect: str, raw_database_url: str, tmp_path: Path
) -> None:
    workers = 4
    signals = tmp_path / "signals"
    signals.mkdir()
    go = signals / "go"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CONCURRENT_SNIPPET,
                str(signals / f"ready{i}"),
                str(go),
                raw_database_url,
            ],
            cwd=tmp_path,
            env=_subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    try:
        deadline = time.monotonic() + 60
        while not all((signals / f"ready{i}").exists() for i in range(workers)):
            assert time.monotonic() < deadline, "workers did not start"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            await asyncio.sleep(0.01)
        go.touch()
        outputs = [await asyncio.to_thread(p.communicate, timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, f"a migrating process failed:\n{err}"
    applied = sorted((json.loads(out.strip().splitlines()[-1]) for out, _ in outputs), key=len)
    known = _known_versions(dialect)
    assert applied == [[]] * (workers - 1) + [known], applied
    assert await _versions(dialect, raw_database_url) == known
    assert await _tables(dialect, raw_database_url) >= SIX_TABLES


async def test_engines_migrating_at_once_in_one_process(
    dialect: str, raw_database_url: str
) -> None:
    results = await asyncio.gather(*(upgrade(raw_database_url) for _ in range(4)))
    known = _known_versions(dialect)
    assert sorted(results, key=len) == [[], [], [], known]
    assert await _versions(dialect, raw_database_url) == known
