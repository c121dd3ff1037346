"""Helpers the growth, footprint and suite benchmarks share: where results go, CSV files,
aligned text / markdown tables, optional charts, and the per-dialect database factory.

Nothing here measures anything; the measuring lives in the benchmark modules.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import signal
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.pg import run_with_cluster
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


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    align: str = "",
    markdown: bool = False,
) -> str:
    """An aligned plain-text table, or a markdown one. ``align`` has one letter per column,
    ``l`` or ``r``; by default the first column is left-aligned and the rest right."""
    body = [[str(cell) for cell in row] for row in rows]
    align = align or "l" + "r" * (len(headers) - 1)
    if markdown:
        rule = "|".join("---:" if a == "r" else "---" for a in align)
        lines = ["| " + " | ".join(headers) + " |", f"|{rule}|"]
        lines += [
            "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body
        ]
        return "\n".join(lines)
    widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.rjust(w) if a == "r" else c.ljust(w)
            for c, w, a in zip(cells, widths, align, strict=True)
        )
        return "  ".join(padded).rstrip()

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


def add_common_options(p: argparse.ArgumentParser) -> None:
    """The options every benchmark shares with `bench.pg.run_with_cluster`'s needs."""
    p.add_argument(
        "--dialect", choices=("sqlite", "postgres", "both"), default="both", help="(both)"
    )
    p.add_argument("--json", metavar="PATH", help="write the JSON result here instead of stdout")
    p.add_argument(
        "--pg-settings",
        choices=("durable", "test"),
        default="durable",
        help="durable: fsync=on, synchronous_commit=on (default); test: the test suite's",
    )
    p.add_argument("--seed", type=int, default=20240601, help=argparse.SUPPRESS)


def run(
    args: argparse.Namespace,
    name: str,
    measure: Callable[[argparse.Namespace, list[str], Any, str], Awaitable[dict[str, Any]]],
) -> int:
    """`bench.pg.run_with_cluster` for ``measure(args, dialects, cluster, tmp)``: the exit
    status of benchmark ``name``."""

    async def measured(dialects: list[str], cluster: Any, tmp: str) -> dict[str, Any]:
        return await measure(args, dialects, cluster, tmp)

    return run_with_cluster(args, temp_prefix=f"dendrux-bench-{name}-", measure=measured, name=name)


def out(line: str) -> None:
    """Report progress as it happens (the output is often piped into a log)."""
    print(line, flush=True)


def begin(benchmark: str, args: argparse.Namespace, *private: str) -> dict[str, Any]:
    """Start a benchmark inside its event loop: SIGTERM cancels it, the machine is
    printed; returns the JSON result's skeleton (the options but ``private`` ones)."""
    from bench.recorder import machine_info

    cancel_on_sigterm()
    machine = machine_info()
    out(machine_line(machine))
    params = {k: v for k, v in vars(args).items() if k not in ("json", *private)}
    return {"benchmark": benchmark, "params": params, "machine": machine}


def finish(result: dict[str, Any], report: list[str], failures: list[str]) -> dict[str, Any]:
    """Print the report and the failures; ``ok`` (the exit status) is: no failures."""
    for line in [*report, *(f"   FAILURE {f}" for f in failures)]:
        out(line)
    result["failures"] = failures
    result["ok"] = not failures
    return result


def cancel_on_sigterm() -> None:
    """Turn SIGTERM into a cancellation of the running main task: a KeyboardInterrupt
    raised at an arbitrary bytecode could land inside a driver's protocol code."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


def machine_line(m: Mapping[str, Any]) -> str:
    """One line describing the machine, from `bench.recorder.machine_info`."""
    return "machine: " + " ".join(f"{k}={v}" for k, v in m.items() if k != "tmpdir")
