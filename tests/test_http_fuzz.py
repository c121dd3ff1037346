"""Fuzzing the HTTP router's parameter and header parsing (issue 12), on both dialects.

Hypothesis builds query strings (known and random names, huge digit strings,
unicode, ``%`` junk, empty values, repeated keys, odd ``meta.`` keys,
datetimes) and ``Last-Event-ID`` headers for every route, calls the router
in-process with a real SQLite or PostgreSQL store behind it, and checks that
the answer is one of 200/204/400/404 (never a 500), that a 400 is the JSON
error shape naming a parameter, and that a 200 is a complete JSON document or
a well-formed event stream. The data is a finished run (the sample run and
its child), so every stream ends by itself.

The test runs its own event loop (hypothesis calls a plain function once per
example), so the stores are opened inside that loop rather than by fixtures.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

from http_support import Reply, asgi_request, sse_frames_are_valid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dendrux.demo import record_sample_run
from dendrux.http import make_read_router
from dendrux.state import StateStore
from dendrux.store import RunStore

DRILL_DOWNS = [
    "", "/events", "/events/stream", "/llm-calls", "/tool-calls", "/traces", "/pauses", "/retries",
]  # fmt: skip
TOP_LEVEL = ["/runs", "/stats", "/status-counts"]
"""Routes outside ``/runs/{id}``: drawn as "drills" that are the whole path."""
KNOWN_NAMES = [
    "limit",
    "offset",
    "after",
    "iteration",
    "status",
    "agent_name",
    "parent_run_id",
    "tenant_id",
    "started_after",
    "started_before",
    "total",
    "group_by",
]
LIST_KEYS = {
    "": None,
    "/events": "events",
    "/llm-calls": "llm_calls",
    "/tool-calls": "tool_calls",
    "/traces": "traces",
    "/pauses": "pauses",
    "/retries": "retries",
}

text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
digits = st.one_of(
    st.sampled_from([19, 20, 30, 31, 4300, 4301, 5000]), st.integers(min_value=1, max_value=6000)
).map(lambda n: "9" * n)
integers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(
        [
            "2147483647",
            "2147483648",
            "-2147483648",
            "-2147483649",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775809",
            "0",
            "-0",
            "00001",
            "-1",
        ]
    ),
    digits,
    digits.map(lambda d: "-" + d),
    digits,
)
datetimes = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59+00:00",
            "2025-01-31T12:00:00Z",
            "2025-01-31T12:00:00 02:00",
            "2025-W01-1",
            "2025-13-01T00:00:00Z",
        ]
    ),
)
junk = st.sampled_from(
    ["%", "%f", "%ff", "%zz", "%00", "%C3%28", "%E2%82", "+", "%2B", "&", "=", "==", ";", "%25"]
)
values = st.one_of(
    integers,
    datetimes,
    text,
    junk,
    st.just(""),
    st.sampled_from(["true", "false", "null", "1.5", "1e30", "-1e-30", "1e400", "NaN"]),
    st.sampled_from(["running", "success", "error,running", "bogus", " , "]),
)
meta_names = st.one_of(
    st.from_regex(r"meta\.[A-Za-z0-9_-]{1,8}", fullmatch=True),
    text.map(lambda t: "meta." + t),
    st.sampled_from(["meta.", "meta.a.b", "meta.k%00", "META.k"]),
)
names = st.one_of(st.sampled_from(KNOWN_NAMES), meta_names, text)


ALLOWED = {
    "/runs": [*KNOWN_NAMES[:2], *KNOWN_NAMES[4:10], "total", "meta.k"],
    "/status-counts": [*KNOWN_NAMES[5:10], "meta.k"],
    "/stats": ["started_after", "started_before", "group_by", "agent_name", "tenant_id"],
    "": [],
    "/events": ["after", "limit"],
    "/events/stream": ["after"],
    "/llm-calls": ["iteration", "limit", "offset"],
    "/tool-calls": ["iteration", "limit", "offset"],
    "/traces": ["limit", "offset"],
    "/pauses": ["limit", "offset"],
    "/retries": [],
}
INTEGER_NAMES = {"limit", "offset", "after", "iteration"}


def values_for(name: str) -> st.SearchStrategy[str]:
    """Mostly values of the parameter's own kind, sometimes anything."""
    if name in INTEGER_NAMES:
        own = integers
    elif name.startswith("started_"):
        own = datetimes
    elif name.startswith("meta."):
        own = st.one_of(integers, st.sampled_from(["true", "null", "1.5", "1e30", "1e400"]))
    elif name == "total":
        own = st.sampled_from(["exact", "capped", "none", "bogus", "CAPPED"])
    elif name == "group_by":
        own = st.sampled_from(["day", "agent", "model", "tenant", "bogus", "Day"])
    else:
        return values
    return st.one_of(own, own, own, values)


@st.composite
def query_strings(draw: st.DrawFn, allowed: list[str]) -> tuple[bytes, list[str]]:
    """A raw query string and the names it contains (as a server would pass it)."""
    parts: list[bytes] = []
    used: list[str] = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        if allowed and draw(st.integers(min_value=0, max_value=9)) < 8:
            name = draw(st.one_of(st.sampled_from(allowed), meta_names))
            if name.startswith("meta.") and "/runs" not in allowed and "meta.k" not in allowed:
                name = draw(st.sampled_from(allowed))
        else:
            name = draw(names)
        value = draw(values_for(name))
        used.append(name)
        style = draw(st.sampled_from(["encoded", "encoded", "raw", "bare"]))
        if style == "encoded":
            parts.append(f"{quote_plus(name)}={quote_plus(value)}".encode())
        elif style == "raw":  # junk and all, as a careless client sends it
            parts.append(f"{name}={value}".encode())
        else:
            parts.append(quote_plus(name).encode())
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            parts.append(parts[-1])  # repeated
    return b"&".join(parts), used


last_event_ids = st.one_of(
    st.none(),
    integers,
    text,
    st.binary(max_size=8).map(lambda b: b.decode("latin-1")),
)


def names_a_parameter(message: str, used: list[str]) -> bool:
    lowered = message.lower()
    if "query" in lowered or "meta" in lowered:
        return True
    return any(name and name[:40].strip() and name[:40] in message for name in used)


def check(reply: Reply, route: str, drill: str, used: list[str]) -> None:
    context = (route, reply.status, reply.body[:300])
    assert reply.status in (200, 204, 400, 404), context
    assert not reply.hung_up, context  # a finished run's stream ends by itself
    if reply.status == 204:
        assert drill == "/events/stream" and reply.body == b"", context
        return
    if drill == "/events/stream" and reply.status == 200:
        assert reply.content_type == "text/event-stream", context
        assert sse_frames_are_valid(reply.body), context
        return
    assert reply.content_type == "application/json", context
    body = json.loads(reply.body)
    if reply.status == 400:
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, context
        assert body["error"]["code"] == "bad_request", context
        assert names_a_parameter(body["error"]["message"], used), (context, used)
    elif reply.status == 404:
        assert body == {"error": {"code": "not_found", "message": "run not found"}}, context
    elif drill == "/runs":
        assert set(body) == {"runs", "total", "limit", "offset", "has_more", "total_exact"}, context
        assert 1 <= body["limit"] <= 1000 and body["offset"] >= 0
        assert len(body["runs"]) <= body["limit"]
        assert (
            body["total"] is None
            or body["total"] >= len(body["runs"]) + body["offset"]
            or (not body["runs"])
        ), context
    elif drill == "/status-counts":
        assert set(body) == {"counts", "at_most"}, context
        assert all(0 <= n <= body["at_most"] for n in body["counts"].values()), context
    elif drill == "/stats":
        assert set(body) == {"group_by", "started_after", "started_before", "total", "groups"}
        assert body["group_by"] in ("day", "agent", "model", "tenant"), context
        assert all(row["runs"] <= body["total"]["runs"] for row in body["groups"]), context
    elif drill == "":
        assert body["run_id"] == route.rsplit("/", 1)[-1], context
    else:
        key = LIST_KEYS[drill]
        assert isinstance(body[key], list), context


def run_in_loop(database_url: str, body: Callable[[Any, list[str]], Any]) -> None:
    """Seed the database and hand ``body`` a router, all in one private event loop."""
    loop = asyncio.new_event_loop()
    try:

        async def setup() -> tuple[StateStore, RunStore, list[str]]:
            state = StateStore.from_database_url(database_url)
            run_id = await record_sample_run(state)
            reader = RunStore.from_database_url(database_url)
            [child] = await reader.list_runs(parent_run_id=run_id)
            return state, reader, [run_id, child.run_id, "missing", "x" * 27]

        state, reader, run_ids = loop.run_until_complete(setup())
        try:
            app = make_read_router(
                store=reader,
                authorize=lambda scope: None,
                heartbeat_s=0.05,
                poll_interval_s=0.02,
                terminal_grace_s=0.05,
            )
            body(lambda coro: loop.run_until_complete(coro), [app, *run_ids])
        finally:
            loop.run_until_complete(reader.close())
            loop.run_until_complete(state.close())
    finally:
        loop.close()


def test_fuzz_query_strings_and_headers(database_url: str) -> None:
    def body(run: Any, context: list[Any]) -> None:
        app, *run_ids = context
        statuses: dict[int, int] = {}

        @settings(
            max_examples=150,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(
            run_id=st.sampled_from([run_ids[0], run_ids[0], run_ids[0], *run_ids]),
            drill=st.sampled_from([*TOP_LEVEL, *DRILL_DOWNS]),
            data=st.data(),
            last_event_id=last_event_ids,
            head=st.integers(min_value=0, max_value=9).map(lambda n: n == 0),
        )
        def example(
            run_id: str,
            drill: str,
            data: st.DataObject,
            last_event_id: str | None,
            head: bool,
        ) -> None:
            raw, used = data.draw(query_strings(ALLOWED[drill]), label="query")
            route = drill if drill in TOP_LEVEL else f"/runs/{run_id}{drill}"
            headers: list[tuple[bytes, bytes]] = []
            if last_event_id is not None:
                headers.append((b"last-event-id", last_event_id.encode("utf-8")))
            reply = run(
                asgi_request(
                    app,
                    route,
                    raw,
                    headers,
                    method="HEAD" if head else "GET",
                    hang_up_after_s=5,
                )
            )
            statuses[reply.status] = statuses.get(reply.status, 0) + 1
            if head:
                assert reply.status in (200, 204, 400, 404), (route, raw, reply.status)
                assert reply.body == b""
                return
            check(reply, route, drill, used)

        example()
        assert sum(statuses.values()) >= 100 and statuses.get(400, 0) >= 10, statuses

    run_in_loop(database_url, body)
