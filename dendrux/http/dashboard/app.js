// The page's entry point: token capture, the tab bar, and one view per route.
//
// A view module exports `mount(root, route)` returning a controller
// `{update(route) -> boolean, dispose()}`. On a hash change within the same view
// (a run's node, a list filter) the app first offers the new route to
// `update`; a view that returns true has handled it in place (keeping its
// state, its scroll position and its live stream); otherwise it is disposed
// (streams closed, timers cleared) and the new view is mounted.

import { captureTokenFromFragment, setToken } from "./api.js";
import { h, replace } from "./dom.js";
import { currentRoute } from "./router.js";

const VIEWS = {
  runs: () => import("./runs.js"),
  run: () => import("./run.js"),
  overview: () => import("./overview.js"),
};

let active = null; // {view, controller}
let generation = 0;

async function show() {
  const route = currentRoute();
  const root = document.getElementById("view");
  for (const tab of document.querySelectorAll("[data-tab]")) {
    const current = tab.dataset.tab === (route.view === "run" ? "runs" : route.view);
    if (current) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (active && active.view === route.view && active.controller?.update?.(route)) return;
  const mine = ++generation;
  active?.controller?.dispose?.();
  active = null;
  const module = await VIEWS[route.view]();
  if (mine !== generation) return; // another navigation won
  replace(root);
  active = { view: route.view, controller: module.mount(root, route) };
}

function askForToken() {
  if (document.getElementById("token-dialog")) return;
  const input = h("input", {
    type: "password",
    id: "token-input",
    autocomplete: "current-password",
    "aria-label": "Access token",
    placeholder: "access token",
  });
  const dialog = h(
    "dialog",
    { id: "token-dialog", class: "token-dialog" },
    h(
      "form",
      {
        method: "dialog",
        onsubmit: (e) => {
          e.preventDefault();
          setToken(input.value.trim());
          dialog.close();
          dialog.remove();
          active?.controller?.dispose?.();
          active = null;
          show();
        },
      },
      h("h2", null, "This dashboard needs a token"),
      h("p", { class: "muted" }, "Paste the token the server was started with (dendrux dashboard --auth-token)."),
      input,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Open")),
    ),
  );
  document.body.appendChild(dialog);
  dialog.showModal();
}

captureTokenFromFragment();
window.addEventListener("hashchange", show);
window.addEventListener("dendrux:unauthorized", askForToken);
show();
