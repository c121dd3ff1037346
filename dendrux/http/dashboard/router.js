// Hash routes: every view and every timeline node has a URL that works under any
// mount prefix, survives a reload and is shareable. The back button walks them.
//
//   #/runs?status=error&agent_name=a&meta.user=u&offset=50   the runs list
//   #/runs/<run id>                                            a run
//   #/runs/<run id>/<node id>                                  a run, one timeline node open
//   #/overview?days=30&group_by=agent                          the overview

/** The current route: {view, runId, nodeId, params (URLSearchParams), path}. */
export function currentRoute() {
  const raw = location.hash.replace(/^#/, "") || "/runs";
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "overview") return { view: "overview", params, path };
  if (parts[0] === "runs" && parts.length >= 2) {
    return { view: "run", runId: parts[1], nodeId: parts[2] || null, params, path };
  }
  return { view: "runs", params, path };
}

/** The hash for a run, optionally with a node: "#/runs/<id>/<node>". */
export function runHref(runId, nodeId) {
  let href = "#/runs/" + encodeURIComponent(runId);
  if (nodeId) href += "/" + encodeURIComponent(nodeId);
  return href;
}

/** The hash for a list or overview with parameters (empty values dropped). */
export function viewHref(view, params) {
  const search = new URLSearchParams();
  for (const [key, value] of params instanceof URLSearchParams ? params.entries() : Object.entries(params || {})) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) for (const v of value) search.append(key, v);
    else search.append(key, String(value));
  }
  const text = search.toString();
  return "#/" + view + (text ? "?" + text : "");
}

/**
 * Go to a hash. `replace` keeps the history entry (for changes the back button
 * should not step through, like a node opened by the keyboard); the change
 * still fires hashchange, so the app re-renders from the URL alone.
 */
export function navigate(hash, { replace = false } = {}) {
  if (hash === location.hash) return;
  if (replace) {
    history.replaceState(null, "", hash);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    location.hash = hash;
  }
}
