"""Reads against a PostgreSQL hot standby; writes refused there at once.

The suite starts a standby of its cluster (``pg_basebackup -R``, streaming
replication; `tests.pgcluster`). Runs are recorded on the primary; once the
standby has replayed them, every read (RunStore, the HTTP router including the
SSE stream, the CLI's read commands) answers the same on the standby as on the
primary, field by field. A standby refuses LISTEN during recovery, so a follower
there polls. The write side (StateStore, the recorder, ``dendrux db upgrade``)
pointed at the standby fails on its first statement with `ReadOnlyDatabaseError`
naming the (masked) URL and the fix, without retrying.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pgcluster import PgCluster

from dendrux.db import create_engine
from dendrux.demo import record_sample_run
from dendrux.errors import ReadOnlyDatabaseError
from dendrux.http import make_read_router
from dendrux.recorder import EventSequencer, PersistenceRecorder
from dendrux.state import StateStore
from dendrux.store import RunStore
from dendrux.types import Message, Role, ToolCall, ToolResult
from tests.http_support import asgi_request

Urls = tuple[str, str]


def _allow(scope: Any) -> None:
    return None


async def _seed(primary: str, standby: PgCluster) -> tuple[str, str]:
    """The demo run (with its child), a live run of another tenant with a note, a run with
    a PII mapping; replayed on the standby."""
    async with StateStore.from_database_url(primary) as store:
        root = await record_sample_run(store)
        await store.create_run("live", "watcher", tenant_id="t2", meta={"k": "v"})
        await store.save_run_event("live", event_type="run.started", sequence_index=0)
        assert await store.add_note("live", note_id="n1", text="look here", metadata={"a": 1})
        await store.create_run("pii", "agent")
        await store.finalize_run("pii", status="success", pii_mapping={"<P1>": "Alice"})
        info = await store.get_delegation_info(root)
        assert info is not None and info.children
        child = info.children[0].run_id
    await standby.wait_for_replay()
    return root, child


def _reads(root: str, child: str) -> dict[str, Callable[[RunStore], Awaitable[Any]]]:
    """Every RunStore read, with the arguments that give it something to return."""
    return {
        "list_runs": lambda s: s.list_runs(),
        "list_runs filtered": lambda s: s.list_runs(
            status=["success", "running"], metadata_filter={"user_id": "u_123"}, tenant_id="demo"
        ),
        "list_runs children": lambda s: s.list_runs(parent_run_id=root, limit=5, offset=0),
        "count_runs": lambda s: s.count_runs(),
        "count_runs filtered": lambda s: s.count_runs(agent_name="watcher", tenant_id="t2"),
        "get_run": lambda s: s.get_run(root),
        "get_run child": lambda s: s.get_run(child),
        "get_run_status": lambda s: s.get_run_status("live", tenant_id="t2"),
        "get_delegation_info": lambda s: s.get_delegation_info(child),
        "get_events": lambda s: s.get_events(root),
        "get_events after": lambda s: s.get_events(root, after_sequence_index=3, limit=2),
        "get_llm_calls": lambda s: s.get_llm_calls(root),
        "get_tool_invocations": lambda s: s.get_tool_invocations(root),
        "get_traces": lambda s: s.get_traces(root),
        "get_pauses": lambda s: s.get_pauses(root),
        "get_subtree": lambda s: s.get_subtree(root),
        "get_notes": lambda s: s.get_notes("live"),
        "get_pii_mapping": lambda s: s.get_pii_mapping("pii"),
    }


async def test_the_standby_is_a_replaying_hot_standby(
    replica_urls: Urls, pg_standby: PgCluster
) -> None:
    primary, standby = replica_urls
    conn = await asyncpg.connect(standby)
    try:
        assert await conn.fetchval("SELECT pg_is_in_recovery()") is True
        for _ in range(3):  # each write is visible as soon as wait_for_replay returns
            async with StateStore.from_database_url(primary) as store:
                run_id = f"r{_}"
                await store.create_run(run_id, "agent")
            await pg_standby.wait_for_replay()
            assert await conn.fetchval("SELECT count(*) FROM agent_runs WHERE id = $1", run_id)
    finally:
        await conn.close()


async def test_every_run_store_read_on_the_standby_equals_the_primary(
    replica_urls: Urls, pg_standby: PgCluster
) -> None:
    primary_url, standby_url = replica_urls
    root, child = await _seed(primary_url, pg_standby)
    async with (
        RunStore.from_database_url(primary_url) as primary,
        RunStore.from_database_url(standby_url) as standby,
    ):
        for name, read in _reads(root, child).items():
            on_primary = await read(primary)
            assert on_primary not in (None, [], {}, 0), name  # the read has something to compare
            assert await read(standby) == on_primary, name


async def test_stream_events_on_the_standby_polls_and_misses_nothing(
    replica_urls: Urls, pg_standby: PgCluster
) -> None:
    primary_url, standby_url = replica_urls
    async with StateStore.from_database_url(primary_url) as writer:
        await writer.create_run("s1", "agent")
        await writer.save_run_event("s1", event_type="run.started", sequence_index=0)
    await pg_standby.wait_for_replay()

    engine = create_engine(standby_url)
    try:
        # The standby refuses LISTEN during recovery: no wake-ups, readers poll.
        assert await asyncio.wait_for(engine.run_event_wakeups(), 30) is None
    finally:
        await engine.dispose()

    async with (
        RunStore.from_database_url(standby_url) as reader,
        StateStore.from_database_url(primary_url) as writer,
    ):
        got: list[Any] = []

        async def follow() -> None:
            async for event in reader.stream_events("s1", poll_interval_s=0.02):
                got.append(event)
                if event.event_type == "run.completed":
                    return

        task = asyncio.create_task(follow())
        for i in range(1, 40):
            await writer.save_run_event(
                "s1", event_type="tool.completed", sequence_index=i, data={"i": i}
            )
        await writer.save_run_event("s1", event_type="run.completed", sequence_index=40)
        await asyncio.wait_for(task, 30)
        async with RunStore.from_database_url(primary_url) as on_primary:
            assert got == await on_primary.get_events("s1")
    assert [e.sequence_index for e in got] == list(range(41))


async def test_primary_still_wakes_its_followers(postgres_url: str) -> None:
    """The standby fallback is for a server that refuses LISTEN only. (A fresh engine's
    first call used to deadlock: the listener made the pool under the same lock.)"""
    engine = create_engine(postgres_url)
    try:
        assert await asyncio.wait_for(engine.run_event_wakeups(), 30) is not None
    finally:
        await engine.dispose()


# -- HTTP ------------------------------------------------------------------------------


def _sse_frames(body: bytes) -> list[str]:
    """The id/event/data lines of an SSE body (heartbeat comments left out)."""
    return [
        line for line in body.decode().splitlines() if line.startswith(("id:", "event:", "data:"))
    ]


async def test_every_http_route_on_the_standby_equals_the_primary(
    replica_urls: Urls, pg_standby: PgCluster
) -> None:
    primary_url, standby_url = replica_urls
    root, child = await _seed(primary_url, pg_standby)
    paths = [
        ("/health", b""),
        ("/runs", b""),
        ("/runs", b"status=success&meta.user_id=u_123&limit=10"),
        (f"/runs/{root}", b""),
        (f"/runs/{child}", b""),
        (f"/runs/{root}/events", b""),
        (f"/runs/{root}/events", b"after=2"),
        (f"/runs/{root}/llm-calls", b""),
        (f"/runs/{root}/tool-calls", b""),
        (f"/runs/{root}/traces", b""),
        (f"/runs/{root}/pauses", b""),
        (f"/runs/{root}/subtree", b""),
        ("/runs/live/notes", b""),
        ("/runs/nope", b""),
    ]
    async with (
        RunStore.from_database_url(primary_url) as primary,
        RunStore.from_database_url(standby_url) as standby,
    ):
        apps = [
            make_read_router(store=store, authorize=_allow, poll_interval_s=0.02)
            for store in (primary, standby)
        ]
        for path, query in paths:
            on_primary, on_standby = [await asgi_request(app, path, query) for app in apps]
            assert on_standby.status == on_primary.status, path
            assert on_standby.json() == on_primary.json(), (path, query)
        # A finished run's stream: every event, then the stream closes.
        streams = [await asgi_request(app, f"/runs/{root}/events/stream") for app in apps]
        assert not streams[1].hung_up
        frames = _sse_frames(streams[1].body)
        assert frames == _sse_frames(streams[0].body)
        assert sum(f.startswith("id:") for f in frames) == len(await primary.get_events(root))


async def test_sse_stream_on_the_standby_follows_a_live_run(
    replica_urls: Urls, pg_standby: PgCluster
) -> None:
    primary_url, standby_url = replica_urls
    async with StateStore.from_database_url(primary_url) as writer:
        await writer.create_run("live", "agent")
        await writer.save_run_event("live", event_type="run.started", sequence_index=0)
        await pg_standby.wait_for_replay()
        async with RunStore.from_database_url(standby_url) as standby:
            app = make_read_router(store=standby, authorize=_allow, poll_interval_s=0.02)
            request = asyncio.create_task(
                asgi_request(app, "/runs/live/events/stream", hang_up_after_s=30)
            )
            for i in range(1, 6):
                await writer.save_run_event("live", event_type="tool.completed", sequence_index=i)
            await writer.save_run_event("live", event_type="run.completed", sequence_index=6)
            await writer.finalize_run("live", status="success", answer="done")
            reply = await asyncio.wait_for(request, 40)
    assert reply.status == 200 and not reply.hung_up  # closed by the terminal event
    ids = [int(f[3:]) for f in _sse_frames(reply.body) if f.startswith("id:")]
    assert ids == list(range(7))


# -- CLI -------------------------------------------------------------------------------


def _cli_env(url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DENDRUX_DATABASE_URL"}
    return env | {"HOME": str(home), "DENDRUX_DATABASE_URL": url, "NO_COLOR": "1"}


def _cli(url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dendrux", *args],
        capture_output=True,
        text=True,
        env=_cli_env(url, home),
        timeout=120,
    )


async def test_cli_reads_on_the_standby_equal_the_primary(
    replica_urls: Urls, pg_standby: PgCluster, tmp_path: Path
) -> None:
    primary_url, _standby_url = replica_urls
    root, _child = await _seed(primary_url, pg_standby)
    for args in (
        ("runs", "--json"),
        ("runs",),
        ("show", root, "--json"),
        ("show", root),
        ("events", root, "--json"),
        ("db", "status"),
    ):
        on_primary, on_standby = (_cli(url, tmp_path, *args) for url in replica_urls)
        assert on_primary.returncode == 0, (args, on_primary.stderr)
        assert on_standby.returncode == 0, (args, on_standby.stderr)
        assert _stable(on_standby.stdout) == _stable(on_primary.stdout), args


def _stable(text: str) -> str:
    """CLI output without what differs between two invocations by design: the port in the
    URL ``db status`` names, and ages relative to now ("3s ago", which also sets the
    width of a table's column)."""
    text = re.sub(r"127\.0\.0\.1:\d+", "HOST", text)
    return re.sub(r" +", " ", re.sub(r"just now|\b\d+[smhd] ago", "AGO", text))


def _pump(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def _wait_for(lines: queue.Queue[str], needle: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if needle in line:
            return line
    raise AssertionError(f"no line with {needle!r} within {timeout}s")


async def test_cli_events_follow_on_the_standby(
    replica_urls: Urls, pg_standby: PgCluster, tmp_path: Path
) -> None:
    primary_url, standby_url = replica_urls
    async with StateStore.from_database_url(primary_url) as writer:
        await writer.create_run("fol", "agent")
        await writer.save_run_event("fol", event_type="run.started", sequence_index=0)
        await pg_standby.wait_for_replay()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dendrux",
                "events",
                "fol",
                "--follow",
                "--json",
                "--poll-interval",
                "0.1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_cli_env(standby_url, tmp_path),
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        try:
            await asyncio.to_thread(_wait_for, lines, "run.started")
            await writer.save_run_event(
                "fol", event_type="tool.completed", sequence_index=1, data={"n": 1}
            )
            landed = await asyncio.to_thread(_wait_for, lines, "tool.completed")
            assert json.loads(landed)["data"] == {"n": 1}
            proc.send_signal(signal.SIGINT)
            await asyncio.to_thread(proc.wait, 30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode in (0, 130), (proc.returncode, stderr)
    assert stderr.strip() == "", stderr


# -- the write side refuses a standby ----------------------------------------------------


def _with_password(url: str) -> str:
    """Trust authentication ignores it; messages must not show it."""
    return url.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@")


def _assert_refusal(exc: BaseException, masked: str) -> None:
    text = str(exc)
    assert isinstance(exc, ReadOnlyDatabaseError), repr(exc)
    assert not exc.transient
    assert masked in text and "s3cret-pw" not in text, text
    assert "point the write side" in text and "primary" in text, text


async def test_state_store_and_recorder_on_the_standby_fail_at_once(
    replica_urls: Urls, pg_standby: PgCluster, caplog: pytest.LogCaptureFixture
) -> None:
    primary_url, standby_url = replica_urls
    async with StateStore.from_database_url(primary_url) as writer:
        await writer.create_run("r1", "agent")
        await writer.save_run_event("r1", event_type="run.started", sequence_index=0)
    await pg_standby.wait_for_replay()
    url = _with_password(standby_url)
    masked = url.replace("s3cret-pw", "***")
    caplog.set_level(logging.WARNING)
    async with StateStore.from_database_url(url) as store:
        recorder = PersistenceRecorder(
            store, "r1", model="m", provider_name="p", event_sequencer=EventSequencer(1)
        )
        call = ToolCall(name="t", params={"a": 1}, id="c1")
        writes: dict[str, Callable[[], Awaitable[Any]]] = {
            "create_run": lambda: store.create_run("r2", "agent"),
            "save_run_event": lambda: store.save_run_event(
                "r1", event_type="x.y", sequence_index=1
            ),
            "save_trace": lambda: store.save_trace("r1", "user", "hi", order_index=0),
            "finalize_run": lambda: store.finalize_run("r1", status="success", answer="a"),
            "request_cancel": lambda: store.request_cancel("r1"),
            "add_note": lambda: store.add_note("r1", note_id="n", text="t"),
            "touch_progress": lambda: store.touch_progress("r1"),
            "on_message_appended": lambda: recorder.on_message_appended(
                Message(Role.USER, "hi"), 0
            ),
            "on_tool_completed": lambda: recorder.on_tool_completed(
                call, ToolResult(name="t", call_id="c1", payload="{}", success=True), 0
            ),
            "on_governance_event": lambda: recorder.on_governance_event(
                "policy.denied", 0, {"why": "x"}, None
            ),
        }
        for name, write in writes.items():
            started = time.monotonic()
            with pytest.raises(ReadOnlyDatabaseError) as caught:
                await write()
            _assert_refusal(caught.value, masked)
            # Retries back off 100, 200, 400 ms: a refusal comes back well before that.
            assert time.monotonic() - started < 0.5, name
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]
    async with RunStore.from_database_url(primary_url) as reader:
        assert [r.run_id for r in await reader.list_runs()] == ["r1"]
        assert len(await reader.get_events("r1")) == 1
        assert await reader.get_traces("r1") == []


async def test_db_upgrade_on_the_standby_is_refused(replica_urls: Urls, tmp_path: Path) -> None:
    _primary_url, standby_url = replica_urls
    url = _with_password(standby_url)
    done = _cli(url, tmp_path, "db", "upgrade")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "primary" in lines[0] and "s3cret-pw" not in lines[0], lines[0]
    assert url.replace("s3cret-pw", "***") in lines[0], lines[0]
    from dendrux.db import upgrade

    with pytest.raises(ReadOnlyDatabaseError) as caught:
        await upgrade(url)
    _assert_refusal(caught.value, url.replace("s3cret-pw", "***"))


def test_replica_latency_bench_runs(tmp_path: Path, pg_cluster: PgCluster | None) -> None:
    """``python -m bench.replica`` (its own primary and standby) stays runnable."""
    if pg_cluster is None:
        pytest.skip("no PostgreSQL binaries")
    out = tmp_path / "replica.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.replica", "--events", "5", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["ok"] and len(result["points"]) == 5
    assert {p["follower"] for p in result["points"]} == {"primary", "standby"}


async def test_a_raw_driver_refusal_from_a_standby_is_not_retried(
    replica_urls: Urls, caplog: pytest.LogCaptureFixture
) -> None:
    """retry_critical around the caller's own asyncpg code: 25006 propagates at once."""
    from dendrux.db.transient import driver_error_is_transient
    from dendrux.recorder import retry_critical

    _primary_url, standby_url = replica_urls
    conn = await asyncpg.connect(standby_url)
    calls = 0

    async def write() -> None:
        nonlocal calls
        calls += 1
        await conn.execute("DELETE FROM agent_runs")

    caplog.set_level(logging.WARNING)
    try:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError) as caught:
            await retry_critical(write, label="raw", run_id="r1")
    finally:
        await conn.close()
    assert calls == 1 and not driver_error_is_transient(caught.value)
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]
