"""Compare-and-set operations race for real: two tasks, separate connections
(separate engines on PostgreSQL; on SQLite two engines = two writer
connections contending for the file lock), 100 rounds, exactly one winner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from dendrux.state import StateStore

ROUNDS = 100


@pytest.fixture
async def two_stores(database_url: str) -> AsyncIterator[tuple[StateStore, StateStore]]:
    first = StateStore.from_database_url(database_url)
    second = StateStore.from_database_url(database_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def _race(
    stores: tuple[StateStore, StateStore],
    prepare: Callable[[StateStore, str], Awaitable[None]],
    contend: Callable[[StateStore, str, int], Awaitable[bool]],
) -> None:
    first, second = stores
    for round_no in range(ROUNDS):
        run_id = f"race{round_no}"
        await prepare(first, run_id)
        start = asyncio.Event()

        async def contender(
            store: StateStore, who: int, run_id: str = run_id, start: asyncio.Event = start
        ) -> bool:
            await start.wait()
            return await contend(store, run_id, who)

        tasks = [
            asyncio.create_task(contender(first, 0)),
            asyncio.create_task(contender(second, 1)),
        ]
        await asyncio.sleep(0)
        start.set()
        results = await asyncio.gather(*tasks)
        assert sorted(results) == [False, True], f"round {round_no}: {results}"


async def _paused(store: StateStore, run_id: str) -> None:
    await store.create_run(run_id, "agent")
    await store.pause_run(run_id, status="waiting_human_input", pause_data={"q": 1})


async def test_claim_paused_run_race(two_stores: tuple[StateStore, StateStore]) -> None:
    async def contend(store: StateStore, run_id: str, who: int) -> bool:
        return await store.claim_paused_run(run_id, expected_status="waiting_human_input")

    await _race(two_stores, _paused, contend)


async def test_submit_and_claim_race(two_stores: tuple[StateStore, StateStore]) -> None:
    async def contend(store: StateStore, run_id: str, who: int) -> bool:
        return await store.submit_and_claim(
            run_id, expected_status="waiting_human_input", submitted_data={"who": who}
        )

    await _race(two_stores, _paused, contend)
    # The winner's data, and only the winner's, is in pause_data.
    store = two_stores[0]
    for round_no in range(ROUNDS):
        state = await store.get_pause_state(f"race{round_no}")
        assert state is not None and state["q"] == 1 and state["who"] in (0, 1)


async def test_finalize_compare_and_set_race(two_stores: tuple[StateStore, StateStore]) -> None:
    async def running(store: StateStore, run_id: str) -> None:
        await store.create_run(run_id, "agent")

    async def contend(store: StateStore, run_id: str, who: int) -> bool:
        status = "success" if who == 0 else "cancelled"
        return await store.finalize_run(
            run_id, status=status, answer=str(who), expected_current_status="running"
        )

    await _race(two_stores, running, contend)
    store = two_stores[0]
    for round_no in range(ROUNDS):
        run = await store.get_run(f"race{round_no}")
        assert run is not None
        assert (run.status, run.answer) in (("success", "0"), ("cancelled", "1"))


async def test_idempotent_create_race(two_stores: tuple[StateStore, StateStore]) -> None:
    async def nothing(store: StateStore, run_id: str) -> None:
        return None

    async def contend(store: StateStore, run_id: str, who: int) -> bool:
        result = await store.create_run(
            f"{run_id}-{who}", "agent", idempotency_key=run_id, idempotency_fingerprint="fp"
        )
        return result.outcome == "created"

    await _race(two_stores, nothing, contend)
    assert await two_stores[0].count_runs() == ROUNDS
