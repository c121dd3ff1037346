"""The HTTP read router (SPEC 7) under a real ASGI server, over real HTTP, on both dialects.

Every test starts uvicorn in-process on 127.0.0.1 (a pre-bound free port) in
an asyncio task of the test's own loop and talks to it with httpx. Data is
written with `StateStore` / the demo recorder run, read back through the
router and compared with what `RunStore` returns for the same calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from dendrux.demo import record_sample_run
from dendrux.errors import TransientDatabaseError
from dendrux.http import make_read_router
from dendrux.state import StateStore
from dendrux.store import RunDetail, RunStore

SAMPLE_EVENT_TYPES = [
    "run.started",
    "llm.completed",
    "approval.requested",
    "run.paused",
    "run.resumed",
    "approval.decided",
    "tool.completed",
    "llm.completed",
    "run.completed",
]

# -- helpers ---------------------------------------------------------------------------


@asynccontextmanager
async def serve(app: Any, *, root_path: str = "") -> AsyncIterator[str]:
    """Run ``app`` under uvicorn on a free local port; yields the base URL."""
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto says TCP, and without it every response waits ~40 ms on delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        root_path=root_path,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if task.done():
                task.result()  # a startup failure (lifespan included) surfaces here
                raise AssertionError("uvicorn stopped before it started")
            assert time.monotonic() < deadline, "uvicorn did not start"
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
        sock.close()


def allow_all(scope: Any) -> None:
    return None


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def as_json(record: object) -> Any:
    """What the router must serve for a record: its fields, datetimes as ISO-8601."""
    fields = dataclasses.asdict(record)  # type: ignore[call-overload]
    plain = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}
    return json.loads(json.dumps(plain))


async def sse_frames(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Server-Sent Events frames: {"id", "event", "data", "comments"} as they arrive."""
    frame: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line == "":
            if frame:
                yield frame
            frame = {}
        elif line.startswith(":"):
            frame.setdefault("comments", []).append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            frame[name] = value[1:] if value.startswith(" ") else value
    if frame:
        yield frame


def error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


RUN_NOT_FOUND = error("not_found", "run not found")


@pytest.fixture
async def run_store(database_url: str) -> AsyncIterator[RunStore]:
    async with RunStore.from_database_url(database_url) as store:
        yield store


async def ticks(store: StateStore, run_id: str, seqs: range, pause: float = 0.0) -> None:
    for seq in seqs:
        await store.save_run_event(run_id, event_type="tick", sequence_index=seq, data={"n": seq})
        if pause:
            await asyncio.sleep(pause)


# -- every route ---------------------------------------------------------------------------


async def test_every_route_serves_the_run_store_records(
    state_store: StateStore, run_store: RunStore
) -> None:
    run_id = await record_sample_run(state_store)
    [child] = await run_store.list_runs(parent_run_id=run_id)
    app = make_read_router(store=run_store, authorize=allow_all)
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        health = await client.get("/health")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        assert health.headers["content-type"] == "application/json"

        runs = await client.get("/runs")
        assert runs.status_code == 200
        assert runs.headers["cache-control"] == "no-store"
        assert runs.json() == {
            "runs": [as_json(r) for r in await run_store.list_runs()],
            "total": 2,
            "limit": 50,
            "offset": 0,
            "has_more": False,  # issue 16
            "total_exact": True,
        }
        assert [r["run_id"] for r in runs.json()["runs"]] == [child.run_id, run_id]

        detail = (await client.get(f"/runs/{run_id}")).json()
        assert detail == as_json(await run_store.get_run(run_id))
        assert list(detail) == [f.name for f in dataclasses.fields(RunDetail)]
        assert detail["status"] == "success"
        assert detail["answer"] == "Done: $49.99 refunded for order #8812."
        assert detail["meta"] == {"thread_id": "thread_demo", "user_id": "u_123"}
        assert detail["total_input_tokens"] == 1262
        created = datetime.fromisoformat(detail["created_at"])
        assert created.utcoffset() is not None and created.utcoffset().total_seconds() == 0  # type: ignore[union-attr]

        events = (await client.get(f"/runs/{run_id}/events")).json()
        assert events == {
            "events": [as_json(e) for e in await run_store.get_events(run_id)],
            "after": None,
            "limit": 100,
        }
        assert [e["event_type"] for e in events["events"]] == SAMPLE_EVENT_TYPES
        page = (await client.get(f"/runs/{run_id}/events?after=3&limit=2")).json()
        assert [e["sequence_index"] for e in page["events"]] == [4, 5]
        assert (page["after"], page["limit"]) == (3, 2)

        llm = (await client.get(f"/runs/{run_id}/llm-calls")).json()
        assert llm == {
            "llm_calls": [as_json(c) for c in await run_store.get_llm_calls(run_id)],
            "limit": 100,
            "offset": 0,
        }
        assert [(c["iteration"], c["total_tokens"]) for c in llm["llm_calls"]] == [
            (1, 649),
            (2, 695),
        ]
        second = (await client.get(f"/runs/{run_id}/llm-calls?iteration=2")).json()
        assert [c["iteration"] for c in second["llm_calls"]] == [2]

        tools = (await client.get(f"/runs/{run_id}/tool-calls")).json()
        assert tools == {
            "tool_calls": [as_json(t) for t in await run_store.get_tool_invocations(run_id)],
            "limit": 100,
            "offset": 0,
        }
        [refund] = tools["tool_calls"]
        assert (refund["tool_name"], refund["success"], refund["result"]) == (
            "refund",
            True,
            {"refunded": True, "amount_usd": 49.99},
        )
        none = (await client.get(f"/runs/{run_id}/tool-calls?iteration=2")).json()
        assert none["tool_calls"] == []

        traces = (await client.get(f"/runs/{run_id}/traces?limit=2&offset=1")).json()
        assert traces == {
            "traces": [as_json(t) for t in await run_store.get_traces(run_id, limit=2, offset=1)],
            "limit": 2,
            "offset": 1,
        }
        assert [t["order_index"] for t in traces["traces"]] == [1, 2]

        pauses = (await client.get(f"/runs/{run_id}/pauses")).json()
        assert pauses == {
            "pauses": [as_json(p) for p in await run_store.get_pauses(run_id)],
            "limit": 100,
            "offset": 0,
        }
        [pause] = pauses["pauses"]
        assert (pause["pause_sequence_index"], pause["resume_sequence_index"]) == (3, 4)
        assert (pause["reason"], pause["user_input"]) == (
            "waiting_approval",
            "approved by supervisor",
        )
        skipped = (await client.get(f"/runs/{run_id}/pauses?offset=1")).json()
        assert skipped == {"pauses": [], "limit": 100, "offset": 1}

        # HEAD: the GET's headers, no body.
        get = await client.get(f"/runs/{run_id}")
        head = await client.head(f"/runs/{run_id}")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == get.headers["content-length"]


async def test_pause_data_and_pii_mapping_are_never_served(
    state_store: StateStore, run_store: RunStore
) -> None:
    await state_store.create_run("secret", "agent", tenant_id="t")
    await state_store.save_run_event("secret", event_type="run.started", sequence_index=0)
    await state_store.pause_run(
        "secret",
        status="waiting_approval",
        pause_data={"vault": "PAUSE-SECRET"},
        pii_mapping={"<NAME_1>": "PII-SECRET"},
    )
    await state_store.save_run_event(
        "secret", event_type="run.paused", sequence_index=1, data={"status": "waiting_approval"}
    )
    assert await run_store.get_pii_mapping("secret") == {"<NAME_1>": "PII-SECRET"}
    app = make_read_router(store=run_store, authorize=allow_all, poll_interval_s=0.05)
    bodies = []
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        for path in ("", "/events", "/llm-calls", "/tool-calls", "/traces", "/pauses"):
            response = await client.get(f"/runs/secret{path}")
            assert response.status_code == 200
            bodies.append(response.text)
        bodies.append((await client.get("/runs")).text)
        async with client.stream("GET", "/runs/secret/events/stream") as stream:
            async for frame in sse_frames(stream):
                bodies.append(frame["data"])
                if frame["id"] == "1":
                    break
    for body in bodies:
        for secret in ("PAUSE-SECRET", "PII-SECRET", "pause_data", "pii_mapping", "vault"):
            assert secret not in body


# -- /runs filters and paging ----------------------------------------------------------------


async def test_list_filters_meta_and_paging(state_store: StateStore, run_store: RunStore) -> None:
    async def create(run_id: str, agent: str, **kwargs: Any) -> None:
        await state_store.create_run(run_id, agent, **kwargs)
        await asyncio.sleep(0.01)  # distinct creation times

    await create("r1", "alpha", tenant_id="t1", meta={"user": "u1", "n": 5, "flag": True})
    await create("r2", "alpha", tenant_id="t2", meta={"user": "u2", "n": 6, "flag": False})
    middle = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await create("r3", "beta", tenant_id="t1", parent_run_id="r1", meta={"user": "u1", "n": 5.5})
    await create("r4", "beta", meta={"user": "true", "code": "007", "note": "a b&c"})
    await state_store.finalize_run("r1", status="success")
    await state_store.finalize_run("r3", status="error", error="boom")

    app = make_read_router(store=run_store, authorize=allow_all)
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:

        async def ids(query: str | dict[str, Any]) -> list[str]:
            response = await client.get("/runs", params=query)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["total"] == len(body["runs"])  # none of these needs a second page
            return [run["run_id"] for run in body["runs"]]

        assert await ids("") == ["r4", "r3", "r2", "r1"]
        assert await ids("status=success") == ["r1"]
        assert await ids("status=success,error") == ["r3", "r1"]
        assert await ids("status=success&status=error") == ["r3", "r1"]
        assert await ids("status=running,success&status=error") == ["r4", "r3", "r2", "r1"]
        assert await ids("agent_name=beta") == ["r4", "r3"]
        assert await ids("parent_run_id=r1") == ["r3"]
        assert await ids("tenant_id=t1") == ["r3", "r1"]
        assert await ids("tenant_id=t1&status=error&agent_name=beta") == ["r3"]
        iso_z = middle.isoformat().replace("+00:00", "Z")
        assert await ids({"started_after": iso_z}) == ["r4", "r3"]
        assert await ids({"started_before": middle.isoformat()}) == ["r2", "r1"]
        # An offset's "+" that was not percent-encoded arrives as a space.
        assert await ids(f"started_before={middle.isoformat()}") == ["r2", "r1"]
        assert await ids("meta.user=u1") == ["r3", "r1"]
        assert await ids("meta.n=5") == ["r1"]
        assert await ids("meta.n=5.5") == ["r3"]
        assert await ids("meta.flag=true") == ["r1"]
        assert await ids("meta.flag=false") == ["r2"]
        assert await ids("meta.user=u1&meta.n=5") == ["r1"]
        assert await ids("meta.user=true") == []  # true is the JSON true, not the string
        assert await ids("meta.code=007") == ["r4"]  # not a JSON number: the string
        assert await ids({"meta.note": "a b&c"}) == ["r4"]
        assert await ids("meta.user=nobody") == []

        async def page(query: str) -> dict[str, Any]:
            response = await client.get(f"/runs?{query}")
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            body["runs"] = [run["run_id"] for run in body["runs"]]
            return body

        more = {"has_more": True, "total_exact": True}  # issue 16
        end = {"has_more": False, "total_exact": True}
        assert await page("limit=2") == {
            "runs": ["r4", "r3"], "total": 4, "limit": 2, "offset": 0, **more,
        }  # fmt: skip
        assert await page("limit=2&offset=2") == {
            "runs": ["r2", "r1"],
            "total": 4,
            "limit": 2,
            "offset": 2,
            **end,
        }
        assert await page("limit=2&offset=4") == {
            "runs": [], "total": 4, "limit": 2, "offset": 4, **end,
        }  # fmt: skip
        assert await page("agent_name=alpha&limit=1&offset=1") == {
            "runs": ["r1"],
            "total": 2,
            "limit": 1,
            "offset": 1,
            **end,
        }
        assert (await page("limit=5000"))["limit"] == 1000  # clamped, like RunStore.list_runs
        assert await page("agent_name=&status=") == await page("")  # empty means absent


# -- bad requests, unknown routes and runs ---------------------------------------------

BAD_PARAMETERS = [
    ("/runs?limit=abc", "limit must be an integer, got 'abc'"),
    ("/runs?limit=0", "limit must be >= 1, got 0"),
    ("/runs?limit=1&limit=2", "limit must be given at most once"),
    ("/runs?limit=99999999999999999999", "limit is outside the 64-bit integer range"),
    ("/runs?offset=-1", "offset must be >= 0, got -1"),
    ("/runs?offset=1.5", "offset must be an integer, got '1.5'"),
    (
        "/runs?started_after=2025-01-01T00:00:00",
        "started_after must say its time zone: end it in Z or an offset such as +00:00",
    ),
    (
        "/runs?started_before=yesterday",
        "started_before must be an ISO-8601 datetime such as 2025-01-31T12:00:00Z "
        "or a date such as 2025-01-31, got 'yesterday'",
    ),
    ("/runs?status=bogus", "status 'bogus' is not a run status; expected one of "),
    ("/runs?meta.a.b=1", "meta.a.b: the key 'a.b' must match ^[A-Za-z0-9_-]+$"),
    ("/runs?meta.k=1&meta.k=2", "meta.k must be given at most once"),
    (
        "/runs?meta.k=123456789012345678901",
        "meta.k must be between -9223372036854775808 and 9223372036854775807",
    ),
    ("/runs?stauts=running", "unknown query parameter 'stauts'"),
    ("/runs?agent_name=a%00b", "agent_name contains a NUL character"),
    ("/runs?agent_name=%ff", "the query string is not valid UTF-8"),
    ("/runs/r1?verbose=1", "unknown query parameter 'verbose'"),
    ("/runs/r1/events?after=x", "after must be an integer, got 'x'"),
    ("/runs/r1/events?limit=-5", "limit must be >= 1, got -5"),
    ("/runs/r1/events?offset=1", "unknown query parameter 'offset'"),
    ("/runs/r1/llm-calls?iteration=-1", "iteration must be >= 0, got -1"),
    ("/runs/r1/tool-calls?iteration=one", "iteration must be an integer, got 'one'"),
    ("/runs/r1/traces?iteration=1", "unknown query parameter 'iteration'"),
    ("/runs/r1/traces?limit=1e3", "limit must be an integer, got '1e3'"),
    ("/runs/r1/pauses?offset=x", "offset must be an integer, got 'x'"),
    ("/runs/r1/events/stream?after=x", "after must be an integer, got 'x'"),
]


async def test_bad_parameters_are_400s_naming_the_parameter(
    state_store: StateStore, run_store: RunStore
) -> None:
    await state_store.create_run("r1", "agent")
    app = make_read_router(store=run_store, authorize=allow_all)
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        for path, message in BAD_PARAMETERS:
            response = await client.get(path)
            assert response.status_code == 400, (path, response.text)
            body = response.json()
            assert body["error"]["code"] == "bad_request", path
            assert body["error"]["message"].startswith(message), (path, body)
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}


async def test_unknown_routes_runs_and_methods(
    state_store: StateStore, run_store: RunStore
) -> None:
    await state_store.create_run("r1", "agent")
    app = make_read_router(store=run_store, authorize=allow_all)
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        for path in ("/", "/nope", "/runs/r1/unknown", "/runs/r1/events/other", "/health/x"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.json() == error("not_found", "no such route")
        for run_id in ("missing", "x" * 27):
            for suffix in ("", "/events", "/events/stream", "/llm-calls", "/tool-calls"):
                response = await client.get(f"/runs/{run_id}{suffix}")
                assert (response.status_code, response.json()) == (404, RUN_NOT_FOUND)
            for suffix in ("/traces", "/pauses"):
                response = await client.get(f"/runs/{run_id}{suffix}")
                assert (response.status_code, response.json()) == (404, RUN_NOT_FOUND)
        for method, path in (("POST", "/runs"), ("DELETE", "/runs/r1"), ("PUT", "/health")):
            response = await client.request(method, path)
            assert response.status_code == 405
            assert response.headers["allow"] == "GET, HEAD"
            assert response.json() == error(
                "method_not_allowed", f"method {method} is not allowed; use GET"
            )
        assert (await client.get("/runs/r1/")).status_code == 200  # a trailing slash is fine


# -- authorization and tenants ----------------------------------------------------------------


def token_authorize(kind: str) -> Callable[[Any], Any]:
    def check(scope: Any) -> dict[str, Any]:
        token = _header(scope, b"authorization")
        if token == "Bearer reader":
            return {"user": "reader", "tenant_id": None}  # every tenant, explicitly
        if token == "Bearer intern":
            raise PermissionError("interns may not read runs (secret-detail)")
        raise LookupError(f"token {token!r} not in the token table (secret-detail)")

    if kind == "sync":
        return check

    async def check_async(scope: Any) -> dict[str, Any]:
        await asyncio.sleep(0)
        return check(scope)

    return check_async


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_authorize_rejections_are_401_and_403(
    state_store: StateStore, run_store: RunStore, kind: str
) -> None:
    await state_store.create_run("r1", "agent")
    app = make_read_router(store=run_store, authorize=token_authorize(kind))
    paths = [
        "/runs",
        "/runs/r1",
        "/runs/missing",
        "/runs/r1/events",
        "/runs/r1/events/stream",
        "/runs/r1/llm-calls",
        "/runs/r1/tool-calls",
        "/runs/r1/traces",
        "/runs/r1/pauses",
        "/runs?limit=bad",
    ]
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/health")).status_code == 200  # no authorization
        for path in paths:
            for headers, status, code, message in (
                ({}, 401, "unauthorized", "authentication required"),
                ({"authorization": "Bearer wrong"}, 401, "unauthorized", "authentication required"),
                (
                    {"authorization": "Bearer intern"},
                    403,
                    "forbidden",
                    "not allowed to read this resource",
                ),
            ):
                response = await client.get(path, headers=headers)
                assert response.status_code == status, (path, headers)
                assert response.json() == error(code, message)
                assert "secret-detail" not in response.text
        response = await client.get("/runs/r1", headers={"authorization": "Bearer reader"})
        assert response.status_code == 200 and response.json()["run_id"] == "r1"


@dataclasses.dataclass
class Principal:
    user: str
    tenant_id: str | None


@pytest.mark.parametrize("style", ["attribute", "mapping"])
async def test_a_principals_tenant_scopes_every_query(
    state_store: StateStore, run_store: RunStore, style: str
) -> None:
    for run_id, tenant in (("a1", "a"), ("b1", "b"), ("a2", "a"), ("n1", None)):
        await state_store.create_run(run_id, "agent", tenant_id=tenant)
        await state_store.save_run_event(run_id, event_type="run.started", sequence_index=0)
        await asyncio.sleep(0.005)
    await state_store.finalize_run("b1", status="success")
    await state_store.save_run_event("b1", event_type="run.completed", sequence_index=1)

    def authorize(scope: Any) -> object:
        tenant = _header(scope, b"x-tenant")
        if tenant is None:
            return None  # an operator: every tenant
        return Principal("u", tenant) if style == "attribute" else {"tenant_id": tenant}

    app = make_read_router(store=run_store, authorize=authorize)
    tenant_a = {"x-tenant": "a"}
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        listed = (await client.get("/runs", headers=tenant_a)).json()
        assert [r["run_id"] for r in listed["runs"]] == ["a2", "a1"] and listed["total"] == 2
        same = (await client.get("/runs?tenant_id=a", headers=tenant_a)).json()
        assert same == listed
        other = await client.get("/runs?tenant_id=b", headers=tenant_a)
        assert other.status_code == 200
        assert other.json() == {
            "runs": [], "total": 0, "limit": 50, "offset": 0, "has_more": False,
            "total_exact": True,
        }  # fmt: skip
        for run_id in ("b1", "n1", "missing"):
            for suffix in (
                "",
                "/events",
                "/events/stream",
                "/llm-calls",
                "/tool-calls",
                "/traces",
                "/pauses",
            ):
                response = await client.get(f"/runs/{run_id}{suffix}", headers=tenant_a)
                assert (response.status_code, response.json()) == (404, RUN_NOT_FOUND), (
                    run_id,
                    suffix,
                )
        for suffix in ("", "/events", "/traces", "/pauses"):
            assert (await client.get(f"/runs/a1{suffix}", headers=tenant_a)).status_code == 200
        everyone = (await client.get("/runs")).json()
        assert [r["run_id"] for r in everyone["runs"]] == ["n1", "a2", "b1", "a1"]
        assert (await client.get("/runs/b1")).status_code == 200


# -- mounting -------------------------------------------------------------------------------------


def mount(prefix: str, app: Any, *, strip: bool) -> Any:
    """A minimal prefix mount, the way frameworks do it (full path, or stripped)."""

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await app(scope, receive, send)
            return
        path = scope["path"]
        if path == prefix or path.startswith(prefix + "/"):
            child = dict(scope)
            child["root_path"] = scope.get("root_path", "") + prefix
            if strip:
                child["path"] = path[len(prefix) :] or "/"
            await app(child, receive, send)
            return
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"outer 404"})

    return outer


async def test_mounted_under_a_prefix(state_store: StateStore, run_store: RunStore) -> None:
    run_id = await record_sample_run(state_store)
    expected = as_json(await run_store.get_run(run_id))
    app = make_read_router(store=run_store, authorize=allow_all)
    # uvicorn --root-path: a proxy stripped /audit; uvicorn passes the full path.
    async with serve(app, root_path="/audit") as base, httpx.AsyncClient(base_url=base) as client:
        assert (await client.get(f"/runs/{run_id}")).json() == expected
        assert (await client.get("/health")).json() == {"status": "ok"}
        assert (await client.get("/runs")).json()["total"] == 2
    for strip in (False, True):
        outer = mount("/audit", app, strip=strip)
        async with serve(outer) as base, httpx.AsyncClient(base_url=base) as client:
            assert (await client.get(f"/audit/runs/{run_id}")).json() == expected
            assert (await client.get("/audit/health")).json() == {"status": "ok"}
            events = (await client.get(f"/audit/runs/{run_id}/events")).json()["events"]
            assert [e["event_type"] for e in events] == SAMPLE_EVENT_TYPES
            missing = await client.get("/audit/nope")
            assert missing.json() == error("not_found", "no such route")
            assert (await client.get("/elsewhere")).text == "outer 404"
            async with client.stream("GET", f"/audit/runs/{run_id}/events/stream") as stream:
                ids = [f["id"] async for f in sse_frames(stream)]
            assert ids == [str(i) for i in range(len(SAMPLE_EVENT_TYPES))]


# -- Server-Sent Events -----------------------------------------------------------------


async def test_stream_resumes_from_last_event_id_exactly_once(
    state_store: StateStore, run_store: RunStore
) -> None:
    await state_store.create_run("live", "agent")
    await ticks(state_store, "live", range(3))
    last = 40

    async def writer() -> None:
        await ticks(state_store, "live", range(3, last), pause=0.004)
        await state_store.finalize_run("live", status="success", answer="done")
        await state_store.save_run_event(
            "live", event_type="run.completed", sequence_index=last, data={"status": "success"}
        )

    app = make_read_router(store=run_store, authorize=allow_all, poll_interval_s=0.02)
    received: list[dict[str, Any]] = []
    connections = 0
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        writing: asyncio.Task[None] | None = None
        ended = False
        while not ended:
            headers = {"last-event-id": received[-1]["id"]} if received else {}
            connections += 1
            async with client.stream("GET", "/runs/live/events/stream", headers=headers) as r:
                assert r.status_code == 200
                assert r.headers["content-type"] == "text/event-stream"
                assert r.headers["cache-control"] == "no-cache"
                if writing is None:
                    writing = asyncio.create_task(writer())  # writes while we stream
                taken = 0
                ended = True  # unless we hang up first
                async for frame in sse_frames(r):
                    received.append(frame)
                    taken += 1
                    if taken == 7:  # hang up mid-stream, resume on the next connection
                        ended = False
                        break
            assert connections < 50
        assert writing is not None
        await writing
        # Resuming after the terminal event: 204, so an EventSource stops reconnecting.
        done = await client.get("/runs/live/events/stream", headers={"last-event-id": str(last)})
        assert (done.status_code, done.content) == (204, b"")
        again = await client.get(f"/runs/live/events/stream?after={last - 1}")
        assert again.status_code == 200 and again.text.startswith(f"id: {last}\n")
    assert [int(f["id"]) for f in received] == list(range(last + 1))
    stored = await run_store.get_events("live")
    assert [json.loads(f["data"]) for f in received] == [as_json(e) for e in stored]
    assert [f["event"] for f in received] == ["tick"] * last + ["run.completed"]
    assert connections >= 5


async def test_stream_cursor_from_after_and_header_precedence(
    state_store: StateStore, run_store: RunStore
) -> None:
    await state_store.create_run("r1", "agent")
    await ticks(state_store, "r1", range(10))
    await state_store.save_run_event("r1", event_type="run.error", sequence_index=10)
    app = make_read_router(store=run_store, authorize=allow_all, poll_interval_s=0.05)
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:

        async def ids(query: str, headers: dict[str, str]) -> list[int]:
            url = f"/runs/r1/events/stream{query}"
            async with client.stream("GET", url, headers=headers) as r:
                return [int(f["id"]) async for f in sse_frames(r)]

        assert await ids("", {}) == list(range(11))  # closes after run.error
        assert await ids("?after=7", {}) == [8, 9, 10]
        assert await ids("?after=2", {"last-event-id": "8"}) == [9, 10]  # the header wins
        assert await ids("?after=7", {"last-event-id": "not-a-number"}) == [8, 9, 10]
        assert await ids("", {"last-event-id": ""}) == list(range(11))
        assert await ids("?after=-1", {}) == list(range(11))


async def test_stream_closes_when_the_run_is_terminal_without_a_terminal_event(
    state_store: StateStore, run_store: RunStore
) -> None:
    await state_store.create_run("r1", "agent")
    await ticks(state_store, "r1", range(2))
    app = make_read_router(
        store=run_store, authorize=allow_all, poll_interval_s=0.02, terminal_grace_s=0.1
    )
    async with (
        serve(app) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
        client.stream("GET", "/runs/r1/events/stream") as r,
    ):
        frames = sse_frames(r)
        assert (await anext(frames))["id"] == "0"
        assert (await anext(frames))["id"] == "1"
        await asyncio.sleep(0.3)  # running: the stream stays open
        await ticks(state_store, "r1", range(2, 3))
        assert (await anext(frames))["id"] == "2"
        await state_store.finalize_run("r1", status="cancelled")
        started = time.monotonic()
        rest = await asyncio.wait_for(asyncio.ensure_future(_drain(frames)), timeout=5)
        assert rest == []
        assert time.monotonic() - started < 2


async def _drain(frames: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [frame async for frame in frames if "id" in frame]


async def test_stream_sends_heartbeats(state_store: StateStore, run_store: RunStore) -> None:
    await state_store.create_run("quiet", "agent")
    app = make_read_router(
        store=run_store, authorize=allow_all, heartbeat_s=0.1, poll_interval_s=0.05
    )
    async with (
        serve(app) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
        client.stream("GET", "/runs/quiet/events/stream") as r,
    ):
        frames = sse_frames(r)
        started = time.monotonic()
        beats = 0
        while beats < 3:
            frame = await asyncio.wait_for(anext(frames), timeout=2)
            assert frame == {"comments": ["keep-alive"]}
            beats += 1
        assert time.monotonic() - started >= 0.25
        await ticks(state_store, "quiet", range(1))
        frame = await asyncio.wait_for(anext(frames), timeout=2)
        while "id" not in frame:
            frame = await asyncio.wait_for(anext(frames), timeout=2)
        assert (frame["id"], frame["event"]) == ("0", "tick")


async def test_200_stream_connects_and_disconnects_leak_nothing(
    state_store: StateStore, run_store: RunStore, dialect: str, database_url: str
) -> None:
    await state_store.create_run("r1", "agent")
    await ticks(state_store, "r1", range(1))
    app = make_read_router(store=run_store, authorize=allow_all, poll_interval_s=0.01)

    async def pg_sessions() -> int:
        admin = await asyncpg.connect(database_url)
        try:
            return int(
                await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        finally:
            await admin.close()

    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:

        async def cycle() -> None:
            async with client.stream("GET", "/runs/r1/events/stream") as r:
                async for frame in sse_frames(r):
                    assert frame["id"] == "0"
                    break  # then hang up with the stream parked on its wake-up/poll

        async def settled(baseline: int) -> int:
            deadline = time.monotonic() + 5
            while len(asyncio.all_tasks()) > baseline and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return len(asyncio.all_tasks())

        for _ in range(3):  # warm up: reader connections, the LISTEN connection
            await cycle()
        await asyncio.sleep(0.1)
        tasks_before = len(asyncio.all_tasks())
        threads_before = threading.active_count()
        sessions_before = await pg_sessions() if dialect == "postgres" else 0
        for _ in range(200):
            await cycle()
        assert await settled(tasks_before) <= tasks_before
        assert app.open_streams == 0
        assert threading.active_count() <= threads_before
        if dialect == "postgres":
            assert await pg_sessions() <= sessions_before
            wakeups = await run_store.engine.run_event_wakeups()
            assert wakeups is not None and wakeups._waiters == {}  # type: ignore[attr-defined]
        else:
            assert len(run_store.engine._idle_readers) <= 4  # type: ignore[attr-defined]


async def test_postgres_stream_delivers_on_notify(postgres_url: str) -> None:
    async with (
        StateStore.from_database_url(postgres_url) as writer,
        RunStore.from_database_url(postgres_url) as store,
    ):
        await writer.create_run("r1", "agent")
        await ticks(writer, "r1", range(1))
        app = make_read_router(store=store, authorize=allow_all, poll_interval_s=5.0)
        async with (
            serve(app) as base,
            httpx.AsyncClient(base_url=base, timeout=10) as client,
            client.stream("GET", "/runs/r1/events/stream") as r,
        ):
            frames = sse_frames(r)
            assert (await anext(frames))["id"] == "0"
            delays = []
            for seq in range(1, 11):
                waiting = asyncio.ensure_future(anext(frames))
                await asyncio.sleep(0.02)
                committed = time.monotonic()
                await ticks(writer, "r1", range(seq, seq + 1))
                frame = await asyncio.wait_for(waiting, timeout=3)
                delays.append(time.monotonic() - committed)
                assert frame["id"] == str(seq)
        assert max(delays) < 1.0, delays  # polling alone would take up to 5 s


# -- lifespan, websockets, shutdown, failures ------------------------------------------------------


async def test_lifespan_websocket_and_close_streams(
    state_store: StateStore, run_store: RunStore
) -> None:
    app = make_read_router(store=run_store, authorize=allow_all, poll_interval_s=0.05)

    async def talk(scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[Any]:
        sent: list[Any] = []
        queue = list(incoming)

        async def receive() -> dict[str, Any]:
            return queue.pop(0)

        async def send(message: Any) -> None:
            sent.append(message)

        await asyncio.wait_for(app(scope, receive, send), timeout=5)
        return sent

    lifespan = {"type": "lifespan", "asgi": {"version": "3.0"}}
    assert await talk(lifespan, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]) == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]
    websocket = {"type": "websocket", "path": "/runs", "headers": []}
    sent = await talk(websocket, [{"type": "websocket.connect"}])
    assert [m["type"] for m in sent] == ["websocket.close"]

    await state_store.create_run("r1", "agent")
    await ticks(state_store, "r1", range(1))
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with client.stream("GET", "/runs/r1/events/stream") as r:
            frames = sse_frames(r)
            assert (await anext(frames))["id"] == "0"
            app.close_streams()  # what lifespan.shutdown does to open streams
            assert await asyncio.wait_for(_drain(frames), timeout=3) == []
        assert app.open_streams == 0


async def test_failures_are_500_or_503_without_internals(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenStore(RunStore):
        async def list_runs(self, **kwargs: Any) -> Any:
            raise RuntimeError("password=hunter2 at db.internal:5432")

        async def get_run(self, run_id: str) -> Any:
            raise TransientDatabaseError("lost db.internal:5432 (password=hunter2)")

    def odd_tenant(scope: Any) -> object:
        return {"tenant_id": 42} if _header(scope, b"x-odd") else None

    async with BrokenStore.from_database_url(database_url) as store:
        app = make_read_router(store=store, authorize=odd_tenant)
        caplog.set_level(logging.ERROR, logger="dendrux.http")
        async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
            response = await client.get("/runs")
            assert response.status_code == 500
            assert response.json() == error("internal_error", "internal server error")
            response = await client.get("/runs/r1")
            assert response.status_code == 503
            assert response.json() == error("unavailable", "the database is unavailable; retry")
            response = await client.get("/runs/r1/events", headers={"x-odd": "1"})
            assert response.status_code == 500  # fail closed on a principal it cannot read
            assert response.json()["error"]["code"] == "principal_invalid"
            assert "hunter2" not in response.text
    logged = [r for r in caplog.records if r.name == "dendrux.http"]
    assert len(logged) == 3 and all(r.exc_info for r in logged[:2])
    assert "hunter2" in str(logged[0].exc_info[1])  # type: ignore[index]
    assert "tenant_id is of type int" in logged[2].getMessage()  # one line, no traceback


def test_make_read_router_checks_its_arguments(tmp_path: Any) -> None:
    store = RunStore.from_database_url(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    with pytest.raises(TypeError, match="store must be a RunStore"):
        make_read_router(store=object(), authorize=allow_all)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="authorize must be a callable"):
        make_read_router(store=store, authorize=None)  # type: ignore[arg-type]
    for name in ("heartbeat_s", "poll_interval_s", "terminal_grace_s"):
        with pytest.raises(ValueError, match=name):
            make_read_router(store=store, authorize=allow_all, **{name: 0})
        with pytest.raises(TypeError, match=name):
            make_read_router(store=store, authorize=allow_all, **{name: "1"})


def test_the_library_does_not_import_uvicorn_or_httpx() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dendrux.http; "
        "bad = [m for m in ('uvicorn', 'httpx', 'starlette', 'fastapi') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
