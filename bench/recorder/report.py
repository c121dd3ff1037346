"""The readable report of one dialect, and the machine description every benchmark prints."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sqlite3
import statistics
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import workload as w

TARGET_RATIO = 1.5


REPO = Path(__file__).resolve().parent.parent.parent


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        nproc = os.cpu_count() or 0
    commit = "unknown"
    with contextlib.suppress(Exception):
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "dendrux", "sql"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if dirty:
            commit += " (+ uncommitted changes in dendrux/ or sql/)"
    return {
        "nproc": nproc,
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "aiosqlite": metadata.version("aiosqlite"),
        "asyncpg": metadata.version("asyncpg"),
        "dendrux_commit": commit,
        "tmpdir": tempfile.gettempdir(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _fmt_ratio(x: float) -> str:
    return f"{x:.2f}x"


def report_dialect(
    dialect: str, settings: str, res: dict[str, Any], runs: int, args: argparse.Namespace
) -> list[str]:
    reps = res["repeats"]
    n = len(reps)
    lines = [
        "",
        f"== {dialect}: {settings}",
        f"   runs={runs} concurrency={args.concurrency} repeats={n}; per variant: "
        f"{runs * w.HOOK_CALLS_PER_RUN} hook calls, "
        f"{runs * sum(w.ROWS_PER_RUN.values())} rows inserted "
        f"({', '.join(f'{t} {runs * k}' for t, k in w.ROWS_PER_RUN.items())}), "
        f"{runs * w.UPDATES_PER_RUN} rows updated, {runs * w.UNITS_PER_RUN} write units "
        f"({'group-committed' if dialect == 'sqlite' else 'one statement and commit each'})",
    ]
    head = "".join(f"{'repeat ' + str(x['repeat']):>22}" for x in reps) + f"{'median':>22}"
    lines.append(f"   {'':<18}{head}")
    for variant in ("library", "bare"):
        cells = "".join(
            f"{x[variant]['wall_s']:8.2f} s {x[variant]['hook_calls_per_s']:7.0f}/s".rjust(22)
            for x in reps
        )
        med = res["median"]
        cells += (
            f"{med[variant + '_wall_s']:8.2f} s {med[variant + '_hook_calls_per_s']:7.0f}/s"
        ).rjust(22)
        lines.append(f"   {variant:<18}{cells}")
    for variant in ("library", "bare"):
        cells = "".join(
            f"{x[variant]['loop_thread_cpu_s']:6.2f} / {x[variant]['process_cpu_s']:5.2f} s".rjust(
                22
            )
            for x in reps
        )
        mloop = statistics.median(x[variant]["loop_thread_cpu_s"] for x in reps)
        mproc = statistics.median(x[variant]["process_cpu_s"] for x in reps)
        cells += f"{mloop:6.2f} / {mproc:5.2f} s".rjust(22)
        lines.append(f"   {variant + ' cpu':<18}{cells}")
    ratio_cells = "".join(_fmt_ratio(x["ratio"]).rjust(22) for x in reps)
    ratio_cells += _fmt_ratio(res["median"]["ratio"]).rjust(22)
    lines.append(f"   {'ratio lib/bare':<18}{ratio_cells}")
    med_ratio = res["median"]["ratio"]
    verdict = "met" if med_ratio <= TARGET_RATIO else "NOT met"
    cpu_ratios = [x["library"]["loop_thread_cpu_s"] / x["bare"]["loop_thread_cpu_s"] for x in reps]
    lines.append(
        f"   {'loop cpu lib/bare':<18}"
        + "".join(_fmt_ratio(c).rjust(22) for c in cpu_ratios)
        + _fmt_ratio(statistics.median(cpu_ratios)).rjust(22)
    )
    lines.append(
        "   (cpu: CPU seconds of the event-loop thread / of the whole process, during the run;"
        " the loop cpu ratio is the library's extra Python work, insensitive to disk noise)"
    )
    lines.append(
        f"   time ratio library/bare (lower is better): median {_fmt_ratio(med_ratio)}; "
        f"target <= {TARGET_RATIO:.1f}x {verdict}"
    )
    lines.append("")
    lines.append("   latency per call, ms (median over repeats of each repeat's p50 / p99)")
    lines.append(
        f"   {'kind':<28}{'calls/run':>10}{'lib p50':>10}{'lib p99':>10}"
        f"{'bare p50':>10}{'bare p99':>10}{'p50 ratio':>11}"
    )
    per_run = {**w.HOOKS_PER_RUN, "create_run": 1, "finalize_run": 1}
    for kind in (*w.HOOK_KINDS, *w.OTHER_KINDS):

        def med(variant: str, p: str, kind: str = kind) -> float:
            return statistics.median(x[variant]["latency_ms"][kind][p] for x in reps)

        label = kind if kind in w.HOOK_KINDS else f"{kind} (not a hook)"
        lp50, lp99, bp50, bp99 = (
            med("library", "p50"),
            med("library", "p99"),
            med("bare", "p50"),
            med("bare", "p99"),
        )
        lines.append(
            f"   {label:<28}{per_run[kind]:>10}{lp50:>10.2f}{lp99:>10.2f}{bp50:>10.2f}"
            f"{bp99:>10.2f}{_fmt_ratio(lp50 / bp50):>11}"
        )
    a = res["audit"]
    lines.append("")
    lines.append(
        f"   statement audit (1 run, concurrency 1): library {a['library_statements']} "
        f"statements, bare {a['bare_statements']} (expected {a['expected_statements']}); "
        f"identical SQL sequence: {'yes' if a['identical_sql_sequence'] else 'NO'}"
        + (
            f"; pool reset queries library {a['pool_reset_queries']['library']} / bare "
            f"{a['pool_reset_queries']['bare']}; reader wake-ups (apart, timing-dependent) "
            f"library {a.get('wake_ups', {}).get('library', 0)} / bare "
            f"{a.get('wake_ups', {}).get('bare', 0)}"
            if dialect == "postgres"
            else ""
        )
    )
    if a["first_difference"]:
        lines.append(f"     first difference: {a['first_difference']}")
    if "group_commit" in a:
        g = a["group_commit"]
        lines.append(
            f"   group commit (library, {g['runs']} runs at concurrency {g['concurrency']}): "
            f"{g['units']} write units in {g['commits']} commits = "
            f"{g['units_per_commit']:.1f} units per commit (one fsync each)"
            + (
                f"; plus {g['wake_ups']} reader wake-ups, committed without waiting for fsync"
                if g.get("wake_ups")
                else ""
            )
        )
    ok = all(x["library"]["verified"] and x["bare"]["verified"] for x in reps)
    same = all(x["same_content"] for x in reps)
    lines.append(
        f"   verified after every variant: exact row counts, gap-free sequences, correlations "
        f"join: {'yes' if ok else 'NO'}; library rows == bare rows (content): "
        f"{'yes' if same else 'NO'}"
    )
    for failure in res["failures"]:
        lines.append(f"   FAILURE {failure}")
    return lines
