"""Writers benchmark: many processes recording into one database at once.

    python -m bench writers [--processes 1,2,4,8] [--runs 200] [--concurrency 8]
                            [--no-bare] [--dialect both] [--json PATH]

At each process count P, P worker processes (`bench.writers.worker`, fresh interpreters)
open the same fresh database (one PostgreSQL database on the benchmark's durable cluster,
or one SQLite file in WAL with ``synchronous=FULL``), generate their own runs of the
recorder benchmark's workload (`bench.workload`), wait for a common start line, and record
them through `StateStore` and `PersistenceRecorder` (`bench.recorder.drive`), then through
the bare driver (`bench.bare`) into another fresh database as the reference. Afterwards
every run's rows are checked exactly, and any error that reached a caller fails the point.

Files: `worker` (the child process), `measure` (one point: spawning, CPU / lock / fsync
evidence, the row checks), `main` (options, table, entry point).
"""

from __future__ import annotations

from bench.writers.main import build_parser, main, writers_table
from bench.writers.measure import check_rows, run_point

__all__ = ["build_parser", "check_rows", "main", "run_point", "writers_table"]
