"""One integer range on both dialects, and no raw Python error from the API (issue 12,
items 3 and 5).

The INTEGER columns (sequence, order and iteration indexes, ``iteration_count``,
``delegation_level``, ``duration_ms``) hold ``0..2**31 - 1`` everywhere, as
PostgreSQL's INTEGER does: a write outside is an `InvalidArgumentError` naming the
argument, before any SQL, on SQLite too; a read with a cursor or filter outside
answers what the mathematics says (nothing past the range, everything below it),
never an error. Extreme datetimes and durations, ints of thousands of digits and
JSON nested thousands deep are argument errors, not ``OverflowError``,
``ValueError`` or ``RecursionError``. Every case runs on both dialects.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from dendrux.errors import InvalidArgumentError
from dendrux.recorder import EventSequencer, PersistenceRecorder
from dendrux.state import StateStore
from dendrux.store import RunStore
from dendrux.types import LLMResponse, Message, Role, ToolCall, ToolResult, UsageStats
from dendrux.validation import INT32_MAX, INT32_MIN, MAX_JSON_DEPTH

PAST = INT32_MAX + 1
HUGE = 10**5000  # str() of it raises ValueError (Python's int-string limit)
TABLES = ("agent_runs", "react_traces", "tool_calls", "token_usage", "llm_interactions",
          "run_events")  # fmt: skip


@dataclass
class Usage:
    input_tokens: Any = 3
    output_tokens: Any = 2
    cost_usd: Any = 0.5
    cache_read_input_tokens: Any = None
    cache_creation_input_tokens: Any = None
    reasoning_tokens: Any = None


async def row_counts(database_url: str) -> dict[str, int]:
    """Rows per table, read with the driver directly."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.split(":///", 1)[1])
        try:
            return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        finally:
            conn.close()
    import asyncpg

    pg = await asyncpg.connect(database_url)
    try:
        return {t: int(await pg.fetchval(f"SELECT count(*) FROM {t}")) for t in TABLES}
    finally:
        await pg.close()


@pytest.fixture
async def run_store(database_url: str) -> AsyncIterator[RunStore]:
    store = RunStore.from_database_url(database_url)
    try:
        yield store
    finally:
        await store.close()


def nest(depth: int, leaf: Any = 1) -> Any:
    """``depth`` arrays inside each other around ``leaf``."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def refused(exc: pytest.ExceptionInfo[BaseException], name: str) -> None:
    assert type(exc.value) is InvalidArgumentError, repr(exc.value)
    assert name in str(exc.value), str(exc.value)


# -- writes: the 32-bit range, refused before SQL on both dialects -------------------


def write_cases() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, argument, keyword arguments) with a value one past INT32_MAX."""
    tool = dict(
        tool_call_id="tc-range", provider_tool_call_id=None, tool_name="t", target="server",
        params=None, result_payload=None, success=True, duration_ms=1, iteration_index=0,
    )  # fmt: skip
    return [
        ("create_run", "delegation_level", dict(run_id="new", agent_name="a",
                                                delegation_level=PAST)),
        ("finalize_run", "iteration_count", dict(run_id="r1", status="success",
                                                 iteration_count=PAST)),
        ("finalize_run_if_status_in", "iteration_count",
         dict(run_id="r1", status="success", allowed_current_statuses=["running"],
              iteration_count=PAST)),
        ("pause_run", "iteration_count", dict(run_id="r1", status="waiting_approval",
                                              pause_data={}, iteration_count=PAST)),
        ("cancel_run", "sequence_index", dict(run_id="r1", sequence_index=PAST)),
        ("cancel_run", "iteration_index", dict(run_id="r1", iteration_index=PAST)),
        ("save_trace", "order_index", dict(run_id="r1", role="user", content="x",
                                           order_index=PAST)),
        ("save_tool_call", "duration_ms", {**tool, "run_id": "r1", "duration_ms": PAST}),
        ("save_tool_call", "iteration_index", {**tool, "run_id": "r1", "iteration_index": PAST}),
        ("save_usage", "iteration_index", dict(run_id="r1", iteration_index=PAST,
                                               usage=Usage())),
        ("save_usage", "duration_ms", dict(run_id="r1", iteration_index=0, usage=Usage(),
                                           duration_ms=PAST)),
        ("save_llm_interaction", "iteration_index", dict(run_id="r1", iteration_index=PAST,
                                                         usage=Usage())),
        ("save_llm_interaction", "duration_ms", dict(run_id="r1", iteration_index=0,
                                                     usage=Usage(), duration_ms=PAST)),
        ("save_run_event", "sequence_index", dict(run_id="r1", event_type="x.y",
                                                  sequence_index=PAST)),
        ("save_run_event", "iteration_index", dict(run_id="r1", event_type="x.y",
                                                   iteration_index=PAST)),
    ]  # fmt: skip


async def test_writes_past_the_integer_range_are_refused(
    state_store: StateStore, database_url: str
) -> None:
    await state_store.create_run("r1", "agent")
    before = await row_counts(database_url)
    failures = []
    for method, arg, kwargs in write_cases():
        for value in (PAST, 2**40, 2**63 - 1, HUGE):
            call = dict(kwargs)
            call[arg] = value
            try:
                await getattr(state_store, method)(**call)
            except InvalidArgumentError as exc:
                if arg not in str(exc):
                    failures.append(f"{method}({arg}=<{value.bit_length()} bits>): message {exc}")
            except Exception as exc:
                failures.append(
                    f"{method}({arg}=<{value.bit_length()} bits>): {type(exc).__name__}: {exc}"
                )
            else:
                failures.append(f"{method}({arg}=<{value.bit_length()} bits>) was accepted")
    assert not failures, "\n".join(failures)
    assert await row_counts(database_url) == before
    assert (await state_store.get_run("r1")).status == "running"  # type: ignore[union-attr]


async def test_the_integer_maximum_is_stored_and_read_back(
    state_store: StateStore, run_store: RunStore
) -> None:
    top = INT32_MAX
    await state_store.create_run("r1", "agent", delegation_level=top)
    await state_store.save_trace("r1", "user", "hi", order_index=top)
    await state_store.save_tool_call(
        "r1", tool_call_id="tc1", provider_tool_call_id=None, tool_name="t", target="server",
        params=None, result_payload="1", success=True, duration_ms=top, iteration_index=top,
    )  # fmt: skip
    await state_store.save_llm_interaction(
        "r1", iteration_index=top, usage=Usage(input_tokens=2**62), duration_ms=top
    )
    await state_store.save_run_event(
        "r1", event_type="a.b", sequence_index=top, iteration_index=top
    )
    assert await state_store.get_next_event_sequence("r1") == PAST  # as SQLite always said

    [event] = await run_store.get_events("r1")
    assert (event.sequence_index, event.iteration_index) == (top, top)
    [call] = await run_store.get_llm_calls("r1", iteration=top)
    assert (call.iteration, call.duration_ms, call.input_tokens) == (top, top, 2**62)
    [tool] = await run_store.get_tool_invocations("r1", iteration=top)
    assert (tool.iteration, tool.duration_ms) == (top, top)
    [trace] = await run_store.get_traces("r1")
    assert trace.order_index == top
    detail = await run_store.get_run("r1")
    assert detail is not None and detail.delegation_level == top

    # The index after the maximum does not fit: refused the same way on both dialects,
    # whether the caller numbers the event or the store does (cancel_run, sweeps).
    with pytest.raises(InvalidArgumentError) as exc:
        await state_store.save_run_event("r1", event_type="a.b", sequence_index=PAST)
    refused(exc, "sequence_index")
    with pytest.raises(InvalidArgumentError) as exc:
        await state_store.cancel_run("r1", reason="stop")
    refused(exc, "sequence_index")
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "running"  # rolled back with the event
    assert await state_store.finalize_run("r1", status="success", iteration_count=top)


async def test_recorder_hooks_refuse_out_of_range_values(
    state_store: StateStore, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await state_store.create_run("r1", "agent")
    recorder = PersistenceRecorder(state_store, "r1", model="m", provider_name="p")
    before = await row_counts(database_url)
    response = LLMResponse(text="hi", usage=UsageStats(input_tokens=1, output_tokens=1))

    # Fail-closed rows raise; nothing of the hook is written.
    with pytest.raises(InvalidArgumentError) as exc:
        await recorder.on_llm_call_completed(response, PAST)
    refused(exc, "iteration_index")
    with pytest.raises(InvalidArgumentError) as exc:
        await recorder.on_tool_completed(ToolCall(name="t"), ToolResult("t", "c", "1"), PAST)
    refused(exc, "iteration_index")
    result = ToolResult("t", "c", "1", duration_ms=PAST)
    with pytest.raises(InvalidArgumentError) as exc:
        await recorder.on_tool_completed(ToolCall(name="t"), result, 0)
    refused(exc, "duration_ms")
    with pytest.raises(InvalidArgumentError) as exc:
        await recorder.on_governance_event("policy.checked", PAST, None)
    refused(exc, "iteration_index")
    assert await row_counts(database_url) == before

    # Best-effort rows with an out-of-range duration are refused by validation and
    # logged (not dropped by a database error); the fail-closed event still lands.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dendrux"):
        await recorder.on_llm_call_completed(response, 0, duration_ms=PAST)
    skipped = [r.getMessage() for r in caplog.records if "best-effort" in r.getMessage()]
    assert any("save_llm_interaction" in m and "duration_ms" in m for m in skipped), skipped
    assert any("save_usage" in m and "duration_ms" in m for m in skipped), skipped
    after = await row_counts(database_url)
    assert after["llm_interactions"] == before["llm_interactions"]
    assert after["token_usage"] == before["token_usage"]
    assert [e.event_type for e in await state_store.get_run_events("r1")][-1] == "llm.completed"

    for bad in (PAST, 2**40):
        with pytest.raises(InvalidArgumentError) as exc:
            EventSequencer(bad)
        refused(exc, "initial")
        with pytest.raises(InvalidArgumentError) as exc:
            PersistenceRecorder(state_store, "r1", initial_order_index=bad)
        refused(exc, "initial_order_index")
    sequencer = EventSequencer(INT32_MAX)
    rec = PersistenceRecorder(state_store, "r1", event_sequencer=sequencer)
    await rec.on_message_appended(Message(role=Role.USER, content="x"), 2**40)  # meta only
    await rec.on_governance_event("policy.checked", 0, None)  # index INT32_MAX: fits
    with pytest.raises(InvalidArgumentError) as exc:
        await rec.on_governance_event("policy.checked", 0, None)  # INT32_MAX + 1: not
    refused(exc, "sequence_index")


# -- reads: out-of-range cursors and filters answer, never fail ----------------------


async def seed_events(state_store: StateStore) -> None:
    await state_store.create_run("r1", "agent")
    for index in range(3):
        await state_store.save_run_event("r1", event_type="a.b", sequence_index=index)
    await state_store.save_tool_call(
        "r1", tool_call_id="tc1", provider_tool_call_id=None, tool_name="t", target="server",
        params=None, result_payload=None, success=True, duration_ms=None, iteration_index=0,
    )  # fmt: skip
    await state_store.save_llm_interaction("r1", iteration_index=0, usage=Usage())


ABOVE = (INT32_MAX, PAST, 2**40, 2**63 - 1)
BELOW = (-1, INT32_MIN, INT32_MIN - 1, -(2**40), -(2**63))


async def test_out_of_range_cursors_and_filters_read_like_sqlite(
    state_store: StateStore, run_store: RunStore
) -> None:
    await seed_events(state_store)
    for after in ABOVE:
        assert await run_store.get_events("r1", after_sequence_index=after) == []
        assert await state_store.get_run_events("r1", after_sequence_index=after) == []
    for after in BELOW:
        events = await run_store.get_events("r1", after_sequence_index=after)
        assert [e.sequence_index for e in events] == [0, 1, 2]
        records = await state_store.get_run_events("r1", after_sequence_index=after, limit=2)
        assert [e.sequence_index for e in records] == [0, 1]
    for iteration in (PAST, 2**40, 2**63 - 1):
        assert await run_store.get_llm_calls("r1", iteration=iteration) == []
        assert await run_store.get_tool_invocations("r1", iteration=iteration) == []
        assert await state_store.get_tool_calls("r1", iteration_index=iteration) == []
        assert await state_store.get_llm_interactions("r1", iteration_index=iteration) == []
    assert len(await run_store.get_llm_calls("r1", iteration=0)) == 1
    assert len(await state_store.get_tool_calls("r1", iteration_index=0)) == 1
    assert await state_store.get_next_event_sequence("r1") == 3


async def test_stream_events_with_out_of_range_cursors(
    state_store: StateStore, run_store: RunStore
) -> None:
    """Past the range: nothing, quietly (no error, no busy loop); below it: everything."""
    await seed_events(state_store)
    stream = run_store.stream_events("r1", after_sequence_index=2**40, poll_interval_s=0.05)
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(stream), 0.4)
    finally:
        await stream.aclose()
    stream = run_store.stream_events("r1", after_sequence_index=-(2**40), poll_interval_s=0.05)
    try:
        got = [(await asyncio.wait_for(anext(stream), 5)).sequence_index for _ in range(3)]
    finally:
        await stream.aclose()
    assert got == [0, 1, 2]


# -- no raw Python errors -------------------------------------------------------------

LATE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))
EARLY = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))


async def test_extreme_datetimes_and_durations_are_argument_errors(
    state_store: StateStore, run_store: RunStore
) -> None:
    for when in (LATE, EARLY):
        for name in ("started_after", "started_before"):
            for call in (run_store.list_runs, run_store.count_runs, state_store.list_runs,
                         state_store.count_runs):  # fmt: skip
                with pytest.raises(InvalidArgumentError) as exc:
                    await call(**{name: when})
                refused(exc, name)
        with pytest.raises(InvalidArgumentError) as exc:
            await state_store.purge_runs(before=when)
        refused(exc, "before")
    for duration in (timedelta.max, timedelta(days=999_999_999), timedelta(days=800_000)):
        for sweep in (state_store.sweep_stale_runs, state_store.sweep_abandoned_runs):
            with pytest.raises(InvalidArgumentError) as exc:
                await sweep(duration)
            refused(exc, "older_than")
    # The edges that do convert are fine.
    edge = datetime(9999, 12, 31, 9, 59, 59, tzinfo=timezone(timedelta(hours=-14)))
    assert await run_store.list_runs(started_after=edge) == []
    assert await state_store.sweep_stale_runs(timedelta(days=365 * 2000)) == []


async def test_ints_of_thousands_of_digits_are_argument_errors(
    state_store: StateStore, run_store: RunStore
) -> None:
    await state_store.create_run("r1", "agent")
    calls = [
        ("limit", run_store.list_runs(limit=HUGE)),
        ("offset", run_store.list_runs(offset=-HUGE)),
        ("after_sequence_index", run_store.get_events("r1", after_sequence_index=HUGE)),
        ("limit", run_store.get_events("r1", limit=-HUGE)),
        ("iteration", run_store.get_llm_calls("r1", iteration=HUGE)),
        ("iteration", run_store.get_tool_invocations("r1", iteration=-HUGE)),
        ("metadata_filter", run_store.count_runs(metadata_filter={"k": HUGE})),
        ("order_index", state_store.save_trace("r1", "user", "x", order_index=-HUGE)),
        ("input_tokens", state_store.save_usage("r1", iteration_index=0,
                                                usage=Usage(input_tokens=HUGE))),
        ("meta", state_store.create_run("r2", "a", meta={"n": HUGE})),
        ("batch_size", state_store.purge_runs(before=datetime.now(UTC), batch_size=HUGE)),
    ]  # fmt: skip
    for name, pending in calls:
        with pytest.raises(InvalidArgumentError) as exc:
            await pending
        refused(exc, name)
        assert len(str(exc.value)) < 400


async def test_json_depth_limit_is_the_same_on_both_dialects(
    state_store: StateStore, run_store: RunStore, database_url: str
) -> None:
    """Nested exactly ``MAX_JSON_DEPTH`` deep: stored and read back equal; one more
    level, or ten thousand: refused by name with a clear message, nothing written."""
    deepest = nest(MAX_JSON_DEPTH)
    deepest_obj = {"k": nest(MAX_JSON_DEPTH - 1, 1e300)}  # a big float takes the slow path
    await state_store.create_run("r1", "agent", input_data=deepest, meta=deepest_obj)
    await state_store.save_run_event("r1", event_type="a.b", data={"d": nest(MAX_JSON_DEPTH - 1)})
    detail = await run_store.get_run("r1")
    assert detail is not None
    assert detail.input_data == deepest and detail.meta == deepest_obj
    [event] = await run_store.get_events("r1")
    assert event.data == {"d": nest(MAX_JSON_DEPTH - 1)}
    assert await run_store.count_runs(metadata_filter={"k": 1}) == 0  # meta indexed fine

    before = await row_counts(database_url)
    too_deep = [
        ("input_data", state_store.create_run("r2", "a", input_data=nest(MAX_JSON_DEPTH + 1))),
        ("meta", state_store.create_run("r2", "a", meta={"k": nest(MAX_JSON_DEPTH)})),
        ("meta", state_store.create_run("r2", "a", meta={"k": nest(10_000)})),
        ("data", state_store.save_run_event("r1", event_type="a.b", sequence_index=1,
                                            data={"d": nest(10_000)})),
        ("pause_data", state_store.pause_run("r1", status="waiting_approval",
                                             pause_data={"d": nest(MAX_JSON_DEPTH)})),
        ("semantic_request", state_store.save_llm_interaction(
            "r1", iteration_index=0, usage=Usage(), semantic_request=nest(10_000))),
    ]  # fmt: skip
    for name, pending in too_deep:
        with pytest.raises(InvalidArgumentError) as exc:
            await pending
        refused(exc, name)
        assert f"nested deeper than {MAX_JSON_DEPTH}" in str(exc.value)
    assert await row_counts(database_url) == before

    # A tool's result text nested too deep is kept as raw text, like any result that is
    # not storable JSON: the proof of the side effect is stored, not refused.
    for n, depth in enumerate((MAX_JSON_DEPTH + 1, 10_000)):
        text = "[" * depth + "]" * depth
        await state_store.save_tool_call(
            "r1", tool_call_id=f"deep{n}", provider_tool_call_id=None, tool_name="t",
            target="server", params=None, result_payload=text, success=True, duration_ms=None,
            iteration_index=0,
        )  # fmt: skip
    results = [t.result for t in await run_store.get_tool_invocations("r1")]
    assert results == [{"raw": "[" * d + "]" * d} for d in (MAX_JSON_DEPTH + 1, 10_000)]


async def test_stream_poll_interval_is_checked(
    state_store: StateStore, run_store: RunStore
) -> None:
    """Found by the fuzz test: ``poll_interval_s=-10**5000`` raised a bare ValueError
    while building the message, and an int past the float range or an infinite wait
    could not be scheduled (or would never poll)."""
    await state_store.create_run("r1", "agent")
    for value in (-HUGE, HUGE, 10**400, float("inf"), float("nan"), 0, -1.5, 86_401):
        stream = run_store.stream_events("r1", poll_interval_s=value)
        with pytest.raises(InvalidArgumentError) as exc:
            await anext(stream)
        refused(exc, "poll_interval_s")
    stream = run_store.stream_events("r1", poll_interval_s=86_400)
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(stream), 0.2)
    finally:
        await stream.aclose()


async def test_llm_hook_with_odd_token_counts(
    state_store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider's non-int token count reached ``input + output`` and raised a bare
    TypeError before anything was checked. Now the fail-closed ``llm.completed`` event
    records what the provider said and the best-effort rows are refused by name."""
    await state_store.create_run("r1", "agent")
    recorder = PersistenceRecorder(state_store, "r1")
    usage = Usage(input_tokens="12", output_tokens=3)
    with caplog.at_level(logging.WARNING, logger="dendrux"):
        await recorder.on_llm_call_completed(LLMResponse(text="hi", usage=usage), 0)  # type: ignore[arg-type]
    [event] = await state_store.get_run_events("r1")
    assert event.data is not None and event.data["input_tokens"] == "12"
    skipped = [r.getMessage() for r in caplog.records if "best-effort" in r.getMessage()]
    assert any("usage.input_tokens" in m for m in skipped), skipped
