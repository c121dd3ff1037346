"""The differential scenarios, as data: one definition drives both packages.

A scenario is a list of operations (dicts with an ``op`` key) that
`driver.py` applies through a small adapter per package, written the way
code for dendrux 0.4.1 calls its API (keyword arguments, its types, its
recorder). ``runs`` names the runs it creates (letters, mapped to generated
ids) and ``queries`` the scenario-wide ``list_runs`` / ``count_runs`` reads.

Values inside an operation may be references the adapter resolves:
``{"$run": "A"}`` a run's id, ``{"$call": "c1"}`` a tool call's id,
``{"$usage": {...}}`` a ``UsageStats``, ``{"$seconds": n}`` a ``timedelta``,
``{"$ago": n}`` an aware UTC datetime n seconds in the past.

Stdlib only: the oracle's interpreter imports this file too.
"""

from __future__ import annotations

from typing import Any

Op = dict[str, Any]


def _run(key: str) -> dict[str, str]:
    return {"$run": key}


def _usage(**fields: Any) -> dict[str, Any]:
    return {"$usage": fields}


def _store(method: str, *args: Any, **kwargs: Any) -> Op:
    return {"op": "store", "method": method, "args": list(args), "kwargs": kwargs}


def _event(run: str, event_type: str, data: dict[str, Any] | None = None, it: int = 0) -> Op:
    """A lifecycle event the 0.4.1 runner would write, at the next free index."""
    return {"op": "event", "run": run, "event_type": event_type, "data": data, "iteration": it}


PLAIN: list[Op] = [
    {
        "op": "create",
        "run": "A",
        "agent": "researcher",
        "input_data": {"input": "hi"},
        "model": "claude-sonnet-4",
        "strategy": "native",
        "tenant_id": "acme",
        "meta": {"thread_id": "t-1"},
    },
    {"op": "recorder", "run": "A", "model": "claude-sonnet-4", "provider": "anthropic"},
    _event("A", "run.started", {"agent_name": "researcher"}),
    {"op": "message", "run": "A", "role": "system", "content": "Be brief.", "iteration": 0},
    {"op": "message", "run": "A", "role": "user", "content": "What is 2+2?", "iteration": 0},
    {
        "op": "llm",
        "run": "A",
        "iteration": 1,
        "text": "4",
        "duration_ms": 812,
        "usage": {
            "input_tokens": 594,
            "output_tokens": 55,
            "total_tokens": 649,
            "cost_usd": 0.0008,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
        },
        "semantic": True,
        "provider_request": {"model": "claude-sonnet-4"},
        "provider_response": {"id": "msg_1"},
    },
    {"op": "message", "run": "A", "role": "assistant", "content": "4", "iteration": 1},
    _store(
        "finalize_run",
        _run("A"),
        status="success",
        answer="4",
        iteration_count=1,
        total_usage=_usage(
            input_tokens=594,
            output_tokens=55,
            total_tokens=649,
            cost_usd=0.0008,
            cache_read_input_tokens=100,
            cache_creation_input_tokens=20,
        ),
    ),
    _event("A", "run.completed", {"status": "success"}, 1),
]

TOOLS: list[Op] = [
    {
        "op": "create",
        "run": "A",
        "agent": "calc",
        "input_data": {"input": "sum"},
        "model": "gpt-4o",
    },
    {
        "op": "recorder",
        "run": "A",
        "model": "gpt-4o",
        "provider": "openai",
        "targets": {"lookup": "server", "ask_user": "human"},
    },
    {"op": "message", "run": "A", "role": "user", "content": "add 1 and 2", "iteration": 0},
    {
        "op": "llm",
        "run": "A",
        "iteration": 1,
        "text": None,
        "duration_ms": 300,
        "tool_calls": [
            {
                "key": "c1",
                "name": "add",
                "params": {"a": 1, "b": 2},
                "provider_tool_call_id": "call_abc",
            },
            {"key": "c2", "name": "lookup", "params": {}},
        ],
        "usage": {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120, "cost_usd": 0.001},
    },
    {
        "op": "message",
        "run": "A",
        "role": "assistant",
        "content": "",
        "iteration": 1,
        "tool_calls": ["c1", "c2"],
    },
    {
        "op": "tool",
        "run": "A",
        "iteration": 1,
        "call": "c1",
        "payload": "3",
        "success": True,
        "duration_ms": 5,
    },
    {
        "op": "message",
        "run": "A",
        "role": "tool",
        "content": "3",
        "iteration": 1,
        "call_id": "c1",
        "name": "add",
    },
    {
        "op": "tool",
        "run": "A",
        "iteration": 1,
        "call": "c2",
        "payload": '{"error": "boom"}',
        "success": False,
        "error": "boom",
        "duration_ms": 7,
    },
    {
        "op": "message",
        "run": "A",
        "role": "tool",
        "content": '{"error": "boom"}',
        "iteration": 1,
        "call_id": "c2",
        "name": "lookup",
    },
    {
        "op": "llm",
        "run": "A",
        "iteration": 2,
        "text": "3 (lookup failed)",
        "usage": {"input_tokens": 150, "output_tokens": 10, "total_tokens": 160, "cost_usd": None},
    },
    {
        "op": "governance",
        "run": "A",
        "event_type": "policy.denied",
        "iteration": 2,
        "data": {"tool_name": "rm"},
        "correlation_id": "corr-1",
    },
    _store("finalize_run", _run("A"), status="success", answer="3", iteration_count=2),
]

PAUSE_RESUME: list[Op] = [
    {"op": "create", "run": "A", "agent": "assistant", "input_data": {"input": "go"}},
    {"op": "recorder", "run": "A", "targets": {"ask": "client"}},
    {"op": "message", "run": "A", "role": "user", "content": "go", "iteration": 0},
    {
        "op": "llm",
        "run": "A",
        "iteration": 1,
        "tool_calls": [{"key": "c1", "name": "ask", "params": {"q": "colour?"}}],
        "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15, "cost_usd": 0.0001},
    },
    {
        "op": "governance",
        "run": "A",
        "event_type": "approval.requested",
        "iteration": 1,
        "data": {"tool_name": "ask"},
        "correlation_id": {"$call": "c1"},
    },
    _store(
        "pause_run",
        _run("A"),
        status="waiting_client_tool",
        iteration_count=1,
        pause_data={"pending_tool_calls": [{"name": "ask"}], "iteration": 1},
        pii_mapping={"<PERSON_1>": "Alice"},
    ),
    _event(
        "A",
        "run.paused",
        {
            "status": "waiting_client_tool",
            "pending_tool_calls": [{"name": "ask", "target": "client"}],
        },
        1,
    ),
    _store("claim_paused_run", _run("A"), expected_status="waiting_approval"),
    _store(
        "submit_and_claim",
        _run("A"),
        expected_status="waiting_client_tool",
        submitted_data={"submitted_tool_results": [{"payload": "blue"}]},
    ),
    _store(
        "submit_and_claim",
        _run("A"),
        expected_status="waiting_client_tool",
        submitted_data={"submitted_tool_results": [{"payload": "late"}]},
    ),
    _event(
        "A",
        "run.resumed",
        {"submitted_results": [{"name": "ask", "payload": "blue"}], "user_input": None},
        1,
    ),
    {
        "op": "governance",
        "run": "A",
        "event_type": "approval.decided",
        "iteration": 1,
        "data": {"approved": True},
    },
    {
        "op": "tool",
        "run": "A",
        "iteration": 1,
        "call": "c1",
        "payload": "blue",
        "success": True,
        "duration_ms": 0,
    },
    # A second pause that is never resumed: an active pause, then one with no data.
    _store("pause_run", _run("A"), status="waiting_human_input", pause_data={"question": "ok?"}),
    _event("A", "run.paused", {"status": "waiting_human_input", "pending_tool_calls": []}, 2),
    _store(
        "submit_and_claim",
        _run("A"),
        expected_status="waiting_human_input",
        submitted_data={"user_input": "yes"},
    ),
    _event("A", "run.resumed", {"user_input": "yes"}, 2),
    _event("A", "run.paused", {}, 3),
    _store(
        "finalize_run",
        _run("A"),
        status="success",
        answer="blue",
        iteration_count=3,
        pii_mapping={"<PERSON_1>": "Alice", "<EMAIL_1>": "a@example.com"},
    ),
]

DELEGATION: list[Op] = [
    {"op": "create", "run": "A", "agent": "root", "tenant_id": "t1"},
    {
        "op": "create",
        "run": "B",
        "agent": "child",
        "parent": "A",
        "delegation_level": 1,
        "tenant_id": "t1",
    },
    {
        "op": "create",
        "run": "C",
        "agent": "grandchild",
        "parent": "B",
        "delegation_level": 2,
        "tenant_id": "t1",
    },
    {
        "op": "create",
        "run": "D",
        "agent": "child",
        "parent": "A",
        "delegation_level": 1,
        "tenant_id": "t1",
    },
    {"op": "recorder", "run": "C"},
    {
        "op": "llm",
        "run": "C",
        "iteration": 1,
        "text": "leaf",
        "usage": {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10, "cost_usd": 0.002},
    },
    {"op": "recorder", "run": "B"},
    {
        "op": "llm",
        "run": "B",
        "iteration": 1,
        "text": "mid",
        "usage": {"input_tokens": 11, "output_tokens": 4, "total_tokens": 15, "cost_usd": 0.003},
    },
    _store(
        "finalize_run",
        _run("C"),
        status="success",
        answer="leaf",
        iteration_count=1,
        total_usage=_usage(input_tokens=7, output_tokens=3, total_tokens=10, cost_usd=0.002),
    ),
    _store(
        "finalize_run",
        _run("B"),
        status="success",
        answer="mid",
        iteration_count=1,
        total_usage=_usage(input_tokens=11, output_tokens=4, total_tokens=15, cost_usd=0.003),
    ),
    _store("finalize_run", _run("D"), status="error", error="tool crashed"),
]

CANCEL: list[Op] = [
    {"op": "create", "run": "A", "agent": "worker"},
    {"op": "create", "run": "B", "agent": "worker"},
    _store("request_cancel", _run("A")),
    _store("is_cancel_requested", _run("A")),
    _store(
        "finalize_run_if_status_in",
        _run("A"),
        status="cancelled",
        allowed_current_statuses=["running", "pending"],
        error="cancelled by user",
    ),
    _event("A", "run.cancelled", {"reason": "user"}),
    _store("request_cancel", _run("A")),
    _store("finalize_run", _run("B"), status="success", answer="done"),
    _store("request_cancel", _run("B")),
    _store("finalize_run", _run("B"), status="error", expected_current_status="running"),
]

SWEEPS: list[Op] = [
    {"op": "create", "run": "A", "agent": "stale"},
    {"op": "create", "run": "B", "agent": "waiting"},
    {"op": "create", "run": "C", "agent": "stale_cancelled"},
    {"op": "create", "run": "D", "agent": "paused"},
    _store("pause_run", _run("B"), status="waiting_human_input", pause_data={"q": "?"}),
    _store("request_cancel", _run("C")),
    _store("request_pause", _run("D"), reason="lunch"),
    _store("try_pause_run", _run("D"), status="paused", pause_data={"why": "lunch"}),
    {"op": "sleep", "seconds": 0.05},
    _store("sweep_stale_runs", {"$seconds": 0.01}),
    _store("sweep_abandoned_runs", {"$seconds": 0.01}),
    # ops/11: a zero duration, accepted upstream, refused here before any SQL
    _store("sweep_stale_runs", {"$seconds": 0}),
]

NOTES: list[Op] = [
    {"op": "create", "run": "A", "agent": "inbox", "tenant_id": "t1"},
    {"op": "create", "run": "B", "agent": "done"},
    _store(
        "add_note", _run("A"), note_id="n1", text="first", metadata={"from": "ops"}, tenant_id="t1"
    ),
    _store("add_note", _run("A"), note_id="n2", text="second"),
    _store("add_note", _run("A"), note_id="n3", text="wrong tenant", tenant_id="t2"),
    _store("get_run_control", _run("A")),
    _store("mark_notes_delivered", _run("A"), ["n1"], iteration=2),
    _store("finalize_run", _run("B"), status="success"),
    _store("add_note", _run("B"), note_id="n4", text="too late"),
    _store("request_pause", _run("A"), reason="review"),
    _store("get_run_control", _run("A")),
    _store("request_pause", _run("B")),
]

USAGE: list[Op] = [
    {"op": "create", "run": "A", "agent": "spender", "model": "m1"},
    {"op": "create", "run": "B", "agent": "helper", "parent": "A", "delegation_level": 1},
    {"op": "recorder", "run": "A", "model": "m1", "provider": "p"},
    {
        "op": "llm",
        "run": "A",
        "iteration": 1,
        "text": "a",
        "model": "m1-2026",
        "reasoning": "thinking...",
        "usage": {
            "input_tokens": 100,
            "output_tokens": 40,
            "total_tokens": 140,
            "cost_usd": 0.01,
            "reasoning_tokens": 12,
        },
    },
    {
        "op": "llm",
        "run": "A",
        "iteration": 2,
        "text": "b",
        "usage": {"input_tokens": 50, "output_tokens": 10, "total_tokens": 60, "cost_usd": 0.005},
    },
    {"op": "recorder", "run": "B"},
    {
        "op": "llm",
        "run": "B",
        "iteration": 1,
        "text": "c",
        "usage": {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6, "cost_usd": None},
    },
    # A is still running: totals on the row are not written yet, live usage is.
    _store("run_usage", _run("A")),
    _store("subtree_usage", _run("A")),
]

PII: list[Op] = [
    {"op": "create", "run": "A", "agent": "pii"},
    {"op": "create", "run": "B", "agent": "no_pii"},
    _store(
        "finalize_run",
        _run("A"),
        status="success",
        answer="sent",
        pii_mapping={"<EMAIL_1>": "bob@example.com", "<PHONE_1>": "+1 555"},
    ),
    _store("finalize_run", _run("B"), status="success"),
    _store("get_pii_mapping", _run("A")),
    _store("get_pii_mapping", _run("B")),
]

LISTING: list[Op] = [
    {
        "op": "create",
        "run": "A",
        "agent": "alpha",
        "tenant_id": "t1",
        "meta": {"thread_id": "x", "n": 1},
    },
    {
        "op": "create",
        "run": "B",
        "agent": "beta",
        "tenant_id": "t1",
        "meta": {"thread_id": "y", "flag": True},
    },
    {
        "op": "create",
        "run": "C",
        "agent": "alpha",
        "tenant_id": "t2",
        "meta": {"thread_id": "x", "n": 2},
    },
    {"op": "create", "run": "D", "agent": "alpha", "meta": {"thread_id": "x", "n": 1}},
    {
        "op": "create",
        "run": "E",
        "agent": "beta",
        "idempotency_key": "k1",
        "idempotency_fingerprint": "f1",
    },
    {
        "op": "create",
        "run": "F",
        "agent": "beta",
        "idempotency_key": "k1",
        "idempotency_fingerprint": "f1",
    },
    {"op": "create", "run": "G", "agent": "gamma", "retry_of": "D"},
    _store("finalize_run", _run("B"), status="success"),
    _store("finalize_run", _run("C"), status="error", error="x"),
    {"op": "recorder", "run": "A"},
    {
        "op": "governance",
        "run": "A",
        "event_type": "budget.threshold",
        "iteration": 0,
        "data": {"fraction": 0.5},
    },
    {
        "op": "governance",
        "run": "A",
        "event_type": "guardrail.detected",
        "iteration": 1,
        "data": {"n": 1},
    },
    {
        "op": "governance",
        "run": "A",
        "event_type": "budget.threshold",
        "iteration": 2,
        "data": {"fraction": 0.75},
    },
]

_LISTING_FILTERS: list[dict[str, Any]] = [
    {},
    {"status": "running"},
    {"status": ["success", "error"]},
    {"status": []},
    {"agent_name": "alpha"},
    {"tenant_id": "t1"},
    {"metadata_filter": {"thread_id": "x"}},
    {"metadata_filter": {"thread_id": "x", "n": 1}},
    {"metadata_filter": {"flag": True}},
    {"agent_name": "alpha", "metadata_filter": {"n": 1}, "tenant_id": "t1"},
    {"started_after": {"$ago": 3600}},
    {"started_before": {"$ago": 3600}},
]

SCENARIOS: dict[str, dict[str, Any]] = {
    "plain": {"ops": PLAIN},
    "tools": {"ops": TOOLS},
    "pause_resume": {"ops": PAUSE_RESUME},
    "delegation": {
        "ops": DELEGATION,
        "queries": [{"parent_run_id": {"$run": "A"}}, {"parent_run_id": {"$run": "B"}}],
    },
    "cancel": {"ops": CANCEL},
    "sweeps": {"ops": SWEEPS},
    "notes": {"ops": NOTES},
    "usage": {"ops": USAGE},
    "pii": {"ops": PII},
    "listing": {
        "ops": LISTING,
        "queries": [
            *_LISTING_FILTERS,
            {"limit": 2},
            {"limit": 2, "offset": 2},
            {"limit": 2, "offset": 6},
            {"status": "running", "limit": 1, "offset": 1},
        ],
        # event cursors and type filters, on run A
        "event_reads": [
            {"after_sequence_index": 0},
            {"after_sequence_index": 1, "limit": 1},
            {"event_types": ["budget.threshold"]},
            {"event_types": []},
        ],
    },
}
