"""``python -m bench reads``: options, the run over the dialects, the JSON result."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import add_common_options
from bench.pg import run_with_cluster
from bench.reads.dataset import (
    build_dataset,
    load_postgres,
    load_sqlite,
)
from bench.reads.measure import TARGET_P50_MS, TARGET_RATIO, bench_dialect
from bench.reads.report import closing_note, report_dialect

# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench reads")
    p.description = "RunStore reads at scale against the bare driver running the same SQL."
    p.add_argument("--runs", type=int, default=100_000, help="runs in the dataset (100000)")
    p.add_argument("--repeat", type=int, default=3, help="repeats of the timings (3)")
    p.add_argument("--iterations", type=int, default=200, help="timed calls per side (200)")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls per side first (20)")
    p.add_argument(
        "--budget",
        type=float,
        default=20.0,
        help="seconds per call and repeat; a call so slow that --iterations would exceed it "
        "is timed fewer times (at least 20) (20)",
    )
    add_common_options(p)
    return p


async def _main_async(
    args: argparse.Namespace, dialects: list[str], cluster: Any, tmp: str
) -> tuple[dict[str, Any], bool]:
    from bench.recorder import machine_info
    from dendrux.db import upgrade

    def out(line: str) -> None:
        print(line, flush=True)

    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)

    machine = machine_info()
    out(
        f"machine: nproc={machine['nproc']} cpu={machine['cpu']!r} kernel={machine['kernel']} "
        f"python={machine['python']} sqlite={machine['sqlite']} aiosqlite={machine['aiosqlite']} "
        f"asyncpg={machine['asyncpg']} dendrux={machine['dendrux_commit']} "
        f"loadavg={machine['loadavg_at_start']}"
    )
    out(f"generating the dataset ({args.runs} runs, seed {args.seed}) ...")
    ds = build_dataset(args.runs, args.seed)
    # The generated rows stay alive for loading: keep the collector from walking them
    # (a full collection over ~1M tuples is a ~30 ms pause that lands in some p99).
    gc.collect()
    gc.freeze()
    out(
        f"  generated in {ds.build_s:.1f} s: "
        + ", ".join(f"{t} {n}" for t, n in ds.counts().items())
    )
    result: dict[str, Any] = {
        "benchmark": "reads",
        "params": {
            "runs": args.runs,
            "repeat": args.repeat,
            "iterations": args.iterations,
            "warmup": args.warmup,
            "budget_s": args.budget,
            "seed": args.seed,
            "targets": {"postgres_p50_ms": TARGET_P50_MS, "ratio_p50": TARGET_RATIO},
        },
        "machine": machine,
        "dataset": {
            "rows": ds.counts(),
            "statuses": dict(ds.statuses),
            "big_run": ds.big_run,
            "generate_s": ds.build_s,
        },
        "dialects": {},
    }
    ok = True
    report: list[str] = []
    for dialect in dialects:
        t0 = time.perf_counter()
        if dialect == "sqlite":
            path = str(Path(tmp) / "reads.db")
            url = f"sqlite+aiosqlite:///{path}"
            await upgrade(url)
            out(f"\n[sqlite] loading into {path} ...")
            load_sqlite(path, ds)
            location = path
            size_mb = (
                sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))
                / 1e6
            )
            settings_data: dict[str, Any] = {"journal_mode": "WAL", "dir": tmp}
            settings = (
                "library: RunStore.from_database_url (reader connections mode=ro, query_only, "
                "WAL); bare: one aiosqlite connection opened the same way; "
                f"file in {tmp}"
            )
        else:
            import asyncpg

            from bench.pg import server_settings

            admin = await asyncpg.connect(cluster.dsn("postgres"))
            try:
                await admin.execute('DROP DATABASE IF EXISTS "bench_reads"')
                await admin.execute('CREATE DATABASE "bench_reads"')
            finally:
                await admin.close()
            url = location = cluster.dsn("bench_reads")
            await upgrade(url)
            out("\n[postgres] loading (COPY) ...")
            await load_postgres(url, ds)
            conn = await asyncpg.connect(url)
            try:
                size_mb = await conn.fetchval("SELECT pg_database_size(current_database())") / 1e6
            finally:
                await conn.close()
            settings_data = await server_settings(cluster.dsn("postgres"))
            settings = (
                f"PostgreSQL {settings_data['server_version']} throwaway cluster "
                f"(fsync={settings_data['fsync']}, "
                f"synchronous_commit={settings_data['synchronous_commit']}, "
                f"shared_buffers={settings_data['shared_buffers']}), 127.0.0.1 TCP; "
                "library: RunStore.from_database_url (asyncpg pool 1..10, json/jsonb decoded by "
                "json.loads codecs); bare: an asyncpg pool 1..10 with the same codecs"
            )
        load_s = time.perf_counter() - t0
        out(f"  loaded and analyzed in {load_s:.1f} s ({size_mb:.0f} MB)")
        res = await bench_dialect(dialect, url, location, ds, args, out)
        res["dataset"] = {"rows": ds.counts(), "load_s": load_s, "size_mb": size_mb}
        res["settings"] = settings_data
        result["dialects"][dialect] = res
        ok = ok and not res["failures"]
        report += report_dialect(dialect, settings, res, ds)
        if dialect == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(location + suffix)
    for line in report + closing_note(result["dialects"]):
        out(line)
    result["ok"] = ok
    return result, ok


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.runs < 2 or args.repeat < 1 or args.iterations < 1 or args.warmup < 1:
        print("--runs must be >= 2; --repeat, --iterations, --warmup >= 1", file=sys.stderr)
        return 2

    async def measure(dialects: list[str], cluster: Any, tmp: str) -> dict[str, Any]:
        result, _ok = await _main_async(args, dialects, cluster, tmp)
        return result

    return run_with_cluster(args, temp_prefix="dendrux-bench-reads-", measure=measure, name="reads")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
