// The page's only way to data: the router's JSON and SSE routes, relative to the page.
//
// The page is served at the router's root, so "runs" resolves next to it whatever
// prefix the router is mounted under. A bearer token, when the server wants one,
// lives in sessionStorage (taken from a "#token=..." fragment, which browsers never
// send to the server) and goes out as an Authorization header on every request.
// That is also why event streams are read with fetch() rather than EventSource:
// EventSource cannot send a header. `followEvents` keeps EventSource's contract
// (reconnect after a drop, resume from the last id with Last-Event-ID, stop on 204).

const TOKEN_KEY = "dendrux.token";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || "http_" + status;
  }
}

export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the token lasts until the page reloads */
  }
  memoryToken = value || null;
}

let memoryToken = null;

/**
 * Take "#token=...[&next=/runs/<id>]" out of the address bar into sessionStorage
 * (once, on load) and go on to `next` (a hash route; the runs list by default).
 */
export function captureTokenFromFragment() {
  const hash = location.hash || "";
  if (!hash.startsWith("#token=")) return false;
  const fields = new URLSearchParams(hash.slice(1).replace(/\+/g, "%2B"));
  setToken(fields.get("token") || "");
  const next = fields.get("next") || "";
  const route = next.startsWith("/") && !next.startsWith("//") ? next : "/runs";
  history.replaceState(null, "", location.pathname + location.search + "#" + route);
  return true;
}

function headers(extra) {
  const out = { Accept: "application/json", ...extra };
  const t = token() || memoryToken;
  if (t) out.Authorization = "Bearer " + t;
  return out;
}

/** URL of a route relative to the page, with query parameters (arrays repeat). */
export function apiUrl(path, params) {
  const url = new URL(path, location.href);
  url.hash = "";
  for (const [key, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) for (const v of value) url.searchParams.append(key, String(v));
    else url.searchParams.set(key, String(value));
  }
  return url.href;
}

function unauthorized() {
  window.dispatchEvent(new CustomEvent("dendrux:unauthorized"));
}

/** GET a JSON route; an ApiError carries the route's status and error code. */
export async function getJSON(path, params, { signal } = {}) {
  const response = await fetch(apiUrl(path, params), { headers: headers(), signal, cache: "no-store" });
  if (!response.ok) {
    let code, message;
    try {
      const body = await response.json();
      code = body?.error?.code;
      message = body?.error?.message;
    } catch {
      /* not JSON */
    }
    if (response.status === 401) unauthorized();
    throw new ApiError(response.status, code, message);
  }
  return response.json();
}

/** Every page of a paged per-run route, `key` holding the rows; `onPage` sees each. */
export async function getAllPages(path, key, { pageSize = 1000, onPage, signal, params } = {}) {
  const rows = [];
  for (let offset = 0; ; offset += pageSize) {
    const body = await getJSON(path, { ...params, limit: pageSize, offset }, { signal });
    const page = body[key] || [];
    rows.push(...page);
    if (onPage) onPage(page, rows);
    if (page.length < pageSize) return rows;
  }
}

/** Every event of a run, page by page (the events route pages by cursor). */
export async function getAllEvents(runId, { pageSize = 1000, onPage, signal } = {}) {
  const events = [];
  let after = null;
  for (;;) {
    const body = await getJSON(`runs/${encodeURIComponent(runId)}/events`, { after, limit: pageSize }, { signal });
    const page = body.events || [];
    events.push(...page);
    if (onPage) onPage(page, events);
    if (page.length < pageSize) return events;
    after = page[page.length - 1].sequence_index;
  }
}

/**
 * Follow a Server-Sent Events route. Calls onEvent({id, event, data}) per frame
 * (data parsed as JSON). Like EventSource it reconnects whenever the connection
 * closes or drops, sending the last id seen as Last-Event-ID (and as `cursorParam`,
 * "after" for a run's stream, null for none) so nothing repeats and nothing is
 * skipped, and it ends for good on a 204 (onEnd) or on stop(). A run's stream
 * answers 204 once its terminal event has been delivered.
 * onState("live" | "reconnecting" | "ended") reports the connection.
 */
export function followEvents(
  path,
  { after = null, cursorParam = "after", onEvent, onEnd, onState, onError, retryMs = 1000 } = {},
) {
  let lastId = after === null || after === undefined ? null : String(after);
  let controller = null;
  let stopped = false;
  let retry = retryMs;

  async function connect() {
    while (!stopped) {
      controller = new AbortController();
      const extra = lastId === null ? {} : { "Last-Event-ID": lastId };
      const params = lastId === null || !cursorParam ? {} : { [cursorParam]: lastId };
      let ended = false;
      try {
        const response = await fetch(apiUrl(path, params), {
          headers: headers({ Accept: "text/event-stream", ...extra }),
          signal: controller.signal,
          cache: "no-store",
        });
        if (response.status === 204) {
          ended = true;
        } else if (!response.ok) {
          if (response.status === 401) unauthorized();
          if (response.status >= 400 && response.status < 500) {
            stopped = true;
            onError?.(new ApiError(response.status));
            onState?.("ended");
            return;
          }
          throw new ApiError(response.status);
        } else {
          onState?.("live");
          await readFrames(response.body);
        }
      } catch (err) {
        if (stopped) return;
        onError?.(err);
      }
      if (stopped) return;
      if (ended) {
        stopped = true;
        onState?.("ended");
        onEnd?.();
        return;
      }
      onState?.("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, retry));
    }
  }

  // Returns when the server closes the stream; throws when the connection drops.
  async function readFrames(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let frame = { id: null, event: "message", data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (frame.data.length) dispatch(frame);
          frame = { id: null, event: "message", data: [] };
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "data") frame.data.push(text);
        else if (field === "event") frame.event = text;
        else if (field === "id") frame.id = text;
        else if (field === "retry" && /^\d+$/.test(text)) retry = Number(text);
      }
    }
  }

  function dispatch(frame) {
    if (frame.id !== null) lastId = frame.id;
    let data;
    try {
      data = JSON.parse(frame.data.join("\n"));
    } catch {
      data = frame.data.join("\n");
    }
    onEvent?.({ id: frame.id, event: frame.event, data });
  }

  connect();
  return {
    stop() {
      stopped = true;
      controller?.abort();
    },
    get lastId() {
      return lastId;
    },
  };
}
