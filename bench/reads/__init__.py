"""Reads benchmark: `RunStore` reads at scale against the bare driver running the same SQL.

    python -m bench reads [--dialect sqlite|postgres|both] [--runs 100000]
                          [--repeat 3] [--iterations 200] [--json PATH]

Per dialect: a seeded dataset (``--runs`` runs, one big run with 10,000
events and 2,000 traces, a few background rows per run) is bulk-loaded
through the raw driver into a database migrated with `dendrux.db.upgrade`,
then ANALYZEd. Each read call is timed ``--iterations`` times after a
warm-up, the library call and the bare call interleaved (their order
alternating), and reported as p50/p99 with the ratio library/bare. The bare
side sends the byte-identical statement (``load_queries(dialect)[name]``)
with the same parameters and decodes the JSON columns with ``json.loads``
(PostgreSQL: the same json/jsonb codecs in the driver as the library's pool).
A statement audit checks the SQL text and parameters sent are identical, and
a parity check that both sides return the same rows.

Afterwards the plan of every query is printed (PostgreSQL: ``EXPLAIN
(ANALYZE, BUFFERS)`` of a prepared statement with the real values, after
the plan cache settled; SQLite: ``EXPLAIN QUERY PLAN`` with the values
bound), and every full table scan of ``agent_runs`` / ``run_events`` /
``react_traces``, or index walk that filters instead of seeking, is flagged.

Files: `dataset` (rows and loading), `bare` (the raw-driver side), `calls` (the
timed calls, statement audit, streaming), `plans` (query plans), `measure`
(timing, one dialect's run), `report` (text), `main` (options, entry point).
"""

from __future__ import annotations

from bench.reads.bare import Bare, BarePostgres, BareSqlite
from bench.reads.calls import (
    STREAM_EVENTS,
    Call,
    bare_fn,
    bare_stream,
    build_calls,
    capture_statements,
    compare_results,
    lib_stream,
    peak_growth,
)
from bench.reads.dataset import (
    TABLES,
    Dataset,
    Rows,
    build_dataset,
    generate_rows,
    load_postgres,
    load_sqlite,
    ulid,
)
from bench.reads.main import build_parser, main
from bench.reads.measure import TARGET_P50_MS, TARGET_RATIO, bench_dialect, measure
from bench.reads.plans import BIG_TABLES, Plan, pg_plan, sqlite_plan
from bench.reads.report import closing_note, report_dialect

__all__ = [
    "BIG_TABLES",
    "STREAM_EVENTS",
    "TABLES",
    "TARGET_P50_MS",
    "TARGET_RATIO",
    "Bare",
    "BarePostgres",
    "BareSqlite",
    "Call",
    "Dataset",
    "Plan",
    "Rows",
    "bare_fn",
    "bare_stream",
    "bench_dialect",
    "build_calls",
    "build_dataset",
    "build_parser",
    "capture_statements",
    "closing_note",
    "compare_results",
    "generate_rows",
    "lib_stream",
    "load_postgres",
    "load_sqlite",
    "main",
    "measure",
    "peak_growth",
    "pg_plan",
    "report_dialect",
    "sqlite_plan",
    "ulid",
]
