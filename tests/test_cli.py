"""The command line, run as a subprocess: demo and schema commands on both dialects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _dendrux(*args: str, home: Path, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DENDRUX_DATABASE_URL"}
    env["HOME"] = str(home)
    if url is not None:
        env["DENDRUX_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "dendrux", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_demo_records_into_the_default_sqlite_database(tmp_path: Path) -> None:
    result = _dendrux("demo", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".dendrux" / "dendrux.db").exists()
    out = result.stdout
    assert "status=success" in out
    assert "run.paused" in out and "run.resumed" in out and "tool.completed" in out
    assert "Done: $49.99 refunded" in out
    assert "child run" in out


def test_demo_on_each_dialect(database_url: str, tmp_path: Path) -> None:
    result = _dendrux("demo", home=tmp_path, url=database_url)
    assert result.returncode == 0, result.stderr
    assert "tokens in/out: 1262/82" in result.stdout


def test_db_upgrade_and_status(raw_database_url: str, tmp_path: Path) -> None:
    before = _dendrux("db", "status", home=tmp_path, url=raw_database_url)
    assert before.returncode == 1 and "schema version 0 of 1" in before.stdout
    upgraded = _dendrux("--database-url", raw_database_url, "db", "upgrade", home=tmp_path)
    assert upgraded.returncode == 0 and "applied migration(s) 1" in upgraded.stdout
    again = _dendrux("db", "upgrade", home=tmp_path, url=raw_database_url)
    assert again.returncode == 0 and "already up to date" in again.stdout
    after = _dendrux("db", "status", home=tmp_path, url=raw_database_url)
    assert after.returncode == 0 and "schema version 1 of 1, up to date" in after.stdout


def test_errors_are_one_line_with_masked_password(tmp_path: Path) -> None:
    result = _dendrux(
        "db", "status", home=tmp_path, url="postgresql://u:hunter2@127.0.0.1:1/db?connect_timeout=2"
    )
    assert result.returncode == 1
    assert result.stderr.startswith("dendrux: error: ")
    assert result.stderr.count("\n") == 1
    assert "hunter2" not in result.stderr and "***" in result.stderr
    bad = _dendrux("--database-url", "mysql://x/y", "demo", home=tmp_path)
    assert bad.returncode == 1 and "accepted schemes" in bad.stderr
    usage = _dendrux("nonsense", home=tmp_path)
    assert usage.returncode == 2
