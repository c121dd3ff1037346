"""The suite's table rows for the stats part (kept here so `bench.suite` does not grow)."""

from __future__ import annotations

from typing import Any


def stats_rows(r: dict[str, Any]) -> list[Any]:
    """The PostgreSQL target per group_by; SQLite's figures for context."""
    from bench.suite import DIALECT_NAMES, Row

    rows = []
    runs = r["params"]["runs"]
    target = r.get("target_pg_p50_ms", 200.0)
    for dialect, d in r["dialects"].items():
        for group_by, t in d["timings"].items():
            lib, bare = t["library"]["p50"], t["bare"]["p50"]
            rows.append(
                Row(
                    f"{DIALECT_NAMES[dialect]} get_stats(group_by={group_by}) p50, 30-day "
                    f"window of {runs:,} runs",
                    f"< {target:.0f} ms" if dialect == "postgres" else "(context)",
                    f"{lib:.1f} ms",
                    lib < target if dialect == "postgres" else None,
                    vs_bare=f"{lib / bare:.2f}x (bare {bare:.1f} ms)",
                    part="stats",
                    info=dialect != "postgres",
                )
            )
    return rows
