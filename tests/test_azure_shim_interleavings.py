"""Random interleavings on the host model give the table's outcome, as the local engine does.

The emulator replays our orchestrator's actions as the extension does (``emulator/shim.py``)
and holds every activity's completion until the test releases it. Hypothesis picks which
completion reaches the orchestrator next and how many land in one episode, and whether each
event of the scenario is sent early, while the nodes before its wait still run. Cancels and
timer firings happen where the table puts them (that is where they decide the outcome), retry
backoffs fire once the run is idle on them. Every interleaving must give the status, final
state, node sequence and error code the table gives (the local engine is held to the same table
in the conformance suite), and leave no timer armed.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from http_conformance import SETTLE_ROUNDS, EmulatorHttpEngine, emulator_engine, outcome_of
from scenarios import SCENARIOS, Scenario, assert_outcome, run_id_for

FINISHED = ("completed", "failed", "cancelled")


class Interleaver:
    """Releases held completions in an order drawn by hypothesis."""

    def __init__(self, engine: EmulatorHttpEngine, data: st.DataObject) -> None:
        self.engine = engine
        self.data = data
        engine.server.call(engine.emulator.hold_activity_results)

    def release_some(self) -> bool:
        """Release one or more held completions (drawn); whether any was held."""
        server, emulator = self.engine.server, self.engine.emulator
        held = server.call(emulator.held_results)
        if not held:
            return False
        for _ in range(self.data.draw(st.integers(1, len(held)), label="completions in one episode")):
            held = server.call(emulator.held_results)
            index = self.data.draw(st.integers(0, len(held) - 1), label="next completion")
            server.call(emulator.release_result, index)
        return True

    def settle(self, instance_id: str, url: str) -> dict[str, Any]:
        engine = self.engine
        for _ in range(SETTLE_ROUNDS):
            engine.server.run_until_idle()
            if self.release_some():
                continue
            run = dict(engine.client.get(url).json())
            if run["status"] in FINISHED or run["status"] == "waiting":
                return run
            retry = [t for t in engine.server.pending_timers(instance_id) if t - engine.clock.now() < 86_400]
            if not retry:
                return run
            engine.advance(max(0.0, min(retry) - engine.clock.now()))
        raise AssertionError(f"run {instance_id} did not settle")


def _interleaved(scenario: Scenario, data: st.DataObject) -> tuple[dict[str, Any], list[float]]:
    with emulator_engine(scenario.build()) as engine:
        driver = Interleaver(engine, data)
        registration = scenario.build()
        body: dict[str, Any] = {"input": scenario.input, "instance_id": run_id_for(scenario)}
        if scenario.metadata is not None:
            body["metadata"] = scenario.metadata
        started = engine.client.post(f"/api/graphs/{registration.graph_name}/runs", json=body)
        assert started.status_code == 202, started.text
        instance_id = started.json()["instance_id"]
        url = f"/api/runs/{quote(instance_id, safe='')}"
        for name, payload in scenario.start_events:
            assert engine.client.post(f"{url}/events/{name}", json=payload).status_code == 202
        actions = list(scenario.actions)
        early = [a.kind == "event" and a.expected_rejection is None
                 and data.draw(st.booleans(), label=f"send {a.name!r} early") for a in actions]
        sent_early: set[int] = set()
        index = 0
        while index < len(actions):
            # Events drawn as early go out now, before the run reached their wait.
            while index < len(actions) and early[index] and index not in sent_early:
                action = actions[index]
                response = engine.client.post(f"{url}/events/{action.name}", json=action.payload)
                assert response.status_code == 202, response.text
                sent_early.add(index)
                index += 1
            if index >= len(actions):
                break
            action = actions[index]
            index += 1
            run = driver.settle(instance_id, url)
            if action.kind == "advance":
                engine.advance(action.seconds)
            else:
                if action.kind == "event":
                    response = engine.client.post(f"{url}/events/{action.name}", json=action.payload)
                else:
                    response = engine.client.post(f"{url}/cancel", json={"reason": action.reason})
                if action.expected_rejection is not None:
                    assert response.json()["error"]["code"] == action.expected_rejection, response.text
                    continue
                assert response.status_code == 202, response.text
        run = driver.settle(instance_id, url)
        armed = engine.server.pending_timers(instance_id) if run["status"] in FINISHED else []
        return outcome_of(engine, url, run), armed


# A rejected event is refused the same way whenever it is sent (a finished run, a bad
# payload), and sending it early would only change which check refuses it: those scenarios
# keep their events in place, the rest may send any event early.
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_interleaving_on_the_host_gives_the_tables_outcome(scenario: Scenario, data: st.DataObject) -> None:
    outcome, armed = _interleaved(scenario, data)
    expected = scenario if outcome["status"] == "completed" else dataclasses.replace(scenario, expected_state=None)
    assert_outcome(expected, status=outcome["status"], state=outcome["state"], nodes=outcome["nodes"],
                   error=outcome["error"])
    assert armed == [], f"{scenario.name}: timers still armed at the end: {armed}"
