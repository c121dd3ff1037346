"""PostgreSQL: streaming readers are woken once a run's new events committed, by the
engine, not by a NOTIFY inside the events' own transaction (that NOTIFY held the
server's notification lock through every commit's fsync). Every write path that adds
an event wakes its run's readers after its commit, and only then."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from dendrux.db import create_engine
from dendrux.db.engine import Engine
from dendrux.recorder import PersistenceRecorder
from dendrux.state import StateStore
from dendrux.state.rows import RunEventRow
from dendrux.types import Message, Role

CHANNEL = "dendrux_run_events"


class Heard:
    """The run ids a raw LISTEN connection was notified of."""

    def __init__(self) -> None:
        self.run_ids: list[str] = []
        self._arrived = asyncio.Event()

    def __call__(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.run_ids.append(payload)
        self._arrived.set()

    async def wait_for(self, run_id: str, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while run_id not in self.run_ids:
                self._arrived.clear()
                await self._arrived.wait()


@pytest.fixture
async def heard(postgres_url: str) -> AsyncIterator[Heard]:
    listener = await asyncpg.connect(postgres_url)
    heard = Heard()
    await listener.add_listener(CHANNEL, heard)
    try:
        yield heard
    finally:
        await listener.close()


async def test_every_event_writing_path_wakes_the_runs_readers(
    postgres_url: str, heard: Heard
) -> None:
    async with StateStore.from_database_url(postgres_url) as store:
        for run_id in ("hook", "single", "final", "swept", "cancelled"):
            await store.create_run(run_id, "agent")
        # A recorder hook (its one-statement form).
        await PersistenceRecorder(store, "hook").on_governance_event("policy.denied", 0, {})
        await heard.wait_for("hook")
        # A store call writing one event (the write-by-write path).
        await store.save_run_event("single", event_type="run.note", sequence_index=0)
        await heard.wait_for("single")
        # A finalize and its event in one transaction.
        landed = await store.finalize_with_event(
            "final",
            status="success",
            allowed_current_statuses=["running", "pending"],
            event_type="run.completed",
            event_data={"status": "success"},
        )
        assert landed is not None
        await heard.wait_for("final")
        # The runner's cancellation path (its event at the run's next index).
        assert await store.cancel_run("cancelled", reason="stop")
        await heard.wait_for("cancelled")
        # The sweep's event at the run's next index (append_run_event, in a transaction).
        swept = await store.sweep_stale_runs(timedelta(microseconds=1))
        assert "swept" in {s.run_id for s in swept}
        await heard.wait_for("swept")
    # Woken only for runs that got events: a trace adds none.
    assert set(heard.run_ids) == {"hook", "single", "final", "swept", "cancelled"}


async def test_a_rolled_back_event_wakes_nobody_and_a_committed_one_after_commit(
    postgres_url: str, heard: Heard
) -> None:
    engine: Engine = create_engine(postgres_url)
    try:
        async with StateStore.from_engine(engine) as store:
            await store.create_run("r1", "agent")
        write = RunEventRow("r1", event_type="run.note", sequence_index=0).to_write()
        with pytest.raises(RuntimeError):
            async with engine.transaction() as conn:
                await conn.fetch_value(write.query, *write.args)
                raise RuntimeError("abandon the transaction")
        await asyncio.sleep(0.3)
        assert heard.run_ids == []

        committed = RunEventRow("r1", event_type="run.note", sequence_index=1).to_write()
        async with engine.transaction() as conn:
            await conn.fetch_value(committed.query, *committed.args)
            await asyncio.sleep(0.2)  # still open: nobody is woken before the commit
            assert heard.run_ids == []
        await heard.wait_for("r1")
    finally:
        await engine.dispose()


async def test_wakeups_owed_at_close_are_sent_before_the_pool_closes(
    postgres_url: str, heard: Heard
) -> None:
    async with StateStore.from_database_url(postgres_url) as store:
        runs = [f"r{i}" for i in range(6)]
        for run_id in runs:
            await store.create_run(run_id, "agent")
        await asyncio.gather(
            *(
                PersistenceRecorder(store, run_id).on_governance_event("policy.denied", 0, {})
                for run_id in runs
            )
        )
        # Closed at once: the wake-ups still on their way must not be lost.
    for run_id in runs:
        await heard.wait_for(run_id)


async def test_a_trace_alone_wakes_nobody(postgres_url: str, heard: Heard) -> None:
    async with StateStore.from_database_url(postgres_url) as store:
        await store.create_run("r1", "agent")
        await PersistenceRecorder(store, "r1").on_message_appended(Message(Role.USER, "hi"), 0)
    await asyncio.sleep(0.3)
    assert heard.run_ids == []
