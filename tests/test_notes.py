"""The notes inbox (0.4.1): add_note's guards and tenant scopes, exactly-once note ids,
delivery stamps, RunStore.get_notes, a race against finalize, and bad input."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

import pytest
from http_support import asgi_request

from dendrux.errors import (
    ConflictError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    RunNotFoundError,
)
from dendrux.http import make_read_router
from dendrux.state import UNSCOPED, NoteRecord, StateStore
from dendrux.store import RunNote, RunStore


async def test_add_get_and_deliver(state_store: StateStore) -> None:
    await state_store.create_run("r1", "agent", tenant_id="t1")
    assert await state_store.add_note("r1", note_id="n1", text="first", metadata={"k": [1]})
    assert await state_store.add_note("r1", note_id="n2", text="second")
    notes = await state_store.get_notes("r1")
    assert [n.id for n in notes] == ["n1", "n2"]
    first = notes[0]
    assert isinstance(first, NoteRecord)
    assert (first.run_id, first.text, first.metadata) == ("r1", "first", {"k": [1]})
    assert first.created_at is not None and first.created_at.tzinfo is UTC
    assert first.delivered_at is None and first.delivered_iteration is None
    control = await state_store.get_run_control("r1")
    assert control.has_pending_notes

    assert await state_store.mark_notes_delivered("r1", ["n1", "nope"], iteration=3) == 1
    assert await state_store.mark_notes_delivered("r1", ["n1"], iteration=4) == 0  # once
    assert await state_store.mark_notes_delivered("other", ["n2"], iteration=4) == 0
    assert await state_store.mark_notes_delivered("r1", [], iteration=4) == 0
    delivered = (await state_store.get_notes("r1"))[0]
    assert delivered.delivered_iteration == 3 and delivered.delivered_at is not None
    assert [n.id for n in await state_store.get_notes("r1", undelivered_only=True)] == ["n2"]
    assert await state_store.mark_notes_delivered("r1", ("n2",), iteration=5) == 1
    assert not (await state_store.get_run_control("r1")).has_pending_notes


async def test_add_note_refuses_terminal_missing_and_out_of_scope_runs(
    state_store: StateStore,
) -> None:
    await state_store.create_run("t", "agent", tenant_id="t1")
    await state_store.create_run("u", "agent")
    await state_store.create_run("done", "agent")
    await state_store.finalize_run("done", status="success")
    assert not await state_store.add_note("done", note_id="a", text="late")
    assert not await state_store.add_note("missing", note_id="b", text="x")
    assert not await state_store.add_note("t", note_id="c", text="x", tenant_id="t2")
    assert not await state_store.add_note("t", note_id="d", text="x", tenant_id=None)
    assert not await state_store.add_note("u", note_id="e", text="x", tenant_id="t1")
    assert await state_store.add_note("t", note_id="f", text="x", tenant_id="t1")
    assert await state_store.add_note("u", note_id="g", text="x", tenant_id=None)
    assert await state_store.add_note("u", note_id="h", text="x", tenant_id=UNSCOPED)
    assert await state_store.get_notes("done") == []
    # Paused and waiting runs still take notes (not terminal).
    await state_store.create_run("p", "agent")
    await state_store.pause_run("p", status="waiting_approval", pause_data={})
    assert await state_store.add_note("p", note_id="i", text="while waiting")

    assert [n.id for n in await state_store.get_notes("t", tenant_id="t1")] == ["f"]
    assert await state_store.get_notes("t", tenant_id="t2") == []
    assert await state_store.get_notes("t", tenant_id=None) == []
    assert [n.id for n in await state_store.get_notes("u", tenant_id=None)] == ["g", "h"]
    assert await state_store.get_notes("u", tenant_id="t1") == []


async def test_note_ids_are_exactly_once(state_store: StateStore) -> None:
    await state_store.create_run("r1", "agent")
    await state_store.create_run("r2", "agent")
    assert await state_store.add_note("r1", note_id="n1", text="hi", metadata={"a": 1})
    # A retry of the same note (its first answer lost) is fine, and stores nothing new.
    assert await state_store.add_note("r1", note_id="n1", text="hi", metadata={"a": 1})
    await state_store.finalize_run("r1", status="success")
    assert await state_store.add_note("r1", note_id="n1", text="hi", metadata={"a": 1})
    assert len(await state_store.get_notes("r1")) == 1
    for other in (
        {"run_id": "r1", "text": "other", "metadata": {"a": 1}},
        {"run_id": "r1", "text": "hi", "metadata": None},
        {"run_id": "r2", "text": "hi", "metadata": {"a": 1}},
    ):
        with pytest.raises(ConflictError, match="n1"):
            await state_store.add_note(
                other["run_id"], note_id="n1", text=other["text"], metadata=other["metadata"]
            )
    assert await state_store.get_notes("r2") == []


async def test_run_store_get_notes(state_store: StateStore) -> None:
    await state_store.create_run("t", "agent", tenant_id="t1")
    await state_store.create_run("u", "agent")
    await state_store.add_note("t", note_id="n1", text="one", metadata={"from": "ops"})
    await state_store.add_note("t", note_id="n2", text="two")
    await state_store.mark_notes_delivered("t", ["n1"], iteration=2)
    reader = RunStore(state_store)
    notes = await reader.get_notes("t")
    assert [type(n) for n in notes] == [RunNote, RunNote]
    assert notes[0].note_id == "n1" and notes[0].metadata == {"from": "ops"}
    assert notes[0].delivered_iteration == 2 and notes[0].delivered_at is not None
    assert notes[0].delivered_at.tzinfo is UTC
    assert [n.note_id for n in await reader.get_notes("t", undelivered_only=True)] == ["n2"]
    assert [n.note_id for n in await reader.get_notes("t", tenant_id="t1")] == ["n1", "n2"]
    assert await reader.get_notes("missing") == []  # unscoped: nothing, no error
    assert await reader.get_notes("u", tenant_id=None) == []
    for run_id, tenant in (("t", "t2"), ("t", None), ("u", "t1"), ("missing", "t1")):
        with pytest.raises(RunNotFoundError):
            await reader.get_notes(run_id, tenant_id=tenant)


async def test_add_note_never_lands_after_a_finalize(state_store: StateStore) -> None:
    """Many concurrent add_note against one finalize: a note either lands while the run
    is live or is refused; none that starts after the finalize committed lands, and the
    answers match what is stored."""
    loop = asyncio.get_running_loop()
    for round_no in range(3):
        run_id = f"race{round_no}"
        await state_store.create_run(run_id, "agent")
        start = asyncio.Event()
        finished_at: list[float] = []

        async def note(
            i: int, run_id: str = run_id, start: asyncio.Event = start
        ) -> tuple[float, bool]:
            await start.wait()
            await asyncio.sleep(0.001 * (i % 7))
            began = loop.time()
            return began, await state_store.add_note(run_id, note_id=f"{run_id}-{i}", text="n")

        async def finish(
            run_id: str = run_id,
            start: asyncio.Event = start,
            finished_at: list[float] = finished_at,
        ) -> None:
            await start.wait()
            await asyncio.sleep(0.003)
            assert await state_store.finalize_run(run_id, status="success")
            finished_at.append(loop.time())

        tasks = [asyncio.create_task(note(i)) for i in range(40)]
        done = asyncio.create_task(finish())
        start.set()
        results = await asyncio.gather(*tasks)
        await done
        assert not [i for i, (began, ok) in enumerate(results) if ok and began > finished_at[0]]
        stored = {n.id for n in await state_store.get_notes(run_id)}
        assert stored == {f"{run_id}-{i}" for i, (_, ok) in enumerate(results) if ok}
        assert not await state_store.add_note(run_id, note_id=f"{run_id}-late", text="late")


@pytest.mark.parametrize(
    ("kwargs", "error", "named"),
    [
        ({"note_id": "n", "text": ""}, InvalidArgumentError, "text"),
        ({"note_id": "n", "text": "a\x00b"}, InvalidArgumentError, "text"),
        ({"note_id": "n", "text": 5}, InvalidArgumentTypeError, "text"),
        ({"note_id": "", "text": "x"}, InvalidArgumentError, "note_id"),
        ({"note_id": None, "text": "x"}, InvalidArgumentTypeError, "note_id"),
        ({"note_id": "n", "text": "x", "metadata": {"a": object()}}, InvalidArgumentTypeError,
         "metadata"),
        ({"note_id": "n", "text": "x", "tenant_id": 3}, InvalidArgumentTypeError, "tenant_id"),
    ],
)  # fmt: skip
async def test_add_note_bad_input(
    state_store: StateStore, kwargs: dict[str, Any], error: type[Exception], named: str
) -> None:
    await state_store.create_run("r1", "agent")
    with pytest.raises(error, match=named):
        await state_store.add_note("r1", **kwargs)
    assert await state_store.get_notes("r1") == []


async def test_notes_reads_and_delivery_bad_input(state_store: StateStore) -> None:
    await state_store.create_run("r1", "agent")
    bad_calls: list[tuple[Any, type[Exception], str]] = [
        (state_store.mark_notes_delivered("r1", "n1", iteration=1), InvalidArgumentTypeError,
         "note_ids"),
        (state_store.mark_notes_delivered("r1", [1], iteration=1), InvalidArgumentTypeError,
         r"note_ids\[0\]"),
        (state_store.mark_notes_delivered("r1", ["n1"], iteration=-1), InvalidArgumentError,
         "iteration"),
        (state_store.mark_notes_delivered("r1", ["n1"], iteration="1"), InvalidArgumentTypeError,
         "iteration"),
        (state_store.get_notes("r1", undelivered_only="yes"), InvalidArgumentTypeError,
         "undelivered_only"),
        (state_store.get_notes("r1", tenant_id=1.5), InvalidArgumentTypeError, "tenant_id"),
        (RunStore(state_store).get_notes("r1", tenant_id=["t"]), InvalidArgumentTypeError,
         "tenant_id"),
    ]  # fmt: skip
    for call, error, named in bad_calls:
        with pytest.raises(error, match=named):
            await call


async def test_http_notes_route(state_store: StateStore) -> None:
    await state_store.create_run("a", "agent", tenant_id="ta")
    await state_store.create_run("b", "agent", tenant_id="tb")
    await state_store.add_note("a", note_id="n1", text="one", metadata={"k": 1})
    await state_store.add_note("a", note_id="n2", text="two")
    await state_store.mark_notes_delivered("a", ["n1"], iteration=1)
    await state_store.request_pause("a", reason="review")

    def authorize(scope: Any) -> object:
        headers = dict(scope["headers"])
        tenant = headers.get(b"x-tenant")
        return None if tenant is None else {"tenant_id": tenant.decode()}

    app = make_read_router(store=RunStore(state_store), authorize=authorize)
    reply = await asgi_request(app, "/runs/a/notes")
    assert reply.status == 200
    body = reply.json()
    assert [n["note_id"] for n in body["notes"]] == ["n1", "n2"]
    assert body["notes"][0]["metadata"] == {"k": 1}
    assert body["notes"][0]["delivered_iteration"] == 1
    assert body["notes"][0]["created_at"].endswith(("Z", "+00:00"))
    pending = (await asgi_request(app, "/runs/a/notes", b"undelivered=true")).json()
    assert [n["note_id"] for n in pending["notes"]] == ["n2"] and pending["undelivered"]
    scoped = await asgi_request(app, "/runs/a/notes", headers=[(b"x-tenant", b"ta")])
    assert scoped.status == 200 and len(scoped.json()["notes"]) == 2
    for path, headers in (
        ("/runs/a/notes", [(b"x-tenant", b"tb")]),
        ("/runs/missing/notes", []),
        ("/runs/missing/notes", [(b"x-tenant", b"ta")]),
    ):
        assert (await asgi_request(app, path, headers=headers)).status == 404
    assert (await asgi_request(app, "/runs/b/notes")).json()["notes"] == []
    assert (await asgi_request(app, "/runs/a/notes", b"undelivered=yes")).status == 400
    assert (await asgi_request(app, "/runs/a/notes", b"limit=1")).status == 400
    run = (await asgi_request(app, "/runs/a")).json()
    assert run["pause_requested"] is True and run["cancel_requested"] is False
    assert run["replay"] is None
