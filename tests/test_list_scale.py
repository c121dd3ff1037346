"""A runs list over a large store (issue 16): capped counts, ``has_more``, ``?total=`` and
``/status-counts``, on both dialects.

`RunStore.count_runs(at_most=)` must give ``min(count, at_most)`` with every filter (each
filter drives its own branch of the capped query on SQLite, so each is walked here, alone
and combined); the router's ``/runs`` must say whether a page follows and how exact its
total is; ``/status-counts`` must count every status with the ``/runs`` filters and a
tenant principal's scope. The cap itself is small here (the Python argument, or the
router's constant lowered): the figures at 1,000,000 runs are ``python -m bench listpage``'s.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.http import make_read_router
from dendrux.http import routes as http_routes
from dendrux.read.filters import TOTAL_CAP
from dendrux.state import StateStore
from dendrux.status import RunStatus
from dendrux.store import RunStore
from tests.http_support import Reply, asgi_request

ALL_STATUSES = [s.value for s in RunStatus]

# Twelve runs, oldest first: (id, agent, tenant, parent, final status or None, meta).
RUNS: list[tuple[str, str, str | None, str | None, str | None, dict[str, Any]]] = [
    ("r00", "alpha", "a", None, "success", {"team": "x", "n": 1}),
    ("r01", "alpha", "a", "r00", "success", {"team": "x", "n": 2}),
    ("r02", "alpha", "b", "r00", "error", {"team": "y", "n": 1}),
    ("r03", "beta", "a", "r00", None, {"team": "x", "n": 1}),
    ("r04", "beta", "b", None, "success", {"team": "x"}),
    ("r05", "alpha", None, "r00", "cancelled", {}),
    ("r06", "beta", "a", None, "error", {"team": "y", "n": 2}),
    ("r07", "alpha", "a", "r04", "success", {"team": "x", "n": 1}),
    ("r08", "gamma", "b", "r04", None, {"team": "x", "n": 1}),
    ("r09", "alpha", "a", None, "success", {"team": "y"}),
    ("r10", "beta", None, "r04", "success", {"team": "x", "n": 2}),
    ("r11", "alpha", "a", None, "error", {"team": "x", "n": 1}),
]


@pytest.fixture
async def seeded(state_store: StateStore) -> AsyncIterator[tuple[RunStore, list[datetime]]]:
    """The twelve runs, and the instants between them (``cuts[i]``: after run i - 1)."""
    cuts: list[datetime] = []
    for run_id, agent, tenant, parent, status, meta in RUNS:
        cuts.append(datetime.now(UTC))
        await asyncio.sleep(0.003)
        await state_store.create_run(
            run_id, agent, tenant_id=tenant, parent_run_id=parent, meta=meta or None
        )
        if status is not None:
            await state_store.finalize_run(run_id, status=status)
        await asyncio.sleep(0.003)
    cuts.append(datetime.now(UTC))
    yield RunStore(state_store), cuts


def _filter_sets(cuts: list[datetime]) -> list[dict[str, Any]]:
    """Every filter alone, and combinations that put each one beside another driver."""
    return [
        {},
        {"status": "success"},
        {"status": ["error", "cancelled"]},
        {"status": "running"},
        {"agent_name": "alpha"},
        {"agent_name": "alpha", "status": "success"},
        {"agent_name": "beta", "tenant_id": "a"},
        {"parent_run_id": "r00"},
        {"parent_run_id": "r04", "agent_name": "alpha"},
        {"parent_run_id": "r00", "status": ["success", "error"]},
        {"tenant_id": "a"},
        {"tenant_id": "b", "status": "success"},
        {"started_after": cuts[3]},
        {"started_before": cuts[9]},
        {"started_after": cuts[2], "started_before": cuts[10], "tenant_id": "a"},
        {"metadata_filter": {"team": "x"}},
        {"metadata_filter": {"team": "x", "n": 1}},
        {"metadata_filter": {"team": "x"}, "agent_name": "alpha", "status": "success"},
        {"metadata_filter": {"team": "y"}, "started_after": cuts[5]},
        {"agent_name": "nobody"},
    ]


def _expected(filters: dict[str, Any], cuts: list[datetime]) -> int:
    """The count worked out from `RUNS`, not from the database."""
    statuses = filters.get("status")
    if isinstance(statuses, str):
        statuses = [statuses]
    n = 0
    for i, (_id, agent, tenant, parent, status, meta) in enumerate(RUNS):
        created = (cuts[i], cuts[i + 1])  # created strictly between the two cuts
        ok = (
            (statuses is None or (status or "running") in statuses)
            and filters.get("agent_name") in (None, agent)
            and filters.get("tenant_id") in (None, tenant)
            and filters.get("parent_run_id") in (None, parent)
            and ("started_after" not in filters or created[0] >= filters["started_after"])
            and ("started_before" not in filters or created[1] <= filters["started_before"])
            and all(meta.get(k) == v for k, v in filters.get("metadata_filter", {}).items())
        )
        n += ok
    return n


# -- count_runs(at_most=) ------------------------------------------------------------------


async def test_capped_count_is_exact_below_the_cap_and_the_cap_above_it(
    seeded: tuple[RunStore, list[datetime]],
) -> None:
    store, cuts = seeded
    assert (await store.get_run_status("r03")) == "running"  # the default status, as assumed
    for filters in _filter_sets(cuts):
        exact = await store.count_runs(**filters)
        assert exact == _expected(filters, cuts), filters
        for cap in range(1, exact + 3):
            capped = await store.count_runs(**filters, at_most=cap)
            assert capped == min(exact, cap), (filters, cap)
    assert await store.count_runs(at_most=20) == 12
    assert await store.count_runs(at_most=10) == 10
    assert await store.count_runs(agent_name="alpha", at_most=5) == 5  # 7 alpha runs
    assert await store.count_runs(agent_name="alpha", at_most=10) == 7
    assert await store.count_runs(at_most=2**63 - 1) == 12


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, InvalidArgumentError),
        (-3, InvalidArgumentError),
        (2**63, InvalidArgumentError),
        (True, InvalidArgumentTypeError),
        ("5", InvalidArgumentTypeError),
        (5.0, InvalidArgumentTypeError),
    ],
)
async def test_bad_at_most_is_refused_naming_it(
    database_url: str, value: object, error: type[Exception]
) -> None:
    store = RunStore.from_database_url(database_url)
    await store.close()  # a closed store: an argument check that ran SQL would fail otherwise
    with pytest.raises(error, match="at_most"):
        await store.count_runs(at_most=value)  # type: ignore[arg-type]
    with pytest.raises(error, match="at_most"):
        await store.count_runs_by_status(at_most=value)  # type: ignore[arg-type]


async def test_count_runs_by_status_counts_every_status_capped(
    seeded: tuple[RunStore, list[datetime]],
) -> None:
    store, cuts = seeded
    for filters in _filter_sets(cuts):
        if "status" in filters:
            continue
        for cap in (1, 2, 3, 100):
            counts = await store.count_runs_by_status(**filters, at_most=cap)
            assert list(counts) == ALL_STATUSES
            for status in ALL_STATUSES:
                exact = _expected({**filters, "status": status}, cuts)
                assert counts[status] == min(exact, cap), (filters, status, cap)
    counts = await store.count_runs_by_status()
    assert counts == {**dict.fromkeys(ALL_STATUSES, 0), "success": 6, "error": 3,
                      "cancelled": 1, "running": 2}  # fmt: skip
    with pytest.raises(TypeError):
        await store.count_runs_by_status(status="success")  # type: ignore[call-arg]


# -- GET /runs ---------------------------------------------------------------------------


async def _get(app: Any, path: str, query: str = "", **headers: str) -> Reply:
    return await asgi_request(
        app, path, query.encode(), [(k.encode(), v.encode()) for k, v in headers.items()]
    )


async def _page(app: Any, query: str, **headers: str) -> dict[str, Any]:
    reply = await _get(app, "/runs", query, **headers)
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.json()
    return body


def _open(scope: Any) -> None:
    return None


async def test_has_more_at_the_page_edges(seeded: tuple[RunStore, list[datetime]]) -> None:
    store, _ = seeded
    app = make_read_router(store=store, authorize=_open)
    for query, ids, more in [
        ("limit=12", [r[0] for r in reversed(RUNS)], False),
        ("limit=11", [r[0] for r in reversed(RUNS)][:11], True),
        ("limit=13", [r[0] for r in reversed(RUNS)], False),
        ("limit=1000", [r[0] for r in reversed(RUNS)], False),
        ("limit=5000", [r[0] for r in reversed(RUNS)], False),  # clamped to 1000
        ("limit=1&offset=11", ["r00"], False),
        ("limit=1&offset=10", ["r01"], True),
        ("limit=5&offset=12", [], False),
        ("limit=5&offset=40", [], False),
        ("agent_name=alpha&limit=6", ["r11", "r09", "r07", "r05", "r02", "r01"], True),
        ("agent_name=alpha&limit=6&offset=1", ["r09", "r07", "r05", "r02", "r01", "r00"], False),
        ("meta.team=y&limit=2", ["r09", "r06"], True),
        ("meta.team=y&limit=3", ["r09", "r06", "r02"], False),
    ]:
        for mode in ("exact", "capped", "none"):
            page = await _page(app, f"{query}&total={mode}")
            assert [r["run_id"] for r in page["runs"]] == ids, (query, mode)
            assert page["has_more"] is more, (query, mode)


async def test_has_more_on_a_full_largest_page(state_store: StateStore) -> None:
    """A page of 1,000 (the largest) cannot fetch one run more: the router asks apart."""
    store = RunStore(state_store)
    app = make_read_router(store=store, authorize=_open)
    sem = asyncio.Semaphore(16)

    async def create(i: int) -> None:
        async with sem:
            await state_store.create_run(f"run-{i:04d}", "bulk")

    await asyncio.gather(*(create(i) for i in range(1000)))
    full = await _page(app, "limit=1000&total=none")
    assert len(full["runs"]) == 1000 and full["has_more"] is False
    await state_store.create_run("run-1000", "bulk")
    full = await _page(app, "limit=1000&total=capped")
    assert len(full["runs"]) == 1000 and full["has_more"] is True
    assert full["total"] == 1001 and full["total_exact"] is True
    last = await _page(app, "limit=1000&offset=1")
    assert len(last["runs"]) == 1000 and last["has_more"] is False and last["total"] == 1001


async def test_total_modes(
    seeded: tuple[RunStore, list[datetime]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = seeded
    app = make_read_router(store=store, authorize=_open)
    exact = await _page(app, "limit=5")
    assert exact["total"] == 12 and exact["total_exact"] is True and exact["has_more"] is True
    assert exact == await _page(app, "limit=5&total=exact")  # exact is the default
    capped = await _page(app, "limit=5&total=capped")
    assert capped == exact  # below the cap, a capped total is the exact one
    none = await _page(app, "limit=5&total=none")
    assert none == {**exact, "total": None, "total_exact": False}
    assert (await _page(app, "limit=5&offset=50&total=capped"))["total"] == 12
    assert (await _page(app, "limit=5&offset=50"))["total"] == 12

    monkeypatch.setattr(http_routes, "TOTAL_CAP", 3)  # the cap, lowered to reach it here
    capped = await _page(app, "limit=2&total=capped")
    assert (capped["total"], capped["total_exact"], capped["has_more"]) == (3, False, True)
    deeper = await _page(app, "limit=2&offset=6&total=capped")  # past the cap: a lower bound
    assert (deeper["total"], deeper["total_exact"], deeper["has_more"]) == (9, False, True)
    end = await _page(app, "limit=2&offset=10&total=capped")  # the end is on the page
    assert (end["total"], end["total_exact"], end["has_more"]) == (12, True, False)
    few = await _page(app, "agent_name=gamma&limit=2&offset=1&total=capped")
    assert (few["runs"], few["total"], few["total_exact"]) == ([], 1, True)
    assert (await _page(app, "limit=2&total=exact"))["total"] == 12  # exact stays exact


@pytest.mark.parametrize(
    "query", ["total=bogus", "total=EXACT", "total=exact&total=none", "total=capped%00"]
)
async def test_a_bad_total_is_a_400_naming_total(database_url: str, query: str) -> None:
    async with RunStore.from_database_url(database_url) as store:
        reply = await _get(make_read_router(store=store, authorize=_open), "/runs", query)
    assert reply.status == 400
    assert "total" in json.dumps(reply.json())


async def test_every_runs_answer_has_the_new_keys(
    seeded: tuple[RunStore, list[datetime]],
) -> None:
    store, _ = seeded

    def tenant(scope: Any) -> object:
        return {"tenant_id": "a"}

    app = make_read_router(store=store, authorize=tenant)
    other = await _page(app, "tenant_id=b")
    assert other == {
        "runs": [], "total": 0, "limit": 50, "offset": 0, "has_more": False, "total_exact": True,
    }  # fmt: skip
    assert (await _page(app, "tenant_id=b&total=none"))["total"] is None
    mine = await _page(app, "limit=3&total=capped")
    assert mine["total"] == 7 and mine["has_more"] is True and mine["total_exact"] is True


# -- GET /status-counts --------------------------------------------------------------------


async def _counts(app: Any, query: str = "", **headers: str) -> dict[str, int]:
    reply = await _get(app, "/status-counts", query, **headers)
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["at_most"] == TOTAL_CAP == 10_000
    counts: dict[str, int] = body["counts"]
    assert list(counts) == ALL_STATUSES
    return counts


async def test_status_counts_route(
    seeded: tuple[RunStore, list[datetime]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, cuts = seeded
    app = make_read_router(store=store, authorize=_open)
    for query, filters in [
        ("", {}),
        ("agent_name=alpha", {"agent_name": "alpha"}),
        ("tenant_id=a&agent_name=beta", {"tenant_id": "a", "agent_name": "beta"}),
        ("parent_run_id=r00", {"parent_run_id": "r00"}),
        ("meta.team=x", {"metadata_filter": {"team": "x"}}),
        ("meta.n=1&tenant_id=a", {"metadata_filter": {"n": 1}, "tenant_id": "a"}),
        ("started_before=" + cuts[6].isoformat().replace("+00:00", "Z"),
         {"started_before": cuts[6]}),
    ]:  # fmt: skip
        counts = await _counts(app, query)
        for status in ALL_STATUSES:
            assert counts[status] == _expected({**filters, "status": status}, cuts), (query, status)
            assert counts[status] == await store.count_runs(**filters, status=status)
    for bad in ("status=success", "limit=5", "offset=1", "total=capped", "nope=1"):
        reply = await _get(app, "/status-counts", bad)
        assert reply.status == 400 and bad.split("=")[0] in json.dumps(reply.json()), bad
    assert (await _get(app, "/status-counts/")).status == 200
    assert (await _get(app, "/runs/status-counts")).status == 404  # a run id, not the route

    monkeypatch.setattr(http_routes, "TOTAL_CAP", 2)
    reply = (await _get(app, "/status-counts")).json()
    assert reply["at_most"] == 2
    assert reply["counts"] == {**dict.fromkeys(ALL_STATUSES, 0), "success": 2, "error": 2,
                               "cancelled": 1, "running": 2}  # fmt: skip


async def test_status_counts_keep_to_the_principals_tenant(
    seeded: tuple[RunStore, list[datetime]],
) -> None:
    store, cuts = seeded

    def authorize(scope: Any) -> object:
        tenant = dict(scope["headers"]).get(b"x-tenant")
        return None if tenant is None else {"tenant_id": tenant.decode()}

    app = make_read_router(store=store, authorize=authorize)
    mine = await _counts(app, **{"x-tenant": "a"})
    assert mine == {s: _expected({"tenant_id": "a", "status": s}, cuts) for s in ALL_STATUSES}
    assert sum(mine.values()) == 7
    assert await _counts(app, "tenant_id=a", **{"x-tenant": "a"}) == mine
    assert await _counts(app, "tenant_id=b", **{"x-tenant": "a"}) == dict.fromkeys(ALL_STATUSES, 0)
    assert await _counts(app, "agent_name=beta", **{"x-tenant": "a"}) == {
        s: _expected({"tenant_id": "a", "agent_name": "beta", "status": s}, cuts)
        for s in ALL_STATUSES
    }
    everyone = await _counts(app)  # an operator: every tenant
    assert sum(everyone.values()) == 12
    assert await _counts(app, "tenant_id=b") == {
        s: _expected({"tenant_id": "b", "status": s}, cuts) for s in ALL_STATUSES
    }
    assert sum(everyone.values()) > sum(mine.values())


# -- the status counts' plans: an index range per status, no table scan ------------------

_STATUSES = [status.value for status in RunStatus]
# (agent, tenant) -> the index each status's count must walk (migration 0004).
_PLAN_CASES = {
    ("a1", None): "ix_agent_runs_agent_status_created",
    (None, "t1"): "ix_agent_runs_tenant_status_created",
    ("a1", "t1"): "ix_agent_runs_agent_status_created",
}


@pytest.mark.parametrize(("agent", "tenant"), list(_PLAN_CASES))
async def test_status_counts_walk_an_index_per_status(
    database_url: str, dialect: str, agent: str | None, tenant: str | None
) -> None:
    """A tenant principal's counts (its tenant, maybe one agent) read one index range per
    status, never the table: 0.4-1.6 s at a million runs before migration 0004."""
    from dendrux.db.queries import load_queries

    sql = load_queries(dialect)["status_counts"]
    index = _PLAN_CASES[(agent, tenant)]
    if dialect == "sqlite":
        import sqlite3

        with sqlite3.connect(database_url.split("///", 1)[1]) as raw:
            args = [json.dumps(_STATUSES), agent, None, tenant, None, None, None, 10]
            plan = [r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + sql, args)]
        assert any(index in p for p in plan), plan
        assert not any(p.startswith("SCAN agent_runs") for p in plan), plan
        if tenant is None or agent is None:  # one filter: the index alone, no row read
            assert any(f"USING COVERING INDEX {index}" in p for p in plan), plan
        return
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        # The plan a reused prepared statement gets: generic, parameters unknown.
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        # An empty table is cheapest to scan; what is checked is that an index can serve.
        await conn.execute("SET enable_seqscan = off")
        await conn.execute(
            "PREPARE counts (text[], text, text, text, timestamptz, timestamptz, jsonb, bigint)"
            " AS " + sql.strip().rstrip(";")
        )

        # EXECUTE takes no bind parameters: the test's own constants, quoted.
        def literal(value: str | None) -> str:
            return "NULL" if value is None else "'" + value + "'"

        statuses = "ARRAY[" + ", ".join(literal(s) for s in _STATUSES) + "]"
        rows = await conn.fetch(
            f"EXPLAIN (ANALYZE, COSTS OFF) EXECUTE counts({statuses}, {literal(agent)}, NULL,"
            f" {literal(tenant)}, NULL, NULL, NULL, 10)"
        )
    finally:
        await conn.close()
    # Branches the parameters rule out show as never executed; the others must seek.
    executed = [line for line in (r[0] for r in rows) if "never executed" not in line]
    assert any(index in line for line in executed), executed
    assert not any("Seq Scan on agent_runs" in line for line in executed), executed
