"""Stream latency through a hot standby: ``python -m bench.replica [--events N] [--json PATH]``.

Starts a throwaway primary (durable commit settings, as in production: see
`bench.pg`) and a hot standby of it (``pg_basebackup -R``, streaming replication,
`tests.pgcluster`). A writer commits a run's events one by one on the primary,
spaced by a random 10-30 ms; followers (`RunStore.stream_events`) on the standby,
and one on the primary for reference, time each event from the writer's commit
(``save_run_event`` returned) to the follower yielding it.

A standby refuses LISTEN during recovery, so a follower there polls every
``poll_interval_s``: its latency is replication lag plus, on average, half the
interval. The primary's follower wakes on NOTIFY. Each point also checks that
every follower got every event exactly once, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.pg import BenchPgCluster, PgClusterError, find_binaries, server_settings

POLL_INTERVALS = (0.01, 0.05, 0.1, 0.5)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def _one_point(
    primary_url: str, standby_url: str, run_id: str, events: int, interval: float, on_standby: bool
) -> dict[str, Any]:
    """``events`` committed on the primary, followed on the standby (or the primary)."""
    from dendrux.state import StateStore
    from dendrux.store import RunStore

    committed: dict[int, float] = {}
    seen: dict[int, float] = {}
    order: list[int] = []
    async with StateStore.from_database_url(primary_url) as writer:
        await writer.create_run(run_id, "bench-agent")
        await writer.save_run_event(run_id, event_type="run.started", sequence_index=0)
        async with RunStore.from_database_url(standby_url if on_standby else primary_url) as rs:
            while await rs.get_run(run_id) is None:  # the standby has replayed the run
                await asyncio.sleep(0.005)

            async def follow() -> None:
                async for event in rs.stream_events(run_id, poll_interval_s=interval):
                    seen.setdefault(event.sequence_index, time.perf_counter())
                    order.append(event.sequence_index)
                    if event.sequence_index == events:
                        return

            follower = asyncio.create_task(follow())
            await asyncio.sleep(0.2)  # the follower is in its wait
            for i in range(1, events + 1):
                await asyncio.sleep(random.uniform(0.010, 0.030))
                await writer.save_run_event(run_id, event_type="tool.completed", sequence_index=i)
                committed[i] = time.perf_counter()
            await asyncio.wait_for(follower, 60)
    latencies = [(seen[i] - committed[i]) * 1000 for i in range(1, events + 1)]
    return {
        "follower": "standby" if on_standby else "primary",
        "poll_interval_s": interval,
        "events": events,
        "p50_ms": round(_pct(latencies, 50), 2),
        "p95_ms": round(_pct(latencies, 95), 2),
        "max_ms": round(max(latencies), 2),
        "exactly_once_in_order": order == list(range(events + 1)),
    }


async def measure(primary: BenchPgCluster, standby: BenchPgCluster, events: int) -> dict[str, Any]:
    from dendrux.db import upgrade

    await upgrade(primary.dsn("postgres"))
    await standby.wait_for_replay()
    points = [
        await _one_point(primary.dsn(), standby.dsn(), "ref-primary", events, 0.5, False),
    ]
    for interval in POLL_INTERVALS:
        run_id = f"standby-{int(interval * 1000)}ms"
        points.append(
            await _one_point(primary.dsn(), standby.dsn(), run_id, events, interval, True)
        )
    return {
        "benchmark": "replica",
        "settings": await server_settings(primary.dsn()),
        "points": points,
        "ok": all(p["exactly_once_in_order"] for p in points),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replica", description=__doc__)
    parser.add_argument("--events", type=int, default=200, help="events per point (200)")
    parser.add_argument("--json", metavar="PATH", help="write the JSON result here")
    args = parser.parse_args(argv)
    binaries = find_binaries()
    if binaries is None or not shutil.which(binaries.pg_basebackup):
        print("PostgreSQL server binaries (with pg_basebackup) not found", file=sys.stderr)
        return 2
    primary = BenchPgCluster(durable=True)
    standby: BenchPgCluster | None = None
    try:
        primary.start()
        standby = BenchPgCluster(durable=True)
        primary.start_standby(standby)
        print(f"(primary on port {primary.port}, hot standby on port {standby.port})")
        result = asyncio.run(measure(primary, standby, args.events))
    except PgClusterError as exc:
        print(f"could not start the clusters: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()
    print(
        f"\n{'follower':<9} {'poll s':>7} {'events':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
    )
    for p in result["points"]:
        poll = "NOTIFY" if p["follower"] == "primary" else f"{p['poll_interval_s']:g}"
        print(
            f"{p['follower']:<9} {poll:>7} {p['events']:>7} {p['p50_ms']:>8.1f} "
            f"{p['p95_ms']:>8.1f} {p['max_ms']:>8.1f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result) + "\n")
    if not result["ok"]:
        print("a follower missed, repeated or reordered an event", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
