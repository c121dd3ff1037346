"""Growth benchmark: recorder throughput as concurrency grows, read latency as the store grows.

    python -m bench growth [--part record|reads|both] [--dialect both]
                           [--concurrency 1,8,32,64] [--runs 200]
                           [--sizes 10000,100000,1000000] [--out DIR] [--json PATH]

* record: the recorder benchmark's workload and variants (`bench.recorder.bench_dialect`:
  statement audit, library and bare into fresh databases, exact verification, content
  comparison) at each concurrency; hook calls/s of both and their time ratio.
* reads: the reads benchmark's dataset (`bench.reads.generate_rows`, streamed in chunks so
  a million runs never sit in memory) at each size, and its calls (`bench.reads.build_calls`,
  timed by `bench.reads.measure`: library and bare interleaved); p50/p99 of both sides.

Writes ``growth-record.csv`` / ``growth-reads.csv`` (and a PNG chart each when matplotlib
is installed) into ``--out``. The plans, the parity and the statement audit of the reads
are the reads benchmark's job; here each call's row count is checked against the bare side.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import reads
from bench import recorder as rec
from bench import workload as w
from bench.common import (
    PLOT_HINT,
    RESULTS_DIR,
    add_common_options,
    begin,
    databases,
    finish,
    int_list,
    out,
    pyplot,
    run,
    table,
    write_csv,
)

RECORD_COLUMNS = (
    "dialect",
    "concurrency",
    "runs",
    "repeats",
    "library_hook_calls_per_s",
    "bare_hook_calls_per_s",
    "ratio",
    "library_message_p50_ms",
    "library_worst_hook_p99_ms",
    "bare_message_p50_ms",
    "bare_worst_hook_p99_ms",
    "verified",
)
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
COLORS = {"sqlite": "tab:blue", "postgres": "tab:orange"}
# The absolute throughput targets hold at concurrency 8 (200 runs x 8).
RECORD_TARGETS = {"sqlite": 2000, "postgres": 4300}


# ---------------------------------------------------------------------------
# record: hook calls/s against concurrency
# ---------------------------------------------------------------------------


def _record_row(dialect: str, concurrency: int, runs: int, res: dict[str, Any]) -> dict[str, Any]:
    reps = res["repeats"]

    def med(variant: str, kind: str, p: str) -> float:
        return float(statistics.median(x[variant]["latency_ms"][kind][p] for x in reps))

    row: dict[str, Any] = {
        "dialect": dialect,
        "concurrency": concurrency,
        "runs": runs,
        "repeats": len(reps),
        "library_hook_calls_per_s": res["median"]["library_hook_calls_per_s"],
        "bare_hook_calls_per_s": res["median"]["bare_hook_calls_per_s"],
        "ratio": res["median"]["ratio"],
        "verified": not res["failures"] and res["audit"]["identical_sql_sequence"],
    }
    for variant in ("library", "bare"):
        row[f"{variant}_message_p50_ms"] = med(variant, "message_appended", "p50")
        row[f"{variant}_worst_hook_p99_ms"] = max(med(variant, k, "p99") for k in w.HOOK_KINDS)
    return row


async def record_growth(
    dialects: list[str],
    cluster: Any,
    tmp: str,
    args: argparse.Namespace,
) -> tuple[list[dict[str, Any]], list[str]]:
    """One `bench_dialect` per (dialect, concurrency) on the same pre-generated runs."""
    specs = w.make_runs(args.runs, args.seed)
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    for dialect in dialects:
        dbs = databases(dialect, cluster, tmp)
        for concurrency in args.concurrency:
            out(f"\n[record] {dialect}, {args.runs} runs, concurrency {concurrency}")
            # the recorder benchmark's own options, defaults included, for this point
            point = rec.build_parser().parse_args(
                ["--runs", str(args.runs), "--concurrency", str(concurrency),
                 "--repeat", str(args.repeat), "--pg-settings", args.pg_settings]
            )  # fmt: skip
            res = await rec.bench_dialect(dbs, specs, point, out)
            rows.append(_record_row(dialect, concurrency, args.runs, res))
            failures += [f"record {dialect} C={concurrency}: {f}" for f in res["failures"]]
            if not res["audit"]["identical_sql_sequence"]:
                failures.append(f"record {dialect} C={concurrency}: statement audit differs")
    return rows, failures


def record_table(rows: list[dict[str, Any]]) -> str:
    headers = (
        "dialect",
        "C",
        "library/s",
        "bare/s",
        "lib/bare time",
        "lib msg p50",
        "lib worst p99",
        "bare msg p50",
        "bare worst p99",
        "verified",
    )
    return table(
        headers,
        (
            (
                r["dialect"],
                r["concurrency"],
                f"{r['library_hook_calls_per_s']:,.0f}",
                f"{r['bare_hook_calls_per_s']:,.0f}",
                f"{r['ratio']:.2f}x",
                f"{r['library_message_p50_ms']:.2f}",
                f"{r['library_worst_hook_p99_ms']:.2f}",
                f"{r['bare_message_p50_ms']:.2f}",
                f"{r['bare_worst_hook_p99_ms']:.2f}",
                "yes" if r["verified"] else "NO",
            )
            for r in rows
        ),
    )


def record_chart(plt: Any, rows: list[dict[str, Any]], path: Path) -> Path:
    fig, (calls, ratio) = plt.subplots(1, 2, figsize=(12, 4.8))
    for dialect in dict.fromkeys(r["dialect"] for r in rows):
        mine = [r for r in rows if r["dialect"] == dialect]
        xs = [r["concurrency"] for r in mine]
        color = COLORS.get(dialect)
        for variant, style in (("library", "-o"), ("bare", "--s")):
            ys = [r[f"{variant}_hook_calls_per_s"] for r in mine]
            calls.plot(xs, ys, style, color=color, label=f"{dialect} {variant}")
        if dialect in RECORD_TARGETS:
            calls.axhline(RECORD_TARGETS[dialect], color=color, linestyle=":", linewidth=1)
            calls.annotate(
                f"{dialect} target at C=8",
                (xs[0], RECORD_TARGETS[dialect]),
                textcoords="offset points",
                xytext=(2, 3),
                fontsize=8,
                color=color,
            )
        ratio.plot(xs, [r["ratio"] for r in mine], "-o", color=color, label=dialect)
    for ax in (calls, ratio):
        ax.set_xscale("log", base=2)
        ticks = sorted({r["concurrency"] for r in rows})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("runs recorded concurrently (C)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    calls.set_ylabel("hook calls / s")
    calls.set_ylim(bottom=0)
    calls.set_title(f"recorder throughput ({rows[0]['runs']} runs per point)")
    ratio.axhline(1.0, color="gray", linewidth=1)
    ratio.set_ylabel("library time / bare time (lower is better)")
    ratio.set_ylim(bottom=0)
    ratio.set_title("cost of the library over the bare driver")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------
# reads: latency against the number of runs in the store
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------


def write_outputs(
    name: str,
    columns: tuple[str, ...],
    rows: list[dict[str, Any]],
    chart: Callable[[Any, list[dict[str, Any]], Path], Path],
    out_dir: Path,
) -> dict[str, str]:
    """The CSV, and the chart when matplotlib is there (one line saying so when not)."""
    files = {"csv": str(write_csv(out_dir / f"{name}.csv", columns, rows))}
    plt = pyplot()
    if plt is None:
        out(f"  ({name} chart skipped: matplotlib is not installed; {PLOT_HINT})")
    elif rows:
        files["png"] = str(chart(plt, rows, out_dir / f"{name}.png"))
    out("  wrote " + ", ".join(files.values()))
    return files


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench growth")
    p.description = "Recorder throughput against concurrency; read latency against store size."
    p.add_argument("--part", choices=("record", "reads", "both"), default="both", help="(both)")
    p.add_argument(
        "--concurrency",
        type=int_list,
        default=[1, 8, 32, 64],
        help="record: concurrencies (1,8,32,64)",
    )
    p.add_argument("--runs", type=int, default=200, help="record: runs per point (200)")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="record: library/bare pairs per point; reads: timing repeats per size (1)",
    )
    p.add_argument(
        "--sizes",
        type=int_list,
        default=[10_000, 100_000, 1_000_000],
        help="reads: runs in the store (10000,100000,1000000)",
    )
    p.add_argument("--iterations", type=int, default=200, help="reads: timed calls per side (200)")
    p.add_argument("--warmup", type=int, default=20, help="reads: untimed calls per side (20)")
    p.add_argument(
        "--budget",
        type=float,
        default=20.0,
        help="reads: seconds per call and repeat, then fewer iterations (20)",
    )
    p.add_argument(
        "--stream-iterations",
        type=int,
        default=5,
        help="reads: timed stream_events pairs (10,000 events each) per repeat (5)",
    )
    p.add_argument(
        "--chunk",
        type=int,
        default=50_000,
        help="reads: runs generated and loaded at a time (50000)",
    )
    p.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help=f"CSV/PNG directory ({RESULTS_DIR})"
    )
    add_common_options(p)
    return p


async def _measure(
    args: argparse.Namespace, dialects: list[str], cluster: Any, tmp: str
) -> dict[str, Any]:
    result = begin("growth", args, "out")
    result["files"] = {}
    failures: list[str] = []
    report: list[str] = []
    if args.part in ("record", "both"):
        rows, problems = await record_growth(dialects, cluster, tmp, args)
        result["record"], failures = rows, failures + problems
        report += [
            "",
            f"== growth, record: hook calls/s, {args.runs} runs per point "
            f"(median of {args.repeat}); ms per hook await",
            record_table(rows),
        ]
        result["files"]["record"] = write_outputs(
            "growth-record", RECORD_COLUMNS, rows, record_chart, args.out
        )
    if args.part in ("reads", "both"):
        rows, loads, problems = await reads_growth(dialects, cluster, tmp, args)
        result["reads"], result["loads"], failures = rows, loads, failures + problems
        for dialect in dialects:
            report += ["", f"== growth, reads, {dialect}: ms per call (median of {args.repeat})"]
            report += [
                f"   {x['runs']:>9,} runs: generated {x['generate_s']:.1f} s, loaded + "
                f"analyzed {x['load_s']:.1f} s, {x['size_mb']:,.0f} MB"
                for x in loads
                if x["dialect"] == dialect
            ]
            report.append(reads_table(rows, dialect))
        result["files"]["reads"] = write_outputs(
            "growth-reads", READ_COLUMNS, rows, reads_chart, args.out
        )
    return finish(result, report, failures)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    counts = (args.runs, args.repeat, args.iterations, args.warmup, args.stream_iterations)
    if min(counts) < 1:
        print("--runs, --repeat, --(stream-)iterations, --warmup must be >= 1", file=sys.stderr)
        return 2
    if min(args.sizes) < 2 or args.chunk < 1:
        print("--sizes must be >= 2 and --chunk >= 1", file=sys.stderr)
        return 2
    return run(args, "growth", _measure)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
