"""The command line, run as a subprocess on both dialects: demo, schema, runs, show,
events (--follow), sweep, purge, errors and colour; value parsing in process."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest


def _dendrux(*args: str, home: Path, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DENDRUX_DATABASE_URL"}
    env["HOME"] = str(home)
    env["COLUMNS"] = "160"  # wide enough for every timeline line whole
    if url is not None:
        env["DENDRUX_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "dendrux", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_demo_records_into_the_default_sqlite_database(tmp_path: Path) -> None:
    result = _dendrux("demo", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".dendrux" / "dendrux.db").exists()
    out = result.stdout
    assert re.search(r"^  status +success$", out, re.M)  # printed as `dendrux show` prints it
    assert "run.paused" in out and "run.resumed" in out and "tool.completed" in out
    assert "Done: $49.99 refunded" in out
    assert "child run" in out


def test_demo_on_each_dialect(database_url: str, tmp_path: Path) -> None:
    result = _dendrux("demo", home=tmp_path, url=database_url)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^  tokens +1,262 in / 82 out$", result.stdout, re.M)


def test_db_upgrade_and_status(raw_database_url: str, tmp_path: Path) -> None:
    if raw_database_url.startswith("sqlite"):
        # `db status` never creates the file it reports on; an empty file is version 0
        missing = _dendrux("db", "status", home=tmp_path, url=raw_database_url)
        assert missing.returncode == 1 and "no dendrux database at" in missing.stderr
        Path(raw_database_url.partition(":///")[2]).touch()
    before = _dendrux("db", "status", home=tmp_path, url=raw_database_url)
    assert before.returncode == 1 and "schema version 0 of 7" in before.stdout
    upgraded = _dendrux("--database-url", raw_database_url, "db", "upgrade", home=tmp_path)
    assert upgraded.returncode == 0 and "applied migration(s) 1, 2" in upgraded.stdout
    again = _dendrux("db", "upgrade", home=tmp_path, url=raw_database_url)
    assert again.returncode == 0 and "already up to date" in again.stdout
    after = _dendrux("db", "status", home=tmp_path, url=raw_database_url)
    assert after.returncode == 0 and "schema version 7 of 7, up to date" in after.stdout


def test_errors_are_one_line_with_masked_password(tmp_path: Path) -> None:
    result = _dendrux(
        "db", "status", home=tmp_path, url="postgresql://u:hunter2@127.0.0.1:1/db?connect_timeout=2"
    )
    assert result.returncode == 1
    assert result.stderr.startswith("dendrux: error: ")
    assert result.stderr.count("\n") == 1
    assert "hunter2" not in result.stderr and "***" in result.stderr
    bad = _dendrux("--database-url", "mysql://x/y", "demo", home=tmp_path)
    assert bad.returncode == 1 and "accepted schemes" in bad.stderr
    usage = _dendrux("nonsense", home=tmp_path)
    assert usage.returncode == 2


# -- runs / show / events / sweep / purge on both dialects ------------------------------

ANSI = "\x1b["


@dataclass
class Seeded:
    url: str
    home: Path
    root: str
    child: str

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _dendrux(*args, home=self.home, url=self.url)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert result.stderr == "", result.stderr
    assert ANSI not in result.stdout  # not a terminal: no colour
    return result.stdout


def _one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.startswith("dendrux: error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    return result.stderr


def _group(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, (pattern, text)
    return match.group(1)


def _runs_json(seeded: Seeded, *args: str) -> list[dict[str, Any]]:
    runs = json.loads(_ok(seeded.run("runs", "--json", *args)))
    assert isinstance(runs, list)
    return runs


@pytest.fixture
def seeded(database_url: str, tmp_path: Path) -> Seeded:
    """The demo run (refund-agent) and its child (note-writer) recorded via the CLI."""
    demo = _dendrux("demo", home=tmp_path, url=database_url)
    assert demo.returncode == 0, demo.stderr
    root = re.search(r"^run (\w+)$", demo.stdout, re.M)
    child = re.search(r"child run +(\w+)  note-writer", demo.stdout)
    assert root and child, demo.stdout
    return Seeded(database_url, tmp_path, root.group(1), child.group(1))


def _write(url: str, fn: Any) -> Any:
    """Run ``fn(store)`` on a fresh StateStore in a fresh event loop."""
    from dendrux.state import StateStore

    async def go() -> Any:
        async with StateStore.from_database_url(url) as store:
            return await fn(store)

    return asyncio.run(go())


def test_runs_table_lists_the_demo_run_and_its_child(seeded: Seeded) -> None:
    out = _ok(seeded.run("runs"))
    lines = out.splitlines()
    header = lines[0].split()
    assert header[:4] == ["RUN", "ID", "AGENT", "STATUS"] and "COST" in header
    root = next(line for line in lines if line.startswith(seeded.root))
    child = next(line for line in lines if line.startswith(seeded.child))
    assert "refund-agent" in root and "success" in root and "1,262/82" in root
    assert "$0.00159" in root and re.search(r"\b(just now|\d+s ago)\b", root)
    assert "note-writer" in child and "210/18" in child and "$0.00025" in child
    # aligned: the STATUS column starts at the same offset on every line
    col = lines[0].index("STATUS")
    assert root[col:].startswith("success") and child[col:].startswith("success")
    assert lines[-1] == "2 runs"
    limited = _ok(seeded.run("runs", "--limit", "1"))
    assert limited.splitlines()[-1].startswith("1 run of 2")
    assert _ok(seeded.run("runs", "--status", "running")).strip() == "no runs match"


def test_runs_json_and_filters(seeded: Seeded) -> None:
    runs = _runs_json(seeded)
    assert {r["run_id"] for r in runs} == {seeded.root, seeded.child}
    root = next(r for r in runs if r["run_id"] == seeded.root)
    assert root["total_input_tokens"] == 1262 and root["total_cost_usd"] == pytest.approx(0.00159)
    assert root["meta"] == {"thread_id": "thread_demo", "user_id": "u_123"}
    created = datetime.fromisoformat(root["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=10)

    def ids(*args: str) -> set[str]:
        return {r["run_id"] for r in _runs_json(seeded, *args)}

    both = {seeded.root, seeded.child}
    assert ids("--status", "success") == both
    assert ids("--status", "error,cancelled") == set()
    assert ids("--status", "error", "--status", "success") == both
    assert ids("--meta", "thread_id=thread_demo") == {seeded.root}
    assert ids("--meta", "thread_id=thread_demo", "--meta", "user_id=u_123") == {seeded.root}
    assert ids("--meta", "thread_id=other") == set()
    assert ids("--agent", "note-writer") == {seeded.child}
    assert ids("--agent-name", "note-writer") == {seeded.child}
    assert ids("--tenant", "demo") == both
    assert ids("--tenant-id", "demo") == both
    assert ids("--tenant", "other") == set()
    assert ids("--parent", seeded.root) == {seeded.child}
    assert ids("--parent-run-id", seeded.root) == {seeded.child}
    assert ids("--since", "1h") == both
    assert ids("--started-after", "1h") == both
    assert ids("--since", "2000-01-01") == both
    assert ids("--since", (datetime.now(UTC) + timedelta(days=1)).isoformat()) == set()
    assert ids("--until", "2000-01-01T00:00:00Z") == set()
    assert ids("--started-before", "2000-01-01T00:00:00+00:00") == set()
    assert ids("--started-before", "1d") == set()
    assert len(ids("--limit", "1")) == 1
    assert ids("--limit", "1", "--offset", "1") | ids("--limit", "1") == both


def test_runs_meta_values_are_typed_json_scalars(database_url: str, tmp_path: Path) -> None:
    async def seed(store: Any) -> None:
        for i, meta in enumerate([{"n": 3, "ok": True, "s": "3"}, {"n": "3", "ok": "true"}]):
            await store.create_run(f"meta_run_{i}", "m", meta=meta)

    _write(database_url, seed)

    def ids(*args: str) -> set[str]:
        out = _ok(_dendrux("runs", "--json", *args, home=tmp_path, url=database_url))
        return {r["run_id"] for r in json.loads(out)}

    assert ids("--meta", "n=3") == {"meta_run_0"}
    assert ids("--meta", 'n="3"') == {"meta_run_1"}
    assert ids("--meta", "ok=true") == {"meta_run_0"}
    assert ids("--meta", "s=3") == set()  # 3 is a number; the stored value is the string "3"
    assert ids("--meta", 's="3"') == {"meta_run_0"}


def test_show_prints_header_and_timeline(seeded: Seeded) -> None:
    out = _ok(seeded.run("show", seeded.root))
    lines = out.splitlines()
    assert lines[0] == f"run {seeded.root}"
    head = "\n".join(lines[:16])
    for field, value in [
        ("status", "success"),
        ("agent", "refund-agent"),
        ("model", "claude-haiku-4-5"),
        ("tokens", "1,262 in / 82 out"),
        ("cost", "$0.00159"),
        ("duration", ""),
        ("answer", "Done: $49.99 refunded for order #8812."),
    ]:
        assert re.search(rf"^  {field} +\S*{re.escape(value)}", head, re.M), (field, head)

    events = [line for line in lines if re.match(r"  #\d+ ", line)]
    assert [_group(r"  #(\d+)", e) for e in events] == [str(i) for i in range(9)]
    offset = r"\+\d+(\.\d)?(ms|s)"

    def event(kind: str, n: int = 0) -> str:
        found = [e for e in events if f"  {kind} " in e or e.endswith(f"  {kind}")]
        assert found, (kind, out)
        return found[n]

    for e in events:
        assert re.search(rf"  #\d+  iter \d  +{offset}  ", e), e
    started = event("run.started")
    assert "iter 0" in started
    llm = event("llm.completed")
    assert "iter 1" in llm and "594 in / 55 out" in llm and "$0.00081" in llm and "812ms" in llm
    tool = event("tool.completed")
    assert "refund" in tool and " ok " in tool and "143ms" in tool
    below = lines[lines.index(tool) + 1 : lines.index(tool) + 3]
    assert below[0].split() == ["params", '{"order":', "8812}"], below
    assert below[1].endswith('result  {"refunded": true, "amount_usd": 49.99}'), below
    assert "tool_name=refund" in event("approval.requested")
    paused = event("run.paused")
    assert "waiting_approval" in paused and "pending: refund" in paused
    assert re.search(rf"waited {offset[2:]}", paused), paused
    assert re.search(r"after \d+(\.\d)?(ms|s) waiting", event("run.resumed"))
    assert "approved by supervisor" in event("run.resumed")

    child = next(line for line in lines if "child run" in line)
    assert seeded.child in child and "note-writer" in child and "success" in child
    assert "210 in / 18 out" in child and "$0.00025" in child
    assert child.startswith(" " * 12)  # indented under the event columns
    assert lines.index(tool) < lines.index(child) < lines.index(event("llm.completed", 1))
    assert "with children" in head and "1 delegated run" in head

    child_out = _ok(seeded.run("show", seeded.child))
    assert re.search(rf"^  parent +{seeded.root} \(refund-agent, success\)", child_out, re.M)
    convo = _ok(seeded.run("show", seeded.root, "--conversation"))
    assert "conversation" in convo and "Please refund order #8812" in convo


def test_show_json(seeded: Seeded) -> None:
    doc = json.loads(_ok(seeded.run("show", seeded.root, "--json")))
    assert doc["run"]["run_id"] == seeded.root and doc["run"]["status"] == "success"
    assert doc["run"]["duration_ms"] >= 0
    timeline = doc["timeline"]
    assert [e["sequence_index"] for e in timeline] == list(range(9))
    by_type = {e["event_type"]: e for e in timeline}
    assert by_type["tool.completed"]["tool_call"]["tool_name"] == "refund"
    assert by_type["tool.completed"]["tool_call"]["duration_ms"] == 143
    llm = [e for e in timeline if e["event_type"] == "llm.completed"]
    assert [e["llm_call"]["input_tokens"] for e in llm] == [594, 668]
    assert by_type["run.paused"]["pause"]["wait_ms"] >= 0
    assert by_type["run.paused"]["pause"]["active"] is False
    assert by_type["run.resumed"]["pause"] == by_type["run.paused"]["pause"]
    assert by_type["run.started"]["offset_ms"] >= 0
    assert [c["run_id"] for c in doc["children"]] == [seeded.child]
    assert doc["children"][0]["total_input_tokens"] == 210 and doc["children"][0]["children"] == []
    assert doc["subtree"]["descendant_count"] == 1
    assert len(doc["pauses"]) == 1 and len(doc["tool_calls"]) == 1 and len(doc["llm_calls"]) == 2
    assert len(doc["conversation"]) == 4


def test_events_prints_every_event(seeded: Seeded) -> None:
    out = _ok(seeded.run("events", seeded.root))
    kinds = [_group(r"  #\d+ +iter \d+ +\S+  (\S+)", line) for line in out.splitlines()]
    assert kinds == [
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
    after = _ok(seeded.run("events", seeded.root, "--after", "6")).splitlines()
    assert len(after) == 2 and "#7" in after[0] and "#8" in after[1]
    rows = [
        json.loads(line) for line in _ok(seeded.run("events", seeded.root, "--json")).splitlines()
    ]
    assert [r["sequence_index"] for r in rows] == list(range(9))
    assert rows[6]["event_type"] == "tool.completed" and rows[6]["data"]["tool_name"] == "refund"
    assert all(r["run_id"] == seeded.root for r in rows)
    assert datetime.fromisoformat(rows[0]["created_at"]).utcoffset() == timedelta(0)


def _reader(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def _wait_for(lines: queue.Queue[str], needle: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no line with {needle!r} within {timeout}s")
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if needle in line:
            return line


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_events_follow_gets_new_events_and_exits_on_ctrl_c(
    database_url: str, tmp_path: Path, as_json: bool
) -> None:
    async def create(store: Any) -> None:
        await store.create_run("follow_run", "follower")
        await store.save_run_event("follow_run", event_type="run.started", sequence_index=0)

    _write(database_url, create)
    env = {k: v for k, v in os.environ.items() if k != "DENDRUX_DATABASE_URL"}
    env.update(HOME=str(tmp_path), DENDRUX_DATABASE_URL=database_url)
    args = ["events", "follow_run", "--follow", "--poll-interval", "0.2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dendrux", *args, *(["--json"] if as_json else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # a shell's background job may ignore SIGINT, and children inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    try:
        first = _wait_for(lines, "run.started")
        if as_json:
            assert json.loads(first)["sequence_index"] == 0

        async def add(store: Any) -> None:
            await store.save_run_event(
                "follow_run", event_type="tool.completed", sequence_index=1, data={"n": 1}
            )

        _write(database_url, add)
        landed = _wait_for(lines, "tool.completed", timeout=15)
        if as_json:
            assert json.loads(landed)["data"] == {"n": 1}
        else:
            assert "#1" in landed and "n=1" in landed
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode in (0, 130), (proc.returncode, stderr)
    assert "Traceback" not in stderr and stderr.strip() == "", stderr


def test_sweep_marks_idle_runs_as_error(database_url: str, tmp_path: Path) -> None:
    async def seed(store: Any) -> None:
        await store.create_run("stale_run", "sleepy")
        await store.save_run_event("stale_run", event_type="run.started", sequence_index=0)
        await store.create_run("waiting_run", "asker")
        await store.pause_run("waiting_run", status="waiting_human_input", pause_data={"q": 1})

    _write(database_url, seed)
    time.sleep(0.05)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return _dendrux(*args, home=tmp_path, url=database_url)

    out = _ok(run("sweep", "--older-than", "1ms"))
    assert out.startswith("swept 2 runs idle for more than")
    stale = next(line for line in out.splitlines() if line.startswith("stale_run"))
    assert "running" in stale and "stale_running" in stale
    waiting = next(line for line in out.splitlines() if line.startswith("waiting_run"))
    assert "waiting_human_input" in waiting and "abandoned_waiting" in waiting
    assert _ok(run("sweep", "--older-than", "1ms")).startswith("nothing to sweep")
    errors = json.loads(_ok(run("runs", "--status", "error", "--json")))
    assert {r["run_id"] for r in errors} == {"stale_run", "waiting_run"}
    events = _ok(run("events", "stale_run")).splitlines()
    assert "run.interrupted" in events[-1]

    async def fresh(store: Any) -> None:
        await store.create_run("never_started", "lazy")

    _write(database_url, fresh)
    time.sleep(0.05)
    assert json.loads(_ok(run("sweep", "--older-than", "1h", "--json"))) == []
    swept = json.loads(_ok(run("sweep", "--older-than", "1ms", "--json")))
    assert [(s["run_id"], s["failure_reason"]) for s in swept] == [
        ("never_started", "never_started")
    ]
    assert datetime.fromisoformat(swept[0]["swept_at"]).utcoffset() == timedelta(0)


def test_purge_dry_run_then_purge(seeded: Seeded) -> None:
    # A cut-off must be in the past: just now, after the seeded runs finished.
    now = datetime.now(UTC)
    cutoff = now.isoformat()
    expected = {
        "agent_runs": 2,
        "react_traces": 6,
        "tool_calls": 1,
        "token_usage": 3,
        "llm_interactions": 3,
        "run_events": 12,
    }
    out = _ok(seeded.run("purge", "--before", cutoff, "--dry-run"))
    assert out.startswith("dry run: would delete")
    for table, count in expected.items():
        assert re.search(rf"^  {table} +{count}$", out, re.M), (table, out)
    assert re.search(r"^  total +27$", out, re.M)
    doc = json.loads(_ok(seeded.run("purge", "--before", cutoff, "--dry-run", "--json")))
    assert doc["dry_run"] is True and doc["counts"] == expected and doc["total"] == 27
    assert datetime.fromisoformat(doc["before"]) == now
    assert len(_runs_json(seeded)) == 2  # nothing deleted

    old = json.loads(_ok(seeded.run("purge", "--before", "90d", "--json")))
    assert old["counts"]["agent_runs"] == 0 and old["dry_run"] is False
    only_errors = json.loads(
        _ok(seeded.run("purge", "--before", cutoff, "--status", "error", "--json"))
    )
    assert only_errors["total"] == 0 and only_errors["status"] == ["error"]

    out = _ok(
        seeded.run(
            "purge", "--before", now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "--status", "success"
        )
    )
    assert out.startswith("deleted finished runs (success)")
    assert re.search(r"^  agent_runs +2$", out, re.M)
    assert _runs_json(seeded) == []
    _one_line_error(seeded.run("show", seeded.root), "not found")


def test_database_url_option_after_the_command(seeded: Seeded, tmp_path: Path) -> None:
    other_home = tmp_path / "elsewhere"
    other_home.mkdir()
    result = _dendrux("runs", "--json", "--database-url", seeded.url, home=other_home)
    assert {r["run_id"] for r in json.loads(_ok(result))} == {seeded.root, seeded.child}
    result = _dendrux("show", seeded.root, "--database-url", seeded.url, home=other_home)
    assert _ok(result).startswith(f"run {seeded.root}")


def test_bad_input_on_each_dialect(seeded: Seeded) -> None:
    _one_line_error(seeded.run("show", "01NOSUCHRUN"), "run '01NOSUCHRUN' not found")
    _one_line_error(seeded.run("events", "01NOSUCHRUN"), "run '01NOSUCHRUN' not found")
    _one_line_error(seeded.run("events", "01NOSUCHRUN", "--follow"), "not found")
    for args, option in [
        (["runs", "--meta", "nokey"], "--meta"),
        (["runs", "--meta", "a.b=1"], "--meta"),
        (["runs", "--meta", "a=1", "--meta", "a=2"], "--meta"),
        (["runs", "--since", "yesterday"], "--since"),
        (["runs", "--since", "30"], "--since"),
        (["runs", "--status", "finished"], "--status"),
        (["runs", "--limit", "0"], "--limit"),
        (["events", seeded.root, "--after", "x"], "--after"),
        (["sweep", "--older-than", "0m"], "--older-than"),
        (["sweep"], "--older-than"),
        (["purge", "--before", "soon"], "--before"),
        (["purge", "--before", "2026-01-01", "--status", "running"], "--status"),
        (["show"], "RUN_ID"),
    ]:
        result = seeded.run(*args)
        assert result.returncode == 2, (args, result.stderr)
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("dendrux ") and "error:" in last and option in last, (args, last)
        assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_masked_line(tmp_path: Path) -> None:
    url = "postgresql://u:hunter2@127.0.0.1:1/db?connect_timeout=2"
    for args in (
        ["runs"],
        ["show", "x"],
        ["events", "x", "--follow"],
        ["sweep", "--older-than", "1h"],
    ):
        result = _dendrux(*args, "--database-url", url, home=tmp_path)
        err = _one_line_error(result, "***", "127.0.0.1:1")
        assert "hunter2" not in err and "hunter2" not in result.stdout


def test_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    for args in (["runs"], ["show", "x"], ["events", "x"], ["purge", "--before", "1d"]):
        _one_line_error(_dendrux(*args, home=tmp_path), "does not exist", "dendrux demo")
    missing = tmp_path / "typo.db"
    result = _dendrux("runs", "--database-url", f"sqlite+aiosqlite:///{missing}", home=tmp_path)
    _one_line_error(result, str(missing))
    assert not missing.exists() and not (tmp_path / ".dendrux").exists()


def _run_in_pty(args: list[str], env: dict[str, str]) -> str:
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dendrux", *args],
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
        proc.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_unless_no_color(seeded: Seeded) -> None:
    pytest.importorskip("pty")
    env = {k: v for k, v in os.environ.items() if k not in ("DENDRUX_DATABASE_URL", "NO_COLOR")}
    env.update(HOME=str(seeded.home), DENDRUX_DATABASE_URL=seeded.url)
    coloured = _run_in_pty(["show", seeded.root], env)
    assert ANSI in coloured and "refund-agent" in coloured
    plain = _run_in_pty(["show", seeded.root], {**env, "NO_COLOR": "1"})
    assert ANSI not in plain and "tool.completed" in plain
    assert ANSI not in _run_in_pty(["runs", "--color", "never"], env)
    forced = _ok_with_colour(seeded.run("runs", "--color", "always"))
    assert ANSI in forced


def _ok_with_colour(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


# -- value parsing and formatting, in process --------------------------------------------


def test_parse_duration_and_instant() -> None:
    from dendrux.cli.values import parse_duration, parse_instant

    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("500ms") == timedelta(milliseconds=500)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("2w") == timedelta(weeks=2)
    for bad in ("", "30", "m", "-5m", "0s", "5 minutes", "1e3s"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert parse_instant("2h", now=now) == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    assert parse_instant("2026-01-01") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_instant("2026-01-01T12:30:00Z") == datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    assert parse_instant("2026-01-01T14:30:00+02:00") == datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    for bad in ("yesterday", "2026-13-01", "30"):
        with pytest.raises(ValueError):
            parse_instant(bad)
    # A datetime without a zone is refused (as HTTP and every API refuse it), not taken as UTC.
    with pytest.raises(ValueError, match="Z or an offset"):
        parse_instant("2026-01-01T12:30:00")


def test_parse_meta() -> None:
    from dendrux.cli.values import parse_meta

    assert parse_meta("a=1") == ("a", 1)
    assert parse_meta("a=1.5") == ("a", 1.5)
    assert parse_meta("a=true") == ("a", True)
    assert parse_meta("a=null") == ("a", None)
    assert parse_meta('a="1"') == ("a", "1")
    assert parse_meta('a="x"') == ("a", "x") == parse_meta("a=x")  # as HTTP reads ?meta.a=
    assert parse_meta("a=x=y") == ("a", "x=y")
    assert parse_meta("a=") == ("a", "")
    assert parse_meta("a=NaN") == ("a", "NaN")
    assert parse_meta("a=[1]") == ("a", "[1]")
    assert parse_meta("a={}") == ("a", "{}")
    assert parse_meta("thread_id=thread_demo") == ("thread_id", "thread_demo")
    for bad in ("nokey", "=1", "a.b=1", "a b=1"):
        with pytest.raises(ValueError):
            parse_meta(bad)


def test_formatting() -> None:
    from dendrux.cli.render import format_ago, format_cost, format_duration

    assert format_duration(0.0009) == "0.9ms"
    assert format_duration(0.12) == "120ms"
    assert format_duration(12.34) == "12.3s"
    assert format_duration(125) == "2m05s"
    assert format_duration(3 * 3600 + 7 * 60) == "3h07m"
    assert format_duration(2 * 86400 + 3600) == "2d01h"
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert format_ago(now - timedelta(minutes=3, seconds=20), now) == "3m ago"
    assert format_ago(now - timedelta(seconds=42), now) == "42s ago"
    assert format_ago(now - timedelta(hours=2), now) == "2h ago"
    assert format_ago(now - timedelta(days=5), now) == "5d ago"
    assert format_ago(now - timedelta(days=90), now) == "2026-03-03"
    assert format_ago(now, now) == "just now"
    assert format_ago(None, now) == "-"
    assert format_cost(None) == "-"
    assert format_cost(0.00159) == "$0.00159"
    assert format_cost(0.25) == "$0.25"
    assert format_cost(12.4) == "$12.40"
    assert format_cost(0) == "$0.00"
