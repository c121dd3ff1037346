"""Issue 18's read workload, ours against the bare driver (the upstream column comes from
``python -m bench upstream``): 20,000 runs whose ``thread_id`` values each match 2 % of the
runs, ``user_id`` values each matching ``1/--users`` of them, and one run with 2,000 events
and 500 traces.

    python -m bench.reads.shape18 [--dialect sqlite|postgres|both] [--repeat 3]

It reuses the reads benchmark's generator (its sizes set to this shape), loader, timing
(library and bare calls interleaved in pairs) and bare side; each call's rows are checked
equal on both sides first.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import add_common_options
from bench.pg import run_with_cluster
from bench.reads import dataset
from bench.reads.bare import Bare, BarePostgres, BareSqlite
from bench.reads.calls import Call, _aware, _filter_args, bare_fn, compare_results, one_key
from bench.reads.measure import measure

UPSTREAM_MS = {  # issue 18's table: dendrux 0.4.1 on this machine class (sqlite, postgres)
    "list_runs": (2.4, 3.4),
    "list_runs_thread": (5.4, 7.6),
    "count_error_user": (5.5, 7.1),
    "events_all": (26.0, 36.0),
    "events_late": (1.0, 0.78),
    "traces_all": (6.0, 8.3),
    "get_run": (0.93, 0.79),
}


def shape(users: int) -> None:
    """Set the generator's sizes to the issue's dataset."""
    dataset.THREADS = 50  # thread_<n % 50>: each value matches 2 % of the runs
    dataset.USERS = users
    dataset.BIG_EVENTS = 2_000
    dataset.BIG_TRACES = 500


def calls(store: Any, dialect: str, ds: dataset.Dataset) -> list[Call]:
    run = ds.big_run
    threads, users, ids = ds.threads, ds.users, ds.run_ids
    k = len(threads)

    def runs_keys(result: list[Any]) -> Any:
        return [(r.run_id, r.meta, r.created_at) for r in result]

    def runs_bare(rows: list[dict[str, Any]]) -> Any:
        return [(r["id"], r["meta"], _aware(r["created_at"])) for r in rows]

    def events_keys(result: list[Any]) -> Any:
        return [(e.sequence_index, e.event_type, e.data, e.created_at) for e in result]

    def events_bare(rows: list[dict[str, Any]]) -> Any:
        return [
            (r["sequence_index"], r["event_type"], r["data"], _aware(r["created_at"])) for r in rows
        ]

    def traces_keys(result: list[Any]) -> Any:
        return [(t.order_index, t.role, t.meta, t.created_at) for t in result]

    def traces_bare(rows: list[dict[str, Any]]) -> Any:
        return [(r["order_index"], r["role"], r["meta"], _aware(r["created_at"])) for r in rows]

    return [
        Call("list_runs", "list_runs(limit=50)", "list_run_summaries", "all", ("meta",),
             lambda i: store.list_runs(limit=50),
             lambda i: [*_filter_args(dialect, None, None), 50, 0], runs_keys, runs_bare),
        Call("list_runs_thread", "list_runs(metadata_filter={thread_id}) 2%",
             one_key(dialect, "list_run_summaries_by_meta"), "all", ("meta",),
             lambda i: store.list_runs(metadata_filter={"thread_id": threads[i % k]}),
             lambda i: [*_filter_args(dialect, None, {"thread_id": threads[i % k]}), 50, 0],
             runs_keys, runs_bare),
        Call("count_error_user", "count_runs(metadata_filter={user_id}, status='error')",
             one_key(dialect, "count_runs_by_meta"), "value", (),
             lambda i: store.count_runs(status="error", metadata_filter={"user_id": users[i % k]}),
             lambda i: _filter_args(dialect, ["error"], {"user_id": users[i % k]}),
             lambda v: v, lambda v: v),
        Call("events_all", "get_events(run)  (2,000)", "get_run_events", "all", ("data",),
             lambda i: store.get_events(run), lambda i: [run, None, None, None],
             events_keys, events_bare),
        Call("events_late", "get_events(run, after_sequence_index=1990)", "get_run_events",
             "all", ("data",),
             lambda i: store.get_events(run, after_sequence_index=1990),
             lambda i: [run, 1990, None, None], events_keys, events_bare),
        Call("traces_all", "get_traces(run)  (500)", "get_traces", "all", ("meta",),
             lambda i: store.get_traces(run), lambda i: [run, None, 0], traces_keys, traces_bare),
        Call("get_run", "get_run(run)", "get_run", "row", ("input_data", "output_data", "meta"),
             lambda i: store.get_run(ids[i % k]), lambda i: [ids[i % k]],
             lambda d: [(d.run_id, d.input_data, d.meta, d.answer, d.created_at)],
             lambda rows: [
                 (r["id"], r["input_data"], r["meta"], (r["output_data"] or {}).get("answer"),
                  _aware(r["created_at"]))
                 for r in rows
             ]),
    ]  # fmt: skip


async def bench_one(
    dialect: str, url: str, location: str, ds: dataset.Dataset, args: argparse.Namespace
) -> dict[str, Any]:
    from dendrux.store import RunStore

    store = RunStore.from_database_url(url)
    bare: Bare = BareSqlite(location) if dialect == "sqlite" else BarePostgres(location)
    await bare.open()
    result: dict[str, Any] = {"calls": {}, "failures": []}
    try:
        cs = calls(store, dialect, ds)
        fns = {c.key: bare_fn(bare, c) for c in cs}
        for c in cs:
            parity = await compare_results(c, bare, fns[c.key])
            print(f"  parity {c.key}: rows {parity['rows']} value {parity['value']} "
                  f"{'same' if parity['same'] else 'DIFFERENT'}", flush=True)  # fmt: skip
            if not parity["same"]:
                result["failures"].append(c.key)
        per: dict[str, list[dict[str, Any]]] = {c.key: [] for c in cs}
        for r in range(args.repeat):
            for c in cs:
                m = await measure(c.lib, fns[c.key], args.iterations, args.warmup, 20.0)
                per[c.key].append(m)
                print(f"  repeat {r + 1} {c.label:<56} lib {m['library']['p50']:7.3f} ms  "
                      f"bare {m['bare']['p50']:7.3f} ms", flush=True)  # fmt: skip
        col = 0 if dialect == "sqlite" else 1
        for c in cs:
            lib = statistics.median(m["library"]["p50"] for m in per[c.key])
            bare_ms = statistics.median(m["bare"]["p50"] for m in per[c.key])
            up = UPSTREAM_MS[c.key][col]
            result["calls"][c.key] = {
                "label": c.label,
                "library_p50_ms": lib,
                "bare_p50_ms": bare_ms,
                "library_p50s": [m["library"]["p50"] for m in per[c.key]],
                "bare_p50s": [m["bare"]["p50"] for m in per[c.key]],
                "upstream_ms": up,
            }
    finally:
        await store.close()
        await bare.close()
    print(f"\n[{dialect}] median of {args.repeat} repeats' p50 (ms)")
    print(f"  {'call':<56} {'ours':>7} {'bare':>7} {'o/b':>5} {'0.4.1':>6} {'up/o':>5}")
    for s in result["calls"].values():
        lib, bare_ms, up = s["library_p50_ms"], s["bare_p50_ms"], s["upstream_ms"]
        print(f"  {s['label']:<56} {lib:7.3f} {bare_ms:7.3f} {lib / bare_ms:5.2f} "
              f"{up:6.2f} {up / lib:5.1f}x")  # fmt: skip
    return result


async def run_all(args: argparse.Namespace, dialects: list[str], cluster: Any, tmp: str) -> Any:
    from dendrux.db import upgrade

    shape(args.users)
    ds = dataset.build_dataset(args.runs, args.seed)
    out: dict[str, Any] = {"ok": True, "dialects": {}}
    for dialect in dialects:
        t0 = time.perf_counter()
        if dialect == "sqlite":
            path = str(Path(tmp) / "shape18.db")
            url = location = f"sqlite+aiosqlite:///{path}"
            await upgrade(url)
            dataset.load_sqlite(path, ds)
            location = path
        else:
            import asyncpg

            admin = await asyncpg.connect(cluster.dsn("postgres"))
            try:
                await admin.execute('DROP DATABASE IF EXISTS "shape18"')
                await admin.execute('CREATE DATABASE "shape18"')
            finally:
                await admin.close()
            url = location = cluster.dsn("shape18")
            await upgrade(url)
            await dataset.load_postgres(url, ds)
        print(f"[{dialect}] loaded in {time.perf_counter() - t0:.1f} s", flush=True)
        res = await bench_one(dialect, url, location, ds, args)
        out["dialects"][dialect] = res
        out["ok"] = out["ok"] and not res["failures"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.reads.shape18")
    p.add_argument("--runs", type=int, default=20_000)
    p.add_argument("--users", type=int, default=100, help="distinct user_id values (100)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    add_common_options(p)
    args = p.parse_args(argv)

    async def measured(dialects: list[str], cluster: Any, tmp: str) -> dict[str, Any]:
        result: dict[str, Any] = await run_all(args, dialects, cluster, tmp)
        return result

    return run_with_cluster(args, temp_prefix="dendrux-shape18-", measure=measured, name="shape18")


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main(sys.argv[1:]))
