"""``python -m bench`` (= ``make bench``): every benchmark of the performance issue, on both
dialects, then one table of its targets.

    python -m bench [--quick] [--out DIR]
                    [--parts calibrate,recorder,reads,growth,footprint,writers,stats,listpage,
                             dashboard,upstream]
                    [--dialect both] [--pg-settings durable|test]

Each part runs as its own ``python -m bench <part> --json DIR/<part>.json`` process (a
fresh interpreter and its own throwaway PostgreSQL), so one part failing, or a crash,
cannot take the others with it: it is reported, the rest still run, and the exit status is
non-zero. Afterwards the summary (every target: figure, target, measured, met, ratio
against the bare driver where there is one) is printed and written as ``latest.json``
(with every part's full result) and ``latest.md`` (the table, to paste into the README).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, machine_line, table
from bench.dashboard.main import summary as dashboard_summary
from bench.recorder import REPO, machine_info
from bench.stats.summary import stats_rows
from bench.upstream.report import summary as upstream_summary

PARTS = (
    "calibrate", "recorder", "reads", "growth", "footprint", "writers", "stats", "listpage",
    "dashboard", "upstream",
)  # fmt: skip
# The sizes (each part's defaults), and a smoke run of everything.
FULL: dict[str, list[str]] = {
    "calibrate": [],
    "recorder": ["--runs", "200", "--concurrency", "8", "--repeat", "3"],
    "reads": ["--runs", "100000", "--repeat", "3"],
    "growth": [],
    "footprint": [],
    "writers": [],
    "stats": [],
    "listpage": [],
    "dashboard": [],
    "upstream": [],
}
QUICK: dict[str, list[str]] = {
    "calibrate": ["--transactions", "200", "--repeat", "1"],
    "recorder": ["--runs", "4", "--repeat", "1"],
    "reads": ["--runs", "300", "--repeat", "1", "--iterations", "3", "--warmup", "1"],
    "growth": ["--runs", "4", "--concurrency", "1,4", "--sizes", "200,500", "--iterations", "3",
               "--warmup", "1", "--stream-iterations", "1"],
    "footprint": ["--imports", "2", "--runs", "10", "--concurrency", "4"],
    "writers": ["--processes", "1,2", "--runs", "3", "--concurrency", "2"],
    "stats": ["--runs", "3000", "--iterations", "3", "--warmup", "1"],
    "listpage": ["--runs", "300", "--iterations", "3", "--warmup", "1"],
    "dashboard": ["--iterations", "100", "--loads", "1"],
    "upstream": ["--quick"],
}  # fmt: skip
TARGETS = {
    "sqlite_hook_calls_per_s": 2000.0,
    "postgres_hook_calls_per_s": 4300.0,
    "read_ratio": 1.3,
    "metadata_filter_p50_ms": 1.0,
    "stream_memory_vs_bare": 1.5,
}
DIALECT_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


# ---------------------------------------------------------------------------
# running the parts
# ---------------------------------------------------------------------------


@dataclass
class Part:
    name: str
    command: list[str]
    exit_status: int | None = None
    seconds: float = 0.0
    result: dict[str, Any] | None = None
    error: str | None = None


def run_part(name: str, argv: list[str], out_dir: Path) -> Part:
    """``python -m bench <name> ...`` in a child process, its output passed through; a
    SIGTERM to the suite is passed on to it (it then cleans up its cluster)."""
    path = out_dir / f"{name}.json"
    path.unlink(missing_ok=True)  # never summarise a stale result
    extra = ["--out", str(out_dir)] if name == "growth" else []
    part = Part(name, [sys.executable, "-m", "bench", name, *argv, *extra, "--json", str(path)])
    print(f"\n######## {name}: {' '.join(part.command[1:])}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(part.command, cwd=REPO)

    def terminate(signum: int, frame: Any) -> None:
        proc.terminate()  # the child stops its cluster and removes its files
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        part.exit_status = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reaches the child too: let it clean up first
        proc.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    part.seconds = time.perf_counter() - t0
    read_result(part, path)
    if part.exit_status != 0:
        part.error = part.error or f"exit status {part.exit_status}"
    return part


def read_result(part: Part, path: Path) -> Part:
    """The part's JSON result, when it wrote one."""
    if path.exists():
        try:
            part.result = json.loads(path.read_text())
        except ValueError as exc:
            part.error = f"unreadable JSON result: {exc}"
    elif part.exit_status is None:
        part.error = f"no result in {path}"
    return part


# ---------------------------------------------------------------------------
# the summary: one row per target of the issue
# ---------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    target: str
    measured: str = "n/a"
    met: bool | None = None
    vs_bare: str = ""
    part: str = ""
    info: bool = False  # no target: shown for context

    @property
    def verdict(self) -> str:
        if self.info:
            return "-"
        return {True: "met", False: "NOT met", None: "n/a"}[self.met]


def _kib(n: float) -> str:
    return f"{n / 1024:,.0f} KiB" if n < 10 * 1024 * 1024 else f"{n / 1048576:,.1f} MiB"


def recorder_rows(r: dict[str, Any]) -> list[Row]:
    rows = []
    p = r["params"]
    for dialect in ("sqlite", "postgres"):
        target = TARGETS[f"{dialect}_hook_calls_per_s"]
        row = Row(
            f"{DIALECT_NAMES[dialect]} recorder hook calls/s, {p['runs']} runs x "
            f"{p['concurrency']}" + (", synchronous=FULL" if dialect == "sqlite" else ""),
            f">= {target:,.0f}/s",
            part="recorder",
        )
        rows.append(row)
        d = r["dialects"].get(dialect)
        if d is None:
            continue
        med = d["median"]
        each = [f"{x['library']['hook_calls_per_s']:,.0f}" for x in d["repeats"]]
        row.measured = f"{med['library_hook_calls_per_s']:,.0f}/s" + (
            f" (median of {' / '.join(each)})" if len(each) > 1 else " (1 repeat)"
        )
        row.met = med["library_hook_calls_per_s"] >= target
        row.vs_bare = f"{med['ratio']:.2f}x time (bare {med['bare_hook_calls_per_s']:,.0f}/s)"
    return rows


def reads_rows(r: dict[str, Any]) -> list[Row]:
    runs = r["params"]["runs"]
    rows = []
    for dialect in ("sqlite", "postgres"):
        name = DIALECT_NAMES[dialect]
        within = Row(
            f"{name}: every RunStore read within {TARGETS['read_ratio']}x of the bare driver "
            f"(p50, {runs:,} runs)",
            f"<= {TARGETS['read_ratio']}x each",
            part="reads",
        )
        memory = Row(
            f"{name}: stream_events of 10,000 events, peak memory (one page at a time)",
            f"<= {TARGETS['stream_memory_vs_bare']}x bare paging",
            part="reads",
        )
        rows += [within, memory]
        d = r["dialects"].get(dialect)
        if d is None:
            continue
        ratios = {c["label"]: c["ratio_p50"] for c in d["calls"].values()}
        ratios["stream_events(run)"] = d["stream"]["ratio"]
        worst = max(ratios, key=lambda k: ratios[k])
        over = sum(v > TARGETS["read_ratio"] for v in ratios.values())
        within.measured = f"{over} of {len(ratios)} over; worst {worst}"
        within.met = over == 0
        within.vs_bare = (
            f"worst {ratios[worst]:.2f}x, median {statistics.median(ratios.values()):.2f}x"
        )
        m = d["memory_peak_growth_bytes"]
        vs = m["stream_events_library"] / m["stream_bare"]
        memory.measured = (
            f"{_kib(m['stream_events_library'])} (all at once: {_kib(m['get_events_all_library'])})"
        )
        memory.met = vs <= TARGETS["stream_memory_vs_bare"]
        memory.vs_bare = f"{vs:.2f}x (bare {_kib(m['stream_bare'])})"
        if dialect == "postgres":
            call = d["calls"]["list_runs_thread"]
            target = TARGETS["metadata_filter_p50_ms"]
            rows.append(
                Row(
                    f"PostgreSQL list_runs(metadata_filter=...) p50 at {runs:,} runs",
                    f"< {target:g} ms",
                    f"{call['library_p50_ms']:.2f} ms (p99 {call['library_p99_ms']:.2f})",
                    call["library_p50_ms"] < target,
                    f"{call['ratio_p50']:.2f}x (bare {call['bare_p50_ms']:.2f} ms)",
                    "reads",
                )
            )
    return rows


def footprint_rows(r: dict[str, Any]) -> list[Row]:
    rows = []
    if (imp := r.get("import")) is not None:
        rows.append(
            Row(
                f"import dendrux.store (-X importtime, median of {imp['runs']})",
                f"< {imp['target_ms']:g} ms",
                f"{imp['cumulative_ms']:.1f} ms (wall +{imp['wall_added_ms']:.0f} ms over "
                "python -c pass)",
                imp["target_met"],
                part="footprint",
            )
        )
        rows.append(
            Row(
                "drivers imported by import dendrux.store",
                "none",
                ", ".join(imp["drivers_imported"]) or "none",
                not imp["drivers_imported"],
                part="footprint",
            )
        )
    runs = r["params"]["runs"]
    for dialect in ("sqlite", "postgres"):
        row = Row(
            f"{DIALECT_NAMES[dialect]}: peak RSS growth of a {runs:,}-run recording "
            f"(C={r['params']['concurrency']})",
            f"< {r['targets']['rss_growth_mb']:g} MB",
            part="footprint",
        )
        rows.append(row)
        mine = {x["variant"]: x for x in r.get("rss", []) if x["dialect"] == dialect}
        lib, bare = mine.get("library", {}), mine.get("bare", {})
        if "growth_mb" in lib:
            row.measured, row.met = f"{lib['growth_mb']:.1f} MB", lib["target_met"]
        if "ratio_vs_bare" in lib:
            row.vs_bare = f"{lib['ratio_vs_bare']:.2f}x (bare {bare['growth_mb']:.1f} MB)"
    return rows


def growth_rows(r: dict[str, Any]) -> list[Row]:
    """Not targets: how the figures move with concurrency and store size, in one line each."""
    rows = []
    for dialect in ("sqlite", "postgres"):
        points = [x for x in r.get("record", []) if x["dialect"] == dialect]
        if points:
            rows.append(
                Row(
                    f"{DIALECT_NAMES[dialect]} hook calls/s at C = "
                    + ", ".join(str(x["concurrency"]) for x in points),
                    "(growth)",
                    " / ".join(f"{x['library_hook_calls_per_s']:,.0f}" for x in points),
                    vs_bare=" / ".join(f"{x['ratio']:.2f}x" for x in points),
                    part="growth",
                    info=True,
                )
            )
        calls = [x for x in r.get("reads", []) if x["dialect"] == dialect]
        if calls:
            small, large = min(x["runs"] for x in calls), max(x["runs"] for x in calls)
            p50 = {(x["call"], x["runs"]): x for x in calls}
            labels = {x["call"]: x["label"] for x in calls}
            factor = {c: p50[c, large]["library_p50_ms"] / p50[c, small]["library_p50_ms"]
                      for c in labels}  # fmt: skip
            worst = max(factor, key=lambda c: factor[c])
            rows.append(
                Row(
                    f"{DIALECT_NAMES[dialect]} read p50 from {small:,} to {large:,} runs",
                    "(growth)",
                    f"most growth: {labels[worst]} {p50[worst, small]['library_p50_ms']:.2f} -> "
                    f"{p50[worst, large]['library_p50_ms']:.2f} ms",
                    vs_bare=f"ratio at {large:,}: worst "
                    f"{max(p50[c, large]['ratio_p50'] for c in labels):.2f}x",
                    part="growth",
                    info=True,
                )
            )
    return rows


def calibrate_rows(r: dict[str, Any]) -> list[Row]:
    """Context: the bare drivers on this machine against the issue's reference machine."""
    return [
        Row(
            f"calibration: {f['label']}",
            f"(reference {f['reference']:,.0f})",
            f"{f['median']:,.0f} = {f['factor']:.2f}x the reference",
            part="calibrate",
            info=True,
        )
        for f in r["figures"]
    ]


# The calibration figure a dialect's recorder target scales by: PostgreSQL's hooks are
# one transaction each, SQLite's share commits.
SCALED_BY = {"postgres": "postgres_two_insert_tx_per_s", "sqlite": "sqlite_grouped_rows_per_s"}


def scaled_rows(calibrate: dict[str, Any], recorder: dict[str, Any]) -> list[Row]:
    """Context: each recorder target times this machine's calibration factor."""
    factors = {f["figure"]: f["factor"] for f in calibrate["figures"]}
    rows = []
    for dialect, figure in SCALED_BY.items():
        d = recorder["dialects"].get(dialect)
        if d is None or figure not in factors:
            continue
        scaled = TARGETS[f"{dialect}_hook_calls_per_s"] * factors[figure]
        got = d["median"]["library_hook_calls_per_s"]
        rows.append(
            Row(
                f"{DIALECT_NAMES[dialect]} recorder target scaled to this machine "
                f"(x {factors[figure]:.2f}, calibration)",
                "(context)",
                f"{scaled:,.0f}/s: measured {got:,.0f}/s = {got / scaled:.2f}x of it",
                part="calibrate",
                info=True,
            )
        )
    return rows


def writers_rows(r: dict[str, Any]) -> list[Row]:
    """Context: aggregate hook calls/s as writer processes are added (bench.writers)."""
    rows = []
    for dialect in ("sqlite", "postgres"):
        lib = [x for x in r["points"] if x["dialect"] == dialect and x["variant"] == "library"]
        bare = [x for x in r["points"] if x["dialect"] == dialect and x["variant"] == "bare"]
        if lib:
            rows.append(
                Row(
                    f"{DIALECT_NAMES[dialect]} hook calls/s, one database, P = "
                    + ", ".join(str(x["processes"]) for x in lib)
                    + " writer processes",
                    "(scaling)",
                    " / ".join(f"{x['hook_calls_per_s']:,.0f}" for x in lib),
                    vs_bare="bare " + " / ".join(f"{x['hook_calls_per_s']:,.0f}" for x in bare),
                    part="writers",
                    info=True,
                )
            )
    return rows


def listpage_rows(r: dict[str, Any]) -> list[Row]:
    """The runs list's request p50 at 1M runs (bench.listpage)."""
    from bench.listpage.main import summary

    return [Row(**row, part="listpage") for row in summary(r)]


SUMMARIES: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "recorder": recorder_rows,
    "reads": reads_rows,
    "footprint": footprint_rows,
    "growth": growth_rows,
    "calibrate": calibrate_rows,
    "writers": writers_rows,
    "stats": stats_rows,
    "listpage": listpage_rows,
    "dashboard": lambda r: [Row(*row, part="dashboard") for row in dashboard_summary(r)],
    "upstream": lambda r: [
        Row(*row, part="upstream", info=row[3] is None) for row in upstream_summary(r)
    ],
}


def summarize(parts: dict[str, Part]) -> list[Row]:
    """Every target's row; a part that did not run, failed before writing its result, or
    whose result lacks a figure gives rows that say so instead of failing the summary."""
    rows: list[Row] = []
    for name, rows_of in SUMMARIES.items():
        part = parts.get(name)
        why = "not run" if part is None else (part.error or "no result")
        if part is not None and part.result is not None:
            try:
                got = rows_of(part.result)
            except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
                got, why = [], f"result incomplete ({type(exc).__name__}: {exc})"
            else:
                if part.error:
                    for row in got:
                        row.vs_bare = f"{row.vs_bare}; part: {part.error}".lstrip("; ")
                rows += got
                continue
        rows.append(Row(f"{name} figures", "(see the issue)", why, None, part=name))
    calibrate, recorder = parts.get("calibrate"), parts.get("recorder")
    if calibrate and calibrate.result and recorder and recorder.result:
        # on a malformed result, both parts' own rows already say what is missing
        with contextlib.suppress(KeyError, TypeError, ValueError, ZeroDivisionError):
            rows += scaled_rows(calibrate.result, recorder.result)
    return rows


def render(rows: list[Row], *, markdown: bool) -> str:
    return table(
        ("figure", "target", "measured", "met", "vs bare driver"),
        ((r.figure, r.target, r.measured, r.verdict, r.vs_bare) for r in rows),
        align="lllll",
        markdown=markdown,
    )


def markdown_report(rows: list[Row], machine: dict[str, Any], parts: dict[str, Part],
                    quick: bool, command: str) -> str:  # fmt: skip
    pg = next(
        (
            p.result["dialects"]["postgres"]["settings"]["server_version"]
            for p in parts.values()
            if p.result and "postgres" in p.result.get("dialects", {})
        ),
        "not run",
    )
    lines = [
        "Latest run"
        + (" (**--quick smoke run: small sizes, not the issue's**)" if quick else "")
        + f", {datetime.now(UTC):%Y-%m-%d}: {machine['nproc']} CPUs ({machine['cpu']}), Linux "
        f"{machine['kernel']}, Python {machine['python']}, SQLite {machine['sqlite']}, "
        f"PostgreSQL {pg.split(' ')[0]} (fsync on), aiosqlite {machine['aiosqlite']}, asyncpg "
        f"{machine['asyncpg']}; dendrux {machine['dendrux_commit']}. Reproduce with "
        f"`{command}`. Ratios are library time / bare-driver time in the same run (lower is "
        "better).",
        "",
        render(rows, markdown=True),
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", allow_abbrev=False)
    p.description = (
        "Run every benchmark (calibrate, recorder, reads, growth, footprint, writers) and "
        "summarise "
        "the targets. "
        "Each part also runs alone: python -m bench <part> --help."
    )
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run of everything")
    p.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help=f"results directory ({RESULTS_DIR})"
    )
    p.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}"
    )
    p.add_argument(
        "--summarize",
        action="store_true",
        help="run nothing: summarise the part results already in --out (<part>.json)",
    )
    p.add_argument(
        "--dialect", choices=("sqlite", "postgres", "both"), default="both", help="(both)"
    )
    p.add_argument(
        "--pg-settings", choices=("durable", "test"), default="durable", help="(durable)"
    )
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    names = [n.strip() for n in args.parts.split(",") if n.strip()]
    if unknown := [n for n in names if n not in PARTS]:
        print(f"unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    common = ["--dialect", args.dialect, "--pg-settings", args.pg_settings]
    parts: dict[str, Part] = {}
    try:
        for name in names:
            parts[name] = (
                read_result(Part(name, []), args.out / f"{name}.json")
                if args.summarize
                else run_part(name, [*(QUICK if args.quick else FULL)[name], *common], args.out)
            )
    except KeyboardInterrupt:
        print("\ninterrupted: no summary written", file=sys.stderr)
        return 130
    rows = summarize(parts)
    # the machine as the parts saw it (a --summarize run may come much later)
    machine = next((p.result["machine"] for p in parts.values() if p.result), None)
    machine = machine or machine_info()
    command = "python -m bench" + (" --quick" if args.quick else "")
    if args.dialect != "both":
        command += f" --dialect {args.dialect}"
    combined = {
        "benchmark": "all",
        "generated_at": datetime.now(UTC).isoformat(),
        "command": command,
        "quick": args.quick,
        "machine": machine,
        "summary": [asdict(r) | {"verdict": r.verdict} for r in rows],
        "parts": {n: asdict(p) for n, p in parts.items()},
        "ok": not any(p.error for p in parts.values()),
    }
    (args.out / "latest.json").write_text(json.dumps(combined, indent=1, default=str) + "\n")
    (args.out / "latest.md").write_text(markdown_report(rows, machine, parts, args.quick, command))
    print("\n######## summary of the targets" + (" (--quick: small sizes)" if args.quick else ""))
    print(machine_line(machine))
    for p in parts.values():
        took = f"{p.seconds:7.1f} s" if p.command else "(result read)"
        print(f"  {p.name:<10} {took}  {'ok' if not p.error else 'FAILED: ' + p.error}")
    print(render(rows, markdown=False))
    print(f"\nwrote {args.out / 'latest.json'} and {args.out / 'latest.md'}")
    failed = [p.name for p in parts.values() if p.error]
    if failed:
        print(f"FAILED part(s): {', '.join(failed)} (see their output above)", file=sys.stderr)
    return 1 if failed else 0
