"""``python -m bench writers``: options, the points over dialects, variants and process
counts, the table, the JSON result."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench import workload as w
from bench.common import add_common_options, begin, databases, finish, int_list, out, run, table
from bench.writers.measure import run_point


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench writers")
    p.description = (
        "N writer processes record distinct runs into one database at once (PostgreSQL, "
        "and one SQLite file in WAL with synchronous=FULL): aggregate hook calls/s, exact "
        "row checks, where the time goes."
    )
    p.add_argument(
        "--processes", type=int_list, default=[1, 2, 4, 8], help="process counts (1,2,4,8)"
    )
    p.add_argument("--runs", type=int, default=200, help="runs recorded by each process (200)")
    p.add_argument("--concurrency", type=int, default=8, help="runs in flight in each process (8)")
    p.add_argument(
        "--bare",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also the bare-driver reference at each point (on)",
    )
    add_common_options(p)
    return p


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.0f}%"


def writers_table(rows: list[dict[str, Any]]) -> str:
    """One line per point; scaling = aggregate / the same variant's one-process aggregate."""
    first = {(r["dialect"], r["variant"]): r["hook_calls_per_s"] for r in rows
             if r["processes"] == min(x["processes"] for x in rows)}  # fmt: skip
    headers = ("dialect", "variant", "P", "hook calls/s", "scaling", "per process /s",
               "CPU ms/hook", "cores used", "machine busy", "lock wait", "hooks/commit",
               "WAL fsyncs", "retries", "errors", "verified")  # fmt: skip
    return table(
        headers,
        (
            (
                r["dialect"],
                r["variant"],
                r["processes"],
                f"{r['hook_calls_per_s']:,.0f}",
                f"{r['hook_calls_per_s'] / first[r['dialect'], r['variant']]:.2f}x"
                if first.get((r["dialect"], r["variant"]))
                else "",
                f"{r['per_process_min']:,.0f}-{r['per_process_max']:,.0f}",
                f"{r['cpu_ms_per_hook']:.2f}",
                f"{r['cores_used']:.2f}",
                f"{r['machine_busy_cores']:.2f}",
                _pct(r.get("lock_wait_share")),
                f"{r['hooks_per_commit']:.1f}" if r.get("hooks_per_commit") else "",
                f"{r['wal_syncs']:,}" if "wal_syncs" in r else "",
                r["retries"] + r["skipped"],
                r["errors"],
                "yes" if r["verified"] else "NO",
            )
            for r in rows
        ),
        align="lllrrrrrrrrrrrl",
    )


async def _measure(
    args: argparse.Namespace, dialects: list[str], cluster: Any, tmp: str
) -> dict[str, Any]:
    result = begin("writers", args)
    result["params"]["hook_calls_per_run"] = w.HOOK_CALLS_PER_RUN
    variants = ["library", "bare"] if args.bare else ["library"]
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    for dialect in dialects:
        dbs = databases(dialect, cluster, tmp)
        for processes in args.processes:
            for variant in variants:
                out(f"\n[writers] {dialect} {variant}: {processes} process(es) x {args.runs} "
                    f"runs x {args.concurrency} in flight")  # fmt: skip
                row, problems = await run_point(args, dbs, cluster, variant, processes)
                out(f"   {row['hook_calls_per_s']:,.0f} hook calls/s in {row['wall_s']:.1f} s; "
                    f"verified: {'yes' if not problems else 'NO'}")  # fmt: skip
                rows.append(row)
                failures += [f"{dialect} {variant} P={processes}: {p}" for p in problems]
    result["points"] = rows
    report = [
        "",
        f"== writers: P processes x {args.runs} runs x {args.concurrency} in flight each, "
        f"{w.HOOK_CALLS_PER_RUN} hook calls per run, one database per point",
        writers_table(rows),
        "   (CPU ms/hook: the writer processes' CPU plus the PostgreSQL server's, per hook call;"
        " cores used: that CPU / wall time; machine busy: every process on the machine;"
        " lock wait: share of the writers' time spent taking SQLite's write lock;"
        " retries: retried or skipped writes the caller never saw)",
    ]
    return finish(result, report, failures)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.runs < 1 or args.concurrency < 1:
        print("--runs and --concurrency must be >= 1", file=sys.stderr)
        return 2
    return run(args, "writers", _measure)
