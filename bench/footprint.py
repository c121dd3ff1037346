"""Footprint benchmark: what the library costs the process that embeds it.

    python -m bench footprint [--part import|rss|both] [--imports 15] [--runs 1000]
                              [--concurrency 8] [--dialect both] [--json PATH]

* import: ``python -X importtime -c "import dendrux.store"`` in ``--imports`` fresh
  interpreters (median of the cumulative time of ``dendrux.store``), the wall time of
  ``python -c "import dendrux.store"`` against ``python -c pass``, and whether a driver
  (asyncpg, aiosqlite) was imported: neither should be until a URL of its dialect is used.
* rss: a fresh interpreter per dialect and variant records ``--runs`` runs of the recorder
  benchmark's workload (`bench.recorder.run_library` / `run_bare`) at ``--concurrency``.
  Its baseline is taken after setup (imports, a warm-up recording of ``--concurrency`` runs
  into another database, the inputs of all runs generated), the peak high-water mark
  (``VmHWM``, reset to the current RSS through ``/proc/self/clear_refs`` at the baseline)
  at the end; the growth is peak minus baseline. The rows written are verified exactly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import recorder as rec
from bench import workload as w
from bench.common import add_common_options, begin, databases, finish, out, run, table

IMPORT_TARGET_MS = 60.0
RSS_TARGET_MB = 20.0  # MB = 10**6 bytes
DRIVERS = ("asyncpg", "aiosqlite")
MODULE = "dendrux.store"
DRIVER_CHECK = (
    f"import json, sys, {MODULE}; "
    f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {DRIVERS!r})))"
)
VARIANTS = ("library", "bare")


# ---------------------------------------------------------------------------
# import time
# ---------------------------------------------------------------------------


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=rec.REPO, capture_output=True, text=True, check=True
    )


def import_tree(stderr: str, module: str = MODULE) -> dict[str, tuple[int, int]]:
    """``module`` and everything it imported: name -> (self us, cumulative us), from the
    ``-X importtime`` report (post-order: a module's imports are the deeper-indented
    lines just above it)."""
    lines = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, cumulative, name = line[len("import time:") :].split("|")
        if not self_us.strip().isdigit():  # the header line
            continue
        depth = len(name) - len(name.lstrip(" "))
        lines.append((depth, name.strip(), int(self_us), int(cumulative)))
    end = max(i for i, line in enumerate(lines) if line[1] == module)
    top = lines[end][0]
    start = end
    while start > 0 and lines[start - 1][0] > top:
        start -= 1
    return {name: (self_us, cum) for _depth, name, self_us, cum in lines[start : end + 1]}


def import_footprint(runs: int) -> dict[str, Any]:
    """Medians over ``runs`` fresh interpreters each of: -X importtime, and the wall time of
    importing the module against an empty interpreter (their order alternating)."""
    # Bytecode compiled as a wheel install leaves it (compileall writes it even where
    # PYTHONDONTWRITEBYTECODE is set), and the files in the page cache.
    _python("-m", "compileall", "-q", str(rec.REPO / "dendrux"))
    _python("-c", f"import {MODULE}")
    trees: list[dict[str, tuple[int, int]]] = []
    walls: dict[str, list[float]] = {"import": [], "pass": []}
    codes = {"import": f"import {MODULE}", "pass": "pass"}
    for i in range(runs):
        trees.append(import_tree(_python("-X", "importtime", "-c", codes["import"]).stderr))
        for kind in ("import", "pass") if i % 2 == 0 else ("pass", "import"):
            t = time.perf_counter()
            _python("-c", codes[kind])
            walls[kind].append(time.perf_counter() - t)
    drivers = json.loads(_python("-c", DRIVER_CHECK).stdout)
    cumulative = [tree[MODULE][1] / 1e3 for tree in trees]
    common = set.intersection(*(set(t) for t in trees)) - {MODULE}
    heaviest = sorted(
        ((m, statistics.median(t[m][0] for t in trees) / 1e3) for m in common),
        key=lambda item: -item[1],
    )[:8]
    result = {
        "runs": runs,
        "cumulative_ms": statistics.median(cumulative),
        "cumulative_ms_all": cumulative,
        "self_ms": statistics.median(t[MODULE][0] for t in trees) / 1e3,
        "modules_imported": len(trees[0]),
        "heaviest_self_ms": dict(heaviest),
        "wall_import_ms": statistics.median(walls["import"]) * 1e3,
        "wall_pass_ms": statistics.median(walls["pass"]) * 1e3,
        "drivers_imported": drivers,
        "target_ms": IMPORT_TARGET_MS,
    }
    result["wall_added_ms"] = result["wall_import_ms"] - result["wall_pass_ms"]
    result["target_met"] = result["cumulative_ms"] < IMPORT_TARGET_MS
    out(
        f"  import {MODULE}: {result['cumulative_ms']:.1f} ms cumulative (-X importtime, "
        f"median of {runs}); drivers imported: {', '.join(drivers) or 'none'}"
    )
    return result


def import_report(r: dict[str, Any]) -> list[str]:
    cum = r["cumulative_ms_all"]
    return [
        "",
        f"== footprint: import {MODULE} ({r['runs']} fresh interpreters, medians)",
        f"   -X importtime cumulative {r['cumulative_ms']:.1f} ms (min {min(cum):.1f}, max "
        f"{max(cum):.1f}; its own module {r['self_ms']:.1f} ms; {r['modules_imported']} modules "
        f"in its tree); target < {IMPORT_TARGET_MS:g} ms: "
        f"{'met' if r['target_met'] else 'NOT met'}",
        f"   wall time: python -c 'import {MODULE}' {r['wall_import_ms']:.1f} ms, python -c pass "
        f"{r['wall_pass_ms']:.1f} ms: the import adds {r['wall_added_ms']:.1f} ms",
        f"   drivers in sys.modules after the import: {', '.join(r['drivers_imported']) or 'none'}"
        f" (target: none of {', '.join(DRIVERS)}: "
        f"{'NOT met' if r['drivers_imported'] else 'met'})",
        "   heaviest imports in its tree (median self ms): "
        + ", ".join(f"{m} {ms:.1f}" for m, ms in r["heaviest_self_ms"].items()),
    ]


# ---------------------------------------------------------------------------
# peak RSS of a recording (the child process)
# ---------------------------------------------------------------------------


def proc_status() -> dict[str, int]:
    """The Vm* lines of /proc/self/status, in kB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Vm"):
            fields[key] = int(value.split()[0])
    return fields


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the peak is the recording's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssSampler(threading.Thread):
    """The highest VmRSS seen every ``interval_s``: a cross-check of VmHWM, which the
    kernel updates lazily (memory handed back without an unmap can leave it short)."""

    def __init__(self, interval_s: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.peak_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while True:
            self.peak_kb = max(self.peak_kb, proc_status()["VmRSS"])
            if self.done.wait(self.interval_s):
                return

    def stop(self) -> int:
        self.done.set()
        self.join()
        return self.peak_kb


async def record(
    variant: str, dialect: str, url: str, location: str, specs: list[w.RunSpec], concurrency: int
) -> rec.Timing:
    if variant == "library":
        return await rec.run_library(url, specs, concurrency)
    timing, _statements = await rec.run_bare(dialect, location, specs, concurrency)
    return timing


async def rss_child(p: dict[str, Any]) -> dict[str, Any]:
    """Set up, take the baseline, record ``p['runs']`` runs, read the peak."""
    c = p["concurrency"]
    warm = w.make_runs(c, p["seed"] + 1)
    await record(p["variant"], p["dialect"], p["warm_url"], p["warm_location"], warm, c)
    specs = w.make_runs(p["runs"], p["seed"])
    del warm
    gc.collect()
    sampler = RssSampler()
    sampler.start()  # before the baseline: its own thread is setup, not growth
    reset = reset_peak()
    before = proc_status()
    sampler.peak_kb = 0
    try:
        timing = await record(p["variant"], p["dialect"], p["url"], p["location"], specs, c)
    finally:
        sampled = sampler.stop()
    after = proc_status()
    return {
        "baseline_rss_kb": before["VmRSS"],
        # the recording's peak is at least where it started
        "peak_rss_kb": max(after["VmHWM"], sampled, before["VmRSS"]),
        "hwm_kb": after["VmHWM"],
        "sampled_peak_kb": sampled,
        "end_rss_kb": after["VmRSS"],
        "peak_reset": reset,
        "wall_s": timing.wall_s,
        "hook_calls_per_s": p["runs"] * w.HOOK_CALLS_PER_RUN / timing.wall_s,
    }


# ---------------------------------------------------------------------------
# peak RSS (the parent)
# ---------------------------------------------------------------------------


async def _child(params: dict[str, Any]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.footprint",
        "--rss-child",
        json.dumps(params),
        cwd=rec.REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await proc.communicate()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"exit status {proc.returncode}: {stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(stdout.decode().splitlines()[-1])
    return result


async def rss_footprint(
    dialects: list[str],
    cluster: Any,
    tmp: str,
    args: argparse.Namespace,
) -> tuple[list[dict[str, Any]], list[str]]:
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    for dialect in dialects:
        dbs = databases(dialect, cluster, tmp)
        for variant in VARIANTS:
            url, location = await dbs.fresh(f"bench_rss_{variant}")
            warm_url, warm_location = await dbs.fresh(f"bench_rss_warm_{variant}")
            params = {
                "variant": variant,
                "dialect": dialect,
                "url": url,
                "location": location,
                "warm_url": warm_url,
                "warm_location": warm_location,
                "runs": args.runs,
                "concurrency": args.concurrency,
                "seed": args.seed,
            }
            out(f"  [rss] {dialect} {variant}: {args.runs} runs, concurrency {args.concurrency}")
            row: dict[str, Any] = {"dialect": dialect, "variant": variant, "verified": False}
            try:
                row.update(await _child(params))
                problems = await rec.verify(dbs, location, args.runs)
                row["verified"] = not problems
                failures += [f"rss {dialect} {variant}: {p}" for p in problems]
            except (RuntimeError, ValueError, OSError) as exc:
                failures.append(f"rss {dialect} {variant}: the recording process failed: {exc}")
            finally:
                await dbs.drop(location)
                await dbs.drop(warm_location)
            if "peak_rss_kb" in row:
                row["growth_mb"] = (row["peak_rss_kb"] - row["baseline_rss_kb"]) * 1024 / 1e6
                row["target_met"] = row["growth_mb"] < RSS_TARGET_MB
            rows.append(row)
    for dialect in dialects:
        lib, bare = (
            next(r for r in rows if r["dialect"] == dialect and r["variant"] == v) for v in VARIANTS
        )
        if "growth_mb" in lib and "growth_mb" in bare:
            lib["ratio_vs_bare"] = lib["growth_mb"] / max(bare["growth_mb"], 0.1)
    return rows, failures


def rss_report(rows: list[dict[str, Any]], runs: int, concurrency: int) -> list[str]:
    def mb(kb: int) -> str:
        return f"{kb * 1024 / 1e6:.1f}"

    body = [
        (
            r["dialect"],
            r["variant"],
            mb(r["baseline_rss_kb"]),
            mb(r["peak_rss_kb"]),
            f"{r['growth_mb']:.1f}",
            mb(r["end_rss_kb"]),
            f"{r['hook_calls_per_s']:,.0f}",
            "yes" if r["verified"] else "NO",
            ("met" if r["target_met"] else "NOT met") if r["variant"] == "library" else "",
        )
        for r in rows
        if "growth_mb" in r
    ]
    return [
        "",
        f"== footprint: peak RSS growth of a {runs}-run recording, concurrency {concurrency} "
        "(MB = 10^6 bytes; a fresh process each)",
        table(
            (
                "dialect",
                "variant",
                "baseline",
                "peak",
                "growth",
                "end",
                "hook calls/s",
                "verified",
                f"target < {RSS_TARGET_MB:g} MB",
            ),
            body,
        ),
        "   baseline: after imports, a warm-up recording and generating every run's inputs; "
        "peak: VmHWM (reset at the baseline) or VmRSS sampled every 10 ms, the higher"
        + (
            ""
            if all(r.get("peak_reset", True) for r in rows)
            else " (reset NOT available here: the peak may predate the recording)"
        ),
    ]


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench footprint")
    p.description = "Import time of dendrux.store and peak RSS growth of a recording."
    p.add_argument("--part", choices=("import", "rss", "both"), default="both", help="(both)")
    p.add_argument("--imports", type=int, default=15, help="fresh interpreters timed (15)")
    p.add_argument("--runs", type=int, default=1000, help="rss: runs recorded (1000)")
    p.add_argument("--concurrency", type=int, default=8, help="rss: runs in flight (8)")
    add_common_options(p)
    p.add_argument("--rss-child", metavar="JSON", help=argparse.SUPPRESS)
    return p


async def _measure(
    args: argparse.Namespace, dialects: list[str], cluster: Any, tmp: str
) -> dict[str, Any]:
    result = begin("footprint", args, "rss_child")
    result["targets"] = {"import_ms": IMPORT_TARGET_MS, "rss_growth_mb": RSS_TARGET_MB}
    report: list[str] = []
    failures: list[str] = []
    if args.part in ("import", "both"):
        result["import"] = import_footprint(args.imports)
        report += import_report(result["import"])
    if args.part in ("rss", "both"):
        rows, failures = await rss_footprint(dialects, cluster, tmp, args)
        result["rss"] = rows
        report += rss_report(rows, args.runs, args.concurrency)
    return finish(result, report, failures)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rss_child:
        print(json.dumps(asyncio.run(rss_child(json.loads(args.rss_child)))))
        return 0
    if args.imports < 1 or args.runs < 1 or args.concurrency < 1:
        print("--imports, --runs and --concurrency must be >= 1", file=sys.stderr)
        return 2
    if args.part == "import":  # no database involved: no PostgreSQL to start
        args.dialect = "sqlite"
    return run(args, "footprint", _measure)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
