"""``python -m bench dashboard``: how fast the run page paints a 10,000-event run.

For each dialect: record one run through the recorder (``--iterations`` iterations of an
LLM call, a tool call and two messages: two events each, plus the lifecycle), serve the
router with the dashboard under uvicorn in a subprocess, and load ``#/runs/<id>`` in
headless Chromium (the system's, through Playwright; never a downloaded browser)
``--loads`` times, each in a fresh context. The page marks the first timeline nodes it
appends (``dendrux:timeline-first``) and the whole timeline (``dendrux:timeline-complete``);
both are read as milliseconds since navigation start, and the medians are reported
against the issue's target (first paint < 1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
from typing import Any

from bench.common import add_common_options, begin, finish, out, run

TARGET_FIRST_MS = 1000.0
WAIT_COMPLETE = """() => new Promise((resolve) => {
  const check = () =>
    document.querySelector("#timeline[data-complete]") ? resolve() : setTimeout(check, 100);
  check();
})"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench dashboard")
    p.description = "The run page's first paint and full timeline for a 10,000-event run."
    p.add_argument("--iterations", type=int, default=5000, help="iterations, 2 events each (5000)")
    p.add_argument("--loads", type=int, default=5, help="page loads per dialect (5)")
    add_common_options(p)
    return p


async def record(url: str, iterations: int) -> tuple[str, int]:
    """One run of ``iterations`` iterations; returns (run id, its number of events)."""
    from dendrux.db import upgrade
    from dendrux.recorder import EventSequencer, PersistenceRecorder
    from dendrux.state import StateStore
    from dendrux.types import LLMResponse, Message, Role, ToolCall, ToolResult, UsageStats
    from dendrux.ulid import new_ulid

    await upgrade(url)
    run_id = new_ulid()
    async with StateStore.from_database_url(url) as store:
        await store.create_run(run_id, "bench-agent", model="m", input_data={"input": "go"})
        seq = EventSequencer(0)
        rec = PersistenceRecorder(store, run_id, model="m", provider_name="P", event_sequencer=seq)
        await store.save_run_event(run_id, event_type="run.started", sequence_index=seq.next())
        usage = UsageStats(input_tokens=900, output_tokens=60, total_tokens=960, cost_usd=0.001)
        request = {"messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 512}
        for i in range(1, iterations + 1):
            call = ToolCall("lookup", {"order": i})
            response = LLMResponse(
                text=f"step {i}",
                tool_calls=[call],
                usage=usage,
                model="m",
                provider_request=request,
                provider_response={"id": f"msg_{i}", "content": "y" * 200},
            )
            await rec.on_llm_call_completed(response, i, duration_ms=300)
            await rec.on_message_appended(Message(Role.ASSISTANT, f"step {i}"), i)
            result = ToolResult("lookup", call.id, '{"ok": true}', duration_ms=5)
            await rec.on_tool_completed(call, result, i)
            await rec.on_message_appended(
                Message(Role.TOOL, '{"ok": true}', call_id=call.id, name="lookup"), i
            )
            if i % 1000 == 0:
                out(f"   recorded {i} iterations")
        await store.finalize_run(run_id, status="success", answer="done")
        await store.save_run_event(run_id, event_type="run.completed", sequence_index=seq.next())
        return run_id, seq.last + 1


def measure_loads(url: str, run_id: str, loads: int) -> list[dict[str, float]]:
    """Load the run page ``loads`` times; each load's marks in ms since navigation."""
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("DENDRUX_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    # The real command a user runs, on a free port; it prints the page's URL once bound.
    env = {k: v for k, v in os.environ.items() if k != "DENDRUX_DASHBOARD_TOKEN"}
    server = subprocess.Popen(
        [sys.executable, "-m", "dendrux", "dashboard", "--database-url", url, "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    samples = []
    try:
        assert server.stdout is not None
        page_url = ""
        while not page_url:
            line = server.stdout.readline()
            if not line:
                raise RuntimeError(f"dendrux dashboard exited ({server.wait()})")
            if line.startswith("open "):
                page_url = line.split()[1]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                for _ in range(loads + 1):  # the first load warms the server's caches
                    context = browser.new_context(viewport={"width": 1280, "height": 860})
                    page = context.new_page()
                    page.goto(f"{page_url}#/runs/{run_id}")
                    # Waited for in the page, checking every 100 ms: Playwright's own
                    # wait_for_selector queries the DOM every frame, which would be
                    # measured as the page's time.
                    page.evaluate(WAIT_COMPLETE)
                    marks = page.evaluate(
                        "() => Object.fromEntries(performance.getEntriesByType('mark')"
                        ".map(m => [m.name, m.startTime]))"
                    )
                    nodes = page.evaluate("document.querySelectorAll('[data-seq]').length")
                    samples.append(
                        {
                            "first_ms": marks["dendrux:timeline-first"],
                            "complete_ms": marks["dendrux:timeline-complete"],
                            "events_shown": nodes,
                        }
                    )
                    context.close()
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return samples[1:]


async def _measure(
    args: argparse.Namespace, dialects: list[str], cluster: Any, tmp: str
) -> dict[str, Any]:
    result = begin("dashboard", args)
    failures: list[str] = []
    figures: dict[str, Any] = {}
    for dialect in dialects:
        if dialect == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp}/bench_dashboard.db"
        else:
            import asyncpg

            admin = await asyncpg.connect(cluster.dsn("postgres"))
            try:
                await admin.execute("DROP DATABASE IF EXISTS bench_dashboard")
                await admin.execute("CREATE DATABASE bench_dashboard")
            finally:
                await admin.close()
            url = cluster.dsn("bench_dashboard")
        out(f"\n[{dialect}] recording a run of {args.iterations} iterations")
        run_id, events = await record(url, args.iterations)
        samples = await asyncio.to_thread(measure_loads, url, run_id, args.loads)
        first = statistics.median(s["first_ms"] for s in samples)
        complete = statistics.median(s["complete_ms"] for s in samples)
        if any(s["events_shown"] != events for s in samples):
            failures.append(f"{dialect}: the page did not show every one of the {events} events")
        if first >= TARGET_FIRST_MS:
            failures.append(f"{dialect}: first paint {first:.0f} ms >= {TARGET_FIRST_MS:.0f} ms")
        figures[dialect] = {
            "events": events,
            "first_ms_p50": first,
            "complete_ms_p50": complete,
            "samples": samples,
        }
    report = [
        "",
        f"Run page, headless Chromium, median of {args.loads} loads (ms since navigation)",
        f"{'dialect':<10}{'events':>8}{'first nodes':>13}{'whole timeline':>16}  target",
    ]
    for dialect, f in figures.items():
        met = "met" if f["first_ms_p50"] < TARGET_FIRST_MS else "NOT MET"
        report.append(
            f"{dialect:<10}{f['events']:>8}{f['first_ms_p50']:>13.0f}{f['complete_ms_p50']:>16.0f}"
            f"  first paint < {TARGET_FIRST_MS:.0f} ms: {met}"
        )
    result["dialects"] = figures
    return finish(result, report, failures)


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """The suite's rows: (figure, target, measured, met) per dialect."""
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    return [
        (
            f"{names[d]} run page first paint, {f['events']:,}-event run (Chromium, p50)",
            f"< {TARGET_FIRST_MS:.0f} ms",
            f"{f['first_ms_p50']:.0f} ms (whole timeline {f['complete_ms_p50']:.0f} ms)",
            f["first_ms_p50"] < TARGET_FIRST_MS,
        )
        for d, f in result["dialects"].items()
    ]


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return run(args, "dashboard", _measure)
