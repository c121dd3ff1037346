// The overview (#/overview?days=30): a window's runs, error rate, tokens, cost and
// p50/p95 duration, per day as small charts and by agent, model and tenant as
// tables. Four `/stats` requests (one per group_by) run in parallel; every figure
// is the server's (the page sums nothing), so the page and `dendrux stats` agree.

import { getJSON } from "./api.js";
import { barChart } from "./charts.js";
import { h, fmtCompact, fmtCost, fmtDuration, fmtInt, fmtPercent, replace } from "./dom.js";
import { viewHref } from "./router.js";

const WINDOWS = [
  [1, "24 h"],
  [7, "7 d"],
  [30, "30 d"],
  [90, "90 d"],
];
const GROUPS = ["agent", "model", "tenant"];
const REFRESH_MS = 30000;
const DAY_MS = 86400000;

function windowDays(params) {
  const days = Number(params.get("days"));
  return WINDOWS.some(([d]) => d === days) ? days : 30;
}

function figure(label, value, note, id, raw) {
  return h(
    "div",
    { class: "panel figure", dataset: { figure: id, value: raw ?? "" } },
    h("div", { class: "figure-label" }, label),
    h("div", { class: "figure-value" }, value),
    note ? h("div", { class: "figure-note" }, note) : null,
  );
}

function headline(total) {
  const finished = total.finished;
  return h(
    "div",
    { class: "headline", id: "headline" },
    figure("Runs", fmtInt(total.runs), fmtInt(finished) + " finished", "runs", total.runs),
    figure("Error rate", fmtPercent(total.error_rate), fmtInt(total.errors) + " errors", "error_rate", total.error_rate),
    figure("Tokens in", fmtCompact(total.input_tokens), fmtInt(total.input_tokens), "input_tokens", total.input_tokens),
    figure("Tokens out", fmtCompact(total.output_tokens), fmtInt(total.output_tokens), "output_tokens", total.output_tokens),
    figure("Cost", fmtCost(total.cost_usd), total.unpriced_runs ? fmtInt(total.unpriced_runs) + " unpriced" : "", "cost_usd", total.cost_usd),
    figure("p50 duration", fmtDuration(total.p50_duration_ms), "finished runs", "p50_duration_ms", total.p50_duration_ms),
    figure("p95 duration", fmtDuration(total.p95_duration_ms), "finished runs", "p95_duration_ms", total.p95_duration_ms),
  );
}

/** Every UTC day of the window, with a zero row where no run started. */
function everyDay(groups, after, before) {
  const byKey = new Map(groups.map((g) => [g.key, g]));
  const out = [];
  const start = Date.UTC(after.getUTCFullYear(), after.getUTCMonth(), after.getUTCDate());
  for (let t = start; t < before.getTime(); t += DAY_MS) {
    const key = new Date(t).toISOString().slice(0, 10);
    out.push(byKey.get(key) || { key, runs: 0, errors: 0, finished: 0, error_rate: null, input_tokens: 0, output_tokens: 0, cost_usd: null, p50_duration_ms: null, p95_duration_ms: null });
  }
  return out;
}

function dayCharts(days) {
  const label = (d) => d.key.slice(5);
  const chart = (caption, value, format) =>
    h("div", { class: "panel" }, barChart(days.map((d) => ({ label: label(d), title: d.key, value: value(d) })), { caption, format }));
  return h(
    "div",
    { class: "charts", id: "day-charts" },
    chart("Runs per day", (d) => d.runs, fmtInt),
    chart("Error rate", (d) => d.error_rate, fmtPercent),
    chart("Tokens (in + out)", (d) => d.input_tokens + d.output_tokens, fmtCompact),
    chart("Cost", (d) => d.cost_usd, fmtCost),
    chart("p50 duration", (d) => d.p50_duration_ms, fmtDuration),
    chart("p95 duration", (d) => d.p95_duration_ms, fmtDuration),
  );
}

const KEY_LABEL = { agent: "Agent", model: "Model", tenant: "Tenant" };
const NONE_LABEL = { agent: "(none)", model: "(no model)", tenant: "(no tenant)" };

function breakdown(group, stats) {
  const keyCell = (row) => {
    if (row.key === null) return h("span", { class: "muted" }, NONE_LABEL[group]);
    if (group === "agent") return h("a", { href: viewHref("runs", { agent_name: row.key }), class: "key", title: "Runs of " + row.key }, row.key);
    if (group === "tenant") return h("a", { href: viewHref("runs", { tenant_id: row.key }), class: "key", title: "Runs of tenant " + row.key }, row.key);
    return h("span", { class: "key mono small", title: row.key }, row.key);
  };
  const rows = stats.groups.map((row) =>
    h(
      "tr",
      { dataset: { key: row.key ?? "" } },
      h("td", null, keyCell(row)),
      h("td", { class: "num" }, fmtInt(row.runs)),
      h("td", { class: "num" }, fmtPercent(row.error_rate)),
      h("td", { class: "num hide-narrow" }, fmtCompact(row.input_tokens), h("span", { class: "muted" }, " / "), fmtCompact(row.output_tokens)),
      h("td", { class: "num" }, fmtCost(row.cost_usd)),
      h("td", { class: "num hide-narrow" }, fmtDuration(row.p50_duration_ms)),
      h("td", { class: "num" }, fmtDuration(row.p95_duration_ms)),
    ),
  );
  return h(
    "section",
    { class: "panel breakdown", id: "by-" + group },
    h("div", { class: "panel-head" }, h("h2", null, "By " + KEY_LABEL[group].toLowerCase())),
    rows.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            null,
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                h("th", { scope: "col" }, KEY_LABEL[group]),
                h("th", { class: "num", scope: "col" }, "Runs"),
                h("th", { class: "num", scope: "col" }, "Error rate"),
                h("th", { class: "num hide-narrow", scope: "col" }, "Tokens in / out"),
                h("th", { class: "num", scope: "col" }, "Cost"),
                h("th", { class: "num hide-narrow", scope: "col" }, "p50"),
                h("th", { class: "num", scope: "col" }, "p95"),
              ),
            ),
            h("tbody", null, rows),
          ),
        )
      : h("p", { class: "empty" }, "No runs in this window."),
  );
}

export function mount(root, route) {
  let days = windowDays(route.params);
  let groupBy = GROUPS.includes(route.params.get("group_by")) ? route.params.get("group_by") : "agent";
  let loading = 0;
  let shown = null; // the figures on the page, to skip redrawing the same ones
  const controller = new AbortController();
  const content = h("div", { class: "overview-body" }, h("p", { class: "empty" }, "Loading figures…"));
  const picker = h("nav", { class: "window-picker", "aria-label": "Time window" });
  const view = h(
    "section",
    { class: "overview-view", id: "overview-view" },
    h("div", { class: "view-head" }, h("h1", null, "Overview"), picker),
    content,
  );
  replace(root, view);

  function renderPicker() {
    replace(
      picker,
      WINDOWS.map(([d, label]) =>
        h("a", { href: viewHref("overview", { days: d, group_by: groupBy === "agent" ? null : groupBy }), "aria-current": d === days ? "true" : "false", dataset: { days: d } }, label),
      ),
    );
  }

  async function load({ quiet = false } = {}) {
    const mine = ++loading;
    const before = new Date();
    const after = new Date(before.getTime() - days * DAY_MS);
    const params = { started_after: after.toISOString() };
    if (!quiet) replace(content, h("p", { class: "empty" }, "Loading figures…"));
    try {
      const [byDay, ...groups] = await Promise.all(
        ["day", ...GROUPS].map((g) => getJSON("stats", { ...params, group_by: g }, { signal: controller.signal })),
      );
      if (mine !== loading) return;
      // A background refresh that changed no figure leaves the page (and focus) alone.
      const figures = JSON.stringify([byDay.total, byDay.groups, ...groups.map((g) => g.groups)]);
      if (quiet && figures === shown) return;
      shown = figures;
      view.dataset.startedAfter = byDay.started_after;
      const order = [groupBy, ...GROUPS.filter((g) => g !== groupBy)];
      const tables = Object.fromEntries(GROUPS.map((g, i) => [g, groups[i]]));
      replace(
        content,
        headline(byDay.total),
        byDay.total.runs ? dayCharts(everyDay(byDay.groups, after, before)) : null,
        byDay.total.runs
          ? h("div", { class: "breakdowns" }, order.map((g) => breakdown(g, tables[g])))
          : h("div", { class: "panel empty", id: "overview-empty" }, "No runs started in the last ", WINDOWS.find(([d]) => d === days)[1], ". Pick a longer window, or record a run."),
        h("p", { class: "muted overview-note" }, "Durations are over finished runs (last update minus start); days are UTC. Cost counts priced runs only."),
      );
    } catch (err) {
      if (mine !== loading || controller.signal.aborted) return;
      if (quiet) return;
      replace(
        content,
        h("div", { class: "error-box", role: "alert", id: "overview-error" }, "The figures could not be loaded: ", err.message || String(err), " ", h("button", { type: "button", class: "link-button", onclick: () => load() }, "Retry")),
      );
    }
  }

  const timer = setInterval(() => {
    if (document.visibilityState === "visible") load({ quiet: true });
  }, REFRESH_MS);
  renderPicker();
  load();

  return {
    update(next) {
      days = windowDays(next.params);
      groupBy = GROUPS.includes(next.params.get("group_by")) ? next.params.get("group_by") : "agent";
      renderPicker();
      load();
      return true;
    },
    dispose() {
      loading++;
      controller.abort();
      clearInterval(timer);
    },
  };
}
