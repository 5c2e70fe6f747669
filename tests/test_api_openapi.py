"""The OpenAPI document served at ``/api/openapi.json``: valid 3.1, typed per graph, refs resolve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, create_model
from starlette.testclient import TestClient

from azure_functions_durable_graph import GraphRegistration, ManifestBuilder, RouteDecision
from azure_functions_durable_graph.api.routes import ROUTES
from azure_functions_durable_graph.api.server import build_local_app
from graph_helpers import load_example
from scenarios import build_event_payload_model, build_wait_event

EXAMPLES = ("quick_example", "support_agent", "content_classifier")


def registrations() -> list[GraphRegistration]:
    examples = [load_example(name).runtime.registrations()[0] for name in EXAMPLES]
    # event_payload_model declares 'approval' too, with another payload model; wait_event's
    # 'go' has no payload model.
    return examples + [build_wait_event(), build_event_payload_model()]


def fetch_document(db: Path, **options: Any) -> dict[str, Any]:
    headers = {"x-functions-key": options["api_key"]} if options.get("api_key") else {}
    with TestClient(build_local_app(registrations(), db=db, **options)) as client:
        response = client.get("/api/openapi.json", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        return response.json()


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return fetch_document(tmp_path_factory.mktemp("openapi") / "o.db")


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolvable $ref {ref}"
        node = node[part]
    return node


def refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs(item)


def deref(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    for _ in range(10):
        if "$ref" not in schema:
            return schema
        schema = resolve(document, schema["$ref"])
    raise AssertionError("$ref chain too long")


def json_body_schema(operation: dict[str, Any]) -> dict[str, Any]:
    return operation["requestBody"]["content"]["application/json"]["schema"]


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)
    assert document["info"]["title"] and document["info"]["version"]


def test_every_route_is_documented(document: dict[str, Any]) -> None:
    for route in ROUTES:
        operation = document["paths"]["/api" + route.path][route.method.lower()]
        assert operation["operationId"] == route.handler
        assert str(route.success) in operation["responses"]
        for status in route.errors:
            assert str(status) in operation["responses"]
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_one_typed_start_operation_per_graph(document: dict[str, Any]) -> None:
    expected_fields = {
        "my_graph": {"message", "processed"},
        "support_agent": {"ticket", "draft", "revisions", "approved", "reviewer", "review_comment",
                          "status", "log"},
        "content_classifier": {"text"},  # its input model; the verdict fields are internal
        "wait_event": {"x", "decision", "votes", "log"},
        "event_payload_model": {"approved", "reviewer", "score", "payload_type", "log"},
    }
    for graph, fields in expected_fields.items():
        operation = document["paths"][f"/api/graphs/{graph}/runs"]["post"]
        assert operation["operationId"] == f"start_{graph}"
        assert {p["name"] for p in operation["parameters"]} == {"wait", "version"}
        assert {"202", "200", "400", "404", "409", "413"} <= set(operation["responses"])
        body = json_body_schema(operation)
        assert set(body["properties"]) == {"input", "instance_id", "metadata"}
        state = body["properties"]["input"]
        assert "$ref" in state
        assert state["$ref"].startswith("#/components/schemas/")
        resolved = deref(document, state)
        assert set(resolved["properties"]) == fields, graph
    state = deref(document, json_body_schema(document["paths"]["/api/graphs/my_graph/runs"]["post"])
                  ["properties"]["input"])
    assert state["required"] == ["message"]
    assert state["properties"]["message"]["type"] == "string"


def test_event_operations_carry_payload_schemas(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/runs/{instance_id}/events/approval"]["post"]
    assert operation["operationId"] == "send_approval"
    assert [p["name"] for p in operation["parameters"]] == ["instance_id"]
    choices = [deref(document, s) for s in json_body_schema(operation)["anyOf"]]
    by_title = {c.get("title"): c for c in choices}
    assert len(choices) == 2  # support_agent's and event_payload_model's Approval
    support = next(c for c in choices if set(c["properties"]) == {"approved", "reviewer", "comment"})
    assert sorted(support["required"]) == ["approved", "reviewer"]
    assert support["properties"]["approved"]["type"] == "boolean"
    assert support["properties"]["reviewer"]["type"] == "string"
    assert "Approval" in by_title
    go = document["paths"]["/api/runs/{instance_id}/events/go"]["post"]
    assert go["operationId"] == "send_go"
    assert json_body_schema(go)["anyOf"] == [{}]  # no payload model: any JSON


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    found = list(refs(document))
    assert len(found) > 20
    for ref in found:
        target = resolve(document, ref)
        assert isinstance(target, dict)


def test_graph_components_are_prefixed(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for graph in ("my_graph", "support_agent", "content_classifier", "wait_event", "event_payload_model"):
        assert f"{graph}.State" in schemas
    assert "support_agent.approval.Payload" in schemas
    assert "event_payload_model.approval.Payload" in schemas
    for name in ("Error", "Run", "RunList", "StartRun", "CancelRun", "EventAccepted", "History", "Health",
                 "GraphList", "GraphDetail", "Purged"):
        assert name in schemas


def test_unsecured_document_declares_no_security(document: dict[str, Any]) -> None:
    assert "securitySchemes" not in document["components"]
    for item in document["paths"].values():
        for operation in item.values():
            assert "security" not in operation
            assert "401" not in operation["responses"]


def test_secured_document_declares_security_schemes(tmp_path: Path) -> None:
    secured = fetch_document(tmp_path / "s.db", api_key="k")
    validate(secured)
    schemes = secured["components"]["securitySchemes"]
    assert schemes["functionsKey"] == {"type": "apiKey", "in": "header", "name": "x-functions-key"}
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer"}
    for path, item in secured["paths"].items():
        for operation in item.values():
            if path in ("/api/health", "/api/docs"):
                assert "security" not in operation
                continue
            assert operation["security"] == [{"functionsKey": []}, {"bearer": []}], path
            assert resolve(secured, operation["responses"]["401"]["content"]["application/json"]["schema"]
                           ["$ref"])["required"] == ["error"]


def test_document_follows_the_prefix(tmp_path: Path) -> None:
    with TestClient(build_local_app(registrations(), db=tmp_path / "p.db", prefix="/v1")) as client:
        doc = client.get("/v1/openapi.json").json()
        validate(doc)
        assert "/v1/graphs/my_graph/runs" in doc["paths"]
        assert all(path.startswith("/v1/") for path in doc["paths"])
        assert client.get("/v1/health").status_code == 200


# --- component names of nested models -----------------------------------------------------------


class Item(BaseModel):
    """A line of the state."""

    sku: str


class State(BaseModel):
    """A nested model that happens to be called State."""

    phase: str = "new"


class Order(BaseModel):
    """A state with nested models."""

    items: list[Item] = []
    inner: State = State()


PayloadItem = create_model("Item", qty=(int, ...))  # same $defs name as the state's Item
Amendment = create_model("Amendment", item=(PayloadItem, ...))


def build_orders() -> GraphRegistration:
    b = ManifestBuilder(graph_name="orders", state_model=Order)
    wait = RouteDecision.wait_for_event("amend", "done")
    b.set_entrypoint("take")
    b.add_node("take", lambda s: None, route=lambda s: wait, route_targets=[wait])
    b.add_node("done", lambda s: None, terminal=True)
    b.add_event_handler("amend", lambda s, p: None, payload_model=Amendment)
    return b.build()


@pytest.fixture(scope="module")
def orders_document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("orders") / "o.db"
    with TestClient(build_local_app([build_orders()], db=db)) as client:
        return client.get("/api/openapi.json").json()


def test_nested_models_documented(orders_document: dict[str, Any]) -> None:
    validate(orders_document)
    operation = orders_document["paths"]["/api/runs/{instance_id}/events/amend"]["post"]
    (payload,) = json_body_schema(operation)["anyOf"]
    item = deref(orders_document, deref(orders_document, payload)["properties"]["item"])
    assert set(item["properties"]) == {"qty"}


def test_state_refs_are_not_overwritten_by_other_defs(orders_document: dict[str, Any]) -> None:
    operation = orders_document["paths"]["/api/graphs/orders/runs"]["post"]
    state = deref(orders_document, json_body_schema(operation)["properties"]["input"])
    assert set(state["properties"]) == {"items", "inner"}
    item = deref(orders_document, state["properties"]["items"]["items"])
    assert set(item["properties"]) == {"sku"}  # not the event payload's Item
    inner = deref(orders_document, state["properties"]["inner"])
    assert set(inner["properties"]) == {"phase"}  # not the state itself
