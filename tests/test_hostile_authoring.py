"""Issue 13, item 12: what a graph author gets wrong is caught where it is made.

- A router that declares ``route_targets`` may only go where it declared: an undeclared wait
  (or a declared event resuming elsewhere) fails the run with
  ``INVALID_ROUTE`` on every engine: in-process ``invoke``, ``LocalEngine``, and the Azure
  orchestrator on the Durable emulator (over HTTP, with the local engine beside it).
- A node handler, router, event handler or custom reducer whose signature cannot take the
  arguments the engine passes fails ``build()`` with ``HANDLER_SIGNATURE`` naming graph and node.
- ``durable-graph validate`` warns about routers without ``route_targets`` (exit code kept).
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from azure_functions_durable_graph import (
    END,
    GraphRegistration,
    GraphValidationError,
    ManifestBuilder,
    RouteDecision,
)
from azure_functions_durable_graph.execution import ManualClock
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.memory import MemoryRunStore
from cli_helpers import run_cli
from http_conformance import ENGINES

WAIT_GO = RouteDecision.wait_for_event("go", resume_node="b")


class S(BaseModel):
    """A small state."""

    count: int = 0


def _noop(state: Any) -> None:
    return None


def _router_graph(returned: Any, targets: list[Any], name: str = "routes") -> GraphRegistration:
    """'a' routes with ``returned``, declaring ``targets``; 'b' goes on to 'c', which ends."""
    builder = ManifestBuilder(graph_name=name, state_model=S)
    builder.set_entrypoint("a")
    builder.add_node("a", _noop, route=lambda s: returned, route_targets=targets)
    builder.add_node("b", _noop, next_node="c")
    builder.add_node("c", _noop, terminal=True)
    builder.add_event_handler("go")
    builder.add_event_handler("other")
    return builder.build()


UNDECLARED = {
    "wait not declared": (WAIT_GO, ["b", "c"], "router waited for event 'go' resuming at 'b'"),
    "other event": (RouteDecision.wait_for_event("other", resume_node="b"), [WAIT_GO, "c"],
                    "router waited for event 'other'"),
    "other resume node": (RouteDecision.wait_for_event("go", resume_node="c"), [WAIT_GO],
                          "resuming at 'c'"),
    "undeclared on_timeout": (RouteDecision.wait_for_event("go", resume_node="b", timeout=5, on_timeout="c"),
                              [WAIT_GO, "c"], "(on_timeout 'c')"),
}


@pytest.mark.parametrize("case", list(UNDECLARED), ids=list(UNDECLARED))
def test_invoke_fails_a_route_that_leaves_route_targets(case: str) -> None:
    returned, targets, fragment = UNDECLARED[case]
    result = _router_graph(returned, targets).invoke({})
    assert result.status == "failed", result
    assert result.error is not None
    assert result.error["code"] == "INVALID_ROUTE"
    assert "graph 'routes', node 'a'" in result.error["message"]
    assert fragment in result.error["message"]
    assert result.waiting_for == []


@pytest.mark.parametrize("case", list(UNDECLARED), ids=list(UNDECLARED))
def test_local_engine_fails_a_route_that_leaves_route_targets(case: str) -> None:
    returned, targets, fragment = UNDECLARED[case]

    async def main() -> Any:
        async with LocalEngine(MemoryRunStore(), clock=ManualClock(auto_advance=False)) as engine:
            engine.register(_router_graph(returned, targets))
            run = await engine.start("routes", {})
            return await engine.wait(run.instance_id, timeout=10)

    status = asyncio.run(main())
    assert status.status == "failed", status
    assert status.error is not None and status.error["code"] == "INVALID_ROUTE"
    assert fragment in status.error["message"]


DECLARED = {
    "declared wait": (WAIT_GO, [WAIT_GO], "waiting"),
    "declared wait with its timeout target": (
        RouteDecision.wait_for_event("go", resume_node="b", timeout=5, on_timeout="c"),
        [RouteDecision.wait_for_event("go", resume_node="b", on_timeout="c")], "waiting"),
    "declared wait, no timeout target asked": (
        WAIT_GO, [RouteDecision.wait_for_event("go", resume_node="b", on_timeout="c")], "waiting"),
    "declared END": (RouteDecision.complete(), ["b", END], "completed"),
    # Ending is always allowed (existing graphs complete from routers declaring only nodes).
    "END not declared": (RouteDecision.complete(), ["b"], "completed"),
    "END as a next target": (RouteDecision.next(END), ["b", "c"], "completed"),
    "no route_targets: anything goes": (WAIT_GO, None, "waiting"),
}


@pytest.mark.parametrize("case", list(DECLARED), ids=list(DECLARED))
def test_a_declared_route_is_taken(case: str) -> None:
    returned, targets, expected = DECLARED[case]
    result = _router_graph(returned, targets).invoke({})
    assert result.status == expected, result.error
    if expected == "waiting":
        assert [w["event"] for w in result.waiting_for] == ["go"]


@pytest.mark.parametrize("engine_name", list(ENGINES))
def test_an_undeclared_wait_fails_over_http_on_both_engines(engine_name: str) -> None:
    registration = _router_graph(WAIT_GO, ["b", "c"], name=f"undeclared_wait_{engine_name}")
    with ENGINES[engine_name](registration) as engine:
        response = engine.client.post(f"/api/graphs/{registration.graph_name}/runs", json={"input": {}})
        assert response.status_code == 202, response.text
        run = engine.settle(response.json()["instance_id"])
    assert run["status"] == "failed", run
    assert run["error"]["code"] == "INVALID_ROUTE"
    assert "router waited for event 'go' resuming at 'b'" in run["error"]["message"]


# --- handler signatures -------------------------------------------------------------------------


def _zero() -> None:
    return None


def _three(state: Any, ctx: Any, extra: Any) -> None:
    return None


def _keyword_only(state: Any, *, flag: bool) -> None:
    return None


def _problems(build: Any) -> list[Any]:
    with pytest.raises(GraphValidationError) as caught:
        build()
    return [p for p in caught.value.problems if p.code == "HANDLER_SIGNATURE"]


@pytest.mark.parametrize(
    ("handler", "fragment"),
    [(_zero, "takes no positional parameter"),
     (_three, "needs 3 positional arguments (state, ctx, extra)"),
     (_keyword_only, "required keyword-only parameter(s) flag")],
    ids=["zero", "three-required", "keyword-only"],
)
def test_a_node_handler_that_cannot_take_state_fails_at_build(handler: Any, fragment: str) -> None:
    builder = ManifestBuilder(graph_name="sig", state_model=S)
    builder.set_entrypoint("a").add_node("a", handler, terminal=True)
    (problem,) = _problems(builder.build)
    assert problem.node == "a"
    assert problem.message.startswith("graph 'sig', node 'a': node handler ")
    assert fragment in problem.message
    assert "it is called as (state) or (state, ctx)" in problem.message


def test_a_router_that_cannot_take_state_fails_at_build() -> None:
    builder = ManifestBuilder(graph_name="sig", state_model=S)
    builder.set_entrypoint("a").add_node("a", _noop, route=_zero, route_targets=["b"])
    builder.add_node("b", _noop, terminal=True)
    (problem,) = _problems(builder.build)
    assert problem.node == "a"
    assert "graph 'sig', node 'a': router _zero() takes no positional parameter" in problem.message


def test_an_event_handler_that_cannot_be_called_fails_at_build() -> None:
    def four(state: Any, payload: Any, ctx: Any, more: Any) -> None:
        return None

    builder = ManifestBuilder(graph_name="sig", state_model=S)
    builder.set_entrypoint("a").add_node("a", _noop, terminal=True)
    builder.add_event_handler("approval", four)
    (problem,) = _problems(builder.build)
    assert problem.extra == {"event": "approval"}
    assert problem.message.startswith("graph 'sig', event 'approval': event handler ")
    assert "(state) or (state, payload) or (state, payload, ctx)" in problem.message


def test_a_custom_reducer_that_cannot_take_two_values_fails_at_build() -> None:
    def one(current: Any) -> Any:
        return current

    class R(BaseModel):
        items: Annotated[list[int], one] = []

    builder = ManifestBuilder(graph_name="sig", state_model=R)
    builder.set_entrypoint("a").add_node("a", _noop, terminal=True)
    (problem,) = _problems(builder.build)
    assert problem.extra == {"field": "items"}
    assert "field 'items': custom reducer" in problem.message
    assert "called as (current, update)" in problem.message


def test_every_accepted_form_still_builds_and_runs() -> None:
    class Ctx:
        def __call__(self, state: Any, ctx: Any = None) -> dict[str, Any]:
            return {"count": state.count + 1}

    def event_state_only(state: Any) -> dict[str, Any]:
        return {"count": 100}

    def loose(*args: Any) -> str:
        return "c"

    builder = ManifestBuilder(graph_name="forms", state_model=S)
    builder.set_entrypoint("a")
    builder.add_node("a", Ctx(), next_node="b")
    builder.add_node("b", lambda state, ctx: None, route=loose, route_targets=["c", WAIT_GO])
    builder.add_node("c", lambda state, ctx, extra=1: None, terminal=True)
    builder.add_event_handler("go", event_state_only)
    registration = builder.build()
    result = registration.invoke({})
    assert result.status == "completed", result.error
    assert result.node_sequence == ["a", "b", "c"]
    assert result.state.count == 1


# --- durable-graph validate ---------------------------------------------------------------------


def test_validate_warns_about_routers_without_route_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "graphs.py"
    target.write_text(textwrap.dedent("""
        from pydantic import BaseModel
        from azure_functions_durable_graph import ManifestBuilder

        class S(BaseModel):
            n: int = 0

        open_router = ManifestBuilder(graph_name="open_router", state_model=S)
        open_router.set_entrypoint("a")
        open_router.add_node("a", lambda s: None, route=lambda s: "b")
        open_router.add_node("b", lambda s: None, terminal=True)

        declared = ManifestBuilder(graph_name="declared", state_model=S)
        declared.set_entrypoint("a")
        declared.add_node("a", lambda s: None, route=lambda s: "b", route_targets=["b"])
        declared.add_node("b", lambda s: None, terminal=True)
    """))
    code, out, err = run_cli(capsys, "validate", str(target))
    assert code == 0, err
    assert out.splitlines()[0].startswith("ok open_router ")
    warnings = err.splitlines()
    assert warnings == [
        "durable-graph: warning: graph 'open_router': router of node(s) 'a' declares no "
        "route_targets, so its edges are missing from the diagram and reachability is not "
        "checked; pass route_targets=[...] to add_node"
    ]
    code, out, err = run_cli(capsys, "validate", str(target), "--json")
    assert code == 0
    import json

    document = json.loads(out)
    assert document["valid"] is True
    assert len(document["warnings"]) == 1 and "'open_router'" in document["warnings"][0]
