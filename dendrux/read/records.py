"""The public read records, each built from its query's row in exactly one place.

Records are frozen, slotted dataclasses with aware-UTC datetimes. A builder
reads its row by position; the column tuple declared right above it says which
column each position holds, and ``tests/test_read_columns.py`` checks every
read query of both dialects against that tuple, so the order is a checked
contract, not a comment. The SQL already turns NULL counters into 0 and costs
into floats; Python decodes only timestamps, JSON and booleans, with the
dialect's per-value readers looked up once per call.

``from_rows`` is the list builder every multi-row read uses; ``from_row``
builds one record through the class's own ``__init__``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, make_dataclass
from datetime import datetime
from typing import Any

from dendrux.db.engine import Dialect

Rows = Sequence[Any]
"""Rows as the driver returns them (indexable by position)."""


_TWINS: dict[type, Callable[..., Any]] = {}


def _twin(cls: type) -> Callable[..., Any]:
    """A mutable slotted twin of a flat, frozen, slotted record class: same slots, so
    the same memory layout, so a twin instance becomes a ``cls`` instance by
    ``__class__`` assignment (and is then an ordinary frozen ``cls`` instance).

    Only the ``from_rows`` list builders use it. Why: a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``; the twin's is
    plain slot stores. Measured on this machine (Python 3.11, a 6-field record):
    frozen ``__init__`` 1.70 us, twin + assignment 0.47 us, ``cls.__new__`` plus
    one slot-descriptor ``__set__`` per field 1.58 us; with hundreds of rows per
    read that was most of the library's time (``python -m bench reads``).
    ``tests/test_read_fast_path.py`` checks the result equals, hashes, pickles,
    copies and refuses assignment like a record built by ``__init__``.
    """
    twin = _TWINS.get(cls)
    if twin is not None:
        return twin
    twin = make_dataclass(
        f"_{cls.__name__}Twin",
        [f.name for f in fields(cls)],
        slots=True,
        repr=False,
        eq=False,
        match_args=False,
    )
    if getattr(twin, "__slots__", ()) != getattr(cls, "__slots__", None):  # inherited fields?
        raise TypeError(f"{cls.__name__} is not a flat slotted dataclass")
    _TWINS[cls] = twin
    return twin


# -- runs -------------------------------------------------------------------------------

REPLAY_META_KEY = "dendrux.replay"
"""``agent_runs.meta`` key of a run's `ReplaySummary` (0.4.1's; `dendrux.types` re-exports it)."""


@dataclass(frozen=True)
class ReplaySummary:
    """What a run replayed from earlier runs (``meta["dendrux.replay"]``): run ids
    replayed in full or as text only, whose reasoning was kept or dropped, and notes
    on what was left out. Lists, so not hashable (as 0.4.1's)."""

    runs_full: list[str] = field(default_factory=list)
    runs_text: list[str] = field(default_factory=list)
    reasoning_kept: list[str] = field(default_factory=list)
    reasoning_dropped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form kept under ``meta["dendrux.replay"]``."""
        return {
            "runs_full": list(self.runs_full),
            "runs_text": list(self.runs_text),
            "reasoning_kept": list(self.reasoning_kept),
            "reasoning_dropped": list(self.reasoning_dropped),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplaySummary:
        """Read the stored form back: unknown keys ignored, a missing or empty list ``[]``."""

        def items(key: str) -> list[str]:
            value = data.get(key)
            if isinstance(value, list):
                return list(value)
            return [] if not value else [value]

        return cls(
            items("runs_full"),
            items("runs_text"),
            items("reasoning_kept"),
            items("reasoning_dropped"),
            items("warnings"),
        )


def replay_of(meta: Any) -> ReplaySummary | None:
    """A run's `ReplaySummary` from its decoded ``meta``; None unless the key holds a dict.
    Most runs have no such key: one class test and one lookup per row."""
    if meta.__class__ is not dict:
        return None
    data = meta.get(REPLAY_META_KEY)
    return ReplaySummary.from_dict(data) if data.__class__ is dict else None


SUMMARY_COLUMNS = (
    "id", "agent_name", "status", "created_at", "updated_at", "iteration_count",
    "total_input_tokens", "total_output_tokens", "total_cache_read_tokens",
    "total_cache_creation_tokens", "total_cost_usd", "model", "parent_run_id",
    "delegation_level", "tenant_id", "total_reasoning_tokens", "meta",
)  # fmt: skip
"""``list_run_summaries`` (and its ``_by_meta`` twin): `RunSummary`'s fields, in order."""

RUN_COLUMNS = (
    *SUMMARY_COLUMNS, "strategy", "input_data", "output_data", "error", "failure_reason",
    "cancel_requested", "pause_requested", "retry_of_run_id", "last_progress_at",
)  # fmt: skip
"""``get_run`` and ``list_runs`` (and ``list_runs_by_meta``): `RunDetail` reads all but
``last_progress_at``; the upstream-named ``RunRecord`` (`dendrux.state.rowmap`) all 26."""
RUN_OUTPUT_DATA = RUN_COLUMNS.index("output_data")


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One run in a listing."""

    run_id: str
    agent_name: str
    status: str
    created_at: datetime | None
    updated_at: datetime | None
    iteration_count: int
    total_input_tokens: int
    total_output_tokens: int
    total_cache_read_tokens: int
    total_cache_creation_tokens: int
    total_cost_usd: float | None
    model: str | None
    parent_run_id: str | None
    delegation_level: int
    tenant_id: str | None = None
    total_reasoning_tokens: int = 0
    meta: dict[str, Any] | None = None
    replay: ReplaySummary | None = None
    """What the run replayed from earlier runs (0.4.1), from ``meta["dendrux.replay"]``."""

    @classmethod
    def from_rows(cls, rows: Rows, d: Dialect) -> list[RunSummary]:
        """``list_run_summaries`` rows (`SUMMARY_COLUMNS`)."""
        ts, js, make = d.read_ts, d.read_json, _twin(cls)
        out = []
        for r in rows:
            meta = js(r[16])
            replay = None
            if meta.__class__ is dict and REPLAY_META_KEY in meta:  # rare: one lookup
                replay = replay_of(meta)
            summary = make(
                r[0], r[1], r[2], ts(r[3]), ts(r[4]), r[5], r[6], r[7], r[8], r[9], r[10],
                r[11], r[12], r[13], r[14], r[15], meta, replay,
            )  # fmt: skip
            summary.__class__ = cls
            out.append(summary)
        return out


@dataclass(frozen=True, slots=True)
class RunDetail(RunSummary):
    """One run's full anchor row (never its pause data or PII mapping)."""

    strategy: str | None = None
    input_data: Any = None
    answer: Any = None
    error: str | None = None
    failure_reason: str | None = None
    cancel_requested: bool = False
    pause_requested: bool = False
    retry_of_run_id: str | None = None
    """The run this one retried (the dashboard's retry lineage); None for a first attempt."""

    @classmethod
    def from_row(cls, r: Any, d: Dialect, output_data: Any = None) -> RunDetail:
        """A ``get_run`` / ``list_runs`` row (`RUN_COLUMNS`). ``output_data``: the row's
        ``output_data`` already decoded, when the caller needs it too (decoded here
        otherwise), so no column is decoded twice."""
        ts, js = d.read_ts, d.read_json
        if output_data is None:
            output_data = js(r[RUN_OUTPUT_DATA])
        answer = output_data.get("answer") if isinstance(output_data, dict) else None
        meta, flag = js(r[16]), d.read_bool
        return cls(
            r[0], r[1], r[2], ts(r[3]), ts(r[4]), r[5], r[6], r[7], r[8], r[9], r[10], r[11],
            r[12], r[13], r[14], r[15], meta, replay_of(meta), r[17], js(r[18]), answer, r[20],
            r[21], flag(r[22]), flag(r[23]), r[24],
        )  # fmt: skip


# -- events, traces, tool calls, LLM calls -------------------------------------------------

EVENT_COLUMNS = (
    "sequence_index", "iteration_index", "event_type", "correlation_id", "data", "created_at",
    "id",
)  # fmt: skip
"""``get_run_events``: `StoredEvent`'s fields, then the row id (``RunEventRecord``)."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One timeline event."""

    sequence_index: int
    iteration_index: int
    event_type: str
    correlation_id: str | None
    data: dict[str, Any] | None
    created_at: datetime | None

    @classmethod
    def from_row(cls, r: Any, d: Dialect) -> StoredEvent:
        """One ``get_run_events`` row (`EVENT_COLUMNS`)."""
        return cls(r[0], r[1], r[2], r[3], d.read_json(r[4]), d.read_ts(r[5]))

    @classmethod
    def from_rows(cls, rows: Rows, d: Dialect) -> list[StoredEvent]:
        """``get_run_events`` rows, as `from_row` builds them, through the fast path."""
        ts, js, make = d.read_ts, d.read_json, _twin(cls)
        out = []
        for r in rows:
            event = make(r[0], r[1], r[2], r[3], js(r[4]), ts(r[5]))
            event.__class__ = cls
            out.append(event)
        return out


TRACE_COLUMNS = ("role", "content", "order_index", "meta", "created_at", "phase", "id")
"""``get_traces``: `TraceEntry`'s fields, then the row id (``TraceRecord``)."""


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One message of the conversation."""

    role: str
    content: str
    order_index: int
    meta: dict[str, Any] | None
    created_at: datetime | None
    phase: str | None = None
    """``meta["phase"]`` (0.4.1: ``commentary`` / ``final_answer`` on assistant entries),
    extracted by the query."""

    @classmethod
    def from_row(cls, r: Any, d: Dialect) -> TraceEntry:
        """One ``get_traces`` row (`TRACE_COLUMNS`)."""
        return cls(r[0], r[1], r[2], d.read_json(r[3]), d.read_ts(r[4]), r[5])

    @classmethod
    def from_rows(cls, rows: Rows, d: Dialect) -> list[TraceEntry]:
        """``get_traces`` rows, as `from_row` builds them, through the fast path."""
        ts, js, make = d.read_ts, d.read_json, _twin(cls)
        out = []
        for r in rows:
            entry = make(r[0], r[1], r[2], js(r[3]), ts(r[4]), r[5])
            entry.__class__ = cls
            out.append(entry)
        return out


TOOL_COLUMNS = (
    "iteration_index", "tool_name", "tool_call_id", "provider_tool_call_id", "target", "params",
    "result", "success", "error_message", "duration_ms", "created_at", "id",
)  # fmt: skip
"""``get_tool_calls``: `ToolInvocation`'s fields, then the row id (``ToolCallReadRecord``)."""


@dataclass(frozen=True, slots=True)
class ToolInvocation:
    """One tool execution. A stored NULL iteration reads as 0 (as 0.4.1 reads it)."""

    iteration: int
    tool_name: str
    tool_call_id: str
    provider_tool_call_id: str | None
    target: str
    params: dict[str, Any] | None
    result: Any
    success: bool
    error: str | None
    duration_ms: int | None
    created_at: datetime | None

    @classmethod
    def from_row(cls, r: Any, d: Dialect) -> ToolInvocation:
        """One ``get_tool_calls`` row (`TOOL_COLUMNS`)."""
        js = d.read_json
        return cls(
            r[0], r[1], r[2], r[3], r[4], js(r[5]), js(r[6]), d.read_bool(r[7]), r[8], r[9],
            d.read_ts(r[10]),
        )  # fmt: skip

    @classmethod
    def from_rows(cls, rows: Rows, d: Dialect) -> list[ToolInvocation]:
        """``get_tool_calls`` rows, as `from_row` builds them, through the fast path."""
        ts, js, flag, make = d.read_ts, d.read_json, d.read_bool, _twin(cls)
        out = []
        for r in rows:
            tool = make(
                r[0], r[1], r[2], r[3], r[4], js(r[5]), js(r[6]), flag(r[7]), r[8], r[9],
                ts(r[10]),
            )  # fmt: skip
            tool.__class__ = cls
            out.append(tool)
        return out


LLM_CALL_COLUMNS = (
    "iteration_index", "provider", "model", "input_tokens", "output_tokens", "total_tokens",
    "cache_read_input_tokens", "cache_creation_input_tokens", "cost_usd", "duration_ms",
    "provider_request", "provider_response", "created_at", "id", "reasoning_tokens", "reasoning",
)  # fmt: skip
"""``get_llm_calls``: `LLMCall`'s fields, in order."""


@dataclass(frozen=True, slots=True)
class LLMCall:
    """One LLM call: usage, cache, cost and the raw provider payloads."""

    iteration: int
    provider: str | None
    model: str | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cache_read_input_tokens: int | None
    cache_creation_input_tokens: int | None
    cost_usd: float | None
    duration_ms: int | None
    provider_request: Any
    provider_response: Any
    created_at: datetime | None
    id: str | None = None
    """The interaction id: the ``correlation_id`` of its ``llm.completed`` event."""
    reasoning_tokens: int | None = None
    reasoning: str | None = None
    """``semantic_response["reasoning"]``, extracted by the query (the payload stays unread)."""

    @classmethod
    def from_rows(cls, rows: Rows, d: Dialect) -> list[LLMCall]:
        """``get_llm_calls`` rows (`LLM_CALL_COLUMNS`)."""
        ts, js, make = d.read_ts, d.read_json, _twin(cls)
        out = []
        for r in rows:
            call = make(
                r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], js(r[10]),
                js(r[11]), ts(r[12]), r[13], r[14], r[15],
            )  # fmt: skip
            call.__class__ = cls
            out.append(call)
        return out


# -- notes ------------------------------------------------------------------------------

NOTE_COLUMNS = (
    "id", "run_id", "text", "metadata", "created_at", "delivered_at", "delivered_iteration",
)  # fmt: skip
"""``get_notes`` / ``get_undelivered_notes``: `RunNote`'s fields, in order."""


@dataclass(frozen=True, slots=True)
class RunNote:
    """A note submitted to a run's inbox. ``delivered_at`` / ``delivered_iteration`` stay
    None until the runner handed it to the model (a note undelivered on a finished run
    was never seen); ``metadata`` is the application's own and never reaches the model."""

    note_id: str
    run_id: str
    text: str
    metadata: Any
    created_at: datetime | None
    delivered_at: datetime | None
    delivered_iteration: int | None

    @classmethod
    def from_rows(cls, rows: Rows, d: Dialect) -> list[RunNote]:
        """``get_notes`` rows (`NOTE_COLUMNS`)."""
        ts, js = d.read_ts, d.read_json
        return [cls(r[0], r[1], r[2], js(r[3]), ts(r[4]), ts(r[5]), r[6]) for r in rows]


# -- pauses -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PausePair:
    """A ``run.paused`` event and the ``run.resumed`` that ended it (None while active)."""

    pause_sequence_index: int
    pause_at: datetime | None
    resume_sequence_index: int | None
    resume_at: datetime | None
    reason: str
    pending_tool_calls: list[Any]
    submitted_results: list[Any]
    user_input: Any

    @classmethod
    def from_rows(cls, rows: Rows, d: Dialect) -> list[PausePair]:
        """Pause and resume events (``get_run_events`` rows in order, `EVENT_COLUMNS`) as
        pairs; each event is decoded once, straight from its row. An unpaired pause at
        the end is the active pause; a pause followed by another pause is closed
        without a resume."""
        ts, js, make = d.read_ts, d.read_json, _twin(cls)
        pairs: list[PausePair] = []

        def close(pause: tuple[Any, ...], resume: tuple[Any, ...] | None) -> None:
            # As 0.4.1 reads them: a missing reason is "", missing lists are []. The
            # common shapes (a dict, a str, lists) pass by one class test each.
            paused = pause[2] if pause[2].__class__ is dict else {}
            resumed = {}
            if resume is not None and resume[2].__class__ is dict:
                resumed = resume[2]
            reason = paused.get("status")
            if reason.__class__ is not str:
                reason = "" if reason is None else str(reason)
            pending = paused.get("pending_tool_calls")
            if pending.__class__ is not list:
                pending = _as_list(pending)
            submitted = resumed.get("submitted_results")
            if submitted.__class__ is not list:
                submitted = _as_list(submitted)
            pair = make(
                pause[0], pause[1],
                resume[0] if resume is not None else None,
                resume[1] if resume is not None else None,
                reason, pending, submitted, resumed.get("user_input"),
            )  # fmt: skip
            pair.__class__ = cls
            pairs.append(pair)

        open_pause: tuple[Any, ...] | None = None
        for r in rows:
            event = (r[0], ts(r[5]), js(r[4]))
            if r[2] == "run.paused":
                if open_pause is not None:  # paused twice without a resume in between
                    close(open_pause, None)
                open_pause = event
            elif open_pause is not None:
                close(open_pause, event)
                open_pause = None
        if open_pause is not None:
            close(open_pause, None)
        return pairs


def _as_list(value: Any) -> list[Any]:
    """A stored list as a list; nothing (or an empty value) as ``[]``; anything else as a
    one-item list, so odd data still reads."""
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    return [value] if value else []


DATETIME_FIELDS: dict[type, tuple[str, ...]] = {
    RunSummary: ("created_at", "updated_at"),
    RunDetail: ("created_at", "updated_at"),
    StoredEvent: ("created_at",),
    TraceEntry: ("created_at",),
    ToolInvocation: ("created_at",),
    LLMCall: ("created_at",),
    PausePair: ("pause_at", "resume_at"),
    RunNote: ("created_at", "delivered_at"),
}
"""The fields of each record that hold an aware-UTC datetime (or None), for serialisers
(ISO-8601 output) that must not guess from annotation text; a test checks it against
the resolved field types."""

__all__ = [
    "DATETIME_FIELDS",
    "EVENT_COLUMNS",
    "LLM_CALL_COLUMNS",
    "NOTE_COLUMNS",
    "REPLAY_META_KEY",
    "RUN_COLUMNS",
    "SUMMARY_COLUMNS",
    "TOOL_COLUMNS",
    "TRACE_COLUMNS",
    "LLMCall",
    "PausePair",
    "ReplaySummary",
    "RunDetail",
    "RunNote",
    "RunSummary",
    "StoredEvent",
    "ToolInvocation",
    "TraceEntry",
]
