"""Recorder benchmark: PersistenceRecorder against the same transactions on the bare driver.

    python -m bench recorder [--runs 200] [--concurrency 8] [--dialect both]
                             [--repeat 3] [--json PATH] [--profile]

For each dialect and repeat, two variants run the same pre-generated
workload (see `bench.workload`) into a fresh, migrated database:

* ``library``: `StateStore.create_run`, the four `PersistenceRecorder`
  hooks, `StateStore.finalize_run`;
* ``bare``: the same statements, transactions and stored content written by
  hand on aiosqlite / asyncpg (see `bench.bare`).

The ratio is library wall time / bare wall time for the same repeat (lower is
better; 1.0 means the library costs nothing beyond the driver). Every variant
is verified afterwards (exact row counts, gap-free per-run sequences,
correlation ids that join), and the two variants' stored content is compared
row by row (ids and timestamps aside).

Files: `variants` (driving one variant, library or bare, timed), `databases` (fresh
databases, verification, content comparison), `statements` (the statement audit),
`measure` (one dialect's audit and repeats), `report` (text, the machine), `main` (options,
entry point).
"""

from __future__ import annotations

from bench.recorder.databases import Databases, PostgresDatabases, SqliteDatabases, compare, verify
from bench.recorder.main import build_parser, main
from bench.recorder.measure import bench_dialect
from bench.recorder.report import REPO, TARGET_RATIO, machine_info, report_dialect
from bench.recorder.statements import audit
from bench.recorder.variants import Timing, drive, run_bare, run_library

__all__ = [
    "REPO",
    "TARGET_RATIO",
    "Databases",
    "PostgresDatabases",
    "SqliteDatabases",
    "Timing",
    "audit",
    "bench_dialect",
    "build_parser",
    "compare",
    "drive",
    "machine_info",
    "main",
    "report_dialect",
    "run_bare",
    "run_library",
    "verify",
]
