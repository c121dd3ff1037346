"""Helpers the growth, footprint and suite benchmarks share: where results go, CSV files,
aligned text / markdown tables, optional charts, and the per-dialect database factory.

Nothing here measures anything; the measuring lives in the benchmark modules.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import signal
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.recorder import REPO, Databases, PostgresDatabases, SqliteDatabases

RESULTS_DIR = REPO / "bench" / "results"
PLOT_HINT = "pip install -e '.[plot]' (matplotlib) to get it"


def int_list(text: str) -> list[int]:
    """argparse type for ``1,8,32``: positive integers, in the order given."""
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 1,8,32, not {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def databases(dialect: str, cluster: Any, tmp: str) -> Databases:
    """Fresh migrated databases for ``dialect`` (SQLite files in ``tmp`` or databases on
    the benchmark's PostgreSQL cluster), as the recorder benchmark makes them."""
    return SqliteDatabases(tmp) if dialect == "sqlite" else PostgresDatabases(cluster)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    """``rows`` as CSV with exactly ``columns`` (missing values empty); floats to 4 decimals."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                [
                    f"{v:.4f}" if isinstance(v, float) else ("" if v is None else v)
                    for v in (row.get(c) for c in columns)
                ]
            )
    return path


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, markdown: bool = False) -> str:
    """An aligned plain-text table (first column left, the rest right) or a markdown one."""
    body = [[str(cell) for cell in row] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
        ).rstrip()

    return "\n".join([line(list(headers)), line(["-" * w for w in widths]), *map(line, body)])


def pyplot() -> Any | None:
    """matplotlib's pyplot on the file-only Agg backend, or None when it is not installed
    (the optional ``plot`` extra): charts are a convenience, never a requirement."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def cancel_on_sigterm() -> None:
    """Turn SIGTERM into a cancellation of the running main task: a KeyboardInterrupt
    raised at an arbitrary bytecode could land inside a driver's protocol code."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


def machine_line(m: Mapping[str, Any]) -> str:
    """One line describing the machine, from `bench.recorder.machine_info`."""
    return (
        f"machine: nproc={m['nproc']} cpu={m['cpu']!r} kernel={m['kernel']} "
        f"python={m['python']} sqlite={m['sqlite']} aiosqlite={m['aiosqlite']} "
        f"asyncpg={m['asyncpg']} dendrux={m['dendrux_commit']} loadavg={m['loadavg_at_start']}"
    )
