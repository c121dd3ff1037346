"""Maintenance that is safe to try (issue 17): ``sweep --dry-run`` and ``purge --dry-run``
list the runs they would change and write nothing, the dry run selects exactly what the
real command then changes, ``purge`` filters by agent and tenant and refuses a cut-off
that is not in the past, hints print commands that paste, and ``~`` in a SQLite URL is
the home directory. Run in process through ``dendrux.cli.app.main`` and the store
functions, on both dialects."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dbcheck import fetch_rows

from dendrux.cli.app import main
from dendrux.errors import InvalidArgumentError
from dendrux.state import StateStore


@pytest.fixture(autouse=True)
def _no_env_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No database URL from the environment; HOME is a fresh directory."""
    monkeypatch.delenv("DENDRUX_DATABASE_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()


def _cli(capsys: pytest.CaptureFixture[str], url: str | None, *args: str) -> tuple[int, str, str]:
    """``dendrux [--database-url url] args...`` in process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        code = main([*(["--database-url", url] if url else []), *args])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def _with_store(url: str, work: Callable[[StateStore], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        async with StateStore.from_database_url(url) as store:
            return await work(store)

    return asyncio.run(run())


def _snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    async def read() -> dict[str, list[dict[str, Any]]]:
        return {
            table: sorted(await fetch_rows(url, table), key=lambda r: str(r["id"]))
            for table in ("agent_runs", "run_events")
        }

    return asyncio.run(read())


# -- sweep --dry-run ------------------------------------------------------------------------


async def _seed_sweepable(store: StateStore) -> None:
    await store.create_run("stale", "billing", tenant_id="acme")
    await store.save_run_event("stale", event_type="run.started")
    await store.create_run("never", "billing")
    await store.create_run("waiting", "support")
    await store.pause_run("waiting", status="waiting_approval", pause_data={"k": 1})
    await store.create_run("cancelling", "support")
    await store.save_run_event("cancelling", event_type="run.started")
    assert await store.request_cancel("cancelling")
    await store.create_run("done", "billing")
    await store.finalize_run("done", status="success")


def test_sweep_dry_run_lists_what_the_sweep_then_sweeps(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_store(database_url, _seed_sweepable)
    time.sleep(1.2)
    _with_store(database_url, lambda s: s.create_run("busy", "billing"))  # not idle yet
    before = _snapshot(database_url)

    code, out, err = _cli(capsys, database_url, "sweep", "--older-than", "1s", "--dry-run")
    assert code == 0 and err == "", err
    assert out.startswith("dry run: would sweep 4 runs idle for more than 1.0s (nothing changed)")
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert set(lines) == {"stale", "never", "waiting", "cancelling"}
    assert lines["stale"][1:5] == ["billing", "running", "error", "stale_running"]
    assert lines["never"][1:5] == ["billing", "running", "error", "never_started"]
    assert lines["waiting"][1:5] == ["support", "waiting_approval", "error", "abandoned_waiting"]
    assert lines["cancelling"][1:5] == ["support", "running", "cancelled", "stale_running"]
    assert "IDLE FOR" in out.splitlines()[1]

    code, out, err = _cli(
        capsys, database_url, "sweep", "--older-than", "1s", "--dry-run", "--json"
    )
    assert code == 0 and err == ""
    preview = json.loads(out)
    stale = next(p for p in preview if p["run_id"] == "stale")
    assert stale["tenant_id"] == "acme" and stale["idle_seconds"] >= 1.2
    assert datetime.fromisoformat(stale["idle_since"]).utcoffset() == timedelta(0)
    assert _snapshot(database_url) == before  # a dry run writes nothing, twice

    code, out, err = _cli(capsys, database_url, "sweep", "--older-than", "1s", "--json")
    assert code == 0 and err == ""
    swept = json.loads(out)
    assert {(s["run_id"], s["failure_reason"], s["status"]) for s in swept} == {
        (p["run_id"], p["failure_reason"], p["new_status"]) for p in preview
    }
    code, out, _ = _cli(capsys, database_url, "sweep", "--older-than", "1s", "--dry-run")
    assert code == 0 and out.startswith("dry run: nothing to sweep")


async def test_find_runs_is_the_sweeps_own_selection(state_store: StateStore) -> None:
    await _seed_sweepable(state_store)
    await asyncio.sleep(0.05)
    idle = timedelta(milliseconds=20)
    stale = await state_store.find_stale_runs(idle)
    abandoned = await state_store.find_abandoned_runs(idle)
    assert {c.run_id for c in stale} == {"stale", "never", "cancelling"}
    assert [(c.run_id, c.status, c.new_status) for c in abandoned] == [
        ("waiting", "waiting_approval", "error")
    ]
    assert all(c.idle_for is not None and c.idle_for >= idle for c in stale + abandoned)
    assert await state_store.find_stale_runs(timedelta(hours=1)) == []
    swept_stale = await state_store.sweep_stale_runs(idle)
    swept_abandoned = await state_store.sweep_abandoned_runs(idle)
    assert [(s.run_id, s.failure_reason, s.status) for s in swept_stale] == [
        (c.run_id, c.failure_reason, c.new_status) for c in stale
    ]
    assert [s.run_id for s in swept_abandoned] == [c.run_id for c in abandoned]
    assert await state_store.find_stale_runs(idle) == []


# -- purge: dry-run listing, agent and tenant filters, a past cut-off -------------------------


async def _seed_purgeable(store: StateStore) -> datetime:
    for run_id, agent, tenant, status in (
        ("b-acme", "billing", "acme", "success"),
        ("b-globex", "billing", "globex", "error"),
        ("s-acme", "support", "acme", "success"),
        ("s-none", "support", None, "cancelled"),
    ):
        await store.create_run(run_id, agent, tenant_id=tenant)
        await store.save_run_event(run_id, event_type="run.started")
        await store.finalize_run(run_id, status=status)
    await store.create_run("live", "billing", tenant_id="acme")  # not finished: never purged
    await asyncio.sleep(0.01)
    return datetime.now(UTC)


async def test_purge_filters_by_agent_and_tenant(state_store: StateStore) -> None:
    cutoff = await _seed_purgeable(state_store)

    async def preview(**filters: Any) -> list[str]:
        result = await state_store.purge_runs(before=cutoff, dry_run=True, **filters)
        assert result.agent_runs == len(result.runs) and result.run_events == len(result.runs)
        return sorted(r.run_id for r in result.runs)

    assert await preview() == ["b-acme", "b-globex", "s-acme", "s-none"]
    assert await preview(agent_name="billing") == ["b-acme", "b-globex"]
    assert await preview(tenant_id="acme") == ["b-acme", "s-acme"]
    assert await preview(agent_name="billing", tenant_id="acme") == ["b-acme"]
    assert await preview(agent_name="nobody") == []
    listed = (await state_store.purge_runs(before=cutoff, dry_run=True, agent_name="billing")).runs
    first = next(r for r in listed if r.run_id == "b-globex")
    assert (first.agent_name, first.tenant_id, first.status) == ("billing", "globex", "error")
    assert first.updated_at is not None and first.updated_at < cutoff

    deleted = await state_store.purge_runs(before=cutoff, tenant_id="acme")
    assert deleted.agent_runs == 2 and deleted.runs == () and not deleted.dry_run
    left = {r.id for r in await state_store.list_runs(limit=100)}
    assert left == {"b-globex", "s-none", "live"}


async def test_purge_refuses_a_cutoff_that_is_not_in_the_past(state_store: StateStore) -> None:
    await _seed_purgeable(state_store)
    for when in (datetime.now(UTC) + timedelta(seconds=5), datetime(2999, 1, 1, tzinfo=UTC)):
        for dry_run in (True, False):
            with pytest.raises(InvalidArgumentError, match=r"^before must be in the past"):
                await state_store.purge_runs(before=when, dry_run=dry_run)
    assert len(await state_store.list_runs(limit=100)) == 5  # nothing went


def test_purge_dry_run_lists_the_runs_and_the_purge_takes_them(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cutoff = _with_store(database_url, _seed_purgeable).isoformat()
    before = _snapshot(database_url)

    code, out, err = _cli(
        capsys, database_url, "purge", "--before", cutoff, "--agent", "billing", "--dry-run"
    )
    assert code == 0 and err == "", err
    lines = out.splitlines()
    assert lines[0].startswith("dry run: would delete 2 runs: finished runs of agent billing ")
    assert lines[1].split() == ["RUN", "ID", "AGENT", "TENANT", "STATUS", "LAST", "UPDATED"]
    rows = {line.split()[0]: line.split()[1:4] for line in lines[2:4]}
    assert rows == {
        "b-acme": ["billing", "acme", "success"],
        "b-globex": ["billing", "globex", "error"],
    }
    assert "rows that would go, per table:" in out
    assert re.search(r"^  agent_runs +2$", out, re.M), out

    code, out, err = _cli(
        capsys, database_url, "purge", "--before", cutoff, "--tenant", "acme", "--dry-run", "--json"
    )
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["dry_run"] is True and doc["tenant"] == "acme" and doc["agent"] is None
    assert [r["run_id"] for r in doc["runs"]] == ["b-acme", "s-acme"]  # oldest first
    assert doc["counts"]["agent_runs"] == 2 and doc["counts"]["run_events"] == 2
    assert doc["total"] == 4 and doc["runs"][1]["tenant_id"] == "acme"
    assert _snapshot(database_url) == before  # nothing deleted

    code, out, err = _cli(
        capsys, database_url, "purge", "--before", cutoff, "--tenant", "acme", "--json"
    )
    assert code == 0 and err == ""
    done = json.loads(out)
    assert done["dry_run"] is False and "runs" not in done
    assert done["counts"] == doc["counts"]
    left = {row["id"] for row in asyncio.run(fetch_rows(database_url, "agent_runs"))}
    assert left == {"b-globex", "s-none", "live"}  # exactly what the dry run listed went


@pytest.mark.parametrize(
    "when", ["2999-01-01", "{soon}", "2999-01-01T00:00:00Z"], ids=["date", "soon", "datetime"]
)
def test_purge_refuses_a_future_before_on_the_command_line(
    database_url: str, capsys: pytest.CaptureFixture[str], when: str
) -> None:
    _with_store(database_url, _seed_purgeable)
    soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    before = _snapshot(database_url)
    for extra in ([], ["--dry-run"]):
        code, out, err = _cli(
            capsys, database_url, "purge", "--before", when.format(soon=soon), *extra
        )
        assert code == 2 and out == ""
        assert "--before" in err and "is not in the past" in err and err.count("\n") == 1, err
    assert _snapshot(database_url) == before


# -- hints that paste -----------------------------------------------------------------------


def _with_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    user, _, host = rest.partition("@")
    return f"{scheme}://{user}:Sw0rdfish-42@{host}"  # trust authentication: never checked


@pytest.mark.parametrize("dialect", ["postgres"])  # a SQLite URL holds no password
def test_hints_with_a_password_point_at_the_environment(
    raw_database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _with_password(raw_database_url)  # an unmigrated database: every hint fires
    option = '--database-url "$DENDRUX_DATABASE_URL"'
    note = "set DENDRUX_DATABASE_URL to the database URL first"

    code, out, err = _cli(capsys, url, "db", "status")
    assert code == 1 and err == ""
    assert f"needs `dendrux db upgrade {option}`" in out and note in out, out
    code, out, err = _cli(capsys, url, "runs")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert f"dendrux db upgrade {option}`" in err and note in err, err
    for text in (out, err):
        assert "Sw0rdfish" not in text and "--database-url 'postgres" not in text

    monkeypatch.setenv("DENDRUX_DATABASE_URL", url)  # already set: nothing to do first
    code, out, _ = _cli(capsys, None, "db", "status")
    assert code == 1 and f"needs `dendrux db upgrade {option}`" in out and note not in out
    code, _, err = _cli(capsys, None, "runs")
    assert code == 1 and option in err and note not in err and "Sw0rdfish" not in err


def test_hints_without_a_password_paste_the_url(
    raw_database_url: str, dialect: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if dialect == "sqlite":
        Path(raw_database_url.partition(":///")[2]).touch()  # an empty database file
    code, out, _ = _cli(capsys, raw_database_url, "db", "status")
    assert code == 1
    assert f"needs `dendrux db upgrade --database-url '{raw_database_url}'`" in out, out
    assert "DENDRUX_DATABASE_URL" not in out


def test_hint_for_the_default_database_needs_no_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    default = tmp_path / "home" / ".dendrux" / "dendrux.db"
    default.parent.mkdir()
    default.touch()
    code, out, _ = _cli(capsys, None, "db", "status")
    assert code == 1 and out.rstrip().endswith("needs `dendrux db upgrade`"), out


# -- ~ in SQLite URLs -----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+aiosqlite"])
def test_tilde_is_the_home_directory(
    scheme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dendrux.db.urls import parse_database_url

    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    url = f"{scheme}:///~/x.db"
    assert parse_database_url(url).sqlite_path == str(home / "x.db")
    _with_store(url, lambda s: s.create_run("r1", "agent"))
    assert (home / "x.db").is_file()
    code, out, err = _cli(capsys, url, "runs", "--json")
    assert code == 0 and [r["run_id"] for r in json.loads(out)] == ["r1"], err
    code, out, _ = _cli(capsys, f"{scheme}:///~/y.db", "db", "upgrade")
    assert code == 0 and (home / "y.db").is_file()
    assert not any(p.name.startswith("~") for p in tmp_path.rglob("*")), list(work.iterdir())


def test_tilde_user_forms(tmp_path: Path) -> None:
    import pwd

    from dendrux.db.urls import parse_database_url

    me = pwd.getpwuid(os.getuid())
    path = parse_database_url(f"sqlite:///~{me.pw_name}/x.db").sqlite_path
    assert path == os.path.join(me.pw_dir, "x.db")
    with pytest.raises(InvalidArgumentError, match="cannot expand ~no-such-user-17"):
        parse_database_url("sqlite+aiosqlite:///~no-such-user-17/x.db")
    # Four slashes: an absolute path, taken as written.
    assert parse_database_url("sqlite:////~/x.db").sqlite_path == "/~/x.db"
