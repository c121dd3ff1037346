// The run-event vocabulary: dendrux.events.EVENT_TYPES, served by the router as
// event-types.js. The timeline takes each event's family (its colour), its meaning
// (a label) and whether it ends the run from here, not from names written in the page.

import { EVENT_TYPES } from "./event-types.js";

const FAMILIES = new Set(Object.values(EVENT_TYPES).map((e) => e.family));

// How a family reads on the timeline (run.css's tone-* classes); a family not listed
// has no tone of its own.
const FAMILY_TONE = { approval: "gov", policy: "gov", budget: "gov", inbox: "gov", guardrail: "bad" };

// The last part of a name that says something went wrong, whatever its family.
const FAILED = /(?:^|_)(?:error|failed|denied|blocked|rejected)$/;

/** The vocabulary's entry for a type; for an unknown one, the family its prefix names. */
export function describeType(type) {
  const known = EVENT_TYPES[type];
  if (known) return known;
  const prefix = type.split(".", 1)[0];
  return { family: FAMILIES.has(prefix) ? prefix : "other", meaning: "", data: "", terminal: false };
}

/** Whether a run's timeline ends with this event. */
export function isTerminal(type) {
  return EVENT_TYPES[type]?.terminal === true;
}

/** The tone an event's node takes: a failure reads bad, else its family's tone. */
export function toneOf(type) {
  const last = type.slice(type.lastIndexOf(".") + 1);
  if (FAILED.test(last)) return "bad";
  return FAMILY_TONE[describeType(type).family] ?? null;
}
