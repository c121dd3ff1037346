"""JSON columns round-trip identically on SQLite and PostgreSQL.

One payload mixes everything that tends to go wrong (unicode of every kind,
escapes, a literal backslash-u0000 that is *not* a NUL, 64-bit and bigger
integers, floats, 50-level nesting, empty containers, booleans next to the
integers 1 and 0, None inside containers). It is written through every write
path that stores JSON and read back through the `StateStore` getters, then
compared with the original Python value *strictly*: equal, and the same
Python type at every node (so True never comes back as 1, 1 never as 1.0 or
True, and 0.1 never as a Decimal). Dict key order is free (jsonb reorders).

Each test body is the same for both dialects, so passing on both means the
dialects return the same values for the same input. NaN/Infinity and NUL
characters are refused with the same exception on both.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dendrux.db.engine import decode_json
from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.state import StateStore

# -- the payload -------------------------------------------------------------------

UNICODE = {
    "emoji": "😀👍🏽 🧑‍🚀 🏳️‍🌈 family: 👨‍👩‍👧‍👦",
    "cjk": "漢字 かな カナ 한국어 中文字符",
    "rtl": "שלום עולם مرحبا بالعالم \u200f\u202eevil\u202c",
    "combining": "e\u0301 n\u0303 A\u030a Z\u0335\u0321\u0322 \u0915\u094d\u0937",
    "quotes": "she said \"hi\" and 'bye' `tick`",
    "backslashes": "C:\\path\\to\\file \\\\server\\share trailing\\",
    "json_in_string": '{"nested": "json \\"text\\"", "u": "\\u00e9"}',
    "literal_u0000": "\\u0000",  # six characters: backslash u 0 0 0 0 -- not a NUL
    "literal_u0000_variants": ["\\u0000", "\\\\u0000", "x\\u0000y", "\\\\\\u0000", "\\u00000"],
    "controls": "tab\t newline\n cr\r bell\x07 esc\x1b del\x7f \x01\x1f",
    "separators": "\u2028 \u2029 \u0085",
    "zero_width": "\u200b\u200c\u200d\ufeff",
    "astral": "\U0001d11e \U00010348 \U0010fffd",
    "html": "<script>alert('x')</script> &amp; &#0;",
    "sql": "'; DROP TABLE agent_runs; --",
    "empty": "",
    "spaces": "  leading and trailing  ",
}
KEYS = {
    "ключ": 1,
    "😀": 2,
    'quo"te': 3,
    "back\\slash": 4,
    "\\u0000": 5,  # a literal backslash-u0000 key is fine too
    "": 6,
    " ": 7,
    "a.b": 8,
    "$x": 9,
    "漢字": {"🧑‍🚀": None},
}
INTS = {
    "max_safe_plus_one": 2**53 + 1,
    "neg_max_safe_plus_one": -(2**53 + 1),
    "int64_max": 2**63 - 1,
    "int64_min": -(2**63),
    "zero": 0,
    "nested": {"deep": [10**30, -(10**30), {"x": 10**30 + 1}]},
}
FLOATS = {
    "tenth": 0.1,
    "tiny": 1e-7,
    "third": 1 / 3,
    "one": 1.0,
    "neg": -2.5,
    "neg_zero": -0.0,
    "small": 1e-300,
    "precise": 0.30000000000000004,
    "pi": math.pi,
    "list": [0.1, 0.2, 1e-7, 2.5e-5],
}
BOOLS = {
    "t": True,
    "f": False,
    "one": 1,
    "zero": 0,
    "float_one": 1.0,
    "mixed": [True, 1, False, 0, 1.0, 0.0, None, "true", "1"],
    "nested": {"t": True, "one": 1},
}
NONES = {"none": None, "nested": {"none": None, "list": [None, None]}, "list": [None]}
EMPTIES = {"dict": {}, "list": [], "str": "", "nested": {"dict": {}, "list": [[]], "both": [{}]}}


def _deep_dict(levels: int) -> Any:
    node: Any = {"leaf": "bottom", "n": levels}
    for i in range(levels - 1):
        node = {"d": node, "i": i}
    return node


def _deep_list(levels: int) -> Any:
    node: Any = ["bottom", levels]
    for _ in range(levels - 1):
        node = [node]
    return node


def _deep_mixed(levels: int) -> Any:
    node: Any = {"leaf": [True, 1, 0.1, None, "😀"]}
    for i in range(levels - 1):
        node = [node] if i % 2 else {"k": node}
    return node


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


TOP_LEVEL = {
    # scalars directly under the top-level object (some paths treat those apart)
    "top_text": 'top 😀 \\u0000 "q" \\ 漢字',
    "top_int64_max": 2**63 - 1,
    "top_huge": 10**30,
    "top_tenth": 0.1,
    "top_third": 1 / 3,
    "top_true": True,
    "top_one": 1,
    "top_zero": 0,
    "top_false": False,
    "top_none": None,
    "top_neg_zero": -0.0,
}
PAYLOAD: dict[str, Any] = {
    "unicode": UNICODE,
    "keys": KEYS,
    "ints": INTS,
    "floats": FLOATS,
    "bools": BOOLS,
    "nones": NONES,
    "empties": EMPTIES,
    "deep_dict": _deep_dict(50),
    "deep_list": _deep_list(50),
    "deep_mixed": _deep_mixed(50),
    **TOP_LEVEL,
}


def test_payload_is_what_it_claims() -> None:
    assert _depth(PAYLOAD["deep_dict"]) == 50
    assert _depth(PAYLOAD["deep_list"]) == 50
    assert _depth(PAYLOAD["deep_mixed"]) >= 50
    assert "\x00" not in json.dumps(PAYLOAD, ensure_ascii=False)
    assert len(UNICODE["literal_u0000"]) == 6
    assert math.copysign(1.0, FLOATS["neg_zero"]) == -1.0


def differences(got: Any, want: Any, path: str = "$") -> list[str]:
    """Where ``got`` differs from ``want`` in value or Python type (key order ignored)."""
    if type(got) is not type(want):
        return [
            f"{path}: {type(want).__name__} {want!r:.60} came back as "
            f"{type(got).__name__} {got!r:.60}"
        ]
    if isinstance(want, dict):
        out = []
        if set(got) != set(want):
            out.append(f"{path}: keys {sorted(set(want) ^ set(got))!r:.100} differ")
        for key in set(got) & set(want):
            out += differences(got[key], want[key], f"{path}[{key!r}]")
        return out
    if isinstance(want, list):
        if len(got) != len(want):
            return [f"{path}: length {len(want)} came back as {len(got)}"]
        return [
            d
            for i, (g, w) in enumerate(zip(got, want, strict=True))
            for d in differences(g, w, f"{path}[{i}]")
        ]
    if got != want:
        return [f"{path}: {want!r:.60} came back as {got!r:.60}"]
    return []


def assert_same(got: Any, want: Any) -> None:
    found = differences(got, want)
    assert not found, f"{len(found)} difference(s):\n" + "\n".join(sorted(found)[:25])
    assert got == want


# -- the write paths -----------------------------------------------------------------


class Usage:
    input_tokens = 3
    output_tokens = 4
    cost_usd = 0.002
    cache_read_input_tokens = None
    cache_creation_input_tokens = None
    reasoning_tokens = None


RUN = "jr1"


def _tool_call_kwargs(**overrides: Any) -> dict[str, Any]:
    return {
        "tool_call_id": "tc1",
        "provider_tool_call_id": None,
        "tool_name": "tool",
        "target": "server",
        "params": None,
        "result_payload": None,
        "success": True,
        "duration_ms": 1,
        "iteration_index": 0,
        **overrides,
    }


async def _no_setup(store: StateStore) -> None:
    return None


async def _make_run(store: StateStore) -> None:
    await store.create_run(RUN, "agent")


async def _make_paused_run(store: StateStore) -> None:
    await store.create_run(RUN, "agent")
    await store.pause_run(
        RUN, status="waiting_client_tool", pause_data={"kept": [1, True], "top_one": "old"}
    )


async def _read_input(store: StateStore) -> Any:
    got = (await store.get_run(RUN)).input_data
    assert [r.input_data for r in await store.list_runs()] == [got]  # list_runs agrees
    return got


async def _read_meta(store: StateStore) -> Any:
    got = (await store.get_run(RUN)).meta
    assert [r.meta for r in await store.list_runs()] == [got]
    return got


async def _read_trace_meta(store: StateStore) -> Any:
    (trace,) = await store.get_traces(RUN)
    return trace.meta


async def _read_params(store: StateStore) -> Any:
    (call,) = await store.get_tool_calls(RUN)
    return call.params


async def _read_result(store: StateStore) -> Any:
    (call,) = await store.get_tool_calls(RUN)
    return call.result


async def _read_event_data(store: StateStore) -> Any:
    (event,) = await store.get_run_events(RUN)
    return event.data


def _read_llm(field: str) -> Callable[[StateStore], Awaitable[Any]]:
    async def read(store: StateStore) -> Any:
        (interaction,) = await store.get_llm_interactions(RUN)
        return getattr(interaction, field)

    return read


async def _read_pause(store: StateStore) -> Any:
    return await store.get_pause_state(RUN)


async def _read_merged(store: StateStore) -> Any:
    """submit_and_claim merges top-level keys into pause_data: the old key must survive."""
    merged = await store.get_pause_state(RUN)
    assert isinstance(merged, dict)
    assert_same(merged.pop("kept"), [1, True])
    return merged


Write = Callable[[StateStore, Any], Awaitable[Any]]


def _llm_write(field: str) -> Write:
    return lambda store, v: store.save_llm_interaction(
        RUN, iteration_index=0, usage=Usage(), **{field: v}
    )


@dataclass(frozen=True)
class Path:
    """One way JSON gets into a column, and the getter that reads it back."""

    name: str
    setup: Callable[[StateStore], Awaitable[None]]
    write: Write
    read: Callable[[StateStore], Awaitable[Any]]
    field: str  # the argument a rejection must name
    text: bool = False  # the value is passed as JSON text (tool result_payload)
    merged_with: dict[str, Any] | None = None  # what the read-back is merged onto

    def expected(self, value: Any) -> Any:
        return value if self.merged_with is None else {**self.merged_with, **value}


PATHS = [
    Path(
        "create_run.input_data",
        _no_setup,
        lambda s, v: s.create_run(RUN, "agent", input_data=v),
        _read_input,
        "input_data",
    ),
    Path(
        "create_run.meta",
        _no_setup,
        lambda s, v: s.create_run(RUN, "agent", meta=v),
        _read_meta,
        "meta",
    ),
    Path(
        "save_trace.meta",
        _make_run,
        lambda s, v: s.save_trace(RUN, "assistant", "text", order_index=0, meta=v),
        _read_trace_meta,
        "meta",
    ),
    Path(
        "save_tool_call.params",
        _make_run,
        lambda s, v: s.save_tool_call(RUN, **_tool_call_kwargs(params=v)),
        _read_params,
        "params",
    ),
    Path(  # JSON text, ASCII-escaped as json.dumps writes it by default
        "save_tool_call.result_payload",
        _make_run,
        lambda s, v: s.save_tool_call(RUN, **_tool_call_kwargs(result_payload=json.dumps(v))),
        _read_result,
        "result_payload",
        text=True,
    ),
    Path(  # raw UTF-8 JSON text with indentation
        "save_tool_call.result_payload_utf8",
        _make_run,
        lambda s, v: s.save_tool_call(
            RUN,
            **_tool_call_kwargs(result_payload=json.dumps(v, ensure_ascii=False, indent=2)),
        ),
        _read_result,
        "result_payload",
        text=True,
    ),
    Path(
        "save_run_event.data",
        _make_run,
        lambda s, v: s.save_run_event(RUN, event_type="tool.completed", data=v),
        _read_event_data,
        "data",
    ),
    *(
        Path(f"save_llm_interaction.{f}", _make_run, _llm_write(f), _read_llm(f), f)
        for f in ("semantic_request", "semantic_response", "provider_request", "provider_response")
    ),
    Path(
        "pause_run.pause_data",
        _make_run,
        lambda s, v: s.pause_run(RUN, status="waiting_human_input", pause_data=v),
        _read_pause,
        "pause_data",
    ),
    Path(
        "submit_and_claim.submitted_data",
        _make_paused_run,
        lambda s, v: s.submit_and_claim(
            RUN, expected_status="waiting_client_tool", submitted_data=v
        ),
        _read_merged,
        "submitted_data",
        merged_with={"top_one": "old"},
    ),
]
PATH_IDS = [p.name for p in PATHS]


async def round_trip(store: StateStore, path: Path, value: Any) -> Any:
    await path.setup(store)
    result = await path.write(store, value)
    assert result in (None, True) or result.outcome == "created"
    return await path.read(store)


async def stored_rows(store: StateStore) -> tuple[Any, ...]:
    """Everything the JSON paths above can write, as the store reads it back."""
    return (
        await store.count_runs(),
        await store.get_run(RUN),
        await store.get_traces(RUN),
        await store.get_tool_calls(RUN),
        await store.get_run_events(RUN),
        await store.get_llm_interactions(RUN),
        await store.get_pause_state(RUN),
    )


# -- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS)
async def test_payload_round_trips(path: Path, state_store: StateStore) -> None:
    assert_same(await round_trip(state_store, path, PAYLOAD), path.expected(PAYLOAD))


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS)
async def test_empty_containers_round_trip(path: Path, state_store: StateStore) -> None:
    """An empty dict stays an empty dict (not NULL, not a list) -- and back again."""
    assert_same(await round_trip(state_store, path, {}), path.expected({}))


async def test_non_object_json_values_round_trip(state_store: StateStore) -> None:
    """Columns that take any JSON value keep lists, strings, numbers, booleans."""
    values: list[Any] = [
        [],
        [1, True, 1.0, None, "x"],
        "plain string 😀 \\u0000",
        "",
        0,
        1,
        True,
        False,
        2**63 - 1,
        10**30,
        0.1,
        -0.0,
        [[[[{}]]]],
    ]
    for i, value in enumerate(values):
        run_id = f"nv{i}"
        await state_store.create_run(run_id, "agent", input_data=value)
        await state_store.save_llm_interaction(
            run_id,
            iteration_index=0,
            usage=Usage(),
            semantic_request=value,
            provider_response=value,
        )
        await state_store.save_tool_call(
            run_id, **_tool_call_kwargs(result_payload=json.dumps(value))
        )
        run = await state_store.get_run(run_id)
        (interaction,) = await state_store.get_llm_interactions(run_id)
        (call,) = await state_store.get_tool_calls(run_id)
        for got in (
            run.input_data,
            interaction.semantic_request,
            interaction.provider_response,
            call.result,
        ):
            assert_same(got, value)


async def test_none_stays_sql_null(state_store: StateStore) -> None:
    """Omitted JSON is None on the way out, distinct from {} and from JSON null inside."""
    await state_store.create_run(RUN, "agent")
    await state_store.save_trace(RUN, "user", "x", order_index=0)
    await state_store.save_tool_call(RUN, **_tool_call_kwargs())
    await state_store.save_run_event(RUN, event_type="run.started")
    await state_store.save_llm_interaction(RUN, iteration_index=0, usage=Usage())
    run = await state_store.get_run(RUN)
    assert (run.input_data, run.meta, run.output_data, run.answer) == (None, None, None, None)
    assert (await state_store.get_traces(RUN))[0].meta is None
    call = (await state_store.get_tool_calls(RUN))[0]
    assert (call.params, call.result) == (None, None)
    assert (await state_store.get_run_events(RUN))[0].data is None
    llm = (await state_store.get_llm_interactions(RUN))[0]
    assert (llm.semantic_request, llm.semantic_response) == (None, None)
    assert (llm.provider_request, llm.provider_response) == (None, None)
    assert await state_store.get_pause_state(RUN) is None
    assert await state_store.get_pii_mapping(RUN) is None


async def test_text_columns_and_answer_round_trip(state_store: StateStore) -> None:
    """Text columns, the answer (kept inside output_data) and the PII mapping keep unicode."""
    texts = [v for v in UNICODE.values() if isinstance(v, str)] + UNICODE["literal_u0000_variants"]
    for i, text in enumerate(texts):
        await state_store.create_run(f"t{i}", "agent " + text, model=text, strategy=text)
        await state_store.save_trace(f"t{i}", "user", text, order_index=0)
        await state_store.save_run_event(f"t{i}", event_type="run.started", correlation_id=text)
        mapping = {f"<P{i}>": text, text or "<empty>": "x"}
        assert await state_store.finalize_run(
            f"t{i}", status="error", answer=text, error=text, pii_mapping=mapping
        )
        run = await state_store.get_run(f"t{i}")
        assert (run.agent_name, run.model, run.strategy) == ("agent " + text, text, text)
        assert run.answer == text and run.error == text
        assert_same(run.output_data, {"answer": text})
        assert (await state_store.get_traces(f"t{i}"))[0].content == text
        assert (await state_store.get_run_events(f"t{i}"))[0].correlation_id == text
        assert_same(await state_store.get_pii_mapping(f"t{i}"), mapping)


async def test_floats_with_large_exponents_stay_floats(state_store: StateStore) -> None:
    """json.dumps writes these in exponent form; they must come back as floats (SQLite keeps
    the text; jsonb normalises numerics, so the type must survive that too)."""
    floats = {
        "e16": 1e16,
        "e22": 1e22,
        "neg_e20": -1.5e20,
        "e300": 1e300,
        "max": 1.7976931348623157e308,
    }
    await state_store.create_run(RUN, "agent", meta=floats, input_data=[floats])
    run = await state_store.get_run(RUN)
    assert run.meta == floats  # numerically equal on both dialects ...
    assert_same(run.meta, floats)  # ... and still floats, like on SQLite
    assert_same(run.input_data, [floats])


async def test_deep_nesting_round_trips_everywhere(state_store: StateStore) -> None:
    """50 levels of dicts, lists and both, through a dict-only and an any-JSON column."""
    for i, deep in enumerate([_deep_dict(50), _deep_list(50), _deep_mixed(50)]):
        run_id = f"deep{i}"
        await state_store.create_run(run_id, "agent", input_data=deep, meta={"deep": deep})
        run = await state_store.get_run(run_id)
        assert_same(run.input_data, deep)
        assert_same(run.meta, {"deep": deep})


# -- raw tool results ------------------------------------------------------------------

RAW_RESULTS = [
    ('{"a": 1}', {"a": 1}),
    ('  {"a" : [1, 2.5, true, null]}\n', {"a": [1, 2.5, True, None]}),
    ("[1, 2]", [1, 2]),
    ('"text"', "text"),
    ("42", 42),
    ("4.0", 4.0),
    ("true", True),
    ('"\\u00e9\\ud83d\\ude00"', "é😀"),
    (json.dumps({"big": 10**30, "neg": -(10**30) - 1}), {"big": 10**30, "neg": -(10**30) - 1}),
    ('"\\\\u0000"', "\\u0000"),  # an escaped backslash, then u0000: not a NUL
    # not JSON: kept verbatim as {"raw": text}
    ("plain text", {"raw": "plain text"}),
    ("NaN", {"raw": "NaN"}),
    ("Infinity", {"raw": "Infinity"}),
    ("-Infinity", {"raw": "-Infinity"}),
    ('{"x": NaN}', {"raw": '{"x": NaN}'}),
    ("[1, Infinity]", {"raw": "[1, Infinity]"}),
    ("", {"raw": ""}),
    ("   ", {"raw": "   "}),
    ('{"a": 1', {"raw": '{"a": 1'}),
    ("{'single': 'quotes'}", {"raw": "{'single': 'quotes'}"}),
    ("True", {"raw": "True"}),
    ("None", {"raw": "None"}),
    ('😀 not json \\u0000 "', {"raw": '😀 not json \\u0000 "'}),
    ('{"a": 1} trailing', {"raw": '{"a": 1} trailing'}),
    ("1e400", {"raw": "1e400"}),  # valid JSON, but no float holds it: keep the text
    ('{"x": -1e400}', {"raw": '{"x": -1e400}'}),
]


async def test_tool_result_payload_json_or_raw(state_store: StateStore) -> None:
    """result_payload that is JSON is stored parsed; anything else as {"raw": text}."""
    await _make_run(state_store)
    failures = []
    for i, (text, expected) in enumerate(RAW_RESULTS):
        try:
            await state_store.save_tool_call(
                RUN,
                **_tool_call_kwargs(tool_call_id=f"tc{i}", iteration_index=i, result_payload=text),
            )
        except Exception as exc:
            failures.append(f"{text!r}: raised {exc!r}")
            continue
        (call,) = await state_store.get_tool_calls(RUN, iteration_index=i)
        found = differences(call.result, expected)
        if found:
            failures.append(f"{text!r}: {found}")
    assert not failures, "\n".join(failures)


# -- rejections: the same on both dialects --------------------------------------------

NAN = float("nan")
INF = float("inf")
REJECTED: list[tuple[str, Any]] = [
    ("nan_top", {"x": NAN}),
    ("inf_top", {"x": INF}),
    ("neg_inf_top", {"x": -INF}),
    ("nan_deep", {"a": [{"b": [1, 2, {"c": NAN}]}]}),
    ("inf_in_deep_dict", _deep_dict(40) | {"bad": INF}),
    ("nul_in_value", {"x": "a\x00b"}),
    ("nul_only", {"x": "\x00"}),
    ("nul_after_backslash", {"x": "\\\x00"}),
    ("nul_in_key", {"a\x00": 1}),
    ("nul_in_deep_key", {"a": [{"b": {"\x00": True}}]}),
    ("nul_in_deep_value", {"a": [[["ok", "\x00"]]]}),
]


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS)
async def test_nan_infinity_and_nul_are_refused(path: Path, state_store: StateStore) -> None:
    """ValueError naming the argument, nothing stored -- identically on both dialects."""
    await path.setup(state_store)
    before = await stored_rows(state_store)
    failures = []
    for label, value in REJECTED:
        if path.text and label.startswith(("nan", "inf", "neg_inf")):
            continue  # not JSON text: stored as {"raw": ...} (test_tool_result_payload_json_or_raw)
        try:
            await path.write(state_store, value)
        except Exception as exc:
            if type(exc) is not InvalidArgumentError:
                failures.append(f"{label}: expected InvalidArgumentError, got {exc!r}")
            elif path.field not in str(exc):
                failures.append(f"{label}: {str(exc)!r} does not name {path.field}")
        else:
            failures.append(f"{label}: accepted")
        if await stored_rows(state_store) != before:
            failures.append(f"{label}: something was stored")
            before = await stored_rows(state_store)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "path", [p for p in PATHS if not p.text], ids=[p.name for p in PATHS if not p.text]
)
async def test_unserialisable_values_are_type_errors(path: Path, state_store: StateStore) -> None:
    """result_payload is text; its type errors are in test_bad_input."""
    await path.setup(state_store)
    before = await stored_rows(state_store)
    for value in ({"s": {1, 2}}, {"o": [object()]}, {"b": b"bytes"}):
        with pytest.raises(InvalidArgumentTypeError, match=path.field) as info:
            await path.write(state_store, value)
        assert type(info.value) is InvalidArgumentTypeError
        assert isinstance(info.value, TypeError)
    assert await stored_rows(state_store) == before


async def test_nul_in_text_is_refused_the_same_way(state_store: StateStore) -> None:
    await _make_run(state_store)
    with pytest.raises(InvalidArgumentError, match="content"):
        await state_store.save_trace(RUN, "user", "a\x00b", order_index=0)
    with pytest.raises(InvalidArgumentError, match="answer"):
        await state_store.finalize_run(RUN, status="success", answer="\x00")
    with pytest.raises(InvalidArgumentError, match="pii_mapping"):
        await state_store.finalize_run(RUN, status="success", pii_mapping={"<P>": "\x00"})
    # the literal six characters are fine
    await state_store.save_trace(RUN, "user", "\\u0000", order_index=0)
    assert (await state_store.get_traces(RUN))[0].content == "\\u0000"
    assert (await state_store.get_run(RUN)).status == "running"


# -- the metadata filter sees the same JSON on both dialects ---------------------------


async def test_metadata_filter_matches_json_values_the_same_way(state_store: StateStore) -> None:
    metas = {
        "m1": {
            "emoji": "😀",
            "flag": True,
            "n": 1,
            "f": 0.1,
            "none": None,
            "big": 2**63 - 1,
            "cjk": "漢字",
            "q": 'a"b\\c',
            "lit": "\\u0000",
            "nested": {"emoji": "😀"},
        },
        "m2": {"emoji": "😀👍", "flag": 1, "n": True, "f": 0.1, "big": 2**63 - 2},
        "m3": {"n": 1.0, "flag": False, "f": 0.10000000000000002},
    }
    for run_id, meta in metas.items():
        await state_store.create_run(run_id, "agent", meta=meta)
        assert_same((await state_store.get_run(run_id)).meta, meta)
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"emoji": "😀"}, {"m1"}),
        ({"emoji": "😀👍"}, {"m2"}),
        ({"flag": True}, {"m1"}),
        ({"flag": 1}, {"m2"}),
        ({"flag": False}, {"m3"}),
        ({"n": True}, {"m2"}),
        ({"n": 1}, {"m1", "m3"}),
        ({"f": 0.1}, {"m1", "m2"}),
        ({"none": None}, {"m1"}),
        ({"big": 2**63 - 1}, {"m1"}),
        ({"q": 'a"b\\c'}, {"m1"}),
        ({"lit": "\\u0000"}, {"m1"}),
        ({"cjk": "漢字", "flag": True}, {"m1"}),
        ({"emoji": "😀", "flag": 1}, set()),
        ({"missing": 1}, set()),
        ({"nested": "😀"}, set()),
    ]
    failures = []
    for filt, expected in cases:
        listed = {r.id for r in await state_store.list_runs(metadata_filter=filt)}
        counted = await state_store.count_runs(metadata_filter=filt)
        if listed != expected or counted != len(expected):
            failures.append(
                f"{filt!r}: listed {sorted(listed)}, counted {counted}, want {sorted(expected)}"
            )
    assert not failures, "\n".join(failures)


# -- the column decoder ------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_json_values = st.recursive(
    _scalars, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20
)


@given(value=_json_values, compact=st.booleans(), pad=st.sampled_from(["", " ", "\n\t"]))
def test_decode_json_agrees_with_json_loads(value: Any, compact: bool, pad: str) -> None:
    text = json.dumps(value, separators=(",", ":") if compact else None, ensure_ascii=compact)
    text = pad + text + pad
    assert decode_json(text) == json.loads(text)
    assert decode_json(text.encode()) == json.loads(text)


@pytest.mark.parametrize("text", ["", "{", '{"a": 1} x', "[1,]", "nul", '"\\x"'])
def test_decode_json_refuses_what_json_loads_refuses(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        decode_json(text)
    assert str(got.value) == str(expected.value)
