// The inspector: everything one timeline node holds, as fields and pretty JSON blocks
// with a Copy button each. A side panel on wide screens, a full-screen sheet on a phone.
// Provider payloads can be large, so an LLM call's are fetched when it is opened
// (`runs/<id>/llm-calls?iteration=N`) unless its row already carries them.

import { h, replace, fmtInt, fmtCost, fmtDuration, fmtTime, prettyJSON } from "./dom.js";
import { getJSON } from "./api.js";

/** Copy text: the async clipboard API, or a selected textarea and execCommand. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea", { class: "copy-buffer", "aria-hidden": "true" });
    area.value = text;
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

function block(label, value) {
  if (value === null || value === undefined) return h("section", { class: "insp-block" }, h("h3", null, label), h("p", { class: "muted" }, "none"));
  const text = prettyJSON(value);
  const status = h("span", { class: "copy-status", role: "status" });
  return h(
    "section",
    { class: "insp-block", dataset: { block: label } },
    h(
      "div",
      { class: "insp-block-head" },
      h("h3", null, label),
      status,
      h(
        "button",
        {
          type: "button",
          class: "copy",
          onclick: async () => {
            status.textContent = (await copyText(text)) ? "copied" : "copy failed";
            setTimeout(() => (status.textContent = ""), 1500);
          },
        },
        "Copy",
      ),
    ),
    h("pre", { class: "insp-pre" }, text),
  );
}

function fields(pairs) {
  return h(
    "dl",
    { class: "insp-fields" },
    pairs.filter(Boolean).map(([k, v]) => [h("dt", null, k), h("dd", null, v === null || v === undefined || v === "" ? "–" : v)]),
  );
}

const TITLES = { trace: "Message", llm: "LLM call", tool: "Tool call", note: "Note", event: "Event" };

/** The inspector's panel; `onClose` runs for the close button (Esc is the view's). */
export class Inspector {
  constructor({ runId, onClose }) {
    this.runId = runId;
    this.el = h("aside", { class: "inspector", id: "inspector", "aria-label": "Inspector", hidden: true, tabindex: "-1" });
    this.onClose = onClose;
    this.token = 0;
  }

  get open() {
    return !this.el.hidden;
  }

  close() {
    this.el.hidden = true;
    document.body.classList.remove("inspector-open");
    replace(this.el);
  }

  show(node, context) {
    const mine = ++this.token;
    this.el.hidden = false;
    document.body.classList.add("inspector-open");
    this.el.dataset.node = node.id;
    const body = h("div", { class: "insp-body" });
    replace(
      this.el,
      h(
        "header",
        { class: "insp-head" },
        h("h2", null, TITLES[node.kind], h("span", { class: "muted insp-id mono" }, node.id)),
        h("button", { type: "button", class: "insp-close", "aria-label": "Close inspector (Esc)", onclick: () => this.onClose() }, "✕"),
      ),
      body,
    );
    this.fill(body, node, context, () => mine === this.token);
  }

  fill(body, node, context, current) {
    const r = node.row;
    const event = node.kind === "event" ? r : node.event;
    const eventFields = event
      ? [
          ["Event", h("span", { class: "mono" }, event.event_type)],
          ["Sequence", String(event.sequence_index)],
        ]
      : [];
    if (node.kind === "trace") {
      body.append(
        fields([["Role", r.role], ["Phase", r.phase], ["Iteration", String(node.iteration)], ["Order", String(r.order_index)], ["At", fmtTime(r.created_at)]]),
        block("content", r.content),
        block("meta", r.meta),
      );
    } else if (node.kind === "llm") {
      body.append(
        fields([
          ["Model", r.model],
          ["Provider", r.provider],
          ["Iteration", String(r.iteration)],
          ["Tokens", `${fmtInt(r.input_tokens)} in · ${fmtInt(r.output_tokens)} out · ${fmtInt(r.total_tokens)} total`],
          ["Cache", `${fmtInt(r.cache_read_input_tokens)} read · ${fmtInt(r.cache_creation_input_tokens)} written`],
          ["Reasoning", fmtInt(r.reasoning_tokens)],
          ["Cost", fmtCost(r.cost_usd)],
          ["Duration", fmtDuration(r.duration_ms)],
          ["At", fmtTime(r.created_at)],
          ...eventFields,
        ]),
      );
      if (r.reasoning) body.append(block("reasoning", r.reasoning));
      const payloads = h("div", { class: "insp-payloads" });
      body.append(payloads);
      if (event) body.append(block("event data", event.data));
      this.payloads(payloads, r, current);
    } else if (node.kind === "tool") {
      body.append(
        fields([
          ["Tool", r.tool_name],
          ["Target", r.target],
          ["Outcome", r.success ? h("span", { class: "ok" }, "success") : h("span", { class: "bad" }, "error")],
          ["Error", r.error],
          ["Duration", fmtDuration(r.duration_ms)],
          ["Call id", h("span", { class: "mono" }, r.tool_call_id)],
          ["Provider call id", r.provider_tool_call_id],
          ["Iteration", String(r.iteration)],
          ["At", fmtTime(r.created_at)],
          ...eventFields,
        ]),
        block("params", r.params),
        block("result", r.result),
      );
      if (event) body.append(block("event data", event.data));
    } else if (node.kind === "note") {
      body.append(
        fields([["Created", fmtTime(r.created_at)], ["Delivered", r.delivered_at ? fmtTime(r.delivered_at) : "not delivered"], ["Iteration", r.delivered_iteration === null ? null : String(r.delivered_iteration)]]),
        block("text", r.text),
        block("metadata", r.metadata),
      );
    } else {
      body.append(fields([...eventFields, ["Iteration", String(r.iteration_index)], ["Correlation", r.correlation_id], ["At", fmtTime(r.created_at)]]));
      const pause = r.event_type === "run.paused" ? context.pauses.get(r.sequence_index) : null;
      if (pause) {
        const waited = pause.resume_at ? fmtDuration(Date.parse(pause.resume_at) - Date.parse(pause.pause_at)) : "still waiting";
        body.append(
          fields([["Reason", pause.reason], ["Waited", waited], ["Resumed", pause.resume_at ? fmtTime(pause.resume_at) : "–"]]),
          block("pending tool calls", pause.pending_tool_calls),
          block("submitted results", pause.submitted_results),
          block("user input", pause.user_input),
        );
      }
      if (/^run\.(completed|error|cancelled|interrupted|abandoned)$/.test(r.event_type) && context.run) {
        body.append(context.run.error ? block("error", context.run.error) : block("answer", context.run.answer));
      }
      body.append(block("data", r.data));
    }
  }

  async payloads(target, row, current) {
    let call = row;
    if (!("provider_request" in row) && row.id) {
      replace(target, h("p", { class: "muted" }, "Loading provider payloads…"));
      try {
        const body = await getJSON(`runs/${encodeURIComponent(this.runId)}/llm-calls`, { iteration: row.iteration, limit: 1000 });
        call = (body.llm_calls || []).find((c) => c.id === row.id) || row;
      } catch (err) {
        if (current()) replace(target, h("p", { class: "error-box" }, "Could not load the payloads: " + err.message));
        return;
      }
    }
    if (!current()) return;
    replace(target, block("provider request", call.provider_request), block("provider response", call.provider_response));
  }
}
