// The run page (#/runs/<id> and #/runs/<id>/<node id>): header, timeline, inspector,
// per-iteration chart, delegation subtree; a run that is not finished is followed
// live through its event stream until its terminal event.
//
// The URL is the state: a node in the route is the node open in the inspector, so a
// reload, a shared link or the back button shows the same thing. j/k walk the
// timeline (the URL follows, replacing the history entry), Enter opens the node under
// the cursor, Esc closes the inspector.

import { h, replace, TERMINAL } from "./dom.js";
import { getJSON, followEvents, ApiError } from "./api.js";
import { navigate, runHref, viewHref } from "./router.js";
import { Timeline, nodeOf } from "./run-timeline.js";
import { isTerminal } from "./vocabulary.js";
import { Inspector } from "./run-inspector.js";
import { header, iterationChart, subtreePanel } from "./run-panels.js";

const FIRST_PAGE = 100; // small, so the first screen paints from little data
const PAGE = 1000; // the routes' maximum
const HEADER_EVERY_MS = 1000;

export function mount(root, route) {
  const runId = route.runId;
  const base = `runs/${encodeURIComponent(runId)}`;
  const abort = new AbortController();
  const context = { run: null, pauses: new Map() };
  const state = { subtree: null, retries: [], llmCalls: [], traces: 0, notes: new Set(), lastSeq: -1, cursor: null, wanted: route.nodeId, follower: null, timer: 0, headerAt: 0, headerBusy: null, disposed: false };

  const headerSlot = h("div", { class: "run-header-slot" });
  const list = h("ol", { class: "timeline", id: "timeline", "aria-label": "Timeline" });
  const liveState = h("span", { class: "live-state", id: "live-state", role: "status" });
  const counts = h("span", { class: "muted tl-count", id: "tl-count" });
  const chartSlot = h("div", { class: "panel-body" }, h("p", { class: "muted" }, "Loading…"));
  const subtreeSlot = h("div", { class: "panel-body" }, h("p", { class: "muted" }, "Loading…"));
  const inspector = new Inspector({ runId, onClose: () => closeInspector() });
  const timeline = new Timeline(list, { hrefOf: (node) => runHref(runId, node.id), context });
  const page = h(
    "div",
    { class: "run-page", id: "run-page", dataset: { run: runId } },
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: viewHref("runs", {}) }, "Runs"), " / ", h("span", { class: "mono" }, runId)),
    headerSlot,
    h(
      "div",
      { class: "run-grid" },
      h(
        "section",
        { class: "panel timeline-panel", "aria-label": "Timeline" },
        h("div", { class: "panel-head tl-head" }, h("h2", null, "Timeline"), counts, liveState, h("span", { class: "kbd-hint muted hide-narrow" }, "j / k to move · Enter to open · Esc to close")),
        h("div", { class: "panel-body tl-body" }, list),
      ),
      h(
        "div",
        { class: "run-side" },
        h("section", { class: "panel", "aria-label": "Per iteration" }, h("div", { class: "panel-head" }, h("h2", null, "Per iteration")), chartSlot),
        h("section", { class: "panel", id: "subtree-panel", "aria-label": "Delegation" }, h("div", { class: "panel-head" }, h("h2", null, "Delegation")), subtreeSlot),
      ),
    ),
    inspector.el,
  );
  replace(root, page);

  timeline.onRendered = () => {
    counts.textContent = timeline.order.length + " nodes";
    if (timeline.complete) list.dataset.complete = "true";
    if (state.wanted && timeline.nodes.get(state.wanted)?.el) select(state.wanted, true);
  };

  // -- header, chart, subtree -------------------------------------------------------------

  function drawHeader() {
    if (!context.run || state.disposed) return;
    replace(headerSlot, header(context.run, { usage: state.subtree?.nodes?.[0]?.usage, retries: state.retries }));
  }

  let chartFrame = 0;
  function drawChart() {
    if (chartFrame) return;
    chartFrame = requestAnimationFrame(() => {
      chartFrame = 0;
      if (!state.disposed) replace(chartSlot, iterationChart(state.llmCalls));
    });
  }

  function drawSubtree() {
    if (state.subtree) replace(subtreeSlot, subtreePanel(state.subtree, runId));
  }

  async function refreshHeader(force = false) {
    if (state.headerBusy) {
      // A forced refresh (the terminal event) must read after the one in flight.
      return force ? state.headerBusy.then(() => refreshHeader(true)) : state.headerBusy;
    }
    if (!force && Date.now() - state.headerAt < HEADER_EVERY_MS) return;
    state.headerAt = Date.now();
    state.headerBusy = (async () => {
      try {
        const [run, subtree, retries] = await Promise.all([
          getJSON(base, null, { signal: abort.signal }),
          getJSON(`${base}/subtree`, null, { signal: abort.signal }),
          getJSON(`${base}/retries`, null, { signal: abort.signal }),
        ]);
        context.run = run;
        state.subtree = subtree;
        state.retries = retries.retries;
        drawHeader();
        drawSubtree();
        const last = timeline.order[timeline.order.length - 1];
        if (last && last.kind === "event" && TERMINAL.has(run.status)) timeline.refresh(last);
      } catch {
        /* the next event or tick tries again */
      } finally {
        state.headerBusy = null;
      }
    })();
    return state.headerBusy;
  }

  // -- the initial load -----------------------------------------------------------------

  async function pages(name, kind, path, key, onRows) {
    for (let offset = 0, size = FIRST_PAGE; ; offset += size, size = PAGE) {
      const body = await getJSON(path, { limit: size, offset }, { signal: abort.signal });
      const rows = body[key] || [];
      onRows?.(rows);
      timeline.add(name, kind, rows, rows.length < size);
      if (rows.length < size) return;
    }
  }

  async function events() {
    let after = null;
    for (let size = FIRST_PAGE; ; size = PAGE) {
      const body = await getJSON(`${base}/events`, { after, limit: size }, { signal: abort.signal });
      const rows = body.events || [];
      if (rows.length) after = state.lastSeq = rows[rows.length - 1].sequence_index;
      timeline.add("events", "event", rows, rows.length < size);
      if (rows.length < size) return;
    }
  }

  async function load() {
    // Everything is asked for at once (the first paint waits for the slowest first page);
    // the server answers another tenant's run with 404s everywhere, so nothing leaks
    // before the run itself is known. Every source is registered before any rows
    // arrive, so nothing is placed early.
    for (const name of ["notes", "events", "traces", "llm", "tools"]) timeline.source(name);
    const run = getJSON(base, null, { signal: abort.signal });
    const pauses = getJSON(`${base}/pauses`, { limit: PAGE }, { signal: abort.signal }).then((body) => {
      for (const p of body.pauses) {
        context.pauses.set(p.pause_sequence_index, p);
        const node = timeline.nodes.get("e" + p.pause_sequence_index);
        if (node) timeline.refresh(node);
      }
    });
    const notes = getJSON(`${base}/notes`, null, { signal: abort.signal }).then((body) => {
      for (const n of body.notes) state.notes.add(n.note_id);
      timeline.add("notes", "note", body.notes, true);
    });
    const rows = Promise.all([
      pauses,
      notes,
      events(),
      pages("traces", "trace", `${base}/traces`, "traces", (page) => (state.traces += page.length)),
      pages("llm", "llm", `${base}/llm-calls`, "llm_calls", (page) => {
        state.llmCalls.push(...page);
        drawChart();
      }),
      pages("tools", "tool", `${base}/tool-calls`, "tool_calls"),
    ]);
    rows.catch(() => {}); // a 404 is reported once, below, from the run itself
    try {
      context.run = await run;
    } catch (err) {
      abort.abort();
      if (state.disposed) return;
      const missing = err instanceof ApiError && err.status === 404;
      replace(
        page,
        h("nav", { class: "crumbs" }, h("a", { href: viewHref("runs", {}) }, "Runs")),
        h("div", { class: "panel empty", id: "run-missing" }, missing ? "Run not found." : "Could not load this run: " + err.message),
      );
      return;
    }
    drawHeader();
    refreshHeader(true);
    await rows;
    drawChart();
    timeline.onRendered();
    if (!TERMINAL.has(context.run.status)) follow();
    else liveState.dataset.state = "finished";
  }

  // -- live ---------------------------------------------------------------------------

  let chain = Promise.resolve();

  function follow() {
    state.timer = setInterval(() => !TERMINAL.has(context.run.status) && drawHeader(), 1000);
    state.follower = followEvents(`${base}/events/stream`, {
      after: state.lastSeq,
      onEvent: ({ data }) => {
        if (data && typeof data === "object") chain = chain.then(() => onLiveEvent(data)).catch(() => {});
      },
      onState: (s) => {
        liveState.dataset.state = s;
        liveState.textContent = s === "live" ? "● live" : s === "reconnecting" ? "reconnecting…" : "";
      },
      onEnd: () => {
        chain = chain.then(() => finish());
      },
    });
  }

  async function finish() {
    clearInterval(state.timer);
    await refreshHeader(true);
    liveState.dataset.state = "ended";
    liveState.textContent = "";
  }

  // One event from the stream: the rows it refers to, new messages and notes, then the
  // event itself. The event always reaches the page (as its own node when its row could
  // not be read), so a failed read never leaves a gap in the sequence.
  async function onLiveEvent(event) {
    if (state.disposed || event.sequence_index <= state.lastSeq) return; // never twice
    state.lastSeq = event.sequence_index;
    const fresh = [];
    try {
      await liveRows(event, fresh);
    } catch {
      /* the next event reads the messages and notes again (by offset, by id) */
    }
    fresh.push(nodeOf.event(event));
    timeline.appendLive(fresh);
    const terminal = isTerminal(event.event_type);
    await refreshHeader(terminal);
  }

  async function liveRows(event, fresh) {
    const type = event.event_type;
    const opts = { signal: abort.signal };
    if (type === "llm.completed" || type === "tool.completed") {
      const llm = type === "llm.completed";
      const body = await getJSON(`${base}/${llm ? "llm-calls" : "tool-calls"}`, { iteration: event.iteration_index, limit: PAGE }, opts);
      for (const row of body[llm ? "llm_calls" : "tool_calls"] || []) {
        const node = nodeOf[llm ? "llm" : "tool"](row);
        if (timeline.nodes.has(node.id) || fresh.some((n) => n.id === node.id)) continue;
        fresh.push(node);
        if (llm) state.llmCalls.push(row);
      }
      if (llm) drawChart();
    }
    if (type === "run.paused" || type === "run.resumed") {
      const body = await getJSON(`${base}/pauses`, { limit: PAGE }, opts);
      for (const p of body.pauses) context.pauses.set(p.pause_sequence_index, p);
      for (const p of body.pauses) {
        const node = timeline.nodes.get("e" + p.pause_sequence_index);
        if (node) timeline.refresh(node);
      }
    }
    const traces = await getJSON(`${base}/traces`, { offset: state.traces, limit: PAGE }, opts);
    state.traces += traces.traces.length;
    fresh.push(...traces.traces.map(nodeOf.trace));
    const notes = await getJSON(`${base}/notes`, null, opts);
    for (const n of notes.notes) {
      if (state.notes.has(n.note_id)) continue;
      state.notes.add(n.note_id);
      fresh.push(nodeOf.note(n));
    }
  }

  // -- selection, inspector, keyboard ------------------------------------------------------

  function select(nodeId, scroll) {
    const node = timeline.nodes.get(nodeId);
    if (!node?.el) {
      state.wanted = nodeId; // not on the page yet: opened when it is rendered
      return;
    }
    state.wanted = null;
    if (state.cursor && state.cursor !== node) state.cursor.el?.classList.remove("selected");
    state.cursor = node;
    node.el.classList.add("selected");
    inspector.show(node, context);
    if (scroll) node.el.scrollIntoView({ block: "nearest" });
  }

  function closeInspector() {
    inspector.close();
    if (location.hash !== runHref(runId)) navigate(runHref(runId), { replace: true });
  }

  function onKey(e) {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.target.closest?.("input, textarea, select, [contenteditable]") || document.querySelector("dialog[open]")) return;
    if (e.key === "Escape" && inspector.open) {
      e.preventDefault();
      closeInspector();
      return;
    }
    if (e.key === "Enter" && state.cursor && !inspector.open && !e.target.closest?.("a, button")) {
      e.preventDefault();
      navigate(runHref(runId, state.cursor.id));
      return;
    }
    if (e.key !== "j" && e.key !== "k") return;
    const order = timeline.order.filter((n) => n.el);
    if (!order.length) return;
    e.preventDefault();
    let i = state.cursor ? order.indexOf(state.cursor) : -1;
    i = e.key === "j" ? Math.min(i + 1, order.length - 1) : Math.max(i - 1, 0);
    navigate(runHref(runId, order[i].id), { replace: true });
    order[i].el.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", onKey);

  load().catch((err) => {
    if (!state.disposed && !(err?.name === "AbortError")) {
      list.after(h("p", { class: "error-box" }, "Could not load the timeline: " + (err?.message || err)));
    }
  });

  return {
    update(next) {
      if (next.runId !== runId) return false;
      if (next.nodeId) select(next.nodeId, true);
      else if (inspector.open) inspector.close();
      return true;
    },
    dispose() {
      state.disposed = true;
      abort.abort();
      state.follower?.stop();
      clearInterval(state.timer);
      cancelAnimationFrame(chartFrame);
      timeline.dispose();
      inspector.close();
      document.removeEventListener("keydown", onKey);
    },
  };
}
