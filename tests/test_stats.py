"""`RunStore.get_stats`, ``GET /stats`` and ``dendrux stats`` on both dialects.

Exact figures for a hand-made set of runs (every group_by, the window's edges, NULL model
and tenant, unpriced runs, percentiles of known durations, no error rate when nothing
finished); a seeded random set checked against a reference computed in Python from the
store's own `list_runs` records, so both dialects give the same figures for the same rows;
arguments refused before any SQL; the route's tenant rules and 400s; the CLI's table and
``--json`` agree with the route.
"""

from __future__ import annotations

import json
import math
import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from http_support import asgi_request

from dendrux.db.sqlite.dialect import sqlite_timestamp
from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.http import make_read_router
from dendrux.read.stats import MAX_GROUPS
from dendrux.status import TERMINAL_STATUS_VALUES
from dendrux.store import RunStats, RunStore, StatsRow

BASE = datetime(2026, 3, 1, tzinfo=UTC)
END = BASE + timedelta(days=7)
US = timedelta(microseconds=1)
MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Run:
    id: str
    agent: str
    status: str
    created: datetime
    duration: timedelta
    tenant: str | None = None
    model: str | None = None
    tokens: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)  # in, out, cache r/w, reasoning
    cost: float | None = None


HAND = [
    # Inside the window [BASE, END).
    Run("r08", "alpha", "success", BASE, 1 * MS, "acme", "m1", (1, 1, 0, 0, 0), 0.0),
    Run("r01", "alpha", "success", BASE + timedelta(hours=10), 1000 * MS, "acme", "m1",
        (100, 10, 5, 1, 2), 0.5),
    Run("r02", "alpha", "error", BASE + timedelta(hours=11), 3000 * MS, "acme", "m1",
        (200, 20, 0, 0, 0)),
    Run("r03", "beta", "success", BASE + timedelta(days=1), 2000500 * US, "globex", "m2",
        (300, 30, 7, 0, 3), 0.25),
    Run("r04", "beta", "running", BASE + timedelta(days=1, hours=12), 40 * MS, None, None,
        (50, 5, 0, 0, 0)),
    Run("r05", "alpha", "cancelled", BASE + timedelta(days=2), 500 * MS, "acme", "m1"),
    Run("r06", "gamma", "max_iterations", BASE + timedelta(days=2, hours=3), 10000 * MS,
        "globex", "m2", (400, 40, 0, 4, 0), 1.0),
    Run("r07", "alpha", "waiting_approval", BASE + timedelta(days=3), 70 * MS, "acme", "m1",
        (60, 6, 0, 0, 0), 0.1),
    # 10:00:00.999999 -> 10:00:01.000001: two microseconds across a second boundary.
    Run("r11", "gamma", "success", BASE + timedelta(days=4, hours=10, microseconds=999999),
        2 * US, None, None, (2, 2, 0, 0, 0), 0.125),
    # Outside: exactly at the end (excluded), one microsecond before the start.
    Run("r09", "alpha", "success", END, 5 * MS, "acme", "m1", (1000, 0, 0, 0, 0), 9.0),
    Run("r10", "alpha", "error", BASE - US, 5 * MS, "acme", "m1", (1000, 0, 0, 0, 0), 9.0),
]  # fmt: skip


# -- seeding through the raw drivers ------------------------------------------------------


async def insert_runs(dialect: str, url: str, runs: Iterable[Run]) -> None:
    rows = [
        (r.id, r.tenant, r.agent, r.status, r.model, *r.tokens, r.cost, r.created,
         r.created + r.duration)
        for r in runs
    ]  # fmt: skip
    sql = (
        "INSERT INTO agent_runs (id, tenant_id, agent_name, status, model, total_input_tokens,"
        " total_output_tokens, total_cache_read_tokens, total_cache_creation_tokens,"
        " total_reasoning_tokens, total_cost_usd, created_at, updated_at) VALUES "
    )
    if dialect == "sqlite":
        with sqlite3.connect(url.split(":///", 1)[1]) as raw:
            raw.executemany(
                sql + "(" + ", ".join("?" * 13) + ")",
                [(*r[:11], sqlite_timestamp(r[11]), sqlite_timestamp(r[12])) for r in rows],
            )
        return
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(sql + "(" + ", ".join(f"${i}" for i in range(1, 14)) + ")", rows)
    finally:
        await conn.close()


@pytest.fixture
async def hand(dialect: str, database_url: str) -> str:
    await insert_runs(dialect, database_url, HAND)
    return database_url


# -- a reference computed in Python from the store's own records -----------------------------


def nearest_rank(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(round(p * len(ordered), 9)) - 1]


def reference_row(key: str | None, runs: list[Any]) -> StatsRow:
    """A `StatsRow` from `RunSummary` records, by the definitions of the docstring."""
    finished = [r for r in runs if r.status in TERMINAL_STATUS_VALUES]
    errors = sum(r.status == "error" for r in runs)
    costs = [r.total_cost_usd for r in runs if r.total_cost_usd is not None]
    micros = [(r.updated_at - r.created_at) // US for r in finished]
    p50, p95 = nearest_rank(micros, 0.5), nearest_rank(micros, 0.95)
    return StatsRow(
        key, len(runs), len(finished), errors, errors / len(finished) if finished else None,
        sum(r.total_input_tokens for r in runs), sum(r.total_output_tokens for r in runs),
        sum(r.total_cache_read_tokens for r in runs),
        sum(r.total_cache_creation_tokens for r in runs),
        sum(r.total_reasoning_tokens for r in runs),
        round(math.fsum(costs), 6) if costs else None,
        sum(r.total_cost_usd is None for r in finished),
        None if p50 is None else p50 / 1000, None if p95 is None else p95 / 1000,
    )  # fmt: skip


def group_key(run: Any, group_by: str) -> str | None:
    if group_by == "day":
        return str(run.created_at.astimezone(UTC).date().isoformat())
    value = {"agent": run.agent_name, "model": run.model, "tenant": run.tenant_id}[group_by]
    return value if value is None else str(value)


async def reference(store: RunStore, group_by: str, **window: Any) -> RunStats:
    runs: list[Any] = []
    while page := await store.list_runs(**window, limit=1000, offset=len(runs)):
        runs.extend(page)
    by_key: dict[str | None, list[Any]] = {}
    for run in runs:
        by_key.setdefault(group_key(run, group_by), []).append(run)
    groups = [reference_row(k, v) for k, v in by_key.items()]
    if group_by == "day":
        groups = sorted(groups, key=lambda g: str(g.key))[-MAX_GROUPS:]
    else:
        groups.sort(key=lambda g: (-g.runs, g.key is None, (g.key or "").encode()))
        groups = groups[:MAX_GROUPS]
    return RunStats(
        group_by,
        window["started_after"],
        window.get("started_before"),
        reference_row(None, runs),
        groups,
    )


# -- exact figures -----------------------------------------------------------------------------


async def test_totals_of_a_hand_made_window(hand: str) -> None:
    async with RunStore.from_database_url(hand) as store:
        stats = await store.get_stats(started_after=BASE, started_before=END)
    assert stats.group_by == "day" and stats.started_after == BASE and stats.started_before == END
    assert stats.total == StatsRow(
        key=None, runs=9, finished=7, errors=1, error_rate=1 / 7,
        input_tokens=1113, output_tokens=114, cache_read_tokens=12, cache_creation_tokens=5,
        reasoning_tokens=5, cost_usd=1.975, unpriced_runs=2,
        # finished durations: 0.002, 1, 500, 1000, 2000.5, 3000, 10000 ms: ranks 4 and 7
        p50_duration_ms=1000.0, p95_duration_ms=10000.0,
    )  # fmt: skip


async def test_groups_by_agent(hand: str) -> None:
    async with RunStore.from_database_url(hand) as store:
        stats = await store.get_stats(started_after=BASE, started_before=END, group_by="agent")
    assert [(g.key, g.runs) for g in stats.groups] == [("alpha", 5), ("beta", 2), ("gamma", 2)]
    alpha, beta, gamma = stats.groups
    assert alpha == StatsRow(
        "alpha", 5, 4, 1, 0.25, 361, 37, 5, 1, 2, 0.6, 2, 500.0, 3000.0
    )  # durations 1, 500, 1000, 3000 ms: ranks 2 and 4
    # a running run is neither finished nor unpriced, but its tokens count
    assert beta == StatsRow("beta", 2, 1, 0, 0.0, 350, 35, 7, 0, 3, 0.25, 0, 2000.5, 2000.5)
    assert gamma == StatsRow("gamma", 2, 2, 0, 0.0, 402, 42, 0, 4, 0, 1.125, 0, 0.002, 10000.0)


async def test_groups_by_model_and_tenant_put_null_last(hand: str) -> None:
    async with RunStore.from_database_url(hand) as store:
        models = await store.get_stats(started_after=BASE, started_before=END, group_by="model")
        tenants = await store.get_stats(started_after=BASE, started_before=END, group_by="tenant")
    assert [(g.key, g.runs, g.finished) for g in models.groups] == [
        ("m1", 5, 4),
        ("m2", 2, 2),
        (None, 2, 1),
    ]
    assert [(g.key, g.runs, g.cost_usd) for g in tenants.groups] == [
        ("acme", 5, 0.6),
        ("globex", 2, 1.25),
        (None, 2, 0.125),
    ]
    assert models.total == tenants.total


async def test_groups_by_utc_day_ascending(hand: str) -> None:
    async with RunStore.from_database_url(hand) as store:
        stats = await store.get_stats(started_after=BASE, started_before=END)
    assert [(g.key, g.runs) for g in stats.groups] == [
        ("2026-03-01", 3),
        ("2026-03-02", 2),
        ("2026-03-03", 2),
        ("2026-03-04", 1),
        ("2026-03-05", 1),
    ]
    # 2026-03-05: the run of two microseconds
    assert stats.groups[-1].p50_duration_ms == stats.groups[-1].p95_duration_ms == 0.002


async def test_window_edges_and_filters(hand: str) -> None:
    async with RunStore.from_database_url(hand) as store:
        # started_after is inclusive, started_before exclusive
        edge = await store.get_stats(started_after=BASE, started_before=BASE + US)
        assert edge.total.runs == 1 and edge.groups[0].key == "2026-03-01"
        before = await store.get_stats(started_after=BASE - US, started_before=BASE)
        assert before.total.runs == 1 and before.total.errors == 1  # r10
        open_ended = await store.get_stats(started_after=BASE)
        assert open_ended.total.runs == 10 and open_ended.started_before is None  # r09 too
        acme = await store.get_stats(
            started_after=BASE, started_before=END, group_by="agent", tenant_id="acme"
        )
        assert [(g.key, g.runs) for g in acme.groups] == [("alpha", 5)]
        gamma = await store.get_stats(started_after=BASE, started_before=END, agent_name="gamma")
        assert gamma.total.runs == 2 and gamma.total.cost_usd == 1.125
        other = await store.get_stats(started_after=BASE, started_before=END, tenant_id="nobody")
        assert other == RunStats("day", BASE, END, StatsRow.empty(), [])


async def test_nothing_finished_has_no_error_rate_and_no_durations(hand: str) -> None:
    async with RunStore.from_database_url(hand) as store:
        stats = await store.get_stats(
            started_after=BASE + timedelta(days=3), started_before=BASE + timedelta(days=4)
        )
    assert stats.total == StatsRow(None, 1, 0, 0, None, 60, 6, 0, 0, 0, 0.1, 0, None, None)


async def test_an_empty_window_is_all_zero(database_url: str) -> None:
    async with RunStore.from_database_url(database_url) as store:
        for group_by in ("day", "agent", "model", "tenant"):
            stats = await store.get_stats(started_after=BASE, group_by=group_by)
            assert stats == RunStats(group_by, BASE, None, StatsRow.empty(), [])


async def test_same_figures_as_a_python_reference_on_random_runs(
    dialect: str, database_url: str
) -> None:
    """Seeded runs (the same on both dialects): every figure equals the reference, so the
    two dialects agree with each other, percentiles of many durations included."""
    rng = random.Random(16)
    statuses = ["success"] * 6 + ["error", "cancelled", "max_iterations", "running", "pending"]
    runs = [
        Run(
            f"x{n:04d}",
            rng.choice(["alpha", "beta", "gamma", "Delta"]),
            rng.choice(statuses),
            BASE + timedelta(microseconds=rng.randrange(7 * 86_400_000_000)),
            timedelta(microseconds=rng.choice([rng.randrange(10**6), rng.randrange(10**10)])),
            rng.choice(["acme", "globex", "Initech", None]),
            rng.choice(["m1", "m2", None]),
            tuple(rng.randrange(10**6) for _ in range(5)),  # type: ignore[arg-type]
            rng.choice([None, rng.randrange(10**6) / 10**6]),
        )
        for n in range(400)
    ]
    await insert_runs(dialect, database_url, runs)
    async with RunStore.from_database_url(database_url) as store:
        for group_by in ("day", "agent", "model", "tenant"):
            window = {"started_after": BASE + timedelta(days=1), "started_before": END}
            got = await store.get_stats(group_by=group_by, **window)
            assert got == await reference(store, group_by, **window), group_by
            assert got.total.finished > 100


async def test_at_most_100_groups(dialect: str, database_url: str) -> None:
    # 103 agents (the first three with two runs), one run a day for 105 days
    runs = [
        Run(f"a{i:03d}-{j}", f"agent-{i:03d}", "success", BASE + timedelta(minutes=i), MS)
        for i in range(103)
        for j in range(2 if i < 3 else 1)
    ]
    runs += [Run(f"d{i:03d}", "daily", "success", END + timedelta(days=i), MS) for i in range(105)]
    await insert_runs(dialect, database_url, runs)
    async with RunStore.from_database_url(database_url) as store:
        agents = await store.get_stats(started_after=BASE, started_before=END, group_by="agent")
        days = await store.get_stats(started_after=END)
    names = [g.key for g in agents.groups]
    assert len(names) == MAX_GROUPS and agents.total.runs == 106
    assert names[:3] == ["agent-000", "agent-001", "agent-002"]
    assert names[3:] == [f"agent-{i:03d}" for i in range(3, 100)]
    keys = [g.key for g in days.groups]
    assert days.total.runs == 105 and len(keys) == MAX_GROUPS
    assert keys == [(END + timedelta(days=i)).date().isoformat() for i in range(5, 105)]


async def test_upstream_sqlite_timestamps(tmp_path: Path) -> None:
    """A database the upstream schema made (naive, space-separated timestamps): UTC day keys
    and microsecond durations read as from our own text."""
    path = tmp_path / "upstream.db"
    fixture = Path(__file__).parent / "fixtures" / "upstream_sqlite.sql"
    with sqlite3.connect(path) as raw:
        raw.executescript(fixture.read_text(encoding="utf-8"))
        stamps = raw.execute("SELECT created_at FROM agent_runs").fetchall()
    assert all(" " in s for (s,) in stamps)
    url = f"sqlite+aiosqlite:///{path}"
    async with RunStore.from_database_url(url) as store:
        start = datetime(2000, 1, 1, tzinfo=UTC)
        for group_by in ("day", "agent", "model", "tenant"):
            got = await store.get_stats(started_after=start, group_by=group_by)
            assert got.total.runs == 5
            assert got == await reference(store, group_by, started_after=start), group_by


# -- bad arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "named"),
    [
        ({"group_by": "week"}, InvalidArgumentError, "group_by"),
        ({"group_by": "DAY"}, InvalidArgumentError, "group_by"),
        ({"group_by": None}, InvalidArgumentTypeError, "group_by"),
        ({"group_by": 1}, InvalidArgumentTypeError, "group_by"),
        ({"started_after": None}, InvalidArgumentTypeError, "started_after"),
        ({"started_after": "2026-03-01"}, InvalidArgumentTypeError, "started_after"),
        ({"started_after": datetime(2026, 3, 1)}, InvalidArgumentError, "started_after"),
        ({"started_before": datetime(2026, 3, 1)}, InvalidArgumentError, "started_before"),
        ({"started_before": BASE}, InvalidArgumentError, "started_before"),
        ({"started_before": BASE - US}, InvalidArgumentError, "started_before"),
        ({"agent_name": 5}, InvalidArgumentTypeError, "agent_name"),
        ({"tenant_id": "a\x00b"}, InvalidArgumentError, "tenant_id"),
    ],
)
async def test_bad_arguments_are_refused_before_any_sql(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], named: str
) -> None:
    # The file does not exist: reaching the database would raise DatabaseMissingError.
    store = RunStore.from_database_url(f"sqlite+aiosqlite:///{tmp_path}/missing.db")
    try:
        with pytest.raises(error, match=named):
            await store.get_stats(**{"started_after": BASE, **kwargs})
    finally:
        await store.close()
    assert not (tmp_path / "missing.db").exists()


# -- the route ----------------------------------------------------------------------------------


def _router(url: str, principal: Any = None) -> tuple[Any, RunStore]:
    store = RunStore.from_database_url(url)
    return make_read_router(store=store, authorize=lambda scope: principal), store


WINDOW_QUERY = b"started_after=2026-03-01&started_before=2026-03-08T00:00:00Z"


async def test_route_serves_the_stats(hand: str) -> None:
    app, store = _router(hand)
    try:
        reply = await asgi_request(app, "/stats", WINDOW_QUERY + b"&group_by=agent")
        assert reply.status == 200, reply.body
        body = reply.json()
        assert list(body) == ["group_by", "started_after", "started_before", "total", "groups"]
        assert body["group_by"] == "agent"
        assert body["started_after"] == "2026-03-01T00:00:00+00:00"
        assert body["started_before"] == "2026-03-08T00:00:00+00:00"
        assert list(body["total"]) == list(StatsRow.__dataclass_fields__)
        assert body["total"]["runs"] == 9 and body["total"]["p95_duration_ms"] == 10000.0
        assert [g["key"] for g in body["groups"]] == ["alpha", "beta", "gamma"]
        default = (await asgi_request(app, "/stats")).json()  # the last 30 days, by day
        assert default["group_by"] == "day" and default["started_before"] is None
        after = datetime.fromisoformat(default["started_after"])
        assert abs(datetime.now(UTC) - timedelta(days=30) - after) < timedelta(minutes=1)
        assert default["total"]["runs"] == 0  # the hand-made runs are in 2026-03
    finally:
        await store.close()


async def test_route_tenant_principal_sees_its_tenant_only(hand: str) -> None:
    app, store = _router(hand, {"tenant_id": "globex"})
    try:
        body = (await asgi_request(app, "/stats", WINDOW_QUERY + b"&group_by=tenant")).json()
        assert body["total"]["runs"] == 2 and body["total"]["cost_usd"] == 1.25
        assert [g["key"] for g in body["groups"]] == ["globex"]
        same = (await asgi_request(app, "/stats", WINDOW_QUERY + b"&tenant_id=globex")).json()
        assert same["total"] == body["total"]
        other = await asgi_request(app, "/stats", WINDOW_QUERY + b"&tenant_id=acme")
        assert other.status == 200
        assert other.json()["total"] == json.loads(json.dumps(_row_dict(StatsRow.empty())))
        assert other.json()["groups"] == []
    finally:
        await store.close()


def _row_dict(row: StatsRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in StatsRow.__dataclass_fields__}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        (b"group_by=week", "group_by"),
        (b"started_after=yesterday", "started_after"),
        (b"started_after=2026-03-01T00:00:00", "started_after"),  # no offset
        (b"started_before=2026-02-01", "started_before"),  # before the default start
        (b"started_after=2026-03-02&started_before=2026-03-01", "started_before"),
        (b"group_by=day&group_by=agent", "group_by"),
        (b"status=success", "status"),
    ],
)
async def test_route_bad_parameters_are_400(database_url: str, query: bytes, named: str) -> None:
    app, store = _router(database_url)
    try:
        reply = await asgi_request(app, "/stats", query)
        assert reply.status == 400
        assert reply.json()["error"]["code"] == "bad_request"
        assert named in reply.json()["error"]["message"]
    finally:
        await store.close()


async def test_route_calls_authorize(database_url: str) -> None:
    def refuse(scope: Any) -> None:
        raise PermissionError("no")

    store = RunStore.from_database_url(database_url)
    try:
        app = make_read_router(store=store, authorize=refuse)
        assert (await asgi_request(app, "/stats")).status == 403
    finally:
        await store.close()


# -- the command line ---------------------------------------------------------------------------


def _dendrux(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DENDRUX_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "dendrux", "stats", "--database-url", url, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


async def test_cli_json_and_table_agree_with_the_route(hand: str) -> None:
    app, store = _router(hand)
    try:
        for by in ("agent", "day"):
            route = await asgi_request(app, "/stats", WINDOW_QUERY + f"&group_by={by}".encode())
            result = _dendrux(hand, "--since", "2026-03-01", "--until", "2026-03-08", "--by", by,
                              "--json")  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout) == route.json()
    finally:
        await store.close()
    table = _dendrux(hand, "--since", "2026-03-01", "--until", "2026-03-08", "--by", "model")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["MODEL", "RUNS", "FINISHED", "ERRORS"]
    m1 = lines[1].split()
    assert m1[:5] == ["m1", "5", "4", "1", "25.0%"]
    assert m1[5] == "361/37" and "$0.60" in lines[1] and "(+2 unpriced)" in lines[1]
    assert lines[3].split()[:3] == ["(no", "model)", "2"]
    total = lines[4].split()
    assert total[:5] == ["TOTAL", "9", "7", "1", "14.3%"] and total[-2:] == ["1.0s", "10.0s"]
    assert "runs created from 2026-03-01 00:00:00 UTC to 2026-03-08 00:00:00 UTC" in lines[5]


async def test_cli_refuses_bad_options(hand: str) -> None:
    bad = _dendrux(hand, "--by", "week")
    assert bad.returncode == 2 and "week" in bad.stderr
    backwards = _dendrux(hand, "--since", "2026-03-08", "--until", "2026-03-01")
    assert backwards.returncode == 2 and "started_before" in backwards.stderr
    assert len(backwards.stderr.strip().splitlines()) == 1
    empty = _dendrux(hand, "--since", "2020-01-01", "--until", "2020-02-01")
    assert empty.returncode == 0 and empty.stdout.startswith("no runs (runs created from")
