"""Bad input at the boundary (SPEC section 10), on both dialects.

Every public `StateStore` method and every store function in
`dendrux.state.runs` / `dendrux.state.rows` refuses bad arguments with the
exact dendrux exception class (`InvalidArgumentTypeError` is a `TypeError`,
`InvalidArgumentError` a `ValueError`) and a message naming the argument,
*before any SQL runs*: the engine is not even asked for a connection, and a
full dump of the six tables (plus the store's own reads) is unchanged after
the rejected calls. A closed `StateStore` raises `StoreClosedError` and never
reconnects.

Cases are grouped per (method, argument): one test per group and dialect,
every bad value of the group checked through the `StateStore` method and the
store function, every failure of the group reported at once.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError, StoreClosedError
from dendrux.state import StateStore, control, notes, retention, rows, runs, sweeps, usage

T = InvalidArgumentTypeError
V = InvalidArgumentError
NAN = float("nan")
INF = float("inf")

TABLES = (
    "agent_runs",
    "react_traces",
    "tool_calls",
    "token_usage",
    "llm_interactions",
    "run_events",
)


@dataclass
class Usage:
    """Any object with the usage attributes is accepted (SPEC 4)."""

    input_tokens: Any = 10
    output_tokens: Any = 5
    cost_usd: Any = 0.01
    cache_read_input_tokens: Any = None
    cache_creation_input_tokens: Any = None
    reasoning_tokens: Any = None


def _circular() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    return loop


# -- the valid call every bad value is swapped into --------------------------------
#
# Each base call is valid (test_base_calls_are_valid proves it) and most of them
# would write if they were not rejected, so "database unchanged" means something.


def base_kwargs(method: str) -> dict[str, Any]:
    usage = Usage()
    bases: dict[str, dict[str, Any]] = {
        "create_run": dict(
            run_id="new1",
            agent_name="agent",
            input_data={"q": "x"},
            model="m",
            strategy="react",
            parent_run_id="r1",
            delegation_level=1,
            tenant_id="acme",
            meta={"team": "a"},
            idempotency_key="k-new1",
            idempotency_fingerprint="fp",
            retry_of_run_id="t1",
        ),
        "finalize_run": dict(
            run_id="r1",
            status="success",
            answer="ok",
            error=None,
            iteration_count=3,
            total_usage=usage,
            expected_current_status="running",
            pii_mapping={"<P1>": "Bob"},
        ),
        "finalize_run_if_status_in": dict(
            run_id="r1",
            status="error",
            allowed_current_statuses=["running", "pending"],
            answer=None,
            error="boom",
            iteration_count=3,
            total_usage=usage,
            pii_mapping=None,
        ),
        "pause_run": dict(
            run_id="r1",
            status="waiting_client_tool",
            pause_data={"step": 2},
            iteration_count=2,
            pii_mapping={"<P2>": "Eve"},
        ),
        "request_pause": dict(run_id="r1", reason="lunch"),
        "try_pause_run": dict(
            run_id="r1",
            status="paused",
            pause_data={"step": 2},
            iteration_count=2,
            pii_mapping=None,
            total_usage=usage,
        ),
        "pause_with_event": dict(
            run_id="r1",
            status="paused",
            pause_data={"step": 2},
            event_data={"status": "paused"},
            iteration_count=2,
            pii_mapping=None,
            total_usage=usage,
        ),
        "finalize_with_event": dict(
            run_id="r1",
            status="error",
            allowed_current_statuses=["running"],
            event_type="run.error",
            event_data={"error": "boom"},
            error="boom",
            iteration_count=3,
            total_usage=usage,
            pii_mapping=None,
            failure_reason="crash",
        ),
        "get_run_control": dict(run_id="r1"),
        "add_note": dict(run_id="r1", note_id="note9", text="hi", metadata={"a": 1}),
        "get_notes": dict(run_id="r1", undelivered_only=True, tenant_id="acme"),
        "mark_notes_delivered": dict(run_id="r1", note_ids=["note9"], iteration=1),
        "run_usage": dict(run_id="r1"),
        "subtree_usage": dict(run_id="r1"),
        "get_subtree": dict(run_id="r1", tenant_id="acme"),
        "get_pause_state": dict(run_id="w1"),
        "get_pii_mapping": dict(run_id="w1"),
        "claim_paused_run": dict(run_id="w1", expected_status="waiting_approval"),
        "submit_and_claim": dict(
            run_id="w1", expected_status="waiting_approval", submitted_data={"approved": True}
        ),
        "request_cancel": dict(run_id="r1"),
        "is_cancel_requested": dict(run_id="r1"),
        "touch_progress": dict(run_id="r1"),
        "get_run": dict(run_id="r1"),
        "get_delegation_info": dict(run_id="r1"),
        "save_trace": dict(run_id="r1", role="user", content="hi", order_index=7, meta={"a": 1}),
        "save_tool_call": dict(
            run_id="r1",
            tool_call_id="tc9",
            provider_tool_call_id="call_9",
            tool_name="search",
            target="server",
            params={"q": "x"},
            result_payload='{"ok": true}',
            success=True,
            duration_ms=5,
            iteration_index=1,
            error_message=None,
            meta={"a": 1},
        ),
        "save_usage": dict(
            run_id="r1",
            iteration_index=1,
            usage=usage,
            model="m",
            provider="p",
            duration_ms=4,
            meta={"a": 1},
        ),
        "save_llm_interaction": dict(
            run_id="r1",
            iteration_index=1,
            usage=usage,
            model="m",
            provider="p",
            duration_ms=4,
            semantic_request={"messages": []},
            semantic_response={"text": "t"},
            provider_request={"body": {}},
            provider_response={"id": "x"},
            guardrail_findings=[{"kind": "pii"}],
            interaction_id="int9",
        ),
        "save_run_event": dict(
            run_id="r1",
            event_type="tool.completed",
            sequence_index=7,
            iteration_index=1,
            correlation_id="c9",
            data={"a": 1},
        ),
        "get_next_event_sequence": dict(run_id="r1"),
        "get_traces": dict(run_id="r1", limit=10, offset=0),
        "get_tool_calls": dict(run_id="r1", iteration_index=0, limit=10, offset=0),
        "get_llm_interactions": dict(run_id="r1", iteration_index=0, limit=10, offset=0),
        "get_run_events": dict(
            run_id="r1", after_sequence_index=-1, limit=10, event_types=["run.started"]
        ),
        "list_runs": dict(
            limit=10,
            offset=0,
            tenant_id="acme",
            status=["running"],
            agent_name="agent",
            parent_run_id=None,
            started_after=datetime(2020, 1, 1, tzinfo=UTC),
            started_before=datetime(2100, 1, 1, tzinfo=UTC),
            metadata_filter={"team": "a"},
        ),
        "count_runs": dict(
            tenant_id="acme",
            status="running",
            agent_name="agent",
            parent_run_id=None,
            started_after=datetime(2020, 1, 1, tzinfo=UTC),
            started_before=datetime(2100, 1, 1, tzinfo=UTC),
            metadata_filter={"team": "a"},
        ),
        "sweep_stale_runs": dict(older_than=timedelta(hours=1)),
        "sweep_abandoned_runs": dict(older_than=timedelta(hours=1)),
        "find_stale_runs": dict(older_than=timedelta(hours=1)),
        "find_abandoned_runs": dict(older_than=timedelta(hours=1)),
        "cancel_run": dict(run_id="r1", sequence_index=None, iteration_index=0, reason="stop"),
        "purge_runs": dict(
            before=datetime(2000, 1, 1, tzinfo=UTC),
            status=None,
            batch_size=10,
            dry_run=False,
            agent_name="agent",
            tenant_id="acme",
        ),
    }
    return bases[method]


METHODS = [
    "create_run",
    "finalize_run",
    "finalize_run_if_status_in",
    "pause_run",
    "request_pause",
    "try_pause_run",
    "pause_with_event",
    "finalize_with_event",
    "get_run_control",
    "add_note",
    "get_notes",
    "mark_notes_delivered",
    "run_usage",
    "subtree_usage",
    "get_subtree",
    "get_pause_state",
    "get_pii_mapping",
    "claim_paused_run",
    "submit_and_claim",
    "request_cancel",
    "is_cancel_requested",
    "touch_progress",
    "get_run",
    "get_delegation_info",
    "save_trace",
    "save_tool_call",
    "save_usage",
    "save_llm_interaction",
    "save_run_event",
    "get_next_event_sequence",
    "get_traces",
    "get_tool_calls",
    "get_llm_interactions",
    "get_run_events",
    "list_runs",
    "count_runs",
    "sweep_stale_runs",
    "sweep_abandoned_runs",
    "find_stale_runs",
    "find_abandoned_runs",
    "cancel_run",
    "purge_runs",
]
RUN_ID_METHODS = [m for m in METHODS if "run_id" in base_kwargs(m)]


def function_for(method: str) -> Callable[..., Awaitable[Any]]:
    module: Any = retention if method == "purge_runs" else runs if method in runs.__all__ else rows
    if method.startswith("find_"):
        module = sweeps
    elif method in control.__all__:
        module = control
    elif method in notes.__all__:
        module = notes
    elif method in usage.__all__:
        module = usage
    fn: Callable[..., Awaitable[Any]] = getattr(module, method)
    return fn


def test_every_public_method_is_covered() -> None:
    public = {
        name
        for cls in StateStore.__mro__[:-1]  # its own methods and its parts', not object's
        for name in vars(cls)
        if not name.startswith("_") and callable(getattr(StateStore, name))
    }
    public -= {"close", "from_database_url", "from_engine"}
    assert public == set(METHODS)
    for method in METHODS:
        assert callable(function_for(method)), method


# -- the bad values ----------------------------------------------------------------

BAD_REQUIRED_ID = (
    (1, T),
    (None, T),
    (1.5, T),
    (b"r1", T),
    ("", V),
    ("x" * 27, V),
    ("r\x001", V),
)
BAD_OPTIONAL_ID = ((1, T), (b"r1", T), ("", V), ("x" * 27, V), ("r\x001", V))
BAD_REQUIRED_TEXT = ((1, T), (None, T), (b"x", T), (["x"], T), ("a\x00b", V))
BAD_OPTIONAL_TEXT = ((1, T), (b"x", T), (True, T), ("a\x00b", V), ("\x00", V))
BAD_REQUIRED_INT = (
    ("0", T),
    ("1", T),
    (True, T),
    (False, T),
    (1.0, T),
    (None, T),
    (-1, V),
    (2**31, V),  # every required int is an INTEGER column: 32-bit on both dialects
    (2**63, V),
)
BAD_OPTIONAL_INT = (("0", T), (True, T), (False, T), (1.0, T), (-1, V), (2**63, V))
_BAD_JSON_CONTENT = (
    ({"s": {1, 2}}, T),
    ({"o": object()}, T),
    ({"deep": {"l": [1, object()]}}, T),
    ({"b": b"bytes"}, T),
    ({"x": NAN}, V),
    ({"x": INF}, V),
    ({"x": [1, -INF]}, V),
    ({"x": "a\x00"}, V),
    ({"k\x00": 1}, V),
    ({"d": {"e": ["ok", "\x00"]}}, V),
    ({"d": {"\x00": {}}}, V),
    (_circular(), V),
)
BAD_JSON_OBJECT = (([1], T), ("{}", T), (3, T), *_BAD_JSON_CONTENT)
BAD_JSON_ANY = (({1, 2}, T), (object(), T), (NAN, V), ("\x00", V), *_BAD_JSON_CONTENT)
BAD_PAYLOAD_DICT = ((None, T), *BAD_JSON_OBJECT)
BAD_WRITER_STATUS = (("done", V), ("", V), ("SUCCESS", V), (1, T), (None, T))
BAD_EXPECTED_STATUS = (("done", V), ("", V), (1, T), (None, T))
BAD_OPTIONAL_STATUS = (("done", V), ("", V), (1, T))
BAD_PII = (
    ({"<P1>": 1}, T),
    ({1: "x"}, T),
    (["x"], T),
    ("x", T),
    ({"<P1>": "a\x00"}, V),
    ({"<P\x00>": "a"}, V),
)
BAD_USAGE = (
    (object(), T),
    (None, T),
    ("10", T),
    (Usage(input_tokens="1"), T, "input_tokens"),
    (Usage(output_tokens=True), T, "output_tokens"),
    (Usage(input_tokens=-1), V, "input_tokens"),
    (Usage(output_tokens=1.5), T, "output_tokens"),
    (Usage(cost_usd="0.1"), T, "cost_usd"),
    (Usage(cost_usd=True), T, "cost_usd"),
    (Usage(cost_usd=NAN), V, "cost_usd"),
    (Usage(cost_usd=INF), V, "cost_usd"),
    (Usage(cost_usd=-0.5), V, "cost_usd"),
    (Usage(cache_read_input_tokens="3"), T, "cache_read_input_tokens"),
    (Usage(cache_creation_input_tokens=-3), V, "cache_creation_input_tokens"),
    (Usage(reasoning_tokens=False), T, "reasoning_tokens"),
)
BAD_EVENT_TYPE = (
    ("Run.Started", V),
    ("run started", V),
    ("", V),
    ("run-started", V),
    ("run.started\n", V),
    ("run.started\x00", V),
    ("rün.started", V),
    (None, T),
    (5, T),
    (b"run.started", T),
)
BAD_DURATION = (
    (5, T),
    (5.0, T),
    ("1h", T),
    (None, T),
    (timedelta(0), V),
    (timedelta(seconds=-1), V),
)
NAIVE = datetime(2026, 1, 1)
BAD_DATETIME = (
    (NAIVE, V),
    (datetime(2026, 1, 1, 12, 30), V),
    ("2026-01-01T00:00:00+00:00", T),
    (0, T),
)
BAD_METADATA_FILTER = (
    ({"a.b": 1}, V),
    ({"a b": 1}, V),
    ({"$x": 1}, V),
    ({"": 1}, V),
    ({"a'b": 1}, V),
    ({'a"b': 1}, V),
    ({"a\n": 1}, V),
    ({"a\x00": 1}, V),
    ({"a": [1]}, T),
    ({"a": {"b": 1}}, T),
    ({"a": object()}, T),
    ({"a": NAN}, V),
    ({"a": INF}, V),
    ({"a": "x\x00"}, V),
    ({"a": 2**64}, V),
    ([("a", 1)], T),
    ("a=1", T),
)
BAD_STATUS_FILTER = (("done", V), (["running", "done"], V), (5, T), ([5], T))
BAD_EVENT_TYPES = (
    ("run.started", T),
    (5, T),
    ([5], T),
    (["Run.Started"], V),
    (["run started"], V),
    ([""], V),
)
BAD_PAGE_LIMIT = (("5", T), (True, T), (1.5, T), (0, V), (-1, V))  # get_traces & co refuse
BAD_CLAMPED = (("5", T), (True, T), (1.5, T), (None, T))  # list_runs & co clamp numbers
BAD_OFFSET = (("0", T), (True, T), (None, T), (1.5, T), (-1, V))
BAD_TOOL_TARGET = (("robot", V), ("", V), ("Server", V), (5, T), (None, T))
BAD_RESULT_PAYLOAD = (
    (5, T),
    ({"a": 1}, T),
    (["x"], T),
    (b"{}", T),
    ("plain\x00text", V),
    ('"\\u0000"', V),  # valid JSON whose string holds a NUL
    ('{"k": "a\\u0000b"}', V),
    ('{"\\u0000": 1}', V),
)
BAD_BOOL = ((1, T), (0, T), ("true", T), (None, T))


@dataclass(frozen=True)
class Case:
    """Bad values for one argument of one method."""

    method: str
    arg: str
    bad: tuple[tuple[Any, ...], ...]  # (value, exact exception class[, extra pattern])
    fn_only: bool = False  # the StateStore method has no such keyword

    @property
    def id(self) -> str:
        return f"{self.method}-{self.arg}"


def _cases() -> list[Case]:
    c: list[Case] = [Case(m, "run_id", BAD_REQUIRED_ID) for m in RUN_ID_METHODS]
    c += [
        # create_run
        Case("create_run", "agent_name", (*BAD_REQUIRED_TEXT, ("", V))),
        Case("create_run", "input_data", BAD_JSON_ANY),
        Case("create_run", "meta", BAD_JSON_OBJECT),
        Case("create_run", "model", BAD_OPTIONAL_TEXT),
        Case("create_run", "strategy", BAD_OPTIONAL_TEXT),
        Case("create_run", "tenant_id", BAD_OPTIONAL_TEXT),
        Case("create_run", "parent_run_id", BAD_OPTIONAL_ID),
        Case("create_run", "retry_of_run_id", BAD_OPTIONAL_ID),
        Case("create_run", "delegation_level", BAD_REQUIRED_INT),
        Case("create_run", "idempotency_key", BAD_OPTIONAL_TEXT),
        Case("create_run", "idempotency_fingerprint", BAD_OPTIONAL_TEXT),
        Case(
            "create_run",
            "status",
            (("success", V), ("error", V), ("waiting_approval", V), *BAD_WRITER_STATUS),
            fn_only=True,
        ),
        # finalize_run / finalize_run_if_status_in
        Case(
            "finalize_run",
            "status",
            (("running", V), ("pending", V), ("waiting_human_input", V), *BAD_WRITER_STATUS),
        ),
        Case("finalize_run", "answer", BAD_OPTIONAL_TEXT),
        Case("finalize_run", "error", BAD_OPTIONAL_TEXT),
        Case("finalize_run", "iteration_count", BAD_OPTIONAL_INT),
        Case("finalize_run", "total_usage", BAD_USAGE[:1] + BAD_USAGE[2:]),
        Case("finalize_run", "expected_current_status", BAD_OPTIONAL_STATUS),
        Case("finalize_run", "pii_mapping", BAD_PII),
        Case(
            "finalize_run_if_status_in",
            "status",
            (("running", V), ("waiting_approval", V), *BAD_WRITER_STATUS),
        ),
        Case(
            "finalize_run_if_status_in",
            "allowed_current_statuses",
            (("running", T), (None, T), (5, T), (["done"], V), (["running", "nope"], V), ([1], T)),
        ),
        Case("finalize_run_if_status_in", "answer", BAD_OPTIONAL_TEXT),
        Case("finalize_run_if_status_in", "iteration_count", BAD_OPTIONAL_INT),
        Case("finalize_run_if_status_in", "total_usage", BAD_USAGE[:1] + BAD_USAGE[2:]),
        Case("finalize_run_if_status_in", "pii_mapping", BAD_PII),
        # pause / claim / submit
        Case(
            "pause_run",
            "status",
            (("running", V), ("pending", V), ("success", V), ("cancelled", V), *BAD_WRITER_STATUS),
        ),
        Case("pause_run", "pause_data", BAD_PAYLOAD_DICT),
        Case("pause_run", "iteration_count", BAD_OPTIONAL_INT),
        Case("pause_run", "pii_mapping", BAD_PII),
        # cooperative control and the notes inbox (0.4.1)
        Case("request_pause", "reason", BAD_OPTIONAL_TEXT),
        *[
            case
            for m in ("try_pause_run", "pause_with_event")
            for case in (
                Case(m, "status", (("running", V), ("success", V), *BAD_WRITER_STATUS)),
                Case(m, "pause_data", BAD_PAYLOAD_DICT),
                Case(m, "iteration_count", BAD_OPTIONAL_INT),
                Case(m, "pii_mapping", BAD_PII),
                Case(m, "total_usage", BAD_USAGE[:1] + BAD_USAGE[2:]),
            )
        ],
        Case("pause_with_event", "event_data", BAD_JSON_ANY),
        Case("finalize_with_event", "status", (("running", V), *BAD_WRITER_STATUS)),
        Case("finalize_with_event", "allowed_current_statuses", (("running", T), (["nope"], V))),
        Case("finalize_with_event", "event_type", BAD_EVENT_TYPE),
        Case("finalize_with_event", "event_data", BAD_JSON_ANY),
        Case("finalize_with_event", "failure_reason", BAD_OPTIONAL_TEXT),
        Case("finalize_with_event", "total_usage", BAD_USAGE[:1] + BAD_USAGE[2:]),
        Case("add_note", "note_id", BAD_REQUIRED_ID),
        Case("add_note", "text", (*BAD_REQUIRED_TEXT, ("", V))),
        Case("add_note", "metadata", BAD_JSON_ANY),
        Case("add_note", "tenant_id", ((1, T), (b"t", T), ("a\x00", V))),
        Case("get_notes", "undelivered_only", BAD_BOOL),
        Case("get_notes", "tenant_id", ((1, T), (["acme"], T), ("a\x00", V))),
        Case(
            "mark_notes_delivered",
            "note_ids",
            (("note9", T), (None, T), (5, T), ([1], T), ([""], V), (["x" * 27], V)),
        ),
        Case("mark_notes_delivered", "iteration", BAD_REQUIRED_INT),
        Case("get_subtree", "tenant_id", ((1, T), (["acme"], T), (b"t", T), ("a\x00", V))),
        Case("claim_paused_run", "expected_status", BAD_EXPECTED_STATUS),
        Case("submit_and_claim", "expected_status", BAD_EXPECTED_STATUS),
        Case("submit_and_claim", "submitted_data", BAD_PAYLOAD_DICT),
        # traces
        Case("save_trace", "role", BAD_REQUIRED_TEXT),
        Case("save_trace", "content", BAD_REQUIRED_TEXT),
        Case("save_trace", "order_index", BAD_REQUIRED_INT),
        Case("save_trace", "meta", BAD_JSON_OBJECT),
        Case("save_trace", "row_id", BAD_OPTIONAL_ID, fn_only=True),
        # tool calls
        Case("save_tool_call", "tool_call_id", BAD_REQUIRED_ID),
        Case("save_tool_call", "provider_tool_call_id", BAD_OPTIONAL_TEXT),
        Case("save_tool_call", "tool_name", BAD_REQUIRED_TEXT),
        Case("save_tool_call", "target", BAD_TOOL_TARGET),
        Case("save_tool_call", "params", BAD_JSON_OBJECT),
        Case("save_tool_call", "result_payload", BAD_RESULT_PAYLOAD),
        Case("save_tool_call", "success", BAD_BOOL),
        Case("save_tool_call", "duration_ms", BAD_OPTIONAL_INT),
        Case("save_tool_call", "iteration_index", BAD_REQUIRED_INT),
        Case("save_tool_call", "error_message", BAD_OPTIONAL_TEXT),
        Case("save_tool_call", "meta", BAD_JSON_OBJECT),
        Case("save_tool_call", "row_id", BAD_OPTIONAL_ID, fn_only=True),
        # usage
        Case("save_usage", "usage", BAD_USAGE),
        Case("save_usage", "iteration_index", BAD_REQUIRED_INT),
        Case("save_usage", "model", BAD_OPTIONAL_TEXT),
        Case("save_usage", "provider", BAD_OPTIONAL_TEXT),
        Case("save_usage", "duration_ms", BAD_OPTIONAL_INT),
        Case("save_usage", "meta", BAD_JSON_OBJECT),
        Case("save_usage", "row_id", BAD_OPTIONAL_ID, fn_only=True),
        # LLM interactions
        Case("save_llm_interaction", "usage", BAD_USAGE),
        Case("save_llm_interaction", "iteration_index", BAD_REQUIRED_INT),
        Case("save_llm_interaction", "model", BAD_OPTIONAL_TEXT),
        Case("save_llm_interaction", "provider", BAD_OPTIONAL_TEXT),
        Case("save_llm_interaction", "duration_ms", BAD_OPTIONAL_INT),
        Case("save_llm_interaction", "semantic_request", BAD_JSON_ANY),
        Case("save_llm_interaction", "semantic_response", BAD_JSON_ANY),
        Case("save_llm_interaction", "provider_request", BAD_JSON_ANY),
        Case("save_llm_interaction", "provider_response", BAD_JSON_ANY),
        Case("save_llm_interaction", "guardrail_findings", BAD_JSON_ANY),
        Case("save_llm_interaction", "interaction_id", BAD_OPTIONAL_ID),
        # run events
        Case("save_run_event", "event_type", BAD_EVENT_TYPE),
        Case("save_run_event", "sequence_index", BAD_REQUIRED_INT),
        Case("save_run_event", "iteration_index", BAD_REQUIRED_INT),
        Case("save_run_event", "correlation_id", BAD_OPTIONAL_TEXT),
        Case("save_run_event", "data", BAD_JSON_OBJECT),
        Case("save_run_event", "row_id", BAD_OPTIONAL_ID, fn_only=True),
        # per-run reads
        Case("get_traces", "limit", BAD_PAGE_LIMIT),
        Case("get_traces", "offset", BAD_OFFSET),
        Case("get_tool_calls", "iteration_index", BAD_OPTIONAL_INT),
        Case("get_tool_calls", "limit", BAD_PAGE_LIMIT),
        Case("get_tool_calls", "offset", BAD_OFFSET),
        Case("get_llm_interactions", "iteration_index", BAD_OPTIONAL_INT),
        Case("get_llm_interactions", "limit", BAD_PAGE_LIMIT),
        Case("get_llm_interactions", "offset", BAD_OFFSET),
        Case(
            "get_run_events",
            "after_sequence_index",
            (("1", T), (True, T), (1.0, T), (2**63, V)),
        ),
        Case("get_run_events", "limit", BAD_CLAMPED[:3]),
        Case("get_run_events", "event_types", BAD_EVENT_TYPES),
        # listing
        Case("list_runs", "limit", BAD_CLAMPED),
        Case("list_runs", "offset", BAD_CLAMPED),
        Case("list_runs", "status", BAD_STATUS_FILTER),
        Case("list_runs", "agent_name", BAD_OPTIONAL_TEXT),
        Case("list_runs", "tenant_id", BAD_OPTIONAL_TEXT),
        Case("list_runs", "parent_run_id", BAD_OPTIONAL_TEXT),
        Case("list_runs", "started_after", BAD_DATETIME),
        Case("list_runs", "started_before", BAD_DATETIME),
        Case("list_runs", "metadata_filter", BAD_METADATA_FILTER),
        Case("count_runs", "status", BAD_STATUS_FILTER),
        Case("count_runs", "agent_name", BAD_OPTIONAL_TEXT),
        Case("count_runs", "tenant_id", BAD_OPTIONAL_TEXT),
        Case("count_runs", "started_after", BAD_DATETIME),
        Case("count_runs", "started_before", BAD_DATETIME),
        Case("count_runs", "metadata_filter", BAD_METADATA_FILTER),
        # sweeps
        Case("sweep_stale_runs", "older_than", BAD_DURATION),
        Case("sweep_abandoned_runs", "older_than", BAD_DURATION),
        Case("find_stale_runs", "older_than", BAD_DURATION),
        Case("find_abandoned_runs", "older_than", BAD_DURATION),
        # cancellation and retention
        Case("cancel_run", "sequence_index", BAD_OPTIONAL_INT),
        Case("cancel_run", "iteration_index", BAD_REQUIRED_INT),
        Case("cancel_run", "reason", BAD_OPTIONAL_TEXT),
        Case(
            "purge_runs",
            "before",
            (
                (None, T),
                ("2026-01-01", T),
                (datetime(2026, 1, 1), V),
                (datetime(2999, 1, 1, tzinfo=UTC), V),
            ),
        ),
        Case("purge_runs", "agent_name", BAD_OPTIONAL_TEXT),
        Case("purge_runs", "tenant_id", BAD_OPTIONAL_TEXT),
        Case("purge_runs", "status", (("running", V), ("done", V), (5, T), (["error", 5], T))),
        Case("purge_runs", "batch_size", ((0, V), (-1, V), ("5", T), (True, T), (None, T))),
        Case("purge_runs", "dry_run", BAD_BOOL),
    ]
    return c


CASES = _cases()


# -- seeding, snapshots, call plumbing ---------------------------------------------


async def seed(store: StateStore) -> None:
    """r1 running with one row in every per-run table; w1 paused; t1 finished."""
    await store.create_run(
        "r1",
        "agent",
        input_data={"q": "hello"},
        meta={"team": "a", "n": 1},
        model="m",
        tenant_id="acme",
    )
    await store.save_trace("r1", "user", "hello", order_index=0, meta={"k": "v"})
    await store.save_tool_call(
        "r1",
        tool_call_id="tc1",
        provider_tool_call_id="call_1",
        tool_name="search",
        target="server",
        params={"q": "x"},
        result_payload='{"hits": 3}',
        success=True,
        duration_ms=12,
        iteration_index=0,
    )
    await store.save_usage("r1", iteration_index=0, usage=Usage(), model="m", provider="p")
    await store.save_llm_interaction(
        "r1", iteration_index=0, usage=Usage(), semantic_request={"m": [1]}
    )
    await store.save_run_event("r1", event_type="run.started", sequence_index=0, data={"a": 1})
    await store.save_run_event("r1", event_type="llm.completed", sequence_index=1)
    await store.create_run("w1", "agent", tenant_id="acme")
    await store.pause_run(
        "w1", status="waiting_approval", pause_data={"step": 1}, pii_mapping={"<P1>": "Alice"}
    )
    await store.create_run("t1", "agent")
    await store.finalize_run("t1", status="success", answer="done")


async def raw_dump(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the six tables, read with the driver directly (token_usage has no getter)."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        conn = sqlite3.connect(path)
        try:
            return {
                t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY id")]
                for t in TABLES
            }
        finally:
            conn.close()
    import asyncpg

    pg = await asyncpg.connect(database_url)
    try:
        return {
            t: [tuple(r) for r in await pg.fetch(f"SELECT * FROM {t} ORDER BY id")] for t in TABLES
        }
    finally:
        await pg.close()


async def snapshot(store: StateStore, database_url: str) -> dict[str, Any]:
    """The raw tables plus what the store's own reads say about every run."""
    listed = await store.list_runs(limit=1000)
    state: dict[str, Any] = {
        "raw": await raw_dump(database_url),
        "count_runs": await store.count_runs(),
        "list_runs": listed,
    }
    for run in listed:
        state[run.id] = (
            await store.get_run(run.id),
            await store.get_traces(run.id),
            await store.get_tool_calls(run.id),
            await store.get_llm_interactions(run.id),
            await store.get_run_events(run.id),
            await store.get_next_event_sequence(run.id),
            await store.get_pause_state(run.id),
            await store.get_pii_mapping(run.id),
            await store.is_cancel_requested(run.id),
        )
    return state


@contextlib.contextmanager
def connections_opened(engine: Any) -> Iterator[list[str]]:
    """Record every connection / transaction the engine is asked for."""
    opened: list[str] = []
    names = ("connect", "transaction", "autocommit", "write")
    originals = {name: getattr(engine, name) for name in names}

    def spy(name: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            opened.append(name)
            return originals[name](*args, **kwargs)

        return wrapper

    for name in originals:
        setattr(engine, name, spy(name))
    try:
        yield opened
    finally:
        for name in originals:
            delattr(engine, name)


async def call(store: StateStore, api: str, method: str, kwargs: dict[str, Any]) -> Any:
    if api == "store":
        return await getattr(store, method)(**kwargs)
    return await function_for(method)(store.engine, **kwargs)


async def outcome(
    store: StateStore, api: str, method: str, kwargs: dict[str, Any]
) -> tuple[BaseException | None, list[str]]:
    with connections_opened(store.engine) as opened:
        try:
            await call(store, api, method, kwargs)
        except Exception as exc:
            return exc, opened
    return None, opened


# -- the tests ---------------------------------------------------------------------


CASES_BY_METHOD = {m: [c for c in CASES if c.method == m] for m in METHODS}


def test_every_method_has_bad_input_cases() -> None:
    assert all(CASES_BY_METHOD.values())
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("method", METHODS)
async def test_bad_arguments_are_refused_before_any_sql(
    method: str, state_store: StateStore, database_url: str
) -> None:
    """Each bad value of each argument: exact class, argument named, no connection asked
    for, and (checked once at the end) every table and every store read unchanged."""
    await seed(state_store)
    before = await snapshot(state_store, database_url)
    failures: list[str] = []
    for case in CASES_BY_METHOD[method]:
        for value, expected, *extra in case.bad:
            patterns = [re.escape(case.arg), *extra]
            for api in ("fn",) if case.fn_only else ("store", "fn"):
                kwargs = {**base_kwargs(method), case.arg: value}
                exc, opened = await outcome(state_store, api, method, kwargs)
                where = f"{api}:{method}({case.arg}={value!r})"
                if type(exc) is not expected:
                    failures.append(f"{where}: expected {expected.__name__}, got {exc!r}")
                    continue
                missing = [p for p in patterns if not re.search(p, str(exc))]
                if missing:
                    failures.append(f"{where}: message {str(exc)!r} does not name {missing}")
                if opened:
                    failures.append(f"{where}: engine was asked for {opened} before refusing")
    if await snapshot(state_store, database_url) != before:
        failures.append("a rejected call changed the database (tables or store reads)")
    assert not failures, "\n".join(failures)


async def test_base_calls_are_valid(state_store: StateStore, database_url: str) -> None:
    """Each valid call the bad values are swapped into succeeds (and most write)."""
    await seed(state_store)
    before = await raw_dump(database_url)
    for method in METHODS:
        await call(state_store, "store", method, base_kwargs(method))
    assert await raw_dump(database_url) != before
    # the spy used above does see connections when SQL runs
    assert await outcome(state_store, "store", "get_run", {"run_id": "r1"}) == (None, ["connect"])
    error, opened = await outcome(state_store, "fn", "touch_progress", {"run_id": "r1"})
    assert error is None and opened[0] == "write"
    # the store functions accept the same keywords (fresh ids so nothing collides)
    await runs.create_run(state_store.engine, "new2", "agent", status="pending")
    await rows.save_trace(state_store.engine, "new2", "user", "x", order_index=0, row_id="row-1")
    assert len(await state_store.get_traces("new2")) == 1


async def test_bad_db_argument_for_store_functions(state_store: StateStore) -> None:
    """The store functions name a first argument that is not an engine or connection."""
    for db in (None, "sqlite:///x.db", 5):
        with pytest.raises(InvalidArgumentTypeError, match="db"):
            await runs.get_run(db, "r1")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentTypeError, match="db"):
            await rows.save_trace(db, "r1", "user", "x", order_index=0)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentTypeError, match="db"):
            await runs.create_run(db, "r1", "agent")  # type: ignore[arg-type]
    assert await state_store.count_runs() == 0


async def test_id_length_boundary(state_store: StateStore) -> None:
    """Ids are free-form, non-empty, at most 26 characters; "r1" is fine."""
    ok = "x" * 26
    assert (await state_store.create_run(ok, "agent")).outcome == "created"
    assert (await state_store.create_run("r", "agent")).outcome == "created"
    assert (await state_store.get_run(ok)) is not None
    await state_store.save_tool_call(
        ok,
        tool_call_id="t" * 26,
        provider_tool_call_id="p" * 200,  # the provider's id is free text, not ours
        tool_name="x",
        target="client",
        params=None,
        result_payload=None,
        success=False,
        duration_ms=None,
        iteration_index=0,
    )
    with pytest.raises(InvalidArgumentError, match="run_id"):
        await state_store.create_run(ok + "x", "agent")
    assert await state_store.count_runs() == 2
    assert [c.tool_call_id for c in await state_store.get_tool_calls(ok)] == ["t" * 26]


async def test_list_runs_and_get_run_events_clamp_instead_of_raising(
    state_store: StateStore, database_url: str
) -> None:
    """list_runs clamps limit to 1..1000 and offset to >= 0; get_run_events clamps its
    limit to 1..1000: out-of-range numbers are not errors there (wrong types still are)."""
    await seed(state_store)
    before = await raw_dump(database_url)
    for api in ("store", "fn"):

        async def ids(api: str = api, **kwargs: Any) -> list[str]:
            return [r.id for r in await call(state_store, api, "list_runs", kwargs)]

        async def seqs(api: str = api, **kwargs: Any) -> list[int]:
            events = await call(state_store, api, "get_run_events", {"run_id": "r1", **kwargs})
            return [e.sequence_index for e in events]

        everything = await ids(limit=1000)
        assert sorted(everything) == ["r1", "t1", "w1"]
        assert await ids() == everything  # default limit 50
        assert await ids(limit=0) == everything[:1]
        assert await ids(limit=-5) == everything[:1]
        assert await ids(limit=-(2**63)) == everything[:1]
        assert await ids(limit=10**6) == everything
        assert await ids(limit=2**63 - 1) == everything
        assert await ids(offset=-3) == everything
        assert await ids(offset=-(2**63), limit=2) == everything[:2]
        assert await ids(offset=1, limit=0) == everything[1:2]
        assert await ids(offset=10**6) == []
        assert await call(state_store, api, "count_runs", {}) == 3

        assert await seqs() == [0, 1]
        assert await seqs(limit=0) == [0]
        assert await seqs(limit=-7) == [0]
        assert await seqs(limit=10**9) == [0, 1]
        assert await seqs(after_sequence_index=-5) == [0, 1]
        assert await seqs(after_sequence_index=0) == [1]
        assert await seqs(event_types=[]) == []
    assert await raw_dump(database_url) == before


async def test_rejections_are_the_same_through_store_and_functions(
    state_store: StateStore,
) -> None:
    """Spot check: the message is the same whichever door the value came through."""
    await seed(state_store)
    for method, arg, value in [
        ("list_runs", "started_after", NAIVE),
        ("save_run_event", "event_type", "Run.Started"),
        ("finalize_run", "status", "done"),
        ("save_trace", "meta", {"s": {1}}),
    ]:
        kwargs = {**base_kwargs(method), arg: value}
        store_exc, _ = await outcome(state_store, "store", method, kwargs)
        fn_exc, _ = await outcome(state_store, "fn", method, kwargs)
        assert type(store_exc) is type(fn_exc)
        assert str(store_exc) == str(fn_exc)


async def test_naive_datetime_examples(state_store: StateStore) -> None:
    with pytest.raises(InvalidArgumentError, match="started_after") as info:
        await state_store.list_runs(started_after=datetime(2026, 1, 1))
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidArgumentError, match="started_before"):
        await state_store.count_runs(started_before=datetime(2026, 1, 1))
    # aware datetimes in any zone are fine
    tz = datetime(2026, 1, 1, tzinfo=UTC).astimezone().tzinfo
    assert await state_store.list_runs(started_after=datetime(2000, 1, 1, tzinfo=tz)) == []


async def test_exception_classes_are_builtin_compatible() -> None:
    assert issubclass(InvalidArgumentError, ValueError)
    assert issubclass(InvalidArgumentTypeError, TypeError)
    assert not issubclass(InvalidArgumentError, TypeError)
    assert not issubclass(InvalidArgumentTypeError, ValueError)


# -- closed stores -----------------------------------------------------------------


async def test_closed_store_raises_and_never_reconnects(
    state_store: StateStore, database_url: str
) -> None:
    await seed(state_store)
    engine = state_store.engine
    before = await raw_dump(database_url)
    await state_store.close()
    await state_store.close()  # idempotent
    assert engine.closed
    with pytest.raises(StoreClosedError):
        _ = state_store.engine
    for method in METHODS:
        for _attempt in range(2):  # a second try does not reconnect either
            with pytest.raises(StoreClosedError):
                await getattr(state_store, method)(**base_kwargs(method))
        # the store functions on the disposed engine refuse too (valid arguments)
        with pytest.raises(StoreClosedError):
            await function_for(method)(engine, **base_kwargs(method))
    assert engine.closed
    assert await raw_dump(database_url) == before


async def test_closed_store_as_context_manager(database_url: str) -> None:
    async with StateStore.from_database_url(database_url) as store:
        await store.create_run("r1", "agent")
    with pytest.raises(StoreClosedError):
        await store.get_run("r1")
    with pytest.raises(StoreClosedError):
        await store.create_run("r2", "agent")


async def test_closing_a_store_leaves_a_caller_owned_engine_open(
    state_store: StateStore, engine: Any
) -> None:
    store = StateStore.from_engine(engine)
    await store.create_run("r1", "agent")
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.get_run("r1")
    with pytest.raises(StoreClosedError):
        await store.save_trace("r1", "user", "x", order_index=0)
    assert not engine.closed
    run = await runs.get_run(engine, "r1")
    assert run is not None and run.status == "running"
    assert await state_store.count_runs() == 1  # the same database, another engine
