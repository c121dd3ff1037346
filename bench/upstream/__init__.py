"""Upstream benchmark: the published dendrux 0.4.1 measured beside ours, same workloads.

    python -m bench upstream [--dialect sqlite|postgres|both] [--repeat 3] [--quick]
                             [--runs 200] [--concurrency 8] [--read-runs 20000]
                             [--iterations 200] [--warmup 20] [--json PATH]

0.4.1 runs in the oracle venv (``tests/compat/oracle.py`` builds and caches it), in one
long-lived process (`theirs.py`); ours runs in this process. Per dialect:

* recorder: `bench.workload`'s runs through 0.4.1's ``PersistenceRecorder`` +
  ``SQLAlchemyStateStore`` and through ours, interleaved (ours, 0.4.1, then 0.4.1, ours
  ...), each into a fresh database (0.4.1's schema made by 0.4.1), every variant
  verified and the two compared row by row; hook calls/s and the ratio ours / 0.4.1.
* reads: one dataset (20,000 runs, one run with 2,000 events and 500 traces) loaded into
  both schemas; the issue's seven reads through 0.4.1's ``RunStore``, ours and the bare
  driver running our SQL, rows checked equal, then timed in interleaved rounds (p50).

Files: `shared` (stdlib only: the reads, normalising results, the timing loop; both
processes run it), `theirs` (the 0.4.1 side), `oracle` (its process, its schemas),
`dataset` (the read dataset, loaded into both schemas), `recorder`, `reads` (each
workload, our side and the comparison), `report` (the table), `main` (options, entry).
"""

from __future__ import annotations

from bench.upstream.main import build_parser, main
from bench.upstream.report import render, rows

__all__ = ["build_parser", "main", "render", "rows"]
