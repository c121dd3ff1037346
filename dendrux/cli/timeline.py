"""What ``show`` prints, read once through `RunStore`, and its JSON form."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dendrux.cli.render import offset_ms, record, run_seconds
from dendrux.errors import RunNotFoundError
from dendrux.read.filters import STREAM_PAGE

if TYPE_CHECKING:
    from dendrux.store import (
        LLMCall,
        PausePair,
        RunDetail,
        RunNote,
        RunStore,
        StoredEvent,
        ToolInvocation,
        TraceEntry,
    )
    from dendrux.types import ParentRef, RunBrief, SubtreeSummary

MAX_CHILD_DEPTH = 16


@dataclasses.dataclass
class Child:
    """A delegated run with its own children."""

    run_id: str
    agent_name: str
    status: str
    delegation_level: int
    detail: RunDetail | None
    children: list[Child]

    def as_json(self) -> dict[str, Any]:
        """The run's record (or its brief, once deleted) with its children nested."""
        base: dict[str, Any] = (
            record(self.detail)
            if self.detail is not None
            else {
                "run_id": self.run_id,
                "agent_name": self.agent_name,
                "status": self.status,
                "delegation_level": self.delegation_level,
            }
        )
        base["children"] = [c.as_json() for c in self.children]
        return base


@dataclasses.dataclass
class Timeline:
    """A run with its events, calls, pauses, delegation and conversation."""

    run: RunDetail
    events: list[StoredEvent]
    llm_calls: list[LLMCall]
    tools: list[ToolInvocation]
    pauses: list[PausePair]
    parent: ParentRef | None
    subtree: SubtreeSummary | None
    children: list[Child]
    traces: list[TraceEntry]
    notes: list[RunNote] = dataclasses.field(default_factory=list)
    """The run's inbox notes (0.4.1), delivered or not."""


async def all_events(store: RunStore, run_id: str, after: int | None) -> list[StoredEvent]:
    """Every event after the cursor, page by page (one bounded read at a time)."""
    events: list[StoredEvent] = []
    while True:
        page = await store.get_events(run_id, after_sequence_index=after, limit=STREAM_PAGE)
        events.extend(page)
        if len(page) < STREAM_PAGE:
            return events
        after = page[-1].sequence_index


async def _children(
    reader: RunStore, briefs: list[RunBrief], seen: set[str], depth: int
) -> list[Child]:
    """Each delegated run with its details and, recursively, its own children."""
    result = []
    for brief in briefs:
        if brief.run_id in seen:  # a cycle in parent links: show each run once
            continue
        seen.add(brief.run_id)
        info = await reader.get_delegation_info(brief.run_id)
        below = info.children if info is not None and depth < MAX_CHILD_DEPTH else []
        result.append(
            Child(
                run_id=brief.run_id,
                agent_name=brief.agent_name,
                status=brief.status,
                delegation_level=brief.delegation_level,
                detail=await reader.get_run(brief.run_id),
                children=await _children(reader, below, seen, depth + 1),
            )
        )
    return result


async def read_timeline(reader: RunStore, run_id: str) -> Timeline:
    """Everything about one run; `RunNotFoundError` when there is no such run."""
    run = await reader.get_run(run_id)
    if run is None:
        raise RunNotFoundError(run_id)
    info = await reader.get_delegation_info(run_id)
    return Timeline(
        run=run,
        events=await all_events(reader, run_id, None),
        llm_calls=await reader.get_llm_calls(run_id),
        tools=await reader.get_tool_invocations(run_id),
        pauses=await reader.get_pauses(run_id),
        parent=info.parent if info else None,
        subtree=info.subtree_summary if info else None,
        children=await _children(reader, info.children if info else [], {run_id}, 1),
        traces=await reader.get_traces(run_id),
        notes=await reader.get_notes(run_id),
    )


def wait_seconds(pause: PausePair, now: datetime) -> float | None:
    """How long a pause waited (so far, while it is still active)."""
    if pause.pause_at is None:
        return None
    end = pause.resume_at if pause.resume_sequence_index is not None else now
    return None if end is None else (end - pause.pause_at).total_seconds()


def timeline_json(t: Timeline, now: datetime) -> dict[str, Any]:
    """One document: each event joined to its LLM call, tool call or pause."""
    llm_by_id = {c.id: c for c in t.llm_calls if c.id}
    tool_by_id = {c.tool_call_id: c for c in t.tools}
    pause_by_seq: dict[int, dict[str, Any]] = {}
    pauses = []
    for pause in t.pauses:
        seconds = wait_seconds(pause, now)
        entry = {
            **record(pause),
            "active": pause.resume_sequence_index is None,
            "wait_ms": None if seconds is None else round(seconds * 1000, 3),
        }
        pauses.append(entry)
        pause_by_seq[pause.pause_sequence_index] = entry
        if pause.resume_sequence_index is not None:
            pause_by_seq[pause.resume_sequence_index] = entry
    timeline = []
    for event in t.events:
        offset = offset_ms(t.run.created_at, event.created_at)
        corr = event.correlation_id
        llm = llm_by_id.get(corr) if corr and event.event_type.startswith("llm.") else None
        tool = tool_by_id.get(corr) if corr else None
        timeline.append(
            {
                **record(event),
                "offset_ms": None if offset is None else round(offset, 3),
                "llm_call": record(llm) if llm else None,
                "tool_call": record(tool) if tool else None,
                "pause": pause_by_seq.get(event.sequence_index),
            }
        )
    seconds = run_seconds(t.run, now)
    return {
        "run": {
            **record(t.run),
            "duration_ms": None if seconds is None else round(seconds * 1000, 3),
        },
        "parent": record(t.parent) if t.parent else None,
        "subtree": record(t.subtree) if t.subtree else None,
        "timeline": timeline,
        "pauses": pauses,
        "llm_calls": [record(c) for c in t.llm_calls],
        "tool_calls": [record(c) for c in t.tools],
        "children": [c.as_json() for c in t.children],
        "conversation": [record(tr) for tr in t.traces],
        "notes": [record(n) for n in t.notes],
    }
