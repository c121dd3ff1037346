"""RunStore's fast read path: records built by column position, and frozen all the same.

`dendrux.read.records` builds lists of records through a mutable slotted twin
whose instances become the record class by ``__class__`` assignment (the column
order is checked in tests/test_read_columns.py). These tests hold it to its
promise on both dialects: what comes out is an ordinary frozen, slotted record
equal to one built through its own ``__init__``.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import UTC
from typing import Any

import pytest

from dendrux.state import StateStore
from dendrux.store import (
    LLMCall,
    PausePair,
    RunStore,
    RunSummary,
    StoredEvent,
    ToolInvocation,
    TraceEntry,
)
from dendrux.types import UsageStats


async def _filled(state_store: StateStore) -> None:
    await state_store.create_run("r1", "agent", meta={"k": 1}, tenant_id="t")
    await state_store.save_run_event("r1", event_type="run.started", data={"a": [1]})
    await state_store.save_trace("r1", "user", "hi", order_index=0, meta={"m": True})
    await state_store.save_tool_call(
        "r1",
        tool_call_id="tc1",
        provider_tool_call_id="toolu_1",
        tool_name="refund",
        target="server",
        duration_ms=12,
        params={"order": 1},
        result_payload='{"ok": true}',
        success=True,
        iteration_index=1,
    )
    await state_store.save_llm_interaction(
        "r1",
        iteration_index=1,
        usage=UsageStats(input_tokens=10, output_tokens=5, cost_usd=0.25),
        provider_request={"p": 1},
    )


def _records(store_result: dict[str, list[Any]]) -> list[Any]:
    return [record for records in store_result.values() for record in records]


async def test_fast_built_records_are_ordinary_frozen_records(
    state_store: StateStore, database_url: str
) -> None:
    await _filled(state_store)
    await state_store.create_run("r2", "agent")
    paused = {"status": "waiting_approval", "pending_tool_calls": [{"id": "t1"}]}
    await state_store.save_run_event("r2", event_type="run.paused", sequence_index=0, data=paused)
    resumed = {"submitted_results": [{"id": "t1"}], "user_input": "ok"}
    await state_store.save_run_event("r2", event_type="run.resumed", sequence_index=1, data=resumed)
    async with RunStore.from_database_url(database_url) as store:
        got = {
            "runs": await store.list_runs(tenant_id="t"),
            "events": await store.get_events("r1"),
            "traces": await store.get_traces("r1"),
            "tools": await store.get_tool_invocations("r1"),
            "llm": await store.get_llm_calls("r1"),
            "pauses": await store.get_pauses("r2"),
        }
    kinds = {
        "runs": RunSummary,
        "events": StoredEvent,
        "traces": TraceEntry,
        "tools": ToolInvocation,
        "llm": LLMCall,
        "pauses": PausePair,
    }
    for key, cls in kinds.items():
        assert len(got[key]) == 1, key
        record = got[key][0]
        assert type(record) is cls
        # Equal to (and hashing like) the same values through the class's own __init__.
        rebuilt = cls(**{f.name: getattr(record, f.name) for f in dataclasses.fields(cls)})
        assert record == rebuilt and repr(record) == repr(rebuilt)
        field = dataclasses.fields(cls)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, None)
        with pytest.raises(AttributeError):
            record.__dict__  # noqa: B018  (slotted: no instance dict)
        assert pickle.loads(pickle.dumps(record)) == record
        assert copy.deepcopy(record) == record
        assert type(dataclasses.replace(record)) is cls
    assert got["runs"][0].meta == {"k": 1} and got["runs"][0].tenant_id == "t"
    assert got["tools"][0].success is True and got["tools"][0].result == {"ok": True}
    call = got["llm"][0]
    assert (call.input_tokens, call.output_tokens, call.total_tokens) == (10, 5, 15)
    assert isinstance(call.cost_usd, float) and call.provider_request == {"p": 1}
    (pause,) = got.pop("pauses")
    assert (pause.reason, pause.pending_tool_calls) == ("waiting_approval", [{"id": "t1"}])
    assert (pause.resume_sequence_index, pause.user_input) == (1, "ok")
    assert pause.pause_at.tzinfo is UTC and pause.resume_at.tzinfo is UTC  # type: ignore[union-attr]
    assert all(r.created_at.tzinfo is UTC for r in _records(got))
