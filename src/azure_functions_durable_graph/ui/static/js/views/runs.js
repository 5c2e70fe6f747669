// Runs: newest first, filtered by graph and status, paged with the API's cursor, refreshed
// every 2 seconds.

import { api } from "../api.js";
import { canonical, encodeSegment, h, idText, STATUSES, statusBadge, timeElement } from "../dom.js";
import { every, inlineError, isAbort } from "./common.js";

const PAGE_SIZE = 25;
const REFRESH_MS = 2000;

export async function runsView({ root, query, signal, setTitle }) {
  setTitle("Runs");
  const filters = { graph: query.get("graph") || "", status: query.get("status") || "" };
  const requested = Number.parseInt(query.get("limit") || "", 10);
  const pageSize = Number.isFinite(requested) && requested > 0 ? Math.min(requested, 500) : PAGE_SIZE;
  const cursors = [null]; // cursor of each page seen, the first page's is null
  let page = 0;
  let lastData = null;

  const { graphs } = await api("GET", "/graphs", { signal });
  const graphSelect = h("select", { id: "filter-graph", name: "graph" },
    h("option", { value: "" }, "All graphs"),
    graphs.map((g) => h("option", { value: g.name, selected: g.name === filters.graph }, g.name)));
  const statusSelect = h("select", { id: "filter-status", name: "status" },
    h("option", { value: "" }, "Any status"),
    STATUSES.map((st) => h("option", { value: st, selected: st === filters.status }, st)));
  const live = h("input", { type: "checkbox", id: "runs-live", checked: true });
  const updated = h("span", { class: "muted", id: "runs-updated" });
  const problem = h("div", { class: "refresh-problem" });
  const tbody = h("tbody");
  const table = h("table", { class: "runs-table" },
    h("caption", {}, "Runs, newest first"),
    h("thead", {}, h("tr", {},
      ["Run", "Graph", "Status", "Step", "Now at", "Created", "Updated"].map((c) => h("th", { scope: "col" }, c)))),
    tbody);
  const empty = h("p", { class: "empty", hidden: true });
  const previous = h("button", { type: "button", disabled: true }, "Previous page");
  const next = h("button", { type: "button", disabled: true }, "Next page");
  const pageLabel = h("span", { class: "page-label", "aria-live": "polite" });

  root.replaceChildren(
    h("h1", {}, "Runs"),
    h("form", { class: "filters", novalidate: true, "aria-label": "Filter runs", onsubmit: (e) => e.preventDefault() },
      h("div", { class: "field" }, h("label", { for: "filter-graph" }, "Graph"), graphSelect),
      h("div", { class: "field" }, h("label", { for: "filter-status" }, "Status"), statusSelect),
      h("div", { class: "field field-checkbox" }, live, h("label", { for: "runs-live" }, "Live updates (every 2 s)"))),
    h("p", { class: "status-line" }, updated),
    problem,
    h("div", { class: "table-scroll" }, table),
    empty,
    h("nav", { class: "pager", "aria-label": "Pages of runs" }, previous, pageLabel, next),
  );

  function rowFor(run) {
    const href = `#/runs/${encodeSegment(run.instance_id)}`;
    const waiting = (run.waiting_for || []).map((w) => `waiting for ${w.event} at ${w.node}`);
    const nowAt = run.status === "waiting" ? waiting.join("; ")
      : ["running", "pending"].includes(run.status) ? (run.current_nodes || []).join(", ") : "";
    return h("tr", { dataset: { run: run.instance_id } },
      h("th", { scope: "row", dataset: { label: "Run" } }, h("a", { href, class: "mono", title: idText(run.instance_id) === run.instance_id ? null : run.instance_id, "aria-label": `Run ${run.instance_id}` }, idText(run.instance_id))),
      h("td", { dataset: { label: "Graph" } }, h("a", { href: `#/graphs/${encodeSegment(run.graph_name)}` }, run.graph_name), " ", h("span", { class: "muted" }, `v${run.graph_version}`)),
      h("td", { dataset: { label: "Status" } }, statusBadge(run.status)),
      h("td", { class: "num", dataset: { label: "Step" } }, String(run.step ?? "")),
      h("td", { dataset: { label: "Now at" } }, nowAt),
      h("td", { dataset: { label: "Created" } }, timeElement(run.created_at)),
      h("td", { dataset: { label: "Updated" } }, timeElement(run.updated_at)));
  }

  function show(data) {
    const text = canonical(data);
    if (text !== lastData) {
      lastData = text;
      const focused = document.activeElement && tbody.contains(document.activeElement)
        ? document.activeElement.closest("tr")?.dataset.run : null;
      tbody.replaceChildren(...data.runs.map(rowFor));
      if (focused) tbody.querySelector(`tr[data-run="${CSS.escape(focused)}"] a`)?.focus();
    }
    table.hidden = data.runs.length === 0;
    empty.hidden = data.runs.length !== 0;
    empty.replaceChildren(page > 0 ? "No more runs." : filters.graph || filters.status
      ? "No runs match these filters." : h("span", {}, "No runs yet. ", h("a", { href: "#/graphs" }, "Start one from a graph"), "."));
    cursors[page + 1] = data.next_cursor || undefined;
    previous.disabled = page === 0;
    next.disabled = !data.next_cursor;
    pageLabel.textContent = `Page ${page + 1}`;
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }

  async function load() {
    try {
      const data = await api("GET", "/runs", {
        query: { graph: filters.graph, status: filters.status, limit: pageSize, cursor: cursors[page] }, signal,
      });
      problem.replaceChildren();
      show(data);
    } catch (exc) {
      if (isAbort(exc, signal)) return;
      problem.replaceChildren(inlineError(exc));
    }
  }

  function filtersChanged() {
    filters.graph = graphSelect.value;
    filters.status = statusSelect.value;
    const params = new URLSearchParams();
    if (filters.graph) params.set("graph", filters.graph);
    if (filters.status) params.set("status", filters.status);
    if (pageSize !== PAGE_SIZE) params.set("limit", String(pageSize));
    const text = params.toString();
    window.history.replaceState(null, "", `#/runs${text ? `?${text}` : ""}`);
    cursors.length = 1;
    page = 0;
    lastData = null;
    load();
  }
  graphSelect.addEventListener("change", filtersChanged);
  statusSelect.addEventListener("change", filtersChanged);
  previous.addEventListener("click", () => { if (page > 0) { page -= 1; lastData = null; load(); } });
  next.addEventListener("click", () => { if (cursors[page + 1]) { page += 1; lastData = null; load(); } });

  await load();
  every(REFRESH_MS, signal, async () => { if (live.checked) await load(); });
}
