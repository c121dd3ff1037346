"""The dashboard's runs list at scale: one request per page view must stay < 100 ms p50.

    python -m bench listpage [--runs 1000000] [--dialect both] [--iterations 50]

Per dialect: the reads benchmark's seeded dataset (``--runs`` runs, loaded in chunks
as the growth part loads it), then p50/p95 of each request the list page sends, through
the read router in-process (one ASGI call, no server: the router's own cost and the
store's, not the network's): ``/runs?limit=50&total=capped`` unfiltered, by status (a
busy one and a rare one), by agent and by a ``meta.`` key, and ``/status-counts``
unfiltered and by agent. Beside each, the bare driver sends the same statements with the
same parameters (the page's listing, one run more than the page; the capped count when a
page follows; the status counts), and the ratio is printed. The exact ``count_runs()``
(what ``total=exact`` costs) is timed the same way for comparison. Each request is
printed as met / not met against the 100 ms p50 target.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench import reads
from bench.common import add_common_options, begin, databases, finish, out, run, table
from bench.growth.read import load_dataset
from dendrux.read.filters import TOTAL_CAP, RunFilters
from dendrux.read.runs import STATUS_ORDER

TARGET_P50_MS = 100.0
PAGE = 50


@dataclass
class Request:
    """One page request: its label, path and query, and the filters it sends."""

    label: str
    path: str
    query: str
    filters: dict[str, Any]


def requests(ds: reads.Dataset) -> list[Request]:
    thread = ds.threads[0]
    base = f"limit={PAGE}&total=capped"
    return [
        Request("/runs unfiltered", "/runs", base, {}),
        Request("/runs status=success", "/runs", base + "&status=success", {"status": "success"}),
        Request("/runs status=pending", "/runs", base + "&status=pending", {"status": "pending"}),
        Request(
            "/runs agent_name=billing-bot",
            "/runs",
            base + "&agent_name=billing-bot",
            {"agent_name": "billing-bot"},
        ),
        Request(
            f"/runs meta.thread_id={thread}",
            "/runs",
            base + f"&meta.thread_id={thread}",
            {"metadata_filter": {"thread_id": thread}},
        ),
        Request("/status-counts unfiltered", "/status-counts", "", {}),
        Request(
            "/status-counts agent_name=billing-bot",
            "/status-counts",
            "agent_name=billing-bot",
            {"agent_name": "billing-bot"},
        ),
    ]


async def asgi_get(app: Any, path: str, query: str) -> bytes:
    """One GET through the ASGI application, as a server would send it; the body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if sent[0]["status"] != 200:
        raise RuntimeError(f"{path}?{query}: {sent[0]['status']} {sent[1].get('body')!r}")
    return b"".join(m.get("body", b"") for m in sent[1:])


def bare_request(bare: reads.Bare, dialect: Any, req: Request) -> Callable[[], Awaitable[Any]]:
    """The statements the router sends for ``req``, on the raw driver."""
    filters = RunFilters.check(**req.filters)
    meta = filters.by_meta(dialect)
    args = filters.bind(dialect)
    if req.path == "/status-counts":
        args[0] = dialect.text_list(STATUS_ORDER)
        name = "status_counts_by_meta" if meta else "status_counts"

        async def counts() -> Any:
            return await bare.fetch_all(name, [*args, TOTAL_CAP], ())

        return counts
    listing = "list_run_summaries"  # the router's choice: RunFilters.pick
    listing = filters.pick(dialect, listing, f"{listing}_by_meta", f"{listing}_by_meta_one")
    count = "count_runs_capped"
    count = filters.pick(dialect, count, f"{count}_by_meta", f"{count}_by_meta_one")

    async def page() -> Any:
        rows = await bare.fetch_all(listing, [*args, PAGE + 1, 0], ("meta",))
        if len(rows) > PAGE:
            return await bare.fetch_value(count, [*args, TOTAL_CAP])
        return len(rows)

    return page


def _pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


async def timed(
    lib: Callable[[], Awaitable[Any]],
    bare: Callable[[], Awaitable[Any]],
    args: argparse.Namespace,
) -> dict[str, float]:
    """p50/p95 (ms) of both sides, interleaved, after a warm-up."""
    for _ in range(args.warmup):
        await lib()
        await bare()
    clock = time.perf_counter
    lib_t: list[float] = []
    bare_t: list[float] = []
    start = clock()
    for i in range(args.iterations):
        for side, times in ((lib, lib_t), (bare, bare_t))[:: 1 if i % 2 == 0 else -1]:
            t = clock()
            await side()
            times.append((clock() - t) * 1e3)
        if clock() - start > args.budget and i >= 10:
            break
    return {
        "n": len(lib_t),
        "p50_ms": _pct(lib_t, 0.5),
        "p95_ms": _pct(lib_t, 0.95),
        "bare_p50_ms": _pct(bare_t, 0.5),
        "bare_p95_ms": _pct(bare_t, 0.95),
    }


async def bench_dialect(
    dialect: str, cluster: Any, tmp: str, args: argparse.Namespace
) -> dict[str, Any]:
    from dendrux.http import make_read_router
    from dendrux.store import RunStore

    dbs = databases(dialect, cluster, tmp)
    out(f"\n[listpage] {dialect}, {args.runs:,} runs: generating and loading ...")
    ds, url, location, info = await load_dataset(dbs, args.runs, args)
    out(f"  generated in {info['generate_s']:.1f} s, loaded in {info['load_s']:.1f} s")
    store = RunStore.from_database_url(url)
    bare: reads.Bare = (
        reads.BareSqlite(location) if dialect == "sqlite" else reads.BarePostgres(location)
    )
    await bare.open()
    rows: list[dict[str, Any]] = []
    try:
        app = make_read_router(store=store, authorize=lambda scope: None)
        async with store.engine.connect() as conn:
            d = conn.dialect
        for req in requests(ds):

            async def lib(req: Request = req) -> bytes:
                return await asgi_get(app, req.path, req.query)

            figures = await timed(lib, bare_request(bare, d, req), args)
            rows.append({"dialect": dialect, "request": req.label, **figures})
            out(f"  {req.label}: p50 {figures['p50_ms']:.1f} ms")
        exact = RunFilters.check()

        async def count_exact() -> int:
            return await store.count_runs()

        async def bare_exact() -> Any:
            return await bare.fetch_value("count_runs", exact.bind(d))

        figures = await timed(count_exact, bare_exact, args)
        rows.append({"dialect": dialect, "request": "count_runs() exact (for comparison)",
                     **figures, "comparison": True})  # fmt: skip
        out(f"  exact count_runs(): p50 {figures['p50_ms']:.1f} ms")
    finally:
        await store.close()
        await bare.close()
        await dbs.drop(location)
    for row in rows:
        row["ratio_p50"] = row["p50_ms"] / row["bare_p50_ms"]
        row["met"] = None if row.get("comparison") else row["p50_ms"] < TARGET_P50_MS
    return {"load": info, "rows": rows}


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    body = [
        (
            r["dialect"],
            r["request"],
            r["n"],
            f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            f"{r['bare_p50_ms']:.2f}",
            f"{r['ratio_p50']:.2f}x",
            "-" if r["met"] is None else ("met" if r["met"] else "NOT MET"),
        )
        for r in rows
    ]
    lines = [
        "",
        f"The runs list at {args.runs:,} runs: router in-process (ASGI call) against the "
        f"bare driver's same statements; target p50 < {TARGET_P50_MS:g} ms",
        table(
            ("dialect", "request", "n", "p50 ms", "p95 ms", "bare p50", "ratio", "target"),
            body,
            align="llrrrrrl",
        ),
    ]
    for dialect in dict.fromkeys(r["dialect"] for r in rows):
        mine = [r for r in rows if r["dialect"] == dialect and r["met"] is not None]
        ok = all(r["met"] for r in mine)
        lines.append(f"{dialect}: p50 < {TARGET_P50_MS:g} ms " + ("met" if ok else "NOT MET"))
    return lines


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench listpage")
    p.description = "The dashboard's runs-list requests at 1,000,000 runs, against the bare driver."
    p.add_argument("--runs", type=int, default=1_000_000, help="runs in the store (1000000)")
    p.add_argument("--iterations", type=int, default=50, help="timed requests per side (50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed requests per side (5)")
    p.add_argument("--budget", type=float, default=20.0, help="seconds per request, then stop")
    p.add_argument("--chunk", type=int, default=50_000, help="runs generated at a time (50000)")
    add_common_options(p)
    return p


async def _measure(
    args: argparse.Namespace, dialects: list[str], cluster: Any, tmp: str
) -> dict[str, Any]:
    result = begin("listpage", args)
    rows: list[dict[str, Any]] = []
    result["load"] = {}
    for dialect in dialects:
        measured = await bench_dialect(dialect, cluster, tmp, args)
        rows += measured["rows"]
        result["load"][dialect] = measured["load"]
    result["rows"] = rows
    failures = [
        f"{r['dialect']} {r['request']}: p50 {r['p50_ms']:.1f} ms >= {TARGET_P50_MS:g} ms"
        for r in rows
        if r["met"] is False
    ]
    return finish(result, report(rows, args), failures)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.runs < 2:
        print("--runs must be >= 2")
        return 2
    return run(args, "listpage", _measure)


def summary(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The suite's summary rows (`bench.suite.Row` fields): the slowest list request per
    dialect against the target."""
    rows = []
    for dialect in ("sqlite", "postgres"):
        mine = [r for r in result["rows"] if r["dialect"] == dialect and r["met"] is not None]
        if not mine:
            continue
        worst = max(mine, key=lambda r: r["p50_ms"])
        runs = result["params"]["runs"]
        rows.append(
            {
                "figure": f"{dialect} runs-list request p50 at {runs:,} runs (slowest of "
                f"{len(mine)})",
                "target": f"< {TARGET_P50_MS:g} ms",
                "measured": f"{worst['p50_ms']:.1f} ms ({worst['request']})",
                "met": all(r["met"] for r in mine),
                "vs_bare": f"{worst['ratio_p50']:.2f}x",
            }
        )
    return rows
