"""``python -m bench recorder``: options, the run over the dialects, profiling, the JSON
result.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import signal
import sys
from typing import Any

from bench import workload as w
from bench.pg import run_with_cluster
from bench.recorder.databases import Databases, PostgresDatabases, SqliteDatabases
from bench.recorder.measure import bench_dialect
from bench.recorder.report import machine_info, report_dialect
from bench.recorder.variants import run_library


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="python -m bench recorder")
    p.description = "PersistenceRecorder hook throughput against the bare driver."
    p.add_argument("--runs", type=int, default=200, help="agent runs per variant (200)")
    p.add_argument("--concurrency", type=int, default=8, help="runs in flight at once (8)")
    p.add_argument(
        "--dialect", choices=("sqlite", "postgres", "both"), default="both", help="(both)"
    )
    p.add_argument("--repeat", type=int, default=3, help="repeats per dialect (3)")
    p.add_argument("--json", metavar="PATH", help="write the JSON result here instead of stdout")
    p.add_argument(
        "--pg-settings",
        choices=("durable", "test"),
        default="durable",
        help="durable: fsync=on, synchronous_commit=on (default); test: the test suite's "
        "fsync=off, synchronous_commit=off",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="afterwards, run the library variant once more per dialect under cProfile and "
        "print the top functions (not part of the timings)",
    )
    p.add_argument("--seed", type=int, default=20240601, help=argparse.SUPPRESS)
    return p


async def _profile(dbs: Databases, specs: list[w.RunSpec], concurrency: int) -> str:
    url, location = await dbs.fresh("bench_profile")
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        await run_library(url, specs, concurrency)
    finally:
        profiler.disable()
        await dbs.drop(location)
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    return buffer.getvalue()


async def _main_async(
    args: argparse.Namespace, dialects: list[str], cluster: Any, tmp: str
) -> tuple[dict[str, Any], bool]:
    def out(line: str) -> None:
        print(line, flush=True)

    # SIGTERM cancels the benchmark cooperatively (a KeyboardInterrupt raised at an
    # arbitrary bytecode can land inside a driver's protocol code); SIGINT is asyncio.run's.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)

    specs = w.make_runs(args.runs, args.seed)
    machine = machine_info()
    result: dict[str, Any] = {
        "benchmark": "recorder",
        "params": {
            "runs": args.runs,
            "concurrency": args.concurrency,
            "repeat": args.repeat,
            "hook_calls_per_run": w.HOOK_CALLS_PER_RUN,
            "units_per_run": w.UNITS_PER_RUN,
            "statements_per_run_alone": w.STATEMENTS_PER_RUN,
            "payload_bytes_first_llm_call": w.payload_sizes(specs[0]),
        },
        "machine": machine,
        "dialects": {},
    }
    out(
        f"machine: nproc={machine['nproc']} cpu={machine['cpu']!r} kernel={machine['kernel']} "
        f"python={machine['python']} sqlite={machine['sqlite']} aiosqlite={machine['aiosqlite']} "
        f"asyncpg={machine['asyncpg']} dendrux={machine['dendrux_commit']} "
        f"loadavg={machine['loadavg_at_start']}"
    )
    sizes = result["params"]["payload_bytes_first_llm_call"]
    out(
        "workload per run: create_run, 23 hooks (12 message_appended, 5 llm_call_completed, "
        "5 tool_completed, 1 governance_event), finalize_run; payload bytes of one LLM call: "
        + ", ".join(f"{k} {v}" for k, v in sizes.items())
    )
    ok = True
    report: list[str] = []
    profiles: dict[str, str] = {}
    for dialect in dialects:
        dbs: Databases
        if dialect == "sqlite":
            dbs = SqliteDatabases(tmp)
            settings = f"one writer connection, journal_mode=WAL, synchronous=FULL, files in {tmp}"
            settings_data: dict[str, Any] = {
                "journal_mode": "WAL",
                "synchronous": "FULL",
                "dir": tmp,
            }
        else:
            from bench.pg import server_settings

            dbs = PostgresDatabases(cluster)
            settings_data = await server_settings(cluster.dsn("postgres"))
            settings_data["data_dir"] = str(cluster.data_dir)
            settings = (
                f"PostgreSQL {settings_data['server_version']} throwaway cluster "
                f"(fsync={settings_data['fsync']}, "
                f"synchronous_commit={settings_data['synchronous_commit']}, "
                f"full_page_writes={settings_data['full_page_writes']}, "
                f"wal_sync_method={settings_data['wal_sync_method']}, "
                f"shared_buffers={settings_data['shared_buffers']}), 127.0.0.1 TCP; "
                "asyncpg pool min 1 / max 10 in both variants"
            )
        out(f"\n[{dialect}] {settings}")
        res = await bench_dialect(dbs, specs, args, out)
        res["settings"] = settings_data
        result["dialects"][dialect] = res
        ok = ok and not res["failures"] and res["audit"]["identical_sql_sequence"]
        report += report_dialect(dialect, settings, res, args.runs, args)
        if args.profile:
            out(f"  profiling the library variant on {dialect} ...")
            profiles[dialect] = await _profile(dbs, specs, args.concurrency)
    for line in report:
        out(line)
    for dialect, text in profiles.items():
        out(f"\n== cProfile, library variant, {dialect} (event-loop thread only)\n{text}")
    result["ok"] = ok
    return result, ok


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.runs < 1 or args.concurrency < 1 or args.repeat < 1:
        print("--runs, --concurrency and --repeat must be >= 1", file=sys.stderr)
        return 2

    async def measure(dialects: list[str], cluster: Any, tmp: str) -> dict[str, Any]:
        result, _ok = await _main_async(args, dialects, cluster, tmp)
        return result

    return run_with_cluster(args, temp_prefix="dendrux-bench-", measure=measure, name="recorder")
