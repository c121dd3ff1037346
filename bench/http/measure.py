"""Measurements: request throughput of the load generator's clients, commit-to-frame
latency of live SSE events, and one dialect's run of both.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench.http.server import EVENT_RUNS, EVENTS_PER_RUN, TOKEN, Server, seed


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def throughput(
    server: Server,
    paths: list[str],
    check: Callable[[Any], None],
    concurrency: int,
    pool_size: int,
    warmup: float,
    duration: float,
) -> dict[str, Any]:
    """``concurrency`` clients loop over ``paths``; only the measured window counts."""
    import httpx

    # Several small pools rather than one of `concurrency` connections: httpcore's pool
    # bookkeeping grows with pool size x waiting requests (one pool of 50 costs the load
    # generator ~4.7 ms of CPU per request, 10 pools of 5 ~0.8 ms on the reference box).
    limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
    headers = {"authorization": TOKEN}
    clients = [
        httpx.AsyncClient(base_url=server.base, limits=limits, headers=headers, timeout=30)
        for _ in range(-(-concurrency // pool_size))
    ]
    try:
        first = await clients[0].get(paths[0])
        first.raise_for_status()
        check(first.json())
        size = len(first.content)
        loop = asyncio.get_running_loop()
        start = loop.time()
        window = (start + warmup, start + warmup + duration)
        latencies: list[float] = []
        errors = 0
        marks: dict[str, float] = {}

        async def client_loop(index: int) -> None:
            nonlocal errors
            client = clients[index % len(clients)]
            n = index
            while True:
                now = loop.time()
                if now >= window[1]:
                    return
                if now >= window[0] and "cpu" not in marks:
                    marks["cpu"] = server.cpu_seconds()
                    marks["client_cpu"] = time.process_time()
                path = paths[n % len(paths)]
                n += concurrency
                began = loop.time()
                response = await client.get(path)
                ended = loop.time()
                if response.status_code != 200:
                    errors += 1
                if window[0] <= began and ended <= window[1]:
                    latencies.append(ended - began)

        await asyncio.gather(*(client_loop(i) for i in range(concurrency)))
        server_cpu = server.cpu_seconds() - marks["cpu"]
        client_cpu = time.process_time() - marks["client_cpu"]
    finally:
        for client in clients:
            await client.aclose()
    count = len(latencies)
    return {
        "requests": count,
        "errors": errors,
        "rps": count / duration,
        "p50_ms": _pct(latencies, 50) * 1000,
        "p99_ms": _pct(latencies, 99) * 1000,
        "response_bytes": size,
        "server_cpu_ms_per_request": server_cpu / count * 1000 if count else float("nan"),
        "client_cpu_s": client_cpu,
        "server_cpu_s": server_cpu,
    }


async def delivery_latency(
    server: Server, url: str, streams: int, events: int, gap_s: float
) -> dict[str, Any]:
    """Commit-to-frame latency of live events over ``streams`` SSE connections."""
    import httpx

    from dendrux.state import StateStore

    run_ids = [f"live{i:04d}" for i in range(streams)]
    received: dict[tuple[str, int], float] = {}
    committed: dict[tuple[str, int], float] = {}
    began: dict[tuple[str, int], float] = {}
    first_seen = {run_id: asyncio.Event() for run_id in run_ids}
    limits = httpx.Limits(max_connections=streams + 2)
    async with (
        StateStore.from_database_url(url) as writer,
        httpx.AsyncClient(
            base_url=server.base, limits=limits, headers={"authorization": TOKEN}, timeout=60
        ) as client,
    ):
        for run_id in run_ids:
            await writer.create_run(run_id, "live-agent")
            await writer.save_run_event(run_id, event_type="run.started", sequence_index=0)

        async def follow(run_id: str) -> None:
            async with client.stream("GET", f"/runs/{run_id}/events/stream") as response:
                response.raise_for_status()
                seq = None
                async for line in response.aiter_lines():
                    if line.startswith("id: "):
                        seq = int(line[4:])
                    elif line.startswith("data: ") and seq is not None:
                        received[(run_id, seq)] = time.perf_counter()
                        if seq == 0:
                            first_seen[run_id].set()

        readers = [asyncio.create_task(follow(run_id)) for run_id in run_ids]
        try:
            await asyncio.wait_for(
                asyncio.gather(*(e.wait() for e in first_seen.values())), timeout=30
            )
            for seq in range(1, events + 1):
                for run_id in run_ids:
                    began[(run_id, seq)] = time.perf_counter()
                    await writer.save_run_event(
                        run_id, event_type="tick", sequence_index=seq, data={"n": seq}
                    )
                    committed[(run_id, seq)] = time.perf_counter()
                    await asyncio.sleep(gap_s)
            for run_id in run_ids:
                await writer.finalize_run(run_id, status="success", answer="done")
                await writer.save_run_event(
                    run_id, event_type="run.completed", sequence_index=events + 1
                )
            await asyncio.wait_for(asyncio.gather(*readers), timeout=60)
        finally:
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
    # From the commit returning to the writer (the frame may even beat it: max(0, ...)),
    # and from the write starting (adds the commit itself: an fsync with durable settings).
    delays = [max(0.0, received[key] - sent) for key, sent in committed.items() if key in received]
    totals = [received[key] - start for key, start in began.items() if key in received]
    return {
        "streams": streams,
        "events": len(committed),
        "missing": len(committed) - len(delays),
        "p50_ms": _pct(delays, 50) * 1000,
        "p99_ms": _pct(delays, 99) * 1000,
        "max_ms": max(delays) * 1000 if delays else float("nan"),
        "write_to_frame_p50_ms": _pct(totals, 50) * 1000,
        "write_to_frame_p99_ms": _pct(totals, 99) * 1000,
    }


async def bench_dialect(
    dialect: str, url: str, args: argparse.Namespace, out: Callable[[str], None]
) -> dict[str, Any]:
    started = time.perf_counter()
    with_events = await seed(url, args.runs)
    out(
        f"  seeded {args.runs} runs ({EVENT_RUNS} x {EVENTS_PER_RUN} events) in "
        f"{time.perf_counter() - started:.1f} s"
    )
    server = Server(url, args.poll_interval)
    await server.start()
    try:

        def check_runs(body: Any) -> None:
            assert len(body["runs"]) == 50 and body["total"] == args.runs, body["total"]

        def check_events(body: Any) -> None:
            assert len(body["events"]) == EVENTS_PER_RUN

        result: dict[str, Any] = {}
        for name, paths, check in (
            ("GET /runs?limit=50", ["/runs?limit=50"], check_runs),
            ("GET /runs/{id}/events", [f"/runs/{r}/events" for r in with_events], check_events),
        ):
            res = await throughput(
                server, paths, check, args.concurrency, args.pool_size, args.warmup, args.duration
            )
            out(
                f"  {name:<24} {res['rps']:8.1f} req/s  p50 {res['p50_ms']:6.1f} ms  "
                f"p99 {res['p99_ms']:6.1f} ms"
            )
            result[name] = res
        lat = await delivery_latency(server, url, args.streams, args.events, 0.01)
        out(
            f"  SSE commit -> frame      p50 {lat['p50_ms']:6.1f} ms  p99 {lat['p99_ms']:6.1f} ms "
            f" max {lat['max_ms']:6.1f} ms  ({lat['events']} events, {lat['streams']} streams)"
        )
        result["sse_latency"] = lat
    finally:
        server.stop()
    return result
