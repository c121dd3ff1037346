// Placeholder view until the real one lands.
import { h, replace } from "./dom.js";

export function mount(root, route) {
  replace(root, h("p", { class: "muted" }, "The runs view is not written yet."));
  return { update: () => false, dispose() {} };
}
