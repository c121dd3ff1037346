"""Run lifecycle through StateStore on both dialects: create (idempotency),
finalize (CAS), pause / claim / submit, cancel, progress, listing, sweeps,
delegation."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from dendrux.errors import (
    IdempotencyConflictError,
    IntegrityError,
    RunAlreadyExistsError,
)
from dendrux.state import StateStore, runs
from dendrux.types import UsageStats


async def test_create_run_stores_every_field(state_store: StateStore) -> None:
    result = await state_store.create_run(
        "r1",
        "support",
        input_data={"question": "refund?"},
        model="claude-haiku-4-5",
        strategy="react",
        tenant_id="acme",
        meta={"thread_id": "t1"},
    )
    assert (result.run_id, result.outcome, result.status) == ("r1", "created", "running")
    run = await state_store.get_run("r1")
    assert run is not None
    assert run.agent_name == "support"
    assert run.input_data == {"question": "refund?"}
    assert run.model == "claude-haiku-4-5"
    assert run.strategy == "react"
    assert run.tenant_id == "acme"
    assert run.meta == {"thread_id": "t1"}
    assert run.status == "running"
    assert run.created_at is not None and run.created_at.tzinfo is UTC
    assert run.last_progress_at == run.created_at == run.updated_at
    assert run.cancel_requested is False
    assert run.total_cost_usd is None
    assert await state_store.get_run("missing") is None


async def test_create_run_same_id_twice_is_a_conflict(state_store: StateStore) -> None:
    await state_store.create_run("r1", "a")
    with pytest.raises(RunAlreadyExistsError, match="r1"):
        await state_store.create_run("r1", "a")


async def test_create_run_idempotency(state_store: StateStore) -> None:
    first = await state_store.create_run(
        "r1", "a", idempotency_key="k1", idempotency_fingerprint="fp"
    )
    assert first.outcome == "created"
    again = await state_store.create_run(
        "r2", "a", idempotency_key="k1", idempotency_fingerprint="fp"
    )
    assert (again.run_id, again.outcome, again.status) == ("r1", "existing_active", "running")
    with pytest.raises(IdempotencyConflictError) as caught:
        await state_store.create_run("r3", "a", idempotency_key="k1", idempotency_fingerprint="x")
    assert caught.value.run_id == "r1" and caught.value.idempotency_key == "k1"
    assert "r1" in str(caught.value) and "k1" in str(caught.value)
    assert await state_store.finalize_run("r1", status="success", answer="done")
    done = await state_store.create_run(
        "r4", "a", idempotency_key="k1", idempotency_fingerprint="fp"
    )
    assert (done.run_id, done.outcome, done.status) == ("r1", "existing_terminal", "success")
    assert await state_store.count_runs() == 1


async def test_create_run_parent_must_exist(state_store: StateStore) -> None:
    with pytest.raises(IntegrityError):
        await state_store.create_run("c1", "child", parent_run_id="nope")
    assert await state_store.get_run("c1") is None


async def test_finalize_run_sets_everything_and_clears_pause(state_store: StateStore) -> None:
    await state_store.create_run("r1", "a")
    await state_store.pause_run(
        "r1", status="waiting_approval", pause_data={"pending": ["tc1"]}, iteration_count=2
    )
    assert await state_store.request_cancel("r1")
    usage = UsageStats(
        input_tokens=100,
        output_tokens=20,
        cost_usd=0.25,
        cache_read_input_tokens=7,
        cache_creation_input_tokens=3,
        reasoning_tokens=5,
    )
    ok = await state_store.finalize_run(
        "r1",
        status="success",
        answer="42",
        iteration_count=3,
        total_usage=usage,
        pii_mapping={"<PERSON_1>": "Ada"},
    )
    assert ok
    run = await state_store.get_run("r1")
    assert run is not None
    assert run.status == "success"
    # As 0.4.1 stores it: the run total beside the answer (every UsageStats field).
    assert run.answer == "42" and run.output_data == {
        "answer": "42",
        "usage": {
            "input_tokens": 100,
            "output_tokens": 20,
            "total_tokens": getattr(usage, "total_tokens", 0),
            "cost_usd": 0.25,
            "cache_read_input_tokens": 7,
            "cache_creation_input_tokens": 3,
            "cost_source": None,
            "reasoning_tokens": 5,
            "usage_reported": True,
            "cost_unknown": False,
        },
    }
    assert run.iteration_count == 3
    assert (run.total_input_tokens, run.total_output_tokens, run.total_cost_usd) == (100, 20, 0.25)
    assert run.total_cache_read_tokens == 7
    assert run.total_cache_creation_tokens == 3
    assert run.total_reasoning_tokens == 5
    assert run.cancel_requested is False
    assert await state_store.get_pause_state("r1") is None
    assert await state_store.get_pii_mapping("r1") == {"<PERSON_1>": "Ada"}


async def test_finalize_run_compare_and_set(state_store: StateStore) -> None:
    await state_store.create_run("r1", "a")
    assert not await state_store.finalize_run(
        "r1", status="success", expected_current_status="waiting_approval"
    )
    assert (await state_store.get_run("r1")).status == "running"  # type: ignore[union-attr]
    assert await state_store.finalize_run(
        "r1", status="error", error="boom", expected_current_status="running"
    )
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "error" and run.error == "boom"
    assert not await state_store.finalize_run("missing", status="success")


async def test_finalize_run_if_status_in(state_store: StateStore) -> None:
    await state_store.create_run("r1", "a")
    assert not await state_store.finalize_run_if_status_in(
        "r1", status="cancelled", allowed_current_statuses=["waiting_human_input"]
    )
    assert not await state_store.finalize_run_if_status_in(
        "r1", status="cancelled", allowed_current_statuses=[]
    )
    assert await state_store.finalize_run_if_status_in(
        "r1", status="cancelled", allowed_current_statuses=["running", "waiting_approval"]
    )
    assert (await state_store.get_run("r1")).status == "cancelled"  # type: ignore[union-attr]


async def test_finalize_without_usage_keeps_totals(state_store: StateStore) -> None:
    await state_store.create_run("r1", "a")
    await state_store.finalize_run(
        "r1",
        status="success",
        total_usage=UsageStats(input_tokens=5, output_tokens=6, cost_usd=None),
    )
    run = await state_store.get_run("r1")
    assert run is not None
    assert (run.total_input_tokens, run.total_output_tokens, run.total_cost_usd) == (5, 6, None)
    # 0.4.1 keeps the run total in output_data, unreported values as null (both dialects).
    assert run.answer is None and run.output_data is not None
    assert list(run.output_data) == ["usage"]
    assert run.output_data["usage"]["cost_usd"] is None
    assert run.output_data["usage"]["cache_read_input_tokens"] is None


async def test_pause_claim_and_submit(state_store: StateStore) -> None:
    await state_store.create_run("r1", "a")
    pause = {"pending_tool_calls": [{"id": "tc1"}], "nested": {"keep": 1, "drop": 2}}
    await state_store.pause_run(
        "r1", status="waiting_client_tool", pause_data=pause, pii_mapping={"<E>": "e@x"}
    )
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "waiting_client_tool"
    assert await state_store.get_pause_state("r1") == pause
    assert not await state_store.claim_paused_run("r1", expected_status="waiting_human_input")
    assert await state_store.submit_and_claim(
        "r1",
        expected_status="waiting_client_tool",
        submitted_data={
            "submitted_tool_results": [{"id": "tc1", "ok": True}],
            "nested": {"n": None},
        },
    )
    # Top-level merge: submitted keys replace whole values, others stay.
    assert await state_store.get_pause_state("r1") == {
        "pending_tool_calls": [{"id": "tc1"}],
        "nested": {"n": None},
        "submitted_tool_results": [{"id": "tc1", "ok": True}],
    }
    assert (await state_store.get_run("r1")).status == "running"  # type: ignore[union-attr]
    assert not await state_store.submit_and_claim(
        "r1", expected_status="waiting_client_tool", submitted_data={"late": 1}
    )
    assert "late" not in (await state_store.get_pause_state("r1") or {})
    # pause again, then a plain claim
    await state_store.pause_run("r1", status="waiting_approval", pause_data={"p": 2})
    assert await state_store.claim_paused_run("r1", expected_status="waiting_approval")
    assert not await state_store.claim_paused_run("r1", expected_status="waiting_approval")
    assert await state_store.get_pii_mapping("r1") == {"<E>": "e@x"}
    assert await state_store.get_pii_mapping("missing") is None


async def test_pause_refuses_terminal_and_missing_runs(state_store: StateStore) -> None:
    await state_store.create_run("r1", "a")
    await state_store.finalize_run("r1", status="cancelled")
    # StateStore.pause_run answers None, as 0.4.1's; the store function keeps the answer.
    assert await state_store.pause_run("r1", status="waiting_approval", pause_data={}) is None
    assert (await state_store.get_run("r1")).status == "cancelled"  # type: ignore[union-attr]
    assert not await runs.pause_run(
        state_store.engine, "r1", status="waiting_approval", pause_data={}
    )
    assert not await runs.pause_run(
        state_store.engine, "missing", status="waiting_approval", pause_data={}
    )
    assert await state_store.get_run("missing") is None


async def test_request_cancel(state_store: StateStore) -> None:
    await state_store.create_run("r1", "a")
    assert not await state_store.is_cancel_requested("r1")
    assert await state_store.request_cancel("r1")
    assert await state_store.request_cancel("r1")  # idempotent on a live run
    assert await state_store.is_cancel_requested("r1")
    await state_store.finalize_run("r1", status="cancelled")
    assert not await state_store.is_cancel_requested("r1")
    assert not await state_store.request_cancel("r1")  # terminal: refused
    assert not await state_store.is_cancel_requested("r1")
    assert not await state_store.request_cancel("missing")
    assert not await state_store.is_cancel_requested("missing")


async def test_touch_progress_moves_only_progress(state_store: StateStore) -> None:
    await state_store.create_run("r1", "a")
    before = await state_store.get_run("r1")
    await asyncio.sleep(0.01)
    await state_store.touch_progress("r1")
    after = await state_store.get_run("r1")
    assert before is not None and after is not None
    assert after.last_progress_at is not None and before.last_progress_at is not None
    assert after.last_progress_at > before.last_progress_at
    assert after.updated_at == before.updated_at
    await state_store.touch_progress("missing")  # no row, no error


async def _make_runs(store: StateStore) -> None:
    specs = [
        ("r1", "alpha", "t1", {"thread_id": "a", "n": 1}, None),
        ("r2", "beta", "t1", {"thread_id": "b", "n": 2}, None),
        ("r3", "alpha", "t2", {"thread_id": "a", "flag": True}, "r1"),
        ("r4", "alpha", None, None, None),
    ]
    for run_id, agent, tenant, meta, parent in specs:
        await store.create_run(run_id, agent, tenant_id=tenant, meta=meta, parent_run_id=parent)
        await asyncio.sleep(0.002)
    await store.finalize_run("r2", status="error")


async def test_list_and_count_runs_filters(state_store: StateStore) -> None:
    await _make_runs(state_store)

    async def ids(**filters: object) -> list[str]:
        runs = await state_store.list_runs(**filters)  # type: ignore[arg-type]
        count = await state_store.count_runs(
            **{k: v for k, v in filters.items() if k not in ("limit", "offset")}  # type: ignore[arg-type]
        )
        if "limit" not in filters and "offset" not in filters:
            assert count == len(runs)
        return [r.id for r in runs]

    assert await ids() == ["r4", "r3", "r2", "r1"]
    assert await ids(status="error") == ["r2"]
    assert await ids(status=["running", "error"]) == ["r4", "r3", "r2", "r1"]
    assert await ids(status=[]) == []
    assert await ids(agent_name="alpha") == ["r4", "r3", "r1"]
    assert await ids(tenant_id="t1") == ["r2", "r1"]
    assert await ids(parent_run_id="r1") == ["r3"]
    assert await ids(metadata_filter={"thread_id": "a"}) == ["r3", "r1"]
    assert await ids(metadata_filter={"thread_id": "a", "n": 1}) == ["r1"]
    assert await ids(metadata_filter={"n": 1.0}) == ["r1"]
    assert await ids(metadata_filter={"n": "1"}) == []
    assert await ids(metadata_filter={"flag": True}) == ["r3"]
    assert await ids(metadata_filter={"flag": 1}) == []
    assert await ids(metadata_filter={"missing": None}) == []
    assert await ids(agent_name="alpha", tenant_id="t2", status="running") == ["r3"]
    assert await ids(limit=2) == ["r4", "r3"]
    assert await ids(limit=2, offset=2) == ["r2", "r1"]
    assert await ids(limit=0) == ["r4"]  # clamped to 1
    assert await ids(limit=5000, offset=-3) == ["r4", "r3", "r2", "r1"]
    all_runs = await state_store.list_runs()
    cut = all_runs[1].created_at
    assert cut is not None
    assert await ids(started_after=cut) == ["r4", "r3"]
    assert await ids(started_before=cut) == ["r2", "r1"]
    assert await ids(started_after=cut.astimezone(timezone_plus_5())) == ["r4", "r3"]


def timezone_plus_5():  # type: ignore[no-untyped-def]
    from datetime import timezone

    return timezone(timedelta(hours=5))


async def test_null_metadata_value_matches_explicit_null(state_store: StateStore) -> None:
    await state_store.create_run("r1", "a", meta={"k": None})
    await state_store.create_run("r2", "a", meta={"other": 1})
    runs = await state_store.list_runs(metadata_filter={"k": None})
    assert [r.id for r in runs] == ["r1"]


async def test_sweep_stale_runs(state_store: StateStore) -> None:
    await state_store.create_run("started", "a")
    await state_store.save_run_event("started", event_type="run.started", sequence_index=0)
    await state_store.save_run_event("started", event_type="llm.completed", sequence_index=1)
    await state_store.create_run("never", "a")
    await state_store.create_run("done", "a")
    await state_store.finalize_run("done", status="success")
    await state_store.create_run("waiting", "a")
    await state_store.pause_run("waiting", status="waiting_human_input", pause_data={})
    await asyncio.sleep(0.05)
    await state_store.create_run("fresh", "a")

    swept = await state_store.sweep_stale_runs(timedelta(milliseconds=40))
    by_id = {s.run_id: s for s in swept}
    assert set(by_id) == {"started", "never"}
    assert by_id["started"].failure_reason == "stale_running"
    assert by_id["never"].failure_reason == "never_started"
    assert by_id["started"].previous_status == "running"
    assert by_id["started"].swept_at.tzinfo is UTC

    run = await state_store.get_run("started")
    assert run is not None and run.status == "error" and run.failure_reason == "stale_running"
    events = await state_store.get_run_events("started")
    assert [(e.sequence_index, e.event_type) for e in events][-1] == (2, "run.interrupted")
    assert events[-1].data == {"failure_reason": "stale_running"}
    never_events = await state_store.get_run_events("never")
    assert [(e.sequence_index, e.event_type, e.data) for e in never_events] == [
        (0, "run.interrupted", {"failure_reason": "never_started"})
    ]
    assert await state_store.sweep_stale_runs(timedelta(milliseconds=40)) == []


async def test_sweep_abandoned_runs(state_store: StateStore) -> None:
    await state_store.create_run("w1", "a")
    await state_store.save_run_event("w1", event_type="run.started", sequence_index=0)
    await state_store.pause_run("w1", status="waiting_approval", pause_data={"x": 1})
    await state_store.create_run("running", "a")
    await asyncio.sleep(0.05)
    await state_store.create_run("w2", "a")
    await state_store.pause_run("w2", status="waiting_client_tool", pause_data={})
    swept = await state_store.sweep_abandoned_runs(timedelta(milliseconds=40))
    assert [(s.run_id, s.previous_status, s.failure_reason) for s in swept] == [
        ("w1", "waiting_approval", "abandoned_waiting")
    ]
    run = await state_store.get_run("w1")
    assert run is not None and run.status == "error" and run.failure_reason == "abandoned_waiting"
    events = await state_store.get_run_events("w1")
    assert [(e.sequence_index, e.event_type, e.data) for e in events] == [
        (0, "run.started", None),
        (1, "run.abandoned", {"failure_reason": "abandoned_waiting"}),
    ]
    assert (await state_store.get_run("running")).status == "running"  # type: ignore[union-attr]


async def test_sweep_leaves_a_run_that_progressed(
    state_store: StateStore, database_url: str, dialect: str
) -> None:
    """The race, for real: the sweeper has read its candidates when the run's own
    writer (holding the row / the write lock) records progress and commits; the
    sweeper's compare-and-set then sees fresh data and leaves the run alone."""
    await state_store.create_run("r1", "a")
    await asyncio.sleep(0.05)
    now = datetime.now(UTC)
    if dialect == "sqlite":
        raw = sqlite3.connect(database_url.split(":///", 1)[1], isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")
        raw.execute(
            "UPDATE agent_runs SET last_progress_at = ? WHERE id = 'r1'",
            (now.isoformat(timespec="microseconds"),),
        )
        commit = raw.execute
    else:
        raw = await asyncpg.connect(database_url)
        tx = raw.transaction()
        await tx.start()
        await raw.execute("UPDATE agent_runs SET last_progress_at = $1 WHERE id = 'r1'", now)
    sweep = asyncio.create_task(state_store.sweep_stale_runs(timedelta(milliseconds=40)))
    await asyncio.sleep(0.3)  # the sweeper has its candidates and waits on the lock
    assert not sweep.done()
    if dialect == "sqlite":
        commit("COMMIT")
        raw.close()
    else:
        await tx.commit()
        await raw.close()
    assert await sweep == []
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "running" and run.last_progress_at == now
    assert await state_store.get_run_events("r1") == []


async def test_delegation_info(state_store: StateStore) -> None:
    await state_store.create_run("root", "planner")
    await state_store.create_run("c1", "search", parent_run_id="root", delegation_level=1)
    await state_store.create_run("c2", "scrape", parent_run_id="root", delegation_level=1)
    await state_store.create_run("g1", "fetch", parent_run_id="c1", delegation_level=2)
    await state_store.finalize_run(
        "c1",
        status="success",
        total_usage=UsageStats(input_tokens=10, output_tokens=1, cost_usd=0.5),
    )
    await state_store.finalize_run(
        "g1", status="error", total_usage=UsageStats(input_tokens=3, output_tokens=2, cost_usd=None)
    )
    await state_store.finalize_run(
        "c2",
        status="success",
        total_usage=UsageStats(input_tokens=4, output_tokens=4, cost_usd=0.25),
    )

    info = await state_store.get_delegation_info("root")
    assert info is not None
    assert info.parent is None and info.ancestry == [] and info.ancestry_complete
    assert [c.run_id for c in info.children] == ["c1", "c2"]
    summary = info.subtree_summary
    assert summary.direct_child_count == 2
    assert summary.descendant_count == 3
    assert summary.max_depth == 2
    assert summary.subtree_input_tokens == 17
    assert summary.subtree_output_tokens == 7
    assert summary.subtree_cost_usd == pytest.approx(0.75)
    assert summary.unknown_cost_count == 2  # root and g1
    assert summary.status_counts == {"running": 1, "success": 2, "error": 1}

    leaf = await state_store.get_delegation_info("g1")
    assert leaf is not None
    assert leaf.parent is not None and leaf.parent.resolved and leaf.parent.run_id == "c1"
    assert [a.run_id for a in leaf.ancestry] == ["root", "c1"]
    assert leaf.ancestry_complete
    assert leaf.children == []
    assert leaf.subtree_summary.descendant_count == 0
    assert leaf.subtree_summary.status_counts == {"error": 1}
    assert await state_store.get_delegation_info("missing") is None


async def test_list_runs_returns_aware_utc(state_store: StateStore) -> None:
    await state_store.create_run("r1", "a")
    (run,) = await state_store.list_runs()
    assert run.created_at is not None and run.created_at.tzinfo is UTC
    assert abs(run.created_at - datetime.now(UTC)) < timedelta(minutes=1)
