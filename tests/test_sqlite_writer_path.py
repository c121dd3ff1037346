"""SQLite's writer thread runs a clean unit in a plain loop and hands a unit to the
policy's generator only where a statement fails or an insert stores nothing; the
policy then continues from that point (what already ran is replayed, not rerun).

The behaviour checks run on both dialects through `Engine.write`; the count of units
that needed the generator is SQLite's writer only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from dbcheck import fetch_rows

import dendrux.db.sqlite.writer as writer
from dendrux.db.sqlite.dialect import SqliteDialect
from dendrux.db.writes import UnitResult, WriteUnit
from dendrux.errors import SlotTakenError
from dendrux.state import StateStore
from dendrux.state.rows import RunEventRow, TraceRow

RUNS = [f"r{i}" for i in range(6)]


@pytest.fixture
def policy_units(monkeypatch: pytest.MonkeyPatch) -> list[WriteUnit]:
    """The units SQLite's writer handed to the policy's generator."""
    seen: list[WriteUnit] = []
    original = writer.unit_steps

    def counting(unit: WriteUnit, **kwargs: Any) -> Iterator[Any]:
        seen.append(unit)
        return original(unit, **kwargs)

    monkeypatch.setattr(writer, "unit_steps", counting)
    return seen


def _hook(run_id: str, order: int, sequence: int) -> WriteUnit:
    """A tool-hook-like unit: a fail-closed trace and event, then a best-effort touch."""
    trace = TraceRow(run_id, "tool", f"result {order}", order_index=order).to_write()
    event = RunEventRow(run_id, "tool.completed", sequence_index=sequence).to_write()
    return WriteUnit((trace, event))


async def _together(store: StateStore, units: list[WriteUnit]) -> list[Any]:
    """Every unit at once: on SQLite they queue behind the writer and share one group."""
    engine = store.engine
    async with engine.transaction():
        tasks = [asyncio.create_task(engine.write(u)) for u in units]
        await asyncio.sleep(0.05)
    return list(await asyncio.gather(*tasks, return_exceptions=True))


async def test_a_clean_group_never_needs_the_policy_generator(
    database_url: str, dialect: str, policy_units: list[WriteUnit]
) -> None:
    async with StateStore.from_database_url(database_url) as store:
        for run_id in RUNS:
            await store.create_run(run_id, "agent")
        policy_units.clear()
        units = [_hook(run_id, 0, 0) for run_id in RUNS]
        results = await _together(store, units)
    assert results == [UnitResult((u.writes[0].row_id, u.writes[1].row_id)) for u in units]
    assert len(await fetch_rows(database_url, "react_traces")) == len(RUNS)
    assert len(await fetch_rows(database_url, "run_events")) == len(RUNS)
    if dialect == "sqlite":
        assert policy_units == []


async def test_a_retry_finding_its_own_rows_mid_block_continues_from_there(
    database_url: str, dialect: str, policy_units: list[WriteUnit]
) -> None:
    """The block's second insert finds its own row (a retry whose first commit
    landed): the trace that ran before it is not run again, the own-row check
    follows, and the unit succeeds with its ids once."""
    async with StateStore.from_database_url(database_url) as store:
        for run_id in RUNS:
            await store.create_run(run_id, "agent")
        retried = _hook("r2", 0, 0)
        await store.engine.write(WriteUnit((retried.writes[1],)))  # only the event landed
        policy_units.clear()
        units = [retried if r == "r2" else _hook(r, 0, 0) for r in RUNS]
        results = await _together(store, units)
    assert results == [UnitResult((u.writes[0].row_id, u.writes[1].row_id)) for u in units]
    traces = await fetch_rows(database_url, "react_traces", "r2")
    events = await fetch_rows(database_url, "run_events", "r2")
    assert [t["id"] for t in traces] == [retried.writes[0].row_id]
    assert [e["id"] for e in events] == [retried.writes[1].row_id]
    if dialect == "sqlite":
        assert policy_units == [retried]


async def test_a_taken_slot_mid_block_undoes_what_ran_before_it_and_only_that(
    database_url: str, dialect: str, policy_units: list[WriteUnit]
) -> None:
    async with StateStore.from_database_url(database_url) as store:
        for run_id in RUNS:
            await store.create_run(run_id, "agent")
        await store.save_run_event("r4", event_type="approval.requested", sequence_index=0)
        policy_units.clear()
        units = [_hook(run_id, 0, 0) for run_id in RUNS]
        results = await _together(store, units)
    failed = results[RUNS.index("r4")]
    assert isinstance(failed, SlotTakenError) and failed.value == 0
    assert all(isinstance(r, UnitResult) for i, r in enumerate(results) if RUNS[i] != "r4")
    traces = await fetch_rows(database_url, "react_traces")
    assert sorted(t["agent_run_id"] for t in traces) == sorted(set(RUNS) - {"r4"})
    if dialect == "sqlite":
        assert [u.writes[0].args[1] for u in policy_units] == ["r4"]


def test_sqlite_bind_converts_every_datetime_wherever_it_sits() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    dialect = SqliteDialect()
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    text = "2026-01-02T03:04:05.000006+00:00"
    elsewhere = at.astimezone(timezone(timedelta(hours=2)))
    assert dialect.bind(("a", 1, at)) == ("a", 1, text)
    assert dialect.bind((at, "a", elsewhere)) == (text, "a", text)
    assert dialect.bind(["a", at, None]) == ("a", text, None)
    assert dialect.bind(()) == ()
    assert dialect.bind(["a", 2]) == ("a", 2)
    naive = SqliteDialect(naive_timestamps=True)
    assert naive.bind(("a", at)) == ("a", "2026-01-02 03:04:05.000006")
