"""The reads part: the reads benchmark's calls timed against the number of runs in the
store (its dataset generated and loaded in chunks); its CSV columns, table and chart.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import reads
from bench import recorder as rec
from bench.common import databases, out, table

READ_COLUMNS = (
    "dialect",
    "runs",
    "call",
    "label",
    "n",
    "rows",
    "library_p50_ms",
    "library_p99_ms",
    "bare_p50_ms",
    "bare_p99_ms",
    "ratio_p50",
    "generate_s",
    "load_s",
    "size_mb",
)


SIZE_SQL = {
    "sqlite": "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
    "postgres": "SELECT pg_database_size(current_database())",
}


@dataclass
class Timed:
    """One read as growth times it: the library call and the bare call of iteration i."""

    key: str
    label: str
    fetch: str  # all | row | value: how the result's size is counted
    lib: Callable[[int], Awaitable[Any]]
    bare: Callable[[int], Awaitable[Any]]
    iterations: int
    warmup: int


def _size(fetch: str, result: Any) -> int:
    if fetch == "value":
        return int(result)
    if fetch == "row":
        return int(result is not None)
    return len(result)


async def time_reads(
    dialect: str, url: str, location: str, ds: reads.Dataset, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], list[str]]:
    """p50/p99 of every call the reads benchmark times, library against bare (median over
    ``--repeat``), with the result sizes of both sides compared first."""
    from dendrux.store import RunStore

    store = RunStore.from_database_url(url)
    bare: reads.Bare = (
        reads.BareSqlite(location) if dialect == "sqlite" else reads.BarePostgres(location)
    )
    await bare.open()
    try:
        calls = reads.build_calls(store, dialect, ds)
        timed = [
            Timed(
                c.key, c.label, c.fetch, c.lib, reads.bare_fn(bare, c), args.iterations, args.warmup
            )
            for c in calls
        ]
        run = ds.big_run
        timed.append(
            Timed(
                "stream_events",
                f"stream_events(run): take {reads.STREAM_EVENTS}, aclose",
                "value",
                lambda i: reads.lib_stream(store, run),
                lambda i: reads.bare_stream(bare, run),
                args.stream_iterations,  # ~0.2-0.5 s a pair: a few are enough
                1,
            )
        )
        failures: list[str] = []
        sizes: dict[str, int] = {}
        for c, t in zip(calls, timed, strict=False):  # the reads calls: same rows on both sides
            compared = await reads.compare_results(c, bare, t.bare)
            sizes[t.key] = compared["value"] if c.fetch == "value" else compared["rows"]
            if not compared["same"]:
                failures.append(f"reads {dialect} {ds.runs} runs {t.label}: results differ")
        stream = timed[-1]  # stream_events: both sides take the same number of events
        sizes[stream.key] = _size(stream.fetch, await stream.lib(0))
        if (bare_size := _size(stream.fetch, await stream.bare(0))) != sizes[stream.key]:
            failures.append(
                f"reads {dialect} {ds.runs} runs {stream.label}: library "
                f"{sizes[stream.key]}, bare {bare_size}"
            )
        repeats = [
            {
                t.key: await reads.measure(t.lib, t.bare, t.iterations, t.warmup, args.budget)
                for t in timed
            }
            for _ in range(args.repeat)
        ]
    finally:
        await store.close()
        await bare.close()
    rows = []
    for t in timed:

        def med(side: str, p: str, key: str = t.key) -> float:
            return float(statistics.median(rep[key][side][p] for rep in repeats))

        rows.append(
            {
                "dialect": dialect,
                "runs": ds.runs,
                "call": t.key,
                "label": t.label,
                "n": min(rep[t.key]["n"] for rep in repeats),
                "rows": sizes[t.key] if t.fetch != "value" else 1,
                "library_p50_ms": med("library", "p50"),
                "library_p99_ms": med("library", "p99"),
                "bare_p50_ms": med("bare", "p50"),
                "bare_p99_ms": med("bare", "p99"),
            }
        )
        rows[-1]["ratio_p50"] = rows[-1]["library_p50_ms"] / rows[-1]["bare_p50_ms"]
    return rows, failures


async def load_dataset(
    dbs: rec.Databases, size: int, args: argparse.Namespace
) -> tuple[reads.Dataset, str, str, dict[str, Any]]:
    """A fresh migrated database holding the reads dataset of ``size`` runs, generated and
    loaded ``--chunk`` runs at a time; returns the dataset's samples, where it is, and how
    long generating / loading took."""
    url, location = await dbs.fresh(f"bench_growth_{size}")
    ds = reads.Dataset(size, args.seed)
    chunks = reads.generate_rows(ds, args.chunk)
    t0 = time.perf_counter()
    if dbs.dialect == "sqlite":
        await asyncio.to_thread(reads.load_sqlite, location, ds, chunks)
    else:
        await reads.load_postgres(url, ds, chunks)
    total = time.perf_counter() - t0
    size_bytes = (await dbs.query(location, SIZE_SQL[dbs.dialect]))[0][0]
    info = {
        "generate_s": ds.build_s,
        "load_s": total - ds.build_s,
        "size_mb": size_bytes / 1e6,
        "rows": ds.counts(),
    }
    return ds, url, location, info


async def reads_growth(
    dialects: list[str],
    cluster: Any,
    tmp: str,
    args: argparse.Namespace,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    rows: list[dict[str, Any]] = []
    loads: list[dict[str, Any]] = []
    failures: list[str] = []
    for dialect in dialects:
        dbs = databases(dialect, cluster, tmp)
        for size in args.sizes:
            out(f"\n[reads] {dialect}, {size:,} runs: generating and loading ...")
            ds, url, location, info = await load_dataset(dbs, size, args)
            loads.append({"dialect": dialect, "runs": size, **info})
            out(
                f"  generated in {info['generate_s']:.1f} s, loaded + analyzed in "
                f"{info['load_s']:.1f} s ({info['size_mb']:,.0f} MB; "
                + ", ".join(f"{t} {n:,}" for t, n in info["rows"].items())
                + "); timing ..."
            )
            try:
                t0 = time.perf_counter()
                timed, problems = await time_reads(dialect, url, location, ds, args)
                out(f"  timed in {time.perf_counter() - t0:.1f} s")
            finally:
                await dbs.drop(location)
            for row in timed:
                row.update(
                    generate_s=info["generate_s"], load_s=info["load_s"], size_mb=info["size_mb"]
                )
            rows += timed
            failures += problems
    return rows, loads, failures


def reads_table(rows: list[dict[str, Any]], dialect: str) -> str:
    body = []
    last = None
    for r in sorted((r for r in rows if r["dialect"] == dialect), key=_call_order(rows)):
        body.append(
            (
                r["label"] if r["call"] != last else "",
                f"{r['runs']:,}",
                r["n"],
                f"{r['library_p50_ms']:.2f}",
                f"{r['library_p99_ms']:.2f}",
                f"{r['bare_p50_ms']:.2f}",
                f"{r['bare_p99_ms']:.2f}",
                f"{r['ratio_p50']:.2f}x",
            )
        )
        last = r["call"]
    return table(("call", "runs", "n", "lib p50", "lib p99", "bare p50", "bare p99", "ratio"), body)


def _call_order(rows: list[dict[str, Any]]) -> Callable[[dict[str, Any]], tuple[int, int]]:
    order = {key: i for i, key in enumerate(dict.fromkeys(r["call"] for r in rows))}
    return lambda r: (order[r["call"]], r["runs"])


def _short(n: int) -> str:
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div and n % (div // 10) == 0:
            return f"{n / div:g}{unit}"
    return str(n)


def reads_chart(plt: Any, rows: list[dict[str, Any]], path: Path) -> Path:
    dialects = list(dict.fromkeys(r["dialect"] for r in rows))
    calls = list(dict.fromkeys(r["call"] for r in rows))
    labels = {r["call"]: r["label"] for r in rows}
    colors = plt.get_cmap("tab20").colors
    fig, axes = plt.subplots(
        2, len(dialects), figsize=(6 * len(dialects) + 4, 9), squeeze=False, sharex=True
    )
    for col, dialect in enumerate(dialects):
        latency, ratio = axes[0][col], axes[1][col]
        for i, call in enumerate(calls):
            mine = sorted(
                (r for r in rows if r["dialect"] == dialect and r["call"] == call),
                key=lambda r: r["runs"],
            )
            xs = [r["runs"] for r in mine]
            style = dict(color=colors[(2 * i) % 20 + (i >= 10)], marker="os^vD<>ph*X"[i % 11])
            latency.plot(xs, [r["library_p50_ms"] for r in mine], label=labels[call], **style)
            ratio.plot(xs, [r["ratio_p50"] for r in mine], **style)
        latency.set_title(f"{dialect}: library p50 latency")
        latency.set_yscale("log")
        latency.set_ylabel("ms (log)")
        ratio.axhline(reads.TARGET_RATIO, color="red", linestyle=":", linewidth=1)
        ratio.axhline(1.0, color="gray", linewidth=1)
        ratio.set_title(f"{dialect}: library p50 / bare p50 (target <= {reads.TARGET_RATIO}x)")
        ratio.set_ylabel("ratio")
        ratio.set_xlabel("runs in the store (log)")
        sizes = sorted({r["runs"] for r in rows})
        for ax in (latency, ratio):
            ax.set_xscale("log")
            ax.set_xticks(sizes, [_short(n) for n in sizes])
            ax.set_xticks([], minor=True)
            ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("RunStore reads as the store grows (one line per call; p99 in the CSV)")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="center right", fontsize=8, title="call")
    fig.tight_layout(rect=(0, 0, 1 - 3.6 / fig.get_figwidth(), 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
