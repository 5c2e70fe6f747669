// The run page's "Live output": what the nodes emit (ctx.emit) while they run, from the run's
// event stream. One entry per task attempt: its `token` emits joined as text, every other emit
// one line (kind and compact JSON). Emitted data is untrusted: it only ever becomes text nodes.

import { h } from "../dom.js";

export function liveOutput() {
  const list = h("ol", { class: "live-output-list" });
  const element = h("section", { class: "live-output", id: "run-live-output", "aria-labelledby": "run-live-output-heading", hidden: true },
    h("h2", { id: "run-live-output-heading" }, "Live output"),
    h("p", { class: "muted" }, "What the nodes emit as they run: tokens as text, other emits one per line."),
    list);
  const entries = new Map(); // "task_id#attempt" -> { item, body, state, tokens }

  function entry(data) {
    const attempt = Number(data.attempt) || 1;
    const key = `${data.task_id}#${attempt}`;
    let found = entries.get(key);
    if (!found) {
      const state = h("span", { class: "badge status-running live-state" }, "running");
      const body = h("div", { class: "live-output-body" });
      const item = h("li", { class: "live-entry", dataset: { node: String(data.node), attempt: String(attempt), state: "running" } },
        h("p", { class: "live-entry-head" },
          h("span", { class: "step-node" }, String(data.node)), " ",
          data.step !== undefined ? h("span", { class: "muted" }, `step ${data.step}`) : null, " ",
          attempt > 1 ? h("span", { class: "muted" }, `attempt ${attempt}`) : null, " ",
          state),
        body);
      found = { item, body, state, tokens: null };
      entries.set(key, found);
      list.append(item);
    }
    return found;
  }

  /** An `emit` event of the stream. */
  function onEmit(data) {
    if (!data || data.task_id === undefined) return;
    element.hidden = false;
    const target = entry(data);
    if (data.kind === "token") {
      if (!target.tokens) {
        target.tokens = h("span", { class: "live-tokens" });
        target.body.append(target.tokens);
      }
      target.tokens.append(typeof data.data === "string" ? data.data : compact(data.data));
      return;
    }
    target.tokens = null; // tokens after this line start a new run of text
    target.body.append(h("div", { class: "live-emit" },
      h("span", { class: "muted" }, `${data.kind || "custom"}: `), compact(data.data)));
  }

  /** The `emits_dropped` marker: where the oldest emits were. */
  function onDropped(data) {
    element.hidden = false;
    const count = Number(data && data.dropped) || 0;
    list.append(h("li", { class: "live-dropped muted" }, `${count} earlier ${count === 1 ? "chunk" : "chunks"} dropped`));
  }

  /** A task ended (`task_completed` or `task_failed`): its entry says so. */
  function onTaskEnd(type, data) {
    const found = data && entries.get(`${data.task_id}#${Number(data.attempt) || 1}`);
    if (!found) return;
    const ok = type === "task_completed";
    found.state.textContent = ok ? "done" : "failed";
    found.state.className = `badge ${ok ? "status-completed" : "status-failed"} live-state`;
    found.item.dataset.state = ok ? "done" : "failed";
  }

  return { element, onEmit, onDropped, onTaskEnd };
}

function compact(value) {
  return JSON.stringify(value) ?? "null";
}
