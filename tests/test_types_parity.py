"""The shared types against dendrux 0.4.1: fields, positional order, defaults,
frozenness and enum members as that release has them (the tables below were
taken from the published package by a script; the package is not imported
here), the checks a 0.4.1 loop relies on, and what the recorder stores from
the new fields, on both dialects."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dbcheck import fetch_rows

import dendrux
from dendrux.errors import ConflictError, InvalidArgumentError, InvalidArgumentTypeError
from dendrux.recorder import EventSequencer, PersistenceRecorder
from dendrux.state import StateStore
from dendrux.status import (
    PAUSE_STATUS_VALUES,
    TERMINAL_STATUS_VALUES,
    WAITING_STATUS_VALUES,
)
from dendrux.types import (
    CreateRunResult,
    GovernanceEventType,
    IdempotencyConflictError,
    LLMResponse,
    Message,
    Role,
    RunAlreadyActiveError,
    RunStatus,
    ToolCall,
    ToolResult,
    ToolTarget,
    UsageStats,
    generate_ulid,
)

REPO = Path(__file__).resolve().parent.parent
FACTORY = object()  # a default made by a factory (compared by the value it makes)

# name -> (fields in positional order as (name, default), frozen)
UPSTREAM_041: dict[type, tuple[list[tuple[str, Any]], bool]] = {
    ToolCall: (
        [
            ("name", dataclasses.MISSING),
            ("params", {}),
            ("id", FACTORY),
            ("provider_tool_call_id", None),
            ("raw_arguments", None),
            ("parse_error", None),
        ],
        True,
    ),
    ToolResult: (
        [
            ("name", dataclasses.MISSING),
            ("call_id", dataclasses.MISSING),
            ("payload", dataclasses.MISSING),
            ("success", True),
            ("error", None),
            ("duration_ms", 0),
            ("meta", {}),
            ("images", ()),
            ("notes", ()),
        ],
        True,
    ),
    Message: (
        [
            ("role", dataclasses.MISSING),
            ("content", dataclasses.MISSING),
            ("name", None),
            ("tool_calls", None),
            ("call_id", None),
            ("meta", {}),
            ("kind", "chat"),
            ("placement", "dynamic"),
            ("source", None),
            ("reasoning", None),
            ("reasoning_blocks", None),
            ("parts", None),
        ],
        True,
    ),
    UsageStats: (
        [
            ("input_tokens", 0),
            ("output_tokens", 0),
            ("total_tokens", 0),
            ("cost_usd", None),
            ("cache_read_input_tokens", None),
            ("cache_creation_input_tokens", None),
            ("reasoning_tokens", None),
            ("cost_source", None),
            ("usage_reported", True),
            ("cost_unknown", False),
        ],
        False,
    ),
    LLMResponse: (
        [
            ("text", None),
            ("tool_calls", None),
            ("raw", None),
            ("usage", UsageStats(usage_reported=False)),
            ("provider_request", None),
            ("provider_response", None),
            ("model", None),
            ("reasoning", None),
            ("reasoning_blocks", None),
            ("stop_reason", None),
            ("raw_stop_reason", None),
        ],
        False,
    ),
    CreateRunResult: (
        [
            ("run_id", dataclasses.MISSING),
            ("outcome", dataclasses.MISSING),
            ("status", dataclasses.MISSING),
        ],
        True,
    ),
}

# fields 0.4.1 leaves out of equality (and of repr)
UNCOMPARED = {(ToolResult, "meta"), (ToolResult, "notes")}
UNREPRESENTED = {(ToolCall, "raw_arguments"), (ToolResult, "meta")}


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


@pytest.mark.parametrize("cls", list(UPSTREAM_041), ids=lambda c: c.__name__)
def test_fields_order_defaults_and_frozenness_are_041s(cls: type) -> None:
    expected, frozen = UPSTREAM_041[cls]
    fields = dataclasses.fields(cls)
    assert [f.name for f in fields] == [name for name, _ in expected]
    for f, (name, default) in zip(fields, expected, strict=True):
        if default is FACTORY:
            assert f.default_factory is not dataclasses.MISSING, name
        else:
            assert _default(f) == default, name
        assert f.compare is ((cls, name) not in UNCOMPARED), name
        assert f.repr is ((cls, name) not in UNREPRESENTED), name
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen is frozen and params.eq
    assert (cls.__hash__ is not None) is frozen  # frozen ones hash, mutable ones do not


def test_enum_members_and_values_are_041s() -> None:
    assert [(m.name, m.value) for m in Role] == [
        ("SYSTEM", "system"),
        ("USER", "user"),
        ("ASSISTANT", "assistant"),
        ("TOOL", "tool"),
    ]
    assert [m.value for m in RunStatus] == [
        "pending",
        "running",
        "waiting_client_tool",
        "waiting_human_input",
        "waiting_approval",
        "paused",
        "success",
        "error",
        "cancelled",
        "max_iterations",
    ]
    assert [m.value for m in ToolTarget] == ["server", "client", "human", "agent"]
    governance = {m.name: m.value for m in GovernanceEventType}
    assert len(governance) == 31
    assert governance["POLICY_DENIED"] == "policy.denied"
    assert governance["INBOX_DELIVERED"] == "inbox.delivered"
    assert governance["GUARDRAIL_IMAGE_UNSCANNED"] == "guardrail.image_unscanned"
    assert GovernanceEventType.APPROVAL_DECIDED == "approval.decided"  # a str enum


def test_positional_construction_means_what_it_means_in_041() -> None:
    usage = UsageStats(100, 50, 150)
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (100, 50, 150)
    assert usage.cost_usd is None
    assert UsageStats(input_tokens=3, output_tokens=4).total_tokens == 0  # as reported: none
    response = LLMResponse("hi", None, {"raw": 1}, usage, model="claude-x")
    assert (response.raw, response.usage, response.model) == ({"raw": 1}, usage, "claude-x")
    assert LLMResponse().usage.usage_reported is False
    message = Message(Role.TOOL, "{}", "lookup", None, "tc1")
    assert (message.name, message.call_id, message.kind) == ("lookup", "tc1", "tool_result")


def test_message_checks_its_role_and_the_fields_the_role_allows() -> None:
    assert Message("user", "hi").role is Role.USER  # a role's string value is converted
    assert Message(Role.SYSTEM, "be nice").kind == "system"
    assert Message(Role.USER, "ctx", kind="policy", placement="stable").kind == "policy"
    with pytest.raises(InvalidArgumentError, match="role 'bogus'"):
        Message("bogus", "hi")
    with pytest.raises(InvalidArgumentTypeError, match="role"):
        Message(3, "hi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="require name and call_id"):
        Message(Role.TOOL, "{}", call_id="tc1")
    with pytest.raises(ValueError, match="USER messages cannot have name"):
        Message(Role.USER, "hi", "someone")
    with pytest.raises(ValueError, match="cannot have tool_calls"):
        Message(Role.USER, "hi", tool_calls=[])
    with pytest.raises(ValueError, match="placement"):
        Message(Role.USER, "hi", placement="sometimes")
    with pytest.raises(ValueError, match="cannot have parts"):
        Message(Role.ASSISTANT, "hi", parts=("x",))
    assert Message(Role.ASSISTANT, "hi", tool_calls=[]).tool_calls == []
    assert dataclasses.replace(Message(Role.USER, "a"), content="b").content == "b"
    with pytest.raises(dataclasses.FrozenInstanceError):
        Message(Role.USER, "a").content = "b"  # type: ignore[misc]


def test_tool_result_keeps_sequences_as_tuples_and_hashes() -> None:
    result = ToolResult("t", "c1", "{}", images=["img"], notes=["resized"])
    assert (result.images, result.notes) == (("img",), ("resized",))
    assert hash(result) == hash(ToolResult("t", "c1", "{}", meta={"x": 1}, images=("img",)))
    with pytest.raises(TypeError, match="notes"):
        ToolResult("t", "c1", "{}", notes="one string")


def test_status_sets_place_paused_apart() -> None:
    assert "paused" not in TERMINAL_STATUS_VALUES and "paused" not in WAITING_STATUS_VALUES
    assert set(PAUSE_STATUS_VALUES) == {*WAITING_STATUS_VALUES, "paused"}
    assert RunStatus.PAUSED.is_paused and not RunStatus.PAUSED.is_waiting
    assert RunStatus.WAITING_APPROVAL.is_paused and not RunStatus.RUNNING.is_paused


def test_errors_keep_041s_bases_and_names() -> None:
    conflict = IdempotencyConflictError("r1", "k1")
    assert isinstance(conflict, RuntimeError) and isinstance(conflict, ConflictError)
    active = RunAlreadyActiveError("r1", RunStatus.RUNNING)
    assert isinstance(active, RuntimeError) and active.current_status is RunStatus.RUNNING
    assert "'r1'" in str(active) and "running" in str(active)
    assert len(generate_ulid()) == 26
    assert dendrux.IdempotencyConflictError is IdempotencyConflictError
    assert dendrux.CreateRunResult is CreateRunResult
    assert issubclass(dendrux.SchemaNotInitializedError, RuntimeError)
    assert issubclass(dendrux.SchemaOutOfDateError, RuntimeError)
    with pytest.raises(AttributeError, match="no attribute 'Agent'"):
        dendrux.Agent  # type: ignore[attr-defined]  # noqa: B018


def test_top_level_names_load_lazily_and_without_drivers() -> None:
    code = (
        "import json, sys\nimport dendrux\nbefore = sorted(sys.modules)\n"
        "from dendrux import RunNotFoundError, IdempotencyConflictError\n"
        "print(json.dumps([before, sorted(sys.modules)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    before, after = json.loads(out.stdout)
    assert [m for m in before if m.startswith("dendrux.")] == []
    loaded = [m for m in after if m.startswith(("dendrux.", "asyncpg", "aiosqlite", "sqlite3"))]
    assert loaded == ["dendrux.errors"]


async def test_create_run_result_status_is_a_run_status(state_store: StateStore) -> None:
    created = await state_store.create_run("r1", "agent", idempotency_key="k1")
    again = await state_store.create_run("r1", "agent", idempotency_key="k1")
    for result in (created, again):
        assert result.status is RunStatus.RUNNING
        assert result.status == result.status.value  # still equal to the plain string


async def test_paused_is_a_status_writers_and_readers_take(state_store: StateStore) -> None:
    await state_store.create_run("r1", "agent")
    await state_store.pause_run("r1", status="paused", pause_data={"step": 3})
    assert [r.id for r in await state_store.list_runs(status="paused")] == ["r1"]
    assert await state_store.claim_paused_run("r1", expected_status=RunStatus.PAUSED)
    await state_store.pause_run("r1", status=RunStatus.PAUSED, pause_data={"step": 4})
    assert await state_store.submit_and_claim(
        "r1", expected_status="paused", submitted_data={"note": "go on"}
    )
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "running"


async def test_recorder_stores_what_041_types_carry(
    state_store: StateStore, database_url: str
) -> None:
    await state_store.create_run("r1", "agent", model="run-model")
    recorder = PersistenceRecorder(
        state_store, "r1", model="run-model", event_sequencer=EventSequencer(0)
    )
    blocks = [{"type": "thinking", "signature": "sig"}]
    await recorder.on_message_appended(
        Message(Role.ASSISTANT, "thinking", meta={"phase": "commentary"}, reasoning_blocks=blocks),
        1,
    )
    bad = ToolCall("lookup", id="tc1", raw_arguments='{"q": ', parse_error="invalid JSON")
    usage = UsageStats(
        input_tokens=10,
        output_tokens=5,
        total_tokens=17,  # the provider's figure, not a sum
        cost_usd=0.01,
        reasoning_tokens=2,
        cost_source="table",
    )
    response = LLMResponse(
        tool_calls=[bad], usage=usage, model="call-model", stop_reason="tool_use"
    )
    await recorder.on_llm_call_completed(response, 1)
    result = ToolResult("lookup", "tc1", '{"error": "bad arguments"}', False, meta={"k": "v"})
    await recorder.on_tool_completed(bad, result, 1)
    await recorder.on_llm_call_completed(
        LLMResponse(text="", usage=UsageStats(input_tokens=1, output_tokens=1)), 2
    )

    (trace,) = await state_store.get_traces("r1")
    assert trace.meta is not None
    assert trace.meta["reasoning_blocks"] == blocks and trace.meta["phase"] == "commentary"

    first, second = await state_store.get_llm_interactions("r1")
    assert first.model == "call-model" and first.reasoning_tokens == 2
    brief = {
        "id": "tc1",
        "provider_tool_call_id": None,
        "name": "lookup",
        "params": {},
        "parse_error": "invalid JSON",
        "raw_length": 6,
    }
    assert first.semantic_response == {
        "tool_calls": [brief],
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "total_tokens": 17,
            "cost_usd": 0.01,
            "cost_source": "table",
            "usage_reported": True,
            "cache_read_input_tokens": None,
            "cache_creation_input_tokens": None,
            "reasoning_tokens": 2,
        },
        "stop_reason": "tool_use",
    }
    assert second.model == "run-model"  # no model on the response: the recorder's
    assert second.semantic_response is not None and second.semantic_response["text"] == ""

    usage_rows = sorted(await fetch_rows(database_url, "token_usage", "r1"), key=lambda r: r["id"])
    assert [(r["model"], r["meta"]) for r in usage_rows] == [
        ("call-model", {"cost_source": "table"}),
        ("run-model", None),
    ]

    (call_row,) = await fetch_rows(database_url, "tool_calls", "r1")
    assert call_row["meta"] == {"k": "v"} and call_row["params"] is None

    events = await state_store.get_run_events("r1")
    llm, tool, final = events
    assert llm.data is not None and tool.data is not None and final.data is not None
    assert (llm.data["model"], llm.data["cost_source"], llm.data["phase"]) == (
        "call-model",
        "table",
        "commentary",
    )
    assert final.data["phase"] == "final_answer" and final.data["usage_reported"] is True
    assert (tool.data["parse_error"], tool.data["raw_length"]) == ("invalid JSON", 6)
    stored = json.dumps([e.data for e in events]) + json.dumps(first.semantic_response)
    assert '{\\"q\\": ' not in stored and '{"q": ' not in stored  # never the raw text
