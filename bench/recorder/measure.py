"""One dialect: the statement audit, then repeats of (library, bare) in alternating order,
each verified, the two compared.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable
from typing import Any

from bench import workload as w
from bench.recorder.databases import Databases, compare, verify
from bench.recorder.statements import audit
from bench.recorder.variants import Timing, run_bare, run_library


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def _variant_summary(t: Timing, runs: int) -> dict[str, Any]:
    hooks = runs * w.HOOK_CALLS_PER_RUN
    return {
        "wall_s": t.wall_s,
        "hook_calls": hooks,
        "hook_calls_per_s": hooks / t.wall_s,
        "loop_thread_cpu_s": t.loop_cpu_s,
        "process_cpu_s": t.process_cpu_s,
        "latency_ms": {
            kind: {
                "n": len(v),
                "p50": _pct(v, 0.50) * 1e3,
                "p99": _pct(v, 0.99) * 1e3,
                "mean": statistics.fmean(v) * 1e3,
            }
            for kind, v in t.latencies.items()
        },
    }


async def bench_dialect(
    dbs: Databases, specs: list[w.RunSpec], args: argparse.Namespace, out: Callable[[str], None]
) -> dict[str, Any]:
    runs = len(specs)
    audit_result = await audit(dbs, specs, args.concurrency)
    repeats: list[dict[str, Any]] = []
    failures: list[str] = []
    for r in range(1, args.repeat + 1):
        order = ("library", "bare") if r % 2 else ("bare", "library")
        result: dict[str, Any] = {"repeat": r, "order": list(order)}
        where: dict[str, str] = {}
        for variant in order:
            url, location = await dbs.fresh(f"bench_{variant}_{r}")
            where[variant] = location
            await dbs.before_variant()
            if variant == "library":
                timing = await run_library(url, specs, args.concurrency)
                statements = None
            else:
                timing, statements = await run_bare(dbs.dialect, location, specs, args.concurrency)
            summary = _variant_summary(timing, runs)
            summary["bare_units_sent"] = statements
            problems = await verify(dbs, location, runs)
            summary["verified"] = not problems
            failures += [f"repeat {r} {variant}: {p}" for p in problems]
            result[variant] = summary
            out(
                f"  repeat {r} {variant:<7} {timing.wall_s:8.2f} s  "
                f"{summary['hook_calls_per_s']:8.1f} hook calls/s  "
                f"{'verified' if not problems else 'VERIFICATION FAILED'}"
            )
        mismatch = await compare(dbs, where["library"], where["bare"])
        result["same_content"] = not mismatch
        failures += [f"repeat {r} content: {m}" for m in mismatch]
        result["ratio"] = result["library"]["wall_s"] / result["bare"]["wall_s"]
        repeats.append(result)
        for location in where.values():
            await dbs.drop(location)
    ratios = [x["ratio"] for x in repeats]
    return {
        "audit": audit_result,
        "repeats": repeats,
        "median": {
            "ratio": statistics.median(ratios),
            "library_hook_calls_per_s": statistics.median(
                x["library"]["hook_calls_per_s"] for x in repeats
            ),
            "bare_hook_calls_per_s": statistics.median(
                x["bare"]["hook_calls_per_s"] for x in repeats
            ),
            "library_wall_s": statistics.median(x["library"]["wall_s"] for x in repeats),
            "bare_wall_s": statistics.median(x["bare"]["wall_s"] for x in repeats),
        },
        "failures": failures,
    }
