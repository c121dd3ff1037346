"""The metadata filter against a pure-Python reference, on both dialects.

SPEC 6: ``metadata_filter`` is exact equality on top-level keys of ``meta``,
AND across keys, and "the same filter must select the same runs on both
dialects". The reference below is PostgreSQL's ``jsonb @>`` on top-level
scalars, which is what the PostgreSQL query runs; SQLite's
``json_each``/``json_type``/``json_extract`` expression must agree with it:

- the key must be present and the values equal under JSON semantics;
- numbers compare numerically (``1 == 1.0``), exactly (no float rounding);
- a bool never equals a number, text equals text only;
- ``None`` matches only an explicit JSON null, never a missing key;
- a nested list/object never equals a scalar (not even one it contains).

Runs are written through `StateStore`, read back through `RunStore`, and the
result must be exactly the reference selection, in the unfiltered listing's
order (newest first, ties by id), with `count_runs` agreeing.

Stored metas also hold integers beyond 64 bits, which SQLite reads as the nearest
REAL and PostgreSQL keeps exact. The filter values that could tell the two apart
(floats of 2**63 and more in magnitude, and the int -2**63, equal to such a rounded
REAL) are refused with one clear `InvalidArgumentError` on both dialects (issue 12,
item 7); every other filter must still select exactly the reference runs.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.store import RunStore
from dendrux.validation import encode_json

KEYS = ["a", "b", "thread_id", "user-id", "x_1"]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
BIG = 2**200  # stored ints go this far (json text, no int-string limit in reach)

# -- reference semantics ------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_equal(stored: object, wanted: object) -> bool:
    """``jsonb`` equality of a stored top-level value and a scalar filter value."""
    if wanted is None or stored is None:
        return stored is None and wanted is None
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return isinstance(wanted, bool) and isinstance(stored, bool) and stored == wanted
    if _is_number(wanted) and _is_number(stored):
        return stored == wanted  # Python compares int and float exactly
    if isinstance(wanted, str) and isinstance(stored, str):
        return stored == wanted
    return False  # type mismatch, or a list/dict against a scalar


def reference_match(meta: dict[str, Any] | None, metadata_filter: dict[str, Any]) -> bool:
    """Whether ``meta @> metadata_filter`` holds for a scalar-valued filter."""
    if not metadata_filter:
        return True
    if meta is None:
        return False
    return all(
        key in meta and json_equal(meta[key], value) for key, value in metadata_filter.items()
    )


def test_reference_semantics() -> None:
    """The reference itself, on the cases the property leans on."""
    assert reference_match({"a": 1}, {"a": 1.0})
    assert reference_match({"a": 1.0}, {"a": 1})
    assert not reference_match({"a": True}, {"a": 1})
    assert not reference_match({"a": 1}, {"a": True})
    assert not reference_match({"a": 0}, {"a": False})
    assert not reference_match({"a": "1"}, {"a": 1})
    assert not reference_match({}, {"a": None})
    assert not reference_match(None, {"a": None})
    assert reference_match({"a": None}, {"a": None})
    assert not reference_match({"a": [1]}, {"a": 1})
    assert not reference_match({"a": {"a": 1}}, {"a": 1})
    assert not reference_match({"a": 2**53 + 1}, {"a": float(2**53)})
    assert reference_match({"a": 2**60}, {"a": float(2**60)})
    assert reference_match({"a": 1, "b": "x"}, {"a": 1, "b": "x"})
    assert not reference_match({"a": 1}, {"a": 1, "b": "x"})


# -- strategies -----------------------------------------------------------------------

_text = st.one_of(
    st.sampled_from(
        [
            "",
            "1",
            "1.0",
            "true",
            "null",
            "a",
            "A",
            "th-1",
            "é",
            "e\u0301",
            "日本",
            "🙂",
            'q"q',
            "back\\slash",
            "1e+16",
            " ",
            "\u2028",
            "\x01",
        ]
    ),
    # Storable text only: no NUL, no lone surrogates (SPEC 10 refuses both).
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=4),
)
_ints = st.one_of(
    st.sampled_from(
        [
            0,
            -1,
            1,
            2,
            2**31,
            2**53,
            2**53 + 1,
            -(2**53 + 1),
            2**60,
            2**60 + 1,
            INT64_MAX,
            INT64_MIN,
            10**16,
            10**17,
        ]
    ),
    st.integers(-3, 3),
    st.integers(INT64_MIN, INT64_MAX),
)
# Beyond 64 bits: storable in meta, never a filter value SQLite and PostgreSQL agree on.
_big_ints = st.one_of(
    st.sampled_from(
        [2**63, 2**63 + 1, -(2**63) - 1, 2**64, 2**64 + 1, 10**30, -(10**30), 2**100, BIG]
    ),
    st.integers(-BIG, BIG),
)
_floats = st.one_of(
    st.sampled_from(
        [
            0.0,
            -0.0,
            1.0,
            -1.0,
            2.0,
            0.5,
            1.5,
            0.1,
            0.30000000000000004,
            float(2**53),
            float(2**60),
            1e16,
            1e17,
            9.2233720368547758e18,
            1e300,
            5e-324,
            1e-7,
            1.7976931348623157e308,
            1e30,
            -1e30,
            -9.2233720368547758e18,
            math.nextafter(2.0**63, 0),
            float(2**64),
        ]
    ),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(_text, _ints, _floats, st.booleans(), st.none(), _big_ints)
_nested = st.one_of(
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(KEYS), scalars, max_size=2),
)
# Mostly scalars, sometimes a nested value a scalar filter must never match.
meta_values = st.one_of(scalars, scalars, scalars, _nested)
metas = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(KEYS), meta_values, max_size=4),
)


def _storable_scalar(value: object) -> bool:
    """A scalar ``meta`` can hold (and a filter may try)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return -BIG - 2 <= value <= BIG + 2
    return value is None or isinstance(value, str | bool)


def filterable(value: object) -> bool:
    """A filter value both dialects compare exactly alike (others are refused)."""
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) < 2.0**63
    if isinstance(value, int) and not isinstance(value, bool):
        return -INT64_MAX <= value <= INT64_MAX
    return True


def test_filterable() -> None:
    assert filterable(2**63 - 1) and filterable(-(2**63) + 1) and filterable(float(2**62))
    assert filterable(math.nextafter(2.0**63, 0)) and filterable(-1.5) and filterable("x")
    assert not filterable(-(2**63)) and not filterable(2**63) and not filterable(10**30)
    assert not filterable(1e30) and not filterable(-(2.0**63)) and not filterable(2.0**63)


def _variants(value: object) -> list[object]:
    """Scalars equal to, or tantalisingly close to, a stored value."""
    out: list[object] = []
    if isinstance(value, bool):
        out += [value, int(value), float(value), str(value).lower(), not value]
    elif isinstance(value, int):
        out += [value, float(value), str(value), value + 1, value - 1]
        if abs(value) > INT64_MAX:  # what SQLite reads it as, and that REAL as an int
            out += [float(value), int(float(value))]
        if value in (0, 1):
            out.append(bool(value))
    elif isinstance(value, float):
        out += [value, repr(value), math.nextafter(value, math.inf), -value]
        if value.is_integer():
            out += [int(value), int(value) + 1]
        if value in (0.0, 1.0):
            out.append(bool(value))
    elif isinstance(value, str):
        out += [value, value + " ", value.upper()]
        for parse in (int, float):
            with contextlib.suppress(ValueError, OverflowError):
                out.append(parse(value))
    elif value is None:
        out += [None, "null", 0, False]
    elif isinstance(value, list):
        out += list(value)  # an element of a stored list: must not match the list
    elif isinstance(value, dict):
        out += list(value.values())
    return [v for v in out if _storable_scalar(v)]


@dataclass(frozen=True)
class Scenario:
    runs: list[tuple[str, dict[str, Any] | None]]
    filters: list[dict[str, Any]]
    updates: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    """Runs whose meta is then rewritten in place (raw SQL), in order."""

    def final_metas(self) -> dict[str, dict[str, Any] | None]:
        return dict(self.runs) | dict(self.updates)


@st.composite
def scenarios(draw: st.DrawFn, *, updates: bool = False) -> Scenario:
    run_metas = draw(st.lists(metas, min_size=1, max_size=8))
    # Ids in an order unrelated to creation order, so ties by id are exercised too.
    order = draw(st.permutations(range(len(run_metas))))
    runs = [(f"r{n:02d}", meta) for n, meta in zip(order, run_metas, strict=True)]
    rewrites: list[tuple[str, dict[str, Any] | None]] = []
    if updates:
        ids = [run_id for run_id, _ in runs]
        rewrites = draw(st.lists(st.tuples(st.sampled_from(ids), metas), min_size=1, max_size=5))
    final = dict(runs) | dict(rewrites)
    candidates = [
        (key, variant)
        for meta in final.values()
        for key, value in (meta or {}).items()
        for variant in _variants(value)
    ]
    fresh = st.tuples(st.sampled_from(KEYS), scalars)
    pair = st.one_of(st.sampled_from(candidates), fresh) if candidates else fresh
    mixed = st.lists(pair, min_size=1, max_size=3).map(dict)
    # Filters also from metas an update replaced: what a stale index would still match.
    filled = [meta for meta in [*final.values(), *(m for _, m in runs)] if meta]
    if filled:
        # Most filters are (a variant of) part of one run's meta, so matches happen.
        part = _part_of(st.sampled_from(filled))
        filter_strategy = st.one_of(part, part, part, mixed)
    else:
        filter_strategy = mixed
    filters = draw(st.lists(filter_strategy, min_size=1, max_size=4))
    return Scenario(runs=runs, filters=filters, updates=rewrites)


@st.composite
def _part_of(draw: st.DrawFn, meta_strategy: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """1-3 of a run's keys, each with its own value (when scalar) or a near variant."""
    meta = draw(meta_strategy)
    keys = draw(st.lists(st.sampled_from(sorted(meta)), min_size=1, max_size=3, unique=True))
    part: dict[str, Any] = {}
    for key in keys:
        value = meta[key]
        variants = _variants(value)
        if _storable_scalar(value) and draw(st.integers(0, 3)) > 0:
            part[key] = value
        else:
            part[key] = draw(st.sampled_from(variants) if variants else scalars)
    return part


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture
async def run_store(database_url: str) -> AsyncIterator[RunStore]:
    store = RunStore.from_database_url(database_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def clear_runs(
    dialect: str, database_url: str
) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Delete every run (and, by cascade, its rows) through the raw driver."""
    if dialect == "sqlite":
        path = database_url.split("///", 1)[1]

        async def clear_sqlite() -> None:
            raw = sqlite3.connect(path, timeout=10)
            try:
                raw.execute("PRAGMA foreign_keys = ON")
                raw.execute("DELETE FROM agent_runs")
                raw.commit()
            finally:
                raw.close()

        yield clear_sqlite
        return

    conn = await asyncpg.connect(database_url)

    async def clear_postgres() -> None:
        await conn.execute("DELETE FROM agent_runs")

    try:
        yield clear_postgres
    finally:
        await conn.close()


@pytest.fixture
async def set_meta(
    dialect: str, database_url: str
) -> AsyncIterator[Callable[[str, dict[str, Any] | None], Awaitable[None]]]:
    """Rewrite a run's meta in place through the raw driver (no dendrux API does that,
    but the SQLite metadata index must follow any UPDATE of the column)."""
    if dialect == "sqlite":
        path = database_url.split("///", 1)[1]

        async def set_sqlite(run_id: str, meta: dict[str, Any] | None) -> None:
            raw = sqlite3.connect(path, timeout=10)
            try:
                text = encode_json("meta", meta)
                raw.execute("UPDATE agent_runs SET meta = ? WHERE id = ?", (text, run_id))
                raw.commit()
            finally:
                raw.close()

        yield set_sqlite
        return

    conn = await asyncpg.connect(database_url)

    async def set_postgres(run_id: str, meta: dict[str, Any] | None) -> None:
        text = encode_json("meta", meta)
        await conn.execute("UPDATE agent_runs SET meta = $1::jsonb WHERE id = $2", text, run_id)

    try:
        yield set_postgres
    finally:
        await conn.close()


# -- the property ----------------------------------------------------------------------


async def _check(
    state_store: Any,
    run_store: RunStore,
    scenario: Scenario,
    set_meta: Callable[[str, dict[str, Any] | None], Awaitable[None]] | None = None,
) -> None:
    for run_id, meta in scenario.runs:
        await state_store.create_run(run_id, "prop-agent", meta=meta)
    for run_id, meta in scenario.updates:
        assert set_meta is not None
        await set_meta(run_id, meta)
    metas = scenario.final_metas()

    everything = await run_store.list_runs(limit=1000)
    order = [summary.run_id for summary in everything]
    assert sorted(order) == sorted(metas)
    keys = [(s.created_at, s.run_id) for s in everything]
    assert keys == sorted(keys, reverse=True), "unfiltered listing is not newest first, ties by id"
    for summary in everything:
        assert summary.meta == metas[summary.run_id]

    for metadata_filter in scenario.filters:
        if not all(filterable(value) for value in metadata_filter.values()):
            for call in (run_store.list_runs, run_store.count_runs, state_store.list_runs,
                         state_store.count_runs):  # fmt: skip
                with pytest.raises(InvalidArgumentError, match=r"metadata_filter\["):
                    await call(metadata_filter=metadata_filter)
            continue
        expected = [run_id for run_id in order if reference_match(metas[run_id], metadata_filter)]
        got = [
            s.run_id for s in await run_store.list_runs(metadata_filter=metadata_filter, limit=1000)
        ]
        assert got == expected, (
            f"metadata_filter={metadata_filter!r}: got {got}, reference {expected}; "
            f"metas={ {r: metas[r] for r in order}!r}"
        )
        count = await run_store.count_runs(metadata_filter=metadata_filter)
        assert count == len(expected), (
            f"count_runs({metadata_filter!r}) = {count}, not {len(expected)}"
        )
        # The store functions behind StateStore run the same filter queries.
        listed = await state_store.list_runs(metadata_filter=metadata_filter, limit=1000)
        assert [r.id for r in listed] == expected
        assert await state_store.count_runs(metadata_filter=metadata_filter) == len(expected)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
async def test_metadata_filter_matches_reference(
    scenario: Scenario,
    state_store: Any,
    run_store: RunStore,
    clear_runs: Callable[[], Awaitable[None]],
) -> None:
    await clear_runs()
    await _check(state_store, run_store, scenario)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios(updates=True))
async def test_metadata_filter_follows_meta_updates(
    scenario: Scenario,
    state_store: Any,
    run_store: RunStore,
    clear_runs: Callable[[], Awaitable[None]],
    set_meta: Callable[[str, dict[str, Any] | None], Awaitable[None]],
) -> None:
    """Rewriting ``meta`` in place (SQLite: the update trigger re-indexes the run)
    selects by the new values only."""
    await clear_runs()
    await _check(state_store, run_store, scenario, set_meta)


# -- explicit examples for the tricky cases ---------------------------------------------

TRICKY_RUNS: list[tuple[str, dict[str, Any] | None]] = [
    ("t-true", {"a": True}),
    ("t-false", {"a": False}),
    ("t-one", {"a": 1}),
    ("t-one-float", {"a": 1.0}),
    ("t-zero", {"a": 0}),
    ("t-text-one", {"a": "1"}),
    ("t-null", {"a": None}),
    ("t-missing", {"b": 1}),
    ("t-no-meta", None),
    ("t-empty", {}),
    ("t-list", {"a": [1, True, None, "1"]}),
    ("t-dict", {"a": {"a": 1}}),
    ("t-big", {"a": 2**53 + 1}),
    ("t-big-float", {"a": float(2**53)}),
    ("t-2p60", {"a": 2**60}),
    ("t-unicode", {"a": "é", "user-id": "日本🙂"}),
    ("t-combo", {"a": 1, "thread_id": "th-1", "user-id": "u"}),
    ("t-1e30", {"b": 10**30}),
    ("t-2p63", {"b": 2**63 + 1}),
    ("t-neg-2p63", {"b": -(2**63) - 1}),
    ("t-float-2p62", {"b": float(2**62)}),
]

TRICKY_FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({"a": True}, {"t-true"}),
    ({"a": False}, {"t-false"}),
    ({"a": 1}, {"t-one", "t-one-float", "t-combo"}),
    ({"a": 1.0}, {"t-one", "t-one-float", "t-combo"}),
    ({"a": 0}, {"t-zero"}),
    ({"a": -0.0}, {"t-zero"}),
    ({"a": "1"}, {"t-text-one"}),
    ({"a": None}, {"t-null"}),
    ({"b": None}, set()),
    ({"a": 2**53 + 1}, {"t-big"}),
    ({"a": float(2**53)}, {"t-big-float"}),
    ({"a": 2**53}, {"t-big-float"}),
    ({"a": float(2**60)}, {"t-2p60"}),
    ({"a": "é"}, {"t-unicode"}),
    ({"a": "e\u0301"}, set()),  # no Unicode normalisation
    ({"user-id": "日本🙂"}, {"t-unicode"}),
    ({"a": 1, "thread_id": "th-1"}, {"t-combo"}),
    ({"a": 1, "thread_id": "th-2"}, set()),
    ({"x_1": 1}, set()),
    # Beyond 64 bits a stored int is a REAL on SQLite: no allowed filter value equals it.
    ({"b": 2**63 - 1}, set()),
    ({"b": -(2**63) + 1}, set()),
    ({"b": 2**62}, {"t-float-2p62"}),
    ({"b": float(2**62)}, {"t-float-2p62"}),
    ({"b": math.nextafter(2.0**63, 0)}, set()),
]


@pytest.mark.parametrize(
    ("metadata_filter", "expected"), TRICKY_FILTERS, ids=[repr(f) for f, _ in TRICKY_FILTERS]
)
def test_tricky_reference_cases(metadata_filter: dict[str, Any], expected: set[str]) -> None:
    metas = dict(TRICKY_RUNS)
    assert {r for r, m in metas.items() if reference_match(m, metadata_filter)} == expected


async def test_tricky_cases_on_the_database(state_store: Any, run_store: RunStore) -> None:
    for run_id, meta in TRICKY_RUNS:
        await state_store.create_run(run_id, "tricky", meta=meta)
    order = [s.run_id for s in await run_store.list_runs(limit=1000)]
    failures = []
    for metadata_filter, expected in TRICKY_FILTERS:
        got = [s.run_id for s in await run_store.list_runs(metadata_filter=metadata_filter)]
        want = [run_id for run_id in order if run_id in expected]
        count = await run_store.count_runs(metadata_filter=metadata_filter)
        if got != want or count != len(want):
            failures.append(f"{metadata_filter!r}: got {got} (count {count}), want {want}")
    assert not failures, "\n".join(failures)
    # An empty filter filters nothing.
    assert [s.run_id for s in await run_store.list_runs(metadata_filter={})] == order
    assert await run_store.count_runs(metadata_filter={}) == len(order)


BAD_KEYS: list[object] = ["é", "日本", "a.b", "$.a", 'a"b', "a b", "", "a\x00", "a'--", 1, None]


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
async def test_bad_metadata_keys_are_refused(run_store: RunStore, key: object) -> None:
    with pytest.raises(ValueError, match="must match"):
        await run_store.list_runs(metadata_filter={key: 1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="must match"):
        await run_store.count_runs(metadata_filter={key: 1})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (math.nan, ValueError),
        (math.inf, ValueError),
        (-math.inf, ValueError),
        (2**63, ValueError),
        (-(2**63) - 1, ValueError),
        (-(2**63), ValueError),  # equals SQLite's REAL reading of -(2**63) - 1
        (10**30, ValueError),
        (10**5000, ValueError),  # past the int-string limit: still a clean refusal
        (1e30, ValueError),  # equals SQLite's REAL reading of 10**30 (issue 12, item 7)
        (2.0**63, ValueError),
        (-(2.0**63), ValueError),
        (1.7976931348623157e308, ValueError),
        ("a\x00b", ValueError),
        ("\ud800", ValueError),
        ([1], TypeError),
        ({"a": 1}, TypeError),
        (b"1", TypeError),
    ],
    ids=lambda v: f"int of {v.bit_length()} bits" if isinstance(v, int) else repr(v),
)
async def test_unstorable_filter_values_are_refused(
    run_store: RunStore, state_store: Any, value: object, error: type[Exception]
) -> None:
    """One clear argument error, the same on both dialects, naming the filter key."""
    dendrux_error = InvalidArgumentError if error is ValueError else InvalidArgumentTypeError
    for call in (run_store.list_runs, run_store.count_runs, state_store.list_runs,
                 state_store.count_runs):  # fmt: skip
        with pytest.raises(error) as exc:
            await call(metadata_filter={"a": value})
        assert type(exc.value) is dendrux_error
        assert "metadata_filter['a']" in str(exc.value)


async def test_float_filter_on_an_int_beyond_64_bits(state_store: Any, run_store: RunStore) -> None:
    """Issue 12, item 7: ``{"v": 1e30}`` matched ``meta={"v": 10**30}`` on SQLite only.
    Now the float is refused on both; the int itself is refused too (beyond 64 bits)."""
    await state_store.create_run("big", "a", meta={"v": 10**30, "w": -(2**63) - 1})
    await state_store.create_run("small", "a", meta={"v": 2**62, "w": -(2**63) + 1})
    for value in (1e30, float(10**30), 10**30):
        with pytest.raises(InvalidArgumentError, match=r"metadata_filter\['v'\]"):
            await run_store.list_runs(metadata_filter={"v": value})
    with pytest.raises(InvalidArgumentError, match=r"metadata_filter\['w'\]"):
        await run_store.count_runs(metadata_filter={"w": -(2**63)})
    assert [r.run_id for r in await run_store.list_runs(metadata_filter={"v": 2**62})] == ["small"]
    assert await run_store.count_runs(metadata_filter={"v": float(2**62)}) == 1
    assert await run_store.count_runs(metadata_filter={"w": -(2**63) + 1}) == 1
    detail = await run_store.get_run("big")
    assert detail is not None and detail.meta == {"v": 10**30, "w": -(2**63) - 1}
