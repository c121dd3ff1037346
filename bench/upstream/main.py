"""``python -m bench upstream``: options, the oracle, both workloads per dialect, the table
and the JSON result."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench import workload as w
from bench.common import add_common_options, begin, databases, finish, out, run
from bench.pg import server_settings
from bench.reads.dataset import load_postgres, load_sqlite
from bench.recorder import PostgresDatabases
from bench.upstream.dataset import (
    as_dataset,
    generate,
    load_upstream_postgres,
    load_upstream_sqlite,
)
from bench.upstream.oracle import (
    ORACLE_VERSION,
    Oracle,
    OracleBuildError,
    ensure_oracle,
    pg_migrate,
    sqlite_template,
)
from bench.upstream.reads import bench_reads
from bench.upstream.recorder import bench_recorder, fresh_theirs, workload_json
from bench.upstream.report import render

UPSTREAM_TEMPLATE = "upstream_0_4_1_template"
QUICK = {"runs": 8, "read_runs": 2000, "iterations": 20, "warmup": 3, "repeat": 2}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench upstream")
    p.description = (
        f"The recorder and read workloads through dendrux {ORACLE_VERSION} (the published "
        "package, in the oracle venv) and through ours, interleaved; rows checked equal."
    )
    p.add_argument("--runs", type=int, default=200, help="recorder runs per side (200)")
    p.add_argument("--concurrency", type=int, default=8, help="runs in flight (8)")
    p.add_argument("--read-runs", type=int, default=20_000, help="runs in the read dataset")
    p.add_argument("--repeat", type=int, default=3, help="recorder repeats and read rounds (3)")
    p.add_argument("--iterations", type=int, default=200, help="timed calls per read (200)")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls per read first (20)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, a smoke run: "
        + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in QUICK.items()),
    )
    add_common_options(p)
    return p


async def _template(dialect: str, dbs: Any, oracle: Oracle, python: Path, tmp: str) -> Any:
    """0.4.1's empty schema, made by 0.4.1 (copied for every fresh upstream database)."""
    if dialect == "sqlite":
        path, pragmas = await sqlite_template(oracle, Path(tmp))
        out(f"  0.4.1 SQLite schema by its create_sqlite_schema; its connection: {pragmas}")
        return path
    assert isinstance(dbs, PostgresDatabases)
    await dbs._admin(f'DROP DATABASE IF EXISTS "{UPSTREAM_TEMPLATE}"',
                     f'CREATE DATABASE "{UPSTREAM_TEMPLATE}"')  # fmt: skip
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, pg_migrate, python, dbs.cluster.dsn(UPSTREAM_TEMPLATE))
    out("  0.4.1 PostgreSQL schema by its `dendrux db migrate` (Alembic)")
    return UPSTREAM_TEMPLATE


async def bench_dialect(
    dialect: str, cluster: Any, tmp: str, args: argparse.Namespace, oracle: Oracle,
    python: Path, specs: list[w.RunSpec], workload_path: Path, data: Any,
) -> dict[str, Any]:  # fmt: skip
    dbs = databases(dialect, cluster, tmp)
    result: dict[str, Any] = {}
    if dialect == "postgres":
        result["settings"] = await server_settings(cluster.dsn("postgres"))
        out(f"  server: {result['settings']}")
    template = await _template(dialect, dbs, oracle, python, tmp)
    result["recorder"] = await bench_recorder(
        dbs, oracle, template, specs, workload_path, args, out
    )
    if dialect == "sqlite":
        result["settings"] = {"upstream": result["recorder"]["upstream_settings"]}

    t0 = time.perf_counter()
    ours_url, ours_loc = await dbs.fresh("up_reads_ours")
    theirs_url, theirs_loc = await fresh_theirs(dbs, "up_reads_theirs", template)
    if dialect == "sqlite":
        load_sqlite(ours_loc, as_dataset(data))
        load_upstream_sqlite(theirs_loc, data)
    else:
        await load_postgres(ours_loc, as_dataset(data))
        await load_upstream_postgres(theirs_loc, data)
    out(f"  read dataset loaded into both schemas in {time.perf_counter() - t0:.1f} s")
    try:
        result["reads"] = await bench_reads(
            dialect, ours_url, ours_loc, theirs_url, oracle, data, args, out
        )
    finally:
        for location in (ours_loc, theirs_loc):
            await dbs.drop(location)
    if dialect == "postgres":
        await dbs.drop(cluster.dsn(UPSTREAM_TEMPLATE))
    return result


async def measure_all(
    args: argparse.Namespace, dialects: list[str], cluster: Any, tmp: str
) -> dict[str, Any]:
    result = begin("upstream", args)
    failures: list[str] = []
    try:
        python, seconds, built = ensure_oracle()
    except (OracleBuildError, OSError, TimeoutError) as exc:
        return finish(result, [], [f"the dendrux {ORACLE_VERSION} oracle venv: {exc}"])
    out(f"oracle: {python} ({'built' if built else 'cached'} in {seconds:.1f} s)")
    specs = w.make_runs(args.runs, args.seed)
    workload_path = Path(tmp) / "workload.json"
    workload_path.write_text(json.dumps(workload_json(specs)))
    t0 = time.perf_counter()
    data = generate(args.read_runs, args.seed)
    out(f"read dataset generated in {time.perf_counter() - t0:.1f} s: {data.counts()}")
    oracle = Oracle(python)
    await oracle.start()
    result["oracle"] = {"version": oracle.version, "python": str(python)}
    result["read_dataset"] = {"runs": data.runs, "rows": data.counts()}
    result["dialects"] = {}
    try:
        for dialect in dialects:
            out(f"\n== {dialect}: dendrux {oracle.version} beside ours")
            d = await bench_dialect(
                dialect, cluster, tmp, args, oracle, python, specs, workload_path, data
            )
            failures += [f"{dialect}: {f}" for f in d["recorder"].pop("failures")]
            failures += [f"{dialect}: {f}" for f in d["reads"].pop("failures")]
            result["dialects"][dialect] = d
    finally:
        await oracle.stop()
    report = ["", f"dendrux {oracle.version} (upstream) beside ours (p50 where ms; median of "
              f"{args.repeat} interleaved repeats/rounds):", render(result)]  # fmt: skip
    return finish(result, report, failures)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    return run(args, "upstream", measure_all)
