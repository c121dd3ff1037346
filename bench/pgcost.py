"""Where a PostgreSQL hook call's cost goes: the recorder workload through the library,
with the server's evidence per hook call.

    python -m bench.pgcost --runs 200 --concurrency 8 --repeat 3
    python -m bench.pgcost --src before=/tmp/old-checkout --src after=.   # interleaved
    python -m bench.pgcost --profile                                      # + cProfile

Each measurement runs in a fresh interpreter (``--src``: a checkout whose ``dendrux``
is imported, so two versions of the library can be compared on one cluster, their
order alternating per repeat) into a fresh database of one durable throwaway cluster
(``fsync=on``, ``pg_stat_statements`` preloaded). Per hook call: wall time (hook
calls/s), the client's event-loop CPU, the server's CPU (postmaster and children, from
/proc), WAL bytes (``pg_current_wal_lsn`` difference), buffer hits and the statements
(``pg_stat_statements``), and the HOT share of ``agent_runs`` updates
(``pg_stat_user_tables``). Not part of the suite: a diagnostic for issue 18.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _worker(argv: list[str]) -> int:
    """In a fresh interpreter: record the workload through the library at ``src``."""
    src, dsn, runs, concurrency, profile = argv[0], argv[1], int(argv[2]), int(argv[3]), argv[4]
    sys.path.insert(0, src)
    sys.path.insert(1, str(ROOT))
    from bench import workload as w
    from bench.recorder.variants import run_library
    from dendrux.db import upgrade

    specs = w.make_runs(runs)

    async def main() -> dict[str, Any]:
        await upgrade(dsn)
        print("READY", flush=True)
        sys.stdin.readline()
        if profile == "1":
            import cProfile
            import io
            import pstats

            prof = cProfile.Profile(time.thread_time)
            prof.enable()
            timing = await run_library(dsn, specs, concurrency)
            prof.disable()
            out = io.StringIO()
            stats = pstats.Stats(prof, stream=out)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats("dendrux|asyncpg", 45)
            print(out.getvalue(), file=sys.stderr)
        else:
            timing = await run_library(dsn, specs, concurrency)
        return {"wall_s": timing.wall_s, "loop_cpu_s": timing.loop_cpu_s}

    import dendrux

    result = asyncio.run(main())
    result["dendrux"] = str(Path(dendrux.__file__).parent)
    print(json.dumps(result), flush=True)
    return 0


STATEMENTS = """
SELECT regexp_replace(left(query, 60), '\\s+', ' ', 'g') AS q, calls, total_exec_time,
       shared_blks_hit + shared_blks_read AS blocks, wal_bytes, wal_records, wal_fpi
FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)
ORDER BY total_exec_time DESC LIMIT 12
"""


async def _measure_one(
    cluster: Any, name: str, src: str, index: int, args: argparse.Namespace
) -> dict[str, Any]:
    import asyncpg

    from bench.writers.measure import server_cpu_s

    db = f"cost_{index}"
    admin = await asyncpg.connect(cluster.dsn("postgres"))
    try:
        await admin.execute(f"CREATE DATABASE {db}")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.pgcost", "--worker", src, cluster.dsn(db),
             str(args.runs), str(args.concurrency), "1" if args.profile else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(ROOT),
        )  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"worker failed: {line}")
        await admin.execute("CHECKPOINT")
        await admin.execute("SELECT pg_stat_statements_reset()")
        lsn0 = await admin.fetchval("SELECT pg_current_wal_lsn()")
        cpu0 = server_cpu_s(cluster)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out = proc.stdout.readline()
        proc.wait()
        cpu1 = server_cpu_s(cluster)
        wal = await admin.fetchval("SELECT pg_current_wal_lsn() - $1::pg_lsn", lsn0)
        result = json.loads(out)
        dbconn = await asyncpg.connect(cluster.dsn(db))
        try:
            stats: Any = None
            for _ in range(50):  # the worker's backends flush their counters on exit
                stats = await dbconn.fetchrow(
                    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                    "WHERE relname = 'agent_runs'"
                )
                if stats["n_tup_upd"] >= args.runs:
                    break
                await asyncio.sleep(0.2)
        finally:
            await dbconn.close()
        statements = await admin.fetch(STATEMENTS, db)
    finally:
        await admin.close()
    from bench import workload as w

    hooks = w.HOOK_CALLS_PER_RUN * args.runs
    return {
        "name": name,
        "hook_calls_per_s": hooks / result["wall_s"],
        "client_cpu_ms_per_hook": 1000 * result["loop_cpu_s"] / hooks,
        "server_cpu_ms_per_hook": 1000 * (cpu1 - cpu0) / hooks,
        "wal_bytes_per_hook": float(wal) / hooks,
        "updates": stats["n_tup_upd"],
        "hot_updates": stats["n_tup_hot_upd"],
        "statements": [
            {
                "query": r["q"],
                "calls": r["calls"],
                "ms_per_call": r["total_exec_time"] / max(r["calls"], 1),
                "blocks_per_call": r["blocks"] / max(r["calls"], 1),
                "wal_bytes_per_call": float(r["wal_bytes"]) / max(r["calls"], 1),
                "fpi": r["wal_fpi"],
            }
            for r in statements
        ],
    }


async def _measure(args: argparse.Namespace, cluster: Any) -> list[dict[str, Any]]:
    results = []
    index = 0
    for repeat in range(args.repeat):
        order = args.src if repeat % 2 == 0 else list(reversed(args.src))
        for name, src in order:
            index += 1
            r = await _measure_one(cluster, name, src, index, args)
            r["repeat"] = repeat + 1
            print(
                f"  repeat {repeat + 1} {name:<8} {r['hook_calls_per_s']:8.0f} hook calls/s  "
                f"client {r['client_cpu_ms_per_hook']:.3f} ms  server "
                f"{r['server_cpu_ms_per_hook']:.3f} ms  WAL {r['wal_bytes_per_hook']:.0f} B  "
                f"HOT {r['hot_updates']}/{r['updates']}  load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            results.append(r)
    return results


def _report(results: list[dict[str, Any]], names: list[str]) -> None:
    keys = (
        "hook_calls_per_s",
        "client_cpu_ms_per_hook",
        "server_cpu_ms_per_hook",
        "wal_bytes_per_hook",
    )
    print("\nmedian over repeats")
    for name in names:
        mine = [r for r in results if r["name"] == name]
        figures = "  ".join(f"{k} {statistics.median(r[k] for r in mine):.3f}" for k in keys)
        hot = sum(r["hot_updates"] for r in mine) / max(sum(r["updates"] for r in mine), 1)
        print(f"  {name:<8} {figures}  HOT share {hot:.2f}")
        print("    statements (last repeat): calls, ms/call, blocks/call, WAL B/call, FPI")
        for s in mine[-1]["statements"]:
            print(
                f"      {s['calls']:6d} {s['ms_per_call']:7.3f} {s['blocks_per_call']:7.1f} "
                f"{s['wal_bytes_per_call']:8.0f} {s['fpi']:5d}  {s['query']}"
            )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return _worker(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench.pgcost")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--src", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="an extra server setting (experiments)",
    )
    args = parser.parse_args(argv)
    args.src = [tuple(s.split("=", 1)) for s in args.src] or [("this", str(ROOT))]
    for _, path in args.src:
        if not (Path(path) / "dendrux").is_dir():
            parser.error(f"no dendrux package under {path}")
    sys.path.insert(0, str(ROOT))
    from bench.pg import BenchPgCluster

    class Cluster(BenchPgCluster):
        def _write_config(self) -> None:
            super()._write_config()
            with (self.data_dir / "postgresql.auto.conf").open("a") as f:
                f.write("shared_preload_libraries = 'pg_stat_statements'\n")
                f.write("pg_stat_statements.track = all\n")
                for setting in args.set:
                    f.write(setting.replace("=", " = ", 1) + "\n")

    cluster = Cluster(durable=True)
    cluster.start()
    try:

        async def run() -> list[dict[str, Any]]:
            import asyncpg

            conn = await asyncpg.connect(cluster.dsn("postgres"))
            try:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            finally:
                await conn.close()
            return await _measure(args, cluster)

        started = time.monotonic()
        results = asyncio.run(run())
        _report(results, [name for name, _ in args.src])
        print(f"({time.monotonic() - started:.0f} s)")
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
