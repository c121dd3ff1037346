"""The text report of the reads benchmark."""

from __future__ import annotations

from typing import Any

from bench.reads.dataset import (
    AGENTS,
    BIG_EVENTS,
    BIG_LLM_CALLS,
    BIG_TOOL_CALLS,
    BIG_TRACES,
    TENANTS,
    THREADS,
    USERS,
    Dataset,
)
from bench.reads.measure import TARGET_P50_MS, TARGET_RATIO

# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def _kib(n: int) -> str:
    return f"{n / 1024:,.0f} KiB" if n < 10 * 1024 * 1024 else f"{n / 1048576:,.1f} MiB"


def report_dialect(dialect: str, settings: str, res: dict[str, Any], ds: Dataset) -> list[str]:
    reps = len(res["repeats"])
    d = res["dataset"]
    lines = [
        "",
        f"== reads, {dialect}: {settings}",
        f"   dataset: {ds.runs} runs ("
        + ", ".join(f"{s} {n}" for s, n in ds.statuses.most_common())
        + f"), {len(AGENTS)} agents, {len(TENANTS)} tenants, created_at over 30 days; "
        f"meta thread_id = n % {THREADS}, user_id = n % {USERS}",
        "   rows: "
        + ", ".join(f"{t} {n}" for t, n in d["rows"].items())
        + f"; big run {ds.big_run}: {BIG_EVENTS} events, {BIG_TRACES} traces, "
        f"{BIG_LLM_CALLS} LLM calls, {BIG_TOOL_CALLS} tool calls; the rest: 2-3 events and 2 "
        "traces per run, 1 LLM call + 1 tool call every 10th run",
        f"   generated in {ds.build_s:.1f} s (seed {ds.seed}), loaded + analyzed in "
        f"{d['load_s']:.1f} s; database size {d['size_mb']:.0f} MB",
        "",
        f"   latency per call, ms (median over {reps} repeat(s) of each repeat's p50 / p99; "
        "n = timed iterations per side per repeat, library and bare interleaved)",
        f"   {'call':<56}{'n':>5}{'rows':>6}{'lib p50':>9}{'lib p99':>9}{'bare p50':>9}"
        f"{'bare p99':>9}{'ratio':>7}  target",
    ]
    for s in res["calls"].values():
        if dialect == "postgres":
            if s["target"]:
                target = (
                    f"p50<{TARGET_P50_MS:g}ms {'met' if s['p50_target_met'] else 'NOT met'}, "
                    f"ratio {'met' if s['ratio_target_met'] else 'NOT met'}"
                )
            else:
                target = f"(none) ratio {'met' if s['ratio_target_met'] else 'NOT met'}"
        else:
            target = f"ratio {'met' if s['ratio_target_met'] else 'NOT met'}"
        n = s["n"][0] if len(set(s["n"])) == 1 else f"{min(s['n'])}+"
        lines.append(
            f"   {s['label']:<56}{n:>5}{s['rows']:>6}{s['library_p50_ms']:>9.2f}"
            f"{s['library_p99_ms']:>9.2f}{s['bare_p50_ms']:>9.2f}{s['bare_p99_ms']:>9.2f}"
            f"{s['ratio_p50']:>6.2f}x  {target}"
        )
    st, mem = res["stream"], res["memory_peak_growth_bytes"]
    lines.append(
        f"   stream_events: take {st['events']} events then aclose: library "
        f"{st['library_ms']:.1f} ms ({st['events'] / st['library_ms'] * 1e3:,.0f} events/s), "
        f"bare pages {st['bare_ms']:.1f} ms, ratio {st['ratio']:.2f}x"
    )
    lines.append(
        f"   peak memory growth (tracemalloc): stream_events {_kib(mem['stream_events_library'])} "
        f"(bare paging {_kib(mem['stream_bare'])}) vs get_events(run) of all {BIG_EVENTS} at once "
        f"{_kib(mem['get_events_all_library'])}: the stream holds one page of 500, not the "
        "timeline"
    )
    a = res["audit"]
    lines.append(
        f"   statement audit: byte-identical SQL text and parameters on both sides for "
        f"{sum(x['identical'] for x in a.values())}/{len(a)} calls; parity (same rows): "
        f"{sum(x['same'] for x in res['parity'].values())}/{len(res['parity'])}"
    )
    if dialect == "postgres":
        targeted = [s for s in res["calls"].values() if s["target"]]
        slow = [s["label"] for s in targeted if not s["p50_target_met"]]
        far = [s["label"] for s in res["calls"].values() if not s["ratio_target_met"]]
        lines.append(
            f"   target p50 < {TARGET_P50_MS:g} ms (all calls but count_runs()): "
            + ("met" if not slow else "NOT met for " + "; ".join(slow))
        )
        lines.append(
            f"   target library within {TARGET_RATIO}x of bare (p50): "
            + ("met" if not far else "NOT met for " + "; ".join(far))
        )
    for failure in res["failures"]:
        lines.append(f"   FAILURE {failure}")
    lines.append("")
    lines.append(
        "   plans ("
        + (
            "EXPLAIN (ANALYZE, BUFFERS) EXECUTE of the prepared statement with the values of "
            "the first timed iteration, after 6 executions"
            if dialect == "postgres"
            else "EXPLAIN QUERY PLAN of the same text with the values of the first timed "
            "iteration bound"
        )
        + ")"
    )
    for key, p in res["plans"].items():
        s = res["calls"][key]
        lines.append(f"   -- {s['label']}  [{s['query']}]")
        for line in p["text"]:
            lines.append(f"        {line}")
        for note in p["notes"]:
            lines.append(f"      note: {note}")
        for flag in p["flags"]:
            lines.append(f"      FLAG {flag}")
    return lines


def closing_note(results: dict[str, Any]) -> list[str]:
    lines = ["", "== index use (every call; FLAG = full scan, filtered walk or unbound cursor)"]
    for dialect, res in results.items():
        for key, p in res["plans"].items():
            s = res["calls"][key]
            verdict = "index" if p["indexes"] and not p["flags"] else "FLAGGED"
            if not s["target"] and p["flags"]:
                verdict = "scan (unselective: ok)"
            lines.append(
                f"   {dialect:<9}{s['label']:<56}{verdict:<23}"
                + ("; ".join(p["indexes"]) or "-")
                + (
                    ""
                    if not p["flags"]
                    else "  <- " + " | ".join(f.split(":")[0] for f in p["flags"])
                )
            )
    return lines
