"""The one write-unit policy (`dendrux.db.units`) means the same on every driver.

The same units run through the engine's own path (SQLite's writer thread in a
group-commit transaction; PostgreSQL's write-by-write path, since these units
have no one-statement form) and through the async driver `drive_unit` over
the engine's connections, and must leave the same rows and report the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from dbcheck import fetch_rows

from dendrux.db.engine import Engine
from dendrux.db.units import OPEN, Statement, drive_unit, unit_steps
from dendrux.db.writes import UnitResult, WriteUnit
from dendrux.durability import best_effort, swallowed
from dendrux.errors import IntegrityError, SchemaError, SlotTakenError, StoreClosedError
from dendrux.state import StateStore
from dendrux.state.rows import RunEventRow, TraceRow, UsageRow
from dendrux.types import UsageStats

Driver = Callable[[Engine, WriteUnit], Awaitable[UnitResult]]


async def _engine_path(engine: Engine, unit: WriteUnit) -> UnitResult:
    return await engine.write(unit)


async def _async_driver(engine: Engine, unit: WriteUnit) -> UnitResult:
    return await drive_unit(unit, alone=engine.autocommit, together=engine.transaction)


DRIVERS = {"engine": _engine_path, "drive_unit": _async_driver}


def _hook(run_id: str, order: int, sequence: int, *, usage_run: str) -> WriteUnit:
    """A hook-like unit: a best-effort usage row, then a fail-closed trace and event."""
    usage = UsageRow(
        usage_run, iteration_index=0, usage=UsageStats(input_tokens=1, output_tokens=2)
    ).to_write()
    trace = TraceRow(run_id, "user", "hi", order_index=order).to_write()
    event = RunEventRow(run_id, "run.started", sequence_index=sequence).to_write()
    return WriteUnit((usage.as_best_effort(), trace, event))


@pytest.mark.parametrize("driver", DRIVERS)
async def test_a_refused_best_effort_row_is_skipped_and_the_rest_lands(
    database_url: str, driver: str
) -> None:
    async with StateStore.from_database_url(database_url) as store:
        await store.create_run("r1", "agent")
        unit = _hook("r1", 0, 0, usage_run="no-such-run")  # the usage row breaks its FK
        result = await DRIVERS[driver](store.engine, unit)
    assert result.values == (None, unit.writes[1].row_id, unit.writes[2].row_id)
    ((label, error),) = result.skipped
    assert label == "save_usage" and isinstance(error, IntegrityError)
    assert len(await fetch_rows(database_url, "react_traces", "r1")) == 1
    assert len(await fetch_rows(database_url, "run_events", "r1")) == 1
    assert await fetch_rows(database_url, "token_usage") == []


@pytest.mark.parametrize("driver", DRIVERS)
async def test_a_taken_slot_undoes_the_whole_fail_closed_block(
    database_url: str, driver: str
) -> None:
    async with StateStore.from_database_url(database_url) as store:
        await store.create_run("r1", "agent")
        await store.save_run_event("r1", event_type="run.started", sequence_index=0)
        unit = _hook("r1", 0, 0, usage_run="r1")  # the event's slot is taken
        with pytest.raises(SlotTakenError, match="sequence_index=0"):
            await DRIVERS[driver](store.engine, unit)
        # A retry of a unit whose commit landed finds its own rows: the same ids back.
        fresh = _hook("r1", 1, 1, usage_run="r1")
        first = await DRIVERS[driver](store.engine, fresh)
        again = await DRIVERS[driver](store.engine, fresh)
    assert first.values == again.values and again.skipped == ()
    assert [t["order_index"] for t in await fetch_rows(database_url, "react_traces", "r1")] == [1]
    events = await fetch_rows(database_url, "run_events", "r1")
    assert sorted(e["sequence_index"] for e in events) == [0, 1]


def test_the_policy_is_one_generator_of_steps() -> None:
    """The steps a driver is asked to run: statements, and a block around the
    fail-closed writes only when there are several."""
    unit = _hook("r1", 0, 0, usage_run="r1")
    steps = unit_steps(unit)
    assert isinstance(next(steps), Statement)  # the usage row, outside the block
    assert steps.send(None) == OPEN
    lone = unit_steps(WriteUnit((unit.writes[1],)))
    first = next(lone)
    assert isinstance(first, Statement) and first.query == "insert_trace"


async def test_best_effort_and_write_units_share_one_swallow_rule() -> None:
    """What `best_effort` swallows, a unit skips; what it raises, a unit raises."""
    for error in (IntegrityError("x"), ValueError("x")):
        assert swallowed(error)
    for setup in (StoreClosedError("closed"), SchemaError("old")):
        assert not swallowed(setup)

        async def fails(exc: Any = setup) -> None:
            raise exc

        with pytest.raises(type(setup)):
            await best_effort(fails, label="save_usage", run_id="r1")
        steps = unit_steps(WriteUnit((_hook("r1", 0, 0, usage_run="r1").writes[0],)))
        next(steps)
        with pytest.raises(type(setup)):
            steps.throw(setup)
