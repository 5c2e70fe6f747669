// The inspector's entry point: hash routing (#/graphs, #/graphs/<name>, #/graphs/<name>/start,
// #/runs, #/runs/<id>), the header, and the API key button.

import { askForKey, getKey } from "./api.js";
import { h } from "./dom.js";
import { graphsView, graphView } from "./views/graphs.js";
import { runView } from "./views/run.js";
import { runsView } from "./views/runs.js";
import { notFound, showFailure } from "./views/common.js";
import { startView } from "./views/start.js";

const ROUTES = [
  { pattern: /^\/graphs\/?$/, view: graphsView, nav: "graphs" },
  { pattern: /^\/graphs\/([^/]+)\/start\/?$/, view: startView, nav: "graphs" },
  { pattern: /^\/graphs\/([^/]+)\/?$/, view: graphView, nav: "graphs" },
  { pattern: /^\/runs\/?$/, view: runsView, nav: "runs" },
  { pattern: /^\/runs\/([^/]+)\/?$/, view: runView, nav: "runs" },
];

const main = document.getElementById("main");
let controller = null;
let firstRender = true;

function parseHash() {
  const raw = window.location.hash.replace(/^#/, "") || "/graphs";
  const [path, queryText = ""] = raw.split("?");
  return { path: path || "/graphs", query: new URLSearchParams(queryText) };
}

function setNav(active) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function render() {
  if (controller) controller.abort();
  controller = new AbortController();
  const { signal } = controller;
  const { path, query } = parseHash();
  if (!window.location.hash || path === "/" || path === "") {
    window.location.replace("#/graphs");
    return;
  }
  const route = ROUTES.find((r) => r.pattern.test(path));
  setNav(route ? route.nav : null);
  const container = h("div", { class: "view" });
  main.replaceChildren(container);
  const moveFocus = !firstRender;
  firstRender = false;
  if (!route) {
    document.title = "Not found · durable-graph inspector";
    notFound(container, `There is no page at #${path}.`);
    return;
  }
  const params = route.pattern.exec(path).slice(1).map((p) => decodeURIComponent(p));
  const context = {
    root: container, params, query, signal,
    setTitle: (title) => { document.title = `${title} · durable-graph inspector`; },
  };
  container.append(h("p", { class: "loading", role: "status" }, "Loading…"));
  try {
    await route.view(context);
  } catch (exc) {
    if (signal.aborted || (exc && exc.name === "AbortError")) return;
    showFailure(container, exc);
  }
  if (!signal.aborted && moveFocus) {
    const heading = container.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: false });
    }
  }
}

function updateKeyButton() {
  const button = document.getElementById("key-button");
  if (!button) return;
  const set = Boolean(getKey());
  button.textContent = set ? "API key: set" : "API key";
}

function setup() {
  window.addEventListener("hashchange", render);
  document.addEventListener("inspector-render", render);
  document.addEventListener("api-key-changed", updateKeyButton);
  const keyButton = document.getElementById("key-button");
  keyButton.addEventListener("click", async () => {
    const before = getKey();
    const changed = await askForKey(before
      ? "A key is set for this tab. Enter a new one, or clear it."
      : "Enter the API key of this server. It is kept in this tab only.");
    if (changed || (before && !getKey())) render();
  });
  const skip = document.getElementById("skip-link");
  skip.addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  updateKeyButton();
  render();
}

setup();
