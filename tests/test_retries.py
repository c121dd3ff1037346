"""Retry lineage for the run page: `RunDetail.retry_of_run_id`, `RunStore.get_retries` and
``GET /runs/{id}/retries``, with the same tenant rules as the other per-run routes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from http_support import asgi_request

from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.http import make_read_router
from dendrux.state import StateStore
from dendrux.store import RunStore


async def _lineage(store: StateStore) -> None:
    """first <- second <- third (a chain); first <- other (another tenant's retry)."""
    await store.create_run("first", "agent", tenant_id="ta")
    await asyncio.sleep(0.002)
    await store.create_run("second", "agent", tenant_id="ta", retry_of_run_id="first")
    await asyncio.sleep(0.002)
    await store.create_run("other", "agent", tenant_id="tb", retry_of_run_id="first")
    await asyncio.sleep(0.002)
    await store.create_run("third", "agent", tenant_id="ta", retry_of_run_id="second")
    await asyncio.sleep(0.002)
    await store.create_run("again", "agent", tenant_id="ta", retry_of_run_id="first")


async def test_run_detail_and_get_retries(state_store: StateStore, database_url: str) -> None:
    await _lineage(state_store)
    async with RunStore.from_database_url(database_url) as runs:
        first, second = await runs.get_run("first"), await runs.get_run("second")
        assert first is not None and first.retry_of_run_id is None
        assert second is not None and second.retry_of_run_id == "first"
        assert [r.run_id for r in await runs.get_retries("first")] == ["second", "other", "again"]
        scoped = await runs.get_retries("first", tenant_id="ta")
        assert [r.run_id for r in scoped] == ["second", "again"]
        assert [r.run_id for r in await runs.get_retries("second")] == ["third"]
        assert await runs.get_retries("third") == []
        assert await runs.get_retries("missing") == []
        with pytest.raises(InvalidArgumentError, match="run_id"):
            await runs.get_retries("")
        with pytest.raises(InvalidArgumentTypeError, match="tenant_id"):
            await runs.get_retries("first", tenant_id=3)  # type: ignore[arg-type]


def _tenant_of(scope: dict[str, Any]) -> Any:
    for key, value in scope["headers"]:
        if key == b"x-tenant":
            return {"tenant_id": value.decode()}
    return None


async def test_the_retries_route(state_store: StateStore, database_url: str) -> None:
    await _lineage(state_store)
    async with RunStore.from_database_url(database_url) as runs:
        app = make_read_router(store=runs, authorize=_tenant_of)
        reply = await asgi_request(app, "/runs/first/retries")
        assert reply.status == 200
        body = reply.json()
        assert [r["run_id"] for r in body["retries"]] == ["second", "other", "again"]
        assert body["retries"][0]["agent_name"] == "agent"
        detail = (await asgi_request(app, "/runs/second")).json()
        assert detail["retry_of_run_id"] == "first"

        ta = [(b"x-tenant", b"ta")]
        scoped = (await asgi_request(app, "/runs/first/retries", headers=ta)).json()
        assert [r["run_id"] for r in scoped["retries"]] == ["second", "again"]
        # Another tenant's run, a missing run: a 404 like every /runs/{id} route.
        assert (await asgi_request(app, "/runs/other/retries", headers=ta)).status == 404
        assert (await asgi_request(app, "/runs/missing/retries")).status == 404
        assert (await asgi_request(app, "/runs/third/retries")).json() == {"retries": []}
        assert (await asgi_request(app, "/runs/first/retries", b"limit=1")).status == 400
