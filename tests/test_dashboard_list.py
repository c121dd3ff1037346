"""The dashboard's runs list and overview in a real Chromium, on both dialects, against
the router under uvicorn: what the page shows is compared with what `RunStore` answers
for the same filters, window and tenant."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from browser_support import DashboardServer, run_async, start_dashboard

from dendrux.state import StateStore
from dendrux.store import RunStore
from dendrux.types import UsageStats

WAIT = 5000  # ms: Playwright's waits; the page answers in far less
DASH = "\N{EN DASH}"  # the list's "1-25 of 30"
LIVE_WAIT = 2500  # ms: "appears without a reload" within a couple of seconds

# (run id, agent, final status or None = left running, tenant, meta, parent)
RUNS: list[tuple[str, str, str | None, str | None, dict[str, Any], str | None]] = [
    ("run-a1", "refund-agent", "success", "tenant-a", {"user": "u1", "tier": "gold"}, None),
    ("run-a2", "refund-agent", "error", "tenant-a", {"user": "u2"}, None),
    ("run-a3", "triage-agent", None, "tenant-a", {"user": "u1"}, None),
    ("run-a4", "lookup-agent", "success", "tenant-a", {}, "run-a1"),  # delegated by a1
    ("run-a5", "lookup-agent", "success", "tenant-a", {}, "run-a4"),  # a1's grandchild
    ("run-b1", "refund-agent", "success", "tenant-b", {"user": "u1"}, None),
    ("run-b2", "triage-agent", "cancelled", "tenant-b", {"user": "u3"}, None),
    ("run-n1", "triage-agent", "max_iterations", None, {"tier": "gold"}, None),
]

LEVELS = {"run-a4": 1, "run-a5": 2}


async def _record(url: str, runs: list[tuple[Any, ...]], *, events: bool = False) -> None:
    store = StateStore.from_database_url(url)
    try:
        for i, (run_id, agent, status, tenant, meta, parent) in enumerate(runs):
            level = LEVELS.get(run_id, 0)
            await store.create_run(
                run_id,
                agent,
                input_data={"input": f"question {i}"},
                model="model-x" if i % 2 else "model-y",
                tenant_id=tenant,
                meta=meta or None,
                parent_run_id=parent,
                delegation_level=level,
            )
            if events:
                await store.save_run_event(run_id, event_type="run.started", data={})
            if status is not None:
                usage = UsageStats(
                    input_tokens=100 * (i + 1), output_tokens=10 * (i + 1), cost_usd=0.01 * (i + 1)
                )
                await store.finalize_run(
                    run_id, status=status, iteration_count=i + 1, total_usage=usage
                )
    finally:
        await store.close()


@pytest.fixture
def seeded(dashboard: DashboardServer) -> Iterator[DashboardServer]:
    run_async(lambda: _record(dashboard.database_url, RUNS))
    yield dashboard


async def _list(url: str, **filters: Any) -> list[Any]:
    async with RunStore.from_database_url(url) as store:
        return list(await store.list_runs(**filters, limit=1000))


def _shown(page: Any) -> list[str]:
    """The run ids of the list's visible rows, in order."""
    return list(
        page.eval_on_selector_all(
            "#runs-body tr.run-row:not(.is-hidden)", "rows => rows.map(r => r.dataset.runId)"
        )
    )


def _open_list(page: Any, url: str, hash_: str = "#/runs") -> None:
    page.goto(url + hash_)
    page.wait_for_selector("#runs-body tr.run-row, #list-empty", timeout=WAIT)


def _wait_rows(page: Any, expected: list[str]) -> None:
    page.wait_for_function(
        "ids => JSON.stringify([...document.querySelectorAll("
        "'#runs-body tr.run-row:not(.is-hidden)')].map(r => r.dataset.runId))"
        " === JSON.stringify(ids)",
        arg=expected,
        timeout=WAIT,
    )


def _tree_order(runs: list[Any]) -> list[str]:
    """The store's newest-first page laid out as the page nests it (children under parents)."""
    ids = {r.run_id for r in runs}
    kids: dict[str, list[str]] = {}
    for r in runs:
        if r.parent_run_id in ids:
            kids.setdefault(r.parent_run_id, []).append(r.run_id)
    out: list[str] = []

    def place(run_id: str) -> None:
        out.append(run_id)
        for kid in kids.get(run_id, []):
            place(kid)

    for r in runs:
        if r.parent_run_id not in ids:
            place(r.run_id)
    return out


def test_the_list_shows_the_recorded_runs(seeded: DashboardServer, browser_page: Any) -> None:
    page = browser_page
    _open_list(page, seeded.url)
    stored = run_async(lambda: _list(seeded.database_url))
    _wait_rows(page, _tree_order(stored))
    for run in stored:
        row = page.locator(f"#runs-body tr[data-run-id='{run.run_id}']")
        assert row.get_attribute("data-status") == run.status
        assert row.locator(".col-agent").inner_text() == run.agent_name
        assert row.locator(".run-link").get_attribute("title") == run.run_id
    # The running run says so instead of a duration.
    title = page.get_attribute("tr[data-run-id='run-a3'] .col-duration .so-far", "title")
    assert title.startswith("running for ")
    assert page.locator("#list-summary").inner_text() == f"1{DASH}{len(stored)} of {len(stored)}"


def test_filters_change_the_url_and_the_rows_and_back_restores(
    seeded: DashboardServer, browser_page: Any
) -> None:
    page = browser_page
    _open_list(page, seeded.url)
    everything = _tree_order(run_async(lambda: _list(seeded.database_url)))
    _wait_rows(page, everything)

    # Agent (reached with the "/" shortcut).
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "f-agent"
    page.keyboard.type("refund-agent")
    page.keyboard.press("Enter")
    page.wait_for_function("location.hash.includes('agent_name=refund-agent')", timeout=WAIT)
    by_agent = run_async(lambda: _list(seeded.database_url, agent_name="refund-agent"))
    _wait_rows(page, _tree_order(by_agent))

    # A metadata pair on top of it.
    page.click("#f-meta-add")
    page.fill(".meta-row .meta-key", "user")
    page.fill(".meta-row .meta-value", "u1")
    page.click("#f-apply")
    page.wait_for_function("location.hash.includes('meta.user=u1')", timeout=WAIT)
    by_meta = run_async(
        lambda: _list(
            seeded.database_url, agent_name="refund-agent", metadata_filter={"user": "u1"}
        )
    )
    assert {r.run_id for r in by_meta} == {"run-a1", "run-b1"}
    _wait_rows(page, _tree_order(by_meta))

    # A status from the counts strip.
    page.click("#status-counts button[data-status='success']")
    page.wait_for_function("location.hash.includes('status=success')", timeout=WAIT)
    by_status = run_async(
        lambda: _list(
            seeded.database_url,
            agent_name="refund-agent",
            metadata_filter={"user": "u1"},
            status=["success"],
        )
    )
    _wait_rows(page, _tree_order(by_status))

    # Back, back, back: each previous filter and its rows.
    page.go_back()
    _wait_rows(page, _tree_order(by_meta))
    page.go_back()
    _wait_rows(page, _tree_order(by_agent))
    assert page.input_value("#f-agent") == "refund-agent"
    page.go_back()
    _wait_rows(page, everything)
    assert page.input_value("#f-agent") == ""


def test_a_time_filter_goes_to_the_url_as_utc(seeded: DashboardServer, browser_page: Any) -> None:
    page = browser_page
    _open_list(page, seeded.url)
    offset_min = page.evaluate("new Date(2030, 0, 2, 3, 4).getTimezoneOffset()")
    page.fill("#f-after", "2030-01-02T03:04")  # local wall-clock time
    page.click("#f-apply")
    page.wait_for_selector("#list-empty", timeout=WAIT)
    shown = datetime(2030, 1, 2, 3, 4, tzinfo=UTC) + timedelta(minutes=offset_min)
    expected = "started_after=" + shown.strftime("%Y-%m-%dT%H:%M:%SZ").replace(":", "%3A")
    assert expected in page.evaluate("location.hash")
    page.fill("#f-after", "")
    page.fill("#f-before", "2030-01-02T03:04")
    page.click("#f-apply")
    page.wait_for_function("location.hash.includes('started_before=')", timeout=WAIT)
    _wait_rows(page, _tree_order(run_async(lambda: _list(seeded.database_url))))


def test_a_filtered_url_is_shareable(seeded: DashboardServer, browser_page: Any) -> None:
    page = browser_page
    _open_list(page, seeded.url, "#/runs?status=success&status=error&tenant_id=tenant-a")
    stored = run_async(
        lambda: _list(seeded.database_url, status=["success", "error"], tenant_id="tenant-a")
    )
    _wait_rows(page, _tree_order(stored))
    assert page.input_value("#f-tenant") == "tenant-a"
    pressed = page.eval_on_selector_all(
        "#status-counts button[aria-pressed='true']", "bs => bs.map(b => b.dataset.status)"
    )
    assert sorted(pressed) == ["error", "success"]


def test_status_counts_equal_count_runs(seeded: DashboardServer, browser_page: Any) -> None:
    page = browser_page
    _open_list(page, seeded.url, "#/runs?agent_name=triage-agent")
    page.wait_for_selector("#status-counts button", timeout=WAIT)

    async def counts() -> dict[str, int]:
        async with RunStore.from_database_url(seeded.database_url) as store:
            out = {}
            for status in ("running", "success", "error", "cancelled", "max_iterations"):
                out[status] = await store.count_runs(status=[status], agent_name="triage-agent")
            return out

    expected = {k: v for k, v in run_async(counts).items() if v}
    shown = page.eval_on_selector_all(
        "#status-counts button",
        "bs => Object.fromEntries(bs.map(b => [b.dataset.status, +b.dataset.count]))",
    )
    assert shown == expected


def test_paging_follows_has_more(seeded: DashboardServer, browser_page: Any) -> None:
    extra = [(f"run-x{i:02d}", "bulk-agent", "success", None, {}, None) for i in range(22)]
    run_async(lambda: _record(seeded.database_url, extra))
    stored = run_async(lambda: _list(seeded.database_url))
    assert len(stored) == 30
    page = browser_page
    _open_list(page, seeded.url, "#/runs?limit=25")
    page.wait_for_selector("#page-next:not([disabled])", timeout=WAIT)
    first = _shown(page)
    assert page.locator("#page-prev").is_disabled()
    assert page.locator("#list-summary").inner_text() == f"1{DASH}25 of 30"
    page.click("#page-next")
    page.wait_for_function("location.hash.includes('offset=25')", timeout=WAIT)
    page.wait_for_selector("#page-next[disabled]", timeout=WAIT)  # has_more: false
    page.wait_for_function(
        "text => document.querySelector('#list-summary').textContent === text",
        arg=f"26{DASH}30 of 30",
    )
    second = _shown(page)
    assert set(first) | set(second) == {r.run_id for r in stored}
    assert not set(first) & set(second)
    page.go_back()
    _wait_rows(page, first)


def test_a_child_nests_under_its_parent_and_collapses(
    seeded: DashboardServer, browser_page: Any
) -> None:
    page = browser_page
    _open_list(page, seeded.url, "#/runs?tenant_id=tenant-a")
    _wait_rows(page, ["run-a3", "run-a2", "run-a1", "run-a4", "run-a5"])
    assert page.get_attribute("tr[data-run-id='run-a4']", "data-depth") == "1"
    assert page.get_attribute("tr[data-run-id='run-a5']", "data-depth") == "2"
    toggle = page.locator("tr[data-run-id='run-a1'] .tree-toggle")
    page.wait_for_function(
        "document.querySelector(\"tr[data-run-id='run-a1'] .tree-count\")?.textContent === '2'",
        timeout=WAIT,
    )
    assert toggle.get_attribute("aria-expanded") == "true"
    toggle.click()
    _wait_rows(page, ["run-a3", "run-a2", "run-a1"])
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    _wait_rows(page, ["run-a3", "run-a2", "run-a1", "run-a4", "run-a5"])

    # Filtered to the parent's agent only, its descendants still come from its subtree,
    # collapsed behind the expander.
    _open_list(page, seeded.url, "#/runs?agent_name=refund-agent&tenant_id=tenant-a")
    _wait_rows(page, ["run-a2", "run-a1"])
    page.wait_for_selector("tr[data-run-id='run-a1'] .tree-toggle", timeout=WAIT)
    page.click("tr[data-run-id='run-a1'] .tree-toggle")
    _wait_rows(page, ["run-a2", "run-a1", "run-a4", "run-a5"])


def test_a_click_and_the_keyboard_open_a_run(seeded: DashboardServer, browser_page: Any) -> None:
    page = browser_page
    _open_list(page, seeded.url)
    first = _shown(page)
    page.click(f"tr[data-run-id='{first[1]}'] .run-link")
    page.wait_for_function(f"location.hash === '#/runs/{first[1]}'", timeout=WAIT)
    page.go_back()
    page.wait_for_selector("#runs-body tr.run-row", timeout=WAIT)
    page.wait_for_selector("#runs-view[data-live='live']", timeout=WAIT)  # settled
    # One key at a time, each step seen before the next (no race with a redraw).
    for key, row in (("j", 0), ("j", 1), ("j", 2), ("k", 1)):
        page.keyboard.press(key)
        page.wait_for_selector(f"tr.is-cursor[data-run-id='{first[row]}']", timeout=WAIT)
    page.keyboard.press("Enter")
    page.wait_for_function(f"location.hash === '#/runs/{first[1]}'", timeout=WAIT)


def test_a_new_run_appears_without_a_reload(dashboard: DashboardServer, browser_page: Any) -> None:
    page = browser_page
    _open_list(page, dashboard.url)
    page.wait_for_selector("#list-empty", timeout=WAIT)
    page.wait_for_selector("#runs-view[data-live='live']", timeout=WAIT)
    run_async(lambda: _record(dashboard.database_url, [RUNS[2]], events=True))
    page.wait_for_selector("tr[data-run-id='run-a3']", timeout=LIVE_WAIT)
    page.focus("tr[data-run-id='run-a3'] .run-link")  # a keyboard user on the row

    # It finishes: the row's status follows.
    async def finish() -> None:
        store = StateStore.from_database_url(dashboard.database_url)
        try:
            await store.save_run_event("run-a3", event_type="run.completed", sequence_index=1)
            await store.finalize_run("run-a3", status="success", iteration_count=1)
        finally:
            await store.close()

    run_async(finish)
    page.wait_for_selector("tr[data-run-id='run-a3'][data-status='success']", timeout=LIVE_WAIT)
    # The rows were rebuilt; the focus stayed on the same run's link.
    focused = page.evaluate("document.activeElement.closest('tr')?.dataset.runId")
    assert focused == "run-a3"


def test_a_new_child_joins_its_parents_tree_live(
    dashboard: DashboardServer, browser_page: Any
) -> None:
    parent = ("run-p", "planner", None, None, {}, None)
    run_async(lambda: _record(dashboard.database_url, [parent], events=True))
    page = browser_page
    # Filtered to the parent's agent: the child is never on the page itself.
    _open_list(page, dashboard.url, "#/runs?agent_name=planner")
    page.wait_for_selector("#runs-view[data-live='live']", timeout=WAIT)
    assert page.locator("tr[data-run-id='run-p'] .tree-toggle").count() == 0

    async def delegate() -> None:
        store = StateStore.from_database_url(dashboard.database_url)
        try:
            await store.create_run("run-c", "worker", parent_run_id="run-p", delegation_level=1)
            await store.save_run_event("run-c", event_type="run.started", data={})
        finally:
            await store.close()

    run_async(delegate)
    page.wait_for_selector("tr[data-run-id='run-p'] .tree-toggle", timeout=LIVE_WAIT)
    assert page.inner_text("tr[data-run-id='run-p'] .tree-count") == "1"
    page.click("tr[data-run-id='run-p'] .tree-toggle")
    _wait_rows(page, ["run-p", "run-c"])


async def _stats(url: str, after: datetime, tenant_id: str | None = None) -> Any:
    async with RunStore.from_database_url(url) as store:
        return await store.get_stats(started_after=after, tenant_id=tenant_id)


def _headline(page: Any) -> dict[str, str]:
    return dict(
        page.eval_on_selector_all(
            "#headline [data-figure]", "fs => fs.map(f => [f.dataset.figure, f.dataset.value])"
        )
    )


def _expected_headline(total: Any) -> dict[str, str]:
    def text(value: Any) -> str:
        return (
            "" if value is None else (str(int(value)) if float(value).is_integer() else repr(value))
        )

    names = ["runs", "error_rate", "input_tokens", "output_tokens", "cost_usd"]
    names += ["p50_duration_ms", "p95_duration_ms"]
    return {name: text(getattr(total, name)) for name in names}


def _normalise(shown: dict[str, str]) -> dict[str, str]:
    # JavaScript writes 0.1 as "0.1" and 3 as "3", like Python's repr / int for these.
    return {k: (str(int(float(v))) if v and float(v).is_integer() else v) for k, v in shown.items()}


def test_the_overview_matches_get_stats(seeded: DashboardServer, browser_page: Any) -> None:
    page = browser_page
    page.goto(seeded.url + "#/overview?days=7")
    page.wait_for_selector("#headline", timeout=WAIT)
    after = datetime.fromisoformat(page.get_attribute("#overview-view", "data-started-after"))
    assert abs(datetime.now(UTC) - timedelta(days=7) - after) < timedelta(minutes=1)
    stats = run_async(lambda: _stats(seeded.database_url, after))
    assert stats.total.runs == len(RUNS)
    assert _normalise(_headline(page)) == _expected_headline(stats.total)
    # By agent: one row per agent, each linking to the runs list filtered by it.
    agents = page.eval_on_selector_all("#by-agent tbody tr", "rs => rs.map(r => r.dataset.key)")
    assert agents == [g.key for g in run_async(lambda: _by_agent(seeded.database_url, after))]
    page.click("#by-agent a:text-is('triage-agent')")
    page.wait_for_function("location.hash === '#/runs?agent_name=triage-agent'", timeout=WAIT)
    _wait_rows(
        page, _tree_order(run_async(lambda: _list(seeded.database_url, agent_name="triage-agent")))
    )
    # The window picker.
    page.goto(seeded.url + "#/overview?days=7")
    page.wait_for_selector("#headline", timeout=WAIT)
    page.click(".window-picker a[data-days='1']")
    page.wait_for_function("location.hash.includes('days=1')", timeout=WAIT)
    page.wait_for_selector(".window-picker a[data-days='1'][aria-current='true']", timeout=WAIT)


async def _by_agent(url: str, after: datetime) -> Any:
    async with RunStore.from_database_url(url) as store:
        return (await store.get_stats(started_after=after, group_by="agent")).groups


def test_at_phone_width_the_page_does_not_scroll_sideways(
    seeded: DashboardServer, browser: Any
) -> None:
    long = ("a-rather-long-agent-name-" * 3, "tenant-with-a-long-identifier-0001")
    run_async(
        lambda: _record(seeded.database_url, [("run-long", long[0], "success", long[1], {}, None)])
    )
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = context.new_page()
        for hash_ in ("#/runs?meta.user=u1", "#/overview?days=30"):
            page.goto(seeded.url + hash_)
            page.wait_for_selector("#runs-body tr.run-row, #headline", timeout=WAIT)
            if hash_.startswith("#/runs"):
                page.click("#f-meta-add")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (hash_, width)
    finally:
        context.close()


def test_a_tenant_token_sees_only_its_tenant(database_url: str, browser_page: Any) -> None:
    run_async(lambda: _record(database_url, RUNS))
    with start_dashboard(database_url, tokens=["a-tok=tenant-a"]) as server:
        page = browser_page
        page.goto(server.url + "#token=a-tok")
        page.wait_for_selector("#runs-body tr.run-row", timeout=WAIT)
        mine = run_async(lambda: _list(database_url, tenant_id="tenant-a"))
        _wait_rows(page, _tree_order(mine))
        assert all(run_id.startswith("run-a") for run_id in _shown(page))
        # Asking for another tenant's runs in the URL shows nothing of theirs.
        page.goto(server.url + "#/runs?tenant_id=tenant-b")
        page.wait_for_selector("#list-empty", timeout=WAIT)
        # Another tenant's run by its URL is not reachable from the page's data.
        assert server.get("runs/run-b1", token="a-tok")[0] == 404

        page.goto(server.url + "#/overview?days=7")
        page.wait_for_selector("#headline", timeout=WAIT)
        after = datetime.fromisoformat(page.get_attribute("#overview-view", "data-started-after"))
        stats = run_async(lambda: _stats(database_url, after, tenant_id="tenant-a"))
        assert stats.total.runs == len(mine) == 5
        assert _normalise(_headline(page)) == _expected_headline(stats.total)
        tenants = page.eval_on_selector_all(
            "#by-tenant tbody tr", "rs => rs.map(r => r.dataset.key)"
        )
        assert tenants == ["tenant-a"]


def test_empty_and_error_states_say_what_to_do(
    dashboard: DashboardServer, browser_page: Any
) -> None:
    page = browser_page
    _open_list(page, dashboard.url)
    assert "No runs recorded yet" in page.inner_text("#list-empty")
    page.goto(dashboard.url + "#/runs?started_after=not-a-date")
    page.wait_for_selector("#list-error", timeout=WAIT)
    assert "not valid" in page.inner_text("#list-error")
    assert re.search(r"started_after", page.inner_text("#list-error"))


XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def test_stored_markup_renders_as_text(dashboard: DashboardServer, browser_page: Any) -> None:
    run_async(
        lambda: _record(dashboard.database_url, [("run-x", XSS, "success", XSS, {"k": XSS}, None)])
    )
    page = browser_page
    _open_list(page, dashboard.url)
    assert page.inner_text("tr[data-run-id='run-x'] .col-agent") == XSS
    assert page.inner_text("tr[data-run-id='run-x'] .col-tenant") == XSS
    assert page.locator("#runs-body img, #runs-body script").count() == 0
    page.goto(dashboard.url + "#/overview")
    page.wait_for_selector("#by-agent tbody tr", timeout=WAIT)
    assert page.inner_text("#by-agent tbody tr td:first-child") == XSS
    assert page.locator("#overview-view img, #overview-view script").count() == 0
    assert page.evaluate("window.__xss") is None
