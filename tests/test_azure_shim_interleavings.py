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

from http_conformance import SETTLE_ROUNDS, EmulatorHttpEngine, emulator_engine, run_over_http
from scenarios import SCENARIOS, Scenario, assert_outcome, run_id_for

FINISHED = ("completed", "failed", "cancelled")


class InterleavedEmulator(EmulatorHttpEngine):
    """The emulator engine of the conformance suite, releasing held completions in an order
    drawn by hypothesis whenever it settles a run."""

    def __init__(self, engine: EmulatorHttpEngine, data: st.DataObject) -> None:
        super().__init__(engine.client, engine.server, engine.emulator, engine.clock)
        self.data = data
        self.server.call(self.emulator.hold_activity_results)

    def release_some(self) -> bool:
        """Release one or more held completions (drawn); whether any was held."""
        held = self.server.call(self.emulator.held_results)
        if not held:
            return False
        for _ in range(self.data.draw(st.integers(1, len(held)), label="completions in one episode")):
            held = self.server.call(self.emulator.held_results)
            index = self.data.draw(st.integers(0, len(held) - 1), label="next completion")
            self.server.call(self.emulator.release_result, index)
        return True

    def settle(self, instance_id: str) -> dict[str, Any]:
        url = f"/api/runs/{quote(instance_id, safe='')}"
        for _ in range(SETTLE_ROUNDS):
            self.server.run_until_idle()
            if self.release_some():
                continue
            run = dict(self.client.get(url).json())
            if run["status"] in FINISHED or run["status"] == "waiting":
                return run
            # Idle and running: only a retry backoff is left (guards fire after days).
            retry = [t for t in self.server.pending_timers(instance_id) if t - self.clock.now() < 86_400]
            if not retry:
                return run
            self.advance(max(0.0, min(retry) - self.clock.now()))
        raise AssertionError(f"run {instance_id} did not settle")


def _interleaved(scenario: Scenario, data: st.DataObject) -> tuple[dict[str, Any], list[float]]:
    early = frozenset(
        index for index, action in enumerate(scenario.actions)
        if action.kind == "event" and action.expected_rejection is None
        and data.draw(st.booleans(), label=f"send {action.name!r} early"))
    with emulator_engine(scenario.build()) as plain:
        engine = InterleavedEmulator(plain, data)
        outcome = run_over_http(scenario, engine, early=early)
        instance_id = run_id_for(scenario)
        armed = engine.server.pending_timers(instance_id) if outcome["status"] in FINISHED else []
        return outcome, armed


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
