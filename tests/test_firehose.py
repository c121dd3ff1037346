"""Following the whole store: `RunStore.stream_all_events`, the HTTP firehose
(``/events/stream``, tenant-scoped by the principal) and ``dendrux tail``; and
``dendrux events --follow`` exiting 0 after the run's terminal event."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from http_support import asgi_request, sse_frames_are_valid

from dendrux.http import make_read_router
from dendrux.state import StateStore
from dendrux.store import RunStore, StoredEvent


async def _collect(
    stream: Any, want: int, into: list[tuple[str, StoredEvent]]
) -> list[tuple[str, StoredEvent]]:
    async with aclosing(stream) as items:
        async for item in items:
            into.append(item)
            if len(into) == want:
                break
    return into


async def _seed(writer: StateStore) -> None:
    await writer.create_run("a", "agent", tenant_id="t1")
    await writer.create_run("b", "agent", tenant_id="t2")
    await writer.create_run("c", "agent")  # untenanted
    for run in ("a", "b", "c"):  # history from before the followers start
        await writer.save_run_event(run, event_type="old", sequence_index=0)


async def _interleave(writer: StateStore, count: int) -> None:
    for i in range(1, count + 1):
        for run in ("a", "b", "c"):
            await writer.save_run_event(run, event_type="tick", sequence_index=i, data={"i": i})
        if i % 10 == 0:
            await asyncio.sleep(0.01)


def _per_run(items: list[tuple[str, StoredEvent]]) -> dict[str, list[int]]:
    runs: dict[str, list[int]] = defaultdict(list)
    for run_id, event in items:
        runs[run_id].append(event.sequence_index)
    return dict(runs)


async def test_every_run_once_in_order_and_tenant_scoped(
    state_store: StateStore, database_url: str
) -> None:
    await _seed(state_store)
    count = 60
    async with RunStore.from_database_url(database_url) as store:
        every: list[tuple[str, StoredEvent]] = []
        t1: list[tuple[str, StoredEvent]] = []
        untenanted: list[tuple[str, StoredEvent]] = []
        tasks = [
            asyncio.create_task(
                _collect(store.stream_all_events(poll_interval_s=0.02), 3 * count, every)
            ),
            asyncio.create_task(
                _collect(store.stream_all_events(tenant_id="t1", poll_interval_s=0.02), count, t1)
            ),
            asyncio.create_task(
                _collect(
                    store.stream_all_events(tenant_id=None, poll_interval_s=0.02), count, untenanted
                )
            ),
        ]
        await asyncio.sleep(0.2)  # each follower has started ("from now")
        await _interleave(state_store, count)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
        await asyncio.sleep(0.2)  # nothing more arrives (checked by the lengths below)
    expected = list(range(1, count + 1))
    assert _per_run(every) == {"a": expected, "b": expected, "c": expected}
    assert _per_run(t1) == {"a": expected}
    assert _per_run(untenanted) == {"c": expected}
    assert all(e.data == {"i": e.sequence_index} for _, e in every)


async def test_since_and_a_hole_across_runs(
    state_store: StateStore, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``since`` starts with the events created after it; a missing index of one run holds
    back that run only, until the grace passes."""
    import dendrux.read.stream as stream

    monkeypatch.setattr(stream, "GAP_GRACE_S", 0.3)
    monkeypatch.setattr(stream, "SQLITE_GAP_GRACE_S", 0.3)
    await _seed(state_store)
    since = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await state_store.save_run_event("a", event_type="tick", sequence_index=1)
    await state_store.save_run_event("a", event_type="tick", sequence_index=3)  # 2 missing
    await state_store.save_run_event("b", event_type="tick", sequence_index=1)
    async with RunStore.from_database_url(database_url) as store:
        got: list[tuple[str, StoredEvent]] = []
        follow = store.stream_all_events(since=since, poll_interval_s=0.02)
        await asyncio.wait_for(_collect(follow, 3, got), timeout=10)
    assert got[0] == ("a", got[0][1]) and got[0][1].sequence_index == 1
    assert ("b", 1) in [(r, e.sequence_index) for r, e in got[:2]]
    assert (got[-1][0], got[-1][1].sequence_index) == ("a", 3)  # after the hole's grace


async def test_bad_arguments_are_refused_before_any_read(database_url: str) -> None:
    async with RunStore.from_database_url(database_url) as store:
        with pytest.raises(ValueError, match="since"):
            await store.stream_all_events(since=datetime(2026, 1, 1)).__anext__()
        with pytest.raises(TypeError, match="tenant_id"):
            await store.stream_all_events(tenant_id=5).__anext__()  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="poll_interval_s"):
            await store.stream_all_events(poll_interval_s=0).__anext__()


# -- HTTP ------------------------------------------------------------------------------------


def _frames(body: bytes) -> list[dict[str, Any]]:
    frames = []
    for block in body.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        if "data" in fields:
            frames.append({**fields, "data": json.loads(fields["data"])})
    return frames


async def test_http_firehose_is_tenant_scoped(state_store: StateStore, database_url: str) -> None:
    await _seed(state_store)

    def authorize(scope: Any) -> dict[str, Any]:
        headers = dict(scope["headers"])
        tenant = headers.get(b"x-tenant")
        return {"tenant_id": tenant.decode() if tenant else None}

    async with RunStore.from_database_url(database_url) as store:
        app = make_read_router(store=store, authorize=authorize, poll_interval_s=0.02)
        scoped = asyncio.create_task(
            asgi_request(app, "/events/stream", headers=[(b"x-tenant", b"t1")], hang_up_after_s=2)
        )
        unscoped = asyncio.create_task(asgi_request(app, "/events/stream", hang_up_after_s=2))
        await asyncio.sleep(0.3)
        await _interleave(state_store, 5)
        scoped_reply, unscoped_reply = await asyncio.gather(scoped, unscoped)
        resumed_at = _frames(unscoped_reply.body)[4]["id"]
        resumed = await asgi_request(
            app,
            "/events/stream",
            headers=[(b"last-event-id", resumed_at.encode())],
            hang_up_after_s=1,
        )
        bad = await asgi_request(app, "/events/stream", b"since=yesterday")
    assert scoped_reply.status == 200 and scoped_reply.content_type == "text/event-stream"
    assert sse_frames_are_valid(scoped_reply.body) and sse_frames_are_valid(unscoped_reply.body)
    scoped_frames = _frames(scoped_reply.body)
    assert [(f["data"]["run_id"], f["data"]["sequence_index"]) for f in scoped_frames] == [
        ("a", i) for i in range(1, 6)
    ]
    every = _frames(unscoped_reply.body)
    assert sorted((f["data"]["run_id"], f["data"]["sequence_index"]) for f in every) == sorted(
        (run, i) for run in "abc" for i in range(1, 6)
    )
    assert all(f["id"] == f["data"]["created_at"] for f in every)
    after = [f for f in every if f["id"] > resumed_at]
    assert sorted((f["data"]["run_id"], f["data"]["sequence_index"]) for f in after) == sorted(
        (f["data"]["run_id"], f["data"]["sequence_index"]) for f in _frames(resumed.body)
    )
    assert bad.status == 400 and "since" in bad.json()["error"]["message"]


# -- CLI -------------------------------------------------------------------------------------


def _reader(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def _spawn(database_url: str, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "DENDRUX_DATABASE_URL"}
    env.update(HOME=str(tmp_path), DENDRUX_DATABASE_URL=database_url)
    return subprocess.Popen(
        [sys.executable, "-m", "dendrux", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


async def test_cli_tail_prints_every_new_event_of_every_run(
    state_store: StateStore, database_url: str, tmp_path: Path
) -> None:
    await _seed(state_store)
    procs = {
        "json": _spawn(database_url, tmp_path, "tail", "--json", "--poll-interval", "0.05"),
        "text": _spawn(database_url, tmp_path, "tail", "--tenant", "t2", "--poll-interval", "0.05"),
    }
    outputs: dict[str, queue.Queue[str]] = {}
    for name, proc in procs.items():
        outputs[name] = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, outputs[name]), daemon=True).start()
    try:
        await asyncio.sleep(2.5)  # both are following (an interpreter start each)
        await _interleave(state_store, 3)
        loop = asyncio.get_running_loop()

        def take(name: str, n: int) -> list[str]:
            return [outputs[name].get(timeout=20) for _ in range(n)]

        as_json = await loop.run_in_executor(None, take, "json", 9)
        as_text = await loop.run_in_executor(None, take, "text", 3)
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGINT)
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    records = [json.loads(line) for line in as_json]
    assert sorted((r["run_id"], r["sequence_index"]) for r in records) == sorted(
        (run, i) for run in "abc" for i in (1, 2, 3)
    )
    assert all(line.startswith("b  ") and "tick" in line for line in as_text), as_text
    assert [f"#{i}" in line for i, line in enumerate(as_text, 1)] == [True] * 3
    for proc in procs.values():
        stderr = proc.stderr.read() if proc.stderr else ""
        assert proc.returncode in (0, 130) and "Traceback" not in stderr, stderr


async def test_cli_events_follow_exits_0_after_the_terminal_event(
    state_store: StateStore, database_url: str, tmp_path: Path
) -> None:
    await state_store.create_run("r", "agent")
    await state_store.save_run_event("r", event_type="run.started", sequence_index=0)
    proc = _spawn(database_url, tmp_path, "events", "r", "--follow", "--poll-interval", "0.05")
    try:
        await asyncio.sleep(1.5)
        await state_store.save_run_event("r", event_type="tool.completed", sequence_index=1)
        await state_store.save_run_event("r", event_type="run.completed", sequence_index=2)
        loop = asyncio.get_running_loop()
        out, err = await loop.run_in_executor(None, lambda: proc.communicate(timeout=20))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert [
        t for line in lines for t in ("run.started", "tool.completed", "run.completed") if t in line
    ] == [
        "run.started",
        "tool.completed",
        "run.completed",
    ]
    assert err == ""
