"""The scenario table: graphs, inputs, actions and the outcomes every engine must produce.

Each :class:`Scenario` builds a fresh :class:`GraphRegistration`, starts a run with ``input``
(plus ``start_events`` buffered at start and ``metadata``), then applies ``actions`` in order:
an external event, a move of the virtual clock, or a cancel request. The expected outcome is the
final status, a subset of the final state (JSON mode), the node sequence of successfully
completed steps (within a superstep in task-creation order; event tasks appear as
``event:<name>``) and the error code of a failed run.

The in-memory runner checks the table here (:func:`run_in_memory`); engine conformance suites
import the same table and drive it over their own transport, then call
:func:`assert_outcome`.

Handlers are deterministic and keep nothing between runs: a handler that must fail twice before
succeeding reads ``ctx.attempt``.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel

from azure_functions_durable_graph import (
    DurableGraphError,
    GraphRegistration,
    ManifestBuilder,
    RetryPolicy,
    RouteDecision,
    Send,
    reducers,
)
from azure_functions_durable_graph.execution import ManualClock, RunResult

# --- the table's types --------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """Something that happens after the run started, in order."""

    kind: Literal["event", "advance", "cancel"]
    name: str | None = None  # event name
    payload: Any = None  # event payload
    seconds: float = 0.0  # for advance (virtual clock)
    reason: str | None = None  # for cancel
    # When set, the engine must refuse the action with this error code and leave the run as
    # it was (e.g. an event payload that does not validate against its payload_model).
    expected_rejection: str | None = None


@dataclass(frozen=True)
class Scenario:
    """One graph, one input, the actions applied after start, and the expected outcome."""

    name: str
    build: Callable[[], GraphRegistration]
    input: dict[str, Any]
    actions: tuple[Action, ...] = ()
    expected_status: str = "completed"
    expected_state: dict[str, Any] | None = None
    expected_nodes: tuple[str, ...] | None = None
    expected_error_code: str | None = None
    start_events: tuple[tuple[str, Any], ...] = ()
    metadata: dict[str, Any] | None = None
    expected_error: dict[str, Any] | None = None  # subset of the run's error record


def event(name: str, payload: Any = None, *, rejected: str | None = None) -> Action:
    """An external event raised after start (``rejected``: the error code it must be refused with)."""
    return Action("event", name=name, payload=payload, expected_rejection=rejected)


def advance(seconds: float) -> Action:
    """Move the virtual clock forward (due timers fire)."""
    return Action("advance", seconds=seconds)


def cancel(reason: str | None = None) -> Action:
    """A graceful cancel request."""
    return Action("cancel", reason=reason)


def run_id_for(scenario: Scenario) -> str:
    """The run id the in-memory runner gives a scenario's run."""
    return f"scenario-{scenario.name}"


def run_in_memory(scenario: Scenario) -> RunResult:
    """Run ``scenario`` through ``registration.invoke`` with a :class:`ManualClock`."""
    clock = ManualClock()
    registration = scenario.build()
    result = registration.invoke(
        scenario.input,
        events=list(scenario.start_events),
        clock=clock,
        run_id=run_id_for(scenario),
        metadata=scenario.metadata,
    )
    for action in scenario.actions:
        if action.expected_rejection is not None:
            _expect_rejection(scenario, action, result)
        elif action.kind == "event":
            result = result.resume([(action.name, action.payload)])
        elif action.kind == "advance":
            clock.advance(action.seconds)
            result = result.resume()
        elif action.kind == "cancel":
            result = result.resume(cancel=action.reason)
        else:  # pragma: no cover - the Literal forbids it
            raise ValueError(f"unknown action kind {action.kind!r}")
    return result


def _expect_rejection(scenario: Scenario, action: Action, result: RunResult) -> None:
    """The action must raise an error with the expected code; ``result`` stays as it was."""
    try:
        if action.kind == "event":
            outcome = result.resume([(action.name, action.payload)])
        elif action.kind == "cancel":
            outcome = result.resume(cancel=action.reason)
        else:
            raise ValueError(f"a {action.kind!r} action cannot be rejected")
    except DurableGraphError as exc:
        if exc.code != action.expected_rejection:
            raise AssertionError(
                f"scenario '{scenario.name}': {action} was refused with {exc.code}, "
                f"not {action.expected_rejection}"
            ) from exc
        return
    raise AssertionError(
        f"scenario '{scenario.name}': {action} was accepted (run {outcome.status}, "
        f"error {outcome.error}); expected a {action.expected_rejection} rejection"
    )


def final_state(result: RunResult) -> dict[str, Any]:
    """The run's final state in JSON mode."""
    if result.state is not None:
        return result.state.model_dump(mode="json")
    return dict(result.snapshot["state"])


def assert_outcome(
    scenario: Scenario,
    *,
    status: str,
    state: dict[str, Any] | None,
    nodes: list[str] | tuple[str, ...] | None,
    error: dict[str, Any] | None,
) -> None:
    """Check an engine's outcome of ``scenario`` against the table (any engine, any transport)."""
    where = f"scenario '{scenario.name}'"
    assert status == scenario.expected_status, f"{where}: status {status!r}, error {error!r}"
    if scenario.expected_state is not None:
        assert state is not None, f"{where}: no final state"
        subset = {k: state.get(k, "<missing>") for k in scenario.expected_state}
        assert subset == scenario.expected_state, f"{where}: state {state!r}"
    if scenario.expected_nodes is not None:
        assert nodes is not None, f"{where}: no node sequence"
        assert tuple(nodes) == scenario.expected_nodes, f"{where}: nodes {list(nodes)!r}"
    if scenario.expected_error_code is not None:
        assert error is not None, f"{where}: no error"
        assert error.get("code") == scenario.expected_error_code, f"{where}: error {error!r}"
    elif scenario.expected_status != "failed":
        assert not error, f"{where}: unexpected error {error!r}"
    if scenario.expected_error is not None:
        assert error is not None, f"{where}: no error"
        subset = {k: error.get(k, "<missing>") for k in scenario.expected_error}
        assert subset == scenario.expected_error, f"{where}: error {error!r}"


def assert_result(scenario: Scenario, result: RunResult) -> None:
    """Check an in-memory :class:`RunResult` against the table."""
    assert_outcome(
        scenario,
        status=result.status,
        state=final_state(result),
        nodes=result.node_sequence,
        error=result.error,
    )


# --- state models -------------------------------------------------------------------------------


class LogState(BaseModel):
    """The state most scenarios use: a counter, a text, and a log every node appends to."""

    count: int = 0
    text: str = ""
    log: Annotated[list[str], reducers.append] = []


class QuickState(BaseModel):
    """The README quick example's state."""

    message: str
    processed: bool = False


class BranchState(BaseModel):
    """Separate fields for parallel branches, and an append log."""

    a: str | None = None
    b: str | None = None
    c: str | None = None
    log: Annotated[list[str], reducers.append] = []


class MapState(BaseModel):
    """A map fan-out: each task sees its own ``item``; ``total`` adds up."""

    n: int = 50
    item: int = 0
    total: Annotated[int, reducers.add] = 0
    seen: Annotated[list[int], reducers.append] = []
    result: int | None = None


def _concat(current: str | None, update: str) -> str:
    """A custom, order-sensitive reducer."""
    return update if not current else f"{current}|{update}"


def _keep_max(current: int | None, update: int) -> int:
    """A custom reducer keeping the largest value."""
    return update if current is None else max(current, update)


class ReducerState(BaseModel):
    """One field per reducer."""

    replaced: str = "initial"
    appended: Annotated[list[str], reducers.append] = []
    extended: Annotated[list[str], reducers.extend] = []
    merged: Annotated[dict[str, int], reducers.merge] = {}
    added: Annotated[int, reducers.add] = 0
    unioned: Annotated[list[str], reducers.union] = []
    op_added: Annotated[list[int], operator.add] = []
    custom: Annotated[str, _concat] = ""
    biggest: Annotated[int, _keep_max] = 0


class ModelUpdateState(BaseModel):
    """Every field has a default, so a handler can return a partial instance."""

    name: str = ""
    count: int = 0
    flag: bool = False


class CtxState(BaseModel):
    """What a ``(state, ctx)`` handler saw."""

    node: str | None = None
    graph: str | None = None
    step: int = 0
    attempt: int = 0
    task_id: str | None = None
    tenant: str | None = None
    key_names_run: bool = False
    key_names_task: bool = False
    log: Annotated[list[str], reducers.append] = []


class WaitState(BaseModel):
    """Waits and events."""

    x: int = 0
    decision: str | None = None
    votes: Annotated[list[str], reducers.append] = []
    log: Annotated[list[str], reducers.append] = []


class Approval(BaseModel):
    """A typed event payload."""

    approved: bool
    reviewer: str
    score: int = 0


class ApprovalState(BaseModel):
    """What the approval event handler records."""

    approved: bool | None = None
    reviewer: str | None = None
    score: int = 0
    payload_type: str | None = None
    log: Annotated[list[str], reducers.append] = []


class RetryState(BaseModel):
    """Attempts seen by a flaky node."""

    attempts: int = 0
    recovered_from: str | None = None
    error_message: str | None = None
    error_attempt: int = 0
    log: Annotated[list[str], reducers.append] = []


class ChildState(BaseModel):
    """A subgraph's state: a subset of the parent's fields plus its own."""

    text: str = ""
    count: int = 0
    child_only: str = "child"
    log: Annotated[list[str], reducers.append] = []


class ParentState(BaseModel):
    """A parent state sharing ``text``, ``count`` and ``log`` with its child."""

    text: str = ""
    count: int = 0
    parent_only: str = "parent"
    log: Annotated[list[str], reducers.append] = []


# --- small handler factories ---------------------------------------------------------------------


def _log(name: str) -> Callable[[Any], dict[str, Any]]:
    """A handler appending ``name`` to ``log``."""

    def handler(state: Any) -> dict[str, Any]:
        return {"log": name}

    handler.__name__ = f"log_{name}"
    return handler


def _returns(update: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """A handler returning a copy of ``update``."""

    def handler(state: Any) -> dict[str, Any]:
        return dict(update)

    return handler


def _builder(name: str, state_model: type[BaseModel], **options: Any) -> ManifestBuilder:
    return ManifestBuilder(graph_name=name, state_model=state_model, **options)


# --- scenario graphs ----------------------------------------------------------------------------


def build_sequential() -> GraphRegistration:
    b = _builder("sequential", LogState)
    b.set_entrypoint("first")

    def first(state: LogState) -> dict[str, Any]:
        return {"count": state.count + 1, "text": state.text + "a", "log": "first"}

    def second(state: LogState) -> dict[str, Any]:
        return {"count": state.count * 10, "text": state.text + "b", "log": "second"}

    def third(state: LogState) -> dict[str, Any]:
        return {"count": state.count + 2, "text": state.text + "c", "log": "third"}

    b.add_node("first", first, next_node="second")
    b.add_node("second", second, next_node="third")
    b.add_node("third", third, terminal=True)
    return b.build()


def build_quick_example() -> GraphRegistration:
    b = _builder("my_graph", QuickState)

    def process(state: QuickState) -> dict[str, Any]:
        return {"processed": True}

    def finalize(state: QuickState) -> dict[str, Any]:
        return {"message": f"Done: {state.message}"}

    b.set_entrypoint("process")
    b.add_node("process", process, next_node="finalize")
    b.add_node("finalize", finalize, terminal=True)
    return b.build()


def build_router_loop() -> GraphRegistration:
    b = _builder("router_loop", LogState)

    def increment(state: LogState) -> dict[str, Any]:
        return {"count": state.count + 1, "log": f"inc{state.count + 1}"}

    def again_or_done(state: LogState) -> RouteDecision:
        # The router sees the state after increment's own update.
        return RouteDecision.next("increment" if state.count < 5 else "done")

    b.set_entrypoint("increment")
    b.add_node("increment", increment, route=again_or_done, route_targets=["increment", "done"])
    b.add_node("done", _log("done"), terminal=True)
    return b.build()


def build_static_fan_out() -> GraphRegistration:
    b = _builder("static_fan_out", BranchState)
    b.set_entrypoint("start")
    b.add_node("start", _log("start"), next_node=["a", "b", "c"])
    b.add_node("a", lambda s: {"a": "A", "log": "a"}, terminal=True)
    b.add_node("b", lambda s: {"b": "B", "log": "b"}, terminal=True)
    b.add_node("c", lambda s: {"c": "C", "log": "c"}, terminal=True)
    return b.build()


def build_routed_fan_out() -> GraphRegistration:
    b = _builder("routed_fan_out", BranchState)
    b.set_entrypoint("start")
    # The router's order decides task-creation order: c before a; b is not chosen.
    b.add_node("start", _log("start"), route=lambda s: ["c", "a"], route_targets=["a", "b", "c"])
    b.add_node("a", lambda s: {"a": "A", "log": "a"}, terminal=True)
    b.add_node("b", lambda s: {"b": "B", "log": "b"}, terminal=True)
    b.add_node("c", lambda s: {"c": "C", "log": "c"}, terminal=True)
    return b.build()


def build_fan_out_join() -> GraphRegistration:
    b = _builder("fan_out_join", BranchState)
    b.set_entrypoint("start")
    b.add_node("start", _log("start"), next_node=["a", "b", "c"])
    b.add_node("a", lambda s: {"a": "A", "log": "a"}, next_node="join")
    b.add_node("b", lambda s: {"b": "B", "log": "b"}, next_node="join")
    # c's branch is one step longer: the join still waits for it, and runs once.
    b.add_node("c", lambda s: {"c": "C", "log": "c"}, next_node="c2")
    b.add_node("c2", _log("c2"), next_node="join")

    def join(state: BranchState) -> dict[str, Any]:
        return {"log": f"join:{state.a}{state.b}{state.c}:{len(state.log)}"}

    b.add_node("join", join, join=True, terminal=True)
    return b.build()


def build_send_map() -> GraphRegistration:
    b = _builder("send_map", MapState)

    def plan(state: MapState) -> None:
        return None

    def fan_out(state: MapState) -> list[Send]:
        return [Send("work", {"item": i}) for i in range(1, state.n + 1)]

    def work(state: MapState) -> dict[str, Any]:
        return {"total": state.item, "seen": state.item}

    def collect(state: MapState) -> dict[str, Any]:
        return {"result": state.total}

    b.set_entrypoint("plan")
    b.add_node("plan", plan, route=fan_out, route_targets=["work"])
    b.add_node("work", work, next_node="collect")
    b.add_node("collect", collect, join=True, terminal=True)
    return b.build()


def _parallel_reducer_graph(
    name: str, updates: list[dict[str, Any]], first: dict[str, Any] | None = None
) -> GraphRegistration:
    """start (writes ``first``) -> w0..wN in parallel, each writing ``updates[i]`` -> end."""
    b = _builder(name, ReducerState)
    workers = [f"w{i}" for i in range(len(updates))]
    b.set_entrypoint("start")
    b.add_node("start", _returns(first or {}), next_node=workers)
    for index, update in enumerate(updates):
        b.add_node(f"w{index}", _returns(update), terminal=True)
    return b.build()


def build_reducer_replace() -> GraphRegistration:
    b = _builder("reducer_replace", ReducerState)
    b.set_entrypoint("one")
    b.add_node("one", lambda s: {"replaced": "one"}, next_node="two")
    b.add_node("two", lambda s: {"replaced": s.replaced + "+two"}, next_node=["p", "q"])
    # Parallel writers of one replace field agree: allowed.
    b.add_node("p", lambda s: {"replaced": "same"}, terminal=True)
    b.add_node("q", lambda s: {"replaced": "same"}, terminal=True)
    return b.build()


def build_reducer_append() -> GraphRegistration:
    return _parallel_reducer_graph(
        "reducer_append",
        [{"appended": "w0"}, {"appended": "w1"}, {"appended": "w2"}],
        first={"appended": "start"},
    )


def build_reducer_extend() -> GraphRegistration:
    return _parallel_reducer_graph(
        "reducer_extend",
        [{"extended": ["a", "b"]}, {"extended": []}, {"extended": ["c"]}],
        first={"extended": ["s"]},
    )


def build_reducer_merge() -> GraphRegistration:
    return _parallel_reducer_graph(
        "reducer_merge",
        [{"merged": {"x": 1, "y": 1}}, {"merged": {"y": 2, "z": 2}}],
        first={"merged": {"x": 0, "w": 0}},
    )


def build_reducer_add() -> GraphRegistration:
    return _parallel_reducer_graph(
        "reducer_add", [{"added": 1}, {"added": 10}, {"added": 100}], first={"added": 1000}
    )


def build_reducer_union() -> GraphRegistration:
    return _parallel_reducer_graph(
        "reducer_union",
        [{"unioned": ["b", "c"]}, {"unioned": "a"}, {"unioned": ["c", "d", "d"]}],
        first={"unioned": ["a", "b"]},
    )


def build_reducer_operator_add() -> GraphRegistration:
    return _parallel_reducer_graph(
        "reducer_operator_add", [{"op_added": [2, 3]}, {"op_added": [4]}], first={"op_added": [1]}
    )


def build_reducer_custom() -> GraphRegistration:
    return _parallel_reducer_graph(
        "reducer_custom",
        [
            {"custom": "w0", "biggest": 3},
            {"custom": "w1", "biggest": 9},
            {"custom": "w2", "biggest": 5},
        ],
        first={"custom": "start", "biggest": 1},
    )


def build_model_instance_update() -> GraphRegistration:
    b = _builder("model_instance_update", ModelUpdateState)

    def bump(state: ModelUpdateState) -> ModelUpdateState:
        # Only ``count`` is set explicitly: ``name`` and ``flag`` keep their current values,
        # not the model's defaults.
        return ModelUpdateState(count=state.count + 41)

    def flag(state: ModelUpdateState) -> ModelUpdateState:
        return ModelUpdateState(flag=True, count=state.count + 1)

    b.set_entrypoint("bump")
    b.add_node("bump", bump, next_node="flag")
    b.add_node("flag", flag, terminal=True)
    return b.build()


def build_none_update() -> GraphRegistration:
    b = _builder("none_update", LogState)
    b.set_entrypoint("first")
    b.add_node("first", lambda s: {"count": 7}, next_node="nothing")
    b.add_node("nothing", lambda s: None, next_node="last")
    b.add_node("last", lambda s: {"text": f"count={s.count}"}, terminal=True)
    return b.build()


def build_async_handlers() -> GraphRegistration:
    b = _builder("async_handlers", LogState)

    async def first(state: LogState) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"count": state.count + 1, "log": "first"}

    async def choose(state: LogState) -> str:
        await asyncio.sleep(0)
        return "second" if state.count == 1 else "third"

    async def second(state: LogState, ctx: Any) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"text": ctx.node, "log": "second"}

    b.set_entrypoint("first")
    b.add_node("first", first, route=choose, route_targets=["second", "third"])
    b.add_node("second", second, terminal=True)
    b.add_node("third", _log("third"), terminal=True)
    return b.build()


def build_ctx_handler() -> GraphRegistration:
    b = _builder("ctx_handler", CtxState)

    def inspect_ctx(state: CtxState, ctx: Any) -> dict[str, Any]:
        return {
            "node": ctx.node,
            "graph": ctx.graph_name,
            "step": ctx.step,
            "attempt": ctx.attempt,
            "task_id": ctx.task_id,
            "tenant": ctx.metadata.get("tenant"),
            "key_names_run": bool(ctx.run_id) and ctx.run_id in ctx.idempotency_key,
            "key_names_task": ctx.task_id in ctx.idempotency_key,
            "log": "inspect",
        }

    b.set_entrypoint("start")
    b.add_node("start", _log("start"), next_node="inspect")
    b.add_node("inspect", inspect_ctx, terminal=True)
    return b.build()


def build_router_dict() -> GraphRegistration:
    b = _builder("router_dict", LogState)
    b.set_entrypoint("first")
    b.add_node("first", _log("first"), route=lambda s: {"next": "second"}, route_targets=["second"])
    b.add_node("second", _log("second"), route=lambda s: {"complete": True})
    return b.build()


def build_complete_string() -> GraphRegistration:
    b = _builder("complete_string", LogState)
    b.set_entrypoint("first")
    # The router ends the branch: the static next_node is not followed.
    b.add_node("first", _log("first"), next_node="never", route=lambda s: "__complete__")
    b.add_node("never", _log("never"), terminal=True)
    return b.build()


def _wait_graph(
    name: str, *, timeout: float | None = None, on_timeout: str | None = None
) -> GraphRegistration:
    """ask -> wait for 'go' -> resume; optional timeout into 'late'."""
    b = _builder(name, WaitState)
    wait = RouteDecision.wait_for_event("go", "resume", timeout=timeout, on_timeout=on_timeout)
    b.set_entrypoint("ask")
    b.add_node("ask", _log("ask"), route=lambda s: wait, route_targets=[wait])
    b.add_node("resume", lambda s: {"log": f"resume:{s.x}"}, terminal=True)
    if on_timeout is not None:
        b.add_node(on_timeout, lambda s: {"log": "late", "decision": "timed out"}, terminal=True)
    b.add_event_handler("go")  # no handler: the payload is the update
    return b.build()


def build_wait_event() -> GraphRegistration:
    return _wait_graph("wait_event", timeout=3600, on_timeout="late")


def build_wait_timeout_route() -> GraphRegistration:
    return _wait_graph("wait_timeout_route", timeout=60, on_timeout="late")


def build_wait_timeout_fail() -> GraphRegistration:
    return _wait_graph("wait_timeout_fail", timeout=60)


def build_wait_dict_form() -> GraphRegistration:
    b = _builder("wait_dict_form", WaitState)
    b.set_entrypoint("ask")
    b.add_node(
        "ask",
        _log("ask"),
        route=lambda s: {"wait_for_event": {"event_name": "go", "resume_node": "resume"}},
    )
    b.add_node("resume", lambda s: {"log": f"resume:{s.x}"}, terminal=True)
    b.add_event_handler("go")
    return b.build()


def build_event_before_wait_at_start() -> GraphRegistration:
    return _wait_graph("event_before_wait_at_start")


def build_event_buffered_while_waiting() -> GraphRegistration:
    b = _builder("event_buffered_while_waiting", WaitState)
    wait_a = RouteDecision.wait_for_event("a_event", "middle")
    wait_b = RouteDecision.wait_for_event("b_event", "end")
    b.set_entrypoint("start")
    b.add_node("start", _log("start"), route=lambda s: wait_a, route_targets=[wait_a])
    b.add_node("middle", _log("middle"), route=lambda s: wait_b, route_targets=[wait_b])
    b.add_node("end", lambda s: {"log": f"end:{s.decision}"}, terminal=True)
    b.add_event_handler("a_event", lambda s, p: {"log": f"a:{p['n']}"})
    b.add_event_handler("b_event", lambda s, p: {"decision": p["decision"]})
    return b.build()


def build_two_waits_fifo() -> GraphRegistration:
    b = _builder("two_waits_fifo", WaitState)
    first_wait = RouteDecision.wait_for_event("vote", "second")
    second_wait = RouteDecision.wait_for_event("vote", "tally")
    b.set_entrypoint("first")
    b.add_node("first", _log("first"), route=lambda s: first_wait, route_targets=[first_wait])
    b.add_node("second", _log("second"), route=lambda s: second_wait, route_targets=[second_wait])
    b.add_node("tally", lambda s: {"decision": ",".join(s.votes)}, terminal=True)
    b.add_event_handler("vote", lambda s, p: {"votes": p["v"]})
    return b.build()


def build_parallel_waits_fifo() -> GraphRegistration:
    b = _builder("parallel_waits_fifo", WaitState)
    wait_l = RouteDecision.wait_for_event("vote", "after_left")
    wait_r = RouteDecision.wait_for_event("vote", "after_right")
    b.set_entrypoint("start")
    b.add_node("start", _log("start"), next_node=["left", "right"])
    b.add_node("left", _log("left"), route=lambda s: wait_l, route_targets=[wait_l])
    b.add_node("right", _log("right"), route=lambda s: wait_r, route_targets=[wait_r])
    b.add_node("after_left", lambda s: {"log": f"L:{s.votes[-1]}"}, terminal=True)
    b.add_node("after_right", lambda s: {"log": f"R:{s.votes[-1]}"}, terminal=True)
    b.add_event_handler("vote", lambda s, p: {"votes": p["v"]})
    return b.build()


def build_event_payload_model() -> GraphRegistration:
    b = _builder("event_payload_model", ApprovalState)
    wait = RouteDecision.wait_for_event("approval", "decide")
    b.set_entrypoint("draft")
    b.add_node("draft", _log("draft"), route=lambda s: wait, route_targets=[wait])
    b.add_node(
        "decide",
        _log("decide"),
        route=lambda s: "accept" if s.approved else "reject",
        route_targets=["accept", "reject"],
    )
    b.add_node("accept", _log("accept"), terminal=True)
    b.add_node("reject", _log("reject"), terminal=True)

    def on_approval(state: ApprovalState, payload: Approval, ctx: Any) -> dict[str, Any]:
        return {
            "approved": payload.approved,
            "reviewer": payload.reviewer,
            "score": payload.score,
            "payload_type": type(payload).__name__,
            "log": f"{ctx.node}:{payload.reviewer}",
        }

    b.add_event_handler("approval", on_approval, payload_model=Approval)
    return b.build()


def build_join_after_wait() -> GraphRegistration:
    b = _builder("join_after_wait", WaitState)
    wait = RouteDecision.wait_for_event("go", "waited")
    b.set_entrypoint("start")
    b.add_node("start", _log("start"), next_node=["waiter", "worker"])
    b.add_node("waiter", _log("waiter"), route=lambda s: wait, route_targets=[wait])
    b.add_node("waited", _log("waited"), next_node="join")
    b.add_node("worker", _log("worker"), next_node="worker2")
    b.add_node("worker2", _log("worker2"), next_node="join")
    b.add_node("join", lambda s: {"log": f"join:x={s.x}"}, join=True, terminal=True)
    b.add_event_handler("go")
    return b.build()


class FlakyError(RuntimeError):
    """A transient failure."""


class FatalError(RuntimeError):
    """A failure that retrying cannot fix."""


QUICK_RETRY = RetryPolicy(max_attempts=3, initial_interval=0.05, backoff=2.0)


def build_retry_third_attempt() -> GraphRegistration:
    b = _builder("retry_third_attempt", RetryState)

    def flaky(state: RetryState, ctx: Any) -> dict[str, Any]:
        if ctx.attempt < 3:
            raise FlakyError(f"transient failure on attempt {ctx.attempt}")
        return {"attempts": ctx.attempt, "log": "flaky"}

    b.set_entrypoint("start")
    b.add_node("start", _log("start"), next_node="flaky")
    b.add_node("flaky", flaky, retry=QUICK_RETRY, next_node="after")
    b.add_node("after", _log("after"), terminal=True)
    return b.build()


def build_retry_exhausted() -> GraphRegistration:
    b = _builder("retry_exhausted", RetryState)

    def always_fails(state: RetryState, ctx: Any) -> dict[str, Any]:
        raise FlakyError(f"still failing on attempt {ctx.attempt}")

    b.set_entrypoint("start")
    b.add_node("start", _log("start"), next_node="broken")
    b.add_node("broken", always_fails, retry=QUICK_RETRY, next_node="after")
    b.add_node("after", _log("after"), terminal=True)
    return b.build()


def build_non_retryable() -> GraphRegistration:
    b = _builder("non_retryable", RetryState)

    def fatal(state: RetryState, ctx: Any) -> dict[str, Any]:
        raise FatalError(f"fatal on attempt {ctx.attempt}")

    policy = RetryPolicy(max_attempts=5, initial_interval=0.05, non_retryable=[FatalError])
    b.set_entrypoint("fatal")
    b.add_node("fatal", fatal, retry=policy, next_node="after")
    b.add_node("after", _log("after"), terminal=True)
    return b.build()


def build_on_error_route() -> GraphRegistration:
    b = _builder("on_error_route", RetryState)

    def boom(state: RetryState, ctx: Any) -> dict[str, Any]:
        raise FlakyError(f"boom on attempt {ctx.attempt}")

    def recover(state: RetryState, ctx: Any) -> dict[str, Any]:
        error = ctx.error or {}
        return {
            "recovered_from": error.get("type"),
            "error_message": error.get("message"),
            "error_attempt": error.get("attempt", 0),
            "log": "recover",
        }

    b.set_entrypoint("start")
    b.add_node("start", _log("start"), next_node="boom")
    # Retried first; only the final failure goes to the error route.
    b.add_node("boom", boom, retry=QUICK_RETRY, next_node="after", on_error="recover")
    b.add_node("after", _log("after"), terminal=True)
    b.add_node("recover", recover, terminal=True)
    return b.build()


def build_max_steps() -> GraphRegistration:
    b = _builder("max_steps", LogState, max_steps=5)
    b.set_entrypoint("spin")
    b.add_node(
        "spin",
        lambda s: {"count": s.count + 1},
        route=lambda s: "spin",
        route_targets=["spin"],
    )
    return b.build()


def build_conflicting_write() -> GraphRegistration:
    b = _builder("conflicting_write", BranchState)
    b.set_entrypoint("start")
    b.add_node("start", _log("start"), next_node=["left", "right"])
    b.add_node("left", lambda s: {"a": "left"}, terminal=True)
    b.add_node("right", lambda s: {"a": "right"}, terminal=True)
    return b.build()


def build_unknown_field() -> GraphRegistration:
    b = _builder("unknown_field", LogState)
    b.set_entrypoint("start")
    b.add_node("start", _log("start"), next_node="bad")
    b.add_node("bad", lambda s: {"no_such_field": 1}, next_node="after")
    b.add_node("after", _log("after"), terminal=True)
    return b.build()


def build_invalid_route() -> GraphRegistration:
    b = _builder("invalid_route", LogState)
    b.set_entrypoint("start")
    b.add_node("start", _log("start"), route=lambda s: "nowhere")
    return b.build()


def build_route_outside_targets() -> GraphRegistration:
    b = _builder("route_outside_targets", LogState)
    b.set_entrypoint("start")
    # 'other' is a node, but not one of the router's declared targets.
    b.add_node("start", _log("start"), route=lambda s: "other", route_targets=["allowed"])
    b.add_node("allowed", _log("allowed"), next_node="other")
    b.add_node("other", _log("other"), terminal=True)
    return b.build()


def build_node_timeout() -> GraphRegistration:
    b = _builder("node_timeout", LogState)

    async def slow(state: LogState) -> dict[str, Any]:
        await asyncio.sleep(5)  # bounded by the node's 0.05 s timeout
        return {"log": "slow"}

    b.set_entrypoint("start")
    b.add_node("start", _log("start"), next_node="slow")
    b.add_node("slow", slow, timeout=0.05, next_node="after")
    b.add_node("after", _log("after"), terminal=True)
    return b.build()


def build_cancel_while_waiting() -> GraphRegistration:
    return _wait_graph("cancel_while_waiting")


def _child_registration() -> GraphRegistration:
    b = _builder("child", ChildState)
    b.set_entrypoint("child_a")
    b.add_node(
        "child_a",
        lambda s: {"text": s.text.upper(), "count": s.count + 100, "log": "child_a"},
        next_node="child_b",
    )
    b.add_node("child_b", lambda s: {"child_only": "changed", "log": "child_b"}, terminal=True)
    return b.build()


def build_subgraph() -> GraphRegistration:
    b = _builder("parent", ParentState)
    b.set_entrypoint("before")
    b.add_node("before", lambda s: {"count": s.count + 1, "log": "before"}, next_node="child")
    b.add_subgraph("child", _child_registration(), next_node="after")
    b.add_node("after", lambda s: {"log": f"after:{s.text}:{s.count}"}, terminal=True)
    return b.build()


def build_converging_edges() -> GraphRegistration:
    b = _builder("converging_edges", BranchState)
    b.set_entrypoint("start")
    b.add_node("start", _log("start"), next_node=["a", "b"])
    b.add_node("a", _log("a"), next_node="merge")
    b.add_node("b", _log("b"), next_node="merge")
    # Two activations of one plain node in one superstep run it once.
    b.add_node("merge", lambda s: {"log": f"merge:{len(s.log)}"}, terminal=True)
    return b.build()


def build_join_on() -> GraphRegistration:
    b = _builder("join_on", BranchState)
    b.set_entrypoint("a")
    b.add_node("a", _log("a"), next_node=["b", "c", "s1"])
    b.add_node("b", _log("b"), next_node="e")
    b.add_node("c", _log("c"), next_node="d")
    b.add_node("d", _log("d"), next_node="e")
    # s1 -> s2 -> s3 is not named in join_on: e does not wait for it (join=True would).
    b.add_node("s1", _log("s1"), next_node="s2")
    b.add_node("s2", _log("s2"), next_node="s3")
    b.add_node("s3", _log("s3"), terminal=True)
    b.add_node("e", lambda s: {"log": f"e:{len(s.log)}"}, terminal=True, join_on=["b", "d"])
    return b.build()


class MessagesState(BaseModel):
    """A chat history with LangGraph's add_messages semantics, and a summary."""

    messages: Annotated[list[dict[str, Any]], reducers.messages] = []
    summary: str = ""


def build_messages() -> GraphRegistration:
    b = _builder("messages", MessagesState)
    b.set_entrypoint("draft")
    b.add_node("draft", lambda s: {"messages": {"type": "ai", "content": "draft", "id": "a1"}},
               next_node="revise")
    # Same id: replaced in place; a new id: appended.
    b.add_node("revise", lambda s: {"messages": [{"type": "ai", "content": "final", "id": "a1"},
                                                 {"type": "ai", "content": "extra", "id": "a2"}]},
               next_node="prune")
    b.add_node("prune", lambda s: {"messages": {"type": "remove", "id": "a2"}}, next_node="summarize")

    def summarize(state: MessagesState) -> dict[str, Any]:
        text = "|".join(m["content"] for m in state.messages)
        return {"summary": text, "messages": [{"type": "remove", "id": "__remove_all__"},
                                              {"type": "system", "content": f"summary: {text}", "id": "s1"}]}

    b.add_node("summarize", summarize, terminal=True)
    return b.build()


# --- the table ----------------------------------------------------------------------------------

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="sequential",
        build=build_sequential,
        input={"count": 1},
        expected_state={"count": 22, "text": "abc", "log": ["first", "second", "third"]},
        expected_nodes=("first", "second", "third"),
    ),
    Scenario(
        name="quick_example",
        build=build_quick_example,
        input={"message": "hello"},
        expected_state={"message": "Done: hello", "processed": True},
        expected_nodes=("process", "finalize"),
    ),
    Scenario(
        name="router_loop_until_five",
        build=build_router_loop,
        input={},
        expected_state={
            "count": 5,
            "log": ["inc1", "inc2", "inc3", "inc4", "inc5", "done"],
        },
        expected_nodes=("increment",) * 5 + ("done",),
    ),
    Scenario(
        name="static_fan_out",
        build=build_static_fan_out,
        input={},
        expected_state={"a": "A", "b": "B", "c": "C", "log": ["start", "a", "b", "c"]},
        expected_nodes=("start", "a", "b", "c"),
    ),
    Scenario(
        name="routed_fan_out",
        build=build_routed_fan_out,
        input={},
        expected_state={"a": "A", "b": None, "c": "C", "log": ["start", "c", "a"]},
        expected_nodes=("start", "c", "a"),
    ),
    Scenario(
        name="fan_out_join",
        build=build_fan_out_join,
        input={},
        expected_state={"log": ["start", "a", "b", "c", "c2", "join:ABC:5"]},
        expected_nodes=("start", "a", "b", "c", "c2", "join"),
    ),
    Scenario(
        name="send_map_50",
        build=build_send_map,
        input={"n": 50},
        expected_state={"total": 1275, "result": 1275, "seen": list(range(1, 51)), "item": 0},
        expected_nodes=("plan",) + ("work",) * 50 + ("collect",),
    ),
    Scenario(
        name="reducer_replace",
        build=build_reducer_replace,
        input={},
        expected_state={"replaced": "same"},
        expected_nodes=("one", "two", "p", "q"),
    ),
    Scenario(
        name="reducer_append",
        build=build_reducer_append,
        input={"appended": ["input"]},
        expected_state={"appended": ["input", "start", "w0", "w1", "w2"]},
        expected_nodes=("start", "w0", "w1", "w2"),
    ),
    Scenario(
        name="reducer_extend",
        build=build_reducer_extend,
        input={},
        expected_state={"extended": ["s", "a", "b", "c"]},
    ),
    Scenario(
        name="reducer_merge",
        build=build_reducer_merge,
        input={"merged": {"v": 5}},
        expected_state={"merged": {"v": 5, "w": 0, "x": 1, "y": 2, "z": 2}},
    ),
    Scenario(
        name="reducer_add",
        build=build_reducer_add,
        input={"added": 10000},
        expected_state={"added": 11111},
    ),
    Scenario(
        name="reducer_union",
        build=build_reducer_union,
        input={},
        expected_state={"unioned": ["a", "b", "c", "d"]},
    ),
    Scenario(
        name="reducer_operator_add",
        build=build_reducer_operator_add,
        input={"op_added": [0]},
        expected_state={"op_added": [0, 1, 2, 3, 4]},
    ),
    Scenario(
        name="reducer_custom_parallel",
        build=build_reducer_custom,
        input={"custom": "in"},
        expected_state={"custom": "in|start|w0|w1|w2", "biggest": 9},
        expected_nodes=("start", "w0", "w1", "w2"),
    ),
    Scenario(
        name="model_instance_update",
        build=build_model_instance_update,
        input={"name": "kept", "count": 1},
        expected_state={"name": "kept", "count": 43, "flag": True},
        expected_nodes=("bump", "flag"),
    ),
    Scenario(
        name="none_update",
        build=build_none_update,
        input={"text": "x"},
        expected_state={"count": 7, "text": "count=7", "log": []},
        expected_nodes=("first", "nothing", "last"),
    ),
    Scenario(
        name="async_handlers",
        build=build_async_handlers,
        input={},
        expected_state={"count": 1, "text": "second", "log": ["first", "second"]},
        expected_nodes=("first", "second"),
    ),
    Scenario(
        name="ctx_handler",
        build=build_ctx_handler,
        input={},
        metadata={"tenant": "acme"},
        expected_state={
            "node": "inspect",
            "graph": "ctx_handler",
            "step": 2,
            "attempt": 1,
            "task_id": "2:0:inspect",
            "tenant": "acme",
            "key_names_run": True,
            "key_names_task": True,
            "log": ["start", "inspect"],
        },
        expected_nodes=("start", "inspect"),
    ),
    Scenario(
        name="router_dict_form",
        build=build_router_dict,
        input={},
        expected_state={"log": ["first", "second"]},
        expected_nodes=("first", "second"),
    ),
    Scenario(
        name="router_complete_string",
        build=build_complete_string,
        input={},
        expected_state={"log": ["first"]},
        expected_nodes=("first",),
    ),
    Scenario(
        name="wait_gets_event",
        build=build_wait_event,
        input={},
        actions=(event("go", {"x": 5}),),
        expected_state={"x": 5, "log": ["ask", "resume:5"], "decision": None},
        expected_nodes=("ask", "event:go", "resume"),
    ),
    Scenario(
        name="wait_dict_form",
        build=build_wait_dict_form,
        input={},
        actions=(event("go", {"x": 2}),),
        expected_state={"x": 2, "log": ["ask", "resume:2"]},
        expected_nodes=("ask", "event:go", "resume"),
    ),
    Scenario(
        name="wait_stays_waiting",
        build=build_wait_event,
        input={},
        actions=(advance(60),),
        expected_status="waiting",
        expected_state={"log": ["ask"]},
        expected_nodes=("ask",),
    ),
    Scenario(
        name="wait_timeout_on_timeout",
        build=build_wait_timeout_route,
        input={},
        actions=(advance(30), advance(31)),
        expected_state={"log": ["ask", "late"], "decision": "timed out"},
        expected_nodes=("ask", "late"),
    ),
    Scenario(
        name="wait_timeout_fails",
        build=build_wait_timeout_fail,
        input={},
        actions=(advance(61),),
        expected_status="failed",
        expected_state={"log": ["ask"]},
        expected_nodes=("ask",),
        expected_error_code="WAIT_TIMEOUT",
        expected_error={"node": "ask"},
    ),
    Scenario(
        name="event_before_wait_at_start",
        build=build_event_before_wait_at_start,
        input={},
        start_events=(("go", {"x": 3}),),
        expected_state={"x": 3, "log": ["ask", "resume:3"]},
        expected_nodes=("ask", "event:go", "resume"),
    ),
    Scenario(
        name="event_buffered_while_waiting",
        build=build_event_buffered_while_waiting,
        input={},
        actions=(event("b_event", {"decision": "yes"}), event("a_event", {"n": 1})),
        expected_state={"decision": "yes", "log": ["start", "a:1", "middle", "end:yes"]},
        expected_nodes=("start", "event:a_event", "middle", "event:b_event", "end"),
    ),
    Scenario(
        name="two_waits_fifo_buffered",
        build=build_two_waits_fifo,
        input={},
        start_events=(("vote", {"v": "first"}), ("vote", {"v": "second"})),
        expected_state={"votes": ["first", "second"], "decision": "first,second"},
        expected_nodes=("first", "event:vote", "second", "event:vote", "tally"),
    ),
    Scenario(
        name="two_waits_fifo_raised",
        build=build_two_waits_fifo,
        input={},
        actions=(event("vote", {"v": "one"}), event("vote", {"v": "two"})),
        expected_state={"votes": ["one", "two"], "decision": "one,two"},
        expected_nodes=("first", "event:vote", "second", "event:vote", "tally"),
    ),
    Scenario(
        name="parallel_waits_fifo",
        build=build_parallel_waits_fifo,
        input={},
        actions=(event("vote", {"v": "v1"}), event("vote", {"v": "v2"})),
        expected_state={
            "votes": ["v1", "v2"],
            "log": ["start", "left", "right", "L:v1", "R:v2"],
        },
        expected_nodes=(
            "start",
            "left",
            "right",
            "event:vote",
            "after_left",
            "event:vote",
            "after_right",
        ),
    ),
    Scenario(
        name="event_payload_model",
        build=build_event_payload_model,
        input={},
        actions=(event("approval", {"approved": True, "reviewer": "ana", "score": 4}),),
        expected_state={
            "approved": True,
            "reviewer": "ana",
            "score": 4,
            "payload_type": "Approval",
            "log": ["draft", "event:approval:ana", "decide", "accept"],
        },
        expected_nodes=("draft", "event:approval", "decide", "accept"),
    ),
    Scenario(
        name="invalid_event_payload_rejected",
        build=build_event_payload_model,
        input={},
        actions=(
            event("approval", {"approved": "perhaps", "reviewer": "bo"}, rejected="INVALID_INPUT"),
            event("approval", {"approved": False, "reviewer": "bo"}),
        ),
        expected_state={
            "approved": False,
            "reviewer": "bo",
            "log": ["draft", "event:approval:bo", "decide", "reject"],
        },
        expected_nodes=("draft", "event:approval", "decide", "reject"),
    ),
    Scenario(
        name="join_after_wait_branch",
        build=build_join_after_wait,
        input={},
        actions=(event("go", {"x": 7}),),
        expected_state={
            "x": 7,
            "log": ["start", "waiter", "worker", "worker2", "waited", "join:x=7"],
        },
        expected_nodes=(
            "start",
            "waiter",
            "worker",
            "worker2",
            "event:go",
            "waited",
            "join",
        ),
    ),
    Scenario(
        name="retry_succeeds_third_attempt",
        build=build_retry_third_attempt,
        input={},
        expected_state={"attempts": 3, "log": ["start", "flaky", "after"]},
        expected_nodes=("start", "flaky", "after"),
    ),
    Scenario(
        name="retry_exhausted",
        build=build_retry_exhausted,
        input={},
        expected_status="failed",
        expected_state={"log": ["start"]},
        expected_nodes=("start",),
        expected_error_code="NODE_FAILED",
        expected_error={
            "type": "FlakyError",
            "node": "broken",
            "attempt": 3,
            "message": "still failing on attempt 3",
        },
    ),
    Scenario(
        name="non_retryable_fails_at_once",
        build=build_non_retryable,
        input={},
        expected_status="failed",
        expected_nodes=(),
        expected_error_code="NODE_FAILED",
        expected_error={"type": "FatalError", "node": "fatal", "attempt": 1},
    ),
    Scenario(
        name="on_error_route",
        build=build_on_error_route,
        input={},
        expected_state={
            "recovered_from": "FlakyError",
            "error_message": "boom on attempt 3",
            "error_attempt": 3,
            "log": ["start", "recover"],
        },
        expected_nodes=("start", "recover"),
    ),
    Scenario(
        name="max_steps_exceeded",
        build=build_max_steps,
        input={},
        expected_status="failed",
        expected_state={"count": 5},
        expected_nodes=("spin",) * 5,
        expected_error_code="MAX_STEPS_EXCEEDED",
    ),
    Scenario(
        name="conflicting_parallel_write",
        build=build_conflicting_write,
        input={},
        expected_status="failed",
        expected_error_code="INVALID_UPDATE",
        expected_error={"field": "a"},
    ),
    Scenario(
        name="unknown_field_update",
        build=build_unknown_field,
        input={},
        expected_status="failed",
        expected_state={"log": ["start"]},
        expected_nodes=("start",),
        expected_error_code="INVALID_UPDATE",
        expected_error={"node": "bad", "type": "InvalidUpdateError"},
    ),
    Scenario(
        name="invalid_route_target",
        build=build_invalid_route,
        input={},
        expected_status="failed",
        expected_nodes=("start",),
        expected_error_code="INVALID_ROUTE",
        expected_error={"node": "start", "target": "nowhere"},
    ),
    Scenario(
        name="route_outside_declared_targets",
        build=build_route_outside_targets,
        input={},
        expected_status="failed",
        expected_nodes=("start",),
        expected_error_code="INVALID_ROUTE",
        expected_error={"node": "start", "target": "other"},
    ),
    Scenario(
        name="node_timeout",
        build=build_node_timeout,
        input={},
        expected_status="failed",
        expected_state={"log": ["start"]},
        expected_nodes=("start",),
        expected_error_code="NODE_TIMEOUT",
        expected_error={"type": "NodeTimeoutError", "node": "slow"},
    ),
    Scenario(
        name="cancel_while_waiting",
        build=build_cancel_while_waiting,
        input={},
        actions=(cancel("no longer needed"),),
        expected_status="cancelled",
        expected_state={"log": ["ask"]},
        expected_nodes=("ask",),
    ),
    Scenario(
        name="subgraph",
        build=build_subgraph,
        input={"text": "hi", "count": 1},
        expected_state={
            "text": "HI",
            "count": 102,
            "parent_only": "parent",
            "log": ["before", "child_a", "child_b", "after:HI:102"],
        },
        expected_nodes=("before", "child", "after"),
    ),
    Scenario(
        name="converging_edges_run_once",
        build=build_converging_edges,
        input={},
        expected_state={"log": ["start", "a", "b", "merge:3"]},
        expected_nodes=("start", "a", "b", "merge"),
    ),
    Scenario(
        name="join_on_named_predecessors",
        build=build_join_on,
        input={},
        expected_state={"log": ["a", "b", "c", "s1", "d", "s2", "e:6", "s3"]},
        expected_nodes=("a", "b", "c", "s1", "d", "s2", "e", "s3"),
    ),
    Scenario(
        name="messages_reducer",
        build=build_messages,
        input={"messages": [{"type": "human", "content": "hi", "id": "h1"}]},
        expected_state={
            "summary": "hi|final",
            "messages": [{"type": "system", "content": "summary: hi|final", "id": "s1"}],
        },
        expected_nodes=("draft", "revise", "prune", "summarize"),
    ),
)

SCENARIOS_BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}

assert len(SCENARIOS_BY_NAME) == len(SCENARIOS), "scenario names must be unique"

__all__ = [
    "SCENARIOS",
    "SCENARIOS_BY_NAME",
    "Action",
    "Scenario",
    "advance",
    "assert_outcome",
    "assert_result",
    "cancel",
    "event",
    "final_state",
    "run_id_for",
    "run_in_memory",
]
