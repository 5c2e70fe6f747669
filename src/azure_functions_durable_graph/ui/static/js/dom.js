// Small DOM helpers: elements are built with textContent only (no HTML strings from data).

const SVG_NS = "http://www.w3.org/2000/svg";

function setAttributes(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
}

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** An HTML element: h("p", {class: "x"}, "text", h("b", {}, "bold")). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttributes(el, attrs);
  appendChildren(el, children);
  return el;
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttributes(el, attrs);
  appendChildren(el, children);
  return el;
}

let idCounter = 0;
/** A document-unique id with a readable stem. */
export function uid(stem) {
  idCounter += 1;
  return `${String(stem).replace(/[^A-Za-z0-9_-]/g, "_")}-${idCounter}`;
}

export function jsonText(value) {
  return JSON.stringify(value, null, 2) ?? "undefined";
}

/** JSON with sorted keys: equal values give equal text. */
export function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

export function pre(value, attrs = {}) {
  return h("pre", { class: "json", tabindex: "0", ...attrs }, jsonText(value));
}

/** Milliseconds since the epoch of an API instant (ISO 8601 UTC text), or null. */
export function instantMs(value) {
  if (typeof value !== "string" || value === "") return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** Seconds from instant `from` to instant `to` (both API instants), or null. */
export function secondsBetween(from, to) {
  const a = instantMs(from);
  const b = instantMs(to);
  return a === null || b === null ? null : (b - a) / 1000;
}

export function formatTime(instant) {
  const ms = instantMs(instant);
  return ms === null ? "—" : new Date(ms).toLocaleString();
}

/** A <time> whose datetime is the API's own ISO text and whose title shows it in UTC. */
export function timeElement(instant) {
  const ms = instantMs(instant);
  if (ms === null) return h("span", {}, "—");
  return h("time", { datetime: instant, title: instant }, formatTime(instant));
}

export function formatDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "—";
  if (seconds < 0.001) return `${(seconds * 1000).toFixed(2)} ms`;
  if (seconds < 1) return `${(seconds * 1000).toFixed(1)} ms`;
  if (seconds < 120) return `${seconds.toFixed(2)} s`;
  return formatSpan(seconds);
}

/** A long span in words: "2 h 5 min". */
export function formatSpan(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  const parts = [];
  if (days) parts.push(`${days} d`);
  if (hours) parts.push(`${hours} h`);
  if (minutes && !days) parts.push(`${minutes} min`);
  if (!days && !hours) parts.push(`${secs} s`);
  return parts.join(" ");
}

/** A prefix of a hash (hashes are alike only when equal; ids go through idText instead). */
export function shortId(id, length = 12) {
  const text = String(id ?? "");
  return text.length > length ? `${text.slice(0, length)}…` : text;
}

/** A whole id; only one longer than `max` is cut in the middle (the full id goes in a title). */
export function idText(id, max = 40) {
  const text = String(id ?? "");
  const chars = [...text];  // code points: a cut never splits a surrogate pair
  if (chars.length <= max) return text;
  const head = Math.ceil((max - 1) / 2);
  const tail = max - 1 - head;
  return `${chars.slice(0, head).join("")}…${chars.slice(chars.length - tail).join("")}`;
}

/** An id as text, or (when cut) a span with the whole id as its title. */
export function idElement(id, attrs = {}, max = 40) {
  const text = String(id ?? "");
  const shown = idText(text, max);
  return shown === text ? h("span", attrs, text) : h("span", { ...attrs, title: text }, shown);
}

export const STATUSES = ["pending", "running", "waiting", "completed", "failed", "cancelled"];
export const FINISHED = new Set(["completed", "failed", "cancelled", "terminated"]);

export function statusBadge(status, attrs = {}) {
  return h("span", { class: `badge status-${status}`, ...attrs }, status);
}

/** Announce a short message to screen readers (and nothing else). */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  window.setTimeout(() => { region.textContent = message; }, 30);
}

export function encodeSegment(value) {
  return encodeURIComponent(String(value));
}
