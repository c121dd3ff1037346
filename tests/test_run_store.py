"""RunStore on both dialects: the seed's exact signatures and records, the
read methods' behaviour, and live streaming."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import time
from datetime import datetime

import asyncpg
import pytest

from dendrux import store as store_module
from dendrux.errors import RunNotFoundError, StoreClosedError
from dendrux.recorder import EventSequencer, PersistenceRecorder
from dendrux.state import StateStore
from dendrux.store import (
    LLMCall,
    PausePair,
    RunDetail,
    RunStore,
    RunSummary,
    StoredEvent,
    ToolInvocation,
    TraceEntry,
)
from dendrux.types import LLMResponse, Message, Role, ToolCall, ToolResult, UsageStats

# -- the contract of SPEC section 9 ----------------------------------------------------

SIGNATURES = {
    "list_runs": "(self, *, status: 'str | list[str] | None' = None, agent_name: 'str | None' = "
    "None, parent_run_id: 'str | None' = None, tenant_id: 'str | None' = None, started_after: "
    "'datetime | None' = None, started_before: 'datetime | None' = None, metadata_filter: "
    "'dict[str, Any] | None' = None, limit: 'int' = 50, offset: 'int' = 0) -> 'list[RunSummary]'",
    "count_runs": "(self, *, status: 'str | list[str] | None' = None, agent_name: 'str | None' = "
    "None, parent_run_id: 'str | None' = None, tenant_id: 'str | None' = None, started_after: "
    "'datetime | None' = None, started_before: 'datetime | None' = None, metadata_filter: "
    "'dict[str, Any] | None' = None, at_most: 'int | None' = None) -> 'int'",
    "get_run": "(self, run_id: 'str') -> 'RunDetail | None'",
    # the seed's keywords, then upstream 0.4.1's event type filter and time bound
    "get_events": "(self, run_id: 'str', *, after_sequence_index: 'int | None' = None, limit: "
    "'int | None' = None, event_types: 'list[str] | None' = None, before: 'datetime | None' "
    "= None) -> 'list[StoredEvent]'",
    "stream_events": "(self, run_id: 'str', *, after_sequence_index: 'int | None' = None, "
    "poll_interval_s: 'float' = 0.5, until_terminal: 'bool' = False) -> "
    "'AsyncIterator[StoredEvent]'",
    # the seed's keywords, then upstream 0.4.1's time bound
    "get_llm_calls": "(self, run_id: 'str', *, iteration: 'int | None' = None, limit: "
    "'int | None' = None, offset: 'int' = 0, before: 'datetime | None' = None) -> "
    "'list[LLMCall]'",
    "get_tool_invocations": "(self, run_id: 'str', *, iteration: 'int | None' = None, limit: "
    "'int | None' = None, offset: 'int' = 0, before: 'datetime | None' = None) -> "
    "'list[ToolInvocation]'",
    "get_traces": "(self, run_id: 'str', *, limit: 'int | None' = None, offset: 'int' = 0) -> "
    "'list[TraceEntry]'",
    "get_pauses": "(self, run_id: 'str') -> 'list[PausePair]'",
    "get_pii_mapping": "(self, run_id: 'str') -> 'dict[str, str]'",
    "close": "(self) -> 'None'",
    # the seed's argument, then engine options as StateStore.from_database_url takes them
    "from_database_url": "(database_url: 'str', **engine_options: 'Any') -> 'RunStore'",
}

FIELDS = {
    RunSummary: "run_id agent_name status created_at updated_at iteration_count "
    "total_input_tokens total_output_tokens total_cache_read_tokens "
    "total_cache_creation_tokens total_cost_usd model parent_run_id delegation_level",
    StoredEvent: "sequence_index iteration_index event_type correlation_id data created_at",
    LLMCall: "iteration provider model input_tokens output_tokens total_tokens "
    "cache_read_input_tokens cache_creation_input_tokens cost_usd duration_ms "
    "provider_request provider_response created_at",
    ToolInvocation: "iteration tool_name tool_call_id provider_tool_call_id target params "
    "result success error duration_ms created_at",
    TraceEntry: "role content order_index meta created_at",
    PausePair: "pause_sequence_index pause_at resume_sequence_index resume_at reason "
    "pending_tool_calls submitted_results user_input",
}


@pytest.mark.parametrize("method", sorted(SIGNATURES))
def test_signatures_match_the_seed(method: str) -> None:
    assert str(inspect.signature(getattr(RunStore, method))) == SIGNATURES[method]


@pytest.mark.parametrize("record", list(FIELDS), ids=lambda r: r.__name__)
def test_record_fields_in_the_seed_order(record: type) -> None:
    names = [f.name for f in dataclasses.fields(record)]
    expected = FIELDS[record].split()
    assert names[: len(expected)] == expected
    for extra in dataclasses.fields(record)[len(expected) :]:
        assert extra.default is not dataclasses.MISSING  # extras follow, with defaults
    params = getattr(record, "__dataclass_params__")  # noqa: B009
    assert params.frozen and "__slots__" in record.__dict__


def test_run_detail_extends_the_summary() -> None:
    names = [f.name for f in dataclasses.fields(RunDetail)]
    summary = [f.name for f in dataclasses.fields(RunSummary)]
    assert names[: len(summary)] == summary
    assert names[len(summary) :] == [
        "strategy",
        "input_data",
        "answer",
        "error",
        "failure_reason",
        "cancel_requested",
        "pause_requested",
        "retry_of_run_id",
    ]


def test_public_names() -> None:
    names = [
        "RunStore",
        "RunSummary",
        "RunDetail",
        "StoredEvent",
        "LLMCall",
        "ToolInvocation",
        "TraceEntry",
        "PausePair",
        "RunNotFoundError",
    ]
    assert all(hasattr(store_module, name) for name in names)


# -- behaviour -------------------------------------------------------------------------


async def _recorded_run(store: StateStore) -> tuple[str, str]:
    """A run with every kind of row; returns (run id, the LLM interaction id)."""
    await store.create_run(
        "r1", "agent", model="m", tenant_id="t1", meta={"thread_id": "th"}, input_data={"q": 1}
    )
    seq = EventSequencer(0)
    rec = PersistenceRecorder(store, "r1", model="m", provider_name="P", event_sequencer=seq)
    await store.save_run_event("r1", event_type="run.started", sequence_index=seq.next())
    await rec.on_message_appended(Message(Role.USER, "hi"), 0)
    call = ToolCall("refund", {"order": 1}, id="tc1", provider_tool_call_id="toolu_1")
    await rec.on_llm_call_completed(
        LLMResponse(
            text="ok",
            tool_calls=[call],
            usage=UsageStats(input_tokens=10, output_tokens=5, cost_usd=0.25),
        ),
        1,
        duration_ms=40,
    )
    pending = [{"id": "tc1"}]
    await store.save_run_event(
        "r1",
        event_type="run.paused",
        sequence_index=seq.next(),
        data={"status": "waiting_approval", "pending_tool_calls": pending},
    )
    await store.save_run_event(
        "r1",
        event_type="run.resumed",
        sequence_index=seq.next(),
        data={"submitted_results": [{"id": "tc1", "ok": True}], "user_input": "yes"},
    )
    result = ToolResult("refund", "tc1", "oops", success=False, error="declined", duration_ms=9)
    await rec.on_tool_completed(call, result, 1)
    await store.save_run_event(
        "r1",
        event_type="run.paused",
        sequence_index=seq.next(),
        data={"status": "waiting_human_input"},
    )
    await store.finalize_run(
        "r1", status="success", answer="done", pii_mapping={"<P>": "Ada"}, iteration_count=1
    )
    (interaction,) = await store.get_llm_interactions("r1")
    return "r1", interaction.id


async def test_read_methods(state_store: StateStore, database_url: str) -> None:
    run_id, interaction_id = await _recorded_run(state_store)
    async with RunStore.from_database_url(database_url) as store:
        (summary,) = await store.list_runs(metadata_filter={"thread_id": "th"})
        assert (summary.run_id, summary.status, summary.total_cost_usd) == ("r1", "success", None)
        assert await store.count_runs(tenant_id="t1", status=["success"]) == 1
        assert await store.count_runs(tenant_id="t2") == 0

        detail = await store.get_run(run_id)
        assert detail is not None
        assert (detail.answer, detail.input_data, detail.iteration_count) == ("done", {"q": 1}, 1)
        assert not hasattr(detail, "pause_data") and not hasattr(detail, "pii_mapping")
        assert await store.get_run("nope") is None

        events = await store.get_events(run_id)
        assert [e.sequence_index for e in events] == list(range(len(events)))
        assert [e.event_type for e in await store.get_events(run_id, after_sequence_index=2)] == [
            "run.resumed",
            "tool.completed",
            "run.paused",
        ]
        assert len(await store.get_events(run_id, limit=2)) == 2
        assert await store.get_events("nope") == []

        (llm,) = await store.get_llm_calls(run_id)
        assert (llm.input_tokens, llm.output_tokens, llm.total_tokens, llm.cost_usd) == (
            10,
            5,
            15,
            0.25,
        )
        assert (llm.provider, llm.model, llm.duration_ms, llm.iteration) == ("P", "m", 40, 1)
        completed = [e for e in events if e.event_type == "llm.completed"]
        assert llm.id == interaction_id == completed[0].correlation_id

        (tool,) = await store.get_tool_invocations(run_id, iteration=1)
        assert (tool.tool_name, tool.success, tool.error, tool.result) == (
            "refund",
            False,
            "declined",
            {"raw": "oops"},
        )
        assert tool.provider_tool_call_id == "toolu_1" and tool.duration_ms == 9
        assert await store.get_tool_invocations(run_id, iteration=7) == []

        (trace,) = await store.get_traces(run_id)
        assert (trace.role, trace.content, trace.order_index) == ("user", "hi", 0)

        first, active = await store.get_pauses(run_id)
        assert first.reason == "waiting_approval" and first.pending_tool_calls == [{"id": "tc1"}]
        assert first.submitted_results == [{"id": "tc1", "ok": True}] and first.user_input == "yes"
        assert first.resume_sequence_index == first.pause_sequence_index + 1
        assert first.pause_at is not None and first.resume_at is not None
        assert first.resume_at >= first.pause_at
        assert active.reason == "waiting_human_input"
        assert (active.resume_sequence_index, active.resume_at) == (None, None)

        assert await store.get_pii_mapping(run_id) == {"<P>": "Ada"}
        await state_store.create_run("bare", "agent")
        assert await store.get_pii_mapping("bare") == {}
        assert await store.get_pii_mapping("nope") == {}

        for value in (summary.created_at, detail.updated_at, events[0].created_at, llm.created_at):
            assert isinstance(value, datetime) and value.utcoffset() is not None
            assert value.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


async def test_records_are_frozen(state_store: StateStore, database_url: str) -> None:
    await state_store.create_run("r1", "agent")
    async with RunStore.from_database_url(database_url) as store:
        (summary,) = await store.list_runs()
        with pytest.raises(dataclasses.FrozenInstanceError):
            summary.status = "error"  # type: ignore[misc]


async def test_from_engine_leaves_the_engine_open(state_store: StateStore) -> None:
    await state_store.create_run("r1", "agent")
    reader = RunStore.from_engine(state_store.engine)
    async with reader:
        assert await reader.get_run("r1") is not None
    with pytest.raises(StoreClosedError):
        await reader.get_run("r1")
    assert await state_store.get_run("r1") is not None  # the engine is still usable


# -- streaming ---------------------------------------------------------------------------


async def test_stream_of_an_unknown_run_raises_before_the_first_item(database_url: str) -> None:
    async with RunStore.from_database_url(database_url) as store:
        stream = store.stream_events("nope")
        with pytest.raises(RunNotFoundError):
            await stream.__anext__()


async def _take(stream: object, count: int) -> list[int]:
    got: list[int] = []
    async for event in stream:  # type: ignore[attr-defined]
        got.append(event.sequence_index)
        if len(got) == count:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    return got


async def test_two_readers_stream_a_live_writer(state_store: StateStore, database_url: str) -> None:
    await state_store.create_run("r1", "agent")
    total = 1000
    for seq in range(10):  # some history before the readers start
        await state_store.save_run_event("r1", event_type="tick", sequence_index=seq)
    async with RunStore.from_database_url(database_url) as store:
        from_start = asyncio.create_task(
            _take(store.stream_events("r1", poll_interval_s=0.02), total)
        )
        from_cursor = asyncio.create_task(
            _take(store.stream_events("r1", after_sequence_index=499, poll_interval_s=0.02), 500)
        )

        async def writer() -> None:
            for seq in range(10, total):
                await state_store.save_run_event("r1", event_type="tick", sequence_index=seq)
                if seq % 50 == 0:
                    await asyncio.sleep(0.005)  # let the readers catch up mid-stream

        await asyncio.wait_for(asyncio.gather(writer(), from_start, from_cursor), timeout=60)
        assert from_start.result() == list(range(total))
        assert from_cursor.result() == list(range(500, total))


async def test_closing_streams_releases_their_connections(
    state_store: StateStore, database_url: str, dialect: str
) -> None:
    await state_store.create_run("r1", "agent")
    await state_store.save_run_event("r1", event_type="tick", sequence_index=0)
    async with RunStore.from_database_url(database_url) as store:
        # The writer's reader wake-up (PostgreSQL) is a task of its own until it is sent.
        while any("_send_wakes" in repr(t.get_coro()) for t in asyncio.all_tasks()):
            await asyncio.sleep(0.01)
        tasks_before = len(asyncio.all_tasks())
        for _ in range(200):
            assert await _take(store.stream_events("r1", poll_interval_s=0.01), 1) == [0]
        assert len(asyncio.all_tasks()) == tasks_before
        engine = store.engine
        if dialect == "sqlite":
            assert len(engine._idle_readers) <= 4  # type: ignore[attr-defined]
        else:
            wakeups = await engine.run_event_wakeups()
            assert wakeups is not None and wakeups._waiters == {}  # type: ignore[attr-defined]
            admin = await asyncpg.connect(database_url)
            try:
                sessions = await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'dendrux' AND datname = current_database()"
                )
            finally:
                await admin.close()
            assert sessions <= 10 + 1  # the pool, at most, plus nothing leaked


async def test_postgres_stream_wakes_on_notify(state_store: StateStore, postgres_url: str) -> None:
    writer = StateStore.from_database_url(postgres_url)
    async with writer, RunStore.from_database_url(postgres_url) as store:
        await writer.create_run("r1", "agent")
        await writer.save_run_event("r1", event_type="tick", sequence_index=0)
        stream = store.stream_events("r1", poll_interval_s=5.0)  # polling alone would be slow
        assert (await stream.__anext__()).sequence_index == 0
        delays = []
        for seq in range(1, 21):
            waiting = asyncio.create_task(stream.__anext__())
            await asyncio.sleep(0.02)  # the reader is parked on its wake-up
            committed = time.monotonic()
            await writer.save_run_event("r1", event_type="tick", sequence_index=seq)
            event = await asyncio.wait_for(waiting, timeout=2)
            delays.append(time.monotonic() - committed)
            assert event.sequence_index == seq
        await stream.aclose()
        delays.sort()
        assert delays[-2] < 0.05, delays  # p95 of commit-to-item under 50 ms
