"""SQLite's migration 0006: ``agent_run_meta`` carries each run's ``created_at`` and its
index is ordered like a runs listing, so a one-key metadata listing walks the index
newest first (ties by id DESC) and stops after its page instead of sorting every hit.
The copy must follow the run however it is written (the store, raw SQL, an update of
meta, runs written before 0006), and the listing must keep today's order exactly.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_metadata_index import ts

from dendrux.db import upgrade
from dendrux.db.queries import load_migrations, load_queries
from dendrux.state import StateStore
from dendrux.store import RunStore

LISTINGS = ("list_runs_by_meta_one", "list_run_summaries_by_meta_one")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, str]]:
    path = str(tmp_path / "order.db")
    yield f"sqlite+aiosqlite:///{path}", path


def _copies_agree(path: str) -> list[tuple[str, str, str]]:
    """Every index row's (run, created_at copy, run's created_at); asserts they agree."""
    with sqlite3.connect(path) as raw:
        rows = raw.execute(
            "SELECT m.agent_run_id, m.created_at, r.created_at FROM agent_run_meta AS m "
            "JOIN agent_runs AS r ON r.id = m.agent_run_id ORDER BY 1"
        ).fetchall()
    raw.close()
    assert rows and all(copy == own for _, copy, own in rows), rows
    return rows


def undo_0006() -> str:
    """A script taking a SQLite database at version 6 or later back to what version 5 left
    (0002's triggers and index, no copy), version rows included (0007 on SQLite is empty)."""
    triggers = re.findall(r"CREATE TRIGGER.*?\nEND;", load_migrations("sqlite")[1].sql, re.S)
    assert len(triggers) == 2
    return (
        "DROP INDEX ix_agent_run_meta_page;"
        "DROP TRIGGER tr_agent_runs_meta_insert; DROP TRIGGER tr_agent_runs_meta_update;"
        "ALTER TABLE agent_run_meta DROP COLUMN created_at;"
        "CREATE INDEX ix_agent_run_meta_lookup ON agent_run_meta (key, kind, value);"
        "DELETE FROM dendrux_schema_version WHERE version >= 6;\n" + "\n".join(triggers)
    )


def _insert(raw: sqlite3.Connection, run_id: str, meta: object, created: str) -> None:
    raw.execute(
        "INSERT INTO agent_runs (id, agent_name, status, meta, created_at, updated_at) "
        "VALUES (?, 'agent', 'success', ?, ?, ?)",
        (run_id, json.dumps(meta), created, created),
    )


async def test_the_copy_follows_inserts_and_meta_updates(db: tuple[str, str]) -> None:
    url, path = db
    await upgrade(url)
    async with StateStore.from_database_url(url) as store:
        await store.create_run("s1", "agent", meta={"thread_id": "t1", "user": 2})
    with sqlite3.connect(path) as raw:
        _insert(raw, "raw1", {"thread_id": "t1"}, ts(5))
        raw.execute(
            """UPDATE agent_runs SET meta = '{"thread_id": "t2", "k": 1}' WHERE id = 'raw1'"""
        )
    raw.close()
    rows = _copies_agree(path)
    assert {r[0] for r in rows} == {"s1", "raw1"} and len(rows) == 4


async def test_ties_on_created_at_page_by_id_desc_like_the_general_query(
    db: tuple[str, str],
) -> None:
    """Runs created in the same instant: every page of the one-key listing is the
    general query's page (newest first, then id DESC), whatever the other filters."""
    url, path = db
    await upgrade(url)
    with sqlite3.connect(path) as raw:
        for n in range(30):
            meta = {"thread_id": "t1" if n % 3 else "t2", "n": n % 2}
            _insert(raw, f"r{(n * 7) % 30:02d}", meta, ts(n // 4))  # four runs per instant
    raw.close()
    sql = load_queries("sqlite")
    with sqlite3.connect(path) as raw:
        for one in LISTINGS:
            general = one.removesuffix("_one")
            for status, after in ((None, None), ('["success"]', ts(2))):
                for flt in ({"thread_id": "t1"}, {"n": 1}, {"n": 1.0}, {"thread_id": "t9"}):
                    for limit, offset in ((1, 0), (3, 2), (5, 7), (50, 0), (4, 18)):
                        args = [status, None, None, None, after, None, json.dumps(flt)]
                        args += [limit, offset]
                        got = raw.execute(sql[one], args).fetchall()
                        assert got == raw.execute(sql[general], args).fetchall(), (one, flt)
    raw.close()
    async with RunStore.from_database_url(url) as store:
        listed = await store.list_runs(metadata_filter={"thread_id": "t1"}, limit=8, offset=3)
    keys = [(r.created_at, r.run_id) for r in listed]
    assert len(keys) == 8 and keys == sorted(keys, reverse=True)


@pytest.mark.parametrize("query", LISTINGS)
async def test_the_listing_walks_the_index_in_page_order(db: tuple[str, str], query: str) -> None:
    """The page's runs come from the index in order: the plan sorts only the page
    (one temporary B-tree, the outer one), never every hit."""
    url, path = db
    await upgrade(url)
    args = [None] * 6 + ['{"thread_id":"t1"}', 50, 0]
    with sqlite3.connect(path) as raw:
        raw.execute("ANALYZE")
        plan = [
            r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + load_queries("sqlite")[query], args)
        ]
    raw.close()
    assert any(
        "USING COVERING INDEX ix_agent_run_meta_page (key=? AND kind=? AND value=?)" in p
        for p in plan
    ), plan
    assert sum("TEMP B-TREE" in p for p in plan) == 1, plan
    assert not any(p.startswith("SCAN agent_run") for p in plan), plan


async def test_0006_backfills_runs_written_before_it(db: tuple[str, str]) -> None:
    """A database at version 5 with runs in it: 0006 copies their created_at, the
    triggers it recreates copy new runs', and the listing reads them in order."""
    url, path = db
    await upgrade(url)
    with sqlite3.connect(path) as raw:  # back to what version 5 left
        raw.executescript(undo_0006())
        for n in range(6):
            _insert(raw, f"old{n}", {"thread_id": "t1", "n": n}, ts(n))
    raw.close()
    assert await upgrade(url) == [6, 7]
    with sqlite3.connect(path) as raw:
        _insert(raw, "new", {"thread_id": "t1"}, ts(3))
        indexes = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    raw.close()
    assert "ix_agent_run_meta_page" in indexes and "ix_agent_run_meta_lookup" not in indexes
    assert len(_copies_agree(path)) == 13
    async with RunStore.from_database_url(url) as store:
        listed = await store.list_runs(metadata_filter={"thread_id": "t1"}, limit=4)
    assert [r.run_id for r in listed] == ["old5", "old4", "old3", "new"]
