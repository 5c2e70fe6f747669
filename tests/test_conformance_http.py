"""The conformance suite: every scenario of the table over the HTTP API, on both engines.

Each scenario runs on the local engine and on the generated Functions app under the Durable
emulator; both must match the table, and they must agree with each other on status, final
state (of completed runs), node sequence and error code.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from http_conformance import ENGINES, run_over_http
from scenarios import SCENARIOS, Scenario, assert_outcome


def _check(scenario: Scenario, outcome: dict[str, Any]) -> None:
    # Only a completed run exposes its final state in the API (its output), on every engine.
    expected = scenario if outcome["status"] == "completed" else dataclasses.replace(scenario, expected_state=None)
    assert_outcome(expected, status=outcome["status"], state=outcome["state"], nodes=outcome["nodes"],
                   error=outcome["error"])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_both_engines_give_the_same_outcome_over_http(scenario: Scenario) -> None:
    outcomes = {}
    for name, engine_for in ENGINES.items():
        with engine_for(scenario.build()) as engine:
            outcomes[name] = run_over_http(scenario, engine)
        _check(scenario, outcomes[name])
    local, emulator = outcomes["local"], outcomes["emulator"]
    for key in ("status", "state", "nodes"):
        assert local[key] == emulator[key], f"{scenario.name}: {key} differs: {local[key]!r} vs {emulator[key]!r}"
    assert (local["error"] or {}).get("code") == (emulator["error"] or {}).get("code")
