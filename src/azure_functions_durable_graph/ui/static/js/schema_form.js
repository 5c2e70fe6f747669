// Forms generated from a JSON Schema (the graph's state schema, an event's payload schema):
// string, number, integer, boolean, enum and list-of-scalars fields; anything else is edited
// as JSON. An editor adds a raw JSON mode. API validation errors (details[].loc/msg) are shown
// next to their fields.

import { canonical, h, jsonText, uid } from "./dom.js";

/** A value the form could not read (bad JSON in a JSON field). */
export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.name = "FieldError";
    this.field = field;
  }
}

function resolveRef(schema, root, depth = 0) {
  let current = schema || {};
  while (current && typeof current.$ref === "string" && depth < 32) {
    depth += 1;
    const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(current.$ref);
    if (!match) break;
    const name = decodeURIComponent(match[2]).replace(/~1/g, "/").replace(/~0/g, "~");
    const target = (root[match[1]] || {})[name];
    if (!target) break;
    const { $ref, ...rest } = current;
    current = { ...target, ...rest };
  }
  if (current && Array.isArray(current.allOf) && current.allOf.length === 1) {
    const { allOf, ...rest } = current;
    current = { ...resolveRef(allOf[0], root, depth + 1), ...rest };
  }
  return current || {};
}

/** The schema with $ref resolved and a nullable union (X | null) reduced to X. */
export function unwrapSchema(schema, root) {
  let resolved = resolveRef(schema, root);
  let nullable = false;
  const alternatives = resolved.anyOf || resolved.oneOf;
  if (Array.isArray(alternatives)) {
    const others = alternatives.filter((a) => resolveRef(a, root).type !== "null");
    if (others.length < alternatives.length) nullable = true;
    if (others.length === 1) {
      const { anyOf, oneOf, ...rest } = resolved;
      resolved = { ...resolveRef(others[0], root), ...rest };
    }
  }
  if (Array.isArray(resolved.type)) {
    const types = resolved.type.filter((t) => t !== "null");
    if (types.length < resolved.type.length) nullable = true;
    if (types.length === 1) resolved = { ...resolved, type: types[0] };
  }
  return { schema: resolved, nullable };
}

const SCALARS = new Set(["string", "integer", "number"]);

/** How a property is edited: string, integer, number, boolean, enum, list or json. */
export function fieldKind(schema, root) {
  if (Array.isArray(schema.enum) && schema.enum.length) return "enum";
  if (Object.prototype.hasOwnProperty.call(schema, "const")) return "enum";
  if (schema.anyOf || schema.oneOf) return "json";
  if (schema.type === "string" || schema.type === "integer" || schema.type === "number" || schema.type === "boolean") {
    return schema.type;
  }
  if (schema.type === "array") {
    const items = unwrapSchema(schema.items || {}, root).schema;
    if (SCALARS.has(items.type) || (Array.isArray(items.enum) && items.enum.every((v) => typeof v === "string"))) return "list";
  }
  return "json";
}

/** A short type name for documentation tables: "string", "list[string]", "Color", "int | null". */
export function typeLabel(schema, root) {
  if (!schema || typeof schema !== "object") return "any";
  if (schema.$ref) return String(schema.$ref).split("/").pop();
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (Object.prototype.hasOwnProperty.call(schema, "const")) return JSON.stringify(schema.const);
  const alternatives = schema.anyOf || schema.oneOf;
  if (Array.isArray(alternatives)) return alternatives.map((a) => typeLabel(a, root)).join(" | ");
  if (Array.isArray(schema.allOf) && schema.allOf.length === 1) return typeLabel(schema.allOf[0], root);
  if (Array.isArray(schema.type)) return schema.type.join(" | ");
  if (schema.type === "array") return `list[${typeLabel(schema.items || {}, root)}]`;
  if (schema.type === "object" && schema.additionalProperties && typeof schema.additionalProperties === "object") {
    return `dict[string, ${typeLabel(schema.additionalProperties, root)}]`;
  }
  return schema.type || "any";
}

/** "review_comment" -> "Review Comment" (as pydantic titles fields). */
export function humanize(name) {
  return String(name).split(/[_\s]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join(" ") || String(name);
}

function defaultText(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function buildField(name, propertySchema, { root, required, idPrefix }) {
  const { schema, nullable } = unwrapSchema(propertySchema, root);
  const kind = fieldKind(schema, root);
  const id = uid(`${idPrefix}-${name}`);
  const descId = `${id}-desc`;
  const errorId = `${id}-error`;
  const hasDefault = Object.prototype.hasOwnProperty.call(schema, "default");
  // the property's own title; a $ref'd model's title names its type, not this field
  const title = (propertySchema && propertySchema.title) || humanize(name);
  const field = { name, kind, schema, nullable, required, id, dirty: false };
  let control;
  let options = [];

  const markDirty = () => { field.dirty = true; };
  const common = { id, name, "aria-describedby": `${descId} ${errorId}`, "aria-required": required ? "true" : null, oninput: markDirty, onchange: markDirty };
  const defaultHint = hasDefault && schema.default !== null && schema.default !== "" ? `default: ${defaultText(schema.default)}` : null;

  if (kind === "boolean" && !nullable) {
    control = h("input", { ...common, type: "checkbox", checked: schema.default === true });
  } else if (kind === "boolean" || kind === "enum") {
    const values = kind === "boolean" ? [true, false] : Array.isArray(schema.enum) ? schema.enum : [schema.const];
    options = values;
    const blank = required && !hasDefault ? "Choose…" : hasDefault ? `Default (${defaultText(schema.default)})` : "Not set";
    control = h("select", common,
      h("option", { value: "" }, blank),
      values.map((v, i) => h("option", { value: String(i) }, defaultText(v))));
  } else if (kind === "string") {
    const long = (schema.maxLength || 0) > 200 || schema.format === "textarea";
    control = long
      ? h("textarea", { ...common, rows: 3, placeholder: defaultHint })
      : h("input", { ...common, type: schema.format === "email" ? "email" : "text", placeholder: defaultHint, autocomplete: "off" });
  } else if (kind === "integer" || kind === "number") {
    control = h("input", {
      ...common, type: "number", step: kind === "integer" ? "1" : "any", inputmode: kind === "integer" ? "numeric" : "decimal",
      min: schema.minimum, max: schema.maximum, placeholder: defaultHint,
    });
  } else if (kind === "list") {
    control = h("textarea", { ...common, rows: 3, class: "list-input", placeholder: defaultHint ? `${defaultHint}\none item per line` : "one item per line" });
  } else {
    control = h("textarea", { ...common, rows: 4, class: "code", spellcheck: "false", placeholder: hasDefault ? jsonText(schema.default) : "JSON" });
  }

  const kindText = kind === "list" ? `${typeLabel(schema, root)}, one item per line`
    : kind === "json" ? `${typeLabel(propertySchema, root)}, as JSON`
      : typeLabel(propertySchema, root);
  const description = h("p", { class: "field-help", id: descId },
    h("code", {}, name), ` · ${kindText}`, schema.description ? ` · ${schema.description}` : "");
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const labelText = [title, required ? h("span", { class: "required" }, " (required)") : null];
  const isCheckbox = control.type === "checkbox";
  const label = h("label", { for: id }, labelText);
  field.element = h("div", { class: `field field-${kind}${isCheckbox ? " field-checkbox" : ""}`, dataset: { field: name } },
    isCheckbox ? [control, label] : [label, control], description, error);
  field.control = control;
  field.errorElement = error;

  field.read = () => {
    if (isCheckbox) {
      return required || field.dirty ? { present: true, value: control.checked } : { present: false };
    }
    const raw = control.value;
    if (control.tagName === "SELECT") {
      if (raw === "") return { present: false };
      return { present: true, value: options[Number(raw)] };
    }
    if (raw.trim() === "") return { present: false };
    if (kind === "integer" || kind === "number") {
      const number = Number(raw);
      return { present: true, value: Number.isFinite(number) ? number : raw };
    }
    if (kind === "list") {
      const itemKind = unwrapSchema(schema.items || {}, root).schema.type;
      const items = raw.split(/\r?\n/).filter((line) => line.trim() !== "");
      return {
        present: true,
        value: items.map((line) => {
          if (itemKind === "integer" || itemKind === "number") {
            const number = Number(line.trim());
            return Number.isFinite(number) ? number : line;
          }
          return line;
        }),
      };
    }
    if (kind === "json") {
      try {
        return { present: true, value: JSON.parse(raw) };
      } catch (exc) {
        throw new FieldError(name, `not valid JSON (${exc.message})`);
      }
    }
    return { present: true, value: raw };
  };

  field.write = (value) => {
    field.dirty = true;
    if (isCheckbox) control.checked = Boolean(value);
    else if (control.tagName === "SELECT") {
      const index = options.findIndex((o) => canonical(o) === canonical(value));
      control.value = index >= 0 ? String(index) : "";
    } else if (value === null || value === undefined) control.value = "";
    else if (kind === "list") control.value = Array.isArray(value) ? value.map(String).join("\n") : String(value);
    else if (kind === "json") control.value = jsonText(value);
    else control.value = String(value);
  };
  return field;
}

/**
 * A form body for an object schema. Returns {element, fields, value(), setValue(), showErrors(),
 * clearErrors(), focusField()}. Fields left empty are not sent (the schema's defaults apply).
 */
export function schemaForm(schema, { idPrefix = "field" } = {}) {
  const root = schema || {};
  const resolved = unwrapSchema(root, root).schema;
  const properties = resolved.properties || {};
  const required = new Set(resolved.required || []);
  const fields = new Map();
  let extras = {};
  const element = h("div", { class: "schema-form" });
  for (const [name, propertySchema] of Object.entries(properties)) {
    const field = buildField(name, propertySchema, { root, required: required.has(name), idPrefix });
    fields.set(name, field);
    element.append(field.element);
  }
  if (!fields.size) element.append(h("p", { class: "muted" }, "This schema has no fields to fill in; use JSON."));

  return {
    element,
    fields,
    value() {
      const result = { ...extras };
      for (const field of fields.values()) {
        const read = field.read();
        if (read.present) result[field.name] = read.value;
        else delete result[field.name];
      }
      return result;
    },
    setValue(value) {
      extras = {};
      for (const [name, fieldValue] of Object.entries(value || {})) {
        if (fields.has(name)) fields.get(name).write(fieldValue);
        else extras[name] = fieldValue;
      }
      for (const [name, field] of fields) {
        if (!Object.prototype.hasOwnProperty.call(value || {}, name)) {
          field.write(undefined);
          field.dirty = false;
          if (field.control.type === "checkbox") field.control.checked = field.schema.default === true;
        }
      }
      return Object.keys(extras);
    },
    clearErrors() {
      for (const field of fields.values()) {
        field.errorElement.hidden = true;
        field.errorElement.textContent = "";
        field.control.removeAttribute("aria-invalid");
      }
    },
    /** Put each detail next to its field; returns the details that match no field. */
    showErrors(details) {
      const unmatched = [];
      for (const detail of details || []) {
        const field = fields.get(fieldOf(detail, fields));
        if (!field) {
          unmatched.push(detail);
          continue;
        }
        const loc = Array.isArray(detail.loc) ? detail.loc : [];
        const rest = loc.slice(loc.indexOf(field.name) + 1);
        const text = `${rest.length ? `${rest.join(".")}: ` : ""}${detail.msg || detail.message || "invalid"}`;
        field.errorElement.textContent = field.errorElement.textContent ? `${field.errorElement.textContent}; ${text}` : text;
        field.errorElement.hidden = false;
        field.control.setAttribute("aria-invalid", "true");
      }
      return unmatched;
    },
    focusField(name) {
      const field = fields.get(name);
      if (field) field.control.focus();
    },
  };
}

/** The form field a validation detail is about, from its loc (["ticket"] or ["body", "ticket"]). */
export function fieldOf(detail, fields) {
  const loc = Array.isArray(detail && detail.loc) ? detail.loc.map(String) : [];
  for (let i = 0; i < Math.min(loc.length, 2); i += 1) {
    if (fields.has(loc[i])) return loc[i];
  }
  return null;
}

/**
 * A form/JSON editor around schemaForm: two modes switched by radio buttons. Returns
 * {element, value(), showErrors(), clearErrors(), focusField(), mode()}.
 */
export function schemaEditor(schema, { idPrefix, jsonLabel = "JSON" } = {}) {
  const form = schemaForm(schema, { idPrefix });
  const hasFields = form.fields.size > 0;
  const groupName = uid(`${idPrefix}-mode`);
  const jsonId = uid(`${idPrefix}-json`);
  const jsonError = h("p", { class: "field-error", id: `${jsonId}-error`, hidden: true });
  const jsonArea = h("textarea", { id: jsonId, class: "code", rows: 8, spellcheck: "false", "aria-describedby": `${jsonId}-error` }, "{}");
  const jsonPanel = h("div", { class: "field json-mode" }, h("label", { for: jsonId }, jsonLabel), jsonArea, jsonError);
  const formPanel = h("div", { class: "form-mode" }, form.element);
  let mode = hasFields ? "form" : "json";

  const formRadio = h("input", { type: "radio", name: groupName, id: `${groupName}-form`, value: "form", checked: mode === "form", disabled: !hasFields });
  const jsonRadio = h("input", { type: "radio", name: groupName, id: `${groupName}-json`, value: "json", checked: mode === "json" });
  const switcher = h("fieldset", { class: "mode-switch" },
    h("legend", {}, "Edit as"),
    h("span", { class: "radio" }, formRadio, h("label", { for: formRadio.id }, "Form")),
    h("span", { class: "radio" }, jsonRadio, h("label", { for: jsonRadio.id }, "JSON")));

  function showMode() {
    formPanel.hidden = mode !== "form";
    jsonPanel.hidden = mode !== "json";
    formRadio.checked = mode === "form";
    jsonRadio.checked = mode === "json";
  }
  function setJsonError(message) {
    jsonError.textContent = message || "";
    jsonError.hidden = !message;
    if (message) jsonArea.setAttribute("aria-invalid", "true");
    else jsonArea.removeAttribute("aria-invalid");
  }
  function switchTo(next) {
    if (next === mode) return;
    if (next === "json") {
      try {
        jsonArea.value = jsonText(form.value());
      } catch {
        // keep the JSON text as it was
      }
      setJsonError("");
      mode = "json";
    } else {
      let parsed;
      try {
        parsed = JSON.parse(jsonArea.value || "{}");
      } catch (exc) {
        setJsonError(`Fix the JSON before switching back to the form: ${exc.message}`);
        jsonRadio.checked = true;
        return;
      }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
        setJsonError("The JSON must be an object to fill the form.");
        jsonRadio.checked = true;
        return;
      }
      form.setValue(parsed);
      mode = "form";
    }
    showMode();
  }
  formRadio.addEventListener("change", () => switchTo("form"));
  jsonRadio.addEventListener("change", () => switchTo("json"));
  showMode();

  return {
    element: h("div", { class: "schema-editor" }, hasFields ? switcher : null, formPanel, jsonPanel),
    mode: () => mode,
    value() {
      if (mode === "form") return form.value();
      try {
        return JSON.parse(jsonArea.value || "{}");
      } catch (exc) {
        throw new FieldError(null, `the JSON is not valid: ${exc.message}`);
      }
    },
    clearErrors() {
      form.clearErrors();
      setJsonError("");
    },
    showErrors(details) {
      if (mode === "form") return form.showErrors(details);
      return [...(details || [])];
    },
    showFieldError(error) {
      if (error.field && mode === "form") return form.showErrors([{ loc: [error.field], msg: error.message }]);
      setJsonError(error.message);
      return [];
    },
    focusField(name) {
      if (mode === "form") form.focusField(name);
      else jsonArea.focus();
    },
    fieldNames: () => (mode === "form" ? [...form.fields.keys()] : []),
    form,
  };
}

/**
 * Render an API error into ``container`` (role=alert): its message and every detail; a detail
 * about a form field is a button that moves focus to that field.
 */
export function renderErrorSummary(container, error, editor) {
  container.replaceChildren();
  if (!error) {
    container.hidden = true;
    return;
  }
  container.hidden = false;
  const details = error.details || [];
  const known = new Set(editor ? editor.fieldNames() : []);
  const items = details.map((detail) => {
    const loc = Array.isArray(detail.loc) ? detail.loc.join(".") : "";
    const text = `${loc ? `${loc}: ` : ""}${detail.msg || detail.message || "invalid"}`;
    const field = editor ? fieldOf(detail, { has: (name) => known.has(name) }) : null;
    return h("li", {}, field
      ? h("button", { type: "button", class: "link", onclick: () => editor.focusField(field) }, text)
      : text);
  });
  container.append(
    h("p", { class: "error-title" }, h("strong", {}, error.code ? `${error.code}: ` : "Error: "), error.message || String(error)),
    items.length ? h("ul", {}, items) : null,
  );
}
