"""normalize_route: every accepted router return value becomes one JSON route form."""

from __future__ import annotations

import json
from typing import Any

import pytest

from azure_functions_durable_graph import (
    END,
    START,
    DurableGraphError,
    InvalidRouteError,
    RouteAction,
    RouteDecision,
    Send,
)
from azure_functions_durable_graph.graph.routing import normalize_route

COMPLETE = {"action": "complete"}

ACCEPTED: list[tuple[str, Any, dict[str, Any]]] = [
    ("none", None, {"action": "default"}),
    ("decision_next", RouteDecision.next("b"), {"action": "next", "targets": ["b"]}),
    (
        "decision_next_list_with_note",
        RouteDecision.next(["b", "c"], note="fan out"),
        {"action": "next", "targets": ["b", "c"], "note": "fan out"},
    ),
    (
        "decision_next_tuple",
        RouteDecision.next(("b", "c")),
        {"action": "next", "targets": ["b", "c"]},
    ),
    ("decision_complete", RouteDecision.complete(), COMPLETE),
    (
        "decision_complete_note",
        RouteDecision.complete("done"),
        {"action": "complete", "note": "done"},
    ),
    (
        "decision_wait",
        RouteDecision.wait_for_event("approval", "resume"),
        {
            "action": "wait_for_event",
            "event": "approval",
            "resume_node": "resume",
            "timeout": None,
            "on_timeout": None,
        },
    ),
    (
        "decision_wait_timeout",
        RouteDecision.wait_for_event(
            "approval", "resume", "why", timeout=86400, on_timeout="escalate"
        ),
        {
            "action": "wait_for_event",
            "note": "why",
            "event": "approval",
            "resume_node": "resume",
            "timeout": 86400,
            "on_timeout": "escalate",
        },
    ),
    (
        "decision_send",
        RouteDecision.send([Send("work", {"i": 1})], note="map"),
        {"action": "send", "note": "map", "sends": [{"node": "work", "payload": {"i": 1}}]},
    ),
    ("name", "b", {"action": "next", "targets": ["b"]}),
    ("end_constant", END, COMPLETE),
    ("complete_string", "__complete__", COMPLETE),
    ("end_alias", "__end__", COMPLETE),
    ("dict_next", {"next": "b"}, {"action": "next", "targets": ["b"]}),
    (
        "dict_next_list",
        {"next": ["b", "c"], "note": "n"},
        {"action": "next", "targets": ["b", "c"], "note": "n"},
    ),
    ("dict_complete", {"complete": True}, COMPLETE),
    (
        "dict_complete_note",
        {"complete": True, "note": "bye"},
        {"action": "complete", "note": "bye"},
    ),
    (
        "dict_wait_full",
        {
            "wait_for_event": {
                "event_name": "approval",
                "resume_node": "r",
                "timeout": 5,
                "on_timeout": "late",
            }
        },
        {
            "action": "wait_for_event",
            "event": "approval",
            "resume_node": "r",
            "timeout": 5,
            "on_timeout": "late",
        },
    ),
    (
        "dict_wait_event_key",
        {"wait_for_event": {"event": "approval", "resume_node": "r"}},
        {
            "action": "wait_for_event",
            "event": "approval",
            "resume_node": "r",
            "timeout": None,
            "on_timeout": None,
        },
    ),
    (
        "dict_wait_short",
        {"wait_for_event": "approval", "resume_node": "r"},
        {
            "action": "wait_for_event",
            "event": "approval",
            "resume_node": "r",
            "timeout": None,
            "on_timeout": None,
        },
    ),
    ("dict_action_next", {"action": "next", "targets": "b"}, {"action": "next", "targets": ["b"]}),
    ("dict_action_complete", {"action": "complete"}, COMPLETE),
    ("list_of_names", ["b", "c"], {"action": "next", "targets": ["b", "c"]}),
    ("tuple_of_names", ("b",), {"action": "next", "targets": ["b"]}),
    ("names_with_end", ["b", END], {"action": "next", "targets": ["b"]}),
    ("only_end_names", [END, "__end__"], COMPLETE),
    (
        "list_of_send",
        [Send("work", {"i": 1}), Send("work", {"i": 2})],
        {
            "action": "send",
            "sends": [{"node": "work", "payload": {"i": 1}}, {"node": "work", "payload": {"i": 2}}],
        },
    ),
    ("single_send", Send("work"), {"action": "send", "sends": [{"node": "work", "payload": {}}]}),
    ("empty_list", [], COMPLETE),
    ("empty_tuple", (), COMPLETE),
]


@pytest.mark.parametrize(
    ("value", "expected"), [r[1:] for r in ACCEPTED], ids=[r[0] for r in ACCEPTED]
)
def test_accepted_route_forms(value: Any, expected: dict[str, Any]) -> None:
    route = normalize_route(value, node="router_node")
    assert route == expected
    assert json.loads(json.dumps(route)) == route
    assert RouteAction(route["action"])


def test_route_decision_factories() -> None:
    decision = RouteDecision.wait_for_event("approval", "r", timeout=10, on_timeout="late")
    assert decision.action is RouteAction.WAIT_FOR_EVENT
    assert (decision.event_name, decision.resume_node, decision.timeout, decision.on_timeout) == (
        "approval",
        "r",
        10,
        "late",
    )
    assert RouteDecision.next("b").targets == ("b",)
    assert RouteDecision.send([Send("w")]).sends == (Send("w"),)
    with pytest.raises(AttributeError):
        decision.timeout = 5  # type: ignore[misc]


def test_send_payload_is_copied_into_the_route() -> None:
    payload = {"i": 1}
    route = normalize_route(Send("work", payload), node="n")
    route["sends"][0]["payload"]["i"] = 2
    assert payload == {"i": 1}


def test_reserved_names() -> None:
    assert END == "__complete__"
    assert START == "__start__"
    assert [a.value for a in RouteAction] == [
        "next",
        "complete",
        "wait_for_event",
        "send",
        "default",
    ]


REJECTED: list[tuple[str, Any, str]] = [
    ("mixed_list", ["b", Send("work")], "mixing node names and Send objects"),
    ("list_of_ints", [1, 2], "returned a list mixing"),
    ("int", 42, "returned int"),
    ("bool", True, "returned bool"),
    ("float", 1.5, "returned float"),
    ("set", {"b"}, "returned set"),
    ("dict_without_keys", {"foo": 1}, "a dict without 'next', 'complete' or 'wait_for_event'"),
    ("dict_complete_false", {"complete": False}, "a dict without 'next'"),
    ("unknown_action", {"action": "jump"}, "unknown action 'jump'"),
    ("wait_without_resume", {"wait_for_event": {"event_name": "approval"}}, "without resume_node"),
    ("wait_short_without_resume", {"wait_for_event": "approval"}, "without resume_node"),
    ("wait_not_a_mapping", {"wait_for_event": 3}, "without resume_node"),
]


@pytest.mark.parametrize(
    ("value", "message"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED]
)
def test_rejected_route_forms(value: Any, message: str) -> None:
    with pytest.raises(InvalidRouteError) as info:
        normalize_route(value, node="picky_router")
    error = info.value
    assert isinstance(error, DurableGraphError)
    assert error.code == "INVALID_ROUTE"
    assert "node 'picky_router'" in error.message
    assert message in error.message


def test_wait_dict_without_event_name_is_rejected() -> None:
    with pytest.raises(InvalidRouteError):
        normalize_route({"wait_for_event": {"resume_node": "r"}}, node="n")
