// Pieces shared by the views.

import { askForKey } from "../api.js";
import { h } from "../dom.js";

/** Ask the app to render the current page again. */
export function rerender() {
  document.dispatchEvent(new CustomEvent("inspector-render"));
}

export function isAbort(exc, signal) {
  return Boolean((signal && signal.aborted) || (exc && exc.name === "AbortError"));
}

export function notFound(root, message) {
  root.replaceChildren(
    h("h1", { tabindex: "-1" }, "Not found"),
    h("p", {}, message),
    h("p", {}, h("a", { href: "#/graphs" }, "Back to the graphs")),
  );
}

/** Replace a view with an error message (and a way to enter the API key after a 401). */
export function showFailure(container, exc) {
  const needsKey = exc && exc.status === 401;
  if (exc && exc.status === 404) {
    notFound(container, exc.message);
    return;
  }
  container.replaceChildren(
    h("h1", { tabindex: "-1" }, needsKey ? "API key needed" : "Something went wrong"),
    h("div", { class: "panel panel-error", role: "alert" },
      h("p", {}, exc && exc.code ? h("strong", {}, `${exc.code}: `) : null, (exc && exc.message) || String(exc))),
    h("p", {}, needsKey
      ? h("button", { type: "button", class: "primary", onclick: async () => { if (await askForKey()) rerender(); } }, "Enter the API key")
      : h("button", { type: "button", onclick: rerender }, "Try again")),
  );
}

/** An inline error panel for a failed background refresh (kept small, replaced on success). */
export function inlineError(exc) {
  return h("p", { class: "inline-error", role: "status" }, `Could not refresh: ${(exc && exc.message) || exc}`);
}

/** Run ``task`` every ``ms`` while the view lives (skipped while the tab is hidden). */
export function every(ms, signal, task) {
  let busy = false;
  const timer = window.setInterval(async () => {
    if (busy || document.hidden || signal.aborted) return;
    busy = true;
    try {
      await task();
    } finally {
      busy = false;
    }
  }, ms);
  signal.addEventListener("abort", () => window.clearInterval(timer));
  return () => window.clearInterval(timer);
}
