"""SQLite's metadata index (migration 0002): ``agent_run_meta`` and its triggers.

Metadata filters on SQLite seek ``agent_run_meta (key, kind, value)`` instead of
reading every run's JSON. The table must follow ``agent_runs.meta`` whatever
writes it (the store, raw SQL, an UPDATE, rows written before the migration,
deletes with foreign keys on or off), keep the selection identical to
PostgreSQL's ``meta @> filter`` (tests/test_metadata_filter_property.py holds
the semantics against a reference), and the filter queries must really use it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_metadata_filter_property import reference_match

from dendrux.db import upgrade
from dendrux.db.queries import load_migrations, load_queries
from dendrux.db.sqlite import sqlite_timestamp
from dendrux.state import StateStore
from dendrux.store import RunStore

FILTERS: list[dict[str, Any]] = [
    {"thread_id": "t1"},
    {"thread_id": "t1", "user": 2},
    {"user": 2.0},
    {"user": "2"},
    {"flag": True},
    {"flag": 1},
    {"gone": None},
    {"nested": 1},
    {"thread_id": "t9"},
]

METAS: dict[str, dict[str, Any] | None] = {
    "a": {"thread_id": "t1", "user": 2, "flag": True},
    "b": {"thread_id": "t1", "user": 3, "gone": None},
    "c": {"thread_id": "t2", "user": 2.0, "flag": False, "nested": [1]},
    "d": {"user": "2", "nested": {"nested": 1}},
    "e": None,
    "f": {},
}


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path}/meta.db"
    yield url


def ts(n: int) -> str:
    """Our stored timestamp text, n seconds into 2026."""
    return sqlite_timestamp(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n))


def _path(url: str) -> str:
    return url.split("///", 1)[1]


async def _expect_reference(url: str, metas: dict[str, dict[str, Any] | None]) -> None:
    async with RunStore.from_database_url(url) as store:
        order = [s.run_id for s in await store.list_runs(limit=1000)]
        assert sorted(order) == sorted(metas)
        for metadata_filter in FILTERS:
            want = [r for r in order if reference_match(metas[r], metadata_filter)]
            got = await store.list_runs(metadata_filter=metadata_filter, limit=1000)
            assert [s.run_id for s in got] == want, metadata_filter
            assert await store.count_runs(metadata_filter=metadata_filter) == len(want)


def _index_rows(url: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(_path(url)) as raw:
        return raw.execute(
            "SELECT agent_run_id, key, kind, value FROM agent_run_meta ORDER BY 1, 2"
        ).fetchall()


async def test_store_writes_are_indexed(sqlite_url: str) -> None:
    async with StateStore.from_database_url(sqlite_url) as store:
        for run_id, meta in METAS.items():
            await store.create_run(run_id, "agent", meta=meta)
    assert _index_rows(sqlite_url) == [
        ("a", "flag", "true", 1),
        ("a", "thread_id", "text", "t1"),
        ("a", "user", "number", 2),
        ("b", "gone", "null", None),
        ("b", "thread_id", "text", "t1"),
        ("b", "user", "number", 3),
        ("c", "flag", "false", 0),
        ("c", "thread_id", "text", "t2"),
        ("c", "user", "number", 2.0),
        ("d", "user", "text", "2"),
    ]
    await _expect_reference(sqlite_url, METAS)


async def test_migration_backfills_existing_runs(sqlite_url: str) -> None:
    """A database at schema version 1 with runs in it gets their meta indexed by 0002."""
    await upgrade(sqlite_url)
    first = load_migrations("sqlite")[0]
    with sqlite3.connect(_path(sqlite_url)) as raw:
        # Back to what version 1 left: no index table, no triggers, nothing of 0003/0004,
        # the progress index 0005 drops.
        raw.executescript(
            "CREATE INDEX ix_agent_runs_status_progress ON agent_runs (status, last_progress_at);"
            "DROP INDEX ix_agent_runs_agent_status_created;"
            "DROP INDEX ix_agent_runs_tenant_status_created;"
            "DROP TRIGGER tr_agent_runs_meta_insert; DROP TRIGGER tr_agent_runs_meta_update;"
            "DROP TABLE agent_run_meta; DROP TABLE run_inbox;"
            "ALTER TABLE agent_runs DROP COLUMN pause_requested;"
            "DELETE FROM dendrux_schema_version WHERE version > 1;"
        )
        for n, (run_id, meta) in enumerate(METAS.items()):
            raw.execute(
                "INSERT INTO agent_runs (id, agent_name, status, meta, created_at, updated_at) "
                "VALUES (?, 'agent', 'success', ?, ?, ?)",
                (run_id, None if meta is None else json.dumps(meta), ts(n), ts(n)),
            )
        # Hand-written rows the API never produces: not an object, malformed, duplicates.
        raw.execute(
            "INSERT INTO agent_runs (id, agent_name, status, meta, created_at, updated_at) VALUES "
            "('g', 'agent', 'success', '[1, 2]', ?1, ?1), "
            "('h', 'agent', 'success', '{not json', ?2, ?2), "
            "('i', 'agent', 'success', '{\"user\": 1, \"user\": 2}', ?3, ?3)",
            (ts(10), ts(11), ts(12)),
        )
        assert raw.execute("SELECT checksum FROM dendrux_schema_version").fetchall() == [
            (first.checksum,)
        ]
    assert await upgrade(sqlite_url) == [2, 3, 4, 5, 6, 7]
    rows = _index_rows(sqlite_url)
    assert [r for r in rows if r[0] in "ghi"] == [("i", "user", "number", 2)]  # last one wins
    assert {r[0] for r in rows} == {"a", "b", "c", "d", "i"}
    with sqlite3.connect(_path(sqlite_url)) as raw:  # readers cannot decode it either
        raw.execute("DELETE FROM agent_runs WHERE id = 'h'")
    metas = dict(METAS) | {"g": None, "i": {"user": 2}}
    await _expect_reference(sqlite_url, metas)


async def test_raw_sql_writes_keep_the_index_in_sync(sqlite_url: str) -> None:
    async with StateStore.from_database_url(sqlite_url) as store:
        for run_id, meta in METAS.items():
            await store.create_run(run_id, "agent", meta=meta)
    metas = dict(METAS)
    with sqlite3.connect(_path(sqlite_url)) as raw:
        raw.execute("PRAGMA foreign_keys = ON")
        raw.execute("""UPDATE agent_runs SET meta = '{"thread_id": "t9"}' WHERE id = 'a'""")
        raw.execute("UPDATE agent_runs SET meta = NULL WHERE id = 'b'")
        raw.execute("UPDATE agent_runs SET status = 'error' WHERE id = 'c'")  # meta untouched
        raw.execute("DELETE FROM agent_runs WHERE id = 'd'")  # cascades
    metas.update(a={"thread_id": "t9"}, b=None)
    del metas["d"]
    assert {r[0] for r in _index_rows(sqlite_url)} == {"a", "c"}
    await _expect_reference(sqlite_url, metas)

    # Deleted with foreign keys off, a run leaves its index rows behind; a new run with
    # the same id must not inherit them.
    with sqlite3.connect(_path(sqlite_url)) as raw:
        raw.execute("DELETE FROM agent_runs WHERE id = 'a'")
    assert ("a", "thread_id", "text", "t9") in _index_rows(sqlite_url)
    async with StateStore.from_database_url(sqlite_url) as store:
        await store.create_run("a", "agent", meta={"user": 2})
    metas["a"] = {"user": 2}
    assert [r for r in _index_rows(sqlite_url) if r[0] == "a"] == [("a", "user", "number", 2)]
    await _expect_reference(sqlite_url, metas)


@pytest.mark.parametrize("query", ["list_run_summaries_by_meta", "list_runs_by_meta"])
async def test_filter_queries_seek_the_index(sqlite_url: str, query: str) -> None:
    await upgrade(sqlite_url)
    with sqlite3.connect(_path(sqlite_url)) as raw:
        raw.execute("ANALYZE")
        for name, extra in ((query, [50, 0]), ("count_runs_by_meta", [])):
            args = [None] * 6 + ['{"thread_id":"t1","user":2}', *extra]
            plan = [
                r[3]
                for r in raw.execute("EXPLAIN QUERY PLAN " + load_queries("sqlite")[name], args)
            ]
            assert any(
                "USING COVERING INDEX ix_agent_run_meta_page (key=? AND kind=? AND value=?)" in p
                for p in plan
            ), plan
            assert any(p.startswith("SEARCH agent_runs USING INDEX") for p in plan), plan
            assert not any(p.startswith("SCAN agent_runs") for p in plan), plan
