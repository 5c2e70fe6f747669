// Graphs: every registered graph with its version, hash, diagram, state and event schemas.

import { api } from "../api.js";
import { renderDiagram } from "../diagram.js";
import { encodeSegment, h, pre, shortId, uid } from "../dom.js";
import { typeLabel, unwrapSchema } from "../schema_form.js";

export async function graphsView({ root, signal, setTitle }) {
  setTitle("Graphs");
  const { graphs } = await api("GET", "/graphs", { signal });
  const details = await Promise.all(graphs.map((g) => api("GET", `/graphs/${encodeSegment(g.name)}`, { signal })));
  root.replaceChildren(
    h("h1", {}, "Graphs"),
    h("p", { class: "lead" }, graphs.length === 1 ? "1 registered graph." : `${graphs.length} registered graphs.`),
  );
  if (!graphs.length) {
    root.append(h("p", {}, "No graphs are registered on this server."));
    return;
  }
  root.append(h("nav", { "aria-label": "Graphs on this page", class: "toc" },
    h("ul", {}, graphs.map((g) => h("li", {}, h("a", { href: `#/graphs/${encodeSegment(g.name)}` }, g.name), " ",
      h("span", { class: "muted" }, `v${g.version}`))))));
  for (const detail of details) root.append(graphSection(detail, { level: 2 }));
}

export async function graphView({ root, params, query, signal, setTitle }) {
  const [name] = params;
  setTitle(name);
  const version = query.get("version") || undefined;
  const detail = await api("GET", `/graphs/${encodeSegment(name)}`, { query: { version }, signal });
  root.replaceChildren(
    h("p", { class: "breadcrumbs" }, h("a", { href: "#/graphs" }, "Graphs"), " / ", name),
    graphSection(detail, { level: 1 }),
  );
}

/** One graph: heading, facts, actions, diagram and schemas. */
export function graphSection(detail, { level }) {
  const heading = h(`h${level}`, { id: uid(`graph-${detail.name}`) }, detail.name);
  const sub = `h${level + 1}`;
  const manifest = detail.manifest || {};
  const link = `#/graphs/${encodeSegment(detail.name)}`;
  const versions = detail.versions || [detail.version];
  const versionLinks = versions.length > 1
    ? h("span", {}, versions.map((v, i) => [i ? ", " : "", v === detail.version ? h("strong", {}, v)
      : h("a", { href: `${link}?version=${encodeURIComponent(v)}` }, v)]))
    : detail.version;
  const facts = h("dl", { class: "facts" },
    h("dt", {}, "Version"), h("dd", {}, detail.version),
    h("dt", {}, "Versions"), h("dd", {}, versionLinks),
    h("dt", {}, "Hash"), h("dd", {}, h("code", { class: "hash", title: detail.graph_hash }, shortId(detail.graph_hash, 16))),
    h("dt", {}, "Entrypoint"), h("dd", {}, h("code", {}, manifest.entrypoint)),
    h("dt", {}, "Nodes"), h("dd", {}, String((manifest.nodes || []).length)),
    h("dt", {}, "Events"), h("dd", {}, Object.keys(detail.event_schemas || {}).join(", ") || "none"),
  );
  const startHref = `${link}/start${versions.length > 1 && detail.version !== versions[versions.length - 1] ? `?version=${encodeURIComponent(detail.version)}` : ""}`;
  const actions = h("p", { class: "actions" },
    h("a", { class: "button primary", href: startHref }, `Start a run of ${detail.name}`),
    h("a", { class: "button", href: `#/runs?graph=${encodeURIComponent(detail.name)}` }, `Runs of ${detail.name}`),
    level > 1 ? h("a", { class: "button quiet", href: link }, "Details") : null);
  const diagram = renderDiagram(detail);
  const events = Object.entries(detail.event_schemas || {});
  return h("section", { class: "graph card", "aria-labelledby": heading.id },
    heading, facts, actions,
    h(sub, {}, "Diagram"), diagram.element,
    h(sub, {}, "State"),
    schemaTable(detail.state_schema || detail.input_schema, manifest.reducers || {}, `State of ${detail.name}`),
    h(sub, {}, "Events"),
    events.length
      ? events.map(([event, schema]) => h("div", { class: "event-schema" },
        h(`h${level + 2}`, {}, h("code", {}, event)),
        schema ? schemaTable(schema, null, `Payload of event ${event}`) : h("p", { class: "muted" }, "No payload schema.")))
      : h("p", { class: "muted" }, "This graph waits for no events."),
  );
}

/** A table of an object schema's fields (type, required, default, reducer), raw JSON below. */
export function schemaTable(schema, reducers, caption) {
  const root = schema || {};
  const resolved = unwrapSchema(root, root).schema;
  const required = new Set(resolved.required || []);
  const rows = Object.entries(resolved.properties || {}).map(([name, property]) => {
    const unwrapped = unwrapSchema(property, root).schema;
    const hasDefault = Object.prototype.hasOwnProperty.call(unwrapped, "default");
    return h("tr", {},
      h("th", { scope: "row" }, h("code", {}, name)),
      h("td", {}, typeLabel(property, root)),
      h("td", {}, required.has(name) ? "yes" : "no"),
      h("td", {}, hasDefault ? h("code", {}, JSON.stringify(unwrapped.default)) : "—"),
      reducers ? h("td", {}, reducers[name] || "replace") : null,
      h("td", {}, unwrapped.description || property.description || ""));
  });
  return h("div", { class: "schema" },
    resolved.description ? h("p", {}, resolved.description) : null,
    h("div", { class: "table-scroll" }, h("table", {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Type"),
        h("th", { scope: "col" }, "Required"), h("th", { scope: "col" }, "Default"),
        reducers ? h("th", { scope: "col" }, "Reducer") : null, h("th", { scope: "col" }, "Description"))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: reducers ? 6 : 5 }, "No fields."))))),
    h("details", {}, h("summary", {}, "JSON Schema"), pre(schema)));
}
