// Start a run: a form generated from the graph's input JSON Schema, or raw JSON.

import { api, ApiError } from "../api.js";
import { announce, encodeSegment, h } from "../dom.js";
import { FieldError, renderErrorSummary, schemaEditor } from "../schema_form.js";

export async function startView({ root, params, query, signal, setTitle }) {
  const [name] = params;
  setTitle(`Start ${name}`);
  const version = query.get("version") || undefined;
  const detail = await api("GET", `/graphs/${encodeSegment(name)}`, { query: { version }, signal });
  const editor = schemaEditor(detail.input_schema, { idPrefix: "input", jsonLabel: "Input (JSON object)" });
  const summary = h("div", { class: "panel panel-error error-summary", role: "alert", tabindex: "-1", hidden: true });
  const status = h("p", { class: "form-status", role: "status" });
  const instanceId = h("input", { id: "start-instance-id", type: "text", autocomplete: "off", "aria-describedby": "start-instance-id-help" });
  const submit = h("button", { type: "submit", class: "primary" }, "Start run");

  const form = h("form", { class: "start-form", novalidate: true, "aria-labelledby": "start-heading" },
    h("fieldset", {}, h("legend", {}, "Input"), editor.element),
    h("details", { class: "advanced" }, h("summary", {}, "Options"),
      h("div", { class: "field" }, h("label", { for: "start-instance-id" }, "Instance id (optional)"), instanceId,
        h("p", { class: "field-help", id: "start-instance-id-help" }, "Leave empty for a generated id. Starting twice with the same id is refused."))),
    summary,
    h("p", { class: "actions" }, submit, h("a", { class: "button quiet", href: `#/graphs/${encodeSegment(name)}` }, "Back to the graph")),
    status);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    editor.clearErrors();
    renderErrorSummary(summary, null);
    let input;
    try {
      input = editor.value();
    } catch (exc) {
      if (!(exc instanceof FieldError)) throw exc;
      editor.showFieldError(exc);
      renderErrorSummary(summary, { code: "INVALID_INPUT", message: exc.field ? `${exc.field}: ${exc.message}` : exc.message }, editor);
      summary.focus();
      return;
    }
    const body = { input };
    if (instanceId.value.trim()) body.instance_id = instanceId.value.trim();
    submit.disabled = true;
    status.textContent = "Starting…";
    try {
      const run = await api("POST", `/graphs/${encodeSegment(name)}/runs`, { query: { version }, body, signal });
      status.textContent = "Started.";
      announce(`Run ${run.instance_id} started`);
      window.location.hash = `#/runs/${encodeSegment(run.instance_id)}`;
    } catch (exc) {
      if (signal.aborted) return;
      status.textContent = "";
      if (!(exc instanceof ApiError)) throw exc;
      editor.showErrors(exc.details);
      renderErrorSummary(summary, exc, editor);
      summary.focus();
    } finally {
      submit.disabled = false;
    }
  });

  root.replaceChildren(
    h("p", { class: "breadcrumbs" }, h("a", { href: "#/graphs" }, "Graphs"), " / ",
      h("a", { href: `#/graphs/${encodeSegment(name)}` }, name), " / start"),
    h("h1", { id: "start-heading" }, `Start a run of ${name}`),
    h("p", { class: "lead" }, `Version ${detail.version}. Fields left empty take the schema's default; the API validates the input.`),
    // A declared input model asks for some state fields only; say where the others come from.
    ...(detail.manifest && detail.manifest.input_schema
      ? [h("p", { class: "muted", id: "start-input-note" }, "The graph's input model lists these fields; the other state fields start at their defaults.")]
      : []),
    form,
  );
}
