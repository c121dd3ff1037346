"""The record part: hook calls/s of the recorder benchmark's variants against concurrency;
its CSV columns, table and chart.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from bench import recorder as rec
from bench import workload as w
from bench.common import databases, out, table

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


COLORS = {"sqlite": "tab:blue", "postgres": "tab:orange"}


# The absolute throughput targets hold at concurrency 8 (200 runs x 8).
RECORD_TARGETS = {"sqlite": 2000, "postgres": 4300}


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
