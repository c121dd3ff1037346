// The runs list's filters: read from the URL hash, shown as a form, written back to
// the URL. The hash is the only state, so a filter is shareable, survives a reload
// and the back button restores the previous one. Parameter names are the router's
// own (`status` repeated, `agent_name`, `tenant_id`, `started_after`,
// `started_before`, `meta.<key>`, `offset`, `limit`), so the page passes them on as is.

import { h } from "./dom.js";

export const PAGE_SIZES = [25, 50, 100, 200];
export const DEFAULT_LIMIT = 50;
const TEXT_KEYS = ["agent_name", "tenant_id", "started_after", "started_before"];

/** The filters a route carries: {status[], agent_name, tenant_id, started_after,
 *  started_before, meta [[key, value]...], offset, limit}. */
export function filtersFrom(params) {
  const status = [];
  for (const value of params.getAll("status")) {
    for (const part of value.split(",")) if (part.trim()) status.push(part.trim());
  }
  const meta = [];
  for (const [key, value] of params.entries()) {
    if (key.startsWith("meta.") && key.length > 5) meta.push([key.slice(5), value]);
  }
  const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  const limit = parseInt(params.get("limit") || "", 10);
  const out = { status, meta, offset, limit: PAGE_SIZES.includes(limit) ? limit : DEFAULT_LIMIT };
  for (const key of TEXT_KEYS) out[key] = params.get(key) || "";
  return out;
}

/** The query (an object for api.js / router.js) of a filter set; paging optional. */
export function queryOf(filters, { paging = true, status = true } = {}) {
  const query = {};
  if (status && filters.status.length) query.status = filters.status;
  for (const key of TEXT_KEYS) if (filters[key]) query[key] = filters[key];
  for (const [key, value] of filters.meta) if (key) query["meta." + key] = value;
  if (paging) {
    if (filters.offset) query.offset = filters.offset;
    if (filters.limit !== DEFAULT_LIMIT) query.limit = filters.limit;
  }
  return query;
}

/** True when any filter (not paging) narrows the list. */
export function isFiltered(filters) {
  return Boolean(filters.status.length || filters.meta.length || TEXT_KEYS.some((k) => filters[k]));
}

// <input type="datetime-local"> speaks local wall-clock time; the URL and the
// router speak ISO-8601 UTC. A bare date in a shared URL means midnight UTC, as
// the router reads it.
function isoToLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(iso) ? iso + "T00:00:00Z" : iso);
  if (isNaN(d)) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function localInputToIso(value) {
  if (!value) return "";
  const d = new Date(value); // a datetime-local value parses as local time
  return isNaN(d) ? "" : d.toISOString().replace(".000Z", "Z");
}

/**
 * The filter form. `onApply(filters)` gets the new filter set (paging reset) when it
 * is submitted; the statuses are chosen from the counts strip, so they ride along.
 */
export function filterForm(filters, { onApply }) {
  const agent = h("input", {
    id: "f-agent",
    name: "agent_name",
    type: "search",
    placeholder: "agent name",
    autocomplete: "off",
    value: filters.agent_name,
    "aria-keyshortcuts": "/",
  });
  const tenant = h("input", { id: "f-tenant", name: "tenant_id", type: "search", placeholder: "tenant id", autocomplete: "off", value: filters.tenant_id });
  const after = h("input", { id: "f-after", name: "started_after", type: "datetime-local", value: isoToLocalInput(filters.started_after) });
  const before = h("input", { id: "f-before", name: "started_before", type: "datetime-local", value: isoToLocalInput(filters.started_before) });
  const metaRows = h("div", { class: "meta-rows", id: "f-meta" });
  const moreOpen = Boolean(filters.meta.length || filters.tenant_id || filters.started_after || filters.started_before);

  function metaRow(key = "", value = "") {
    const row = h(
      "div",
      { class: "meta-row" },
      h("span", { class: "meta-prefix mono" }, "meta."),
      h("input", { class: "meta-key", type: "text", placeholder: "key", value: key, "aria-label": "metadata key", autocomplete: "off" }),
      h("span", { class: "muted" }, "="),
      h("input", { class: "meta-value", type: "text", placeholder: "value", value: value, "aria-label": "metadata value", autocomplete: "off" }),
      h("button", { type: "button", class: "icon-button meta-remove", title: "Remove this filter", "aria-label": "Remove this metadata filter", onclick: () => row.remove() }, "×"),
    );
    return row;
  }
  for (const [key, value] of filters.meta) metaRows.appendChild(metaRow(key, value));

  const form = h(
    "form",
    {
      class: ["filters", "panel", moreOpen ? "is-open" : ""],
      id: "filters",
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        const meta = [];
        for (const row of metaRows.querySelectorAll(".meta-row")) {
          const key = row.querySelector(".meta-key").value.trim();
          if (key) meta.push([key, row.querySelector(".meta-value").value]);
        }
        onApply({
          ...filters,
          agent_name: agent.value.trim(),
          tenant_id: tenant.value.trim(),
          started_after: localInputToIso(after.value),
          started_before: localInputToIso(before.value),
          meta,
          offset: 0,
        });
      },
    },
    h("div", { class: "filter-field" }, h("label", { for: "f-agent" }, "Agent"), agent),
    h("div", { class: "filter-field" }, h("label", { for: "f-tenant" }, "Tenant"), tenant),
    h("div", { class: "filter-field" }, h("label", { for: "f-after" }, "Started after"), after),
    h("div", { class: "filter-field" }, h("label", { for: "f-before" }, "Started before"), before),
    h(
      "div",
      { class: "filter-field filter-meta" },
      h("span", { class: "label" }, "Metadata"),
      metaRows,
      h("button", { type: "button", class: "link-button", id: "f-meta-add", onclick: () => {
        const row = metaRow();
        metaRows.appendChild(row);
        row.querySelector(".meta-key").focus();
      } }, "+ add metadata filter"),
    ),
    h(
      "div",
      { class: "filter-actions" },
      // Phone width shows the agent field only until this is pressed (list.css).
      h("button", { type: "button", class: "filters-more", "aria-expanded": moreOpen ? "true" : "false", onclick: (event) => {
        const open = form.classList.toggle("is-open");
        event.currentTarget.setAttribute("aria-expanded", open ? "true" : "false");
        event.currentTarget.textContent = open ? "Fewer filters" : "More filters";
      } }, moreOpen ? "Fewer filters" : "More filters"),
      h("button", { type: "submit", class: "primary", id: "f-apply" }, "Apply"),
      isFiltered(filters)
        ? h("a", { href: "#/runs", class: "clear-filters", id: "f-clear" }, "Clear")
        : null,
    ),
  );
  return { form, focus: () => agent.focus() };
}
