"""Shared fixtures: every storage test runs on SQLite *and* PostgreSQL.

Fixtures
--------
pg_cluster        (session) running ``PgCluster`` or None when no binaries.
pg_server         (function) the running ``PgCluster``; skips when unavailable.
dialect           (function) "sqlite" | "postgres"; parametrizes its dependants.
database_url      (function) clean, migrated database for the current dialect.
raw_database_url  (function) clean, *unmigrated* database (migration tests).
pg_standby        (session) a hot standby of ``pg_cluster``, started on first use.
replica_urls      (function) (primary URL, standby URL) of one clean, migrated
                  database, already replayed on the standby.
engine            (async) ``dendrux.db.create_engine(database_url)``, disposed after.
state_store       (async) ``StateStore.from_database_url(database_url)``, closed after.

Under ``CI=true`` a missing PostgreSQL is an error, never a skip, and a session
in which any ``[postgres...]`` test was skipped fails.

dendrux is imported lazily inside fixtures so that this file (and
tests/test_infra.py) work before the library exists.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import sys
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:  # pytest adds it, except with --import-mode=importlib
    sys.path.insert(0, _TESTS_DIR)

from pgcluster import PgCluster, PgClusterError, find_binaries  # noqa: E402

pytest_plugins = ["browser_support"]  # the browser tests' fixtures (tests/browser_support.py)

T = TypeVar("T")

CI = os.environ.get("CI", "").strip().lower() == "true"
DIALECTS = ["sqlite", "postgres"]
TEMPLATE_DB = "dendrux_template"

_db_counter = itertools.count(1)


# -- helpers ----------------------------------------------------------------------


def _run_async(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion in a fresh event loop on a worker thread.

    Sync fixtures must not touch the (not yet running) loop pytest-asyncio owns
    for the test, and ``asyncio.run`` on the main thread would reset the
    thread's current loop; a private thread keeps the two apart.
    """

    async def main() -> T:
        return await fn()

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fixture-loop") as pool:
        return pool.submit(asyncio.run, main()).result()


def _unavailable(reason: str) -> None:
    """Skip -- or, under CI=true, fail -- a test that needs PostgreSQL."""
    if CI:
        pytest.fail(f"CI=true but PostgreSQL is unavailable: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _admin(cluster: PgCluster, *statements: str) -> None:
    """Run statements on the cluster's ``postgres`` database (autocommit)."""
    import asyncpg

    conn = await asyncpg.connect(cluster.dsn("postgres"), timeout=30)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def _create_database(cluster: PgCluster, name: str, template: str, strategy: bool) -> None:
    sql = f"CREATE DATABASE {_quote_ident(name)} TEMPLATE {_quote_ident(template)}"
    if strategy:
        sql += " STRATEGY FILE_COPY"  # PostgreSQL 15+: no WAL-logged copy, faster
    _run_async(lambda: _admin(cluster, sql))


def _drop_database(cluster: PgCluster, name: str) -> None:
    try:
        cluster.ensure_running()  # a fault test may have left the server down
        _run_async(
            lambda: _admin(cluster, f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
        )
    except Exception as exc:  # a leaked db in a throwaway cluster is harmless
        warnings.warn(f"could not drop test database {name}: {exc}", stacklevel=1)


def _postgres_cluster(request: pytest.FixtureRequest) -> PgCluster:
    cluster: PgCluster | None = request.getfixturevalue("pg_cluster")
    if cluster is None:
        _unavailable("no initdb/pg_ctl/postgres under /usr/lib/postgresql/*/bin or on PATH")
        raise AssertionError("unreachable")
    return cluster


def _upgrade(url: str) -> None:
    import dendrux.db

    _run_async(lambda: dendrux.db.upgrade(url))


# -- cluster ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster | None]:
    """A throwaway PostgreSQL cluster for the whole session, or None."""
    if find_binaries() is None:
        if CI:
            pytest.fail(
                "CI=true but no PostgreSQL server binaries were found "
                "(initdb, pg_ctl, postgres under /usr/lib/postgresql/*/bin or on PATH)",
                pytrace=False,
            )
        yield None
        return
    cluster = PgCluster()
    try:
        cluster.start()
    except PgClusterError as exc:
        pytest.fail(f"could not start the throwaway PostgreSQL cluster:\n{exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_server(request: pytest.FixtureRequest) -> Iterator[PgCluster]:
    """The running cluster; skips (fails under CI) without PostgreSQL.

    For fault tests that stop the server: it is started again afterwards if the
    test left it down.
    """
    cluster = _postgres_cluster(request)
    cluster.ensure_running()
    yield cluster
    cluster.ensure_running()


@pytest.fixture(scope="session")
def _pg_template(pg_cluster: PgCluster | None) -> str:
    """Create and migrate ``dendrux_template`` once per session; returns its name."""
    assert pg_cluster is not None
    pg_cluster.ensure_running()
    _run_async(lambda: _admin(pg_cluster, f"CREATE DATABASE {TEMPLATE_DB} TEMPLATE template0"))
    _upgrade(pg_cluster.dsn(TEMPLATE_DB))
    # CREATE DATABASE ... TEMPLATE fails while anyone is connected to the
    # template: kick out stragglers and refuse new connections from now on.
    _run_async(
        lambda: _admin(
            pg_cluster,
            f"ALTER DATABASE {TEMPLATE_DB} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{TEMPLATE_DB}' AND pid <> pg_backend_pid()",
        )
    )
    return TEMPLATE_DB


@pytest.fixture(scope="session")
def _pg_supports_strategy(pg_cluster: PgCluster | None) -> bool:
    """CREATE DATABASE ... STRATEGY exists from PostgreSQL 15 on."""
    assert pg_cluster is not None

    async def version() -> int:
        import asyncpg

        conn = await asyncpg.connect(pg_cluster.dsn("postgres"), timeout=30)
        try:
            return int(await conn.fetchval("SHOW server_version_num"))
        finally:
            await conn.close()

    return _run_async(version) >= 150000


# -- dialect-parametrized databases -------------------------------------------


@pytest.fixture(params=DIALECTS, ids=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    """The SQL dialect under test; every dependant test runs once per dialect."""
    name: str = request.param
    if name == "postgres":
        _postgres_cluster(request)
    return name


@pytest.fixture
def database_url(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a clean, fully migrated database, private to this test."""
    if dialect == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/test.db"
        _upgrade(url)  # the library auto-migrates SQLite; upgrade for symmetry
        yield url
        return

    yield from _migrated_postgres_database(request)


def _migrated_postgres_database(request: pytest.FixtureRequest) -> Iterator[str]:
    cluster = _postgres_cluster(request)
    template: str = request.getfixturevalue("_pg_template")
    strategy: bool = request.getfixturevalue("_pg_supports_strategy")
    cluster.ensure_running()
    name = f"t_{next(_db_counter)}"
    _create_database(cluster, name, template, strategy)
    try:
        yield cluster.dsn(name)
    finally:
        _drop_database(cluster, name)


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A clean, migrated PostgreSQL database, for tests of PostgreSQL-only features."""
    yield from _migrated_postgres_database(request)


@pytest.fixture
def raw_database_url(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a clean database with *no* migrations applied."""
    if dialect == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/raw.db"
        return

    cluster = _postgres_cluster(request)
    strategy: bool = request.getfixturevalue("_pg_supports_strategy")
    cluster.ensure_running()
    name = f"t_{next(_db_counter)}"
    _create_database(cluster, name, "template0", strategy)
    try:
        yield cluster.dsn(name)
    finally:
        _drop_database(cluster, name)


@pytest.fixture(scope="session")
def pg_standby(request: pytest.FixtureRequest) -> Iterator[PgCluster]:
    """A hot standby (``pg_basebackup -R``, streaming) of the session's cluster; only
    started when a test asks for it, stopped at the end of the session."""
    cluster = _postgres_cluster(request)
    cluster.ensure_running()
    try:
        standby = cluster.start_standby()
    except PgClusterError as exc:
        pytest.fail(f"could not start a hot standby:\n{exc}", pytrace=False)
    try:
        yield standby
    finally:
        standby.stop()


@pytest.fixture
def replica_urls(
    request: pytest.FixtureRequest, pg_standby: PgCluster
) -> Iterator[tuple[str, str]]:
    """A clean, migrated database on the primary and the same database on the standby,
    which has replayed its creation: ``(primary_url, standby_url)``."""
    pg_standby.ensure_running()
    for url in _migrated_postgres_database(request):
        _run_async(pg_standby.wait_for_replay)
        yield url, pg_standby.dsn(url.rsplit("/", 1)[1])


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[Any]:
    """``dendrux.db.create_engine(database_url)``; disposed after the test."""
    from dendrux.db import create_engine

    eng = create_engine(database_url)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def state_store(database_url: str) -> AsyncIterator[Any]:
    """``StateStore.from_database_url(database_url)``; closed after the test."""
    from dendrux.state import StateStore

    store = StateStore.from_database_url(database_url)
    try:
        yield store
    finally:
        await store.close()


# -- CI guard: a skipped postgres test fails the session ------------------------

_skipped_postgres: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not CI or not report.skipped or hasattr(report, "wasxfail"):
        return
    if "[postgres" in report.nodeid:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped_postgres.setdefault(report.nodeid, reason)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if CI and _skipped_postgres and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not (CI and _skipped_postgres):
        return
    terminalreporter.section("CI: PostgreSQL tests were skipped", sep="=", red=True, bold=True)
    terminalreporter.write_line(
        f"CI=true and {len(_skipped_postgres)} PostgreSQL test(s) were skipped; "
        "every storage test must run on both dialects in CI, so the session fails."
    )
    for nodeid, reason in _skipped_postgres.items():
        terminalreporter.write_line(f"  {nodeid}: {reason}")


# -- PgBouncer (transaction pooling) in front of the cluster ---------------------------
#
# pgbouncer        (session) a running ``PgBouncer`` in front of ``pg_cluster``,
#                  started on first use; skips without the binary (fails under CI).
# pooler_urls      (function) a clean, migrated database: ``.direct`` and ``.pooled``
#                  URLs (the latter through PgBouncer, prepared_statements=false, listen=false).
# raw_pooler_urls  (function) the same for a clean, *unmigrated* database.

POOLED_OPTIONS = "prepared_statements=false&listen=false"


@pytest.fixture(scope="session")
def pgbouncer(pg_cluster: PgCluster | None) -> Iterator[Any]:
    """PgBouncer with ``pool_mode = transaction`` for the whole session."""
    from pgbouncer import PgBouncer, PgBouncerError, find_pgbouncer

    if pg_cluster is None:
        _unavailable("no PostgreSQL server binaries for PgBouncer to front")
    assert pg_cluster is not None
    if find_pgbouncer() is None:
        reason = "pgbouncer not found (Debian package pgbouncer; .ci/run installs it)"
        if CI:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    pg_cluster.ensure_running()
    bouncer = PgBouncer(upstream_port=pg_cluster.port)
    try:
        bouncer.start()
    except PgBouncerError as exc:
        pytest.fail(f"could not start PgBouncer:\n{exc}", pytrace=False)
    try:
        yield bouncer
    finally:
        bouncer.stop()


def _pooler_urls(bouncer: Any, direct: str) -> Any:
    from pgbouncer import PoolerURLs

    dbname = direct.rsplit("/", 1)[1]
    return PoolerURLs(direct=direct, pooled=f"{bouncer.dsn(dbname)}?{POOLED_OPTIONS}")


@pytest.fixture
def pooler_urls(request: pytest.FixtureRequest, pgbouncer: Any) -> Iterator[Any]:
    """A clean, migrated database reached directly and through PgBouncer."""
    for direct in _migrated_postgres_database(request):
        yield _pooler_urls(pgbouncer, direct)


@pytest.fixture
def raw_pooler_urls(request: pytest.FixtureRequest, pgbouncer: Any) -> Iterator[Any]:
    """A clean, unmigrated database reached directly and through PgBouncer."""
    cluster = _postgres_cluster(request)
    strategy: bool = request.getfixturevalue("_pg_supports_strategy")
    cluster.ensure_running()
    name = f"t_{next(_db_counter)}"
    _create_database(cluster, name, "template0", strategy)
    try:
        yield _pooler_urls(pgbouncer, cluster.dsn(name))
    finally:
        _drop_database(cluster, name)
