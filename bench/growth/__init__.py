"""Growth benchmark: recorder throughput as concurrency grows, read latency as the store grows.

    python -m bench growth [--part record|reads|both] [--dialect both]
                           [--concurrency 1,8,32,64] [--runs 200]
                           [--sizes 10000,100000,1000000] [--out DIR] [--json PATH]

* record: the recorder benchmark's workload and variants (`bench.recorder.bench_dialect`:
  statement audit, library and bare into fresh databases, exact verification, content
  comparison) at each concurrency; hook calls/s of both and their time ratio.
* reads: the reads benchmark's dataset (`bench.reads.generate_rows`, streamed in chunks so
  a million runs never sit in memory) at each size, and its calls (`bench.reads.build_calls`,
  timed by `bench.reads.measure`: library and bare interleaved); p50/p99 of both sides.

Writes ``growth-record.csv`` / ``growth-reads.csv`` (and a PNG chart each when matplotlib
is installed) into ``--out``. The plans, the parity and the statement audit of the reads
are the reads benchmark's job; here each call's row count is checked against the bare side.

Files: `record` (the record part), `read` (the reads part), `main` (options, outputs,
entry point).
"""

from __future__ import annotations

from bench.growth.main import build_parser, main, write_outputs
from bench.growth.read import (
    READ_COLUMNS,
    SIZE_SQL,
    Timed,
    load_dataset,
    reads_chart,
    reads_growth,
    reads_table,
    time_reads,
)
from bench.growth.record import (
    COLORS,
    RECORD_COLUMNS,
    RECORD_TARGETS,
    record_chart,
    record_growth,
    record_table,
)

__all__ = [
    "COLORS",
    "READ_COLUMNS",
    "RECORD_COLUMNS",
    "RECORD_TARGETS",
    "SIZE_SQL",
    "Timed",
    "build_parser",
    "load_dataset",
    "main",
    "reads_chart",
    "reads_growth",
    "reads_table",
    "record_chart",
    "record_growth",
    "record_table",
    "time_reads",
    "write_outputs",
]
