// A run's timeline: what a node is, how rows become nodes, and how nodes reach the page.
//
// What a node is (so "the timeline's node counts equal the database's" is checkable):
//   - one `trace` node per trace row (a message),            id "m<order_index>"
//   - one `llm` node per LLM call row,                       id "l<interaction id>"
//   - one `tool` node per tool call row,                      id "t<tool_call_id>"
//   - one `note` node per inbox note,                         id "n<note id>"
//   - one `event` node per run event, EXCEPT an `llm.completed` / `tool.completed`
//     event whose correlation_id names an LLM / tool node already on the page: that
//     event is shown inside its node instead.             id "e<sequence_index>"
// Every node that shows an event carries data-seq="<sequence_index>", so the events on
// the page are exactly the [data-seq] elements, each once. A `run.paused` event node
// carries its pause (what was pending, how long the run waited, what was submitted);
// the terminal event node carries the final answer or error.
//
// Order: by created_at (ties: events by sequence index, then kind), grouped under an
// iteration heading whenever the iteration changes. The rows come from five paged
// routes at once; a node is placed only once every unfinished source has loaded past
// its time (a merge by watermark), so the first screen paints from the first page of
// each route and the rest is appended in frame-sized chunks without blocking input.

import { h, append, fmtInt, fmtCost, fmtDuration, ellipsis } from "./dom.js";
import { describeType, isTerminal, toneOf } from "./vocabulary.js";

// On a tie, rows before events: the recorder writes an LLM or tool row, then its event.
const KIND_RANK = { trace: 0, llm: 1, tool: 2, note: 3, event: 4 };
const FIRST_CHUNK = 60; // the first screen, in the first frame
const CHUNK = 1200; // then nodes per animation frame
const GROUP = 200; // nodes per group (the unit the browser may skip offscreen)

/** An ISO instant in milliseconds, keeping the microseconds Date.parse drops. */
function at(iso) {
  const t = iso ? Date.parse(iso) : NaN;
  if (!isFinite(t)) return 0;
  const frac = /\.(\d{4,6})/.exec(iso);
  return frac ? t + Number(frac[1].slice(3).padEnd(3, "0")) / 1000 : t;
}

/** Node constructors, one per kind; `row` is the route's record as served. */
export const nodeOf = {
  trace: (row) => ({
    id: "m" + row.order_index,
    kind: "trace",
    iteration: typeof row.meta?.iteration === "number" ? row.meta.iteration : null,
    at: at(row.created_at),
    sub: row.order_index,
    row,
  }),
  llm: (row) => ({ id: "l" + (row.id ?? `${row.iteration}-${row.created_at}`), kind: "llm", iteration: row.iteration, at: at(row.created_at), sub: 0, row }),
  tool: (row) => ({ id: "t" + row.tool_call_id, kind: "tool", iteration: row.iteration, at: at(row.created_at), sub: 0, row }),
  note: (row) => ({ id: "n" + row.note_id, kind: "note", iteration: row.delivered_iteration ?? null, at: at(row.created_at), sub: 0, row }),
  event: (row) => ({ id: "e" + row.sequence_index, kind: "event", iteration: row.iteration_index, at: at(row.created_at), sub: row.sequence_index, row }),
};

function compare(a, b) {
  return a.at - b.at || KIND_RANK[a.kind] - KIND_RANK[b.kind] || a.sub - b.sub;
}

/**
 * The timeline's model and DOM. `container` receives the nodes; `hrefOf(node)` is a
 * node's own URL (its link: following it opens the node). `context` holds what nodes show beside their row: pauses by
 * the sequence index of their run.paused event, and the run (final answer / error).
 */
export class Timeline {
  constructor(container, { hrefOf, context }) {
    this.container = container;
    this.hrefOf = hrefOf;
    this.context = context;
    this.nodes = new Map(); // id -> node (placed on the page)
    this.order = []; // placed nodes in page order
    this.pending = []; // loaded, not yet placed (waiting for the watermark)
    this.queue = []; // placed in order, not yet rendered
    this.sources = new Map(); // name -> {done, lastAt}
    this.lastIteration = undefined;
    this.frame = 0;
    this.disposed = false;
    this.onRendered = null;
    this.marked = false;
    this.markedAll = false;
  }

  dispose() {
    this.disposed = true;
    cancelAnimationFrame(this.frame);
  }

  source(name) {
    this.sources.set(name, { done: false, lastAt: -Infinity });
  }

  /** Rows of one source arrived (in the source's time order); `done` on its last page. */
  add(name, kind, rows, done) {
    const src = this.sources.get(name);
    for (const row of rows) this.pending.push(nodeOf[kind](row));
    if (rows.length) src.lastAt = Math.max(src.lastAt, at(rows[rows.length - 1].created_at));
    src.done = src.done || done;
    this.flush();
  }

  /** Place every pending node at or before the watermark, in order. */
  flush() {
    let mark = Infinity;
    for (const src of this.sources.values()) if (!src.done) mark = Math.min(mark, src.lastAt);
    if (!this.pending.length) {
      this.schedule(); // a frame still reports completion
      return;
    }
    this.pending.sort(compare);
    let n = 0;
    while (n < this.pending.length && this.pending[n].at <= mark) n++;
    const ready = this.pending.splice(0, n);
    for (const node of ready) this.place(node);
    this.schedule();
  }

  /** Live: place nodes now, at the end (they are newer than everything on the page). */
  appendLive(nodes) {
    nodes.sort(compare);
    for (const node of nodes) this.place(node);
    this.schedule();
  }

  get complete() {
    for (const src of this.sources.values()) if (!src.done) return false;
    return !this.pending.length && !this.queue.length;
  }

  place(node) {
    if (this.nodes.has(node.id)) return;
    if (node.kind === "event" && (node.row.event_type === "llm.completed" || node.row.event_type === "tool.completed")) {
      const owner = this.nodes.get((node.row.event_type === "llm.completed" ? "l" : "t") + node.row.correlation_id);
      if (owner && !owner.event) {
        owner.event = node.row;
        if (owner.el) owner.el.dataset.seq = String(node.row.sequence_index);
        return;
      }
    }
    if (node.iteration === null || node.iteration === undefined) {
      node.iteration = this.order.length ? this.order[this.order.length - 1].iteration : 0;
    }
    this.nodes.set(node.id, node);
    this.order.push(node);
    this.queue.push(node);
  }

  schedule() {
    if (this.frame || this.disposed) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      if (this.disposed) return;
      // Nodes go in groups (one <li> holding an <ol> of up to GROUP nodes): the browser
      // skips layout and paint of offscreen groups (content-visibility in run.css), and
      // watching a few hundred groups costs far less than watching every node.
      const fragment = document.createDocumentFragment();
      let budget = this.marked ? CHUNK : FIRST_CHUNK;
      while (budget > 0 && this.queue.length) {
        const take = this.queue.splice(0, Math.min(budget, GROUP));
        budget -= take.length;
        const group = h("ol", { class: "tl-group" });
        for (const node of take) {
          if (node.iteration !== this.lastIteration) {
            this.lastIteration = node.iteration;
            group.appendChild(h("li", { class: "tl-iter", "aria-hidden": "true" }, "Iteration " + node.iteration));
          }
          node.el = this.render(node);
          group.appendChild(node.el);
        }
        fragment.appendChild(h("li", { class: "tl-chunk" }, group));
      }
      this.container.appendChild(fragment);
      // Marks for `python -m bench dashboard` (navigation -> first nodes, -> whole timeline).
      if (!this.marked && this.order.length) {
        this.marked = true;
        performance.mark("dendrux:timeline-first");
      }
      if (this.queue.length) this.schedule();
      this.onRendered?.();
      if (this.complete && !this.markedAll) {
        this.markedAll = true;
        performance.mark("dendrux:timeline-complete");
      }
    });
  }

  /** Re-render one node in place (its pause or the run's answer changed). */
  refresh(node) {
    if (!node.el) return;
    const fresh = this.render(node);
    node.el.replaceWith(fresh);
    node.el = fresh;
  }

  // The hot path of a long run: elements built directly (no attribute loop), text only
  // through textContent, so stored strings still never become markup.
  render(node) {
    const { title, detail, tone, meta } = describe(node, this.context);
    const li = el("li", "tl-node tl-" + node.kind + (tone ? " tone-" + tone : ""));
    li.id = "node-" + node.id;
    li.dataset.node = node.id;
    li.dataset.kind = node.kind;
    li.tabIndex = -1;
    const link = el("a", "tl-link");
    link.setAttribute("href", this.hrefOf(node)); // a real link ("#/runs/..."): copy it, open it in a tab
    const dot = el("span", "tl-dot");
    dot.setAttribute("aria-hidden", "true");
    link.append(dot, append(el("span", "tl-title"), title), append(el("span", "tl-meta"), meta));
    if (detail) link.append(el("span", "tl-detail", detail));
    li.append(link);
    const seq = node.kind === "event" ? node.row.sequence_index : node.event?.sequence_index;
    if (seq !== undefined) li.dataset.seq = String(seq);
    return li;
  }
}

/** An element with a class and, optionally, text (a Text node, never markup). */
function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

/** What a node says in the timeline: {title, detail, tone, meta}. */
export function describe(node, context) {
  const r = node.row;
  switch (node.kind) {
    case "trace":
      return {
        title: [el("span", "role role-" + String(r.role).replace(/[^a-z_]/g, ""), r.role), r.phase ? el("span", "chip", r.phase) : null],
        detail: ellipsis(r.content, 220) || "(empty)",
        meta: "",
      };
    case "llm":
      return {
        title: ["LLM call", el("span", "chip", r.model || "model?")],
        detail: ellipsis(r.reasoning, 160) || null,
        meta: [
          span(fmtInt(r.input_tokens) + " in · " + fmtInt(r.output_tokens) + " out"),
          span(fmtDuration(r.duration_ms)),
          span(fmtCost(r.cost_usd)),
        ],
      };
    case "tool":
      return {
        title: ["Tool", el("span", "tool-name", r.tool_name), el("span", "chip", r.target)],
        detail: (r.success ? "→ " : "✕ ") + (r.success ? ellipsis(r.result, 160) : ellipsis(r.error || r.result, 160)),
        tone: r.success ? null : "bad",
        meta: [span(ellipsis(r.params, 60)), span(fmtDuration(r.duration_ms))],
      };
    case "note":
      return {
        title: ["Note", r.delivered_at ? el("span", "chip", "delivered") : el("span", "chip", "undelivered")],
        detail: ellipsis(r.text, 200),
        tone: "note",
        meta: "",
      };
    default:
      return describeEvent(node, context);
  }
}

function span(text) {
  return el("span", "", text);
}

function describeEvent(node, context) {
  const r = node.row;
  const type = r.event_type;
  const data = r.data || {};
  if (type === "run.paused") {
    const pause = context.pauses.get(r.sequence_index);
    const pending = pause?.pending_tool_calls || data.pending_tool_calls || [];
    const waited = pause ? (pause.resume_at ? fmtDuration(Date.parse(pause.resume_at) - Date.parse(pause.pause_at)) : "still waiting") : "";
    return {
      title: ["Paused", el("span", "chip", data.status || pause?.reason || "")],
      detail: pending.length ? "pending: " + pending.map((p) => p?.name ?? "?").join(", ") : null,
      tone: "warn",
      meta: waited ? span("waited " + waited) : "",
    };
  }
  if (type === "run.resumed") {
    return { title: "Resumed", detail: data.user_input ? ellipsis(data.user_input, 160) : null, tone: "warn", meta: "" };
  }
  if (isTerminal(type)) {
    const run = context.run;
    const answer = type === "run.completed" ? run?.answer : run?.error || data.error;
    return {
      title: type === "run.completed" ? "Finished" : type.replace("run.", "Run "),
      detail: answer === null || answer === undefined ? null : ellipsis(answer, 260),
      tone: type === "run.completed" ? "ok" : "bad",
      meta: data.status ? span(data.status) : "",
    };
  }
  if (type === "run.started") {
    return { title: "Started", detail: data.agent_name ? ellipsis(data.agent_name, 120) : null, tone: null, meta: "" };
  }
  const label = el("span", "mono", type);
  const meaning = describeType(type).meaning;
  if (meaning) label.title = meaning;
  return {
    title: label,
    detail: Object.keys(data).length ? ellipsis(data, 160) : null,
    tone: toneOf(type),
    meta: "",
  };
}
