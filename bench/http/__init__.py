"""HTTP read router benchmark: request throughput and live-event delivery latency.

    python -m bench http [--runs 10000] [--concurrency 50] [--duration 5]
                         [--dialect both] [--streams 10] [--events 30]
                         [--poll-interval 0.5] [--json PATH]

For each dialect a fresh database is seeded (``--runs`` runs, 100 of them
with 50 events each) and ``make_read_router`` is served by uvicorn in a
**subprocess** (one worker, h11, asyncio loop, access log off), so the load
generator does not share its event loop or CPU time slice accounting. Then:

* **throughput**: ``--concurrency`` httpx clients (one ``AsyncClient``, a
  pool of that many keep-alive connections) loop on ``GET /runs?limit=50``
  (a page plus its ``count_runs`` total) and then on ``GET /runs/{id}/events``
  (cycling over the 100 runs with events; 50 events each), for ``--warmup``
  + ``--duration`` seconds each; requests per second, latency percentiles,
  response size and the server process's CPU time per request are reported.
* **delivery latency**: ``--streams`` SSE clients each follow a live run; the
  benchmark writes ``--events`` events per run (round robin, 10 ms apart)
  through `StateStore` and measures the time from the write's commit
  returning to the frame's arrival at the client. PostgreSQL wakes on
  LISTEN/NOTIFY (target: p99 < 50 ms); SQLite polls, so its latency is
  bounded by ``--poll-interval``.

The last stdout line is the JSON result (or it goes to ``--json PATH``).

Files: `server` (the uvicorn subprocess and the seeded data), `measure` (throughput,
SSE delivery latency, one dialect's run), `main` (options, report, entry point).
"""

from __future__ import annotations

from bench.http.main import TARGET_PG_P99_MS, build_parser, main, report
from bench.http.measure import bench_dialect, delivery_latency, throughput
from bench.http.server import EVENT_RUNS, EVENTS_PER_RUN, REPO, TOKEN, Server, create_app, seed

__all__ = [
    "EVENTS_PER_RUN",
    "EVENT_RUNS",
    "REPO",
    "TARGET_PG_P99_MS",
    "TOKEN",
    "Server",
    "bench_dialect",
    "build_parser",
    "create_app",
    "delivery_latency",
    "main",
    "report",
    "seed",
    "throughput",
]
