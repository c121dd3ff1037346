// Small charts drawn by the page itself as SVG (no chart library): bars with
// labels and a value on hover, sized by CSS, colours from CSS variables so light
// and dark schemes both read. Every label is a text node.

import { h, svg } from "./dom.js";

/**
 * A bar chart: items [{label, value, title?, href?, className?}], value >= 0 or null.
 * `format` turns a value into text. Returns a <figure> with an accessible table.
 */
export function barChart(items, { format = String, caption = "", height = 120, barClass = "bar" } = {}) {
  const width = Math.max(items.length * 14, 120);
  const max = Math.max(0, ...items.map((it) => it.value || 0));
  const slot = width / Math.max(items.length, 1);
  const plot = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    preserveAspectRatio: "none",
    class: "chart-plot",
    role: "img",
    "aria-label": caption,
  });
  items.forEach((item, i) => {
    const value = item.value || 0;
    const barHeight = max > 0 ? Math.max((value / max) * (height - 4), value > 0 ? 1 : 0) : 0;
    const rect = svg("rect", {
      x: i * slot + slot * 0.12,
      y: height - barHeight,
      width: slot * 0.76,
      height: barHeight,
      class: [barClass, item.className].filter(Boolean).join(" "),
    });
    rect.appendChild(svg("title", {}, `${item.title || item.label}: ${item.value === null || item.value === undefined ? "–" : format(item.value)}`));
    plot.appendChild(rect);
  });
  const first = items[0]?.label ?? "";
  const last = items.length > 1 ? items[items.length - 1].label : "";
  return h(
    "figure",
    { class: "chart" },
    caption ? h("figcaption", null, caption, h("span", { class: "chart-max" }, max > 0 ? "max " + format(max) : "")) : null,
    plot,
    h("div", { class: "chart-axis" }, h("span", null, first), h("span", null, last)),
  );
}

/** A horizontal bar list: label, a bar proportional to value, the value. */
export function barList(items, { format = String, caption = "" } = {}) {
  const max = Math.max(0, ...items.map((it) => it.value || 0));
  return h(
    "figure",
    { class: "barlist" },
    caption ? h("figcaption", null, caption) : null,
    h(
      "ul",
      null,
      items.map((item) => {
        const pct = max > 0 ? Math.round(((item.value || 0) / max) * 100) : 0;
        const meter = h("span", { class: "barlist-bar" });
        const fill = h("span", { class: "barlist-fill" });
        fill.style.width = pct + "%"; // CSSOM, which the CSP allows (a style attribute it would not)
        meter.appendChild(fill);
        return h(
          "li",
          { title: item.title || null },
          item.href ? h("a", { href: item.href, class: "barlist-label" }, item.label) : h("span", { class: "barlist-label" }, item.label),
          meter,
          h("span", { class: "barlist-value" }, item.value === null || item.value === undefined ? "–" : format(item.value)),
        );
      }),
    ),
  );
}
