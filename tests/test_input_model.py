"""A graph's input model: what starting a run asks for, checked on every engine.

``ticket`` graph: the state holds internal fields (``draft``, ``attempts``, ``log``) that a
caller must not set; the input model ``TicketInput`` lists ``ticket`` and ``priority`` (with its
own default). Checked at build (INPUT_MODEL_INVALID), at start (``invoke``, ``LocalEngine.start``,
the HTTP API on both engines, so the Azure client backend too), in the manifest, in
``GET /api/graphs/{name}``, in the OpenAPI start operation and in the inspector's start form.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict

from azure_functions_durable_graph import (
    GraphManifest,
    GraphRegistration,
    GraphValidationError,
    InvalidInputError,
    ManifestBuilder,
    reducers,
)
from azure_functions_durable_graph.api.openapi import build_openapi
from azure_functions_durable_graph.execution import ManualClock
from azure_functions_durable_graph.graph.input_model import annotation_fits
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.memory import MemoryRunStore
from http_conformance import ENGINES, HttpEngine
from ui_helpers import EXAMPLES_APP, UI_TIMEOUT_MS, browser_missing, chromium, new_page, serve

GRAPH = "ticket"


class TicketState(BaseModel):
    ticket: str
    priority: int = 0
    draft: str = ""
    attempts: int = 0
    log: Annotated[list[str], reducers.append] = []


class TicketInput(BaseModel):
    ticket: str
    priority: int = 3


def draft(state: TicketState) -> dict[str, Any]:
    return {"draft": f"re: {state.ticket} (p{state.priority})", "attempts": state.attempts + 1, "log": "drafted"}


def _builder(input_model: Any = TicketInput, state_model: Any = TicketState) -> ManifestBuilder:
    builder = ManifestBuilder(graph_name=GRAPH, state_model=state_model, input_model=input_model)
    builder.set_entrypoint("draft")
    builder.add_node("draft", draft, terminal=True)
    return builder


def _registration() -> GraphRegistration:
    return _builder().build()


# --- build --------------------------------------------------------------------------------------


class Subject(BaseModel):
    text: str


class Special(Subject):
    urgent: bool = False


class Loose(BaseModel):
    """Every way a field type may fit the state's: see test_compatible_input_models_build."""

    ticket: Literal["a", "b"]
    priority: bool = False  # a bool is an int
    draft: str | None = None


class LooseState(BaseModel):
    ticket: str
    priority: int = 0
    draft: Annotated[str | None, reducers.replace] = None
    subject: Subject | None = None
    tags: Annotated[list[int], reducers.extend] = []
    internal: dict[str, Any] = {}


class LooseInput(Loose):
    subject: Special | None = None
    tags: list[bool] = []


def test_compatible_input_models_build() -> None:
    registration = _builder(LooseInput, LooseState).build()
    assert registration.input_model is LooseInput
    assert set(registration.manifest.input_schema["properties"]) == {"ticket", "priority", "draft", "subject", "tags"}


@pytest.mark.parametrize(("given", "accepted", "fits"), [
    (int, int, True), (bool, int, True), (int, bool, False), (str, int, False),
    (int, Any, True), (Any, int, False), (int, int | None, True), (int | None, int, False),
    (Literal["a", 1], str | int, True), (Literal["a"], int, False),
    (list[bool], list[int], True), (list[str], list[int], False), (list[str], list, True),
    (dict[str, int], dict[str, int | str], True), (tuple[int, str], tuple[int], False),
    (Annotated[int, "meta"], Annotated[int | None, reducers.add], True), (Special, Subject, True),
    (Subject, Special, False), (list[int], set[int], False),
])
def test_annotation_fits(given: Any, accepted: Any, fits: bool) -> None:
    assert annotation_fits(given, accepted) is fits


class UnknownField(BaseModel):
    ticket: str
    secret: str = ""


class WrongType(BaseModel):
    ticket: int


class MissingRequired(BaseModel):
    priority: int = 1


@pytest.mark.parametrize(("model", "field", "fragment"), [
    (UnknownField, "secret", "input_model UnknownField field 'secret' is not a field of the state model TicketState"),
    (WrongType, "ticket", "input_model WrongType field 'ticket' has type int, which the state field of type str"),
    (MissingRequired, "ticket", "state field 'ticket' is required but input_model MissingRequired does not declare"),
    (dict, None, "input_model must be a Pydantic v2 BaseModel subclass, got <class 'dict'>"),
])
def test_invalid_input_models_are_refused_at_build(model: Any, field: str | None, fragment: str) -> None:
    with pytest.raises(GraphValidationError) as caught:
        _builder(model).build()
    assert caught.value.codes == ["INPUT_MODEL_INVALID"]
    problem = caught.value.problems[0]
    assert problem.message.startswith(f"graph '{GRAPH}': ") and fragment in problem.message, problem.message
    assert problem.to_dict().get("field") == field


# --- manifest -----------------------------------------------------------------------------------


def test_manifest_carries_input_schema_only_when_declared() -> None:
    plain = _builder(None).build()
    same = _builder(TicketState).build()  # the state model itself declares nothing new
    assert same.input_model is None and same.graph_hash == plain.graph_hash
    assert "input_schema" not in plain.manifest.model_dump(mode="json")
    assert "input_schema" not in json.loads(plain.manifest.model_dump_json())

    declared = _registration()
    dumped = declared.manifest.model_dump(mode="json")
    assert dumped["input_schema"] == TicketInput.model_json_schema(mode="validation")
    assert declared.graph_hash != plain.graph_hash  # the start contract is part of the graph
    again = GraphManifest.model_validate(dumped)
    assert again.is_verified() and again.graph_hash == declared.graph_hash
    tampered = dict(dumped, input_schema={"type": "object"})
    with pytest.raises(ValueError, match="does not match its content"):
        GraphManifest.model_validate(tampered)


# --- start: invoke and the local engine's Python API ------------------------------------------


def _assert_refused(call: Any, *fragments: str) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        call()
    error = caught.value
    assert error.code == "INVALID_INPUT" and "\n" not in error.message
    for fragment in (f"graph '{GRAPH}'", *fragments):
        assert fragment in error.message, error.message
    return error


def test_invoke_starts_from_the_validated_input() -> None:
    registration = _registration()
    result = registration.invoke({"ticket": "late parcel"})
    assert result.status == "completed"
    assert result.state is not None
    # priority takes the input model's default, the internal fields the state's
    assert result.state.model_dump() == {"ticket": "late parcel", "priority": 3, "draft": "re: late parcel (p3)",
                                         "attempts": 1, "log": ["drafted"]}
    assert registration.invoke(TicketInput(ticket="x", priority=1)).state.priority == 1  # type: ignore[union-attr]
    # another model gives its explicitly set fields
    assert registration.invoke(TicketState(ticket="y")).state.priority == 3  # type: ignore[union-attr]


def test_invoke_refuses_internal_fields_and_wrong_types() -> None:
    registration = _registration()
    error = _assert_refused(lambda: registration.invoke({"ticket": "x", "attempts": 5}),
                            "input field 'attempts' is not a field of the input model TicketInput")
    assert error.details[0]["loc"] == ["attempts"]
    _assert_refused(lambda: registration.invoke({"ticket": 42}), "ticket: Input should be a valid string")
    _assert_refused(lambda: registration.invoke({}), "ticket: Field required")
    _assert_refused(lambda: registration.invoke(TicketState(ticket="x", draft="forged")), "input field 'draft'")
    _assert_refused(lambda: registration.invoke(["ticket"]), "input must be a JSON object of TicketInput's fields")


def test_an_input_model_allowing_extras_still_refuses_them() -> None:
    class Permissive(BaseModel):
        model_config = ConfigDict(extra="allow")
        ticket: str

    registration = _builder(Permissive).build()
    _assert_refused(lambda: registration.invoke({"ticket": "x", "log": ["forged"]}), "input field 'log'")


def test_local_engine_start_applies_the_input_model() -> None:
    engine = LocalEngine(MemoryRunStore(), clock=ManualClock(auto_advance=False))
    engine.register(_registration())

    def start(value: Any) -> Any:
        return asyncio.run(asyncio.wait_for(engine.start(GRAPH, value), 30))

    _assert_refused(lambda: start({"ticket": "x", "draft": "forged"}), "input field 'draft'")
    _assert_refused(lambda: start({"ticket": "x", "priority": "high"}), "priority: Input should be a valid integer")
    status = start({"ticket": "ok"})
    assert status.input == {"ticket": "ok", "priority": 3, "draft": "", "attempts": 0, "log": []}
    runs, _ = asyncio.run(engine.list_runs())
    assert [r.instance_id for r in runs] == [status.instance_id]  # nothing stored for the refusals


def test_a_subgraph_child_starts_from_parent_state_not_its_input_model() -> None:
    """The parent hands over every field the child's state declares, internal ones included."""
    child = _registration()
    parent = ManifestBuilder(graph_name="parent", state_model=TicketState)
    parent.set_entrypoint("child")
    parent.add_subgraph("child", child, terminal=True)
    result = parent.build().invoke({"ticket": "nested", "attempts": 4})
    assert result.status == "completed", result.error
    assert result.state is not None and result.state.attempts == 5


# --- start over HTTP, on both engines ---------------------------------------------------------


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Iterator[HttpEngine]:
    with ENGINES[request.param](_registration()) as served:
        yield served


def _assert_400(response: Any, *fragments: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_INPUT", error
    for fragment in (f"graph '{GRAPH}'", *fragments):
        assert fragment in error["message"], error["message"]
    return dict(error)


def test_http_start_refuses_fields_outside_the_input_model(engine: HttpEngine) -> None:
    url = f"/api/graphs/{GRAPH}/runs"
    error = _assert_400(engine.client.post(url, json={"input": {"ticket": "x", "attempts": 9}}),
                        "input field 'attempts' is not a field of the input model TicketInput")
    assert error["details"][0]["loc"] == ["attempts"]
    _assert_400(engine.client.post(url, json={"ticket": "x", "log": ["forged"]}), "input field 'log'")  # bare body
    error = _assert_400(engine.client.post(url, json={"input": {"ticket": ["x"]}}), "ticket: Input should be a valid string")
    assert error["details"][0]["loc"] == ["ticket"]
    assert engine.client.get("/api/runs").json()["runs"] == []


def test_http_start_initialises_the_state_from_the_input(engine: HttpEngine) -> None:
    started = engine.client.post(f"/api/graphs/{GRAPH}/runs", json={"input": {"ticket": "lost key", "priority": 1}})
    assert started.status_code == 202, started.text
    run = engine.settle(started.json()["instance_id"])
    assert run["status"] == "completed", run
    assert run["input"] == {"ticket": "lost key", "priority": 1, "draft": "", "attempts": 0, "log": []}
    assert run["output"]["state"] == {"ticket": "lost key", "priority": 1, "draft": "re: lost key (p1)",
                                      "attempts": 1, "log": ["drafted"]}


def test_graph_detail_and_openapi_show_the_input_model(engine: HttpEngine) -> None:
    detail = engine.client.get(f"/api/graphs/{GRAPH}").json()
    assert detail["input_schema"] == TicketInput.model_json_schema(mode="validation")
    assert set(detail["state_schema"]["properties"]) == {"ticket", "priority", "draft", "attempts", "log"}
    assert detail["manifest"]["input_schema"] == detail["input_schema"]
    document = engine.client.get("/api/openapi.json").json()
    body = document["paths"][f"/api/graphs/{GRAPH}/runs"]["post"]["requestBody"]["content"]["application/json"]
    ref = body["schema"]["properties"]["input"]["$ref"]
    assert ref == f"#/components/schemas/{GRAPH}.Input"
    schemas = document["components"]["schemas"]
    assert set(schemas[f"{GRAPH}.Input"]["properties"]) == {"ticket", "priority"}
    assert f"{GRAPH}.State" in schemas  # the state is still described


def test_openapi_without_input_model_keeps_the_state_schema() -> None:
    class Catalog:
        graph_names = [GRAPH]

        def get(self, name: str, version: str | None = None) -> GraphRegistration:
            return _builder(None).build()

    document = build_openapi(Catalog())  # type: ignore[arg-type]
    body = document["paths"][f"/api/graphs/{GRAPH}/runs"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["input"]["$ref"] == f"#/components/schemas/{GRAPH}.State"
    assert f"{GRAPH}.Input" not in document["components"]["schemas"]


# --- the inspector's start form -----------------------------------------------------------------


@pytest.mark.skipif(browser_missing() is not None, reason=f"browser test skipped: {browser_missing()}")
def test_inspector_start_form_asks_only_for_the_input_model() -> None:
    from playwright.sync_api import expect

    with tempfile.TemporaryDirectory() as scratch, serve(EXAMPLES_APP, Path(scratch)) as served, \
            chromium() as browser:
        page = new_page(browser)
        page.goto(f"{served.base}/#/graphs/content_classifier/start")
        expect(page.get_by_label("Text")).to_be_visible(timeout=UI_TIMEOUT_MS)
        assert page.locator(".start-form .field[data-field]").evaluate_all(
            "els => els.map(e => e.dataset.field)") == ["text"]
        expect(page.locator("#start-input-note")).to_contain_text("other state fields start at their defaults")
        # a graph without an input model still asks for every state field
        page.goto(f"{served.base}/#/graphs/support_agent/start")
        expect(page.get_by_label("Revisions")).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(page.locator("#start-input-note")).to_have_count(0)
        # the JSON editor's extra field is refused by the API, shown in the summary
        page.goto(f"{served.base}/#/graphs/content_classifier/start")
        page.get_by_label("JSON", exact=True).check()
        page.get_by_label("Input (JSON object)").fill('{"text": "hi", "category": "spam"}')
        page.get_by_role("button", name="Start run").click()
        expect(page.locator(".error-summary")).to_contain_text("input field 'category' is not a field of the input model")
