// The runs table: one row per run, delegation as a tree.
//
// Runs on the page whose parent is also on the page nest under it. For each
// top-level run the page also knows (once `runs/<id>/subtree` answered) all of its
// descendants, on the page or not; those nest under it instead, behind an expander
// showing how many there are. A run with children on the page starts expanded; one
// whose descendants are only known from its subtree starts collapsed.

import { h, fmtAgo, fmtCost, fmtDuration, fmtInt, fmtTime, millisBetween, statusBadge, TERMINAL } from "./dom.js";
import { runHref } from "./router.js";

export const COLUMNS = [
  ["", "col-tree"],
  ["Status", "col-status"],
  ["Run", "col-run"],
  ["Agent", "col-agent"],
  ["Model", "col-model hide-narrow"],
  ["Tenant", "col-tenant hide-narrow hide-medium"],
  ["Started", "col-started"],
  ["Duration", "col-duration num"],
  ["Iter.", "col-iter num hide-narrow hide-medium"],
  ["Tokens in / out", "col-tokens num"],
  ["Cost", "col-cost num hide-narrow"],
];

export function shortId(id) {
  return id.length > 12 ? "…" + id.slice(-10) : id;
}

/** Finished: updated_at - created_at; still going: the time so far. */
function durationCell(run, now) {
  if (TERMINAL.has(run.status)) return h("span", null, fmtDuration(millisBetween(run.created_at, run.updated_at)));
  const so_far = now - new Date(run.created_at).getTime();
  if (!isFinite(so_far)) return h("span", { class: "muted" }, "–");
  // The status pill already says it is going: the time so far, muted, is enough.
  const verb = run.status === "running" ? "running for " : "open for ";
  return h("span", { class: "muted so-far", title: verb + fmtDuration(so_far) }, fmtDuration(so_far));
}

/**
 * One run row. `depth` indents the run cell; `toggle` is null or
 * {count, expanded, onToggle} for a run with descendants; `usage` a subtree node's
 * live usage (used while a child still runs, its finalized totals being zero).
 */
function runRow(run, { depth = 0, toggle = null, usage = null, hidden = false, rootId, now }) {
  const live = usage && !TERMINAL.has(run.status);
  const tokensIn = live ? usage.input_tokens : run.total_input_tokens;
  const tokensOut = live ? usage.output_tokens : run.total_output_tokens;
  const cost = live ? usage.cost_usd : run.total_cost_usd;
  const treeCell = h("td", { class: "col-tree" });
  if (toggle) {
    treeCell.appendChild(
      h(
        "button",
        {
          type: "button",
          class: "tree-toggle",
          "aria-expanded": toggle.expanded ? "true" : "false",
          "aria-label": (toggle.expanded ? "Collapse " : "Expand ") + toggle.count + " delegated runs",
          title: toggle.count + (toggle.count === 1 ? " delegated run" : " delegated runs"),
          onclick: (event) => {
            event.stopPropagation();
            toggle.onToggle();
          },
        },
        h("span", { class: "tree-caret", "aria-hidden": "true" }, "▸"),
        h("span", { class: "tree-count" }, String(toggle.count)),
      ),
    );
  }
  const runCell = h(
    "td",
    { class: "col-run" },
    h("a", { href: runHref(run.run_id), class: "run-link mono", title: run.run_id }, shortId(run.run_id)),
  );
  if (depth > 0) {
    runCell.classList.add("nested");
    runCell.style.paddingLeft = 0.6 + depth * 1.1 + "rem"; // CSSOM: allowed by the CSP
  }
  const row = h(
    "tr",
    {
      class: ["run-row", depth > 0 ? "child-row" : "", hidden ? "is-hidden" : ""],
      dataset: { runId: run.run_id, status: run.status, depth: depth, root: rootId || run.run_id },
    },
    treeCell,
    h("td", { class: "col-status" }, statusBadge(run.status)),
    runCell,
    h("td", { class: "col-agent" }, h("span", { class: "agent", title: run.agent_name }, run.agent_name)),
    h("td", { class: "col-model hide-narrow" }, run.model ? h("span", { class: "mono small", title: run.model }, run.model) : h("span", { class: "muted" }, "–")),
    h("td", { class: "col-tenant hide-narrow hide-medium" }, run.tenant_id ?? h("span", { class: "muted" }, "–")),
    h("td", { class: "col-started nowrap", title: fmtTime(run.created_at) }, fmtAgo(run.created_at, now)),
    h("td", { class: "col-duration num" }, durationCell(run, now)),
    h("td", { class: "col-iter num hide-narrow hide-medium" }, fmtInt(run.iteration_count)),
    h("td", { class: "col-tokens num" }, fmtInt(tokensIn), h("span", { class: "muted" }, " / "), fmtInt(tokensOut)),
    h("td", { class: "col-cost num hide-narrow" }, fmtCost(cost)),
  );
  return row;
}

/**
 * The rows of a page: runs in page order, each top-level one followed by its
 * descendants (depth first). `subtrees` maps a top-level run id to its
 * `/subtree` body; `expanded` maps a run id to a boolean the user chose.
 */
export function buildRows(runs, { subtrees, expanded, onToggle, now = Date.now() }) {
  const onPage = new Map(runs.map((run) => [run.run_id, run]));
  const children = new Map(); // parent id -> [{run, usage}]
  const covered = new Set(); // runs placed under a top-level run's subtree
  let roots = runs.filter((run) => !(run.parent_run_id && onPage.has(run.parent_run_id)));
  // A top-level run inside another top-level run's subtree (its parent is off the
  // page, a grandparent on it) nests there rather than showing twice.
  for (const root of roots) {
    for (const node of subtrees.get(root.run_id)?.nodes || []) if (node.depth > 0) covered.add(node.run.run_id);
  }
  roots = roots.filter((run) => !covered.has(run.run_id));
  const known = new Map(); // per root: count of descendants
  for (const root of roots) {
    const tree = subtrees.get(root.run_id);
    if (!tree) continue;
    const below = tree.nodes.filter((n) => n.depth > 0);
    known.set(root.run_id, below.length);
    for (const node of below) {
      const list = children.get(node.run.parent_run_id) || [];
      list.push({ run: node.run, usage: node.usage, fromSubtree: !onPage.has(node.run.run_id) });
      children.set(node.run.parent_run_id, list);
    }
  }
  // Runs nested only because their parent is on the page (no subtree yet).
  for (const run of runs) {
    if (!run.parent_run_id || !onPage.has(run.parent_run_id) || covered.has(run.run_id)) continue;
    const list = children.get(run.parent_run_id) || [];
    list.push({ run, usage: null, fromSubtree: false });
    children.set(run.parent_run_id, list);
  }
  const rows = [];
  // A top-level run starts open when some of its children are on the page; below it
  // everything starts open, so expanding a root shows the whole count it announced.
  const isExpanded = (id, depth) => {
    if (expanded.has(id)) return expanded.get(id);
    return depth > 0 || (children.get(id) || []).some((c) => !c.fromSubtree);
  };
  const count = (id) => {
    const list = children.get(id) || [];
    return list.reduce((n, c) => n + 1 + count(c.run.run_id), 0);
  };
  function place(item, depth, hidden, rootId) {
    const id = item.run.run_id;
    const kids = children.get(id) || [];
    const open = isExpanded(id, depth);
    const total = depth === 0 && known.has(id) ? known.get(id) : count(id);
    const toggle = kids.length ? { count: total, expanded: open, onToggle: () => onToggle(id, !open) } : null;
    rows.push(runRow(item.run, { depth, toggle, usage: item.usage, hidden, rootId, now }));
    for (const kid of kids) place(kid, depth + 1, hidden || !open, rootId);
  }
  for (const root of roots) place({ run: root, usage: null }, 0, false, root.run_id);
  return rows;
}

/** The ids of the page's top-level runs (those a subtree is fetched for). */
export function topLevelIds(runs) {
  const onPage = new Set(runs.map((r) => r.run_id));
  return runs.filter((r) => !(r.parent_run_id && onPage.has(r.parent_run_id))).map((r) => r.run_id);
}
