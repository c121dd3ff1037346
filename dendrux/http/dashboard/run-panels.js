// The run page's panels beside the timeline: the header figures, the per-iteration
// chart, the delegation subtree and the retry lineage. Each is a pure function of the
// data the view loaded, re-rendered when it changes.

import { h, fmtInt, fmtCompact, fmtCost, fmtDuration, fmtTime, millisBetween, statusBadge, TERMINAL, ellipsis } from "./dom.js";
import { runHref } from "./router.js";
import { barChart } from "./charts.js";

function figure(label, value, key) {
  return h("div", { class: "fig", dataset: { fig: key } }, h("div", { class: "fig-label" }, label), h("div", { class: "fig-value" }, value));
}

/** The header: who, what, when, how much. `usage` is the subtree root's live usage. */
export function header(run, { usage, retries, now = Date.now() }) {
  const finished = TERMINAL.has(run.status);
  const live = !finished && usage;
  const tokens = live
    ? { in: usage.input_tokens, out: usage.output_tokens, cr: usage.cache_read_tokens, cw: usage.cache_write_tokens, re: usage.reasoning_tokens, cost: usage.cost_usd }
    : {
        in: run.total_input_tokens,
        out: run.total_output_tokens,
        cr: run.total_cache_read_tokens,
        cw: run.total_cache_creation_tokens,
        re: run.total_reasoning_tokens,
        cost: run.total_cost_usd,
      };
  const duration = finished ? millisBetween(run.created_at, run.updated_at) : now - Date.parse(run.created_at);
  const flags = [
    run.pause_requested ? h("span", { class: "chip chip-warn", dataset: { flag: "pause" } }, "pause requested") : null,
    run.cancel_requested ? h("span", { class: "chip chip-warn", dataset: { flag: "cancel" } }, "cancel requested") : null,
    live ? h("span", { class: "chip chip-live" }, "live usage") : null,
  ];
  const lineage = [];
  if (run.parent_run_id) lineage.push(h("span", null, "parent ", h("a", { href: runHref(run.parent_run_id), class: "mono", dataset: { link: "parent" } }, run.parent_run_id)));
  if (run.retry_of_run_id) lineage.push(h("span", null, "retry of ", h("a", { href: runHref(run.retry_of_run_id), class: "mono", dataset: { link: "retry-of" } }, run.retry_of_run_id)));
  if (retries?.length) {
    lineage.push(
      h(
        "span",
        null,
        "retried by ",
        retries.map((r, i) => [i ? ", " : "", h("a", { href: runHref(r.run_id), class: "mono", dataset: { link: "retried-by" } }, r.run_id), " ", statusBadge(r.status)]),
      ),
    );
  }
  return h(
    "section",
    { class: "panel run-header", id: "run-header" },
    h(
      "div",
      { class: "run-title" },
      h("h1", { dataset: { fig: "agent" } }, run.agent_name),
      h("span", { dataset: { fig: "status" } }, statusBadge(run.status)),
      flags,
      h("span", { class: "run-id mono muted", title: "run id" }, run.run_id),
    ),
    lineage.length ? h("div", { class: "run-lineage" }, lineage) : null,
    h(
      "div",
      { class: "figs" },
      figure("Model", run.model || "–", "model"),
      figure("Tenant", run.tenant_id ?? "–", "tenant"),
      figure("Started", h("time", { datetime: run.created_at || "" }, fmtTime(run.created_at)), "started"),
      figure("Duration", fmtDuration(duration), "duration"),
      figure("Iterations", fmtInt(run.iteration_count), "iterations"),
      figure("Tokens in / out", `${fmtInt(tokens.in)} / ${fmtInt(tokens.out)}`, "tokens"),
      figure("Cache read / written", `${fmtInt(tokens.cr)} / ${fmtInt(tokens.cw)}`, "cache"),
      figure("Reasoning", fmtInt(tokens.re), "reasoning"),
      figure("Cost", fmtCost(tokens.cost), "cost"),
    ),
    run.failure_reason || run.error
      ? h(
          "div",
          { class: "error-box run-error", dataset: { fig: "error" } },
          run.failure_reason ? h("strong", null, run.failure_reason + ": ") : null,
          run.error || "",
        )
      : null,
    run.answer !== null && run.answer !== undefined
      ? h("div", { class: "run-answer", dataset: { fig: "answer" } }, h("span", { class: "muted" }, "Answer "), ellipsis(run.answer, 400))
      : null,
  );
}

const MAX_BARS = 120;

/** Tokens (in and out) and cost per iteration, from the LLM calls loaded so far. */
export function iterationChart(llmCalls) {
  const by = new Map();
  for (const c of llmCalls) {
    const it = by.get(c.iteration) || { tokens: 0, input: 0, output: 0, cost: 0, priced: false };
    it.input += c.input_tokens || 0;
    it.output += c.output_tokens || 0;
    it.tokens += (c.input_tokens || 0) + (c.output_tokens || 0);
    if (c.cost_usd !== null && c.cost_usd !== undefined) {
      it.cost += c.cost_usd;
      it.priced = true;
    }
    by.set(c.iteration, it);
  }
  if (!by.size) return h("p", { class: "muted" }, "No LLM calls yet.");
  // Long runs: consecutive iterations share a bar, so the chart stays readable and light.
  const keys = [...by.keys()].sort((a, b) => a - b);
  const per = Math.ceil(keys.length / MAX_BARS);
  const bars = [];
  for (let i = 0; i < keys.length; i += per) {
    const group = keys.slice(i, i + per);
    const sum = { input: 0, output: 0, tokens: 0, cost: 0, priced: false };
    for (const k of group) {
      const it = by.get(k);
      sum.input += it.input;
      sum.output += it.output;
      sum.tokens += it.tokens;
      sum.cost += it.cost;
      sum.priced = sum.priced || it.priced;
    }
    const name = group.length > 1 ? `#${group[0]}–${group[group.length - 1]}` : "#" + group[0];
    bars.push({ name, ...sum });
  }
  const tokens = bars.map((b) => ({ label: b.name, title: `iteration ${b.name}: ${fmtInt(b.input)} in, ${fmtInt(b.output)} out`, value: b.tokens }));
  const cost = bars.map((b) => ({ label: b.name, title: "iteration " + b.name, value: b.priced ? b.cost : null }));
  return h(
    "div",
    { class: "iter-charts" },
    barChart(tokens, { format: fmtCompact, caption: "Tokens per iteration" }),
    barChart(cost, { format: fmtCost, caption: "Cost per iteration", barClass: "bar bar-2" }),
  );
}

/** The delegation subtree: one row per run, indented by depth, with its own usage. */
export function subtreePanel(subtree, currentId) {
  const rows = subtree.nodes.map((n) =>
    h(
      "li",
      { class: ["sub-node", n.run.run_id === currentId ? "current" : null], dataset: { run: n.run.run_id, depth: n.depth } },
      (() => {
        const pad = h("span", { class: "sub-indent", "aria-hidden": "true" });
        pad.style.width = n.depth * 1.1 + "rem"; // CSSOM: the CSP refuses style attributes
        return pad;
      })(),
      h("a", { href: runHref(n.run.run_id), class: "sub-agent" }, n.run.agent_name),
      statusBadge(n.run.status),
      h("span", { class: "sub-usage num" }, `${fmtCompact(n.usage.input_tokens + n.usage.output_tokens)} tok · ${fmtCost(n.usage.cost_usd)}`),
    ),
  );
  const u = subtree.usage;
  return h(
    "div",
    { class: "subtree" },
    h("ul", { class: "sub-list" }, rows),
    h(
      "p",
      { class: "sub-total muted", dataset: { fig: "subtree-total" } },
      `${subtree.nodes.length} run${subtree.nodes.length === 1 ? "" : "s"} · ${fmtInt(u.input_tokens)} in · ${fmtInt(u.output_tokens)} out · ${fmtCost(u.cost_usd)}`,
      u.unpriced_calls ? ` (${u.unpriced_calls} unpriced)` : "",
    ),
  );
}
