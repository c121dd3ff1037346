"""A SQLite path that cannot hold a database is a configuration error.

Issue 12, item 6 and the "missing or unwritable SQLite location" point: a
missing directory, an unwritable directory or file, or a path that is a
directory used to be `ConnectionFailedError`, which is transient, so writes
were retried three times (and HTTP answered 503); ``demo`` then printed a
worker thread's traceback after its error line. Now: one non-transient error
naming the path and the fix, no retry, no stray thread output; and
``create=False`` opens an existing database without ever creating one.

Tests run as root, where permission bits do not stop writes: an immutable
directory (``chattr +i``) or a path under a regular file does.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dendrux.db import create_engine, schema_status, upgrade
from dendrux.durability import retry_critical
from dendrux.errors import (
    DatabaseError,
    DatabaseLocationError,
    DatabaseMissingError,
    InvalidArgumentError,
    ReadOnlyDatabaseError,
)
from dendrux.state import StateStore
from dendrux.store import RunStore

REPO = Path(__file__).resolve().parent.parent


def _url(path: Path | str) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True, timeout=10)


@pytest.fixture
def immutable_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty directory nothing can be created in (even by root)."""
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    _chattr("+i", frozen)
    try:
        yield frozen
    finally:
        _chattr("-i", frozen)


@pytest.fixture
def immutable_dir_with_db(tmp_path: Path) -> Iterator[Path]:
    """A migrated WAL database in a directory that became immutable: SQLite cannot
    create the ``-wal``/``-shm`` files beside it, so even reads cannot open it."""
    frozen = tmp_path / "frozen-db"
    frozen.mkdir()
    path = frozen / "app.db"

    async def prepare() -> None:
        async with StateStore.from_database_url(_url(path)) as store:
            await store.create_run("run-0", "agent")

    import asyncio

    asyncio.run(prepare())
    for leftover in frozen.glob("app.db-*"):
        leftover.unlink()
    _chattr("+i", frozen)
    try:
        yield path
    finally:
        _chattr("-i", frozen)


def _case(name: str, tmp_path: Path, immutable: Path) -> tuple[Path, type[DatabaseError], str]:
    """(database path, expected error type, what the path names)"""
    regular = tmp_path / "file.txt"
    regular.write_text("not a directory")
    cases: dict[str, tuple[Path, type[DatabaseError], str]] = {
        "missing-dir-uncreatable": (
            immutable / "sub" / "x.db",
            DatabaseLocationError,
            str(immutable / "sub"),
        ),
        "under-a-file": (regular / "x.db", DatabaseLocationError, str(regular)),
        "path-is-a-directory": (tmp_path, DatabaseLocationError, "is a directory"),
        "unwritable-dir": (immutable / "x.db", ReadOnlyDatabaseError, str(immutable)),
    }
    return cases[name]


CASES = ["missing-dir-uncreatable", "under-a-file", "path-is-a-directory", "unwritable-dir"]


def _retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]


@pytest.mark.parametrize("case", CASES)
async def test_bad_location_fails_at_once_naming_the_path(
    case: str, tmp_path: Path, immutable_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    path, expected, named = _case(case, tmp_path, immutable_dir)
    async with StateStore.from_database_url(_url(path)) as store:
        started = time.monotonic()
        with pytest.raises(expected) as info:
            # A lifecycle write retries transient failures itself; retry_critical on
            # top would retry again: neither may.
            await retry_critical(
                lambda: store.create_run("run-1", "agent"), label="create_run", run_id="run-1"
            )
        elapsed = time.monotonic() - started
    assert elapsed < 0.1, f"gave up after {elapsed:.3f} s: retried?"
    assert _retries(caplog) == []
    exc = info.value
    assert exc.transient is False
    assert named in str(exc) and str(path) in str(exc), str(exc)
    assert any(fix in str(exc) for fix in ("choose", "create it", "name a file")), str(exc)


@pytest.mark.parametrize("case", CASES)
async def test_bad_location_is_the_same_for_upgrade_and_readers(
    case: str, tmp_path: Path, immutable_dir: Path
) -> None:
    path, expected, _ = _case(case, tmp_path, immutable_dir)
    with pytest.raises(expected):
        await upgrade(_url(path))
    # A reader never creates anything: where the file could be created it is "missing".
    creatable = case in ("unwritable-dir", "missing-dir-uncreatable")
    async with RunStore.from_database_url(_url(path)) as reader:
        with pytest.raises(DatabaseMissingError if creatable else expected) as info:
            await reader.list_runs()
    assert info.value.transient is False


async def test_existing_database_in_an_unwritable_directory(
    immutable_dir_with_db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    path = immutable_dir_with_db
    async with StateStore.from_database_url(_url(path)) as store:
        started = time.monotonic()
        with pytest.raises(ReadOnlyDatabaseError) as info:
            await store.create_run("run-1", "agent")
        assert time.monotonic() - started < 0.1
    assert str(path.parent) in str(info.value) and "writable" in str(info.value)
    assert _retries(caplog) == []


# -- create=False -----------------------------------------------------------------------


async def test_create_false_never_creates_a_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "missing.db"
    for make in (
        lambda: create_engine(_url(path), create=False),
        lambda: create_engine(_url(path) + "?create=false"),
        lambda: create_engine(_url(path), create=False, mode="ro"),
    ):
        engine = make()
        try:
            with pytest.raises(DatabaseMissingError) as info:
                async with engine.connect():
                    pass
        finally:
            await engine.dispose()
        assert str(path) in str(info.value) and info.value.transient is False
    with pytest.raises(DatabaseMissingError):
        await schema_status(_url(path), create=False)
    assert not path.exists() and not path.parent.exists()


async def test_create_false_opens_an_existing_database(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    await upgrade(_url(path))
    status = await schema_status(_url(path), create=False)
    assert status.up_to_date
    engine = create_engine(_url(path), create=False, mode="ro")
    try:
        async with StateStore.from_engine(engine) as store:
            assert await store.get_run("nope") is None
    finally:
        await engine.dispose()


def test_create_option_is_validated() -> None:
    with pytest.raises(InvalidArgumentError, match="create"):
        create_engine("sqlite+aiosqlite:///x.db", create=False, mode="rwc")
    with pytest.raises(InvalidArgumentError, match="create"):
        create_engine("sqlite+aiosqlite:///x.db", create="maybe")
    # Accepted (and meaningless) on PostgreSQL, so callers need not branch on dialect.
    create_engine("postgresql://h/db", create=False)


# -- no stray output from a failed open --------------------------------------------------

SNIPPET = r"""
import asyncio, sys
from dendrux.state import StateStore

async def main():
    async with StateStore.from_database_url(sys.argv[1]) as store:
        try:
            await store.create_run("run-1", "agent")
        except Exception as exc:
            print(type(exc).__name__)

asyncio.run(main())
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DENDRUX_DATABASE_URL", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


@pytest.mark.parametrize("case", CASES)
def test_failed_open_leaves_no_thread_traceback(
    case: str, tmp_path: Path, immutable_dir: Path
) -> None:
    """aiosqlite's worker thread outlived the event loop after a failed connect and
    printed ~25 lines of 'Event loop is closed' on stderr."""
    path, expected, _ = _case(case, tmp_path, immutable_dir)
    proc = subprocess.run(
        [sys.executable, "-c", SNIPPET, _url(path)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected.__name__
    assert proc.stderr == "", proc.stderr


def test_demo_in_an_unwritable_directory_prints_one_line(
    immutable_dir: Path, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dendrux", "demo", "--database-url", _url(immutable_dir / "x.db")],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(immutable_dir) in lines[0] and "writable" in lines[0]
