"""Everything through a transaction-pooling PgBouncer (issue 15, item 3).

The suite starts PgBouncer (``pool_mode = transaction``, `tests/pgbouncer.py`)
in front of its PostgreSQL server; every test here reaches one database both
ways: ``direct`` and ``pooled`` (``prepared_statements=false&listen=false``).
Through such a pooler each transaction (or lone statement) may run on another
server connection: no session state survives, named prepared statements break,
LISTEN is never delivered. What is checked: the migrator's lock holds through
the pooler and outlives no client, every `StateStore` method and every
`RunStore` read gives what it gives over a direct connection, the router and
its SSE stream serve the same, the recorder lands every row exactly once under
real faults (the pooler's server connections killed), and a follower polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import test_http as http_tests
import test_run_store as run_store_tests
from pgbouncer import PoolerURLs
from test_recorder_faults import (
    DURABILITY,
    Driver,
    assert_recorded,
    retried,
    swallowed,
    warnings_of,
)

from dendrux.db import create_engine, schema_status, upgrade
from dendrux.db.migrate import MIGRATION_LOCK_KEY
from dendrux.db.queries import load_migrations
from dendrux.errors import InvalidArgumentError
from dendrux.recorder import PersistenceRecorder
from dendrux.state import StateStore
from dendrux.store import RunStore
from dendrux.types import UsageStats

NEWEST = len(load_migrations("postgres"))
ADVISORY_LOCKS = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"


async def _admin(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url)


# -- dendrux db upgrade through the pooler ---------------------------------------------------


async def test_two_upgrades_through_the_pooler_one_applies_and_no_lock_outlives_them(
    raw_pooler_urls: PoolerURLs,
) -> None:
    """The migrator's lock is transaction-scoped (``pg_advisory_xact_lock`` inside the
    migration's transaction), so it travels with the transaction the pooler keeps on
    one server connection, and is gone at commit: a session-level lock would be left
    held by whichever server connection the pooler happened to use."""
    direct, pooled = raw_pooler_urls
    holder = await _admin(direct)
    try:
        # Hold the migrators' lock so both upgrades are in flight at once.
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        first = asyncio.create_task(upgrade(pooled))
        second = asyncio.create_task(upgrade(pooled))
        await asyncio.sleep(0.5)
        assert not first.done() and not second.done()  # both wait on the lock
        waiting = await holder.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        )
        assert waiting == 2
        await tx.commit()
        applied = await asyncio.wait_for(asyncio.gather(first, second), timeout=30)
        assert sorted(applied) == [[], list(range(1, NEWEST + 1))]
        versions = await holder.fetch("SELECT version FROM dendrux_schema_version ORDER BY 1")
        assert [r["version"] for r in versions] == list(range(1, NEWEST + 1))
        # Nothing holds the lock now: not the pooler's server connections either.
        assert await holder.fetchval(ADVISORY_LOCKS) == 0
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY)
        await holder.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await holder.close()
    status = await schema_status(pooled)
    assert status.up_to_date and status.current_version == NEWEST
    assert await upgrade(pooled) == []  # a third, later: nothing left to do


async def test_an_upgrade_abandoned_through_the_pooler_leaves_no_lock(
    raw_pooler_urls: PoolerURLs,
) -> None:
    """A client that goes away while waiting for the lock takes its claim with it."""
    direct, pooled = raw_pooler_urls
    holder = await _admin(direct)
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        abandoned = asyncio.create_task(upgrade(pooled))
        await asyncio.sleep(0.3)
        abandoned.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await abandoned
        await tx.commit()
        deadline = time.monotonic() + 10
        while await holder.fetchval(ADVISORY_LOCKS) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert await holder.fetchval(ADVISORY_LOCKS) == 0
        assert await holder.fetchval("SELECT to_regclass('dendrux_schema_version')") is None
    finally:
        await holder.close()
    assert await asyncio.wait_for(upgrade(pooled), 30) == list(range(1, NEWEST + 1))


# -- every StateStore method and RunStore read: the same through the pooler as direct -------

_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def _plain(value: Any) -> Any:
    """A result with what legitimately differs between two databases (times, ULIDs,
    measured durations) blanked out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return "<time>"
    if isinstance(value, timedelta):
        return "<duration>"
    if isinstance(value, str) and _ULID.match(value):
        return "<ulid>"
    return value


class Walk:
    """Calls store methods by name, keeping each (name, plain result or error type)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.results: list[tuple[str, Any]] = []
        self.called: set[str] = set()

    async def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.called.add(name)
        try:
            result = await getattr(self.store, name)(*args, **kwargs)
        except Exception as exc:  # a refusal must be the same refusal both ways
            self.results.append((name, type(exc).__name__))
            return None
        self.results.append((name, _plain(result)))
        return result


def _public_methods(cls: type) -> set[str]:
    return {
        name
        for name, fn in inspect.getmembers(cls)
        if not name.startswith("_")
        and (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn))
        and name != "close"
    }


async def _state_walk(call: Walk) -> None:
    usage = UsageStats(input_tokens=100, output_tokens=20, total_tokens=120, cost_usd=0.5)
    await call(
        "create_run",
        "p",
        "planner",
        model="m",
        tenant_id="t",
        meta={"k": "v"},
        input_data={"q": 1},
        idempotency_key="idem",
        idempotency_fingerprint="fp",
    )
    await call("create_run", "p", "planner", idempotency_key="idem", idempotency_fingerprint="fp")
    await call("create_run", "c", "worker", parent_run_id="p", delegation_level=1, tenant_id="t")
    await call("create_run", "again", "planner", retry_of_run_id="p")
    await call("save_trace", "p", "user", "hi", order_index=0, meta={"iteration": 0})
    await call("save_trace", "p", "assistant", "hello", order_index=1)
    await call("save_run_event", "p", event_type="run.started", sequence_index=0)
    await call(
        "save_llm_interaction",
        "p",
        iteration_index=1,
        usage=usage,
        model="m",
        provider="P",
        duration_ms=40,
        semantic_request={"messages": ["hi"]},
        semantic_response={"text": "ok"},
        interaction_id="01J0000000000000000000000A",
    )
    await call("save_usage", "p", iteration_index=1, usage=usage, model="m", provider="P")
    await call(
        "save_tool_call",
        "p",
        tool_call_id="tc1",
        provider_tool_call_id="toolu_1",
        tool_name="search",
        target="server",
        params={"q": 1},
        result_payload='{"n": 1}',
        success=True,
        duration_ms=5,
        iteration_index=1,
    )
    await call(
        "save_run_event",
        "p",
        event_type="tool.completed",
        sequence_index=1,
        iteration_index=1,
        correlation_id="tc1",
        data={"ok": True},
    )
    await call("get_next_event_sequence", "p")
    await call("touch_progress", "p")
    await call("add_note", "p", note_id="n1", text="look at this", metadata={"from": "ops"})
    await call("add_note", "p", note_id="n2", text="and this", tenant_id="t")
    await call("get_notes", "p", undelivered_only=True)
    await call("mark_notes_delivered", "p", ["n1"], iteration=1)
    await call("get_notes", "p")
    await call("request_pause", "p", reason="check")
    await call("get_run_control", "p")
    await call("try_pause_run", "p", status="paused", pause_data={"why": "asked"})
    await call("claim_paused_run", "p", expected_status="paused")
    await call(
        "pause_run",
        "p",
        status="waiting_approval",
        pause_data={"pending": ["tc2"]},
        iteration_count=1,
        pii_mapping={"<P>": "Ada"},
    )
    await call("get_pause_state", "p")
    await call(
        "submit_and_claim",
        "p",
        expected_status="waiting_approval",
        submitted_data={"tc2": "approved"},
    )
    await call(
        "pause_with_event",
        "p",
        status="waiting_human_input",
        pause_data={"q": "?"},
        event_data={"status": "waiting_human_input"},
    )
    await call("claim_paused_run", "p", expected_status="waiting_human_input")
    await call("request_cancel", "c")
    await call("is_cancel_requested", "c")
    await call("cancel_run", "c", reason="stop")
    await call(
        "finalize_run_if_status_in",
        "again",
        status="error",
        allowed_current_statuses=["running"],
        error="boom",
    )
    await call("finalize_run", "again", status="success", expected_current_status="running")
    await call("run_usage", "p")
    await call("subtree_usage", "p")
    await call("get_subtree", "p")
    await call("get_delegation_info", "c")
    await call("get_pii_mapping", "p")
    await call("get_traces", "p", limit=5)
    await call("get_tool_calls", "p", iteration_index=1)
    await call("get_llm_interactions", "p")
    await call("get_run_events", "p", event_types=["tool.completed"])
    await call(
        "finalize_with_event",
        "p",
        status="success",
        allowed_current_statuses=["running"],
        event_type="run.completed",
        event_data={"status": "success"},
        answer="done",
        iteration_count=2,
        total_usage=usage,
    )
    await call("get_run", "p")
    await call("list_runs", tenant_id="t", metadata_filter={"k": "v"})
    await call("count_runs", status=["success", "cancelled"])
    await call("create_run", "stale", "agent")
    await call("find_stale_runs", timedelta(microseconds=1))
    await call("sweep_stale_runs", timedelta(microseconds=1))
    await call("create_run", "gone", "agent")
    await call("find_abandoned_runs", timedelta(microseconds=1))
    await call("sweep_abandoned_runs", timedelta(microseconds=1))
    await asyncio.sleep(0.002)  # a purge cut-off is in the past
    await call("purge_runs", before=datetime.now(UTC), dry_run=True, agent_name="agent")
    await call("purge_runs", before=datetime.now(UTC), status="error")


async def _read_walk(call: Walk) -> None:
    await call("list_runs", metadata_filter={"k": "v"})
    await call("count_runs", tenant_id="t")
    await call("count_runs", status="success", at_most=1)
    await call("count_runs_by_status", agent_name="agent", at_most=2)
    await call("get_run", "p")
    await call("get_run_status", "p", tenant_id="t")
    await call("find_runs_by_id_prefix", "P", tenant_id=None)
    await call("get_delegation_info", "c")
    await call("get_events", "p", after_sequence_index=0, limit=10)
    await call("get_llm_calls", "p", iteration=1)
    await call("get_tool_invocations", "p")
    await call("get_traces", "p", offset=1)
    await call("get_pauses", "p")
    await call("get_subtree", "p")
    await call("get_retries", "p")
    # An empty window: the two walks' durations differ, so only a window without runs
    # gives figures that can be compared.
    await call("get_stats", started_after=datetime(2999, 1, 1, tzinfo=UTC), group_by="agent")
    await call("get_notes", "p")
    await call("get_pii_mapping", "p")
    call.called.add("stream_events")
    stream = call.store.stream_events("p", poll_interval_s=0.05)
    events = [await stream.__anext__() for _ in range(4)]
    await stream.aclose()
    call.results.append(("stream_events", _plain(events)))
    call.called.add("stream_all_events")
    firehose = call.store.stream_all_events(
        since=datetime(2000, 1, 1, tzinfo=UTC), poll_interval_s=0.05
    )
    of_p: list[Any] = []
    while len(of_p) < 4:  # every run's events come; run p's first four are compared
        run_id, event = await asyncio.wait_for(firehose.__anext__(), 10)
        if run_id == "p":
            of_p.append(event)
    await firehose.aclose()
    call.results.append(("stream_all_events", _plain(of_p)))


async def _walk_both(url: str) -> tuple[Walk, Walk]:
    state = StateStore.from_database_url(url)
    try:
        writes = Walk(state)
        await _state_walk(writes)
        async with RunStore.from_database_url(url) as store:
            reads = Walk(store)
            await _read_walk(reads)
    finally:
        await state.close()
    return writes, reads


async def test_every_store_method_gives_the_same_through_the_pooler(
    pooler_urls: PoolerURLs, postgres_url: str
) -> None:
    direct_writes, direct_reads = await _walk_both(postgres_url)
    pooled_writes, pooled_reads = await _walk_both(pooler_urls.pooled)
    assert direct_writes.called == _public_methods(StateStore)
    assert direct_reads.called == _public_methods(RunStore)
    assert pooled_writes.results == direct_writes.results
    assert pooled_reads.results == direct_reads.results
    # The walk did real work, not a string of identical refusals.
    refused = [(n, r) for n, r in pooled_writes.results if str(r).endswith("Error")]
    assert not refused, refused


async def test_run_store_reads_through_the_pooler(pooler_urls: PoolerURLs) -> None:
    async with StateStore.from_database_url(pooler_urls.pooled) as state:
        await run_store_tests.test_read_methods(state, pooler_urls.pooled)


# -- the router ---------------------------------------------------------------------------


async def test_router_serves_every_route_through_the_pooler(pooler_urls: PoolerURLs) -> None:
    async with (
        StateStore.from_database_url(pooler_urls.pooled) as state,
        RunStore.from_database_url(pooler_urls.pooled) as store,
    ):
        await http_tests.test_every_route_serves_the_run_store_records(state, store)


async def test_sse_stream_resumes_exactly_once_through_the_pooler(
    pooler_urls: PoolerURLs,
) -> None:
    async with (
        StateStore.from_database_url(pooler_urls.pooled) as state,
        RunStore.from_database_url(pooler_urls.pooled) as store,
    ):
        await http_tests.test_stream_resumes_from_last_event_id_exactly_once(state, store)


# -- streaming: LISTEN cannot pass the pooler, so followers poll ---------------------------


async def test_followers_poll_through_the_pooler(pooler_urls: PoolerURLs) -> None:
    async with StateStore.from_database_url(pooler_urls.pooled) as state:
        async with RunStore.from_database_url(pooler_urls.pooled) as store:
            assert await store.engine.run_event_wakeups() is None  # listen=false: no LISTEN
        await run_store_tests.test_two_readers_stream_a_live_writer(state, pooler_urls.pooled)


async def test_listen_option_is_validated_and_defaults_on(pooler_urls: PoolerURLs) -> None:
    with pytest.raises(InvalidArgumentError, match="listen"):
        create_engine(pooler_urls.direct, listen="sometimes")
    engine = create_engine(pooler_urls.direct)
    try:
        # On a fresh engine (no pool yet): this once deadlocked on the engine's pool lock.
        assert await asyncio.wait_for(engine.run_event_wakeups(), 10) is not None
    finally:
        await engine.dispose()
    engine = create_engine(pooler_urls.direct + "?listen=off")
    try:
        assert await engine.run_event_wakeups() is None
    finally:
        await engine.dispose()


# -- the recorder: concurrent runs, the pooler's server connections killed ----------------

KILL_POOLER_BACKENDS = (
    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND backend_type = 'client backend'"
)


async def _kill_repeatedly(url: str, stop: asyncio.Event, kills: list[int]) -> None:
    """Terminate every server connection of the database every 60-100 ms (the
    pooler's; the recorder has no other way in), inside the 0.7 s retry budget."""
    rnd = random.Random(20260115)
    admin = await _admin(url)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rnd.uniform(0.06, 0.1))
            if not stop.is_set():
                kills.append(await admin.fetchval(KILL_POOLER_BACKENDS))
    finally:
        await admin.close()


async def _each(tasks: list[Callable[[], Awaitable[None]]]) -> None:
    await asyncio.gather(*(task() for task in tasks))


@pytest.mark.parametrize("faults", [False, True], ids=["calm", "killed"])
async def test_concurrent_recorders_land_every_row_once_through_the_pooler(
    pooler_urls: PoolerURLs, faults: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=DURABILITY)
    runs = [f"run{i}" for i in range(8)]
    hooks = 48
    store = StateStore.from_database_url(pooler_urls.pooled, pool_max_size=4)
    stop, kills = asyncio.Event(), list[int]()
    drivers: dict[str, Driver] = {}
    try:
        for run_id in runs:
            await store.create_run(run_id, "agent", model="m-1")
            recorder = PersistenceRecorder(store, run_id, model="m-1", provider_name="p")
            drivers[run_id] = Driver(recorder, marker=f" of {run_id}")
        killer = (
            asyncio.create_task(_kill_repeatedly(pooler_urls.direct, stop, kills))
            if faults
            else None
        )

        def recording(driver: Driver) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                while driver.n < hooks:
                    await driver.hook()  # a hook that raised would fail the test here
                    await asyncio.sleep(0.002)

            return run

        try:
            await asyncio.wait_for(_each([recording(d) for d in drivers.values()]), 90)
        finally:
            stop.set()
            if killer is not None:
                await asyncio.wait_for(killer, 10)
        for run_id in runs:
            await store.finalize_run(run_id, status="success", answer="done")
    finally:
        await store.close()

    if faults:
        assert sum(kills) >= 3, f"too few server connections were terminated: {kills}"
        # Felt mid-write (retried fail-closed or swallowed best-effort writes), not only
        # by idle server connections the pooler replaced unnoticed.
        assert retried(caplog) + len(warnings_of(caplog, "best-effort ")) >= 1
    for run_id, driver in drivers.items():
        assert len(driver.done) == driver.n == hooks  # every hook returned
        # Checked over a direct connection: exactly the acknowledged rows, each once.
        landed = await assert_recorded(pooler_urls.direct, driver.done, run_id=run_id)
        llm_hooks = sum(d.kind == "llm" for d in driver.done)
        skipped = swallowed(caplog, "save_llm_interaction", run_id)
        assert landed.interactions <= llm_hooks <= landed.interactions + skipped
        skipped = swallowed(caplog, "save_usage", run_id)
        assert landed.usage <= llm_hooks <= landed.usage + skipped
        if not faults:
            assert landed.interactions == landed.usage == llm_hooks
    async with RunStore.from_database_url(pooler_urls.pooled) as reader:
        assert await reader.count_runs(status="success") == len(runs)
