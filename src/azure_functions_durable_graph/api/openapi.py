"""OpenAPI 3.1 document generated from the route table and the registered graphs.

Besides the generic operations, every registered graph gets a typed start operation
(``POST /graphs/<name>/runs``) whose ``input`` is that graph's state model, and a typed event
operation per declared event (``POST /runs/{instance_id}/events/<event>``) with its payload
schema. Pydantic's ``$defs`` are hoisted into ``components/schemas`` under a per-graph prefix.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .._version import __version__
from ..execution.backend import RUN_STATUSES
from .protocol import GraphCatalog
from .routes import ROUTES, RouteSpec

_SAFE = re.compile(r"[^A-Za-z0-9._-]")
OBJECT = {"type": "object"}
ANY_JSON: dict[str, Any] = {}
# Instants are ISO 8601 UTC strings with microseconds, e.g. 2026-12-07T06:01:28.373718Z.
DATE_TIME = {"type": "string", "format": "date-time"}
OPTIONAL_DATE_TIME = {"type": ["string", "null"], "format": "date-time"}
WAIT = {"type": "object", "properties": {
    "event": {"type": "string"}, "node": {"type": "string"}, "resume_node": {"type": "string"},
    "on_timeout": {"type": ["string", "null"]}, "deadline": OPTIONAL_DATE_TIME, "payload_schema": ANY_JSON,
}}
STEP = {"type": "object", "properties": {
    "step": {"type": "integer"}, "task_id": {"type": "string"}, "node": {"type": "string"},
    "attempt": {"type": "integer"}, "ok": {"type": "boolean"}, "update": ANY_JSON, "route": ANY_JSON,
    "error": ANY_JSON, "started_at": OPTIONAL_DATE_TIME, "finished_at": OPTIONAL_DATE_TIME,
}}

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": ANY_JSON},
}}}
RUN = {"type": "object", "required": ["instance_id", "graph_name", "status", "runtime_status"], "properties": {
    "instance_id": {"type": "string"}, "graph_name": {"type": "string"}, "graph_version": {"type": "string"},
    "graph_hash": {"type": "string"},
    "status": {"enum": list(RUN_STATUSES)},
    "runtime_status": {"type": "string", "description": "the Durable instance's runtimeStatus: Pending, Running, "
                       "Completed (also a graceful cancel), Failed, Terminated (a forced cancel)"},
    "custom_status": ANY_JSON,
    "current_nodes": {"type": "array", "items": {"type": "string"}},
    "waiting_for": {"type": "array", "items": WAIT}, "step": {"type": "integer"},
    "input": ANY_JSON, "output": ANY_JSON, "error": ANY_JSON, "metadata": ANY_JSON, "cancel": ANY_JSON,
    "created_at": DATE_TIME, "updated_at": DATE_TIME, "urls": OBJECT,
}}
COMPONENTS: dict[str, Any] = {
    "Error": ERROR,
    "Run": RUN,
    "RunList": {"type": "object", "required": ["runs"], "properties": {
        "runs": {"type": "array", "items": {"$ref": "#/components/schemas/Run"}},
        "next_cursor": {"type": ["string", "null"]}}},
    "StartRun": {"type": "object", "properties": {
        "input": OBJECT, "instance_id": {"type": "string", "minLength": 1}, "metadata": OBJECT}},
    "CancelRun": {"type": "object", "properties": {"reason": {"type": "string"}}},
    "EventPayload": ANY_JSON,
    "EventAccepted": {"type": "object", "required": ["instance_id", "event_name", "accepted"], "properties": {
        "instance_id": {"type": "string"}, "event_name": {"type": "string"},
        "accepted": {"const": True}, "event_id": {"type": "string"}}},
    "History": {"type": "object", "required": ["instance_id", "steps"], "properties": {
        "instance_id": {"type": "string"}, "steps": {"type": "array", "items": STEP}}},
    "Health": {"type": "object", "required": ["ok", "registered_graphs"], "properties": {
        "ok": {"type": "boolean"}, "registered_graphs": {"type": "array", "items": {"type": "string"}}}},
    "GraphList": {"type": "object", "required": ["graphs"], "properties": {
        "graphs": {"type": "array", "items": {"type": "object"}}}},
    "GraphDetail": {"type": "object", "required": ["name", "manifest"], "properties": {
        "name": {"type": "string"}, "version": {"type": "string"}, "manifest": OBJECT,
        "mermaid": {"type": "string"}, "input_schema": OBJECT, "event_schemas": OBJECT}},
    "Purged": {"type": "object", "properties": {"instance_id": {"type": "string"}, "purged": {"const": True}}},
}
ERROR_TEXT = {400: "invalid request", 401: "missing or wrong API key", 404: "not found",
              409: "conflicts with the run's state", 413: "request body too large",
              415: "request body not sent as application/json"}


def build_openapi(catalog: GraphCatalog, *, prefix: str = "/api", secured: bool = False) -> dict[str, Any]:
    """The OpenAPI 3.1 document for the registered graphs."""
    components: dict[str, Any] = copy.deepcopy(COMPONENTS)
    paths: dict[str, Any] = {}
    for spec in ROUTES:
        paths.setdefault(prefix + spec.path, {})[spec.method.lower()] = _operation(spec, secured)
    for name in catalog.graph_names:
        manifest = catalog.get(name).manifest
        state_ref = _hoist(components, name, "State", manifest.state_schema)
        if manifest.input_schema is not None:  # the graph's input model: only its fields are asked for
            state_ref = _hoist(components, name, "Input", manifest.input_schema)
        body = {"type": "object", "properties": {
            "input": {"$ref": state_ref}, "instance_id": {"type": "string", "minLength": 1}, "metadata": OBJECT}}
        start = _operation(_route("start_run"), secured)
        start.update(operationId=f"start_{_safe(name)}", summary=f"Start a run of '{name}'",
                     parameters=[p for p in start.get("parameters", []) if p["name"] != "graph"])
        start["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
        paths[f"{prefix}/graphs/{name}/runs"] = {"post": start}
        for event in manifest.events:
            key = f"{prefix}/runs/{{instance_id}}/events/{event.name}"
            schema = {"$ref": _hoist(components, name, f"{event.name}.Payload", event.payload_schema)} \
                if event.payload_schema else ANY_JSON
            operation = paths.get(key, {}).get("post")
            if operation is None:
                operation = _operation(_route("raise_event"), secured)
                operation.update(operationId=f"send_{_safe(event.name)}", summary=f"Send event '{event.name}'",
                                 parameters=[p for p in operation["parameters"] if p["name"] != "event"])
                operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"anyOf": []}}}}
                paths[key] = {"post": operation}
            operation["requestBody"]["content"]["application/json"]["schema"]["anyOf"].append(schema)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "azure-functions-durable-graph", "version": __version__,
                 "description": "Start, follow, answer and cancel graph runs."},
        "paths": paths,
        "components": {"schemas": components},
    }
    if secured:
        document["components"]["securitySchemes"] = {
            "functionsKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
            "bearer": {"type": "http", "scheme": "bearer"},
        }
    return document


def _route(handler: str) -> RouteSpec:
    return next(r for r in ROUTES if r.handler == handler)


def _operation(spec: RouteSpec, secured: bool) -> dict[str, Any]:
    parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in re.findall(r"{(\w+)}", spec.path)]
    parameters += [{"name": n, "in": "query", "required": False, "schema": {"type": t}, "description": d}
                   for n, t, d in spec.query]
    success: dict[str, Any] = {"description": "OK"}
    if spec.handler == "run_stream":
        success["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
    elif spec.handler == "docs":
        success["content"] = {"text/html": {"schema": {"type": "string"}}}
    elif spec.response:
        success["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{spec.response}"}}}
    else:
        success["content"] = {"application/json": {"schema": OBJECT}}
    responses: dict[str, Any] = {str(spec.success): success}
    if spec.handler == "start_run":
        responses["200"] = {"description": "finished within ?wait",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Run"}}}}
    errors = set(spec.errors) | ({401} if secured and not spec.public else set())
    for status in sorted(errors):
        responses[str(status)] = {"description": ERROR_TEXT[status],
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    operation: dict[str, Any] = {"operationId": spec.handler, "summary": spec.summary, "tags": [spec.tag],
                                 "parameters": parameters, "responses": responses}
    if spec.request_body:
        operation["requestBody"] = {"required": False, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{spec.request_body}"}}}}
    if secured and not spec.public:
        operation["security"] = [{"functionsKey": []}, {"bearer": []}]
    return operation


def _hoist(components: dict[str, Any], graph: str, name: str, schema: dict[str, Any] | None) -> str:
    """Put ``schema`` (and its ``$defs``) under components; returns the reference to it."""
    schema = copy.deepcopy(schema or {})
    base = f"{_safe(graph)}.{_safe(name)}"
    # Each owner's $defs live under its own name, so equal def names never overwrite each other.
    for def_name, definition in schema.pop("$defs", {}).items():
        components[f"{base}.defs.{_safe(def_name)}"] = _rewrite_refs(definition, base)
    components[base] = _rewrite_refs(schema, base)
    return f"#/components/schemas/{base}"


def _rewrite_refs(value: Any, base: str) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith("#/$defs/"):
                out[key] = f"#/components/schemas/{base}.defs.{_safe(item[len('#/$defs/'):])}"
            else:
                out[key] = _rewrite_refs(item, base)
        return out
    if isinstance(value, list):
        return [_rewrite_refs(v, base) for v in value]
    return value


def _safe(text: str) -> str:
    return _SAFE.sub("_", text)


def docs_page(openapi_url: str) -> str:
    """A self-contained documentation page (no CDN) that lists and tries the operations."""
    return _DOCS_HTML.replace("__OPENAPI_URL__", openapi_url)


_DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>durable-graph API</title>
<style>
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1b1f24}
h1{font-size:1.4rem} .op{border:1px solid #d0d7de;border-radius:6px;margin:.5rem 0;padding:.5rem}
.m{display:inline-block;min-width:4.5rem;font-weight:600} .get{color:#0969da}.post{color:#1a7f37}.delete{color:#cf222e}
code{background:#f6f8fa;padding:0 .2rem} textarea{width:100%;min-height:4rem;font-family:monospace}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;max-height:20rem} label{display:block;margin:.2rem 0}
input{font-family:monospace}
</style></head><body>
<h1>durable-graph HTTP API</h1>
<p>Machine-readable: <a href="__OPENAPI_URL__"><code>__OPENAPI_URL__</code></a>.
<label>API key (if the server needs one): <input id="key" type="password" autocomplete="off">
<button type="button" id="reload">Load</button></label></p>
<div id="ops">Loading…</div>
<script>
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
function keyHeaders() {
  const key = document.getElementById('key').value; return key ? {'x-functions-key': key} : {};
}
async function load() {
  const res = await fetch('__OPENAPI_URL__', {headers: keyHeaders()});
  if (res.status === 401) { document.getElementById('ops').textContent = 'Enter the API key, then press Load.'; return; }
  const doc = await res.json();
  const root = document.getElementById('ops'); root.innerHTML = '';
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const div = document.createElement('details'); div.className = 'op';
      const params = (op.parameters || []).map(p =>
        `<label>${esc(p.name)} (${p.in}) <input data-in="${p.in}" name="${esc(p.name)}"></label>`).join('');
      const body = op.requestBody ? '<label>JSON body<textarea name="__body">{}</textarea></label>' : '';
      div.innerHTML = `<summary><span class="m ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code>
        ${esc(op.summary || '')}</summary><form>${params}${body}<button>Send</button></form><pre hidden></pre>`;
      div.querySelector('form').addEventListener('submit', async ev => {
        ev.preventDefault();
        let url = path; const q = new URLSearchParams();
        for (const input of div.querySelectorAll('input[data-in]')) {
          if (input.dataset.in === 'path') url = url.replace('{' + input.name + '}', encodeURIComponent(input.value));
          else if (input.value) q.set(input.name, input.value);
        }
        const headers = {'content-type': 'application/json'};
        const key = document.getElementById('key').value; if (key) headers['x-functions-key'] = key;
        const text = div.querySelector('textarea');
        const res = await fetch(url + (q.toString() ? '?' + q : ''), {method: method.toUpperCase(), headers,
          body: text ? text.value : undefined});
        const out = div.querySelector('pre'); out.hidden = false;
        out.textContent = res.status + ' ' + res.statusText + '\\n' + await res.text();
      });
      root.appendChild(div);
    }
  }
}
document.getElementById('reload').addEventListener('click', () => load());
load().catch(e => { document.getElementById('ops').textContent = 'Could not load the API description: ' + e; });
</script></body></html>
"""

__all__ = ["build_openapi", "docs_page"]
