"""dendrux export / import (dendrux.transfer): realistic runs recorded on one dialect,
exported, imported into a fresh database of the same and of the other dialect, and
every read compared field by field; a re-export is byte-identical; bad files, runs
already present and refused rows leave the target untouched."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import _migrated_postgres_database

from dendrux.cli.app import main
from dendrux.db import create_engine
from dendrux.db.queries import load_queries
from dendrux.demo import record_sample_run
from dendrux.errors import RunNotFoundError
from dendrux.state import StateStore
from dendrux.store import RunStore
from dendrux.transfer import (
    ImportRowError,
    RunExistsInTargetError,
    TransferFormatError,
    export_run,
    import_export,
)
from dendrux.transfer.format import TABLES
from dendrux.types import UsageStats


@pytest.fixture(params=["sqlite", "postgres"], ids=["to_sqlite", "to_postgres"])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh target: a SQLite file that does not exist yet (the import creates and
    migrates it), or a clean migrated PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/target.db"
        return
    yield from _migrated_postgres_database(request)


# -- recording ------------------------------------------------------------------------


async def record_runs(url: str) -> tuple[str, str, str]:
    """The demo's run (pause/resume, tool call, approval, a delegated child) and a live
    run retrying it: notes (one delivered), a pause with pause_data and a PII mapping,
    an idempotency key, awkward JSON. Returns (root, child, live)."""
    async with StateStore.from_database_url(url) as store:
        root = await record_sample_run(store)
        child = (await store.list_runs(parent_run_id=root))[0].id
        live = "Live-Run-1"
        await store.create_run(
            live,
            "refund-agent",
            input_data={"input": "again", "nested": {"z": 1, "a": [1.5, None, "é"]}},
            model="m",
            tenant_id=None,
            meta={"big": 1e16, "zero": 0.0, "text": "ünï", "flag": True, "none": None},
            idempotency_key="idem-1",
            idempotency_fingerprint="fp-1",
            retry_of_run_id=root,
        )
        await store.save_trace(live, "user", "again", order_index=0, meta={"iteration": 0})
        await store.save_run_event(
            live, event_type="run.started", sequence_index=0, data={"agent_name": "refund-agent"}
        )
        await store.save_usage(
            live, iteration_index=1, usage=UsageStats(input_tokens=5, output_tokens=2)
        )
        assert await store.add_note(live, note_id="n1", text="first", metadata={"k": [1]})
        assert await store.add_note(live, note_id="n2", text="second")
        assert await store.mark_notes_delivered(live, ["n1"], iteration=1) == 1
        await store.pause_run(
            live,
            status="waiting_human_input",
            pause_data={"pending_tool_calls": [], "agent_state": {"b": 2, "a": 1}},
            iteration_count=1,
            pii_mapping={"<PERSON_1>": "Alice"},
        )
        await store.save_run_event(
            live,
            event_type="run.paused",
            sequence_index=1,
            iteration_index=1,
            data={"status": "waiting_human_input", "pending_tool_calls": []},
        )
        assert await store.request_cancel(live)
    return root, child, live


async def export_text(url: str, run_id: str, **options: Any) -> list[str]:
    async with create_engine(url, create=False) as engine:
        return [line async for line in export_run(engine, run_id, **options)]


async def import_text(url: str, lines: list[str], **options: Any) -> Any:
    async with create_engine(url) as engine:
        return await import_export(engine, lambda: iter(lines), **options)


async def snapshot(url: str, run_ids: list[str]) -> dict[str, Any]:
    """Every read of every run, through both facades."""
    reads: dict[str, Any] = {}
    async with RunStore.from_database_url(url) as reader:
        reads["list_runs"] = await reader.list_runs(limit=1000)
        reads["count"] = await reader.count_runs()
        for rid in run_ids:
            reads[rid] = {
                "run": await reader.get_run(rid),
                "events": await reader.get_events(rid),
                "llm_calls": await reader.get_llm_calls(rid),
                "tools": await reader.get_tool_invocations(rid),
                "traces": await reader.get_traces(rid),
                "pauses": await reader.get_pauses(rid),
                "pii": await reader.get_pii_mapping(rid),
                "notes": await reader.get_notes(rid),
                "subtree": await reader.get_subtree(rid),
                "retries": await reader.get_retries(rid),
                "delegation": await reader.get_delegation_info(rid),
            }
    async with StateStore.from_database_url(url) as store:
        for rid in run_ids:
            reads[rid]["state_run"] = await store.get_run(rid)
            reads[rid]["pause_state"] = await store.get_pause_state(rid)
            reads[rid]["interactions"] = await store.get_llm_interactions(rid)
            reads[rid]["tool_calls"] = await store.get_tool_calls(rid)
            reads[rid]["state_events"] = await store.get_run_events(rid)
            reads[rid]["state_notes"] = await store.get_notes(rid)
    return reads


def _without_origin(header: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(header)
    del document["exported_at"], document["source_dialect"]
    return document


# -- the round trip -------------------------------------------------------------------


async def test_round_trip_is_exact_across_dialects(database_url: str, target_url: str) -> None:
    root, child, live = await record_runs(database_url)
    tree = await export_text(database_url, root, subtree=True)
    alone = await export_text(database_url, live)
    header = json.loads(tree[0])
    assert header["format"] == "dendrux-export" and header["version"] == 1
    assert header["run_ids"] == [root, child]
    assert json.loads(tree[-1]) == {"end": True, "rows": len(tree) - 2}
    tables = [json.loads(line)["table"] for line in tree[1:-1]]
    assert tables[:2] == ["agent_runs", "agent_runs"]  # parents before children, runs first
    assert {"react_traces", "tool_calls", "token_usage", "llm_interactions", "run_events"} <= set(
        tables
    )
    assert "run_inbox" in {json.loads(line)["table"] for line in alone[1:-1]}

    first = await import_text(target_url, tree)
    assert first.imported == [root, child] and first.skipped == [] and first.detached == []
    second = await import_text(target_url, alone)
    assert second.imported == [live] and second.detached == []  # its retry link is there now

    ids = [root, child, live]
    source, target = await snapshot(database_url, ids), await snapshot(target_url, ids)
    for key in ("list_runs", "count"):
        assert target[key] == source[key], key
    for rid in ids:
        for name, value in source[rid].items():
            assert target[rid][name] == value, f"{rid}: {name}"
    assert source[live]["pii"] == {"<PERSON_1>": "Alice"}
    assert source[live]["pause_state"]["agent_state"] == {"a": 1, "b": 2}
    assert [n.delivered_iteration for n in source[live]["notes"]] == [1, None]
    assert source[root]["interactions"][0].semantic_request is not None
    assert source[live]["run"].retry_of_run_id == root

    # A re-export from the target is the same file, byte for byte, but for its origin;
    # so is one read a row at a time (every keyset page boundary crossed).
    again = await export_text(target_url, root, subtree=True)
    assert again[1:] == tree[1:]
    assert _without_origin(again[0]) == _without_origin(tree[0])
    assert (await export_text(target_url, live))[1:] == alone[1:]
    assert (await export_text(database_url, root, subtree=True, page_size=1))[1:] == tree[1:]


async def test_every_column_is_carried(database_url: str, dialect: str) -> None:
    """The file's tables name every column the schema has, and the inserts list them in
    the file's order (a migration adding a column fails here until transfer knows it)."""
    names = {t.name: [c.name for c in t.columns] for t in TABLES}
    if dialect == "sqlite":
        path = database_url.split(":///", 1)[1]
        with sqlite3.connect(path) as conn:
            for table, columns in names.items():
                stored = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
                assert sorted(stored) == sorted(columns), table
    else:
        import asyncpg

        conn = await asyncpg.connect(database_url)
        try:
            for table, columns in names.items():
                rows = await conn.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = $1",
                    table,
                )
                assert sorted(r[0] for r in rows) == sorted(columns), table
        finally:
            await conn.close()
    queries = load_queries("sqlite" if dialect == "sqlite" else "postgres")
    for table in TABLES:
        insert = queries[table.insert_query]
        listed = insert.split("(", 1)[1].split(")", 1)[0]
        assert [c.strip() for c in listed.split(",")] == names[table.name], table.name
        select = queries[table.page_query]
        selected = select.split("SELECT", 1)[1].split("FROM", 1)[0]
        assert [c.strip() for c in selected.split(",")] == names[table.name], table.name


async def test_without_pii_and_detached_links(database_url: str, tmp_path: Path) -> None:
    root, child, live = await record_runs(database_url)
    lines = await export_text(database_url, live, without_pii=True)
    run = json.loads(lines[1])["row"]
    assert run["pii_mapping"] is None and run["pause_data"] is not None
    assert json.loads(lines[0])["without_pii"] is True

    # The child alone: its parent is neither in the file nor in the target.
    target = f"sqlite+aiosqlite:///{tmp_path}/detached.db"
    result = await import_text(target, await export_text(database_url, child))
    assert [(d.run_id, d.column, d.missing_run_id) for d in result.detached] == [
        (child, "parent_run_id", root)
    ]
    async with RunStore.from_database_url(target) as reader:
        imported = await reader.get_run(child)
        assert imported is not None and imported.parent_run_id is None
        assert imported.delegation_level == 1
    result = await import_text(target, await export_text(database_url, live))
    assert [d.column for d in result.detached] == ["retry_of_run_id"]

    with pytest.raises(RunNotFoundError):
        await export_text(database_url, "no-such-run")


# -- refusals: nothing written --------------------------------------------------------


async def _runs_in(url: str) -> int:
    if url.startswith("sqlite") and not Path(url.split(":///", 1)[1]).exists():
        return 0  # a refused file never even opened the target
    async with RunStore.from_database_url(url) as reader:
        return await reader.count_runs()


async def test_bad_files_are_refused_before_any_write(database_url: str, target_url: str) -> None:
    root, _child, _live = await record_runs(database_url)
    tree = await export_text(database_url, root, subtree=True)
    last = len(tree)

    cases: list[tuple[list[str], str]] = [
        (tree[:-1], f"line {last - 1}: the file ends without its trailer line"),
        (tree[:-3], "truncated"),
        ([*tree[:4], tree[4][: len(tree[4]) // 2]], "line 5: not a JSON object"),
        ([], "the file is empty"),
        ([*tree, "{}"], f"line {last + 1}: text after the trailer line"),
        ([*tree[:2], "", *tree[2:]], "line 3: empty line"),
    ]
    bad = json.loads(tree[3])
    bad["row"]["id"] = "x" * 27
    cases.append(([*tree[:3], json.dumps(bad), *tree[4:]], "line 4: react_traces.id must be"))
    tool_at = next(i for i, t in enumerate(tree) if '"table":"tool_calls"' in t)
    bad = json.loads(tree[tool_at])
    bad["row"]["success"] = "yes"
    cases.append(
        (
            [*tree[:tool_at], json.dumps(bad), *tree[tool_at + 1 :]],
            f"line {tool_at + 1}: tool_calls.success must be true or false",
        )
    )
    bad = json.loads(tree[tool_at])
    bad["row"]["surprise"] = 1
    cases.append(
        (
            [*tree[:tool_at], json.dumps(bad), *tree[tool_at + 1 :]],
            f"line {tool_at + 1}: tool_calls: unknown columns surprise",
        )
    )
    header = json.loads(tree[0])
    header["version"] = 2
    cases.append(([json.dumps(header), *tree[1:]], "line 1: export format version 2"))
    header["version"], header["format"] = 1, "something-else"
    cases.append(([json.dumps(header), *tree[1:]], "line 1: not a dendrux export"))
    # A child before its parent.
    cases.append(([tree[0], tree[2], tree[1], *tree[3:]], "comes later in the file"))

    for lines, message in cases:
        with pytest.raises(TransferFormatError, match=message):
            await import_text(target_url, lines)
    assert await _runs_in(target_url) == 0
    if target_url.startswith("sqlite"):
        assert not Path(target_url.split(":///", 1)[1]).exists()


async def test_existing_runs_and_refused_rows_write_nothing(
    database_url: str, target_url: str
) -> None:
    root, child, live = await record_runs(database_url)
    tree = await export_text(database_url, root, subtree=True)
    alone = await export_text(database_url, live)
    await import_text(target_url, tree)

    with pytest.raises(RunExistsInTargetError, match=root) as caught:
        await import_text(target_url, tree)
    assert caught.value.run_ids == [root, child]
    skipped = await import_text(target_url, tree, skip_existing=True)
    assert skipped.imported == [] and skipped.skipped == [root, child]
    assert sum(skipped.rows.values()) == 0

    # A row the target refuses at the end of the file (note n2's id is taken there):
    # the run and every row written before it are rolled back.
    async with StateStore.from_database_url(target_url) as store:
        await store.create_run("other", "agent")
        assert await store.add_note("other", note_id="n2", text="taken")
    before = await _runs_in(target_url)
    at = next(i for i, line in enumerate(alone, 1) if '"id":"n2"' in line)
    assert at == len(alone) - 1  # the last row: everything else was written before it
    with pytest.raises(ImportRowError, match=f"line {at}: run_inbox row 'n2'"):
        await import_text(target_url, alone)
    assert await _runs_in(target_url) == before
    async with RunStore.from_database_url(target_url) as reader:
        assert await reader.get_run(live) is None
        assert await reader.get_traces(live) == []
        assert await reader.get_events(live) == []

    # A taken idempotency key refuses the run line itself, with the same guarantee.
    async with StateStore.from_database_url(target_url) as store:
        await store.create_run("other-2", "agent", idempotency_key="idem-1")
    with pytest.raises(ImportRowError, match="line 2: agent_runs row 'Live-Run-1'"):
        await import_text(target_url, alone)
    assert await _runs_in(target_url) == before + 1


# -- the command line -----------------------------------------------------------------


def test_cli_export_and_import(
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    root, child, _live = asyncio.run(record_runs(database_url))
    out = tmp_path / "run.jsonl"
    assert main(["--database-url", database_url, "export", root, "--subtree", "-o", str(out)]) == 0
    assert not (tmp_path / "run.jsonl.partial").exists()
    capsys.readouterr()
    assert main(["--database-url", database_url, "export", root, "--subtree"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[1:] == out.read_text("utf-8").splitlines()[1:]

    target = f"sqlite+aiosqlite:///{tmp_path}/copy.db"
    assert main(["import", str(out), "--database-url", target]) == 0
    said = capsys.readouterr().out
    assert "imported 2 runs" in said and f"dendrux show {root}" in said

    # Again: refused, one line, exit 1; from stdin with --skip-existing: fine.
    assert main(["import", str(out), "--database-url", target]) == 1
    assert "already exist" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(out.read_text("utf-8")))
    assert main(["import", "-", "--skip-existing", "--json", "--database-url", target]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] == [root, child]

    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(out.read_text("utf-8").splitlines()[:-1]) + "\n", "utf-8")
    other = f"sqlite+aiosqlite:///{tmp_path}/other.db"
    assert main(["import", str(broken), "--database-url", other]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dendrux: error: line ") and "truncated" in err

    assert main(["--database-url", database_url, "export", "nope", "-o", str(tmp_path / "x")]) == 1
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()
