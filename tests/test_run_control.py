"""Cooperative run control (0.4.1): request_pause on each status, try_pause_run losing to
a cancel, the two transitions that write their event in the same transaction, the
flags every finalize, claim and sweep clears, and the run row's new fields."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.state import RunControl, StateStore
from dendrux.store import ReplaySummary, RunStore
from dendrux.types import PAUSE_REQUEST_META_KEY, REPLAY_META_KEY, UsageStats

MAX_INDEX = 2**31 - 1


async def _run_in(store: StateStore, run_id: str, status: str) -> None:
    await store.create_run(run_id, "agent", meta={"keep": 1})
    if status in ("waiting_approval", "paused"):
        await store.pause_run(run_id, status=status, pause_data={"s": 1})
    elif status in ("success", "error", "cancelled", "max_iterations"):
        await store.finalize_run(run_id, status=status)


@pytest.mark.parametrize(
    "status", ["running", "waiting_approval", "paused", "success", "cancelled", "missing"]
)
async def test_request_pause_latches_on_running_runs_only(
    state_store: StateStore, status: str
) -> None:
    if status != "missing":
        await _run_in(state_store, "r1", status)
    latched = await state_store.request_pause("r1", reason="lunch")
    assert latched is (status == "running")
    run = await state_store.get_run("r1")
    if run is None:
        return
    assert run.pause_requested is latched
    if latched:
        assert run.meta == {"keep": 1, PAUSE_REQUEST_META_KEY: {"reason": "lunch"}}
    else:
        assert run.meta == {"keep": 1}
    assert (await state_store.get_run_control("r1")).pause_requested is latched


async def test_request_pause_reason_rules(state_store: StateStore) -> None:
    await state_store.create_run("r1", "agent")
    assert await state_store.request_pause("r1")
    run = await state_store.get_run("r1")
    assert run is not None and run.meta is None  # no reason, no key
    assert await state_store.request_pause("r1", reason="first")
    assert await state_store.request_pause("r1")  # an older reason is replaced
    run = await state_store.get_run("r1")
    assert run is not None and run.meta == {PAUSE_REQUEST_META_KEY: {"reason": None}}
    detail = await RunStore(state_store).get_run("r1")
    assert detail is not None and detail.pause_requested and not detail.cancel_requested


async def test_try_pause_run_loses_to_a_cancel_and_clears_the_request(
    state_store: StateStore,
) -> None:
    await state_store.create_run("r1", "agent")
    assert await state_store.request_pause("r1")
    assert await state_store.request_cancel("r1")
    assert not await state_store.try_pause_run("r1", status="paused", pause_data={"a": 1})
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "running" and run.pause_requested

    await state_store.create_run("r2", "agent")
    assert await state_store.request_pause("r2")
    usage = UsageStats(input_tokens=7, output_tokens=3, cost_usd=0.5, reasoning_tokens=2)
    assert await state_store.try_pause_run(
        "r2", status="paused", pause_data={"a": 1}, iteration_count=4, total_usage=usage
    )
    run = await state_store.get_run("r2")
    assert run is not None and run.status == "paused" and not run.pause_requested
    assert (run.iteration_count, run.total_input_tokens, run.total_output_tokens) == (4, 7, 3)
    assert (run.total_cost_usd, run.total_reasoning_tokens) == (0.5, 2)
    assert await state_store.get_pause_state("r2") == {"a": 1}
    assert not await state_store.try_pause_run("r2", status="paused", pause_data={})  # not running
    assert await state_store.get_run_control("missing") == RunControl()


async def test_claims_finalize_and_sweeps_clear_the_pause_request(
    state_store: StateStore,
) -> None:
    await state_store.create_run("c", "agent")
    await state_store.request_pause("c")
    await state_store.pause_run("c", status="waiting_approval", pause_data={"x": 1})
    assert (await state_store.get_run("c")).pause_requested  # type: ignore[union-attr]
    assert await state_store.claim_paused_run("c", expected_status="waiting_approval")
    assert not (await state_store.get_run("c")).pause_requested  # type: ignore[union-attr]

    await state_store.request_pause("c")
    await state_store.pause_run("c", status="waiting_approval", pause_data={"x": 1})
    assert await state_store.submit_and_claim(
        "c", expected_status="waiting_approval", submitted_data={"y": 2}
    )
    assert not (await state_store.get_run("c")).pause_requested  # type: ignore[union-attr]

    await state_store.request_pause("c")
    assert await state_store.finalize_run("c", status="success")
    assert not (await state_store.get_run("c")).pause_requested  # type: ignore[union-attr]

    await state_store.create_run("s", "agent")
    await state_store.request_pause("s")
    await state_store.request_cancel("s")
    await state_store.create_run("p", "agent")
    await state_store.request_pause("p")
    await state_store.pause_run("p", status="paused", pause_data={})
    swept = await state_store.sweep_stale_runs(timedelta(microseconds=1))
    assert [(r.run_id, r.status) for r in swept] == [("s", "cancelled")]
    swept = await state_store.sweep_abandoned_runs(timedelta(microseconds=1))
    assert [(r.run_id, r.status, r.previous_status) for r in swept] == [("p", "error", "paused")]
    for run_id in ("s", "p"):
        run = await state_store.get_run(run_id)
        assert run is not None and not run.pause_requested and not run.cancel_requested


async def test_pause_with_event(state_store: StateStore) -> None:
    await state_store.create_run("r1", "agent")
    await state_store.save_run_event("r1", event_type="run.started", sequence_index=0)
    index = await state_store.pause_with_event(
        "r1",
        status="waiting_human_input",
        pause_data={"q": "?"},
        event_data={"status": "waiting_human_input"},
        iteration_count=2,
    )
    assert index == 1
    events = await state_store.get_run_events("r1")
    assert [(e.event_type, e.sequence_index, e.iteration_index) for e in events] == [
        ("run.started", 0, 0),
        ("run.paused", 1, 2),
    ]
    assert events[1].data == {"status": "waiting_human_input"}
    # Lost compare-and-set (not running): nothing written.
    assert await state_store.pause_with_event("r1", status="paused", pause_data={}) is None
    assert len(await state_store.get_run_events("r1")) == 2


async def test_finalize_with_event(state_store: StateStore) -> None:
    await state_store.create_run("r1", "agent")
    await state_store.request_pause("r1")
    index = await state_store.finalize_with_event(
        "r1",
        status="error",
        allowed_current_statuses=["running"],
        event_type="run.error",
        event_data={"error": "boom"},
        error="boom",
        failure_reason="tool_crash",
    )
    assert index == 0
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "error" and run.failure_reason == "tool_crash"
    assert not run.pause_requested
    events = await state_store.get_run_events("r1")
    assert [(e.event_type, e.sequence_index, e.data) for e in events] == [
        ("run.error", 0, {"error": "boom"})
    ]
    lost = await state_store.finalize_with_event(
        "r1", status="success", allowed_current_statuses=["running"], event_type="run.completed"
    )
    assert lost is None and len(await state_store.get_run_events("r1")) == 1


async def test_a_failing_event_leaves_the_row_unchanged(state_store: StateStore) -> None:
    """The event insert fails for real (the run's indexes are exhausted): the status
    change of the same transaction is rolled back."""
    await state_store.create_run("r1", "agent")
    await state_store.save_run_event("r1", event_type="run.started", sequence_index=MAX_INDEX)
    with pytest.raises(InvalidArgumentError, match="sequence_index"):
        await state_store.pause_with_event("r1", status="paused", pause_data={"a": 1})
    with pytest.raises(InvalidArgumentError, match="sequence_index"):
        await state_store.finalize_with_event(
            "r1", status="success", allowed_current_statuses=["running"], event_type="run.done"
        )
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "running"
    assert await state_store.get_pause_state("r1") is None
    assert len(await state_store.get_run_events("r1")) == 1


async def test_run_detail_and_summary_fields(state_store: StateStore) -> None:
    replay = {"runs_full": ["a"], "warnings": ["w"], "extra": 1}
    await state_store.create_run("r1", "agent", meta={REPLAY_META_KEY: replay})
    await state_store.create_run("r2", "agent", meta={REPLAY_META_KEY: "odd"})
    await state_store.request_cancel("r1")
    reader = RunStore(state_store)
    detail = await reader.get_run("r1")
    assert detail is not None and detail.cancel_requested and not detail.pause_requested
    expected = ReplaySummary(runs_full=["a"], warnings=["w"])
    assert detail.replay == expected
    summaries = {s.run_id: s for s in await reader.list_runs()}
    assert summaries["r1"].replay == expected and summaries["r2"].replay is None
    assert (await reader.get_run("r2")).replay is None  # type: ignore[union-attr]
    record = await state_store.get_run("r1")
    assert record is not None and record.cancel_requested and record.tenant_id is None


@pytest.mark.parametrize(
    ("call", "error", "named"),
    [
        (lambda s: s.request_pause("r1", reason=3), InvalidArgumentTypeError, "reason"),
        (lambda s: s.request_pause("", reason="x"), InvalidArgumentError, "run_id"),
        (lambda s: s.try_pause_run("r1", status="success", pause_data={}), InvalidArgumentError,
         "status"),
        (lambda s: s.try_pause_run("r1", status="paused", pause_data=None),
         InvalidArgumentTypeError, "pause_data"),
        (lambda s: s.pause_with_event("r1", status="paused", pause_data={},
                                      event_data={"x": object()}),
         InvalidArgumentTypeError, "event_data"),
        (lambda s: s.finalize_with_event("r1", status="success", allowed_current_statuses=[
            "running"], event_type="Bad Type"), InvalidArgumentError, "event_type"),
        (lambda s: s.finalize_with_event("r1", status="success", allowed_current_statuses=[
            "running"], event_type="run.x", failure_reason=1), InvalidArgumentTypeError,
         "failure_reason"),
        (lambda s: s.get_run_control(None), InvalidArgumentTypeError, "run_id"),
    ],
)  # fmt: skip
async def test_bad_input_is_refused_before_sql(
    state_store: StateStore, call: Any, error: type[Exception], named: str
) -> None:
    await state_store.create_run("r1", "agent")
    with pytest.raises(error, match=named):
        await call(state_store)
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "running" and not run.pause_requested
    assert await state_store.get_run_events("r1") == []


async def test_cli_show_prints_notes_and_requests(
    state_store: StateStore, database_url: str, tmp_path: Any
) -> None:
    import asyncio
    import json
    import os
    import subprocess
    import sys

    await state_store.create_run("r1", "agent")
    await state_store.add_note("r1", note_id="n1", text="check the totals")
    await state_store.add_note("r1", note_id="n2", text="also the tax")
    await state_store.mark_notes_delivered("r1", ["n1"], iteration=2)
    await state_store.request_pause("r1", reason="needs review")
    await state_store.request_cancel("r1")
    await state_store.create_run("r2", "agent")
    await state_store.pause_run("r2", status="paused", pause_data={})

    env = {**os.environ, "HOME": str(tmp_path), "DENDRUX_DATABASE_URL": database_url}

    def dendrux(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "dendrux", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0 and done.stderr == "", done.stderr
        return done.stdout

    out = await asyncio.to_thread(dendrux, "show", "r1")
    assert "pause requested: needs review" in out and "cancel requested" in out
    assert "notes (2)" in out
    assert "delivered at iteration 2  check the totals" in out
    assert "pending  also the tax" in out
    shown = json.loads(await asyncio.to_thread(dendrux, "show", "r1", "--json"))
    assert [n["note_id"] for n in shown["notes"]] == ["n1", "n2"]
    assert shown["run"]["pause_requested"] and shown["run"]["cancel_requested"]
    quiet = await asyncio.to_thread(dendrux, "show", "r2")
    assert "requested" not in quiet and "notes (" not in quiet
    listed = await asyncio.to_thread(dendrux, "runs", "--color", "always")
    assert "\x1b[33mpaused" in listed
