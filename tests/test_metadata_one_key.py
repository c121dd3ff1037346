"""A one-key metadata filter (a thread, a user: the common case) runs its own queries on
SQLite (``*_by_meta_one``: no grouping of the index's hits, a listing reads in full only
its page's runs). They must select exactly what the general ``*_by_meta`` queries
select, with every other filter, page and cap; on PostgreSQL the same calls run the
general queries, and must agree with the same reference.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_metadata_filter_property import reference_match

from dendrux.db import upgrade
from dendrux.db.queries import load_queries
from dendrux.db.sqlite.dialect import SqliteDialect
from dendrux.read.filters import RunFilters
from dendrux.store import RunStore

KEYS = ["thread_id", "user", "n"]
VALUES: list[Any] = ["t1", "t2", "1", 1, 1.0, 2, True, False, None, "é"]
AGENTS = ["a", "b"]
TENANTS = [None, "T1", "T2"]
FINAL = [None, "success", "error"]  # None: left running

ONE_KEY_QUERIES = {
    "list_runs_by_meta_one": ("list_runs_by_meta", [50, 0]),
    "list_run_summaries_by_meta_one": ("list_run_summaries_by_meta", [50, 0]),
    "count_runs_by_meta_one": ("count_runs_by_meta", []),
    "count_runs_capped_by_meta_one": ("count_runs_capped_by_meta", [10_000]),
}


@dataclass(frozen=True)
class Run:
    run_id: str
    agent: str
    tenant: str | None
    final: str | None
    meta: dict[str, Any] | None


@dataclass(frozen=True)
class Query:
    metadata_filter: dict[str, Any]
    status: list[str] | None
    agent_name: str | None
    tenant_id: str | None
    after_rank: int | None  # started_after: the created_at of this listing position
    limit: int
    offset: int
    at_most: int


metas = st.one_of(
    st.none(), st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3)
)
runs = st.lists(
    st.builds(
        Run,
        run_id=st.just(""),
        agent=st.sampled_from(AGENTS),
        tenant=st.sampled_from(TENANTS),
        final=st.sampled_from(FINAL),
        meta=metas,
    ),
    min_size=1,
    max_size=10,
).map(lambda rs: [Run(f"r{i:02d}", r.agent, r.tenant, r.final, r.meta) for i, r in enumerate(rs)])
queries = st.builds(
    Query,
    metadata_filter=st.dictionaries(
        st.sampled_from(KEYS), st.sampled_from(VALUES), min_size=1, max_size=1
    ),
    status=st.one_of(
        st.none(), st.lists(st.sampled_from(["running", "success", "error"]), min_size=1)
    ),
    agent_name=st.one_of(st.none(), st.sampled_from(AGENTS)),
    tenant_id=st.one_of(st.none(), st.sampled_from(["T1", "T2"])),
    after_rank=st.one_of(st.none(), st.integers(0, 9)),
    limit=st.integers(1, 6),
    offset=st.integers(0, 4),
    at_most=st.integers(1, 5),
)


@pytest.fixture
async def run_store(database_url: str) -> AsyncIterator[RunStore]:
    store = RunStore.from_database_url(database_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def clear_runs(
    dialect: str, database_url: str
) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Delete every run through the raw driver."""
    if dialect == "sqlite":
        path = database_url.split("///", 1)[1]

        async def clear_sqlite() -> None:
            with sqlite3.connect(path, timeout=10) as raw:
                raw.execute("PRAGMA foreign_keys = ON")
                raw.execute("DELETE FROM agent_runs")
            raw.close()

        yield clear_sqlite
        return
    conn = await asyncpg.connect(database_url)

    async def clear_postgres() -> None:
        await conn.execute("DELETE FROM agent_runs")

    try:
        yield clear_postgres
    finally:
        await conn.close()


def _sqlite_agree(path: str, q: Query) -> None:
    """SQLite: each one-key query returns the rows of its general twin (datetimes aside,
    which the store binds)."""
    sql = load_queries("sqlite")
    status = None if q.status is None else json.dumps(q.status)
    base = [status, q.agent_name, None, q.tenant_id, None, None, json.dumps(q.metadata_filter)]
    raw = sqlite3.connect(path)
    try:
        for one, (general, extra) in ONE_KEY_QUERIES.items():
            if extra == [50, 0]:
                extra = [q.limit, q.offset]
            elif extra:
                extra = [q.at_most]
            args = [*base, *extra]
            assert (
                raw.execute(sql[one], args).fetchall() == raw.execute(sql[general], args).fetchall()
            ), (one, q)
    finally:
        raw.close()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=runs, asked=st.lists(queries, min_size=1, max_size=4))
async def test_one_key_filter_matches_the_reference(
    scenario: list[Run],
    asked: list[Query],
    dialect: str,
    database_url: str,
    state_store: Any,
    run_store: RunStore,
    clear_runs: Callable[[], Awaitable[None]],
) -> None:
    await clear_runs()
    for run in scenario:
        await state_store.create_run(run.run_id, run.agent, tenant_id=run.tenant, meta=run.meta)
        if run.final is not None:
            await state_store.finalize_run(run.run_id, status=run.final)
    everything = await run_store.list_runs(limit=1000)
    assert len(everything) == len(scenario)
    for q in asked:
        after = None
        if q.after_rank is not None:
            after = everything[min(q.after_rank, len(everything) - 1)].created_at
        matching = [
            s.run_id
            for s in everything
            if reference_match(s.meta, q.metadata_filter)
            and (q.status is None or s.status in q.status)
            and (q.agent_name is None or s.agent_name == q.agent_name)
            and (q.tenant_id is None or s.tenant_id == q.tenant_id)
            and (after is None or s.created_at >= after)
        ]
        filters: dict[str, Any] = {
            "metadata_filter": q.metadata_filter,
            "status": q.status,
            "agent_name": q.agent_name,
            "tenant_id": q.tenant_id,
            "started_after": after,
        }
        page = matching[q.offset : q.offset + q.limit]
        listed = await run_store.list_runs(**filters, limit=q.limit, offset=q.offset)
        assert [s.run_id for s in listed] == page, q
        assert listed == [s for s in everything if s.run_id in page]  # every column
        records = await state_store.list_runs(**filters, limit=q.limit, offset=q.offset)
        assert [r.id for r in records] == page, q
        assert await run_store.count_runs(**filters) == len(matching), q
        assert await state_store.count_runs(**filters) == len(matching), q
        capped = await run_store.count_runs(**filters, at_most=q.at_most)
        assert capped == min(len(matching), q.at_most), q
        if dialect == "sqlite":
            _sqlite_agree(database_url.split("///", 1)[1], q)


def test_the_one_key_twin_is_picked_by_the_number_of_keys() -> None:
    sqlite = SqliteDialect()
    names = ("list_runs", "list_runs_by_meta", "list_runs_by_meta_one")
    assert RunFilters.check().pick(sqlite, *names) == "list_runs"
    one = RunFilters.check(metadata_filter={"thread_id": "t"})
    two = RunFilters.check(metadata_filter={"thread_id": "t", "user": 1})
    assert one.pick(sqlite, *names) == "list_runs_by_meta_one"
    assert two.pick(sqlite, *names) == "list_runs_by_meta"
    # A dialect without the twin (PostgreSQL: meta @> serves any filter) runs the general one.
    assert one.pick(sqlite, "count_runs", "count_runs_by_meta", "no_such_query") == (
        "count_runs_by_meta"
    )
    assert "list_runs_by_meta_one" not in load_queries("postgres")


@pytest.mark.parametrize("query", sorted(ONE_KEY_QUERIES))
async def test_one_key_queries_seek_the_index_without_grouping(tmp_path: Path, query: str) -> None:
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path}/meta.db"
    await upgrade(sqlite_url)
    extra = ONE_KEY_QUERIES[query][1]
    args = [None] * 6 + ['{"thread_id":"t1"}', *extra]
    with sqlite3.connect(sqlite_url.split("///", 1)[1]) as raw:
        raw.execute("ANALYZE")
        plan = [
            r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + load_queries("sqlite")[query], args)
        ]
    raw.close()
    assert any(
        "USING COVERING INDEX ix_agent_run_meta_page (key=? AND kind=? AND value=?)" in p
        for p in plan
    ), plan
    assert any(p.startswith("SEARCH agent_runs USING INDEX") for p in plan), plan
    assert not any(p.startswith("SCAN agent_runs") for p in plan), plan
    assert not any("GROUP BY" in p for p in plan), plan
