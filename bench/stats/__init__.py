"""Stats benchmark: `RunStore.get_stats` over a 30-day window of a store of a million runs.

    python -m bench stats [--runs 1000000] [--dialect both] [--iterations 30]
                          [--warmup 3] [--budget 30] [--out DIR] [--json PATH]

A seeded ``agent_runs``-only dataset (`bench.stats.dataset`: runs spread over a year,
several agents, models and tenants, some without a model or tenant, the reads benchmark's
status mix, durations and costs, a few unpriced runs) bulk-loaded per dialect through the
raw driver; then, per ``group_by`` (day, agent, model, tenant), the p50/p95 of
``get_stats(started_after=<30 days before the newest run>)`` against the bare driver running
the same ``run_stats`` statement (interleaved, as `bench.reads.measure` times them), the
library/bare ratio, and the issue's target (< 200 ms p50 on PostgreSQL) as met or not.
Checked: the library's figures equal the bare rows', and both dialects give the same
figures for the same rows.

Files: `dataset` (rows and loaders), `main` (options, timing, report), `summary` (the
suite's table rows).
"""

from __future__ import annotations

from bench.stats.main import build_parser, main

__all__ = ["build_parser", "main"]
