"""The README's screenshots, taken by the suite's browser from the demo run.

Every run takes them (into the test's temporary folder) and checks they show the
demo run; ``make screenshots`` sets ``DENDRUX_SCREENSHOTS=docs/screenshots`` so the
SQLite run also writes the PNGs the README shows.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from browser_support import DashboardServer, run_async

from dendrux.demo import record_sample_run
from dendrux.state import StateStore
from dendrux.types import UsageStats
from dendrux.ulid import new_ulid

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _record_demo(database_url: str) -> str:
    """A few neighbours (a failure, a retry, a run still going), then the demo run."""

    async def record() -> str:
        failed, retried, going = new_ulid(), new_ulid(), new_ulid()
        async with StateStore.from_database_url(database_url) as store:
            usage = UsageStats(input_tokens=2_310, output_tokens=140, cost_usd=0.0031)
            await store.create_run(
                failed,
                "triage-bot",
                model="gpt-5-mini",
                tenant_id="demo",
                input_data={"ticket": 4410},
            )
            await store.finalize_run(
                failed,
                status="error",
                error="tool 'crm.lookup' timed out after 30 s",
                iteration_count=3,
                total_usage=usage,
            )
            await store.create_run(
                retried,
                "triage-bot",
                model="gpt-5-mini",
                tenant_id="demo",
                input_data={"ticket": 4410},
                retry_of_run_id=failed,
            )
            await store.finalize_run(
                retried,
                status="success",
                answer="Routed to billing.",
                iteration_count=2,
                total_usage=usage,
            )
            await store.create_run(
                going,
                "search-agent",
                model="claude-sonnet-4-5",
                tenant_id="acme",
            )
            await store.claim_paused_run(going, expected_status="pending")
            return await record_sample_run(store)

    return run_async(record)


def test_screenshots_of_the_demo_run(
    dashboard: DashboardServer, browser_page: Any, dialect: str, tmp_path: Path
) -> None:
    run_id = _record_demo(dashboard.database_url)
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 760})

    page.goto(dashboard.url + "#/runs")
    page.wait_for_selector(f"#runs-body tr.run-row[data-run-id='{run_id}']")
    page.wait_for_selector("#status-counts button[data-status]")
    runs_png = tmp_path / "runs.png"
    page.screenshot(path=str(runs_png))

    page.goto(dashboard.url + f"#/runs/{run_id}")
    page.wait_for_selector("#timeline[data-complete]", state="attached")
    page.wait_for_selector("#run-header")
    assert "refund-agent" in page.locator("#run-header").inner_text()
    run_png = tmp_path / "run.png"
    page.screenshot(path=str(run_png))

    for png in (runs_png, run_png):
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 20_000, png.name

    target = os.environ.get("DENDRUX_SCREENSHOTS")
    if target and dialect == "sqlite":
        folder = Path(target)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(runs_png, folder / "runs.png")
        shutil.copyfile(run_png, folder / "run.png")
