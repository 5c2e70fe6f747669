// One run: status, the diagram with visited/current/waiting nodes, the step timeline with each
// update and the state diff, the output or error, the waiting banner with the event form, and
// cancel, and the nodes' emits as they run (live_output.js). Live from the SSE stream; polled
// every 2 s when an API key is in use (EventSource cannot send headers).

import { api, ApiError, apiUrl, getKey } from "../api.js";
import { END, renderDiagram, runLegend, START } from "../diagram.js";
import {
  announce, canonical, encodeSegment, FINISHED, formatDuration, formatSpan, formatTime, h, idElement, idText,
  instantMs, jsonText, pre, secondsBetween, statusBadge, timeElement,
} from "../dom.js";
import { FieldError, renderErrorSummary, schemaEditor } from "../schema_form.js";
import { replaySteps } from "../state.js";
import { every, inlineError, isAbort } from "./common.js";
import { liveOutput } from "./live_output.js";

const POLL_MS = 2000;
const STREAM_TYPES = [
  "run_started", "step_started", "task_completed", "task_failed", "waiting", "event_received",
  "run_completed", "run_failed", "run_cancelled", "run_terminated",
];

export async function runView({ root, params, signal, setTitle }) {
  const [id] = params;
  const base = `/runs/${encodeSegment(id)}`;
  setTitle(`Run ${idText(id)}`);
  let [run, history] = await Promise.all([
    api("GET", base, { signal }), api("GET", `${base}/history`, { signal }),
  ]);
  let detail = null;
  try {
    detail = await api("GET", `/graphs/${encodeSegment(run.graph_name)}`, { query: { version: run.graph_version }, signal });
  } catch (exc) {
    if (isAbort(exc, signal) || !(exc instanceof ApiError) || exc.status === 401) throw exc;
  }
  const reducers = (detail && detail.manifest && detail.manifest.reducers) || {};
  let cancelReason = null;

  // -- regions -------------------------------------------------------------------------------
  const statusSlot = h("span", { id: "run-status-slot" });
  const stepSlot = h("dd", {});
  const updatedSlot = h("dd", {});
  const liveSlot = h("span", { id: "run-live", class: "live" });
  const note = h("div", { id: "run-note" });
  const problem = h("div", { class: "refresh-problem" });
  const banner = h("div", { id: "run-waiting" });
  const result = h("div", { id: "run-result" });
  const timeline = h("ol", { class: "timeline", id: "timeline" });
  const timelineNote = h("p", { class: "muted" });
  const diagramStatus = h("p", { id: "diagram-status", class: "diagram-status" });
  const diagram = detail ? renderDiagram(detail, { caption: `Diagram of run ${id} of ${run.graph_name}` }) : null;
  const cancelBox = cancelForm();
  const live = liveOutput();

  root.replaceChildren(
    h("p", { class: "breadcrumbs" }, h("a", { href: "#/runs" }, "Runs"), " / ", idElement(id)),
    h("h1", {}, "Run ", idElement(id, { class: "run-id" })),
    h("dl", { class: "facts run-facts" },
      h("dt", {}, "Status"), h("dd", {}, statusSlot, " ", liveSlot),
      h("dt", {}, "Instance id"), h("dd", {}, h("code", { class: "mono" }, id)),
      h("dt", {}, "Graph"), h("dd", {}, h("a", { href: `#/graphs/${encodeSegment(run.graph_name)}` }, run.graph_name),
        " ", h("span", { class: "muted" }, `v${run.graph_version}`)),
      h("dt", {}, "Step"), stepSlot,
      h("dt", {}, "Created"), h("dd", {}, timeElement(run.created_at)),
      h("dt", {}, "Updated"), updatedSlot),
    note, problem, cancelBox.element, banner, result, live.element,
    h("section", { "aria-labelledby": "run-diagram-heading" },
      h("h2", { id: "run-diagram-heading" }, "Diagram"),
      diagram ? [diagram.element, runLegend(), diagramStatus]
        : h("p", { class: "muted" }, `Graph ${run.graph_name} version ${run.graph_version} is not registered on this server: no diagram.`)),
    h("section", { "aria-labelledby": "run-steps-heading" },
      h("h2", { id: "run-steps-heading" }, "Steps"),
      h("p", { class: "muted" }, "Each step shows its update and how the state changed. The state is rebuilt in the browser from the input and the updates, with the graph's reducers."),
      timelineNote, timeline),
    h("section", { "aria-labelledby": "run-input-heading" },
      h("h2", { id: "run-input-heading" }, "Input"), pre(run.input, { "aria-label": "Run input" })),
  );

  // -- rendering ----------------------------------------------------------------------------
  let shown = { status: null, waits: null, result: null, history: null };
  const openSteps = new Set();

  function render() {
    if (shown.status !== run.status) {
      statusSlot.replaceChildren(statusBadge(run.status, { id: "run-status" }));
      if (shown.status !== null) announce(`Run is ${run.status}`);
      shown.status = run.status;
    }
    stepSlot.textContent = String(run.step ?? "—");
    updatedSlot.replaceChildren(timeElement(run.updated_at));
    const finished = FINISHED.has(run.status);
    cancelBox.element.hidden = finished;
    renderNote();
    renderBanner();
    renderResult();
    renderTimeline();
    if (diagram) setMarks(marksFrom(run, history));
  }

  function renderNote() {
    note.replaceChildren();
    if (run.status === "cancelled") {
      note.append(h("div", { class: "panel panel-muted", id: "run-cancelled" },
        h("p", {}, h("strong", {}, "Cancelled."), cancelReason ? ` Reason: ${cancelReason}` : "")));
    }
  }

  function renderBanner() {
    const waits = run.status === "waiting" ? run.waiting_for || [] : [];
    const key = canonical(waits.map((w) => [w.event, w.node, w.deadline]));
    if (key === shown.waits) return;
    shown.waits = key;
    banner.replaceChildren(...waits.map(waitBanner));
  }

  function waitBanner(wait) {
    const headingId = `wait-${wait.event}-${wait.node}`.replace(/[^A-Za-z0-9_-]/g, "_");
    const editor = schemaEditor(wait.payload_schema, { idPrefix: `event-${wait.event}`, jsonLabel: `Payload of ${wait.event} (JSON)` });
    const summary = h("div", { class: "panel panel-error error-summary", role: "alert", tabindex: "-1", hidden: true });
    const status = h("p", { class: "form-status", role: "status" });
    const submit = h("button", { type: "submit", class: "primary" }, `Send ${wait.event}`);
    const form = h("form", { class: "event-form", novalidate: true, "aria-label": `Send event ${wait.event}` },
      editor.element, summary, h("p", { class: "actions" }, submit), status);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      editor.clearErrors();
      renderErrorSummary(summary, null);
      let payload;
      try {
        payload = editor.value();
      } catch (exc) {
        if (!(exc instanceof FieldError)) throw exc;
        editor.showFieldError(exc);
        return;
      }
      submit.disabled = true;
      status.textContent = "Sending…";
      try {
        await api("POST", `${base}/events/${encodeSegment(wait.event)}`, { body: payload, signal });
        status.textContent = `Event ${wait.event} sent.`;
        announce(`Event ${wait.event} sent`);
        scheduleRefresh(0);
      } catch (exc) {
        if (isAbort(exc, signal)) return;
        status.textContent = "";
        if (!(exc instanceof ApiError)) throw exc;
        editor.showErrors(exc.details);
        renderErrorSummary(summary, exc, editor);
        summary.focus();
      } finally {
        submit.disabled = false;
      }
    });
    const deadline = instantMs(wait.deadline) !== null
      ? h("span", {}, "Deadline: ", timeElement(wait.deadline), ` (${deadlineText(wait.deadline)})`,
        wait.on_timeout ? [". On timeout the run goes to ", h("code", {}, wait.on_timeout)] : ". On timeout the run fails", ".")
      : "No deadline.";
    return h("section", { class: "banner banner-waiting", "aria-labelledby": headingId, dataset: { event: wait.event } },
      h("h2", { id: headingId }, "Waiting for event ", h("code", {}, wait.event)),
      h("p", {}, "Node ", h("code", {}, wait.node), " is waiting; the run resumes at ", h("code", {}, wait.resume_node), "."),
      h("p", { class: "deadline" }, deadline),
      form);
  }

  function renderResult() {
    const key = canonical([run.status, run.output, run.error]);
    if (key === shown.result) return;
    shown.result = key;
    result.replaceChildren();
    if (run.status === "failed" && run.error) {
      const e = run.error;
      result.append(h("section", { class: "panel panel-error", id: "run-error", role: "alert", "aria-labelledby": "run-error-heading" },
        h("h2", { id: "run-error-heading" }, "Error"),
        h("p", { class: "error-message" }, e.type ? h("strong", {}, `${e.type}: `) : null, e.message || ""),
        h("dl", { class: "facts" },
          e.code ? [h("dt", {}, "Code"), h("dd", {}, h("code", {}, e.code))] : null,
          e.node ? [h("dt", {}, "Node"), h("dd", {}, h("code", {}, e.node))] : null,
          e.step !== undefined ? [h("dt", {}, "Step"), h("dd", {}, String(e.step))] : null,
          e.attempt !== undefined ? [h("dt", {}, "Attempt"), h("dd", {}, String(e.attempt))] : null),
        h("details", {}, h("summary", {}, "Error as JSON"), pre(e))));
    } else if (run.status === "completed" && run.output) {
      const output = run.output;
      result.append(h("section", { class: "panel panel-ok", id: "run-output", "aria-labelledby": "run-output-heading" },
        h("h2", { id: "run-output-heading" }, "Output"),
        output.final_nodes ? h("p", {}, "Finished at ", output.final_nodes.map((n, i) => [i ? ", " : "", h("code", {}, n)]),
          typeof output.steps === "number" ? ` after ${output.steps} steps.` : ".") : null,
        h("h3", {}, "Final state"),
        pre(output.state !== undefined ? output.state : output, { "aria-label": "Final state" }),
        h("details", {}, h("summary", {}, "Output as JSON"), pre(output))));
    } else if (run.error) {
      result.append(h("section", { class: "panel panel-muted", id: "run-error" }, h("h2", {}, "Error"), pre(run.error)));
    }
  }

  function renderTimeline() {
    const key = canonical([history.steps, run.input]);
    if (key === shown.history) return;
    shown.history = key;
    const { rows, approximate } = replaySteps(run.input, history.steps, reducers);
    timelineNote.textContent = approximate
      ? "This graph has custom reducers: their fields are shown as replaced by each update, which may differ from the engine."
      : "";
    if (!rows.length) {
      timeline.replaceChildren(h("li", { class: "muted" }, "No step has run yet."));
      return;
    }
    timeline.replaceChildren(...rows.map(stepItem));
  }

  function stepItem({ step, after, changes }) {
    const key = `${step.task_id}#${step.attempt}`;
    const isEvent = String(step.node).startsWith("event:");
    const name = isEvent ? `event ${step.node.slice(6)} (handler)` : step.node;
    const duration = secondsBetween(step.started_at, step.finished_at);
    const error = step.error;
    const details = h("details", { open: openSteps.has(key) },
      h("summary", {},
        h("span", { class: "step-no" }, `#${step.step}`), " ",
        h("span", { class: "step-node" }, name), " ",
        h("span", { class: "muted" }, `attempt ${step.attempt}`), " ",
        h("span", { class: "muted" }, formatDuration(duration)), " ",
        h("span", { class: `badge ${step.ok ? "status-completed" : "status-failed"}` }, step.ok ? "ok" : "failed"),
        error ? h("span", { class: "step-error" }, ` ${error.type ? `${error.type}: ` : ""}${error.message || ""}`) : null),
      h("div", { class: "step-body" },
        h("p", { class: "muted" }, `Task ${step.task_id} · started ${formatTime(step.started_at)}`),
        step.route ? h("p", {}, "Route: ", routeText(step.route)) : null,
        error ? [h("h3", {}, "Error"), pre(error)] : null,
        step.ok ? [h("h3", {}, "Update"), pre(step.update ?? null)] : null,
        step.ok ? [h("h3", {}, "State changes"), diffTable(changes)] : null,
        h("details", { class: "state-after" }, h("summary", {}, "State after this step"), pre(after))));
    details.addEventListener("toggle", () => {
      if (details.open) openSteps.add(key);
      else openSteps.delete(key);
    });
    return h("li", { class: `step ${step.ok ? "step-ok" : "step-failed"}`, dataset: { step: step.step, node: step.node } }, details);
  }

  function diffTable(changes) {
    if (!changes.length) return h("p", { class: "muted" }, "No field changed.");
    const cell = (value) => h("td", {}, value === undefined ? h("span", { class: "muted" }, "(absent)") : h("code", { class: "value" }, jsonText(value)));
    return h("div", { class: "table-scroll" }, h("table", { class: "diff" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Before"), h("th", { scope: "col" }, "After"))),
      h("tbody", {}, changes.map((c) => h("tr", { class: `change-${c.change}` },
        h("th", { scope: "row" }, h("code", {}, c.field)), cell(c.before), cell(c.after))))));
  }

  // -- diagram marks ------------------------------------------------------------------------
  let liveMarks = null;
  function setMarks(marks) {
    liveMarks = marks;
    diagram.setMarks(toMap(marks));
    const list = (label, names) => (names.size ? `${label}: ${[...names].join(", ")}.` : "");
    diagramStatus.textContent = [
      list("Visited", new Set([...marks.visited].filter((n) => n !== START && n !== END))),
      list("Running now", marks.current), list("Waiting", marks.waiting), list("Failed", marks.failed),
    ].filter(Boolean).join(" ") || "No node has run yet.";
  }

  // -- cancel ------------------------------------------------------------------------------
  function cancelForm() {
    const reason = h("input", { id: "cancel-reason", type: "text", autocomplete: "off" });
    const force = h("input", { id: "cancel-force", type: "checkbox" });
    const status = h("p", { class: "form-status", role: "status" });
    const summary = h("div", { class: "panel panel-error", role: "alert", hidden: true });
    const submit = h("button", { type: "submit", class: "danger" }, "Cancel run");
    const form = h("form", { novalidate: true, "aria-label": "Cancel this run" },
      h("div", { class: "field" }, h("label", { for: "cancel-reason" }, "Reason"), reason),
      h("div", { class: "field field-checkbox" }, force, h("label", { for: "cancel-force" }, "Terminate at once (force) instead of at the next step")),
      summary, h("p", { class: "actions" }, submit), status);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      renderErrorSummary(summary, null);
      submit.disabled = true;
      status.textContent = "Cancelling…";
      try {
        const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
        run = await api("POST", `${base}/cancel`, { query: { force: force.checked ? "true" : undefined }, body, signal });
        cancelReason = body.reason || cancelReason;
        status.textContent = "Cancel requested.";
        announce("Cancel requested");
        render();
        scheduleRefresh(0);
      } catch (exc) {
        if (isAbort(exc, signal)) return;
        status.textContent = "";
        if (!(exc instanceof ApiError)) throw exc;
        renderErrorSummary(summary, exc, null);
      } finally {
        submit.disabled = false;
      }
    });
    const element = h("details", { class: "cancel-box" }, h("summary", {}, "Cancel this run…"), form);
    return { element };
  }

  // -- live updates ---------------------------------------------------------------------------
  let refreshTimer = null;
  let refreshing = false;
  async function refresh() {
    if (refreshing) {
      scheduleRefresh(150);
      return;
    }
    refreshing = true;
    try {
      [run, history] = await Promise.all([api("GET", base, { signal }), api("GET", `${base}/history`, { signal })]);
      problem.replaceChildren();
      render();
    } catch (exc) {
      if (!isAbort(exc, signal)) problem.replaceChildren(inlineError(exc));
    } finally {
      refreshing = false;
    }
  }
  function scheduleRefresh(ms = 120) {
    if (signal.aborted) return;
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(refresh, ms);
  }
  signal.addEventListener("abort", () => window.clearTimeout(refreshTimer));

  function setLive(text, state) {
    liveSlot.textContent = text;
    liveSlot.dataset.state = state;
  }

  function onStreamEvent(type, data) {
    if (diagram && liveMarks) {
      const marks = cloneMarks(liveMarks);
      if (type === "step_started") {
        marks.current = new Set((data.tasks || []).map((t) => t.node).filter((n) => !String(n).startsWith("event:")));
        marks.waiting.clear();
      } else if (type === "task_completed") {
        marks.visited.add(data.node);
        marks.current.delete(data.node);
      } else if (type === "task_failed" && !data.will_retry) {
        marks.failed.add(data.node);
        marks.current.delete(data.node);
      } else if (type === "waiting") {
        marks.waiting.add(data.node);
      }
      setMarks(marks);
    }
    if (type === "task_completed" || type === "task_failed") live.onTaskEnd(type, data);
    if (type === "run_cancelled" || type === "run_terminated") cancelReason = data.reason || cancelReason;
    scheduleRefresh();
  }

  function startPolling() {
    setLive("live: polling every 2 s", "polling");
    every(POLL_MS, signal, async () => {
      if (FINISHED.has(run.status)) return;
      await refresh();
      if (FINISHED.has(run.status)) setLive("", "finished");
    });
  }

  function startStream() {
    if (typeof window.EventSource !== "function") {
      startPolling();
      return;
    }
    const source = new EventSource(apiUrl(`${base}/stream`));
    setLive("live: event stream", "stream");
    signal.addEventListener("abort", () => source.close());
    for (const type of STREAM_TYPES) {
      source.addEventListener(type, (event) => {
        let data = {};
        try {
          data = JSON.parse(event.data);
        } catch {
          // a malformed frame only triggers a refresh
        }
        onStreamEvent(type, data);
      });
    }
    // emits change only the live output: no refresh of the run for each token
    source.addEventListener("emit", (event) => live.onEmit(parseFrame(event)));
    source.addEventListener("emits_dropped", (event) => live.onDropped(parseFrame(event)));
    source.addEventListener("end", () => {
      source.close();
      setLive("", "finished");
      scheduleRefresh(0);
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED && !signal.aborted && !FINISHED.has(run.status)) {
        startPolling(); // the stream was refused (an API key is needed): poll instead
      }
    });
  }

  render();
  if (!FINISHED.has(run.status)) {
    if (getKey()) startPolling();
    else startStream();
  } else if (run.status === "cancelled" && !getKey()) {
    // the reason of a cancellation is only in the progress events: read them once
    readCancelReason();
  }

  function readCancelReason() {
    const source = new EventSource(apiUrl(`${base}/stream`));
    signal.addEventListener("abort", () => source.close());
    const done = () => source.close();
    const onCancelled = (event) => {
      try {
        cancelReason = JSON.parse(event.data).reason || null;
      } catch {
        cancelReason = null;
      }
      renderNote();
    };
    source.addEventListener("run_cancelled", onCancelled);
    source.addEventListener("run_terminated", onCancelled);
    source.addEventListener("end", done);
    source.addEventListener("error", done);
  }
}

function parseFrame(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return null; // a malformed frame shows nothing
  }
}

function marksFrom(run, history) {
  const visited = new Set([START]);
  for (const step of history.steps || []) {
    if (!String(step.node).startsWith("event:")) visited.add(step.node);
  }
  if (run.status === "completed") visited.add(END);
  const current = new Set(["running", "pending"].includes(run.status) ? run.current_nodes || [] : []);
  const waiting = new Set(run.status === "waiting" ? (run.waiting_for || []).map((w) => w.node) : []);
  const failed = new Set(run.status === "failed" && run.error && run.error.node ? [run.error.node] : []);
  return { visited, current, waiting, failed };
}

function cloneMarks(marks) {
  return { visited: new Set(marks.visited), current: new Set(marks.current), waiting: new Set(marks.waiting), failed: new Set(marks.failed) };
}

function toMap(marks) {
  const map = new Map();
  for (const [state, names] of Object.entries(marks)) {
    for (const name of names) {
      if (!map.has(name)) map.set(name, new Set());
      map.get(name).add(state);
    }
  }
  return map;
}

function deadlineText(deadline) {
  const left = (instantMs(deadline) - Date.now()) / 1000;
  return left >= 0 ? `in ${formatSpan(left)}` : `${formatSpan(-left)} ago`;
}

function routeText(route) {
  switch (route.action) {
    case "next":
      return h("span", {}, "next → ", (route.targets || []).map((t, i) => [i ? ", " : "", h("code", {}, t)]));
    case "complete":
      return "complete (this branch ends)";
    case "wait_for_event":
      return h("span", {}, "wait for ", h("code", {}, route.event), ", resume at ", h("code", {}, route.resume_node),
        typeof route.timeout === "number" ? ` (timeout ${formatSpan(route.timeout)}${route.on_timeout ? ` → ${route.on_timeout}` : ""})` : "");
    case "send":
      return h("span", {}, "send → ", (route.sends || []).map((snd, i) => [i ? ", " : "", h("code", {}, snd.node)]));
    case "default":
      return "default (the node's static next)";
    default:
      return h("code", {}, JSON.stringify(route));
  }
}
