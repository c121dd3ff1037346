// The runs list (#/runs?...): filters kept in the URL, counts by status, a page of
// runs with delegation nested as a tree, paging by `has_more`, and live updates.
//
// Totals come from `/runs?total=capped` (never a full-table count: past 10,000 the
// page says "10,000+"), status counts from `/status-counts` (capped the same way).
// Live: the firehose (`events/stream`) says which runs just wrote an event; when one
// of them is on the page (or on the first page, any run: a new one may belong at
// the top) the page's rows are fetched again, debounced and at most once a second.
// Runs that write no event are caught by a slow poll while the tab is visible.

import { followEvents, getJSON } from "./api.js";
import { h, append, clear, fmtInt, replace, statusBadge, STATUSES, TERMINAL } from "./dom.js";
import { navigate, runHref, viewHref } from "./router.js";
import { filterForm, filtersFrom, isFiltered, PAGE_SIZES, queryOf } from "./list-filters.js";
import { buildRows, COLUMNS, topLevelIds } from "./list-table.js";

const REFRESH_DEBOUNCE_MS = 250;
const REFRESH_MIN_INTERVAL_MS = 1000; // a busy firehose refreshes at most once a second
const POLL_MS = 4000;
const SUBTREE_CONCURRENCY = 3;

export function mount(root, route) {
  let filters = filtersFrom(route.params);
  let page = null; // the last /runs body
  let counts = null; // the last /status-counts body
  let error = null;
  let loading = 0; // generation of the newest load; older answers are dropped
  let refreshTimer = null;
  let cursor = -1; // index of the keyboard row cursor among visible rows
  const subtrees = new Map(); // top-level run id -> /subtree body
  const expanded = new Map(); // run id -> bool the user chose
  const dirty = new Set(); // runs that wrote an event since their tree was last read
  let pollDue = false; // the slow poll asks every unfinished tree again
  let lastRefreshAt = 0;
  const controller = new AbortController();

  const countsBar = h("div", { class: "status-counts", id: "status-counts", role: "group", "aria-label": "Runs by status" });
  const summary = h("div", { class: "list-summary muted", id: "list-summary", "aria-live": "polite" });
  const tbody = h("tbody", { id: "runs-body" });
  const table = h(
    "table",
    { class: "runs-table", id: "runs-table" },
    h("thead", null, h("tr", null, COLUMNS.map(([label, cls]) => h("th", { class: cls, scope: "col" }, label || h("span", { class: "sr-only" }, "Delegated runs"))))),
    tbody,
  );
  const wrap = h("div", { class: "table-wrap" }, table);
  const body = h("div", { class: "list-body" });
  const pager = h("nav", { class: "pager", id: "pager", "aria-label": "Pages" });
  const formSlot = h("div", { class: "filters-slot" });
  let form = null;

  replace(
    root,
    h(
      "section",
      { class: "runs-view", id: "runs-view" },
      h("div", { class: "view-head" }, h("h1", null, "Runs"), summary),
      formSlot,
      countsBar,
      h("div", { class: "panel runs-panel" }, body, pager),
    ),
  );

  function go(next, { replace: replaceEntry = false } = {}) {
    navigate(viewHref("runs", queryOf(next)), { replace: replaceEntry });
  }

  function renderForm() {
    form = filterForm(filters, { onApply: (next) => go(next) });
    replace(formSlot, form.form);
  }

  function renderCounts() {
    clear(countsBar);
    if (!counts || error) return;
    const chosen = new Set(filters.status);
    for (const status of STATUSES) {
      const n = counts.counts[status] ?? 0;
      if (n === 0 && !chosen.has(status)) continue;
      const capped = n >= counts.at_most;
      countsBar.appendChild(
        h(
          "button",
          {
            type: "button",
            class: ["count-chip", chosen.has(status) ? "is-on" : ""],
            "aria-pressed": chosen.has(status) ? "true" : "false",
            title: chosen.has(status) ? "Stop filtering by " + status : "Show only " + status + " runs (add more to widen)",
            dataset: { status, count: n },
            onclick: () => {
              const next = new Set(chosen);
              if (next.has(status)) next.delete(status);
              else next.add(status);
              go({ ...filters, status: STATUSES.filter((s) => next.has(s)), offset: 0 });
            },
          },
          statusBadge(status),
          h("span", { class: "count-n num" }, fmtInt(n) + (capped ? "+" : "")),
        ),
      );
    }
  }

  function renderSummary() {
    if (!page) return replace(summary, "");
    const from = page.runs.length ? page.offset + 1 : 0;
    const to = page.offset + page.runs.length;
    const total = page.total === null ? "" : " of " + fmtInt(page.total) + (page.total_exact ? "" : "+");
    replace(summary, page.runs.length ? `${fmtInt(from)}–${fmtInt(to)}${total}` : "");
  }

  function renderPager() {
    clear(pager);
    if (!page || (!page.offset && !page.has_more)) return;
    const sizes = h(
      "select",
      {
        id: "page-size",
        "aria-label": "Runs per page",
        onchange: (e) => go({ ...filters, limit: Number(e.target.value), offset: 0 }),
      },
      PAGE_SIZES.map((n) => h("option", { value: n, selected: n === filters.limit }, n + " per page")),
    );
    append(
      pager,
      h("button", { type: "button", id: "page-prev", disabled: page.offset === 0, onclick: () => go({ ...filters, offset: Math.max(0, page.offset - filters.limit) }) }, "← Newer"),
      h("span", { class: "muted page-of" }, "Page " + fmtInt(Math.floor(page.offset / filters.limit) + 1)),
      h("button", { type: "button", id: "page-next", disabled: !page.has_more, onclick: () => go({ ...filters, offset: page.offset + filters.limit }) }, "Older →"),
      sizes,
    );
  }

  function renderBody() {
    if (error) {
      replace(
        body,
        h(
          "div",
          { class: "error-box list-error", id: "list-error", role: "alert" },
          h("strong", null, error.status === 400 ? "These filters are not valid. " : "The runs could not be loaded. "),
          error.message || "",
          " ",
          error.status === 400
            ? h("a", { href: "#/runs" }, "Clear the filters")
            : h("button", { type: "button", class: "link-button", onclick: () => load() }, error.status === 503 ? "The database is unreachable; retry" : "Retry"),
        ),
      );
      return;
    }
    if (!page) return replace(body, h("p", { class: "empty" }, "Loading runs…"));
    if (!page.runs.length) {
      const filtered = isFiltered(filters);
      replace(
        body,
        h(
          "div",
          { class: "empty", id: "list-empty" },
          filtered
            ? [h("p", null, "No runs match these filters."), h("a", { href: "#/runs" }, "Clear the filters")]
            : page.offset
              ? [h("p", null, "This page is past the last run."), h("a", { href: viewHref("runs", queryOf({ ...filters, offset: 0 })) }, "Back to the first page")]
              : [
                  h("p", null, "No runs recorded yet."),
                  h("p", { class: "muted" }, "Runs appear here as your agents record them (try ", h("code", null, "make demo"), "). This page updates by itself."),
                ],
        ),
      );
      return;
    }
    // Rows are rebuilt on every refresh: keep keyboard focus on the same control.
    const focused = document.activeElement;
    const focusRow = tbody.contains(focused) ? focused.closest("tr")?.dataset.runId : null;
    const focusClass = focusRow ? focused.classList[0] : null;
    const rows = buildRows(page.runs, {
      subtrees,
      expanded,
      onToggle: (id, open) => {
        expanded.set(id, open);
        renderBody();
      },
    });
    replace(tbody, rows);
    if (body.firstChild !== wrap) replace(body, wrap);
    markCursor(false);
    if (focusRow && focusClass) {
      const again = [...tbody.querySelectorAll("tr.run-row")].find((tr) => tr.dataset.runId === focusRow);
      again?.querySelector("." + focusClass)?.focus();
    }
  }

  function render() {
    renderCounts();
    renderSummary();
    renderBody();
    renderPager();
  }

  // -- data ----------------------------------------------------------------------------

  async function load({ quiet = false } = {}) {
    const mine = ++loading;
    if (!quiet) {
      error = null;
      page = null;
      renderBody();
    }
    const options = { signal: controller.signal };
    try {
      const [runs, byStatus] = await Promise.all([
        getJSON("runs", { ...queryOf(filters), limit: filters.limit, total: "capped" }, options),
        getJSON("status-counts", queryOf(filters, { paging: false, status: false }), options),
      ]);
      if (mine !== loading) return;
      // A background refresh that changed nothing redraws only for the clocks of
      // runs still going ("running for ...").
      const same = quiet && page && JSON.stringify([page, counts]) === JSON.stringify([runs, byStatus]);
      page = runs;
      counts = byStatus;
      error = null;
      if (same && page.runs.every((r) => TERMINAL.has(r.status))) return void loadSubtrees(mine);
    } catch (err) {
      if (mine !== loading || controller.signal.aborted) return;
      if (quiet && page) return; // a failed background refresh keeps what is shown
      error = err;
      page = null;
    }
    render();
    if (page) loadSubtrees(mine);
  }

  // Each top-level run's descendants, a few requests at a time after the first paint.
  // A finished tree never changes, so it is not asked for again.
  async function loadSubtrees(mine) {
    // Read a tree once, then again only while it is unfinished and one of its runs
    // wrote an event (or the slow poll says so: a new child writes under a new id).
    const wanted = topLevelIds(page.runs).filter((id) => {
      const tree = subtrees.get(id);
      if (!tree) return true;
      if (tree.nodes.every((n) => TERMINAL.has(n.run.status))) return false;
      return pollDue || tree.nodes.some((n) => dirty.has(n.run.run_id));
    });
    dirty.clear();
    pollDue = false;
    let next = 0;
    let changed = false;
    const worker = async () => {
      while (next < wanted.length && mine === loading) {
        const id = wanted[next++];
        try {
          const tree = await getJSON(`runs/${encodeURIComponent(id)}/subtree`, null, { signal: controller.signal });
          const before = subtrees.get(id);
          subtrees.set(id, tree);
          const nested = tree.nodes.length > 1 || (before && before.nodes.length > 1);
          if (nested && JSON.stringify(before) !== JSON.stringify(tree)) changed = true;
        } catch {
          /* gone or not visible: the run stays without its tree */
        }
      }
    };
    await Promise.all(Array.from({ length: SUBTREE_CONCURRENCY }, worker));
    if (changed && mine === loading && !controller.signal.aborted) renderBody();
  }

  function scheduleRefresh() {
    if (refreshTimer !== null) return;
    const wait = Math.max(REFRESH_DEBOUNCE_MS, REFRESH_MIN_INTERVAL_MS - (Date.now() - lastRefreshAt));
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      lastRefreshAt = Date.now();
      load({ quiet: true });
    }, wait);
  }

  const stream = followEvents("events/stream", {
    cursorParam: null,
    onEvent: ({ data }) => {
      const runId = data && data.run_id;
      if (!page || !runId) return;
      const known =
        page.runs.some((r) => r.run_id === runId) ||
        [...subtrees.values()].some((t) => t.nodes.some((n) => n.run.run_id === runId));
      if (!known && page.offset !== 0) return;
      dirty.add(runId); // bounded: cleared by the refresh this schedules
      if (!known) pollDue = true; // a new run: maybe a new child of a tree on the page
      scheduleRefresh();
    },
    onState: (state) => {
      root.querySelector("#runs-view")?.setAttribute("data-live", state);
    },
  });
  // New runs land on the first page; elsewhere only runs still going can change.
  const poll = setInterval(() => {
    if (document.visibilityState !== "visible" || !page) return;
    if (page.offset === 0 || page.runs.some((r) => !TERMINAL.has(r.status))) {
      pollDue = true;
      scheduleRefresh();
    }
  }, POLL_MS);

  // -- keyboard ------------------------------------------------------------------------

  function visibleRows() {
    return [...tbody.querySelectorAll("tr.run-row:not(.is-hidden)")];
  }

  function markCursor(scroll = true) {
    const rows = visibleRows();
    for (const row of tbody.querySelectorAll("tr.is-cursor")) row.classList.remove("is-cursor");
    if (cursor < 0 || !rows.length) return;
    cursor = Math.min(cursor, rows.length - 1);
    rows[cursor].classList.add("is-cursor");
    if (scroll) rows[cursor].scrollIntoView({ block: "nearest" });
  }

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName))) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (document.querySelector("dialog[open]")) return;
    if (event.key === "Enter" && target instanceof HTMLElement && /^(A|BUTTON)$/.test(target.tagName)) return;
    if (event.key === "/") {
      event.preventDefault();
      form?.focus();
    } else if (event.key === "j" || event.key === "k") {
      const rows = visibleRows();
      if (!rows.length) return;
      cursor = event.key === "j" ? Math.min(cursor + 1, rows.length - 1) : Math.max(cursor - 1, 0);
      markCursor();
    } else if (event.key === "Enter" && cursor >= 0) {
      const row = visibleRows()[cursor];
      if (row) navigate(runHref(row.dataset.runId));
    }
  }
  document.addEventListener("keydown", onKey);

  renderForm();
  load();

  return {
    update(next) {
      filters = filtersFrom(next.params);
      cursor = -1;
      expanded.clear(); // another filter, another tree: its defaults again
      renderForm();
      load();
      return true;
    },
    dispose() {
      loading++;
      controller.abort();
      stream.stop();
      clearInterval(poll);
      clearTimeout(refreshTimer);
      document.removeEventListener("keydown", onKey);
    },
  };
}
