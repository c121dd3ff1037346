"""`dendrux.recording`: a run's lifecycle around a loop without a runner (issue 17).

Every case runs on SQLite and PostgreSQL and reads back what landed through
`RunStore` (and the state store): events in order with 0.4.1's payloads, the
totals equal to the sum of the LLM calls, pauses paired, outcomes under
exceptions, task cancellation, a concurrent cancel request, bad arguments, and
lifecycle writes the database refuses for real.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest.mock import ANY

import aiosqlite
import asyncpg
import pytest

from dendrux.errors import (
    ConflictError,
    DendruxError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    RunAlreadyActiveError,
    RunNotFoundError,
    TransientDatabaseError,
)
from dendrux.recording import RunRecording, recording, resuming
from dendrux.state import StateStore
from dendrux.store import RunStore
from dendrux.types import LLMResponse, Message, Role, ToolCall, ToolResult, UsageStats

REFUND = ToolCall("refund", {"order": 8812}, id="call_1", provider_tool_call_id="toolu_1")


def _response(text: str, usage: UsageStats, tool_calls: list[ToolCall] | None = None) -> Any:
    return LLMResponse(text=text, tool_calls=tool_calls, usage=usage, model="m-1")


FIRST = UsageStats(100, 10, 110, 0.001, cache_read_input_tokens=5, cost_source="table")
SECOND = UsageStats(200, 20, 220, 0.002, reasoning_tokens=3, cost_source="table")


async def _events(store: StateStore, run_id: str) -> list[tuple[str, Any]]:
    async with RunStore.from_engine(store.engine) as reader:
        return [(e.event_type, e.data) for e in await reader.get_events(run_id)]


async def _assert_totals_match_calls(store: StateStore, run_id: str) -> None:
    """The run row's totals are the sums of its LLM calls (as `RunStore` reads both)."""
    async with RunStore.from_engine(store.engine) as reader:
        run = await reader.get_run(run_id)
        calls = await reader.get_llm_calls(run_id)
    assert run is not None and calls
    assert run.total_input_tokens == sum(c.input_tokens for c in calls)
    assert run.total_output_tokens == sum(c.output_tokens for c in calls)
    assert run.total_cache_read_tokens == sum(c.cache_read_input_tokens or 0 for c in calls)
    assert run.total_cost_usd == pytest.approx(sum(c.cost_usd or 0 for c in calls))
    assert run.iteration_count == max(c.iteration for c in calls)


async def _two_iterations(rec: RunRecording) -> None:
    await rec.on_message_appended(Message(Role.USER, "refund #8812"), 0)
    await rec.on_llm_call_completed(_response("on it", FIRST, [REFUND]), 1, duration_ms=5)
    await rec.on_tool_completed(REFUND, ToolResult("refund", "call_1", '{"ok": true}'), 1)
    await rec.on_llm_call_completed(_response("done", SECOND), 2)
    await rec.on_message_appended(Message(Role.ASSISTANT, "done"), 2)


async def test_a_run_from_start_to_completed(state_store: StateStore) -> None:
    async with recording(
        state_store,
        "r1",
        "refund-agent",
        input_data={"input": "refund #8812"},
        model="m-1",
        provider_name="P",
        tenant_id="t1",
        system_prompt="be brief",
        target_lookup={"refund": "client"},
    ) as rec:
        assert rec.run_id == "r1" and rec.status == "running"
        await _two_iterations(rec)
        rec.finish("done", stop_reason="end_turn")

    assert await _events(state_store, "r1") == [
        ("run.started", {"agent_name": "refund-agent", "system_prompt": "be brief"}),
        ("llm.completed", ANY),
        ("tool.completed", {"tool_name": "refund", "target": "client", "success": True,
                            "duration_ms": 0}),
        ("llm.completed", ANY),
        ("run.completed", {"status": "success", "stop_reason": "end_turn", "truncated": False}),
    ]  # fmt: skip
    async with RunStore.from_engine(state_store.engine) as reader:
        run = await reader.get_run("r1")
        assert [e.sequence_index for e in await reader.get_events("r1")] == [0, 1, 2, 3, 4]
    assert run is not None
    assert (run.status, run.answer, run.model, run.iteration_count) == ("success", "done", "m-1", 2)
    assert (run.total_input_tokens, run.total_output_tokens) == (300, 30)
    assert run.total_cost_usd == pytest.approx(0.003)
    assert (run.total_cache_read_tokens, run.total_reasoning_tokens) == (5, 3)
    await _assert_totals_match_calls(state_store, "r1")
    assert rec.status == "success"
    assert rec.usage == UsageStats(300, 30, 330, 0.003, 5, None, 3, "table", True, False)


async def test_an_unpriced_call_makes_the_cost_unknown(state_store: StateStore) -> None:
    async with recording(state_store, None, "agent") as rec:
        await rec.on_llm_call_completed(_response("a", FIRST), 1)
        await rec.on_llm_call_completed(_response("b", UsageStats(7, 1)), 2)  # no cost
    assert len(rec.run_id) == 26  # a minted ULID
    run = await state_store.get_run(rec.run_id)
    assert run is not None and run.status == "success" and run.answer is None
    assert (run.total_input_tokens, run.total_cost_usd, run.iteration_count) == (107, None, 2)
    assert rec.usage.cost_unknown and rec.usage.cost_source is None


async def test_pause_and_resume_in_one_process(state_store: StateStore) -> None:
    async with recording(state_store, "r1", "agent", target_lookup={"refund": "human"}) as rec:
        await rec.on_llm_call_completed(_response("refund?", FIRST, [REFUND]), 1)
        assert await rec.pause(
            "waiting_approval", pending_tool_calls=[REFUND], reason="approval", message="ok?"
        )
        paused = await state_store.get_run("r1")
        assert paused is not None and paused.status == "waiting_approval"
        assert (paused.total_input_tokens, paused.iteration_count) == (100, 1)  # running totals
        await rec.resume(user_input="approved")
        await rec.on_tool_completed(REFUND, ToolResult("refund", "call_1", "{}"), 1)
        rec.finish("refunded")

    pending = [{"id": "call_1", "name": "refund", "target": "human", "params": {"order": 8812}}]
    events = await _events(state_store, "r1")
    assert [t for t, _ in events] == [
        "run.started", "llm.completed", "run.paused", "run.resumed", "tool.completed",
        "run.completed",
    ]  # fmt: skip
    assert events[2][1] == {
        "status": "waiting_approval",
        "pending_tool_calls": pending,
        "reason": "approval",
        "message": "ok?",
    }
    assert events[3][1] == {"resumed_from": "waiting_approval", "user_input": "approved"}
    async with RunStore.from_engine(state_store.engine) as reader:
        (pair,) = await reader.get_pauses("r1")
        assert [e.sequence_index for e in await reader.get_events("r1")] == list(range(6))
    assert (pair.pause_sequence_index, pair.resume_sequence_index) == (2, 3)
    assert (pair.reason, pair.pending_tool_calls, pair.user_input) == (
        "waiting_approval",
        pending,
        "approved",
    )
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "success" and run.answer == "refunded"


async def test_a_paused_run_is_resumed_by_another_process(
    database_url: str, state_store: StateStore
) -> None:
    async with recording(state_store, "r1", "agent", model="m-1") as rec:
        await rec.on_message_appended(Message(Role.USER, "refund"), 0)
        await rec.on_llm_call_completed(_response("call it", FIRST, [REFUND]), 1)
        await rec.on_message_appended(Message(Role.ASSISTANT, "call it", tool_calls=[REFUND]), 1)
        assert await rec.pause("waiting_client_tool", pending_tool_calls=[REFUND])
    assert rec.status == "waiting_client_tool"
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "waiting_client_tool"  # left for a resume

    result = ToolResult("refund", "call_1", '{"refunded": true}')
    async with (
        StateStore.from_database_url(database_url) as other,
        resuming(other, "r1", submitted_results=[result], submitted_data={"by": "client"}) as again,
    ):
        assert again.pause_data is not None and again.pause_data["by"] == "client"
        assert again.pause_data["pending_tool_calls"][0]["id"] == "call_1"
        assert again.iteration_count == 1 and again.usage.input_tokens == 100
        await again.on_tool_completed(REFUND, result, 1)
        await again.on_message_appended(
            Message(Role.TOOL, result.payload, call_id="call_1", name="refund"), 1
        )
        await again.on_llm_call_completed(_response("refunded", SECOND), 2)
        again.finish("refunded")

    events = await _events(state_store, "r1")
    assert events[3] == (
        "run.resumed",
        {
            "resumed_from": "waiting_client_tool",
            "submitted_results": [{"call_id": "call_1", "name": "refund", "success": True}],
        },
    )
    async with RunStore.from_engine(state_store.engine) as reader:
        assert [e.sequence_index for e in await reader.get_events("r1")] == list(range(7))
        assert [t.order_index for t in await reader.get_traces("r1")] == [0, 1, 2]
        (pair,) = await reader.get_pauses("r1")
    assert pair.submitted_results == [{"call_id": "call_1", "name": "refund", "success": True}]
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "success" and run.model == "m-1"
    assert (run.total_input_tokens, run.total_output_tokens) == (300, 30)
    await _assert_totals_match_calls(state_store, "r1")

    with pytest.raises(InvalidArgumentError, match="is success, not paused"):
        async with resuming(state_store, "r1"):
            pass


async def test_an_exception_marks_the_run_error_and_propagates(state_store: StateStore) -> None:
    with pytest.raises(ValueError, match="tool exploded"):
        async with recording(state_store, "r1", "agent") as rec:
            await rec.on_llm_call_completed(_response("x", FIRST), 1)
            raise ValueError("tool exploded\x00!")
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "error"
    assert run.error == "tool exploded\ufffd!" and run.answer is None
    assert (run.total_input_tokens, run.iteration_count) == (100, 1)  # spent all the same
    last = (await _events(state_store, "r1"))[-1]
    assert last == ("run.error", {"error": "tool exploded\ufffd!"})


async def test_a_cancelled_task_marks_the_run_cancelled(state_store: StateStore) -> None:
    inside = asyncio.Event()

    async def loop() -> None:
        async with recording(state_store, "r1", "agent") as rec:
            await rec.on_llm_call_completed(_response("x", FIRST), 1)
            inside.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(loop())
    await asyncio.wait_for(inside.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "cancelled" and run.total_input_tokens == 100
    assert (await _events(state_store, "r1"))[-1] == ("run.cancelled", {"reason": "task_cancelled"})


async def test_a_cancel_requested_before_the_exit_wins(
    database_url: str, state_store: StateStore
) -> None:
    async with recording(state_store, "r1", "agent") as rec:
        await rec.on_llm_call_completed(_response("x", FIRST), 1)
        assert not await rec.cancel_requested()
        async with StateStore.from_database_url(database_url) as other:
            assert await other.request_cancel("r1")
        assert await rec.cancel_requested()
        rec.finish("an answer")  # the loop did not check: the exit does
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "cancelled" and not run.cancel_requested
    events = await _events(state_store, "r1")
    assert events[-1] == ("run.cancelled", {"reason": "cancel_requested"})
    assert "run.completed" not in [t for t, _ in events]


async def test_a_finalizer_that_won_first_is_honoured(state_store: StateStore) -> None:
    async with recording(state_store, "r1", "agent") as rec:
        assert await state_store.cancel_run("r1", reason="operator")
        rec.finish("late")
    assert rec.status == "cancelled"
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "cancelled" and run.answer is None
    assert [t for t, _ in await _events(state_store, "r1")] == ["run.started", "run.cancelled"]


async def test_a_pending_cancel_beats_a_pause(state_store: StateStore) -> None:
    async with recording(state_store, "r1", "agent") as rec:
        await state_store.request_cancel("r1")
        assert not await rec.pause("waiting_human_input")
        assert rec.status == "cancelled"
    types = [t for t, _ in await _events(state_store, "r1")]
    assert types == ["run.started", "run.cancelled"]


async def test_bad_arguments_are_refused_before_any_sql(state_store: StateStore) -> None:
    with pytest.raises(InvalidArgumentError, match="run_id"):
        recording(state_store, "", "agent")
    with pytest.raises(InvalidArgumentTypeError, match="run_id"):
        recording(state_store, 7, "agent")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="agent_name"):
        recording(state_store, "r1", "")
    with pytest.raises(InvalidArgumentTypeError, match="store"):
        recording("sqlite:///x.db", "r1", "agent")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentTypeError, match="target_lookup"):
        recording(state_store, "r1", "agent", target_lookup=["refund"])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentTypeError, match="system_prompt"):
        recording(state_store, "r1", "agent", system_prompt=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="not both"):
        resuming(state_store, "r1", submitted_results=[], user_input="x")
    with pytest.raises(InvalidArgumentTypeError, match="meta"):
        async with recording(state_store, "r1", "agent", meta="x"):  # type: ignore[arg-type]
            pass
    with pytest.raises(RunNotFoundError):
        async with resuming(state_store, "nope"):
            pass
    assert await state_store.count_runs() == 0

    async with recording(state_store, "r1", "agent") as rec:
        with pytest.raises(InvalidArgumentError, match="status"):
            rec.finish("x", status="error")
        with pytest.raises(InvalidArgumentError, match="not a pause status"):
            await rec.pause("running")
        with pytest.raises(RuntimeError, match="not paused"):
            await rec.resume(user_input="x")
        with pytest.raises(RuntimeError, match="already entered"):
            await rec.__aenter__()
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "success"


async def test_an_idempotency_key_never_records_a_run_twice(state_store: StateStore) -> None:
    async with recording(state_store, "r1", "agent", idempotency_key="k1") as rec:
        with pytest.raises(RunAlreadyActiveError):
            async with recording(state_store, "r2", "agent", idempotency_key="k1"):
                pass
    with pytest.raises(ConflictError, match="already success"):
        async with recording(state_store, "r3", "agent", idempotency_key="k1"):
            pass
    assert rec.status == "success" and await state_store.count_runs() == 1


def test_importable_from_the_recorder() -> None:
    import dendrux.recorder

    assert dendrux.recorder.recording is recording
    assert dendrux.recorder.resuming is resuming


# -- lifecycle writes refused for real -------------------------------------------------


async def _refuse_status(database_url: str, dialect: str, status: str) -> None:
    """A trigger that makes the database itself refuse moving a run to ``status``."""
    if dialect == "sqlite":
        async with aiosqlite.connect(database_url.split(":///", 1)[1]) as conn:
            await conn.execute(
                f"CREATE TRIGGER refuse BEFORE UPDATE OF status ON agent_runs "
                f"WHEN NEW.status = '{status}' BEGIN SELECT RAISE(ABORT, 'refused by test'); END;"
            )
            await conn.commit()
        return
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN IF NEW.status = '{status}' THEN RAISE EXCEPTION 'refused by test'; "
            "END IF; RETURN NEW; END $$"
        )
        await conn.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON agent_runs "
            "FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
    finally:
        await conn.close()


async def test_a_refused_finalize_raises_and_writes_nothing(
    database_url: str, dialect: str, state_store: StateStore
) -> None:
    await _refuse_status(database_url, dialect, "success")
    with pytest.raises(DendruxError, match="refused by test"):
        async with recording(state_store, "r1", "agent") as rec:
            await rec.on_llm_call_completed(_response("x", FIRST), 1)
            rec.finish("x")
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "running"  # a sweep will find it
    assert [t for t, _ in await _events(state_store, "r1")] == ["run.started", "llm.completed"]


async def test_a_refused_error_mark_keeps_the_blocks_exception(
    database_url: str, dialect: str, state_store: StateStore
) -> None:
    await _refuse_status(database_url, dialect, "error")
    with pytest.raises(KeyError) as raised:
        async with recording(state_store, "r1", "agent"):
            raise KeyError("lost")
    assert any("could not be marked error" in note for note in raised.value.__notes__)
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "running"


async def test_postgres_down_at_finalize_raises_after_the_retries(
    postgres_url: str, pg_server: Any
) -> None:
    store = StateStore.from_database_url(postgres_url)
    try:
        with pytest.raises(TransientDatabaseError):
            async with recording(store, "r1", "agent") as rec:
                await rec.on_llm_call_completed(_response("x", FIRST), 1)
                rec.finish("x")
                pg_server.stop_server()
    finally:
        await asyncio.to_thread(pg_server.start_server)
        await store.close()
    async with StateStore.from_database_url(postgres_url) as fresh:
        run = await fresh.get_run("r1")
        assert run is not None and run.status == "running" and run.answer is None
        assert "run.completed" not in [t for t, _ in await _events(fresh, "r1")]


async def test_a_killed_connection_at_finalize_is_retried_once(postgres_url: str) -> None:
    async with StateStore.from_database_url(postgres_url) as store:
        async with recording(store, "r1", "agent") as rec:
            await rec.on_llm_call_completed(_response("x", FIRST), 1)
            rec.finish("x")
            killer = await asyncpg.connect(postgres_url)
            try:
                await killer.fetchval(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity WHERE application_name = 'dendrux' "
                    "AND datname = current_database()"
                )
            finally:
                await killer.close()
        run = await store.get_run("r1")
        assert run is not None and run.status == "success"
        events = [t for t, _ in await _events(store, "r1")]
        assert events == ["run.started", "llm.completed", "run.completed"]
        assert json.dumps(events).count("run.completed") == 1


async def test_the_demo_run_totals_are_its_llm_calls(state_store: StateStore) -> None:
    from dendrux.demo import record_sample_run

    run_id = await record_sample_run(state_store)
    await _assert_totals_match_calls(state_store, run_id)
    async with RunStore.from_engine(state_store.engine) as reader:
        run = await reader.get_run(run_id)
        (child,) = await reader.list_runs(parent_run_id=run_id)
        (pause,) = await reader.get_pauses(run_id)
    await _assert_totals_match_calls(state_store, child.run_id)
    assert run is not None and (run.iteration_count, run.total_input_tokens) == (2, 1262)
    assert run.total_cost_usd == pytest.approx(0.00159) and run.model == "claude-haiku-4-5"
    assert (pause.reason, pause.user_input) == ("waiting_approval", "approved by supervisor")
    assert [t for t, _ in await _events(state_store, run_id)] == [
        "run.started", "llm.completed", "approval.requested", "run.paused", "run.resumed",
        "approval.decided", "tool.completed", "llm.completed", "run.completed",
    ]  # fmt: skip
