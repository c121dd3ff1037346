"""Behaviours brought in line with dendrux 0.4.1 (issue 14), on both dialects:
raw driver faults of the caller's own code retried, ``submit_and_claim`` refusing a
run with nothing to resume, pause pairs and tool iterations read as 0.4.1 reads
them, the run total kept in ``output_data``, a stale run with a cancel request
swept to ``cancelled``, ``RunStore(state_store)`` and ``get_events(before=)``, and
an unclosed store that lets the interpreter exit."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from dendrux.durability import retry_critical
from dendrux.errors import InvalidArgumentError
from dendrux.state import StateStore
from dendrux.store import RunStore

REPO = Path(__file__).resolve().parent.parent
FAST = (0.01, 0.01, 0.01)


def _pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


# -- 1. retry_critical and the caller's own raw driver faults -------------------------------


class Attempts:
    """Counts the tries of the function handed to retry_critical."""

    def __init__(self) -> None:
        self.count = 0


async def _locked_sqlite_write(tmp_path: Path) -> tuple[int, list[tuple[Any, ...]]]:
    """The caller's code writes to a SQLite file another connection holds locked; the
    lock goes after the first failure. Returns (tries, rows)."""
    path = tmp_path / "caller.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (v INTEGER)")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a real writer lock, held by another connection
    tries = Attempts()

    async def write() -> None:
        tries.count += 1
        conn = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            conn.execute("INSERT INTO t VALUES (1)")
        finally:
            conn.close()
            if holder.in_transaction:
                holder.execute("ROLLBACK")

    await retry_critical(write, label="caller", run_id="r1", delays=FAST)
    rows = setup.execute("SELECT v FROM t").fetchall()
    setup.close()
    holder.close()
    return tries.count, rows


async def _serialization_failure(dsn: str) -> tuple[int, list[int]]:
    """Write skew between two SERIALIZABLE transactions: the caller's one fails with
    SQLSTATE 40001 on its first try. Returns (tries, values)."""
    a, b = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        await a.execute("CREATE TABLE skew (v integer)")
        tries = Attempts()

        async def write() -> None:
            tries.count += 1
            async with b.transaction(isolation="serializable"):
                await b.fetchval("SELECT count(*) FROM skew")
                if tries.count == 1:
                    async with a.transaction(isolation="serializable"):
                        await a.fetchval("SELECT count(*) FROM skew")
                        await a.execute("INSERT INTO skew VALUES (1)")
                await b.execute("INSERT INTO skew VALUES ($1)", 100 + tries.count)

        await retry_critical(write, label="caller", run_id="r1", delays=FAST)
        values = [r[0] for r in await a.fetch("SELECT v FROM skew ORDER BY v")]
        return tries.count, values
    finally:
        await a.close()
        await b.close()


async def _terminated_connection(dsn: str, *, in_flight: bool) -> tuple[int, int, str]:
    """The caller's own connection is ended by pg_terminate_backend, during its query
    (``in_flight``) or before it; the retry reconnects. Returns (tries, answer, the
    first failure's type)."""
    admin = await asyncpg.connect(dsn)
    state: dict[str, Any] = {"conn": await asyncpg.connect(dsn), "failure": ""}
    tries = Attempts()

    async def terminate(pid: int, delay: float) -> None:
        await asyncio.sleep(delay)
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)

    async def query() -> int:
        tries.count += 1
        conn = state["conn"]
        if conn.is_closed():
            conn = state["conn"] = await asyncpg.connect(dsn)
        sql = "SELECT 41 + 1"
        if tries.count == 1:
            pid = conn.get_server_pid()
            if in_flight:
                state["killer"] = asyncio.ensure_future(terminate(pid, 0.2))
                sql = "SELECT 41 + 1 FROM pg_sleep(5)"
            else:
                await terminate(pid, 0)
                await asyncio.sleep(0.2)  # the server has ended it before the query is sent
        try:
            return int(await conn.fetchval(sql))
        except Exception as exc:
            state["failure"] = state["failure"] or type(exc).__name__
            raise

    try:
        answer = await retry_critical(query, label="caller", run_id="r1", delays=FAST)
        return tries.count, answer, state["failure"]
    finally:
        await admin.close()
        await state["conn"].close()


async def test_retry_critical_retries_raw_transient_faults_of_the_callers_code(
    dialect: str, database_url: str, tmp_path: Path
) -> None:
    if dialect == "sqlite":
        assert await _locked_sqlite_write(tmp_path) == (2, [(1,)])
        return
    dsn = _pg_dsn(database_url)
    assert await _serialization_failure(dsn) == (2, [1, 102])
    for in_flight in (False, True):
        tries, answer, failure = await _terminated_connection(dsn, in_flight=in_flight)
        assert (tries, answer) == (2, 42), failure
        assert failure  # the first try met the lost connection


async def test_retry_critical_lets_raw_logical_faults_through_at_once(
    dialect: str, database_url: str, tmp_path: Path
) -> None:
    tries = Attempts()
    if dialect == "sqlite":
        conn = sqlite3.connect(tmp_path / "logical.db", isolation_level=None)
        conn.execute("CREATE TABLE u (v INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO u VALUES (1)")

        async def duplicate() -> None:
            tries.count += 1
            conn.execute("INSERT INTO u VALUES (1)")

        with pytest.raises(sqlite3.IntegrityError):
            await retry_critical(duplicate, label="caller", run_id="r1", delays=FAST)
        conn.close()
    else:
        pg = await asyncpg.connect(_pg_dsn(database_url))
        try:
            await pg.execute("CREATE TABLE u (v integer PRIMARY KEY)")
            await pg.execute("INSERT INTO u VALUES (1)")

            async def duplicate() -> None:
                tries.count += 1
                await pg.execute("INSERT INTO u VALUES (1)")

            with pytest.raises(asyncpg.UniqueViolationError):
                await retry_critical(duplicate, label="caller", run_id="r1", delays=FAST)
        finally:
            await pg.close()
    assert tries.count == 1


CLASSIFY = """
import json, sqlite3, sys
from dendrux.durability import is_transient

class DriverError(Exception):  # another PostgreSQL driver's error, by its SQLSTATE
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate

cases = {
    "locked": sqlite3.OperationalError("database is locked"),
    "busy": sqlite3.OperationalError("database is busy"),
    "no_table": sqlite3.OperationalError("no such table: t"),
    "integrity": sqlite3.IntegrityError("UNIQUE constraint failed: t.v"),
    "reset": ConnectionResetError(104, "Connection reset by peer"),
    "timeout": TimeoutError(),
    "serialization": DriverError("40001"),
    "deadlock": DriverError("40P01"),
    "shutdown": DriverError("57P01"),
    "unique": DriverError("23505"),
    "value": ValueError("bad"),
}
answers = {name: is_transient(exc) for name, exc in cases.items()}
loaded = [m for m in ("asyncpg", "aiosqlite") if m in sys.modules]
print(json.dumps({"answers": answers, "loaded": loaded}))
"""


def test_raw_faults_are_classified_without_importing_a_driver() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CLASSIFY], capture_output=True, text=True, cwd=REPO, check=True
    )
    result = json.loads(out.stdout)
    assert result["loaded"] == []
    assert result["answers"] == {
        "locked": True,
        "busy": True,
        "no_table": False,
        "integrity": False,
        "reset": True,
        "timeout": True,
        "serialization": True,
        "deadlock": True,
        "shutdown": True,
        "unique": False,
        "value": False,
    }


# -- 2. submit_and_claim needs something to resume from -------------------------------------


async def test_submit_and_claim_refuses_a_run_without_pause_data(state_store: StateStore) -> None:
    await state_store.create_run("r1", "a")
    claimed = await state_store.submit_and_claim(
        "r1", expected_status="running", submitted_data={"x": 1}
    )
    assert claimed is False  # 0.4.1: no pause_data, nothing claimed
    assert await state_store.get_pause_state("r1") is None
    await state_store.pause_run("r1", status="waiting_human_input", pause_data={})
    assert await state_store.submit_and_claim(
        "r1", expected_status="waiting_human_input", submitted_data={"user_input": "yes"}
    )
    assert await state_store.get_pause_state("r1") == {"user_input": "yes"}


# -- 3. pause pairs and tool iterations as 0.4.1 reads them ---------------------------------


async def test_pause_events_without_data_read_as_upstream(
    state_store: StateStore, database_url: str
) -> None:
    await state_store.create_run("r1", "a")
    await state_store.save_run_event("r1", event_type="run.paused", sequence_index=0)
    await state_store.save_run_event("r1", event_type="run.resumed", sequence_index=1)
    await state_store.save_run_event("r1", event_type="run.paused", sequence_index=2, data={})
    async with RunStore.from_database_url(database_url) as store:
        first, active = await store.get_pauses("r1")
    assert (first.reason, first.pending_tool_calls) == ("", [])
    assert (first.resume_sequence_index, first.submitted_results, first.user_input) == (1, [], None)
    assert (active.reason, active.pending_tool_calls, active.submitted_results) == ("", [], [])
    assert active.resume_sequence_index is None and active.user_input is None


async def test_a_tool_call_without_iteration_reads_as_iteration_0(
    state_store: StateStore, database_url: str, dialect: str
) -> None:
    await state_store.create_run("r1", "a")
    await state_store.save_tool_call(
        "r1",
        tool_call_id="tc1",
        provider_tool_call_id=None,
        tool_name="t",
        target="server",
        params=None,
        result_payload=None,
        success=True,
        duration_ms=1,
        iteration_index=3,
    )
    # A row as an older writer left it (0.4.1's column is nullable).
    statement = "UPDATE tool_calls SET iteration_index = NULL WHERE tool_call_id = 'tc1'"
    if dialect == "sqlite":
        raw = sqlite3.connect(database_url.split("///", 1)[1])
        raw.execute(statement)
        raw.commit()
        raw.close()
    else:
        pg = await asyncpg.connect(_pg_dsn(database_url))
        await pg.execute(statement)
        await pg.close()
    async with RunStore.from_database_url(database_url) as store:
        (call,) = await store.get_tool_invocations("r1")
    assert call.iteration == 0
    (record,) = await state_store.get_tool_calls("r1")
    assert record.iteration_index is None  # the write side's record keeps what is stored


# -- 4. the run total in output_data ---------------------------------------------------------


@dataclass
class Usage:
    """Usage with every field 0.4.1's UsageStats has (duck-typed, as the store takes it)."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_source: str | None = None
    usage_reported: bool = True
    cost_unknown: bool = False


async def test_finalize_keeps_the_run_total_in_output_data(state_store: StateStore) -> None:
    usage = Usage(594, 55, 649, 0.0008, None, 12, 4, "table", True, False)
    expected = {
        "input_tokens": 594,
        "output_tokens": 55,
        "total_tokens": 649,
        "cost_usd": 0.0008,
        "cache_read_input_tokens": None,
        "cache_creation_input_tokens": 12,
        "cost_source": "table",
        "reasoning_tokens": 4,
        "usage_reported": True,
        "cost_unknown": False,
    }
    await state_store.create_run("r1", "a")
    assert await state_store.finalize_run("r1", status="success", answer="42")
    assert await state_store.finalize_run("r1", status="success", total_usage=usage)
    run = await state_store.get_run("r1")
    assert run is not None and run.output_data == {"answer": "42", "usage": expected}
    assert (run.total_input_tokens, run.total_output_tokens) == (594, 55)
    # An answer replaces output_data, as 0.4.1 writes it.
    assert await state_store.finalize_run("r1", status="success", answer="43")
    run = await state_store.get_run("r1")
    assert run is not None and run.output_data == {"answer": "43"}


async def test_finalize_refuses_a_bad_usage_field_before_writing(state_store: StateStore) -> None:
    await state_store.create_run("r1", "a")
    with pytest.raises(TypeError, match=r"total_usage\.usage_reported"):
        await state_store.finalize_run(
            "r1",
            status="success",
            total_usage=Usage(1, 1, usage_reported="yes"),  # type: ignore[arg-type]
        )
    run = await state_store.get_run("r1")
    assert run is not None and run.status == "running"


# -- 5. sweeps -----------------------------------------------------------------------------


async def test_a_stale_run_with_a_cancel_request_is_swept_to_cancelled(
    state_store: StateStore,
) -> None:
    await state_store.create_run("c1", "a")
    await state_store.save_run_event("c1", event_type="run.started", sequence_index=0)
    assert await state_store.request_cancel("c1")
    await state_store.create_run("e1", "a")
    await asyncio.sleep(0.05)
    swept = await state_store.sweep_stale_runs(timedelta(milliseconds=40))
    by_id = {s.run_id: s for s in swept}
    assert set(by_id) == {"c1", "e1"}
    assert by_id["c1"].failure_reason == "stale_running"
    statuses = {run_id: asdict(s).get("status") for run_id, s in by_id.items()}
    if statuses["c1"] is not None:  # SweptRun.status (0.4.1), where the record has it
        assert statuses == {"c1": "cancelled", "e1": "error"}
    cancelled = await state_store.get_run("c1")
    assert cancelled is not None
    assert (cancelled.status, cancelled.failure_reason, cancelled.error) == (
        "cancelled",
        "stale_running",
        None,
    )
    assert cancelled.cancel_requested is False
    events = await state_store.get_run_events("c1")
    assert [(e.sequence_index, e.event_type, e.data) for e in events][-1] == (
        1,
        "run.cancelled",
        {"reason": "cancel_requested", "failure_reason": "stale_running"},
    )
    errored = await state_store.get_run("e1")
    assert errored is not None and (errored.status, errored.error) == (
        "error",
        "Run swept as never_started",
    )
    assert [e.event_type for e in await state_store.get_run_events("e1")] == ["run.interrupted"]


async def test_an_abandoned_run_keeps_its_error_text_and_its_event_is_at_iteration_0(
    state_store: StateStore,
) -> None:
    await state_store.create_run("w1", "a")
    await state_store.pause_run(
        "w1", status="waiting_approval", pause_data={"x": 1}, iteration_count=4
    )
    assert await state_store.request_cancel("w1")
    await asyncio.sleep(0.05)
    (swept,) = await state_store.sweep_abandoned_runs(timedelta(milliseconds=40))
    assert (swept.run_id, swept.failure_reason) == ("w1", "abandoned_waiting")
    run = await state_store.get_run("w1")
    assert run is not None
    assert (run.status, run.error, run.cancel_requested) == ("error", None, False)
    (event,) = await state_store.get_run_events("w1")
    assert (event.event_type, event.iteration_index) == ("run.abandoned", 0)


# -- 6. RunStore(state_store) and get_events(before=) ----------------------------------------


async def test_run_store_over_a_state_store(state_store: StateStore) -> None:
    await state_store.create_run("r1", "a")
    await state_store.save_run_event("r1", event_type="run.started", sequence_index=0)
    await asyncio.sleep(0.02)
    cut = datetime.now(UTC)
    await asyncio.sleep(0.02)
    await state_store.save_run_event("r1", event_type="run.completed", sequence_index=1)

    store = RunStore(state_store)
    detail = await store.get_run("r1")
    assert detail is not None and detail.run_id == "r1"
    before = await store.get_events("r1", before=cut)
    assert [e.event_type for e in before] == ["run.started"]
    assert await store.get_events("r1", before=before[0].created_at) == []  # strict <
    both = await store.get_events(
        "r1", before=cut + timedelta(hours=1), event_types=["run.completed"]
    )
    assert [e.sequence_index for e in both] == [1]
    with pytest.raises(InvalidArgumentError, match="before"):
        await store.get_events("r1", before=datetime(2030, 1, 1))  # naive
    await store.close()  # the caller keeps ownership: the state store still works
    assert (await state_store.get_run("r1")) is not None


# -- 7. an unclosed store never blocks interpreter exit --------------------------------------


UNCLOSED = """
import asyncio, sys
from dendrux.state import StateStore

async def main():
    store = StateStore.from_database_url(sys.argv[1])
    await store.create_run("left-open", "agent")
    print("written", flush=True)

asyncio.run(main())
"""


async def test_an_unclosed_store_lets_the_interpreter_exit(
    database_url: str, state_store: StateStore
) -> None:
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        UNCLOSED,
        database_url,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=20)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail("the interpreter did not exit with a store left open")
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == "written"
    assert time.monotonic() - started < 15
    run = await state_store.get_run("left-open")
    assert run is not None and run.status == "running"  # committed before exit, kept
