"""``python -m bench http``: options, the run over the dialects, the report, the JSON result."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.http.measure import bench_dialect
from bench.http.server import EVENT_RUNS, EVENTS_PER_RUN
from bench.pg import run_with_cluster

TARGET_PG_P99_MS = 50.0


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
