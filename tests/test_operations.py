"""Lifecycle guarantees and maintenance under real concurrency, both dialects:
idempotent creation races, cancellation, sweeps from several processes,
delegation trees, retention."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from dbcheck import fetch_rows

from dendrux.errors import IdempotencyConflictError, InvalidArgumentError
from dendrux.recorder import EventSequencer, PersistenceRecorder
from dendrux.state import StateStore
from dendrux.types import Message, Role, ToolCall, ToolResult, UsageStats


async def test_twenty_tasks_racing_one_idempotency_key(database_url: str) -> None:
    stores = [StateStore.from_database_url(database_url) for _ in range(4)]
    try:
        start = asyncio.Event()

        async def create(i: int) -> tuple[str, str]:
            await start.wait()
            result = await stores[i % 4].create_run(
                f"run-{i}", "agent", idempotency_key="order-77", idempotency_fingerprint="fp"
            )
            return result.run_id, result.outcome

        tasks = [asyncio.create_task(create(i)) for i in range(20)]
        await asyncio.sleep(0.01)
        start.set()
        results = await asyncio.gather(*tasks)
        winners = {run_id for run_id, outcome in results if outcome == "created"}
        assert len(winners) == 1
        assert {run_id for run_id, _ in results} == winners  # everyone got the same run
        assert len(await fetch_rows(database_url, "agent_runs")) == 1
        with pytest.raises(IdempotencyConflictError) as caught:
            await stores[0].create_run(
                "other", "agent", idempotency_key="order-77", idempotency_fingerprint="changed"
            )
        assert caught.value.run_id in winners
    finally:
        for store in stores:
            await store.close()


async def test_cancel_run_path(state_store: StateStore) -> None:
    await state_store.create_run("r1", "agent")
    seq = EventSequencer(0)
    await state_store.save_run_event("r1", event_type="run.started", sequence_index=seq.next())
    assert await state_store.request_cancel("r1")
    assert await state_store.is_cancel_requested("r1")
    # The runner sees the flag and takes the cancellation path.
    assert await state_store.cancel_run("r1", sequence_index=seq.next(), reason="user asked")
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "cancelled" and run.error == "user asked"
    assert not run.cancel_requested
    events = await state_store.get_run_events("r1")
    assert [(e.sequence_index, e.event_type) for e in events] == [
        (0, "run.started"),
        (1, "run.cancelled"),
    ]
    assert events[1].data == {"reason": "user asked"}
    # A finished run is left as it is, and gets no event.
    assert not await state_store.cancel_run("r1")
    assert not await state_store.request_cancel("r1")
    assert len(await state_store.get_run_events("r1")) == 2
    # Without a sequencer the event lands at the next index.
    await state_store.create_run("r2", "agent")
    await state_store.save_run_event("r2", event_type="run.started", sequence_index=0)
    assert await state_store.cancel_run("r2")
    assert [e.event_type for e in await state_store.get_run_events("r2")] == [
        "run.started",
        "run.cancelled",
    ]


SWEEPER = """
import asyncio, json, sys
from datetime import timedelta
from dendrux.state import StateStore

async def main():
    async with StateStore.from_database_url(sys.argv[1]) as store:
        await asyncio.sleep(float(sys.argv[2]) - __import__("time").time())
        swept = await store.sweep_stale_runs(timedelta(milliseconds=50))
        swept += await store.sweep_abandoned_runs(timedelta(milliseconds=50))
        print(json.dumps([s.run_id for s in swept]))

asyncio.run(main())
"""


async def test_sweeps_from_several_processes_sweep_each_run_once(
    state_store: StateStore, database_url: str
) -> None:
    for i in range(30):
        await state_store.create_run(f"run-{i}", "agent")
        if i % 3 == 0:
            await state_store.pause_run(f"run-{i}", status="waiting_approval", pause_data={})
    await asyncio.sleep(0.1)
    go = __import__("time").time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SWEEPER, database_url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    swept: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        swept += __import__("json").loads(out)
    assert sorted(swept) == sorted(f"run-{i}" for i in range(30))  # each exactly once
    for i in range(30):
        events = await state_store.get_run_events(f"run-{i}")
        assert len(events) == 1
        assert events[0].event_type == ("run.abandoned" if i % 3 == 0 else "run.interrupted")


async def test_delegation_tree_with_a_cycle_is_bounded(
    state_store: StateStore, database_url: str, dialect: str
) -> None:
    await state_store.create_run("a", "planner")
    await state_store.create_run("b", "worker", parent_run_id="a", delegation_level=1)
    await state_store.create_run("c", "worker", parent_run_id="b", delegation_level=2)
    # Close a cycle a -> c through the raw driver (no API creates one).
    if dialect == "sqlite":
        import sqlite3

        raw = sqlite3.connect(database_url.split(":///", 1)[1])
        raw.execute("UPDATE agent_runs SET parent_run_id = 'c' WHERE id = 'a'")
        raw.commit()
        raw.close()
    else:
        import asyncpg

        raw_pg = await asyncpg.connect(database_url)
        await raw_pg.execute("UPDATE agent_runs SET parent_run_id = 'c' WHERE id = 'a'")
        await raw_pg.close()
    info = await asyncio.wait_for(state_store.get_delegation_info("b"), timeout=10)
    assert info is not None
    assert not info.ancestry_complete
    assert [r.run_id for r in info.ancestry] == ["c", "a"]
    assert info.subtree_summary.descendant_count == 2  # c and a, each once


async def test_purge_finished_runs(state_store: StateStore, database_url: str) -> None:
    async def full_run(run_id: str, parent: str | None = None) -> None:
        await state_store.create_run(run_id, "agent", parent_run_id=parent)
        rec = PersistenceRecorder(state_store, run_id)
        await rec.on_message_appended(Message(Role.USER, "hi"), 0)
        await rec.on_tool_completed(ToolCall("t", {}, id="tc1"), ToolResult("t", "tc1", "{}"), 1)
        await rec.on_llm_call_completed(
            type("R", (), {"usage": UsageStats(input_tokens=1, output_tokens=1), "text": "x"})(), 1
        )

    for i in range(7):
        await full_run(f"old-{i}")
        await state_store.finalize_run(f"old-{i}", status="success" if i % 2 else "error")
    await full_run("live")
    await full_run("child", parent="old-0")
    await state_store.finalize_run("child", status="success")
    cutoff = datetime.now(UTC)
    await full_run("new")
    await state_store.finalize_run("new", status="success")

    with pytest.raises(InvalidArgumentError, match="status"):
        await state_store.purge_runs(before=cutoff, status="running")

    preview = await state_store.purge_runs(before=cutoff, batch_size=3, dry_run=True)
    assert preview.dry_run and preview.agent_runs == 8  # 7 old + the finished child
    assert len(await fetch_rows(database_url, "agent_runs")) == 10  # nothing deleted

    errors_only = await state_store.purge_runs(before=cutoff, status="error", batch_size=2)
    assert errors_only.agent_runs == 4

    result = await state_store.purge_runs(before=cutoff, batch_size=3)
    assert result.as_dict() == {
        "agent_runs": 4,
        "react_traces": 4,
        "tool_calls": 4,
        "token_usage": 4,
        "llm_interactions": 4,
        "run_events": 8,  # tool.completed + llm.completed per run
    }
    left = {row["id"] for row in await fetch_rows(database_url, "agent_runs")}
    assert left == {"live", "new"}
    for table in ("react_traces", "tool_calls", "token_usage", "llm_interactions", "run_events"):
        owners = {row["agent_run_id"] for row in await fetch_rows(database_url, table)}
        assert owners == {"live", "new"}, table
    assert await state_store.purge_runs(before=cutoff) == type(result)()


async def test_purge_clears_the_parent_link_of_surviving_children(state_store: StateStore) -> None:
    await state_store.create_run("parent", "agent")
    await state_store.finalize_run("parent", status="success")
    await state_store.create_run("kid", "agent", parent_run_id="parent")
    await asyncio.sleep(0.002)
    cutoff = datetime.now(UTC)  # a purge cut-off is in the past
    assert (await state_store.purge_runs(before=cutoff)).agent_runs == 1
    kid = await state_store.get_run("kid")
    assert kid is not None and kid.parent_run_id is None and kid.status == "running"
