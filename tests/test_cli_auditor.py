"""The command line answering an auditor's questions (issue 17), on both dialects, in
process through `dendrux.cli.app.main` with a real terminal width (``COLUMNS``):
``show`` with tool parameters and results fitted to the width (``--full``, ``--tail``),
lifecycle payloads read out, ``runs`` as a tree fitted to the width, run ids by unique
prefix in any case everywhere (an index range, never a scan), ``events`` read as
``show`` reads them, and ``demo`` ending with the exact next commands."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from dendrux.cli.app import main
from dendrux.cli.render import visible_width
from dendrux.db.urls import pasteable_url_option
from dendrux.read.run_ids import upper_bound

LONG = "x" * 300
ROOT = "01JXAUDITROOT0000000000000"
CHILD = "01JXAUDITCHILD000000000000"
OTHER = "01JYOTHER00000000000000000"
FAILED = "01JZFAILED0000000000000000"


def _run(url: str, fn: Callable[[Any], Awaitable[Any]]) -> Any:
    """``fn(store)`` on a fresh StateStore, in a loop of its own (main() runs its own)."""
    from dendrux.state import StateStore

    async def go() -> Any:
        async with StateStore.from_database_url(url) as store:
            return await fn(store)

    return asyncio.run(go())


async def _seed(store: Any) -> None:
    """A run that calls a tool with long parameters, pauses for two client tools,
    resumes with their results, delegates a child run and completes; and a failed run."""
    from dendrux.recorder import EventSequencer, PersistenceRecorder
    from dendrux.types import LLMResponse, ToolCall, ToolResult, UsageStats

    await store.create_run(ROOT, "auditor-agent", model="m-1", tenant_id="t1")
    seq = EventSequencer(0)
    rec = PersistenceRecorder(store, ROOT, model="m-1", provider_name="P", event_sequencer=seq)

    async def event(kind: str, data: dict[str, Any], iteration: int = 1) -> None:
        await store.save_run_event(
            ROOT, event_type=kind, sequence_index=seq.next(), iteration_index=iteration, data=data
        )

    await event("run.started", {"agent_name": "auditor-agent"}, 0)
    search = ToolCall("search", {"query": LONG, "limit": 5}, provider_tool_call_id="p1")
    usage = UsageStats(input_tokens=594, output_tokens=55, total_tokens=649, cost_usd=0.00081)
    await rec.on_llm_call_completed(
        LLMResponse(text="", tool_calls=[search], usage=usage, model="m-1"), 1, duration_ms=812
    )
    payload = json.dumps({"hits": [LONG, "second"], "total": 2})
    await rec.on_tool_completed(
        search, ToolResult("search", search.id, payload, duration_ms=143), 1
    )
    broken = ToolCall("fetch", {"url": "http://example.test/"})
    failure = ToolResult("fetch", broken.id, "", success=False, error="connection refused")
    await rec.on_tool_completed(broken, failure, 1)
    pending = [
        {"id": "c1", "name": "lookup", "target": "client", "params": {"order": 8812}},
        {"id": "c2", "name": "confirm", "target": "client", "params": {"ask": "sure?"}},
    ]
    await event("run.paused", {"status": "waiting_client_tool", "pending_tool_calls": pending})
    submitted = [
        {"call_id": "c1", "name": "lookup", "success": True},
        {"call_id": "c2", "name": "confirm", "success": False},
    ]
    await event(
        "run.resumed", {"resumed_from": "waiting_client_tool", "submitted_results": submitted}
    )
    await store.create_run(CHILD, "helper", parent_run_id=ROOT, delegation_level=1, tenant_id="t1")
    await store.finalize_run(CHILD, status="success", answer="ok")
    for i in range(6):
        await event("note.added", {"n": i}, 2)
    await store.finalize_run(
        ROOT, status="success", answer="done", iteration_count=2, total_usage=usage
    )
    await event("run.completed", {"status": "success", "stop_reason": "end_turn"}, 2)
    await store.create_run(OTHER, "other-agent")
    await store.create_run(FAILED, "failing-agent", tenant_id="t2")
    await store.save_run_event(FAILED, event_type="run.started", sequence_index=0)
    await store.finalize_run(FAILED, status="error", error="boom: the model went away")
    await store.save_run_event(
        FAILED,
        event_type="run.error",
        sequence_index=1,
        data={"error": "boom: the model went away"},
    )


@pytest.fixture
def seeded(database_url: str) -> str:
    _run(database_url, _seed)
    return database_url


def _cli(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    *args: str,
    columns: int = 80,
) -> tuple[int, str, str]:
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.delenv("DENDRUX_DATABASE_URL", raising=False)
    try:
        code = main(["--database-url", url, *args])
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _ok(result: tuple[int, str, str]) -> list[str]:
    code, out, err = result
    assert code == 0 and err == "", (code, out, err)
    return out.splitlines()


def _fits(lines: list[str], columns: int) -> None:
    too_wide = [line for line in lines if visible_width(line) > columns]
    assert too_wide == [], too_wide


# -- show -----------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [80, 132])
def test_show_prints_tool_parameters_and_results_within_the_width(
    seeded: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    lines = _ok(_cli(capsys, monkeypatch, seeded, "show", ROOT, columns=columns))
    _fits(lines, columns)
    tool = next(i for i, line in enumerate(lines) if "tool.completed" in line and "search" in line)
    params, result = lines[tool + 1], lines[tool + 2]
    assert re.match(r" +params  \{.*\"query\": \"xxx+…$", params), params  # JSONB sorts keys
    assert re.match(r" +result  \{\"hits\": \[\"xxx+…$", result), result
    assert len(params) == columns and len(result) == columns
    failed = next(i for i, line in enumerate(lines) if "fetch" in line and "FAILED" in line)
    assert lines[failed + 1].split() == ["params", '{"url":', '"http://example.test/"}']
    assert lines[failed + 2].split() == ["error", "connection", "refused"]


def test_show_full_prints_values_whole_and_indented(
    seeded: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = "\n".join(_ok(_cli(capsys, monkeypatch, seeded, "show", ROOT, "--full", columns=80)))
    assert f'"query": "{LONG}"' in out and f'"{LONG}",' in out  # whole, one key a line
    assert re.search(r"^ +params  \{$", out, re.M) and re.search(r'^ +"limit": 5,?$', out, re.M)


def test_show_reads_lifecycle_payloads(
    seeded: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _ok(_cli(capsys, monkeypatch, seeded, "show", ROOT, columns=200))

    def line(kind: str) -> str:
        return next(x for x in lines if f"  {kind} " in x)

    paused = line("run.paused")
    assert "waiting_client_tool" in paused and "pending: lookup, confirm" in paused
    below = lines[lines.index(paused) + 1 : lines.index(paused) + 3]
    assert below[0].split() == ["pending", "lookup", '{"order":', "8812}"], below
    assert below[1].split() == ["pending", "confirm", '{"ask":', '"sure?"}'], below
    resumed = line("run.resumed")
    assert (
        "from waiting_client_tool" in resumed and "submitted: lookup ok, confirm FAILED" in resumed
    )
    assert "success  stop reason: end_turn" in line("run.completed")
    llm = line("llm.completed")
    assert "594 in / 55 out  $0.00081  812ms  -> tool calls" in llm
    assert "m-1" not in llm  # the run's own model is in the header, not on each call
    failed = _ok(_cli(capsys, monkeypatch, seeded, "show", FAILED, columns=200))
    assert any(re.search(r"run\.error +error: boom: the model went away$", x) for x in failed)


def test_show_tail_prints_the_header_and_the_last_entries(
    seeded: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _ok(_cli(capsys, monkeypatch, seeded, "show", ROOT, columns=200))
    events = [x for x in whole if re.match(r"  #\d+ ", x)]
    lines = _ok(_cli(capsys, monkeypatch, seeded, "show", ROOT, "--tail", "2", columns=200))
    assert lines[0] == f"run {ROOT}" and any(x.startswith("  agent ") for x in lines)
    assert [x for x in lines if re.match(r"  #\d+ ", x)] == events[-2:]
    skipped = len(events) - 2
    title = f"timeline ({len(events)} events; the last 2 shown, {skipped} earlier and 1 "
    assert any(x.startswith(title + "delegated run skipped)") for x in lines), lines
    assert not any("child run" in x for x in lines)  # it started before the last two
    everything = _ok(_cli(capsys, monkeypatch, seeded, "show", ROOT, "--tail", "99", columns=200))
    assert [x for x in everything if not x.startswith("  started")] == [
        x for x in whole if not x.startswith("  started")
    ]
    code, _, err = _cli(capsys, monkeypatch, seeded, "show", ROOT, "--tail", "0")
    assert code == 2 and "--tail" in err


# -- runs -----------------------------------------------------------------------------------


def test_runs_lists_children_under_their_parent(
    seeded: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _ok(_cli(capsys, monkeypatch, seeded, "runs", columns=200))
    ids = [line.split()[0] for line in lines[1:-1]]
    assert ids == [FAILED, OTHER, ROOT, CHILD]  # newest first, the child under its parent
    child = lines[1 + ids.index(CHILD)]
    assert "  └─ helper  " in child, child
    assert "PARENT" not in lines[0]
    flat = _ok(_cli(capsys, monkeypatch, seeded, "runs", "--agent", "helper", columns=200))
    assert flat[0].split()[-1] == "PARENT" and flat[1].split()[-1] == ROOT
    assert "└─" not in flat[1]


@pytest.mark.parametrize("columns", [40, 60, 80, 100])
def test_runs_fit_the_width(
    seeded: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    _run(seeded, lambda s: s.create_run("01K0LONG", "an-agent-with-a-very-long-name-indeed"))
    lines = _ok(_cli(capsys, monkeypatch, seeded, "runs", columns=columns))
    _fits(lines, columns)
    header = lines[0].split()
    assert header[:4] == ["RUN", "ID", "AGENT", "STATUS"] or columns < 60
    long = next(x for x in lines if x.startswith("01K0LONG"))
    assert "an-agent-with-a-very-long-name-indeed" not in long and "an-agent-" in long
    assert "…" in long
    wide = _ok(_cli(capsys, monkeypatch, seeded, "runs", columns=250))
    assert wide[0].split() == [
        "RUN", "ID", "AGENT", "STATUS", "STARTED", "DURATION", "ITER", "TOKENS", "IN/OUT", "COST"
    ]  # fmt: skip
    assert any("an-agent-with-a-very-long-name-indeed" in x for x in wide)


# -- run ids --------------------------------------------------------------------------------


def test_a_unique_prefix_in_any_case_names_the_run_everywhere(
    seeded: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for ref in ("01jxauditr", "01JXAUDITR", "01JxAuDiTr"[:4] + "AUDITR"):
        lines = _ok(_cli(capsys, monkeypatch, seeded, "show", ref))
        assert lines[0] == f"run {ROOT}", ref
    assert _ok(_cli(capsys, monkeypatch, seeded, "show", "01jzf"))[0] == f"run {FAILED}"
    events = _ok(_cli(capsys, monkeypatch, seeded, "events", "01jzf", "--json"))
    assert [json.loads(x)["run_id"] for x in events] == [FAILED, FAILED]
    assert _ok(_cli(capsys, monkeypatch, seeded, "show", "01jxauditc", "--json"))
    children = _ok(_cli(capsys, monkeypatch, seeded, "runs", "--parent", "01jxauditr", "--json"))
    assert [r["run_id"] for r in json.loads("\n".join(children))] == [CHILD]


def test_an_ambiguous_prefix_lists_the_candidates(
    seeded: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for command in ("show", "events"):
        code, out, err = _cli(capsys, monkeypatch, seeded, command, "01jxaudit")
        assert code == 2 and out == "" and err.count("\n") == 1, (code, out, err)
        assert err.startswith("dendrux: error: run id '01jxaudit' is ambiguous: it begins 2 runs")
        assert f"{CHILD} (helper, " in err and f"{ROOT} (auditor-agent, " in err
    code, _, err = _cli(capsys, monkeypatch, seeded, "show", "01jq")
    assert code == 1 and "not found" in err and "01jq" in err


def test_an_exact_id_wins_over_a_longer_one_it_begins(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def seed(store: Any) -> None:
        for run_id in ("r1", "r10", "r11", "R12"):
            await store.create_run(run_id, f"agent-{run_id}")

    _run(database_url, seed)
    assert _ok(_cli(capsys, monkeypatch, database_url, "show", "r1"))[0] == "run r1"
    code, _, err = _cli(capsys, monkeypatch, database_url, "show", "R1")
    assert code == 2 and "begins 4 runs" in err  # R1, r1 (lower), and the upper form R12
    assert _ok(_cli(capsys, monkeypatch, database_url, "show", "r12"))[0] == "run R12"


def test_many_candidates_stay_one_line(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def seed(store: Any) -> None:
        for i in range(30):
            await store.create_run(f"MANY{i:02d}", "an-agent-name-of-some-length")

    _run(database_url, seed)
    code, _, err = _cli(capsys, monkeypatch, database_url, "events", "many")
    assert code == 2 and err.count("\n") == 1 and " ... " not in err  # not elided mid-line
    assert "begins more than 10 runs" in err and "MANY00 (an-agent-name-of-some-length" in err
    assert err.rstrip().endswith(", ...; type more of the id")


async def test_prefix_lookup_keeps_to_the_tenant(state_store: Any) -> None:
    from dendrux.cli.run_ref import resolve_run_id
    from dendrux.errors import InvalidArgumentError, RunNotFoundError
    from dendrux.store import RunStore

    await _seed(state_store)
    reader = RunStore(state_store)
    everyone = await reader.find_runs_by_id_prefix("01j")
    assert [r.run_id for r in everyone] == sorted([ROOT, CHILD, OTHER, FAILED])
    in_t1 = await reader.find_runs_by_id_prefix("01J", tenant_id="t1")
    assert sorted(r.run_id for r in in_t1) == sorted([ROOT, CHILD])
    untenanted = await reader.find_runs_by_id_prefix("01j", tenant_id=None)
    assert [r.run_id for r in untenanted] == [OTHER]
    assert len(await reader.find_runs_by_id_prefix("01", limit=2)) == 2
    assert await resolve_run_id(reader, "01jz", tenant_id="t2") == FAILED
    with pytest.raises(RunNotFoundError):
        await resolve_run_id(reader, "01jz", tenant_id="t1")
    with pytest.raises(RunNotFoundError):
        await resolve_run_id(reader, FAILED, tenant_id="t1")  # exact, but another tenant's
    assert await resolve_run_id(reader, "01jxauditc", tenant_id="t1") == CHILD
    with pytest.raises(InvalidArgumentError, match="prefix"):
        await reader.find_runs_by_id_prefix("")
    with pytest.raises(InvalidArgumentError, match="limit"):
        await reader.find_runs_by_id_prefix("01", limit=0)


def test_upper_bounds() -> None:
    assert upper_bound("01JX") == "01JY"
    assert upper_bound("az") == "a{"
    assert upper_bound("a\U0010ffff") == "b"
    assert upper_bound("\ud7ff") == "\ue000"
    assert upper_bound("\U0010ffff").startswith("\U0010ffff\U0010ffff")


def test_the_prefix_lookup_reads_primary_key_ranges(database_url: str, dialect: str) -> None:
    """Each case form is a range of the primary key's index: never a scan of the table,
    so a prefix costs the same at a million runs."""
    from dendrux.db.queries import load_queries

    sql = load_queries(dialect)["find_runs_by_id_prefix"]
    forms = ["01jx", "01jy", "01JX", "01JY", "01jx", "01jy"]
    if dialect == "sqlite":
        import sqlite3

        with sqlite3.connect(database_url.split("///", 1)[1]) as raw:
            plan = [r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + sql, [*forms, 0, None, 10])]
        ranges = [p for p in plan if "agent_runs USING" in p and "(id>? AND id<?)" in p]
        assert len(ranges) == 3, plan
        assert not any(p.startswith("SCAN agent_runs") for p in plan), plan
        return
    import asyncpg

    async def explain() -> list[str]:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            await conn.execute("SET enable_seqscan = off")  # an empty table is cheapest to scan
            await conn.execute(
                "PREPARE ids (text, text, text, text, text, text, boolean, text, bigint) AS "
                + sql.strip().rstrip(";")
            )
            quoted = ", ".join(f"'{f}'" for f in forms)
            rows = await conn.fetch(f"EXPLAIN (COSTS OFF) EXECUTE ids({quoted}, false, NULL, 10)")
            return [r[0] for r in rows]
        finally:
            await conn.close()

    plan = asyncio.run(explain())
    conds = [p for p in plan if "Index Cond" in p and ">= $" in p and "< $" in p]
    assert len(conds) == 3, plan
    assert not any("Seq Scan" in p for p in plan), plan


# -- events -----------------------------------------------------------------------------------


def test_events_reads_each_event_as_show_does(
    seeded: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _ok(_cli(capsys, monkeypatch, seeded, "events", ROOT, columns=80))
    _fits(lines, 80)
    assert len(lines) == 13  # one line per event, never wrapped
    wide = _ok(_cli(capsys, monkeypatch, seeded, "events", ROOT, columns=300))
    tool = next(x for x in wide if "tool.completed" in x and "search" in x)
    assert re.search(r"tool\.completed  search \(server\)  ok  143ms  correlation=\w+$", tool), tool
    llm = next(x for x in wide if "llm.completed" in x)
    assert "594 in / 55 out  $0.00081" in llm and "correlation=" in llm
    assert "input_tokens" not in llm  # read, not raw JSON
    raw = [json.loads(x) for x in _ok(_cli(capsys, monkeypatch, seeded, "events", ROOT, "--json"))]
    assert len(raw) == 13 and raw[1]["data"]["input_tokens"] == 594  # --json: the event whole
    assert all(r["run_id"] == ROOT for r in raw)


# -- demo -----------------------------------------------------------------------------------


def test_demo_shows_the_run_and_ends_with_the_next_commands(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dendrux.demo import _dendrux_program

    lines = _ok(_cli(capsys, monkeypatch, database_url, "demo", columns=100))
    _fits(lines[2 : lines.index("look at it again:")], 100)  # the run, as `show` prints it
    run_id = re.fullmatch(r"run (\w{26})", lines[2])
    assert run_id is not None, lines[:3]
    text = "\n".join(lines)
    assert re.search(r"^  tokens +1,262 in / 82 out$", text, re.M)
    assert re.search(r"^  iterations +2$", text, re.M)
    assert re.search(r"^ +params  \{\"order\": 8812\}$", text, re.M)  # the tool's parameters
    assert "timeline:" not in text and '{"agent_name"' not in text  # not the old raw JSON
    program = _dendrux_program()
    option = pasteable_url_option(database_url)
    assert lines[-5:-3] == ["look at it again:", f"  {program} show {run_id[1]}{option}"]
    assert lines[-3] == "look at it in the dashboard:"
    assert lines[-2].startswith(f"  {program} dashboard ") and lines[-2].endswith(run_id[1])


def test_next_commands_never_print_a_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dendrux.cli.demo import next_commands

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DENDRUX_DATABASE_URL", raising=False)
    default = f"sqlite+aiosqlite:///{tmp_path / '.dendrux' / 'dendrux.db'}"
    assert "--database-url" not in next_commands(default, "R1")
    plain = next_commands("sqlite+aiosqlite:///app.db", "R1")
    assert "show R1 --database-url 'sqlite+aiosqlite:///app.db'" in plain
    assert "dashboard --database-url 'sqlite+aiosqlite:///app.db' --open --run R1" in plain
    secret = "postgresql://app:hunter2@db/agents"
    text = next_commands(secret, "R1")
    assert "hunter2" not in text and "***" not in text
    assert 'dashboard --database-url "$DENDRUX_DATABASE_URL" --open' in text
    assert 'show R1 --database-url "$DENDRUX_DATABASE_URL"' in text
    assert "password is not printed" in text
    monkeypatch.setenv("DENDRUX_DATABASE_URL", secret)
    text = next_commands(secret, "R1")
    assert "hunter2" not in text and "***" not in text
    assert 'show R1 --database-url "$DENDRUX_DATABASE_URL"' in text
    assert "password is not printed" not in text
