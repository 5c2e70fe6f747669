"""Build-time validation: every problem found at once, each with a stable code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from azure_functions_durable_graph import (
    END,
    DurableGraphError,
    GraphRegistration,
    GraphValidationError,
    ManifestBuilder,
    RetryPolicy,
    RouteDecision,
    reducers,
)
from azure_functions_durable_graph.graph.validation import PROBLEM_CODES
from graph_helpers import builder, no_route, noop


class Approval(BaseModel):
    approved: bool


class MismatchedState(BaseModel):
    count: Annotated[int, reducers.append] = 0
    name: Annotated[str, reducers.merge] = ""
    fine: Annotated[list[str], reducers.extend] = []


class BadInput(BaseModel):
    value: str  # the state's value is an int
    secret: int = 0  # not a state field


def _child() -> GraphRegistration:
    return builder("child").set_entrypoint("c").add_node("c", noop, terminal=True).build()


WAIT_APPROVAL = RouteDecision.wait_for_event("approval", "b", timeout=60, on_timeout="c")

# Each row: a function returning an unbuilt builder, and the exact (code, node) list expected.
INVALID: list[tuple[str, Callable[[], ManifestBuilder], list[tuple[str, str | None]]]] = [
    (
        "entrypoint_missing",
        lambda: builder().add_node("a", noop, terminal=True),
        [("ENTRYPOINT_MISSING", None)],
    ),
    (
        "entrypoint_unknown",
        lambda: builder().set_entrypoint("ghost").add_node("a", noop, terminal=True),
        [("ENTRYPOINT_UNKNOWN", "ghost")],
    ),
    (
        "handler_signature",
        lambda: builder().set_entrypoint("a").add_node("a", lambda state, ctx, extra: None, terminal=True),
        [("HANDLER_SIGNATURE", "a")],
    ),
    (
        "node_duplicate",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, terminal=True)
            .add_node("a", noop, terminal=True)
        ),
        [("NODE_DUPLICATE", "a")],
    ),
    (
        "node_name_empty",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, next_node="")
            .add_node("", noop, terminal=True)
        ),
        [("NODE_NAME_INVALID", "")],
    ),
    (
        "node_name_reserved",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, next_node=END)
            .add_node(END, noop, terminal=True)
        ),
        [("NODE_NAME_INVALID", END)],
    ),
    (
        "handler_not_callable",
        lambda: builder().set_entrypoint("a").add_node("a", "not a function", terminal=True),
        [("HANDLER_NOT_CALLABLE", "a")],
    ),
    (
        "router_not_callable",
        lambda: builder().set_entrypoint("a").add_node("a", noop, route=42, route_targets=[END]),
        [("HANDLER_NOT_CALLABLE", "a")],
    ),
    (
        "event_handler_not_callable",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, terminal=True)
            .add_event_handler("approval", 42)
        ),
        [("HANDLER_NOT_CALLABLE", None)],
    ),
    (
        "target_unknown",
        lambda: builder().set_entrypoint("a").add_node("a", noop, next_node="ghost"),
        [("TARGET_UNKNOWN", "a")],
    ),
    (
        "route_target_unknown",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, route=no_route, route_targets=["b", "ghost"])
            .add_node("b", noop, terminal=True)
        ),
        [("ROUTE_TARGET_UNKNOWN", "a")],
    ),
    (
        "terminal_with_edges",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, next_node="b", terminal=True)
            .add_node("b", noop, terminal=True)
        ),
        [("TERMINAL_WITH_EDGES", "a")],
    ),
    (
        "terminal_with_router",
        lambda: builder().set_entrypoint("a").add_node("a", noop, route=no_route, terminal=True),
        [("TERMINAL_WITH_EDGES", "a")],
    ),
    (
        "node_no_exit",
        lambda: (
            builder().set_entrypoint("a").add_node("a", noop, next_node="b").add_node("b", noop)
        ),
        [("NODE_NO_EXIT", "b")],
    ),
    (
        "node_unreachable",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, terminal=True)
            .add_node("island", noop, terminal=True)
        ),
        [("NODE_UNREACHABLE", "island")],
    ),
    (
        "node_unreachable_with_declared_route_targets",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, route=no_route, route_targets=["b"])
            .add_node("b", noop, terminal=True)
            .add_node("island", noop, terminal=True)
        ),
        [("NODE_UNREACHABLE", "island")],
    ),
    (
        "event_duplicate",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, terminal=True)
            .add_event_handler("approval")
            .add_event_handler("approval")
        ),
        [("EVENT_DUPLICATE", None)],
    ),
    (
        "event_payload_model_invalid",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, terminal=True)
            .add_event_handler("approval", payload_model=dict)
        ),
        [("EVENT_PAYLOAD_MODEL_INVALID", None)],
    ),
    (
        "wait_event_unknown",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, route=no_route, route_targets=[WAIT_APPROVAL])
            .add_node("b", noop, terminal=True)
            .add_node("c", noop, terminal=True)
        ),
        [("WAIT_EVENT_UNKNOWN", "a")],
    ),
    (
        "wait_nodes_unknown",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node(
                "a",
                noop,
                route=no_route,
                route_targets=[
                    RouteDecision.wait_for_event("approval", "ghost", on_timeout="phantom")
                ],
            )
            .add_event_handler("approval")
        ),
        [("WAIT_NODE_UNKNOWN", "a"), ("WAIT_NODE_UNKNOWN", "a")],
    ),
    (
        "error_route_unknown",
        lambda: builder().set_entrypoint("a").add_node("a", noop, terminal=True, on_error="ghost"),
        [("ERROR_ROUTE_UNKNOWN", "a")],
    ),
    (
        "reducer_mismatch",
        lambda: (
            builder(state_model=MismatchedState)
            .set_entrypoint("a")
            .add_node("a", noop, terminal=True)
        ),
        [("REDUCER_MISMATCH", None), ("REDUCER_MISMATCH", None)],
    ),
    (
        "max_steps_zero",
        lambda: builder(max_steps=0).set_entrypoint("a").add_node("a", noop, terminal=True),
        [("SETTING_INVALID", None)],
    ),
    (
        "node_settings_invalid",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, next_node="b", timeout=0)
            .add_node("b", noop, next_node="c", timeout=True)
            .add_node("c", noop, next_node="d", timeout="30")
            .add_node("d", noop, terminal=True, retry={"max_attempts": 3})
        ),
        [
            ("SETTING_INVALID", "a"),
            ("SETTING_INVALID", "b"),
            ("SETTING_INVALID", "c"),
            ("SETTING_INVALID", "d"),
        ],
    ),
    (
        "state_model_not_a_model",
        lambda: builder(state_model=dict).set_entrypoint("a").add_node("a", noop, terminal=True),
        [("STATE_MODEL_INVALID", None)],
    ),
    (
        "input_model_invalid",
        lambda: (
            builder(input_model=BadInput).set_entrypoint("a").add_node("a", noop, terminal=True)
        ),
        [("INPUT_MODEL_INVALID", None), ("INPUT_MODEL_INVALID", None)],
    ),
    (
        "subgraph_not_a_registration",
        lambda: builder().set_entrypoint("a").add_subgraph("a", _child().manifest, terminal=True),
        [("SUBGRAPH_INVALID", "a")],
    ),
    (
        "graph_name_empty",
        lambda: builder("").set_entrypoint("a").add_node("a", noop, terminal=True),
        [("GRAPH_NAME_INVALID", None)],
    ),
    (
        "graph_name_blank",
        lambda: builder("   ").set_entrypoint("a").add_node("a", noop, terminal=True),
        [("GRAPH_NAME_INVALID", None)],
    ),
    # Several problems at once: all of them are reported in one error.
    (
        "many_structure_problems",
        lambda: (
            builder()
            .add_node("a", "nope", next_node="ghost")
            .add_node("a", noop, terminal=True)
            .add_node("b", noop)
        ),
        [
            ("NODE_DUPLICATE", "a"),
            ("ENTRYPOINT_MISSING", None),
            ("HANDLER_NOT_CALLABLE", "a"),
            ("TARGET_UNKNOWN", "a"),
            ("NODE_NO_EXIT", "b"),
        ],
    ),
    (
        "many_graph_level_problems",
        lambda: (
            builder("", state_model=int, max_steps=-5)
            .set_entrypoint("start")
            .add_node("start", noop, terminal=True)
            .add_event_handler("e", payload_model=str)
            .add_event_handler("e")
        ),
        [
            ("GRAPH_NAME_INVALID", None),
            ("STATE_MODEL_INVALID", None),
            ("SETTING_INVALID", None),
            ("EVENT_PAYLOAD_MODEL_INVALID", None),
            ("EVENT_DUPLICATE", None),
        ],
    ),
    (
        "many_wait_and_route_problems",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node(
                "a",
                noop,
                route=no_route,
                route_targets=[
                    "b",
                    "ghost",
                    RouteDecision.wait_for_event("nope", "c", on_timeout="x"),
                ],
                on_error="err",
            )
            .add_node("b", noop, terminal=True)
            .add_node("c", noop, terminal=True)
            .add_node("island", noop, terminal=True)
        ),
        [
            ("ROUTE_TARGET_UNKNOWN", "a"),
            ("WAIT_EVENT_UNKNOWN", "a"),
            ("WAIT_NODE_UNKNOWN", "a"),
            ("ERROR_ROUTE_UNKNOWN", "a"),
            ("NODE_UNREACHABLE", "island"),
        ],
    ),
    (
        "join_on_unknown_name",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, next_node="e")
            .add_node("e", noop, terminal=True, join_on=["a", "ghost"])
        ),
        [("JOIN_ON_UNKNOWN", "e")],
    ),
    (
        "join_on_with_join_itself_twice_and_empty",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, next_node=["e", "f"])
            .add_node("e", noop, terminal=True, join=True, join_on=["e", "a", "a"])
            .add_node("f", noop, terminal=True, join_on=[])
        ),
        [("JOIN_ON_INVALID", "e")] * 3 + [("JOIN_ON_INVALID", "f")],
    ),
    (
        "join_on_predecessor_without_edge",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, next_node=["b", "c", "r", "e"])
            .add_node("b", noop, terminal=True)
            .add_node("c", noop, route=no_route, route_targets=["b"])
            .add_node("r", noop, route=no_route)  # undeclared targets: not judged
            .add_node("e", noop, terminal=True, join_on=["a", "b", "c", "r"])
        ),
        [("JOIN_ON_NO_EDGE", "e"), ("JOIN_ON_NO_EDGE", "e")],
    ),
    (
        "reserved_and_unknown_entrypoint",
        lambda: (
            builder()
            .set_entrypoint("missing")
            .add_node("__start__", noop, terminal=True)
            .add_node("__end__", noop, terminal=True, timeout=-1)
        ),
        [
            ("NODE_NAME_INVALID", "__start__"),
            ("NODE_NAME_INVALID", "__end__"),
            ("ENTRYPOINT_UNKNOWN", "missing"),
            ("SETTING_INVALID", "__end__"),
        ],
    ),
]


def _build_error(make: Callable[[], ManifestBuilder]) -> GraphValidationError:
    with pytest.raises(GraphValidationError) as info:
        make().build()
    return info.value


@pytest.mark.parametrize(
    ("make", "expected"), [row[1:] for row in INVALID], ids=[row[0] for row in INVALID]
)
def test_invalid_graph_reports_exactly_these_problems(
    make: Callable[[], ManifestBuilder], expected: list[tuple[str, str | None]]
) -> None:
    error = _build_error(make)
    assert [(p.code, p.node) for p in error.problems] == expected
    assert error.codes == [code for code, _ in expected]


@pytest.mark.parametrize(
    ("make", "expected"), [row[1:] for row in INVALID], ids=[row[0] for row in INVALID]
)
def test_every_problem_names_the_graph_and_its_node(
    make: Callable[[], ManifestBuilder], expected: list[tuple[str, str | None]]
) -> None:
    built = make()
    error = _build_error(make)
    assert isinstance(error, DurableGraphError)
    assert error.code == "GRAPH_INVALID"
    assert error.http_status == 400
    assert error.graph_name == built.graph_name
    assert f"({len(expected)} problem(s))" in error.message
    for problem in error.problems:
        if problem.code == "GRAPH_NAME_INVALID":
            assert f"got {built.graph_name!r}" in problem.message
        else:
            assert f"graph {built.graph_name!r}" in problem.message
        if problem.node is not None:
            assert (
                f"node {problem.node!r}" in problem.message
                or f"'{problem.node}'" in problem.message
            )
        assert problem.message in error.message
    assert error.details == [p.to_dict() for p in error.problems]
    assert str(error).startswith("[GRAPH_INVALID] graph ")


def test_table_covers_every_problem_code() -> None:
    covered = {code for _, _, expected in INVALID for code, _ in expected}
    assert covered == set(PROBLEM_CODES)
    multi = [row for row in INVALID if len({code for code, _ in row[2]}) >= 3]
    assert len(multi) >= 3


def test_reducer_mismatch_names_each_field() -> None:
    error = _build_error(
        lambda: (
            builder(state_model=MismatchedState)
            .set_entrypoint("a")
            .add_node("a", noop, terminal=True)
        )
    )
    assert [p.extra for p in error.problems] == [{"field": "count"}, {"field": "name"}]
    assert "field 'count' has reducer 'append'" in error.problems[0].message
    assert "field 'name' has reducer 'merge'" in error.problems[1].message
    assert error.details[0]["field"] == "count"


def test_problem_to_dict_shape() -> None:
    error = _build_error(
        lambda: builder().set_entrypoint("a").add_node("a", noop, next_node="ghost")
    )
    (problem,) = error.problems
    assert problem.to_dict() == {
        "code": "TARGET_UNKNOWN",
        "message": "graph 'g', node 'a': next_node 'ghost' is not a node",
        "node": "a",
    }
    assert error.to_dict()["code"] == "GRAPH_INVALID"


# --- graphs that must build -------------------------------------------------------------------


async def async_node(state: Any) -> dict[str, Any]:
    return {"value": 1}


async def async_router(state: Any) -> str:
    return "b"


class CallableHandler:
    def __call__(self, state: Any) -> None:
        return None


def _handler_with_option(state: Any, *, amount: int) -> dict[str, Any]:
    return {"value": amount}


VALID: list[tuple[str, Callable[[], ManifestBuilder]]] = [
    (
        "router_without_route_targets_skips_reachability",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, route=no_route)
            .add_node("only_by_router", noop, terminal=True)
        ),
    ),
    ("end_as_next_node", lambda: builder().set_entrypoint("a").add_node("a", noop, next_node=END)),
    (
        "end_in_route_targets",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, route=no_route, route_targets=["b", END, RouteDecision.complete()])
            .add_node("b", noop, terminal=True)
        ),
    ),
    (
        "async_handler_and_router",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", async_node, route=async_router, route_targets=["b"])
            .add_node("b", async_node, terminal=True)
        ),
    ),
    (
        "callable_object_partial_and_lambda_handlers",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", CallableHandler(), next_node="b")
            .add_node("b", functools.partial(_handler_with_option, amount=2), next_node="c")
            .add_node("c", lambda state: None, terminal=True)
        ),
    ),
    (
        "fan_out_and_join",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, next_node=["b", "c"])
            .add_node("b", noop, next_node="j")
            .add_node("c", noop, next_node="j")
            .add_node("j", noop, terminal=True, join=True)
        ),
    ),
    (
        "node_reached_only_through_wait_and_timeout",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node("a", noop, route=no_route, route_targets=[WAIT_APPROVAL])
            .add_node("b", noop, terminal=True)
            .add_node("c", noop, terminal=True)
            .add_event_handler("approval", lambda state, payload: None, payload_model=Approval)
        ),
    ),
    (
        "node_reached_only_through_on_error",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_node(
                "a", noop, terminal=True, on_error="recover", retry=RetryPolicy(), timeout=2.5
            )
            .add_node("recover", noop, terminal=True)
        ),
    ),
    (
        "subgraph_node",
        lambda: (
            builder()
            .set_entrypoint("a")
            .add_subgraph("a", _child(), next_node="b")
            .add_node("b", noop, terminal=True)
        ),
    ),
    (
        "custom_reducer_is_not_type_checked",
        lambda: (
            builder(state_model=_custom_reducer_state())
            .set_entrypoint("a")
            .add_node("a", noop, terminal=True)
        ),
    ),
]


def _custom_reducer_state() -> type[BaseModel]:
    def keep_max(current: Any, update: Any) -> Any:
        return max(current, update)

    class CustomState(BaseModel):
        best: Annotated[str, keep_max] = ""

    return CustomState


@pytest.mark.parametrize("make", [row[1] for row in VALID], ids=[row[0] for row in VALID])
def test_valid_graph_builds(make: Callable[[], ManifestBuilder]) -> None:
    built = make()
    registration = built.build()
    assert isinstance(registration, GraphRegistration)
    assert registration.manifest.node_names == [n.name for n in built._nodes]
    assert registration.manifest.entrypoint == built._entrypoint


def test_router_without_targets_is_recorded_as_undeclared() -> None:
    manifest = VALID[0][1]().build().manifest
    assert manifest.node("a").has_router is True
    assert manifest.node("a").route_targets is None


def test_route_target_forms_are_normalised_in_the_manifest() -> None:
    manifest = VALID[2][1]().build().manifest
    assert manifest.node("a").route_targets == ["b", END, END]
    waits = VALID[6][1]().build().manifest.node("a").waits
    assert [w.model_dump() for w in waits] == [
        {"event": "approval", "resume_node": "b", "on_timeout": "c"}
    ]


def test_handlers_of_built_graph_are_kept_by_name() -> None:
    registration = VALID[3][1]().build()
    assert registration.handlers == {"a": async_node, "b": async_node}
    assert registration.routers == {"a": async_router}


def test_validation_does_not_stop_at_the_first_problem() -> None:
    def make() -> ManifestBuilder:
        b = builder()
        b.set_entrypoint("n0")
        for i in range(10):
            following = f"n{i + 1}" if i < 9 else END
            b.add_node(f"n{i}", noop, next_node=[following, f"ghost{i}"])
        return b

    error = _build_error(make)
    assert error.codes == ["TARGET_UNKNOWN"] * 10
    assert [p.node for p in error.problems] == [f"n{i}" for i in range(10)]


# --- known defects (see the report that accompanies these tests) ------------------------------


@pytest.mark.parametrize("timeout", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_timeout_is_a_setting_problem(timeout: float) -> None:
    error = _build_error(
        lambda: builder().set_entrypoint("a").add_node("a", noop, terminal=True, timeout=timeout)
    )
    assert error.codes == ["SETTING_INVALID"]


def test_boolean_max_steps_is_a_setting_problem() -> None:
    error = _build_error(
        lambda: builder(max_steps=True).set_entrypoint("a").add_node("a", noop, terminal=True)
    )
    assert error.codes == ["SETTING_INVALID"]


def test_unhashable_node_name_is_a_validation_problem() -> None:
    name: Any = ["a"]
    error = _build_error(lambda: builder().set_entrypoint("a").add_node(name, noop, terminal=True))
    assert "NODE_NAME_INVALID" in error.codes
