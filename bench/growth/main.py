"""``python -m bench growth``: options, both parts, the CSV/PNG outputs, the JSON result."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import (
    PLOT_HINT,
    RESULTS_DIR,
    add_common_options,
    begin,
    finish,
    int_list,
    out,
    pyplot,
    run,
    write_csv,
)
from bench.growth.read import READ_COLUMNS, reads_chart, reads_growth, reads_table
from bench.growth.record import RECORD_COLUMNS, record_chart, record_growth, record_table


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
