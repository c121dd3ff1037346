"""Following a run never skips: two writer processes commit one run's events out of index
order (each holds its transaction open for a random time), some roll back (holes that never
fill); every follower, from any cursor, gets exactly the committed sequence, in order.
Also `until_terminal`, the bounded wait on a hole, and the hole rule's own edges."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dendrux.state import StateStore
from dendrux.store import RunStore

RUN = "multi"
TOTAL = 1000
ROLLED_BACK = frozenset({311, 640, 641, 903})
"""Indexes whose transaction rolls back: holes that never fill."""


# -- the writer process -------------------------------------------------------------------


async def _write(url: str, indexes: list[int], seed: int) -> None:
    """Each index in its own transaction, held open a random while before COMMIT (or
    ROLLBACK for the indexes in ROLLED_BACK), with a random pause between them."""
    from dendrux.db import create_engine
    from dendrux.state.rows import RunEventRow

    rng = random.Random(seed)
    engine = create_engine(url)

    class RolledBack(Exception):
        pass

    try:
        for index in indexes:
            await asyncio.sleep(rng.uniform(0, 0.004))
            write = RunEventRow(RUN, "tick", index, data={"i": index}).to_write()
            try:
                async with engine.transaction() as tx:
                    assert await tx.fetch_all(write.query, *write.args)
                    await asyncio.sleep(rng.uniform(0, 0.012))
                    if index in ROLLED_BACK:
                        raise RolledBack
            except RolledBack:
                pass
    finally:
        await engine.dispose()


def _start_writer(url: str, indexes: list[int], seed: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, url, json.dumps(indexes), str(seed)],
        cwd=Path(__file__).resolve().parent.parent,
        stderr=subprocess.PIPE,
    )


# -- the followers ----------------------------------------------------------------------------


async def _follow(store: RunStore, after: int | None, last: int) -> list[int]:
    """Indexes a follower receives until ``last``."""
    got: list[int] = []
    stream = store.stream_events(RUN, after_sequence_index=after, poll_interval_s=0.02)
    try:
        async for event in stream:
            got.append(event.sequence_index)
            if event.sequence_index == last:
                return got
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return got


async def test_two_writer_processes_out_of_order_every_follower_gets_the_committed_sequence(
    database_url: str,
) -> None:
    async with StateStore.from_database_url(database_url) as writer:
        await writer.create_run(RUN, "agent")
    cursors: list[int | None] = [None, 0, 499, 640, 950]
    async with RunStore.from_database_url(database_url) as store:
        followers = [asyncio.create_task(_follow(store, c, TOTAL - 1)) for c in cursors]
        await asyncio.sleep(0.3)  # every follower is parked before the first write
        procs = [
            _start_writer(database_url, list(range(0, TOTAL, 2)), 1),
            _start_writer(database_url, list(range(1, TOTAL, 2)), 2),
        ]
        loop = asyncio.get_running_loop()
        for proc in procs:
            _, err = await loop.run_in_executor(None, proc.communicate)
            assert proc.returncode == 0, err.decode()
        got = await asyncio.wait_for(asyncio.gather(*followers), timeout=90)
        committed = [e.sequence_index for e in await store.get_events(RUN)]
    assert committed == [i for i in range(TOTAL) if i not in ROLLED_BACK]
    for cursor, indexes in zip(cursors, got, strict=True):
        start = -1 if cursor is None else cursor
        assert indexes == [i for i in committed if i > start], cursor


async def test_a_late_lower_index_is_delivered_before_the_higher_one(
    database_url: str, dialect: str
) -> None:
    """Index 1 commits while index 0's transaction (another engine) is still open: the
    follower holds 1 back and delivers 0, 1 in order once 0 commits."""
    from dendrux.db import create_engine
    from dendrux.state.rows import RunEventRow

    async with StateStore.from_database_url(database_url) as writer:
        await writer.create_run(RUN, "agent")
        slow = create_engine(database_url)
        try:
            async with RunStore.from_database_url(database_url) as store:
                follower = asyncio.create_task(_follow(store, None, 1))
                first = RunEventRow(RUN, "tick", 0).to_write()
                async with slow.transaction() as tx:
                    await tx.fetch_all(first.query, *first.args)
                    if dialect == "postgres":  # SQLite: one writer at a time per file
                        await writer.save_run_event(RUN, event_type="tick", sequence_index=1)
                    await asyncio.sleep(1.5)  # past the grace: the open transaction holds it
                    assert not follower.done()
                if dialect == "sqlite":
                    await writer.save_run_event(RUN, event_type="tick", sequence_index=1)
                assert await asyncio.wait_for(follower, timeout=10) == [0, 1]
        finally:
            await slow.dispose()


async def test_a_hole_that_never_fills_is_released_after_the_grace(
    state_store: StateStore, database_url: str, dialect: str
) -> None:
    await state_store.create_run(RUN, "agent")
    for index in (0, 1, 3, 4):  # 2 was never committed (a rolled-back write)
        await state_store.save_run_event(RUN, event_type="tick", sequence_index=index)
    async with RunStore.from_database_url(database_url) as store:
        began = time.monotonic()
        got = await asyncio.wait_for(_follow(store, None, 4), timeout=15)
        waited = time.monotonic() - began
    assert got == [0, 1, 3, 4]
    grace = 1.0 if dialect == "postgres" else 5.0  # SQLite: the busy timeout
    assert grace - 0.1 < waited < grace + 3, waited


async def test_a_hole_is_released_after_the_limit_even_with_a_writer_stuck(
    database_url: str, dialect: str, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """A transaction left open (holding index 2 unwritten, or on SQLite the write lock)
    holds the hole only up to the limit; then one warning and on past it."""
    import dendrux.read.stream as stream
    from dendrux.db import create_engine
    from dendrux.state.rows import RunEventRow

    monkeypatch.setattr(stream, "GAP_GRACE_S", 0.2)
    monkeypatch.setattr(stream, "SQLITE_GAP_GRACE_S", 0.2)
    monkeypatch.setattr(stream, "GAP_LIMIT_S", 1.5)
    async with StateStore.from_database_url(database_url) as writer:
        await writer.create_run(RUN, "agent")
        for index in (0, 1, 3):
            await writer.save_run_event(RUN, event_type="tick", sequence_index=index)
        stuck = create_engine(database_url)
        # SQLite: the settling re-read waits for the write lock at most the busy timeout.
        options = {"busy_timeout": 0.3} if dialect == "sqlite" else {}
        try:
            async with RunStore.from_database_url(database_url, **options) as store:
                other = RunEventRow("elsewhere", "tick", 0).to_write()
                await writer.create_run("elsewhere", "agent")
                async with stuck.transaction() as tx:
                    await tx.fetch_all(other.query, *other.args)  # an xid / the write lock
                    began = time.monotonic()
                    got = await asyncio.wait_for(_follow(store, None, 3), timeout=10)
                    waited = time.monotonic() - began
        finally:
            await stuck.dispose()
    assert got == [0, 1, 3]
    assert 1.4 < waited < 5, waited
    assert any("index 2 still missing" in r.getMessage() for r in caplog.records)


async def test_until_terminal_ends_after_the_terminal_event(
    state_store: StateStore, database_url: str
) -> None:
    await state_store.create_run(RUN, "agent")
    await state_store.save_run_event(RUN, event_type="run.started", sequence_index=0)
    async with RunStore.from_database_url(database_url) as store:

        async def take(until: bool) -> list[str]:
            stream = store.stream_events(RUN, poll_interval_s=0.02, until_terminal=until)
            return [e.event_type async for e in stream]

        ended = asyncio.create_task(take(True))
        endless = asyncio.create_task(take(False))
        await asyncio.sleep(0.1)
        await state_store.save_run_event(RUN, event_type="tool.completed", sequence_index=1)
        await state_store.save_run_event(RUN, event_type="run.completed", sequence_index=2)
        await state_store.save_run_event(RUN, event_type="late.note", sequence_index=3)
        types = await asyncio.wait_for(ended, 10)
        assert types == ["run.started", "tool.completed", "run.completed"]
        await asyncio.sleep(0.3)
        assert not endless.done()  # the default is unchanged: it never ends on its own
        endless.cancel()
        with pytest.raises(asyncio.CancelledError):
            await endless
        with pytest.raises(TypeError, match="until_terminal"):
            await store.stream_events(RUN, until_terminal="yes").__anext__()  # type: ignore[arg-type]


if __name__ == "__main__":  # a writer process: URL, JSON list of indexes, seed
    asyncio.run(_write(sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])))
