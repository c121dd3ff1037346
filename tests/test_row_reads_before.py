"""``before=`` (0.4.1): an exclusive, timezone-aware upper bound on ``created_at`` on
every per-run row read that takes it, checked before any SQL; on both dialects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.state import StateStore
from dendrux.store import RunStore
from dendrux.types import UsageStats


async def _seed(store: StateStore) -> None:
    """Three events, tool calls and LLM calls in run r1, one of each per iteration."""
    await store.create_run("r1", "agent")
    for i in range(3):
        await store.save_run_event(
            "r1", event_type="step.done", sequence_index=i, iteration_index=i
        )
        await store.save_tool_call(
            "r1",
            tool_call_id=f"tc{i}",
            provider_tool_call_id=None,
            tool_name="t",
            target="server",
            params=None,
            result_payload="{}",
            success=True,
            duration_ms=1,
            iteration_index=i,
        )
        usage = UsageStats(input_tokens=i, output_tokens=1, total_tokens=i + 1)
        await store.save_llm_interaction("r1", iteration_index=i, usage=usage)


Read = Callable[[StateStore, RunStore, Any], Awaitable[list[Any]]]
READS: dict[str, tuple[Read, str]] = {
    "RunStore.get_events": (lambda s, r, b: r.get_events("r1", before=b), "sequence_index"),
    "RunStore.get_llm_calls": (lambda s, r, b: r.get_llm_calls("r1", before=b), "iteration"),
    "RunStore.get_tool_invocations": (
        lambda s, r, b: r.get_tool_invocations("r1", before=b),
        "iteration",
    ),
    "StateStore.get_run_events": (
        lambda s, r, b: s.get_run_events("r1", before=b),
        "sequence_index",
    ),
    "StateStore.get_tool_calls": (
        lambda s, r, b: s.get_tool_calls("r1", before=b),
        "iteration_index",
    ),
    "StateStore.get_llm_interactions": (
        lambda s, r, b: s.get_llm_interactions("r1", before=b),
        "iteration_index",
    ),
}


@pytest.mark.parametrize("name", sorted(READS))
async def test_before_is_an_exclusive_upper_bound(state_store: StateStore, name: str) -> None:
    await _seed(state_store)
    read, key = READS[name]
    reader = RunStore(state_store)
    rows = await read(state_store, reader, None)
    assert [getattr(r, key) for r in rows] == [0, 1, 2]
    # exactly the third row's time: it is left out (strictly before), the others stay
    cut = await read(state_store, reader, rows[2].created_at)
    assert [getattr(r, key) for r in cut] == [
        getattr(r, key) for r in rows if r.created_at < rows[2].created_at
    ]
    assert 2 not in [getattr(r, key) for r in cut]
    assert await read(state_store, reader, rows[0].created_at) == []
    later = datetime.now(UTC) + timedelta(hours=1)
    assert await read(state_store, reader, later) == rows
    # any aware zone is the same instant
    east = rows[2].created_at.astimezone(timezone(timedelta(hours=5)))
    assert await read(state_store, reader, east) == cut


@pytest.mark.parametrize("name", sorted(READS))
async def test_bad_before_is_refused_naming_it(state_store: StateStore, name: str) -> None:
    read, _ = READS[name]
    reader = RunStore(state_store)
    with pytest.raises(InvalidArgumentError, match="before"):
        await read(state_store, reader, datetime(2026, 1, 1))  # naive
    with pytest.raises(InvalidArgumentTypeError, match="before"):
        await read(state_store, reader, "2026-01-01T00:00:00Z")


async def test_before_combines_with_the_other_filters(state_store: StateStore) -> None:
    await _seed(state_store)
    reader = RunStore(state_store)
    later = datetime.now(UTC) + timedelta(hours=1)
    calls = await reader.get_llm_calls("r1", iteration=1, before=later)
    assert [c.iteration for c in calls] == [1]
    tools = await state_store.get_tool_calls("r1", limit=1, offset=1, before=later)
    assert [t.tool_call_id for t in tools] == ["tc1"]
    events = await state_store.get_run_events(
        "r1", after_sequence_index=0, event_types=["step.done"], before=later
    )
    assert [e.sequence_index for e in events] == [1, 2]
