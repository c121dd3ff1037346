"""The comparison table: figure, 0.4.1, ours, bare, ours against 0.4.1 and against the
bare driver, against the issue's targets. Built from the JSON result alone, so the suite's
summary can rebuild it from ``upstream.json``.
"""

from __future__ import annotations

from typing import Any

from bench.common import table

NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
# ours / 0.4.1 (a speed ratio, higher is better); None: shown, no target.
RECORDER_TARGET = {"sqlite": None, "postgres": 10.0}
READ_TARGET = 5.0
BARE_TARGET = 1.3  # ours p50 / bare p50 (a time ratio, lower is better)
HEADERS = ("figure", "0.4.1", "ours", "bare", "ours vs 0.4.1", "ours vs bare", "met")


def _warnings(rec: dict[str, Any]) -> str:
    """0.4.1's logged warnings over the repeats (a swallowed best-effort write, a retry)."""
    n = sum(sum(x["upstream"].get("warnings", {}).values()) for x in rec["repeats"])
    return f"0.4.1 logged {n} warning(s): dropped or retried writes" if n else ""


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per figure: the strings of the table plus ``met`` (True/False/None)."""
    out = []
    for dialect, d in result.get("dialects", {}).items():
        name = NAMES[dialect]
        rec = d.get("recorder")
        if rec is not None:
            m = rec["median"]
            target = RECORDER_TARGET[dialect]
            each = " / ".join(f"{x['ratio']:.1f}" for x in rec["repeats"])
            out.append(
                {
                    "figure": f"{name} recorder hook calls/s ({rec['runs']} runs x "
                    f"{rec['concurrency']}, {rec['hook_calls_per_run']} hooks/run"
                    + (", synchronous=FULL)" if dialect == "sqlite" else ", fsync on)"),
                    "upstream": f"{m['upstream_hook_calls_per_s']:,.0f}/s",
                    "ours": f"{m['ours_hook_calls_per_s']:,.0f}/s",
                    "bare": "(recorder part)",
                    "vs_upstream": f"{m['ratio']:.1f}x (each {each})"
                    + (f" (>= {target:g}x)" if target else " (no target)"),
                    "vs_bare": _warnings(rec),
                    "met": None if target is None else m["ratio"] >= target,
                    "part": "upstream",
                }
            )
        for c in (d.get("reads") or {}).get("calls", {}).values():
            met = c["speedup"] >= READ_TARGET and c["vs_bare"] <= BARE_TARGET
            out.append(
                {
                    "figure": f"{name} {c['label']}",
                    "upstream": f"{c['upstream_p50_ms']:.2f} ms",
                    "ours": f"{c['ours_p50_ms']:.2f} ms",
                    "bare": f"{c['bare_p50_ms']:.2f} ms",
                    "vs_upstream": f"{c['speedup']:.1f}x (>= {READ_TARGET:g}x)",
                    "vs_bare": f"{c['vs_bare']:.2f}x (<= {BARE_TARGET:g}x)",
                    "met": met,
                    "part": "upstream",
                }
            )
    return out


def verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "-"}[met]


def render(result: dict[str, Any], *, markdown: bool = False) -> str:
    return table(
        HEADERS,
        (
            (r["figure"], r["upstream"], r["ours"], r["bare"], r["vs_upstream"], r["vs_bare"],
             verdict(r["met"]))
            for r in rows(result)
        ),
        align="lrrrlll",
        markdown=markdown,
    )  # fmt: skip


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None, str]]:
    """The suite's rows: (figure, target, measured, met, vs bare driver); met None for a
    figure without a target (shown for context)."""
    out = []
    for r in rows(result):
        ratio, _, target = r["vs_upstream"].rpartition(" (")
        bare_ratio, _, bare_target = r["vs_bare"].partition(" (")
        wanted = f"{target.rstrip(')')} 0.4.1"
        if bare_target:
            wanted += f", {bare_target.rstrip(')')} bare"
        out.append(
            (
                f"vs dendrux 0.4.1: {r['figure']}",
                "(context)" if r["met"] is None else wanted,
                f"ours {r['ours']}, 0.4.1 {r['upstream']}: {ratio}",
                r["met"],
                f"{bare_ratio} (bare {r['bare']})" if bare_ratio else "",
            )
        )  # fmt: skip
    return out
