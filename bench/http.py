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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.pg import run_with_cluster

REPO = Path(__file__).resolve().parent.parent
TARGET_PG_P99_MS = 50.0
EVENT_RUNS = 100
EVENTS_PER_RUN = 50
TOKEN = "Bearer bench"


# ---------------------------------------------------------------------------
# the server side (imported by uvicorn in the subprocess)
# ---------------------------------------------------------------------------


def _authorize(scope: Any) -> None:
    for name, value in scope["headers"]:
        if name == b"authorization" and value == TOKEN.encode():
            return
    raise LookupError("bad token")


def create_app() -> Any:
    """uvicorn factory: the read router over ``$DENDRUX_BENCH_URL``."""
    from dendrux.http import make_read_router
    from dendrux.store import RunStore

    store = RunStore.from_database_url(os.environ["DENDRUX_BENCH_URL"])
    return make_read_router(
        store=store,
        authorize=_authorize,
        poll_interval_s=float(os.environ.get("DENDRUX_BENCH_POLL", "0.5")),
    )


class Server:
    """uvicorn serving `create_app` in a subprocess on a free local port."""

    def __init__(self, url: str, poll_interval_s: float) -> None:
        self.url = url
        self.poll_interval_s = poll_interval_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        import httpx

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        code = (
            "import uvicorn; uvicorn.run('bench.http:create_app', factory=True, "
            f"host='127.0.0.1', port={self.port}, log_level='warning', access_log=False, "
            "lifespan='on', http='h11', loop='asyncio', timeout_graceful_shutdown=2)"
        )
        env = {
            **os.environ,
            "DENDRUX_BENCH_URL": self.url,
            "DENDRUX_BENCH_POLL": str(self.poll_interval_s),
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        self.proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env)
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=self.base) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the uvicorn subprocess exited with {self.proc.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/health")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError("the uvicorn subprocess did not answer /health in 30 s")
                await asyncio.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------


def _event_data(seq: int) -> dict[str, Any]:
    return {
        "input_tokens": 500 + seq,
        "output_tokens": 40 + seq % 7,
        "cost_usd": 0.00081,
        "model": "claude-haiku-4-5",
        "has_tool_calls": seq % 2 == 0,
        "note": "x" * 120,
    }


async def seed(url: str, runs: int) -> list[str]:
    """``runs`` runs (tenants, agents, meta vary); 100 of them with 50 events each.
    Returns the ids of the runs with events."""
    from dendrux.db import create_engine, upgrade
    from dendrux.state import rows
    from dendrux.state import runs as run_fns

    await upgrade(url)
    step = max(1, runs // EVENT_RUNS)
    with_events = [f"run{i:06d}" for i in range(0, runs, step)][:EVENT_RUNS]
    engine = create_engine(url)
    try:
        for start in range(0, runs, 1000):
            async with engine.transaction() as conn:
                for i in range(start, min(runs, start + 1000)):
                    await run_fns.create_run(
                        conn,
                        f"run{i:06d}",
                        f"agent-{i % 5}",
                        input_data={"input": f"question {i}: " + "y" * 80},
                        model="claude-haiku-4-5",
                        strategy="react",
                        tenant_id=f"t{i % 10}",
                        meta={"user_id": f"u{i % 100}", "thread_id": f"th{i}"},
                    )
        async with engine.transaction() as conn:
            for run_id in with_events:
                for seq in range(EVENTS_PER_RUN):
                    await rows.save_run_event(
                        conn,
                        run_id,
                        event_type="llm.completed" if seq % 2 else "tool.completed",
                        sequence_index=seq,
                        iteration_index=seq // 2,
                        data=_event_data(seq),
                    )
    finally:
        await engine.dispose()
    return with_events


# ---------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------


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


def report(results: dict[str, Any], args: argparse.Namespace) -> list[str]:
    lines = [
        "",
        f"HTTP read router: uvicorn (1 worker, h11) in a subprocess; {args.concurrency} "
        f"concurrent httpx clients ({-(-args.concurrency // args.pool_size)} AsyncClients x "
        f"{args.pool_size} keep-alive connections); {args.duration:g} s measured after "
        f"{args.warmup:g} s warm-up; {args.runs} runs",
        "",
        f"{'dialect':<9}{'endpoint':<24}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'bytes':>8}{'srv CPU ms/req':>16}{'errors':>8}",
    ]
    for dialect, res in results.items():
        for name in ("GET /runs?limit=50", "GET /runs/{id}/events"):
            r = res[name]
            lines.append(
                f"{dialect:<9}{name:<24}{r['rps']:>9.1f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
                f"{r['response_bytes']:>8}{r['server_cpu_ms_per_request']:>16.2f}{r['errors']:>8}"
            )
    lines += [
        "",
        f"{'dialect':<9}{'SSE commit -> frame':<24}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'events':>8}{'write->frame p99':>18}  bound / target",
    ]
    for dialect, res in results.items():
        r = res["sse_latency"]
        if dialect == "postgres":
            ok = "met" if r["p99_ms"] < TARGET_PG_P99_MS else "MISSED"
            bound = f"LISTEN/NOTIFY: p99 < {TARGET_PG_P99_MS:g} ms ({ok})"
        else:
            bound = f"polling: <= poll interval {args.poll_interval * 1000:g} ms + read"
        label = f"{r['streams']} streams"
        lines.append(
            f"{dialect:<9}{label:<24}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
            f"{r['max_ms']:>9.1f}{r['events']:>8}{r['write_to_frame_p99_ms']:>15.1f} ms  {bound}"
            + (f"  MISSING {r['missing']}" if r["missing"] else "")
        )
    return lines


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench http")
    p.description = "Read router throughput and SSE delivery latency under uvicorn."
    p.add_argument("--runs", type=int, default=10000, help="runs in the dataset (10000)")
    p.add_argument("--concurrency", type=int, default=50, help="concurrent HTTP clients (50)")
    p.add_argument(
        "--pool-size",
        type=int,
        default=5,
        help="connections per httpx AsyncClient (5: 50 clients share 10 pools)",
    )
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per endpoint (5)")
    p.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per endpoint (1)")
    p.add_argument("--streams", type=int, default=10, help="live SSE streams (10)")
    p.add_argument("--events", type=int, default=30, help="events written per stream (30)")
    p.add_argument("--poll-interval", type=float, default=0.5, help="router poll_interval_s (0.5)")
    p.add_argument(
        "--dialect", choices=("sqlite", "postgres", "both"), default="both", help="(both)"
    )
    p.add_argument(
        "--pg-settings",
        choices=("durable", "test"),
        default="durable",
        help="durable: fsync=on, synchronous_commit=on (default); test: the test suite's",
    )
    p.add_argument("--json", metavar="PATH", help="write the JSON result here instead of stdout")
    return p


async def _admin(cluster: Any, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(cluster.dsn("postgres"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _main_async(
    args: argparse.Namespace, dialects: list[str], cluster: Any, tmp: str
) -> dict[str, Any]:
    from bench.recorder import machine_info

    def out(line: str) -> None:
        print(line, flush=True)

    machine = machine_info()
    out(
        f"machine: nproc={machine['nproc']} cpu={machine['cpu']!r} python={machine['python']} "
        f"sqlite={machine['sqlite']} dendrux={machine['dendrux_commit']} "
        f"loadavg={machine['loadavg_at_start']}"
    )
    results: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for dialect in dialects:
        if dialect == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp}/bench_http.db"
            settings[dialect] = {"journal_mode": "WAL", "synchronous": "FULL", "readers": 4}
            out(f"\n[sqlite] {tmp}/bench_http.db, WAL, synchronous=FULL, 4 reader connections")
        else:
            from bench.pg import server_settings

            await _admin(
                cluster, "DROP DATABASE IF EXISTS bench_http", "CREATE DATABASE bench_http"
            )
            url = cluster.dsn("bench_http")
            settings[dialect] = await server_settings(cluster.dsn("postgres"))
            s = settings[dialect]
            out(
                f"\n[postgres] PostgreSQL {s['server_version']} throwaway cluster "
                f"(fsync={s['fsync']}, synchronous_commit={s['synchronous_commit']}), "
                "asyncpg pool 1..10 in the server"
            )
        results[dialect] = await bench_dialect(dialect, url, args, out)
    for line in report(results, args):
        out(line)
    ok = all(
        r[name]["errors"] == 0 and r["sse_latency"]["missing"] == 0
        for r in results.values()
        for name in ("GET /runs?limit=50", "GET /runs/{id}/events")
    )
    pg = results.get("postgres")
    return {
        "benchmark": "http",
        "params": {
            "runs": args.runs,
            "concurrency": args.concurrency,
            "pool_size": args.pool_size,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "streams": args.streams,
            "events_per_stream": args.events,
            "poll_interval_s": args.poll_interval,
            "event_runs": EVENT_RUNS,
            "events_per_run": EVENTS_PER_RUN,
        },
        "machine": machine,
        "settings": settings,
        "dialects": results,
        "pg_p99_target_met": None if pg is None else pg["sse_latency"]["p99_ms"] < TARGET_PG_P99_MS,
        "ok": ok,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (
        min(args.runs, args.concurrency, args.pool_size, args.streams, args.events) < 1
        or args.duration <= 0
    ):
        print(
            "--runs, --concurrency, --pool-size, --streams, --events, --duration must be > 0",
            file=sys.stderr,
        )
        return 2
    if args.runs < EVENT_RUNS:
        print(f"--runs must be >= {EVENT_RUNS}", file=sys.stderr)
        return 2

    async def measure(dialects: list[str], cluster: Any, tmp: str) -> dict[str, Any]:
        return await _main_async(args, dialects, cluster, tmp)

    return run_with_cluster(args, temp_prefix="dendrux-bench-http-", measure=measure, name="http")


if __name__ == "__main__":
    sys.exit(main())
