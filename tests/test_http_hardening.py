"""Issue 12 on the HTTP router, on both dialects: tenant scoping fails closed, every
parameter or header parse failure is a 400 naming the parameter (or, for
``Last-Event-ID``, a fall-back to ``?after=``), and integers past the INT32 index
range read as "nothing there" instead of a 500 or a stream an EventSource would
reconnect to forever.

Most cases call the router in-process (`http_support.asgi_request`) with real
SQLite and PostgreSQL stores behind it; a few go end to end under uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from http_support import Reply, asgi_request, sse_frames_are_valid, sse_ids
from test_http import serve, sse_frames

from dendrux.demo import record_sample_run
from dendrux.http import make_read_router
from dendrux.state import StateStore
from dendrux.store import RunStore
from dendrux.validation import INT32_MAX, INT32_MIN

BEYOND = INT32_MAX + 1  # 2147483648
BELOW = INT32_MIN - 1  # -2147483649


@pytest.fixture
async def run_store(database_url: str) -> AsyncIterator[RunStore]:
    async with RunStore.from_database_url(database_url) as store:
        yield store


def allow_all(scope: Any) -> None:
    return None


def error_code(reply: Reply) -> str:
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])


async def ticks(store: StateStore, run_id: str, seqs: range) -> None:
    for seq in seqs:
        await store.save_run_event(run_id, event_type="tick", sequence_index=seq, data={"n": seq})


# -- tenant scoping fails closed ----------------------------------------------------------


class _RaisingTenant:
    def __init__(self, exc: Exception) -> None:
        self._exc = exc

    @property
    def tenant_id(self) -> str:
        raise self._exc


class _BrokenMapping(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("lookup failed")

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(["tenant_id"])

    def __len__(self) -> int:
        return 1


BAD_PRINCIPALS: list[tuple[str, object, str]] = [
    ("plain string", "demo", "authorize returned a str whose tenant_id cannot be read"),
    ("list", ["demo"], "authorize returned a list whose tenant_id cannot be read"),
    ("int", 7, "authorize returned a int whose tenant_id cannot be read"),
    ("True", True, "authorize returned a bool whose tenant_id cannot be read"),
    ("False", False, "authorize returned a bool whose tenant_id cannot be read"),
    ("bytes", b"demo", "authorize returned a bytes whose tenant_id cannot be read"),
    ("misspelt key", {"tenant": "demo"}, "authorize returned a dict without a 'tenant_id' key"),
    ("empty mapping", {}, "authorize returned a dict without a 'tenant_id' key"),
    ("int tenant", {"tenant_id": 5}, "the principal's tenant_id is of type int"),
    ("bytes tenant", {"tenant_id": b"demo"}, "the principal's tenant_id is of type bytes"),
    ("list tenant", SimpleNamespace(tenant_id=["demo"]), "the principal's tenant_id is of type"),
    ("bool tenant", SimpleNamespace(tenant_id=False), "the principal's tenant_id is of type bool"),
    ("NUL tenant", {"tenant_id": "de\x00mo"}, "the principal's tenant_id cannot be stored"),
    ("no attribute", SimpleNamespace(user="u"), "SimpleNamespace whose tenant_id cannot be read"),
    (
        "property raises AttributeError",
        _RaisingTenant(AttributeError("no tenant loaded")),
        "_RaisingTenant whose tenant_id cannot be read (AttributeError)",
    ),
    (
        "property raises KeyError",
        _RaisingTenant(KeyError("tenant")),
        "_RaisingTenant whose tenant_id cannot be read (KeyError)",
    ),
    (
        "mapping raises",
        _BrokenMapping(),
        "_BrokenMapping whose tenant_id cannot be read (RuntimeError)",
    ),
]


def every_route(run_id: str) -> list[tuple[str, bytes]]:
    return [
        ("/runs", b""),
        ("/runs", b"tenant_id=demo"),
        ("/runs", b"agent_name=refund-agent&limit=1000"),
        (f"/runs/{run_id}", b""),
        (f"/runs/{run_id}/events", b""),
        (f"/runs/{run_id}/events/stream", b""),
        (f"/runs/{run_id}/events/stream", b"after=2"),
        (f"/runs/{run_id}/llm-calls", b""),
        (f"/runs/{run_id}/tool-calls", b"iteration=1"),
        (f"/runs/{run_id}/traces", b""),
        (f"/runs/{run_id}/pauses", b""),
        ("/runs/missing", b""),
        ("/runs/missing/events/stream", b""),
        ("/runs", b"limit=bad"),  # the principal is judged before the parameters
    ]


async def test_principals_the_router_cannot_read_fail_closed_on_every_route(
    state_store: StateStore, run_store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    run_id = await record_sample_run(state_store)
    await state_store.create_run("other", "other-agent", tenant_id="b")
    routes = every_route(run_id)
    caplog.set_level(logging.DEBUG, logger="dendrux.http")
    for label, principal, problem in BAD_PRINCIPALS:
        app = make_read_router(store=run_store, authorize=lambda scope, p=principal: p)
        for path, query in routes:
            caplog.clear()
            for method in ("GET", "HEAD"):
                reply = await asgi_request(app, path, query, method=method, hang_up_after_s=3)
                assert reply.status == 500, (label, path, query, method, reply.body)
                assert not reply.hung_up
                if method == "HEAD":
                    assert reply.body == b""
                    continue
                assert reply.content_type == "application/json"
                assert reply.json() == {
                    "error": {
                        "code": "principal_invalid",
                        "message": "the server cannot tell which runs this request may read",
                    }
                }
                for secret in (run_id, "refund-agent", "other", "demo", "#8812"):
                    assert secret not in reply.body.decode(), (label, path)
            logged = [r for r in caplog.records if r.name == "dendrux.http"]
            assert len(logged) == 2, (label, path, [r.getMessage() for r in logged])  # GET, HEAD
            for record in logged:
                assert record.levelno == logging.ERROR and record.exc_info is None
                message = record.getMessage()
                assert "\n" not in message
                assert problem in message, (label, message)
                assert path in message


async def test_principals_the_router_understands_still_scope(
    state_store: StateStore, run_store: RunStore
) -> None:
    run_id = await record_sample_run(state_store)
    await state_store.create_run("other", "other-agent", tenant_id="b")

    class Tenant(str):
        """A str subclass is still a str."""

    async def async_principal(scope: Any) -> object:
        return {"tenant_id": Tenant("demo")}

    cases: list[tuple[object, set[str]]] = [
        (None, {"other", run_id}),
        ({"tenant_id": None}, {"other", run_id}),
        (SimpleNamespace(tenant_id=None), {"other", run_id}),
        ({"tenant_id": "demo", "user": "u"}, {run_id}),
        (SimpleNamespace(tenant_id="b"), {"other"}),
        ({"tenant_id": ""}, set()),  # a tenant nobody has: nothing, never everything
    ]
    for principal, visible in cases:
        app = make_read_router(store=run_store, authorize=lambda scope, p=principal: p)
        listed = await asgi_request(app, "/runs")
        assert listed.status == 200
        parents = {r["run_id"] for r in listed.json()["runs"] if r["parent_run_id"] is None}
        assert parents == visible, principal
        detail = await asgi_request(app, f"/runs/{run_id}/events")
        assert detail.status == (200 if run_id in visible else 404), principal
    app = make_read_router(store=run_store, authorize=async_principal)
    stream = await asgi_request(app, f"/runs/{run_id}/events/stream")
    assert stream.status == 200 and sse_ids(stream.body) == list(range(9))


async def test_a_bad_principal_is_a_500_end_to_end_sse_included(
    state_store: StateStore, run_store: RunStore
) -> None:
    run_id = await record_sample_run(state_store)

    def authorize(scope: Any) -> object:
        headers = dict(scope["headers"])
        return headers.get(b"x-principal", b"").decode() or None

    app = make_read_router(store=run_store, authorize=authorize)
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        for path in ("/runs", f"/runs/{run_id}/events/stream", f"/runs/{run_id}/pauses"):
            response = await client.get(path, headers={"x-principal": "acme"})
            assert response.status_code == 500, path
            assert response.json()["error"]["code"] == "principal_invalid"
            assert run_id not in response.text
        # The same router still serves an explicit None principal.
        async with client.stream("GET", f"/runs/{run_id}/events/stream") as stream:
            assert stream.status_code == 200
            ids = [int(f["id"]) async for f in sse_frames(stream)]
        assert ids == list(range(9))


# -- integers: bounded parsing and the INT32 index range -------------------------------------

HUGE = "9" * 5000


async def test_integers_past_the_index_range_read_as_nothing(
    state_store: StateStore, run_store: RunStore
) -> None:
    run_id = await record_sample_run(state_store)
    app = make_read_router(store=run_store, authorize=allow_all)
    every = [e.sequence_index for e in await run_store.get_events(run_id)]
    assert every == list(range(9))

    async def events(query: bytes) -> Any:
        reply = await asgi_request(app, f"/runs/{run_id}/events", query)
        assert reply.status == 200, (query, reply.body)
        return reply.json()

    assert await events(f"after={BEYOND}".encode()) == {
        "events": [],
        "after": BEYOND,
        "limit": 100,
    }
    assert (await events(f"after={INT32_MAX}".encode()))["events"] == []
    assert (await events(b"after=4611686018427387904"))["events"] == []  # 2**62
    below = await events(f"after={BELOW}".encode())
    assert [e["sequence_index"] for e in below["events"]] == every and below["after"] == BELOW
    edge = await events(f"after={INT32_MIN}".encode())
    assert [e["sequence_index"] for e in edge["events"]] == every
    for drill, key in (("llm-calls", "llm_calls"), ("tool-calls", "tool_calls")):
        for iteration in (2**40, BEYOND, INT32_MAX):
            path = f"/runs/{run_id}/{drill}"
            reply = await asgi_request(app, path, f"iteration={iteration}".encode())
            assert reply.status == 200, (drill, iteration, reply.body)
            assert reply.json() == {key: [], "limit": 100, "offset": 0}
        one = await asgi_request(app, f"/runs/{run_id}/{drill}", b"iteration=1")
        assert one.status == 200 and len(one.json()[key]) == 1
    # Existence is still checked: an unknown run is a 404, not an empty page.
    for path, query in (
        ("/runs/missing/events", f"after={BEYOND}"),
        ("/runs/missing/llm-calls", "iteration=1099511627776"),
        ("/runs/missing/tool-calls", "iteration=1099511627776"),
    ):
        reply = await asgi_request(app, path, query.encode())
        assert (reply.status, error_code(reply)) == (404, "not_found"), path
    # Offsets are plain 64-bit row counts: far past the end is an empty page with the total.
    page = await asgi_request(app, "/runs", b"offset=9223372036854775807")
    assert page.status == 200
    assert page.json() == {
        "runs": [], "total": 2, "limit": 50, "offset": 2**63 - 1, "has_more": False,
        "total_exact": True,
    }  # fmt: skip
    traces = await asgi_request(app, f"/runs/{run_id}/traces", b"offset=4611686018427387904")
    assert traces.status == 200 and traces.json()["traces"] == []
    pauses = await asgi_request(app, f"/runs/{run_id}/pauses", b"offset=4611686018427387904")
    assert pauses.status == 200 and pauses.json()["pauses"] == []


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/runs?limit={}", "limit"),
        ("/runs?offset={}", "offset"),
        ("/runs?meta.k={}", "meta.k"),
        ("/runs?meta.k=-{}", "meta.k"),
        ("/runs/r1/events?after={}", "after"),
        ("/runs/r1/events?after=-{}", "after"),
        ("/runs/r1/events?limit={}", "limit"),
        ("/runs/r1/llm-calls?iteration={}", "iteration"),
        ("/runs/r1/tool-calls?offset={}", "offset"),
        ("/runs/r1/traces?limit={}", "limit"),
        ("/runs/r1/pauses?offset={}", "offset"),
        ("/runs/r1/events/stream?after={}", "after"),
    ],
)
async def test_integers_of_thousands_of_digits_are_400s(
    state_store: StateStore, run_store: RunStore, path: str, name: str
) -> None:
    await state_store.create_run("r1", "agent")
    app = make_read_router(store=run_store, authorize=allow_all)
    for digits in (HUGE, "9" * 31, "9223372036854775809"):
        route, _, query = path.format(digits).partition("?")
        reply = await asgi_request(app, route, query.encode())
        assert reply.status == 400, (path, reply.body[:200])
        message = reply.json()["error"]["message"]
        if name == "meta.k":  # a filter value: read as the CLI reads it (dendrux.read.text)
            assert message == f"{name} must be between {-(2**63)} and {2**63 - 1}"
        else:
            assert message == f"{name} is outside the 64-bit integer range"
    ok_route, _, ok_query = path.format("9223372036854775807").partition("?")
    if name not in ("after", "iteration", "meta.k"):  # clamped, or past every row
        assert (await asgi_request(app, ok_route, ok_query.encode())).status == 200


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "started_after=9999-12-31T23:59:59-14:00",
            "started_after is outside the range of datetimes once converted to UTC",
        ),
        (
            "started_before=0001-01-01T00:00:00%2B14:00",
            "started_before is outside the range of datetimes once converted to UTC",
        ),
        (
            "started_before=0001-01-01T00:00:00 14:00",  # an unencoded "+"
            "started_before is outside the range of datetimes once converted to UTC",
        ),
        ("started_after=" + "2" * 5000, "started_after must be an ISO-8601 datetime"),
        ("agent_name=%ff", "the query string is not valid UTF-8 in parameter agent_name"),
        ("meta.k=%C3%28", "the query string is not valid UTF-8 in parameter meta.k"),
        ("agent_name=%zz", "the query string has a malformed %-escape in parameter agent_name"),
        ("agent_name=100%", "the query string has a malformed %-escape in parameter agent_name"),
        ("agent_name=%4", "the query string has a malformed %-escape in parameter agent_name"),
        ("%ff=1", "the query string is not valid UTF-8 in a parameter name"),
        ("a%g0=1", "the query string has a malformed %-escape in a parameter name"),
        ("agent_name=a&agent_name=b", "agent_name must be given at most once"),
        ("status=running&limit=1&limit=1", "limit must be given at most once"),
        (
            "x" * 5000 + "=1",
            "unknown query parameter 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'...",
        ),
        ("&".join(f"meta.k{i}=1" for i in range(201)), "too many query parameters"),
        ("limit=%EF%BC%91", "limit must be an integer, got '\uff11'"),  # a fullwidth digit
        ("offset=+1", "offset must be an integer, got ' 1'"),
    ],
)
async def test_parse_failures_are_400s_naming_the_parameter(
    state_store: StateStore, run_store: RunStore, query: str, message: str
) -> None:
    app = make_read_router(store=run_store, authorize=allow_all)
    reply = await asgi_request(app, "/runs", query.encode())
    assert reply.status == 400, (query[:80], reply.body[:300])
    assert error_code(reply) == "bad_request"
    assert reply.json()["error"]["message"].startswith(message), reply.json()
    assert len(reply.body) < 500  # a huge value is not echoed back whole


async def test_datetime_bounds_that_convert_are_fine(run_store: RunStore) -> None:
    app = make_read_router(store=run_store, authorize=allow_all)
    for query in (
        b"started_after=9999-12-31T23:59:59%2B00:00",
        b"started_before=0001-01-01T00:00:00Z",
        b"started_after=9999-12-31T09:59:59-14:00",
        b"started_after=0001-01-01T14:00:00%2B14:00",
    ):
        reply = await asgi_request(app, "/runs", query)
        assert reply.status == 200, (query, reply.body)


# -- Server-Sent Events: cursors from the header and the query --------------------------------


async def test_last_event_id_outside_the_range_falls_back_to_after(
    state_store: StateStore, run_store: RunStore
) -> None:
    await state_store.create_run("r1", "agent")
    await ticks(state_store, "r1", range(5))
    await state_store.save_run_event("r1", event_type="run.completed", sequence_index=5)
    app = make_read_router(store=run_store, authorize=allow_all, poll_interval_s=0.02)

    async def ids(query: bytes, header: str | bytes | None) -> list[int]:
        headers = [] if header is None else [(b"last-event-id", _bytes(header))]
        reply = await asgi_request(app, "/runs/r1/events/stream", query, headers)
        assert reply.status == 200, (query, header, reply.status, reply.body[:200])
        assert not reply.hung_up and sse_frames_are_valid(reply.body)
        return sse_ids(reply.body)

    for header in (HUGE, "-" + HUGE, str(BELOW), str(BEYOND), "9223372036854775808", "1e3"):
        assert await ids(b"after=2", header) == [3, 4, 5], header
        assert await ids(b"", header) == [0, 1, 2, 3, 4, 5], header
    assert await ids(b"after=2", b"\xff\xfe") == [3, 4, 5]  # not even text
    assert await ids(b"after=0", "3") == [4, 5]  # a good header still wins
    assert await ids(b"", f" {INT32_MIN} ") == [0, 1, 2, 3, 4, 5]
    done = await asgi_request(app, "/runs/r1/events/stream", b"", [(b"last-event-id", b"5")])
    assert (done.status, done.body) == (204, b"")


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


async def test_stream_cursor_past_the_end_of_a_finished_run_is_204(
    state_store: StateStore, run_store: RunStore
) -> None:
    await state_store.create_run("done", "agent")
    await ticks(state_store, "done", range(3))
    await state_store.save_run_event("done", event_type="run.error", sequence_index=3)
    await state_store.finalize_run("done", status="error", error="boom")
    # Terminal by status only (no terminal event), e.g. swept.
    await state_store.create_run("swept", "agent")
    await ticks(state_store, "swept", range(2))
    await state_store.finalize_run("swept", status="cancelled")
    app = make_read_router(
        store=run_store, authorize=allow_all, poll_interval_s=0.02, terminal_grace_s=0.05
    )

    async def get(run_id: str, query: str, header: str | None = None) -> Reply:
        headers = [] if header is None else [(b"last-event-id", header.encode())]
        return await asgi_request(
            app, f"/runs/{run_id}/events/stream", query.encode(), headers, hang_up_after_s=3
        )

    for query in (f"after={BEYOND}", "after=3", "after=4", "after=1000", f"after={INT32_MAX}"):
        reply = await get("done", query)
        assert (reply.status, reply.body) == (204, b""), query
    for header in ("3", "99", str(INT32_MAX)):
        reply = await get("done", "", header)
        assert (reply.status, reply.body) == (204, b""), header
    reply = await get("done", f"after={BELOW}")
    assert reply.status == 200 and sse_ids(reply.body) == [0, 1, 2, 3]
    reply = await get("done", "after=2")
    assert reply.status == 200 and sse_ids(reply.body) == [3]
    # No event can follow a cursor past the INT32 range: a terminal run is over.
    reply = await get("swept", f"after={BEYOND}")
    assert (reply.status, reply.body) == (204, b"")
    reply = await get("swept", "after=4611686018427387904")
    assert (reply.status, reply.body) == (204, b"")
    # In range, a terminal status without a terminal event keeps the grace period.
    reply = await get("swept", "after=1")
    assert reply.status == 200 and not reply.hung_up and sse_ids(reply.body) == []
    # A resumed run is not over although a terminal event precedes the cursor.
    await state_store.create_run("resumed", "agent")
    await state_store.save_run_event("resumed", event_type="run.interrupted", sequence_index=0)
    await ticks(state_store, "resumed", range(1, 3))
    reply = await asgi_request(
        app,
        "/runs/resumed/events/stream",
        b"after=2",
        hang_up_after_s=0.3,
    )
    assert reply.status == 200 and reply.hung_up  # live: stays open


async def test_stream_cursor_past_the_range_on_a_live_run_sends_heartbeats_until_it_ends(
    state_store: StateStore, run_store: RunStore
) -> None:
    await state_store.create_run("live", "agent")
    await ticks(state_store, "live", range(2))
    app = make_read_router(
        store=run_store,
        authorize=allow_all,
        heartbeat_s=0.05,
        poll_interval_s=0.02,
        terminal_grace_s=0.1,
    )
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        url = f"/runs/live/events/stream?after={BEYOND}"
        async with client.stream("GET", url) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"] == "text/event-stream"
            frames = sse_frames(stream)
            first = await asyncio.wait_for(anext(frames), timeout=3)
            assert first == {"comments": ["keep-alive"]}
            await ticks(state_store, "live", range(2, 4))  # nothing can pass the cursor
            await state_store.finalize_run("live", status="success", answer="ok")
            rest = await asyncio.wait_for(_collect(frames), timeout=5)
            assert all("id" not in frame for frame in rest)
        # The EventSource reconnects with the same cursor: now it is told to stop.
        again = await client.get(url)
        assert (again.status_code, again.content) == (204, b"")
        header = await client.get(
            "/runs/live/events/stream?after=3", headers={"last-event-id": str(BELOW)}
        )
        # The header falls back to after=3, in range: the grace period, then closed.
        assert header.status_code == 200 and "id:" not in header.text


async def _collect(frames: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [frame async for frame in frames]
