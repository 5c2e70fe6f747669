"""An event's payload is checked against the run's own graph version, on both engines.

Version 1 of a graph takes an ``{approved}`` payload; version 2, registered while a version 1
run waits, takes ``{amount}``. The waiting run keeps its version: its handler is version 1's, so
its payload must be version 1's, while a run started after the upgrade takes version 2's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from pydantic import BaseModel, ConfigDict

from azure_functions_durable_graph import GraphRegistration, ManifestBuilder, RouteDecision
from http_conformance import ENGINES, HttpEngine, LocalHttpEngine


class Decision(BaseModel):
    """What the event handler of either version records."""

    outcome: str | None = None


class ApprovalV1(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approved: bool


class ApprovalV2(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: int


def _version(version: str, model: type[BaseModel]) -> GraphRegistration:
    builder = ManifestBuilder(graph_name="approvals", state_model=Decision, version=version)
    wait = RouteDecision.wait_for_event("review", "done")
    builder.set_entrypoint("ask")
    builder.add_node("ask", lambda s: None, route=lambda s: wait, route_targets=[wait])
    builder.add_node("done", lambda s: None, terminal=True)

    def on_review(state: Decision, payload: Any) -> dict[str, Any]:
        return {"outcome": f"v{version}:{payload.model_dump()}"}

    builder.add_event_handler("review", on_review, payload_model=model)
    return builder.build()


def _register(engine: HttpEngine, registration: GraphRegistration) -> None:
    if isinstance(engine, LocalHttpEngine):
        engine.engine.register(registration)
    else:  # the generated app serves what its DurableGraphApp holds now
        engine.emulator.app.owner.register_registration(registration)


def _send(engine: HttpEngine, instance_id: str, payload: Any) -> Any:
    return engine.client.post(f"/api/runs/{quote(instance_id, safe='')}/events/review", json=payload)


@pytest.mark.parametrize("engine_name", list(ENGINES))
def test_the_runs_own_version_checks_its_event_payload(engine_name: str) -> None:
    v1, v2 = _version("1", ApprovalV1), _version("2", ApprovalV2)
    assert v1.graph_hash != v2.graph_hash
    with ENGINES[engine_name](v1) as engine:
        assert engine.client.post("/api/graphs/approvals/runs", json={"instance_id": "old"}).status_code == 202
        assert engine.settle("old")["status"] == "waiting"
        _register(engine, v2)
        assert engine.client.post("/api/graphs/approvals/runs", json={"instance_id": "new"}).status_code == 202
        new = engine.settle("new")
        assert (new["status"], new["graph_version"]) == ("waiting", "2")

        for instance_id, wrong in (("old", {"amount": 5}), ("new", {"approved": True})):
            refused = _send(engine, instance_id, wrong)
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["code"] == "INVALID_INPUT"
        assert _send(engine, "old", {"approved": True}).status_code == 202
        assert _send(engine, "new", {"amount": 5}).status_code == 202
        old, new = engine.settle("old"), engine.settle("new")
        assert (old["graph_version"], old["output"]["state"]["outcome"]) == ("1", "v1:{'approved': True}")
        assert (new["graph_version"], new["output"]["state"]["outcome"]) == ("2", "v2:{'amount': 5}")
        # A finished run refuses in the local engine's order: undeclared (404) before finished (409).
        undeclared = engine.client.post("/api/runs/old/events/nope", json={})
        assert (undeclared.status_code, undeclared.json()["error"]["code"]) == (404, "EVENT_NOT_DECLARED")
        finished = _send(engine, "old", {"approved": False})
        assert (finished.status_code, finished.json()["error"]["code"]) == (409, "RUN_CONFLICT")
