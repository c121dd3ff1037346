"""Fuzzing the Python API's argument checks, on both dialects (issue 12).

Public `StateStore`, `RunStore` and recorder calls get a valid base call with one
to three arguments swapped for generated values: wrong types, huge and negative
ints (up to thousands of digits), naive and extreme datetimes, huge timedeltas,
deep or odd JSON, NaN, NUL characters and lone surrogates, bad metadata keys,
lists with bad statuses. The only exceptions allowed are the project's argument
errors (`InvalidArgumentError`, `InvalidArgumentTypeError`) naming one of the
generated arguments, the lookup/conflict errors where a generated id can land on
them, and the foreign key's `IntegrityError` for a row of a run that does not
exist; a write call that fails leaves every table as it was. Bounded: 120
examples per dialect, well under a minute each.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dendrux.errors import (
    IdempotencyConflictError,
    IntegrityError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    RunAlreadyExistsError,
    RunNotFoundError,
    SlotTakenError,
)
from dendrux.recorder import PersistenceRecorder, resume_event_sequencer
from dendrux.state import StateStore
from dendrux.store import RunStore
from dendrux.validation import INT32_MAX, MAX_JSON_DEPTH

TABLES = (
    "agent_runs",
    "react_traces",
    "tool_calls",
    "token_usage",
    "llm_interactions",
    "run_events",
)
ARGUMENT_ERRORS = (InvalidArgumentError, InvalidArgumentTypeError)
LOOKUP_ERRORS = (RunNotFoundError, IdempotencyConflictError, RunAlreadyExistsError, SlotTakenError)


# -- values too big or too deep to print: generated as markers, built at call time -------
#
# Hypothesis prints a failing example with repr(), which raises for an int of more
# than 4,300 digits and recurses past the limit for a list 10,000 deep.


@dataclass(frozen=True)
class Huge:
    sign: int = 1

    def __repr__(self) -> str:
        return f"{'-' if self.sign < 0 else ''}10**5000"


@dataclass(frozen=True)
class Deep:
    depth: int

    def __repr__(self) -> str:
        return f"nest({self.depth})"


@dataclass
class Usage:
    input_tokens: Any = 1
    output_tokens: Any = 1
    cost_usd: Any = 0.1
    cache_read_input_tokens: Any = None
    cache_creation_input_tokens: Any = None
    reasoning_tokens: Any = None


class Opaque:
    """Not JSON, not a number, not a string."""

    def __repr__(self) -> str:
        return "Opaque()"


@dataclass
class Response:
    """What a provider adapter hands ``on_llm_call_completed`` (duck-typed)."""

    text: Any = "hi"
    usage: Any = None
    provider_response: Any = None


def build(value: Any) -> Any:
    """The value a marker stands for (inside dicts, lists and usage objects too)."""
    if isinstance(value, Huge):
        return value.sign * 10**5000
    if isinstance(value, Deep):
        nested: Any = 1
        for _ in range(value.depth):
            nested = [nested]
        return nested
    if isinstance(value, dict):
        return {build(k): build(v) for k, v in value.items()}
    if isinstance(value, list):
        return [build(v) for v in value]
    if isinstance(value, Response):
        return Response(build(value.text), build(value.usage), build(value.provider_response))
    if isinstance(value, Usage):
        return Usage(*(build(getattr(value, f)) for f in Usage.__dataclass_fields__))
    return value


# -- strategies ----------------------------------------------------------------------------

ZONES = [
    UTC,
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=-14)),
    timezone(timedelta(hours=5, minutes=30)),
]
_ints = st.one_of(
    st.integers(-5, 5),
    st.integers(),
    st.sampled_from(
        [
            INT32_MAX,
            INT32_MAX + 1,
            -(2**31) - 1,
            2**53 + 1,
            2**63 - 1,
            2**63,
            -(2**63),
            -(2**63) - 1,
            2**64,
            10**30,
        ]
    ),
    st.builds(Huge, st.sampled_from([1, -1])),
)
_floats = st.one_of(
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e30, -0.0, 2.0**63, 1e308, 5e-324]),
)
_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "\x00",
            "a\x00b",
            "\ud800",
            "x" * 27,
            "r1",
            "t1",
            "w1",
            "nope",
            "running",
            "success",
            "error",
            "done",
            "waiting_approval",
            "run.started",
            "Run Started",
            "server",
            "robot",
            "a.b",
            "a b",
            "é",
            "$.a",
            "{}",
            "[1]",
            "not json {",
            '{"a": NaN}',
            "[" * 600 + "]" * 600,
        ]
    ),
)
_datetimes = st.one_of(
    st.datetimes(),  # naive
    st.builds(lambda d, z: d.replace(tzinfo=z), st.datetimes(), st.sampled_from(ZONES)),
    st.sampled_from(
        [
            datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),
            datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
            datetime.max.replace(tzinfo=UTC),
            datetime.min.replace(tzinfo=UTC),
        ]
    ),
)
_durations = st.one_of(st.timedeltas(), st.sampled_from([timedelta.max, timedelta.min]))
_scalars = st.one_of(st.none(), st.booleans(), _ints, _floats, _text)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(_text, st.integers(), st.booleans()), inner, max_size=3),
    ),
    max_leaves=8,
)
_odd_json = st.one_of(
    _json,
    st.sampled_from([Deep(MAX_JSON_DEPTH - 1), Deep(MAX_JSON_DEPTH + 1), Deep(10_000)]),
    st.builds(lambda d: {"k": d}, st.sampled_from([Deep(MAX_JSON_DEPTH), Deep(3000)])),
    st.sampled_from([{1, 2}, b"bytes", Opaque(), {"k": Opaque()}, {(1, 2): 1}, (1, 2)]),
)
_meta_filters = st.one_of(
    st.dictionaries(
        st.one_of(st.sampled_from(["a", "user-id", "x_1"]), _text, st.integers()),
        st.one_of(_scalars, st.lists(_scalars, max_size=2)),
        max_size=3,
    ),
    _scalars,
)
_statuses = st.one_of(
    st.lists(st.one_of(_text, st.none(), st.integers()), max_size=3),
    _text,
)
_usages = st.builds(
    Usage,
    _ints | st.none(),
    _ints,
    _floats | _ints | st.none(),
    _ints | st.none(),
    _ints | st.none(),
    _ints | st.none(),
)
_responses = st.builds(Response, _text | st.none(), _usages | _scalars, _odd_json)
weird = st.one_of(
    _responses,
    _scalars,
    _scalars,
    _datetimes,
    _durations,
    _odd_json,
    _meta_filters,
    _statuses,
    _usages,
    st.binary(max_size=4),
    st.just(Opaque()),
)


# -- the calls -------------------------------------------------------------------------------

# fmt: off
TOOL = dict(
    tool_call_id="tcz", provider_tool_call_id=None, tool_name="t", target="server",
    params={"q": 1}, result_payload='{"ok": true}', success=True, duration_ms=3,
    iteration_index=0,
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)

# (api, method, a valid call's keyword arguments, whether it writes)
CALLS: list[tuple[str, str, dict[str, Any], bool]] = [
    ("state", "create_run", dict(
        run_id="n1", agent_name="a", input_data={"q": 1}, model="m", strategy="s",
        parent_run_id="r1", delegation_level=1, tenant_id="t", meta={"a": 1},
        idempotency_key="k", idempotency_fingerprint="f", retry_of_run_id="r1"), True),
    ("state", "finalize_run", dict(
        run_id="r1", status="success", answer="a", error=None, iteration_count=1,
        total_usage=Usage(), expected_current_status="waiting_approval",
        pii_mapping={"<P>": "x"}), True),
    ("state", "finalize_run_if_status_in", dict(
        run_id="r1", status="error", allowed_current_statuses=["waiting_approval"],
        iteration_count=1), True),
    ("state", "pause_run", dict(
        run_id="t1", status="waiting_approval", pause_data={"s": 1}, iteration_count=1,
        pii_mapping=None), True),
    ("state", "submit_and_claim", dict(
        run_id="r1", expected_status="waiting_approval", submitted_data={"x": 1}), True),
    ("state", "claim_paused_run", dict(run_id="r1", expected_status="waiting_approval"), True),
    ("state", "cancel_run", dict(
        run_id="t1", sequence_index=9, iteration_index=0, reason="r"), True),
    ("state", "save_trace", dict(
        run_id="r1", role="user", content="c", order_index=0, meta={"m": 1}), True),
    ("state", "save_tool_call", dict(run_id="r1", **TOOL), True),
    ("state", "save_usage", dict(
        run_id="r1", iteration_index=0, usage=Usage(), model="m", provider="p",
        duration_ms=1, meta=None), True),
    ("state", "save_llm_interaction", dict(
        run_id="r1", iteration_index=0, usage=Usage(), duration_ms=1,
        semantic_request={"m": []}, semantic_response=None, provider_request=None,
        provider_response={"r": 1}, guardrail_findings=None, interaction_id=None), True),
    ("state", "save_run_event", dict(
        run_id="r1", event_type="x.y", sequence_index=0, iteration_index=0,
        correlation_id=None, data={"d": 1}), True),
    ("state", "sweep_stale_runs", dict(older_than=timedelta(days=36500)), True),
    ("state", "sweep_abandoned_runs", dict(older_than=timedelta(days=36500)), True),
    ("state", "purge_runs", dict(
        before=datetime(2000, 1, 1, tzinfo=UTC), status=["success"], batch_size=10,
        dry_run=True), True),
    ("state", "list_runs", dict(
        limit=5, offset=0, tenant_id=None, status=["running"], agent_name="a",
        parent_run_id=None, started_after=NOW, started_before=None,
        metadata_filter={"a": 1}), False),
    ("state", "count_runs", dict(
        status="running", started_before=NOW, metadata_filter={"user-id": "u"}), False),
    ("state", "get_run_events", dict(
        run_id="r1", after_sequence_index=0, limit=5, event_types=["run.started"]), False),
    ("state", "get_tool_calls", dict(run_id="r1", iteration_index=0, limit=5, offset=0), False),
    ("state", "get_llm_interactions", dict(
        run_id="r1", iteration_index=0, limit=5, offset=0), False),
    ("state", "get_traces", dict(run_id="r1", limit=5, offset=0), False),
    ("state", "get_next_event_sequence", dict(run_id="r1"), False),
    ("state", "get_delegation_info", dict(run_id="r1"), False),
    ("read", "list_runs", dict(
        status=["running"], agent_name="a", parent_run_id=None, tenant_id=None,
        started_after=NOW, started_before=None, metadata_filter={"a": 1.5}, limit=5,
        offset=0), False),
    ("read", "count_runs", dict(
        status=None, started_after=NOW, metadata_filter={"a": "x"}), False),
    ("read", "get_events", dict(run_id="r1", after_sequence_index=0, limit=5), False),
    ("read", "get_llm_calls", dict(run_id="r1", iteration=0, limit=5, offset=0), False),
    ("read", "get_tool_invocations", dict(run_id="r1", iteration=0, limit=5, offset=0), False),
    ("read", "get_traces", dict(run_id="r1", limit=5, offset=0), False),
    ("read", "get_run", dict(run_id="r1"), False),
    ("read", "get_pauses", dict(run_id="r1"), False),
    ("read", "get_pii_mapping", dict(run_id="r1"), False),
    ("read", "stream_events", dict(
        run_id="r1", after_sequence_index=0, poll_interval_s=0.05), False),
    ("recorder", "on_governance_event", dict(
        event_type="policy.checked", iteration=0, data={"ok": True}, correlation_id=None),
     True),
    ("recorder", "on_llm_call_completed", dict(
        response=Response(usage=Usage()), iteration=0, duration_ms=5,
        guardrail_findings=None), True),
]
# fmt: on
# A hook refuses what it was given under the name of the column it fills: the
# iteration is the rows' iteration_index, the response's figures are the event's data.
ALIASES = {"iteration": "iteration_index", "response": "data"}


@st.composite
def fuzzed_calls(draw: st.DrawFn) -> tuple[str, str, dict[str, Any], bool, list[str]]:
    api, method, base, writes = draw(st.sampled_from(CALLS))
    names = draw(st.lists(st.sampled_from(sorted(base)), min_size=1, max_size=3, unique=True))
    kwargs = dict(base)
    for name in names:
        kwargs[name] = draw(weird)
    return api, method, kwargs, writes, names


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture
async def run_store(database_url: str) -> AsyncIterator[RunStore]:
    store = RunStore.from_database_url(database_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def counts(database_url: str) -> AsyncIterator[Callable[[], Awaitable[dict[str, int]]]]:
    """Rows per table, read with the driver directly."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]

        async def sqlite_counts() -> dict[str, int]:
            conn = sqlite3.connect(path, timeout=10)
            try:
                return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
            finally:
                conn.close()

        yield sqlite_counts
        return
    import asyncpg

    pg = await asyncpg.connect(database_url)

    async def pg_counts() -> dict[str, int]:
        return {t: int(await pg.fetchval(f"SELECT count(*) FROM {t}")) for t in TABLES}

    try:
        yield pg_counts
    finally:
        await pg.close()


async def seed(store: StateStore) -> None:
    await store.create_run("r1", "a", meta={"a": 1}, tenant_id="t")
    await store.save_trace("r1", "user", "hi", order_index=0)
    await store.save_run_event("r1", event_type="run.started", sequence_index=0)
    await store.save_run_event("r1", event_type="run.paused", sequence_index=1)
    await store.create_run("w1", "a")
    await store.pause_run("w1", status="waiting_approval", pause_data={"s": 1})
    await store.create_run("t1", "a")
    await store.finalize_run("t1", status="success", answer="done")


async def invoke(
    state_store: StateStore, run_store: RunStore, api: str, method: str, kwargs: dict[str, Any]
) -> None:
    if api == "recorder":
        sequencer = await resume_event_sequencer(state_store, "r1")  # a free index
        recorder = PersistenceRecorder(state_store, "r1", event_sequencer=sequencer)
        await getattr(recorder, method)(**kwargs)
        return
    if method == "stream_events":
        stream = run_store.stream_events(**kwargs)
        try:
            await asyncio.wait_for(anext(stream), 0.2)
        except TimeoutError:
            pass
        finally:
            await stream.aclose()
        return
    target = state_store if api == "state" else run_store
    await getattr(target, method)(**kwargs)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(call=fuzzed_calls())
async def test_api_arguments_fuzz(
    call: tuple[str, str, dict[str, Any], bool, list[str]],
    state_store: StateStore,
    run_store: RunStore,
    counts: Callable[[], Awaitable[dict[str, int]]],
) -> None:
    api, method, kwargs, writes, names = call
    names = [*names, *(ALIASES[n] for n in names if n in ALIASES)]
    if await state_store.get_run("r1") is None:
        await seed(state_store)
    kwargs = build(kwargs)
    before = await counts() if writes else None
    try:
        await invoke(state_store, run_store, api, method, kwargs)
    except ARGUMENT_ERRORS as exc:
        message = str(exc)
        assert any(name in message for name in names), (
            f"{method}: {type(exc).__name__} names none of {names}: {message}"
        )
        assert len(message) < 2000, f"{method}: a {len(message)}-character message"
    except LOOKUP_ERRORS:
        pass
    except IntegrityError as exc:
        # A row for a run that does not exist: the foreign key refuses it, on both
        # dialects, with nothing written (the documented error for a missing parent).
        assert writes and "foreign key" in str(exc).lower(), f"{method}: {exc}"
    else:
        return
    if before is not None:
        assert await counts() == before, f"{method} failed but changed rows"
