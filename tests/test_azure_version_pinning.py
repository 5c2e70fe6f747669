"""A redeploy that changes a graph under a running orchestration.

Without the manifest travelling with the run (a hand-written Durable orchestrator that reads the
graph from the code deployed now), reordering two nodes makes the replay schedule different
work than its history: the emulator fails the instance with the host's non-determinism message.
With ``DurableGraphApp`` (the run carries its manifest) the same redeploy is harmless: the run
finishes with the topology it started with, and only handler code comes from the new
deployment; a handler the new deployment lacks fails the run with a clear error.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import azure.durable_functions as df
from pydantic import BaseModel

from azure_functions_durable_graph import (
    DurableGraphApp,
    GraphRegistration,
    ManifestBuilder,
    RouteDecision,
    reducers,
)
from azure_functions_durable_graph.azure.emulator import DurableEmulator
from azure_functions_durable_graph.azure.protocol import ORCHESTRATOR, run_payload
from azure_functions_durable_graph.execution import ManualClock


class OrderState(BaseModel):
    """Each node appends its name (and the deployment that ran it)."""

    log: Annotated[list[str], reducers.append] = []


def build_graph(order: list[str], *, tag: str) -> GraphRegistration:
    """A chain over ``order``; after the second node the run waits for 'go' (so it is in flight
    with two steps in its history)."""
    builder = ManifestBuilder(graph_name="ordered", state_model=OrderState)
    builder.set_entrypoint(order[0])
    for index, name in enumerate(order):
        handler = _appender(f"{name}@{tag}")
        if index == 1:
            wait = RouteDecision.wait_for_event("go", order[2])
            builder.add_node(name, handler, route=_always(wait), route_targets=[wait])
        elif index == len(order) - 1:
            builder.add_node(name, handler, terminal=True)
        else:
            builder.add_node(name, handler, next_node=order[index + 1])
    builder.add_event_handler("go")
    return builder.build()


def _appender(entry: str) -> Any:
    def handler(state: OrderState) -> dict[str, Any]:
        return {"log": entry}

    return handler


def _always(decision: RouteDecision) -> Any:
    return lambda state: decision


def chain_order(registration: GraphRegistration) -> list[str]:
    """The node order as the *current* code declares it (entrypoint, wait target, then edges)."""
    manifest = registration.manifest
    nodes = {n.name: n for n in manifest.nodes}
    order: list[str] = []
    node: str | None = manifest.entrypoint
    while node:
        order.append(node)
        spec = nodes[node]
        nxt = spec.next or [w.resume_node for w in spec.waits]
        node = nxt[0] if nxt else None
    return order


def naive_app(registration: GraphRegistration) -> df.DFApp:
    """How Durable code is usually written: the orchestrator reads the graph from current code."""
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context")
    def naive_orchestrator(context: Any) -> Any:
        log = []
        for index, node in enumerate(chain_order(registration)):
            log.append((yield context.call_activity(node, node)))
            if index == 1:
                yield context.wait_for_external_event("go")
        return log

    for node in chain_order(registration):
        def activity(name: str) -> str:
            return f"{name} ran"
        activity.__name__ = node
        app.function_name(name=node)(app.activity_trigger(input_name="name")(activity))
    return app


def graph_app(registration: GraphRegistration) -> Any:
    runtime = DurableGraphApp()
    runtime.register_registration(registration)
    return runtime


def _payload(registration: GraphRegistration) -> dict[str, Any]:
    return run_payload(registration.manifest, {"log": []}, metadata={}, created_at=0.0,
                       policy=DurableGraphApp().compaction)


def redeploy_mid_run(first: Any, second: Any, *, orchestrator: str, input: Any,
                     go: tuple[str, Any]) -> Any:
    """Start on ``first``, let the run pause on its wait, deploy ``second``, send ``go``, finish."""

    async def scenario() -> Any:
        emulator = DurableEmulator(first, clock=ManualClock(auto_advance=False))
        instance_id = await emulator.start_new(orchestrator, "redeployed", input)
        await emulator.run_until_idle()
        assert emulator.get_instance(instance_id).runtime_status == "Running"
        emulator.redeploy(second)
        await emulator.raise_event(instance_id, *go)
        await emulator.run_until_idle()
        return emulator.get_instance(instance_id)

    return asyncio.run(scenario())


GO = ("durable_graph_input", {"kind": "event", "id": "e1", "name": "go", "payload": {}})


def test_without_the_manifest_a_reorder_is_a_non_determinism_failure() -> None:
    v1, v2 = build_graph(["a", "b", "c"], tag="v1"), build_graph(["b", "a", "c"], tag="v2")
    # After the redeploy the code schedules 'b' where the history has 'a': the host refuses it.
    state = redeploy_mid_run(naive_app(v1), naive_app(v2), orchestrator="naive_orchestrator", input=None,
                             go=("go", None))
    assert state.runtime_status == "Failed", state.output
    assert "Non-Deterministic workflow detected" in str(state.output)


def test_with_the_manifest_travelling_the_run_keeps_its_topology() -> None:
    v1, v2 = build_graph(["a", "b", "c"], tag="v1"), build_graph(["b", "a", "c"], tag="v2")
    state = redeploy_mid_run(graph_app(v1).function_app, graph_app(v2).function_app,
                             orchestrator=ORCHESTRATOR, input=_payload(v1), go=GO)
    assert state.runtime_status == "Completed", state.output
    # v1's order (a, b, c) although v2 declares (b, a, c); c ran with the handler deployed now.
    assert state.output["state"]["log"] == ["a@v1", "b@v1", "c@v2"]


def test_a_handler_missing_from_the_new_deployment_fails_the_run_clearly() -> None:
    v1, v2 = build_graph(["a", "b", "c"], tag="v1"), build_graph(["a", "b", "d"], tag="v2")  # no "c"
    state = redeploy_mid_run(graph_app(v1).function_app, graph_app(v2).function_app,
                             orchestrator=ORCHESTRATOR, input=_payload(v1), go=GO)
    assert state.runtime_status == "Failed"
    assert "node 'c'" in str(state.output) and "handler" in str(state.output).lower(), state.output
