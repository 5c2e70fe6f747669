// Rebuild a run's state step by step from its input and the recorded updates, with the
// manifest's built-in reducers (custom reducers are approximated by replacing the value).

import { canonical } from "./dom.js";

function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** Combine one field's current value with an update, like the engine's built-in reducers. */
export function reduceField(reducer, current, update) {
  switch (reducer) {
    case "append":
      return [...(Array.isArray(current) ? current : []), clone(update)];
    case "extend":
      return [...(Array.isArray(current) ? current : []), ...(Array.isArray(update) ? clone(update) : [clone(update)])];
    case "union": {
      const merged = Array.isArray(current) ? [...current] : [];
      const seen = new Set(merged.map(canonical));
      for (const item of Array.isArray(update) ? update : [update]) {
        if (!seen.has(canonical(item))) {
          seen.add(canonical(item));
          merged.push(clone(item));
        }
      }
      return merged;
    }
    case "merge":
      return { ...(current && typeof current === "object" ? current : {}), ...(update && typeof update === "object" ? clone(update) : {}) };
    case "add":
      if (current === null || current === undefined) return clone(update);
      if (Array.isArray(current)) return current.concat(Array.isArray(update) ? clone(update) : [clone(update)]);
      if (typeof current === typeof update && (typeof current === "number" || typeof current === "string")) {
        return current + update;
      }
      return clone(update);
    default: // replace, custom (approximated)
      return clone(update);
  }
}

/** The state after applying ``update`` (an object of fields) to ``state``. */
export function applyUpdate(state, update, reducers) {
  const next = { ...(state || {}) };
  if (!update || typeof update !== "object" || Array.isArray(update)) return next;
  for (const [field, value] of Object.entries(update)) {
    next[field] = reduceField((reducers || {})[field] || "replace", next[field], value);
  }
  return next;
}

/** Fields whose value differs between two states: [{field, before, after, change}]. */
export function diffState(before, after) {
  const fields = new Set([...Object.keys(before || {}), ...Object.keys(after || {})]);
  const changes = [];
  for (const field of fields) {
    const had = before && Object.prototype.hasOwnProperty.call(before, field);
    const has = after && Object.prototype.hasOwnProperty.call(after, field);
    if (had && has && canonical(before[field]) === canonical(after[field])) continue;
    changes.push({
      field,
      before: had ? before[field] : undefined,
      after: has ? after[field] : undefined,
      change: !had ? "added" : !has ? "removed" : "changed",
    });
  }
  return changes;
}

/**
 * Each history step with the state before and after it: the run input, then every successful
 * step's update in order. Returns [{step, before, after, changes}] and notes about approximations.
 */
export function replaySteps(input, steps, reducers) {
  let state = clone(input) || {};
  const usesCustom = Object.values(reducers || {}).some((name) => name === "custom");
  const rows = (steps || []).map((step) => {
    const before = state;
    const after = step.ok && step.update ? applyUpdate(state, step.update, reducers) : state;
    state = after;
    return { step, before, after, changes: diffState(before, after) };
  });
  return { rows, state, approximate: usesCustom };
}
