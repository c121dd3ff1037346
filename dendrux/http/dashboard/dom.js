// Building the DOM without markup: every stored string becomes a text node.
//
// Agent output, tool results, metadata and even agent names are untrusted
// input. Nothing in the dashboard assigns innerHTML, outerHTML or
// insertAdjacentHTML, or builds an element from a string: `h` and `svg` create
// elements by tag name and append strings as Text nodes, so "<script>" shows
// as the eight characters it is. Attributes are set with setAttribute, and
// only for names the caller writes in code (never from data); href values are
// checked so a stored "javascript:" URL cannot become a link.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Append children: strings and numbers as text, nodes as they are, arrays flattened. */
export function append(parent, ...children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, ...child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
  return parent;
}

function setAttributes(el, attrs) {
  if (!attrs) return;
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (name === "dataset") {
      for (const [key, v] of Object.entries(value)) el.dataset[key] = String(v);
    } else if (name === "href") {
      el.setAttribute("href", safeHref(String(value)));
    } else if (name === "style") {
      throw new Error("set el.style.<property> instead: the CSP refuses style attributes");
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

/** Only the page's own links (hash routes, relative paths) and http(s) ones. */
export function safeHref(value) {
  if (value.startsWith("#") || value.startsWith("./")) return value;
  try {
    const url = new URL(value, location.href);
    if (url.protocol === "http:" || url.protocol === "https:") return url.href;
  } catch {
    /* not a URL */
  }
  return "#";
}

/** An HTML element: h("a", {href: "#/runs", class: "x"}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttributes(el, attrs);
  return append(el, ...children);
}

/** An SVG element, same rules. */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else {
      el.setAttribute(name, String(value));
    }
  }
  return append(el, ...children);
}

/** Remove every child. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replace el's children. */
export function replace(el, ...children) {
  clear(el);
  return append(el, ...children);
}

// -- formatting ------------------------------------------------------------------

const INT = new Intl.NumberFormat("en-US");

export function fmtInt(n) {
  return n === null || n === undefined ? "–" : INT.format(n);
}

/** 1234 -> "1.2k", 2_500_000 -> "2.5M". */
export function fmtCompact(n) {
  if (n === null || n === undefined) return "–";
  const abs = Math.abs(n);
  if (abs >= 1e9) return (n / 1e9).toFixed(abs >= 1e10 ? 0 : 1) + "B";
  if (abs >= 1e6) return (n / 1e6).toFixed(abs >= 1e7 ? 0 : 1) + "M";
  if (abs >= 1e4) return (n / 1e3).toFixed(0) + "k";
  if (abs >= 1e3) return (n / 1e3).toFixed(1) + "k";
  return String(n);
}

export function fmtCost(usd) {
  if (usd === null || usd === undefined) return "–";
  if (usd === 0) return "$0";
  if (Math.abs(usd) < 0.01) return "$" + usd.toFixed(4);
  if (Math.abs(usd) < 100) return "$" + usd.toFixed(2);
  return "$" + INT.format(Math.round(usd));
}

/** Milliseconds as "840 ms", "12.3 s", "4m 05s", "2h 03m". */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return "–";
  if (ms < 1000) return Math.round(ms) + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

export function fmtPercent(ratio) {
  if (ratio === null || ratio === undefined) return "–";
  return (ratio * 100).toFixed(ratio < 0.1 ? 1 : 0) + "%";
}

/** An ISO-8601 instant in the viewer's time zone: "2026-12-03 14:05:09". */
export function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "3 min ago", "2 d ago"; the exact time belongs in a title attribute. */
export function fmtAgo(iso, now = Date.now()) {
  if (!iso) return "–";
  const diff = (now - new Date(iso).getTime()) / 1000;
  if (!isFinite(diff)) return String(iso);
  if (diff < 5) return "just now";
  if (diff < 60) return Math.floor(diff) + " s ago";
  if (diff < 3600) return Math.floor(diff / 60) + " min ago";
  if (diff < 86400 * 2) return Math.floor(diff / 3600) + " h ago";
  return Math.floor(diff / 86400) + " d ago";
}

/** Milliseconds between two ISO instants, or null. */
export function millisBetween(a, b) {
  if (!a || !b) return null;
  const ms = new Date(b).getTime() - new Date(a).getTime();
  return isFinite(ms) ? ms : null;
}

/** Pretty JSON for the inspector (strings stay strings). */
export function prettyJSON(value) {
  if (typeof value === "string") return value;
  return JSON.stringify(value, null, 2);
}

/** Cut a text to n characters for a one-line summary. */
export function ellipsis(text, n = 120) {
  if (text === null || text === undefined) return "";
  const s = typeof text === "string" ? text : JSON.stringify(text);
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > n ? one.slice(0, n - 1) + "…" : one;
}

export const TERMINAL = new Set(["success", "error", "cancelled", "max_iterations"]);
export const WAITING = new Set(["waiting_client_tool", "waiting_human_input", "waiting_approval"]);
export const STATUSES = [
  "pending",
  "running",
  "waiting_client_tool",
  "waiting_human_input",
  "waiting_approval",
  "paused",
  "success",
  "error",
  "cancelled",
  "max_iterations",
];

/** A status pill: class `status status-<name>`. */
export function statusBadge(status) {
  return h("span", { class: ["status", "status-" + String(status).replace(/[^a-z_]/g, "")] }, status);
}
