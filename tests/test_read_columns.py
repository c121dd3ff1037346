"""Every read query returns the columns its builder reads, where it reads them.

The builders of `dendrux.read` (and the upstream-named adapters of
`dendrux.state.rowmap`) read rows by position; the column tuples declared beside
them say which column each position holds. These tests check every read query
of both dialects against those tuples (a reordered, renamed or added column
fails here by name), and that every query the read side runs is declared.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from dendrux.db.queries import load_queries
from dendrux.read import delegation, records, runs, stats, stream, usage
from dendrux.state import rowmap

READ_QUERIES: dict[str, tuple[str, ...]] = {
    "list_run_summaries": records.SUMMARY_COLUMNS,
    "list_run_summaries_by_meta": records.SUMMARY_COLUMNS,
    "list_retries": records.SUMMARY_COLUMNS,
    "find_runs_by_id_prefix": records.SUMMARY_COLUMNS,
    "get_run": records.RUN_COLUMNS,
    "list_runs": records.RUN_COLUMNS,
    "list_runs_by_meta": records.RUN_COLUMNS,
    "list_runs_by_meta_one": records.RUN_COLUMNS,
    "list_run_summaries_by_meta_one": records.SUMMARY_COLUMNS,
    "get_run_events": records.EVENT_COLUMNS,
    "get_run_events_before": records.EVENT_COLUMNS,
    "get_traces": records.TRACE_COLUMNS,
    "get_tool_calls": records.TOOL_COLUMNS,
    "get_tool_invocations": records.TOOL_COLUMNS,
    "get_llm_calls": records.LLM_CALL_COLUMNS,
    "get_llm_interactions": rowmap.LLM_INTERACTION_COLUMNS,
    "delegation_node": delegation.NODE_COLUMNS,
    "delegation_ancestry": delegation.ANCESTRY_COLUMNS,
    "delegation_children": delegation.CHILDREN_COLUMNS,
    "delegation_subtree_totals": delegation.SUBTREE_COLUMNS,
    "get_tool_calls_before": records.TOOL_COLUMNS,
    "get_tool_invocations_before": records.TOOL_COLUMNS,
    "get_llm_calls_before": records.LLM_CALL_COLUMNS,
    "get_llm_interactions_before": rowmap.LLM_INTERACTION_COLUMNS,
    "run_usage": usage.USAGE_COLUMNS,
    "subtree_usage": usage.USAGE_COLUMNS,
    "subtree_summaries": usage.SUBTREE_SUMMARY_COLUMNS,
    "subtree_runs": usage.SUBTREE_RUN_COLUMNS,
    "get_notes": records.NOTE_COLUMNS,
    "get_undelivered_notes": records.NOTE_COLUMNS,
    "firehose_runs": stream.FIREHOSE_COLUMNS,
    "run_stats": stats.STATS_COLUMNS,
    "status_counts": runs.STATUS_COUNT_COLUMNS,
    "status_counts_by_meta": runs.STATUS_COUNT_COLUMNS,
}
"""Each record-building read query and the columns its builder reads, in order."""
SCALAR_QUERIES = (
    "count_runs",
    "count_runs_by_meta",
    "count_runs_capped",
    "count_runs_capped_by_meta",
    "count_runs_by_meta_one",
    "count_runs_capped_by_meta_one",
    "run_status",
    "run_exists",
    "get_pii_mapping",
    "run_in_scope",
    "stream_writers",
    "stream_writers_running",
)
"""Reads of one value (``fetch_value``: the first column of the first row)."""
SQLITE_ONLY = {name for name in (*READ_QUERIES, *SCALAR_QUERIES) if name.endswith("_by_meta_one")}
"""SQLite's one-key twins of the metadata queries (PostgreSQL's serve any filter)."""

READ_SOURCES = [
    *sorted((Path(__file__).resolve().parent.parent / "dendrux" / "read").glob("*.py")),
    Path(rowmap.__file__),
]


async def _columns(dialect: str, url: str, sql: str) -> list[str]:
    if dialect == "sqlite":
        conn = sqlite3.connect(url.split("///", 1)[1])
        try:
            count = max((int(n) for n in re.findall(r"\?(\d+)", sql)), default=0)
            cursor = conn.execute(sql, [0] * count)  # LIMIT/OFFSET refuse NULL
            return [d[0] for d in cursor.description]
        finally:
            conn.close()
    raw = await asyncpg.connect(url)
    try:
        statement = await raw.prepare(sql)
        return [a.name for a in statement.get_attributes()]
    finally:
        await raw.close()


@pytest.mark.parametrize("query", sorted(READ_QUERIES))
async def test_read_queries_return_the_declared_columns_in_order(
    dialect: str, database_url: str, query: str
) -> None:
    if dialect == "postgres" and query in SQLITE_ONLY:
        assert query not in load_queries("postgres")
        return
    sql = load_queries(dialect)[query]  # type: ignore[arg-type]
    assert await _columns(dialect, database_url, sql) == list(READ_QUERIES[query])


@pytest.mark.parametrize("query", SCALAR_QUERIES)
async def test_value_reads_return_one_column(dialect: str, database_url: str, query: str) -> None:
    if dialect == "postgres" and query in SQLITE_ONLY:
        assert query not in load_queries("postgres")
        return
    sql = load_queries(dialect)[query]  # type: ignore[arg-type]
    assert len(await _columns(dialect, database_url, sql)) == 1


def test_every_query_the_read_side_runs_is_declared() -> None:
    names = set(load_queries("sqlite")) & set(load_queries("postgres"))
    used = {
        name
        for source in READ_SOURCES
        for name in re.findall(r'"([a-z_]+)"', source.read_text())
        if name in names
    }
    assert used, "no query names found in the read side's sources"
    undeclared = used - set(READ_QUERIES) - set(SCALAR_QUERIES)
    assert not undeclared, f"read queries without declared columns: {sorted(undeclared)}"


def test_the_builders_read_what_the_declarations_say() -> None:
    """The public records' fields line up with their columns (the SQL names differ
    only where the record renames a column)."""
    it = {"iteration_index": "iteration"}
    pairs = [
        (records.RunSummary, records.SUMMARY_COLUMNS, {"id": "run_id"}),
        (records.StoredEvent, records.EVENT_COLUMNS, {}),
        (records.TraceEntry, records.TRACE_COLUMNS, {}),
        (records.ToolInvocation, records.TOOL_COLUMNS, {**it, "error_message": "error"}),
        (records.LLMCall, records.LLM_CALL_COLUMNS, it),
    ]
    derived = {"replay"}  # built from the meta column, not a column of its own
    for cls, columns, renamed in pairs:
        fields = [f for f in cls.__dataclass_fields__ if f not in derived]
        assert [renamed.get(c, c) for c in columns[: len(fields)]] == fields, cls.__name__
    detail = [f for f in records.RunDetail.__dataclass_fields__ if f not in derived]
    mapped = [{"id": "run_id"}.get(c, c) for c in records.RUN_COLUMNS[: len(detail)]]
    assert mapped == [*detail[:19], "output_data", *detail[20:]]  # answer comes from output_data


def test_datetime_fields_are_declared_for_every_record() -> None:
    import datetime
    import typing

    for cls in (
        records.RunSummary,
        records.RunDetail,
        records.StoredEvent,
        records.TraceEntry,
        records.ToolInvocation,
        records.LLMCall,
        records.PausePair,
    ):
        hints = typing.get_type_hints(cls)
        typed = tuple(
            name
            for name in cls.__dataclass_fields__
            if datetime.datetime in typing.get_args(hints[name]) or hints[name] is datetime.datetime
        )
        assert records.DATETIME_FIELDS[cls] == typed, cls.__name__
