"""Route templates, action plans and history shapes used by the emulator."""

from __future__ import annotations

import pytest

from azure_functions_durable_graph.azure.emulator.actions import plan
from azure_functions_durable_graph.azure.emulator.history import event_type_name, task_scheduled
from azure_functions_durable_graph.azure.emulator.http_triggers import compile_route


@pytest.mark.parametrize(("template", "path", "values"), [
    ("orchestrators/{name}/{id?}", "orchestrators/a", {"name": "a"}),
    ("orchestrators/{name}/{id?}", "Orchestrators/a/b", {"name": "a", "id": "b"}),
    ("orchestrators/{name}/{id?}", "orchestrators", None),
    ("items/{id:int}", "items/12", {"id": "12"}),
    ("items/{id:int?}", "items", {}),
    ("files/{*rest}", "files/x/y.txt", {"rest": "x/y.txt"}),
    ("files/{**rest}", "files", {}),
    ("pages/{page=home}", "pages", {"page": "home"}),
    ("doc/{name}.{ext}", "doc/readme.md", {"name": "readme", "ext": "md"}),
    ("", "", {}),
])
def test_route_templates(template: str, path: str, values: dict[str, str] | None) -> None:
    assert compile_route(template).match(path) == values


def test_plan_numbers_leaves_of_compound_actions() -> None:
    actions = [[
        {"actionType": 12, "compoundActions": [
            {"actionType": 0, "functionName": "a", "input": "1"},
            {"actionType": 5, "fireAt": "2024-01-01T00:00:00.000000Z", "isCanceled": False},
        ]},
        {"actionType": 6, "externalEventName": "go", "reason": "ExternalEvent"},
        {"actionType": 11, "compoundActions": [
            {"actionType": 2, "functionName": "child", "input": None, "instanceId": None}]},
    ]]
    planned = plan(actions)
    assert [(p.kind, p.sequence, p.name) for p in planned] == [
        ("activity", 0, "a"), ("timer", 1, None), ("wait_event", None, "go"),
        ("sub_orchestration", 2, "child")]


def test_history_event_names() -> None:
    assert event_type_name(task_scheduled(0.0, 3, name="x", input_json=None)) == "TaskScheduled"
