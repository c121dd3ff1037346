"""The run page in a real Chromium against the router under uvicorn, on both dialects:
header figures, timeline node counts, the inspector, deep links, the keyboard, live
following (through a server restart), untrusted text and tenant scoping."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from browser_support import SERVER_SCRIPT, DashboardServer, _free_port, run_async, start_dashboard

from dendrux.demo import record_sample_run
from dendrux.recorder import PersistenceRecorder, resume_event_sequencer
from dendrux.state import StateStore
from dendrux.store import RunStore
from dendrux.types import LLMResponse, Message, Role, ToolCall, ToolResult, UsageStats
from dendrux.ulid import new_ulid

TERMINAL_WAIT_MS = 10_000


# -- recording ---------------------------------------------------------------------------


class Recording:
    """A run recorded step by step, each step in its own store (and event loop), so the
    page can watch it grow. Counts what it wrote: events, traces."""

    def __init__(self, url: str, *, agent: str = "live-agent", tenant: str | None = None) -> None:
        self.url, self.run_id, self.traces = url, new_ulid(), 0
        self.agent, self.tenant = agent, tenant
        self.llm_ids: list[str] = []

    def _step(self, fn: Any) -> Any:
        async def go() -> Any:
            async with StateStore.from_database_url(self.url) as store:
                sequencer = await resume_event_sequencer(store, self.run_id)
                recorder = PersistenceRecorder(
                    store,
                    self.run_id,
                    model="m-1",
                    provider_name="P",
                    initial_order_index=self.traces,
                    event_sequencer=sequencer,
                )
                return await fn(store, recorder, sequencer)

        return run_async(go)

    def create(self, meta: dict[str, Any] | None = None, input_text: str = "hi") -> None:
        async def go(store: StateStore, recorder: Any, seq: Any) -> None:
            await store.create_run(
                self.run_id,
                self.agent,
                input_data={"input": input_text},
                model="m-1",
                tenant_id=self.tenant,
                meta=meta,
            )
            await store.save_run_event(
                self.run_id, event_type="run.started", sequence_index=seq.next()
            )

        self._step(go)

    def message(self, role: Role, text: str, iteration: int) -> None:
        async def go(store: StateStore, recorder: Any, seq: Any) -> None:
            await recorder.on_message_appended(Message(role, text), iteration)

        self._step(go)
        self.traces += 1

    def llm(self, iteration: int, request: Any = None, text: str = "ok") -> None:
        async def go(store: StateStore, recorder: Any, seq: Any) -> None:
            usage = UsageStats(input_tokens=100, output_tokens=10, total_tokens=110, cost_usd=0.001)
            response = LLMResponse(
                text=text,
                usage=usage,
                model="m-1",
                provider_request=request,
                provider_response={"echo": request},
            )
            await recorder.on_llm_call_completed(response, iteration, duration_ms=50)

        self._step(go)

    def tool(self, iteration: int, params: dict[str, Any], result: str, ok: bool = True) -> None:
        async def go(store: StateStore, recorder: Any, seq: Any) -> None:
            call = ToolCall("lookup", params)
            outcome = ToolResult("lookup", call.id, result, success=ok, duration_ms=7)
            await recorder.on_tool_completed(call, outcome, iteration)

        self._step(go)

    def note(self, text: str, metadata: Any = None) -> None:
        async def go(store: StateStore, recorder: Any, seq: Any) -> None:
            await store.add_note(self.run_id, note_id=new_ulid(), text=text, metadata=metadata)

        self._step(go)

    def event(
        self, event_type: str, data: dict[str, Any] | None = None, iteration: int = 0
    ) -> None:
        async def go(store: StateStore, recorder: Any, seq: Any) -> None:
            await store.save_run_event(
                self.run_id,
                event_type=event_type,
                sequence_index=seq.next(),
                iteration_index=iteration,
                data=data,
            )

        self._step(go)

    def finish(self, *, error: str | None = None, answer: str = "done") -> None:
        async def go(store: StateStore, recorder: Any, seq: Any) -> None:
            if error is None:
                await store.finalize_run(self.run_id, status="success", answer=answer)
                kind, data = "run.completed", {"status": "success"}
            else:
                await store.finalize_run(self.run_id, status="error", error=error)
                kind, data = "run.error", {"error": error}
            await store.save_run_event(
                self.run_id, event_type=kind, sequence_index=seq.next(), data=data
            )

        self._step(go)


def read_back(url: str, run_id: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with RunStore.from_database_url(url) as store:
            return {
                "run": await store.get_run(run_id),
                "events": await store.get_events(run_id, limit=1000),
                "traces": await store.get_traces(run_id, limit=1000),
                "llm": await store.get_llm_calls(run_id, limit=1000),
                "tools": await store.get_tool_invocations(run_id, limit=1000),
                "notes": await store.get_notes(run_id),
            }

    return run_async(go)


def open_run(page: Any, server: DashboardServer, run_id: str, node: str = "") -> None:
    page.goto(server.url + f"#/runs/{run_id}" + (f"/{node}" if node else ""))
    page.wait_for_selector("#timeline[data-complete]", state="attached")


def seqs(page: Any) -> list[int]:
    return [
        int(s)
        for s in page.eval_on_selector_all("[data-seq]", "els => els.map(e => e.dataset.seq)")
    ]


def kinds(page: Any) -> dict[str, int]:
    counted: dict[str, int] = page.evaluate(
        "() => { const c = {}; for (const n of document.querySelectorAll('[data-node]'))"
        " c[n.dataset.kind] = (c[n.dataset.kind] || 0) + 1; return c; }"
    )
    return counted


# -- the demo run ------------------------------------------------------------------------------


def test_the_demo_run_header_and_timeline_match_the_database(
    dashboard: DashboardServer, browser_page: Any
) -> None:
    async def record() -> str:
        async with StateStore.from_database_url(dashboard.database_url) as store:
            return await record_sample_run(store)

    run_id = run_async(record)
    db = read_back(dashboard.database_url, run_id)
    run = db["run"]
    page = browser_page
    open_run(page, dashboard, run_id)

    def fig(key: str) -> Any:
        return page.locator(f"#run-header [data-fig='{key}'] .fig-value")

    assert page.locator("#run-header [data-fig='agent']").inner_text() == run.agent_name
    assert page.locator("#run-header [data-fig='status']").inner_text() == run.status
    assert fig("model").inner_text() == run.model
    assert fig("tenant").inner_text() == run.tenant_id
    assert fig("iterations").inner_text() == str(run.iteration_count)
    tokens = f"{run.total_input_tokens:,} / {run.total_output_tokens:,}"
    assert fig("tokens").inner_text() == tokens
    assert fig("cost").inner_text() == f"${run.total_cost_usd:.4f}"
    assert run.answer in page.locator("#run-header [data-fig='answer']").inner_text()

    # One node per row, per kind; every event on the page exactly once.
    merged = sum(1 for e in db["events"] if e.event_type in ("llm.completed", "tool.completed"))
    assert kinds(page) == {
        "trace": len(db["traces"]),
        "llm": len(db["llm"]),
        "tool": len(db["tools"]),
        "event": len(db["events"]) - merged,
    }
    assert sorted(seqs(page)) == [e.sequence_index for e in db["events"]]
    assert page.locator("#live-state").get_attribute("data-state") == "finished"

    # The delegation subtree links to the child, whose page links back to its parent.
    child = page.locator("#subtree-panel [data-depth='1'] a")
    assert child.inner_text() == "note-writer"
    child.click()
    page.wait_for_selector("#run-header [data-link='parent']")
    page.click("#run-header [data-link='parent']")
    page.wait_for_function(f"() => location.hash === '#/runs/{run_id}'")
    page.wait_for_selector("#timeline[data-complete]", state="attached")


def test_inspector_deep_links_and_keyboard(dashboard: DashboardServer, browser_page: Any) -> None:
    rec = Recording(dashboard.database_url)
    rec.create()
    rec.message(Role.USER, "question", 0)
    rec.llm(1, request={"marker": "PROVIDER-PAYLOAD-7f3a"})
    rec.tool(1, {"q": "x"}, '{"found": 1}')
    rec.finish()
    llm = read_back(dashboard.database_url, rec.run_id)["llm"][0]
    page = browser_page

    # A deep link opens the inspector on that node.
    open_run(page, dashboard, rec.run_id, f"l{llm.id}")
    inspector = page.locator("#inspector")
    inspector.locator("[data-block='provider request']").wait_for()
    assert "PROVIDER-PAYLOAD-7f3a" in inspector.inner_text()
    assert page.locator(f"#node-l{llm.id}").get_attribute("class").count("selected") == 1

    # Esc closes it and the URL drops the node; a click opens another node.
    page.keyboard.press("Escape")
    page.wait_for_function(f"() => location.hash === '#/runs/{rec.run_id}'")
    assert inspector.is_hidden()
    page.click("[data-kind='tool'] .tl-link")
    page.wait_for_function("() => location.hash.includes('/t')")
    assert '"q": "x"' in inspector.inner_text()
    page.go_back()  # the click was a history entry
    page.wait_for_function(f"() => location.hash === '#/runs/{rec.run_id}'")
    inspector.wait_for(state="hidden")

    # From a fresh load, j/k walk the nodes in page order and the URL follows.
    page.reload()
    page.wait_for_selector("#timeline[data-complete]", state="attached")
    order = page.eval_on_selector_all("[data-node]", "els => els.map(e => e.dataset.node)")
    page.keyboard.press("j")
    page.wait_for_function(f"() => location.hash.endsWith('/{order[0]}')")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.wait_for_function(f"() => location.hash.endsWith('/{order[2]}')")
    assert inspector.get_attribute("data-node") == order[2]
    page.keyboard.press("k")
    page.wait_for_function(f"() => location.hash.endsWith('/{order[1]}')")
    page.keyboard.press("Escape")
    inspector.wait_for(state="hidden")
    page.keyboard.press("Enter")  # reopens the node under the cursor
    page.wait_for_function(f"() => location.hash.endsWith('/{order[1]}')")
    inspector.wait_for()

    # A reload keeps the open node.
    page.reload()
    page.wait_for_selector(f"#inspector[data-node='{order[1]}']")


def test_a_run_recorded_while_the_page_is_open_shows_live(
    dashboard: DashboardServer, browser_page: Any
) -> None:
    rec = Recording(dashboard.database_url)
    rec.create()
    page = browser_page
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_run(page, dashboard, rec.run_id)
    page.wait_for_selector("#live-state[data-state='live']", state="attached")
    page.wait_for_selector("[data-seq='0']", state="attached")

    rec.message(Role.USER, "first message", 0)
    rec.llm(1, request={"n": 1})
    page.wait_for_selector("[data-kind='llm'][data-seq='1']", timeout=1000)
    page.wait_for_selector("[data-kind='trace']", timeout=1000)
    rec.tool(1, {"q": "live"}, "result-live")
    page.wait_for_selector("[data-kind='tool'][data-seq='2']", timeout=1000)
    rec.note("a live note")
    rec.event("approval.requested", {"tool_name": "lookup"}, 1)
    page.wait_for_selector("[data-kind='event'][data-seq='3']", timeout=1000)
    page.wait_for_selector("[data-kind='note']", timeout=1000)
    rec.message(Role.ASSISTANT, "live answer", 1)
    rec.finish(answer="live answer")
    page.wait_for_selector("[data-seq='4']", timeout=1000)
    page.wait_for_selector(
        "#live-state[data-state='ended']", state="attached", timeout=TERMINAL_WAIT_MS
    )
    page.wait_for_selector("#run-header [data-fig='status'] .status-success")

    db = read_back(dashboard.database_url, rec.run_id)
    assert seqs(page) == [e.sequence_index for e in db["events"]]
    merged = sum(1 for e in db["events"] if e.event_type in ("llm.completed", "tool.completed"))
    assert kinds(page) == {
        "trace": len(db["traces"]),
        "llm": len(db["llm"]),
        "tool": len(db["tools"]),
        "note": len(db["notes"]),
        "event": len(db["events"]) - merged,
    }
    # It stopped following: no stream request after the terminal event's 204.
    streams = sum("/events/stream" in u for u in requests)
    page.wait_for_timeout(1500)
    assert sum("/events/stream" in u for u in requests) == streams


@contextmanager
def _server_on(database_url: str, port: int) -> Iterator[subprocess.Popen[str]]:
    command = [sys.executable, str(SERVER_SCRIPT), "--database-url", database_url]
    process = subprocess.Popen(
        [*command, "--port", str(port)], stdout=subprocess.PIPE, stderr=None, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield process
    finally:
        if process.poll() is None:
            process.kill()  # a real fault: the connection drops, nothing is flushed
            process.wait()


def test_a_dropped_stream_resumes_without_a_duplicate_or_a_gap(
    database_url: str, browser_page: Any
) -> None:
    rec = Recording(database_url)
    rec.create()
    port = _free_port()
    server = DashboardServer(database_url, port, None)  # type: ignore[arg-type]
    page = browser_page
    with _server_on(database_url, port):
        open_run(page, server, rec.run_id)
        page.wait_for_selector("#live-state[data-state='live']", state="attached")
        rec.llm(1)
        page.wait_for_selector("[data-seq='1']", state="attached", timeout=1000)
    # The server is gone: the page reconnects in vain while the run goes on.
    page.wait_for_selector("#live-state[data-state='reconnecting']", state="attached")
    rec.llm(2)
    rec.event("policy.denied", {"tool_name": "x"}, 2)
    with _server_on(database_url, port):
        page.wait_for_selector("[data-seq='3']", state="attached", timeout=TERMINAL_WAIT_MS)
        rec.tool(2, {"q": 1}, "r")
        rec.finish()
        page.wait_for_selector(
            "#live-state[data-state='ended']", state="attached", timeout=TERMINAL_WAIT_MS
        )
        db = read_back(database_url, rec.run_id)
        assert seqs(page) == [e.sequence_index for e in db["events"]] == list(range(6))


# -- untrusted text and tenants ---------------------------------------------------------------

PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    "javascript:window.__xss=1",
    '"><svg onload="window.__xss=1">',
]
EVIL = " ".join(PAYLOADS)


def test_stored_markup_renders_as_text(dashboard: DashboardServer, browser_page: Any) -> None:
    rec = Recording(dashboard.database_url, agent="agent " + PAYLOADS[1])
    rec.create(meta={"k": EVIL, "url": PAYLOADS[2]}, input_text=EVIL)
    rec.message(Role.USER, "user " + EVIL, 0)
    rec.llm(1, request={"prompt": EVIL}, text=EVIL)
    rec.tool(1, {"q": EVIL}, "result " + EVIL, ok=False)
    rec.note("note " + EVIL, metadata={"m": EVIL})
    rec.event("guardrail.finding", {"detail": EVIL}, 1)
    rec.finish(error="error " + EVIL)
    page = browser_page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_run(page, dashboard, rec.run_id)
    for node in page.eval_on_selector_all("[data-node]", "els => els.map(e => e.dataset.node)"):
        page.evaluate(f"location.hash = '#/runs/{rec.run_id}/{node}'")
        page.wait_for_selector(f"#inspector[data-node='{node}']")
    text = page.locator("body").inner_text()
    for expected in ("agent " + PAYLOADS[1], "user " + EVIL, "note " + EVIL):
        assert expected in text or expected in page.locator("#timeline").inner_text()
    assert "error " + EVIL in page.locator("#run-header").inner_text()
    page.evaluate(f"location.hash = '#/runs/{rec.run_id}'")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    assert (
        page.evaluate("document.querySelectorAll('img, svg [onload], [onerror], [onload]').length")
        == 0
    )
    assert page.evaluate("[...document.scripts].map(s => s.getAttribute('src'))") == ["ui/app.js"]
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(a => a.getAttribute('href'))")
    assert not any(h.lower().startswith("javascript:") for h in hrefs)


def test_another_tenants_run_is_not_reachable(database_url: str, browser_page: Any) -> None:
    theirs = Recording(database_url, agent="secret-agent-of-tb", tenant="tb")
    theirs.create(input_text="tb secret input")
    theirs.message(Role.USER, "tb secret message", 0)
    ours = Recording(database_url, agent="our-agent", tenant="ta")
    ours.create()
    with start_dashboard(database_url, tokens=["a=ta"]) as server:
        page = browser_page
        requests: list[str] = []
        answers: list[tuple[str, int]] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("response", lambda r: answers.append((r.url, r.status)))
        page.goto(server.url + "#token=a")
        page.wait_for_function("() => location.hash === '#/runs'")
        page.evaluate(f"location.hash = '#/runs/{ours.run_id}'")
        page.wait_for_selector("#live-state[data-state='live']", state="attached")
        page.evaluate(f"location.hash = '#/runs/{theirs.run_id}'")
        page.wait_for_selector("#run-missing")
        assert "not found" in page.locator("#run-missing").inner_text().lower()
        content = page.content()
        assert "secret" not in content and theirs.run_id not in page.locator("main").inner_text()
        page.wait_for_timeout(500)
        assert not any(theirs.run_id in u and "stream" in u for u in requests)
        # Every route the page asked about their run answered as for a run that does not exist.
        asked = [(u, status) for u, status in answers if theirs.run_id in u]
        assert asked and all(status == 404 for _, status in asked)
